"""Auditing a fleet: verify every envelope (in parallel), then find what no single manifest shows.

``audit(items, ...)`` verifies envelopes across worker processes — each worker takes whole
nodes, so replay and chain checks see every manifest of a node in order, exactly as a single
process would — and then runs the fleet analytics of :mod:`attest.audit.analytics` on compact
summaries of the authenticated manifests.
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import operator
import os
import queue
import re
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path, PurePath
from typing import Any

import msgspec

from attest.audit.analytics import FleetFinding, ManifestSummary, RegistryEntry, analyze, csa_events
from attest.crypto.canonical import MSGSPEC_ERRORS
from attest.crypto.trust import TrustStore
from attest.errors import AttestError, InputError
from attest.model.base import construct
from attest.model.result import Finding, Severity, Status, TrustVector, VerificationResult
from attest.replay import ChainHead, MemoryChainStore, MemoryNonceStore
from attest.verify import VerifyOptions, chain_order_key, chain_step, verify_and_open

__all__ = ["AuditReport", "FailureGroup", "audit", "read_source"]


_STATUS_ORDER = {"contraindicated": 0, "none": 1, "warning": 2, "affirming": 3}


@dataclass
class FailureGroup:
    """Everything that failed for one cause: one rule at one severity, across envelopes or the fleet.

    A report leads with these, worst first and then the largest: an auditor reads what failed,
    why and how often before anything else, and 48 GPUs gone silent are one line, not 48.
    """

    status: str
    """``contraindicated``, ``warning`` or ``none``: what the cause makes of what it touches."""
    rule: str
    fleet: bool
    """True for a finding across manifests (:mod:`attest.audit.analytics`), False for envelopes."""
    message: str
    """The first occurrence's message (the others are alike but for names and numbers)."""
    items: list[str] = field(default_factory=list)
    """Each envelope (with its node, site, tenant and chips) or fleet finding's subject."""
    messages: list[str] = field(default_factory=list)
    """Every occurrence's message, in the order of ``items``."""
    nodes: list[str] = field(default_factory=list)
    """Each occurrence's node ("" when unknown), in the order of ``items``."""

    def by_node(self) -> list[tuple[str, int]]:
        """How many occurrences each node has, most first (the 48 silent GPUs: 6 nodes of 8)."""
        return Counter(n for n in self.nodes if n).most_common()

    @property
    def count(self) -> int:
        """How many envelopes (or fleet findings) this cause touches."""
        return len(self.items)

    def to_obj(self, *, limit: int | None = None) -> dict[str, Any]:
        """JSON; with ``limit``, at most that many items (``count`` says how many there are)."""
        return {
            "status": self.status,
            "rule": self.rule,
            "scope": "fleet" if self.fleet else "envelope",
            "count": self.count,
            "message": self.message,
            "items": self.items if limit is None else self.items[:limit],
            "nodes": dict(self.by_node()),
        }


