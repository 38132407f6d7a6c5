"""Evidence from NVIDIA's current attestation tooling (libnvat's ``nvattest collect-evidence``).

``nvattest collect-evidence --format json`` prints its evidence in one of three shapes,
all read by :func:`parse_nvattest`:

- the CLI wrapper: ``{"result_code": 0, "result_message": "Ok", "evidences": [entry, ...]}``;
- the bare array of entries (the SDK's serialized evidence);
- NVIDIA's fleet agent: the same entries camelCased inside ``attestationData.sdkResponse``.

Each entry is ``{arch, nonce, evidence, certificate}``: ``evidence`` is the base64 SPDM
request ‖ response (what :func:`attest.hardware.cc.verify_report` checks), ``certificate``
the base64 PEM chain. Releases up to 2025-11 also wrote ``version``, ``vbios_version`` and
``driver_version``. Entries of arch ``LS10`` are NVSwitches, kept apart from GPUs.

Nothing in an entry is trusted but the signed report: the entry's ``nonce`` and versions
are the operator's word, so they must agree with what the report says (a disagreement is
a finding), and a verifier compares the report's nonce with its *own* nonce.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from attest.crypto.canonical import strict_loads
from attest.crypto.keys import VerifyingKey
from attest.errors import InputError
from attest.hardware.binding import BoundGpu, NodeBinding, binding_nonce
from attest.hardware.cc import EvidenceError, _opaque_text, _parse
from attest.model.manifest import CcEvidence, Gpu, SignedChallenge
from attest.model.result import Finding, Severity

MAX_NVATTEST_BYTES = 4 * 1024 * 1024
SWITCH_ARCHES = frozenset({"LS10"})
GPU_ARCHES = frozenset({"HOPPER", "BLACKWELL"})
_CAMEL = {"vbiosVersion": "vbios_version", "driverVersion": "driver_version"}


@dataclass(frozen=True)
class NvatEntry:
    """One device's evidence from nvattest."""

    position: int
    """Its place in nvattest's array (GPUs and switches counted together)."""
    arch: str
    nonce: bytes
    report: bytes
    certificate_chain: bytes
    version: str | None = None
    vbios_version: str | None = None
    driver_version: str | None = None

    @property
    def is_switch(self) -> bool:
        """An NVSwitch (LS10), not a GPU."""
        return self.arch in SWITCH_ARCHES


def _entries_of(doc: Any) -> tuple[list[Any], str]:
    """The entry list of any of the three shapes, and the shape's name."""
    if isinstance(doc, list):
        return doc, "array"
    if not isinstance(doc, dict):
        raise InputError("nvattest evidence is neither a JSON object nor an array")
    if "attestationData" in doc:
        data = doc["attestationData"]
        sdk = data.get("sdkResponse") if isinstance(data, dict) else None
        if isinstance(sdk, list):
            return sdk, "fleet-agent"
        if isinstance(sdk, dict):
            _check_result(sdk.get("resultCode", 0), sdk.get("resultMessage"))
            if isinstance(sdk.get("evidences"), list):
                return sdk["evidences"], "fleet-agent"
        raise InputError("attestationData.sdkResponse holds no evidence array")
    if "evidences" in doc:
        _check_result(doc.get("result_code", 0), doc.get("result_message"))
        if not isinstance(doc["evidences"], list):
            raise InputError("nvattest's 'evidences' is not an array")
        return doc["evidences"], "cli"
    raise InputError(
        "not nvattest evidence: expected the collect-evidence output, its 'evidences' array, "
        "or a fleet agent's attestationData.sdkResponse"
    )


def _check_result(code: Any, message: Any) -> None:
    if code != 0:
        raise InputError(
            f"nvattest reported a failure (result_code {code!r}: {message!r}); it collected no evidence"
        )


def _text_field(entry: dict[str, Any], name: str, i: int, *, required: bool) -> str | None:
    value = entry.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise InputError(f"nvattest entry {i}: '{name}' is missing or not a string")
    return value


def _b64(value: str, what: str, i: int) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"nvattest entry {i}: '{what}' is not base64") from None


