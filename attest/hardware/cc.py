"""NVIDIA confidential-computing evidence: parse and verify attestation reports offline.

A report is an SPDM 1.1 GET_MEASUREMENTS request (37 bytes) followed by the
response; the response ends with a 96-byte ECDSA P-384 signature (raw r‖s)
over everything before it, made with the key of the leaf certificate of the
GPU's five-certificate chain. Verification, all offline:

1. parse the report, rejecting truncated or inconsistent lengths;
2. parse the chain: exactly five PEM certificates, leaf first;
3. the configured root file must be the pinned NVIDIA Device Identity CA
   (SHA-256 of its DER); the chain's own last certificate is replaced by it;
4. each certificate is issued by the next (signature and names), and every
   one is within its validity period; links already verified are cached by
   fingerprint, so a fleet of GPUs costs about one P-384 verify per report;
5. the report signature verifies with the leaf key;
6. the caller's nonce equals request bytes 4..36;
7. the FWID in the leaf's TCG DICE extension equals opaque field 20 (when the
   report carries one; older drivers' reports do not, which is said);
8. optionally, revocation: OCSP responses captured earlier for chain
   positions 1-3, checked offline (issuer or delegated responder signature,
   validity window, certificate status). Never a network call.

Each failure is its own finding (rule ids ``hardware.cc.*``). Nothing here
reads the network or changes GPU state.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509 import ocsp
from pydantic import JsonValue

from attest._internal.memo import ByIdentity
from attest.errors import AttestError
from attest.model.cc import OPAQUE_FIELD_NAMES, MeasurementBlock, OpaqueField, SpdmReport
from attest.model.manifest import CcEvidence
from attest.model.result import Finding, Severity, Status

NVIDIA_DEVICE_IDENTITY_ROOT_SHA256 = "102bf659d5419614c9d8e6aecebc80454eb26b1df6a769ac720b9a690b167b48"
"""SHA-256 of the DER of the NVIDIA Device Identity CA root certificate (self-signed, P-384)."""

CHAIN_LENGTH = 5
REQUEST_LENGTH = 37
SIGNATURE_LENGTH = 96
NONCE_LENGTH = 32
DICE_TCB_INFO_OIDS = ("2.23.133.5.4.1", "2.23.133.5.4.1.1")
_HASH_OIDS = {
    bytes.fromhex("608648016503040202"): "sha384",
    bytes.fromhex("608648016503040201"): "sha256",
    bytes.fromhex("608648016503040203"): "sha512",
}


class EvidenceError(AttestError):
    """A report or certificate chain cannot be read at all."""


def _u16(b: bytes, off: int) -> int:
    return int.from_bytes(b[off : off + 2], "little")


@dataclass(frozen=True)
class _Parsed:
    """A report as verification needs it; :meth:`model` builds the full pydantic form on demand."""

    data: bytes
    blocks: list[tuple[int, int, int, bytes]]
    responder_nonce: bytes
    opaque: list[tuple[int, bytes]]
    signature_at: int

    @property
    def nonce(self) -> bytes:
        return self.data[4:36]

    def opaque_value(self, type_: int) -> bytes | None:
        return next((v for t, v in self.opaque if t == type_), None)

    def model(self) -> SpdmReport:
        """The full pydantic form, built once.

        A report remembered by a :class:`BindingCache` is read by every heartbeat that repeats
        it; callers only read it.
        """
        return self._model

    @cached_property
    def _model(self) -> SpdmReport:
        d = self.data
        return SpdmReport(
            request_version=d[0],
            request_code=d[1],
            request_param1=d[2],
            request_param2=d[3],
            nonce=d[4:36].hex(),
            slot_id=d[36],
            response_version=d[REQUEST_LENGTH],
            response_code=d[REQUEST_LENGTH + 1],
            response_param1=d[REQUEST_LENGTH + 2],
            response_param2=d[REQUEST_LENGTH + 3],
            blocks=[
                MeasurementBlock(index=i, spec=sp, value_type=vt, value=v.hex())
                for i, sp, vt, v in self.blocks
            ],
            responder_nonce=self.responder_nonce.hex(),
            opaque=[
                OpaqueField(
                    type=t,
                    name=OPAQUE_FIELD_NAMES.get(t, f"type_{t}"),
                    value=v.hex(),
                    text=_opaque_text(t, v),
                )
                for t, v in self.opaque
            ],
            signature=d[self.signature_at :].hex(),
        )


def parse_report(data: bytes) -> SpdmReport:
    """Parse request ‖ response; raise :class:`EvidenceError` on any inconsistency."""
    return _parse(data).model()


def _parse(data: bytes) -> _Parsed:

    def need(off: int, n: int, what: str) -> None:
        if off + n > len(data):
            raise EvidenceError(
                f"attestation report is truncated: {what} needs {n} bytes at offset {off}, {len(data) - off} left"
            )

    need(0, REQUEST_LENGTH, "the request")
    if data[0] != 0x11 or data[1] != 0xE0:
        raise EvidenceError(
            f"not an SPDM 1.1 GET_MEASUREMENTS request (starts {data[:2].hex()}, expected 11e0)"
        )
    p = REQUEST_LENGTH
    need(p, 8, "the response header")
    if data[p] != 0x11 or data[p + 1] != 0x60:
        raise EvidenceError(
            f"not an SPDM 1.1 MEASUREMENTS response (starts {data[p : p + 2].hex()}, expected 1160)"
        )
    n_blocks = data[p + 4]
    record_len = int.from_bytes(data[p + 5 : p + 8], "little")
    p += 8
    need(p, record_len, "the measurement record")
    record_end = p + record_len
    blocks: list[tuple[int, int, int, bytes]] = []
    while p < record_end:
        if p + 4 > record_end:
            raise EvidenceError("measurement record ends inside a block header")
        index, spec, size = data[p], data[p + 1], _u16(data, p + 2)
        if p + 4 + size > record_end:
            raise EvidenceError(f"measurement block {index} claims {size} bytes, past the end of the record")
        body = data[p + 4 : p + 4 + size]
        if spec == 1:  # DMTF: value type (1), value size (2), value
            if size < 3 or 3 + _u16(body, 1) != size:
                raise EvidenceError(f"measurement block {index} has an inconsistent DMTF value size")
            blocks.append((index, spec, body[0], body[3:]))
        else:
            blocks.append((index, spec, -1, body))
        p += 4 + size
    if len(blocks) != n_blocks:
        raise EvidenceError(f"response announces {n_blocks} measurement blocks but holds {len(blocks)}")
    need(p, NONCE_LENGTH + 2, "the responder nonce and opaque length")
    responder_nonce = data[p : p + NONCE_LENGTH]
    p += NONCE_LENGTH
    opaque_len = _u16(data, p)
    p += 2
    need(p, opaque_len, "the opaque data")
    opaque_end = p + opaque_len
    fields: list[tuple[int, bytes]] = []
    while p < opaque_end:
        if p + 4 > opaque_end:
            raise EvidenceError("opaque data ends inside a field header")
        ftype, fsize = _u16(data, p), _u16(data, p + 2)
        if p + 4 + fsize > opaque_end:
            raise EvidenceError(f"opaque field {ftype} claims {fsize} bytes, past the end of the opaque data")
        value = data[p + 4 : p + 4 + fsize]
        fields.append((ftype, value))
        p += 4 + fsize
    if len(data) - p != SIGNATURE_LENGTH:
        raise EvidenceError(
            f"after the opaque data {len(data) - p} bytes remain; the signature is {SIGNATURE_LENGTH} bytes"
        )
    return _Parsed(data=data, blocks=blocks, responder_nonce=responder_nonce, opaque=fields, signature_at=p)


def _opaque_text(ftype: int, value: bytes) -> str | None:
    """A readable form of an opaque field: VBIOS as NVIDIA writes it, printable strings as text."""
    if ftype == 6 and len(value) == 8:  # VBIOS: u32 LE major part, then the OEM byte
        major = f"{int.from_bytes(value[:4], 'little'):08X}"
        return ".".join(major[i : i + 2] for i in range(0, 8, 2)) + f".{value[4]:02X}"
    text = value.rstrip(b"\0")
    if text and all(32 <= c < 127 for c in text):
        return text.decode("ascii")
    return None


_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----\s.*?-----END CERTIFICATE-----", re.S)


def parse_chain(pem: bytes) -> list[x509.Certificate]:
    """Every PEM certificate in ``pem``, in order; raise :class:`EvidenceError` if one does not parse."""
    blocks = _PEM.findall(pem)
    if not blocks:
        raise EvidenceError("no PEM certificate found in the certificate chain")
    certs = []
    for i, block in enumerate(blocks):
        try:
            cert = x509.load_pem_x509_certificate(block)
            # cryptography decodes fields lazily: touch every one used later, so that a
            # corrupt certificate is refused here with a message, not deep in a check.
            _ = (
                cert.subject,
                cert.issuer,
                cert.extensions,
                cert.not_valid_before_utc,
                cert.not_valid_after_utc,
            )
            cert.public_key()
        except Exception as exc:  # untrusted DER: any decoding failure (DuplicateExtension, ...) is a refusal
            raise EvidenceError(f"certificate {i} of the chain does not parse: {exc}") from None
        if not _strict_outer_der(cert):
            raise EvidenceError(
                f"certificate {i} of the chain is not strict DER (its signature BIT STRING is malformed or padded)"
            )
        certs.append(cert)
    return certs


def _strict_outer_der(cert: x509.Certificate) -> bool:
    """Certificate ::= SEQUENCE { tbs, algorithm, BIT STRING (0 unused bits) } and nothing else.

    The parser accepts a signature BIT STRING that claims unused bits; that is a
    second encoding of the same certificate, which a verifier should not accept.
    """
    der = cert.public_bytes(Encoding.DER)
    outer = _der_items(der)
    if len(outer) != 1 or outer[0][0] != 0x30:
        return False
    parts = _der_items(outer[0][1])
    return (
        len(parts) == 3
        and parts[0] == (0x30, cert.tbs_certificate_bytes[_header_length(cert.tbs_certificate_bytes) :])
        and parts[2][0] == 0x03
        and parts[2][1][:1] == b"\x00"
        and parts[2][1][1:] == cert.signature
    )


def _header_length(der: bytes) -> int:
    return 2 + (der[1] & 0x7F if der[1] & 0x80 else 0)


def device_identity(device_cert: x509.Certificate) -> str:
    """A GPU's identity: SHA-256 (hex) of its per-device (BROM, chain position 1) certificate's public key.

    The BROM key is the device's own, fused at manufacture; the leaf (FMC) certificate changes with
    firmware, so its serial is not a stable identity.
    """
    return hashlib.sha256(
        device_cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    ).hexdigest()


def fingerprint(cert: x509.Certificate) -> str:
    """Lowercase hex SHA-256 of the certificate's DER."""
    return cert.fingerprint(hashes.SHA256()).hex()