@dataclass
class AuditReport:
    """Everything an audit found."""

    results: list[VerificationResult]
    summaries: list[ManifestSummary]
    fleet: list[FleetFinding]
    now: datetime
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    as_of: str = "now"
    """``issued``: each manifest was judged as of its own issue time; ``now``: all at ``now``."""

    @property
    def status(self) -> Status:
        """The worst of every result and fleet finding."""
        return Status.worst([*(r.status for r in self.results), *(f.severity.status for f in self.fleet)])

    def failures(self) -> list[FailureGroup]:
        """What failed, grouped by cause (rule and severity), worst first, then the most frequent.

        An envelope counts under every rule that gave it its status (a tenant on the Entity List
        is also headquartered in a restricted country); it is named with its node, site, tenant
        and chips, so the party and the hardware are read from the line, not from a table.
        """
        by_name = {s.name: s for s in self.summaries}
        groups: dict[tuple[str, str, bool], FailureGroup] = {}

        def add(status: str, rule: str, fleet: bool, item: str, message: str, node: str | None) -> None:
            g = groups.setdefault((status, rule, fleet), FailureGroup(status, rule, fleet, message))
            g.items.append(item)
            g.messages.append(message)
            g.nodes.append(node or "")

        for r in self.results:
            status = r.status.value
            if status == "affirming":
                continue
            causes = [f for f in r.findings if f.severity.status.value == status]
            if not causes:  # ``none``: nothing reached a verdict; show what was not affirming
                causes = [f for f in r.findings if f.severity.value != "info"]
            item = _describe(r.source or "-", r.node, by_name.get(r.source or ""))
            for rule in dict.fromkeys(f.rule for f in causes) or ["(no finding)"]:
                message = next((f.message for f in causes if f.rule == rule), f"status {status}")
                add(status, rule, False, item, message, r.node)
        for f in self.fleet:
            ev = f.evidence
            subject = ", ".join(
                f"{k} {ev[k]}" for k in ("gpu", "node", "site", "serial") if isinstance(ev.get(k), str)
            )
            node = ev.get("node")
            add(
                f.severity.status.value,
                f.rule,
                True,
                subject or f.message,
                f.message,
                node if isinstance(node, str) else None,
            )
        return sorted(
            groups.values(), key=lambda g: (_STATUS_ORDER.get(g.status, 9), -g.count, g.fleet, g.rule)
        )

    def to_obj(self, *, details: bool = False) -> dict[str, Any]:
        """JSON summary (``--format json``)."""
        obj: dict[str, Any] = {
            "envelopes": len(self.results),
            "status": self.status.value,
            "failures": [g.to_obj(limit=None if details else 100) for g in self.failures()],
            **self.counts,
            "fleet_findings": [f.to_obj() for f in self.fleet],
            "csa_events": csa_events(self.results, self.fleet),
            "audited_at": self.now.isoformat(),
            "judged_as_of": self.as_of,
        }
        if details:
            obj["results"] = [r.to_obj() for r in self.results]
        return obj


def _describe(source: str, node: str | None, summary: ManifestSummary | None) -> str:
    """An envelope as a failure names it: its file, then who ran what where (when it authenticated)."""
    if summary is None:
        return f"{source} (not authenticated)" if node is None else f"{source} (node {node})"
    chips = Counter(g.name for g in summary.gpus)
    hardware = ", ".join(f"{n}× {name}" for name, n in chips.items())
    return f"{source} (node {summary.node} at {summary.site}, {summary.country}; tenant {summary.tenant}; {hardware})"


def read_source(
    source: str, *, pattern: str = "*.json", unreadable: list[tuple[str, str]] | None = None
) -> list[tuple[str, bytes]]:
    """Envelopes from a directory (files matching ``pattern``, recursively) or a log/collector database.

    A log is a SQLite file or a ``postgresql://`` URL; its entries are named ``NAME#INDEX``.
    A file or subdirectory that cannot be read is never skipped silently: it is added to
    ``unreadable`` as (name, reason) when that list is given, and refused otherwise.
    """
    from attest.log import Log, is_url

    if is_url(source):
        store = Log.open(source).store
        name = source.rsplit("/", 1)[-1] or "log"
        return [(f"{name}#{i}", store.entry(i)) for i in range(store.size())]
    path = Path(source)
    if path.is_dir():
        return _read_directory(path, pattern, unreadable)
    if path.is_file():
        store = Log.open(path).store
        return [(f"{path.name}#{i}", store.entry(i)) for i in range(store.size())]
    raise InputError(f"audit source {source} is neither a directory of envelopes nor a log database")


