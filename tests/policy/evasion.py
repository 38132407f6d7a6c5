"""A generated evasion set: variants of real list entries written to dodge a name screen.

Used by ``tests/policy/test_evasion.py`` (recall) and ``bench/bench_screening.py`` (speed).
Deterministic: the same seed gives the same variants. Each variant keeps the entry it came from.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attest.policy.screening import ListEntry, ScreeningList

CYRILLIC = {"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "y": "у", "i": "і", "s": "ѕ", "j": "ј",
            "A": "А", "B": "В", "E": "Е", "K": "К", "M": "М", "H": "Н", "O": "О", "P": "Р", "C": "С", "T": "Т", "X": "Х"}
GREEK = {"o": "ο", "v": "ν", "i": "ι", "A": "Α", "B": "Β", "E": "Ε", "Z": "Ζ", "H": "Η", "I": "Ι", "K": "Κ", "M": "Μ",
         "N": "Ν", "O": "Ο", "P": "Ρ", "T": "Τ", "Y": "Υ", "X": "Χ"}
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u00ad", "\u2060", "\ufeff", "\u200e", "\u200f", "\u202a", "\u202e",
             "\u2066", "\u2069", "\ufe0f", "\u180e", "\u034f"]
FORMS = ["Co., Ltd.", "GmbH", "S.A.", "Pte. Ltd.", "Sdn. Bhd.", "LLC", "JSC", "Société Anonyme", "有限公司", "Limited",
         "Inc.", "B.V.", "S.R.L.", "Kabushiki Kaisha", "OOO", "Aktiengesellschaft", "Sp. z o.o.", "PJSC"]
LEGAL_TAIL = ["co", "ltd", "limited", "inc", "corporation", "corp", "company", "llc", "gmbh"]


@dataclass(frozen=True)
class Variant:
    """A name written to dodge screening, the entry it stands for, and how it was made."""

    name: str
    list_name: str
    entry: ListEntry
    how: str


def _swap(text: str, table: dict[str, str], rng: random.Random, share: float = 0.5) -> str:
    spots = [i for i, ch in enumerate(text) if ch in table]
    if not spots:
        return ""
    chosen = set(rng.sample(spots, max(1, int(len(spots) * share))))
    return "".join(table[ch] if i in chosen else ch for i, ch in enumerate(text))


def _core(name: str) -> list[str]:
    words = name.replace(",", " ").split()
    while words and words[-1].casefold().strip(".") in LEGAL_TAIL:
        words.pop()
    return words or name.split()


def _cyrillic(name: str, rng: random.Random) -> str:
    return _swap(name, CYRILLIC, rng)


def _greek(name: str, rng: random.Random) -> str:
    return _swap(name, GREEK, rng)


def _invisible(name: str, rng: random.Random) -> str:
    out = list(name)
    for _ in range(rng.randint(1, 3)):
        out.insert(rng.randint(1, max(1, len(out) - 1)), rng.choice(INVISIBLE))
    return "".join(out)


def _legal_form(name: str, rng: random.Random) -> str:
    return " ".join(_core(name)) + " " + rng.choice(FORMS)


def _word_order(name: str, rng: random.Random) -> str:
    words = _core(name)
    if len(words) < 2:
        return ""
    shuffled = words[:]
    while shuffled == words:
        rng.shuffle(shuffled)
    return " ".join(shuffled)


def _concatenated(name: str, rng: random.Random) -> str:
    words = _core(name)
    if len(words) < 2:
        return ""
    i = rng.randrange(len(words) - 1)
    return " ".join([*words[:i], words[i] + words[i + 1], *words[i + 2 :]])


def _case_and_width(name: str, rng: random.Random) -> str:
    text = name.upper() if rng.random() < 0.5 else name.lower()
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" and rng.random() < 0.5 else c for c in text)


def _dotted(name: str, rng: random.Random) -> str:
    core = "".join(_core(name))
    if not (2 <= len(core) <= 6 and core.isalpha() and core.isupper()):
        return ""
    return ".".join(core) + "."


def _accents(name: str, rng: random.Random) -> str:
    table = {"a": "á", "e": "é", "i": "í", "o": "ö", "u": "ü", "n": "ñ", "c": "ç"}
    return _swap(name, table, rng, share=0.3)


def _typo(name: str, rng: random.Random) -> str:
    words = _core(name)
    long = [i for i, w in enumerate(words) if len(w) >= 7 and w.isalpha()]
    if sum(len(w) for w in words) < 20 or not long:
        return ""
    i = rng.choice(long)
    w = words[i]
    j = rng.randrange(2, len(w) - 1)
    words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]  # two letters swapped
    return " ".join(words)


def _traditional(name: str, rng: random.Random) -> str:
    import opencc

    if not any("\u4e00" <= c <= "\u9fff" for c in name):
        return ""
    converted = str(opencc.OpenCC("s2t").convert(name))
    return converted if converted != name else ""


def _punctuation(name: str, rng: random.Random) -> str:
    words = _core(name)
    sep = rng.choice(["-", "_", " - ", ". ", "/", " & "])
    return sep.join(words)


TRANSFORMS: dict[str, Callable[[str, random.Random], str]] = {
    "cyrillic": _cyrillic,
    "greek": _greek,
    "invisible": _invisible,
    "legal-form": _legal_form,
    "word-order": _word_order,
    "concatenated": _concatenated,
    "case-width": _case_and_width,
    "dotted": _dotted,
    "accents": _accents,
    "typo": _typo,
    "traditional": _traditional,
    "punctuation": _punctuation,
}


def variants(lists: list[ScreeningList], *, per_list: int = 60, seed: int = 18) -> list[Variant]:
    """Variants of entries sampled from each list (entities with names of 6 to 60 characters)."""
    rng = random.Random(seed)
    out: list[Variant] = []
    for lst in lists:
        pool = [e for e in lst.entries if (e.type or "Entity") == "Entity" and 6 <= len(e.name) <= 60]
        for entry in rng.sample(pool, min(per_list, len(pool))):
            names = [entry.name, *entry.alt_names]
            for how, make in TRANSFORMS.items():
                source = rng.choice(names) if how not in ("traditional", "dotted") else next(
                    (n for n in names if make(n, random.Random(0))), ""
                )
                made = make(source, rng) if source else ""
                if made and made != source:
                    out.append(Variant(made, lst.name, entry, how))
    return out


def glued_forms(key: str) -> list[tuple[str, str]]:
    """A brand key (a brand list's distinctive words without spaces) glued into names, each with how.

    Used by ``bench/bench_screening.py --glued`` to compare the glued search of two revisions:
    glued to business words, a place, CamelCase words, lower-case letters, an all-capitals
    prefix; a letter doubled or inserted; look-alike letters, full-width forms, a zero-width space.
    """
    k = key.capitalize()
    cyrillic = "".join(CYRILLIC.get(c, c) if i % 2 == 0 else c for i, c in enumerate(k))
    return [
        ("suffix", k + "technology"),
        ("suffix-words", k + "CloudServices"),
        ("place", "Shenzhen" + key),
        ("camel-before", "Xyz" + k),
        ("camel-after", k + "Xyz Holdings"),
        ("camel-both", "Qwerty" + k + "Platform"),
        ("letters-before", "xyz" + key + "cloud"),
        ("letters-after", key + "zqx"),
        ("capitals-before", "XYZ" + key.upper() + "Cloud"),
        ("doubled", k + k[-1] + " Trading"),
        ("inserted", k[:2] + "x" + k[2:] + "Tech"),
        ("cyrillic", cyrillic + "Group"),
        ("full-width", "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in k + "Cloud")),
        ("zero-width", k[:3] + "\u200b" + k[3:] + "Technology"),
    ]


# Unrelated names that hold a short or romanized brand key inside a longer word (the key in brackets):
# the glued search once took each for the brand.
GLUED_UNRELATED = [
    "Chaisilk Trading",  # haisi (HiSilicon, 海思)
    "Zhaisi Foods Co., Ltd.",  # haisi
    "Thaisi Trading",  # haisi
    "Haisign Consulting",  # haisi
    "Yiyuanda Pharmaceutical Co., Ltd.",  # yiyuan (Quectel, 移远)
    "Baiduri Bank Berhad",  # baidu: Brunei's bank
    "HauteLook Inc.",  # autel
    "Autelle Cosmetics",  # autel
    "Chesaire Holdings",  # hesai
    "Hesaidi Logistics",  # hesai
    "Sugong Machinery",  # sugon
    "Hygonix Labs",  # hygon
    "Comacchio Shipping",  # comac
    "Zhongxing Trading",  # zhongxin (SMIC, 中芯)
    "Zhongxinyuan Foods",  # zhongxin
    "Changxing Tea Co., Ltd.",  # changxin (CXMT, 长鑫)
    "Changjiangxi Foods",  # changjiang (YMTC, 长江)
    "Dajiangnan Restaurant",  # dajiang (DJI, 大疆)
    "Feitengda Logistics",  # feiteng (Phytium, 飞腾)
    "Langchaoyu Textiles",  # langchao (Inspur, 浪潮)
    "Yushuang Textiles",  # yushu (1260H: Hangzhou Yushu Technology)
    "Zhaisi88 Trading",  # haisi, glued to letters and then a number
    "Baiduri12 Bank",  # baidu
]


def bundled_lists_env(root: Path) -> dict[str, str]:
    """The environment of a real CLI run that reads the bundled lists only (none imported), without debug output."""
    env = {k: v for k, v in os.environ.items() if k != "ATTEST_DEBUG"}
    env["ATTEST_LISTS_DIR"] = str(root / "no-imported-lists")
    return env


def assert_screen_exits(tmp_path: Path, cases: list[tuple[str, int]]) -> list[str]:
    """Run the real ``attest screen NAME`` for each case (bundled lists only) and check its exit code; no traceback.

    Returns each run's output, in order.
    """
    env = bundled_lists_env(tmp_path)
    out: list[str] = []
    for name, code in cases:
        proc = subprocess.run(
            [sys.executable, "-m", "attest.cli.main", "screen", name, "--format", "json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert "Traceback" not in proc.stderr
        assert proc.returncode == code, (name, proc.returncode, proc.stdout, proc.stderr)
        out.append(proc.stdout)
    return out


#: The red-team review's (rt7) Chinese cities and provinces, as it wrote them.
PLACES = frozenset(
    ["Beijing", "Shanghai", "Shenzhen", "Guangzhou", "Hangzhou", "Nanjing", "Suzhou", "Wuhan", "Chengdu", "Tianjin", "Xian", "Xi'an", "Hefei", "Wuxi", "Changsha", "Chongqing", "Qingdao", "Xiamen", "Dalian", "Harbin", "Jinan", "Zhengzhou", "Shenyang", "Ningbo", "Dongguan", "Zhuhai", "Foshan", "Changchun", "Taiyuan", "Kunming", "Fuzhou", "Nanchang", "Shijiazhuang", "Guangdong", "Jiangsu", "Zhejiang", "Shandong", "Sichuan", "Hubei", "Hunan", "Fujian", "Anhui", "Henan", "Hebei", "Shaanxi", "Liaoning"]
)
_LEGAL_TAIL = re.compile(r",?\s*(Co\.?,?\s*Ltd\.?|Company Limited|Co\., Limited|Limited|Ltd\.?)\s*$", re.I)


def placed_chinese_names() -> list[tuple[str, str]]:
    """The bundled CSL's Chinese Entity List and MEU companies named after one of :data:`PLACES`, and each name's rest.

    The rest is the name with its first word (the place) and its legal form dropped: what a
    listed company writes to hide where it is ("Spaceon Technology" for "Chengdu Spaceon Technology Co., Ltd.").
    """
    from attest.policy.screening import bundled_list

    names = sorted(
        {
            e.name
            for e in bundled_list("csl").entries
            if e.list_id in {"entity-list", "meu-list"}
            and "CN" in (e.countries or [e.country])
            and (e.type or "").casefold() != "individual"
            and e.name.split()[0] in PLACES
        }
    )
    return [(n, _LEGAL_TAIL.sub("", " ".join(n.split()[1:])).strip(" ,")) for n in names]


def headquarters_finding(result: dict[str, Any], want: str) -> dict[str, Any] | None:
    """The ``policy.headquarters`` finding of severity ``want`` in an ``attest verify --format json`` result.

    Asserts the result's status is ``want``; None for an ``affirming`` one (there is none to find).
    """
    others = [(f["rule"], f["severity"], f["message"]) for f in result["findings"] if f["severity"] not in ("info", "none")]
    assert result["status"] == want, others
    if want == "affirming":
        return None
    hits = [f for f in result["findings"] if f["rule"] == "policy.headquarters" and f["severity"] == want]
    assert hits, others
    return hits[0]
