"""The newest verified evidence per node, from signed envelopes (a spool, a collector's store)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from attest.crypto.trust import TrustStore
from attest.errors import InputError
from attest.replay import MemoryChainStore, MemoryNonceStore
from attest.scheduler.admission import NodeEvidence
from attest.verify import PolicyEvaluator, VerifyOptions, chain_order_key, verify_and_open


def load_evidence(
    envelopes: Iterable[tuple[str, bytes]],
    trust: TrustStore,
    *,
    now: datetime,
    policy: PolicyEvaluator | None = None,
    options: VerifyOptions = VerifyOptions(),  # noqa: B008 - frozen dataclass, safe as a default
) -> dict[str, NodeEvidence]:
    """Verify every envelope (chains included); keep each node's newest authenticated one.

    Envelopes whose signatures do not verify say nothing about any node and are dropped;
    authenticated but contraindicated ones are kept, so admission can say why it refuses.
    A host named by manifests of several node keys (a key rotation, or one node vouching
    for another) keeps the newest by ``issued_at``; the other keys travel with it
    (:attr:`NodeEvidence.other_keys`) for admission to judge.
    """
    items = sorted(envelopes, key=lambda item: chain_order_key(item[1]))
    nonces, chains = MemoryNonceStore(), MemoryChainStore()
    per_key: dict[str, dict[str, NodeEvidence]] = {}
    for name, raw in items:
        result, manifest = verify_and_open(
            raw, trust, now=now, nonces=nonces, chains=chains, policy=policy, options=options, source=name
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
