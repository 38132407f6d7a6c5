"""The Verifier object: one holder of every trust anchor, strict defaults, anchors in each result."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from attest.audit import audit
from attest.hardware.catalog import Catalog, bundled_catalog
from attest.model.manifest import WorkloadManifest
from attest.model.result import Finding, Severity, Status
from attest.policy import load_policy
from attest.policy.engine import Facts
from attest.replay import MemoryChainStore, MemoryNonceStore
from attest.verify import Verifier, VerifyOptions, verify_envelope
from tests.conftest import NOW, OPERATOR, CliRunner, Node, trusted_node

LATER = NOW + timedelta(minutes=1)


def rules(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [f.rule for f in result.findings]


def test_defaults_are_the_clis(node: Node) -> None:
    """Built with only a trust store: the us-ear policy and stores in memory, as attest verify."""
    verifier = Verifier(node.trust)
    manifest = node.manifest()
    raw = node.envelope(manifest)
    first = verifier.verify(raw, now=LATER)
    assert first.status is Status.AFFIRMING, first.findings
    assert "policy.not_evaluated" not in rules(first)
    assert any(r.startswith("policy.") for r in rules(first))  # the policy's own verdicts
    assert first.trust_vector.policy is Status.AFFIRMING
    again = verifier.verify(raw, now=LATER)  # the same manifest again: seen before, as with --state
    assert again.status is Status.AFFIRMING and "freshness.seen_before" in rules(again)
    # Another payload reusing its nonce: a replay, remembered in memory.
    other = node.manifest(
        job={"id": "x", "scheduler": "slurm", "phase": "start"}, freshness=manifest.freshness.to_obj()
    )
    replay = verifier.verify(node.envelope(other), now=LATER)
    assert replay.status is Status.CONTRAINDICATED and "freshness.nonce_reused" in rules(replay)


def test_default_state_keeps_a_manifests_first_chain_verdict(node: Node) -> None:
    """One state in memory for replay and chain: the first manifest again, after a newer one, is itself."""
    verifier = Verifier(node.trust, policy=None)
    a, b = node.manifest(chain=True), node.manifest(chain=True, now=NOW + timedelta(seconds=1))
    raws = [node.envelope(a), node.envelope(b)]
    results = [verifier.verify(raw, now=LATER) for raw in [*raws, raws[0]]]
    assert [r.status for r in results] == [Status.AFFIRMING] * 3, [rules(r) for r in results]
    assert "freshness.seen_before" in rules(results[2]) and "chain.sequence_rollback" not in rules(results[2])
    assert verifier.nonces is verifier.chains is verifier.devices


def test_function_without_stores_says_what_it_did_not_check(node: Node) -> None:
    r = verify_envelope(node.envelope(), node.trust, now=LATER)
    assert r.status is Status.AFFIRMING
    info = {f.rule for f in r.findings if f.severity is Severity.INFO}
    assert {"freshness.replay_not_checked", "chain.not_checked", "policy.not_evaluated"} <= info
    with_stores = verify_envelope(
        node.envelope(), node.trust, now=LATER, nonces=MemoryNonceStore(), chains=MemoryChainStore()
    )
    assert not {"freshness.replay_not_checked", "chain.not_checked"} & set(rules(with_stores))
    # The Verifier told to skip says so too.
    skipped = Verifier(node.trust, policy=None, nonces=None, chains=None).verify(node.envelope(), now=LATER)
    assert {"freshness.replay_not_checked", "chain.not_checked", "policy.not_evaluated"} <= set(
        rules(skipped)
    )


def test_each_result_names_its_anchors(node: Node) -> None:
    policy = load_policy("us-ear")
    r = Verifier(node.trust, policy=policy).verify(node.envelope(), now=LATER)
    assert r.anchors is not None
    assert r.anchors.policy == f"us-ear@{policy.version}"
    catalog = bundled_catalog()
    assert r.anchors.catalog == catalog.anchor and r.anchors.catalog.startswith(
        catalog.document.date + " sha256:"
    )
    assert r.anchors.cc_root_sha256 is None and r.anchors.landmark_registry is None
    none = Verifier(node.trust, policy=None).verify(node.envelope(), now=LATER)
    assert none.anchors is not None and none.anchors.policy is None
    # With a vendor root configured, its pinned fingerprint is named.
    rooted = Verifier(node.trust, options=VerifyOptions(cc_root=b"-", cc_root_sha256="ab" * 32))
    assert rooted.anchors.cc_root_sha256 == "ab" * 32
    # Another catalog: another anchor.
    other = Catalog(catalog.document.model_copy(update={"date": "2099-01-01"}))
    assert Verifier(node.trust, catalog=other).anchors.catalog.startswith("custom:2099-01-01 sha256:")


def _prohibiting(chip_prefix: str) -> Catalog:
    """The bundled catalog with the chips whose id starts with ``chip_prefix`` marked prohibited."""
    doc = bundled_catalog().document
    chips = [
        c.model_copy(update={"prohibited_guidance": "bis-2025-05"}) if c.id.startswith(chip_prefix) else c
        for c in doc.chips
    ]
    return Catalog(doc.model_copy(update={"chips": chips}))


def test_the_catalog_given_reaches_the_policy_rules(node: Node) -> None:
    """A catalog that prohibits the H100 makes the prohibited-hardware rule fire (the bundled one does not)."""
    policy = load_policy("us-ear")
    bundled = Verifier(node.trust, policy=policy).verify(node.envelope(), now=LATER)
    assert "policy.prohibited_hardware" not in [
        f.rule for f in bundled.findings if f.severity is not Severity.INFO
    ]
    custom = Verifier(node.trust, policy=policy, catalog=_prohibiting("h100")).verify(
        node.envelope(), now=LATER
    )
    fired = [f for f in custom.findings if f.severity is not Severity.INFO]
    assert [f.rule for f in fired] == ["policy.prohibited_hardware"] * len(fired) and fired
    assert custom.status is Status.CONTRAINDICATED
    # The same through the function wrapper's catalog= and through the engine's Facts.
    wrapped = verify_envelope(
        node.envelope(), node.trust, now=LATER, policy=policy, catalog=_prohibiting("h100")
    )
    assert wrapped.status is Status.CONTRAINDICATED


class _Rules:
    def evaluate(self, manifest: WorkloadManifest, *, now: datetime, facts: Facts) -> Sequence[Finding]:
        return []


def test_an_evaluate_only_object_is_still_a_policy(node: Node) -> None:
    r = verify_envelope(node.envelope(), node.trust, now=LATER, policy=_Rules())
    assert r.status is Status.AFFIRMING and r.trust_vector.policy is Status.AFFIRMING
    assert r.anchors is not None and r.anchors.policy == "custom:_Rules@"  # its name is its own word


def test_verify_many_orders_chains_and_shares_state() -> None:
    node = trusted_node()
    raws = [node.envelope(node.manifest(now=NOW + timedelta(minutes=i), chain=True)) for i in range(3)]
    verifier = Verifier(node.trust, policy=None)
    results = verifier.verify_many(
        [(f"m{i}", r) for i, r in reversed(list(enumerate(raws)))], now=LATER + timedelta(minutes=3)
    )
    assert [r.status for r in results] == [Status.AFFIRMING] * 3, [r.findings for r in results]
    # The batch's state is the verifier's: one of it again is seen before, a new manifest going back is a rollback.
    again = verifier.verify(raws[1], now=LATER + timedelta(minutes=3))
    assert again.status is Status.AFFIRMING and "freshness.seen_before" in rules(again), rules(again)
    back = verifier.verify(
        node.envelope(node.manifest(now=NOW + timedelta(minutes=4))), now=LATER + timedelta(minutes=3)
    )
    assert "chain.sequence_rollback" in rules(back)


def test_audit_takes_a_policy_object() -> None:
    node = trusted_node()
    items = [
        (f"m{i}.json", node.envelope(node.manifest(now=NOW + timedelta(minutes=i), chain=True)))
        for i in range(3)
    ]
    at = NOW + timedelta(hours=1)
    by_name = audit(items, node.trust, now=at, policy="us-ear")
    by_object = audit(items, node.trust, now=at, policy=load_policy("us-ear"))
    assert [r.to_obj() for r in by_object.results] == [r.to_obj() for r in by_name.results]
    assert all(
        r.anchors is not None and r.anchors.policy and r.anchors.policy.startswith("us-ear@")
        for r in by_object.results
    )
    custom = audit(items, node.trust, now=at, policy=_Rules())
    assert all(r.status is Status.AFFIRMING for r in custom.results)


def test_cli_result_names_its_anchors(workspace: Path, cli: CliRunner) -> None:
    from tests.conftest import make_envelope

    make_envelope(cli)
    out = cli("verify", "m.env.json", "--trust", "trust.json", "--format", "json", check_code=0)
    anchors = json.loads(out.stdout)["anchors"]
    assert anchors["policy"].startswith("us-ear@") and " sha256:" in anchors["catalog"]


def test_the_audit_workers_description_pickles_and_builds_the_same_verifier(node: Node) -> None:
    import pickle

    from attest.audit import VerifierSpec

    spec = VerifierSpec(node.trust, "us-ear", VerifyOptions(), LATER)
    back = pickle.loads(pickle.dumps(spec)).loaded()
    assert back.policy is not None and not isinstance(back.policy, str)
    verifier = back.verifier(MemoryNonceStore(), MemoryChainStore())
    here = Verifier(node.trust).verify(node.envelope(node.manifest()), now=LATER)
    there = verifier.verify(node.envelope(node.manifest()), now=LATER)
    assert there.status is here.status is Status.AFFIRMING and there.anchors == here.anchors
    assert verifier.devices is None  # the audit checks GPUs across nodes in its fleet analytics


def test_the_landmark_registry_is_named_by_its_digest(node: Node) -> None:
    from attest.crypto.canonical import json_digest
    from attest.crypto.keys import SigningKey
    from attest.model.location import Landmark, LandmarkRegistry

    def registry(lat: float) -> LandmarkRegistry:
        key = SigningKey.generate().public.spki_b64()
        return LandmarkRegistry(
            landmarks=[Landmark(id="a", latitude=lat, longitude=103.6, public_key=key, operator="A")]
        )

    one, two = registry(1.6), registry(1.7)
    a = Verifier(node.trust, options=VerifyOptions(landmarks=one)).verify(node.envelope(), now=LATER).anchors
    b = Verifier(node.trust, options=VerifyOptions(landmarks=two)).anchors
    assert a is not None and a.landmark_registry == json_digest(one.to_obj())
    assert b.landmark_registry == json_digest(two.to_obj()) != a.landmark_registry


def test_a_bound_manifest_without_a_device_store_says_the_two_node_check_was_not_made(tmp_path: Path) -> None:
    from attest.hardware.simulated_cc import SimulatedCcBackend
    from attest.replay import MemoryDeviceStore
    from tests.hardware.test_binding import bound_manifest, options

    vendor = SimulatedCcBackend(tmp_path / "vendor")
    node = trusted_node()
    raw = node.envelope(bound_manifest(node, vendor))
    bare = verify_envelope(raw, node.trust, now=LATER, options=options(vendor))
    assert bare.location_grade == "hardware-bound", bare.findings
    assert "hardware.devices_not_checked" in rules(bare)
    checked = verify_envelope(
        raw, node.trust, now=LATER, options=options(vendor), devices=MemoryDeviceStore()
    )
    assert checked.location_grade == "hardware-bound" and "hardware.devices_not_checked" not in rules(checked)
    # The Verifier's default keeps a device store, and names the root it checked against.
    verifier = Verifier(node.trust, options=options(vendor))
    default = verifier.verify(raw, now=LATER)
    assert "hardware.devices_not_checked" not in rules(default)
    assert default.anchors is not None and default.anchors.cc_root_sha256 == vendor.root_sha256


def test_anchors_follow_the_verifiers_current_policy_and_catalog(node: Node) -> None:
    """The anchors are those of the attributes in use now, not of the first verification's."""
    verifier = Verifier(node.trust)
    assert (verifier.verify(node.envelope(), now=LATER).anchors.policy or "").startswith("us-ear@")
    verifier.policy = None
    assert verifier.verify(node.envelope(), now=LATER).anchors.policy is None
    verifier.catalog = _prohibiting("h100")
    assert verifier.verify(node.envelope(), now=LATER).anchors.catalog == "custom:" + verifier.catalog.anchor


