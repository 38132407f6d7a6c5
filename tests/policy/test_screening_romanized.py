"""The security review of tenant screening: pinyin, local scripts, brands and five-letter typos.

Each name below came back ``affirming`` as a tenant declared in SG, and ``attest screen NAME``
exited 0. Pinyin aliases are data (``scripts/build_seed_pinyin.py``, pypinyin at build time).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from attest.policy.screening import Screener, bundled_list, screener_for
from tests.conftest import REPO

# name, the seed entry it must find, and how: exact/alias (exit 3) or near (exit 1)
FOUND = [
    ("Hangzhou Haikang Weishi Digital Technology Co., Ltd.", "el-hikvision", "alias"),
    ("Kuangshi Technology Pte. Ltd.", "el-megvii", "alias"),
    ("Kuangshi Keji", "el-megvii", "alias"),
    ("Shangtang Technology", "1260h-sensetime", "alias"),
    ("Shangtang Keji", "1260h-sensetime", "alias"),
    ("Langchao Jituan", "el-inspur", "alias"),
    ("Hanwuji", "el-cambricon", "alias"),
    ("Keda Xunfei", "el-iflytek", "alias"),
    ("Moer Xiancheng", "el-moore-threads", "alias"),
    ("ファーウェイ・ジャパン株式会社", "el-huawei-japan", "alias"),
    ("화웨이테크놀러지스코리아 주식회사", "el-huawei", "near"),
    ("Aliyun", "p1260h-alibaba", "alias"),
    ("Zhippu AI", "el-zhipu", "near"),
    ("Zhipo AI", "el-zhipu", "near"),
    ("Biran Technology", "el-biren", "near"),
    ("Sohgo", "el-sophgo", "near"),
    ("Megvi", "el-megvii", "near"),
    ("Inpur", "el-inspur", "near"),
]


@pytest.fixture(scope="module")
def full() -> Screener:
    return screener_for([bundled_list("csl"), bundled_list("1260h"), bundled_list("seed")])


@pytest.mark.parametrize(("name", "entry", "kind"), FOUND, ids=[n for n, _, _ in FOUND])
def test_romanized_local_script_brand_and_typo_names_find_their_entry(full: Screener, name: str, entry: str, kind: str) -> None:
    hits = [m for m in full.screen(name) if m.source.name == "seed" and m.entry.id == entry]
    assert hits, [(m.entry.id, m.kind) for m in full.screen(name)]
    if kind == "near":
        assert hits[0].kind == "near"
    else:
        assert hits[0].kind in ("exact", "alias"), hits[0]


@pytest.mark.parametrize("name", ["Costco Wholesale Corporation", "Atlas Copco AB", "POSCO Holdings Inc.", "Saudi Basic Industries Corporation", "Zhips", "Bien Technology"])
def test_five_letter_brand_words_take_only_romanization_edits(name: str) -> None:
    """One edit in five letters is another word ("Cosco" is one from Costco, Copco, Posco): not a match."""
    brands = screener_for([bundled_list("1260h"), bundled_list("seed")])
    assert brands.screen(name) == []


def test_the_pinyin_aliases_are_the_build_scripts_output() -> None:
    pytest.importorskip("pypinyin")
    proc = subprocess.run([sys.executable, "scripts/build_seed_pinyin.py", "--check"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_attest_screen_exits_by_what_it_found(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ATTEST_DEBUG"}
    env["ATTEST_LISTS_DIR"] = str(tmp_path / "no-imported-lists")
    names = [n for n, _, _ in FOUND]
    for name, _, kind in FOUND:
        proc = subprocess.run([sys.executable, "-m", "attest.cli.main", "screen", name], capture_output=True, text=True, env=env, timeout=300)
        assert "Traceback" not in proc.stderr
        assert proc.returncode == (1 if kind == "near" else 3), (name, proc.returncode, proc.stdout, proc.stderr)
    assert len(names) == 18
