"""The PRC-registration check's recall and false positives, now and at another revision, in one run.

No timing: the check is a few regular expressions per party. What it counts, for
``attest/policy/registration.py`` as it is and (``--base REV``) as it was at git revision REV:

- recall: the tenant names and identifiers of the red-team review (rt7 findings A and B, the
  ones ``tests/policy/test_registration.py`` checks), declared in SG: how many are strong
  evidence (the rule's severity), weak (a warning) or none (affirming);
- false positives: the 1,233 unrelated real companies of ``tests/data/unrelated_companies.txt``
  (the screening benchmark's corpus; Japanese, Korean, Taiwanese and Thai "Co., Ltd." among
  them), declared SG, US and TW, and the precision controls (names of other places that hold a
  PRC place name): how many are evidence, and which;
- the bundled Consolidated Screening List's entities (persons, vessels, aircraft left out),
  declared SG: of those with addresses only in CN, HK or MO, how many names are evidence
  (recall on real PRC names; a name without a place says nothing), and of those with addresses
  only elsewhere, how many are flagged, and which (most are PRC companies at a foreign address).

Run: python bench/bench_registration.py [--base REV]
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from attest.model.manifest import Identifier  # noqa: E402

NAMES = [
    "Shenzhen Acme Technology Ltd.",
    "Shenzhen Acme Technology Limited",
    "Shenzhen Acme Technology Corp., Ltd.",
    "Shenzhen Acme Technology Inc.",
    "Shenzhen Acme Technology Corporation",
    "Peking Acme Technology Co., Ltd.",
    "Canton Acme Technology Co., Ltd.",
    "Hangchow Acme Technology Co., Ltd.",
    "Shen Zhen Acme Technology Co., Ltd.",
    "Xizang Acme Co., Ltd.",
    "Nei Mongol Acme Co., Ltd.",
    "Yiwu Acme Trading Co., Ltd.",
    "Acme Technology Co., Ltd. Shenzhen Branch",
    "深圳市爱克米科技有限公司新加坡分公司",
    "深圳市爱克米科技公司",
    "深圳市爱克米集团",
    "Acme Technology (Hong Kong) Limited",
    "Hong Kong Acme Technology Co., Ltd.",
    "香港爱克米科技有限公司",
    "澳門爱克米科技有限公司",
]
USCC_SCHEMES = [
    "cn-uscc",
    "tax-id",
    "uen",
    "lei",
    "\uff55\uff53\uff43\uff43",
    "uscc\u200b",
    "统一社会信用代码",
]
USCC_VALUES = [
    "914403001922038216",
    "9144 0300 1922 0382 16",
    "91440300192203821-6",
    "\uff19\uff11\uff14\uff14\uff10\uff13\uff10\uff10\uff11\uff19\uff12\uff12\uff10\uff13\uff18\uff12\uff11\uff16",
]
# The evidence that was still not read (the misspellings, the Greater Bay Area, "Limited Hong Kong",
# the one-person company, a named PRC parent), declared in SG
MORE_NAMES = [
    "Acme Technology (Greater Bay Area) Co., Ltd.",
    "Acme Technology (Greater Bay Area) Limited",
    "Mainland China Acme Technology Co., Ltd.",
    "Acme Technology (Mainland China) Co., Ltd.",
    "Beijng Acme Technology Co., Ltd.",
    "Shangai Acme Technology Co., Ltd.",
    "Shenzen Acme Technology Co., Ltd.",
    "Guangzhuo Acme Technology Co., Ltd.",
    "Pekin Acme Technology Co., Ltd.",
    "Acme Technology Limited Hong Kong",
    "Acme Technology Limited (Hong Kong)",
    "Acme (Hong Kong) Ltd",
    "艾克米科技一人有限公司",
    "艾克米科技有限公司(自然人独资)",
    "Acme AI Pte. Ltd. (a subsidiary of Beijing Acme Technology Co., Ltd.)",
    "Acme AI Pte. Ltd. (wholly owned by Acme Holdings (Hong Kong) Limited)",
]
# (scheme, value): a 15-digit registration number of before 2015 (ISO 7064 MOD 11,10), a tax number of
# before 2015 (GB 11714's worked organization code), a resident identity number (GB 11643's worked
# example), Hong Kong company numbers and business registrations
MORE_IDS = [
    ("工商注册号", "110108000123459"),
    ("cn-registration", "110108000123459"),
    ("registration", "110108000123459"),
    ("cn-tax-id", "110108D2143569X"),
    ("tax-id", "110108D2143569X"),
    ("tax-id", "11010519491231002X"),
    ("hk-cr", "1234567"),
    ("hk-br", "12345678"),
]
CONTROLS = [
    "Canton Road Pte. Ltd.",
    "Peking Duck House",
    "Beijing Lion Technology (Singapore) Pte. Ltd.",
    "Hong Kong Street Food Pte. Ltd.",
    "Nanyang Technology Pte. Ltd.",
    "Acme Pte. Ltd. Singapore Branch",
    "Samsung Electronics Co., Ltd.",
    "Canton Road Holdings Ltd.",
    "Peking Duck House Ltd.",
]


def load(rev: str | None) -> ModuleType:
    """``attest/policy/registration.py`` now, or as of git revision ``rev`` as a module of its own."""
    if rev is None:
        from attest.policy import registration

        return registration
    try:
        source = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{rev}:attest/policy/registration.py"],
            check=True,
            capture_output=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SystemExit(f"bench_registration: cannot read registration.py at {rev!r}: {exc}") from None
    path = Path(tempfile.mkdtemp(prefix="bench-registration-")) / "registration_base.py"
    path.write_bytes(source)
    spec = importlib.util.spec_from_file_location("registration_base", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["registration_base"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def grade(module: ModuleType, name: str, ids: list[Identifier], declared: str) -> str:
    """``strong``, ``weak`` or ``none``: the strongest sign the module finds."""
    signs = module.prc_registration(name, ids, declared)
    return "strong" if any(s.strong for s in signs) else "weak" if signs else "none"


def report(label: str, module: ModuleType) -> None:
    """Print one revision's counts."""
    names = [grade(module, n, [], "SG") for n in NAMES]
    ids = [
        grade(module, "Acme AI Pte. Ltd.", [Identifier(scheme=s, value=v)], "SG")
        for s in USCC_SCHEMES
        for v in USCC_VALUES
    ]
    more_names = [grade(module, n, [], "SG") for n in MORE_NAMES]
    more_ids = [grade(module, "Acme AI Pte. Ltd.", [Identifier(scheme=s, value=v)], "SG") for s, v in MORE_IDS]
    for what, grades in (
        ("review names", names),
        ("review USCCs", ids),
        ("reg-82 names", more_names),
        ("reg-82 identifiers", more_ids),
    ):
        counts = {g: grades.count(g) for g in ("strong", "weak", "none")}
        print(
            f"{label}: {what}: {len(grades)}: strong {counts['strong']}, weak {counts['weak']}, none {counts['none']}"
        )
    lines = (ROOT / "tests" / "data" / "unrelated_companies.txt").read_text(encoding="utf-8").splitlines()
    corpus = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    for declared in ("SG", "US", "TW"):
        flagged = [(n, g) for n in corpus if (g := grade(module, n, [], declared)) != "none"]
        print(f"{label}: unrelated declared {declared}: flagged {len(flagged)}/{len(corpus)} {flagged}")
    controls = [(n, g) for n in CONTROLS if (g := grade(module, n, [], "SG")) != "none"]
    print(f"{label}: controls declared SG: flagged {len(controls)}/{len(CONTROLS)} {controls}")
    with gzip.open(
        ROOT / "attest" / "policy" / "data" / "csl-2026-07-31.json.gz", "rt", encoding="utf-8"
    ) as f:
        entities = [e for e in json.load(f)["entries"] if e.get("t") in ("Entity", None) and e.get("c")]
    prc = [e["n"] for e in entities if set(e["c"]) <= {"CN", "HK", "MO"}]
    grades = [grade(module, n, [], "SG") for n in prc]
    counts = ", ".join(f"{g} {grades.count(g)}" for g in ("strong", "weak", "none"))
    print(f"{label}: CSL entities at CN/HK/MO addresses: {len(prc)}: {counts}")
    other = [(e["n"], e["c"]) for e in entities if not set(e["c"]) & {"CN", "HK", "MO"}]
    flagged = [(n, c, g) for n, c in other if (g := grade(module, n, [], "SG")) != "none"]
    print(f"{label}: CSL entities at other addresses: flagged {len(flagged)}/{len(other)} {flagged}")


def main() -> None:
    """Parse the arguments and print the counts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", help="also count for registration.py at this git revision")
    args = parser.parse_args()
    report("attest", load(None))
    if args.base:
        report(f"base {args.base}", load(args.base))


if __name__ == "__main__":
    main()