def _read_directory(
    path: Path, pattern: str, unreadable: list[tuple[str, str]] | None
) -> list[tuple[str, bytes]]:
    """Every file under ``path`` whose name matches ``pattern``; unreadable ones reported, not skipped."""
    failed: list[tuple[str, str]] = []

    def _dir_error(exc: OSError) -> None:
        where = Path(exc.filename) if exc.filename else path
        failed.append(
            (str(where.relative_to(path)) if where != path else str(path), exc.strerror or str(exc))
        )

    found: list[Path] = []
    for top, _dirs, files in os.walk(path, onerror=_dir_error):
        found += [Path(top, f) for f in files if PurePath(Path(top, f).relative_to(path)).match(pattern)]
    items: list[tuple[str, bytes]] = []
    for p in sorted(found):
        if p.is_symlink() and not p.exists():
            failed.append((str(p.relative_to(path)), "a broken symbolic link"))
            continue
        if not p.is_file():
            continue
        try:
            items.append((str(p.relative_to(path)), p.read_bytes()))
        except OSError as exc:
            failed.append((str(p.relative_to(path)), exc.strerror or str(exc)))
    if failed and unreadable is None:
        name, reason = failed[0]
        raise InputError(f"cannot read {name} in {path}: {reason}")
    if unreadable is not None:
        unreadable += failed
    return items


def integration_times(source: str) -> dict[str, float]:
    """When the log integrated each entry (POSIX seconds), by the names :func:`read_source` gives them.

    Empty for a directory of envelopes, and for entries a log kept no time for (older logs).
    """
    from attest.log import Log, is_url

    if is_url(source):
        name = source.rsplit("/", 1)[-1] or "log"
    elif Path(source).is_file():
        name = Path(source).name
    else:
        return {}
    store = Log.open(source).store
    return {f"{name}#{i}": at for i, at in store.integration_times().items()}


def _flag_backdated(
    results: list[VerificationResult],
    summaries: Sequence[ManifestSummary],
    integrated: dict[str, float],
    max_delay: timedelta,
    skew: timedelta,
) -> None:
    """Compare each manifest's issue time with the log's integration time (in place).

    An audit judges a manifest as of its issue time, which is the node's word: a node that sets
    its clock back signs manifests that look fresh then. The log's integration time is not the
    node's: a manifest integrated more than ``max_delay`` after it says it was issued (or before
    it, beyond the clock skew) is at most ``warning``.
    """
    index = {r.source: i for i, r in enumerate(results)}
    for s in summaries:
        at, i = integrated.get(s.name), index.get(s.name)
        if at is None or i is None:
            continue
        delay = at - s.issued_at.timestamp()
        if -skew.total_seconds() <= delay <= max_delay.total_seconds():
            continue
        result = results[i]
        when = datetime.fromtimestamp(at, s.issued_at.tzinfo).isoformat()
        finding = Finding(
            rule="log.integration_time",
            severity=Severity.WARNING,
            message=(
                f"the log integrated this manifest at {when}, {delay / 3600:+.2f} h from the issue time it "
                f"claims ({s.issued_at.isoformat()}); beyond {max_delay} a backdated clock (or a very late "
                "delivery) is possible, so its issue time is not taken on trust"
            ),
            evidence={
                "issued_at": s.issued_at.isoformat(),
                "integrated_at": when,
                "delay_s": round(delay, 3),
            },
            remedy="check the node's clock; a manifest is only as fresh as the log says",
        )
        status = Status.worst([result.status, Severity.WARNING.status])
        results[i] = result.model_copy(update={"findings": [*result.findings, finding], "status": status})


# -- verification, per worker ------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(trust: TrustStore, policy: Any, options: VerifyOptions, now: datetime) -> None:
    """Set up a worker: ``policy`` is a loaded policy (inherited by forked workers) or a reference to load."""
    from attest.policy import load_policy

    loaded = load_policy(policy) if isinstance(policy, str) else policy
    _WORKER.update(trust=trust, policy=loaded, options=options, now=now)


_Out = list[tuple[int, VerificationResult, ManifestSummary | None]]
_Ops = list[tuple[int, str, str, Any, Any]]
"""What a speculative piece read from its replay and chain stores: (position, "n" or "c", key,
the nonce and its expiry or None, what the store answered), in the order it asked."""


class _Trace:
    """Where a piece's stores write down what they were asked (see :func:`_settle`)."""

    def __init__(self) -> None:
        self.pos = -1
        self.ops: _Ops = []


