"""The newest-evidence directory: one file per node key, replaced only by authenticated, newer, unbroken evidence."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from attest.errors import InputError
from attest.replay import MemoryChainStore, MemoryNonceStore
from attest.scheduler.evidence import HostPins, NewestEvidence, load_evidence, read_envelopes
from attest.verify import chain_order_key, verify_and_open
from tests.conftest import NOW, OPERATOR, Node, trusted_node

LATER = NOW + timedelta(minutes=1)


class Collecting:
    """What the collector does per envelope: verify with its replay and chain state, then offer."""

    def __init__(self, directory: Path, node: Node) -> None:
        self.newest = NewestEvidence(directory)
        self.trust = node.trust
        self.nonces, self.chains = MemoryNonceStore(), MemoryChainStore()

    def offer(self, raw: bytes) -> bool:
        result, manifest = verify_and_open(raw, self.trust, now=LATER, nonces=self.nonces, chains=self.chains)
        return self.newest.offer(raw, result, manifest)


def held(directory: Path) -> dict[str, int]:
    return {p.name: chain_order_key(p.read_bytes())[1] for p in directory.glob("*.envelope.json")}


def test_each_node_key_keeps_its_newest_envelope(tmp_path: Path) -> None:
    node, other = trusted_node(), trusted_node()
    other.host = "gpu-b"
    node.trust = node.trust.with_key(other.key.public, operator=OPERATOR.name, sites=["jhb-2"], countries=["MY"])
    chain = [node.envelope(node.manifest(chain=True)) for _ in range(4)]
    view = Collecting(tmp_path / "ev", node)
    assert [view.offer(raw) for raw in chain[:2]] == [True, True]
    assert view.offer(other.envelope(other.manifest(chain=True))) is True
    assert held(tmp_path / "ev") == {f"{node.key.key_id}.envelope.json": 1, f"{other.key.key_id}.envelope.json": 0}
    assert [view.offer(raw) for raw in chain[2:]] == [True, True]
    assert (tmp_path / "ev" / f"{node.key.key_id}.envelope.json").read_bytes() == chain[3]
    assert [p.name for p in (tmp_path / "ev").iterdir() if p.name.startswith(".")] == [".lock"]  # no temporary file left

    # admission reads one file per node, and sees what the whole history would have given
    whole = load_evidence([(str(i), raw) for i, raw in enumerate(chain)], node.trust, now=LATER)
    newest = load_evidence(read_envelopes(tmp_path / "ev"), node.trust, now=LATER)
    assert sorted(newest) == ["gpu-a17", "gpu-b"]
    assert newest["gpu-a17"].manifest == whole["gpu-a17"].manifest
    assert newest["gpu-a17"].result.status == whole["gpu-a17"].result.status


def test_what_may_not_become_a_nodes_evidence(tmp_path: Path) -> None:
    node = trusted_node()
    first, second = (node.envelope(node.manifest(chain=True)) for _ in range(2))
    view = Collecting(tmp_path / "ev", node)
    assert view.offer(second) is True
    kept = (tmp_path / "ev" / f"{node.key.key_id}.envelope.json").read_bytes()

    # an older one (the chain heads back: a rollback), a stranger's, a forgery, a signature that fails
    stranger = trusted_node()
    env = json.loads(second)
    sig = env["signatures"][0]["sig"]
    env["signatures"][0]["sig"] = ("A" if sig[0] != "A" else "B") + sig[1:]
    broken = (json.dumps(env, sort_keys=True, separators=(",", ":")) + "\n").encode()
    forged = node.envelope(node.manifest(chain=False, freshness={**node.manifest().freshness.to_obj(), "sequence": 9,
                                                                        "previous": "sha256:" + "1" * 64}),
                           key=stranger.key)
    # a trusted key that is not the node's, signing a manifest that names the node's key
    voucher = trusted_node()
    view.trust = node.trust.with_key(voucher.key.public, operator=OPERATOR.name, sites=["jhb-2"], countries=["MY"])
    vouched = node.envelope(node.manifest(freshness={**node.manifest().freshness.to_obj(), "sequence": 7,
                                                     "previous": "sha256:" + "2" * 64}), key=voucher.key)
    assert verify_and_open(vouched, view.trust, now=LATER)[1] is not None  # authenticated, by the wrong key
    for raw in (first, stranger.envelope(), broken, forged, vouched):
        assert view.offer(raw) is False
    # a newer sequence number whose `previous` does not chain onto the held one (a fork)
    m = node.manifest()
    fork = node.envelope(node.manifest(freshness={**m.freshness.to_obj(), "sequence": 2, "previous": "sha256:" + "0" * 64}))
    assert view.offer(fork) is False
    assert held(tmp_path / "ev") == {f"{node.key.key_id}.envelope.json": 1}
    assert (tmp_path / "ev" / f"{node.key.key_id}.envelope.json").read_bytes() == kept


def test_a_restarted_collector_knows_what_it_holds(tmp_path: Path) -> None:
    node = trusted_node()
    chain = [node.envelope(node.manifest(chain=True)) for _ in range(3)]
    Collecting(tmp_path / "ev", node).offer(chain[2])
    (tmp_path / "ev" / "notes.txt").write_text("not evidence")
    again = Collecting(tmp_path / "ev", node)
    assert again.newest.held == {node.key.key_id: 2}
    assert again.offer(chain[1]) is False  # (a fresh verifier state: only the held sequence stops it)


def test_an_unusable_directory_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="cannot use the evidence directory"):
        NewestEvidence(tmp_path / "file" / "ev")


def test_admission_verifies_only_the_nodes_it_is_asked_about() -> None:
    from attest.verify import _claimed_hostname

    a, b, c = trusted_node(), trusted_node(), trusted_node()
    b.host, c.host = "gpu-b", "gpu-c"
    trust = a.trust
    for other in (b, c):
        trust = trust.with_key(other.key.public, operator=OPERATOR.name, sites=["jhb-2"], countries=["MY"])
    items = [(f"{n.host}-{i}", n.envelope(n.manifest(chain=True))) for n in (a, b, c) for i in range(2)]
    items.append(("junk", b'{"payload": "not base64!"}'))
    everything = load_evidence(items, trust, now=LATER)
    assert sorted(everything) == ["gpu-a17", "gpu-b", "gpu-c"]
    chosen = load_evidence(items, trust, now=LATER, hosts=["gpu-b", "gpu-zz"])
    assert list(chosen) == ["gpu-b"]
    assert chosen["gpu-b"].manifest == everything["gpu-b"].manifest
    assert chosen["gpu-b"].result.status == everything["gpu-b"].result.status
    assert [_claimed_hostname(raw) for _, raw in items[::2]] == ["gpu-a17", "gpu-b", "gpu-c", None]
    # a second key claiming the same host is still seen (admission judges the conflict)
    rogue = trusted_node()
    trust = trust.with_key(rogue.key.public, operator=OPERATOR.name, sites=["jhb-2"], countries=["MY"])
    rogue.host = "gpu-b"
    both = load_evidence([*items, ("rogue", rogue.envelope())], trust, now=LATER, hosts=["gpu-b"])
    assert [k for k, _ in both["gpu-b"].other_keys] in ([rogue.key.key_id], [b.key.key_id])


def test_collectors_sharing_a_directory_never_step_back(tmp_path: Path) -> None:
    """Two collectors on one log: the one holding less in memory must not replace newer evidence."""
    node = trusted_node()
    chain = [node.envelope(node.manifest(chain=True)) for _ in range(4)]
    a, b = Collecting(tmp_path / "ev", node), Collecting(tmp_path / "ev", node)
    assert a.offer(chain[3]) is True
    assert b.offer(chain[2]) is False  # b's memory knew nothing newer; the file on disk did
    assert b.newest.held == {node.key.key_id: 3}
    assert (tmp_path / "ev" / f"{node.key.key_id}.envelope.json").read_bytes() == chain[3]
    assert sorted(p.name for p in (tmp_path / "ev").iterdir()) == [".lock", f"{node.key.key_id}.envelope.json", "pins.jsonl"]


def test_the_collectors_directory_records_contradictions_pins_and_the_inventory(tmp_path: Path) -> None:
    """What the collector sees is kept for admission: a fork quarantines, the first host/key pair is pinned,
    the newest heartbeat stays beside a newer job manifest."""
    from attest.scheduler.evidence import HostPins
    from attest.scheduler.quarantine import QuarantineRecord

    node = trusted_node()
    view = Collecting(tmp_path / "ev", node)
    beat = node.manifest(chain=True, job={"id": "hb", "scheduler": "attest", "phase": "heartbeat"})
    assert view.offer(node.envelope(beat)) is True
    end = node.manifest(chain=True, job={"id": "slurm-9", "scheduler": "slurm", "phase": "end"})
    assert view.offer(node.envelope(end)) is True
    files = sorted(p.name for p in (tmp_path / "ev").glob("*.json"))
    assert files == [f"{node.key.key_id}.envelope.json", f"{node.key.key_id}.heartbeat.envelope.json"]
    newest = load_evidence(read_envelopes(tmp_path / "ev"), node.trust, now=LATER)
    assert newest["gpu-a17"].manifest.job.phase == "end" and newest["gpu-a17"].inventory == beat
    assert HostPins(tmp_path / "ev" / "pins.jsonl").host_key == {"gpu-a17": node.key.key_id}
    # A second manifest with sequence 1: a fork. Not kept, but recorded: the host is quarantined.
    fork = node.manifest(freshness={**end.freshness.to_obj(), "nonce": "ab" * 16}, job={"id": "x", "scheduler": "slurm", "phase": "end"})
    assert view.offer(node.envelope(fork)) is False
    assert list(QuarantineRecord(tmp_path / "ev" / "quarantine.jsonl").quarantined()) == ["gpu-a17"]
    assert newest["gpu-a17"].quarantine == ()  # loaded before the fork
    again = load_evidence(read_envelopes(tmp_path / "ev"), node.trust, now=LATER, quarantine=QuarantineRecord(tmp_path / "ev" / "quarantine.jsonl"))
    assert any("chain.fork" in q for q in again["gpu-a17"].quarantine)


def test_a_key_pinned_to_one_host_cannot_squat_the_pins_of_others(tmp_path: Path) -> None:
    """Red-team review of issue 19 (low): an unscoped key signing for many host names pins only its first."""
    node, squatter = trusted_node(), trusted_node()
    squatter.host = "gpu-b"
    node.trust = node.trust.with_key(squatter.key.public, operator=OPERATOR.name, sites=["jhb-2"], countries=["MY"])
    view = Collecting(tmp_path, node)
    assert view.offer(squatter.envelope(squatter.manifest(chain=True))) is True
    forged = squatter.manifest(chain=True, node={"hostname": "gpu-a17", "key_id": squatter.key.key_id})
    view.offer(squatter.envelope(forged))  # before the real gpu-a17 is ever seen
    view.offer(node.envelope(node.manifest(chain=True)))
    pins = [json.loads(line) for line in (tmp_path / "pins.jsonl").read_text().splitlines()]
    assert {(p["host"], p["key_id"]) for p in pins} == {("gpu-b", squatter.key.key_id), ("gpu-a17", node.key.key_id)}
    ev = load_evidence(read_envelopes(tmp_path), node.trust, now=LATER, pins=HostPins(tmp_path / "pins.jsonl"))
    assert ev["gpu-a17"].result.key_id == node.key.key_id and ev["gpu-a17"].key_problem is None
