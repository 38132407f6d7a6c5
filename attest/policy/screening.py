r"""Screening parties against restricted-party lists: exact, alias and near matches.

Names are normalized before matching, so that a name cannot dodge its entry by how
it is written:

- Unicode NFKC (full-width and compatibility forms), then every invisible or
  formatting character removed, not turned into a space (zero-width spaces and
  joiners, soft hyphens, bidi controls, variation selectors, Hangul fillers) and
  combining marks dropped (accents);
- look-alike letters from other scripts folded to the Latin letter they pass for,
  per Unicode TR39 ``confusables.txt`` (the bundled table comes from
  ``scripts/build_confusables.py``), word by word and only where the whole word
  becomes Latin, so a real Cyrillic or Greek name is left alone;
- Traditional Chinese to Simplified with OpenCC (``t2s``), so 華為 is 华为;
- letters drawn with ASCII symbols inside a word read as letters (\/\/ w, \/ v, @ a,
  $ s, a run of strokes l);
- case folding, punctuation to spaces, legal forms written as several words at the end of
  a name removed whole (S.A. de C.V., Co. W.L.L, FZ-LLC, Sanayi ve Ticaret A.S., ...),
  initialisms joined (S.M.I.C. is smic), and legal forms removed in many languages and
  scripts (Co., Ltd., Pte. Ltd., Sdn. Bhd., GmbH, S.A., Société Anonyme, 有限公司, 集团,
  株式会社, Cyrillic OOO, ...); business abbreviations written out (Intl, Gen., Trdg).

A word the lists lack whose skeleton is a listed word's is that word: one skeleton puts the
single look-alike ASCII characters in one class (I, l, 1; O, 0), a second the multi-character
ones too (rn m, vv w, cl d; 5, 3, 4, 7, 8 among letters).

An exact or alias match is a dictionary lookup under three keys: the normalized
name, the name without spaces (ZhipuAI is Zhipu AI) and its words in sorted order.
Near matches use an inverted index of name tokens (CJK runs as character bigrams,
very common tokens left out) to find candidates, which rapidfuzz then scores; there
is no Python loop over every entry. A brand list's distinctive words glued into a name
("MooreThreads Technology", "xyzHuaweiCloud") are found by an Aho-Corasick automaton, and
count where they stand for the brand, not for letters of another word (``_glued_brands``:
"Baiduri", "Zhaisi" and "Zhongxing" are not Baidu, Haisi and Zhongxin).

A listed name holding a Chinese place ("Chengdu Spaceon Technology") is also found by the
rest of its name: the place is a weak token, the rest's distinctive words the identity
(``_placeless``, ``_identity_key``, ``_strong_identity``): "Spaceon Technology Pte. Ltd." and
"Shanghai Spaceon Technology" are near matches of it; a rest of generic words names no one.

Bundled lists (no network needed): ``csl``, the US Consolidated Screening List of
2026-07-31 (25,921 entries; a compact projection under the MIT licence in
``data/LICENSE.csl-projection.MIT.txt``), ``1260h``, the DoD Section 1260H list of
2026-06-10 (80 companies), and ``seed``, a small supplement of AI-relevant parties
with their Chinese-script names. A list imported under the same name with
``attest lists import`` replaces the bundled one.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, lru_cache
from html.parser import HTMLParser
from importlib import resources
from itertools import accumulate, pairwise
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, cast
from urllib.parse import unquote

import ahocorasick
from pydantic import Field
from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from attest.errors import InputError
from attest.model.base import WireModel
from attest.model.countries import ACCEPTED_COUNTRY_CODES

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
        # more legal forms and their words, many languages (compared after confusables folding)
        "societe",
        "anonyme",
        "sociedad",
        "sociedade",
        "anonima",
        "limitada",
        "responsabilidad",
        "gesellschaft",
        "aktiengesellschaft",
        "beschrankter",
        "haftung",
        "kommanditgesellschaft",
        "se",
        "sae",
        "saa",
        "sac",
        "eurl",
        "sasu",
        "snc",
        "scs",
        "bvba",
        "vof",
        "spolka",
        "akcyjna",
        "zoo",
        "as",
        "ou",
        "uab",
        "sia",
        "ehf",
        "hf",
        "jsc",
        "ojsc",
        "tov",
        "pao",
        "fzco",
        "fze",
        "fzllc",
        "wll",
        "psc",
        "tic",
        "sti",
        "anonim",
        "sirketi",
        "sirket",
        "plc",
        "pvt",
        "ltdco",
        "coltd",
        "spzoo",
        "liability",
        "tob",  # Cyrillic ТОВ, folded to Latin look-alikes
        # Gulf and free-zone forms, wherever they stand ("DMCC Aletra General Trading")
        "dmcc",
        "fzc",
        "qsc",
        "qpsc",
        "bsc",
        "ksc",
        "kscc",
        "saog",
        "saoc",
        "opc",
        # Chinese legal forms in pinyin, as 有限公司 and 集团 are removed in Han script ("Langchao Jituan")
        "youxian",
        "gongsi",
        "gufen",
        "zeren",
        "jituan",
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
            "тов",
            "общество с ограниченной ответственностью",
            "акционерное общество",
            "публичное акционерное общество",
            "有限會社",
            "株式會社",
            "유한책임회사",
            "주식회사",
        ],
        key=len,
        reverse=True,
    )
)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_NON_WORD = re.compile(r"[\W_]+")
_SINGLE_LETTER = re.compile(r"(?:^| )[^\W\d_](?: |$)")
# Removed, not spaced: Unicode format characters (Cf: zero-width space, joiners, soft hyphen,
# bidi controls, word joiner, BOM), controls (Cc), combining marks (Mn, Me: accents,
# variation selectors, the combining grapheme joiner) and the Hangul fillers, which are
# letters (Lo) that show nothing. Kana voicing marks (U+3099, U+309A) are kept.
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Cc", "Mn", "Me", "Co", "Cs", "Cn"})
_INVISIBLE_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
_KEPT_MARKS = frozenset("\u3099\u309a")


@lru_cache(maxsize=1)
def _confusables() -> dict[int, str]:
    """TR39 look-alikes of ASCII letters and digits (``data/confusables-latin.json``), for ``str.translate``."""
    raw = resources.files("attest.policy").joinpath("data/confusables-latin.json").read_bytes()
    table = {ord(k): v for k, v in json.loads(raw)["map"].items()}
    for code, latin in _letter_variants().items():
        table.setdefault(code, latin)
    return table


_VARIANT_NAME = re.compile(
    r"LATIN (?:SMALL |CAPITAL )?LETTER (?:SMALL CAPITAL |DOTLESS |ANGLICANA |INSULAR |BROKEN |SCRIPT )?([A-Z])"
    r"(?: WITH .+| BAR)?$"
)


@lru_cache(maxsize=1)
def _letter_variants() -> dict[int, str]:
    """Latin letters that TR39 leaves to themselves but a reader takes for a plain letter.

    Stroke and bar letters (ł, đ, ʉ, ɨ, ƀ, ħ: NFKD does not decompose them), the small
    capitals (ʜ, ᴀ, ɴ, ᴇ) and barred O (Ɵ), from their Unicode names; and every decimal
    digit of another script (Arabic-Indic one, U+0661, is 1), so the skeleton below sees the digit.
    """
    out: dict[int, str] = {}
    # Every Latin block: a letter "with" anything (palatal hook, retroflex hook, oblique stroke,
    # descender...), a dotless or Anglicana one, is its letter (red team: SMIꞔ, DȷI, BYꟈ, Ⱨuaꟃei).
    for block in [
        (0x00C0, 0x0250),
        (0x0250, 0x02B0),
        (0x1D00, 0x1DC0),
        (0x1E00, 0x1F00),
        (0x2C60, 0x2C80),
        (0xA720, 0xA800),
        (0xAB30, 0xAB70),
        (0x10780, 0x107C0),
        (0x1DF00, 0x1E000),
    ]:
        for code in range(*block):
            found = _VARIANT_NAME.match(unicodedata.name(chr(code), ""))
            if found:
                out[code] = found.group(1)
    # Latin letters named otherwise that a reader takes for plain ones (third red team: ÐJI, ŊUDT,
    # Naʇional, CꭓMT, SMꟾC, Bᵻren), and the ligatures and letters of European names (Æon, Œuvre,
    # Þór) written as their letters.
    for letter, plain in {
        "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "þ": "th", "Þ": "TH", "ð": "d", "Ð": "D",
        "ŋ": "n", "Ŋ": "N", "ı": "i", "ſ": "s", "ĸ": "k", "ʇ": "t", "ꭓ": "x", "ꟾ": "I", "ᵻ": "i",
        "ʞ": "k", "ɹ": "r", "ɯ": "m", "ʍ": "w", "ʎ": "y", "ɐ": "a", "ǝ": "e", "Ǝ": "E", "ɔ": "c",
        "Ɔ": "C", "ꞁ": "l", "Ꞁ": "L", "ȷ": "j", "ɩ": "i", "Ɩ": "I", "ɪ": "i",
    }.items():  # fmt: skip
        out[ord(letter)] = plain
    out[0x019F] = "O"  # LATIN CAPITAL LETTER O WITH MIDDLE TILDE (barred O, Ɵ)
    out[0x0275] = "o"  # LATIN SMALL LETTER BARRED O (ɵ)
    # Cyrillic lower-case letters drawn as Latin small capitals ("Caмbricon"): м, т, к, н, в
    out.update({0x043C: "m", 0x0442: "t", 0x043A: "k", 0x043D: "h", 0x0432: "b"})
    for code in range(0x0660, 0x10000):
        ch = chr(code)
        if unicodedata.category(ch) == "Nd":
            out[code] = str(unicodedata.decimal(ch))
    # Letters and numbers drawn as symbols that NFKC leaves alone (red team: "🅷🆄🅰🆆🅴🅸" for HUAWEI,
    # "🅢🅜🅘🅒", "🇮🇳🇸🇵🇺🇷", a USCC in "❾❶❹…"): negative circled and squared letters, regional
    # indicators (two of them show as a flag), squared abbreviations (🆋 IC) and the dingbat,
    # negative and double circled numbers, from their Unicode names.
    for block in [(0x2460, 0x2500), (0x2776, 0x2794), (0x1F100, 0x1F200)]:
        for code in range(*block):
            ch = chr(code)
            if unicodedata.normalize("NFKC", ch) != ch:
                continue  # NFKC writes it out already (circled Ⓗ, squared 🄷, parenthesised ⒣)
            drawn = _DRAWN_NAME.search(unicodedata.name(ch, ""))
            if drawn is None:
                continue
            letters, number = drawn.group("letters"), drawn.group("number")
            out[code] = letters if letters else str(_NUMBER_WORDS.index(number))
    return out


_DRAWN_NAME = re.compile(
    r"(?:(?:LATIN (?:CAPITAL|SMALL) |REGIONAL INDICATOR SYMBOL )LETTER |SQUARED )(?P<letters>[A-Z]+)$"
    r"|CIRCLED (?:SANS-SERIF )?(?:DIGIT|NUMBER) (?P<number>[A-Z]+)$"
)
_NUMBER_WORDS = [
    "ZERO",
    "ONE",
    "TWO",
    "THREE",
    "FOUR",
    "FIVE",
    "SIX",
    "SEVEN",
    "EIGHT",
    "NINE",
    "TEN",
    "ELEVEN",
    "TWELVE",
    "THIRTEEN",
    "FOURTEEN",
    "FIFTEEN",
    "SIXTEEN",
    "SEVENTEEN",
    "EIGHTEEN",
    "NINETEEN",
    "TWENTY",
]


# TR39-style skeleton classes for the letters and digits that look alike even in ASCII:
# I, l, 1 and | are one stroke; O and 0 one ring. Applied to both sides' words, so "HUAWEl",
# "AIibaba", "SM1C" and "Sophg0" have the skeleton of the listed name.
_SKELETON = str.maketrans({"i": "l", "1": "l", "|": "l", "!": "l", "0": "o"})


def skeleton(word: str) -> str:
    """A folded word with look-alike ASCII letters and digits in one class each (i, l, 1 and |; o, 0)."""
    return word.translate(_SKELETON)


# Look-alikes of more than one ASCII character (TR39's skeleton only maps single characters):
# rn is m ("Carnbricon"), vv is w ("Huavvei"), cl is d; and digits read as letters inside a word
# of letters (5 is s in "5ugon", 3 e, 4 a, 7 t, 8 b). A second key, for words the lists lack.
_MULTI = re.compile("rn|vv|cl")
_MULTI_TO = {"rn": "m", "vv": "w", "cl": "d"}
_DIGIT_LETTERS = str.maketrans({"5": "s", "3": "e", "4": "a", "7": "t", "8": "b"})


def skeleton_wide(word: str) -> str:
    """``skeleton`` with the multi-character look-alikes folded too (rn, vv, cl; 5, 3, 4, 7, 8 among letters)."""
    if sum(ch.isalpha() for ch in word) >= 3:
        word = word.translate(_DIGIT_LETTERS)
    return skeleton(_MULTI.sub(lambda m: _MULTI_TO[m.group()], word))


@lru_cache(maxsize=1)
def _t2s() -> Any:
    """OpenCC's Traditional-to-Simplified converter (loaded on the first Chinese name)."""
    import opencc  # its dictionaries load in ~50 ms: only when a name has Chinese characters

    return opencc.OpenCC("t2s")


