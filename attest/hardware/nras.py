"""NVIDIA Remote Attestation Service (NRAS) results: detached EATs, verified offline against a JWKS.

NRAS answers an attestation request with a *detached* EAT::

    [["JWT", "<overall JWT>"], {"GPU-0": "<per-device JWT>", "GPU-1": ..., "SWITCH-0": ...}]

Every JWT is ES384-signed by an NRAS key (``kid`` in its header, public key in NVIDIA's
JWKS). The overall JWT's ``submods`` maps each device to ``["DIGEST", ["SHA-256", hex]]``,
the SHA-256 of that device's JWT as sent, so the per-device tokens cannot be swapped.

:func:`verify_detached_eat`, all offline, fails closed:

1. parse the structure (strict JSON, size-limited), each JWT (three base64url parts,
   ``alg`` ES384 only: never ``none`` or an HMAC);
2. verify every signature with the JWKS key its ``kid`` names (a JWK's ``x``/``y``, or
   its ``x5c`` leaf); an unknown ``kid`` or a bad signature is contraindicated;
3. the ``submods`` digests must match the per-device JWTs, one to one;
4. ``eat_nonce`` of every token must be the caller's nonce (the binding nonce);
5. ``exp``/``nbf`` against the verification time;
6. map the appraisal claims to findings: ``x-nvidia-overall-att-result``, ``measres``
   (a mismatch is ``hardware.measurement_mismatch``), ``dbgstat`` (debug mode: the same),
   ``secboot``, every ``x-nvidia-*`` check NRAS reports as false, certificate-chain
   statuses (revoked: contraindicated; otherwise a warning), and NRAS's own warnings.

What such evidence proves is NVIDIA's *word* about the report, checked with NVIDIA's
key: the verifier did not see the report itself (README: grades).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from pydantic import JsonValue

from attest.crypto.canonical import strict_loads
from attest.errors import AttestError, InputError
from attest.model.result import Finding, Severity, Status

MAX_TOKEN_BYTES = 1024 * 1024
CONTRA = Severity.CONTRAINDICATED
_CERT_CHAIN_SUFFIX = "-cert-chain"
_RIM_FETCHED = (
    "x-nvidia-gpu-driver-rim-fetched",
    "x-nvidia-gpu-vbios-rim-fetched",
    "x-nvidia-switch-bios-rim-fetched",
)


class TokenError(AttestError):
    """A JWT or detached EAT is malformed."""


@dataclass(frozen=True)
class Jwt:
    """One compact JWS, split and decoded (its signature not yet checked)."""

    text: str
    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes


def _b64url(part: str, what: str) -> bytes:
    if "=" in part or not all(c.isalnum() or c in "-_" for c in part):
        raise TokenError(f"{what} is not unpadded base64url")
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise TokenError(f"{what} is not base64url") from None


def parse_jwt(text: str, what: str = "token") -> Jwt:
    """Split and decode a compact JWS; only ES384 is accepted."""
    if not isinstance(text, str) or text.count(".") != 2:
        raise TokenError(f"{what} is not a compact JWT (three dot-separated parts)")
    head, body, sig = text.split(".")
    try:
        header = strict_loads(_b64url(head, f"{what}'s header"), what=f"{what}'s header")
        claims = strict_loads(
            _b64url(body, f"{what}'s payload"), what=f"{what}'s payload", max_bytes=MAX_TOKEN_BYTES
        )
    except InputError as exc:
        raise TokenError(exc.message) from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise TokenError(f"{what}'s header or payload is not a JSON object")
    if header.get("alg") != "ES384":
        raise TokenError(f"{what} is signed with {header.get('alg')!r}; NRAS tokens are ES384")
    if "crit" in header:
        raise TokenError(f"{what} has critical header parameters this verifier does not understand")
    signature = _b64url(sig, f"{what}'s signature")
    return Jwt(text, header, claims, f"{head}.{body}".encode("ascii"), signature)


def parse_detached_eat(data: bytes) -> tuple[Jwt, dict[str, Jwt]]:
    """The overall JWT and the per-device JWTs of an NRAS detached EAT.

    Raises:
        TokenError: the structure is not ``[["JWT", overall], {name: jwt, ...}]``.
    """
    try:
        doc = strict_loads(data, what="NRAS token", max_bytes=MAX_TOKEN_BYTES)
    except InputError as exc:
        raise TokenError(exc.message) from None
    if (
        not isinstance(doc, list)
        or len(doc) != 2
        or not isinstance(doc[0], list)
        or len(doc[0]) != 2
        or doc[0][0] != "JWT"
        or not isinstance(doc[1], dict)
    ):
        raise TokenError('not an NRAS detached EAT: expected [["JWT", overall], {"GPU-0": jwt, ...}]')
    overall = parse_jwt(doc[0][1], "the overall token")
    devices = {str(name): parse_jwt(tok, f"{name}'s token") for name, tok in doc[1].items()}
    if not devices:
        raise TokenError("the NRAS token names no device")
    return overall, devices


def load_jwks(data: bytes) -> dict[str, ec.EllipticCurvePublicKey]:
    """The P-384 keys of a JWKS (``{"keys": [...]}``, or one JWK), by ``kid``.

    A JWK gives its key as ``x``/``y`` or as an ``x5c`` certificate (leaf first); when it
    gives both they must agree.

    Raises:
        InputError: the JWKS is malformed or holds no usable key.
    """
    doc = strict_loads(data, what="JWKS", max_bytes=MAX_TOKEN_BYTES)
    jwks = doc.get("keys", [doc]) if isinstance(doc, dict) else None
    if not isinstance(jwks, list):
        raise InputError("the JWKS is not a JSON object with a 'keys' array")
    keys: dict[str, ec.EllipticCurvePublicKey] = {}
    for i, jwk in enumerate(jwks):
        if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str):
            raise InputError(f"JWK {i} is not an object with a 'kid'")
        key = _jwk_key(jwk, i)
        if key is not None:
            keys[jwk["kid"]] = key
    if not keys:
        raise InputError("the JWKS holds no P-384 key")
    return keys


def _jwk_key(jwk: dict[str, Any], i: int) -> ec.EllipticCurvePublicKey | None:
    from_xy = from_cert = None
    if jwk.get("kty") == "EC" and jwk.get("crv") == "P-384" and "x" in jwk and "y" in jwk:
        try:
            x = int.from_bytes(_b64url(str(jwk["x"]), f"JWK {i}'s x"), "big")
            y = int.from_bytes(_b64url(str(jwk["y"]), f"JWK {i}'s y"), "big")
            from_xy = ec.EllipticCurvePublicNumbers(x, y, ec.SECP384R1()).public_key()
        except (TokenError, ValueError):
            raise InputError(f"JWK {i} does not hold a P-384 point") from None
    if isinstance(jwk.get("x5c"), list) and jwk["x5c"]:
        try:
            cert = x509.load_der_x509_certificate(base64.b64decode(str(jwk["x5c"][0]), validate=True))
            key = cert.public_key()
        except ValueError:
            raise InputError(f"JWK {i}'s x5c certificate does not parse") from None
        if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP384R1):
            from_cert = key
    if (
        from_xy is not None
        and from_cert is not None
        and from_xy.public_numbers() != from_cert.public_numbers()
    ):
        raise InputError(f"JWK {i}'s x/y and its x5c certificate are different keys")
    return from_xy or from_cert


@dataclass
class TokenVerification:
    """The outcome of verifying one detached EAT."""

    findings: list[Finding] = field(default_factory=list)
    overall: dict[str, Any] | None = None
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def status(self) -> Status:
        """The worst finding's status."""
        return Status.worst(f.severity.status for f in self.findings)

    def add(
        self, rule: str, severity: Severity, message: str, evidence: dict[str, JsonValue] | None = None
    ) -> None:
        """Record a finding."""
        self.findings.append(Finding(rule=rule, severity=severity, message=message, evidence=evidence or {}))