_fingerprint = fingerprint


def _der_items(data: bytes) -> list[tuple[int, bytes]]:
    """Top-level TLVs of DER ``data`` (definite lengths); malformed input ends the list."""
    out, off = [], 0
    while off + 2 <= len(data):
        tag, length, hdr = data[off], data[off + 1], 2
        if length & 0x80:
            n = length & 0x7F
            if n == 0 or n > 4 or off + 2 + n > len(data):
                break
            length, hdr = int.from_bytes(data[off + 2 : off + 2 + n], "big"), 2 + n
        if off + hdr + length > len(data):
            break
        out.append((tag, data[off + hdr : off + hdr + length]))
        off += hdr + length
    return out


def _find_fwids(data: bytes, depth: int = 0) -> list[tuple[str, bytes]]:
    """Every SEQUENCE { hash OID, OCTET STRING } inside DER ``data``: the DICE FWIDs."""
    found: list[tuple[str, bytes]] = []
    if depth > 8:
        return found
    for tag, value in _der_items(data):
        if tag == 0x30:
            inner = _der_items(value)
            if len(inner) == 2 and inner[0][0] == 0x06 and inner[1][0] == 0x04 and inner[0][1] in _HASH_OIDS:
                found.append((_HASH_OIDS[inner[0][1]], inner[1][1]))
                continue
        if tag & 0x20:  # constructed: look inside
            found.extend(_find_fwids(value, depth + 1))
    return found