def test_a_policy_object_naming_itself_like_the_bundled_one_is_anchored_as_custom(node: Node) -> None:
    """An evaluator that says it is us-ear at the bundled version but evaluates nothing is not us-ear."""
    bundled = load_policy("us-ear")

    class Lax:
        """The bundled policy in every respect but one: it evaluates nothing."""

        def __getattr__(self, name: str) -> object:
            return getattr(bundled, name)

        def evaluate(self, manifest: object, facts: object, **kw: object) -> list[Finding]:
            return []

    lax = Verifier(node.trust, policy=Lax()).verify(node.envelope(), now=LATER)  # type: ignore[arg-type]
    real = Verifier(node.trust, policy=bundled).verify(node.envelope(), now=LATER)
    assert real.anchors.policy == f"{bundled.id}@{bundled.version}"
    assert lax.anchors.policy == f"custom:{bundled.id}@{bundled.version}" != real.anchors.policy


def test_policies_differing_only_in_a_screening_list_keep_their_own_verdicts(tmp_path: Path) -> None:
    """The same node's stream (members shared by the fast reader) judged alternately by two policies that
    differ only in one screening list: each verdict is that policy's own, never the other's kept one."""
    from attest.policy.screening import ListEntry, ScreeningList

    listed = ScreeningList(
        name="house-list",
        date="2026-11-01",
        entries=[
            ListEntry(
                id="h-1", list_id="entity-list", name="Example Robotics Inc.", country="US", countries=["US"]
            )
        ],
    )
    (tmp_path / "house.json").write_text(listed.to_json(indent=None))
    (tmp_path / "empty.json").write_text(listed.model_copy(update={"entries": []}).to_json(indent=None))
    policies = {}
    for name in ("house", "empty"):
        (tmp_path / f"{name}.toml").write_text(
            f'id = "{name}"\nversion = "1"\ntitle = "us-ear and one list"\neffective = 2023-11-17\n'
            'extends = ["us-ear"]\n\n[[rules]]\nid = "screening"\nkind = "screening"\n'
            f'lists = ["seed", "{tmp_path / (name + ".json")}"]\noverride = "our house list"\n'
        )
        policies[name] = load_policy(str(tmp_path / f"{name}.toml"))
    node = trusted_node()
    verifiers = {name: Verifier(node.trust, policy=p) for name, p in policies.items()}
    for i in range(3):
        raw = node.envelope(node.manifest(now=NOW + timedelta(minutes=i), chain=True))
        house = verifiers["house"].verify(raw, now=LATER + timedelta(minutes=i))
        empty = verifiers["empty"].verify(raw, now=LATER + timedelta(minutes=i))
        assert "policy.screening" in rules(house) and house.status is not Status.AFFIRMING
        assert empty.status is Status.AFFIRMING, rules(empty)
        assert (
            house.trust_vector.tenant is not Status.AFFIRMING
            and empty.trust_vector.tenant is Status.AFFIRMING
        )


