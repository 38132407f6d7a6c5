from datetime import UTC, datetime

import pytest

from attest.errors import InputError
from attest.model import Envelope, Freshness, Site, Statement, Tenant, WorkloadManifest
from attest.model.base import format_timestamp, parse_timestamp
from attest.model.countries import ISO_3166_ALPHA2
from attest.model.manifest import PREDICATE_TYPE
from attest.model.result import Finding, Severity, Status, VerificationResult
from attest.sign import build_statement
from tests.conftest import NOW, Node


def test_manifest_round_trips(node: Node) -> None:
    m = node.manifest()
    again = WorkloadManifest.from_json(m.to_json())
    assert again == m
    assert again.to_json() == m.to_json()
    st = build_statement(m)
    assert st.to_obj()["_type"] == "https://in-toto.io/Statement/v1"
    assert st.to_obj()["predicateType"] == PREDICATE_TYPE and PREDICATE_TYPE.endswith("/v1")
    assert Statement.from_json(st.to_json()) == st


def test_manifest_has_every_design_field(node: Node) -> None:
    obj = node.manifest().to_obj()
    assert set(obj) >= {"job", "tenant", "operator", "site", "node", "gpus", "location_evidence", "licenses", "freshness"}
    assert set(obj["site"]) >= {"facility_id", "name", "country", "latitude", "longitude", "accuracy"}
    assert set(obj["freshness"]) >= {"issued_at", "expires_at", "nonce", "sequence"}
    assert obj["tenant"]["ultimate_parent"]["headquarters_country"] == "US"
    assert obj["gpus"][0]["uuid"].startswith("GPU-")


def test_iso_country_codes() -> None:
    assert len(ISO_3166_ALPHA2) == 249
    base = {"facility_id": "x", "name": "x", "latitude": 0.0, "longitude": 0.0}
    assert Site.from_obj({**base, "country": "MY"}).country == "MY"
    assert Site.from_obj({**base, "country": "XK"}).country == "XK"
    for bad in ["my", "ZZ", "MYS", "", 1]:
        with pytest.raises(InputError, match="country"):
            Site.from_obj({**base, "country": bad})


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"latitude": 91.0}, "latitude"),
        ({"longitude": "103.6"}, "longitude"),
        ({"accuracy": -1.0}, "accuracy"),
        ({"unknown": 1}, "unknown: unknown field"),
    ],
)
def test_site_validation(change: dict, fragment: str) -> None:  # type: ignore[type-arg]
    base = {"facility_id": "x", "name": "x", "country": "MY", "latitude": 1.0, "longitude": 1.0}
    with pytest.raises(InputError, match=fragment):
        Site.from_obj({**base, **change})


def test_unknown_fields_rejected_at_every_level(node: Node) -> None:
    obj = node.manifest().to_obj()
    obj["gpus"][0]["made_up"] = True
    with pytest.raises(InputError, match=r"gpus\.0\.made_up"):
        WorkloadManifest.from_obj(obj)


def test_freshness_rules() -> None:
    ok = {"issued_at": "2026-11-28T09:00:00Z", "expires_at": "2026-11-28T09:15:00Z", "nonce": "ab" * 16, "sequence": 0}
    assert Freshness.from_obj(ok).sequence == 0
    with pytest.raises(InputError, match="expires_at must be after issued_at"):
        Freshness.from_obj({**ok, "expires_at": "2026-11-28T08:00:00Z"})
    with pytest.raises(InputError, match="previous is required"):
        Freshness.from_obj({**ok, "sequence": 1})
    with pytest.raises(InputError, match="nonce"):
        Freshness.from_obj({**ok, "nonce": "short"})
    with pytest.raises(InputError, match="sequence"):
        Freshness.from_obj({**ok, "sequence": 2**53})
    with pytest.raises(InputError, match="sequence"):
        Freshness.from_obj({**ok, "sequence": True})  # strict: no bool-as-int


def test_duplicate_gpus_rejected(node: Node) -> None:
    obj = node.manifest().to_obj()
    obj["gpus"].append(obj["gpus"][0])
    with pytest.raises(InputError, match="same GPU UUID"):
        WorkloadManifest.from_obj(obj)


