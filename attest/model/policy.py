"""Policy documents: export-control rules as data (TOML), validated by these models.

A policy names its sources and the date it takes effect, defines country
groups (with dated changes), registers licences and licence exceptions, and
lists rules. Policies compose: ``extends`` names base policies whose groups,
licences and rules come first. A policy with no rules, or with a rule of an
unknown kind, is refused: an empty policy must never pass everything.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, ClassVar, Literal, Self

from pydantic import Field, model_validator

from attest.model.base import CountryCode, Name, WireModel

Severity = Literal["info", "warning", "contraindicated"]
Grade = Literal["declared", "hardware-bound", "key-measured", "measured"]
GroupOrCountry = Annotated[
    str,
    Field(
        pattern=r"^(\*|[A-Z]{2}|[A-Z]:\d+|[A-Z][A-Za-z0-9:_-]{1,31})$",
        description="a country code, a group name, or * for every country",
    ),
]


class Source(WireModel):
    """A document a policy was built from."""

    title: str
    url: str | None = None
    date: dt.date | None = None


class GroupChange(WireModel):
    """A country added to or removed from a group on a date."""

    code: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
    action: Literal["added", "removed"]
    date: dt.date
    source: str | None = None


class CountryGroup(WireModel):
    """Members of a country group (EAR Supplement No. 1 to Part 740, or a policy's own)."""

    members: list[Annotated[str, Field(pattern=r"^[A-Z]{2}$")]]
    source: str | None = None
    date: dt.date | None = None
    confirmed: bool = Field(
        default=True, description="false when the list was not checked against a primary text"
    )
    changes: list[GroupChange] = Field(default_factory=list)
    override: Annotated[str, Field(min_length=1, max_length=2048)] | None = Field(
        default=None,
        description="why this group differs from the group of the same name in a policy this one extends: "
        "required to redefine it (a redefinition without it is refused); shown by attest policy show and in "
        "every verdict (policy.override, a warning where it touches a country of the manifest)",
    )


class LicenseEntry(WireModel):
    """A licence or licence-exception authorization the policy knows of."""

    id: Annotated[str, Field(min_length=1, max_length=128)]
    kind: Literal["license", "exception", "authorization"] = "license"
    issuer: str = "BIS"
    holder: str = Field(description="legal name of the party authorized: the tenant it names")
    covers_subsidiaries: bool = Field(
        default=False,
        description="true when the licence extends to the holder's subsidiaries: then it also covers a tenant "
        "whose ultimate parent (declared in the manifest, not verified) is the holder",
    )
    destinations: list[GroupOrCountry] = Field(min_length=1, description="countries or groups covered")
    items: list[Annotated[str, Field(max_length=32)]] = Field(
        default_factory=list,
        description="ECCNs with the paragraph they cover (3A090.a covers 3A090.a.1 and 3A090.a.2, not "
        "3A090.b); a bare ECCN (3A090) is refused: it would cover every paragraph of it",
    )
    chips: list[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]] = Field(
        default_factory=list,
        description="chip models covered, by catalog id (h20, h200, b200): when given, the licence covers only "
        "these models (and, with items, only in those paragraphs); a chip below 3A090 that is licence-listed "
        "(the H20) is covered only by a licence that names it",
    )
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None
    conditions: list[str] = Field(
        default_factory=list, description="conditions the licence carries (a rule may require some)"
    )
    note: str | None = None

    @model_validator(mode="after")
    def _names_what_it_covers(self) -> Self:
        if not self.items and not self.chips:
            raise ValueError(
                f"licence {self.id} says nothing of what it covers: name the ECCN paragraphs (items = "
                '["3A090.a"]) or the chip models (chips = ["h20"])'
            )
        for item in self.items:
            if not re.fullmatch(r"[0-9][A-E][0-9]{3}(\.[a-z0-9]+)+", item):
                raise ValueError(
                    f"licence {self.id}: item {item!r} is not an ECCN with its paragraph (3A090.a, 3A090.a.1, "
                    "4A090.a): a bare ECCN would cover every paragraph of it; name the paragraphs, or the chip "
                    'models in chips = ["h20"]'
                )
        return self


