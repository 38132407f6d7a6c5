"""A simulated confidential-computing backend with NVIDIA's shape, for demos and tests.

No real GPU can be asked to sign our nonce on a machine without one, so this
backend plays the GPU: it holds a five-certificate P-384 hierarchy shaped like
NVIDIA's (root → identity → provisioner ICA → per-device BROM → per-device
FMC leaf with a TCG DICE FWID extension) and answers GET_MEASUREMENTS with
SPDM 1.1 reports signed by the device's leaf key. Its root is *not* NVIDIA's:
a verifier must be told to pin it, so simulated evidence can never pass as real.

Like NVIDIA it also publishes reference integrity manifests (driver and VBIOS
RIMs, XML-signed SWID tags under a RIM root of its own) with the golden values
of its firmware, so measurements can be appraised end to end. All its GPUs run
the same firmware and measure alike; a GPU put in debug mode
(:meth:`SimulatedCcBackend.set_debug`) measures its debug policy differently,
as NVIDIA's GPUs do, and a verifier appraising the report refuses it.

Like a real GPU it takes time to make a report: ``report_ms`` (default 30 ms, or
``ATTEST_SIM_REPORT_MS``), so the GPU-timed landmark exchange shows honestly how
far a report's time reaches.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID, ObjectIdentifier

from attest.crypto.keys import write_private_key_bytes
from attest.errors import InputError
from attest.hardware.cc import fingerprint

_SHA384_OID = bytes.fromhex("608648016503040202")

SIM_DRIVER_VERSION = "570.133.20"
SIM_VBIOS_VERSION = "96.00.74.00.01"
VBIOS_INDICES = range(0, 20)
"""RIM indices the VBIOS RIM covers (the driver RIM covers 20..63); RIM index k is report block k + 1."""
DEBUG_POLICY_INDEX = 9
"""The RIM index whose measurement changes when a simulated GPU is in debug mode."""


def golden_measurement(index: int) -> bytes:
    """The simulated firmware's measurement at RIM ``index`` (the same on every simulated GPU)."""
    return hashlib.sha384(
        f"simulated firmware {SIM_VBIOS_VERSION}/{SIM_DRIVER_VERSION}/{index}".encode()
    ).digest()


def _runtime_measurement(index: int, *, debug: bool) -> bytes:
    if debug and index == DEBUG_POLICY_INDEX:
        return hashlib.sha384(b"simulated debug policy: enabled").digest()
    return golden_measurement(index)


DEFAULT_REPORT_MS = 30.0
"""How long a simulated GPU takes to make a report unless told otherwise (tens of ms, as real ones)."""
REPORT_MS_ENV = "ATTEST_SIM_REPORT_MS"


def report_ms_from_env() -> float:
    """The simulated report time: ``ATTEST_SIM_REPORT_MS`` when set, else 30 ms.

    Raises:
        InputError: the variable is not a number of milliseconds between 0 and 10,000.
    """
    text = os.environ.get(REPORT_MS_ENV)
    if text is None or not text.strip():
        return DEFAULT_REPORT_MS
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 10_000:
        raise InputError(f"{REPORT_MS_ENV}={text!r}: give the simulated report time in ms, 0 to 10000")
    return value


_DICE_TCB_INFO = ObjectIdentifier("2.23.133.5.4.1.1")


def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def dice_tcb_info(fwid: bytes) -> bytes:
    """DiceTcbInfo with vendor, model and one SHA-384 FWID ([6] IMPLICIT FWIDLIST)."""
    fwid_entry = _der(0x30, _der(0x06, _SHA384_OID) + _der(0x04, fwid))
    return _der(0x30, _der(0x80, b"NVIDIA") + _der(0x81, b"SIM100 A01 GSP") + _der(0xA6, fwid_entry))


def _name(cn: str, serial: str | None = None) -> x509.Name:
    attrs = [
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Simulated GPU Vendor"),
    ]
    if serial:
        attrs.insert(0, x509.NameAttribute(NameOID.SERIAL_NUMBER, serial))
    return x509.Name(attrs)


