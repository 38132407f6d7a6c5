"""The admission API: one reason per refusal, warnings kept, policy applied to the requesting tenant."""

from __future__ import annotations

from datetime import timedelta

import pytest

from attest.crypto.trust import TrustStore
from attest.model.manifest import Tenant
from attest.policy.engine import load_policy
from attest.scheduler.admission import JobRequest, NodeEvidence, admit
from attest.scheduler.evidence import load_evidence
from attest.verify import verify_and_open
from tests.conftest import NOW, Node, trusted_node

US = Tenant.from_obj({"legal_name": "Example Robotics Inc.", "headquarters_country": "US"})
CN_PARENT = Tenant.from_obj(
    {"legal_name": "Blue Lotus AI Pte. Ltd.", "headquarters_country": "SG",
     "ultimate_parent": {"legal_name": "Blue Lotus Technology Co., Ltd.", "headquarters_country": "CN"}}
)


def evidence_of(node: Node, **changes: object) -> NodeEvidence:
    result, manifest = verify_and_open(node.envelope(node.manifest(**changes)), node.trust, now=NOW + timedelta(minutes=1))
    assert manifest is not None
    return NodeEvidence(result, manifest)


@pytest.fixture
def fleet() -> dict[str, NodeEvidence]:
    node = trusted_node()
    return {"gpu-a17": evidence_of(node)}


def test_allowed_for_a_us_tenant(fleet: dict[str, NodeEvidence]) -> None:
    d = admit(JobRequest(US, gpu_count=8, gpu_type="H100"), fleet, policy=load_policy("us-ear"), now=NOW + timedelta(minutes=2))
    assert d.allowed and d.allowed_nodes == ["gpu-a17"] and d.message() == "allowed on gpu-a17"
    v = d.verdicts[0]
    assert v.reason == "ok" and v.site_country == "MY" and v.location_grade == "declared"


@pytest.mark.parametrize(
    ("request_", "now_offset", "reason", "text"),
    [
        (JobRequest(US, nodes=["gpu-zz"]), 2, "no-evidence", "no verified evidence"),
        (JobRequest(US), 60, "stale", "older than 900 s"),
        (JobRequest(US, gpu_count=9), 2, "gpus", "has 8 GPUs, the job needs 9"),
        (JobRequest(US, gpu_type="B200"), 2, "gpus", "has 0 B200 GPUs"),
        (JobRequest(CN_PARENT), 2, "policy", "policy.headquarters"),
    ],
)
def test_each_refusal_has_its_reason(fleet: dict[str, NodeEvidence], request_: JobRequest, now_offset: int, reason: str, text: str) -> None:
    d = admit(request_, fleet, policy=load_policy("us-ear"), now=NOW + timedelta(minutes=now_offset))
    assert not d.allowed
    assert d.verdicts[0].reason == reason and text in d.verdicts[0].message, d.verdicts[0]
    assert d.message().startswith("refused: ")


def test_failed_evidence_is_not_stale_evidence() -> None:
    node = trusted_node()
    other = trusted_node()
    forged = node.envelope(node.manifest(), key=other.key)  # signed by a key the auditor does not trust
    evidence = load_evidence([("forged.json", forged)], node.trust, now=NOW + timedelta(minutes=1))
    assert evidence == {}  # nothing authenticated: says nothing about the node
    # Authenticated but contraindicated (a key used outside its site scope): kept, and refused with the reason.
    scoped = trusted_node(sites=["sin-1"])
    evidence = load_evidence([("m.json", scoped.envelope())], scoped.trust, now=NOW + timedelta(minutes=1))
    d = admit(JobRequest(US), evidence, policy=None, now=NOW + timedelta(minutes=2))
    assert d.verdicts[0].reason == "evidence-failed" and "trust.scope_site" in d.verdicts[0].message


def test_newest_evidence_per_node_wins() -> None:
    node = trusted_node()
    first = node.manifest(chain=True)
    second = node.manifest(chain=True, now=NOW + timedelta(minutes=5))
    items = [("b.json", node.envelope(second)), ("a.json", node.envelope(first))]
    evidence = load_evidence(items, node.trust, now=NOW + timedelta(minutes=6))
    assert evidence["gpu-a17"].manifest.freshness.sequence == 1


def test_no_policy_allows_with_a_note(fleet: dict[str, NodeEvidence]) -> None:
    d = admit(JobRequest(CN_PARENT), fleet, policy=None, now=NOW + timedelta(minutes=2))
    assert d.allowed and "no policy applied" in d.verdicts[0].message
    with pytest.raises(ValueError, match="gpu_count"):
        admit(JobRequest(US, gpu_count=-1), fleet, policy=None, now=NOW)