def _signature_ok(token: Jwt, keys: dict[str, ec.EllipticCurvePublicKey]) -> bool | None:
    """True/False for a known key; None when the ``kid`` is not in the JWKS."""
    key = keys.get(str(token.header.get("kid")))
    if key is None:
        return None
    if len(token.signature) != 96:
        return False
    r, s = int.from_bytes(token.signature[:48], "big"), int.from_bytes(token.signature[48:], "big")
    try:
        key.verify(encode_dss_signature(r, s), token.signing_input, ec.ECDSA(hashes.SHA384()))
    except InvalidSignature:
        return False
    return True


def verify_detached_eat(
    data: bytes,
    keys: dict[str, ec.EllipticCurvePublicKey],
    *,
    now: datetime,
    expected_nonce: bytes | None,
    skew: timedelta = timedelta(seconds=60),
    all_devices: bool = True,
    check_expiry: bool = True,
) -> TokenVerification:
    """Verify an NRAS detached EAT offline (never raises on bad input; findings ``hardware.nras.*``).

    Args:
        data: the detached EAT as NRAS returned it.
        keys: NRAS's public keys by ``kid`` (:func:`load_jwks`).
        now: the verification time (expiry).
        expected_nonce: the nonce the attestation was requested with; None is a warning.
        skew: allowed clock skew for ``exp`` and ``nbf``.
        all_devices: every device the overall token names must have its token here; False
            accepts a subset (a manifest carries, per GPU, the overall token and that GPU's).
        check_expiry: False judges a token carried inside a manifest, where it records NRAS's
            appraisal of the same report the binding holds, made when the binding was.
    """
    out = TokenVerification()
    # 1. Structure.
    try:
        overall, devices = parse_detached_eat(data)
    except TokenError as exc:
        out.add("hardware.nras.malformed", CONTRA, exc.message)
        return out
    out.overall = overall.claims
    out.devices = {name: tok.claims for name, tok in devices.items()}

    # 2. Signatures.
    for name, token in [("overall", overall), *devices.items()]:
        ok = _signature_ok(token, keys)
        if ok is None:
            out.add(
                "hardware.nras.unknown_key",
                CONTRA,
                f"the {name} token is signed by key {token.header.get('kid')!r}, which the JWKS does not hold",
                {"token": name, "kid": str(token.header.get("kid"))},
            )
        elif not ok:
            out.add(
                "hardware.nras.signature_invalid",
                CONTRA,
                f"the {name} token's signature does not verify",
                {"token": name, "kid": str(token.header.get("kid"))},
            )

    # 3. submods digests, one to one.
    submods = overall.claims.get("submods")
    if not isinstance(submods, dict):
        out.add("hardware.nras.submods_mismatch", CONTRA, "the overall token has no submods")
        submods = {}
    for name in sorted(set(submods) | set(devices)):
        entry = submods.get(name)
        device = devices.get(name)
        if device is None and not all_devices and entry is not None:
            continue
        if device is None or entry is None:
            out.add(
                "hardware.nras.submods_mismatch",
                CONTRA,
                f"{name} is {'in the overall token but has no token' if device is None else 'not in the overall token'}",
                {"device": name},
            )
            continue
        digest = hashlib.sha256(device.text.encode("ascii")).hexdigest()
        if entry != ["DIGEST", ["SHA-256", digest]]:
            out.add(
                "hardware.nras.submods_mismatch",
                CONTRA,
                f"{name}'s token is not the one the overall token's submods digest names",
                {"device": name, "expected": json_safe(entry), "actual": digest},
            )

    # 4-5. Nonce and validity of every token.
    for name, token in [("overall", overall), *devices.items()]:
        claims = token.claims
        nonce = claims.get("eat_nonce")
        if expected_nonce is None:
            pass
        elif not isinstance(nonce, str) or nonce.lower() != expected_nonce.hex():
            out.add(
                "hardware.nras.nonce_mismatch",
                CONTRA,
                f"the {name} token was issued for another nonce (a replay, or another node's binding)",
                {"token": name, "expected": expected_nonce.hex(), "token_nonce": json_safe(nonce)},
            )
        exp, nbf = claims.get("exp"), claims.get("nbf", claims.get("iat"))
        if not check_expiry:
            continue
        if not isinstance(exp, int) or isinstance(exp, bool) or abs(exp) > 2**53:
            out.add("hardware.nras.expired", CONTRA, f"the {name} token has no usable expiry", {"token": name})
        elif now.timestamp() > exp + skew.total_seconds():
            out.add(
                "hardware.nras.expired",
                CONTRA,
                f"the {name} token expired at {_when(exp)}",
                {"token": name, "exp": exp},
            )
        if (
            isinstance(nbf, int)
            and not isinstance(nbf, bool)
            and abs(nbf) <= 2**53
            and now.timestamp() + skew.total_seconds() < nbf
        ):
            out.add(
                "hardware.nras.not_yet_valid", CONTRA, f"the {name} token is not valid yet", {"token": name}
            )
    if expected_nonce is None:
        out.add(
            "hardware.nras.nonce_not_checked",
            Severity.WARNING,
            "no expected nonce was given; the token could be a replay",
        )

    # 6. Appraisal claims.
    if overall.claims.get("x-nvidia-overall-att-result") is not True:
        out.add(
            "hardware.nras.overall_result",
            CONTRA,
            "NRAS's overall attestation result is not true",
            {"x-nvidia-overall-att-result": json_safe(overall.claims.get("x-nvidia-overall-att-result"))},
        )
    for name, token in devices.items():
        _device_findings(out, name, token.claims)
    return out