def leaf_fwids(leaf: x509.Certificate) -> list[tuple[str, bytes]]:
    """The FWIDs in the leaf certificate's TCG DICE extension (empty when it has none)."""
    for ext in leaf.extensions:
        if ext.oid.dotted_string in DICE_TCB_INFO_OIDS and isinstance(ext.value, x509.UnrecognizedExtension):
            return _find_fwids(ext.value.value)
    return []


class ChainCache:
    """What a fleet's reports share: parsed chains (by content) and verified links; bounded LRU.

    A GPU sends the same chain with every report, and all GPUs of a model share
    their upper certificates; with this cache a repeat report costs about one
    P-384 verify (its own signature) instead of five, plus parsing the report.
    Failed links are never remembered.
    """

    def __init__(self, size: int = 4096) -> None:
        self._links: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._chains: OrderedDict[bytes, list[x509.Certificate]] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def chain(self, pem: bytes) -> list[x509.Certificate]:
        """Parse ``pem`` (see :func:`parse_chain`), or return the certificates parsed before."""
        key = hashlib.sha256(pem).digest()
        with self._lock:
            if key in self._chains:
                self._chains.move_to_end(key)
                return self._chains[key]
        certs = parse_chain(pem)
        with self._lock:
            self._chains[key] = certs
            if len(self._chains) > self._size:
                self._chains.popitem(last=False)
        return certs

    def verified(self, child: str, issuer: str) -> bool:
        """Whether this link verified before (and mark it recently used)."""
        with self._lock:
            if (child, issuer) in self._links:
                self._links.move_to_end((child, issuer))
                self.hits += 1
                return True
            self.misses += 1
            return False

    def add(self, child: str, issuer: str) -> None:
        """Remember a link that verified."""
        with self._lock:
            self._links[(child, issuer)] = None
            if len(self._links) > self._size:
                self._links.popitem(last=False)


