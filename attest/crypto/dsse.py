"""DSSE v1 envelopes: pre-authentication encoding, signing, strict parsing.

Envelopes are written in one canonical form: the RFC 8785 encoding of
``{"payload", "payloadType", "signatures": [{"keyid", "sig"}]}`` followed by
exactly one newline, with standard, padded base64. :func:`parse_envelope` checks that
form by default, so *any* change to *any* byte of an envelope file — even a
space — is detected, and a log that stores envelopes "as received" cannot be
fed two encodings of one signed statement.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from typing import Any

import msgspec
import pybase64

from attest.crypto.canonical import DEFAULT_MAX_BYTES, MSGSPEC_ERRORS, Bytes, input_bytes, strict_loads
from attest.crypto.keys import SigningKey
from attest.errors import EnvelopeError, InputError
from attest.model.statement import PAYLOAD_TYPE_INTOTO, Envelope, Signature
from attest.model.wire import derive
from attest.units import human_size


def pae(payload_type: str, payload: bytes) -> bytes:
    """Return the DSSE v1 pre-authentication encoding of ``payload``.

    ``"DSSEv1" SP LEN(type) SP type SP LEN(payload) SP payload``, lengths as
    ASCII decimal of the byte lengths (the DSSE specification, protocol.md).
    """
    type_bytes = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(type_bytes), type_bytes, len(payload), payload)


def b64encode(data: bytes) -> str:
    """Standard, padded base64 as text."""
    return base64.b64encode(data).decode("ascii")


def b64decode_strict(text: str | bytes) -> bytes | None:
    """Standard, padded base64 decoded, or None: any other alphabet, whitespace, or misplaced or missing padding.

    pybase64's SIMD decoder in its validating mode (7 x quicker than binascii's strict mode or
    msgspec's on a 6 KB payload). It accepts what ``binascii.a2b_base64(strict_mode=True)``
    accepts, less padding after a whole group ("QUJD=" and "QUJD====" are "ABC" to binascii),
    which no canonical spelling has (a differential test says so). Spare bits of the last group
    are not checked here.
    """
    try:
        return pybase64.b64decode(text, validate=True)
    except (binascii.Error, ValueError, TypeError):
        return None


def b64decode_canonical(text: str, *, what: str) -> bytes:
    """Decode standard padded base64, refusing any other spelling of the same bytes.

    Non-canonical spellings (URL-safe alphabet, missing padding, non-zero
    trailing bits, whitespace) are refused because they let two different
    envelope files carry identical signed bytes.
    """
    data = b64decode_strict(text)
    if data is None:
        raise EnvelopeError(f"{what} is not valid base64", rule="envelope.base64")
    # What is left is the spare bits of a padded last group, which must be zero. Re-encoding
    # the last one or two bytes shows them (the rest of the text is then canonical by itself).
    tail = len(data) % 3
    if len(text) % 4 or (
        tail and binascii.b2a_base64(data[-tail:], newline=False).decode("ascii") != text[-4:]
    ):
        raise EnvelopeError(
            f"{what} is not canonical base64 (standard alphabet, padded)", rule="envelope.base64"
        )
    return data


def sign_payload(payload: bytes, payload_type: str, keys: Sequence[SigningKey]) -> Envelope:
    """Sign ``payload`` with each key and return the envelope."""
    if not keys:
        raise InputError("at least one signing key is needed")
    message = pae(payload_type, payload)
    sigs = [Signature(keyid=k.key_id, sig=b64encode(k.sign(message))) for k in keys]
    return Envelope(payload=b64encode(payload), payload_type=payload_type, signatures=sigs)


def encode_envelope(envelope: Envelope) -> bytes:
    """Return the canonical file bytes of an envelope (RFC 8785 JSON and a newline)."""
    return _canonical(envelope) + b"\n"


def _canonical(envelope: Envelope) -> bytes:
    # All members are strings with ASCII names, for which sorted compact json.dumps
    # output is exactly the RFC 8785 form.
    return json.dumps(envelope.to_obj(), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


# The one canonical spelling of an envelope: RFC 8785 member order, no whitespace, a
# payloadType without escapes, standard base64. The Struct derived from the Envelope model
# (attest.model.wire: the model's fields, constraints and validators) reads such bytes; they
# are accepted only when msgspec's encoding of what it read gives them back exactly — which
# rules out repeated or unknown members, whitespace and escapes — and the payload's base64 is
# canonical (standard, padded, spare bits zero; see b64decode_strict). Anything else takes the
# strict path, which explains the problem. Both paths accept exactly the same inputs (the
# differential tests in tests/test_fast_paths.py and tests/model/test_wire.py say so).
def _payload_text(token: msgspec.Raw) -> str:
    """The payload member's value, from its JSON text (a string of base64 characters, no escape)."""
    return bytes(token)[1:-1].decode("ascii")


