"""A verifier-signed result: a relying party (scheduler, collector) trusts one key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from attest.crypto.keys import SigningKey
from attest.errors import EnvelopeError
from attest.model.result import Status
from attest.verify import open_signed_result, sign_result, verify_envelope
from tests.conftest import NOW, CliRunner, make_envelope, trusted_node


def test_round_trip_and_tamper() -> None:
    node = trusted_node()
    result = verify_envelope(node.envelope(), node.trust, now=NOW)
    verifier = SigningKey.generate()
    signed = sign_result(result, verifier)
    assert open_signed_result(signed, verifier.public) == result
    with pytest.raises(EnvelopeError, match="not signed by the verifier's key"):
        open_signed_result(signed, SigningKey.generate().public)
    # Flip the status inside the signed payload: the signature no longer holds.
    env = json.loads(signed)
    import base64

    payload = base64.b64decode(env["payload"]).replace(b'"affirming"', b'"warning__"', 1)
    env["payload"] = base64.b64encode(payload).decode()
    forged = json.dumps(env, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    with pytest.raises(EnvelopeError):
        open_signed_result(forged, verifier.public)
    # A manifest envelope is not a result.
    with pytest.raises(EnvelopeError, match=r"is not application/vnd\.compute-attest\.result"):
        open_signed_result(node.envelope(), node.key.public)


def test_cli_sign_result(workspace: Path, cli: CliRunner) -> None:
    make_envelope(cli)
    cli("keygen", "--out", "verifier", check_code=0)
    out = cli("verify", "m.env.json", "--trust", "trust.json", "--sign-result", "verifier/attest.key", check_code=0)
    from attest.crypto.keys import load_verifying_key

    result = open_signed_result(out.stdout.encode(), load_verifying_key(workspace / "verifier" / "attest.pub"))
    assert result.status is Status.AFFIRMING and result.source == "m.env.json"