class _VisibleTable(dict[int, int | None]):
    """A ``str.translate`` table that removes every invisible character and combining mark (see above).

    Each character's category is looked up the first time it is seen and remembered (at most
    65,536 characters, then the memory starts again), so a name is one pass in C.
    """

    def __missing__(self, code: int) -> int | None:
        ch = chr(code)
        kept = ch in _KEPT_MARKS or (
            unicodedata.category(ch) not in _INVISIBLE_CATEGORIES and ch not in _INVISIBLE_LETTERS
        )
        if len(self) >= 65536:
            self.clear()
        self[code] = code if kept else None
        return self[code]


_VISIBLE = _VisibleTable()


# Look-alikes that NFKC would turn into other letters before the confusables table sees them: the
# Greek lunate sigma Ϲ ϲ is C c to a reader, but NFKC makes it Σ σ (read as o), and yot ϳ is j.
# The trademark signs ™ and ℠ are marks, as ® is, not the letters TM and SM that NFKC writes
# ("HUAWEI™" is Huawei, not "huaweitm"); inside a word drawn_symbols names them.
_BEFORE_NFKC = str.maketrans(
    {"\u03f9": "C", "\u03f2": "c", "\u037f": "J", "\u03f3": "j", "\u2122": " ", "\u2120": " "}
)


def _visible(text: str) -> str:
    """NFKC, then every invisible character and combining mark removed (see above)."""
    return unicodedata.normalize(
        "NFKC", unicodedata.normalize("NFKD", text.translate(_BEFORE_NFKC)).translate(_VISIBLE)
    )


def fold(name: str) -> str:
    """A name with its script games undone: invisible characters, look-alikes, Traditional Chinese.

    ASCII names (most) pass through with only case folding.
    """
    if name.isascii():
        return name.casefold()
    text = _visible(name)
    if _CJK.search(text):
        text = _t2s().convert(text)
    table = _confusables()
    words = []
    for word in text.split():
        if not word.isascii():
            # Capitals first (a Cyrillic Н passes for H, its lower case н for nothing), then lower case.
            latin = word.translate(table).casefold().translate(table)
            # Only a word that becomes all Latin was a disguise; a real Cyrillic or Greek word stays.
            if _NON_WORD.sub("", latin).isascii():
                word = latin
        words.append(word)
    return " ".join(words).casefold()


def unscreened_scripts(name: str) -> list[str]:
    """The scripts other than Latin that the name's letters are written in, once its disguises are undone.

    The lists write their parties' names in Latin script (the seed adds the Chinese names of
    a few AI companies), so a name written in another script is compared with almost nothing:
    国防科技大学 is the listed National University of Defense Technology (red team). Latin
    letters drawn in other scripts (a Cyrillic letter for H) are folded first and are not counted.
    """
    text = fold(name)
    if text.isascii():
        return []
    found: set[str] = set()
    for ch in text:
        if ch.isalpha() and not ch.isascii():
            script = unicodedata.name(ch, "").split(" ", 1)[0]
            if script not in ("LATIN", "MODIFIER"):  # an unread Latin or modifier letter is drawn_symbols
                found.add(_SCRIPT_NAMES.get(script, script.title()))
    return sorted(found)


_SCRIPT_NAMES = {"CJK": "Han", "HANGUL": "Hangul"}


def drawn_symbols(name: str) -> list[str]:
    """Symbols beside a letter or digit, and Latin letters, that the folding does not read (₩ in HUA₩EI, a saltillo between the letters of SMIC).

    Non-ASCII symbols (Unicode categories Sc, Sm, Sk, So) left in the folded name next to a
    letter or digit draw a letter a reader sees and a screener does not. So do symbols that
    the folding writes out as several Latin letters or digits (NFKC: ™ is "TM", № is "No"), found in the
    name as given: "HUA™EI" folds to "huatmei". The trademark signs (®, ©, ℗, ™, ℠) after a
    word are marks, not letters; inside one they are drawn letters too. ASCII symbols are read
    by the normalization itself ($ugon, C@mbricon).
    """
    if name.isascii():
        return []
    found: set[str] = set()
    given = name.translate(_VISIBLE)  # invisible characters and combining marks out, nothing expanded
    for i, ch in enumerate(given):
        if ch.isascii() or unicodedata.category(ch)[0] != "S":
            continue
        written = unicodedata.normalize("NFKC", ch)
        if len(written) < 2 or not any(c.isascii() and c.isalnum() for c in written):
            continue  # kept as a symbol (judged below, after folding) or read as its one letter (ⓦ)
        after = i + 1 < len(given) and given[i + 1].isalnum()
        if after or (ch not in _MARKS and i > 0 and given[i - 1].isalnum()):
            found.add(ch)
    text = fold(name)
    for i, ch in enumerate(text):
        if ch.isascii():
            continue
        if ch in _MARKS and not (i + 1 < len(text) and text[i + 1].isalnum()):
            continue  # a trademark sign after a word ("Acme®"); inside one ("HUA®EI") it draws a letter
        if ch.isalpha():
            # A Latin letter (or modifier letter) the folding left as it is: Ŋ, ʇ, ꞌ (third red team).
            # Letters of other scripts are unscreened_scripts'.
            if unicodedata.name(ch, "").startswith(("LATIN", "MODIFIER LETTER")):
                found.add(ch)
            continue
        if unicodedata.category(ch)[0] != "S":
            continue
        if (i > 0 and text[i - 1].isalnum()) or (i + 1 < len(text) and text[i + 1].isalnum()):
            found.add(ch)
    return sorted(found)


_MARKS = frozenset("®©℗™℠")


def normalize(name: str) -> str:
    """The comparable form of a party name (see the module docstring)."""
    return _normalize_folded(fold(name))[0]


# What _NON_WORD does, for ASCII bytes (a byte table: str.translate looks each character up in a dict)
_ASCII_SPACES = bytes(code if chr(code).isalnum() else 32 for code in range(128)) + bytes(range(128, 256))
_STROKE = re.compile(r"(?<=[^\W\d_])[|!]+|[|!]+(?=[^\W\d_])")
# Letters drawn with ASCII symbols inside a word: \/\/ is w, \/ is v, @ is a, $ is s ("Hua\/\/ei",
# "HIK\/ISION", "C@mbricon", "$ugon").
_DRAWN = re.compile(r"\\/\\/|\\/|(?<=[^\W\d_])[@$]|[@$](?=[^\W\d_])")
_DRAWN_TO = {"\\/\\/": "w", "\\/": "v", "@": "a", "$": "s"}
# Two or more plus signs after a letter are spoken: "Face++" (Megvii's platform) is "faceplusplus",
# not "face", on both sides (a single "+" is punctuation: "A+ Solutions"); "Face ++" and "Face + +" too.
_PLUSES = re.compile(r"(?<=[^\W\d_])(?:\s*\+){2,}")


def _spoken_pluses(text: str) -> str:
    """Two or more plus signs after a letter, spaced or not, as "plus" each ("Face + +" is "faceplusplus")."""
    if text.count("+") < 2:
        return text
    return _PLUSES.sub(lambda m: "plus" * m.group().count("+"), text)


def _normalize_folded(folded: str) -> tuple[str, str, list[str]]:
    """The normalized form of a folded name, its compact form (see ``compact``) and its words, made together."""
    squeezed: str | None = None
    if "+" in folded:
        folded = _spoken_pluses(folded)
    if "|" in folded or "!" in folded:
        squeezed = _NON_WORD.sub("", folded)
        # "HUAWE|", "Megv||": strokes beside letters are letters l
        folded = _STROKE.sub(lambda m: "l" * len(m.group()), folded)
    if "@" in folded or "$" in folded or "\\" in folded:
        if squeezed is None:
            squeezed = _NON_WORD.sub("", folded)
        folded = _DRAWN.sub(lambda m: _DRAWN_TO[m.group()], folded)
    if folded.isascii():
        # What _NON_WORD does, for ASCII: every character but a letter or digit is a space. No
        # legal affix is ASCII (each is CJK, Cyrillic or Hangul).
        toks = folded.encode().translate(_ASCII_SPACES).decode().split()
        if squeezed is None:
            squeezed = "".join(toks)
        if not toks:
            return "", squeezed, toks
        if len(toks) > 1 and toks[-1] in _FORM_ENDINGS:
            toks = _strip_trailing_forms(toks)
        # A single letter among the words (one C pass over their lengths answers the common name:
        # none); the walk below leaves words with no single letter as they are.
        single_letters = min(map(len, toks)) == 1
    else:
        text = _NON_WORD.sub(" ", folded).strip()
        if squeezed is None:
            squeezed = text.replace(" ", "")  # what _NON_WORD.sub("", folded) gives
        # Strip legal forms written as affixes, at either end of the whole name. One C call
        # answers the common case (none); the longest matching affix goes first.
        while text.endswith(_LEGAL_AFFIXES) or text.startswith(_LEGAL_AFFIXES):
            affix = next(a for a in _LEGAL_AFFIXES if text.endswith(a) or text.startswith(a))
            if len(text) <= len(affix):
                break
            text = (text[: -len(affix)] if text.endswith(affix) else text[len(affix) :]).strip()
        toks = text.split()
        if len(toks) > 1 and toks[-1] in _FORM_ENDINGS:
            toks = _strip_trailing_forms(toks)
        single_letters = _SINGLE_LETTER.search(text) is not None
    if single_letters:  # rare: only then walk the words in Python
        merged: list[str] = []
        single_run = False  # the last token was built from single letters ("s m i c" -> "smic")
        for tok in toks:
            single = len(tok) == 1 and tok.isalpha() and not _CJK.search(tok)
            if single and merged and (single_run or (len(merged[-1]) <= 2 and merged[-1].isalpha())):
                merged[-1] += tok
                single_run = True
            else:
                merged.append(tok)
                single_run = single
        toks = merged
    if _REWRITTEN.keys().isdisjoint(toks) and "technologies" not in folded:
        return " ".join(toks), squeezed, toks  # the common name: no legal word, abbreviation or plural
    # Legal words dropped, abbreviations written out, in one pass; glued too: "HuaweiTechnologies" is
    # "huaweitechnology" on both sides.
    kept = [r for t in toks if (r := _REWRITTEN.get(t, t))]
    if "technologies" in folded:
        kept = [t[:-3] + "y" if t.endswith("technologies") else t for t in kept]
    if not kept:
        kept = toks
    return " ".join(kept), squeezed, kept


# Legal forms at the end of a name, each as its letters joined: written with dots, spaces or
# hyphens ("S.A. de C.V.", "FZ-LLC", "Co. W.L.L", "Sanayi ve Ticaret A.S.") they are several
# words, removed together before initialisms are joined (where "de C.V." would become "decv").
# From the abbreviations of GLEIF's ISO 20275 Entity Legal Forms code list for the countries
# the lists name most (AE, QA, BH, KW, OM, SA, LB, TR, JP, MX, ES, IN, DE, RU, ...).
_JOINED_FORMS = frozenset(
    """
    sadecv sdecv sderl sderldecv sdeidecv sapidecv sabdecv sadcv decv derl derldecv
    sociedadanonimadecapitalvariable sociedadderesponsabilidadlimitada
    dmcc dmc fzllc fzco fze fzc fzs fzsp fzllcfze llcfze fzcollc soleproprietorship
    spc qsc qpsc qcsc qfc bsc bscc bscclosed sal sarl saloffshore wll cowll cwll llcwll spcwll sag saog
    saoc saogs ksc kscc kscp kscclosed jsc ojsc cjsc pjsc pisc spjsc jointstockcompany
    jointstock closedjointstockcompany openjointstockcompany publicjointstockcompany
    godokaisha yugenkaisha gomeikaisha goshikaisha kabushikikaisha gk yk kk
    sanayiveticaretas sanayiveticaretanonimsirketi sanayiveticaretltdsti sanveticas
    sanayiveticaret sanveticaret veticaret llcfz llcfzco llcfzc
    sanvetic sanayi ticaret veticaretas ticaretas ticaretltdsti ltdsti ltdsirketi anonimsirketi as
    establishment est establ ek ekfm ekfr ohg gbr gmbhcokg gmbhco kgaa ughaftungsbeschrankt
    opc opcpvtltd pvtltd privatelimited pltd llp lllp pllc plc spa srl sas sasu sarlau
    limitedliabilitycompany limitedliabilitypartnership
    companylimited colimited coltd coinc corp incorporated
    ooo zao oao pao ao tov
    ptyltd sdnbhd pteltd bhd tbk cvba bvba nvsa sccl scrl
    """.split()  # noqa: SIM905  # a block of forms reads better than a list of 200 strings
)
_TRAILING_FORMS = _LEGAL_WORDS | _JOINED_FORMS
# Every ending of a form: a name whose last word is none of them ends in no form (one set lookup
# answers the common name before the walk below).
_FORM_ENDINGS = frozenset(f[i:] for f in _TRAILING_FORMS for i in range(len(f)))
_MAX_FORM_WORDS = 7