def test_a_fork_branch_without_a_canonical_digest_refuses_only_its_fork(
    tmp_path: Path, cli: CliRunner
) -> None:
    """A node signs a second manifest of the same sequence with an integer beyond 2**53 (no canonical form).

    The batch judges every file: that branch is refused (malformed) and the fork it makes refuses its
    twin; another node's envelope is judged as usual (the batch once ended with no verdict at all).
    """
    import base64

    from attest.crypto.dsse import encode_envelope, sign_payload

    node, other = trusted_node(), trusted_node()
    raw = node.envelope(node.manifest())
    envelope = json.loads(raw)
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["predicate"]["gpus"][1]["memory_total_mib"] = 2**53
    payload = json.dumps(statement, separators=(",", ":")).encode()
    twin = encode_envelope(sign_payload(payload, envelope["payloadType"], [node.key]))
    elsewhere = other.envelope(other.manifest())
    trust = node.trust.with_key(other.key.public, operator=OPERATOR.name, sites=["jhb-2"], countries=["MY"])

    results = Verifier(trust).verify_many(
        [("a", raw), ("twin", twin), ("b", elsewhere)], now=NOW + timedelta(minutes=1)
    )
    assert [r.status for r in results] == [Status.CONTRAINDICATED, Status.CONTRAINDICATED, Status.AFFIRMING]
    assert "chain.fork" in {f.rule for f in results[0].findings}
    assert "envelope.malformed" in {f.rule for f in results[1].findings}

    for name, data in (("a.json", raw), ("twin.json", twin), ("b.json", elsewhere)):
        (tmp_path / name).write_bytes(data)
    trust.save(tmp_path / "trust.json")
    (tmp_path / "batch").mkdir()
    for name in ("a.json", "twin.json", "b.json"):
        (tmp_path / "batch" / name).write_bytes((tmp_path / name).read_bytes())
    audited = cli(
        "audit",
        str(tmp_path / "batch"),
        "--trust",
        str(tmp_path / "trust.json"),
        "--now",
        (NOW + timedelta(minutes=1)).isoformat(),
        check_code=3,
    )  # the audit once stopped, exit 2
    assert "chain.fork" in audited.stdout and "envelope.malformed" in audited.stdout
    out = cli(
        "verify",
        str(tmp_path / "a.json"),
        str(tmp_path / "twin.json"),
        str(tmp_path / "b.json"),
        "--trust",
        str(tmp_path / "trust.json"),
        "--format",
        "json",
        "--now",
        (NOW + timedelta(minutes=1)).isoformat(),
    )
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    assert [line["status"] for line in lines] == ["contraindicated", "contraindicated", "affirming"], (
        out.stderr
    )