# The payload is read as its raw JSON text (6 KB of base64 need not become a str to be decoded).
_ENVELOPE = derive(Envelope, members={"payload": (msgspec.Raw, _payload_text)})
_FAST_DECODE = _ENVELOPE.decoder.decode
_FAST_ENCODE = msgspec.json.Encoder().encode
_PREFIX = b'{"payload":"'
_AT = len(_PREFIX) - 1  # where the payload's JSON text starts
_EMPTY = msgspec.Raw(b'""')
_MAX_PAYLOAD_TEXT = Envelope.model_fields["payload"].metadata[0].max_length + 2  # with its quotes
_PLAIN_TYPE = re.compile(r"[ !#-\[\]-~]+")  # printable ASCII but " and \: written the same by every encoder


def split_canonical(raw: bytes) -> tuple[Any, bytes] | None:
    """The envelope as its derived Struct (no model built) and its payload, if ``raw`` is canonical.

    None otherwise (then :func:`parse_envelope` reads and explains it). The Struct's
    ``payload`` is the member's JSON text (:class:`msgspec.Raw`); its other fields are the
    model's, every constraint checked; the model's validator (distinct key ids) is left to the
    caller, which :func:`parse_envelope` runs by building the model.
    """
    if not raw.startswith(_PREFIX) or not raw.endswith(b"}\n"):
        return None
    try:
        fast = _FAST_DECODE(raw)
        token = fast.payload  # the payload member's JSON text, at _AT (it is the first member)
        end = _AT + len(token)
        # A JSON string of base64 characters without escapes: the strict decoder refuses every
        # other alphabet, whitespace, and missing or misplaced padding; an escape would decode
        # to base64 characters too, so none is allowed (the canonical form has none).
        if len(token) > _MAX_PAYLOAD_TEXT or raw.find(b"\\", _AT, end) != -1:
            return None
        payload = b64decode_strict(raw[_AT + 1 : end - 1])
        if payload is None:
            return None
        # What it lets through is spare bits set in a padded last group, which re-encoding the
        # last one or two bytes shows (as in b64decode_canonical).
        tail = len(payload) % 3
        if len(token) != 4 * ((len(payload) + 2) // 3) + 2 or (
            tail and binascii.b2a_base64(payload[-tail:], newline=False) != raw[end - 5 : end - 1]
        ):
            return None
        # Everything after it is what msgspec writes for the other members: no member twice
        # (a second payload included), none unknown, no whitespace, no escapes.
        rest = _FAST_ENCODE(msgspec.structs.replace(fast, payload=_EMPTY))[len(_PREFIX) + 1 :]
        if raw[end:-1] != rest or not _PLAIN_TYPE.fullmatch(fast.payload_type):
            return None
        for sig in fast.signatures:
            b64decode_canonical(sig.sig, what="signature")
    except MSGSPEC_ERRORS:  # msgspec's errors
        return None  # the strict path reports the problem
    except EnvelopeError:
        return None
    return fast, payload


def _one_signature_frame() -> tuple[bytes, bytes, bytes, bytes]:
    """The canonical encoding of an in-toto envelope with one signature, around its payload, key id and signature.

    Written by the same encoder :func:`split_canonical` compares with, from placeholders: the
    texts before the payload's base64, between it and the key id, between the key id and the
    signature's base64, and after that (the file's newline included).
    """
    sample = _FAST_DECODE(
        b'{"payload":"","payloadType":"'
        + PAYLOAD_TYPE_INTOTO.encode()
        + b'","signatures":[{"keyid":"'
        + b"0" * 64
        + b'","sig":"AAAA"}]}'
    )
    text = _FAST_ENCODE(
        msgspec.structs.replace(
            sample,
            payload=msgspec.Raw(b'"@P@"'),
            signatures=[msgspec.structs.replace(sample.signatures[0], keyid="@K@", sig="@S@")],
        )
    )
    head, rest = text.split(b"@P@")
    middle, rest = rest.split(b"@K@")
    between, tail = rest.split(b"@S@")
    return head, middle, between, tail + b"\n"


_ONE_HEAD, _ONE_MIDDLE, _ONE_BETWEEN, _ONE_TAIL = _one_signature_frame()
_KEY_ID_LENGTH = 64
_KEY_ID = re.compile(rb"[0-9a-f]{64}")
_SIG_LENGTH = (
    Signature.model_fields["sig"].metadata[0].min_length,
    Signature.model_fields["sig"].metadata[1].max_length,
)


