"""Step 0 of a verification (a heartbeat of a node judged before) concludes what the full path does.

Every test verifies the same envelopes with two verifiers built alike, one with step 0 and one
judging every envelope in full (``_heartbeats = None``), each with its own state, and requires
equal results, finding for finding. The tests also count the envelopes step 0 judged, so that
a test whose stream never took it fails rather than passing on the full path alone.
"""

from __future__ import annotations

import base64
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from attest.crypto.dsse import encode_envelope, sign_payload
from attest.crypto.keys import SigningKey, VerifyingKey
from attest.model.manifest import Freshness, ImageRef, Job, Tenant, WorkloadManifest
from attest.model.result import Status, VerificationResult
from attest.model.statement import PAYLOAD_TYPE_INTOTO
from attest.policy.engine import Policy, load_policy
from attest.sign import TemplateSigner, build_statement, manifest_digest
from attest.verify import RulesOnly, Verifier, VerifyOptions
from tests.conftest import NOW, PURE_ONLY, Node, trusted_node

US_EAR = load_policy("us-ear")
LATER = NOW + timedelta(minutes=5)  # after every heartbeat the tests make, before any expires


def pair(node: Node, **kw: Any) -> tuple[Verifier, Verifier]:
    """(with step 0, every envelope in full): the same trust, policy and options, state of their own."""
    kw.setdefault("policy", US_EAR)
    fast = Verifier(node.trust, **kw)
    full = Verifier(node.trust, **kw)
    full._heartbeats = None
    return fast, full


def hits(verifier: Verifier) -> int:
    assert verifier._heartbeats is not None
    return verifier._heartbeats.hits


def same(
    fast: Verifier, full: Verifier, envelopes: list[bytes], now: datetime = LATER
) -> list[VerificationResult]:
    """Verify each envelope with both; their results must be equal."""
    out = []
    for i, raw in enumerate(envelopes):
        a, b = fast.verify(raw, now=now, source=f"e{i}"), full.verify(raw, now=now, source=f"e{i}")
        assert a.model_dump(mode="json") == b.model_dump(mode="json"), f"envelope {i}"
        out.append(a)
    return out


def chained(
    node: Node,
    n: int,
    *,
    start: datetime = NOW,
    step: timedelta = timedelta(seconds=30),
    ops: Any = 3.1e24,
    job: Job | None = None,
    **member: Any,
) -> list[WorkloadManifest]:
    """``n`` manifests of ``node`` chained by sequence and previous digest, a job each (or ``job`` in all)."""
    base = node.manifest(now=start)
    if member:
        base = base.model_copy(update=member)
    out: list[WorkloadManifest] = []
    for i in range(n):
        at = start + i * step
        previous = manifest_digest(out[-1]) if out else None
        fr = Freshness(
            issued_at=at,
            expires_at=at + timedelta(minutes=15),
            nonce=random.randbytes(16).hex(),
            sequence=i,
            previous=previous,
        )
        each = job or Job(
            id=f"slurm-{i}", scheduler="slurm", phase="start", started_at=start, declared_training_ops=ops
        )
        out.append(base.model_copy(update={"freshness": fr, "job": each}))
    return out


def envelopes(node: Node, manifests: list[WorkloadManifest]) -> list[bytes]:
    return [node.envelope(m) for m in manifests]


def test_a_stream_of_heartbeats_is_judged_by_step_0_as_in_full() -> None:
    node = trusted_node()
    fast, full = pair(node)
    results = same(fast, full, envelopes(node, chained(node, 8)))
    assert all(r.status is Status.AFFIRMING for r in results)
    assert hits(fast) == 6  # every heartbeat after the second (the first two judged in full)


