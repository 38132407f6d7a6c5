"""Rebuild ``attest/policy/data/screening-seed-pinyin.json``: the seed's Chinese-script names in pinyin.

Sanctions screening matches a Chinese party by its romanized name too: "Kuangshi Keji" is 旷视科技
(Megvii), "Langchao" is 浪潮 (Inspur), "Hangzhou Haikang Weishi Digital Technology" is
杭州海康威视数字技术 (Hikvision). Every name of a seed entry written in Han characters alone
(after its legal form, 有限公司 and the like, is removed) is romanized with pypinyin (Hanyu Pinyin,
tones dropped, its phrase dictionary choosing a reading for polyphonic characters) in two forms:

- all pinyin, the place and each common business word as its own word and the rest (the trade
  name) as one word: 杭州海康威视数字技术 is "Hangzhou Haikangweishi Shuzi Jishu";
- the same with the business words in English, as such companies write their names in English:
  "Hangzhou Haikangweishi Digital Technology".

A name written with its trade name split into syllables ("Haikang Weishi") or glued ("Kuangshiwang")
meets these through the screener's keys without spaces and its brand-word search. pypinyin is a
build-time source only (its import costs half a second a process); the output is data, checked by
``tests/policy/test_screening_romanized.py`` to be this script's output.

Usage (from the repository root)::

    pip install 'pypinyin>=0.51,<1'
    python scripts/build_seed_pinyin.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pypinyin import lazy_pinyin

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "attest" / "policy" / "data" / "screening-seed.json"
OUT = ROOT / "attest" / "policy" / "data" / "screening-seed-pinyin.json"

# Places a Chinese company name starts with (or holds in brackets): their pinyin is a word of its own.
PLACES = (  # noqa: SIM905  # a block of names reads better than a list of 60 strings
    "北京 上海 天津 重庆 深圳 广州 杭州 南京 苏州 无锡 成都 武汉 西安 合肥 长沙 郑州 济南 青岛 大连 沈阳 "
    "哈尔滨 厦门 福州 昆明 宁波 东莞 佛山 珠海 广东 江苏 浙江 山东 河北 河南 湖北 湖南 四川 福建 安徽 "
    "辽宁 吉林 黑龙江 陕西 山西 江西 云南 贵州 广西 海南 甘肃 青海 内蒙古 宁夏 新疆 西藏 香港 澳门"
).split()

# Common business words of Chinese company names, with the English these companies write for them.
WORDS = {
    "科技": "Technology",
    "技术": "Technology",
    "数字": "Digital",
    "信息": "Information",
    "智能": "Intelligent",
    "半导体": "Semiconductor",
    "集成电路": "Integrated Circuit",
    "控股": "Holding",
    "产业": "Industry",
    "开发": "Development",
    "发展": "Development",
    "通信": "Communication",
    "电子": "Electronics",
    "网络": "Network",
    "软件": "Software",
    "创新": "Innovation",
    "存储": "Memory",
    "设计": "Design",
    "新能源": "New Energy",
    "制造": "Manufacturing",
    "国际": "International",
    "计算": "Computing",
    "人工智能": "Artificial Intelligence",
    "集团": "Group",
    "国家": "National",
    "超级计算": "Supercomputing",
    "中心": "Center",
    "中国": "China",
}

# Trade names pypinyin's phrase dictionary reads otherwise than the company does (长 is chang in 长鑫).
READINGS = {"长鑫": "changxin"}


def _pinyin(text: str) -> str:
    """Han characters as one pinyin word, capitalized."""
    for han, reading in READINGS.items():
        text = text.replace(han, f" {reading} ")
    return "".join(w if w.isascii() else "".join(lazy_pinyin(w)) for w in text.split()).capitalize()


def _is_han(text: str) -> bool:
    return bool(text) and all("\u4e00" <= c <= "\u9fff" or "\u3400" <= c <= "\u4dbf" for c in text)


def _segments(text: str) -> list[tuple[str, str | None]]:
    """The name cut into places and business words (longest first) and the runs between them."""
    # a place with its level (北京市, 广东省) is the place
    places = [f"{p}{level}" for p in PLACES for level in ("市", "省", "")]
    terms = sorted([*places, *WORDS], key=len, reverse=True)
    out: list[tuple[str, str | None]] = []
    run = ""
    i = 0
    while i < len(text):
        term = next((t for t in terms if text.startswith(t, i)), None)
        if term is None:
            run += text[i]
            i += 1
            continue
        if run:
            out.append((run, None))
            run = ""
        out.append((term.rstrip("市省") if term[:-1] in PLACES else term, WORDS.get(term)))
        i += len(term)
    if run:
        out.append((run, None))
    return out


def romanize(name: str) -> list[str]:
    """A Han-script name's pinyin forms (see the module docstring); [] for any other name."""
    # the name as the screener compares it: legal forms (有限公司, 集团, ...) and brackets removed
    from attest.policy.screening import normalize

    words = normalize(name).split()
    if not words or not all(_is_han(w) for w in words):
        return []
    segments = [s for w in words for s in _segments(w)]
    pinyin = " ".join(_pinyin(s) for s, _ in segments)
    english = " ".join(e if e is not None else _pinyin(s) for s, e in segments)
    return list(dict.fromkeys([pinyin, english]))


def build() -> dict[str, list[str]]:
    """Seed entry id → the pinyin forms of its Han-script names, none of which it already lists."""
    seed = json.loads(SEED.read_text(encoding="utf-8"))
    out: dict[str, list[str]] = {}
    for entry in seed["entries"]:
        have = {n.casefold() for n in [entry["name"], *entry.get("alt_names", [])]}
        forms = [f for n in [entry["name"], *entry.get("alt_names", [])] for f in romanize(n)]
        forms = [f for f in dict.fromkeys(forms) if f.casefold() not in have]
        if forms:
            out[entry["id"]] = forms
    return out


def render(table: dict[str, list[str]]) -> str:
    """The output file's text: one entry a line."""
    lines = [f"  {json.dumps(k, ensure_ascii=False)}: {json.dumps(v, ensure_ascii=False)}" for k, v in table.items()]
    return "{\n" + ",\n".join(lines) + "\n}\n"


if __name__ == "__main__":
    text = render(build())
    if sys.argv[1:] == ["--check"]:
        sys.exit(0 if OUT.read_text(encoding="utf-8") == text else "stale: run python scripts/build_seed_pinyin.py")
    OUT.write_text(text, encoding="utf-8")
    print(f"{OUT.relative_to(ROOT)}: {sum(map(len, build().values()))} names")
