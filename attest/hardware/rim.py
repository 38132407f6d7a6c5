"""NVIDIA reference integrity manifests (RIMs): verify them and appraise GPU measurements against them.

A RIM is a SWID tag (ISO/IEC 19770-2 XML) signed with an enveloped XML
signature (ECDSA P-384, SHA-384, C14N 1.1) by a certificate that chains up to
NVIDIA's RIM root. Each ``Resource`` of type ``Measurement`` carries an index,
whether it is ``active``, and one or more golden SHA-384 values
(``Hash0``..``HashN``, any of which is acceptable). A GPU has two: the driver
RIM (``NV_GPU_DRIVER_<chip>_<driver version>``) and the VBIOS RIM
(``NV_GPU_VBIOS_<project>_<project sku>_<chip sku>_<vbios>``); an NVSwitch has a
VBIOS RIM only. RIM index ``k`` is the report's measurement block ``k + 1``.

Verification of one RIM (:func:`verify_rim`), all offline:

1. parse the XML with a hardened parser (no DTD, no entities, no network);
2. take the certificates of its ``KeyInfo``, replace the root with the pinned
   RIM root (SHA-256 of its DER), check every link (at most five);
3. check the XML signature with signxml (a well-kept xmldsig implementation,
   the one NVIDIA's own Python verifier used) against the leaf, ECDSA-SHA384
   only; golden values are then read from the element signxml says was
   signed, never from the document as received (no signature wrapping);
4. certificates outside their validity period at the verification time are a
   warning (NVIDIA's RIM signing certificates live two years and its own
   relying-party policies accept expired ones); the golden values still count.

Appraisal of one report (:func:`appraise`): find the RIMs for its chip,
driver and VBIOS versions through a :class:`RimSource` (a directory, NVIDIA's
RIM service, or memory), verify them, check their versions are the report's,
refuse overlapping indices, and compare every active golden measurement with
the report's. A mismatch is ``hardware.measurement_mismatch`` (contraindicated)
with the index, golden and runtime values: unexpected firmware, or a GPU in
debug mode, whose firmware and security configuration measure differently from
the production values NVIDIA publishes. A RIM that cannot be found is a warning.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from lxml import etree
from pydantic import JsonValue
from signxml.algorithms import DigestAlgorithm, SignatureMethod
from signxml.exceptions import InvalidInput, SignXMLException
from signxml.verifier import SignatureConfiguration, XMLVerifier

from attest._internal.memo import Same
from attest.errors import AttestError
from attest.hardware.cc import ReportVerification, _opaque_text, fingerprint, parse_chain
from attest.model.result import Finding, Severity
from attest.units import human_size

NVIDIA_RIM_ROOT_SHA256 = "12977b5115acb0381179279fffeb5a8c4d264971ebb32298023a465fa41df5d1"
"""SHA-256 of the DER of NVIDIA's RIM root ("NVIDIA CoRIM signing Root CA", P-384)."""

RIM_SERVICE_URL = "https://rim.attestation.nvidia.com/v1/rim/"
"""NVIDIA's RIM service: ``GET <url><rim id>`` answers ``{"id", "rim": base64 XML, "sha256", ...}``."""

MAX_RIM_BYTES = 1024 * 1024
MAX_RIM_CHAIN = 5
_SWID = "http://standards.iso.org/iso/19770/-2/2015/schema.xsd"
_DS = "http://www.w3.org/2000/09/xmldsig#"
_SHA384_NS = "http://www.w3.org/2001/04/xmlenc#sha384"
_SIGNATURE_METHODS = frozenset({SignatureMethod.ECDSA_SHA384})  # what NVIDIA signs RIMs with; nothing else
_DIGESTS = frozenset({DigestAlgorithm.SHA384})
CONTRA = Severity.CONTRAINDICATED


class RimError(AttestError):
    """A RIM cannot be read, does not verify, or cannot be fetched."""


@dataclass(frozen=True)
class ReferenceManifest:
    """A verified RIM: what it is for and its active golden measurements."""

    product: str
    version: str
    edition: str
    measurements: dict[int, tuple[bytes, ...]]
    signer: str
    validity: tuple[tuple[str, datetime, datetime], ...]
    """(common name, not before, not after) of each certificate, leaf first, root last."""
    sha256: str

    def expired_at(self, now: datetime) -> list[str]:
        """Names of the certificates not valid at ``now``."""
        return [name for name, start, end in self.validity if now < start or now > end]


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=False
    )