def parse_nvattest(data: bytes) -> list[NvatEntry]:
    """Read nvattest evidence in any of its shapes (strict JSON: no duplicate keys, size-limited).

    Raises:
        InputError: the input is not nvattest evidence, or an entry is malformed.
    """
    doc = strict_loads(data, what="nvattest evidence", max_bytes=MAX_NVATTEST_BYTES)
    raw_entries, _shape = _entries_of(doc)
    if not raw_entries:
        raise InputError("nvattest evidence holds no device")
    out = []
    for i, raw in enumerate(raw_entries):
        if not isinstance(raw, dict):
            raise InputError(f"nvattest entry {i} is not an object")
        entry: dict[str, Any] = {_CAMEL.get(str(k), str(k)): v for k, v in raw.items()}
        arch = _text_field(entry, "arch", i, required=True)
        assert arch is not None
        nonce_hex = _text_field(entry, "nonce", i, required=True)
        try:
            nonce = bytes.fromhex(nonce_hex or "")
        except ValueError:
            nonce = b""
        if len(nonce) != 32:
            raise InputError(f"nvattest entry {i}: 'nonce' is not 32 bytes of hex")
        report = _b64(_text_field(entry, "evidence", i, required=True) or "", "evidence", i)
        chain = _b64(_text_field(entry, "certificate", i, required=True) or "", "certificate", i)
        if b"-----BEGIN CERTIFICATE-----" not in chain:
            raise InputError(f"nvattest entry {i}: 'certificate' does not hold a PEM certificate chain")
        out.append(
            NvatEntry(
                position=i,
                arch=arch.upper(),
                nonce=nonce,
                report=report,
                certificate_chain=chain,
                version=_text_field(entry, "version", i, required=False),
                vbios_version=_text_field(entry, "vbios_version", i, required=False),
                driver_version=_text_field(entry, "driver_version", i, required=False),
            )
        )
    return out


def entry_findings(entry: NvatEntry) -> list[Finding]:
    """Where the entry's unsigned fields disagree with its signed report (``hardware.nvat.*``)."""
    findings: list[Finding] = []
    try:
        parsed = _parse(entry.report)
    except EvidenceError:
        return findings  # verify_report says why
    where: dict[str, Any] = {"position": entry.position, "arch": entry.arch}
    if parsed.nonce != entry.nonce:
        findings.append(
            Finding(
                rule="hardware.nvat.nonce_mismatch",
                severity=Severity.CONTRAINDICATED,
                message=f"nvattest entry {entry.position} claims nonce {entry.nonce.hex()[:16]}…, "
                f"its signed report was made over {parsed.nonce.hex()[:16]}…",
                evidence={**where, "entry": entry.nonce.hex(), "report": parsed.nonce.hex()},
            )
        )
    vbios_raw = parsed.opaque_value(6)
    driver_raw = parsed.opaque_value(3)
    signed = {
        "vbios_version": _opaque_text(6, vbios_raw) if vbios_raw is not None else None,
        "driver_version": driver_raw.rstrip(b"\0").decode("ascii", "replace")
        if driver_raw is not None
        else None,
    }
    for name, claimed in (("vbios_version", entry.vbios_version), ("driver_version", entry.driver_version)):
        if claimed is not None and signed[name] is not None and claimed.upper() != str(signed[name]).upper():
            findings.append(
                Finding(
                    rule="hardware.nvat.version_mismatch",
                    severity=Severity.CONTRAINDICATED,
                    message=f"nvattest entry {entry.position} says {name} {claimed}, its signed report says {signed[name]}",
                    evidence={**where, "field": name, "entry": claimed, "report": signed[name]},
                )
            )
    if entry.arch not in GPU_ARCHES | SWITCH_ARCHES:
        findings.append(
            Finding(
                rule="hardware.nvat.unknown_arch",
                severity=Severity.INFO,
                message=f"nvattest entry {entry.position} has arch {entry.arch!r}, treated as a GPU",
                evidence=where,
            )
        )
    return findings


