"""NRAS detached EATs: NVIDIA's real samples check for structure and digests; tokens signed here (with an
independent JOSE library and a generated P-384 key, as NVIDIA's own tests do) check signatures and claims."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from joserfc import jwt
from joserfc.jwk import ECKey

from attest.errors import InputError
from attest.hardware.nras import load_jwks, verify_detached_eat
from attest.model.result import Severity, Status
from tests.conftest import CliRunner, make_envelope
from tests.hardware.nvattest_sim import simulated_nvattest

NRAS = Path(__file__).resolve().parents[3] / "shared" / "vectors" / "nvidia-nvat" / "attestation-sdk" / "nras"
pytestmark = pytest.mark.skipif(not NRAS.is_dir(), reason="NVIDIA sample vectors (../shared/vectors) not present")
NONCE = bytes.fromhex("931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb")
ISSUED = 1749601858
AT = datetime.fromtimestamp(ISSUED + 600, UTC)


def rules(result: Any) -> set[str]:
    return {f.rule for f in result.findings if f.severity is not Severity.INFO}


def other_jwks() -> dict[str, ec.EllipticCurvePublicKey]:
    return load_jwks(json.dumps({"keys": [ECKey.generate_key("P-384", parameters={"kid": "x"}).as_dict(private=False)]}).encode())


# --- NVIDIA's real tokens: structure and digests (NRAS's key for them is not public) ----------


@pytest.mark.parametrize(("name", "at"), [("hopperClaimsv3_detached_eat.json", AT), ("switch_detached_eat.json", datetime(2025, 6, 29, tzinfo=UTC))])
def test_real_nras_tokens_hold_together_but_need_nras_key(name: str, at: datetime) -> None:
    result = verify_detached_eat((NRAS / name).read_bytes(), other_jwks(), now=at, expected_nonce=NONCE)
    assert rules(result) == {"hardware.nras.unknown_key"}  # structure, digests, nonce, expiry and claims all hold
    decoded = json.loads((NRAS / name.replace("_detached_eat", "_decoded")).read_text())
    assert result.devices == decoded


def _real() -> list[Any]:
    return json.loads((NRAS / "hopperClaimsv3_detached_eat.json").read_text())


def _resign_payload(token: str, change: dict[str, Any]) -> str:
    head, body, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims.update(change)
    return ".".join([head, base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode(), sig])


REAL_TAMPERINGS = {
    "device token's claims changed": (lambda d: d[1].update({"GPU-0": _resign_payload(d[1]["GPU-0"], {"measres": "success", "dbgstat": "disabled"})}), "hardware.nras.submods_mismatch"),
    "device token dropped": (lambda d: d[1].update({"GPU-1": d[1].pop("GPU-0")}), "hardware.nras.submods_mismatch"),
    "extra device token": (lambda d: d[1].update({"GPU-1": d[1]["GPU-0"]}), "hardware.nras.submods_mismatch"),
    "overall token's submods changed": (lambda d: d[0].__setitem__(1, _resign_payload(d[0][1], {"submods": {}})), "hardware.nras.submods_mismatch"),
    "alg none": (lambda d: d[0].__setitem__(1, base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode() + "." + d[0][1].split(".")[1] + "."), "hardware.nras.malformed"),
    "not detached": (lambda d: d.pop(), "hardware.nras.malformed"),
}


@pytest.mark.parametrize("how", list(REAL_TAMPERINGS))
def test_tampering_with_a_real_token_fails(how: str) -> None:
    doc = _real()
    change, rule = REAL_TAMPERINGS[how]
    change(doc)
    result = verify_detached_eat(json.dumps(doc).encode(), other_jwks(), now=AT, expected_nonce=NONCE)
    assert rule in rules(result) and result.status is Status.CONTRAINDICATED


def test_a_real_token_for_another_nonce_or_too_late_fails() -> None:
    data = (NRAS / "hopperClaimsv3_detached_eat.json").read_bytes()
    assert "hardware.nras.nonce_mismatch" in rules(verify_detached_eat(data, other_jwks(), now=AT, expected_nonce=bytes(32)))
    late = verify_detached_eat(data, other_jwks(), now=datetime(2026, 12, 5, tzinfo=UTC), expected_nonce=NONCE)
    assert "hardware.nras.expired" in rules(late)


# --- Tokens signed here -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nras_key() -> tuple[ec.EllipticCurvePrivateKey, ECKey]:
    private = ec.generate_private_key(ec.SECP384R1())
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return private, ECKey.import_key(pem, parameters={"kid": "nv-eat-kid-test"})


def device_claims() -> dict[str, Any]:
    return copy.deepcopy(json.loads((NRAS / "hopperClaimsv3_decoded.json").read_text())["GPU-0"])


def make_token(key: ECKey, devices: dict[str, dict[str, Any]], overall: dict[str, Any] | None = None) -> bytes:
    header = {"alg": "ES384", "kid": key.kid}
    tokens = {name: jwt.encode(header, claims, key, algorithms=["ES384"]) for name, claims in devices.items()}
    body = {
        "sub": "NVIDIA-PLATFORM-ATTESTATION",
        "x-nvidia-ver": "3.0",
        "iss": "https://nras.attestation.nvidia.com",
        "x-nvidia-overall-att-result": True,
        "submods": {n: ["DIGEST", ["SHA-256", hashlib.sha256(t.encode()).hexdigest()]] for n, t in tokens.items()},
        "eat_nonce": NONCE.hex(),
        "iat": ISSUED,
        "nbf": ISSUED,
        "exp": ISSUED + 3600,
        **(overall or {}),
    }
    return json.dumps([["JWT", jwt.encode(header, body, key, algorithms=["ES384"])], tokens]).encode()


def jwks_of(key: ECKey) -> dict[str, ec.EllipticCurvePublicKey]:
    return load_jwks(json.dumps({"keys": [key.as_dict(private=False)]}).encode())


def test_a_good_token_signed_with_the_jwks_key_is_affirming(nras_key: tuple[ec.EllipticCurvePrivateKey, ECKey]) -> None:
    _, key = nras_key
    result = verify_detached_eat(make_token(key, {"GPU-0": device_claims()}), jwks_of(key), now=AT, expected_nonce=NONCE)
    assert result.status is Status.AFFIRMING, result.findings


CLAIM_CHANGES = {
    "measurements mismatch": ({"measres": "fail"}, "hardware.measurement_mismatch"),
    "debug mode": ({"dbgstat": "enabled"}, "hardware.measurement_mismatch"),
    "secure boot off": ({"secboot": False}, "hardware.nras.secure_boot"),
    "report signature not verified": ({"x-nvidia-gpu-attestation-report-signature-verified": False}, "hardware.nras.check_failed"),
    "report chain revoked": (
        {"x-nvidia-gpu-attestation-report-cert-chain": {"x-nvidia-cert-status": "revoked", "x-nvidia-cert-ocsp-status": "revoked"}},
        "hardware.cc.revoked",
    ),
    "device token for another nonce": ({"eat_nonce": "00" * 32}, "hardware.nras.nonce_mismatch"),
    "device token expired": ({"exp": ISSUED + 60}, "hardware.nras.expired"),
    "device token with an expiry no calendar holds": ({"exp": -(10**30)}, "hardware.nras.expired"),
    "device token with an expiry past any float": ({"exp": 10**400}, "hardware.nras.expired"),
}


@pytest.mark.parametrize("how", list(CLAIM_CHANGES))
def test_each_bad_appraisal_claim_is_contraindicated(how: str, nras_key: tuple[ec.EllipticCurvePrivateKey, ECKey]) -> None:
    _, key = nras_key
    change, rule = CLAIM_CHANGES[how]
    claims = device_claims() | change
    result = verify_detached_eat(make_token(key, {"GPU-0": claims}), jwks_of(key), now=AT, expected_nonce=NONCE)
    assert rule in rules(result) and result.status is Status.CONTRAINDICATED, result.findings


def test_warnings_missing_rim_and_overall_false(nras_key: tuple[ec.EllipticCurvePrivateKey, ECKey]) -> None:
    _, key = nras_key
    claims = device_claims() | {"x-nvidia-gpu-driver-rim-fetched": False, "x-nvidia-attestation-warning": "RIM service slow"}
    result = verify_detached_eat(make_token(key, {"GPU-0": claims}), jwks_of(key), now=AT, expected_nonce=NONCE)
    assert rules(result) == {"hardware.rim.missing", "hardware.nras.warning"} and result.status is Status.WARNING
    bad = make_token(key, {"GPU-0": device_claims()}, {"x-nvidia-overall-att-result": False})
    assert "hardware.nras.overall_result" in rules(verify_detached_eat(bad, jwks_of(key), now=AT, expected_nonce=NONCE))


def test_a_token_signed_by_another_key_under_the_same_kid_fails(nras_key: tuple[ec.EllipticCurvePrivateKey, ECKey]) -> None:
    _, key = nras_key
    impostor = ECKey.generate_key("P-384", parameters={"kid": key.kid})
    result = verify_detached_eat(make_token(impostor, {"GPU-0": device_claims()}), jwks_of(key), now=AT, expected_nonce=NONCE)
    assert rules(result) == {"hardware.nras.signature_invalid"}


def _cert_for(private: ec.EllipticCurvePrivateKey) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "NRAS test signer")])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(private.public_key())
        .serial_number(1).not_valid_before(AT - timedelta(days=1)).not_valid_after(AT + timedelta(days=1))
        .sign(private, hashes.SHA384())
    )
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def test_jwks_keys_as_x5c(nras_key: tuple[ec.EllipticCurvePrivateKey, ECKey]) -> None:
    private, key = nras_key
    only_x5c = {"kid": key.kid, "x5c": [_cert_for(private)]}
    keys = load_jwks(json.dumps({"keys": [only_x5c]}).encode())
    assert verify_detached_eat(make_token(key, {"GPU-0": device_claims()}), keys, now=AT, expected_nonce=NONCE).status is Status.AFFIRMING
    disagreeing = key.as_dict(private=False) | {"x5c": [_cert_for(ec.generate_private_key(ec.SECP384R1()))]}
    with pytest.raises(InputError, match="different keys"):
        load_jwks(json.dumps({"keys": [disagreeing]}).encode())


def test_cli_verify_token(cli: CliRunner, tmp_path: Path, nras_key: tuple[ec.EllipticCurvePrivateKey, ECKey]) -> None:
    _, key = nras_key
    (tmp_path / "token.json").write_bytes(make_token(key, {"GPU-0": device_claims(), "GPU-1": device_claims() | {"dbgstat": "enabled"}}))
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    when = AT.strftime("%Y-%m-%dT%H:%M:%SZ")
    out = cli("gpu", "verify-token", "token.json", "--jwks", "jwks.json", "--nonce", NONCE.hex(), "--now", when, "--format", "json", check_code=3)
    doc = json.loads(out.stdout)
    assert doc["devices"] == ["GPU-0", "GPU-1"] and doc["status"] == "contraindicated"
    assert [f["evidence"]["device"] for f in doc["findings"] if f["rule"] == "hardware.measurement_mismatch"] == ["GPU-1"]
    (tmp_path / "good.json").write_bytes(make_token(key, {"GPU-0": device_claims()}))
    cli("gpu", "verify-token", "good.json", "--jwks", "jwks.json", "--nonce", NONCE.hex(), "--now", when, check_code=0)
    assert "nonce_not_checked" in cli("gpu", "verify-token", "good.json", "--jwks", "jwks.json", "--now", when, check_code=1).stdout
    assert "hardware.nras.expired" in cli("gpu", "verify-token", "good.json", "--jwks", "jwks.json", "--nonce", NONCE.hex(), check_code=3).stdout
    (tmp_path / "junk.json").write_text("{")
    for args in (["junk.json", "--jwks", "jwks.json"], ["good.json", "--jwks", "junk.json"], ["good.json", "--jwks", "jwks.json", "--nonce", "zz"]):
        err = cli("gpu", "verify-token", *args, check_code=2 if args[0] == "good.json" else 3)
        assert "Traceback" not in err.stderr


# --- An NRAS token carried in the manifest, beside the report it appraised ------------------------


def _nras_for_run(workspace: Path, run: dict[str, Any], key: ECKey, change: dict[int, dict[str, Any]] | None = None) -> None:
    """NRAS's detached EAT for a simulated nvattest run (nras.json), and its JWKS (jwks.json)."""
    from attest.hardware.cc import parse_chain

    devices = {}
    for i, chain in enumerate(run["chains"]):
        ueid = str(parse_chain(chain)[0].serial_number)
        claims = device_claims() | {
            "eat_nonce": run["nonce"],
            "ueid": ueid,
            "hwmodel": "GH100 A01 GSP BROM",
            # the versions the simulated reports sign (opaque fields 3 and 6)
            "x-nvidia-gpu-driver-version": "570.133.20",
            "x-nvidia-gpu-vbios-version": "96.00.74.00.01",
        }
        devices[f"GPU-{i}"] = claims | (change or {}).get(i, {})
    (workspace / "nras.json").write_bytes(make_token(key, devices, {"eat_nonce": run["nonce"]}))
    (workspace / "jwks.json").write_text(json.dumps({"keys": [key.as_dict(private=False)]}))


