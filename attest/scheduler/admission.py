"""Admission: may this job run on these nodes? A pure function of the request, the evidence and policy.

Each candidate node is judged on the latest *verified* evidence about it from its own
key (the result of :func:`attest.verify.verify_envelope` and the manifest it verified, as
:func:`attest.scheduler.evidence.load_evidence` chooses them), in this order:

1. ``no-evidence`` — nothing verified about the node (kept apart from bad evidence:
   a rebooting node is not a forged one);
2. ``key-conflict`` — no key that may speak for this host signed its evidence, or several
   keys do and the operator named none of them, or two keys sign fresh manifests for it:
   one of them speaks for a machine that is not this node;
3. ``quarantined`` — some evidence of the node contradicted itself (an impossible location,
   a chain fork, GPUs that are not the declared ones): refused until an auditor clears it,
   however clean its newest manifest (:mod:`attest.scheduler.quarantine`);
4. ``stale`` — its newest evidence is older than ``max_age``, or has expired; the message
   gives its age;
5. ``evidence-failed`` — its evidence was contraindicated (forged, replayed, impossible location);
6. ``gpus`` — too few GPUs, or not of the requested type (counted on the node's newest
   heartbeat when it is fresh: a job's ``end`` manifest lists only that job's GPUs);
7. ``policy`` — the export-control policy, applied to *this* tenant on that node's site,
   chips and location grade, says no (destination, headquarters rule, screening, the
   minimum evidence grade). A screening match whose identity is unconfirmed (a "possible
   match": a party of a listed name that declares another country, a warning for ``attest
   verify``) refuses too, until the policy clears it: a listed party must not run by declaring
   another country. A near match of an entry the policy refuses (a listed brand inside a
   longer name, a typo) carries the same marker and holds the job too, as does an Affiliates
   finding resting on near matches or possible homonyms only. So does a site whose coordinates
   lie where the borders of its declared country and a prohibited one overlap, as deep in both
   (``site.border_unresolved``, ``"location": "unconfirmed"``).

Other warnings do not refuse; they travel with the verdict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from attest.errors import InputError
from attest.hardware.catalog import bundled_catalog
from attest.model.base import require_aware
from attest.model.manifest import Tenant, WorkloadManifest
from attest.model.result import Finding, Severity, Status, VerificationResult
from attest.policy.engine import Facts
from attest.verify import PolicyEvaluator


@dataclass(frozen=True)
class JobRequest:
    """What a scheduler knows about a job before it runs."""

    tenant: Tenant
    gpu_count: int = 1
    gpu_type: str | None = None
    """A substring of the GPU name (``H100``, ``B200``), case-insensitive; None for any."""
    nodes: Sequence[str] = ()
    """Candidate node host names; empty for every node with evidence."""
    declared_training_ops: float | None = None
    job_id: str = "pending"
    every_node: bool = False
    """The job runs on every node of ``nodes`` (a Slurm allocation), or may land on any of them
    (a pod whose affinity lists several hosts): allowed only if each one qualifies. Otherwise
    ``nodes`` are candidates to choose from and one qualifying node is enough; the caller must
    then place the job on :attr:`Admission.allowed_nodes` (Kueue's podSetUpdates do)."""

    def __post_init__(self) -> None:
        # A str is a Sequence[str] of its characters: nodes="gpu-01" would ask about nodes
        # "g", "p", "u", ... One plain host name is taken as that node; a Slurm host list or
        # an empty string (an unset shell variable, which would mean every node) is refused.
        nodes = self.nodes
        if isinstance(nodes, str):
            if not nodes.strip() or any(c in nodes for c in ",[] \t\n"):
                raise InputError(
                    f"JobRequest nodes={nodes!r} is not a host name: give a list of host names",
                    hint="expand a Slurm host list with attest.scheduler.slurm.expand_hostlist('gpu-[01-04]'); "
                    "nodes=[] asks about every node with evidence",
                )
            nodes = (nodes,)
        bad = [n for n in nodes if not isinstance(n, str) or not n]
        if bad:
            raise InputError(f"JobRequest nodes must be host names (non-empty strings), not {bad[0]!r}")
        object.__setattr__(self, "nodes", tuple(nodes))


@dataclass(frozen=True)
class NodeEvidence:
    """The newest verified evidence about one node."""

    result: VerificationResult
    manifest: WorkloadManifest
    other_keys: tuple[tuple[str, datetime], ...] = ()
    """Other node keys that signed manifests naming this host: (key id, newest ``issued_at``).

    A host name is only a claim in a manifest: a trusted key of one node could vouch for
    another host. These are keys that may speak for it (named or pinned, see
    :func:`attest.scheduler.evidence.key_may_speak`); two of them with fresh manifests for
    one host mean one of them is not that node.
    """
    key_problem: str | None = None
    """Why no single key's evidence can be taken as this host's own (admission refuses)."""
    ignored_keys: tuple[tuple[str, str], ...] = ()
    """Keys that signed manifests naming this host and may not speak for it: (key id, why)."""
    quarantine: tuple[str, ...] = ()
    """Open contradictions about this host (rule: message): refused until an auditor clears them."""
    inventory: WorkloadManifest | None = None
    """The node's newest heartbeat from the same key: every GPU it has, whatever the newest phase."""


@dataclass
class NodeVerdict:
    """Whether one node may run the job, and why."""

    node: str
    allowed: bool
    reason: str
    """``ok``, ``no-evidence``, ``key-conflict``, ``quarantined``, ``stale``, ``evidence-failed``,
    ``gpus`` or ``policy``."""
    message: str
    warnings: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    site_country: str | None = None
    location_grade: str | None = None


@dataclass
class Admission:
    """The verdict for every candidate node."""

    verdicts: list[NodeVerdict]
    every_node: bool = False
    """Whether every node had to qualify (see :attr:`JobRequest.every_node`)."""

    @property
    def allowed_nodes(self) -> list[str]:
        """Nodes that may run the job."""
        return [v.node for v in self.verdicts if v.allowed]

    @property
    def allowed(self) -> bool:
        """At least one node may run it; with ``every_node``, each one may."""
        if self.every_node:
            return bool(self.verdicts) and all(v.allowed for v in self.verdicts)
        return bool(self.allowed_nodes)

    def message(self) -> str:
        """One line a person can act on."""
        if self.allowed:
            return f"allowed on {', '.join(self.allowed_nodes)}"
        if not self.verdicts:
            return "refused: no candidate node"
        refused = [v for v in self.verdicts if not v.allowed]
        head = "refused: "
        if self.every_node and len(refused) < len(self.verdicts):
            head += (
                f"{len(refused)} of its {len(self.verdicts)} nodes may not run it, and it needs all of them: "
            )
        return head + "; ".join(f"{v.node}: {v.message}" for v in refused)


def admit(
    request: JobRequest,
    evidence: Mapping[str, NodeEvidence],
    *,
    policy: PolicyEvaluator | None,
    now: datetime,
    max_age: timedelta = timedelta(minutes=15),
) -> Admission:
    """Judge every candidate node (``request.nodes``, or all nodes with evidence).

    Raises:
        ValueError: a negative GPU count, or ``every_node`` without the nodes (which would
            otherwise mean "every node with evidence" and miss the ones without).
    """
    require_aware(now)
    if request.gpu_count < 0:
        raise ValueError("gpu_count must not be negative")
    if request.every_node and not request.nodes:
        raise ValueError("every_node needs the job's nodes")
    nodes = list(dict.fromkeys(request.nodes)) or sorted(evidence)
    verdicts = [_judge(request, n, evidence.get(n), policy, now, max_age) for n in nodes]
    return Admission(verdicts, every_node=request.every_node)


def _judge(
    request: JobRequest,
    node: str,
    ev: NodeEvidence | None,
    policy: PolicyEvaluator | None,
    now: datetime,
    max_age: timedelta,
) -> NodeVerdict:
    if ev is None:
        return NodeVerdict(node, False, "no-evidence", "no verified evidence about this node")
    m, r = ev.manifest, ev.result
    country, grade = m.site.country, r.location_grade
    rivals = [k for k, at in ev.other_keys if now - at <= max_age]
    if ev.key_problem or rivals:
        return NodeVerdict(
            node,
            False,
            "key-conflict",
            ev.key_problem
            or f"node keys {(r.key_id or '?')[:16]}… and {', '.join(k[:16] + '…' for k in rivals)} all sign fresh "
            "manifests for this host name: at most one of them is this node",
            site_country=country,
            location_grade=grade,
        )
    notes = [
        f"evidence for this host signed by key {k[:16]}… was ignored: {why}" for k, why in ev.ignored_keys
    ]
    if ev.quarantine:
        return NodeVerdict(
            node,
            False,
            "quarantined",
            "quarantined until an auditor clears it (attest quarantine clear "
            f"{node} --by NAME --reason TEXT): " + "; ".join(ev.quarantine[:3]),
            notes,
            site_country=country,
            location_grade=grade,
        )
    age = now - m.freshness.issued_at
    expired = r.status is Status.CONTRAINDICATED and {
        f.rule for f in r.findings if f.severity is Severity.CONTRAINDICATED
    } == {"freshness.expired"}
    # Judged at this review's own time, not the verification's: a cached result may predate the expiry.
    expired = expired or (age <= max_age and now >= m.freshness.expires_at)
    if age > max_age or expired:
        why = (
            "it expired at " + m.freshness.expires_at.isoformat()
            if expired
            else f"older than {int(max_age.total_seconds())} s"
        )
        return NodeVerdict(
            node,
            False,
            "stale",
            f"newest evidence is {_age(age)} old (issued {m.freshness.issued_at.isoformat()}): {why}",
            notes,
            site_country=country,
            location_grade=grade,
        )
    if r.status is Status.CONTRAINDICATED:
        bad = [f for f in r.findings if f.severity is Severity.CONTRAINDICATED]
        return NodeVerdict(
            node,
            False,
            "evidence-failed",
            "its evidence failed verification: " + "; ".join(f"{f.rule}: {f.message}" for f in bad[:3]),
            notes,
            findings=bad,
            site_country=country,
            location_grade=grade,
        )
    # A job's start/end manifest lists that job's GPUs; the newest heartbeat lists the node's.
    inv = ev.inventory
    node_gpus = inv.gpus if inv is not None and now - inv.freshness.issued_at <= max_age else m.gpus
    gpus = [g for g in node_gpus if request.gpu_type is None or request.gpu_type.lower() in g.name.lower()]
    if len(gpus) < request.gpu_count:
        what = f"{request.gpu_type} " if request.gpu_type else ""
        return NodeVerdict(
            node,
            False,
            "gpus",
            f"has {len(gpus)} {what}GPUs, the job needs {request.gpu_count}",
            site_country=country,
            location_grade=grade,
        )
    warnings = notes + [f"{f.rule}: {f.message}" for f in r.findings if f.severity is Severity.WARNING]
    if policy is None:
        return NodeVerdict(
            node,
            True,
            "ok",
            "allowed (no policy applied)",
            warnings,
            site_country=country,
            location_grade=grade,
        )
    job = m.job.model_copy(
        update={"id": request.job_id, "declared_training_ops": request.declared_training_ops}
    )
    proposed = m.model_copy(update={"tenant": request.tenant, "job": job, "gpus": list(node_gpus)})
    catalog = bundled_catalog()
    facts = Facts(r.location_grade or "declared", [catalog.classify_gpu(g) for g in node_gpus])
    found = list(policy.evaluate(proposed, now=now, facts=facts))
    refused = [f for f in found if f.severity is Severity.CONTRAINDICATED or _unconfirmed(f)]
    warnings += [
        f"{f.rule}: {f.message}" for f in found if f.severity is Severity.WARNING and not _unconfirmed(f)
    ]
    if refused:
        return NodeVerdict(
            node,
            False,
            "policy",
            "; ".join(f"{f.rule}: {f.message}" for f in refused),
            warnings,
            refused,
            site_country=country,
            location_grade=grade,
        )
    return NodeVerdict(
        node, True, "ok", "allowed", warnings, found, site_country=country, location_grade=grade
    )


def _unconfirmed(f: Finding) -> bool:
    """A warning that holds a job until someone confirms what it doubts.

    A party that may be the listed one (``identity``), or a site the borders cannot place on
    either side of a prohibited country's border (``location``).
    """
    return f.severity is Severity.WARNING and (
        f.evidence.get("identity") == "unconfirmed" or f.evidence.get("location") == "unconfirmed"
    )


def _age(age: timedelta) -> str:
    seconds = int(age.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"
