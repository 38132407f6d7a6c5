"""EAR out: attest verify --format ear writes an EAT Attestation Result that an independent JOSE library verifies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import ECKey, OKPKey

from attest.ear import AR4SI_TIER, EAR_PROFILE, RESULT_CLAIM, ear_claims, trustworthiness_vector
from attest.model.result import Status
from attest.verify import verify_envelope
from tests.conftest import NOW, CliRunner, make_envelope, trusted_node

ALGS = {"p384": ("ES384", ECKey), "p256": ("ES256", ECKey), "ed25519": ("EdDSA", OKPKey)}


@pytest.mark.parametrize("algorithm", list(ALGS))
def test_cli_ear_verifies_with_joserfc_and_carries_every_claim(workspace: Path, cli: CliRunner, algorithm: str) -> None:
    make_envelope(cli, "a")
    make_envelope(cli, "b", "--after", "a.json")
    cli("keygen", "--out", "verifier", "--algorithm", algorithm, check_code=0)
    out = cli("verify", "a.env.json", "b.env.json", "--trust", "trust.json", "--format", "ear", "--sign-result", "verifier/attest.key", check_code=0)
    token_text = out.stdout.strip()
    assert token_text.count(".") == 2 and "\n" not in token_text

    alg, key_type = ALGS[algorithm]
    public = key_type.import_key((workspace / "verifier" / "attest.pub").read_bytes())
    token = jwt.decode(token_text, public, algorithms=[alg])
    kid = json.loads(cli("verify", "a.env.json", "--trust", "trust.json", "--format", "json", check_code=0).stdout)
    assert token.header == {"alg": alg, "typ": "JWT", "kid": token.header["kid"]} and len(token.header["kid"]) == 64
    claims = token.claims
    assert set(claims) == {"eat_profile", "iat", "ear.verifier-id", "submods"}
    assert claims["eat_profile"] == EAR_PROFILE == "tag:github.com,2023:veraison/ear"
    assert isinstance(claims["iat"], int) and claims["iat"] > 1_700_000_000
    assert claims["ear.verifier-id"]["build"].startswith("compute-attest ") and claims["ear.verifier-id"]["developer"]
    assert list(claims["submods"]) == ["a.env.json", "b.env.json"]
    for name, sub in claims["submods"].items():
        assert set(sub) == {"ear.status", "ear.trustworthiness-vector", "ear.appraisal-policy-id", RESULT_CLAIM}
        assert sub["ear.status"] == "affirming"
        assert sub["ear.appraisal-policy-id"].startswith("us-ear@")
        own = sub[RESULT_CLAIM]
        assert own["source"] == name and own["status"] == sub["ear.status"] and own["key_id"] == kid["key_id"]
        tv = own["trust_vector"]
        assert sub["ear.trustworthiness-vector"] == {
            "instance-identity": AR4SI_TIER[Status(tv["instance_identity"])],
            "hardware": AR4SI_TIER[Status(tv["hardware"])],
            "configuration": AR4SI_TIER[Status(tv["policy"])],
            "sourced-data": AR4SI_TIER[Status.worst([Status(tv["location"]), Status(tv["tenant"])])],
        }
        assert sub["ear.trustworthiness-vector"]["instance-identity"] == 2  # AR4SI: affirming tier

    # Any change to the token fails; so does another verifier's key.
    head, payload, sig = token_text.split(".")
    forged = ".".join([head, payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1], sig])
    with pytest.raises((BadSignatureError, ValueError)):
        jwt.decode(forged, public, algorithms=[alg])
    cli("keygen", "--out", "other", "--algorithm", algorithm, check_code=0)
    with pytest.raises(BadSignatureError):
        jwt.decode(token_text, key_type.import_key((workspace / "other" / "attest.pub").read_bytes()), algorithms=[alg])


def test_cli_ear_of_a_refused_envelope_says_contraindicated(workspace: Path, cli: CliRunner) -> None:
    make_envelope(cli, "a")
    raw = json.loads((workspace / "a.env.json").read_text())
    raw["payload"] = raw["payload"][:-8] + ("A" * 8 if raw["payload"][-8:] != "A" * 8 else "B" * 8)
    (workspace / "bad.env.json").write_text(json.dumps(raw))
    cli("keygen", "--out", "verifier", "--algorithm", "p384", check_code=0)
    out = cli("verify", "bad.env.json", "--trust", "trust.json", "--format", "ear", "--sign-result", "verifier/attest.key", "--policy", "none", check_code=3)
    token = jwt.decode(out.stdout.strip(), ECKey.import_key((workspace / "verifier" / "attest.pub").read_bytes()), algorithms=["ES384"])
    sub = token.claims["submods"]["bad.env.json"]
    assert sub["ear.status"] == "contraindicated" and sub["ear.appraisal-policy-id"] == "none"
    assert sub["ear.trustworthiness-vector"]["instance-identity"] == 96
    assert "ear" in cli("verify", "a.env.json", "--trust", "trust.json", "--format", "ear", check_code=2).stderr


def test_trustworthiness_vector_is_never_more_trusting_than_the_result() -> None:
    node = trusted_node()
    result = verify_envelope(node.envelope(), node.trust, now=NOW)
    vector = trustworthiness_vector(result)
    assert set(vector.values()) <= set(AR4SI_TIER.values())
    claims = ear_claims([result, result], issued_at=NOW, policy_id="p@1", build="b")
    assert len(claims["submods"]) == 2  # type: ignore[arg-type]  # same source twice: both kept