@dataclass
class ReportVerification:
    """The outcome of verifying one report: findings, what was parsed, and device identity."""

    findings: list[Finding] = field(default_factory=list)
    parsed: _Parsed | None = None
    ueid: str | None = None
    hwmodel: str | None = None
    fwid: str | None = None
    device_id: str | None = None
    """SHA-256 of the per-device (BROM, position 1) certificate's public key, hex: the GPU's
    identity, stable across firmware updates (the leaf changes with firmware). Set only once
    the chain verified to the pinned root."""
    leaf: x509.Certificate | None = None
    """The leaf certificate whose key signed the report (set once the chain verified)."""
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    """The moments between which every certificate of the chain is valid and every OCSP answer
    used is current (set once the chain verified): outside them this outcome could differ."""
    derived: dict[str, object] = field(default_factory=dict)
    """Values computed from this outcome alone, kept for its next reader (an outcome remembered by
    a :class:`BindingCache` is read by every heartbeat that repeats the binding)."""

    @property
    def report(self) -> SpdmReport | None:
        """The parsed report with every field (built on first use)."""
        return self.parsed.model() if self.parsed else None

    @property
    def status(self) -> Status:
        """The worst finding's status."""
        return Status.worst(f.severity.status for f in self.findings)

    @property
    def valid(self) -> bool:
        """True when no finding is worse than info."""
        return self.status is Status.AFFIRMING

    def add(
        self, rule: str, severity: Severity, message: str, evidence: dict[str, JsonValue] | None = None
    ) -> None:
        """Record a finding."""
        self.findings.append(Finding(rule=rule, severity=severity, message=message, evidence=evidence or {}))


