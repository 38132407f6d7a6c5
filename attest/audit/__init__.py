"""Auditing a fleet: verify every envelope (in parallel), then find what no single manifest shows.

``audit(items, ...)`` verifies envelopes across worker processes — each worker takes whole
nodes, so replay and chain checks see every manifest of a node in order, exactly as a single
process would — and then runs the fleet analytics of :mod:`attest.audit.analytics` on compact
summaries of the authenticated manifests.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

from attest.audit._parallel import VerifierSpec, progress_bar, verify_all
from attest.audit.analytics import FleetFinding, ManifestSummary, RegistryEntry, analyze, csa_events
from attest.crypto.trust import TrustStore
from attest.errors import InputError
from attest.model.base import require_aware
from attest.model.result import Anchors, Finding, Severity, Status, VerificationResult
from attest.units import human_duration
from attest.verify import PolicyEvaluator, PolicyRules, VerifyOptions, with_batch_fork

if TYPE_CHECKING:
    from attest.log.cosignature import WitnessKey
    from attest.log.monitor import LogKey

__all__ = [
    "AuditReport",
    "FailureGroup",
    "VerifierSpec",
    "audit",
    "integration_times",
    "progress_bar",
    "read_source",
]


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

    def anchors(self) -> list[Anchors]:
        """The distinct trust anchors the results were produced with (one for an audit of one verifier).

        Each names its policy, screening lists, catalog and trust store by content; one that is
        not bundled with compute-attest starts ``custom:`` (:mod:`attest.anchors`).
        """
        distinct: list[Anchors] = []
        looked: set[int] = set()
        for r in self.results:
            a = r.anchors
            if a is None or id(a) in looked:
                continue
            looked.add(id(a))
            if a not in distinct:
                distinct.append(a)
        return distinct

    def to_obj(self, *, details: bool = False) -> dict[str, Any]:
        """JSON summary (``--format json``)."""
        obj: dict[str, Any] = {
            "envelopes": len(self.results),
            "status": self.status.value,
            "anchors": [a.to_obj() for a in self.anchors()],
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
    from attest.log import Log

    if Path(source).is_dir():
        return _read_directory(Path(source), pattern, unreadable)
    name = _log_name(source)
    if name is not None:
        store = Log.open(source).store
        return [(f"{name}#{i}", store.entry(i)) for i in range(store.size())]
    raise InputError(f"audit source {source} is neither a directory of envelopes nor a log database")


def _log_name(source: str) -> str | None:
    """The name a log source's entries carry (``NAME#INDEX``), or None when it is no log."""
    from attest.log import is_url

    if is_url(source):
        return source.rsplit("/", 1)[-1] or "log"
    return Path(source).name if Path(source).is_file() else None


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
    for top, dirs, files in os.walk(path, onerror=_dir_error):
        found += [Path(top, f) for f in files if PurePath(Path(top, f).relative_to(path)).match(pattern)]
        # A directory named like an envelope file is not one: said, not skipped (its files are still read).
        failed += [
            (str(Path(top, d).relative_to(path)), "a directory")
            for d in dirs
            if PurePath(Path(top, d).relative_to(path)).match(pattern)
        ]
    items: list[tuple[str, bytes]] = []
    for p in sorted(found):
        if p.is_symlink() and not p.exists():
            failed.append((str(p.relative_to(path)), "a broken symbolic link"))
            continue
        if not p.is_file():
            failed.append((str(p.relative_to(path)), "not a regular file"))
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

    For an entry a signed checkpoint covers, the later of its recorded time and the time of the
    first signed checkpoint that holds it.

    Empty for a directory of envelopes, and for entries a log kept no time for (older logs).
    """
    from attest.log import Log

    name = _log_name(source)
    if name is None:
        return {}
    log = Log.open(source)
    # The time column is the operator's word; the time of the first signed checkpoint that holds
    # an entry is the log's signature: an entry was integrated no later than that. The later of
    # the two is what the backdating check compares, so moving a time back in the database (or
    # deleting the checkpoints around it) cannot make a backdated manifest look fresh.
    # An entry whose own time is missing (removed from the database) is judged by its checkpoint's.
    covered = log.covered_at()
    recorded = log.store.integration_times()
    return {
        f"{name}#{i}": max(recorded.get(i, 0.0), covered[i]) if i in covered else recorded[i]
        for i in sorted(recorded.keys() | covered.keys())
    }


def log_time_findings(
    source: str,
    *,
    log_key: LogKey | None = None,
    witnesses: Sequence[WitnessKey] = (),
    cosignatures: int = 0,
) -> dict[str, Finding]:
    """Findings on the integration times of a log's entries, by the names :func:`read_source` gives them.

    The times are a column of the log's database; only the time lines of the checkpoints the
    log signed bind them. An entry whose time contradicts those checkpoints (rewritten, to hide
    a backdated node clock or to frame one) is ``log.integration_time_rewritten``
    (contraindicated: the log itself was altered); a timed entry that no signed, timed
    checkpoint covers yet is ``log.integration_time_unsigned`` (warning: its time is the log
    operator's word alone; sign a checkpoint before auditing). Empty for a directory.

    The checkpoints are checked against the key the log's database names. Anyone who can write
    that database can name a key of their own and sign time lines with it: without ``log_key``
    (the log's verifier key, pinned by the auditor) every entry is ``log.key_unpinned``
    (warning). With ``cosignatures``, an entry whose time no checkpoint cosigned by that many of
    ``witnesses`` confirms (:meth:`attest.log.Log.uncosigned_times`) is
    ``log.integration_time_unconfirmed`` (warning): a log key holder could re-sign time lines.

    Raises:
        LogMisbehaviour: the log's database names another key than ``log_key``.
    """
    from attest.log import TIME_TOLERANCE_S, Log
    from attest.log.checkpoint import verifier_key
    from attest.log.monitor import LogMisbehaviour

    name = _log_name(source)
    if name is None:
        return {}
    log = Log.open(source)
    if log_key is not None and verifier_key(log_key.name, log_key.public) != verifier_key(
        log.key_name, log.public
    ):
        raise LogMisbehaviour(
            f"the log is signed by another key than the one pinned: its database names "
            f"{verifier_key(log.key_name, log.public)}, --log-key is {verifier_key(log_key.name, log_key.public)}"
        )
    problems, unsigned = log.time_problems()
    missing = set(log.untimed())
    found = {
        f"{name}#{i}": Finding(
            rule="log.integration_time_rewritten",
            severity=Severity.CONTRAINDICATED,
            message=f"the log's record of when it took this manifest contradicts its signed checkpoints: {why}",
            evidence={"entry": i, "tolerance_s": TIME_TOLERANCE_S, "time_missing": i in missing},
            remedy="the log's database was altered: compare it with a monitor's or witness's checkpoints",
        )
        for i, why in problems.items()
    }
    for i in sorted(unsigned):
        found[f"{name}#{i}"] = Finding(
            rule="log.integration_time_unsigned",
            severity=Severity.WARNING,
            message=(
                f"no checkpoint the log signed covers entry {i} yet: when the log took it is the log "
                "operator's word alone, so its issue time is not confirmed"
            ),
            evidence={"entry": i},
            remedy="sign a checkpoint of the log (attest log checkpoint) and audit again",
        )
    for i in log.uncosigned_times(witnesses, cosignatures):
        found.setdefault(
            f"{name}#{i}",
            Finding(
                rule="log.integration_time_unconfirmed",
                severity=Severity.WARNING,
                message=(
                    f"no checkpoint with {cosignatures} witness cosignature(s) confirms when the log took "
                    f"entry {i}: its time is the log key holder's word alone"
                ),
                evidence={"entry": i, "cosignatures": cosignatures},
                remedy="have the log's checkpoints cosigned by the witnesses (attest log witness) and audit again",
            ),
        )
    if log_key is None:
        for i in range(log.size):
            found.setdefault(
                f"{name}#{i}",
                Finding(
                    rule="log.key_unpinned",
                    severity=Severity.WARNING,
                    message=(
                        "the log's checkpoints were checked against the key its own database names: "
                        "whoever can write that database can sign time lines of their choosing, so when "
                        "the log took this manifest is not confirmed"
                    ),
                    evidence={"entry": i, "verifier_key": verifier_key(log.key_name, log.public)},
                    remedy="pin the log's verifier key: attest audit ... --log-key log.pub",
                ),
            )
    return found


def _flag_forks(results: list[VerificationResult], summaries: list[ManifestSummary]) -> None:
    """Refuse every branch of a fork among the audited manifests, whatever their order (in place).

    Each node's manifests are verified in (sequence, input) order, so of two manifests with one
    sequence the first visited would stand: all of them are ``chain.fork`` (as in
    :meth:`attest.verify.Verifier.verify_many`).
    """
    branches: dict[tuple[str, int], set[str]] = {}
    for s in summaries:
        branches.setdefault((s.key_id, s.sequence), set()).add(s.digest)
    index = {r.source: i for i, r in enumerate(results)}
    for n, s in enumerate(summaries):
        found, i = branches[(s.key_id, s.sequence)], index.get(s.name)
        if len(found) < 2 or i is None:
            continue
        results[i] = with_batch_fork(results[i], s.sequence, found)
        summaries[n] = s._replace(status=results[i].status.value)


def _flag_log_times(results: list[VerificationResult], found: dict[str, Finding]) -> None:
    """Add :func:`log_time_findings` to the results they name (in place)."""
    for i, result in enumerate(results):
        finding = found.get(result.source or "")
        if finding is None:
            continue
        status = Status.worst([result.status, finding.severity.status])
        results[i] = result.model_copy(update={"findings": [*result.findings, finding], "status": status})


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
        try:
            when = datetime.fromtimestamp(at, s.issued_at.tzinfo).isoformat()
        except (OverflowError, OSError, ValueError):  # a time beyond the calendar
            when = f"{at:.0f} s"
        finding = Finding(
            rule="log.integration_time",
            severity=Severity.WARNING,
            message=(
                f"the log integrated this manifest at {when}, {delay / 3600:+.2f} h from the issue time it "
                f"claims ({s.issued_at.isoformat()}); beyond {human_duration(max_delay)} a backdated clock (or a very late "
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


def audit(
    items: Sequence[tuple[str, bytes]],
    trust: TrustStore,
    *,
    now: datetime,
    policy: PolicyEvaluator | PolicyRules | str | None = "us-ear",
    options: VerifyOptions = VerifyOptions(as_of_issue=True),  # noqa: B008 - frozen, safe as a default
    jobs: int = 1,
    registry: Sequence[RegistryEntry] = (),
    max_silence: timedelta = timedelta(hours=1),
    max_speed_kmh: float = 1000.0,
    progress: Callable[[int, int], None] | None = None,
    dask_client: Any = None,
    integrated: dict[str, float] | None = None,
    max_log_delay: timedelta = timedelta(hours=1),
    log_times: dict[str, Finding] | None = None,
    evidence_log: str | None = None,
) -> AuditReport:
    """Verify ``items`` on ``jobs`` processes (or on a Dask cluster) and analyze the fleet.

    ``policy`` is a loaded policy (any :class:`~attest.verify.PolicyEvaluator`), a bundled
    policy's id or a policy file, or None to apply none (each result then says so).

    With ``dask_client`` (a ``distributed.Client``), whole-node groups are verified on the
    cluster's workers; the results are the same as a local run's. By default each manifest is
    judged as of its own issue time (``VerifyOptions.as_of_issue``): an audit looks back at
    manifests that have expired since, as they should have; give ``VerifyOptions()`` to judge
    them all at ``now`` instead. ``integrated`` (:func:`integration_times`) is when the log took
    each item: manifests it took more than ``max_log_delay`` after their issue time are flagged.
    ``log_times`` (:func:`log_time_findings`) are added to the items they name; an item whose
    integration time contradicts the log's signed checkpoints is not compared with its issue time.
    ``evidence_log`` (a log file or ``postgresql://`` URL) resolves GPU evidence that heartbeats name
    by digest when no audited item carries it: each entry used is verified in full.
    """
    require_aware(now)
    if jobs < 1:
        raise InputError("--jobs must be at least 1")
    final, summaries = verify_all(
        items,
        VerifierSpec(trust, policy, options, now, evidence_log=evidence_log),
        jobs=jobs,
        progress=progress,
        dask_client=dask_client,
    )
    _flag_forks(final, summaries)
    if log_times:
        _flag_log_times(final, log_times)
        # A contradicted time is not compared with the issue time; a missing one was replaced by
        # its covering checkpoint's time (integration_times), which still is the log's signature.
        rewritten = {
            k
            for k, f in log_times.items()
            if f.rule == "log.integration_time_rewritten" and not f.evidence.get("time_missing")
        }
        integrated = {k: v for k, v in (integrated or {}).items() if k not in rewritten}
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