class _Rule(WireModel):
    id: Annotated[str, Field(pattern=r"^[a-z0-9_]+$", description="stable id; findings use policy.<id>")]
    severity: Severity = "contraindicated"
    reference: str | None = Field(default=None, description="the regulation or guidance the rule applies")
    source: str | None = Field(default=None, description="where the rule's facts come from")
    date: dt.date | None = Field(default=None, description="the date of the source")
    confirmed: bool = Field(
        default=True, description="false when the rule rests on a secondary source, not the primary text"
    )
    override: Annotated[str, Field(min_length=1, max_length=2048)] | None = Field(
        default=None,
        description="why this rule replaces the rule of the same id in a policy this one extends: required to "
        "replace it (refused without it); shown by attest policy show and in every verdict (policy.override, a "
        "warning where the replaced rule would have judged the manifest more severely)",
    )


class DestinationRule(_Rule):
    """Controlled chips at a site in these groups need a matching licence."""

    kind: Literal["destination"]
    groups: list[GroupOrCountry] = Field(min_length=1)
    except_groups: list[GroupOrCountry] = Field(default_factory=list)
    effective_from: dt.date | None = Field(
        default=None, description="the rule applies to manifests from this date"
    )
    eccns: list[str] = Field(
        default_factory=list,
        description="only chips whose ECCN or paragraph starts with one of these (all if empty)",
    )
    max_tpp: Annotated[float | None, Field(gt=0)] = Field(
        default=None, description="only chips with a TPP at most this (e.g. H200-class)"
    )
    min_tpp: Annotated[float | None, Field(gt=0)] = Field(
        default=None,
        description="only chips with a TPP above this, or not known (e.g. above the H200 class); a chip whose "
        "TPP is not known is taken to be above",
    )
    license_names_chips: bool = Field(
        default=False,
        description="a licence satisfies the rule only when its chips list names every chip's model (a "
        "presumption of denial: a licence for an ECCN paragraph does not stand for these chips)",
    )
    required_conditions: list[str] = Field(
        default_factory=list,
        description="a licence satisfies the rule only when it carries all these conditions",
    )


class HeadquartersRule(_Rule):
    """A tenant, or its ultimate parent, headquartered in these groups needs a licence wherever the chips are."""

    kind: Literal["headquarters"]
    groups: list[GroupOrCountry] = Field(min_length=1)
    offshore: list[GroupOrCountry] = Field(
        default_factory=list,
        description="jurisdictions where holding companies are incorporated, not headquartered (KY, BM, VG, ...): "
        "a party declared there, with controlled chips and no licence, is a warning (declare the principal place "
        "of business)",
    )


class ProhibitedHardwareRule(_Rule):
    """Chips the catalog marks with guidance against any use (e.g. BIS on Huawei Ascend, GP10)."""

    kind: Literal["prohibited_hardware"]


class TrainingComputeRule(_Rule):
    """Declared training compute above a threshold."""

    kind: Literal["training_compute"]
    threshold_ops: Annotated[float, Field(gt=0)] = 1e26
    severity: Severity = "warning"


class EvidenceStrengthRule(_Rule):
    """Controlled chips at sites in these groups need at least this location grade."""

    kind: Literal["evidence_strength"]
    groups: list[GroupOrCountry] = Field(min_length=1)
    min_grade: Grade
    severity: Severity = "warning"


_LIST_SEVERITIES: dict[str, Severity] = {
    "entity-list": "contraindicated",
    "meu-list": "contraindicated",
    "denied-persons-list": "contraindicated",
    "sdn": "contraindicated",
    "unverified-list": "warning",
    "1260h": "warning",
    "1260h-proposed-2025": "info",
    "known-headquarters": "info",
}


# D:5 (Supplement No. 1 to Part 740) with Hong Kong and Macau: where a listed party's own address
# means a licence wherever it goes (the headquarters rule's countries), for policies that name no groups.
_HOMONYM_NEVER = (
    "AF BY MM CF CN HK MO CD CU ER HT IR IQ KP LB LY NI RU SO SS SD SY VE ZW".split()  # noqa: SIM905
)