def _other_firmware(token: bytes, key: ECKey) -> bytes:
    """The same token re-made with another driver version (NRAS appraised another report)."""
    overall, per_device = json.loads(token)
    devices = {}
    for name, device_jwt in per_device.items():
        claims = json.loads(base64.urlsafe_b64decode(device_jwt.split(".")[1] + "=="))
        devices[name] = claims | {"x-nvidia-gpu-driver-version": "550.90.07"}
    nonce = json.loads(base64.urlsafe_b64decode(overall[1].split(".")[1] + "=="))["eat_nonce"]
    return make_token(key, devices, {"eat_nonce": nonce})


def _verify_json(cli: CliRunner, workspace: Path, *extra: str, code: int) -> dict[str, Any]:
    pin = x509.load_pem_x509_certificate((workspace / "vendor" / "root.pem").read_bytes()).fingerprint(hashes.SHA256()).hex()
    out = cli("verify", "m.env.json", "--trust", "trust.json", "--cc-root", "vendor/root.pem", "--cc-root-sha256", pin, *extra, "--format", "json", check_code=code)
    return dict(json.loads(out.stdout))


def test_an_nras_token_in_the_manifest_stands_in_for_the_rims(workspace: Path, cli: CliRunner, nras_key: tuple[ec.EllipticCurvePrivateKey, ECKey]) -> None:
    _, key = nras_key
    with simulated_nvattest(workspace, cli) as run:
        _nras_for_run(workspace, run, key)
        cli(*run["bind"], "--nras-token", "nras.json", "-o", "binding.json", check_code=0)
    gpus = json.loads((workspace / "binding.json").read_text())["gpus"]
    token = json.loads((workspace / "nras.json").read_text())
    assert all(json.loads(g["cc_evidence"]["nras_token"]) == [token[0], {f"GPU-{i}": token[1][f"GPU-{i}"]}] for i, g in enumerate(gpus))
    make_envelope(cli, "m", "--binding", "binding.json")
    # NRAS's JWKS given: NVIDIA's word counts for this device, nonce and firmware, but a token names no
    # evidence digest, so it cannot vouch for *this* report's measurements: a warning, never affirming.
    result = _verify_json(cli, workspace, "--nras-jwks", "jwks.json", code=1)
    assert result["location_grade"] == "hardware-bound"
    assert {f["rule"] for f in result["findings"] if f["severity"] == "warning"} == {"hardware.nras.report_unbound"}
    # Without the JWKS the token proves nothing: the measurements are not appraised.
    result = _verify_json(cli, workspace, code=1)
    assert {f["rule"] for f in result["findings"] if f["severity"] == "warning"} == {"hardware.rim.not_checked"}
    # Another key under NRAS's kid: refused.
    (workspace / "jwks2.json").write_text(json.dumps({"keys": [ECKey.generate_key("P-384", parameters={"kid": key.kid}).as_dict(private=False)]}))
    result = _verify_json(cli, workspace, "--nras-jwks", "jwks2.json", code=3)
    assert "hardware.nras.signature_invalid" in {f["rule"] for f in result["findings"]} and result["location_grade"] == "declared"


