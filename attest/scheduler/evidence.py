"""The newest verified evidence per node, from signed envelopes (a spool, a collector's store)."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Collection, Iterable
from datetime import datetime
from pathlib import Path

from attest.crypto.trust import TrustStore
from attest.errors import InputError
from attest.model.manifest import WorkloadManifest
from attest.model.result import VerificationResult
from attest.replay import MemoryChainStore, MemoryDeviceStore, MemoryNonceStore
from attest.scheduler.admission import NodeEvidence
from attest.verify import PolicyEvaluator, VerifyOptions, chain_order_key, claimed_hostname, verify_and_open


def load_evidence(
    envelopes: Iterable[tuple[str, bytes]],
    trust: TrustStore,
    *,
    now: datetime,
    policy: PolicyEvaluator | None = None,
    options: VerifyOptions = VerifyOptions(),  # noqa: B008 - frozen dataclass, safe as a default
    hosts: Collection[str] | None = None,
) -> dict[str, NodeEvidence]:
    """Verify every envelope (chains included); keep each node's newest authenticated one.

    Envelopes whose signatures do not verify say nothing about any node and are dropped;
    authenticated but contraindicated ones are kept, so admission can say why it refuses.
    A host named by manifests of several node keys (a key rotation, or one node vouching
    for another) keeps the newest by ``issued_at``; the other keys travel with it
    (:attr:`NodeEvidence.other_keys`) for admission to judge.

    With ``hosts``, only envelopes whose manifest names one of them are verified (the host
    name is read before verifying, only to choose; it is signed, so an envelope naming
    another host could never count for these): a job's admission verifies its nodes'
    evidence, not the whole fleet's.
    """
    if hosts is not None:
        wanted = set(hosts)
        envelopes = [item for item in envelopes if claimed_hostname(item[1]) in wanted]
    items = sorted(envelopes, key=lambda item: chain_order_key(item[1]))
    nonces, chains, devices = MemoryNonceStore(), MemoryChainStore(), MemoryDeviceStore()
    per_key: dict[str, dict[str, NodeEvidence]] = {}
    for name, raw in items:
        result, manifest = verify_and_open(
            raw,
            trust,
            now=now,
            nonces=nonces,
            chains=chains,
            policy=policy,
            options=options,
            source=name,
            devices=devices,
        )
        if manifest is None or result.key_id is None:
            continue
        keys = per_key.setdefault(manifest.node.hostname, {})
        held = keys.get(result.key_id)
        # One key's manifests are ordered by its sequence (the chain checks go with it).
        if held is None or manifest.freshness.sequence >= held.manifest.freshness.sequence:
            keys[result.key_id] = NodeEvidence(result, manifest)
    newest: dict[str, NodeEvidence] = {}
    for host, keys in per_key.items():
        ranked = sorted(keys.values(), key=lambda e: e.manifest.freshness.issued_at, reverse=True)
        others = tuple((e.result.key_id or "", e.manifest.freshness.issued_at) for e in ranked[1:])
        newest[host] = NodeEvidence(ranked[0].result, ranked[0].manifest, others)
    return newest


def read_envelopes(directory: Path, *, limit_bytes: int = 1 << 20) -> list[tuple[str, bytes]]:
    """Every ``*.json`` file under ``directory`` (recursively), as (name, bytes)."""
    if not directory.is_dir():
        raise InputError(f"evidence directory {directory} does not exist")
    out = []
    for path in sorted(directory.rglob("*.json")):
        if path.stat().st_size <= limit_bytes:
            out.append((str(path.relative_to(directory)), path.read_bytes()))
    return out


# A chain finding or a replay means this envelope must not become the node's evidence: the
# node's held evidence stays (and goes stale in time), so admission fails closed.
_NOT_NEWER = frozenset(
    {"chain.sequence_rollback", "chain.fork", "chain.previous_mismatch", "freshness.nonce_reused"}
)


class NewestEvidence:
    """A directory holding each node key's newest authenticated envelope: what admission reads.

    Admission judges a node on its newest evidence, not its history; pointed at a spool of
    months, ``attest admit`` (run by ``PrologSlurmctld`` for every job) and the webhook's
    reload verified every manifest ever signed. The collector keeps this directory instead
    (``attest collector serve --evidence-dir DIR``): one ``<key id>.envelope.json`` per node
    key, replaced (write, then rename) only by an envelope that authenticated with a higher
    sequence number and whose chain and nonce checks passed. Collectors may share the
    directory (a lock file serializes replacements; the sequence number on disk decides).
    """

    SUFFIX = ".envelope.json"

    def __init__(self, directory: Path) -> None:
        try:
            directory.mkdir(parents=True, exist_ok=True)
            held = {}
            for path in directory.glob("*" + self.SUFFIX):
                key, seq = chain_order_key(path.read_bytes())
                if key and path.name == key + self.SUFFIX:
                    held[key] = seq
        except OSError as exc:
            raise InputError(f"cannot use the evidence directory {directory}: {exc.strerror}") from None
        self.directory = directory
        self.held: dict[str, int] = held

    def offer(self, raw: bytes, result: VerificationResult, manifest: WorkloadManifest | None) -> bool:
        """Keep ``raw`` as its node key's evidence if it is authenticated and newer; True when kept.

        ``result`` and ``manifest`` are what :func:`attest.verify.verify_and_open` returned for
        ``raw`` (with the collector's replay and chain state).
        """
        if manifest is None or result.key_id is None or manifest.node.key_id != result.key_id:
            return False  # not authenticated, or not signed by the node key it names
        if any(f.rule in _NOT_NEWER for f in result.findings):
            return False
        key, seq = result.key_id, manifest.freshness.sequence
        if self.held.get(key, -1) >= seq:
            return False
        target = self.directory / (key + self.SUFFIX)
        # Several collectors (one PostgreSQL log behind a load balancer) may share a directory:
        # under an exclusive lock, the file's own sequence number decides, not this process's memory.
        with (self.directory / ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                on_disk = chain_order_key(target.read_bytes())[1]
            except FileNotFoundError:
                on_disk = -1
            if on_disk >= seq:
                self.held[key] = on_disk
                return False
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            tmp.write_bytes(raw)
            tmp.replace(target)
        self.held[key] = seq
        return True
