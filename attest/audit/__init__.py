"""Auditing a fleet: verify every envelope (in parallel), then find what no single manifest shows.

``audit(items, ...)`` verifies envelopes across worker processes — each worker takes whole
nodes, so replay and chain checks see every manifest of a node in order, exactly as a single
process would — and then runs the fleet analytics of :mod:`attest.audit.analytics` on compact
summaries of the authenticated manifests.
"""

from __future__ import annotations

import gc
import os
import re
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from attest.audit.analytics import FleetFinding, ManifestSummary, RegistryEntry, analyze, csa_events
from attest.crypto.trust import TrustStore
from attest.errors import InputError
from attest.model.base import construct
from attest.model.result import Finding, Status, TrustVector, VerificationResult
from attest.replay import MemoryChainStore, MemoryNonceStore
from attest.verify import VerifyOptions, chain_order_key, verify_and_open

__all__ = ["AuditReport", "audit", "read_source"]


@dataclass
class AuditReport:
    """Everything an audit found."""

    results: list[VerificationResult]
    summaries: list[ManifestSummary]
    fleet: list[FleetFinding]
    now: datetime
    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def status(self) -> Status:
        """The worst of every result and fleet finding."""
        return Status.worst([*(r.status for r in self.results), *(f.severity.status for f in self.fleet)])

    def to_obj(self, *, details: bool = False) -> dict[str, Any]:
        """JSON summary (``--format json``)."""
        obj: dict[str, Any] = {
            "envelopes": len(self.results),
            "status": self.status.value,
            **self.counts,
            "fleet_findings": [f.to_obj() for f in self.fleet],
            "csa_events": csa_events(self.results, self.fleet),
            "audited_at": self.now.isoformat(),
        }
        if details:
            obj["results"] = [r.to_obj() for r in self.results]
        return obj


def read_source(source: str, *, pattern: str = "*.json") -> list[tuple[str, bytes]]:
    """Envelopes from a directory (files matching ``pattern``, recursively) or a log/collector database.

    A log is a SQLite file or a ``postgresql://`` URL; its entries are named ``NAME#INDEX``.
    """
    from attest.log import Log, is_url

    if is_url(source):
        store = Log.open(source).store
        name = source.rsplit("/", 1)[-1] or "log"
        return [(f"{name}#{i}", store.entry(i)) for i in range(store.size())]
    path = Path(source)
    if path.is_dir():
        return [
            (str(p.relative_to(path)), p.read_bytes()) for p in sorted(path.rglob(pattern)) if p.is_file()
        ]
    if path.is_file():
        store = Log.open(path).store
        return [(f"{path.name}#{i}", store.entry(i)) for i in range(store.size())]
    raise InputError(f"audit source {source} is neither a directory of envelopes nor a log database")


# -- verification, per worker ------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(trust: TrustStore, policy: Any, options: VerifyOptions, now: datetime) -> None:
    """Set up a worker: ``policy`` is a loaded policy (inherited by forked workers) or a reference to load."""
    from attest.policy import load_policy

    loaded = load_policy(policy) if isinstance(policy, str) else policy
    _WORKER.update(trust=trust, policy=loaded, options=options, now=now)


def _verify_group(
    items: list[tuple[str, bytes]],
) -> list[tuple[int, VerificationResult, ManifestSummary | None]]:
    """Verify one group of whole nodes, in chain order; return (position, result, summary)."""
    nonces, chains = MemoryNonceStore(), MemoryChainStore()
    order = sorted(range(len(items)), key=lambda i: chain_order_key(items[i][1]))
    out = []
    for i in order:
        name, raw = items[i]
        result, manifest = verify_and_open(
            raw,
            _WORKER["trust"],
            now=_WORKER["now"],
            nonces=nonces,
            chains=chains,
            policy=_WORKER["policy"],
            options=_WORKER["options"],
            source=name,
        )
        summary = ManifestSummary.of(name, manifest, result) if manifest is not None else None
        out.append((i, result, summary))
    return out