class BindingCache:
    """Verified GPU reports, by the exact digest of what was verified; bounded LRU.

    A heartbeat repeats its node's binding (report, chain, OCSP answers) unchanged, so the
    P-384 report signature and the OCSP answers' signatures need checking once per binding,
    not once per heartbeat. The key is the SHA-256 of every input of
    :func:`verify_report` but the time: the report, the chain, each OCSP answer, the
    expected nonce (which names the node key and the binding challenge), the root and its
    pin, the OCSP age limit and the earliest acceptable answer. Only an outcome with no
    finding worse than info is kept, and it is used only for a moment inside its window
    (:attr:`ReportVerification.valid_from` .. ``valid_until``: certificate validity and
    OCSP currency). What depends on the envelope (the nonce bound to this key, the
    challenge's signer and age, the device store, the chip model) is checked every time by
    the caller; a failed outcome is never remembered.
    """

    def __init__(self, size: int = 4096) -> None:
        self._entries: OrderedDict[bytes, ReportVerification] = OrderedDict()
        self._challenges: OrderedDict[tuple[bytes, str, bytes], None] = OrderedDict()
        self._evidence: OrderedDict[str, CcEvidence] = OrderedDict()
        self._decoded: OrderedDict[tuple[str, ...], None] = OrderedDict()
        self._verdicts: OrderedDict[Hashable, object] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.gpu_keys: ByIdentity[bytes] = ByIdentity(size)
        """GPU entries without evidence (shared by a node's heartbeats as read) → their verdict key part."""
        self.verdict_hits = 0
        """Heartbeats whose whole binding was judged from a kept verdict (see :meth:`verdict`)."""

    @staticmethod
    def key(
        report: str,
        chain_pem: str,
        ocsp_responses: list[str] | None,
        *,
        expected_nonce: bytes,
        root_pem: bytes,
        pinned_root_sha256: str,
        ocsp_max_age: timedelta,
        ocsp_not_before: datetime | None,
    ) -> bytes:
        """The digest a report's verification is remembered by (length-prefixed parts, no ambiguity)."""
        parts: list[bytes] = [
            b"attest-binding-cache-v1",
            report.encode("ascii", "replace"),
            chain_pem.encode("utf-8", "surrogatepass"),
            b"none" if ocsp_responses is None else str(len(ocsp_responses)).encode(),
            *(r.encode("utf-8", "surrogatepass") for r in ocsp_responses or ()),
            expected_nonce,
            root_pem,
            pinned_root_sha256.encode(),
            str(ocsp_max_age.total_seconds()).encode(),
            str(ocsp_not_before.timestamp()).encode() if ocsp_not_before is not None else b"-",
        ]
        h = hashlib.sha256()
        for part in parts:
            h.update(len(part).to_bytes(8, "big"))
            h.update(part)
        return h.digest()

    def get(self, key: bytes, at: datetime) -> ReportVerification | None:
        """The outcome verified before under ``key``, if ``at`` lies inside its window."""
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None:
                assert hit.valid_from is not None and hit.valid_until is not None
                if hit.valid_from <= at <= hit.valid_until:
                    self._entries.move_to_end(key)
                    self.hits += 1
                    return hit
            self.misses += 1
            return None

    def put(self, key: bytes, outcome: ReportVerification) -> None:
        """Remember ``outcome`` if it verified cleanly (anything worse than info is never kept)."""
        if not outcome.valid or outcome.valid_from is None or outcome.valid_until is None:
            return
        if outcome.device_id is None or outcome.leaf is None:
            return
        with self._lock:
            self._entries[key] = outcome
            self._entries.move_to_end(key)
            if len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def evidence(self, digest: str) -> CcEvidence | None:
        """The GPU evidence a hardware-bound manifest carried under this digest, if verified here."""
        with self._lock:
            hit = self._evidence.get(digest)
            if hit is not None:
                self._evidence.move_to_end(digest)
            return hit

    def add_evidence(self, digest: str, evidence: CcEvidence) -> None:
        """Remember evidence that earned hardware-bound, for heartbeats that name it by digest.

        Whatever resolves a digest is verified again in full for the manifest that names it (its
        reports' outcomes come from this cache while current): remembering it grants nothing.
        """
        with self._lock:
            self._evidence[digest] = evidence
            self._evidence.move_to_end(digest)
            if len(self._evidence) > self._size:
                self._evidence.popitem(last=False)

    def forget_evidence(self, digest: str) -> None:
        """Forget the evidence kept under ``digest`` (a collector's, for an envelope it did not log)."""
        with self._lock:
            self._evidence.pop(digest, None)

    def decoded(self, ocsp: list[str]) -> bool:
        """Whether these base64 OCSP answers were decoded for a report that verified."""
        with self._lock:
            return tuple(ocsp) in self._decoded

    def add_decoded(self, ocsp: list[str]) -> None:
        """Remember base64 OCSP answers that decoded (for a report that verified)."""
        with self._lock:
            self._decoded[tuple(ocsp)] = None
            if len(self._decoded) > self._size:
                self._decoded.popitem(last=False)

    def verdict(self, key: Hashable) -> object | None:
        """The judgement of a whole binding kept under ``key`` by :meth:`add_verdict`, if any.

        The verifier (:mod:`attest.verify`) keys it by the node key, every GPU entry with its
        evidence (or the digest naming it), and every anchor the judgement depended on; it
        re-checks what a heartbeat can change (its time against the judgement's validity, the
        challenger's trust, the binding's age, the device store) before using it.
        """
        with self._lock:
            hit = self._verdicts.get(key)
            if hit is not None:
                self._verdicts.move_to_end(key)
            return hit

    def add_verdict(self, key: Hashable, verdict: object) -> None:
        """Keep the judgement of a binding that earned ``hardware-bound`` (never one that did not)."""
        with self._lock:
            self._verdicts[key] = verdict
            self._verdicts.move_to_end(key)
            if len(self._verdicts) > self._size:
                self._verdicts.popitem(last=False)

    def challenge_verified(self, key: tuple[bytes, str, bytes]) -> bool:
        """Whether this (challenge digest, signature, challenger SPKI) verified before."""
        with self._lock:
            if key in self._challenges:
                self._challenges.move_to_end(key)
                return True
            return False

    def add_challenge(self, key: tuple[bytes, str, bytes]) -> None:
        """Remember a challenge signature that verified (never one that failed)."""
        with self._lock:
            self._challenges[key] = None
            if len(self._challenges) > self._size:
                self._challenges.popitem(last=False)


