"""Revocation from captured OCSP responses, checked offline, with a simulated vendor responder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from attest.hardware.cc import verify_report
from attest.hardware.simulated_cc import SimulatedCcBackend
from attest.model.result import Status

UUID = "GPU-11111111-2222-3333-4444-555555555555"
NONCE = bytes(range(32))


def check(vendor: SimulatedCcBackend, responses: list[bytes], now: datetime | None = None):  # type: ignore[no-untyped-def]
    report, chain = vendor.attest(UUID, NONCE)
    return verify_report(
        report, chain, vendor.root_pem, now=now or datetime.now(UTC), expected_nonce=NONCE,
        pinned_root_sha256=vendor.root_sha256, ocsp_responses=responses,
    )


def rules(v) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(f.rule for f in v.findings if f.severity.value != "info")


def chain(vendor: SimulatedCcBackend) -> bytes:
    return vendor.attest(UUID, NONCE)[1]


def test_good_responses_for_every_position(vendor: SimulatedCcBackend) -> None:
    responses = [vendor.ocsp_response(chain(vendor), p) for p in (1, 2, 3)]
    v = check(vendor, responses)
    assert v.valid and rules(v) == []


def test_delegated_responder(vendor: SimulatedCcBackend) -> None:
    responses = [vendor.ocsp_response(chain(vendor), p, delegated=True) for p in (1, 2, 3)]
    assert check(vendor, responses).valid


def test_revoked_certificate(vendor: SimulatedCcBackend) -> None:
    responses = [vendor.ocsp_response(chain(vendor), 1, revoked=True)] + [vendor.ocsp_response(chain(vendor), p) for p in (2, 3)]
    v = check(vendor, responses)
    assert rules(v) == ["hardware.cc.revoked"] and v.status is Status.CONTRAINDICATED
    assert "key_compromise" in str(v.findings[0].evidence) or v.findings[0].evidence["position"] == 1


def test_missing_position_is_a_warning(vendor: SimulatedCcBackend) -> None:
    v = check(vendor, [vendor.ocsp_response(chain(vendor), 2)])
    assert rules(v) == ["hardware.cc.revocation_unchecked"] and v.status is Status.WARNING
    assert v.findings[-1].evidence["positions"] == [1, 3]


def test_stale_response(vendor: SimulatedCcBackend) -> None:
    old = datetime.now(UTC) - timedelta(days=30)
    responses = [vendor.ocsp_response(chain(vendor), p, produced=old) for p in (1, 2, 3)]
    v = check(vendor, responses)
    assert set(rules(v)) == {"hardware.cc.ocsp_stale"} and v.status is Status.WARNING


def test_response_signed_by_another_vendor(vendor: SimulatedCcBackend, tmp_path_factory: pytest.TempPathFactory) -> None:
    other = SimulatedCcBackend(tmp_path_factory.mktemp("other"))
    foreign = other.ocsp_response(other.attest(UUID, NONCE)[1], 3)
    v = check(vendor, [foreign])
    assert rules(v) == ["hardware.cc.revocation_unchecked"]  # it does not even name our certificates
    # A response naming our certificate, but signed by a key the issuer never certified:
    ours = bytearray(vendor.ocsp_response(chain(vendor), 3))
    ours[-5] ^= 0x01  # inside the signature
    v = check(vendor, [bytes(ours), vendor.ocsp_response(chain(vendor), 1), vendor.ocsp_response(chain(vendor), 2)])
    assert "hardware.cc.ocsp_untrusted" in rules(v) and v.status is Status.CONTRAINDICATED


def test_garbage_response(vendor: SimulatedCcBackend) -> None:
    v = check(vendor, [b"not der"])
    assert "hardware.cc.ocsp_malformed" in rules(v)