class _TracedNonces(MemoryNonceStore):
    def __init__(self, trace: _Trace) -> None:
        super().__init__()
        self._trace = trace

    def check_and_record(self, key_id: str, nonce: str, expires_at: datetime) -> bool:
        new = super().check_and_record(key_id, nonce, expires_at)
        self._trace.ops.append((self._trace.pos, "n", key_id, (nonce, expires_at), new))
        return new


class _TracedChains(MemoryChainStore):
    def __init__(self, trace: _Trace) -> None:
        super().__init__()
        self._trace = trace

    def head(self, key_id: str) -> ChainHead | None:
        head = super().head(key_id)
        self._trace.ops.append((self._trace.pos, "c", key_id, None, head))
        return head


def _verify_group(
    items: list[tuple[str, bytes]],
    *,
    nonces: MemoryNonceStore | None = None,
    chains: MemoryChainStore | None = None,
    trace: _Trace | None = None,
) -> _Out:
    """Verify one group of whole nodes (or a piece of one), in chain order; return (position, result, summary).

    The stores start empty unless given; with ``trace`` they write down what they were asked.
    """
    if trace is not None:
        nonces, chains = _TracedNonces(trace), _TracedChains(trace)
    nonces = nonces if nonces is not None else MemoryNonceStore()
    chains = chains if chains is not None else MemoryChainStore()
    order = sorted(range(len(items)), key=lambda i: chain_order_key(items[i][1]))
    out = []
    for i in order:
        if trace is not None:
            trace.pos = i
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


def _pack(result: VerificationResult, shared: dict[int, tuple[Any, ...]] | None = None) -> _Packed:
    """A result as a tuple of plain values, in the model's field order (see :func:`_unpack`).

    Findings are often shared between a node's results (the policy's verdicts, the GPU
    classification); with ``shared`` (one dict for a batch whose results all stay alive
    meanwhile) a shared finding becomes one shared tuple, which pickle then sends once.
    """
    d = result.__dict__
    findings = []
    for f in d["findings"]:
        packed = shared.get(id(f)) if shared is not None else None
        if packed is None:
            packed = _FINDING_VALUES(f.__dict__)
            if shared is not None:
                shared[id(f)] = packed
        findings.append(packed)
    values = list(_RESULT_VALUES(d))
    values[_VECTOR_AT] = _VECTOR_VALUES(values[_VECTOR_AT].__dict__)
    values[_FINDINGS_AT] = tuple(findings)
    return tuple(values)


def _unpack(
    packed: _Packed, shared: dict[int, Finding] | None = None, vectors: dict[Any, TrustVector] | None = None
) -> VerificationResult:
    """The result :func:`_pack` was given (its values were valid; nothing is re-validated).

    With ``shared`` (one dict per unpickled batch, whose tuples stay alive meanwhile), a
    tuple met again gives the same (frozen) finding; with ``vectors``, equal trust vectors
    are one (frozen) object.
    """
    values = dict(zip(_RESULT_FIELDS, packed, strict=True))
    tv = values["trust_vector"]
    vector = vectors.get(tv) if vectors is not None else None
    if vector is None:
        vector = construct(TrustVector, dict(zip(_VECTOR_FIELDS, tv, strict=True)))
        if vectors is not None:
            vectors[tv] = vector
    values["trust_vector"] = vector
    out = []
    for f in values["findings"]:
        finding = shared.get(id(f)) if shared is not None else None
        if finding is None:
            finding = construct(Finding, dict(zip(_FINDING_FIELDS, f, strict=True)))
            if shared is not None:
                shared[id(f)] = finding
        out.append(finding)
    values["findings"] = out
    return construct(VerificationResult, values)


_RESULT_FIELDS = tuple(VerificationResult.model_fields)
_VECTOR_FIELDS = tuple(TrustVector.model_fields)
_FINDING_FIELDS = tuple(Finding.model_fields)
# Each takes a model's __dict__ and gives its values in field order, as one tuple (in C).
_RESULT_VALUES = operator.itemgetter(*_RESULT_FIELDS)
_VECTOR_VALUES = operator.itemgetter(*_VECTOR_FIELDS)
_FINDING_VALUES = operator.itemgetter(*_FINDING_FIELDS)
_VECTOR_AT = _RESULT_FIELDS.index("trust_vector")
_FINDINGS_AT = _RESULT_FIELDS.index("findings")