def binding_from_nvattest(
    entries: Sequence[NvatEntry],
    gpus: Sequence[Gpu],
    key: VerifyingKey,
    *,
    expected_nonce: bytes | None = None,
    challenge: SignedChallenge | None = None,
    revocation: Callable[[bytes], list[bytes]] | None = None,
    nras_token: bytes | None = None,
) -> NodeBinding:
    """A node binding from a nvattest run made with the key's binding nonce.

    GPU entries are matched to ``gpus`` in order (nvattest enumerates GPUs in the
    driver's order, as NVML does); NVSwitch entries are not GPUs and are left out.
    The nonce is the key's binding nonce naming ``challenge`` (:func:`binding_nonce`); with
    ``revocation`` (an OCSP fetcher for a PEM chain) each chain's status is attached. With
    ``nras_token`` (NRAS's detached EAT for the same run), each GPU's evidence also carries
    the overall token and the device token whose ``ueid`` is its certificate's.

    Raises:
        InputError: an entry was made over another nonce, there are more GPU entries than
            GPUs, or the NRAS token is malformed or does not speak of a GPU.
    """
    nonce = expected_nonce if expected_nonce is not None else binding_nonce(key, challenge)
    gpu_entries = [e for e in entries if not e.is_switch]
    if not gpu_entries:
        raise InputError("the nvattest evidence holds no GPU (only NVSwitches)")
    if len(gpu_entries) > len(gpus):
        raise InputError(f"the nvattest evidence has {len(gpu_entries)} GPUs, this host {len(gpus)}")
    bound = []
    for entry, gpu in zip(gpu_entries, gpus, strict=False):
        report_nonce = entry.report[4:36]
        if len(entry.report) < 37:
            raise InputError(f"nvattest entry {entry.position}'s evidence is too short to be a report")
        if entry.nonce != nonce or report_nonce != nonce:
            raise InputError(
                f"nvattest entry {entry.position} was collected with nonce {report_nonce.hex()[:16]}…, "
                f"not this key's binding nonce {nonce.hex()[:16]}…",
                hint=f"run: nvattest collect-evidence --nonce {nonce.hex()} --format json "
                "(attest bind --print-nonce, with the same --challenge, prints it)",
            )
        nras = _nras_for(nras_token, entry, nonce) if nras_token is not None else None
        ocsp = (
            [base64.b64encode(r).decode("ascii") for r in revocation(entry.certificate_chain)]
            if revocation
            else []
        )
        bound.append(
            BoundGpu(
                uuid=gpu.uuid,
                index=gpu.index,
                pci_bus_id=gpu.pci.bus_id,
                cc_evidence=CcEvidence(
                    nonce=nonce.hex(),
                    report=entry.report.hex(),
                    certificate_chain=entry.certificate_chain.decode("ascii", "replace"),
                    source="nvattest",
                    ocsp=ocsp,
                    challenge=challenge,
                    nras_token=nras,
                ),
            )
        )
    return NodeBinding(node_key_id=key.key_id, created_at=datetime.now(UTC), source="nvattest", gpus=bound)


def _nras_for(token: bytes, entry: NvatEntry, nonce: bytes) -> str:
    """The reduced NRAS token for this entry's device (matched by ueid = leaf certificate serial)."""
    from attest.hardware.cc import parse_chain
    from attest.hardware.nras import TokenError, device_for_ueid, parse_detached_eat, reduced_token

    try:
        overall, _ = parse_detached_eat(token)
        ueid = str(parse_chain(entry.certificate_chain)[0].serial_number)
        device = device_for_ueid(token, ueid)
        if device is None:
            raise InputError(
                f"the NRAS token has no device with ueid {ueid} (nvattest entry {entry.position})"
            )
        if str(overall.claims.get("eat_nonce", "")).lower() != nonce.hex():
            raise InputError("the NRAS token was made for another nonce than this binding's")
        return reduced_token(token, device)
    except (TokenError, EvidenceError) as exc:
        raise InputError(f"NRAS token: {exc.message}") from None


def arch_findings(entry: NvatEntry, hwmodel: str | None) -> list[Finding]:
    """The entry's ``arch`` (unsigned) must name the kind of device its certificate (signed) says.

    An entry labelled ``LS10`` whose certificate is a GPU's would otherwise be reported, and
    left out of bindings, as a switch.
    """
    if hwmodel is None:
        return []
    cert_is_switch = hwmodel.replace("_", "").upper().startswith("LS")
    if cert_is_switch == entry.is_switch:
        return []
    return [
        Finding(
            rule="hardware.nvat.arch_mismatch",
            severity=Severity.CONTRAINDICATED,
            message=f"nvattest entry {entry.position} says arch {entry.arch}, its device certificate is a "
            f"{'switch' if cert_is_switch else 'GPU'}'s ({hwmodel})",
            evidence={"position": entry.position, "arch": entry.arch, "hwmodel": hwmodel},
        )
    ]