def test_nras_saying_debug_mode_refuses_the_gpu(workspace: Path, cli: CliRunner, nras_key: tuple[ec.EllipticCurvePrivateKey, ECKey]) -> None:
    _, key = nras_key
    with simulated_nvattest(workspace, cli) as run:
        _nras_for_run(workspace, run, key, change={3: {"dbgstat": "enabled"}})
        cli(*run["bind"], "--nras-token", "nras.json", "-o", "binding.json", check_code=0)
    make_envelope(cli, "m", "--binding", "binding.json")
    result = _verify_json(cli, workspace, "--nras-jwks", "jwks.json", code=3)
    bad = [f for f in result["findings"] if f["rule"] == "hardware.measurement_mismatch"]
    assert [f["evidence"]["device"] for f in bad] == ["GPU-3"] and result["location_grade"] == "declared"


def test_an_nras_token_for_another_gpu_or_nonce_is_refused(workspace: Path, cli: CliRunner, nras_key: tuple[ec.EllipticCurvePrivateKey, ECKey]) -> None:
    from attest.hardware.appraisal import appraise_gpu
    from attest.hardware.cc import verify_report
    from attest.hardware.nras import reduced_token

    _, key = nras_key
    with simulated_nvattest(workspace, cli) as run:
        _nras_for_run(workspace, run, key)
        vendor, nonce, entry = run["vendor"], bytes.fromhex(run["nonce"]), run["entries"][0]
        outcome = verify_report(
            base64.b64decode(entry["evidence"]), base64.b64decode(entry["certificate"]), vendor.root_pem,
            now=AT, pinned_root_sha256=vendor.root_sha256, expected_nonce=nonce,
        )  # fmt: skip
        token, keys = (workspace / "nras.json").read_bytes(), jwks_of(key)
        mine = appraise_gpu(outcome, reduced_token(token, "GPU-0"), rims=None, nras_keys=keys, nonce=nonce, now=NOW_LATER)
        # NRAS's exp is not applied inside a binding; without RIMs the token is not bound to this report
        assert {f.rule for f in mine if f.severity is not Severity.INFO} == {"hardware.nras.report_unbound"}
        older = appraise_gpu(
            outcome, reduced_token(_other_firmware(token, key), "GPU-0"), rims=None, nras_keys=keys, nonce=nonce, now=AT
        )
        assert "hardware.nras.version_mismatch" in {f.rule for f in older if f.severity is Severity.CONTRAINDICATED}
        other = appraise_gpu(outcome, reduced_token(token, "GPU-1"), rims=None, nras_keys=keys, nonce=nonce, now=AT)
        assert "hardware.nras.other_device" in {f.rule for f in other}
        replay = appraise_gpu(outcome, reduced_token(token, "GPU-0"), rims=None, nras_keys=keys, nonce=bytes(32), now=AT)
        assert "hardware.nras.nonce_mismatch" in {f.rule for f in replay}
        # bind refuses a token made for another nonce, or for other GPUs.
        (workspace / "old.json").write_bytes((NRAS / "hopperClaimsv3_detached_eat.json").read_bytes())
        err = cli(*run["bind"], "--nras-token", "old.json", check_code=2).stderr
        assert "no device with ueid" in err


NOW_LATER = datetime(2030, 1, 1, tzinfo=UTC)
