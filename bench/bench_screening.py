"""Screening throughput against the full bundled lists, beside a plain scan, in one run.

Lists: the bundled us-ear defaults, the US Consolidated Screening List of 2026-07-31 (25,921
entries), the DoD 1260H list (80) and the seed (43 entries): 36,517 names with their aliases
once persons, vessels and aircraft are left out (the bench prints the counts it loaded).

- attest: ``Screener._screen`` (the per-name memo bypassed: every name is new to it) —
  folding (invisible characters, TR39 look-alikes, OpenCC), normalization, exact lookups
  under four keys, brand subsidiaries, the token index with length windows, rapidfuzz on
  the candidates;
- plain scan: the same normalization, then rapidfuzz ``process.extractOne`` over every
  normalized list name with the same scorer and threshold (a C++ loop, no index) — the
  obvious way without an index. It is slow, so a sample of the queries is timed.

Queries: the 1,233 unrelated company names of ``tests/data/unrelated_companies.txt``, each
also with a number appended (so no two are alike), and the generated evasion set of
``tests/policy/evasion.py`` (variants of real list entries, each a match to find and
verify). Three workloads are timed: the mix a fleet sees (unrelated names and one in twenty
a disguised list entry), unrelated names only, and disguised entries only. The bench also
reports the evasion set's recall and the unrelated names flagged, as the tests check them.

Times are CPU time of this process (``time.process_time``): the bench is single-threaded, so on
an idle machine they equal wall time, and on a shared one they leave out the time other
processes held the CPU.

``--base REV`` also times ``attest/policy/screening.py`` as it was at git revision REV (read
with ``git show`` and loaded as a module of its own, against the same bundled data), each round
timing base and current one after the other, so a noisy machine weighs on both alike; the
table gives both rates, their ratio, and each one's evasion recall and unrelated names flagged.

``--agree REV`` times nothing: the code at REV and the current code screen ~11,800 names
(``agreement_queries``) and every name on which they find other entries, kinds or scores is
printed (exit 1): a speed-up must find exactly what the code before it found.

``--glued REV`` times nothing: every brand key is glued into names as an evasion writes them
(``glued_forms``: to business words, a place, CamelCase words, other letters; a letter doubled;
look-alikes, full-width forms, a zero-width space) and screened with the code at REV and now,
beside unrelated names that hold a brand key inside a longer word (``GLUED_UNRELATED``).

``--placeless REV`` times nothing: the Chinese Entity List and MEU names of the CSL that start with
a city or province (``tests.policy.evasion.PLACES``, the red-team review's 46) are screened with the place dropped and
written as an overseas arm writes them (``PLACELESS_FORMS``), with the code at REV and now; and the
unrelated companies flagged by each.

Run: python bench/bench_screening.py [--rounds 3] [--sample 200] [--base REV | --agree REV | --glued REV | --placeless REV]
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from rapidfuzz import fuzz, process

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the evasion generator lives in tests/

from attest.policy.screening import ListEntry, ScreeningList, bundled_list, normalize, screener_for  # noqa: E402
from tests.policy.evasion import GLUED_UNRELATED, glued_forms, placed_chinese_names, variants  # noqa: E402

WORDS = """alpha beta gamma delta sigma omega nova stellar quantum vector matrix cipher photon fusion atlas orion
titan apex summit horizon pacific eastern northern golden silver blue green red bright clear swift smart
deep rapid prime global united central royal imperial modern future digital micro macro mega ultra hyper
dragon phoenix tiger lion eagle falcon harbor river mountain ocean island valley forest desert crystal
""".split()
KINDS = "technology electronics semiconductor computing systems networks logistics trading shipping energy robotics software instruments materials".split()
PLACES = "beijing shanghai shenzhen hangzhou wuhan chengdu moscow tehran minsk pyongyang caracas havana dubai singapore".split()
FORMS = [
    "Co., Ltd.",
    "Limited",
    "LLC",
    "Inc.",
    "Group Co., Ltd.",
    "Trading Co.",
    "JSC",
    "Pte. Ltd.",
    "有限公司",
]


def synthetic_list(n: int, rng: random.Random) -> ScreeningList:
    """A synthetic list of ``n`` company-like entries (bench_verify.py screens against it)."""
    entries = []
    for i in range(n):
        name = f"{rng.choice(PLACES).title()} {rng.choice(WORDS).title()} {rng.choice(WORDS).title()} {rng.choice(KINDS).title()} {rng.choice(FORMS)}"
        alts = [f"{rng.choice(WORDS).title()}{rng.choice(WORDS).title()}"] if rng.random() < 0.5 else []
        entries.append(ListEntry(id=f"s{i}", list_id="entity-list", name=name, alt_names=alts))
    return ScreeningList(name="synthetic", date="2026-11-28", entries=entries)


def base_module(rev: str) -> ModuleType:
    """``attest/policy/screening.py`` as of git revision ``rev``, loaded as a module of its own."""
    try:
        source = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{rev}:attest/policy/screening.py"],
            check=True,
            capture_output=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SystemExit(f"bench_screening: cannot read screening.py at {rev!r}: {exc}") from None
    path = Path(tempfile.mkdtemp(prefix="bench-screening-")) / "screening_base.py"
    path.write_bytes(source)
    spec = importlib.util.spec_from_file_location("screening_base", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["screening_base"] = module  # dataclasses and pydantic look their module up
    spec.loader.exec_module(module)
    return module


def recall(screener: Any, evasions: list[Any]) -> int:
    """How many disguised list entries the screener finds (their own entry, or one of the same name)."""
    return sum(
        1
        for v in evasions
        if any(
            (m.source.name, m.entry.id) == (v.list_name, v.entry.id) or m.entry.name == v.entry.name
            for m in screener.screen(v.name)
        )
    )


def agreement_queries(lists: list[ScreeningList], unrelated: list[str], evasions: list[Any]) -> list[str]:
    """The queries ``--agree`` screens: names with no match, disguised entries, list names and near misses of them.

    The unrelated names (as written and with a number), the evasion set, and 2,000 list names
    drawn with a fixed seed, each also with a letter dropped, a word added and its words shuffled
    (near matches, windows of several words, word-sorted keys): 11,772 names.
    """
    rng = random.Random(18)
    names = [n for lst in lists for e in lst.entries for n in (e.name, *e.alt_names)]
    drawn = rng.sample(names, min(2000, len(names)))
    out = [*unrelated, *(f"{n} {i}" for i, n in enumerate(unrelated)), *(v.name for v in evasions)]
    for n in drawn:
        words = n.split()
        cut = rng.randrange(len(n))
        shuffled = words[:]
        rng.shuffle(shuffled)
        out += [n, n[:cut] + n[cut + 1 :], f"{n} {rng.choice(WORDS).title()}", " ".join(shuffled)]
    return out


def agree(rev: str, lists: list[ScreeningList], screener: Any, queries: list[str]) -> int:
    """Screen every query with the code at ``rev`` and the current code; print every difference; 1 if any."""
    old = base_module(rev)
    base = old.screener_for([old.bundled_list("csl"), old.bundled_list("1260h"), old.bundled_list("seed")])

    def found(s: Any, q: str) -> tuple[set[tuple[str, str, str, str, float]], set[tuple[str, str, str]]]:
        ms = s.screen(q)
        return (
            {(m.source.name, m.list, m.entry.id, m.kind, round(m.score, 6)) for m in ms},
            {(m.source.name, m.entry.id, m.matched_name) for m in ms},
        )

    differ = named = hits = 0
    for q in queries:
        (new, new_named), (was, was_named) = found(screener, q), found(base, q)
        hits += bool(new)
        if new != was:
            differ += 1
            print(f"DIFFERENT {q!r}: only now {sorted(new - was)}; only before {sorted(was - new)}")
        elif new_named != was_named:
            named += 1
    print(
        f"agreement with {rev}: {len(queries):,} queries ({hits:,} with a match), {differ} differ in entries, "
        f"kinds or scores; {named} only in which of an entry's equal-scoring names is matched_name"
    )
    return 1 if differ else 0


def glued(rev: str, screener: Any, unrelated: list[str]) -> int:
    """Screen every brand key glued into names (``glued_forms``) and ``GLUED_UNRELATED`` with the code at ``rev`` and now.

    Prints, per form, how many names find the key's entry at 95 (or exact/alias) with each, every
    name found before and not now, and how many unrelated names each flags (with the 1,233 ones).
    """
    old = base_module(rev)
    base = old.screener_for([old.bundled_list("csl"), old.bundled_list("1260h"), old.bundled_list("seed")])
    keys = sorted(k for k in screener._brand_compact if len(k) >= 5)
    counts: dict[str, list[int]] = {}
    for key in keys:
        want = {screener._names[i][2].id for i in screener._brand_compact[key]}
        for how, name in glued_forms(key):
            row = counts.setdefault(how, [0, 0, 0])
            found = [
                any(m.entry.id in want and (m.kind != "near" or m.score >= 95) for m in s.screen(name))
                for s in (base, screener)
            ]
            row[0] += 1
            row[1] += found[0]
            row[2] += found[1]
            if found[0] and not found[1]:
                print(f"found at {rev}, not now: {how} {name!r}")
    print(
        f"{len(keys)} brand keys glued into names; found at 95 (or exact/alias) by the code at {rev} and now"
    )
    print(f"{'form':<20} {'names':>6} {rev:>10} {'now':>6}")
    for how, (n, was, now) in counts.items():
        print(f"{how:<20} {n:>6} {was:>10} {now:>6}")
    for label, s in ((rev, base), ("now", screener)):
        flagged = [n for n in GLUED_UNRELATED if s.screen(n)]
        print(
            f"{label}: unrelated names holding a brand key flagged {len(flagged)}/{len(GLUED_UNRELATED)}; "
            f"unrelated companies flagged {sum(1 for n in unrelated if s.screen(n))}/{len(unrelated)}"
        )
    return 0


PLACELESS_FORMS = (
    "{} Pte. Ltd.",
    "{} (Singapore) Pte. Ltd.",
    "{} International Pte. Ltd.",
    "{} Holdings Limited",
    "Shanghai {} Co., Ltd.",
)


def placeless(rev: str, screener: Any, unrelated: list[str]) -> int:
    """Screen the CSL's Chinese Entity List and MEU names starting with a place, the place dropped, with the code at ``rev`` and now."""
    old = base_module(rev)
    base = old.screener_for([old.bundled_list("csl"), old.bundled_list("1260h"), old.bundled_list("seed")])
    named = placed_chinese_names()
    names, rests = [n for n, _ in named], [r for _, r in named]
    print(
        f"{len(names)} Chinese Entity List and MEU names starting with a place; missed with the place dropped"
    )
    print(f"{'form':<32} {'names':>6} {rev:>10} {'now':>6}")
    still: list[str] = []
    for form in PLACELESS_FORMS:
        queries = [form.format(r) for r in rests]
        was = sum(1 for q in queries if not base.screen(q))
        missed = [q for q in queries if not screener.screen(q)]
        still += missed if form == PLACELESS_FORMS[0] else []
        print(f"{form:<32} {len(queries):>6} {was:>10} {len(missed):>6}")
    print("missed now, first form:", "; ".join(still))
    for label, s in ((rev, base), ("now", screener)):
        print(
            f"{label}: unrelated companies flagged {sum(1 for n in unrelated if s.screen(n))}/{len(unrelated)}"
        )
    return 0