def test_replays_twins_forks_gaps_and_rollbacks_as_in_full() -> None:
    node = trusted_node()
    ms = chained(node, 6)
    raw = envelopes(node, ms)
    replay = ms[3].model_copy(
        update={"job": Job(id="other", scheduler="slurm", phase="start")}
    )  # same nonce, another payload
    fork = chained(node, 1)[0].model_copy(
        update={"freshness": ms[4].freshness}
    )  # sequence 4 again, another job
    fork = fork.model_copy(update={"job": Job(id="fork", scheduler="slurm", phase="start")})
    gap = ms[5].model_copy(
        update={
            "freshness": ms[5].freshness.model_copy(
                update={"sequence": 9, "nonce": random.randbytes(16).hex()}
            )
        }
    )
    rollback = ms[1].model_copy(
        update={"freshness": ms[1].freshness.model_copy(update={"nonce": random.randbytes(16).hex()})}
    )
    order = [
        raw[0],
        raw[1],
        raw[2],
        raw[3],
        node.envelope(replay),
        raw[3],
        raw[4],
        node.envelope(fork),
        raw[5],
    ]
    order += [node.envelope(gap), node.envelope(rollback), raw[2]]
    fast, full = pair(node)
    results = same(fast, full, order)
    rules = [{f.rule for f in r.findings if f.severity.value != "info"} for r in results]
    assert "freshness.nonce_reused" in rules[4]
    assert any(r for r in rules[7:]), rules
    assert hits(fast) >= 5


def test_freshness_and_subject_findings_leave_it_to_the_full_path() -> None:
    node = trusted_node()
    ms = chained(node, 3)
    raw = envelopes(node, ms)
    fast, full = pair(node)
    same(fast, full, raw[:2])
    before = hits(fast)
    # expired, not yet valid, too long a window
    same(fast, full, [raw[2]], now=NOW + timedelta(days=2))
    same(fast, full, [raw[2]], now=NOW - timedelta(days=2))
    long = ms[2].model_copy(
        update={
            "freshness": ms[2].freshness.model_copy(
                update={"expires_at": NOW + timedelta(days=30), "nonce": random.randbytes(16).hex()}
            )
        }
    )
    same(fast, full, [node.envelope(long)])
    # subjects that do not name the job: a statement signed by the node key with another subject
    statement = build_statement(ms[2]).to_obj()
    statement["subject"][0]["digest"]["sha256"] = "00" * 32
    payload = json.dumps(statement, separators=(",", ":"), ensure_ascii=False).encode()
    forged = encode_envelope(sign_payload(payload, PAYLOAD_TYPE_INTOTO, [node.key]))
    results = same(fast, full, [forged])
    assert any(f.rule == "statement.subject_mismatch" for f in results[0].findings)
    assert hits(fast) == before


def test_a_change_of_any_repeating_member_is_judged_anew() -> None:
    node = trusted_node()
    listed = Tenant.from_obj({"legal_name": "Huawei Technologies Co., Ltd.", "headquarters_country": "CN"})
    hk = Tenant.from_obj({"legal_name": "Example Robotics Ltd.", "headquarters_country": "HK"})
    fast, full = pair(node)
    first = chained(node, 3)
    same(fast, full, envelopes(node, first))
    for tenant in (listed, hk):
        ms = chained(node, 3, start=NOW + timedelta(minutes=2), tenant=tenant)
        # continue the chain from the last manifest verified
        results = same(fast, full, envelopes(node, ms))
        assert all(r.status is Status.CONTRAINDICATED for r in results), [r.findings for r in results]
    site = node.site.model_copy(update={"country": "CN", "latitude": 22.54, "longitude": 114.06})
    results = same(fast, full, envelopes(node, chained(node, 3, start=NOW + timedelta(minutes=4), site=site)))
    assert all(r.status is Status.CONTRAINDICATED for r in results)
    assert hits(fast) >= 2


def test_the_declared_operations_and_the_issue_date_are_part_of_what_was_judged() -> None:
    node = trusted_node()
    fast, full = pair(node)
    same(fast, full, envelopes(node, chained(node, 3)))
    for ops in (1e27, 10**26, 1e26, 0.0, None):
        same(fast, full, envelopes(node, chained(node, 3, ops=ops)))
    # across midnight: the policy judges at the issue date (us-ear takes effect on 2023-11-17)
    midnight = datetime(2023, 11, 16, 23, 59, 0, tzinfo=UTC)
    results = same(
        fast, full, envelopes(node, chained(node, 4, start=midnight)), now=midnight + timedelta(minutes=3)
    )
    rules = [{f.rule for f in r.findings} for r in results]
    assert rules[0] != rules[-1]  # the day before, and the day the policy took effect


def test_a_trust_period_ending_between_heartbeats() -> None:
    key_node = trusted_node(not_after=NOW + timedelta(minutes=2))
    fast, full = pair(key_node)
    ms = chained(key_node, 6)
    for i, raw in enumerate(envelopes(key_node, ms)):
        at = NOW + timedelta(seconds=30 * i + 5)
        same(fast, full, [raw], now=at)
    results = same(fast, full, envelopes(key_node, chained(key_node, 2)), now=NOW + timedelta(minutes=5))
    assert all(any(f.rule == "trust.key_expired" for f in r.findings) for r in results)
    assert hits(fast) >= 1


