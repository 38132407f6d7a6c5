"""Screening throughput against a synthetic 30,000-entry list, beside a plain scan.

- attest: ``Screener.screen`` — normalization, exact/alias lookup, token index, rapidfuzz on candidates;
- plain scan: normalization, then rapidfuzz ``process.extractOne`` over every normalized list name
  (C++ loop, the same scorer, no index) — the obvious way without an index.

Queries are unrelated company-like names (the common case) plus 5% listed names.
Run: python bench/bench_screening.py [--entries 30000] [--queries 5000]
"""

from __future__ import annotations

import argparse
import random
import time

from rapidfuzz import fuzz, process

from attest.policy.screening import ListEntry, Screener, ScreeningList, normalize

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
    entries = []
    for i in range(n):
        name = f"{rng.choice(PLACES).title()} {rng.choice(WORDS).title()} {rng.choice(WORDS).title()} {rng.choice(KINDS).title()} {rng.choice(FORMS)}"
        alts = [f"{rng.choice(WORDS).title()}{rng.choice(WORDS).title()}"] if rng.random() < 0.5 else []
        entries.append(ListEntry(id=f"s{i}", list_id="entity-list", name=name, alt_names=alts))
    return ScreeningList(name="synthetic", date="2026-11-28", entries=entries)


def queries(n: int, lst: ScreeningList, rng: random.Random) -> list[str]:
    out = []
    for i in range(n):
        if i % 20 == 0:
            out.append(rng.choice(lst.entries).name)
        else:
            out.append(
                f"{rng.choice(WORDS).title()}{rng.choice(['', ' '])}{rng.choice(['Labs', 'Works', 'Health', 'Foods', 'Capital', 'Media'])} {rng.choice(['Inc.', 'GmbH', 'Ltd', 'S.A.'])} {i}"
            )
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entries", type=int, default=30000)
    ap.add_argument("--queries", type=int, default=5000)
    args = ap.parse_args()
    rng = random.Random(7)
    lst = synthetic_list(args.entries, rng)
    qs = queries(args.queries, lst, rng)
    t0 = time.perf_counter()
    screener = Screener([lst])
    build = time.perf_counter() - t0

    t0 = time.perf_counter()
    ours = [screener.screen(q) for q in qs]
    ours_s = time.perf_counter() - t0

    choices = [normalize(e.name) for e in lst.entries] + [
        normalize(a) for e in lst.entries for a in e.alt_names
    ]
    sample = qs[: max(50, args.queries // 50)]  # the scan is slow; time a sample
    t0 = time.perf_counter()
    scan = [
        process.extractOne(normalize(q), choices, scorer=fuzz.token_set_ratio, score_cutoff=90)
        for q in sample
    ]
    scan_s = time.perf_counter() - t0

    hits = sum(1 for m in ours if m)
    scan_hits = sum(1 for m in scan if m)
    print(f"synthetic list: {args.entries} entries ({len(screener)} names), index built in {build:.2f} s")
    print(f"{'contender':<28} {'names/s':>10} {'matched':>8}")
    print(f"{'attest Screener':<28} {len(qs) / ours_s:>10.0f} {hits:>8} of {len(qs)}")
    print(f"{'plain scan (extractOne)':<28} {len(sample) / scan_s:>10.0f} {scan_hits:>8} of {len(sample)}")
    print(f"ratio: {(len(qs) / ours_s) / (len(sample) / scan_s):.0f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