def _verify_traced(items: list[tuple[str, bytes]], traced: bool) -> tuple[_Out, _Ops | None]:
    """:func:`_verify_group` from empty stores; with ``traced``, also what the stores were asked."""
    if not traced:
        return _verify_group(items), None
    trace = _Trace()
    return _verify_group(items, trace=trace), trace.ops


def _verify_packed(
    items: list[tuple[str, bytes]], *, traced: bool = False
) -> tuple[list[tuple[int, _Packed, ManifestSummary | None]], _Ops | None]:
    """:func:`_verify_traced` in a worker process, its results packed for the trip back."""
    results, ops = _verify_traced(items, traced)
    shared: dict[int, tuple[Any, ...]] = {}
    return [(i, _pack(result, shared), summary) for i, result, summary in results], ops


def _unpack_batch(
    packed: list[tuple[int, _Packed, ManifestSummary | None]],
) -> list[tuple[int, VerificationResult, ManifestSummary | None]]:
    """What :func:`_verify_packed` returned, back as results (shared findings built once)."""
    shared: dict[int, Finding] = {}
    vectors: dict[Any, TrustVector] = {}
    return [(i, _unpack(p, shared, vectors), summary) for i, p, summary in packed]


def _remote_group(
    items: list[tuple[str, bytes]],
    trust: TrustStore,
    policy_ref: str | None,
    options: VerifyOptions,
    now: datetime,
) -> list[tuple[int, _Packed, ManifestSummary | None]]:
    """One group on a distributed worker (Dask): set the worker up, then verify like a local process.

    The results come back packed, as from a local worker process (see :func:`_pack`).
    """
    if _WORKER.get("key") != (id(trust), policy_ref, now):
        _init_worker(trust, policy_ref, options, now)
        _WORKER["key"] = (id(trust), policy_ref, now)
    return _verify_packed(items)[0]


_KEYID = re.compile(rb'"keyid":"([0-9a-f]{64})"')


class _SigKey(msgspec.Struct):
    keyid: str = ""


class _SigKeys(msgspec.Struct):
    signatures: list[_SigKey] = []


_SIG_KEYS = msgspec.json.Decoder(_SigKeys).decode


def _signer_ids(raw: bytes, canonical: bool) -> list[bytes]:
    """The key ids of an envelope's signatures, read without verifying anything.

    Every key whose replay and chain state an envelope can touch is among these: it reaches
    those checks only when every signature verifies with a trusted key (found by this id).
    In a canonical envelope (what the verifier accepts unless told otherwise) the payload and
    signatures are base64 and the payloadType must be in-toto's, so after the last
    ``"signatures":[`` the ids are all there, spelled just so; otherwise the JSON is read.
    """
    if canonical:
        return _KEYID.findall(raw, max(0, raw.rfind(b'"signatures":[')))
    try:
        return [s.keyid.encode() for s in _SIG_KEYS(raw).signatures]
    except MSGSPEC_ERRORS:
        return []  # it cannot pass verification, so it touches no key's state


def _groups(
    items: Sequence[tuple[str, bytes]], n: int, *, canonical: bool = True
) -> list[list[tuple[int, tuple[str, bytes]]]]:
    """Whole nodes per group, balanced by envelope count.

    Grouping only decides which process verifies what; every check inside is keyed by the
    verified signer, as in one process. So that each process sees all of a key's envelopes
    (and in their order), envelopes that share any signing key are in one group: a node's
    manifest re-sent with a co-signature put first still meets its node's history.
    """
    root: dict[bytes, bytes] = {}

    def find(k: bytes) -> bytes:
        while (up := root[k]) != k:
            root[k] = root[up]  # path halving
            k = root[k]
        return k

    keys: list[bytes] = []
    for _, raw in items:
        ids = _signer_ids(raw, canonical)
        first = ids[0] if ids else b""
        root.setdefault(first, first)
        for other in ids[1:]:
            root.setdefault(other, other)
            a, b = find(first), find(other)
            if a != b:
                root[b] = a
        keys.append(first)
    by_key: dict[bytes, list[tuple[int, tuple[str, bytes]]]] = {}
    for pos, (item, first) in enumerate(zip(items, keys, strict=True)):
        by_key.setdefault(find(first), []).append((pos, item))
    groups: list[list[tuple[int, tuple[str, bytes]]]] = [[] for _ in range(max(1, n))]
    for members in sorted(by_key.values(), key=len, reverse=True):
        min(groups, key=len).extend(members)
    return [g for g in groups if g]