def main() -> int:
    """Time both contenders and print a table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds; the best is kept (default: 3)")
    ap.add_argument("--sample", type=int, default=200, help="queries timed for the plain scan (default: 200)")
    ap.add_argument(
        "--base", metavar="REV", help="also time screening.py as of this git revision, in the same rounds"
    )
    ap.add_argument(
        "--agree",
        metavar="REV",
        help="instead of timing, check that the code at REV and the current code find the same entries, kinds "
        "and scores on ~11,800 queries (exit 1 if not)",
    )
    ap.add_argument(
        "--glued",
        metavar="REV",
        help="instead of timing, screen every brand key glued into names, and unrelated names holding one, "
        "with the code at REV and the current code",
    )
    ap.add_argument(
        "--placeless",
        metavar="REV",
        help="instead of timing, screen the CSL's Chinese names that start with a place with the place dropped, "
        "with the code at REV and the current code",
    )
    args = ap.parse_args()

    t0 = time.process_time()
    lists = [bundled_list("csl"), bundled_list("1260h"), bundled_list("seed")]
    loaded = time.process_time() - t0
    t0 = time.process_time()
    screener = screener_for(lists)
    built = time.process_time() - t0
    base = None
    if args.base:
        old = base_module(args.base)
        base = old.screener_for(
            [old.bundled_list("csl"), old.bundled_list("1260h"), old.bundled_list("seed")]
        )

    lines = (ROOT / "tests" / "data" / "unrelated_companies.txt").read_text(encoding="utf-8").splitlines()
    unrelated = [n.strip() for n in lines if n.strip() and not n.startswith("#")]
    evasions = variants(lists)
    if args.agree:
        return agree(args.agree, lists, screener, agreement_queries(lists, unrelated, evasions))
    if args.glued:
        return glued(args.glued, screener, unrelated)
    if args.placeless:
        return placeless(args.placeless, screener, unrelated)
    fresh = [*unrelated, *(f"{n} {i}" for i, n in enumerate(unrelated))]  # no two alike
    # The mix a fleet sees: mostly unrelated parties, one in twenty a listed one in disguise.
    mix = [*fresh, *(v.name for v in evasions[: len(fresh) // 19])]

    contenders = {"attest Screener": screener, **({f"base {args.base}": base} if base is not None else {})}

    def rate(queries: list[str]) -> dict[str, float]:
        best = dict.fromkeys(contenders, float("inf"))
        for _ in range(args.rounds):
            for label, contender in contenders.items():  # one after the other in each round
                t0 = time.process_time()
                for q in queries:
                    contender._screen(q)  # no memo: every name costs the full path
                best[label] = min(best[label], time.process_time() - t0)
        return {label: len(queries) / b for label, b in best.items()}

    workloads = {
        f"mix: {len(mix):,} names, 5% disguised": rate(mix),
        f"unrelated: {len(fresh):,} names": rate(fresh),
        f"disguised list entries: {len(evasions):,}": rate([v.name for v in evasions]),
    }
    choices = [n[1] for n in screener._names]  # the same names, words sorted, as attest scores them
    sample = mix[:: max(1, len(mix) // args.sample)][: args.sample]
    t0 = time.process_time()
    for q in sample:
        process.extractOne(
            " ".join(sorted(normalize(q).split())), choices, scorer=fuzz.ratio, score_cutoff=90
        )
    scan_rate = len(sample) / (time.process_time() - t0)

    print(
        f"lists: {', '.join(f'{lst.name} {lst.date} ({len(lst.entries):,})' for lst in lists)}; "
        f"{len(screener):,} names indexed"
    )
    print(f"loaded in {loaded:.2f} s, indexed in {built:.2f} s; best of {args.rounds} rounds")
    print(f"{'contender':<60} {'names/s':>10}")
    for workload, rates in workloads.items():
        for label, r in rates.items():
            print(f"{label + ', ' + workload:<60} {r:>10,.0f}")
    print(f"{'plain scan (extractOne), ' + str(len(sample)) + ' names of the mix':<60} {scan_rate:>10,.0f}")
    mix_rates = next(iter(workloads.values()))
    print(f"ratio on the mix: {mix_rates['attest Screener'] / scan_rate:,.0f}x the plain scan", end="")
    if base is not None:
        print(
            f", {mix_rates['attest Screener'] / mix_rates[f'base {args.base}']:.2f}x base {args.base}", end=""
        )
    print()
    for label, contender in contenders.items():
        caught = recall(contender, evasions)
        flagged = sum(1 for n in unrelated if contender.screen(n))
        print(
            f"{label}: evasion recall {caught}/{len(evasions)} = {caught / len(evasions):.2%}; "
            f"unrelated flagged: {flagged}/{len(unrelated)}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