CONTRA = Severity.CONTRAINDICATED


def verify_report(
    report: bytes,
    chain_pem: bytes,
    root_pem: bytes,
    *,
    now: datetime,
    expected_nonce: bytes | None = None,
    pinned_root_sha256: str = NVIDIA_DEVICE_IDENTITY_ROOT_SHA256,
    cache: ChainCache | None = None,
    ocsp_responses: list[bytes] | None = None,
    ocsp_max_age: timedelta = timedelta(days=7),
    ocsp_not_before: datetime | None = None,
    ocsp_now: datetime | None = None,
) -> ReportVerification:
    """Verify a report and its chain offline against the pinned root (never raises on bad input).

    Args:
        report: the raw report bytes (request ‖ response).
        chain_pem: the GPU's certificate chain, leaf first (five certificates).
        root_pem: the root certificate file's contents; its SHA-256 must be ``pinned_root_sha256``.
        now: the time at which certificates must be valid.
        expected_nonce: the 32-byte nonce the caller sent; None skips the check (said in a finding).
        pinned_root_sha256: the fingerprint to pin (NVIDIA's by default; tests pin their own).
        cache: parsed chains and verified certificate links, shared across calls.
        ocsp_responses: DER OCSP responses captured earlier; None skips revocation (said in a finding).
        ocsp_max_age: how old a response may be.
        ocsp_not_before: a response produced before this is stale too (a binding's challenge time:
            answers captured before a revocation cannot be copied into a later binding).
        ocsp_now: the time responses must be current at (default ``now``; responses fetched now
            for a past manifest are judged now).
    """
    out = ReportVerification()

    # 1. Report.
    try:
        parsed = _parse(report)
    except EvidenceError as exc:
        out.add("hardware.cc.report_malformed", CONTRA, exc.message)
        return out
    out.parsed = parsed

    # 2. Chain.
    try:
        chain = cache.chain(chain_pem) if cache else parse_chain(chain_pem)
        roots = cache.chain(root_pem) if cache else parse_chain(root_pem)
    except EvidenceError as exc:
        out.add("hardware.cc.chain_malformed", CONTRA, exc.message)
        return out
    if len(chain) != CHAIN_LENGTH:
        out.add(
            "hardware.cc.chain_length",
            CONTRA,
            f"the certificate chain has {len(chain)} certificates; an NVIDIA GPU chain has exactly {CHAIN_LENGTH}",
        )
        return out

    # 3. Pinned root replaces the chain's own.
    root = roots[0]
    if len(roots) != 1 or fingerprint(root) != pinned_root_sha256:
        out.add(
            "hardware.cc.root_not_pinned",
            CONTRA,
            "the configured root certificate is not the pinned NVIDIA Device Identity CA",
            {"root_sha256": fingerprint(root), "pinned_sha256": pinned_root_sha256},
        )
        return out
    links = [*chain[: CHAIN_LENGTH - 1], root]
    leaf = links[0]
    out.ueid = str(leaf.serial_number)
    out.hwmodel = _common_name(links[1])

    # 4. Each link, and validity periods.
    for i in range(CHAIN_LENGTH - 1):
        child, issuer = links[i], links[i + 1]
        key = (_fingerprint(child), _fingerprint(issuer))
        if cache is not None and cache.verified(*key):
            continue
        try:
            child.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature) as exc:
            out.add(
                "hardware.cc.chain_untrusted",
                CONTRA,
                f"certificate {i} ({_common_name(child)}) is not issued by {_common_name(issuer)}: {exc or 'bad signature'}",
                {
                    "position": i,
                    "subject": child.subject.rfc4514_string(),
                    "issuer": issuer.subject.rfc4514_string(),
                },
            )
            return out
        if cache is not None:
            cache.add(*key)
    out.device_id = device_identity(links[1])
    out.leaf = leaf
    out.valid_from = max(c.not_valid_before_utc for c in links)
    out.valid_until = min(c.not_valid_after_utc for c in links)
    for i, cert in enumerate(links):
        if now < cert.not_valid_before_utc or now > cert.not_valid_after_utc:
            out.add(
                "hardware.cc.certificate_expired",
                CONTRA,
                f"certificate {i} ({_common_name(cert)}) is valid {cert.not_valid_before_utc:%Y-%m-%d}..{cert.not_valid_after_utc:%Y-%m-%d}, not at {now:%Y-%m-%d}",
                {"position": i},
            )

    # 5. Report signature with the leaf key.
    leaf_key = leaf.public_key()
    sig = report[parsed.signature_at :]
    r, s = int.from_bytes(sig[:48], "big"), int.from_bytes(sig[48:], "big")
    if not isinstance(leaf_key, ec.EllipticCurvePublicKey) or not isinstance(leaf_key.curve, ec.SECP384R1):
        out.add("hardware.cc.signature_invalid", CONTRA, "the leaf certificate's key is not ECDSA P-384")
    else:
        try:
            leaf_key.verify(encode_dss_signature(r, s), report[:-SIGNATURE_LENGTH], ec.ECDSA(hashes.SHA384()))
        except (InvalidSignature, ValueError):
            out.add(
                "hardware.cc.signature_invalid",
                CONTRA,
                "the report's signature does not verify with the leaf certificate's key",
            )

    # 6. Nonce.
    if expected_nonce is None:
        out.add(
            "hardware.cc.nonce_not_checked",
            Severity.WARNING,
            "no expected nonce was given; the report could be a replay",
        )
    elif parsed.nonce != expected_nonce:
        out.add(
            "hardware.cc.nonce_mismatch",
            CONTRA,
            "the report was made for another nonce (a replay, or another request)",
            {"expected": expected_nonce.hex(), "report": parsed.nonce.hex()},
        )

    # 7. FWID.
    reported = parsed.opaque_value(20)
    fwids = leaf_fwids(leaf)
    if reported is None:
        out.add(
            "hardware.cc.fwid_absent",
            Severity.INFO,
            "the report carries no FWID (older driver); the leaf certificate's FWID was not compared",
        )
    elif not fwids:
        out.add(
            "hardware.cc.fwid_mismatch",
            CONTRA,
            "the report carries an FWID but the leaf certificate has no DICE FWID",
        )
    elif reported not in [digest for _, digest in fwids]:
        out.add(
            "hardware.cc.fwid_mismatch",
            CONTRA,
            "the report's FWID (opaque field 20) is not the FWID in the leaf certificate",
            {"report": reported.hex(), "certificate": [d.hex() for _, d in fwids]},
        )
    else:
        out.fwid = reported.hex()

    # 8. Revocation, offline.
    if ocsp_responses is None:
        out.add(
            "hardware.cc.revocation_not_checked",
            Severity.INFO,
            "no OCSP responses were given; revocation was not checked",
        )
    else:
        check_revocation(
            out, links, ocsp_responses, now=ocsp_now or now, max_age=ocsp_max_age, not_before=ocsp_not_before
        )
    return out