# How worker processes start: fork on Linux (they inherit the loaded policy, catalog and
# envelopes without pickling); elsewhere the platform's default (spawn on macOS and Windows,
# where the arguments are pickled). Tests set it to run the spawn path on Linux too.
_START_METHOD: str | None = None


def _next_group(counter: Any, total: int) -> int | None:
    """Claim the next unverified group (shared by every process), or None when all are claimed."""
    with counter.get_lock():
        g = int(counter.value)
        if g >= total:
            return None
        counter.value = g + 1
    return g


def _worker_main(
    groups: list[list[tuple[str, bytes]]],
    traced: frozenset[int],
    counter: Any,
    results: Any,
    setup: tuple[Any, ...],
) -> None:
    """A verifying process: claim groups until none is left; send back packed results, then None."""
    try:
        _init_worker(*setup)
        while (g := _next_group(counter, len(groups))) is not None:
            packed, ops = _verify_packed(groups[g], traced=g in traced)
            results.put((g, packed, ops))
    except BaseException as exc:  # reported to the parent, which fails the audit
        results.put((-1, f"{type(exc).__name__}: {exc}", None))
    finally:
        results.put(None)


_Chunk = list[tuple[int, tuple[str, bytes]]]


def _verify_in_processes(
    chunks: list[_Chunk],
    traced: frozenset[int],
    jobs: int,
    setup: tuple[Any, ...],
    take: Callable[[int, _Out, _Ops | None], None],
) -> None:
    """Verify ``chunks`` on this process and ``jobs - 1`` workers (this process set up already).

    Every process claims the next group from one shared counter, so all of them stay busy
    until the last group is claimed and the tail is at most one group long (a pool that
    queues work ahead left up to three groups to one worker at the end). Workers send
    their results back through a queue, taken in here between this process's own groups.
    The chunks numbered in ``traced`` are verified with traced stores. A worker that fails,
    or dies, fails the audit: no result is ever left out.
    """
    ctx: Any = mp.get_context(_START_METHOD or ("fork" if sys.platform.startswith("linux") else None))
    groups = [[it for _, it in c] for c in chunks]
    counter = ctx.Value("q", 0)
    results = ctx.Queue()
    # Forked workers share this process's memory until they write to it; a collection in a
    # worker would touch every inherited object (and copy its page). Frozen, they are skipped.
    gc.freeze()
    procs = [
        ctx.Process(target=_worker_main, args=(groups, traced, counter, results, setup), daemon=True)
        for _ in range(jobs - 1)
    ]
    try:
        for proc in procs:
            proc.start()
        running = len(procs)

        def receive(message: Any) -> None:
            nonlocal running
            if message is None:
                running -= 1
            elif message[0] < 0:
                raise AttestError(
                    f"the audit stopped: a verifying process failed ({message[1]})",
                    hint="run with --jobs 1 to see the failure in one process",
                )
            else:
                g, packed, ops = message
                take(g, _unpack_batch(packed), ops)

        while (g := _next_group(counter, len(groups))) is not None:
            take(g, *_verify_traced(groups[g], g in traced))
            while True:  # what the workers finished meanwhile
                try:
                    receive(results.get_nowait())
                except queue.Empty:
                    break
        while running:
            try:
                receive(results.get(timeout=1.0))
            except queue.Empty:
                if not any(p.is_alive() for p in procs) and results.empty():
                    codes = ", ".join(str(p.exitcode) for p in procs)
                    raise AttestError(
                        f"the audit stopped: a verifying process died (exit codes {codes}); "
                        "its results would be missing",
                        hint="look for an out-of-memory kill; run with fewer --jobs",
                    ) from None
        for proc in procs:
            proc.join()
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
                proc.join()
        gc.unfreeze()