def _cert(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
    fwid: bytes | None = None,
) -> x509.Certificate:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=365 * 30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if fwid is not None:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(_DICE_TCB_INFO, dice_tcb_info(fwid)), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA384())


def _split_pem(data: bytes) -> list[bytes]:
    marker = b"-----END CERTIFICATE-----"
    return [part + marker for part in data.split(marker) if b"BEGIN CERTIFICATE" in part]


def _pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


@dataclass(frozen=True)
class SimulatedIdentity:
    """What a simulated GPU's certificates and reports say it is (as the vendor fuses it)."""

    certificate_model: str = "SIM100 A01 GSP BROM"
    project: str | None = None
    project_sku: str | None = None
    chip_sku: str | None = None


@dataclass
class SimulatedDevice:
    """One simulated GPU: its two per-device certificates and leaf key."""

    leaf_key: ec.EllipticCurvePrivateKey
    brom_key: ec.EllipticCurvePrivateKey
    chain: bytes
    fwid: bytes
    identity: SimulatedIdentity = dataclasses.field(default_factory=lambda: SimulatedIdentity())


class SimulatedCcBackend:
    """A simulated vendor hierarchy that makes signed attestation reports for simulated GPUs.

    The vendor keys live in ``directory`` (created 0700, keys 0600); the root
    certificate a verifier must pin is ``directory/root.pem``.
    """

    def __init__(self, directory: Path, *, report_ms: float | None = None) -> None:
        self.directory = directory
        self.report_ms = report_ms_from_env() if report_ms is None else report_ms
        if not 0 <= self.report_ms <= 10_000:
            raise InputError(f"the simulated report time must be 0 to 10000 ms, not {self.report_ms}")
        self._devices: dict[str, SimulatedDevice] = {}
        if not (directory / "root.pem").exists():
            self._create()
        self._root = x509.load_pem_x509_certificate((directory / "root.pem").read_bytes())
        self._upper = (directory / "upper.pem").read_bytes()  # provisioner ICA and identity
        self._ica_key = self._load_key("ica.key")
        self._ica = x509.load_pem_x509_certificate(self._upper)
        self._debug: set[str] = set()

    def set_debug(self, uuid: str, debug: bool = True) -> None:
        """Put a simulated GPU in (or out of) debug mode: its reports then measure differently."""
        (self._debug.add if debug else self._debug.discard)(uuid)

    @property
    def root_pem(self) -> bytes:
        """The root certificate to pin."""
        return self._root.public_bytes(serialization.Encoding.PEM)

    @property
    def root_sha256(self) -> str:
        """The root's fingerprint, for ``pinned_root_sha256``."""
        return fingerprint(self._root)

    def _load_key(self, name: str) -> ec.EllipticCurvePrivateKey:
        key = serialization.load_pem_private_key((self.directory / name).read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise InputError(f"{self.directory / name} is not an EC key")
        return key

    def _create(self) -> None:
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create {self.directory}: {exc.strerror}") from None
        root_key, identity_key, ica_key = (ec.generate_private_key(ec.SECP384R1()) for _ in range(3))
        root_name = _name("Simulated Device Identity CA")
        root = _cert(root_name, root_key, root_name, root_key, ca=True)
        identity = _cert(_name("Simulated SIM100 Identity"), identity_key, root_name, root_key, ca=True)
        ica = _cert(
            _name("Simulated SIM100 Provisioner ICA 1"), ica_key, identity.subject, identity_key, ca=True
        )
        (self.directory / "root.pem").write_bytes(_pem(root))
        (self.directory / "upper.pem").write_bytes(_pem(ica, identity))
        for name, key in (("root.key", root_key), ("identity.key", identity_key), ("ica.key", ica_key)):
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            write_private_key_bytes(self.directory / name, pem)

    def ocsp_response(
        self,
        chain_pem: bytes,
        position: int,
        *,
        revoked: bool = False,
        produced: datetime | None = None,
        delegated: bool = False,
    ) -> bytes:
        """An OCSP response (DER) for certificate ``position`` (1-3) of a chain this vendor issued.

        Signed by the issuer, or with ``delegated`` by a responder certificate the issuer made.
        """
        certs = [x509.load_pem_x509_certificate(b) for b in _split_pem(chain_pem)]
        cert, issuer = certs[position], certs[position + 1]
        issuer_key = self._issuer_key(issuer)
        when = produced or datetime.now(UTC)
        status = ocsp.OCSPCertStatus.REVOKED if revoked else ocsp.OCSPCertStatus.GOOD
        builder = ocsp.OCSPResponseBuilder().add_response(
            cert=cert,
            issuer=issuer,
            algorithm=hashes.SHA384(),
            cert_status=status,
            this_update=when,
            next_update=when + timedelta(days=7),
            revocation_time=when if revoked else None,
            revocation_reason=x509.ReasonFlags.key_compromise if revoked else None,
        )
        signer_key, signer_cert = issuer_key, issuer
        if delegated:
            signer_key = ec.generate_private_key(ec.SECP384R1())
            signer_cert = (
                x509.CertificateBuilder()
                .subject_name(_name("Simulated OCSP Responder"))
                .issuer_name(issuer.subject)
                .public_key(signer_key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(when - timedelta(days=1))
                .not_valid_after(when + timedelta(days=30))
                .add_extension(
                    x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False
                )
                .sign(issuer_key, hashes.SHA384())
            )
            builder = builder.certificates([signer_cert])
        builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, signer_cert)
        return builder.sign(signer_key, hashes.SHA384()).public_bytes(serialization.Encoding.DER)

    def _issuer_key(self, issuer: x509.Certificate) -> ec.EllipticCurvePrivateKey:
        wanted = issuer.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        keys = [self._load_key(n) for n in ("root.key", "identity.key", "ica.key")]
        keys += [d.brom_key for d in self._devices.values()]
        for key in keys:
            spki = key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            if spki == wanted:
                return key
        raise InputError("this simulated vendor did not issue that certificate")

    def _device_dir(self, uuid: str) -> Path:
        return self.directory / "devices" / hashlib.sha256(uuid.encode()).hexdigest()[:24]

    def device(self, uuid: str, identity: SimulatedIdentity | None = None) -> SimulatedDevice:
        """The simulated GPU with this UUID.

        Its device keys and certificates are made on first use, with ``identity`` (the die
        its certificates name and the board SKU its reports carry), and kept in the vendor
        directory: like a real GPU, a simulated one keeps its device identity whoever asks
        and whatever its entry later declares.
        """
        if uuid in self._devices:
            return self._devices[uuid]
        where = self._device_dir(uuid)
        if (where / "chain.pem").exists():
            try:
                meta = json.loads((where / "identity.json").read_text())
                dev = SimulatedDevice(
                    leaf_key=self._load_key(f"devices/{where.name}/leaf.key"),
                    brom_key=self._load_key(f"devices/{where.name}/brom.key"),
                    chain=(where / "chain.pem").read_bytes(),
                    fwid=bytes.fromhex(meta["fwid"]),
                    identity=SimulatedIdentity(**meta["identity"]),
                )
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise InputError(f"simulated GPU {uuid} in {where} is unreadable: {exc}") from None
            self._devices[uuid] = dev
            return dev
        ident = identity or SimulatedIdentity()
        brom_key, leaf_key = (
            ec.generate_private_key(ec.SECP384R1()),
            ec.generate_private_key(ec.SECP384R1()),
        )
        serial = hashlib.sha256(uuid.encode()).hexdigest()[:18].upper()
        fwid = hashlib.sha384(b"simulated firmware " + uuid.encode()).digest()
        brom = _cert(
            _name(ident.certificate_model, serial), brom_key, self._ica.subject, self._ica_key, ca=True
        )
        leaf = _cert(
            _name(ident.certificate_model.replace("BROM", "FMC LF"), serial + "01"),
            leaf_key,
            brom.subject,
            brom_key,
            ca=False,
            fwid=fwid,
        )
        dev = SimulatedDevice(
            leaf_key=leaf_key,
            brom_key=brom_key,
            chain=_pem(leaf, brom) + self._upper + _pem(self._root),
            fwid=fwid,
            identity=ident,
        )
        try:
            where.mkdir(mode=0o700, parents=True, exist_ok=True)
            for name, key in (("leaf.key", leaf_key), ("brom.key", brom_key)):
                pem = key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
                write_private_key_bytes(where / name, pem, overwrite=True)
            meta = {"uuid": uuid, "fwid": fwid.hex(), "identity": dataclasses.asdict(ident)}
            (where / "identity.json").write_text(json.dumps(meta, indent=1) + "\n")
            (where / "chain.pem").write_bytes(dev.chain)  # last: its presence means the device is whole
        except OSError as exc:
            raise InputError(f"cannot keep simulated GPU {uuid} in {where}: {exc.strerror}") from None
        self._devices[uuid] = dev
        return dev

    def revoke(self, uuid: str) -> None:
        """Revoke the device certificate (chain position 1) of this simulated GPU at its vendor."""
        revoked = self._revoked_list()
        if uuid not in revoked:
            (self.directory / "revoked.json").write_text(json.dumps(sorted([*revoked, uuid])) + "\n")

    def _revoked_list(self) -> list[str]:
        path = self.directory / "revoked.json"
        if not path.exists():
            return []
        try:
            value = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"{path} is unreadable: {exc}") from None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InputError(f"{path} must be a JSON list of GPU UUIDs")
        return value

    def revocation(self, uuid: str, *, produced: datetime | None = None) -> list[bytes]:
        """OCSP responses (DER) for chain positions 1-3 of this GPU, as its vendor answers now."""
        dev = self.device(uuid)
        revoked = uuid in self._revoked_list()
        return [
            self.ocsp_response(dev.chain, position, revoked=revoked and position == 1, produced=produced)
            for position in (1, 2, 3)
        ]

    def attest(
        self, uuid: str, nonce: bytes, identity: SimulatedIdentity | None = None
    ) -> tuple[bytes, bytes]:
        """Return (report, certificate chain) for this GPU, signed over ``nonce`` (32 bytes).

        ``identity`` is used only when the GPU is first made (see :meth:`device`).
        """
        if len(nonce) != 32:
            raise InputError(f"the nonce must be exactly 32 bytes, not {len(nonce)}")
        dev = self.device(uuid, identity)
        started = time.monotonic()
        request = bytes([0x11, 0xE0, 0x01, 0xFF]) + nonce + b"\x00"
        debug = uuid in self._debug
        record = b"".join(
            bytes([i, 1])
            + (51).to_bytes(2, "little")
            + bytes([0x01])
            + (48).to_bytes(2, "little")
            + _runtime_measurement(i - 1, debug=debug)
            for i in range(1, 65)
        )
        fields: list[tuple[int, bytes]] = [
            (3, SIM_DRIVER_VERSION.encode() + b"\0"),
            (6, bytes.fromhex("0074009601000000")),
        ]
        ident = dev.identity
        for ftype, text in ((15, ident.chip_sku), (17, ident.project), (18, ident.project_sku)):
            if text is not None:
                fields.append((ftype, text.encode("ascii") + b"\0"))
        fields.append((20, dev.fwid))
        opaque = b"".join(t.to_bytes(2, "little") + len(v).to_bytes(2, "little") + v for t, v in fields)
        response = (
            bytes([0x11, 0x60, 0x00, 0x00, 64])
            + len(record).to_bytes(3, "little")
            + record
            + os.urandom(32)
            + len(opaque).to_bytes(2, "little")
            + opaque
        )
        der = dev.leaf_key.sign(request + response, ec.ECDSA(hashes.SHA384()))
        r, s = decode_dss_signature(der)
        left = self.report_ms / 1000 - (time.monotonic() - started)
        if left > 0:
            time.sleep(left)  # a real GPU's report takes tens of ms; never less than report_ms
        return request + response + r.to_bytes(48, "big") + s.to_bytes(48, "big"), dev.chain

    # --- Reference integrity manifests ------------------------------------------------------

    def _rim_hierarchy(self) -> tuple[ec.EllipticCurvePrivateKey, list[x509.Certificate]]:
        """The RIM signing key and its chain (signer, RIM root), made on first use."""
        root_path, chain_path = self.directory / "rim_root.pem", self.directory / "rim_chain.pem"
        if not root_path.exists():
            root_key, signer_key = (ec.generate_private_key(ec.SECP384R1()) for _ in range(2))
            root_name = _name("Simulated CoRIM signing Root CA")
            root = _cert(root_name, root_key, root_name, root_key, ca=True)
            signer = _cert(_name("Simulated RIM Signer"), signer_key, root_name, root_key, ca=False)
            write_private_key_bytes(
                self.directory / "rim_signer.key",
                signer_key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                ),
            )
            chain_path.write_bytes(_pem(signer, root))
            root_path.write_bytes(_pem(root))
        return self._load_key("rim_signer.key"), [
            x509.load_pem_x509_certificate(b) for b in _split_pem(chain_path.read_bytes())
        ]

    @property
    def rim_root_pem(self) -> bytes:
        """The RIM root certificate to pin (``attest verify --rim-root``)."""
        self._rim_hierarchy()
        return (self.directory / "rim_root.pem").read_bytes()

    @property
    def rim_root_sha256(self) -> str:
        """The RIM root's fingerprint."""
        return fingerprint(x509.load_pem_x509_certificate(self.rim_root_pem))

    def rim(
        self, kind: str, identity: SimulatedIdentity, *, golden: dict[int, bytes] | None = None
    ) -> tuple[str, bytes]:
        """(RIM id, signed RIM XML) for the simulated ``driver`` or ``vbios`` firmware of GPUs of ``identity``.

        Args:
            kind: ``driver`` (one per chip) or ``vbios`` (one per board SKU, named by the identity's
                project, project SKU and chip SKU; by chip when it has none).
            identity: the GPUs' chip (from the certificate model) and board SKU.
            golden: replace golden values at these indices (tests of a vendor's mistaken RIM).
        """
        from lxml import etree
        from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
        from signxml.signer import XMLSigner

        chip = identity.certificate_model.split(" ")[0].replace("_", "").upper()
        if kind == "driver":
            rim_id, version = f"NV_GPU_DRIVER_{chip}_{SIM_DRIVER_VERSION}", SIM_DRIVER_VERSION
            indices = [i for i in range(64) if i not in VBIOS_INDICES]
        elif kind == "vbios":
            vbios = SIM_VBIOS_VERSION.replace(".", "")
            if identity.project and identity.project_sku and identity.chip_sku:
                rim_id = f"NV_GPU_VBIOS_{identity.project}_{identity.project_sku}_{identity.chip_sku}_{vbios}"
            else:  # its reports name no board SKU: the RIM is named by chip (attest.hardware.rim.rim_ids)
                rim_id = f"NV_GPU_VBIOS_{chip}_{vbios}"
            version, indices = SIM_VBIOS_VERSION, list(VBIOS_INDICES)
        else:
            raise InputError(f"a RIM is for the driver or the vbios, not {kind!r}")
        swid = "http://standards.iso.org/iso/19770/-2/2015/schema.xsd"
        sha384 = "http://www.w3.org/2001/04/xmlenc#sha384"
        doc = etree.Element(
            f"{{{swid}}}SoftwareIdentity",
            nsmap={None: swid, "ns2": sha384},
            attrib={"name": chip, "tagId": hashlib.sha384(rim_id.encode()).hexdigest(), "version": "1.0"},
        )
        etree.SubElement(
            doc, f"{{{swid}}}Entity", name="Simulated GPU Vendor", role="softwareCreator tagCreator"
        )
        etree.SubElement(
            doc, f"{{{swid}}}Meta", colloquialVersion=version, edition="GPU", product=chip, revision="r1"
        )
        payload = etree.SubElement(doc, f"{{{swid}}}Payload")
        for i in indices:
            value = (golden or {}).get(i, golden_measurement(i))
            etree.SubElement(
                payload,
                f"{{{swid}}}Resource",
                attrib={
                    "type": "Measurement",
                    "index": str(i),
                    "active": "True",
                    "alternatives": "1",
                    f"{{{sha384}}}Hash0": value.hex(),
                    "name": f"Measurement_{i}",
                    "size": "48",
                },
            )
        key, chain = self._rim_hierarchy()
        signed = XMLSigner(
            signature_algorithm=SignatureMethod.ECDSA_SHA384,
            digest_algorithm=DigestAlgorithm.SHA384,
            c14n_algorithm=CanonicalizationMethod.CANONICAL_XML_1_1,
        ).sign(doc, key=key, cert=chain)
        return rim_id, etree.tostring(signed)

    def rims(self, identities: list[SimulatedIdentity] | None = None) -> dict[str, bytes]:
        """Every RIM for GPUs of these identities (default: of every GPU this vendor has made), by id."""
        if identities is None:
            identities = [self.device(uuid).identity for uuid in all_devices(self)]
        out: dict[str, bytes] = {}
        for ident in identities:
            for kind in ("driver", "vbios"):
                rim_id, xml = self.rim(kind, ident)
                out.setdefault(rim_id, xml)
        return out

    def publish_rims(self, directory: Path, identities: list[SimulatedIdentity] | None = None) -> list[Path]:
        """Write the RIMs for these identities (default: every GPU made so far) into ``directory``.

        Files are named as NVIDIA's RIM service names RIMs: a RIM cache for ``--rims``.
        """
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create {directory}: {exc.strerror}") from None
        paths = []
        for rim_id, xml in self.rims(identities).items():
            path = directory / f"{rim_id}.xml"
            path.write_bytes(xml)
            paths.append(path)
        return paths