def test_timestamps() -> None:
    t = parse_timestamp("2026-11-28T11:00:00.123456789+02:00")
    assert t == datetime(2026, 11, 28, 9, 0, 0, 123456, tzinfo=UTC)
    assert format_timestamp(t) == "2026-11-28T09:00:00.123456Z"
    assert format_timestamp(NOW) == "2026-11-28T09:00:00Z"
    for bad in ["2026-11-28", "2026-11-28T09:00:00", "yesterday", "2026-13-01T00:00:00Z"]:
        with pytest.raises(ValueError):
            parse_timestamp(bad)


def test_tenant_parent_optional() -> None:
    t = Tenant.from_obj({"legal_name": "A", "headquarters_country": "SG"})
    assert t.ultimate_parent is None and t.identifiers == []


def test_envelope_model_rules() -> None:
    sig = {"keyid": "a" * 64, "sig": "QUJD"}
    Envelope.from_obj({"payload": "", "payloadType": "t", "signatures": [sig]})
    with pytest.raises(InputError, match="same keyid"):
        Envelope.from_obj({"payload": "", "payloadType": "t", "signatures": [sig, sig]})
    with pytest.raises(InputError, match="signatures"):
        Envelope.from_obj({"payload": "", "payloadType": "t", "signatures": []})


def test_result_status_cannot_be_more_trusting_than_its_findings() -> None:
    bad = Finding(rule="signature.invalid", severity=Severity.CONTRAINDICATED, message="x")
    with pytest.raises(ValueError, match="more trusting"):
        VerificationResult(status=Status.AFFIRMING, findings=[bad], verified_at=NOW)
    assert VerificationResult(status=Status.CONTRAINDICATED, findings=[bad], verified_at=NOW).status is Status.CONTRAINDICATED
    assert Status.worst([Status.AFFIRMING, Status.WARNING, Status.NONE]) is Status.WARNING
    assert [s.exit_code for s in Status] == [0, 1, 3, 1]


def test_results_round_trip_through_json(node: Node) -> None:
    from attest.verify import verify_envelope

    r = verify_envelope(node.envelope(), node.trust, now=NOW)
    assert VerificationResult.from_json(r.to_json()) == r
    bad = r.to_obj()
    bad["status"] = "excellent"
    with pytest.raises(InputError, match="status"):
        VerificationResult.from_obj(bad)


def _reference_timestamp(value: str) -> datetime | None:
    """The RFC 3339 reading parse_timestamp promises, written the slow way: the pattern, then fromisoformat."""
    import re

    m = re.fullmatch(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})", value, re.ASCII)
    if m is None:
        return None
    text = value if not m[1] or len(m[1]) <= 7 else value[: m.start(1) + 7] + value[m.end(1) :]
    try:
        parsed = datetime.fromisoformat(text.upper()).astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return parsed if datetime(1970, 1, 1, tzinfo=UTC) <= parsed <= datetime(2199, 12, 31, 23, 59, 59, 999999, tzinfo=UTC) else None


_STAMP_CHARS = "0123456789-:TtZz+. W\u0663\uff10"


@pytest.mark.parametrize("seed", ["2026-11-28T09:00:00Z", "1970-01-01T00:00:00Z", "2199-12-31T23:59:59Z", "2026-11-28T09:00:00+02:00"])
def test_the_quick_timestamp_form_accepts_exactly_what_rfc_3339_does(seed: str) -> None:
    """parse_timestamp's quick path for YYYY-MM-DDTHH:MM:SSZ takes nothing the pattern refuses, and reads it alike.

    Every text one or two characters away from a valid one (the quick path's separators, digits
    of other scripts, signs, a week date's W, a space), and random texts of the same length.
    """
    from hypothesis import given, settings
    from hypothesis import strategies as st

    def agree(value: str) -> None:
        want = _reference_timestamp(value)
        try:
            got: datetime | None = parse_timestamp(value)
        except ValueError:
            got = None
        assert got == want, value
        if got is not None:
            assert got.tzinfo is UTC

    for i in range(len(seed)):
        for c in _STAMP_CHARS:
            one = seed[:i] + c + seed[i + 1 :]
            agree(one)
            for j in range(i + 1, len(seed)):
                agree(one[:j] + "W" + one[j + 1 :])
                agree(one[:j] + "-" + one[j + 1 :])

    @settings(max_examples=2000, deadline=None)
    @given(st.text(alphabet=_STAMP_CHARS, min_size=len(seed), max_size=len(seed)))
    def random_text(value: str) -> None:
        agree(value)

    random_text()