def _strip_trailing_forms(toks: list[str]) -> list[str]:
    """The words of a name without the legal forms at its end, longest first; at least one word stays."""
    n = len(toks)
    endings, forms = _FORM_ENDINGS, _TRAILING_FORMS
    while n > 1:
        # The last words joined, one more each step: a form's last words are one of its endings, so
        # the walk stops at the first join that is none (most names: at once, or after one word).
        tail, cut = "", 0
        for k in range(1, min(_MAX_FORM_WORDS, n - 1) + 1):
            tail = toks[n - k] + tail
            if tail not in endings:
                break
            if tail in forms:
                cut = k
        if not cut:
            break
        n -= cut
    return toks[:n]


_RTL_OVERRIDES = re.compile("[\u202b\u202e\u2067\u2068]")


_EMBED = {"\u202a": (False, None), "\u202b": (True, None), "\u202d": (False, "L"), "\u202e": (True, "R")}
_ISOLATE = {"\u2066": False, "\u2067": True, "\u2068": None}  # LRI, RLI, FSI (first strong decides)
_PDF, _PDI = "\u202c", "\u2069"
_MAX_DEPTH = 125


def _first_strong_is_rtl(text: str) -> bool:
    """FSI's direction (UAX #9 P2, up to the isolate's end): whether the first strong character is R or AL."""
    depth = 0
    for ch in text:
        if ch in _ISOLATE:
            depth += 1
        elif ch == _PDI:
            if depth == 0:
                break
            depth -= 1
        elif depth == 0:
            kind = unicodedata.bidirectional(ch)
            if kind in ("R", "AL"):
                return True
            if kind == "L":
                return False
    return False


_ENCODED = re.compile(r"&#?\w+|%[0-9A-Fa-f]{2}|\\[uUx][0-9A-Fa-f]{2}|<")


class _TextOf(HTMLParser):
    """The text an HTML renderer shows of a fragment: character references decoded, tags dropped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def _html_text(text: str) -> str:
    """What a browser shows of ``text`` read as HTML (a reference without its ";" decoded too)."""
    parser = _TextOf()
    parser.feed(text)
    parser.close()
    return "".join(parser.parts)


_ESCAPE = re.compile(r"\\(?:u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|x[0-9A-Fa-f]{2})")


def decoded(name: str) -> str | None:
    """The name with what a text format would decode undone, or None when it holds no such spelling.

    HTML character references ("Hu&#97;wei"), markup ("Hua<b></b>wei"), URL percent-escapes
    ("Hu%61wei") and backslash escapes written out (a backslash, "u0048", "uawei") show a reader, or a
    program down the line, other letters than the ones a screener compares; decoded up to
    three times (an escape inside an escape). A name without any is None (the common case:
    one pattern search).
    """
    if _ENCODED.search(name) is None:
        return None
    text = name
    for _ in range(3):
        before = text
        text = _html_text(text)
        text = unquote(text, errors="replace")
        text = _ESCAPE.sub(lambda m: _unescape(m.group()), text)
        if text == before:
            break
    return text if text != name else None


def _unescape(escape: str) -> str:
    """One backslash escape written out (u, U or x after the backslash) as its character; itself if it names none."""
    try:
        return codecs.decode(escape, "unicode_escape")
    except (UnicodeDecodeError, ValueError, OverflowError):
        return escape


def displayed(name: str) -> str:
    """The name as a reader sees it: the explicit bidi controls applied as UAX #9 does.

    The explicit levels (rules X1-X8: the stack of embeddings, overrides and isolates, with
    its overflow counters, so an unmatched PDI or an empty LRE...PDF inside an RLO does not end
    the RLO), each character's level raised for its strong direction (I1, I2; neutrals keep
    the embedding level, a simplification that cannot hide a letter), then every run reversed
    from the highest level down to the lowest odd one (L2). The paragraph is left to right.
    """
    stack: list[tuple[int, str | None, bool]] = [(0, None, False)]  # level, override, isolate
    overflow_isolates = overflow_embeddings = valid_isolates = 0
    chars: list[str] = []
    levels: list[int] = []
    for n, ch in enumerate(name):
        level, override, _ = stack[-1]
        if ch in _EMBED or ch in _ISOLATE:
            isolate = ch in _ISOLATE
            if isolate:
                rtl_or_none = _ISOLATE[ch]
                rtl = _first_strong_is_rtl(name[n + 1 :]) if rtl_or_none is None else rtl_or_none
                forced = None
            else:
                rtl, forced = _EMBED[ch]
            new = (level + 1) | 1 if rtl else (level + 2) & ~1
            if new <= _MAX_DEPTH and overflow_isolates == 0 and overflow_embeddings == 0:
                valid_isolates += isolate
                stack.append((new, forced, isolate))
            elif isolate:
                overflow_isolates += 1
            elif overflow_isolates == 0:
                overflow_embeddings += 1
            continue
        if ch == _PDI:
            if overflow_isolates:
                overflow_isolates -= 1
            elif valid_isolates:  # an unmatched PDI does nothing
                overflow_embeddings = 0
                while not stack[-1][2]:
                    stack.pop()
                stack.pop()
                valid_isolates -= 1
            continue
        if ch == _PDF:
            if overflow_isolates:
                pass
            elif overflow_embeddings:
                overflow_embeddings -= 1
            elif not stack[-1][2] and len(stack) >= 2:
                stack.pop()
            continue
        kind = override or unicodedata.bidirectional(ch)
        rtl_char = kind in ("R", "AL")
        if (rtl_char and level % 2 == 0) or (kind == "L" and level % 2 == 1):
            level += 1
        chars.append(ch)
        levels.append(level)
    odd = [lv for lv in levels if lv % 2]
    if odd:
        for lv in range(max(levels), min(odd) - 1, -1):
            i = 0
            while i < len(chars):
                if levels[i] < lv:
                    i += 1
                    continue
                j = i
                while j < len(chars) and levels[j] >= lv:
                    j += 1
                chars[i:j] = chars[i:j][::-1]
                levels[i:j] = levels[i:j][::-1]
                i = j
    return "".join(chars)


# Abbreviations the lists themselves use ("Semiconductor Mfg Intl Corp"), written out on both sides.
_ABBREVIATIONS = {
    "intl": "international",
    "int'l": "international",
    "mfg": "manufacturing",
    "mfr": "manufacturing",
    "tech": "technology",
    "techs": "technology",
    "ind": "industry",
    "inds": "industry",
    "eng": "engineering",
    "elec": "electronics",
    "sci": "science",
    "info": "information",
    "natl": "national",
    "univ": "university",
    "inst": "institute",
    "grp": "group",
    "hldg": "holding",
    "hldgs": "holdings",
    "svc": "service",
    "svcs": "services",
    "sys": "systems",
    "dev": "development",
    "comm": "communications",
    "telecom": "telecommunications",
    # abbreviations of names and registers (review F3): "Aletra Gen. Trading", "Gnrl", "Trdg"
    "gen": "general",
    "genl": "general",
    "gnrl": "general",
    "gral": "general",
    "trdg": "trading",
    "trdng": "trading",
    "tradg": "trading",
    "mgmt": "management",
    "mngmt": "management",
    "assoc": "association",
    "eqpt": "equipment",
    "equip": "equipment",
    "engg": "engineering",
    "chem": "chemical",
    "pharm": "pharmaceutical",
    "invt": "investment",
    "bros": "brothers",
    "electr": "electronics",
    "mfrs": "manufacturing",
    "manuf": "manufacturing",
    "mfc": "manufacturing",
    "corpn": "corporation",
    # the plural of the commonest generic word: "Megvii Technologies" is the listed "Megvii Technology"
    "technologies": "technology",
    "industries": "industry",
    # abbreviations a name writes with a full stop (red team: "Semiconductor Manufacturing Int. Corp.",
    # "Natl. Univ. of Def. Tech.", "China Acad. of Eng. Physics")
    "int": "international",
    "def": "defense",
    "defence": "defense",
    "acad": "academy",
    "nat": "national",
    "phys": "physics",
    "polytech": "polytechnical",
    "aero": "aeronautics",
    "astro": "astronautics",
    "engrg": "engineering",
    "semicon": "semiconductor",
    "semicond": "semiconductor",
    "intern": "international",
    "internat": "international",
    "indus": "industry",
    "mem": "memory",
    "ctr": "center",
    "technol": "technology",
    # Chinese cities in their postal and Wade-Giles spellings: "Peking Computational Science Research
    # Center" is the listed Beijing one (not Canton: a Swiss canton is no city)
    "peking": "beijing",
    "peiping": "beijing",
    "kwangchow": "guangzhou",
    "amoy": "xiamen",
    "hsiamen": "xiamen",
    "nanking": "nanjing",
    "tientsin": "tianjin",
    "tsingtao": "qingdao",
    "chungking": "chongqing",
    "hangchow": "hangzhou",
    "soochow": "suzhou",
    "foochow": "fuzhou",
    "sian": "xian",
    "shenchen": "shenzhen",
    "wusih": "wuxi",
}
# The words of an institution's name in other languages, read as the lists write them in English
# (both sides). Kept apart from _ABBREVIATIONS: a brand is never found glued to them ("Hesaidi" is no
# "Hesai" + "di").
_TRANSLATED: dict[str, str] = {
    **{
        # The words of an institution's name in the languages of Europe and Latin America, folded (no
        # accents), as the lists write them in English (red team rt12: "Instituto de Tecnología de
        # Pekín" is the listed Beijing Institute of Technology, "Université nationale de technologie
        # de défense" the National University of Defense Technology)
        word: english
        for english, words in {
            "university": "universidad universite universitat universidade universita universiteit uniwersytet",
            "institute": "instituto institut istituto instytut",
            "technology": "tecnologia technologie tecnologico tecnologica technologique technologisch technologisches technologischen technologiczny technologii",
            "technical": "tecnica tecnico technique technische technischen technisch",
            "national": "nacional nationale nazionale nationaal narodowy",
            "defense": "defensa defesa difesa verteidigung obronnych",
            "polytechnical": "politecnica politecnico polytechnique polytechnische polytechnischen",
            "northwestern": "noroeste nordouest nordoccidentale nordwest nordwestliche nordwestlichen",
            "academy": "academia academie akademie accademia",
            "science": "ciencia ciencias sciences wissenschaft scienza",
            "engineering": "ingenieria ingenierie ingegneria",
            "physics": "fisica physique physik",
            "research": "investigacion recherche forschung ricerca pesquisa",
            "center": "centro centre zentrum",
            "beijing": "pekin pequim pechino pekinie",
            "laboratory": "laboratorio laboratoire laboratorium labor",
            "harbin": "harbinie",
            "china": "chine cina",
            "chinese": "chino chinois chinoise chinesische cinese",
            "aeronautics": "aeronautica aeronautique",
            "astronautics": "astronautica astronautique",
        }.items()
        for word in words.split()
    },
    # the words that join them, dropped as "de" is (red team rt13: "Istituto di Tecnologia di Harbin")
    **dict.fromkeys(["di", "del", "della", "dello", "des", "du", "fur", "voor", "w"], ""),
}
# The last step of normalization: each legal word to "" (dropped), each abbreviation to its words.
# One set test (its keys) finds the common name, which has none.
_REWRITTEN = {**_ABBREVIATIONS, **_TRANSLATED, **dict.fromkeys(_LEGAL_WORDS, "")}


def compact(name: str) -> str:
    """Every letter and digit of the folded name, legal forms included, nothing between them.

    "LLCSINTO" is "LLC SINTO" and "AMEGINOFZE" is "AMEGINO FZE": a legal form glued to a name
    is found by this key (on both sides) where word-level normalization cannot split it.
    """
    return _NON_WORD.sub("", _spoken_pluses(fold(name)))


_UNSEEN = object()


def _deletions(word: str) -> set[str]:
    """The word and every string one character shorter (the deletion neighbourhood of SymSpell)."""
    return {word, *(word[:i] + word[i + 1 :] for i in range(len(word)))}


_COMMON = 200
_WIDE_WINDOW = 400


def _distinct_alike(query: str, candidate: str, threshold: float) -> bool:
    """Whether two names close as a whole are also close in their distinctive words.

    "Align Technology" and "Leon Technology" are 90 alike through a generic word; their own
    words are not. A name with distinctive words is never near one without any.
    """
    return _distinct_close(_distinct_query(query), _distinct_sorted(candidate), threshold)


def _distinct_query(query: str) -> str:
    """A query's distinctive words, sorted; a misspelt generic word ("Tecnhologies") is still generic."""
    return " ".join(sorted(w for w in _distinctive(query).split() if not _generic_like(w)))