def _split_tail(chunks: list[_Chunk], jobs: int) -> tuple[list[_Chunk], list[list[int]]]:
    """Largest groups first; the last ``jobs`` groups cut into pieces, so no process waits long at the end.

    A piece is a run of its group's envelopes in chain order, verified with empty replay and
    chain stores, as if its node had no past; :func:`_settle` then checks that guess against
    the pieces before it. Returns the chunks in claiming order and, per cut group, the indices
    of its pieces in chain order. With fewer groups than processes (a fleet of a few nodes
    with long histories) every group is cut, so every process has work.
    """
    chunks = sorted(chunks, key=len, reverse=True)
    whole, tail = chunks[:-jobs], chunks[-jobs:]
    out = list(whole)
    cut: list[list[int]] = []
    # Pieces of at most 1/32 of a process's share (short waits at the end) and at least 2 x jobs
    # per cut group; never under 4 envelopes.
    share = -(-sum(len(c) for c in chunks) // (jobs * 32))
    for group in tail:
        size = max(4, min(-(-len(group) // (2 * jobs)), share))
        if len(group) <= size:
            out.append(group)
            continue
        ordered = sorted(group, key=lambda pi: chain_order_key(pi[1][1]))  # stable: input order on ties
        cut.append(list(range(len(out), len(out) + -(-len(ordered) // size))))
        out.extend(ordered[k : k + size] for k in range(0, len(ordered), size))
    return out, cut


def _settle(pieces: list[tuple[_Chunk, _Out, _Ops]]) -> list[tuple[_Chunk, _Out]]:
    """The results of one cut group's pieces, each as if its group had been verified whole.

    A piece was verified with empty replay and chain stores. Its results stand if every
    answer those stores gave matches what the true stores (everything before the piece)
    give for the same questions: no nonce of the piece seen before it, and each chain check
    reaching the same verdict from the true head (a piece of an unbroken chain starts with
    the manifest after the previous piece's last). Otherwise the piece is verified again,
    here, from the true stores. Either way the stores then hold the state after the piece.
    """
    nonces, chains = MemoryNonceStore(), MemoryChainStore()
    out = []
    for chunk, results, ops in pieces:
        before = nonces.copy(), chains.copy()
        if not _alike(ops, results, nonces, chains):
            nonces, chains = before
            results = _verify_group([it for _, it in chunk], nonces=nonces, chains=chains)
        out.append((chunk, results))
    return out


def _alike(ops: _Ops, results: _Out, nonces: MemoryNonceStore, chains: MemoryChainStore) -> bool:
    """Whether ``ops`` get the same answers from ``nonces`` and ``chains`` (which they update)."""
    summaries = {i: summary for i, _, summary in results}
    for pos, kind, key, nonce, answer in ops:
        if kind == "n":
            if nonces.check_and_record(key, *nonce) != answer:
                return False
            continue
        s = summaries[pos]
        if s is None:  # pragma: no cover - a manifest reaches the chain check only once authenticated
            return False
        head = chains.head(key)
        verdict = chain_step(head, s.sequence, s.digest, s.previous)
        if verdict != chain_step(answer, s.sequence, s.digest, s.previous):
            return False
        if verdict[1]:
            chains.advance(key, ChainHead(sequence=s.sequence, digest=s.digest))
    return True


def audit(
    items: Sequence[tuple[str, bytes]],
    trust: TrustStore,
    *,
    now: datetime,
    policy: str | None = "us-ear",
    options: VerifyOptions = VerifyOptions(as_of_issue=True),  # noqa: B008 - frozen, safe as a default
    jobs: int = 1,
    registry: Sequence[RegistryEntry] = (),
    max_silence: timedelta = timedelta(hours=1),
    max_speed_kmh: float = 1000.0,
    progress: Callable[[int, int], None] | None = None,
    dask_client: Any = None,
    integrated: dict[str, float] | None = None,
    max_log_delay: timedelta = timedelta(hours=1),
) -> AuditReport:
    """Verify ``items`` on ``jobs`` processes (or on a Dask cluster) and analyze the fleet.

    With ``dask_client`` (a ``distributed.Client``), whole-node groups are verified on the
    cluster's workers; the results are the same as a local run's. By default each manifest is
    judged as of its own issue time (``VerifyOptions.as_of_issue``): an audit looks back at
    manifests that have expired since, as they should have; give ``VerifyOptions()`` to judge
    them all at ``now`` instead. ``integrated`` (:func:`integration_times`) is when the log took
    each item: manifests it took more than ``max_log_delay`` after their issue time are flagged.
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
    chunks = _groups(items, jobs * 32 if jobs > 1 else 1, canonical=options.require_canonical)
    done = 0

    def commit(chunk: _Chunk, out: _Out) -> None:
        for i, result, summary in out:
            results[chunk[i][0]] = result
            if summary:
                summaries.append(summary)

    def count(chunk: _Chunk) -> None:
        nonlocal done
        done += len(chunk)
        if progress:
            progress(done, len(items))

    if dask_client is not None:
        from distributed import as_completed as dask_completed

        chunks = _groups(
            items,
            max(1, len(dask_client.scheduler_info().get("workers", {}))) * 4,
            canonical=options.require_canonical,
        )
        trust_f = dask_client.scatter(trust, broadcast=True)
        options = replace(options, cc_cache=None)  # each worker keeps its own chain cache
        futures = {
            dask_client.submit(
                _remote_group, [it for _, it in c], trust_f, policy, options, now, pure=False
            ): c
            for c in chunks
        }
        for fut in dask_completed(list(futures)):  # type: ignore[no-untyped-call]
            commit(futures[fut], _unpack_batch(fut.result()))
            count(futures[fut])
    elif jobs == 1:
        _init_worker(trust, loaded, options, now)
        for c in chunks:
            commit(c, _verify_group([it for _, it in c]))
            count(c)
    else:
        _init_worker(trust, loaded, options, now)
        chunks, cut = _split_tail(chunks, jobs)
        pieces: dict[int, tuple[_Out, _Ops]] = {}

        def take(g: int, out: _Out, ops: _Ops | None) -> None:
            if ops is None:
                commit(chunks[g], out)
            else:  # a piece of a cut group: it stands once the pieces before it are in
                pieces[g] = (out, ops)
            count(chunks[g])

        _verify_in_processes(
            chunks, frozenset(g for gs in cut for g in gs), jobs, (trust, loaded, options, now), take
        )
        for gs in cut:
            for chunk, out in _settle([(chunks[g], *pieces[g]) for g in gs]):
                commit(chunk, out)
    final = [r for r in results if r is not None]
    if integrated:
        _flag_backdated(final, summaries, integrated, max_log_delay, options.clock_skew)
    summaries.sort(key=lambda s: (s.key_id, s.sequence, s.name))
    fleet = analyze(
        summaries, now=now, registry=registry, max_silence=max_silence, max_speed_kmh=max_speed_kmh
    )
    counts = {
        "by_status": dict(Counter(r.status.value for r in final)),
        "by_site": dict(Counter(s.site for s in summaries)),
        "by_tenant": dict(Counter(s.tenant for s in summaries)),
        "by_chip_class": _count_classes(summaries),
    }
    return AuditReport(final, summaries, fleet, now, counts, "issued" if options.as_of_issue else "now")


def _count_classes(summaries: Sequence[ManifestSummary]) -> dict[str, int]:
    """GPUs per chip class over all summaries (a node's summaries share one tuple of classes)."""
    per_tuple = Counter(s.chip_classes for s in summaries)
    total: Counter[str] = Counter()
    for classes, n in per_tuple.items():
        for c in classes:
            total[c] += n
    return dict(total)


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