def json_safe(value: Any) -> JsonValue:
    """A claim value as JSON (anything else as its text)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    return str(value)


def _device_findings(out: TokenVerification, name: str, claims: dict[str, Any]) -> None:
    where: dict[str, JsonValue] = {
        "device": name,
        "ueid": json_safe(claims.get("ueid")),
        "hwmodel": json_safe(claims.get("hwmodel")),
    }
    if claims.get("measres") != "success":
        out.add(
            "hardware.measurement_mismatch",
            CONTRA,
            f"{name}: NRAS found its measurements do not match NVIDIA's RIMs (measres {claims.get('measres')!r})",
            {**where, "measres": json_safe(claims.get("measres"))},
        )
    if claims.get("dbgstat") != "disabled":
        out.add(
            "hardware.measurement_mismatch",
            CONTRA,
            f"{name} is in debug mode (dbgstat {claims.get('dbgstat')!r})",
            {**where, "dbgstat": json_safe(claims.get("dbgstat"))},
        )
    if claims.get("secboot") is not True:
        out.add("hardware.nras.secure_boot", CONTRA, f"{name}: secure boot is not reported on", where)
    for claim, value in sorted(claims.items()):
        if not claim.startswith("x-nvidia-"):
            continue
        if value is False:
            if claim in _RIM_FETCHED:
                out.add(
                    "hardware.rim.missing",
                    Severity.WARNING,
                    f"{name}: NRAS could not fetch a RIM ({claim})",
                    {**where, "claim": claim},
                )
            else:
                out.add(
                    "hardware.nras.check_failed",
                    CONTRA,
                    f"{name}: NRAS reports {claim} false",
                    {**where, "claim": claim},
                )
        elif claim.endswith(_CERT_CHAIN_SUFFIX) and isinstance(value, dict):
            status, ocsp = value.get("x-nvidia-cert-status"), value.get("x-nvidia-cert-ocsp-status")
            if ocsp == "revoked" or status == "revoked":
                out.add(
                    "hardware.cc.revoked",
                    CONTRA,
                    f"{name}: {claim} is revoked",
                    {**where, "claim": claim, "status": json_safe(value)},
                )
            elif status != "valid" or ocsp != "good":
                out.add(
                    "hardware.nras.certificate_status",
                    Severity.WARNING,
                    f"{name}: {claim} is {status}, OCSP {ocsp}",
                    {**where, "claim": claim, "status": json_safe(value)},
                )
    warning = claims.get("x-nvidia-attestation-warning")
    if warning:
        out.add(
            "hardware.nras.warning",
            Severity.WARNING,
            f"{name}: NRAS warns: {warning}",
            {**where, "warning": json_safe(warning)},
        )


def reduced_token(data: bytes, device: str) -> str:
    """The detached EAT with only ``device``'s token beside the overall one (what a manifest carries per GPU).

    Raises:
        TokenError: the token is malformed or names no such device.
    """
    overall, devices = parse_detached_eat(data)
    if device not in devices:
        raise TokenError(f"the NRAS token has no {device}")
    import json

    return json.dumps([["JWT", overall.text], {device: devices[device].text}], separators=(",", ":"))


def device_for_ueid(data: bytes, ueid: str) -> str | None:
    """The name of the device whose token's ``ueid`` is ``ueid`` (its certificate serial), or None."""
    _, devices = parse_detached_eat(data)
    return next((name for name, tok in devices.items() if str(tok.claims.get("ueid")) == ueid), None)


def _when(ts: int) -> str:
    """A token time for a message (a time no calendar holds is said as the number it is)."""
    try:
        return f"{datetime.fromtimestamp(ts, UTC):%Y-%m-%d %H:%M:%S}Z"
    except (OverflowError, OSError, ValueError):
        return f"{ts} (not a representable time)"