def _distinct_sorted(candidate: str) -> str:
    """A list name's distinctive words, sorted (made once per indexed name)."""
    return " ".join(sorted(_distinctive(candidate).split()))


def _distinct_close(q: str, c: str, threshold: float) -> bool:
    """``_distinct_alike`` on the sorted distinctive words of both sides."""
    if not q or not c:
        return not q and not c
    return fuzz.ratio(q, c) >= threshold


@lru_cache(maxsize=65536)
def _generic_like(word: str) -> bool:
    """Whether a word is a generic word or one edit in five from one ("tecnhology"), remembered per word."""
    return process.extractOne(word, _GENERIC_LIST, scorer=fuzz.ratio, score_cutoff=80) is not None


def keys(normalized: str) -> tuple[str, ...]:
    """The exact-match keys of a normalized name: itself, without spaces, and its words sorted."""
    words = normalized.split()
    return tuple(dict.fromkeys((normalized, "".join(words), " ".join(sorted(words)))))


def tokens(normalized: str) -> set[str]:
    """Index tokens: words, and character bigrams inside CJK runs."""
    out: set[str] = set()
    for word in normalized.split():
        if _CJK.search(word):
            out.update(word[i : i + 2] for i in range(max(1, len(word) - 1)))
        else:
            out.add(word)
    return out


_TRAILING_PAREN = re.compile(r"^(.*?\S)\s*\(([^()]+)\)\s*$")
_NOT_A_NAME = ("a.k.a", "aka", "f.k.a", "fka", "formerly", "also", "d.b.a", "dba", "see ")


def _specific(name: str) -> bool:
    """Whether a name, alone, names a party: distinctive words (four letters or more), not only legal forms."""
    norm = normalize(name)
    return len(_distinctive(norm)) >= 4 and not set(norm.split()) <= _LEGAL_WORDS


