"""The audit's parallel machinery: whole nodes per process (or Dask worker), results back in order.

Every process builds one :class:`~attest.verify.Verifier` per group of whole nodes from a
picklable :class:`VerifierSpec` (the trust store, the policy, the options, the time), so
replay and chain checks see every manifest of a node in order, as one process would. The
last groups are cut into pieces verified speculatively and settled against the true state
(:func:`_settle`); results cross the process boundary packed as plain tuples (:func:`_pack`).
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import operator
import os
import queue
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import msgspec

from attest.audit.analytics import ManifestSummary
from attest.crypto.canonical import MSGSPEC_ERRORS
from attest.crypto.trust import TrustStore
from attest.errors import AttestError
from attest.hardware.catalog import Catalog
from attest.model.base import construct
from attest.model.result import Finding, TrustVector, VerificationResult
from attest.model.statement import Envelope
from attest.model.wire import view
from attest.replay import (
    ChainHead,
    ChainStore,
    MemoryVerifierState,
    NonceStore,
    Sighting,
)
from attest.verify import (
    EvidenceSource,
    PolicyEvaluator,
    PolicyRules,
    Verifier,
    VerifyOptions,
    _chain_step,
    chain_order_key,
)

__all__ = ["VerifierSpec", "progress_bar", "verify_all"]


@dataclass(frozen=True)
class VerifierSpec:
    """What every worker of an audit builds its :class:`~attest.verify.Verifier` from (picklable).

    ``policy`` is a loaded policy or a reference to load (a bundled id or a file), which
    :meth:`loaded` resolves once per process; each group of whole nodes then gets a verifier
    of these anchors with stores of its own (:meth:`verifier`).
    """

    trust: TrustStore
    policy: PolicyEvaluator | PolicyRules | str | None
    options: VerifyOptions
    now: datetime
    catalog: Catalog | None = None
    evidence_log: str | None = None
    """A log (SQLite file or ``postgresql://``) that GPU evidence named by digest is resolved from
    when the audited items do not carry it (each entry used is verified in full)."""
    opened: tuple[int, EvidenceSource] | None = field(default=None, compare=False, repr=False)
    """The process id and the log :meth:`loaded` opened there (never pickled; reopened in each process)."""

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["opened"] = None  # a database connection does not cross a process boundary
        return state

    def loaded(self) -> VerifierSpec:
        """This description with its policy loaded and its evidence log opened in this process (itself when they are)."""
        spec = self
        if isinstance(spec.policy, str):
            from attest.policy import load_policy

            spec = replace(spec, policy=load_policy(spec.policy))
        if spec.evidence_log is not None and (spec.opened is None or spec.opened[0] != os.getpid()):
            from attest.log import Log

            spec = replace(spec, opened=(os.getpid(), Log.open(spec.evidence_log)))
        return spec

    def verifier(self, nonces: NonceStore, chains: ChainStore) -> Verifier:
        """A verifier of these anchors over ``nonces`` and ``chains`` (the policy must be loaded).

        The audit gives one :class:`~attest.replay.MemoryVerifierState` as both, as ``attest
        verify`` keeps them: the same payload from the same node key seen again (a
        byte-identical copy, or the payload signed again) is then the same manifest,
        ``freshness.seen_before`` with its first chain verdict, not a replay.
        """
        if isinstance(self.policy, str):  # pragma: no cover - every caller loads first
            raise TypeError("VerifierSpec.verifier needs a loaded policy: call loaded() first")
        return Verifier(
            self.trust,
            policy=self.policy,
            catalog=self.catalog,
            options=self.options,
            nonces=nonces,
            chains=chains,
            devices=None,
            evidence_log=self.opened[1]
            if self.opened is not None and self.opened[0] == os.getpid()
            else None,
        )


_Out = list[tuple[int, VerificationResult, ManifestSummary | None]]
_Ops = list[tuple[int, str, str, Any, Any]]
"""What a speculative piece asked of its state and wrote to it: (position, kind, key, arguments,
answer), in order. Kinds: "n" a first use (nonce, expiry, payload, time) answered by a
:class:`~attest.replay.Sighting`; "c" a chain head read (None) answered by the head; "k" a
chain verdict noted for a first use (nonce, payload, rule), answered by None."""


class _Trace:
    """Where a piece's state writes down what it was asked (see :func:`_settle`)."""

    def __init__(self) -> None:
        self.pos = -1
        self.ops: _Ops = []


class _TracedState(MemoryVerifierState):
    def __init__(self, trace: _Trace) -> None:
        super().__init__()
        self._trace = trace

    def first_use(
        self, key_id: str, nonce: str, expires_at: datetime, payload: str, at: datetime
    ) -> Sighting:
        first = super().first_use(key_id, nonce, expires_at, payload, at)
        self._trace.ops.append((self._trace.pos, "n", key_id, (nonce, expires_at, payload, at), first))
        return first

    def head(self, key_id: str) -> ChainHead | None:
        head = super().head(key_id)
        self._trace.ops.append((self._trace.pos, "c", key_id, None, head))
        return head

    def note_chain(self, key_id: str, nonce: str, payload: str, rule: str) -> None:
        super().note_chain(key_id, nonce, payload, rule)
        self._trace.ops.append((self._trace.pos, "k", key_id, (nonce, payload, rule), None))


def _verify_group(
    spec: VerifierSpec,
    items: list[tuple[str, bytes]],
    *,
    state: MemoryVerifierState | None = None,
    trace: _Trace | None = None,
) -> _Out:
    """Verify one group of whole nodes (or a piece of one), in chain order; return (position, result, summary).

    The state (replay and chain checks, one object as ``attest verify`` keeps it) starts empty
    unless given; with ``trace`` it writes down what it was asked.
    """
    if trace is not None:
        state = _TracedState(trace)
    state = state if state is not None else MemoryVerifierState()
    verifier = spec.verifier(state, state)
    order = sorted(range(len(items)), key=lambda i: chain_order_key(items[i][1]))
    out = []
    for i in order:
        if trace is not None:
            trace.pos = i
        name, raw = items[i]
        result, manifest, hardware = verifier.verify_and_resolve(raw, now=spec.now, source=name)
        summary = ManifestSummary.of(name, manifest, result, hardware) if manifest is not None else None
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


def _verify_traced(
    spec: VerifierSpec, items: list[tuple[str, bytes]], traced: bool
) -> tuple[_Out, _Ops | None]:
    """:func:`_verify_group` from empty stores; with ``traced``, also what the stores were asked."""
    if not traced:
        return _verify_group(spec, items), None
    trace = _Trace()
    return _verify_group(spec, items, trace=trace), trace.ops


def _verify_packed(
    spec: VerifierSpec, items: list[tuple[str, bytes]], *, traced: bool = False
) -> tuple[list[tuple[int, _Packed, ManifestSummary | None]], _Ops | None]:
    """:func:`_verify_traced` in a worker process, its results packed for the trip back."""
    results, ops = _verify_traced(spec, items, traced)
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
    items: list[tuple[str, bytes]], spec: VerifierSpec
) -> list[tuple[int, _Packed, ManifestSummary | None]]:
    """One group on a distributed worker (Dask), verified like a local process's.

    ``spec`` arrives with its policy loaded (scattered to every worker once); the results
    come back packed, as from a local worker process (see :func:`_pack`).
    """
    return _verify_packed(spec.loaded(), items)[0]