def test_anchors_changed_on_the_verifier_are_used() -> None:
    node = trusted_node()
    fast, full = pair(node)
    same(fast, full, envelopes(node, chained(node, 3)))
    # the key revoked: a new trust store on both verifiers
    from attest.crypto.trust import TrustStore

    revoked = TrustStore(node.trust.document.model_copy(update={"revoked": [node.key.key_id]}))
    fast.trust = full.trust = revoked
    results = same(fast, full, envelopes(node, chained(node, 2)))
    assert all(r.status is Status.CONTRAINDICATED for r in results)
    # another policy on the same verifier
    fast.trust = full.trust = node.trust
    strict = load_policy("us-ear")
    fast.policy = full.policy = strict
    same(fast, full, envelopes(node, chained(node, 3)))
    fast.policy = full.policy = None
    results = same(fast, full, envelopes(node, chained(node, 3)))
    assert all(any(f.rule == "policy.not_evaluated" for f in r.findings) for r in results)


def test_a_key_scoped_elsewhere_keeps_its_scope_findings() -> None:
    node = trusted_node(sites=["sgp-1"], countries=["SG"])
    fast, full = pair(node)
    results = same(fast, full, envelopes(node, chained(node, 4)))
    assert all(r.status is Status.CONTRAINDICATED for r in results)
    assert all({"trust.scope_site", "trust.scope_country"} <= {f.rule for f in r.findings} for r in results)
    assert hits(fast) == 2


def test_heartbeats_of_the_daemon_template_signer_in_rfc_8785_order() -> None:
    node = trusted_node()
    signer = TemplateSigner(node.manifest(), node.key)
    raw, previous = [], None
    for i in range(5):
        fr = Freshness(
            issued_at=NOW,
            expires_at=NOW + timedelta(minutes=15),
            nonce=random.randbytes(16).hex(),
            sequence=i,
            previous=previous,
        )
        m = signer.manifest(Job(id=f"hb-{i}", scheduler="daemon", phase="heartbeat"), fr)
        data, previous = signer.encode_with_digest(m)
        raw.append(data)
    fast, full = pair(node)
    results = same(fast, full, raw)
    assert all(r.status is Status.AFFIRMING for r in results)
    assert hits(fast) == 3


@pytest.mark.parametrize("kind", ["as_of_issue", "rules_only", "not_canonical"])
def test_verifiers_whose_conclusions_depend_on_more_judge_in_full(kind: str) -> None:
    node = trusted_node()
    kw: dict[str, Any] = {}
    if kind == "as_of_issue":
        kw["options"] = VerifyOptions(as_of_issue=True)
    elif kind == "rules_only":
        kw["policy"] = RulesOnly(US_EAR)
    else:
        kw["options"] = VerifyOptions(require_canonical=False)
    fast, full = pair(node, **kw)
    same(fast, full, envelopes(node, chained(node, 4)))
    assert hits(fast) == 0


def test_verify_many_with_forks_in_one_batch_as_in_full() -> None:
    node = trusted_node()
    ms = chained(node, 5)
    fork = ms[3].model_copy(update={"job": Job(id="fork", scheduler="slurm", phase="start")})
    items = [(f"e{i}", raw) for i, raw in enumerate([*envelopes(node, ms), node.envelope(fork)])]
    fast, full = pair(node)
    a = fast.verify_many(items, now=LATER)
    b = full.verify_many(items, now=LATER)
    assert [r.model_dump(mode="json") for r in a] == [r.model_dump(mode="json") for r in b]
    assert sum(any(f.rule == "chain.fork" for f in r.findings) for r in a) == 2
    assert hits(fast) >= 2
    # the same batch again: every manifest seen before
    assert [r.model_dump(mode="json") for r in fast.verify_many(items, now=LATER)] == [
        r.model_dump(mode="json") for r in full.verify_many(items, now=LATER)
    ]


