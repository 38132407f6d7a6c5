"""Reading a signed statement quickly, with exactly the result of the strict reader.

The statement, its manifest and every member are decoded by ``msgspec`` Structs derived
from the wire models themselves (:mod:`attest.model.wire`): the same fields, constraints,
custom types and validators, one definition. A node signs thousands of manifests whose
tenant, operator, site, node, GPU and licence blocks repeat byte for byte; only ``job``,
``freshness``, the subjects and (sometimes) the location evidence change.
:func:`read_statement` exploits that:

1. the statement and the manifest are decoded with their members kept as raw JSON text;
   the split is accepted only when re-encoding it gives back the payload byte for byte —
   so there is no duplicate key, no whitespace and no other spelling at those two levels
   (unknown members, wrong types and constants are refused by the derived Structs);
2. each member is decoded by its derived Struct, which checks every constraint, and is
   accepted only when its own bytes are what an encoder writes for what was decoded
   (msgspec's typed encoding, or pydantic's of the plain JSON value: the two spellings the
   signers use), which excludes repeated keys; repeating members come from a bounded cache
   keyed by their exact bytes (their value is a pure function of those bytes);
3. the models are built from the decoded, validated values, and their validators run.

Cached members are shared between the manifests that carry them: the models are frozen,
and nothing in the library changes their lists in place (nothing may).

Anything outside that shape — or any member that fails — goes to the strict reader
(:meth:`Statement.from_json`), which accepts or rejects it and explains why. The two
readers return equal statements for every input the fast one accepts; the
differential tests in ``tests/model/test_fastread.py`` and the property tests in
``tests/model/test_wire.py`` say so for real manifests and for mutated ones.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import msgspec
from pydantic_core import to_json

from attest._internal.memo import Bounded
from attest.crypto.canonical import DEFAULT_MAX_BYTES, MSGSPEC_ERRORS
from attest.model.manifest import Freshness, Job, WorkloadManifest
from attest.model.statement import STATEMENT_TYPE, Statement, Subject
from attest.model.wire import derive, field_reader, model_checks

__all__ = [
    "REPEATING",
    "PayloadFrame",
    "Varying",
    "clear_cache",
    "match_frame",
    "payload_frame",
    "read_framed",
    "read_statement",
]

# Members that repeat across a node's manifests: validated once per distinct byte string.
_STABLE = frozenset({"tenant", "operator", "site", "node", "gpus", "licenses", "location_evidence"})
_CACHE_ENTRIES = 256  # per member
_CACHE_MAX_SPAN = 64 * 1024  # larger members are kept in a smaller memory of their own:
_LARGE_ENTRIES = 32  # a hardware-bound 8-GPU list with its evidence is ~150 KB and repeats in every heartbeat
_LARGE_MAX_SPAN = 1024 * 1024  # larger still: validated every time, never kept

_ENCODE = msgspec.json.Encoder().encode
_DECODE_ANY = msgspec.json.Decoder().decode

_cache: dict[str, Bounded[bytes, Any]] = {name: Bounded(_CACHE_ENTRIES) for name in _STABLE}
_large: dict[str, Bounded[bytes, Any]] = {name: Bounded(_LARGE_ENTRIES) for name in _STABLE}


def clear_cache() -> None:
    """Forget every cached member (tests; or to bound memory after a large audit)."""
    for members in (*_cache.values(), *_large.values()):
        members.clear()


class _NotFast(Exception):
    """This input is for the strict reader."""


def _exact(decoded: Any, raw: bytes) -> bool:
    """Whether ``raw`` is what an encoder writes for ``decoded``: then no key in it repeats.

    A repeated key is decoded once (msgspec keeps the last), so no encoding of the decoded
    value can give the received bytes back. Two encoders are asked: msgspec's, of the typed
    value (the members in the Struct's order), and pydantic's, of the plain JSON value (any
    order, numbers as pydantic and RFC 8785 spell them: ``3.1e+24``, ``500``).
    """
    encoded = _ENCODE(decoded)
    if encoded == raw:
        return True
    # The same text but for exponents written with a sign (3.1e+24, as pydantic and RFC 8785
    # write them; msgspec writes 3.1e24): a "+" after an "e" can stand nowhere else in a text
    # this decoder read (strings and names are written back as read), so the texts are the same.
    if b"e+" in raw and raw.replace(b"e+", b"e") == encoded:
        return True
    try:
        return bool(to_json(_DECODE_ANY(raw)) == raw)
    except Exception:  # any failure of the second encoder: not exact, for the strict reader
        return False


def _member_reader(
    model: type[Any], name: str, order: Literal["model", "sorted"]
) -> Callable[[msgspec.Raw | bytes], Any]:
    """Reads one member of ``model`` from its exact bytes, validated by its derived Struct."""
    wire, conv = field_reader(model, name, order=order)
    decode = msgspec.json.Decoder(wire).decode
    cache = _cache.get(name) if model is WorkloadManifest else None
    large = _large.get(name) if model is WorkloadManifest else None

    def fresh(raw: bytes) -> Any:
        decoded = decode(raw)
        if not _exact(decoded, raw):
            raise _NotFast
        return conv(decoded)

    if cache is None:
        return lambda raw: fresh(bytes(raw))

    def cached(member: msgspec.Raw | bytes) -> Any:
        raw = bytes(member)
        size = len(raw)
        memory = cache if size <= _CACHE_MAX_SPAN else large if size <= _LARGE_MAX_SPAN else None
        if memory is None:
            return fresh(raw)
        value = memory.get(raw)
        if value is None:
            value = fresh(raw)
            memory.put(raw, value)
        return value

    return cached


REPEATING = tuple(name for name in WorkloadManifest.model_fields if name not in ("freshness", "job"))
"""The manifest's members other than freshness and job, in field order: what a node's heartbeats repeat."""


_VARYING = ("subject", "job", "freshness")
"""The members a frame leaves open, by the byte that stands for each in its template."""


class PayloadFrame(NamedTuple):
    """A read payload's exact bytes around its subjects, job and freshness (see :func:`payload_frame`).

    The payload is ``pieces[0] + v0 + pieces[1] + v1 + pieces[2] + v2 + pieces[3]``, where ``vi``
    is the text of the member ``_VARYING[holes[i]]``.
    """

    pieces: tuple[bytes, bytes, bytes, bytes]
    holes: tuple[int, int, int]
    read: Callable[[bytes, bytes, bytes, Varying | None], Varying]
    """Reads the three members' texts (subjects, job, freshness) in this payload's order.

    The fourth argument is an earlier reading by the same reader whose job may be this one."""


def _length_bounds(info: Any) -> tuple[int, int]:
    """A field's (min_length, max_length), from its metadata (annotated_types MinLen/MaxLen)."""
    low, high = 0, 2**63
    for item in info.metadata:
        low = max(low, getattr(item, "min_length", low) or low)
        found = getattr(item, "max_length", None)
        if found is not None:
            high = min(high, found)
    return low, high


_SUBJECTS = _length_bounds(Statement.model_fields["subject"])
_SUBJECT_NAME = _length_bounds(Subject.model_fields["name"])


class _Subjects:
    """A statement's subjects in one member order: read from their text, or written from (name, SHA-256) pairs."""

    def __init__(self, order: Literal["model", "sorted"]) -> None:
        if model_checks(Subject) or Subject.__pydantic_decorators__.field_validators:
            # The subjects stay Structs: a validator of the model would be skipped here.
            raise TypeError("Subject has validators: the fast reader keeps subjects as Structs")
        wire, _ = field_reader(Statement, "subject", order=order)
        self._decode = msgspec.json.Decoder(wire).decode
        self._struct = derive(Subject, order=order).struct

    def read(self, text: bytes) -> list[Any]:
        """The subjects' Structs (every constraint checked); raises _NotFast or msgspec's errors."""
        decoded: list[Any] = self._decode(text)
        if not _exact(decoded, text):
            raise _NotFast
        return decoded

    def text(self, named: list[tuple[str, str]]) -> bytes | None:
        """The text a statement in this order holds for subjects ``named``, each with its one SHA-256.

        None when those subjects are not valid ones (too many, or a name out of bounds): no
        statement holds them. Otherwise decoding the text gives exactly these subjects, which
        is how :meth:`Varying.names` proves a heartbeat's subjects without reading them.
        """
        if not _SUBJECTS[0] <= len(named) <= _SUBJECTS[1]:
            return None
        make = self._struct
        subjects = []
        for name, digest in named:
            if (
                not _SUBJECT_NAME[0] <= len(name) <= _SUBJECT_NAME[1]
                or len(digest) != 64
                or digest.strip(_HEX)  # a character that is not lowercase hex is left
            ):
                return None
            subjects.append(make(name=name, digest={"sha256": digest}))
        return _ENCODE(subjects)


_HEX = "0123456789abcdef"


class Varying:
    """A heartbeat's subjects, job and freshness as :func:`read_framed` reads them.

    A plain class (compiled, it is built without the interpreted ``__new__`` of a NamedTuple).
    The subjects are left as text: :meth:`names` compares them with those the job calls for.
    """

    __slots__ = (
        "_job_model",
        "_subjects",
        "freshness",
        "freshness_wire",
        "job",
        "job_text",
        "job_wire",
        "subject_text",
    )

    def __init__(
        self,
        subject_text: bytes,
        job: Job,
        freshness: Freshness,
        job_wire: Any,
        freshness_wire: Any,
        subjects: _Subjects,
        job_text: bytes,
        job_model: Callable[[Any], Job],
    ) -> None:
        self.subject_text = subject_text
        """The subjects' exact text in the payload."""
        self.job_text = job_text
        """The job's exact text in the payload."""
        self.job = job
        self.freshness = freshness
        self.job_wire = job_wire
        """The Struct the job was read from."""
        self.freshness_wire = freshness_wire
        """The Struct the freshness was read from."""
        self._subjects = subjects
        self._job_model = job_model

    def fresh_job(self) -> Job:
        """A job model of its own, built from the job's Struct as :attr:`job` was.

        :attr:`job` may be shared with other readings of the same job text (``known`` in
        :func:`read_framed`); a model handed to a caller is this one, so that a caller who
        changes what it was given (a model's list) changes no other reading.
        """
        return self._job_model(self.job_wire)

    @property
    def subjects(self) -> list[Any]:
        """The subjects' Structs (the same fields as :class:`Subject`, every constraint checked), read now.

        Raises:
            ValueError: they are not what the fast reader reads (msgspec's errors, or not exact).
        """
        try:
            return self._subjects.read(self.subject_text)
        except _NotFast:
            raise ValueError("the subjects are not in the one spelling the fast reader reads") from None

    def names(self, named: list[tuple[str, str]]) -> bool:
        """Whether the subjects are exactly ``named`` (name, SHA-256 hex), in order, and nothing else.

        True only when their text is, byte for byte, what this payload's order writes for those
        subjects: then it decodes to them, valid and in its one spelling, as :func:`read_framed`
        would have read them. Any other text (other subjects, another digest, another spelling
        of the same ones) is False here, and the full path reads and judges it.
        """
        return self.subject_text == self._subjects.text(named)

    def subjects_text(self, named: list[tuple[str, str]]) -> bytes | None:
        """The text this payload's order writes for subjects ``named`` (see :meth:`names`); None if none can."""
        return self._subjects.text(named)


def _readers(
    order: Literal["model", "sorted"],
) -> tuple[Callable[[bytes], Statement], Callable[[bytes], PayloadFrame]]:
    """The fast reader of statements whose members (at every level) come in ``order``.

    Two orders are read fast: the models' own (what :func:`attest.sign.sign_manifest` writes)
    and RFC 8785's sorted one (what the daemon's template signer writes). Re-encoding a
    decoded struct writes its members in the struct's order, which is how a payload in any
    other order, or with a member twice, is told apart.
    """
    manifest = derive(
        WorkloadManifest,
        order=order,
        members={
            name: (msgspec.Raw, _member_reader(WorkloadManifest, name, order))
            for name in WorkloadManifest.model_fields
        },
    )
    statement = derive(
        Statement,
        order=order,
        members={
            "subject": (msgspec.Raw, _member_reader(Statement, "subject", order)),
            "predicate": (manifest.struct, manifest.to_model),
        },
    )

    def read(payload: bytes) -> Statement:
        decoded = statement.decoder.decode(payload)
        if _ENCODE(decoded) != payload:
            raise _NotFast  # duplicate keys, whitespace, another order or spelling at the two levels
        result: Statement = statement.to_model(decoded)
        return result

    subjects = _Subjects(order)
    job_wire, job_model = field_reader(WorkloadManifest, "job", order=order)
    freshness_wire, freshness_model = field_reader(WorkloadManifest, "freshness", order=order)
    decode_job = msgspec.json.Decoder(job_wire).decode
    decode_freshness = msgspec.json.Decoder(freshness_wire).decode

    def read_varying(subject: bytes, job: bytes, freshness: bytes, known: Varying | None) -> Varying:
        # As the member readers read them; the job's and freshness's Structs are returned beside
        # their models (the canonical texts reuse their timestamps). The subjects are compared,
        # as text, with those the job calls for (Varying.names), or read when asked for. A job
        # whose text is, byte for byte, that of ``known`` (read by this same reader) is that
        # job: its Struct and model (both frozen) are taken from there, not read again.
        f = decode_freshness(freshness)
        if not _exact(f, freshness):
            raise _NotFast
        if known is not None and known._subjects is subjects and known.job_text == job:
            return Varying(
                subject, known.job, freshness_model(f), known.job_wire, f, subjects, job, job_model
            )
        j = decode_job(job)
        if not _exact(j, job):
            raise _NotFast
        return Varying(subject, job_model(j), freshness_model(f), j, f, subjects, job, job_model)

    def frame(payload: bytes) -> PayloadFrame:
        decoded = statement.decoder.decode(payload)
        if _ENCODE(decoded) != payload:
            raise _NotFast  # as read(): one spelling at the two levels
        # The payload written again by the same encoder with a control byte in place of each
        # varying member: no JSON text holds one (in a string it is escaped), so each marks the
        # one place its member's text stands, as the statement's structure puts it.
        template = _ENCODE(
            msgspec.structs.replace(
                decoded,
                subject=_HOLE[0],
                predicate=msgspec.structs.replace(decoded.predicate, job=_HOLE[1], freshness=_HOLE[2]),
            )
        )
        split = _HOLES.split(template)
        if len(split) != 7:
            raise _NotFast  # pragma: no cover - the encoder writes each member once
        pieces = (split[0], split[2], split[4], split[6])
        holes = (split[1][0], split[3][0], split[5][0])
        if sorted(holes) != [0, 1, 2]:
            raise _NotFast  # pragma: no cover
        return PayloadFrame(pieces, holes, read_varying)

    return read, frame


_HOLE = tuple(msgspec.Raw(bytes([i])) for i in range(len(_VARYING)))
_HOLES = re.compile(rb"([\x00-\x02])")
_READ_MODEL_ORDER, _FRAME_MODEL_ORDER = _readers("model")
_READ_SORTED, _FRAME_SORTED = _readers("sorted")
# What follows ``{"_type":"…",`` tells the two orders apart.
_SORTED_AFTER_TYPE = b'{"_type":"' + STATEMENT_TYPE.encode() + b'","predicate":'


def _read_fast(payload: bytes) -> Statement:
    read = _READ_SORTED if payload.startswith(_SORTED_AFTER_TYPE) else _READ_MODEL_ORDER
    try:
        return read(payload)
    except MSGSPEC_ERRORS:  # a constraint, a validator, bad JSON: for the strict reader
        raise _NotFast from None


def payload_frame(payload: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> PayloadFrame | None:
    """The payload's bytes around its subjects, job and freshness, if the fast reader reads it; else None.

    For a verifier that has read and judged ``payload``: a later payload that :func:`match_frame`
    finds to be this frame with other subjects, job and freshness has every other member, at
    both levels, byte for byte.
    """
    if len(payload) > max_bytes:
        return None
    frame = _FRAME_SORTED if payload.startswith(_SORTED_AFTER_TYPE) else _FRAME_MODEL_ORDER
    try:
        return frame(payload)
    except _NotFast:
        return None
    except MSGSPEC_ERRORS:
        return None


_PROBE = 32
"""How many bytes of a frame's piece are looked for before the whole piece is compared."""


def match_frame(frame: PayloadFrame, payload: bytes) -> tuple[bytes, bytes, bytes] | None:
    """The texts of ``payload``'s subjects, job and freshness if it is ``frame`` with those three replaced.

    None when it is not. The texts are not read here: :func:`read_framed` reads them. A payload
    that is a frame's pieces with a complete JSON value in each hole is, JSON's grammar being
    unambiguous, the frame's statement with those values as its three members; so once each
    text is read as its member (one complete value, in its exact spelling), the payload is read
    exactly as :func:`read_statement` would read it, every other member the frame's bytes.
    """
    pieces = frame.pieces
    first, last = pieces[0], pieces[3]
    if not payload.startswith(first) or not payload.endswith(last):
        return None
    pos, end = len(first), len(payload) - len(last)
    texts = [b"", b"", b""]
    holes = frame.holes
    for i in (1, 2):
        piece = pieces[i]
        at = payload.find(piece[:_PROBE], pos, end)
        if at < 0 or at + len(piece) > end or not payload.startswith(piece, at):
            return None
        texts[holes[i - 1]] = payload[pos:at]
        pos = at + len(piece)
    texts[holes[2]] = payload[pos:end]
    return texts[0], texts[1], texts[2]


def read_framed(
    frame: PayloadFrame, texts: tuple[bytes, bytes, bytes], known: Varying | None = None
) -> Varying | None:
    """The subjects, job and freshness :func:`match_frame` found, read and validated as :func:`read_statement` reads them.

    None when one of them is not what the fast reader accepts (the strict reader decides then).
    ``known``: an earlier reading of a frame in the same order; when the job's text is its job's,
    byte for byte, its job (Struct and model, both frozen) is this one's, read once for both.
    """
    try:
        return frame.read(texts[0], texts[1], texts[2], known)
    except _NotFast:
        return None
    except MSGSPEC_ERRORS:
        return None


def read_statement(payload: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Statement:
    """Read a signed payload as a Statement: the fast reader, else the strict one.

    Raises:
        InputError: from the strict reader, when the payload is not a valid statement.
    """
    if len(payload) <= max_bytes:
        try:
            return _read_fast(payload)
        except _NotFast:
            pass
    return Statement.from_json(payload, what="statement", max_bytes=max_bytes)