# The signatures' key ids, read before anything is verified by a view of the Envelope model
# (attest.model.wire): its own constraints, every other member skipped.
_SIG_KEYS = msgspec.json.Decoder(view(Envelope, {"signatures": {"keyid": None}})).decode


def _signer_ids(raw: bytes, canonical: bool) -> list[bytes]:
    """The key ids of an envelope's signatures, read without verifying anything.

    Every key whose replay and chain state an envelope can touch is among these: it reaches
    those checks only when every signature verifies with a trusted key (found by this id).
    An envelope the view cannot read (not JSON, a key id that is not 64 lowercase hex digits,
    no signature or too many) cannot pass verification, so it touches no key's state.
    ``canonical`` is kept for callers; the view reads every spelling the same way.
    """
    try:
        return [s.keyid.encode() for s in _SIG_KEYS(raw).signatures]  # type: ignore[attr-defined]
    except MSGSPEC_ERRORS:
        return []


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
    spec: VerifierSpec,
) -> None:
    """A verifying process: claim groups until none is left; send back packed results, then None."""
    try:
        spec = spec.loaded()
        while (g := _next_group(counter, len(groups))) is not None:
            packed, ops = _verify_packed(spec, groups[g], traced=g in traced)
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
    spec: VerifierSpec,
    take: Callable[[int, _Out, _Ops | None], None],
) -> None:
    """Verify ``chunks`` on this process and ``jobs - 1`` workers (``spec``'s policy loaded already).

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
        ctx.Process(target=_worker_main, args=(groups, traced, counter, results, spec), daemon=True)
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
            take(g, *_verify_traced(spec, groups[g], g in traced))
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


def _settle(spec: VerifierSpec, pieces: list[tuple[_Chunk, _Out, _Ops]]) -> list[tuple[_Chunk, _Out]]:
    """The results of one cut group's pieces, each as if its group had been verified whole.

    A piece was verified with empty replay and chain stores. Its results stand if every
    answer those stores gave matches what the true stores (everything before the piece)
    give for the same questions: no nonce of the piece seen before it, and each chain check
    reaching the same verdict from the true head (a piece of an unbroken chain starts with
    the manifest after the previous piece's last). Otherwise the piece is verified again,
    here, from the true stores. Either way the stores then hold the state after the piece.
    """
    if any(_unresolved(results) for _, results, _ in pieces[1:]):
        # A heartbeat that names its binding by digest resolves it from evidence its verifier
        # saw earlier in the node's history; a piece's fresh verifier never saw the pieces
        # before it. The whole group is verified again in one verifier, as --jobs 1 would.
        items = [it for chunk, _, _ in pieces for _, it in chunk]
        whole = _verify_group(spec, items)
        bounds, start = [], 0
        for chunk, _, _ in pieces:
            bounds.append((start, start + len(chunk)))
            start += len(chunk)
        return [
            (chunk, [(i - lo, r, s) for i, r, s in whole if lo <= i < hi])
            for (chunk, _, _), (lo, hi) in zip(pieces, bounds, strict=True)
        ]
    state = MemoryVerifierState()
    out = []
    for chunk, results, ops in pieces:
        before = state.copy()
        if not _alike(ops, results, state):
            state = before
            results = _verify_group(spec, [it for _, it in chunk], state=state)
        out.append((chunk, results))
    return out


def _unresolved(results: _Out) -> bool:
    """Whether a piece refused a binding reference its verifier had not seen (see :func:`_settle`)."""
    return any(f.rule == "hardware.cc.evidence_unknown" for _, r, _ in results for f in r.findings)


def _alike(ops: _Ops, results: _Out, state: MemoryVerifierState) -> bool:
    """Whether ``ops`` get the same answers from ``state`` (which they update as the piece did)."""
    summaries = {i: summary for i, _, summary in results}
    for pos, kind, key, args, answer in ops:
        if kind == "n":
            if state.first_use(key, *args) != answer:
                return False
            continue
        if kind == "k":  # the chain verdict just found alike, kept with its first use
            state.note_chain(key, *args)
            continue
        s = summaries[pos]
        if s is None:  # pragma: no cover - a manifest reaches the chain check only once authenticated
            return False
        head = state.head(key)
        verdict = _chain_step(head, s.sequence, s.digest, s.previous)
        if verdict != _chain_step(answer, s.sequence, s.digest, s.previous):
            return False
        if verdict[1]:
            state.advance(key, ChainHead(sequence=s.sequence, digest=s.digest))
    return True


def verify_all(
    items: Sequence[tuple[str, bytes]],
    spec: VerifierSpec,
    *,
    jobs: int = 1,
    progress: Callable[[int, int], None] | None = None,
    dask_client: Any = None,
) -> tuple[list[VerificationResult], list[ManifestSummary]]:
    """Verify ``items`` on ``jobs`` processes (or a Dask cluster): results in input order, and summaries.

    Whole nodes go to one process each, so replay and chain checks see every manifest of a
    node in order, exactly as one process would; the results are those of one process.
    """
    results: list[VerificationResult | None] = [None] * len(items)
    summaries: list[ManifestSummary] = []
    options = spec.options
    if dask_client is None:
        from attest.hardware.catalog import bundled_catalog

        bundled_catalog()  # loaded once here; forked workers inherit it
        spec = spec.loaded()
        # The anchors' digests (a screening list's takes most of a second), computed once here too.
        _ = spec.verifier(MemoryVerifierState(), MemoryVerifierState()).anchors
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
        # Each worker keeps its own chain cache; the description (policy loaded once, here) is
        # sent to every worker once.
        remote = replace(spec.loaded(), options=replace(options, cc_cache=None))
        spec_f = dask_client.scatter(remote, broadcast=True)
        futures = {
            dask_client.submit(_remote_group, [it for _, it in c], spec_f, pure=False): c for c in chunks
        }
        for fut in dask_completed(list(futures)):  # type: ignore[no-untyped-call]
            commit(futures[fut], _unpack_batch(fut.result()))
            count(futures[fut])
    elif jobs == 1:
        for c in chunks:
            commit(c, _verify_group(spec, [it for _, it in c]))
            count(c)
    else:
        chunks, cut = _split_tail(chunks, jobs)
        pieces: dict[int, tuple[_Out, _Ops]] = {}

        def take(g: int, out: _Out, ops: _Ops | None) -> None:
            if ops is None:
                commit(chunks[g], out)
            else:  # a piece of a cut group: it stands once the pieces before it are in
                pieces[g] = (out, ops)
            count(chunks[g])

        _verify_in_processes(chunks, frozenset(g for gs in cut for g in gs), jobs, spec, take)
        for gs in cut:
            for chunk, out in _settle(spec, [(chunks[g], *pieces[g]) for g in gs]):
                commit(chunk, out)
    return [r for r in results if r is not None], summaries


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