def all_devices(backend: SimulatedCcBackend) -> list[str]:
    """The UUIDs of every GPU this simulated vendor has made."""
    out = []
    for meta in sorted((backend.directory / "devices").glob("*/identity.json")):
        try:
            out.append(str(json.loads(meta.read_text())["uuid"]))
        except (OSError, ValueError, KeyError):
            continue
    return out


def answer_ocsp(backend: SimulatedCcBackend, request_der: bytes) -> bytes | None:
    """The simulated vendor's OCSP answer to one DER request (None: not a certificate it issued)."""
    try:
        request = ocsp.load_der_ocsp_request(request_der)
    except ValueError:
        return None
    revoked = set(backend._revoked_list())
    for uuid in all_devices(backend):
        dev = backend.device(uuid)
        certs = [x509.load_pem_x509_certificate(b) for b in _split_pem(dev.chain)]
        for position in (1, 2, 3):
            if certs[position].serial_number == request.serial_number:
                return backend.ocsp_response(dev.chain, position, revoked=position == 1 and uuid in revoked)
    return None


def serve_ocsp(backend: SimulatedCcBackend, host: str = "127.0.0.1", port: int = 0) -> Any:
    """An HTTP OCSP responder for this simulated vendor, on a background thread.

    Returns the server (``server_address`` is where it listens; ``shutdown()`` stops it).
    Requests are POSTed DER (RFC 6960 appendix A); unknown certificates get HTTP 404.
    """
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length <= 0 or length > 16384:
                self.send_error(400, "an OCSP request of 1..16384 bytes is expected")
                return
            body = self.rfile.read(length)
            with lock:
                answer = answer_ocsp(backend, body)
            if answer is None:
                self.send_error(404, "not a certificate of this simulated vendor")
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/ocsp-response")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True, name="sim-ocsp").start()
    return server


class SimulatedRimService:
    """The simulated vendor's RIM service, in memory: a :class:`attest.hardware.rim.RimSource`.

    It answers for every GPU the vendor has made when asked (signing each RIM once).
    """

    def __init__(self, backend: SimulatedCcBackend) -> None:
        self.backend = backend
        self._signed: dict[str, bytes] = {}

    def get(self, rim_id: str) -> bytes | None:
        """The RIM with this id, or None."""
        import fnmatch

        if not any(fnmatch.fnmatchcase(k, rim_id) for k in self._signed):
            for key, xml in self.backend.rims().items():
                self._signed.setdefault(key, xml)
        matches = sorted(k for k in self._signed if fnmatch.fnmatchcase(k, rim_id))
        return self._signed[matches[0]] if matches else None

    def contents_token(self) -> tuple[str, ...]:
        """The ids signed so far (a RIM, once signed, is never replaced)."""
        return tuple(self._signed)
