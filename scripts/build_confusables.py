"""Rebuild ``attest/policy/data/confusables-latin.json``: look-alikes of Latin letters and digits.

Source: Unicode Technical Standard #39 ``confusables.txt`` as carried (parsed, as JSON) by the
PyPI package ``confusable-homoglyphs`` (a build-time source only; nothing here is a run-time
dependency). The output maps every non-ASCII character that TR39 lists as confusable with one
ASCII letter or digit to that character in lower case, which is the part of a TR39 skeleton a
name screen needs: "Hu\u0430wei" with a Cyrillic a (U+0430) becomes "huawei". Letters win over
digits (Cyrillic capital O, U+041E, is "o", not "0"); a character confusable with two letters
takes the first in alphabetical order (a capital I or iota is an i, as case folding makes the
Latin one), on both sides of every comparison, so the choice cannot split a match.

Usage (from the repository root)::

    pip install confusable-homoglyphs==3.3.1
    python scripts/build_confusables.py
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

from confusable_homoglyphs import confusables  # type: ignore[import-untyped]

OUT = Path(__file__).resolve().parent.parent / "attest" / "policy" / "data" / "confusables-latin.json"


def build() -> dict[str, str]:
    """Non-ASCII character → the ASCII letter or digit (lower case) it can pass for."""
    targets: dict[str, set[str]] = {}
    for key, homoglyphs in confusables.confusables_data.items():
        if not (len(key) == 1 and key.isascii() and key.isalnum()):
            continue
        for h in homoglyphs:
            c = h["c"]
            if len(c) == 1 and not c.isascii():
                targets.setdefault(c, set()).add(key.lower())
    out = {}
    for char, keys in targets.items():
        letters = sorted(k for k in keys if k.isalpha())
        out[char] = letters[0] if letters else sorted(keys)[0]
        # TR39 folds capital I into l; names are compared after case folding, where an I is an i.
        name = unicodedata.name(char, "")
        if out[char] == "l" and ("IOTA" in name or re.search(r"\bI\b", name)):
            out[char] = "i"
    return dict(sorted(out.items()))


def main() -> None:
    """Write the table."""
    table = build()
    doc = {
        "about": "Unicode TR39 confusables.txt: non-ASCII look-alikes of ASCII letters and digits, "
        "mapped to the lower-case ASCII character (scripts/build_confusables.py)",
        "source": "confusables.txt via confusable-homoglyphs 3.3.1",
        "license": "Unicode License v3 (https://www.unicode.org/license.txt)",
        "map": table,
    }
    OUT.write_text(json.dumps(doc, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    print(f"{len(table)} characters -> {OUT}")


if __name__ == "__main__":
    main()