def _cn(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    value = names[0].value if names else cert.subject.rfc4514_string()
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except (x509.ExtensionNotFound, ValueError):
        return False


def _read_manifest(signed: etree._Element) -> tuple[str, str, str, dict[int, tuple[bytes, ...]]]:
    """Product, version, edition and active golden values of a signed SoftwareIdentity element."""
    if signed.tag != f"{{{_SWID}}}SoftwareIdentity":
        raise RimError(f"the signed element is {signed.tag}, not a SWID SoftwareIdentity")
    metas = signed.findall(f"{{{_SWID}}}Meta")
    if len(metas) != 1:
        raise RimError(f"the RIM has {len(metas)} Meta elements; exactly one is expected")
    meta = metas[0]
    product, version = meta.get("product"), meta.get("colloquialVersion")
    if not product or not version:
        raise RimError("the RIM's Meta names no product or colloquialVersion")
    payloads = signed.findall(f"{{{_SWID}}}Payload")
    if len(payloads) != 1:
        raise RimError(f"the RIM has {len(payloads)} Payload elements; exactly one is expected")
    golden: dict[int, tuple[bytes, ...]] = {}
    for res in payloads[0].findall(f"{{{_SWID}}}Resource"):
        if res.get("type") != "Measurement":
            continue
        try:
            index = int(res.get("index", ""))
            count = int(res.get("alternatives", ""))
            size = int(res.get("size", "48"))
        except ValueError:
            raise RimError("a measurement of the RIM has a non-numeric index, size or alternatives") from None
        if not 0 <= index < 255 or not 1 <= count <= 64 or index in golden:
            raise RimError(f"measurement {index} of the RIM is out of range or repeated")
        if res.get("active") not in ("True", "False"):
            raise RimError(f"measurement {index} of the RIM is neither active nor inactive")
        if res.get("active") != "True":
            continue
        values = []
        for n in range(count):
            text = res.get(f"{{{_SHA384_NS}}}Hash{n}")
            try:
                value = bytes.fromhex(text or "")
            except ValueError:
                value = b""
            if len(value) != size or size == 0:
                raise RimError(f"golden value {n} of measurement {index} is not {size} bytes of hex")
            values.append(value)
        golden[index] = tuple(values)
    return product, version, meta.get("edition", ""), golden


def verify_rim(
    xml: bytes,
    root_pem: bytes,
    *,
    now: datetime,
    pinned_root_sha256: str = NVIDIA_RIM_ROOT_SHA256,
) -> tuple[ReferenceManifest | None, list[Finding]]:
    """Verify a RIM's signature and chain offline; return it (None when it fails) and the findings.

    Args:
        xml: the RIM document.
        root_pem: the RIM root certificate file; its SHA-256 must be ``pinned_root_sha256``.
        now: the time at which certificate validity is judged (expiry is a warning).
        pinned_root_sha256: the fingerprint to pin (NVIDIA's by default; tests pin their own).
    """
    manifest, findings = _verify_rim_untimed(xml, root_pem, pinned_root_sha256)
    if manifest is not None:
        findings = [*findings, *expiry_findings(manifest, now)]
    return manifest, findings


def expiry_findings(manifest: ReferenceManifest, now: datetime) -> list[Finding]:
    """A warning when a certificate of the RIM's chain is not valid at ``now``."""
    expired = manifest.expired_at(now)
    if not expired:
        return []
    return [
        Finding(
            rule="hardware.rim.certificate_expired",
            severity=Severity.WARNING,
            message=f"the {manifest.product} {manifest.version} RIM's certificate(s) {', '.join(expired)} are "
            f"not valid at {now:%Y-%m-%d}; its golden values were still compared",
            evidence={"rim": f"{manifest.product} {manifest.version}", "certificates": list(expired)},
        )
    ]


def _verify_rim_untimed(
    xml: bytes, root_pem: bytes, pinned_root_sha256: str
) -> tuple[ReferenceManifest | None, list[Finding]]:
    def fail(
        rule: str, message: str, evidence: dict[str, JsonValue] | None = None
    ) -> tuple[None, list[Finding]]:
        return None, [Finding(rule=rule, severity=CONTRA, message=message, evidence=evidence or {})]

    # 1. Parse, hardened.
    if len(xml) > MAX_RIM_BYTES:
        return fail("hardware.rim.malformed", f"the RIM is over the limit of {human_size(MAX_RIM_BYTES)}")
    if b"<!DOCTYPE" in xml or b"<!ENTITY" in xml:
        return fail("hardware.rim.malformed", "the RIM has a DTD; RIMs never do")
    try:
        doc = etree.fromstring(xml, parser=_parser())
    except etree.XMLSyntaxError as exc:
        return fail("hardware.rim.malformed", f"the RIM is not well-formed XML: {exc}")

    # 2. Chain from KeyInfo, pinned root.
    try:
        roots = parse_chain(root_pem)
    except AttestError as exc:
        return fail("hardware.rim.root_not_pinned", f"the RIM root file is unusable: {exc.message}")
    root = roots[0]
    if len(roots) != 1 or fingerprint(root) != pinned_root_sha256:
        return fail(
            "hardware.rim.root_not_pinned",
            "the configured RIM root certificate is not the pinned NVIDIA RIM root",
            {"root_sha256": fingerprint(root), "pinned_sha256": pinned_root_sha256},
        )
    certs = []
    for i, node in enumerate(
        doc.iterfind(f".//{{{_DS}}}Signature/{{{_DS}}}KeyInfo//{{{_DS}}}X509Certificate")
    ):
        try:
            certs.append(x509.load_der_x509_certificate(base64.b64decode("".join((node.text or "").split()))))
        except ValueError as exc:
            return fail(
                "hardware.rim.malformed", f"certificate {i} of the RIM's KeyInfo does not parse: {exc}"
            )
    certs = [c for c in certs if fingerprint(c) != pinned_root_sha256]
    if not certs or len(certs) >= MAX_RIM_CHAIN:
        return fail(
            "hardware.rim.chain_untrusted", f"the RIM carries {len(certs)} certificates below the root"
        )
    links = [*certs, root]
    for i in range(len(links) - 1):
        try:
            links[i].verify_directly_issued_by(links[i + 1])
        except (ValueError, TypeError, InvalidSignature):
            return fail(
                "hardware.rim.chain_untrusted",
                f"RIM certificate {i} ({_cn(links[i])}) is not issued by {_cn(links[i + 1])}",
                {"position": i},
            )
        if i + 1 < len(links) - 1 and not _is_ca(links[i + 1]):  # the pinned root is trusted as it is
            return fail(
                "hardware.rim.chain_untrusted",
                f"RIM certificate {i + 1} ({_cn(links[i + 1])}) issues certificate {i} but is not a CA",
                {"position": i + 1},
            )
    leaf = links[0]

    # 3. The XML signature, with the leaf; golden values from what was signed.
    start = max(c.not_valid_before_utc for c in links)
    when = min(start + timedelta(seconds=1), leaf.not_valid_after_utc)
    try:
        result = XMLVerifier().verify(
            xml,
            x509_cert=leaf,
            expect_config=SignatureConfiguration(
                require_x509=True,
                signature_methods=_SIGNATURE_METHODS,
                digest_algorithms=_DIGESTS,
                verification_time=when,
            ),
        )
    except (SignXMLException, InvalidInput, ValueError, etree.LxmlError) as exc:
        return fail("hardware.rim.signature_invalid", f"the RIM's XML signature does not verify: {exc}")
    results = result if isinstance(result, list) else [result]
    if len(results) != 1 or not isinstance(results[0].signed_xml, etree._Element):
        return fail("hardware.rim.signature_invalid", "the RIM does not carry exactly one signed reference")
    try:
        product, version, edition, golden = _read_manifest(results[0].signed_xml)
    except RimError as exc:
        return fail("hardware.rim.malformed", exc.message)
    return (
        ReferenceManifest(
            product=product,
            version=version,
            edition=edition,
            measurements=golden,
            signer=_cn(leaf),
            validity=tuple((_cn(c), c.not_valid_before_utc, c.not_valid_after_utc) for c in links),
            sha256=hashlib.sha256(xml).hexdigest(),
        ),
        [],
    )


# --- Where RIMs come from -------------------------------------------------------------------


class RimSource(Protocol):
    """Finds a RIM document by its NVIDIA id (None when it has none).

    A source may also offer ``contents_token() -> Hashable | None``: a cheap value that differs
    whenever what ``get`` would answer may differ (None: it cannot tell). The verifier keeps a
    binding's judgement only while that token is the same (:func:`contents_token`).
    """

    def get(self, rim_id: str) -> bytes | None:
        """The RIM document for ``rim_id``, or None."""
        ...


def contents_token(source: object) -> Hashable | None:
    """``source.contents_token()`` when it has one, else None (what it answers may change at any time)."""
    token = getattr(source, "contents_token", None)
    return token() if callable(token) else None


def _directory_token(directory: Path) -> Hashable | None:
    """Every file of ``directory`` by name, inode, size and modification time (None if unreadable)."""
    try:
        with os.scandir(directory) as entries:
            files = []
            for entry in entries:
                st = entry.stat()
                files.append((entry.name, st.st_ino, st.st_size, st.st_mtime_ns))
        st = directory.stat()
    except OSError:
        return None
    return (str(directory), st.st_ino, st.st_mtime_ns, tuple(sorted(files)))


class MemoryRims:
    """RIMs held in memory, by id (tests, and the in-memory twin of the others)."""

    def __init__(self, rims: dict[str, bytes] | None = None) -> None:
        self.rims = dict(rims or {})

    def get(self, rim_id: str) -> bytes | None:
        """The RIM with this id (a ``*`` matches any run of characters), or None."""
        matches = sorted(k for k in self.rims if fnmatch.fnmatchcase(k, rim_id))
        return self.rims[matches[0]] if matches else None

    def contents_token(self) -> Hashable:
        """Every id with its document (changes whenever ``rims`` does)."""
        return ("memory", tuple(self.rims.items()))


class DirectoryRims:
    """A local cache directory: ``<dir>/<RIM id>.xml`` (or ``.swidtag``), as NVIDIA names them.

    Works offline; ``attest gpu fetch-rims`` or ``--online`` fill it.
    """

    SUFFIXES = (".xml", ".swidtag")

    def __init__(self, directory: Path) -> None:
        if not directory.is_dir():
            raise RimError(f"the RIM directory {directory} does not exist")
        self.directory = directory

    def get(self, rim_id: str) -> bytes | None:
        """Read ``rim_id``'s file, if there is one."""
        if not _safe_id(rim_id.replace("*", "")):
            return None
        for suffix in self.SUFFIXES:
            if "*" in rim_id:
                found = sorted(self.directory.glob(f"{rim_id}{suffix}"))
                if not found:
                    continue
                path = found[0]
            else:
                path = self.directory / f"{rim_id}{suffix}"
            try:
                with path.open("rb") as fh:
                    size = os.fstat(fh.fileno()).st_size
                    if size > MAX_RIM_BYTES:  # said with its size here, not judged from a prefix
                        raise RimError(
                            f"{path} is {human_size(size)}, over the limit of {human_size(MAX_RIM_BYTES)} for a RIM"
                        )
                    return fh.read(MAX_RIM_BYTES + 1)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise RimError(f"cannot read {path}: {exc.strerror}") from None
        return None

    def contents_token(self) -> Hashable | None:
        """The directory's files by name, inode, size and modification time (None if unreadable)."""
        return _directory_token(self.directory)

    def put(self, rim_id: str, xml: bytes) -> None:
        """Store a fetched RIM (it is verified again whenever it is used)."""
        if _safe_id(rim_id):
            tmp = self.directory / f".{rim_id}.xml.tmp"
            tmp.write_bytes(xml)
            tmp.replace(self.directory / f"{rim_id}.xml")


def _safe_id(rim_id: str) -> bool:
    return bool(rim_id) and len(rim_id) < 200 and all(c.isalnum() or c in "._-" for c in rim_id)


Fetch = Callable[[str], bytes | None]
"""Fetches a URL: the body on 200, None on 404, :class:`RimError` otherwise."""


def requests_fetch(url: str, *, timeout: float = 10.0) -> bytes | None:
    """GET ``url`` with requests (the only network I/O of RIM appraisal)."""
    import requests

    limit = 4 * MAX_RIM_BYTES  # base64 in JSON: a RIM of at most MAX_RIM_BYTES fits
    try:
        with requests.get(url, timeout=timeout, stream=True) as resp:
            if resp.status_code == 404:
                return None
            if resp.status_code != 200:
                raise RimError(f"the RIM service answered HTTP {resp.status_code} for {url}")
            body = b""
            for chunk in resp.iter_content(65536):
                body += chunk
                if len(body) > limit:
                    raise RimError(
                        f"the RIM service's answer for {url} is over the limit of {human_size(limit)}"
                    )
            return body
    except requests.RequestException as exc:
        raise RimError(f"cannot reach the RIM service: {exc}") from None


class OnlineRims:
    """NVIDIA's RIM service, through a local cache directory when one is given.

    The service's answer is JSON with the RIM base64-encoded; the RIM is
    verified like any other (the service's TLS is not what is trusted).
    """

    def __init__(
        self, cache: DirectoryRims | None = None, *, fetch: Fetch | None = None, url: str = RIM_SERVICE_URL
    ) -> None:
        self.cache = cache
        self.fetch = fetch or requests_fetch
        self.url = url

    def get(self, rim_id: str) -> bytes | None:
        """The cached RIM, or the service's (then cached)."""
        if self.cache is not None:
            cached = self.cache.get(rim_id)
            if cached is not None:
                return cached
        if not _safe_id(rim_id):
            return None
        body = self.fetch(self.url + rim_id)
        if body is None:
            return None
        import json

        try:
            doc = json.loads(body)
            xml = base64.b64decode(doc["rim"], validate=True)
        except (ValueError, KeyError, TypeError):
            raise RimError(f"the RIM service's answer for {rim_id} is not JSON with a base64 'rim'") from None
        if self.cache is not None:
            self.cache.put(rim_id, xml)
        return xml

    def contents_token(self) -> Hashable | None:
        """The cache directory's token; None without one (every answer is the service's of the moment)."""
        if self.cache is None:
            return None
        token = self.cache.contents_token()
        return None if token is None else ("online", self.url, token)


class ChainedRims:
    """The first of several sources that has the RIM."""

    def __init__(self, sources: Iterable[RimSource]) -> None:
        self.sources = list(sources)

    def get(self, rim_id: str) -> bytes | None:
        """Ask each source in turn."""
        for source in self.sources:
            found = source.get(rim_id)
            if found is not None:
                return found
        return None

    def contents_token(self) -> Hashable | None:
        """Every source's token, in order (None if any source cannot tell)."""
        tokens = tuple(contents_token(s) for s in self.sources)
        return None if any(t is None for t in tokens) else ("chained", tokens)


# --- Appraisal --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuntimeMeasurements:
    """What appraisal reads from a verified report."""

    chip: str
    """The chip as RIMs name it: GH100, GB100, LS10 (from the BROM certificate's name)."""
    driver_version: str | None
    vbios_version: str | None
    project: str | None
    project_sku: str | None
    chip_sku: str | None
    blocks: dict[int, bytes]
    """Measurement block index (1-based, as in the report) to value."""

    @property
    def is_switch(self) -> bool:
        """NVSwitch (LS10): no driver RIM."""
        return self.chip.startswith("LS")


def _text(value: bytes | None) -> str | None:
    if value is None:
        return None
    text = value.rstrip(b"\0")
    return text.decode("ascii") if text and all(32 <= c < 127 for c in text) else None


def runtime_measurements(
    hwmodel: str | None, opaque: Callable[[int], bytes | None], blocks: Iterable[tuple[int, int, int, bytes]]
) -> RuntimeMeasurements:
    """Gather what appraisal needs from a parsed report and its device certificate's model name."""
    chip = (hwmodel or "").split(" ")[0].replace("_", "").upper()
    vbios_raw = opaque(6)
    return RuntimeMeasurements(
        chip=chip,
        driver_version=_text(opaque(3)),
        vbios_version=_opaque_text(6, vbios_raw) if vbios_raw is not None else None,
        project=_text(opaque(17)),
        project_sku=_text(opaque(18)),
        chip_sku=_text(opaque(15)),
        blocks={index: value for index, _spec, _vt, value in blocks},
    )


def rim_ids(rt: RuntimeMeasurements) -> list[tuple[str, str | None]]:
    """(kind, NVIDIA RIM id or None when the report lacks what names it) for the RIMs this report needs."""
    out: list[tuple[str, str | None]] = []
    if not rt.is_switch:
        out.append(("driver", f"NV_GPU_DRIVER_{rt.chip}_{rt.driver_version}" if rt.driver_version else None))
    prefix = "NV_SWITCH_BIOS" if rt.is_switch else "NV_GPU_VBIOS"
    vbios = rt.vbios_version.replace(".", "") if rt.vbios_version else None
    parts = [rt.project, rt.project_sku, rt.chip_sku, vbios]
    if all(parts):
        out.append(("vbios", f"{prefix}_{'_'.join(p for p in parts if p)}"))
    elif rt.is_switch and vbios:
        # NVSwitch reports carry no project or SKU: any cached switch RIM of this BIOS version
        # (its product and version are still checked against the report).
        out.append(("vbios", f"{prefix}_*_{vbios}"))
    elif vbios and rt.chip:
        # A GPU report without its board SKU (real Hopper and Blackwell reports always carry
        # it): no NVIDIA id names its VBIOS RIM; this project names it by chip and version.
        out.append(("vbios", f"{prefix}_{rt.chip}_{vbios}"))
    else:
        out.append(("vbios", None))
    return out


class RimAppraiser:
    """Everything measurement appraisal needs: a RIM source, the pinned RIM root, and a cache.

    Verified RIMs are cached by the SHA-256 of their bytes (bounded), so a
    fleet's reports cost a dictionary lookup per RIM, not an XML signature.
    Failed RIMs are never cached.
    """

    def __init__(
        self,
        source: RimSource,
        root_pem: bytes,
        *,
        pinned_root_sha256: str = NVIDIA_RIM_ROOT_SHA256,
        size: int = 256,
    ) -> None:
        self.source = source
        self.root_pem = root_pem
        self.pinned_root_sha256 = pinned_root_sha256
        self._verified: OrderedDict[str, ReferenceManifest] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def manifest(self, xml: bytes, now: datetime) -> tuple[ReferenceManifest | None, list[Finding]]:
        """Verify ``xml`` (or find it verified before)."""
        key = hashlib.sha256(xml).hexdigest()
        with self._lock:
            cached = self._verified.get(key)
            if cached is not None:
                self._verified.move_to_end(key)
        if cached is not None:
            return cached, expiry_findings(cached, now)
        manifest, findings = verify_rim(
            xml, self.root_pem, now=now, pinned_root_sha256=self.pinned_root_sha256
        )
        if manifest is not None:
            with self._lock:
                self._verified[key] = manifest
                if len(self._verified) > self._size:
                    self._verified.popitem(last=False)
        return manifest, findings

    def contents_token(self) -> Hashable | None:
        """What an appraisal by this appraiser depends on besides the report and the time.

        Its root pin, its source and that source's contents (None when the source cannot tell).
        """
        token = contents_token(self.source)
        if token is None:
            return None
        return (self.root_pem, self.pinned_root_sha256, Same(self.source), token)


@dataclass
class Appraisal:
    """The outcome of appraising one report's measurements."""

    findings: list[Finding] = field(default_factory=list)
    compared: int = 0
    rims: list[str] = field(default_factory=list)
    validity: list[tuple[datetime, datetime]] = field(default_factory=list)
    """(not before, not after) of every certificate of every RIM used: outside them the findings
    could differ (an expired RIM signer is a warning)."""

    def add(self, rule: str, severity: Severity, message: str, evidence: dict[str, JsonValue]) -> None:
        """Record a finding."""
        self.findings.append(Finding(rule=rule, severity=severity, message=message, evidence=evidence))


def appraise(rt: RuntimeMeasurements, appraiser: RimAppraiser, *, now: datetime) -> Appraisal:
    """Compare a verified report's measurements with NVIDIA's golden values (never raises on bad RIMs).

    Rules: ``hardware.measurement_mismatch`` and ``hardware.rim.*``.
    """
    out = Appraisal()
    golden: dict[int, tuple[bytes, ...]] = {}
    origin: dict[int, str] = {}
    # 1. Find and verify each RIM; its product and version must be the report's.
    for kind, rim_id in rim_ids(rt):
        want = rt.vbios_version if kind == "vbios" else rt.driver_version
        if rim_id is None:
            out.add(
                "hardware.rim.missing",
                Severity.WARNING,
                f"the report does not say which {kind} RIM applies (no {kind} version or SKU in its opaque data); "
                "its measurements were not compared",
                {"kind": kind},
            )
            continue
        try:
            xml = appraiser.source.get(rim_id)
        except RimError as exc:
            out.add(
                "hardware.rim.missing",
                Severity.WARNING,
                f"{kind} RIM {rim_id}: {exc.message}",
                {"rim": rim_id},
            )
            continue
        if xml is None:
            out.add(
                "hardware.rim.missing",
                Severity.WARNING,
                f"no {kind} RIM {rim_id} in the RIM cache or service; those measurements were not compared",
                {"rim": rim_id, "kind": kind},
            )
            continue
        manifest, findings = appraiser.manifest(xml, now)
        if manifest is not None:
            out.validity.extend((start, end) for _, start, end in manifest.validity)
        for f in findings:
            out.findings.append(f.model_copy(update={"evidence": {**f.evidence, "rim": rim_id}}))
        if manifest is None:
            continue
        if manifest.version != want or manifest.product.upper() != rt.chip:
            out.add(
                "hardware.rim.version_mismatch",
                CONTRA,
                f"{kind} RIM {rim_id} is for {manifest.product} {manifest.version}, the report is "
                f"{rt.chip} {want}",
                {
                    "rim": rim_id,
                    "rim_product": manifest.product,
                    "rim_version": manifest.version,
                    "report_chip": rt.chip,
                    "report_version": want,
                },
            )
            continue
        out.rims.append(rim_id)
        # 2. The two RIMs must not both claim an index.
        for index, values in manifest.measurements.items():
            if index in golden:
                out.add(
                    "hardware.rim.index_conflict",
                    CONTRA,
                    f"measurement {index} is defined by both the {origin[index]} and the {kind} RIM",
                    {"index": index},
                )
                continue
            golden[index] = values
            origin[index] = kind
    # 3. Every active golden value against the report's block index + 1.
    for index in sorted(golden):
        values = golden[index]
        runtime = rt.blocks.get(index + 1)
        out.compared += 1
        if runtime is None or runtime not in values:
            out.add(
                "hardware.measurement_mismatch",
                CONTRA,
                f"measurement {index} ({origin[index]} RIM) is "
                + ("absent from the report" if runtime is None else "not a golden value of the vendor's RIM")
                + ": unexpected firmware or configuration, or a GPU in debug mode",
                {
                    "index": index,
                    "rim": origin[index],
                    "golden": [v.hex() for v in values],
                    "runtime": runtime.hex() if runtime is not None else None,
                },
            )
    if out.rims and not any(f.rule == "hardware.measurement_mismatch" for f in out.findings):
        out.add(
            "hardware.rim.appraised",
            Severity.INFO,
            f"{out.compared} measurements match the golden values ({', '.join(out.rims)}); the RIM "
            "signers' revocation status was not checked",
            {"compared": out.compared, "rims": list(out.rims)},
        )
    return out


def appraise_report(
    outcome: ReportVerification,
    appraiser: RimAppraiser | None,
    *,
    now: datetime,
    validity: list[tuple[datetime, datetime]] | None = None,
) -> list[Finding]:
    """The appraisal findings for a report that verified (``verify_report``'s outcome).

    Without an appraiser the measurements are not compared: a warning, since an
    unexpected firmware or a debug-mode GPU would then go unnoticed. ``validity``, when given,
    receives the validity period of every RIM certificate the appraisal used.
    """
    if outcome.parsed is None:
        return []
    if appraiser is None:
        return [
            Finding(
                rule="hardware.rim.not_checked",
                severity=Severity.WARNING,
                message="the report's measurements were not compared with NVIDIA's reference manifests "
                "(no RIM source: attest verify --rims DIR or --online); a GPU with unexpected firmware "
                "or in debug mode would not be noticed",
            )
        ]
    parsed = outcome.parsed
    rt = outcome.derived.get("runtime_measurements")  # a function of the outcome alone: gathered once
    if not isinstance(rt, RuntimeMeasurements):
        rt = outcome.derived["runtime_measurements"] = runtime_measurements(
            outcome.hwmodel, parsed.opaque_value, parsed.blocks
        )
    appraisal = appraise(rt, appraiser, now=now)
    if validity is not None:
        validity.extend(appraisal.validity)
    return appraisal.findings
