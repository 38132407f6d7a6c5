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
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

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

SIM_CHIP = "SIM100"
SIM_DRIVER_VERSION = "570.133.20"
SIM_VBIOS_VERSION = "96.00.74.00.01"
SIM_PROJECT, SIM_PROJECT_SKU, SIM_CHIP_SKU = "G520", "0200", "885"
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


@dataclass
class SimulatedDevice:
    """One simulated GPU: its two per-device certificates and leaf key."""

    leaf_key: ec.EllipticCurvePrivateKey
    brom_key: ec.EllipticCurvePrivateKey
    chain: bytes
    fwid: bytes


class SimulatedCcBackend:
    """A simulated vendor hierarchy that makes signed attestation reports for simulated GPUs.

    The vendor keys live in ``directory`` (created 0700, keys 0600); the root
    certificate a verifier must pin is ``directory/root.pem``.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
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

    def device(self, uuid: str) -> SimulatedDevice:
        """The simulated GPU with this UUID (its certificates are made on first use)."""
        if uuid not in self._devices:
            brom_key, leaf_key = (
                ec.generate_private_key(ec.SECP384R1()),
                ec.generate_private_key(ec.SECP384R1()),
            )
            serial = hashlib.sha256(uuid.encode()).hexdigest()[:18].upper()
            fwid = hashlib.sha384(b"simulated firmware " + uuid.encode()).digest()
            brom = _cert(
                _name("SIM100 A01 GSP BROM", serial), brom_key, self._ica.subject, self._ica_key, ca=True
            )
            leaf = _cert(
                _name("SIM100 A01 GSP FMC LF", serial + "01"),
                leaf_key,
                brom.subject,
                brom_key,
                ca=False,
                fwid=fwid,
            )
            root = self._root
            self._devices[uuid] = SimulatedDevice(
                leaf_key=leaf_key,
                brom_key=brom_key,
                chain=_pem(leaf, brom) + self._upper + _pem(root),
                fwid=fwid,
            )
        return self._devices[uuid]

    def attest(self, uuid: str, nonce: bytes) -> tuple[bytes, bytes]:
        """Return (report, certificate chain) for this GPU, signed over ``nonce`` (32 bytes)."""
        if len(nonce) != 32:
            raise InputError(f"the nonce must be exactly 32 bytes, not {len(nonce)}")
        dev = self.device(uuid)
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
        fields = (
            (3, SIM_DRIVER_VERSION.encode() + b"\0"),
            (6, bytes.fromhex("0074009601000000")),
            (15, SIM_CHIP_SKU.encode() + b"\0"),
            (17, SIM_PROJECT.encode() + b"\0"),
            (18, SIM_PROJECT_SKU.encode() + b"\0"),
            (20, dev.fwid),
        )
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

    def rim(self, kind: str, *, golden: dict[int, bytes] | None = None) -> tuple[str, bytes]:
        """(RIM id, signed RIM XML) for the simulated ``driver`` or ``vbios`` firmware.

        Args:
            kind: ``driver`` or ``vbios``.
            golden: replace golden values at these indices (tests of a vendor's mistaken RIM).
        """
        from lxml import etree
        from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
        from signxml.signer import XMLSigner

        if kind == "driver":
            rim_id, version = f"NV_GPU_DRIVER_{SIM_CHIP}_{SIM_DRIVER_VERSION}", SIM_DRIVER_VERSION
            indices = [i for i in range(64) if i not in VBIOS_INDICES]
        elif kind == "vbios":
            vbios = SIM_VBIOS_VERSION.replace(".", "")
            rim_id = f"NV_GPU_VBIOS_{SIM_PROJECT}_{SIM_PROJECT_SKU}_{SIM_CHIP_SKU}_{vbios}"
            version, indices = SIM_VBIOS_VERSION, list(VBIOS_INDICES)
        else:
            raise InputError(f"a RIM is for the driver or the vbios, not {kind!r}")
        swid = "http://standards.iso.org/iso/19770/-2/2015/schema.xsd"
        sha384 = "http://www.w3.org/2001/04/xmlenc#sha384"
        doc = etree.Element(
            f"{{{swid}}}SoftwareIdentity",
            nsmap={None: swid, "ns2": sha384},
            attrib={"name": SIM_CHIP, "tagId": hashlib.sha384(rim_id.encode()).hexdigest(), "version": "1.0"},
        )
        etree.SubElement(
            doc, f"{{{swid}}}Entity", name="Simulated GPU Vendor", role="softwareCreator tagCreator"
        )
        etree.SubElement(
            doc, f"{{{swid}}}Meta", colloquialVersion=version, edition="GPU", product=SIM_CHIP, revision="r1"
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

    def publish_rims(self, directory: Path) -> list[Path]:
        """Write the driver and VBIOS RIMs into ``directory`` (a RIM cache, as NVIDIA's service names them)."""
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create {directory}: {exc.strerror}") from None
        paths = []
        for kind in ("driver", "vbios"):
            rim_id, xml = self.rim(kind)
            path = directory / f"{rim_id}.xml"
            path.write_bytes(xml)
            paths.append(path)
        return paths
