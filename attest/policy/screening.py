"""Screening parties against restricted-party lists: exact, alias and near matches.

Names are normalized before matching: Unicode NFKC, case folding, punctuation
to spaces, and legal-form words removed in many languages and scripts (Co.,
Ltd., Inc., Pte. Ltd., Sdn. Bhd., GmbH, S.A., 有限公司, 集团, 株式会社, Cyrillic OOO, ...).
An exact or alias match is a dictionary lookup. Near matches use an inverted
index of name tokens (CJK runs as character bigrams, very common tokens left
out) to find candidates, which rapidfuzz then scores; there is no Python loop
over every entry.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field
from rapidfuzz import fuzz

from attest.errors import InputError
from attest.model.base import WireModel

_LEGAL_WORDS = frozenset(
    [
        "co",
        "company",
        "companies",
        "corp",
        "corporation",
        "inc",
        "incorporated",
        "ltd",
        "limited",
        "llc",
        "llp",
        "lp",
        "plc",
        "pte",
        "pty",
        "pvt",
        "private",
        "sdn",
        "bhd",
        "berhad",
        "gmbh",
        "mbh",
        "ag",
        "kg",
        "sa",
        "sas",
        "sarl",
        "spa",
        "srl",
        "sl",
        "bv",
        "nv",
        "ab",
        "oy",
        "oyj",
        "as",
        "asa",
        "aps",
        "kk",
        "kabushiki",
        "kaisha",
        "jsc",
        "pjsc",
        "ojsc",
        "cjsc",
        "ooo",
        "zao",
        "oao",
        "pao",
        "ao",
        "tbk",
        "pt",
        "sp",
        "zoo",
        "kft",
        "zrt",
        "sro",
        "doo",
        "dd",
        "ad",
        "ltda",
        "eireli",
        "cv",
        "de",
        "the",
    ]
)
# Legal forms written without spaces (CJK, Cyrillic) and stripped from either end.
_LEGAL_AFFIXES = tuple(
    sorted(
        [
            "股份有限公司",
            "有限责任公司",
            "有限責任公司",
            "集团有限公司",
            "集團有限公司",
            "有限公司",
            "集团",
            "集團",
            "公司",
            "株式会社",
            "有限会社",
            "合同会社",
            "주식회사",
            "유한회사",
            "ооо",
            "оао",
            "зао",
            "пао",
            "ао",
        ],
        key=len,
        reverse=True,
    )
)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_NON_WORD = re.compile(r"[\W_]+")


def normalize(name: str) -> str:
    """The comparable form of a party name (see the module docstring)."""
    text = unicodedata.normalize("NFKC", name).casefold()
    text = _NON_WORD.sub(" ", text).strip()
    # Strip legal forms written as affixes, at either end of the whole name. One C call
    # answers the common case (none); the longest matching affix goes first.
    while text.endswith(_LEGAL_AFFIXES) or text.startswith(_LEGAL_AFFIXES):
        affix = next(a for a in _LEGAL_AFFIXES if text.endswith(a) or text.startswith(a))
        if len(text) <= len(affix):
            break
        text = (text[: -len(affix)] if text.endswith(affix) else text[len(affix) :]).strip()
    tokens = text.split()
    merged: list[str] = []
    for tok in tokens:  # "s a" (from S.A.) and "b v" become one word before legal words are dropped
        if (
            len(tok) == 1
            and merged
            and len(merged[-1]) <= 2
            and merged[-1].isalpha()
            and tok.isalpha()
            and not _CJK.search(tok)
        ):
            merged[-1] += tok
        else:
            merged.append(tok)
    kept = [t for t in merged if t not in _LEGAL_WORDS]
    return " ".join(kept or merged)


def tokens(normalized: str) -> set[str]:
    """Index tokens: words, and character bigrams inside CJK runs."""
    out: set[str] = set()
    for word in normalized.split():
        if _CJK.search(word):
            out.update(word[i : i + 2] for i in range(max(1, len(word) - 1)))
        else:
            out.add(word)
    return out


class ListEntry(WireModel):
    """One restricted party."""

    id: str
    list_id: Annotated[
        str, Field(alias="list", description="entity-list, 1260h, ... (the policy sets a severity per list)")
    ]
    name: str
    alt_names: list[str] = Field(default_factory=list)
    country: str | None = None
    added: str | None = None
    programs: list[str] = Field(default_factory=list)
    source: str | None = None


class ScreeningList(WireModel):
    """A named, dated list of restricted parties."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")]
    date: str
    about: str = ""
    sources: dict[str, str] = Field(default_factory=dict)
    entries: list[ListEntry]