OCSP_POSITIONS = (1, 2, 3)
"""Chain positions NVIDIA's OCSP service answers for (not the leaf, not the root)."""


def check_revocation(
    out: ReportVerification,
    links: list[x509.Certificate],
    responses: list[bytes],
    *,
    now: datetime,
    max_age: timedelta,
    not_before: datetime | None = None,
) -> None:
    """Check captured OCSP responses for chain positions 1-3 (findings ``hardware.cc.ocsp_*``, ``.revoked``)."""
    covered: set[int] = set()
    for n, der in enumerate(responses):
        try:
            resp = ocsp.load_der_ocsp_response(der)
        except ValueError as exc:
            out.add("hardware.cc.ocsp_malformed", CONTRA, f"OCSP response {n} does not parse: {exc}")
            continue
        if resp.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
            out.add(
                "hardware.cc.ocsp_malformed",
                CONTRA,
                f"OCSP response {n} is not successful ({resp.response_status.name})",
            )
            continue
        for single in resp.responses:
            position = _ocsp_position(single, links)
            if position is None:
                continue
            issuer = links[position + 1]
            if not _ocsp_signed_by(resp, issuer):
                out.add(
                    "hardware.cc.ocsp_untrusted",
                    CONTRA,
                    f"OCSP response {n} for certificate {position} is not signed by its issuer or a responder it certified",
                    {"position": position},
                )
                continue
            this_update = single.this_update_utc
            next_update = single.next_update_utc
            if (
                this_update > now + timedelta(minutes=5)
                or (next_update and now > next_update)
                or now - this_update > max_age
                or (not_before is not None and this_update < not_before)
            ):
                out.add(
                    "hardware.cc.ocsp_stale",
                    Severity.WARNING,
                    f"OCSP response {n} for certificate {position} was produced {this_update:%Y-%m-%d %H:%M}Z; it is not current at {now:%Y-%m-%d %H:%M}Z",
                    {"position": position, "this_update": this_update.isoformat()},
                )
                covered.add(position)
                continue
            # This answer stays current from 5 minutes before its thisUpdate until its nextUpdate
            # and max_age after its thisUpdate: the outcome holds only inside that window.
            if out.valid_from is not None and out.valid_until is not None:
                out.valid_from = max(out.valid_from, this_update - timedelta(minutes=5))
                out.valid_until = min(
                    out.valid_until, this_update + max_age, *([next_update] if next_update else [])
                )
            if single.certificate_status is ocsp.OCSPCertStatus.REVOKED:
                out.add(
                    "hardware.cc.revoked",
                    CONTRA,
                    f"certificate {position} ({_common_name(links[position])}) is revoked"
                    + (f" since {single.revocation_time_utc:%Y-%m-%d}" if single.revocation_time_utc else ""),
                    {
                        "position": position,
                        "reason": single.revocation_reason.name if single.revocation_reason else None,
                    },
                )
            elif single.certificate_status is ocsp.OCSPCertStatus.UNKNOWN:
                out.add(
                    "hardware.cc.ocsp_unknown",
                    Severity.WARNING,
                    f"the OCSP responder does not know certificate {position}",
                    {"position": position},
                )
            covered.add(position)
    missing = [p for p in OCSP_POSITIONS if p not in covered]
    if missing:
        out.add(
            "hardware.cc.revocation_unchecked",
            Severity.WARNING,
            f"no usable OCSP response for chain position(s) {', '.join(map(str, missing))}; their revocation was not checked",
            {"positions": list(missing)},
        )