def _mutations(raw: bytes, key: SigningKey, rng: random.Random, n: int) -> list[bytes]:
    """Payloads of ``raw`` with one byte changed, re-signed by ``key`` (so only the reading decides)."""
    env = json.loads(raw)
    payload = base64.b64decode(env["payload"])
    out = []
    alphabet = b'0123456789abcdefABCDEF{}[]":,. -+eEnul\\\x00\xc3\xa9'
    for _ in range(n):
        data = bytearray(payload)
        pos = rng.randrange(len(data))
        if rng.random() < 0.2:
            del data[pos]
        else:
            data[pos] = rng.choice(alphabet)
        out.append(encode_envelope(sign_payload(bytes(data), PAYLOAD_TYPE_INTOTO, [key])))
    return out


def test_one_byte_changed_anywhere_in_a_signed_heartbeat_is_judged_as_in_full() -> None:
    node = trusted_node()
    ms = chained(node, 4)
    raw = envelopes(node, ms)
    rng = random.Random(2026)
    statuses = set()
    taken = 0
    for mutant in _mutations(raw[3], node.key, rng, 150):
        fast, full = pair(node)  # each mutant after the same three heartbeats, as their successor
        same(fast, full, raw[:3])
        before = hits(fast)
        statuses.add(same(fast, full, [mutant])[0].status)
        taken += hits(fast) - before
    assert Status.CONTRAINDICATED in statuses and Status.AFFIRMING in statuses  # some still read and chain
    assert taken > 0  # some mutants were judged by step 0 (a byte of the job or freshness changed)


def test_a_policy_engine_subclass_is_judged_every_time() -> None:
    import copy

    class Counting(Policy):
        pass

    custom = copy.copy(US_EAR)
    custom.__class__ = Counting  # the engine's state, another class: its verdict may read anything
    node = trusted_node()
    fast, full = pair(node, policy=custom)
    same(fast, full, envelopes(node, chained(node, 3)))
    assert hits(fast) == 0