@dataclass(frozen=True)
class Match:
    """One hit: which list and entry, by which name, how (exact, alias, near) and how well (0-100)."""

    list: str
    entry: ListEntry
    matched_name: str
    kind: Literal["exact", "alias", "near"]
    score: float
    screened: str

    def to_obj(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "list": self.list,
            "entry": self.entry.id,
            "entry_name": self.entry.name,
            "matched_name": self.matched_name,
            "kind": self.kind,
            "score": round(self.score, 1),
            "screened": self.screened,
        }


class Screener:
    """Lists indexed for screening."""

    def __init__(
        self, lists: Sequence[ScreeningList], *, near_threshold: float = 90.0, common_token_cap: int = 200
    ) -> None:
        self.lists = list(lists)
        self.near_threshold = near_threshold
        self._memo: dict[str, tuple[Match, ...]] = {}
        self._exact: dict[str, list[tuple[ListEntry, str, Literal["exact", "alias"]]]] = defaultdict(list)
        self._names: list[tuple[str, str, ListEntry, str]] = []  # (normalized, distinctive, entry, original)
        postings: dict[str, list[int]] = defaultdict(list)
        for lst in self.lists:
            for entry in lst.entries:
                for original, kind in [(entry.name, "exact"), *((a, "alias") for a in entry.alt_names)]:
                    norm = normalize(original)
                    if not norm:
                        continue
                    self._exact[norm].append((entry, original, kind))  # type: ignore[arg-type]
                    idx = len(self._names)
                    self._names.append((norm, _distinctive(norm), entry, original))
                    for tok in tokens(norm):
                        postings[tok].append(idx)
        # Tokens on very many names ("technology", "international") find nothing specific.
        self._postings = {t: ids for t, ids in postings.items() if len(ids) <= common_token_cap}

    def __len__(self) -> int:
        return len(self._names)

    def screen(self, name: str) -> list[Match]:
        """Every list entry this name matches, best first.

        The lists do not change once indexed, so results are remembered per name (the same
        tenants are screened in every manifest of a fleet); at most 4,096 names are kept.
        """
        hit = self._memo.get(name)
        if hit is None:
            hit = tuple(self._screen(name))
            if len(self._memo) >= 4096:
                self._memo.clear()
            self._memo[name] = hit
        return list(hit)

    def _screen(self, name: str) -> list[Match]:
        norm = normalize(name)
        if not norm:
            return []
        found: dict[tuple[str, str], Match] = {}
        for entry, original, kind in self._exact.get(norm, []):
            found[(entry.list_id, entry.id)] = Match(entry.list_id, entry, original, kind, 100.0, name)
        candidates: set[int] = set()
        for tok in tokens(norm):
            candidates.update(self._postings.get(tok, ()))
        distinctive = _distinctive(norm)
        for idx in candidates:
            cand, cand_distinctive, entry, original = self._names[idx]
            if (entry.list_id, entry.id) in found:
                continue
            score = _score(norm, distinctive, cand, cand_distinctive)
            if score >= self.near_threshold:
                found[(entry.list_id, entry.id)] = Match(entry.list_id, entry, original, "near", score, name)
        return sorted(found.values(), key=lambda m: (-m.score, m.list, m.entry.id))

    def screen_party(self, names: Iterable[str]) -> list[Match]:
        """Screen a party and its parent chain; best match per entry."""
        best: dict[tuple[str, str], Match] = {}
        for n in names:
            for m in self.screen(n):
                key = (m.list, m.entry.id)
                if key not in best or m.score > best[key].score:
                    best[key] = m
        return sorted(best.values(), key=lambda m: (-m.score, m.list, m.entry.id))


# Words that describe a line of business, not a party: two names sharing only these are not alike.
_GENERIC_WORDS = frozenset(
    """
    technology technologies tech semiconductor semiconductors international group holding holdings systems
    system electronics electronic industries industrial global science sciences scientific information
    network networks software solutions services service trading manufacturing memory memories digital data
    cloud intelligent intelligence micro microelectronics computing computer communications communication
    telecommunications energy power shipping logistics engineering research development enterprise
    enterprises resources capital investment investments development instruments materials devices
    """.split()  # noqa: SIM905  # a block of words reads better than a list of 60 strings
)


def _distinctive(normalized: str) -> str:
    return " ".join(w for w in normalized.split() if w not in _GENERIC_WORDS)


def _score(query: str, q: str, candidate: str, c: str) -> float:
    """Similarity of two normalized names, given their distinctive words ``q`` and ``c``."""
    if _CJK.search(candidate) or _CJK.search(query):
        return float(fuzz.partial_ratio(query, candidate)) if min(len(query), len(candidate)) >= 2 else 0.0
    if not c or not q:
        # A listed name made only of generic words (e.g. "semiconductor manufacturing international")
        # matches only as a whole, never through one shared word.
        return float(fuzz.ratio(query, candidate))
    # A listed name whose distinctive words all appear in the query (a subsidiary's name) scores 100;
    # otherwise the closer of plain and word-order-free similarity of the distinctive words.
    return float(max(fuzz.token_set_ratio(q, c), fuzz.ratio(q, c)))


