"""Every check of the verifier pipeline, one finding at a time."""

import base64
import json
from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest

from attest.crypto.dsse import encode_envelope, sign_payload
from attest.crypto.keys import Algorithm, SigningKey
from attest.crypto.trust import TrustStore
from attest.errors import InputError
from attest.model.manifest import ImageRef, Job, WorkloadManifest
from attest.model.result import Finding, Severity, Status
from attest.model.statement import PAYLOAD_TYPE_INTOTO
from attest.replay import MemoryChainStore, MemoryNonceStore
from attest.sign import build_statement, manifest_digest, sign_manifest
from attest.verify import VerifyOptions, chain_order_key, verify_envelope, verify_many
from tests.conftest import NOW, Node, trusted_node

LATER = NOW + timedelta(minutes=1)


def rules(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [f.rule for f in result.findings if f.severity is not Severity.INFO]


def check(node: Node, raw: bytes, now: datetime = LATER, **kw):  # type: ignore[no-untyped-def]
    return verify_envelope(raw, node.trust, now=now, **kw)


def resign_payload(node: Node, statement_obj: dict) -> bytes:  # type: ignore[type-arg]
    payload = json.dumps(statement_obj).encode()
    return encode_envelope(sign_payload(payload, PAYLOAD_TYPE_INTOTO, [node.key]))


@pytest.mark.parametrize("alg", list(Algorithm))
def test_genuine_manifest_is_affirming(alg: Algorithm) -> None:
    node = trusted_node(alg)
    m = node.manifest()
    r = check(node, node.envelope(m), nonces=MemoryNonceStore(), chains=MemoryChainStore())
    assert r.status is Status.AFFIRMING, r.findings
    assert r.key_id == node.key.key_id
    assert r.node == "gpu-a17" and r.job_id == "slurm-48211" and r.sequence == 0
    assert r.subject and r.subject.startswith("sha256:")
    assert r.trust_vector.instance_identity is Status.AFFIRMING
    assert r.trust_vector.policy is Status.NONE  # no policy given: not evaluated, and said so
    assert r.trust_vector.hardware is Status.NONE  # classified, but nothing proved the GPUs genuine
    assert [f.rule for f in r.findings] == ["classification.summary", "policy.not_evaluated"]
    assert r.location_grade == "declared"


def test_expired_and_not_yet_valid(node: Node) -> None:
    raw = node.envelope()
    assert rules(check(node, raw, now=NOW + timedelta(minutes=15, seconds=61))) == ["freshness.expired"]
    assert rules(check(node, raw, now=NOW + timedelta(minutes=15, seconds=59))) == []  # inside the skew
    assert rules(check(node, raw, now=NOW - timedelta(seconds=61))) == ["freshness.not_yet_valid"]
    assert rules(check(node, raw, now=NOW - timedelta(seconds=59))) == []
    strict = VerifyOptions(clock_skew=timedelta(0))
    assert rules(check(node, raw, now=NOW - timedelta(seconds=1), options=strict)) == ["freshness.not_yet_valid"]


def test_judged_as_of_issue(node: Node) -> None:
    """An audit of past manifests judges each as of its own issued_at: valid then, valid now."""
    raw = node.envelope()
    as_of = VerifyOptions(as_of_issue=True)
    week = NOW + timedelta(days=7)
    assert rules(check(node, raw, now=week)) == ["freshness.expired"]
    r = check(node, raw, now=week, options=as_of)
    assert rules(r) == [] and r.status is Status.AFFIRMING
    assert r.verified_at == week  # the result still says when it was verified
    # a manifest dated after the verification time is refused either way
    assert rules(check(node, raw, now=NOW - timedelta(seconds=61), options=as_of)) == ["freshness.not_yet_valid"]
    # the signing key's trust period is judged at issue: lapsed since is fine, lapsed before is not
    lapsed_since = trusted_node(not_after=NOW + timedelta(hours=1))
    raw = lapsed_since.envelope()
    assert rules(check(lapsed_since, raw, now=week)) == ["trust.key_expired", "freshness.expired"]
    assert rules(check(lapsed_since, raw, now=week, options=as_of)) == []
    lapsed_before = trusted_node(not_after=NOW - timedelta(hours=1))
    r = check(lapsed_before, lapsed_before.envelope(), now=week, options=as_of)
    assert rules(r) == ["trust.key_expired"] and "issued_at" in r.findings[0].message
    # revocation counts whenever it happened
    revoked = lapsed_since.trust.with_revoked(lapsed_since.key.key_id)
    r = verify_envelope(lapsed_since.envelope(), revoked, now=week, options=as_of)
    assert rules(r) == ["trust.key_revoked"] and r.status is Status.CONTRAINDICATED


def test_overlong_validity_is_a_warning(node: Node) -> None:
    m = node.manifest()
    fr = m.freshness.model_copy(update={"expires_at": NOW + timedelta(days=2)})
    r = check(node, node.envelope(m.model_copy(update={"freshness": fr})))
    assert rules(r) == ["freshness.window_too_long"] and r.status is Status.WARNING


def test_a_window_longer_than_allowed_is_over_when_the_allowed_part_is(node: Node) -> None:
    m = node.manifest()
    fr = m.freshness.model_copy(update={"expires_at": NOW + timedelta(days=3650)})
    raw = node.envelope(m.model_copy(update={"freshness": fr}))
    assert rules(check(node, raw, now=NOW + timedelta(hours=23))) == ["freshness.window_too_long"]
    late = check(node, raw, now=NOW + timedelta(hours=25))
    assert "freshness.expired" in rules(late) and late.status is Status.CONTRAINDICATED


def test_spans_beyond_the_calendar_cannot_crash_the_verifier(node: Node) -> None:
    """No option and no (in-range) signed moment makes the verifier's arithmetic overflow."""
    raw = node.envelope(node.manifest())
    wide = VerifyOptions(clock_skew=timedelta.max, max_validity=timedelta.max, binding_max_age=timedelta.max)
    for now in (NOW, datetime(1970, 1, 1, tzinfo=NOW.tzinfo), datetime(2199, 12, 31, tzinfo=NOW.tzinfo)):
        assert verify_envelope(raw, node.trust, now=now, options=wide).status is Status.AFFIRMING
    with pytest.raises(InputError, match="outside the years 1970 to 2199"):
        verify_envelope(raw, node.trust, now=datetime.max.replace(tzinfo=NOW.tzinfo), options=wide)


def test_reused_nonce(node: Node) -> None:
    nonces = MemoryNonceStore()
    first = node.manifest()
    raw = node.envelope(first)
    assert check(node, raw, nonces=nonces).status is Status.AFFIRMING
    r = check(node, raw, nonces=nonces)
    assert rules(r) == ["freshness.nonce_reused"] and r.status is Status.CONTRAINDICATED
    # The same nonce in a different manifest is a replay too.
    other = node.manifest(job={"id": "other", "scheduler": "slurm", "phase": "start"}, freshness=first.freshness.to_obj())
    assert rules(check(node, node.envelope(other), nonces=nonces)) == ["freshness.nonce_reused"]


def test_nonce_not_recorded_for_forged_envelopes(node: Node) -> None:
    # An attacker must not be able to burn a node's nonce with a bad signature.
    nonces = MemoryNonceStore()
    m = node.manifest()
    forged = node.envelope(m, key=SigningKey.generate())
    assert check(node, forged, nonces=nonces).status is Status.CONTRAINDICATED
    assert check(node, node.envelope(m), nonces=nonces).status is Status.AFFIRMING


def test_chain_in_order_then_rollback_fork_mismatch_gap(node: Node) -> None:
    chains = MemoryChainStore()
    m0 = node.manifest(chain=True)
    m1 = node.manifest(chain=True)
    m2 = node.manifest(chain=True)
    assert m1.freshness.previous == manifest_digest(m0)
    for m in (m0, m1, m2):
        assert check(node, node.envelope(m), chains=chains).status is Status.AFFIRMING
    assert rules(check(node, node.envelope(m1), chains=chains)) == ["chain.sequence_rollback"]
    fork = node.manifest(freshness={**m2.freshness.to_obj(), "nonce": "ab" * 16})
    assert rules(check(node, node.envelope(fork), chains=chains)) == ["chain.fork"]
    bad_prev = node.manifest(freshness={**m2.freshness.to_obj(), "sequence": 3, "previous": manifest_digest(m1)})
    assert rules(check(node, node.envelope(bad_prev), chains=chains)) == ["chain.previous_mismatch"]
    gap = node.manifest(freshness={**m2.freshness.to_obj(), "sequence": 7, "previous": "sha256:" + "1" * 64})
    r = check(node, node.envelope(gap), chains=chains)
    assert rules(r) == ["chain.gap"] and r.status is Status.WARNING
    assert chains.head(node.key.key_id).sequence == 7  # type: ignore[union-attr]


def test_verify_many_checks_chains_in_sequence_order_whatever_the_file_order(node: Node) -> None:
    envs = [node.envelope(node.manifest(chain=True)) for _ in range(4)]
    items = [(f"m{i}", raw) for i, raw in reversed(list(enumerate(envs)))]
    results = verify_many(items, node.trust, now=LATER, nonces=MemoryNonceStore(), chains=MemoryChainStore())
    assert [r.source for r in results] == ["m3", "m2", "m1", "m0"]
    assert all(r.status is Status.AFFIRMING for r in results), [rules(r) for r in results]
    # A wrong previous in the middle of a batch is found.
    m = node.history[1]
    bad = node.manifest(freshness={**node.history[2].freshness.to_obj(), "previous": manifest_digest(node.history[2])})
    items = [("a", node.envelope(node.history[0])), ("b", node.envelope(m)), ("c", node.envelope(bad))]
    results = verify_many(items, node.trust, now=LATER, nonces=None, chains=MemoryChainStore())
    assert [rules(r) for r in results] == [[], [], ["chain.previous_mismatch"]]


def test_chain_order_key_reads_node_and_sequence_and_sorts_unreadable_input_first(node: Node) -> None:
    envs = [node.envelope(node.manifest(chain=True)) for _ in range(3)]
    assert [chain_order_key(raw) for raw in envs] == [(node.key.key_id, i) for i in range(3)]
    good = json.loads(envs[1])
    payload = json.loads(base64.b64decode(good["payload"]))
    no_seq = json.loads(json.dumps(payload))
    del no_seq["predicate"]["freshness"]["sequence"]
    text_seq = json.loads(json.dumps(payload))
    text_seq["predicate"]["freshness"]["sequence"] = "1"

    def wrap(p: object) -> bytes:
        return json.dumps({**good, "payload": base64.b64encode(json.dumps(p).encode()).decode()}).encode()

    for bad in [
        b"",
        b"{",
        b"[]",
        b'{"payload": 7}',
        b'{"payload": "not base64!"}',
        json.dumps({**good, "payload": base64.b64encode(b"{nope").decode()}).encode(),
        wrap(no_seq),
        wrap(text_seq),
        wrap([payload]),
        b"[" * 100_000 + b"]" * 100_000,
        json.dumps({**good, "payload": base64.b64encode(b'{"predicate":{"node":{"key_id":"\xff"},"freshness":{"sequence":1}}}').decode()}).encode(),  # not UTF-8
    ]:
        assert chain_order_key(bad) == ("", -1), bad[:60]


def test_revoked_key(node: Node) -> None:
    trust = node.trust.with_revoked(node.key.key_id)
    r = verify_envelope(node.envelope(), trust, now=LATER)
    assert rules(r) == ["trust.key_revoked"] and r.status is Status.CONTRAINDICATED


def test_unknown_key(node: Node) -> None:
    r = verify_envelope(node.envelope(), TrustStore(), now=LATER)
    assert rules(r) == ["signature.unknown_key"]
    assert r.findings[0].remedy and "attest trust add" in r.findings[0].remedy


def test_signature_by_other_key_with_claimed_keyid(node: Node) -> None:
    env = json.loads(node.envelope())
    impostor = SigningKey.generate()
    forged = sign_payload(base64.b64decode(env["payload"]), PAYLOAD_TYPE_INTOTO, [impostor])
    env["signatures"][0]["sig"] = forged.signatures[0].sig
    raw = json.dumps(env, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    assert rules(check(node, raw)) == ["signature.invalid"]


def test_envelopes_from_other_dsse_tools_need_lenient_encoding(node: Node) -> None:
    # securesystemslib writes the same envelope with other whitespace; by default the
    # bytes must be canonical, and a verifier that must accept other tools says so.
    from securesystemslib.dsse import Envelope as SslibEnvelope

    other_tool = json.dumps(SslibEnvelope.from_dict(json.loads(node.envelope())).to_dict(), indent=1).encode()
    assert rules(check(node, other_tool)) == ["envelope.noncanonical"]
    lenient = VerifyOptions(require_canonical=False)
    assert check(node, other_tool, options=lenient).status is Status.AFFIRMING


@pytest.mark.parametrize(
    ("scope", "rule"),
    [
        ({"operator": "Another Cloud Ltd."}, "trust.scope_operator"),
        ({"sites": ["sin-1"]}, "trust.scope_site"),
        ({"countries": ["SG", "US"]}, "trust.scope_country"),
        ({"not_after": NOW + timedelta(seconds=30)}, "trust.key_expired"),
        ({"not_before": NOW + timedelta(minutes=5)}, "trust.key_not_yet_valid"),
    ],
)
def test_key_used_outside_its_scope(scope: dict, rule: str) -> None:  # type: ignore[type-arg]
    node = trusted_node(**scope)
    r = check(node, node.envelope())
    assert rules(r) == [rule] and r.status is Status.CONTRAINDICATED
    assert r.findings[0].evidence["key_id"] == node.key.key_id


def test_node_key_must_be_the_signer(node: Node) -> None:
    other = SigningKey.generate()
    trust = node.trust.with_key(other.public, operator="Example Cloud Sdn. Bhd.")
    m = node.manifest()
    payload = build_statement(m).model_dump_json(by_alias=True, exclude_none=True).encode()
    raw = encode_envelope(sign_payload(payload, PAYLOAD_TYPE_INTOTO, [other]))
    assert rules(verify_envelope(raw, trust, now=LATER)) == ["manifest.node_key_mismatch"]


def test_every_signature_must_hold(node: Node) -> None:
    second = SigningKey.generate()
    m = node.manifest()
    env = sign_manifest(m, [node.key, second])
    both = node.trust.with_key(second.public)
    assert verify_envelope(encode_envelope(env), both, now=LATER).status is Status.AFFIRMING
    # A second signature by an untrusted key fails the whole envelope.
    assert rules(check(node, encode_envelope(env))) == ["signature.unknown_key"]


def test_subject_must_name_the_workload(node: Node) -> None:
    obj = build_statement(node.manifest()).to_obj()
    obj["subject"][0]["digest"]["sha256"] = "0" * 64
    assert rules(check(node, resign_payload(node, obj))) == ["statement.subject_mismatch"]


SUBJECT_EDITS = {
    "another digest": lambda subs: subs[0]["digest"].update(sha256="0" * 64),
    "a second algorithm": lambda subs: subs[0]["digest"].update({"sha512": "ab" * 32}),
    "the algorithm renamed": lambda subs: subs[0].update(digest={"sha384": subs[0]["digest"]["sha256"]}),
    "another name": lambda subs: subs[0].update(name=subs[0]["name"] + "x"),
    "one more subject": lambda subs: subs.append({"name": "extra", "digest": {"sha256": "ab" * 32}}),
    "one subject fewer": lambda subs: subs.pop(),
    "another order": lambda subs: subs.reverse(),
}


@pytest.mark.parametrize("edit", sorted(SUBJECT_EDITS))
def test_subjects_must_be_exactly_the_workload(node: Node, edit: str) -> None:
    job = Job(
        id="k8s/train-7",
        scheduler="kubernetes",
        phase="start",
        spec_digest="sha256:" + "ab" * 32,
        images=[ImageRef(name="registry.example/train:1", digest="sha256:" + "cd" * 32)],
    )
    obj = build_statement(node.manifest(job=job.to_obj())).to_obj()
    assert rules(check(node, resign_payload(node, obj))) == []
    SUBJECT_EDITS[edit](obj["subject"])
    assert rules(check(node, resign_payload(node, obj))) == ["statement.subject_mismatch"]


def test_unknown_payload_and_predicate_types(node: Node) -> None:
    payload = build_statement(node.manifest()).model_dump_json(by_alias=True).encode()
    raw = encode_envelope(sign_payload(payload, "application/json", [node.key]))
    assert rules(check(node, raw)) == ["envelope.payload_type"]
    obj = build_statement(node.manifest()).to_obj()
    obj["predicateType"] = "https://compute-attest.dev/workload-manifest/v9"
    assert rules(check(node, resign_payload(node, obj))) == ["statement.predicate_type"]


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        (b'{"_type": 1, "_type": 2}', "duplicate JSON key"),
        (b'{"predicateType": NaN}', "NaN"),
        (b'{"predicateType": "https://compute-attest.dev/workload-manifest/v1"', "not valid JSON"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_signed_but_malformed_payload(node: Node, payload: bytes, fragment: str) -> None:
    raw = encode_envelope(sign_payload(payload, PAYLOAD_TYPE_INTOTO, [node.key]))
    r = check(node, raw)
    assert rules(r) == ["statement.malformed"] and fragment in r.findings[0].message


def test_signed_payload_with_invalid_manifest(node: Node) -> None:
    obj = build_statement(node.manifest()).to_obj()
    obj["predicate"]["site"]["country"] = "ZZ"
    r = check(node, resign_payload(node, obj))
    assert rules(r) == ["statement.malformed"] and "predicate.site.country" in r.findings[0].message


@pytest.mark.parametrize(
    ("mutate", "rule"),
    [
        (lambda raw: raw + b" " * 2_000_000, "envelope.oversize"),
        (lambda raw: raw.replace(b'{"payload"', b'{"payloadType":"x","payload"', 1), "envelope.malformed"),
        (lambda raw: raw.replace(b'"sig":"', b'"sig":NaN,"x":"', 1), "envelope.malformed"),
        (lambda raw: raw[: len(raw) // 2], "envelope.malformed"),
        (lambda raw: raw.replace(b'"payload":"', b'"payload":"@', 1), "envelope.base64"),
        (lambda raw: b"[]", "envelope.malformed"),
        (lambda raw: b"", "envelope.malformed"),
        (lambda raw: b"\x00\x01\x02", "envelope.malformed"),
    ],
)
def test_bad_envelope_bytes(node: Node, mutate, rule: str) -> None:  # type: ignore[no-untyped-def]
    r = check(node, mutate(node.envelope()))
    assert rules(r) == [rule] and r.status is Status.CONTRAINDICATED


class OnePolicy:
    def __init__(self, *findings: Finding) -> None:
        self.findings = findings
        self.seen: list[WorkloadManifest] = []

    def evaluate(self, manifest: WorkloadManifest, *, now: datetime, facts: object) -> Sequence[Finding]:
        self.seen.append(manifest)
        return self.findings


def test_policy_seam(node: Node) -> None:
    hq = Finding(rule="policy.headquarters", severity=Severity.CONTRAINDICATED, message="needs a license")
    tenant = Finding(rule="tenant.screening", severity=Severity.WARNING, message="near match")
    policy = OnePolicy(hq, tenant)
    r = check(node, node.envelope(), policy=policy)
    assert r.status is Status.CONTRAINDICATED
    # The headquarters rule speaks to the tenant too (DESIGN's example): tenant is contraindicated.
    assert r.trust_vector.policy is Status.CONTRAINDICATED and r.trust_vector.tenant is Status.CONTRAINDICATED
    only_tenant = check(node, node.envelope(), policy=OnePolicy(tenant))
    assert only_tenant.trust_vector.tenant is Status.WARNING and only_tenant.trust_vector.policy is Status.AFFIRMING
    assert policy.seen[0].node.key_id == node.key.key_id
    clean = check(node, node.envelope(), policy=OnePolicy())
    assert clean.status is Status.AFFIRMING and clean.trust_vector.policy is Status.AFFIRMING
    # The policy never sees a manifest whose signature failed.
    policy2 = OnePolicy()
    check(node, node.envelope(key=SigningKey.generate()), policy=policy2)
    assert policy2.seen == []