# Results cross the process boundary as plain tuples: pickling pydantic models costs several
# times more, and the parent's share of the work is what limits the speed-up.
_Packed = tuple[Any, ...]


def _pack(result: VerificationResult) -> _Packed:
    """A result as a tuple of plain values (see :func:`_unpack`)."""
    d = result.__dict__
    return (
        *(d[name] for name in _RESULT_FIELDS),
        tuple(result.trust_vector.__dict__[a] for a in _VECTOR_FIELDS),
        tuple(tuple(f.__dict__[n] for n in _FINDING_FIELDS) for f in result.findings),
    )


def _unpack(packed: _Packed) -> VerificationResult:
    """The result :func:`_pack` was given (its values were valid; nothing is re-validated)."""
    *plain, vector, findings = packed
    values = dict(zip(_RESULT_FIELDS, plain, strict=True))
    values["trust_vector"] = construct(TrustVector, dict(zip(_VECTOR_FIELDS, vector, strict=True)))
    values["findings"] = [construct(Finding, dict(zip(_FINDING_FIELDS, f, strict=True))) for f in findings]
    return construct(VerificationResult, {name: values[name] for name in VerificationResult.model_fields})


_RESULT_FIELDS = tuple(n for n in VerificationResult.model_fields if n not in ("trust_vector", "findings"))
_VECTOR_FIELDS = tuple(TrustVector.model_fields)
_FINDING_FIELDS = tuple(Finding.model_fields)


def _verify_packed(
    items: list[tuple[str, bytes]],
) -> list[tuple[int, _Packed, ManifestSummary | None]]:
    """:func:`_verify_group` in a worker process, its results packed for the trip back."""
    return [(i, _pack(result), summary) for i, result, summary in _verify_group(items)]


def _remote_group(
    items: list[tuple[str, bytes]],
    trust: TrustStore,
    policy_ref: str | None,
    options: VerifyOptions,
    now: datetime,
) -> list[tuple[int, VerificationResult, ManifestSummary | None]]:
    """One group on a distributed worker (Dask): set the worker up, then verify like a local process."""
    if _WORKER.get("key") != (id(trust), policy_ref, now):
        _init_worker(trust, policy_ref, options, now)
        _WORKER["key"] = (id(trust), policy_ref, now)
    return _verify_group(items)


_KEYID = re.compile(rb'"keyid"\s*:\s*"([0-9a-f]{64})"')


def _groups(items: Sequence[tuple[str, bytes]], n: int) -> list[list[tuple[int, tuple[str, bytes]]]]:
    """Whole nodes per group (by signing key), balanced by envelope count."""
    by_key: dict[bytes, list[tuple[int, tuple[str, bytes]]]] = {}
    for pos, item in enumerate(items):
        # The first signature's key id, read without parsing: grouping only decides which worker
        # verifies what; every check inside is keyed by the verified signer, as in one process.
        m = _KEYID.search(item[1], 0, 4096) or _KEYID.search(item[1])
        by_key.setdefault(m.group(1) if m else b"", []).append((pos, item))
    groups: list[list[tuple[int, tuple[str, bytes]]]] = [[] for _ in range(max(1, n))]
    for members in sorted(by_key.values(), key=len, reverse=True):
        min(groups, key=len).extend(members)
    return [g for g in groups if g]