def test_a_knob_of_the_wrong_kind_is_refused_at_once() -> None:
    """A 0 for a flag or a float for a size once judged as pure Python and raised compiled: refused alike now."""
    import pytest

    from attest.errors import InputError

    for bad in (
        {"require_canonical": 0},
        {"require_canonical": None},
        {"as_of_issue": "yes"},
        {"max_bytes": 1e6},
        {"max_bytes": float("nan")},
        {"max_bytes": True},
        {"max_bytes": 0},
        {"clock_skew": 60},
        {"max_validity": timedelta(seconds=-1)},
        {"cc_root": "-----BEGIN"},
    ):
        with pytest.raises(InputError, match="VerifyOptions"):
            VerifyOptions(**bad)


def test_batch_items_and_labels_of_the_wrong_kind_are_type_errors(node: Node) -> None:
    import pytest

    raw = node.envelope(node.manifest())
    verifier = Verifier(node.trust)
    assert [r.status for r in verifier.verify_many([["a", raw]], now=NOW + timedelta(minutes=1))] == [
        Status.AFFIRMING
    ]
    for items in ([("a", raw, "extra")], [(3, raw)], ["a"], [("a", "not bytes")]):
        with pytest.raises(TypeError):
            Verifier(node.trust).verify_many(items, now=NOW + timedelta(minutes=1))  # type: ignore[arg-type]
    for source in (3, b"x"):
        with pytest.raises(TypeError):
            verifier.verify(raw, now=NOW + timedelta(minutes=1), source=source)  # type: ignore[arg-type]