def _parenthetical_aliases(names: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Aliases of a list name that ends in a parenthetical: the name without it, and what it holds.

    "HiSilicon Technologies Co., Ltd (HiSilicon)" is listed under "HiSilicon Technologies Co., Ltd"
    and "HiSilicon"; "National University of Defense Technology (NUDT)" under "NUDT" too. A part
    that would not name a party alone (a city, a legal form, "a.k.a. ...") is not indexed.
    """
    out: list[tuple[str, str]] = []
    for original, _ in names:
        found = _TRAILING_PAREN.match(original)
        if found is None:
            continue
        base, inner = found.group(1).strip(), found.group(2).strip()
        if _specific(base):
            out.append((base, "alias"))
        if not inner.casefold().startswith(_NOT_A_NAME) and _specific(inner):
            out.append((inner, "alias"))
    return out


_VOWELS = frozenset("aeiouy")
_ASCII_WORD = re.compile(r"[A-Za-z]{5}(?![A-Za-z])(?<![A-Za-z]{6})")


def _typo_of(word: str, brand: str) -> bool:
    """Whether ``word``, one edit from ``brand``, may be taken for it.

    A brand word of six letters or more takes any one edit or swap. In a word of five, where one
    edit is one letter in five, other words are that close ("Cosco" is one from Costco, Copco and
    Posco): only the edits of romanization are taken, a vowel for a vowel ("Zhipo", "Biran") or a
    letter doubled or undoubled ("Zhippu").

    In pinyin, -n and -ng end different syllables (心 xin, 兴 xing): a romanized brand word with a
    g added or dropped after its n is another romanized name, not a typo of it ("Zhongxing", ZTE's
    中兴, is not Zhongxin, SMIC's 中芯; "Changxing" is not ChangXin).
    """
    if len(word) != len(brand):
        longer, shorter = (word, brand) if len(word) > len(brand) else (brand, word)
        i = next((k for k in range(len(shorter)) if longer[k] != shorter[k]), len(shorter))
        if longer[i] == "g" and i > 0 and longer[i - 1] == "n" and _romanized(word) and _romanized(brand):
            return False
    if len(brand) >= 6:
        return True
    if len(word) == len(brand):
        diff = [(a, b) for a, b in zip(word, brand, strict=True) if a != b]
        return len(diff) == 1 and diff[0][0] in _VOWELS and diff[0][1] in _VOWELS
    longer, shorter = (word, brand) if len(word) > len(brand) else (brand, word)
    return any(
        longer[i] == longer[i - 1] and longer[:i] + longer[i + 1 :] == shorter for i in range(1, len(longer))
    )


# Every syllable of Hanyu Pinyin, tones dropped (pypinyin's dictionary, interjections such as
# "hm" and "ng" left out): a word made of them alone is a romanized Chinese name.
_PINYIN_SYLLABLES = frozenset(
    """
    a ai an ang ao ba bai ban bang bao bei ben beng bi bian biang biao bie bin bing bo bong bu ca cai can
    cang cao ce cei cen ceng cha chai chan chang chao che chen cheng chi chong chou chu chua chuai chuan
    chuang chui chun chuo ci cong cou cu cuan cui cun cuo da dai dan dang dao de dei den deng di dia dian
    diao die din ding diu dong dou du duan dui dun duo e ei en eng er fa fan fang fei fen feng fiao fo fou
    fu ga gai gan gang gao ge gei gen geng gong gou gu gua guai guan guang gui gun guo ha hai han hang hao
    he hei hen heng hong hou hu hua huai huan huang hui hun huo ji jia jian jiang jiao jie jin jing jiong
    jiu ju juan jue jun ka kai kan kang kao ke kei ken keng kong kou ku kua kuai kuan kuang kui kun kuo la
    lai lan lang lao le lei len leng li lia lian liang liao lie lin ling liu lo long lou lu luan lue lun
    luo ma mai man mang mao me mei men meng mi mian miao mie min ming miu mo mou mu na nai nan nang nao ne
    nei nen neng ni nia nian niang niao nie nin ning niu nong nou nu nuan nue nun nuo o ou pa pai pan pang
    pao pei pen peng pi pian piao pie pin ping po pou pu qi qia qian qiang qiao qie qin qing qiong qiu qu
    quan que qun ran rang rao re ren reng ri rong rou ru rua ruan rui run ruo sa sai san sang sao se sen
    seng sha shai shan shang shao she shei shen sheng shi shou shu shua shuai shuan shuang shui shun shuo
    si song sou su suan sui sun suo ta tai tan tang tao te tei teng ti tian tiao tie ting tong tou tu tuan
    tui tun tuo wa wai wan wang wei wen weng wo wong wu xi xia xian xiang xiao xie xin xing xiong xiu xu
    xuan xue xun ya yan yang yao ye yi yin ying yo yong you yu yuan yue yun za zai zan zang zao ze zei zen
    zeng zha zhai zhan zhang zhao zhe zhei zhen zheng zhi zhong zhou zhu zhua zhuai zhuan zhuang zhui zhun
    zhuo zi zong zou zu zuan zui zun zuo
    """.split()  # noqa: SIM905  # a block of syllables reads better than a list of 418 strings
)


@lru_cache(maxsize=4096)
def _romanized(word: str) -> bool:
    """Whether ``word`` is Pinyin syllables alone ("zhongxing", "yiyuanda", "baiduri")."""
    ends = [True] + [False] * len(word)
    for i in range(1, len(word) + 1):
        ends[i] = any(ends[j] and word[j:i] in _PINYIN_SYLLABLES for j in range(max(0, i - 6), i))
    return bool(word) and ends[-1]


@lru_cache(maxsize=4096)
def _filler(text: str) -> bool:
    """Whether ``text`` is made of business words, places, legal forms and numbers alone ("", "semiconductor", "groupltd", "2").

    What a brand may be glued to and still be that brand: "HaisiSemiconductor", "ShenzhenHaisi",
    "BaiduCloud", "Haisi2". Not a fragment of another word ("Baidu" in "Baiduri", "Haisi" in "Zhaisi").
    """
    ends = [True] + [False] * len(text)
    for i in range(1, len(text) + 1):
        ends[i] = (text[i - 1].isdigit() and ends[i - 1]) or any(
            ends[j] and text[j:i] in _GLUE_WORDS for j in range(max(0, i - _GLUE_LONGEST), i)
        )
    return ends[-1]


def _camel_starts(name: str, length: int) -> frozenset[int]:
    """Where a capital starts a word inside a word of ``name`` as written, by letters and digits ("XyzBaidu": 3).

    Counted in the letters and digits of the name after invisible characters are removed, as
    ``compact`` counts them; none unless there are ``length`` of them (the compact form's length:
    then the places are the same). "XYZBaidu" and "BaiduXyz" start words at 3 and 5.
    """
    # a look-alike keeps its case (Cyrillic В is a capital B), which the folded letter may not show
    chars = [c for c in (name if name.isascii() else _visible(name)) if c.isalnum()]
    if len(chars) != length:
        return frozenset()
    return frozenset(
        i
        for i in range(1, len(chars))
        if chars[i].isupper()
        and (
            chars[i - 1].islower()
            or (chars[i - 1].isupper() and i + 1 < len(chars) and chars[i + 1].islower())
        )
    )


class _KeyFinder:
    """Keys found in a text as ``re.findall`` of their alternation finds them: leftmost, longest, no overlap.

    An Aho-Corasick automaton (pyahocorasick, in C) reports every occurrence in one pass over the
    text; the common text holds none and costs that pass alone. The few that hold some are put in
    findall's order here: by where they start, the longest first, each after the last one taken.
    """

    def __init__(self, keys: Iterable[str]) -> None:
        self._automaton = ahocorasick.Automaton()
        for key in keys:
            self._automaton.add_word(key, key)
        self._automaton.make_automaton()

    def findall(self, text: str) -> list[str]:
        """Every key in ``text``, as findall of the keys' alternation (longest first) finds them."""
        return [key for _, key in self.spans(text)]

    def spans(self, text: str) -> list[tuple[int, str]]:
        """``findall``'s keys, each with where it starts in ``text``."""
        found = list(self._automaton.iter(text))
        if not found:
            return []
        out: list[tuple[int, str]] = []
        pos = 0
        for start, longer, key in sorted((end - len(key) + 1, -len(key), key) for end, key in found):
            if start >= pos:
                out.append((start, key))
                pos = start - longer
        return out


def _glued_brands(
    name: str,
    squeezed: str,
    glued: str,
    words: list[str],
    spans: list[tuple[int, str]],
    own: AbstractSet[str] = frozenset(),
) -> list[str]:
    """The brand keys found in ``glued`` (``words`` joined) that stand for the brand, not for letters of another word.

    A key found where its words begin and end is the brand, and so is one glued to business words,
    places, legal forms, numbers or another found brand ("HaisiSemiconductor", "ShenzhenHaisi",
    "TheSophgoAndHygonGroup"), at a capital inside the word as written ("XyzBaidu"), or beside
    its own first or last letter doubled ("Baiduu", "COSCOO"). Glued to other letters, only a key
    of six letters or more is the brand ("xyzHuaweiCloud", "Huaweii"), and not where those letters
    make it a longer romanized name ("Zhongxing" is not Zhongxin, "Changxing" is not ChangXin). A
    five-letter key inside other letters is the letters of countless names ("Baiduri", "Zhaisi",
    "HauteLook"): a typo of one is for the one-typo repair to judge.

    ``own``: the keys of the names the lists give the parties (Huawei, Alibaba, Mengsheng), not of
    their aliases and romanizations (Yiyuan, Dajiang, Feiteng). Those stay the brand glued to other
    syllables ("Huaweida", "Huaweixin": what an evader writes, which no letter tells from an
    unrelated romanized name), but for a last syllable made another ("Changxing" is not ChangXin,
    -n and -ng being different syllables).
    """
    bounds = list(accumulate(map(len, words), initial=0))  # where each word starts, and the end
    starts = set(bounds)
    camel: frozenset[int] | None = None
    out: list[str] = []
    for n, (start, key) in enumerate(spans):
        end = start + len(key)
        if start in starts and end in starts:  # the common case: whole words
            out.append(key)
            continue
        # the letters glued on: to the start of its word (or the brand before it) and to the end of
        # its word (or the brand after it)
        before = max(
            bounds[bisect_right(bounds, start) - 1], spans[n - 1][0] + len(spans[n - 1][1]) if n else 0
        )
        after = min(bounds[bisect_left(bounds, end)], spans[n + 1][0] if n + 1 < len(spans) else len(glued))
        left, right = glued[before:start], glued[end:after]
        # a letter of the key doubled where it is glued on is a typo of the key ("Baiduu", "COSCOO")
        left_ok, right_ok = _filler(left) or left == key[0], _filler(right) or right == key[-1]
        if not (left_ok and right_ok) and squeezed.startswith(glued):
            if camel is None:
                camel = _camel_starts(name, len(squeezed))
            left_ok = left_ok or start in camel
            right_ok = right_ok or end in camel
        # the key with the letters glued to it
        word = ("" if left_ok else left) + key + ("" if right_ok else right)
        if (left_ok and right_ok) or (
            len(key) >= 6 and (not _romanized(word) or (key in own and not _ng(key, right, right_ok)))
        ):
            out.append(key)
    return out


def _ng(key: str, right: str, right_ok: bool) -> bool:
    """Whether ``right`` glued after ``key`` makes its last syllable another: -n to -ng (心 xin, 兴 xing)."""
    return not right_ok and key.endswith("n") and right.startswith("g")


class ListEntry(WireModel):
    """One restricted party."""

    wire_spelling_only: ClassVar[bool] = (
        False  # a user-written file: reads ``list`` and ``list_id`` alike, as before
    )

    id: str
    list_id: Annotated[
        str, Field(alias="list", description="entity-list, 1260h, ... (the policy sets a severity per list)")
    ]
    name: str
    alt_names: list[str] = Field(default_factory=list)
    country: str | None = None
    countries: list[str] = Field(
        default_factory=list, description="every country the list gives (addresses); country is the first"
    )
    added: str | None = None
    programs: list[str] = Field(default_factory=list)
    source: str | None = None
    type: str | None = Field(
        default=None,
        description="Entity, Individual, Vessel, Aircraft (CSL); parties are screened against entities",
    )


class ScreeningList(WireModel):
    """A named, dated list of restricted parties."""

    wire_spelling_only: ClassVar[bool] = (
        False  # a user-written file: reads ``list`` and ``list_id`` alike, as before
    )

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")]
    date: str
    about: str = ""
    sources: dict[str, str] = Field(default_factory=dict)
    brands: bool = Field(
        default=False,
        description="entries are known by brand (the 1260H list, the seed): a name holding all of an entry's "
        "distinctive words is a near match (Alibaba Cloud (Singapore) Pte. Ltd. for Alibaba Group)",
    )
    entries: list[ListEntry]


@dataclass(frozen=True)
class ListInfo:
    """Which list a match came from: its name, date and size (every finding names them)."""

    name: str
    date: str
    entries: int
    brands: bool = False

    def __str__(self) -> str:
        return f"{self.name} of {self.date}, {self.entries:,} entries"


_Codes = list[str]  # a name for the type inside Match, whose field "list" hides the builtin

# Every country string of the bundled CSL that is not an ISO 3166-1 alpha-2 code, as codes
# (tests/policy/test_homonyms.py checks that none is left out). A region goes to every country
# it lies in or across; Crimea, occupied, to Ukraine and Russia; the CIS to its members.
LIST_COUNTRY_NAMES: dict[str, tuple[str, ...]] = {
    "UK": ("GB",),  # the reserved code some lists write for GB
    "AN": ("CW", "SX", "BQ"),  # the Netherlands Antilles, dissolved in 2010 (ISO 3166-3 ANHH)
    "NM": ("US",),  # a Denied Persons List address in New Mexico: the state code written as the country
    "MACAU": ("MO",),
    "MACAO": ("MO",),
    "PRC": ("CN",),
    "CHINA": ("CN",),
    "HONG KONG": ("HK",),
    "TURKIYE": ("TR",),
    "MAN, ISLE OF": ("IM",),
    "CRIMEA (OCCUPIED)": ("UA", "RU"),
    "REGION: CHINA": ("CN",),
    "REGION: IRAN": ("IR",),
    "REGION: RUSSIA": ("RU",),
    "REGION: COMMONWEALTH OF INDEPENDENT STATES": ("RU", "BY", "AM", "AZ", "KZ", "KG", "MD", "TJ", "UZ"),
    "REGION: JAMMU AND KASHMIR": ("IN", "PK"),
    "REGION: KASHMIR": ("IN", "PK"),
    "REGION: KAFIA KINGI": ("SD", "SS"),
    "REGION: NORTH GAZA": ("PS",),
    "REGION: NORTHERN GAZA": ("PS",),
    "REGION: WEST BANK": ("PS",),
    "REGION: NORTHERN MALI": ("ML",),
}


def country_codes(raw: str) -> tuple[str, ...]:
    """A list entry's country as ISO codes: a code stays, a known name is mapped, anything else stays as written.

    A string left as written is no ISO code: the homonym rule reads it as unknown and never takes
    the entry for another party (fail closed).
    """
    text = raw.strip()
    if len(text) == 2 and text.upper() in ACCEPTED_COUNTRY_CODES:
        return (text.upper(),)
    return LIST_COUNTRY_NAMES.get(" ".join(text.upper().split()), (text,))


@dataclass(frozen=True)
class Match:
    """One hit: which list and entry, by which name, how (exact, alias, near) and how well (0-100)."""

    list: str
    entry: ListEntry
    matched_name: str
    kind: Literal["exact", "alias", "near"]
    score: float
    screened: str
    source: ListInfo

    def countries(self) -> _Codes:
        """The entry's countries (ISO codes); a 1260H designation is a Chinese military company: CN."""
        raw = [*self.entry.countries, *([self.entry.country] if self.entry.country else [])]
        found = list(dict.fromkeys(code for c in raw for code in country_codes(c)))
        if self.list.startswith("1260h") and "CN" not in found:
            found.append("CN")
        return found

    def to_obj(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "list": self.list,
            "entry": self.entry.id,
            "entry_name": self.entry.name,
            "entry_countries": cast(Any, self.countries()),
            "matched_name": self.matched_name,
            "kind": self.kind,
            "score": round(self.score, 1),
            "screened": self.screened,
            "list_source": {
                "name": self.source.name,
                "date": self.source.date,
                "entries": self.source.entries,
            },
        }


_KINDS = {"exact": 0, "alias": 1, "near": 2}


def _rank(m: Match) -> tuple[float, int, str, str]:
    """Best first: higher score, then exact before alias before near, then by list and entry."""
    return (-m.score, _KINDS[m.kind], m.list, m.entry.id)


class Screener:
    """Lists indexed for screening.

    Near matches are found in three steps, so that a name costs a few microseconds against the
    25,921 entries of the CSL: the inverted token index proposes candidates, a length window
    drops those that cannot reach the threshold (a ratio of ``t`` needs lengths within
    ``t / (200 - t)`` of each other), and rapidfuzz scores the rest in one C call per form
    (as written, and with the words sorted). Brand-list entries (the subsidiary rule) are
    checked through their own small index of distinctive words.
    """

    def __init__(
        self, lists: Sequence[ScreeningList], *, near_threshold: float = 90.0, common_token_cap: int = 5000
    ) -> None:
        self.lists = list(lists)
        self.near_threshold = near_threshold
        self._memo: dict[str, tuple[Match, ...]] = {}
        self._exact: dict[str, list[tuple[ListEntry, str, Literal["exact", "alias"], ListInfo]]] = (
            defaultdict(list)
        )
        # by compact(): every letter and digit, legal forms included
        self._compact: dict[str, list[tuple[ListEntry, str, Literal["exact", "alias"], ListInfo]]] = (
            defaultdict(list)
        )
        # per indexed name: normalized, with its words sorted, entry, original spelling, list
        self._names: list[tuple[str, str, ListEntry, str, ListInfo]] = []
        self._plain: list[str] = []
        self._sorted: list[str] = []
        self._distinct: list[str] = []  # each name's distinctive words, sorted (_distinct_alike)
        self._brands: dict[str, list[tuple[frozenset[str], int]]] = defaultdict(list)
        self._brand_compact: dict[str, list[int]] = defaultdict(list)
        # brand keys of the names the lists give the parties (not of their aliases, romanizations included)
        self._own_keys: set[str] = set()
        postings: dict[str, list[int]] = defaultdict(list)
        # every indexed word by its skeleton (look-alike ASCII letters and digits in one class)
        self._skeletons: dict[str, set[str]] = defaultdict(set)
        # and by its wide skeleton (multi-character look-alikes too: rn, vv, cl; digits among letters)
        self._wide: dict[str, set[str]] = defaultdict(set)
        # the distinctive words of the brand lists (Huawei, Hikvision, Sophgo), for one-typo repairs
        self._typo_words: set[str] = set()
        # Names with a Chinese place, by the identity key of the rest (``_identity_key``): the indexed
        # name and the rest's words. "Chengdu Spaceon Technology" is under "spaceon".
        self._placed: dict[str, list[tuple[int, frozenset[str]]]] = defaultdict(list)
        # and by the rest glued ("spaceontechnology"), and its distinctive words glued when there are
        # two or more ("meiyapico"): "SpaceonTechnology Pte. Ltd.", "MeiyaPico Pte. Ltd."
        self._placed_glued: dict[str, list[int]] = defaultdict(list)
        initialisms: set[str] = set()
        # (the words a name holding them all holds, indexed name) of every non-brand name: see _contained
        containable: list[tuple[frozenset[str], int]] = []
        for lst in self.lists:
            info = ListInfo(lst.name, lst.date, len(lst.entries), lst.brands)
            for entry in lst.entries:
                if entry.type is not None and entry.type.casefold() not in _PARTY_TYPES:
                    continue  # a tenant is a legal entity: not a person, a vessel or an aircraft
                names: list[tuple[str, str]] = [
                    (entry.name, "exact"),
                    *((a, "alias") for a in entry.alt_names),
                ]
                names.extend(_parenthetical_aliases(names))
                for original, kind in names:
                    norm = normalize(original)
                    if not norm:
                        continue
                    if not lst.brands and len(norm) <= 3:
                        # Three-letter names of the CSL's 25,921 entries ("PPL", "PTC", "UCB", "LLC ITC")
                        # are the initials of countless companies: matched only as written in full.
                        # A brand list's (BYD, DJI, NIO) are kept.
                        self._compact[compact(original)].append((entry, original, kind, info))  # type: ignore[arg-type]
                        continue
                    self._compact[compact(original)].append((entry, original, kind, info))  # type: ignore[arg-type]
                    for key in keys(norm):
                        self._exact[key].append((entry, original, kind, info))  # type: ignore[arg-type]
                    idx = len(self._names)
                    self._names.append((norm, " ".join(sorted(norm.split())), entry, original, info))
                    self._plain.append(norm)
                    self._sorted.append(self._names[-1][1])
                    self._distinct.append(_distinct_sorted(norm))
                    distinctive = _distinctive(norm)
                    if lst.brands and len(distinctive) >= 4 and not _CJK.search(distinctive):
                        words = frozenset(distinctive.split())
                        self._brands[min(words)].append((words, idx))
                        self._brand_compact[distinctive.replace(" ", "")].append(idx)
                        if kind == "exact":  # the name the list gives the party, not an alias
                            self._own_keys.add(distinctive.replace(" ", ""))
                    elif (
                        lst.brands
                        and not _CJK.search(norm)
                        and len(all_words := norm.split()) >= 2
                        and len(norm) - len(all_words) + 1 >= 8
                    ):
                        # A brand whose name is common words ("Yangtze Memory", "China Unicom", "EVE
                        # Energy"): all of its words, as whole words, make its subsidiary ("Yangtze
                        # Memory Singapore"); never glued inside other words ("Steve Energy").
                        self._brands[min(all_words)].append((frozenset(all_words), idx))
                    for tok in tokens(norm):
                        postings[tok].append(idx)
                    if not lst.brands and not _CJK.search(norm):
                        need = _containment_words(norm.split(), written_out=False)
                        if _specific_enough(need):
                            containable.append((need, idx))
                    if not _CJK.search(norm):
                        rest = _placeless(norm.split())
                        if len(rest) < len(norm.split()) and (identity := _identity_key(rest)):
                            self._placed[identity].append((idx, frozenset(rest) - _LINKING_WORDS))
                            whole = "".join(w for w in rest if w not in _LINKING_WORDS)
                            if len(whole) >= 8:
                                self._placed_glued[whole].append(idx)
                            if len(own := [w for w in rest if w not in _GENERIC_WORDS]) >= 2:
                                self._placed_glued["".join(own)].append(idx)
                        for word in norm.split():
                            self._skeletons[skeleton(word)].add(word)
                            self._wide[skeleton_wide(word)].add(word)
                        if lst.brands:
                            self._typo_words.update(w for w in distinctive.split() if len(w) >= 5)
                            # a five-letter word in capitals is an initialism (COSCO, CASIC, CNOOC): one
                            # letter off, it is another name (Cisco, POSCO), not a typo of it
                            initialisms.update(
                                w.casefold() for w in _ASCII_WORD.findall(original) if w.isupper()
                            )
        # Every listed name whose words (stemmed, abbreviations written out, linking words aside) all
        # stand in a name is near it: "New H3C Semiconductor Technologies (Singapore) Pte. Ltd.",
        # "Example AI on behalf of National University of Defense Technology", "National
        # Supercomputer Centre Wuxi" (red team). Each is filed under its rarest word, which the
        # name must hold, so a name looks up only the names its own words can complete.
        frequency: dict[str, int] = defaultdict(int)
        for need, _ in containable:
            for w in need:
                frequency[w] += 1
        self._contained: dict[str, list[tuple[frozenset[str], int]]] = defaultdict(list)
        for need, idx in containable:
            self._contained[min(need, key=lambda w: (frequency[w], w))].append((need, idx))
        # Brand names glued to other words ("MooreThreads Technology", "Huaweii"): every brand's
        # distinctive words without spaces, five letters or more, searched for in one pass.
        brand_keys = [k for k in self._brand_compact if len(k) >= 5]
        self._brand_pattern = _KeyFinder(brand_keys) if brand_keys else None
        self._vocabulary = frozenset(w for ws in self._skeletons.values() for w in ws)
        # every word of an identity key: a name with none of them has no place-less match (one C test)
        self._placed_words = frozenset(w for k in self._placed for w in k.split())
        # the strong keys' words, under the least of them: a name holding all of them is that party
        # beside any other word ("Ruidakang Robotics" for "Beijing Ruidakang Technology")
        self._placed_strong: dict[str, list[tuple[frozenset[str], int]]] = defaultdict(list)
        for identity, placed in self._placed.items():
            if _strong_identity(identity):
                need = frozenset(identity.split())
                self._placed_strong[min(need)].extend((need, idx) for idx, _ in placed)
        self._word_memo: dict[str, tuple[str, str] | object | None] = dict.fromkeys(self._vocabulary)
        # Words known to need no repair (listed ones, numbers, and those found so): one subset test
        # answers the common name, every word of which is in it.
        self._clean: set[str] = set(self._vocabulary)
        # each brand word of five letters or more under itself and every one-deletion of it
        self._typo_index: dict[str, list[str]] = defaultdict(list)
        for w in sorted(self._typo_words):
            if len(w) >= 6 or (len(w) == 5 and w not in initialisms):
                for d in _deletions(w):
                    self._typo_index[d].append(w)
        # Tokens on very many names ("technology", "international") find nothing specific. Each
        # posting list is kept sorted by name length (with the lengths beside it, for bisection).
        # With each posting list, the names' word-sorted forms in the same order: a window of
        # candidates is then three slices, handed to rapidfuzz as they are.
        self._postings: dict[str, tuple[list[int], list[int], list[str]]] = {}
        for tok, ids in postings.items():
            if len(ids) <= common_token_cap:
                ordered = sorted(set(ids), key=lambda i: len(self._plain[i]))
                self._postings[tok] = (
                    [len(self._plain[i]) for i in ordered],
                    ordered,
                    [self._sorted[i] for i in ordered],
                )
        # _window for every length a name commonly has, looked up instead of computed per name
        self._bounds = [self._window(length) for length in range(256)]

    def _window(self, length: int) -> tuple[float, float, float]:
        """The near-match threshold of a normalized name of ``length`` characters, and the lengths that can reach it.

        A short name is a few letters: one edit in ten is already a ratio of 90, so below 12
        characters the threshold is 5 higher. A ratio of ``t`` needs lengths within
        ``t / (200 - t)`` of each other.
        """
        t = self.near_threshold if length >= 12 else min(100.0, self.near_threshold + 5)
        return t, length * t / (200 - t), length * (200 - t) / t

    def __len__(self) -> int:
        return len(self._names)

    def screen(self, name: str) -> list[Match]:
        """Every list entry this name matches, best first.

        The lists do not change once indexed, so results are remembered per name (the same
        tenants are screened in every manifest of a fleet); at most 4,096 names are kept.
        """
        hit = self._memo.get(name)
        if hit is None:
            found = self._screen(name)
            if _RTL_OVERRIDES.search(name):
                # "\u202eiewauH" shows as "Huawei": screen what a reader sees as well.
                seen = {(m.source.name, m.entry.id) for m in found}
                shown = [
                    Match(m.list, m.entry, m.matched_name, m.kind, m.score, name, m.source)
                    for m in self._screen(displayed(name))
                    if (m.source.name, m.entry.id) not in seen
                ]
                found = sorted([*found, *shown], key=_rank)
            plain = decoded(name)
            if plain is not None:
                # "Hu&#97;wei", "Hu%61wei": screen what the spelling stands for as well.
                seen = {(m.source.name, m.entry.id) for m in found}
                shown = [
                    Match(m.list, m.entry, m.matched_name, m.kind, m.score, name, m.source)
                    for m in self.screen(plain)
                    if (m.source.name, m.entry.id) not in seen
                ]
                found = sorted([*found, *shown], key=_rank)
            hit = tuple(found)
            if len(self._memo) >= 4096:
                self._memo.clear()
            self._memo[name] = hit
        return list(hit)

    def _screen(self, name: str) -> list[Match]:
        norm, squeezed, words = _normalize_folded(name.casefold() if name.isascii() else fold(name))
        if not norm:
            return []
        if self._clean.issuperset(words):  # the common name: every word known to need no repair
            return self._screen_norm(name, squeezed, norm, words)
        lookalike, typo = self._repairs(norm)
        if lookalike == typo == norm:
            return self._screen_norm(name, squeezed, norm, words)
        best = {
            (m.source.name, m.list, m.entry.id): m for m in self._screen_norm(name, squeezed, norm, words)
        }
        for variant, as_near in [(lookalike, False), (typo, True)]:
            if variant == norm or (as_near and variant == lookalike):
                continue
            for m in self._screen_norm(name, variant.replace(" ", ""), variant, variant.split()):
                if as_near:  # one typo away from a listed brand's word: a near match, for review
                    m = Match(m.list, m.entry, m.matched_name, "near", min(m.score, 90.0), name, m.source)
                key = (m.source.name, m.list, m.entry.id)
                old = best.get(key)
                if old is None or _rank(m) < _rank(old):
                    best[key] = m
        return sorted(best.values(), key=_rank)

    def _repairs(self, norm: str) -> tuple[str, str]:
        """The name with look-alike words put right, then with one-typo brand words put right as well.

        A word the lists do not have whose skeleton is a listed word's ("huawel", "allbaba",
        "sm1c") is that word. A word of five letters or more the lists do not have, one edit or
        one swap of neighbours from a brand list's distinctive word ("hauwei", "hikvison",
        "sopgho", "bytedanse"), is that word too, in the second form.
        """
        words = norm.split()
        clean = self._clean
        if clean.issuperset(words):
            return norm, norm
        memo = self._word_memo  # every listed word is in it, as None (nothing to repair)
        pairs: list[tuple[str, str]] | None = None
        if len(clean) >= len(self._vocabulary) + 65536:
            self._clean = clean = set(self._vocabulary)
        for i, w in enumerate(words):
            pair = memo.get(w, _UNSEEN)
            if pair is _UNSEEN and w.isdigit():  # a number ("Example 2") is no look-alike of a word
                clean.add(w)
            elif pair is _UNSEEN:
                found = self._repair_word(w)
                pair = None if found == (w, w) else found
                if len(memo) >= len(self._vocabulary) + 65536:
                    self._word_memo = memo = dict.fromkeys(self._vocabulary)
                memo[w] = pair
                if pair is None:
                    clean.add(w)
            if pair is not None and pair is not _UNSEEN:
                if pairs is None:
                    pairs = [(x, x) for x in words]
                pairs[i] = cast(tuple[str, str], pair)
        if pairs is None:  # the common case: nothing to repair
            return norm, norm
        return " ".join(a for a, _ in pairs), " ".join(b for _, b in pairs)

    def _repair_word(self, word: str) -> tuple[str, str]:
        """One word of a name put right: (its look-alike repair, that repair with one typo put right too)."""
        vocabulary = self._vocabulary
        if word in vocabulary:
            return word, word
        known = self._skeletons.get(skeleton(word)) or self._wide.get(skeleton_wide(word))
        if known:
            word = min(known, key=lambda k: (k not in self._typo_words, k))
            return word, word
        if len(word) >= 5:
            # one deletion from each side meet: a substitution, insertion, deletion or swap ("Zhipo",
            # "Zhippu", "Megvi", "Sohgo", "Inpur" are one edit from a brand word of five letters or more)
            near = {c for d in _deletions(word) for c in self._typo_index.get(d, ())}
            hit = min((c for c in near if OSA.distance(word, c) <= 1 and _typo_of(word, c)), default=None)
            if hit is not None:
                return word, hit
        return word, word

    def _add(
        self,
        found: dict[tuple[str, str, str], Match],
        idx: int,
        kind: Literal["exact", "alias", "near"],
        score: float,
        name: str,
    ) -> None:
        """Record a near match of indexed name ``idx``, unless its entry has a better one."""
        _, _, entry, original, info = self._names[idx]
        k = (info.name, entry.list_id, entry.id)
        old = found.get(k)
        if old is None or score > old.score or (kind == "exact" and old.kind != "exact"):
            found[k] = Match(entry.list_id, entry, original, kind, score, name, info)

    def _screen_norm(self, name: str, squeezed: str, norm: str, words: list[str]) -> list[Match]:
        """Matches of one normalized form of ``name`` (its ``words``); ``squeezed`` is its compact form (``compact``).

        A name with no candidate costs a few dictionary lookups, one pattern search and one
        rapidfuzz call, and makes no object but the window it hands to rapidfuzz.
        """
        found: dict[tuple[str, str, str], Match] = {}
        add = self._add
        exact = self._exact
        lookups: tuple[list[tuple[ListEntry, str, Literal["exact", "alias"], ListInfo]] | None, ...]
        if len(words) > 1:
            ordered_query = " ".join(sorted(words))
            glued = "".join(words)
            lookups = (
                exact.get(norm),
                exact.get(glued),
                exact.get(ordered_query),
                self._compact.get(squeezed),
            )
        else:
            ordered_query = glued = norm
            lookups = (exact.get(norm), self._compact.get(squeezed))
        if any(lookups):
            for hit in lookups:
                for entry, original, kind, info in hit or ():
                    k = (info.name, entry.list_id, entry.id)
                    if k not in found or (kind == "exact" and found[k].kind != "exact"):
                        found[k] = Match(entry.list_id, entry, original, kind, 100.0, name, info)
        # A listed name whose every word (stemmed; see _containment_words) stands in the name.
        contained = self._contained
        have = _containment_words(words)
        for w in have:
            for need, idx in contained.get(w, ()):
                if need <= have:
                    add(found, idx, "near", 90.0, name)
        # A brand entry whose distinctive words all appear in the name (its subsidiary).
        brands = self._brands
        if not brands.keys().isdisjoint(words):
            for w in words:
                for need, idx in brands.get(w, ()):
                    if need.issubset(words):
                        add(found, idx, "near", 100.0, name)
        if self._brand_pattern is not None:
            spans = self._brand_pattern.spans(glued)
            if spans:
                for found_brand in _glued_brands(name, squeezed, glued, words, spans, self._own_keys):
                    for idx in self._brand_compact[found_brand]:
                        add(found, idx, "near", 95.0, name)
        # A listed Chinese name with its place dropped ("Spaceon Technology Pte. Ltd." for "Chengdu
        # Spaceon Technology Co., Ltd."), or another place put in: the rest is the identity.
        if not self._placed_words.isdisjoint(words):
            rest = _placeless(words)
            identity = _identity_key(rest)
            placed = self._placed.get(identity) if identity else None
            if placed:
                strong = _strong_identity(identity)
                extra = {w for w in rest if w not in _AFFILIATE_WORDS and w not in _LINKING_WORDS}
                for idx, listed_rest in placed:
                    # one ordinary word: no word the listed rest lacks, and half of its words at least
                    # ("Spaceon", "Vast"; not "Sun" for Dalian Golden Sun Import and Export)
                    if strong or (
                        extra <= listed_rest and 2 * len(listed_rest.intersection(rest)) >= len(listed_rest)
                    ):
                        add(found, idx, "near", 90.0, name)
            for w in dict.fromkeys(words):
                for need, idx in self._placed_strong.get(w, ()):
                    if need.issubset(words):
                        add(found, idx, "near", 90.0, name)
        # The rest glued into one word ("SpaceonTechnology", "MeiyaPico"), an arm's words and places aside.
        glued_rest = self._placed_glued.get(glued)
        if (
            glued_rest is None
            and len(words) > 1
            and not _ARM_OR_PLACE.isdisjoint(words)
            and not self._vocabulary.issuperset(words)  # a glued rest is no listed word
        ):
            glued_rest = self._placed_glued.get(
                "".join(w for w in _placeless(words) if w not in _AFFILIATE_WORDS)
            )
        for idx in glued_rest or ():
            add(found, idx, "near", 90.0, name)
        # The threshold for a name of this length and the window of lengths that can reach it.
        t, lo, hi = self._bounds[len(norm)] if len(norm) < len(self._bounds) else self._window(len(norm))
        if not norm.isascii() and _CJK.search(norm):
            cands = {i for tok in tokens(norm) if (p := self._postings.get(tok)) is not None for i in p[1]}
            for i in cands:
                score = _score(norm, "", self._plain[i], "")
                if score >= t and _cjk_pair_placed(norm, self._plain[i]):
                    add(found, i, "near", score, name)
            return sorted(found.values(), key=_rank)
        # Only names within the length window can reach the threshold; each token's postings are
        # sorted by name length, so the window is two bisections per token.
        # Candidates come from the name's specific words (on at most COMMON names); a name with
        # none (its own word misspelt, the rest common) takes the window of its rarest word when
        # that window is small.
        windows: list[tuple[list[int], list[str]]] = []
        rarest: tuple[list[int], list[int], list[str]] | None = None
        for posting in map(self._postings.get, dict.fromkeys(words)):
            if posting is None:
                continue
            lengths, ids, forms = posting
            if len(ids) <= _COMMON:
                a, b = bisect_left(lengths, lo), bisect_right(lengths, hi)
                if a < b:
                    windows.append((ids[a:b], forms[a:b]))
            elif rarest is None or len(ids) < len(rarest[1]):
                rarest = posting
        if not windows and rarest is not None:
            a, b = bisect_left(rarest[0], lo), bisect_right(rarest[0], hi)
            if 0 < b - a <= _WIDE_WINDOW:
                windows.append((rarest[1][a:b], rarest[2][a:b]))
        if windows:
            if len(windows) == 1:  # the common case: one specific word
                latin, choices = windows[0]
            else:
                # The windows one after the other: a name several words proposed is scored more than
                # once (in C, cheaper than merging them in Python), and its first hit counts. Hits come
                # best first and, at equal scores, in this order, so each name is judged once, in the
                # order of its first window, as if the windows had been merged.
                latin, choices = [], []
                for ids, forms in windows:
                    latin += ids
                    choices += forms
            # Compared with their words sorted (a token-sort ratio, the sorted forms made once): word
            # order does not count, a typo does.
            hits = process.extract(ordered_query, choices, scorer=fuzz.ratio, score_cutoff=t, limit=None)
            if hits:
                q = _distinct_query(norm)
                distinct = self._distinct
                seen: set[int] = set()
                for _, score, pos in hits:
                    i = latin[pos]
                    if i in seen:
                        continue
                    seen.add(i)
                    if _distinct_close(q, distinct[i], t):
                        add(found, i, "near", float(score), name)
        if not found:
            return []
        return sorted(found.values(), key=_rank)

    def screen_party(self, names: Iterable[str]) -> list[Match]:
        """Screen a party and its parent chain: the best match per entry for each name.

        Every (name, entry) pair is kept, not one per entry: a tenant's match may be cleared
        as a homonym, or be one by its declared country, while its parent, spelt otherwise and
        declared elsewhere, matches the same entry as the listed party itself.
        """
        best: dict[tuple[str, str, str, str], Match] = {}
        for n in dict.fromkeys(names):
            for m in self.screen(n):
                key = (m.screened, m.source.name, m.list, m.entry.id)
                if key not in best or m.score > best[key].score:
                    best[key] = m
        return sorted(best.values(), key=_rank)


# Words that describe a line of business, a kind of body or a place, not a party: two names
# sharing only these are not alike ("National Development Investment Company" is not
# "National Supercomputing Center Wuxi"; "Wuxi Microelectronics Research Center" is not either).
_GENERIC_WORDS = frozenset(
    """
    technology technologies tech technical polytechnic polytechnical semiconductor semiconductors international
    group holding holdings systems
    system electronics electronic industries industrial global science sciences scientific information
    network networks software solutions services service trading manufacturing memory memories digital data
    cloud intelligent intelligence micro microelectronics computing computer communications communication
    telecommunications energy power shipping logistics engineering research development enterprise
    enterprises resources capital investment investments development instruments materials devices
    national center centre institute institution university academy college school laboratory laboratories
    lab labs bank banking finance financial insurance general import export imports exports commercial
    commerce industry factory plant works company corporation association organization organisation
    foundation agency bureau ministry department office council committee authority administration
    state public people peoples republic federal central regional provincial municipal city county
    new first united royal golden star east west north south eastern western northern southern middle
    trade trust partners partner management consulting consultants marine air aviation aerospace auto
    automotive machinery machine equipment supply supplies products product chemical chemicals petroleum
    oil gas mining metals metal steel construction transport transportation express travel media health
    medical pharmaceutical pharma bio biotech electric electrical optical optics precision advanced smart
    ai ltd co limited sea ocean mountain river and of for the
    mobile telecom telecoms unicom nuclear offshore containers container shipbuilding phoenix phenix tone
    yangtze guizhou
    china chinese beijing shanghai shenzhen guangzhou tianjin chongqing wuhan chengdu hangzhou nanjing
    wuxi suzhou xian hefei jinan qingdao dalian shenyang harbin changsha zhengzhou xiamen fuzhou kunming
    hong kong macau macao taiwan singapore malaysia asia asian pacific europe european america american
    russia russian moscow iran iranian tehran korea korean pyongyang syria syrian belarus minsk cuba
    venezuela india indian pakistan uae dubai emirates turkey hungary germany france japan uk usa us
    """.split()  # noqa: SIM905  # a block of words reads better than a list of 300 strings
)


_GENERIC_LIST = sorted(_GENERIC_WORDS)

# What a brand may be glued to and still be found (``_filler``): business words, places, legal forms,
# abbreviations, and the business words of Chinese names in pinyin (科技 keji, 技术 jishu, ...).
_GLUE_WORDS = frozenset(
    {
        *_GENERIC_WORDS,
        *_LEGAL_WORDS,
        *_JOINED_FORMS,
        *_ABBREVIATIONS,
        *(w for v in _ABBREVIATIONS.values() for w in v.split()),
        *"""
        keji jishu shuzi xinxi zhineng bandaoti jichengdianlu dianlu konggu chanye kaifa fazhan tongxin
        dianzi wangluo ruanjian chuangxin cunchu sheji zhizao guoji jisuan xinnengyuan zhongguo guojia
        yun tongxun xinpian shuju suanli weidianzi gongsi jituan youxian gufen
        """.split(),  # noqa: SIM905  # yun: 云, a brand's cloud (华为云 Huaweiyun, 百度云 Baiduyun)
    }
)
_GLUE_LONGEST = max(map(len, _GLUE_WORDS))

# Places a Chinese company name starts with ("深圳市海思半导体", "上海华为"), and 中国.
_CJK_PLACES = tuple(
    f"{p}{s}"
    for p in "中国 北京 上海 深圳 杭州 广州 天津 重庆 成都 武汉 南京 苏州 西安 合肥 无锡 香港 澳门".split()  # noqa: SIM905
    for s in ("市", "")
)


# Chinese provinces, and the cities and prefectures the lists' Chinese names start with, in pinyin
# as the lists write them (GB/T 2260 administrative divisions): "Chengdu Spaceon Technology" is
# Spaceon Technology of Chengdu. A place is a weak token: the rest of the name is the identity,
# and an overseas arm drops the place ("Spaceon Technology Pte. Ltd."). ``_placeless``.
_CN_PLACES = frozenset(
    """
    beijing tianjin shanghai chongqing hebei shanxi liaoning jilin heilongjiang jiangsu zhejiang anhui
    fujian jiangxi shandong henan hubei hunan guangdong hainan sichuan guizhou yunnan shaanxi gansu
    qinghai guangxi xizang tibet ningxia xinjiang neimenggu
    shenzhen guangzhou hangzhou nanjing suzhou wuhan chengdu xian hefei wuxi changsha qingdao xiamen
    dalian harbin jinan zhengzhou shenyang ningbo dongguan zhuhai foshan changchun taiyuan kunming
    fuzhou nanchang shijiazhuang changzhou dandong yiwu zhoushan jiangyin nantong yangzhou xuzhou
    wenzhou shaoxing jiaxing huzhou jinhua taizhou yantai weihai weifang zibo linyi baotou hohhot ordos
    urumqi karamay aksu kashgar hotan changji lanzhou xining yinchuan lhasa guiyang nanning guilin
    haikou sanya luoyang kaifeng anyang baoding tangshan langfang handan mianyang deyang zigong leshan
    yibin zhanjiang shantou huizhou zhongshan jiangmen quanzhou zhangzhou putian jingdezhen ganzhou
    yichang xiangyang zhuzhou xiangtan hengyang wuhu bengbu huainan ulanqab yanbian sansha pingtan
    changde chuzhou kunshan changshu zhangjiagang
    city province shi sheng
    """.split()  # noqa: SIM905  # a block of words reads better than a list of 150 strings
)
# places written as two words once punctuation is a space ("Xi'an", "Inner Mongolia", "Hong Kong")
_CN_PLACE_PAIRS = frozenset({("xi", "an"), ("inner", "mongolia"), ("hong", "kong"), ("ma", "anshan")})
_PLACE_FIRSTS = frozenset(a for a, _ in _CN_PLACE_PAIRS)
# What an overseas arm adds to the rest of a listed name and stays that name ("Spaceon Technology
# (Singapore)", "... International", "... Holdings"): where the rest is one ordinary word
# ("Vast", "Core"), any other word makes another company.
_AFFILIATE_WORDS = frozenset(
    """
    international global holding holdings group asia asian pacific overseas singapore malaysia sg hk
    hongkong hong kong macau macao trading trade investment investments company corporation limited ltd co
    """.split()  # noqa: SIM905
)


_LINKING_WORDS = frozenset({"and", "of", "the", "for"})
_ARM_OR_PLACE = _AFFILIATE_WORDS | _CN_PLACES | _PLACE_FIRSTS


def _placeless(words: Sequence[str]) -> list[str]:
    """``words`` without Chinese place names ("chengdu", "xi an", "city")."""
    if _CN_PLACES.isdisjoint(words) and _PLACE_FIRSTS.isdisjoint(words):
        return list(words)
    out: list[str] = []
    i = 0
    while i < len(words):
        if i + 1 < len(words) and (words[i], words[i + 1]) in _CN_PLACE_PAIRS:
            i += 2
        elif words[i] in _CN_PLACES:
            i += 1
        else:
            out.append(words[i])
            i += 1
    return out


def _identity_key(rest: Sequence[str]) -> str:
    """The distinctive words of a name without its places, sorted: what names the party ("meiya pico")."""
    return " ".join(sorted({w for w in rest if w not in _GENERIC_WORDS}))


def _strong_identity(key: str) -> bool:
    """Whether an identity key names one party whatever words surround it.

    Two distinctive words ("meiya pico"), or one romanized Chinese name of six letters or more
    ("ruidakang", "chuangyue"): a name holding all of its words is a near match, whatever else
    it holds ("Ruidakang Robotics"). One other word ("spaceon", and "vast", "core", "sun", "one")
    is only with no word the listed name lacks (``_AFFILIATE_WORDS`` aside): "Spaceon Technology
    (Singapore)" is Chengdu Spaceon Technology, "Vast.ai" is not Hubei Vast Chemical.
    """
    words = key.split()
    return len(words) >= 2 or (len(words) == 1 and len(key) >= 6 and _romanized(key))


def _cjk_pair_placed(query: str, candidate: str) -> bool:
    """Whether a two-character CJK name ("海思", "海光") stands as a word in ``query``.

    It must start the name or follow a leading place: "上海思源电气" holds 海思 across 上海 and
    思源 and is not HiSilicon; "深圳市海思半导体" is.
    """
    if len(candidate.replace(" ", "")) != 2 or candidate not in query:
        return True
    text = query.replace(" ", "")
    start = text.find(candidate)
    while start >= 0:
        if start == 0 or text[:start] in _CJK_PLACES:
            return True
        start = text.find(candidate, start + 1)
    return False


# For containment (Screener._contained): spellings and word forms a listed name's words take in a
# party's name without naming another party, and abbreviations a name writes for two words.
# (Normalization has written out the one-word abbreviations already: _ABBREVIATIONS, both sides.)
_SPELLINGS = {"centre": "center", "licence": "license", "organisation": "organization"}
_WRITTEN_OUT = {
    "ic": ("integrated", "circuit"),
    "semi": ("semiconductor",),
    "rd": ("research", "development"),
    "ai": ("artificial", "intelligence"),
    "it": ("information", "technology"),
}
_CONTAINMENT_STOP = _LINKING_WORDS | {"in", "at", "on", "de", "la"}


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    """A word's crude stem for containment: British spelling as American, plural and -ing/-er endings off."""
    word = _SPELLINGS.get(word, word)
    if len(word) > 5 and word.endswith("ies"):
        return word[:-3] + "y"
    for ending in ("ing", "ers", "er", "s"):
        if len(word) - len(ending) >= 4 and word.endswith(ending) and not word.endswith("ss"):
            return word[: -len(ending)]
    return word


def _containment_words(words: Sequence[str], *, written_out: bool = True) -> frozenset[str]:
    """A normalized name's words as containment compares them: stemmed, linking words aside.

    ``written_out``: a screened name's abbreviations stand for their words as well ("IC" for
    "integrated circuit"); a listed name's words are only themselves.
    """
    out: set[str] = set()
    for w in words:
        if w in _CONTAINMENT_STOP:
            continue
        out.add(_stem(w))
        if written_out:
            for part in _WRITTEN_OUT.get(w, ()):
                out.add(_stem(part))
    if written_out:  # a word written in two ("Wu Xi", "Semi Conductor") is that word as well
        out.update(_stem(a + b) for a, b in pairwise(words))
    return frozenset(out)


_GENERIC_STEMS = frozenset(_stem(w) for w in _GENERIC_WORDS)


def _specific_enough(need: frozenset[str]) -> bool:
    """Whether a listed name's containment words name a party wherever they all stand.

    Four words or more ("Semiconductor Manufacturing International Shenzhen": generic words,
    but not together); three, one of them not generic; or two, neither generic. None may be a
    letter or two: the initials and codes of the lists name nothing by themselves.
    """
    if any(len(w) < 3 for w in need):
        return False
    own = sum(1 for w in need if w not in _GENERIC_STEMS)
    return len(need) >= 4 or (len(need) == 3 and own >= 1) or (len(need) == 2 and own == 2)


def _distinctive(normalized: str) -> str:
    return " ".join(w for w in normalized.split() if w not in _GENERIC_WORDS)


def _score(query: str, q: str, candidate: str, c: str, *, brands: bool = False) -> float:
    """Similarity of two normalized names, given their distinctive words ``q`` and ``c``.

    Whole names are compared (plain and word-order-free), so "Analog Devices" is not "Analog
    Technology". Only on a brand list does a name that holds every distinctive word of an
    entry score 100 (a subsidiary carrying its parent's name): on the 25,921 legal names of
    the CSL that rule matches ordinary words ("Crown", "Arch", "Globe") in unrelated names.
    """
    if _CJK.search(candidate) or _CJK.search(query):
        return float(fuzz.partial_ratio(query, candidate)) if min(len(query), len(candidate)) >= 2 else 0.0
    if brands and c and q and len(c) >= 4 and set(c.split()) <= set(q.split()):
        return 100.0
    return float(max(fuzz.ratio(query, candidate), fuzz.token_sort_ratio(query, candidate)))


_PARTY_TYPES = frozenset({"entity", "organization", "company"})


BUNDLED_LISTS = {
    "csl": "csl-2026-07-31.json.gz",
    "1260h": "dod-1260h-2026-06-10.json.gz",
    "seed": "screening-seed.json",
}
"""Lists shipped with the package, by the name a policy uses; ``attest lists import --name`` replaces one."""


@lru_cache(maxsize=1)
def seed_list() -> ScreeningList:
    """The bundled, dated seed list: AI-relevant parties with their Chinese-script names, their pinyin and aliases."""
    data = resources.files("attest.policy").joinpath("data")
    seed = ScreeningList.from_json(
        data.joinpath("screening-seed.json").read_bytes(), what="bundled screening seed list"
    )
    # The pinyin of its Chinese-script names (scripts/build_seed_pinyin.py), as aliases: "Kuangshi Keji" is 旷视科技.
    romanized: dict[str, list[str]] = json.loads(data.joinpath("screening-seed-pinyin.json").read_bytes())
    for entry in seed.entries:
        entry.alt_names.extend(romanized.get(entry.id, ()))
    return seed


@cache
def bundled_list(name: str) -> ScreeningList:
    """A bundled list by name (``csl``, ``1260h``, ``seed``), read once per process."""
    if name == "seed":
        return seed_list()
    raw = resources.files("attest.policy").joinpath(f"data/{BUNDLED_LISTS[name]}").read_bytes()
    return read_list_file(gzip.decompress(raw), name=name, date=None, what=f"bundled list {name}")


def read_list_file(data: bytes, *, name: str, date: str | None, what: str = "list file") -> ScreeningList:
    """Any list file this package reads, by its shape.

    - the official Consolidated Screening List, JSON ``{"results": [...]}`` or CSV;
    - the compact CSL projection (``fieldKey``, ``tables``, ``entries``; SOURCES.md);
    - the DoD Section 1260H list as transcribed (``entities`` of name, aliases, country);
    - a list in this package's own format (``name``, ``date``, ``entries``).

    ``date`` is the list's date when the file does not carry one (the official CSL does not).
    """
    head = data[:4096].lstrip()
    if head.startswith(b"{"):
        doc = _json(data)
        if isinstance(doc, dict) and "fieldKey" in doc and "entries" in doc:
            return import_csl_projection(doc, name=name)
        if isinstance(doc, dict) and "entities" in doc:
            return import_1260h(doc, name=name)
        if isinstance(doc, dict) and "entries" in doc and "results" not in doc:
            return ScreeningList.from_obj({**doc, "name": name}, what=what)
    return import_csl(data, name=name, date=date or datetime.now(UTC).date().isoformat())


def _utf8(data: bytes) -> str:
    """A list file's text, unaltered.

    Bytes that are not UTF-8 are refused, never replaced: a name whose letters became U+FFFD
    would no longer match the entity it names.
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"the list file is not UTF-8 text (byte {exc.start}); its names would be altered",
            hint="re-save it as UTF-8 (e.g. iconv -f latin1 -t utf-8)",
        ) from None


def _json(data: bytes) -> Any:
    try:
        return json.loads(_utf8(data))
    except json.JSONDecodeError as exc:
        raise InputError(f"the list JSON does not parse: {exc.msg} at line {exc.lineno}") from None
    except (ValueError, RecursionError) as exc:  # a 5,000-digit number; nesting too deep
        raise InputError(f"the list JSON is not a list file: {exc}") from None


def _strings(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [v.strip() for v in value if v.strip()]
    raise InputError(f"{what} must be a list of strings")


def import_csl_projection(doc: dict[str, Any], *, name: str) -> ScreeningList:
    """Read the compact CSL projection (see ``SOURCES.md``: short keys, strings stored once in ``tables``)."""
    tables = doc.get("tables")
    entries_in = doc.get("entries")
    if not isinstance(tables, dict) or not isinstance(entries_in, list):
        raise InputError("the CSL projection needs a tables object and an entries list")
    sources = tables.get("sources")
    programmes = tables.get("programmes") or []
    if not isinstance(sources, list) or not isinstance(programmes, list):
        raise InputError("the CSL projection's tables need a sources list")
    generated = doc.get("sourceGeneratedAt")
    if not isinstance(generated, str) or len(generated) < 10:
        raise InputError("the CSL projection has no sourceGeneratedAt date")
    entries = []
    for n, row in enumerate(entries_in):
        if not isinstance(row, dict):
            raise InputError(f"the CSL projection's entry {n + 1} is not an object")
        primary = row.get("n")
        if not isinstance(primary, str):
            raise InputError(f"the CSL projection's entry {n + 1}: n (the name) must be a string")
        if not primary.strip():
            continue
        source_index = row.get("s")
        if not isinstance(source_index, int) or not 0 <= source_index < len(sources):
            raise InputError(
                f"the CSL projection's entry {n + 1} ({primary}): s is not an index into tables.sources"
            )
        source = str(sources[source_index])
        countries = _strings(row.get("c"), f"the CSL projection's entry {n + 1} ({primary}): c")
        pg = row.get("pg")
        pg_list = pg if isinstance(pg, list) else ([] if pg is None else [pg])
        programs = [str(programmes[i]) for i in pg_list if isinstance(i, int) and 0 <= i < len(programmes)]
        entries.append(
            ListEntry(
                id=f"{_list_slug(source)}-{row.get('e') or n}",
                list_id=_list_slug(source),
                name=primary.strip(),
                alt_names=_strings(row.get("a"), f"the CSL projection's entry {n + 1} ({primary}): a"),
                country=countries[0] if countries else None,
                countries=countries,
                added=None,
                programs=programs,
                source=source + (f" ({row['fr']})" if isinstance(row.get("fr"), str) else ""),
                type=row["t"] if isinstance(row.get("t"), str) else None,
            )
        )
    if not entries:
        raise InputError("the file holds no list entries")
    return ScreeningList(
        name=name,
        date=generated[:10],
        about=f"US Consolidated Screening List generated {generated[:16]}Z by the International Trade "
        f"Administration ({len(entries)} entries); compact projection, MIT licence",
        sources={"csl": str(doc.get("citation") or "U.S. Consolidated Screening List")},
        entries=entries,
    )


_COUNTRY_NAMES = {"china": "CN", "people's republic of china": "CN", "hong kong": "HK", "macau": "MO"}


def import_1260h(doc: dict[str, Any], *, name: str) -> ScreeningList:
    """Read the DoD Section 1260H list as transcribed (``effective_date``, ``entities``: name, aliases, country)."""
    effective = doc.get("effective_date")
    entities = doc.get("entities")
    if not isinstance(effective, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", effective):
        raise InputError("the 1260H list needs an effective_date (YYYY-MM-DD)")
    if not isinstance(entities, list):
        raise InputError("the 1260H list needs an entities list")
    entries = []
    for n, row in enumerate(entities):
        if not isinstance(row, dict) or not isinstance(row.get("name"), str) or not row["name"].strip():
            raise InputError(f"the 1260H entity {n + 1} needs a name")
        country_text = row.get("country")
        code = _COUNTRY_NAMES.get(str(country_text).casefold(), "CN") if country_text else "CN"
        entries.append(
            ListEntry(
                id=f"1260h-{n + 1}",
                list_id="1260h",
                name=row["name"].strip(),
                alt_names=_strings(row.get("aliases"), f"the 1260H entity {n + 1}: aliases"),
                country=code,
                countries=[code],
                added=effective,
                source=str(doc.get("federal_register") or "DoD Section 1260H list"),
            )
        )
    if not entries:
        raise InputError("the file holds no list entries")
    return ScreeningList(
        name=name,
        date=effective,
        about=f"{doc.get('list') or 'DoD Section 1260H list'}, {doc.get('federal_register') or ''} "
        f"({len(entries)} entities): Chinese military companies; a designation is not by itself a licence "
        "requirement",
        sources={"1260h": str(doc.get("federal_register") or "DoD Section 1260H list")},
        brands=True,
        entries=entries,
    )


_LIST_CODES = {
    "el": "entity-list",
    "sdn": "sdn",
    "uvl": "unverified-list",
    "meu": "meu-list",
    "dpl": "denied-persons-list",
    "dtc": "itar-debarred",
    "isn": "nonproliferation-sanctions",
    "ssi": "sectoral-sanctions",
    "plc": "palestinian-legislative-council",
    "cmic": "ns-cmic",
    "ns-mbs list": "ns-mbs",
    "cap": "capta",
}


def _list_slug(source: str) -> str:
    """A CSL source list's id: its code in parentheses ("Entity List (EL) - ..." is entity-list)."""
    code = re.search(r"\(([^)]+)\)", source)
    if code and code.group(1).casefold() in _LIST_CODES:
        return _LIST_CODES[code.group(1).casefold()]
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


_SCREENERS: dict[tuple[tuple[int, ...], float], tuple[Screener, list[ScreeningList]]] = {}


def screener_for(lists: Sequence[ScreeningList], *, near_threshold: float = 90.0) -> Screener:
    """One index per set of list objects and threshold, shared by every policy in the process.

    Indexing the bundled lists takes about a second; a test run or a collector loads the same
    policy many times. The lists are kept with the index, so their ids stay theirs.
    """
    key = (tuple(id(lst) for lst in lists), near_threshold)
    hit = _SCREENERS.get(key)
    if hit is None:
        if len(_SCREENERS) >= 16:
            _SCREENERS.clear()
        hit = (Screener(lists, near_threshold=near_threshold), list(lists))
        _SCREENERS[key] = hit
    return hit[0]


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
    text = _utf8(data)
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
                type=row["type"] if isinstance(row.get("type"), str) and row["type"] else None,
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


def _list_file(path: Path) -> ScreeningList:
    return ScreeningList.from_json(
        path.read_bytes(), what=f"screening list {path}", max_bytes=512 * 1024 * 1024
    )


def load_list(ref: str, lists_dir: Path | None) -> ScreeningList:
    """A list imported into ``lists_dir`` under ``ref``, else the bundled list ``ref``, else a path to a list file.

    Raises:
        InputError: the list is not found, cannot be read (naming the file and why), or is not a list.
    """
    try:
        if lists_dir is not None and (lists_dir / f"{ref}.json").is_file():
            imported = _list_file(lists_dir / f"{ref}.json")
            if imported.name != ref:  # `attest lists import --name REF` writes REF inside: placed by hand
                raise InputError(
                    f"{lists_dir / f'{ref}.json'} holds the list {imported.name!r}, not {ref!r}",
                    hint=f"import the list with: attest lists import FILE --name {ref}",
                )
            return imported
        if ref in BUNDLED_LISTS:
            return bundled_list(ref)
        if Path(ref).is_file():
            return _list_file(Path(ref))
    except OSError as exc:  # an unreadable lists directory or file: a configuration error, said as one
        where = exc.filename or lists_dir or ref
        raise InputError(f"cannot read screening list {ref!r} at {where}: {exc.strerror}") from None
    raise InputError(
        f"screening list {ref!r} is not imported",
        hint="import it with: attest lists import FILE --name " + ref,
    )