class ScreeningRule(_Rule):
    """The tenant and its parent chain against restricted-party lists."""

    kind: Literal["screening"]
    lists: list[str] = Field(
        default_factory=lambda: ["seed"],
        min_length=1,
        description="bundled (csl, 1260h, seed) or names imported with attest lists import",
    )
    severities: dict[str, Severity] = Field(
        default_factory=lambda: dict(_LIST_SEVERITIES),
        description="severity of an exact or alias match, per list; other lists use severity",
    )
    near_severity: Severity = "warning"
    near_threshold: Annotated[float, Field(gt=50, le=100)] = 90.0
    max_list_age_days: dict[str, Annotated[int, Field(gt=0)]] = Field(
        default_factory=dict,
        description="per list name (or * for every list): a list older than this many days on the manifest's "
        "date is a warning",
    )
    list_notes: dict[str, str] = Field(
        default_factory=dict, description="what a match on a list means, per list id (added to its findings)"
    )
    homonym_never: list[GroupOrCountry] = Field(
        default_factory=lambda: list(_HOMONYM_NEVER),
        description="an exact or alias match on an entry with an address in one of these groups or countries is "
        "never taken for a homonym, whatever country the party declares: it keeps its list's severity. Outside "
        "them, a match whose entry's countries all differ from the party's declared country is a 'possible "
        "match, confirm identity' warning",
    )


class SiteCountryRule(_Rule):
    """The site's coordinates must lie in its declared country (bundled borders), within its accuracy plus a margin."""

    kind: Literal["site_country"]
    margin_km: Annotated[float, Field(ge=0, le=100)] = Field(
        default=2.0, description="slack beyond the border, added to the site's declared accuracy"
    )
    max_accuracy_km: Annotated[float, Field(ge=0, le=500)] = Field(
        default=10.0,
        description="a declared accuracy above this counts only this much (and is a warning): "
        "an accuracy of 10,000 km must not place a site anywhere",
    )


class NoticeRule(_Rule):
    """Information for controlled chips at sites in these groups (e.g. Malaysia's Strategic Trade Permit)."""

    kind: Literal["notice"]
    groups: list[GroupOrCountry] = Field(min_length=1)
    effective_from: dt.date | None = None
    message: str = Field(min_length=1)
    severity: Severity = "info"


class Suspension(WireModel):
    """A period in which a rule does not apply: from ``start`` up to, not including, ``end``."""

    start: dt.date
    end: dt.date | None = None


class AffiliatesRule(_Rule):
    """Owned at least ``threshold_percent`` by listed parties (together), the tenant counts as listed."""

    kind: Literal["affiliates"]
    effective_from: dt.date
    suspended: list[Suspension] = Field(default_factory=list)
    threshold_percent: Annotated[float, Field(gt=0, le=100)] = 50.0
    lists: list[str] = Field(
        default_factory=lambda: ["entity-list", "meu-list"], min_length=1, description="list ids that count"
    )


class ValidityRule(_Rule):
    """The manifest's time must fall within the policy's effective period."""

    kind: Literal["validity"]
    severity: Severity = "warning"


Rule = Annotated[
    DestinationRule
    | HeadquartersRule
    | ProhibitedHardwareRule
    | TrainingComputeRule
    | EvidenceStrengthRule
    | ScreeningRule
    | SiteCountryRule
    | NoticeRule
    | AffiliatesRule
    | ValidityRule,
    Field(discriminator="kind"),
]


class LocationRequirement(WireModel):
    """What a ``measured`` location grade must prove, and how strictly receipts are taken."""

    prohibited: list[GroupOrCountry] = Field(
        default_factory=lambda: ["CN", "HK", "MO"],
        min_length=1,
        description="groups or countries the landmark physics must rule out",
    )
    min_operators: Annotated[int, Field(ge=1, le=16)] = Field(
        default=2, description="k: the proof must survive any k-1 landmark operators lying"
    )
    margin_km: Annotated[float, Field(ge=0, le=500)] = Field(
        default=5.0, description="extra distance every disk must keep from a prohibited border"
    )
    receipt_max_age_s: Annotated[int, Field(gt=0, le=86_400)] = Field(
        default=900, description="how long before the manifest was issued a receipt may have been measured"
    )
    site_tolerance_km: Annotated[float, Field(ge=0, le=100)] = Field(
        default=1.0, description="slack for the declared site coordinates when testing them against the disks"
    )
    override: Annotated[str, Field(min_length=1, max_length=2048)] | None = Field(
        default=None,
        description="why this section asks less than the one it replaces (fewer prohibited countries, fewer "
        "operators, a smaller margin, older receipts, more site slack): refused without it; shown by attest "
        "policy show and in every verdict (policy.override, a warning on a grade that rests on it)",
    )


