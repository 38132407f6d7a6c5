"""Evidence in a manifest that a party is registered in the People's Republic of China.

A party declares its headquarters country; its own name and identifiers can contradict it. PRC
enterprise names follow one pattern (the Provisions on the Administration of Enterprise Name
Registration): administrative division, trade name, line of business, organizational form, so
"Beijing Lion Technology Co., Ltd." and 北京月之暗面科技有限公司 carry their place of registration.
Every PRC entity has an 18-character Unified Social Credit Code (GB 32100-2015) with a check digit.

Strong evidence (the headquarters rule counts the party as CN, at the rule's severity):

- an identifier whose scheme is ``uscc`` (the code is issued only to PRC-registered entities;
  its check digit is reported, valid or not: the declaration itself names a PRC registration);
- an English name that starts with a PRC province or major city, or holds one in brackets before
  its legal form ("Moore Thread Intelligent Technology (Beijing) Co., Ltd."), and ends with the
  PRC legal form "Co., Ltd." (or "Company Limited", "Co., Limited");
- a Chinese-script name that starts with, or brackets, a PRC place and ends with 有限公司,
  股份有限公司 or 有限责任公司.

Weak evidence (a warning: declare the principal place of business): a Chinese-script name with
one of those legal forms and no PRC place (Hong Kong, Taiwan, Singapore and Malaysia companies
write such names too, so none is taken from a party declared there), and an identifier of
another scheme that has the shape and check digit of a USCC.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from attest.model.manifest import Identifier
from attest.policy.screening import fold

# GB 32100-2015: 31 characters (no I, O, Z, S, V), weights 3^i mod 31 for the first 17.
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_SHAPE = re.compile(r"^[1-9ANY][1-9A-Z0-9]\d{6}[0-9A-HJ-NP-RT-UW-Y]{10}$", re.ASCII)


def uscc_valid(value: str) -> bool:
    """Whether ``value`` is a Unified Social Credit Code with a correct check digit (GB 32100-2015)."""
    code = value.strip().upper()
    if len(code) != 18 or not _USCC_SHAPE.match(code) or any(c not in _USCC_CHARS for c in code):
        return False  # (the shape lets I, O, S, V and Z through in the second place: no code has them)
    total = sum(_USCC_CHARS.index(c) * w for c, w in zip(code[:17], _USCC_WEIGHTS, strict=True))
    return _USCC_CHARS[(31 - total % 31) % 31] == code[17]


# Provinces, municipalities and major cities of the PRC, as English names write them.
_PLACES = frozenset(
    """
    beijing shanghai tianjin chongqing shenzhen guangzhou hangzhou nanjing suzhou wuxi chengdu wuhan
    xian xi'an hefei changsha zhengzhou jinan qingdao dalian shenyang harbin xiamen fuzhou kunming
    ningbo dongguan foshan zhuhai changzhou nantong wenzhou shijiazhuang taiyuan nanchang nanning
    guiyang lanzhou urumqi hohhot yinchuan xining haikou sanya zhongshan huizhou
    guangdong jiangsu zhejiang shandong hebei henan hubei hunan sichuan fujian anhui liaoning jilin
    heilongjiang shaanxi shanxi jiangxi yunnan guizhou guangxi hainan gansu qinghai ningxia xinjiang
    tibet yantai weifang tangshan xuzhou yangzhou shaoxing jiaxing taizhou quanzhou zibo linyi
    baotou luoyang yichang xiangyang zhuzhou hengyang liuzhou guilin mianyang
    """.split()  # noqa: SIM905  # a block of names reads better than a list of 80 strings
)
_FORM = r"(?:co\.?,?\s*ltd\.?|co\.?,?\s*limited|company\s+limited|company\s+ltd\.?)"
_EN_FORM = re.compile(rf"\b{_FORM}\s*$", re.IGNORECASE)
_EN_BRACKETED = re.compile(rf"\(\s*([a-z' ]+?)\s*\)\s*{_FORM}\s*$", re.IGNORECASE)
_TRAILING_NOTE = re.compile(r"\s*\([^()]*\)\s*$")  # "(Singapore Branch)" after the legal form
_TWO_WORD_PLACES = ("inner mongolia",)
_CJK_PLACES = [
    "北京",
    "上海",
    "天津",
    "重庆",
    "深圳",
    "广州",
    "杭州",
    "南京",
    "苏州",
    "无锡",
    "成都",
    "武汉",
    "西安",
    "合肥",
    "长沙",
    "郑州",
    "济南",
    "青岛",
    "大连",
    "沈阳",
    "哈尔滨",
    "厦门",
    "福州",
    "昆明",
    "宁波",
    "东莞",
    "佛山",
    "珠海",
    "广东",
    "江苏",
    "浙江",
    "山东",
    "河北",
    "河南",
    "湖北",
    "湖南",
    "四川",
    "福建",
    "安徽",
    "辽宁",
    "吉林",
    "黑龙江",
    "陕西",
    "山西",
    "江西",
    "云南",
    "贵州",
    "广西",
    "海南",
    "甘肃",
    "青海",
    "内蒙古",
    "宁夏",
    "新疆",
    "西藏",
    "烟台",
    "潍坊",
    "唐山",
    "徐州",
    "扬州",
    "绍兴",
    "嘉兴",
    "台州",
    "泉州",
    "淄博",
    "临沂",
    "包头",
    "洛阳",
    "宜昌",
    "襄阳",
    "株洲",
    "衡阳",
    "柳州",
    "桂林",
    "绵阳",
    "中山",
    "惠州",
    "常州",
    "南通",
    "温州",
    "石家庄",
    "太原",
    "南昌",
    "南宁",
    "贵阳",
    "兰州",
    "乌鲁木齐",
    "呼和浩特",
    "银川",
    "西宁",
    "海口",
    "三亚",
]
_CJK_FORMS = ("股份有限公司", "有限责任公司", "有限公司")
# Where companies write Chinese-script names with these forms themselves (weak evidence is not taken)
CHINESE_SCRIPT_COUNTRIES = frozenset({"CN", "HK", "MO", "TW", "SG", "MY"})


# Names of the scheme as manifests write it (compared case-free, hyphens and underscores as spaces)
_USCC_SCHEMES = frozenset(
    {"uscc", "usci", "unified social credit code", "unified social credit identifier", "tyshxydm"}
)


@dataclass(frozen=True)
class RegistrationEvidence:
    """One sign that a party is registered in the PRC: how strong, and what it is, for the finding."""

    strong: bool
    what: str


def prc_registration(
    name: str, identifiers: Sequence[Identifier], declared: str
) -> list[RegistrationEvidence]:
    """The signs in a party's own name and identifiers that it is registered in the PRC (see the module docstring)."""
    out: list[RegistrationEvidence] = []
    for ident in identifiers:
        valid = uscc_valid(ident.value)
        if " ".join(ident.scheme.casefold().replace("-", " ").replace("_", " ").split()) in _USCC_SCHEMES:
            check = "its check digit is valid" if valid else "its check digit does not verify"
            out.append(
                RegistrationEvidence(
                    True, f"a PRC Unified Social Credit Code identifier {ident.value!r} ({check})"
                )
            )
        elif valid:
            out.append(
                RegistrationEvidence(
                    False,
                    f"identifier {ident.scheme}:{ident.value} has the shape and check digit of a PRC Unified Social Credit Code",
                )
            )
    # Folded first (look-alike letters, invisible characters, full-width forms, Traditional Chinese):
    # "Веijing" with a Cyrillic В is Beijing here as it is to the screener. A name may hold both
    # scripts ("北京蓝港计算有限公司 (Blue Harbor Computing)"): each part is read for itself.
    text = " ".join(fold(name).replace("’", "'").split())
    latin = " ".join(w for w in text.split() if w.isascii())
    if latin:
        out += _english_evidence(latin)
    cjk = re.sub(r"\(\s*\)|（\s*）", "", "".join(ch for ch in text if not (ch.isascii() and ch not in "()")))
    if cjk:
        out += _chinese_evidence(cjk, declared)
    return out