def audit(
    items: Sequence[tuple[str, bytes]],
    trust: TrustStore,
    *,
    now: datetime,
    policy: str | None = "us-ear",
    options: VerifyOptions = VerifyOptions(),  # noqa: B008 - frozen dataclass, safe as a default
    jobs: int = 1,
    registry: Sequence[RegistryEntry] = (),
    max_silence: timedelta = timedelta(hours=1),
    max_speed_kmh: float = 1000.0,
    progress: Callable[[int, int], None] | None = None,
    dask_client: Any = None,
) -> AuditReport:
    """Verify ``items`` on ``jobs`` processes (or on a Dask cluster) and analyze the fleet.

    With ``dask_client`` (a ``distributed.Client``), whole-node groups are verified on the
    cluster's workers; the results are the same as a local run's.
    """
    if jobs < 1:
        raise InputError("--jobs must be at least 1")
    results: list[VerificationResult | None] = [None] * len(items)
    from attest.hardware.catalog import bundled_catalog
    from attest.policy import load_policy

    bundled_catalog()  # loaded once here; forked workers inherit it
    loaded = load_policy(policy) if policy and dask_client is None else policy
    summaries: list[ManifestSummary] = []
    # Small groups (whole nodes each) keep the last ones short: when no queued group is left
    # for this process to take, it waits for the workers' last ones.
    chunks = _groups(items, jobs * 32 if jobs > 1 else 1)
    done = 0

    def take(
        chunk: list[tuple[int, tuple[str, bytes]]],
        out: list[tuple[int, VerificationResult, ManifestSummary | None]],
    ) -> None:
        nonlocal done
        for i, result, summary in out:
            results[chunk[i][0]] = result
            if summary:
                summaries.append(summary)
        done += len(chunk)
        if progress:
            progress(done, len(items))

    if dask_client is not None:
        from distributed import as_completed as dask_completed

        chunks = _groups(items, max(1, len(dask_client.scheduler_info().get("workers", {}))) * 4)
        trust_f = dask_client.scatter(trust, broadcast=True)
        options = replace(options, cc_cache=None)  # each worker keeps its own chain cache
        futures = {
            dask_client.submit(
                _remote_group, [it for _, it in c], trust_f, policy, options, now, pure=False
            ): c
            for c in chunks
        }
        for fut in dask_completed(list(futures)):  # type: ignore[no-untyped-call]
            take(futures[fut], fut.result())
    elif jobs == 1:
        _init_worker(trust, loaded, options, now)
        for c in chunks:
            take(c, _verify_group([it for _, it in c]))
    else:
        # ``jobs`` processes verify: this one and jobs - 1 workers. The workers take groups from
        # the front; this process takes them from the back for as long as no worker has started
        # them (a queued group can still be cancelled), then collects what the workers did.
        _init_worker(trust, loaded, options, now)
        # Forked workers share this process's memory until they write to it; a collection in a
        # worker would touch every inherited object (and copy its page). Frozen, they are skipped.
        gc.freeze()
        try:
            with ProcessPoolExecutor(
                jobs - 1, initializer=_init_worker, initargs=(trust, loaded, options, now)
            ) as pool:
                pending = {pool.submit(_verify_packed, [it for _, it in c]): c for c in chunks}

                def collect(fut: Any) -> None:
                    take(pending.pop(fut), [(i, _unpack(p), summary) for i, p, summary in fut.result()])

                for fut, c in reversed(list(pending.items())):
                    if not fut.cancel():
                        break
                    del pending[fut]
                    take(c, _verify_group([it for _, it in c]))
                    # What the workers finished meanwhile is taken in now, not all at the end.
                    for finished in [f for f in pending if f.done()]:
                        collect(finished)
                for fut in as_completed(list(pending)):
                    collect(fut)
        finally:
            gc.unfreeze()
    final = [r for r in results if r is not None]
    summaries.sort(key=lambda s: (s.key_id, s.sequence, s.name))
    fleet = analyze(
        summaries, now=now, registry=registry, max_silence=max_silence, max_speed_kmh=max_speed_kmh
    )
    counts = {
        "by_status": dict(Counter(r.status.value for r in final)),
        "by_site": dict(Counter(s.site for s in summaries)),
        "by_tenant": dict(Counter(s.tenant for s in summaries)),
        "by_chip_class": dict(Counter(c for s in summaries for c in s.chip_classes)),
    }
    return AuditReport(final, summaries, fleet, now, counts)


def progress_bar(stream: Any = sys.stderr) -> Callable[[int, int], None]:
    """A one-line progress bar on a terminal; silent otherwise."""
    tty = hasattr(stream, "isatty") and stream.isatty() and not os.environ.get("CI")

    def show(done: int, total: int) -> None:
        if not tty or not total:
            return
        width = 30
        filled = width * done // total
        stream.write(f"\rverifying [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        if done >= total:
            stream.write("\n")
        stream.flush()

    return show
