"""Evaluate a policy against a verified manifest: pure, one small function per rule kind.

Every finding names its rule (``policy.<rule id>``), the facts it used (chip
paragraph, site country and the groups it is in, tenant and parent
headquarters, licences checked and why each did not fit) and what would make
it pass. Group membership is evaluated at the manifest's issue time, so dated
changes (Cambodia leaving D:5 on 2026-02-03) apply to the right manifests.
"""

from __future__ import annotations

import os
import tomllib
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import cast

from pydantic import JsonValue

from attest._internal.memo import ByIdentity
from attest.errors import InputError
from attest.hardware.catalog import Catalog, ChipClassification, bundled_catalog
from attest.location.borders import bundled_borders
from attest.location.in_country import (
    containing,
    country_fit,
    depth_km,
    in_any,
    territory_distance_km,
)
from attest.model.countries import ACCEPTED_COUNTRY_CODES
from attest.model.manifest import Identifier, WorkloadManifest
from attest.model.policy import (
    _HOMONYM_NEVER,
    AffiliatesRule,
    Clearance,
    CountryGroup,
    DestinationRule,
    EvidenceStrengthRule,
    HardwareRequirement,
    HeadquartersRule,
    LicenseEntry,
    LocationRequirement,
    NoticeRule,
    PolicyDocument,
    ProhibitedHardwareRule,
    Rule,
    ScreeningRule,
    SiteCountryRule,
    TrainingComputeRule,
    ValidityRule,
)
from attest.model.result import Finding, Severity
from attest.policy.registration import RegistrationEvidence, parent_named, prc_registration
from attest.policy.screening import (
    Match,
    Screener,
    drawn_symbols,
    fold,
    load_list,
    normalize,
    screener_for,
    unscreened_scripts,
)

BUNDLED = ("us-ear", "us-ai-diffusion-2025")
"""Policies shipped with the package; ``us-ear`` is the default."""

# key-measured (landmarks answered by the node key alone) sits below measured (answered by the GPUs):
# a policy that requires measured is never satisfied by what a copy of the key could have earned.
_GRADES = {"declared": 0, "hardware-bound": 1, "key-measured": 2, "measured": 3}


class PolicyError(InputError):
    """A policy file is unreadable, malformed, or would evaluate nothing."""


@dataclass(frozen=True)
class Facts:
    """What the verifier established before policy: the location grade and each GPU's classification.

    ``catalog`` is the chip catalog the verifier classified with; every rule that reads the
    catalog (licence-listed destinations, prohibited chips) reads this one (None: the bundled one).
    """

    location_grade: str
    classifications: Sequence[ChipClassification]
    catalog: Catalog | None = None

    @property
    def chips(self) -> Catalog:
        """The catalog the rules read: the verifier's, else the bundled one."""
        return self.catalog if self.catalog is not None else bundled_catalog()