@PURE_ONLY
def test_each_signature_is_checked_once_a_forged_one_included(monkeypatch: pytest.MonkeyPatch) -> None:
    from attest.crypto.keys import VerifyingKey

    node = trusted_node()
    ms = chained(node, 3)
    raw = envelopes(node, ms)
    env = json.loads(raw[2])
    sig = bytearray(base64.b64decode(env["signatures"][0]["sig"]))
    sig[0] ^= 1
    env["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    forged = (json.dumps(env, sort_keys=True, separators=(",", ":")) + "\n").encode()
    fast, full = pair(node)
    same(fast, full, raw[:2])
    calls: list[int] = []
    real = VerifyingKey.verify

    def counting(self: VerifyingKey, signature: bytes, message: bytes) -> bool:
        calls.append(1)
        return real(self, signature, message)

    monkeypatch.setattr(VerifyingKey, "verify", counting)
    result = fast.verify(forged, now=LATER)
    assert [f.rule for f in result.findings] == ["signature.invalid"]
    assert len(calls) == 1  # step 0 checked it; the full path used that outcome
    calls.clear()
    assert fast.verify(raw[2], now=LATER).status is Status.AFFIRMING
    assert len(calls) == 1
    assert result.model_dump(mode="json") == full.verify(forged, now=LATER).model_dump(mode="json")


def test_a_policy_replaced_while_a_verification_runs_is_not_filed_under_the_new_one() -> None:
    """What the full path concluded with the anchors it began with is kept under those, not the verifier's new ones."""
    from attest.replay import MemoryVerifierState

    listed = Tenant.from_obj({"legal_name": "Huawei Technologies Co., Ltd.", "headquarters_country": "CN"})
    node = trusted_node()
    raw = envelopes(node, chained(node, 4, tenant=listed))

    class Swapping(MemoryVerifierState):
        """Another thread replacing the policy while the first envelope is between steps 9 and 10."""

        verifier: Verifier | None = None

        def first_use(self, *args: Any, **kwargs: Any) -> Any:
            if self.verifier is not None:
                self.verifier.policy, self.verifier = US_EAR, None
            return super().first_use(*args, **kwargs)

    results = {}
    for step0 in (True, False):
        state = Swapping()
        v = Verifier(node.trust, policy=None, nonces=state, chains=state, devices=state)
        if not step0:
            v._heartbeats = None
        state.verifier = v
        results[step0] = [v.verify(r, now=LATER).model_dump(mode="json") for r in raw]
    assert results[True] == results[False]
    assert results[True][0]["status"] == "affirming"  # judged without a policy, as it began
    assert all(r["status"] == "contraindicated" for r in results[True][1:])  # us-ear from then on


def test_a_manifest_without_its_optional_members() -> None:
    """licenses and location_evidence may be left out (they have defaults): read, judged and kept as in full."""
    node = trusted_node()
    raw = []
    for m in chained(node, 4):
        statement = build_statement(m).to_obj()
        del statement["predicate"]["licenses"], statement["predicate"]["location_evidence"]
        payload = json.dumps(statement, separators=(",", ":"), ensure_ascii=False).encode()
        raw.append(encode_envelope(sign_payload(payload, PAYLOAD_TYPE_INTOTO, [node.key])))
    fast, full = pair(node)
    results = same(fast, full, raw)
    assert all(r.status is Status.AFFIRMING for r in results), [r.findings for r in results]
    assert hits(fast) == 2
    assert fast._heartbeats is not None and fast._heartbeats.failures == 0


def test_large_repeating_members_are_not_kept() -> None:
    from attest.model.manifest import LicenseReference

    node = trusted_node()
    big = [LicenseReference(kind="license", id=f"D{i}", note="n" * 40_000) for i in range(2)]
    fast, full = pair(node)
    results = same(fast, full, envelopes(node, chained(node, 3, licenses=big)))
    assert hits(fast) == 0  # 80 KB of licences: judged in full every time, memory stays bounded
    assert len(results) == 3


def _splices(raw: bytes, key: SigningKey, rng: random.Random, n: int) -> list[bytes]:
    """Payloads of ``raw`` with a piece of its own text copied elsewhere, cut out or swapped, re-signed.

    Step 0 finds a heartbeat's subjects, job and freshness by the judged payload's text around
    them: these move that text (and the members' own) to where a careless split would be fooled.
    """
    payload = base64.b64decode(json.loads(raw)["payload"])
    marks = [b',"predicateType"', b',"tenant"', b',"freshness"', b'"job":', b'"subject":', b"}}", b"]"]
    out = []
    for _ in range(n):
        data = payload
        at = rng.randrange(len(data))
        kind = rng.random()
        if kind < 0.4:  # a frame's text (or a member's start) inserted somewhere
            mark = rng.choice(marks)
            start = data.find(mark)
            piece = data[start : start + rng.randint(len(mark), 80)]
            data = data[:at] + piece + data[at:]
        elif kind < 0.7:  # a stretch cut out
            data = data[:at] + data[at + rng.randint(1, 60) :]
        else:  # two stretches swapped
            a, b = sorted(rng.sample(range(len(data)), 2))
            width = min(rng.randint(1, 40), b - a)
            data = (
                data[:a] + data[b : b + width] + data[a + width : b] + data[a : a + width] + data[b + width :]
            )
        out.append(encode_envelope(sign_payload(data, PAYLOAD_TYPE_INTOTO, [key])))
    return out


RUNNING = Job(
    id="slurm-7", scheduler="slurm", phase="heartbeat", started_at=NOW, declared_training_ops=3.1e24
)


def _kept_job(fast: Verifier, node: Node) -> Any:
    """The job step 0 keeps for ``node``'s newest judged frame (its Varying, canonical text, subjects' text)."""
    assert fast._heartbeats is not None
    kept = fast._heartbeats.judged(node.key.key_id)
    return kept[0].last.kept if kept else None


def test_the_heartbeats_of_one_running_job_read_it_once_and_judge_as_in_full() -> None:
    """A job's text repeated byte for byte is read once (step 0 keeps it); every verdict is as in full."""
    node = trusted_node()
    fast, full = pair(node)
    results = same(fast, full, envelopes(node, chained(node, 8, job=RUNNING)))
    assert all(r.status is Status.AFFIRMING and r.job_id == "slurm-7" for r in results)
    assert hits(fast) == 6
    kept = _kept_job(fast, node)
    assert kept is not None and kept[0].job == RUNNING
    first = kept[0].job
    more = chained(node, 12, job=RUNNING)[8:]  # the chain goes on with the same job
    same(fast, full, envelopes(node, more))
    assert hits(fast) == 10
    assert _kept_job(fast, node)[0].job is first  # read once: the same object, not read again


def test_a_manifest_opened_from_a_kept_job_is_the_callers_own() -> None:
    """A caller that changes a job it was given (a model's list) changes no later heartbeat's manifest."""
    node = trusted_node()
    image = ImageRef(name="registry.example/train", digest="sha256:" + "ab" * 32)
    raw = envelopes(node, chained(node, 6, job=RUNNING.model_copy(update={"images": [image]})))
    fast, full = pair(node)
    for i, data in enumerate(raw):
        (a, ma), (b, mb) = fast.verify_and_open(data, now=LATER), full.verify_and_open(data, now=LATER)
        assert a.model_dump(mode="json") == b.model_dump(mode="json")
        assert ma is not None and mb is not None
        assert ma == mb and ma.job.images == [image], f"envelope {i}"
        ma.job.images.append(image)  # the caller's own to change
    assert hits(fast) == 4


def test_a_kept_job_counts_only_for_its_very_text() -> None:
    """Heartbeats after a kept job: another job, the same one respelled, forged subjects, byte changes."""
    node = trusted_node()
    ms = chained(node, 12, job=RUNNING)
    raw = envelopes(node, ms)
    fast, full = pair(node)
    same(fast, full, raw[:4])
    assert _kept_job(fast, node) is not None
    other = RUNNING.model_copy(update={"id": "slurm-8"})
    ended = RUNNING.model_copy(update={"phase": "end", "ended_at": NOW + timedelta(minutes=1)})
    switched: list[WorkloadManifest] = []
    for m, job in zip(ms[4:8], (other, RUNNING, ended, RUNNING), strict=True):
        previous = manifest_digest(switched[-1] if switched else ms[3])
        fr = m.freshness.model_copy(update={"previous": previous})
        switched.append(m.model_copy(update={"job": job, "freshness": fr}))
    results = same(fast, full, envelopes(node, switched))
    assert [r.job_id for r in results] == ["slurm-8", "slurm-7", "slurm-7", "slurm-7"]
    assert all(r.status is Status.AFFIRMING for r in results)
    assert hits(fast) == 6
    # Each after the same four heartbeats of the kept job, as their valid successor (its own nonce
    # and previous digest) but for one change: subjects that name another job, or the kept job's
    # values in another text (members in another order, a space). Only that change decides.
    statement = build_statement(ms[4]).to_obj()

    def signed(forged: dict[str, Any], spaced: bool = False) -> bytes:
        payload = json.dumps(forged, separators=(",", ":"), ensure_ascii=False).encode()
        if spaced:
            payload = payload.replace(b'"id":"slurm-7"', b'"id": "slurm-7"')
        return encode_envelope(sign_payload(payload, PAYLOAD_TYPE_INTOTO, [node.key]))

    forged_subjects = []
    for change in ("digest", "name", "twice"):
        forged = json.loads(json.dumps(statement))
        subject = forged["subject"][0]
        if change == "digest":
            subject["digest"]["sha256"] = "00" * 32
        elif change == "name":
            subject["name"] = "job/slurm-8"
        else:
            forged["subject"].append(dict(subject))
        forged_subjects.append(signed(forged))
    reordered = json.loads(json.dumps(statement))
    reordered["predicate"]["job"] = dict(reversed(list(reordered["predicate"]["job"].items())))
    respelled = [signed(reordered), signed(statement, spaced=True)]
    for envelope in forged_subjects + respelled:
        fast, full = pair(node)
        same(fast, full, raw[:4])
        assert _kept_job(fast, node) is not None
        result = same(fast, full, [envelope])[0]
        if envelope in forged_subjects:
            assert result.status is Status.CONTRAINDICATED
            assert [f.rule for f in result.findings if f.severity.value != "info"] == [
                "statement.subject_mismatch"
            ], result.findings
        else:  # the same job, another valid text: read anew, and it holds
            assert result.status is Status.AFFIRMING, result.findings
    # One byte changed anywhere in a heartbeat of the kept job, each after the same four.
    rng = random.Random(712)
    statuses = set()
    for mutant in _mutations(raw[4], node.key, rng, 80):
        fast, full = pair(node)
        same(fast, full, raw[:4])
        statuses.add(same(fast, full, [mutant])[0].status)
        assert fast._heartbeats is not None and fast._heartbeats.failures == 0
    assert Status.CONTRAINDICATED in statuses and Status.AFFIRMING in statuses


def test_text_moved_cut_or_swapped_in_a_signed_heartbeat_is_judged_as_in_full() -> None:
    node = trusted_node()
    raw = envelopes(node, chained(node, 4))
    rng = random.Random(1206)
    statuses = []
    for mutant in _splices(raw[3], node.key, rng, 200):
        fast, full = pair(node)
        same(fast, full, raw[:3])
        statuses.append(same(fast, full, [mutant])[0].status)
        assert fast._heartbeats is not None and fast._heartbeats.failures == 0
    assert statuses.count(Status.CONTRAINDICATED) > 150  # almost every splice breaks the statement


def test_a_heartbeat_whose_members_hold_the_frame_text_is_judged_as_in_full() -> None:
    """A job or subject carrying the text that follows it in the frame, as a member of its own."""
    node = trusted_node()
    ms = chained(node, 4)
    raw = envelopes(node, ms)
    statement = build_statement(ms[3]).to_obj()
    decoys = []
    for where, extra in (
        ("job", {"tenant": statement["predicate"]["tenant"]}),
        ("job", {"freshness": statement["predicate"]["freshness"]}),
        ("subject", {"predicateType": statement["predicateType"]}),
    ):
        forged = json.loads(json.dumps(statement))
        if where == "job":
            forged["predicate"]["job"].update(extra)
        else:
            forged["subject"][0].update(extra)
        payload = json.dumps(forged, separators=(",", ":"), ensure_ascii=False).encode()
        decoys.append(encode_envelope(sign_payload(payload, PAYLOAD_TYPE_INTOTO, [node.key])))
    fast, full = pair(node)
    same(fast, full, raw[:3])
    for result in same(fast, full, decoys):
        assert result.status is Status.CONTRAINDICATED
        assert any(f.rule == "statement.malformed" for f in result.findings), result.findings
    assert hits(fast) == 1  # the third heartbeat; no decoy


def test_the_manifest_step_0_read_is_the_one_the_full_path_reads() -> None:
    node = trusted_node()
    raw = envelopes(node, chained(node, 5))
    fast, full = pair(node)
    for i, data in enumerate(raw):
        (a, ma), (b, mb) = fast.verify_and_open(data, now=LATER), full.verify_and_open(data, now=LATER)
        assert a.model_dump(mode="json") == b.model_dump(mode="json")
        assert ma is not None and mb is not None
        assert ma == mb and ma.model_fields_set == mb.model_fields_set, f"envelope {i}"
        assert manifest_digest(ma) == manifest_digest(mb)
    assert hits(fast) == 3


def test_heartbeats_with_a_sqlite_state_as_in_full(tmp_path: Any) -> None:
    """The general replay and chain steps (not the in-memory store's common case) after step 0."""
    from attest.replay import SqliteVerifierState

    node = trusted_node()
    ms = chained(node, 6)
    raw = envelopes(node, ms)
    replay = node.envelope(
        ms[4].model_copy(update={"job": Job(id="again", scheduler="slurm", phase="start")})
    )
    states = [SqliteVerifierState(tmp_path / f"{name}.sqlite") for name in ("fast", "full")]
    fast, full = (Verifier(node.trust, policy=US_EAR, nonces=s, chains=s, devices=s) for s in states)
    full._heartbeats = None
    results = same(fast, full, [*raw, replay, raw[5], raw[2]])
    assert any(f.rule == "freshness.nonce_reused" for f in results[6].findings)
    assert hits(fast) >= 4


def test_signatures_checked_ahead_on_threads_give_the_same_results() -> None:
    """verify_many with signature checks ahead on threads, and without: the same results, forged ones included."""
    node, other = trusted_node(), trusted_node()
    ms = chained(node, 150, step=timedelta(seconds=1))
    raw = envelopes(node, ms)
    forged = bytearray(raw[40])
    at = forged.index(b'"sig":"') + 12
    forged[at] = ord("A") if forged[at] != ord("A") else ord("B")  # a signature that does not verify
    replay = node.envelope(
        ms[7].model_copy(update={"job": Job(id="again", scheduler="slurm", phase="start")})
    )
    stranger = other.envelope(other.manifest())  # a key the trust store does not hold
    fork = node.envelope(ms[90].model_copy(update={"job": Job(id="fork", scheduler="slurm", phase="start")}))
    items = [(f"e{i}", r) for i, r in enumerate([*raw, bytes(forged), replay, stranger, fork])]
    random.Random(5).shuffle(items)
    outcomes = []
    for threads in (0, 1, 3):
        verifier = Verifier(node.trust, policy=US_EAR)
        outcomes.append(
            [r.model_dump(mode="json") for r in verifier.verify_many(items, now=LATER, threads=threads)]
        )
        assert hits(verifier) > 100
    assert outcomes[0] == outcomes[1] == outcomes[2]
    rules = {f["rule"] for r in outcomes[0] for f in r["findings"]}
    assert {"signature.invalid", "signature.unknown_key", "freshness.nonce_reused", "chain.fork"} <= rules


@pytest.mark.parametrize("step_0", [True, False])
def test_a_check_made_ahead_counts_only_for_the_very_bytes_it_read(step_0: bool) -> None:
    from attest.crypto.dsse import pae, split_one_signature
    from attest.verify import _Ahead

    node = trusted_node()
    raw = envelopes(node, chained(node, 3, step=timedelta(seconds=1)))
    forged = bytearray(raw[2])
    at = forged.index(b'"sig":"') + 12
    forged[at] = ord("A") if forged[at] != ord("A") else ord("B")
    target = bytes(forged)
    good, bad = split_one_signature(raw[1]), split_one_signature(target)
    assert good is not None and bad is not None
    key = node.trust.get(node.key.public.key_id)
    assert key is not None
    lookalike = VerifyingKey.from_pem(node.key.public.to_pem())  # the same key id, another object
    message = pae(PAYLOAD_TYPE_INTOTO, bad[3])
    lies = [
        _Ahead(raw[1], good, pae(PAYLOAD_TYPE_INTOTO, good[3]), True, key.key),  # another envelope's check
        _Ahead(bytes(bytearray(target)), bad, message, True, key.key),  # equal bytes, another object
        _Ahead(target, bad, message, True, lookalike),  # checked with a key the store does not hold now
    ]
    for lie in lies:
        verifier = Verifier(node.trust, policy=US_EAR)
        if not step_0:
            verifier._heartbeats = None
        for data in raw[:2]:
            verifier.verify(data, now=LATER)
        run = verifier._run(target, now=LATER, source=None, ahead=lie)
        assert any(f.rule == "signature.invalid" for f in run.findings)
        assert run.result().status is Status.CONTRAINDICATED


def test_buffers_oversize_and_revoked_envelopes_are_not_checked_ahead() -> None:
    from attest.verify import _check_ahead

    node = trusted_node()
    (data,) = envelopes(node, chained(node, 1))
    assert _check_ahead(node.trust, data, 1 << 20) is not None
    assert (
        _check_ahead(node.trust, bytearray(data), 1 << 20) is None
    )  # a buffer may change before it is judged
    assert _check_ahead(node.trust, data, len(data) - 1) is None  # oversize: never read
    revoked = node.trust.with_revoked(node.key.public.key_id)
    assert _check_ahead(revoked, data, 1 << 20) is None


def test_a_buffer_changed_during_a_batch_is_judged_as_it_is_then() -> None:
    """A caller's bytearray rewritten while the batch runs: judged on what it holds when judged, threads or not."""
    node = trusted_node()
    raw = envelopes(node, chained(node, 80, step=timedelta(seconds=1)))
    forged = bytearray(raw[60])
    at = forged.index(b'"sig":"') + 12
    forged[at] = ord("A") if forged[at] != ord("A") else ord("B")

    class Rewriting(list):  # type: ignore[type-arg]
        seen = 0
        judged_at = 0  # which read of item 59 is the judging's: to order, (to check ahead,) to judge

        def __getitem__(self, i: Any) -> Any:
            item = super().__getitem__(i)
            if isinstance(i, int) and i == 59:
                self.seen += 1
                if self.seen == self.judged_at:
                    buffer = super().__getitem__(60)[1]
                    buffer[:] = forged  # the caller's I/O refills envelope 60's buffer meanwhile
            return item

    outcomes = []
    for threads in (0, 1):
        items = Rewriting((f"e{i}", bytearray(r)) for i, r in enumerate(raw))
        items.judged_at = 3 if threads else 2
        verifier = Verifier(node.trust, policy=US_EAR)
        outcomes.append([r.status for r in verifier.verify_many(items, now=LATER, threads=threads)])
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][59] is Status.AFFIRMING and outcomes[0][60] is Status.CONTRAINDICATED


@pytest.mark.parametrize("threads", [-1, 1.5, "2", True])
def test_threads_must_be_a_whole_number(threads: Any) -> None:
    from attest.errors import InputError

    node = trusted_node()
    with pytest.raises(InputError, match="threads"):
        Verifier(node.trust).verify_many([("e", node.envelope(node.manifest()))], now=LATER, threads=threads)