def _english_evidence(text: str) -> list[RegistrationEvidence]:
    form = _EN_FORM.search(text)
    if form is None:  # the legal form may come before a bracketed note: "... Co., Ltd. (Singapore Branch)"
        text = _TRAILING_NOTE.sub("", text)
        form = _EN_FORM.search(text)
    if form is None:
        return []
    lowered = text.casefold()
    first = re.split(r"[\s,()\-]+", lowered, maxsplit=1)[0]
    place = first if first in _PLACES else next((p for p in _TWO_WORD_PLACES if lowered.startswith(p)), None)
    bracketed = _EN_BRACKETED.search(text)
    if place is None and bracketed is not None and bracketed.group(1).casefold() in _PLACES:
        place = bracketed.group(1).casefold()
    if place is None:
        return []
    return [
        RegistrationEvidence(
            True,
            f"its name is a PRC enterprise name: a PRC place ({place.title()}) and the legal form {form.group().strip()!r}",
        )
    ]


def _chinese_evidence(text: str, declared: str) -> list[RegistrationEvidence]:
    folded = "".join(text.split())
    form_cjk = next((f for f in _CJK_FORMS if folded.endswith(f)), None)
    if form_cjk is None:
        return []
    head = folded.lstrip("(（")
    place_cjk = next(
        (p for p in _CJK_PLACES if head.startswith(p) or f"({p})" in folded or f"（{p}）" in folded), None
    )
    if place_cjk is not None:
        return [
            RegistrationEvidence(
                True,
                f"its name is a PRC enterprise name: a PRC place ({place_cjk}) and the legal form {form_cjk}",
            )
        ]
    if declared not in CHINESE_SCRIPT_COUNTRIES:
        return [RegistrationEvidence(False, f"its Chinese-script name ends with the legal form {form_cjk}")]
    return []