def _read_document(ref: str, base: Path | None) -> tuple[PolicyDocument, Path | None, str]:
    """The document ``ref`` names, the folder its own ``extends`` are read from, and where it came from."""
    if ref in BUNDLED:
        text = resources.files("attest.policy").joinpath(f"data/{ref}.toml").read_text(encoding="utf-8")
        where, path = f"bundled policy {ref}", None
    else:
        path = Path(ref) if base is None or Path(ref).is_absolute() else base / ref
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise PolicyError(
                f"policy {ref!r} is neither a file nor a bundled policy",
                hint=f"bundled: {', '.join(BUNDLED)}",
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyError(f"cannot read policy {path}: {exc}") from None
        where = f"policy {path}"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{where} is not valid TOML: {exc}") from None
    try:
        return PolicyDocument.from_obj(data, what=where), path.parent if path else None, where
    except InputError as exc:
        raise PolicyError(exc.message) from None


@cache
def _bundled_document(policy_id: str) -> PolicyDocument:
    """The bundled policy document ``policy_id`` (read once)."""
    return _read_document(policy_id, None)[0]


def _check_bundled_id(doc: PolicyDocument, named: str) -> None:
    """Refuse a document that calls itself by a bundled policy's id and is not that policy."""
    if doc.id in BUNDLED and doc.to_obj() != _bundled_document(doc.id).to_obj():
        raise PolicyError(
            f"{named} calls itself {doc.id!r}, the id of a bundled policy, and is not that policy",
            hint=f'give it an id of its own and extend {doc.id} (extends = ["{doc.id}"])',
        )


def default_lists_dir() -> Path:
    """Where ``attest lists import`` keeps lists: ``$ATTEST_LISTS_DIR``, else ``$XDG_DATA_HOME/compute-attest/lists``."""
    if os.environ.get("ATTEST_LISTS_DIR"):
        return Path(os.environ["ATTEST_LISTS_DIR"])
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "compute-attest" / "lists"


def load_policy(ref: str, *, lists_dir: Path | None = None) -> Policy:
    """Load a bundled policy by name, or a TOML file, with everything it extends and the lists it screens against.

    One id names one document: a file that calls itself by a bundled policy's id must be that
    policy, word for word, and two different documents with one id are refused (else the second,
    the bundled ``us-ear`` say, would be skipped without a word).
    """
    chain: list[PolicyDocument] = []
    where: dict[str, str] = {}

    def visit(r: str, base: Path | None, seen: tuple[str, ...]) -> None:
        doc, here, named = _read_document(r, base)
        if doc.id in seen:
            raise PolicyError(f"policy {doc.id} extends itself through {' -> '.join(seen)}")
        if r not in BUNDLED:
            _check_bundled_id(doc, named)
        for parent in doc.extends:
            visit(parent, here, (*seen, doc.id))
        first = next((d for d in chain if d.id == doc.id), None)
        if first is None:
            chain.append(doc)
            where[doc.id] = named
        elif first.to_obj() != doc.to_obj():
            raise PolicyError(
                f"two different policy documents have the id {doc.id!r}: {where[doc.id]} and {named}",
                hint="one id names one document: rename one of them",
            )

    visit(ref, None, ())
    return Policy(chain, lists_dir=lists_dir or default_lists_dir())


@dataclass(frozen=True)
class Override:
    """A group or territory that a document defines otherwise than a policy it extends, and why.

    ``codes`` are the countries whose treatment it changes: a verdict about a manifest with a
    site or party in one of them rests on the override (``policy.override``, a warning).
    """

    what: str
    document: str
    base: str | None
    change: str
    reason: str
    codes: frozenset[str]
    replaced: Rule | None = None
    """For a rule replaced by another of its id: the base's rule (judged too, to compare)."""
    grades: frozenset[str] = frozenset()
    """For a weaker ``[location]`` or ``[hardware]`` section: the location grades that rest on it
    (a verdict on a manifest of such a grade is a warning, whatever its countries)."""

    def describe(self) -> str:
        """One line: what the override changes, in which document, and the reason it gives."""
        of = f" of {self.base}" if self.base else ""
        return f"{self.what}{of} changed by {self.document} ({self.change}): {self.reason}"


def _group_codes(group: CountryGroup) -> set[str]:
    return {*group.members, *(c.code for c in group.changes)}


def _dated(group: CountryGroup, code: str) -> list[tuple[str, date]]:
    return sorted((c.action, c.date) for c in group.changes if c.code == code)


def _overrides(documents: Sequence[PolicyDocument]) -> list[Override]:
    """Every group and territory a later document changes, each with the reason it must give.

    A redefined group (members removed, added or dated otherwise) and a territory treated as
    another country than a base says (HK as SG), or a new one where a base defines territories
    (CN as SG would put China in A:6), are refused unless the document says why (``override``
    in the group, ``territories_override``), so no extending policy narrows the bundled data
    without a word. A territory treated as another territory is refused whatever the reason.
    """
    out: list[Override] = []
    groups: dict[str, tuple[str, CountryGroup]] = {}
    territories: dict[str, tuple[str, str]] = {}
    for doc in documents:
        for name, group in doc.groups.items():
            prev = groups.get(name)
            groups[name] = (doc.id, group)
            if prev is None:
                continue
            base_id, base = prev
            codes = {
                c
                for c in _group_codes(base) | _group_codes(group)
                if (c in base.members) != (c in group.members) or _dated(base, c) != _dated(group, c)
            }
            if not codes:
                continue
            removed = sorted(c for c in codes if c in base.members and c not in group.members)
            added = sorted(c for c in codes if c in group.members and c not in base.members)
            dated = sorted(codes - {*removed, *added})
            change = "; ".join(
                part
                for part in (
                    f"removes {' '.join(removed)}" if removed else "",
                    f"adds {' '.join(added)}" if added else "",
                    f"dates {' '.join(dated)} otherwise" if dated else "",
                )
                if part
            )
            reason = group.override or (
                f"the group of the bundled policy {doc.id}" if doc.id in BUNDLED else None
            )
            if reason is None:
                raise PolicyError(
                    f"policy {doc.id} redefines group {name} of {base_id} ({change}) without saying why",
                    hint=f'add override = "<the reason>" to [groups."{name}"] (then attest policy show and every '
                    "verdict name it), or define a group of another name for your own rules",
                )
            out.append(Override(f"group {name}", doc.id, base_id, change, reason, frozenset(codes)))
        changed: list[tuple[str, str, tuple[str, str] | None]] = []
        for t, c in doc.territories.items():
            prev_t = territories.get(t)
            if (prev_t is not None and prev_t[1] != c) or (prev_t is None and territories):
                changed.append((t, c, prev_t))
        for t, c in doc.territories.items():
            territories[t] = (doc.id, c)
        territories_reason = doc.territories_override or (
            f"the territories of the bundled policy {doc.id}" if doc.id in BUNDLED else None
        )
        if changed and territories_reason is None:
            what = ", ".join(
                f"{t} as {c}" + (f" (not {p[1]}, as {p[0]} says)" if p else "") for t, c, p in changed
            )
            raise PolicyError(
                f"policy {doc.id} changes the territories of the policies it extends ({what}) without saying why",
                hint='add territories_override = "<the reason>" (then attest policy show and every verdict name it)',
            )
        for t, c, p in changed:
            out.append(
                Override(
                    f"territory {t}",
                    doc.id,
                    p[0] if p else None,
                    f"{t} treated as {c}" + (f", not {p[1]}" if p else ", a new territory"),
                    territories_reason or "",
                    frozenset({t}),
                )
            )
    chained = sorted(f"{t} as {c}" for t, (_, c) in territories.items() if c in territories)
    if chained:
        raise PolicyError(
            f"the composed policy treats a territory as another territory ({', '.join(chained)}); "
            "a territory must be treated as a country"
        )
    return out


class Policy:
    """One policy, composed from its documents (bases first); implements ``PolicyEvaluator``."""

    def __init__(self, documents: Sequence[PolicyDocument], *, lists_dir: Path | None = None) -> None:
        if not documents:
            raise PolicyError("no policy document given")
        seen: dict[str, PolicyDocument] = {}
        for doc in documents:
            # One id, one document. (A file calling itself by a bundled id is refused by load_policy;
            # documents built in code may change a bundled one, and its anchor then says custom.)
            if doc.id in seen and seen[doc.id].to_obj() != doc.to_obj():
                raise PolicyError(f"two different policy documents have the id {doc.id!r}")
            seen[doc.id] = doc
        self.documents = list(documents)
        self.main = documents[-1]
        self.groups = {name: group for doc in documents for name, group in doc.groups.items()}
        # One source of truth for "China": a territory (HK, MO) is in every group and rule that
        # names its country (CN), so no rule can prohibit CN and forget Hong Kong.
        self.territories = {t: c for doc in documents for t, c in doc.territories.items()}
        # Groups and territories a later document changes: each with its reason, shown in every verdict.
        self.overrides = _overrides(documents)
        self._members: dict[tuple[str, str, date], bool] = {}  # groups never change once loaded
        self._verdicts: ByIdentity[tuple[Finding, ...]] = ByIdentity(256)
        self.licenses: list[LicenseEntry] = [lic for doc in documents for lic in doc.licenses]
        self.cleared: list[Clearance] = [c for doc in documents for c in doc.cleared]
        rules: dict[str, tuple[str, Rule]] = {}
        for doc in documents:
            for rule in doc.rules:
                # A later document's rule with the same id replaces the base's, saying why; every
                # verdict judges the base's rule too and warns where it would have been more severe.
                prev = rules.get(rule.id)
                rules[rule.id] = (doc.id, rule)
                if prev is None or prev[1].to_obj() == rule.to_obj():
                    continue
                reason = rule.override or (
                    f"the rule of the bundled policy {doc.id}" if doc.id in BUNDLED else None
                )
                if reason is None:
                    raise PolicyError(
                        f"policy {doc.id} replaces rule {rule.id} of {prev[0]} without saying why",
                        hint='add override = "<the reason>" to the rule (then attest policy show and every verdict '
                        "name it), or give the rule an id of its own",
                    )
                self.overrides.append(
                    Override(
                        f"rule {rule.id}",
                        doc.id,
                        prev[0],
                        f"{prev[1].kind} rule replaced by a {rule.kind} rule",
                        reason,
                        frozenset(),
                        replaced=prev[1],
                    )
                )
        self.rules = [rule for _, rule in rules.values()]
        if not self.rules:
            raise PolicyError(f"policy {self.main.id} has no rules; an empty policy would pass everything")
        self.screeners: dict[str, Screener] = {}
        replaced = [o.replaced for o in self.overrides if isinstance(o.replaced, ScreeningRule)]
        # Where a listed party is never taken for a homonym: every screening rule's places together,
        # the replaced rules' too (red team rt8: a replacement with homonym_never = ["AQ"] made
        # Russian-listed parties possible homonyms, and the replaced rule was judged with its list).
        never = [
            g
            for rule in [*self.rules, *replaced]
            if isinstance(rule, ScreeningRule)
            for g in rule.homonym_never
        ]
        self.homonym_never: list[str] = list(dict.fromkeys(never)) if never else list(_HOMONYM_NEVER)
        self._base_screeners: dict[str, Screener] = {}
        for rule in [*self.rules, *replaced]:
            if isinstance(rule, ScreeningRule):
                try:
                    lists = [load_list(ref, lists_dir) for ref in rule.lists]
                except InputError as exc:
                    raise PolicyError(
                        f"rule {rule.id} of policy {self.main.id}: {exc.message}", hint=exc.hint
                    ) from None
                screener = screener_for(lists, near_threshold=rule.near_threshold)
                if any(rule is r for r in replaced):
                    self._base_screeners[rule.id] = screener
                else:
                    self.screeners[rule.id] = screener
            for name in _rule_groups(rule):
                if name != "*" and len(name) != 2 and name not in self.groups:
                    raise PolicyError(
                        f"rule {rule.id} of policy {self.main.id} names group {name!r}, which no document defines"
                    )

        self.location = next(
            (d.location for d in reversed(self.documents) if d.location), LocationRequirement()
        )
        self.hardware = next(
            (d.hardware for d in reversed(self.documents) if d.hardware), HardwareRequirement()
        )
        for name in self.location.prohibited:
            if len(name) != 2 and name not in self.groups:
                raise PolicyError(
                    f"the location section of policy {self.main.id} names group {name!r}, which no document defines"
                )
        self.overrides.extend(self._weaker_sections())

    def _weaker_sections(self) -> list[Override]:
        """Each ``[location]`` or ``[hardware]`` section that asks less than the one it replaces, with its reason.

        A document's section replaces the inherited one whole (or the defaults, where no base has
        one). One that proves less — a prohibited country dropped, fewer operators, a smaller
        margin, older receipts, more site slack, an older binding — is refused unless it says why
        (``override`` in the section); with a reason, every verdict on a manifest whose grade
        rests on it is a warning (``policy.override``). A stricter section needs no reason.
        """
        out: list[Override] = []
        location: tuple[str | None, LocationRequirement] = (None, LocationRequirement())
        hardware: tuple[str | None, HardwareRequirement] = (None, HardwareRequirement())
        today = date.today()
        for doc in self.documents:
            if doc.location is not None:
                base_id, base = location
                changes = _weaker_location(self, base, doc.location, today)
                if changes:
                    out.append(
                        self._section_override(
                            doc,
                            "location",
                            base_id,
                            changes,
                            doc.location.override,
                            _LOCATION_GRADES,
                        )
                    )
                location = (doc.id, doc.location)
            if doc.hardware is not None:
                base_hw_id, base_hw = hardware
                new = doc.hardware
                if new.binding_max_age_s > base_hw.binding_max_age_s:
                    change = f"binding_max_age_s {base_hw.binding_max_age_s} → {new.binding_max_age_s}"
                    out.append(
                        self._section_override(
                            doc,
                            "hardware",
                            base_hw_id,
                            [change],
                            new.override,
                            _BOUND_GRADES,
                        )
                    )
                hardware = (doc.id, new)
        return out

    def _section_override(
        self,
        doc: PolicyDocument,
        section: str,
        base_id: str | None,
        changes: list[str],
        reason: str | None,
        grades: frozenset[str],
    ) -> Override:
        change = "; ".join(changes)
        if reason is None and doc.id in BUNDLED:
            reason = f"the {section} section of the bundled policy {doc.id}"
        if reason is None:
            raise PolicyError(
                f"policy {doc.id}'s [{section}] asks less than "
                f"{'that of ' + base_id if base_id else 'the defaults'} ({change}) without saying why",
                hint=f'add override = "<the reason>" to [{section}] (then attest policy show and every verdict '
                "name it), or keep what it replaces",
            )
        return Override(f"[{section}]", doc.id, base_id, change, reason, frozenset(), grades=grades)

    def screener(self, rule: ScreeningRule) -> Screener:
        """The screener of a screening rule of this policy (or of a base's rule another one replaced)."""
        base = self._base_screeners.get(rule.id)
        if base is not None and any(o.replaced is rule for o in self.overrides):
            return base
        return self.screeners[rule.id]

    @property
    def id(self) -> str:
        """The main document's id."""
        return self.main.id

    @property
    def version(self) -> str:
        """The main document's version."""
        return self.main.version

    def expand(self, names: Sequence[str], at: date) -> list[str]:
        """The country codes in ``names`` (groups or countries) on ``at``, sorted, without repeats."""
        codes: set[str] = set()
        for name in names:
            if len(name) == 2 and name.isupper():
                codes.add(name)
                continue
            g = self.groups.get(name)
            if g is None:
                raise PolicyError(f"policy {self.main.id} defines no group {name!r}")
            codes.update(c for c in {*g.members, *(ch.code for ch in g.changes)} if self.member(c, name, at))
        codes.update(t for t, c in self.territories.items() if c in codes)
        return sorted(codes)

    def hardware_requirement(self) -> HardwareRequirement:
        """What GPU evidence must be to count as hardware-bound under this policy."""
        return self.hardware

    def location_requirement(self, at: date) -> tuple[LocationRequirement, list[str]]:
        """What a measured grade must prove on ``at``: the requirement and its prohibited country codes."""
        return self.location, self.expand(self.location.prohibited, at)

    def member(self, code: str, group: str, at: date) -> bool:
        """Whether country ``code`` is in ``group`` (a group name, a country code or ``*``) on ``at``."""
        key = (code, group, at)
        hit = self._members.get(key)
        if hit is None:
            hit = self._member(code, group, at)
            if len(self._members) >= 65536:
                self._members.clear()
            self._members[key] = hit
        return hit

    def _member(self, code: str, group: str, at: date) -> bool:
        country = self.territories.get(code)
        if country is not None and self._member(country, group, at):
            return True
        if group == "*":
            return True
        if len(group) == 2 and group.isupper() and ":" not in group:
            return code == group
        g = self.groups.get(group)
        if g is None:
            return False
        member = code in g.members
        for change in sorted(g.changes, key=lambda c: c.date):
            if change.code == code and change.date <= at:
                member = change.action == "added"
            elif change.code == code and change.date > at and change.action == "added":
                member = False
        return member

    def groups_of(self, code: str, names: Sequence[str], at: date) -> list[str]:
        """Which of ``names`` contain ``code`` on ``at``."""
        return [n for n in names if self.member(code, n, at)]

    def evaluate(
        self, manifest: WorkloadManifest, *, now: datetime, facts: Facts | None = None
    ) -> list[Finding]:
        """Apply every rule; return the findings (an ``info`` one per passed rule, so verdicts explain themselves)."""
        return list(self.verdict(manifest, facts=facts))

    def verdict(self, manifest: WorkloadManifest, *, facts: Facts | None = None) -> tuple[Finding, ...]:
        """:meth:`evaluate`'s findings as the frozen tuple this policy keeps and shares (never change it).

        The rules judge the manifest at its issue date (effective dates, licence and list validity),
        so the verdict is the same whenever it is asked for.
        """
        facts = facts or Facts("declared", [bundled_catalog().classify_gpu(g) for g in manifest.gpus])
        at = manifest.freshness.issued_at.date()
        # The rules read the tenant, operator, site, GPUs, licences, the job's declared operations, the
        # date, and the verifier's facts; nothing else. A node's manifests share those member
        # objects (the fast reader caches them) and its GPUs' classifications, so one node's
        # verdicts are found again by identity (values for the rest) rather than recomputed.
        # Classifications given as a tuple (the verifier's, kept per GPU list) are one object;
        # a list is read element by element, as it could change.
        classified = facts.classifications
        objects = (
            manifest.tenant,
            manifest.operator,  # the headquarters and screening rules judge the operator too
            manifest.site,
            manifest.gpus,
            manifest.licenses,
            facts.chips,
            *((classified,) if type(classified) is tuple else classified),
        )
        ops = manifest.job.declared_training_ops
        extra = (at, facts.location_grade, type(ops), ops)  # 10**26 == 1e26, but not in JSON
        hit = self._verdicts.get(*objects, extra=extra)
        if hit is None:
            hit = tuple(self._evaluate(_Context(self, manifest, facts, at)))
            self._verdicts.put(hit, *objects, extra=extra)
        return hit

    def _evaluate(self, ctx: _Context) -> list[Finding]:
        findings: list[Finding] = [_override_finding(ctx, o) for o in self.overrides]
        for rule in self.rules:
            found = _EVALUATORS[type(rule)](ctx, rule)
            findings.extend(found)
            if not found:
                message = f"passed: {_describe(rule)}"
                evidence: dict[str, JsonValue] = {"policy": self.id}
                if isinstance(rule, ScreeningRule):  # a pass names what was screened against, as a match does
                    lists = self.screeners[rule.id].lists
                    message += (
                        " ["
                        + "; ".join(
                            f"{lst.name} of {lst.date}, {len(lst.entries):,} entries" for lst in lists
                        )
                        + "]"
                    )
                    evidence["lists"] = [
                        {"name": lst.name, "date": lst.date, "entries": len(lst.entries)} for lst in lists
                    ]
                findings.append(
                    Finding(
                        rule=f"policy.{rule.id}", severity=Severity.INFO, message=message, evidence=evidence
                    )
                )
        return findings


# A weaker [location] changes every grade's verdict (receipts and site slack decide
# location.claim_impossible at any grade); a weaker [hardware] every grade a binding earns.
_LOCATION_GRADES = frozenset({"declared", "hardware-bound", "key-measured", "measured"})
_BOUND_GRADES = frozenset({"hardware-bound", "key-measured", "measured"})


def _weaker_location(
    policy: Policy, base: LocationRequirement, new: LocationRequirement, at: date
) -> list[str]:
    """What ``new`` proves less of than ``base`` (empty: nothing), one phrase per knob.

    The prohibited countries are compared on every day either side's groups can change (each
    dated change, the day before it, ``at``, and the ends of the calendar): a group that drops
    China tomorrow, or held it only until yesterday, proves less on the days it does.
    """
    out: list[str] = []
    days = {date(1970, 1, 1), at, date(2199, 12, 31)}
    for name in (*base.prohibited, *new.prohibited):
        group = policy.groups.get(name)
        for change in group.changes if group is not None else ():
            days.update((change.date, change.date - timedelta(days=1)))
    dropped: set[str] = set()
    for day in days:
        dropped |= set(policy.expand(base.prohibited, day)) - set(policy.expand(new.prohibited, day))
    if dropped:
        out.append(f"no longer rules out {' '.join(sorted(dropped))}")
    for knob, weaker in (
        ("min_operators", new.min_operators < base.min_operators),
        ("margin_km", new.margin_km < base.margin_km),
        ("receipt_max_age_s", new.receipt_max_age_s > base.receipt_max_age_s),
        ("site_tolerance_km", new.site_tolerance_km > base.site_tolerance_km),
    ):
        if weaker:
            out.append(f"{knob} {getattr(base, knob)} → {getattr(new, knob)}")
    return out


def _override_finding(ctx: _Context, override: Override) -> Finding:
    """The override in the verdict: a warning where it changes how a place of this manifest is treated.

    The places are the site's country and every party's declared country and the countries of
    the list entries it matches (a territory counts as its country too). A weaker location or
    hardware section is a warning wherever the manifest's grade rests on it.
    """
    if override.replaced is not None:
        return _replaced_rule_finding(ctx, override, override.replaced)
    if override.grades:
        grade = ctx.facts.location_grade
        return _override_weight(
            override,
            {**_override_evidence(ctx, override), "grades": cast(JsonValue, sorted(override.grades))},
            {"grade": grade} if grade in override.grades else None,
            f"this manifest's {grade} grade rests on it, not on {override.base or 'the defaults'}",
            f"this manifest's grade ({grade}) does not rest on it",
        )
    m = ctx.manifest
    places = [("site", m.site.country)]
    for name, declared, role in _parties(ctx, owners=0.0):
        places.append((role, declared))
        places.extend((role, c) for match in _listed(ctx, name) for c in match.countries())
    touched = sorted(
        {
            f"{code} (the {role}'s)"
            for role, code in places
            if code in override.codes or ctx.policy.territories.get(code) in override.codes
        }
    )
    return _override_weight(
        override,
        {**_override_evidence(ctx, override), "countries": cast(JsonValue, sorted(override.codes))},
        {"touched": cast(JsonValue, touched)} if touched else None,
        f"it changes how {', '.join(touched)} is treated, so this verdict rests on the override, not on "
        f"{override.base or 'the policies it extends'}",
        "no place of this manifest is one it changes",
    )


def _override_weight(
    override: Override,
    evidence: dict[str, JsonValue],
    touched: dict[str, JsonValue] | None,
    warning: str,
    info: str,
) -> Finding:
    """``policy.override``: a warning (``warning``, evidence with ``touched``) where the manifest rests on it, else information."""
    if touched is None:
        return Finding(
            rule="policy.override",
            severity=Severity.INFO,
            message=f"{override.describe()}; {info}",
            evidence=evidence,
        )
    return Finding(
        rule="policy.override",
        severity=Severity.WARNING,
        message=f"{override.describe()}; {warning}",
        evidence={**evidence, **touched},
        remedy="verify under the policy it extends (attest verify --policy us-ear) and review the override",
    )


def _override_evidence(ctx: _Context, override: Override) -> dict[str, JsonValue]:
    """What a ``policy.override`` finding says of the override: the policy, what it changes, where and why."""
    return {
        "policy": ctx.policy.id,
        "override": override.what,
        "document": override.document,
        "base": override.base,
        "change": override.change,
        "reason": override.reason,
    }


def _weight(finding: Finding) -> int:
    """How severe a finding is for comparing two rules: its severity, and a warning that holds admission above one that does not.

    A possible match (``"identity": "unconfirmed"``) is a warning that ``attest admit`` and the
    webhook refuse until it is reviewed; a rule that turns it into a plain warning judges less
    severely although the severity is the same (red team rt9).
    """
    unconfirmed = isinstance(finding.evidence, dict) and finding.evidence.get("identity") == "unconfirmed"
    return 2 * _SEVERITY_ORDER.index(finding.severity.value) + (1 if unconfirmed else 0)


def _replaced_rule_finding(ctx: _Context, override: Override, base: Rule) -> Finding:
    """A replaced rule in the verdict: a warning where the base's rule would have judged more severely."""
    current = next(r for r in ctx.policy.rules if r.id == base.id)
    now_found = _EVALUATORS[type(current)](ctx, current)
    base_found = _EVALUATORS[type(base)](ctx, base)
    worst_now = max((_weight(f) for f in now_found), default=0)
    worst_base = max((_weight(f) for f in base_found), default=0)
    evidence = _override_evidence(ctx, override)
    if worst_base <= worst_now:
        return Finding(
            rule="policy.override",
            severity=Severity.INFO,
            message=f"{override.describe()}; the replaced rule would judge this manifest no more severely",
            evidence=evidence,
        )
    worst = max(base_found, key=_weight)
    return Finding(
        rule="policy.override",
        severity=Severity.WARNING,
        message=f"{override.describe()}; under the rule of {override.base} this manifest would be "
        f"{worst.severity.value}: {worst.message}",
        evidence={**evidence, "replaced_finding": cast(JsonValue, worst.to_obj())},
        remedy=f"verify under {override.base} (attest verify --policy {override.base}) and review the override",
    )


def _rule_groups(rule: Rule) -> list[str]:
    if isinstance(rule, DestinationRule):
        return [*rule.groups, *rule.except_groups]
    if isinstance(rule, HeadquartersRule):
        return [*rule.groups, *rule.offshore]
    if isinstance(rule, EvidenceStrengthRule | NoticeRule):
        return list(rule.groups)
    if isinstance(rule, ScreeningRule):
        return list(rule.homonym_never)
    return []


def _describe(rule: Rule) -> str:
    return rule.reference or f"{rule.kind} rule {rule.id}"


@dataclass
class _Context:
    policy: Policy
    manifest: WorkloadManifest
    facts: Facts
    at: date

    def controlled(self) -> list[tuple[int, ChipClassification]]:
        return [
            (g.index, c)
            for g, c in zip(self.manifest.gpus, self.facts.classifications, strict=True)
            if c.controlled
        ]

    def chips_text(self, chips: Sequence[tuple[int, ChipClassification]]) -> str:
        kinds: dict[str, int] = {}
        for _, c in chips:
            label = f"{c.paragraph or c.eccn or 'licence-listed'} ({c.product or 'unknown chip'})"
            kinds[label] = kinds.get(label, 0) + 1
        return ", ".join(f"{n} GPU{'s' if n > 1 else ''} of {k}" for k, n in kinds.items())


def _norm(name: str) -> str:
    text = unicodedata.normalize("NFKC", name).casefold()
    return "".join(ch for ch in text if ch.isalnum())


def _covers(entry: LicenseEntry, c: ChipClassification) -> bool:
    """Whether the licence covers this chip: its model, when the licence names models, and its paragraph.

    An item covers its paragraph and the paragraphs under it (3A090.a covers 3A090.a.1, not
    3A090.b, nor a chip assumed 3A090 with no paragraph known). A chip below 3A090 that the
    catalog lists for licences (the H20) has no paragraph: only a licence naming its model covers it.
    """
    if entry.chips and (c.chip is None or c.chip not in entry.chips):
        return False
    if c.eccn is None:
        return bool(entry.chips)
    if not entry.items:
        return True
    key = c.paragraph or c.eccn
    return any(key == item or key.startswith(item + ".") for item in entry.items)


def _chip_label(c: ChipClassification) -> str:
    return f"{c.product or 'an unknown chip'} ({c.paragraph or c.eccn or 'below 3A090, licence-listed'})"


def _find_license(
    ctx: _Context,
    chips: Sequence[tuple[int, ChipClassification]],
    conditions: Sequence[str] = (),
    *,
    name_chips: bool = False,
) -> tuple[LicenseEntry | None, list[str]]:
    """A licence reference in the manifest that the policy knows and that covers these chips; else why not.

    ``name_chips``: the licence must name every chip's model (a rule under a presumption of denial).
    """
    m = ctx.manifest
    # A licence covers the party it names. The ultimate parent is only the operator's word, so a
    # licence held by it covers the tenant only when the registry says it extends to subsidiaries.
    tenant = _norm(m.tenant.legal_name)
    parent = _norm(m.tenant.ultimate_parent.legal_name) if m.tenant.ultimate_parent else None
    reasons: list[str] = []
    for ref in m.licenses:
        entry = next((e for e in ctx.policy.licenses if e.id == ref.id and e.issuer == ref.issuer), None)
        if entry is None:
            reasons.append(f"{ref.kind} {ref.id} is not in the policy's licence registry")
            continue
        if ref.valid_until is not None and ref.valid_until.date() < ctx.at:
            reasons.append(f"{ref.kind} {ref.id} expired on {ref.valid_until.date()}")
            continue
        if entry.valid_until is not None and entry.valid_until < ctx.at:
            reasons.append(f"{ref.kind} {ref.id} expired on {entry.valid_until}")
            continue
        if entry.valid_from is not None and entry.valid_from > ctx.at:
            reasons.append(f"{ref.kind} {ref.id} is valid only from {entry.valid_from}")
            continue
        holder = _norm(entry.holder)
        if holder != tenant and not (entry.covers_subsidiaries and holder == parent):
            if holder == parent:
                reasons.append(
                    f"{ref.kind} {ref.id} is held by {entry.holder}, the tenant's declared parent, and does not "
                    "extend to subsidiaries (covers_subsidiaries in the policy's licence registry)"
                )
            else:
                reasons.append(f"{ref.kind} {ref.id} is held by {entry.holder}, not by the tenant")
            continue
        if not any(ctx.policy.member(m.site.country, d, ctx.at) for d in entry.destinations):
            reasons.append(f"{ref.kind} {ref.id} does not cover {m.site.country}")
            continue
        uncovered = sorted({_chip_label(c) for _, c in chips if not _covers(entry, c)})
        if uncovered:
            covers = ", ".join([*entry.items, *entry.chips])
            reasons.append(f"{ref.kind} {ref.id} covers {covers}, not {', '.join(uncovered)}")
            continue
        unnamed = sorted({_chip_label(c) for _, c in chips if c.chip is None or c.chip not in entry.chips})
        if name_chips and unnamed:
            reasons.append(
                f"{ref.kind} {ref.id} does not name the chip model of {', '.join(unnamed)}: under a presumption of "
                "denial only a licence that names the models (chips in the policy's licence registry) stands for them"
            )
            continue
        missing = [c for c in conditions if c not in entry.conditions]
        if missing:
            reasons.append(f"{ref.kind} {ref.id} lacks the conditions {', '.join(missing)}")
            continue
        return entry, reasons
    if not m.licenses:
        reasons.append("the manifest carries no licence reference")
    return None, reasons


def _licence_relied_on(
    ctx: _Context, rule: Rule, licence: LicenseEntry, need: str, evidence: dict[str, JsonValue]
) -> Finding:
    """The ``info`` finding of a rule that passed only because a licence covered the case.

    A verdict that rests on a licence says so, naming the party or place the rule caught and the
    licence (with its holder) that covered it, so nobody reads it as a plain pass.
    """
    holder = licence.holder + (" and its subsidiaries" if licence.covers_subsidiaries else "")
    return Finding(
        rule=f"policy.{rule.id}",
        severity=Severity.INFO,
        message=f"passed on a licence: {need}; {licence.kind} {licence.id} ({licence.issuer}) held by {holder} "
        f"covers them" + (f" ({rule.reference})" if rule.reference else ""),
        evidence={
            **evidence,
            "policy": ctx.policy.id,
            "license": {
                "kind": licence.kind,
                "id": licence.id,
                "issuer": licence.issuer,
                "holder": licence.holder,
                "covers_subsidiaries": licence.covers_subsidiaries,
            },
        },
    )


def _finding(rule: Rule, message: str, evidence: dict[str, JsonValue], remedy: str | None = None) -> Finding:
    return Finding(
        rule=f"policy.{rule.id}",
        severity=Severity(rule.severity),
        message=message + (f" ({rule.reference})" if rule.reference else ""),
        evidence=evidence,
        remedy=remedy,
    )


def _destination(ctx: _Context, rule: Rule) -> list[Finding]:
    assert isinstance(rule, DestinationRule)
    if rule.effective_from is not None and ctx.at < rule.effective_from:
        return []
    country = ctx.manifest.site.country
    in_groups = ctx.policy.groups_of(country, rule.groups, ctx.at)
    excepted = ctx.policy.groups_of(country, rule.except_groups, ctx.at)
    chips = []
    why: set[str] = set()
    for index, c in ctx.controlled():
        if rule.eccns and not any((c.paragraph or c.eccn or "").startswith(e) for e in rule.eccns):
            continue
        if rule.max_tpp is not None and (c.tpp is None or c.tpp > rule.max_tpp):
            continue
        if rule.min_tpp is not None and c.tpp is not None and c.tpp <= rule.min_tpp:
            continue  # (a TPP not known is taken to be above the bound)
        chip = ctx.facts.chips.get(c.chip) if c.chip else None
        listed = chip is not None and any(
            ctx.policy.member(country, d, ctx.at) for d in chip.license_required_destinations
        )
        if in_groups and not excepted and c.eccn:
            chips.append((index, c))
        elif listed and chip is not None:
            chips.append((index, c))
            why.add(
                f"{chip.vendor} {chip.product} is licence-listed for {', '.join(chip.license_required_destinations)}"
            )
    if not chips:
        return []
    if (rule.required_conditions or rule.license_names_chips) and _find_license(ctx, chips)[0] is None:
        # A conditions rule judges licences; no licence at all is the plain destination rule's finding.
        return []
    licence, reasons = _find_license(
        ctx, chips, rule.required_conditions, name_chips=rule.license_names_chips
    )
    groups = in_groups if in_groups and not excepted else []
    because = ", ".join([*groups, *sorted(why)])
    need = "need a licence that names their models" if rule.license_names_chips else "need a licence"
    if licence is not None:
        return [
            _licence_relied_on(
                ctx,
                rule,
                licence,
                f"{ctx.chips_text(chips)} at a site in {country} ({because}) {need} for this destination",
                {"site_country": country, "groups": list(groups), "gpus": [i for i, _ in chips]},
            )
        ]
    return [
        _finding(
            rule,
            f"{ctx.chips_text(chips)} at a site in {country} ({because}) {need} for this destination; "
            + "; ".join(reasons),
            {
                "site_country": country,
                "groups": list(groups),
                "gpus": [i for i, _ in chips],
                "licenses_checked": cast(list[JsonValue], reasons),
            },
            remedy=f"attach a licence reference that the policy's registry lists for {country} and these items",
        )
    ]


def _owner_threshold(ctx: _Context, rule: HeadquartersRule) -> float:
    """The share from which an owner is judged by the headquarters rule.

    50 %, or any share when the owners in the rule's groups (declared or listed there) hold 50 %
    or more together (two owners in China with 49 % each control the tenant as one with 98 % would).
    """
    together = 0.0
    for owner in ctx.manifest.tenant.owners:
        countries = [
            owner.headquarters_country,
            *(c for m in _listed(ctx, owner.legal_name) for c in m.countries()),
        ]
        if any(ctx.policy.groups_of(c, rule.groups, ctx.at) for c in countries):
            together += owner.share_percent
    return 0.0 if together >= CONTROLLING_SHARE else CONTROLLING_SHARE


def _headquarters(ctx: _Context, rule: Rule) -> list[Finding]:
    """Parties headquartered in the rule's groups, declared or listed.

    A party that matches a list entry keeps the entry's country whatever was declared (a
    1260H designation is a Chinese military company: CN). A near match only is a warning.
    """
    assert isinstance(rule, HeadquartersRule)
    # (name, country, role, groups, declared country, the match that gave the country or None,
    # the sign of a PRC registration in the party's own name or identifiers that gave it or None)
    hits: list[tuple[str, str, str, list[str], str, Match | None, RegistrationEvidence | None]] = []
    judged = _parties(ctx, owners=_owner_threshold(ctx, rule))
    for name, declared, role in judged:
        groups = ctx.policy.groups_of(declared, rule.groups, ctx.at)
        if groups:
            hits.append((name, declared, role, groups, declared, None, None))
        if groups:
            continue
        # The best match (exact before near, then by list) that places the party in the groups, of
        # its name or of the parent its name says it belongs to ("Acme AI Pte. Ltd. (a subsidiary
        # of Huawei)": Huawei, an exact match, where the whole name is only a near one).
        parent = parent_named(name)
        found = [
            (country, listed_groups, m)
            for screened in [name, *([parent] if parent else [])]
            for m in _listed(ctx, name, screened)
            for country in m.countries()
            if (listed_groups := ctx.policy.groups_of(country, rule.groups, ctx.at))
        ]
        listed = next((f for f in found if f[2].kind != "near"), found[0] if found else None)
        if listed is not None:
            hits.append((name, listed[0], role, listed[1], declared, listed[2], None))
            if listed[2].kind != "near":
                continue
            # a near match only (a warning) does not hide what the party's own name says:
            # "北京月之暗面科技有限公司新加坡分公司" is a near match of Moonshot AI and a PRC branch name
        # The party's own name or identifiers say it is registered in the PRC ("Beijing Lion
        # Technology Co., Ltd.", 北京...有限公司, a USCC): that contradicts the declared country.
        identifiers = [i for country, ids in _declared(ctx, name) if country == declared for i in ids]
        signs = prc_registration(name, identifiers, declared)
        cn_groups = ctx.policy.groups_of("CN", rule.groups, ctx.at) if signs else []
        if cn_groups:
            first = next((e for e in signs if e.strong), signs[0])
            hits.append((name, "CN", role, cn_groups, declared, None, first))
    chips = ctx.controlled()
    offshore = [
        (name, declared, role)
        for name, declared, role in judged
        if ctx.policy.groups_of(declared, rule.offshore, ctx.at)
    ]
    if not (hits or offshore) or not chips:
        return []
    # Hits that decide the rule's severity: not a near match of a name, not weak registration evidence.
    strong = [h for h in hits if (h[5] is None or h[5].kind != "near") and (h[6] is None or h[6].strong)]
    licence, reasons = _find_license(ctx, chips)
    if licence is not None:
        # The rule passes only because of the licence: say whom the rule caught and which licence covered it.
        if hits:
            name, country, role, groups, _, _, _ = (strong or hits)[-1]
            why = f"the {role} {name} is headquartered in {country} ({', '.join(groups)})"
        else:
            name, country, role = offshore[-1]
            groups = []
            why = f"the {role} {name} is declared in {country} (an offshore holding place)"
        return [
            _licence_relied_on(
                ctx,
                rule,
                licence,
                f"{why}; {ctx.chips_text(chips)} need a licence wherever they are",
                {
                    "party": name,
                    "role": role,
                    "country": country,
                    "groups": list(groups),
                    "gpus": [i for i, _ in chips],
                },
            )
        ]
    if not hits:
        name, declared, role = offshore[-1]
        return [
            Finding(
                rule=f"policy.{rule.id}",
                severity=Severity(min(rule.severity, "warning", key=_SEVERITY_ORDER.index)),
                message=f"the {role} {name} is declared in {declared}, where holding companies are incorporated "
                f"rather than headquartered; the headquarters rule needs the principal place of business "
                f"({ctx.chips_text(chips)}, no licence: " + "; ".join(reasons) + ")",
                evidence={
                    "party": name,
                    "role": role,
                    "declared_country": declared,
                    "gpus": [i for i, _ in chips],
                },
                remedy="declare the country of the party's principal place of business, or attach a licence",
            )
        ]
    # Without a strong hit, a near match of a listed or China-placed party is the one reported: it
    # holds admission (below), and weaker evidence about another party must not hide it (red team
    # rt13: a parent "Canton Road Holdings Ltd." hid "DeepSeeek AI Pte. Ltd.").
    near = [h for h in hits if h[5] is not None and h[5].kind == "near"]
    name, country, role, groups, declared, match, sign = (strong or near or hits)[-1]
    severity = (
        Severity(rule.severity)
        if strong
        else Severity(min(rule.severity, "warning", key=_SEVERITY_ORDER.index))
    )
    if sign is not None:
        where = (
            f"is declared in {declared} but {sign.what}: headquarters evidence contradicts the declared "
            f"country and places it in {country} ({', '.join(groups)})"
        )
    elif match is None:
        where = f"is headquartered in {country} ({', '.join(groups)})"
    else:
        how = "matches" if match.kind != "near" else f"closely matches (score {match.score:.0f})"
        where = (
            f"is declared in {declared} but {how} {match.entry.name} on the {match.list} list [{match.source}], "
            f"which places it in {country} ({', '.join(groups)})"
        )
    evidence: dict[str, JsonValue] = {
        "party": name,
        "role": role,
        "country": country,
        "declared_country": declared,
        "groups": list(groups),
        "gpus": [i for i, _ in chips],
        "licenses_checked": cast(list[JsonValue], reasons),
    }
    if match is not None:
        evidence["listed_country"] = country
        evidence["list_entry"] = cast(JsonValue, match.to_obj())
        if not strong and match.kind == "near":
            # It may be the listed party, headquartered there: admission holds it until reviewed
            # (red team rt12: "DeepSeeek AI Pte. Ltd." and "ByteDanse Pte. Ltd." were admitted).
            evidence["identity"] = "unconfirmed"
    if sign is not None:
        evidence["registration_evidence"] = sign.what
        evidence["registration_evidence_strong"] = sign.strong
    return [
        Finding(
            rule=f"policy.{rule.id}",
            severity=severity,
            message=f"the {role} {name} {where}; {ctx.chips_text(chips)} need a licence wherever they are; "
            + "; ".join(reasons)
            + (f" ({rule.reference})" if rule.reference else ""),
            evidence=evidence,
            remedy="attach a licence reference that covers this tenant and these items",
        )
    ]


def _prohibited(ctx: _Context, rule: Rule) -> list[Finding]:
    assert isinstance(rule, ProhibitedHardwareRule)
    out = []
    for gpu, c in zip(ctx.manifest.gpus, ctx.facts.classifications, strict=True):
        chip = ctx.facts.chips.get(c.chip) if c.chip else None
        if chip is not None and chip.prohibited_guidance:
            guidance = ctx.facts.chips.document.sources.get(
                chip.prohibited_guidance, chip.prohibited_guidance
            )
            out.append(
                _finding(
                    rule,
                    f"GPU {gpu.index} is a {chip.vendor} {chip.product}; {guidance} says using it anywhere is likely a violation",
                    {"index": gpu.index, "chip": chip.id, "guidance": chip.prohibited_guidance},
                    remedy="do not run workloads on this chip",
                )
            )
    return out


def _training(ctx: _Context, rule: Rule) -> list[Finding]:
    assert isinstance(rule, TrainingComputeRule)
    ops = ctx.manifest.job.declared_training_ops
    if ops is None or ops <= rule.threshold_ops:
        return []
    return [
        _finding(
            rule,
            f"declared training compute {ops:.3g} operations exceeds {rule.threshold_ops:.3g}",
            {"declared_training_ops": ops, "threshold_ops": rule.threshold_ops},
            remedy="check the reporting obligations for models above this threshold",
        )
    ]


def _evidence(ctx: _Context, rule: Rule) -> list[Finding]:
    assert isinstance(rule, EvidenceStrengthRule)
    country = ctx.manifest.site.country
    groups = ctx.policy.groups_of(country, rule.groups, ctx.at)
    if not groups or not ctx.controlled():
        return []
    if _GRADES.get(ctx.facts.location_grade, 0) >= _GRADES[rule.min_grade]:
        return []
    return [
        _finding(
            rule,
            f"controlled chips at a site in {country} ({', '.join(groups)}) need location evidence of at least "
            f"{rule.min_grade}; this manifest's is {ctx.facts.location_grade}",
            {"site_country": country, "grade": ctx.facts.location_grade, "min_grade": rule.min_grade},
            remedy="bind the node key to its GPUs (attest bind) or add landmark receipts",
        )
    ]


CONTROLLING_SHARE = 50.0
"""An owner with at least this share controls the tenant: the headquarters rule judges it like a parent."""


def _parties(ctx: _Context, *, owners: float | None = None) -> list[tuple[str, str, str]]:
    """(name, declared country, role) of everyone the rules judge.

    The operator, the tenant, its ultimate parent, and the tenant's owners with a share of at
    least ``owners`` percent (none when ``None``).
    """
    m = ctx.manifest
    out = [
        (m.operator.name, m.operator.country, "operator"),
        (m.tenant.legal_name, m.tenant.headquarters_country, "tenant"),
    ]
    if m.tenant.ultimate_parent:
        out.append(
            (
                m.tenant.ultimate_parent.legal_name,
                m.tenant.ultimate_parent.headquarters_country,
                "ultimate parent",
            )
        )
    if owners is not None:
        out.extend(
            (o.legal_name, o.headquarters_country, f"owner ({o.share_percent:g} %)")
            for o in m.tenant.owners
            if o.share_percent >= owners
        )
    return out


def _listed(ctx: _Context, name: str, screened: str | None = None) -> list[Match]:
    """Every match of ``name`` on the lists of every screening rule of the policy, but those cleared by a review.

    ``screened``: screen this name instead (the parent a party's name says it belongs to), the
    reviews still read for the party named ``name``.
    """
    return [
        m
        for screener in ctx.policy.screeners.values()
        for m in screener.screen(screened or name)
        if not ctx.policy.cleared or _clearance(ctx, m, name) is None
    ]


def _declared(ctx: _Context, name: str) -> list[tuple[str, list[Identifier]]]:
    """The declared country and identifiers of every party of the manifest named ``name``."""
    m = ctx.manifest
    out = [(m.operator.country, m.operator.identifiers)] if m.operator.name == name else []
    for party in [m.tenant, m.tenant.ultimate_parent, *m.tenant.owners]:
        if party is not None and party.legal_name == name:
            out.append((party.headquarters_country, party.identifiers))
    return out


def _same_name(a: str, b: str) -> bool:
    """Whether two names are written alike: folded (case, invisible characters, look-alikes), legal forms kept."""
    return " ".join(fold(a).split()) == " ".join(fold(b).split())


def _clearance(ctx: _Context, m: Match, name: str) -> Clearance | None:
    """The policy's review that clears this match for the party named ``name``, if one holds on the manifest's date.

    It names the match's list and entry, the party's name (written alike: "CoStar Group, Inc."
    does not clear "CoStar Group Co., Ltd."), and the country every party of that name declares;
    when it names an identifier, every one of them declares it too.
    """
    parties = _declared(ctx, name)
    if not parties:
        return None
    if (
        m.kind != "near"
        and (
            m.source.brands
            or any(ctx.policy.groups_of(c, ctx.policy.homonym_never, ctx.at) for c in m.countries())
        )
        and any(_same_name(name, n) for n in (m.entry.name, *m.entry.alt_names))
    ):
        # The listed party's own name, legal form and all, of an entry listed in D:5, Hong Kong or
        # Macau (or a brand list's group): a party so named is that entry, whatever a review says.
        # ("CoStar Group, Inc." may be cleared of "COSTAR GROUP CO., LTD."; "Sophgo Technologies
        # Ltd." cannot be cleared of itself.)
        return None
    for c in ctx.policy.cleared:
        if c.list_id != m.list or c.entry != m.entry.id or (c.expires is not None and ctx.at > c.expires):
            continue
        if not _same_name(c.party, name):
            continue
        wanted = c.identifier
        if all(
            country == c.country
            and (wanted is None or any(i.scheme == wanted.scheme and i.value == wanted.value for i in ids))
            for country, ids in parties
        ):
            return c
    return None


def _homonym(ctx: _Context, m: Match, name: str) -> bool:
    """Whether a match may be another party of the same name: a 'possible match, confirm identity'.

    Only where the list's own evidence allows it, which a party cannot change by what it
    declares: the entry has countries, none of them in the policy's ``homonym_never`` places
    (D:5, Hong Kong, Macau: a party listed there keeps its list country whatever was declared),
    and every party of that name declares a country that is none of them and not in those places
    either. Brand lists (1260H, the seed) designate groups wherever their subsidiaries are: never.
    """
    if m.source.brands:
        return False
    countries = m.countries()
    parties = _declared(ctx, name)
    if not countries or not parties:
        return False
    if any(c not in ACCEPTED_COUNTRY_CODES for c in countries):
        return False  # a country the list writes in a way not understood: never downgraded (fail closed)
    policy, never = ctx.policy, ctx.policy.homonym_never
    if any(policy.groups_of(c, never, ctx.at) for c in countries):
        return False
    for declared, _ in parties:
        if policy.groups_of(declared, never, ctx.at):
            return False
        for c in countries:
            if (
                declared == c
                or policy.territories.get(declared) == c
                or policy.territories.get(c) == declared
            ):
                return False
    return True


def _screening(ctx: _Context, rule: Rule) -> list[Finding]:
    assert isinstance(rule, ScreeningRule)
    out = []
    screener = ctx.policy.screener(rule)
    roles: dict[str, str] = {}
    for name, _, role in _parties(ctx, owners=0.0):  # every owner is screened, whatever its share
        roles.setdefault(name, role)
    matches = screener.screen_party(list(roles))
    for m in matches:
        listed = rule.severities.get(m.list, rule.severity)
        severity = listed if m.kind != "near" else min(listed, rule.near_severity, key=_SEVERITY_ORDER.index)
        role = roles.get(m.screened, "tenant")
        how = (
            "exactly"
            if m.kind == "exact"
            else ("by an alias" if m.kind == "alias" else f"closely (score {m.score:.0f})")
        )
        note = rule.list_notes.get(m.list)
        declared = sorted({c for c, _ in _declared(ctx, m.screened)})
        matched = (
            f"the {role} {m.screened} (declared in {', '.join(declared) or '?'}) matches {how} {m.entry.name} "
            f"on the {m.list} list"
            + (f" (listed {m.entry.added})" if m.entry.added else "")
            + (f", listed in {', '.join(m.countries())}" if m.countries() else "")
            + f" [{m.source}]"
        )
        evidence: dict[str, JsonValue] = {
            **m.to_obj(),
            "role": role,
            "declared_country": cast(JsonValue, declared),
        }
        cleared = _clearance(ctx, m, m.screened) if ctx.policy.cleared else None
        if cleared is not None:
            evidence["cleared"] = cast(JsonValue, cleared.to_obj())
            review = (
                f"cleared as another party of that name by {cleared.reviewer} on {cleared.date}"
                + (f" until {cleared.expires}" if cleared.expires else "")
                + f": {cleared.reason}"
            )
            listed_there = m.kind != "near" and (
                m.source.brands
                or any(ctx.policy.groups_of(c, ctx.policy.homonym_never, ctx.at) for c in m.countries())
            )
            if _SEVERITY_ORDER.index(severity) <= _SEVERITY_ORDER.index("warning") or not listed_there:
                out.append(
                    Finding(
                        rule=f"policy.{rule.id}",
                        severity=Severity.INFO,
                        message=f"{matched}; {review}",
                        evidence=evidence,
                    )
                )
                continue
            # An exact match of an entry listed in D:5, Hong Kong or Macau (a listed party keeps its list
            # country) or of a brand list's group: the policy's review lowers it to a warning, never to
            # affirming (red team rt8: a [[cleared]] entry made Sophgo, declared US, affirming).
            out.append(
                Finding(
                    rule=f"policy.{rule.id}",
                    severity=Severity.WARNING,
                    message=f"{matched}; {review}; an entry listed there is never taken for another party (a "
                    f"{listed} match if it is the listed one), so the review makes it a warning, not affirming",
                    evidence=evidence,
                    remedy="confirm the review: compare the party's address and registration numbers with the entry",
                )
            )
            continue
        if m.kind == "near" and (
            _SEVERITY_ORDER.index(listed) > _SEVERITY_ORDER.index("warning")
            or (
                severity != "info"
                and (
                    m.source.brands
                    or any(ctx.policy.groups_of(c, ctx.policy.homonym_never, ctx.at) for c in m.countries())
                )
            )
        ):
            # A close match of an entry the policy refuses (a brand inside a longer name, a typo, a
            # look-alike the normalization missed), or of one listed in D:5 or Macau whatever its
            # list's severity (a 1260H "Chinese military company": the headquarters rule refuses
            # its exact name), is a possible match as well: it holds admission until reviewed, as a
            # homonym does, and ``attest verify`` says warning (red team rt12: "ChangXin Memory
            # Technolgies" was admitted).
            evidence["identity"] = "unconfirmed"
            out.append(
                Finding(
                    rule=f"policy.{rule.id}",
                    severity=Severity(severity),
                    message=f"possible match, confirm identity: {matched} (a {listed} match if it is the listed "
                    "party)" + (f"; {note}" if note else ""),
                    evidence=evidence,
                    remedy="compare the party's name, address and registration numbers with the list entry; if it "
                    "is another party, record the review in the policy ([[cleared]]: list, entry, party, country, "
                    "reviewer, date, reason)",
                )
            )
            continue
        if _SEVERITY_ORDER.index(severity) > _SEVERITY_ORDER.index("warning") and _homonym(
            ctx, m, m.screened
        ):
            evidence["identity"] = "unconfirmed"
            out.append(
                Finding(
                    rule=f"policy.{rule.id}",
                    severity=Severity.WARNING,
                    message=f"possible match, confirm identity: {matched}; no country of the entry is the one "
                    f"declared, so this may be another party of the same name (a {listed} match if it is the "
                    "listed one)" + (f"; {note}" if note else ""),
                    evidence=evidence,
                    remedy="compare the party's address and registration numbers with the list entry; if it is "
                    "another party, record the review in the policy ([[cleared]]: list, entry, party, country, "
                    "reviewer, date, reason)",
                )
            )
            continue
        out.append(
            Finding(
                rule=f"policy.{rule.id}",
                severity=Severity(severity),
                message=matched + (f"; {note}" if note else ""),
                evidence=evidence,
                remedy="review the match; a licence, or a reviewed decision that the party is another one of "
                "that name ([[cleared]] in the policy), is needed to proceed",
            )
        )
    # A party screening cannot identify is not cleared by finding nothing (red team): a name with no
    # letter or digit names nobody; one written in a script the lists do not carry their names in
    # (国防科技大学 for the listed National University of Defense Technology) was compared with
    # almost nothing, and stays a warning unless it matched exactly or by an alias.
    identified = {m.screened for m in matches if m.kind != "near"}
    for name, role in roles.items():
        if not normalize(name):
            out.append(
                Finding(
                    rule=f"policy.{rule.id}",
                    severity=Severity(rule.severity),
                    message=f"the {role}'s name {name!r} has no letters or digits: there is nothing to screen, "
                    "so the party is not identified",
                    evidence={"role": role, "name": name},
                    remedy="write the party's legal name as registered",
                )
            )
            continue
        if name in identified:
            continue
        if symbols := drawn_symbols(name):
            out.append(
                _not_cleared(
                    rule,
                    f"the {role}'s name {name!r} draws letters with symbols ({' '.join(symbols)}) that screening "
                    "does not read as letters",
                    {"role": role, "name": name, "symbols": cast(JsonValue, symbols)},
                    "write the party's legal name as registered, in letters",
                )
            )
        if scripts := unscreened_scripts(name):
            out.append(
                _not_cleared(
                    rule,
                    f"the {role}'s name {name!r} is written in {' and '.join(scripts)} script; the screening lists "
                    "write their parties' names in Latin script",
                    {"role": role, "name": name, "scripts": cast(JsonValue, scripts)},
                    "write the party's legal name as registered in Latin script (its romanised or English "
                    "registered name), or screen it by hand and record the review",
                )
            )
    for lst in screener.lists:
        limit = rule.max_list_age_days.get(lst.name, rule.max_list_age_days.get("*"))
        if limit is not None:
            try:
                listed_on = date.fromisoformat(lst.date[:10])
            except ValueError:
                listed_on = date.min
            age = (ctx.at - listed_on).days
            if age > limit:
                out.append(
                    Finding(
                        rule=f"policy.{rule.id}",
                        severity=Severity.WARNING,
                        message=f"screening list {lst.name} of {lst.date} ({len(lst.entries):,} entries) is {age} days "
                        f"old on {ctx.at}; the policy allows {limit}",
                        evidence={
                            "list": lst.name,
                            "date": lst.date,
                            "entries": len(lst.entries),
                            "age_days": age,
                        },
                        remedy="update the list: attest lists update (or attest lists import FILE)",
                    )
                )
    return out


_SEVERITY_ORDER = ["info", "warning", "contraindicated"]


def _not_cleared(rule: ScreeningRule, why: str, evidence: dict[str, JsonValue], remedy: str) -> Finding:
    """A warning that screening found no match for a name it could not fully read, so the match is not cleared.

    The party's identity is unconfirmed (``"identity": "unconfirmed"``): ``attest admit`` and the
    webhook hold the job until the name is written so that it can be screened (red team rt12:
    "HUA₩EI Technologies" and Huawei in Arabic script were admitted).
    """
    return Finding(
        rule=f"policy.{rule.id}",
        severity=Severity.WARNING,
        message=f"{why}, so finding no match does not clear it",
        evidence={**evidence, "identity": "unconfirmed"},
        remedy=remedy,
    )


def _validity(ctx: _Context, rule: Rule) -> list[Finding]:
    assert isinstance(rule, ValidityRule)
    doc = ctx.policy.main
    if ctx.at < doc.effective:
        return [
            _finding(
                rule,
                f"policy {doc.id} takes effect on {doc.effective}; the manifest is from {ctx.at}",
                {"effective": str(doc.effective)},
            )
        ]
    if doc.rescinded is not None and ctx.at >= doc.rescinded:
        return [
            Finding(
                rule=f"policy.{rule.id}",
                severity=Severity.INFO,
                message=f"policy {doc.id} was rescinded on {doc.rescinded}; its findings are a benchmark, not a requirement",
                evidence={"rescinded": str(doc.rescinded)},
            )
        ]
    return []


_ALWAYS_PROHIBITED = frozenset({"CN", "HK", "MO"})


def _prohibited_places(ctx: _Context) -> frozenset[str]:
    """Countries where the policy prohibits controlled chips.

    CN, HK, MO, the location section's prohibited countries and every country in a destination
    rule's groups (its exceptions aside).
    """
    codes = set(_ALWAYS_PROHIBITED) | set(ctx.policy.location_requirement(ctx.at)[1])
    for rule in ctx.policy.rules:
        if isinstance(rule, DestinationRule):
            codes.update(
                c
                for c in ctx.policy.expand(rule.groups, ctx.at)
                if not ctx.policy.groups_of(c, rule.except_groups, ctx.at)
            )
    return frozenset(codes)


def _site_country(ctx: _Context, rule: Rule) -> list[Finding]:
    assert isinstance(rule, SiteCountryRule)
    site = ctx.manifest.site
    accuracy_km = (site.accuracy or 0.0) / 1000.0
    counted = min(accuracy_km, rule.max_accuracy_km)
    tolerance = counted + rule.margin_km
    fit = country_fit(bundled_borders(), site.country, site.latitude, site.longitude)
    evidence: dict[str, JsonValue] = {
        "site_country": site.country,
        "latitude": site.latitude,
        "longitude": site.longitude,
        "accuracy_m": site.accuracy,
        "tolerance_km": round(tolerance, 3),
        "found_in": list(fit.found_in),
    }
    ref = f" ({rule.reference})" if rule.reference else ""
    out: list[Finding] = []

    def beyond(distance_km: float, of: str) -> Finding:
        """The site is ``distance_km`` outside ``of`` (its country, or a territory's bounds), beyond the tolerance."""
        where = f"in {', '.join(fit.found_in)}" if fit.found_in else "in no country"
        return Finding(
            rule="site.outside_country",
            severity=Severity(rule.severity),
            message=f"site {site.facility_id} is declared in {site.country} but its coordinates "
            f"({site.latitude:.4f}, {site.longitude:.4f}) lie {where}, {distance_km:.1f} km outside "
            f"{of} (allowed: {tolerance:.1f} km){ref}",
            evidence={**evidence, "distance_km": round(distance_km, 3)},
            remedy="declare the site's true country and coordinates",
        )

    # A point inside a prohibited country's polygon is in that country, whatever the declared
    # accuracy, and whether or not the borders hold a polygon for the country declared: the
    # tolerance is for a border drawn coarsely, not for a site across the strait (Xiamen declared
    # as Taiwan, 10 km "accuracy"), nor for Shenzhen declared as Christmas Island (CX, no polygon).
    places = _prohibited_places(ctx)
    found_in = fit.found_in
    if fit.inside and in_any(bundled_borders(), places - {site.country}, site.latitude, site.longitude):
        # inside its declared country, and in a prohibited neighbour's polygon too: which ones
        found_in = containing(bundled_borders(), site.latitude, site.longitude)
    prohibited = [c for c in found_in if c in places and c != site.country]
    if prohibited and any(ctx.policy.territories.get(c) == site.country for c in prohibited):
        prohibited = []
    if fit.inside and ctx.policy.territories.get(site.country) in prohibited:
        # declared in a territory the policy reads as that country (Macau's polygon overlapping
        # China's): every rule judges it as that country already
        prohibited = []
    both = bool(prohibited) and fit.inside
    if both:
        # In the declared country's polygon and a prohibited one's: the polygons are coarse and grown
        # a little outward, so neighbours overlap along a border (and a disputed area is every
        # claimant's). Which side the point is on, they cannot tell (red team rt13: Ivangorod, in
        # Russia, declared as Estonia, was affirming; Narva, across the river, is in Estonia): a
        # warning that holds admission, never affirming. How deep it lies in each is given.
        borders = bundled_borders()
        own = depth_km(borders, site.country, site.latitude, site.longitude)
        theirs = max(depth_km(borders, c, site.latitude, site.longitude) for c in prohibited)
        out.append(
            Finding(
                rule="site.border_unresolved",
                severity=Severity.WARNING,
                message=f"site {site.facility_id} is declared in {site.country} and its coordinates "
                f"({site.latitude:.4f}, {site.longitude:.4f}) lie where the bundled borders of {site.country} "
                f"and {', '.join(prohibited)} (where the policy prohibits controlled chips) overlap, "
                f"{own:.1f} km inside {site.country}'s and {theirs:.1f} km inside the other's: the borders "
                f"cannot tell the side{ref}",
                evidence={
                    **evidence,
                    "found_in": list(found_in),
                    "depth_km": {site.country: round(own, 3), "prohibited": round(theirs, 3)},
                    "location": "unconfirmed",
                },
                remedy="have the site's location reviewed (its address, or landmark measurements: attest "
                "locate) before controlled chips run there",
            )
        )
        prohibited = []
    if prohibited:
        if fit.known:
            outside = f"{fit.distance_km:.1f} km outside {site.country}"
        else:
            outside = f"and the bundled borders have no polygon for {site.country}"
        out.append(
            Finding(
                rule="site.outside_country",
                severity=Severity(rule.severity),
                message=f"site {site.facility_id} is declared in {site.country} but its coordinates "
                f"({site.latitude:.4f}, {site.longitude:.4f}) lie in {', '.join(prohibited)}, where the policy "
                f"prohibits controlled chips, {outside} (no tolerance inside a prohibited country){ref}",
                evidence={
                    **evidence,
                    "distance_km": round(fit.distance_km, 3) if fit.known else None,
                    "tolerance_km": 0.0,
                },
                remedy="declare the site's true country and coordinates",
            )
        )
    elif both:
        pass  # said above
    elif not fit.known:
        away = territory_distance_km(site.country, site.latitude, site.longitude)
        if away is not None and away > tolerance:
            # No polygon, but the territory's box: a site far from it is elsewhere (red team rt13:
            # Christmas Island declared for a point at sea off Hong Kong).
            out.append(beyond(away, f"the bounds of {site.country}"))
        else:
            out.append(
                Finding(
                    rule="site.country_unchecked",
                    severity=Severity.WARNING,
                    message=f"the bundled borders have no polygon for {site.country}; the site's coordinates "
                    f"could not be checked against its declared country's border{ref}",
                    evidence=evidence,
                    remedy="declare the ISO 3166-1 alpha-2 code of the country the site is in",
                )
            )
    elif not fit.within(tolerance) and not any(
        ctx.policy.territories.get(c) == site.country for c in fit.found_in
    ):
        # (A site declared CN in Hong Kong is where the policy says it is: every rule reads HK as CN.
        # Not the other way round: a licence for MO does not cover Shenzhen.)
        out.append(beyond(fit.distance_km, site.country))
    if accuracy_km > rule.max_accuracy_km:
        out.append(
            Finding(
                rule="site.accuracy",
                severity=Severity.WARNING,
                message=f"site {site.facility_id} declares an accuracy of {accuracy_km:.0f} km; only "
                f"{rule.max_accuracy_km:g} km count toward its country check{ref}",
                evidence=evidence,
                remedy="declare the site's coordinates to within a few kilometres",
            )
        )
    return out


def _notice(ctx: _Context, rule: Rule) -> list[Finding]:
    assert isinstance(rule, NoticeRule)
    if rule.effective_from is not None and ctx.at < rule.effective_from:
        return []
    country = ctx.manifest.site.country
    groups = ctx.policy.groups_of(country, rule.groups, ctx.at)
    if not groups or not ctx.controlled():
        return []
    return [
        _finding(
            rule,
            f"{ctx.chips_text(ctx.controlled())} at a site in {country}: {rule.message}",
            {"site_country": country, "source": rule.source, "confirmed": rule.confirmed},
        )
    ]


def _affiliates(ctx: _Context, rule: Rule) -> list[Finding]:
    """Owners on the rule's lists that together hold at least the threshold make the tenant count as listed."""
    assert isinstance(rule, AffiliatesRule)
    if ctx.at < rule.effective_from:
        return []
    listed: list[tuple[str, float, Match]] = []
    for owner in ctx.manifest.tenant.owners:
        # Exact and alias matches first; a near match (a one-letter typo) counts too, as a warning.
        matches = [m for m in _listed(ctx, owner.legal_name) if m.list in rule.lists]
        match = next((m for m in matches if m.kind != "near"), None) or next(iter(matches), None)
        if match is not None:
            listed.append((owner.legal_name, owner.share_percent, match))
    share = sum(s for _, s, _ in listed)
    if not listed or share < rule.threshold_percent:
        return []
    # A close match, or a possible homonym (an entry outside D:5 and the owner's declared country), is not certain.
    certain = (
        sum(s for n, s, m in listed if m.kind != "near" and not _homonym(ctx, m, n)) >= rule.threshold_percent
    )
    owners = ", ".join(
        f"{n} ({s:g} %, {m.list} [{m.source}]"
        + ("" if m.kind != "near" else f", close match {m.entry.name} score {m.score:.0f}")
        + ")"
        for n, s, m in listed
    )
    evidence: dict[str, JsonValue] = {
        "owners": [
            {"name": n, "share_percent": s, "list": m.list, "entry": m.entry.id, "kind": m.kind}
            for n, s, m in listed
        ],
        "share_percent": share,
        "threshold_percent": rule.threshold_percent,
        "confirmed": rule.confirmed,
    }
    pause = next((p for p in rule.suspended if p.start <= ctx.at and (p.end is None or ctx.at < p.end)), None)
    if pause is not None:
        return [
            Finding(
                rule=f"policy.{rule.id}",
                severity=Severity.INFO,
                message=f"the tenant {ctx.manifest.tenant.legal_name} is {share:g} % owned by listed parties "
                f"({owners}); the Affiliates rule that would make it count as listed is suspended "
                f"from {pause.start}" + (f" until {pause.end}" if pause.end else ""),
                evidence=evidence,
            )
        ]
    found = _finding(
        rule,
        f"the tenant {ctx.manifest.tenant.legal_name} is {share:g} % owned by listed parties ({owners}); "
        f"at {rule.threshold_percent:g} % or more it counts as listed itself"
        + ("" if certain else " (through close matches only: review them)"),
        evidence,
        remedy="treat the tenant as the listed party: a licence for it is needed",
    )
    if not certain:
        # Through close matches or possible homonyms only: a warning for verify that holds admission
        # (the marker of an unconfirmed screening match) until the owners are reviewed.
        found = found.model_copy(
            update={
                "severity": Severity(min(found.severity, "warning", key=_SEVERITY_ORDER.index)),
                "evidence": {**found.evidence, "identity": "unconfirmed"},
            }
        )
    return [found]


_EVALUATORS: dict[type, Callable[[_Context, Rule], list[Finding]]] = {
    DestinationRule: _destination,
    HeadquartersRule: _headquarters,
    ProhibitedHardwareRule: _prohibited,
    TrainingComputeRule: _training,
    EvidenceStrengthRule: _evidence,
    ScreeningRule: _screening,
    SiteCountryRule: _site_country,
    NoticeRule: _notice,
    AffiliatesRule: _affiliates,
    ValidityRule: _validity,
}