def test_a_job_on_several_nodes_needs_every_one(fleet: dict[str, NodeEvidence]) -> None:
    """An allocation runs on all its nodes: one attested node does not carry the others."""
    later = NOW + timedelta(minutes=2)
    policy = load_policy("us-ear")
    candidates = admit(JobRequest(US, nodes=["gpu-zz", "gpu-a17"]), fleet, policy=policy, now=later)
    assert candidates.allowed and candidates.allowed_nodes == ["gpu-a17"]  # candidates: place it on gpu-a17
    allocation = admit(JobRequest(US, nodes=["gpu-zz", "gpu-a17"], every_node=True), fleet, policy=policy, now=later)
    assert not allocation.allowed and allocation.allowed_nodes == ["gpu-a17"]
    assert allocation.message() == (
        "refused: 1 of its 2 nodes may not run it, and it needs all of them: gpu-zz: no verified evidence about this node"
    )
    assert admit(JobRequest(US, nodes=["gpu-a17", "gpu-a17"], every_node=True), fleet, policy=policy, now=later).allowed
    with pytest.raises(ValueError, match="every_node needs the job's nodes"):
        admit(JobRequest(US, every_node=True), fleet, policy=policy, now=later)


def test_two_node_keys_naming_one_host() -> None:
    """A host name is a claim: a second key for a host needs the operator's decision; a named key's rivals are ignored."""
    from attest.crypto.keys import SigningKey

    old_key, new_key, other_key = SigningKey.generate(), SigningKey.generate(), SigningKey.generate()
    trust = TrustStore()
    for k in (old_key, new_key, other_key):
        trust = trust.with_key(k.public, operator="Example Cloud Sdn. Bhd.", sites=["jhb-2"], countries=["MY"])
    old, new, other = (Node(key=k, trust=trust, host="gpu-a17") for k in (old_key, new_key, other_key))
    # The old key signed many manifests (high sequence numbers) an hour before the rotation.
    envelopes = [(f"old-{i}", old.envelope(old.manifest(now=NOW - timedelta(minutes=60 - i), chain=True))) for i in range(5)]
    envelopes.append(("new-0", new.envelope(new.manifest(now=NOW, chain=True))))
    later = NOW + timedelta(minutes=2)
    policy = load_policy("us-ear")
    # Nobody decided which key is gpu-a17's: a rotation and a theft look the same. Refused.
    d = admit(JobRequest(US, nodes=["gpu-a17"]), load_evidence(envelopes, trust, now=later), policy=policy, now=later)
    assert not d.allowed and d.verdicts[0].reason == "key-conflict" and "none is named or pinned" in d.verdicts[0].message
    # The operator names the new key for the host (attest trust add new.pub --host gpu-a17).
    trust = trust.with_key(new_key.public, operator="Example Cloud Sdn. Bhd.", sites=["jhb-2"], countries=["MY"], hosts=["gpu-a17"], replace=True)
    evidence = load_evidence(envelopes, trust, now=later)
    ev = evidence["gpu-a17"]
    assert ev.result.key_id == new_key.key_id and ev.manifest.freshness.sequence == 0
    assert [k for k, _ in ev.ignored_keys] == [old_key.key_id]
    assert admit(JobRequest(US, nodes=["gpu-a17"]), evidence, policy=policy, now=later).allowed
    # Another trusted key signs a fresh manifest naming the same host: ignored, with a warning.
    envelopes.append(("other-0", other.envelope(other.manifest(now=NOW + timedelta(minutes=1), chain=True))))
    evidence = load_evidence(envelopes, trust, now=later)
    d = admit(JobRequest(US, nodes=["gpu-a17"]), evidence, policy=policy, now=later)
    assert d.allowed and evidence["gpu-a17"].result.key_id == new_key.key_id
    assert any(other_key.key_id[:16] in w and "names key" in w for w in d.verdicts[0].warnings)
    # Two keys both named for the host, both fresh: one of them is not this node.
    trust = trust.with_key(other_key.public, operator="Example Cloud Sdn. Bhd.", sites=["jhb-2"], countries=["MY"], hosts=["gpu-a17"], replace=True)
    d = admit(JobRequest(US, nodes=["gpu-a17"]), load_evidence(envelopes, trust, now=later), policy=policy, now=later)
    assert not d.allowed and d.verdicts[0].reason == "key-conflict"
    assert f"{other_key.key_id[:16]}… and {new_key.key_id[:16]}…" in d.verdicts[0].message
