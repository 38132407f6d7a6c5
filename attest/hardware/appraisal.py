"""Appraisal of a verified GPU report's measurements: NVIDIA's RIMs, and NRAS's word on the same report.

A report that verified (:func:`attest.hardware.cc.verify_report`) proves a genuine GPU
made it over the nonce; whether its firmware and configuration are NVIDIA's production
ones is a second question, answered by either

- comparing its measurements with NVIDIA's reference integrity manifests
  (:mod:`attest.hardware.rim`, ``--rims``/``--online``), or
- an NRAS detached EAT carried beside the report (:mod:`attest.hardware.nras`,
  ``--nras-jwks``): NVIDIA's service appraised that very report. It counts only when it
  verifies with the given JWKS, was made over the same nonce, names this device (its
  ``ueid`` is the report's leaf certificate serial) and reports no failure. Its ``exp``
  is not applied: it records NVIDIA's appraisal when the binding was made, and the report
  it speaks of does not change.

With neither, the measurements are not appraised: a warning.
"""

from __future__ import annotations

from datetime import datetime

from cryptography.hazmat.primitives.asymmetric import ec

from attest.hardware.cc import ReportVerification
from attest.hardware.nras import verify_detached_eat
from attest.hardware.rim import RimAppraiser, appraise_report
from attest.model.result import Finding, Severity, Status


def appraise_gpu(
    outcome: ReportVerification,
    nras_token: str | None,
    *,
    rims: RimAppraiser | None,
    nras_keys: dict[str, ec.EllipticCurvePublicKey] | None,
    nonce: bytes,
    now: datetime,
    validity: list[tuple[datetime, datetime]] | None = None,
) -> list[Finding]:
    """The appraisal findings for one verified report (and the NRAS token carried with it, if any).

    ``validity``, when given, receives the validity period of every RIM certificate used.
    """
    findings: list[Finding] = []
    nras_ok = False
    if nras_token is not None:
        if nras_keys is None:
            findings.append(
                Finding(
                    rule="hardware.nras.not_checked",
                    severity=Severity.INFO,
                    message="the GPU evidence carries an NRAS token, but no NRAS JWKS was given (--nras-jwks)",
                )
            )
        else:
            token = verify_detached_eat(
                nras_token.encode("utf-8"),
                nras_keys,
                now=now,
                expected_nonce=nonce,
                all_devices=False,
                check_expiry=False,
            )
            findings.extend(token.findings)
            named = [
                name for name, claims in token.devices.items() if str(claims.get("ueid")) == outcome.ueid
            ]
            if not named and token.devices:
                findings.append(
                    Finding(
                        rule="hardware.nras.other_device",
                        severity=Severity.CONTRAINDICATED,
                        message="the NRAS token speaks of another device (no token's ueid is this report's certificate)",
                        evidence={
                            "ueid": outcome.ueid,
                            "token_ueids": [str(c.get("ueid")) for c in token.devices.values()],
                        },
                    )
                )
            elif token.status is Status.AFFIRMING:
                claims = token.devices[named[0]]
                # The token carries no digest of the evidence NRAS saw: at least its versions must be
                # the ones this report signs (a token for another driver or VBIOS is another report).
                fields = {f.name: f.text for f in outcome.report.opaque} if outcome.report else {}
                mismatched = {
                    field: (str(claims.get(claim)), fields.get(field))
                    for field, claim in (
                        ("driver_version", "x-nvidia-gpu-driver-version"),
                        ("vbios_version", "x-nvidia-gpu-vbios-version"),
                    )
                    if claims.get(claim) is not None
                    and fields.get(field) is not None
                    and str(claims.get(claim)).upper() != str(fields.get(field)).upper()
                }
                if mismatched:
                    findings.append(
                        Finding(
                            rule="hardware.nras.version_mismatch",
                            severity=Severity.CONTRAINDICATED,
                            message="the NRAS token appraised other firmware than this report signs: "
                            + "; ".join(f"{k} token {t}, report {r}" for k, (t, r) in mismatched.items()),
                            evidence={k: {"token": t, "report": r} for k, (t, r) in mismatched.items()},
                        )
                    )
                    return findings
                nras_ok = True
                findings.append(
                    Finding(
                        rule="hardware.nras.appraised",
                        severity=Severity.INFO,
                        message=f"NRAS appraised this report ({named[0]}): measurements match NVIDIA's RIMs, debug "
                        "mode disabled, secure boot on",
                        evidence={
                            "device": named[0],
                            "iat": claims.get("iat"),
                            "iss": str(claims.get("iss")),
                        },
                    )
                )
    if rims is None and nras_ok:
        # NRAS's word cannot show the measurements of *this* report (a token names no evidence digest,
        # and one binding nonce may serve several reports): without RIMs it is not an appraisal of it.
        findings.append(
            Finding(
                rule="hardware.nras.report_unbound",
                severity=Severity.WARNING,
                message="the NRAS token names this device and nonce but not this report's measurements; "
                "a report made later over the same nonce (debug mode, another driver) would carry it too",
                remedy="appraise the report itself against NVIDIA's RIMs (--rims DIR or --online)",
            )
        )
        return findings
    return findings + appraise_report(outcome, rims, now=now, validity=validity)