class HardwareRequirement(WireModel):
    """What GPU evidence must be to earn ``hardware-bound`` (and so ``measured``)."""

    binding_max_age_s: Annotated[int, Field(gt=0, le=366 * 86_400)] = Field(
        default=86_400,
        description="how long before the manifest a binding's challenge may have been issued; an older binding "
        "grades declared (hardware.binding_stale)",
    )
    override: Annotated[str, Field(min_length=1, max_length=2048)] | None = Field(
        default=None,
        description="why this section asks less than the one it replaces (an older binding): refused without "
        "it; shown by attest policy show and in every verdict (policy.override, a warning on a grade that rests on it)",
    )


class PartyIdentifier(WireModel):
    """A registry identifier a cleared party must declare (``identifiers`` of the manifest's party)."""

    scheme: Annotated[str, Field(min_length=1, max_length=64, description="e.g. lei, duns, uen, uscc")]
    value: Annotated[str, Field(min_length=1, max_length=128)]


class Clearance(WireModel):
    """A reviewed decision that a party is not the list entry its name matches (a homonym).

    It clears that entry's matches for a party with this name (compared normalized) declared
    in this country (and carrying this identifier, when one is given) until it expires: the
    screening finding becomes information that names the review, and the headquarters and
    Affiliates rules no longer take the entry's country for the party's.
    """

    wire_spelling_only: ClassVar[bool] = (
        False  # a user-written file: reads ``list`` and ``list_id`` alike, as before
    )

    list_id: Annotated[
        str, Field(alias="list", min_length=1, description="the list id: sdn, entity-list, ...")
    ]
    entry: Annotated[str, Field(min_length=1, description="the list entry's id, as findings show it")]
    party: Name = Field(description="the party's legal name, as its manifests declare it")
    country: CountryCode = Field(
        description="the country the party declares (headquarters, or the operator's)"
    )
    identifier: PartyIdentifier | None = Field(
        default=None, description="when given, the party must declare this registry identifier too"
    )
    reviewer: Annotated[str, Field(min_length=1, max_length=256)]
    date: dt.date = Field(description="the day of the review")
    reason: Annotated[str, Field(min_length=1, max_length=2048)] = Field(
        description="what showed the party is not the entry (addresses, registration numbers, ...)"
    )
    expires: dt.date | None = Field(default=None, description="the last day the decision holds")


class PolicyDocument(WireModel):
    """One policy file."""

    wire_spelling_only: ClassVar[bool] = (
        False  # a user-written file: reads ``list`` and ``list_id`` alike, as before
    )

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")]
    version: str
    title: str
    effective: dt.date
    status: Literal["in-force", "rescinded", "draft"] = "in-force"
    rescinded: dt.date | None = None
    extends: list[str] = Field(default_factory=list)
    sources: list[Source] = Field(default_factory=list)
    groups: dict[Annotated[str, Field(pattern=r"^[A-Z][A-Za-z0-9:_-]{1,31}$")], CountryGroup] = Field(
        default_factory=dict
    )
    territories: dict[
        Annotated[str, Field(pattern=r"^[A-Z]{2}$")], Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
    ] = Field(
        default_factory=dict,
        description="territories the rules treat as another country (HK and MO as CN): every rule, group and "
        "licence that names the country names them too",
    )
    territories_source: str | None = Field(default=None, description="the regulation that says so")
    territories_override: Annotated[str, Field(min_length=1, max_length=2048)] | None = Field(
        default=None,
        description="why this document's territories differ from those of the policies it extends (HK or MO "
        "treated as another country than CN, a new territory): required to change them (refused without it); "
        "shown by attest policy show and in every verdict (policy.override)",
    )
    licenses: list[LicenseEntry] = Field(default_factory=list)
    cleared: list[Clearance] = Field(
        default_factory=list,
        description="reviewed screening homonyms: a party that is not the list entry it matches (see Clearance)",
    )
    rules: list[Rule] = Field(default_factory=list)
    location: LocationRequirement | None = Field(
        default=None, description="what the measured location grade must prove (inherited when absent)"
    )
    hardware: HardwareRequirement | None = Field(
        default=None, description="what GPU evidence must be to count (inherited when absent)"
    )
    disclaimer: str = "Not legal advice. Check the sources; correct the data where they changed."

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        ids = [r.id for r in self.rules]
        if len(set(ids)) != len(ids):
            raise ValueError("a rule id is used twice")
        if any(t == c for t, c in self.territories.items()) or set(self.territories) & set(
            self.territories.values()
        ):
            raise ValueError("a territory is treated as itself or as another territory")
        if self.status == "rescinded" and self.rescinded is None:
            raise ValueError("a rescinded policy needs the date it was rescinded")
        return self
