"""Brand words glued inside other words: found where a brand was glued, not where its letters merely occur.

The glued search ("MooreThreads Technology", "xyzHuaweiCloud", "Huaweii") looks for every brand
key inside the name with its spaces removed. Short keys (five letters: Haisi, Baidu, Hesai,
Autel) and the pinyin the seed's romanization generated (Yiyuan, Zhongxin, Changxin) are the
letters of countless other names: "Baiduri Bank" (Brunei), "Zhongxing" (ZTE's pinyin, 中兴),
"Changxing" (长兴, a county). Such a key is found glued only where what it is glued to is made
of business words, places, legal forms, digits or their pinyin ("HaisiSemiconductor",
"ShenzhenHaisi", "Huaweiyun"), at a capital letter inside the word as written ("XyzBaidu"), or
beside its own letter doubled ("Baiduu"). A key of six letters or more is found anywhere, as
before ("xyzHuaweiCloud"), except where the letters glued to an alias or romanization make a
longer romanized name ("Yiyuanda", "Feitengda") or turn a last -n into -ng ("Zhongxing",
"Changxing"); the name a list gives the party, glued to other syllables, is still it ("Huaweida").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from attest.model.result import Status
from attest.policy.screening import Screener, bundled_list, screener_for
from tests.policy.evasion import GLUED_UNRELATED, assert_screen_exits, glued_forms
from tests.policy.test_homonyms import screening, verdict


@pytest.fixture(scope="module")
def full() -> Screener:
    return screener_for([bundled_list("csl"), bundled_list("1260h"), bundled_list("seed")])


@pytest.mark.parametrize("name", GLUED_UNRELATED)
def test_a_short_or_romanized_alias_inside_another_word_is_no_finding(full: Screener, name: str) -> None:
    """Each of these was a near match of 95 (or of 90, by the one-typo repair: Zhongxing, Changxing)."""
    assert full.screen(name) == [], [(m.entry.id, m.kind, m.score, m.matched_name) for m in full.screen(name)]


# Evasions the glued search exists for: the brand glued to a business word, a place, a legal form,
# another brand, a number; in CamelCase after any word; one typo; look-alike letters of other
# scripts, full-width forms and zero-width characters inside the glued word. Each must stay the
# near match of 95 it was before (the entry's id in the list named).
GLUED = [
    # a listed brand's own spelling of six letters or more: anywhere, as before
    ("xyzHuaweiCloud", "seed", "el-huawei"),
    ("HuaweiTechnologies", "seed", "el-huawei"),
    ("Huaweii Trading", "seed", "el-huawei"),
    ("MooreThreads Technology", "seed", "el-moore-threads"),
    ("QzxSophgoNet", "seed", "el-sophgo"),
    ("TheSophgoAndHygonGroup", "seed", "el-hygon"),
    # short keys and generated pinyin: glued to business words, places, legal forms, brands, digits
    ("HaisiSemiconductor", "seed", "el-hisilicon"),
    ("ShenzhenHaisi Trading", "seed", "el-hisilicon"),
    ("HaisiKeji", "seed", "el-hisilicon"),
    ("Haisi2 Trading", "seed", "el-hisilicon"),
    ("BaiduCloud Services", "1260h", "1260h-9"),
    ("BeijingBaiduTechnology", "1260h", "1260h-9"),
    ("HesaiGroupLimited", "1260h", "1260h-54"),
    ("AutelTechnologyCo", "1260h", "1260h-5"),
    ("YiyuanCommunicationTech", "seed", "1260h-quectel"),
    ("ZhongxinGuojiTrading", "seed", "el-smic"),
    ("ChangxinMemoryTech", "seed", "1260h-cxmt"),
    ("DajiangGroup", "seed", "el-dji"),
    # a brand glued to the pinyin of its cloud or its trade (云 yun, 通讯 tongxun, 芯片 xinpian): the
    # name of the brand's own business, not a longer romanized name (Huawei Cloud is 华为云)
    ("Huaweiyun Pte. Ltd.", "seed", "el-huawei"),
    ("Huaweitongxun Pte. Ltd.", "seed", "el-huawei"),
    ("Baiduyun Technology Pte. Ltd.", "1260h", "1260h-9"),
    ("Alibabayun Pte. Ltd.", "1260h", "1260h-4"),
    ("HaisiXinpian Trading", "seed", "el-hisilicon"),
    # a party's own Latin name (not a romanization generated from its Chinese name) glued to any
    # syllables: what an evader writes ("Huaweida"), not another romanized name
    ("Huaweida Pte. Ltd.", "seed", "el-huawei"),
    ("Huaweixin Pte. Ltd.", "seed", "el-huawei"),
    ("Huaweiyuan Technology Pte. Ltd.", "seed", "el-huawei"),
    ("Alibabada Pte. Ltd.", "1260h", "1260h-4"),
    # the trade-off: an unrelated romanized name holding a listed party's own name is reviewed
    # (mengsheng, 1260H's Chengdu Mengsheng Electronic Technology) -- no letter tells it from "Huaweida"
    ("Mengshengxing Tea", "1260h", "1260h-20"),
    # CamelCase: a capital inside the word marks where the brand starts or ends
    ("XyzBaidu", "1260h", "1260h-9"),
    ("BaiduXyz Holdings", "1260h", "1260h-9"),
    ("QwertyHaisiPlatform", "seed", "el-hisilicon"),
    ("KaiyuanYiyuanTrading", "seed", "1260h-quectel"),
    ("XYZBaiduCloud", "1260h", "1260h-9"),
    ("XyzВaidu", "1260h", "1260h-9"),  # Cyrillic Ve, after a capital
    # one letter doubled where the key is glued on: the typo the glued search found at 95
    ("Baiduu Trading", "1260h", "1260h-9"),
    ("HHaisi Trading", "seed", "el-hisilicon"),
    ("COSCOO Shipping", "1260h", "1260h-25"),
    ("Casicc Group", "1260h", "1260h-21"),
    ("Ningchangxinxichanyee", "seed", "el-nettrix"),
    # other scripts' look-alikes, full-width letters, zero-width characters inside the glued word
    ("ВaiduCloud", "1260h", "1260h-9"),  # Cyrillic Ve
    ("ΗaisiSemiconductor", "seed", "el-hisilicon"),  # Greek Eta
    ("ＨａｉｓｉＳｅｍｉｃｏｎｄｕｃｔｏｒ", "seed", "el-hisilicon"),  # full-width
    ("Ha\u200bisiSemiconductor", "seed", "el-hisilicon"),  # zero-width space
    ("Hua\u200dweiCloud", "seed", "el-huawei"),  # zero-width joiner
    ("ＨｕａｗｅｉＣｌｏｕｄ", "seed", "el-huawei"),
]


@pytest.mark.parametrize(("name", "source", "entry"), GLUED, ids=[n for n, _, _ in GLUED])
def test_a_brand_glued_to_business_words_places_or_camel_case_is_still_found(
    full: Screener, name: str, source: str, entry: str
) -> None:
    hits = [m for m in full.screen(name) if m.source.name == source and m.entry.id == entry]
    assert hits, [(m.source.name, m.entry.id, m.kind, m.score) for m in full.screen(name)]
    assert hits[0].kind in ("exact", "alias") or hits[0].score >= 95, hits[0]


def test_every_brand_key_glued_as_an_evasion_writes_it_is_found(full: Screener) -> None:
    """Every brand key, glued as ``glued_forms`` writes it, finds its entry at 95; lower-case letters
    glued to a five-letter key are the shape of unrelated names (Baiduri, Zhaisi) and are left out."""
    short_only = {"letters-before", "letters-after", "capitals-before"}
    missed = []
    keys = sorted(k for k in full._brand_compact if len(k) >= 5)
    assert len(keys) > 150
    for key in keys:
        want = {full._names[i][2].id for i in full._brand_compact[key]}
        for how, name in glued_forms(key):
            if how == "inserted" or (len(key) == 5 and how in short_only):
                continue
            if not any(m.entry.id in want and (m.kind != "near" or m.score >= 95) for m in full.screen(name)):
                missed.append((key, how, name))
    assert missed == []


@pytest.mark.parametrize(
    ("name", "country", "status"),
    [
        ("Baiduri Bank Berhad", "BN", Status.AFFIRMING),  # was a near match of Baidu: a warning
        ("Zhongxing Trading", "SG", Status.AFFIRMING),  # was a near match of SMIC
        ("BaiduCloud Services", "SG", Status.WARNING),  # Baidu (1260H) glued to business words
        ("XyzHaisi Trading", "SG", Status.WARNING),  # HiSilicon (Entity List) after a capital: confirm identity
        ("Changxing Logistics", "SG", Status.AFFIRMING),  # -ng: another syllable than ChangXin's -n
        ("Yiyuanda Foods", "SG", Status.AFFIRMING),  # Quectel's generated pinyin inside a longer name
        ("Huaweiyun Pte. Ltd.", "SG", Status.WARNING),  # Huawei Cloud (华为云): not a Singaporean stranger
        ("Huaweida Pte. Ltd.", "SG", Status.WARNING),
    ],
)
def test_a_tenant_is_judged_by_the_brand_glued_in_its_name_not_by_letters_inside_a_word(
    name: str, country: str, status: Status
) -> None:
    got, findings = verdict(name, country)
    assert got is status, [(f.severity.value, f.message) for f in findings]
    near = [f for f in screening(findings) if f.evidence["kind"] == "near"]
    assert bool(near) == (status is not Status.AFFIRMING), [f.message for f in near]


def test_attest_screen_exits_0_on_an_alias_glued_inside_another_word_and_1_on_a_glued_brand(
    tmp_path: Path,
) -> None:
    assert_screen_exits(
        tmp_path,
        [
            ("Baiduri Bank Berhad", 0),
            ("Zhongxing Trading", 0),
            ("BaiduCloud Services", 1),
            ("XyzBaidu", 1),
        ],
    )