@lru_cache(maxsize=1)
def seed_list() -> ScreeningList:
    """The bundled, dated seed list (AI-relevant entries from public lists)."""
    text = resources.files("attest.policy").joinpath("data/screening-seed.json").read_bytes()
    return ScreeningList.from_json(text, what="bundled screening seed list")


def _list_slug(source: str) -> str:
    s = source.casefold()
    if "entity list" in s:
        return "entity-list"
    if "specially designated" in s or "sdn" in s.split():
        return "sdn"
    if "unverified" in s:
        return "unverified-list"
    if "military end user" in s or "meu" in s.split():
        return "meu-list"
    return re.sub(r"[^a-z0-9]+", "-", s).strip("-")[:40] or "csl"


def _names(value: Any, field: str, n: int, name: str) -> list[str]:
    """A CSL field of names: a list of strings (JSON) or one string of ``;``-separated names (CSV, and some JSON)."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [a.strip() for a in value.split(";") if a.strip()]
    if isinstance(value, list) and all(isinstance(a, str) for a in value):
        return [a.strip() for a in value if a.strip()]
    # Refused rather than skipped: a list whose alternative names were dropped screens fewer names.
    raise InputError(
        f"the CSL row {n + 1} ({name}): {field} must be a list of strings or a ';'-separated string"
    )


def import_csl(data: bytes, *, name: str, date: str) -> ScreeningList:
    """Read the Consolidated Screening List (JSON ``{"results": [...]}`` or CSV) into a list."""
    text = data.decode("utf-8-sig", errors="replace")
    rows: list[dict[str, Any]]
    if text.lstrip().startswith("{"):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"the CSL JSON does not parse: {exc.msg} at line {exc.lineno}") from None
        except (ValueError, RecursionError) as exc:  # a 5,000-digit number; nesting too deep
            raise InputError(f"the CSL JSON is not a list file: {exc}") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("results"), list):
            raise InputError('the CSL JSON has no "results" list')
        rows = doc["results"]
        for n, row in enumerate(rows):
            if not isinstance(row, dict):
                raise InputError(f"the CSL row {n + 1} is not an object")
    else:
        reader = csv.DictReader(io.StringIO(text.replace("\x1a", ""), newline=""), strict=True)
        try:
            if not reader.fieldnames or "name" not in reader.fieldnames:
                raise InputError("the CSL CSV has no 'name' column (expected the official column set)")
            rows = list(reader)
        except csv.Error as exc:  # a quote left open, a field over the csv module's size limit, ...
            raise InputError(f"the CSL CSV does not parse: {exc} (line {reader.reader.line_num})") from None
    entries = []
    for n, row in enumerate(rows):
        name_value = row.get("name") or ""
        if not isinstance(name_value, str):
            raise InputError(f"the CSL row {n + 1}: name must be a string, not {type(name_value).__name__}")
        primary = name_value.strip()
        if not primary:
            continue
        alts = _names(row.get("alt_names"), "alt_names", n, primary)
        programs = _names(row.get("programs"), "programs", n, primary)
        addresses = row.get("addresses") or []
        country = None
        if isinstance(addresses, list) and addresses and isinstance(addresses[0], dict):
            country = addresses[0].get("country")
        source = str(row.get("source") or "")
        entries.append(
            ListEntry(
                id=str(row.get("_id") or row.get("id") or row.get("entity_number") or f"row-{n}"),
                list_id=_list_slug(source),
                name=primary,
                alt_names=alts,
                country=country if isinstance(country, str) else None,
                added=str(row.get("start_date") or "") or None,
                programs=programs,
                source=source or None,
            )
        )
    if not entries:
        raise InputError("the file holds no list entries")
    return ScreeningList(
        name=name,
        date=date,
        about=f"imported from the Consolidated Screening List ({len(entries)} entries)",
        entries=entries,
    )


def load_list(ref: str, lists_dir: Path | None) -> ScreeningList:
    """``seed`` (bundled), a list imported into ``lists_dir``, or a path to a list file."""
    if ref == "seed":
        return seed_list()
    candidates = [Path(ref)]
    if lists_dir is not None:
        candidates.insert(0, lists_dir / f"{ref}.json")
    for path in candidates:
        if path.is_file():
            return ScreeningList.from_json(
                path.read_bytes(), what=f"screening list {path}", max_bytes=512 * 1024 * 1024
            )
    raise InputError(
        f"screening list {ref!r} is not imported",
        hint="import it with: attest lists import FILE --name " + ref,
    )