def _ocsp_position(single: ocsp.OCSPSingleResponse, links: list[x509.Certificate]) -> int | None:
    for position in OCSP_POSITIONS:
        cert, issuer = links[position], links[position + 1]
        if single.serial_number != cert.serial_number:
            continue
        try:
            builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, single.hash_algorithm)
            expected = builder.build()
        except (ValueError, TypeError):
            continue
        if (expected.issuer_key_hash, expected.issuer_name_hash) == (
            single.issuer_key_hash,
            single.issuer_name_hash,
        ):
            return position
    return None


def _ocsp_signed_by(resp: ocsp.OCSPResponse, issuer: x509.Certificate) -> bool:
    """Signed by ``issuer`` itself, or by a responder certificate ``issuer`` issued for OCSP signing."""
    candidates = [issuer]
    for responder in resp.certificates:
        try:
            responder.verify_directly_issued_by(issuer)
            eku = responder.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
            continue
        if x509.oid.ExtendedKeyUsageOID.OCSP_SIGNING in eku:
            candidates.append(responder)
    for signer in candidates:
        key = signer.public_key()
        if not isinstance(key, ec.EllipticCurvePublicKey) or resp.signature_hash_algorithm is None:
            continue
        try:
            key.verify(resp.signature, resp.tbs_response_bytes, ec.ECDSA(resp.signature_hash_algorithm))
            return True
        except InvalidSignature:
            continue
    return False


def _common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    value = names[0].value if names else cert.subject.rfc4514_string()
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def utcnow() -> datetime:
    """The current time, aware (for callers without a clock of their own)."""
    return datetime.now(UTC)