def split_one_signature(raw: bytes) -> tuple[str, str, bytes, bytes] | None:
    """(key id, signature text, signature, payload) of a canonical in-toto envelope with one signature; else None.

    Read from the canonical encoding's own frame (:func:`_one_signature_frame`) without
    decoding the envelope: it accepts exactly the envelopes with one signature and payload
    type ``application/vnd.in-toto+json`` that :func:`split_canonical` accepts (a differential
    test says so), three times quicker. None for anything else, which the general reader reads.
    """
    if not raw.startswith(_ONE_HEAD) or not raw.endswith(_ONE_TAIL):
        return None
    start = len(_ONE_HEAD)
    end = raw.find(b'"', start)  # base64 holds no quote: the payload's text ends at the first
    if end < 0 or end - start > _MAX_PAYLOAD_TEXT - 2 or not raw.startswith(_ONE_MIDDLE, end):
        return None
    key_at = end + len(_ONE_MIDDLE)
    sig_at = key_at + _KEY_ID_LENGTH + len(_ONE_BETWEEN)
    sig_end = len(raw) - len(_ONE_TAIL)
    if (
        not _SIG_LENGTH[0] <= sig_end - sig_at <= _SIG_LENGTH[1]
        or not raw.startswith(_ONE_BETWEEN, key_at + _KEY_ID_LENGTH)
        or not _KEY_ID.fullmatch(raw, key_at, key_at + _KEY_ID_LENGTH)
    ):
        return None
    payload = b64decode_strict(raw[start:end])
    if payload is None:
        return None
    tail = len(payload) % 3
    if end - start != 4 * ((len(payload) + 2) // 3) or (
        tail and binascii.b2a_base64(payload[-tail:], newline=False) != raw[end - 4 : end]
    ):
        return None
    try:
        sig_text = raw[sig_at:sig_end].decode("ascii")
        sig = b64decode_canonical(sig_text, what="signature")
    except (UnicodeDecodeError, EnvelopeError):
        return None
    return raw[key_at : key_at + _KEY_ID_LENGTH].decode("ascii"), sig_text, sig, payload


def _parse_canonical(raw: bytes) -> tuple[Envelope, bytes] | None:
    """The envelope and its payload, if ``raw`` is in the canonical form; else None."""
    split = split_canonical(raw)
    if split is None:
        return None
    try:
        envelope: Envelope = _ENVELOPE.to_model(split[0])  # runs the model's validators
    except MSGSPEC_ERRORS:  # the model validators' ValueError
        return None
    return envelope, split[1]


def parse_envelope(
    raw: Bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, require_canonical: bool = True
) -> tuple[Envelope, bytes]:
    """Parse envelope bytes strictly; return the envelope and its decoded payload.

    Nothing here trusts the payload: it is returned as bytes, to be parsed
    only after a signature over exactly these bytes has been verified.

    Raises:
        EnvelopeError: with ``rule`` set to ``envelope.oversize``,
            ``envelope.malformed``, ``envelope.noncanonical`` or ``envelope.base64``.
        TypeError: ``raw`` is not bytes, a bytearray or a memoryview.
    """
    raw = input_bytes(raw)
    if len(raw) > max_bytes:
        raise EnvelopeError(
            f"envelope is {human_size(len(raw))}, over the limit of {human_size(max_bytes)}",
            rule="envelope.oversize",
        )
    fast = _parse_canonical(raw)
    if fast is not None:
        return fast  # its base64 is canonical: msgspec wrote the same text
    envelope = _parse_general(raw, max_bytes=max_bytes, require_canonical=require_canonical)
    payload = b64decode_canonical(envelope.payload, what="payload")
    for sig in envelope.signatures:
        b64decode_canonical(sig.sig, what=f"signature of key {sig.keyid[:12]}")
    return envelope, payload


def _parse_general(raw: bytes, *, max_bytes: int, require_canonical: bool) -> Envelope:
    try:
        obj = strict_loads(raw, what="envelope", max_bytes=max_bytes)
        envelope = Envelope.from_obj(obj, what="envelope")
    except InputError as exc:
        raise EnvelopeError(exc.message, rule="envelope.malformed") from None
    if require_canonical and raw != _canonical(envelope) + b"\n":
        raise EnvelopeError(
            "envelope bytes are not in canonical form (RFC 8785 JSON and one final newline)",
            rule="envelope.noncanonical",
            hint="envelopes are compared byte for byte; re-encoding one changes its identity",
        )
    return envelope
