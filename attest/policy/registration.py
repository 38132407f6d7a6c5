"""Evidence in a manifest that a party is registered in the People's Republic of China.

A party declares its headquarters country; its own name and identifiers can contradict it. PRC
enterprise names follow one pattern (the Provisions on the Administration of Enterprise Name
Registration): administrative division, trade name, line of business, organizational form, so
"Beijing Lion Technology Co., Ltd." and 北京月之暗面科技有限公司 carry their place of registration.
Every PRC entity has an 18-character Unified Social Credit Code (GB 32100-2015) with a check digit.

Hong Kong and Macau names are read as PRC names: the bundled policies count both as the PRC
(``territories``), and a Hong Kong company declared elsewhere hides the same way.

Strong evidence (the headquarters rule counts the party as CN, at the rule's severity):

- an identifier whose scheme is a USCC's (``uscc``, ``cn-uscc``, 统一社会信用代码, in any case,
  width or with invisible characters), or whose scheme names the PRC (``cn-tax-id``) and whose
  value is a valid USCC, or whose scheme names one among other words (``USCC No.``,
  ``uscc_cn``, ``zh-uscc``, 信用代码, 营业执照), or whose value is a valid USCC marked as the
  PRC's (``CN914403…``, ``914403… (PRC)``; the letter O typed for 0 read as 0):
  the code is issued only to PRC-registered entities; its check digit
  is reported, valid or not (the declaration itself names a PRC registration);
- an English name that starts with a PRC province or city (modern pinyin, also spaced:
  "Shen Zhen"; official forms: Xizang, Nei Mongol; county-level cities: Yiwu, Kunshan) or Hong
  Kong or Macau (also Xianggang, Aomen), and ends with the PRC legal form "Co., Ltd." (or
  "Corp., Ltd.", "Company Limited", "Corporation Limited", "Limited (Liability) Company");
- an English name that holds such a place in brackets, or just before its legal form, and
  ends with that form or "Limited" ("Moore Thread Intelligent Technology (Beijing) Co., Ltd.",
  "Acme Technology (Hong Kong) Limited", "Sunshine Logistics Shenzhen Co Ltd": the naming of a
  company registered there);
- a branch in such a place of a company whose name ends with that form ("Acme Technology Co.,
  Ltd. Shenzhen Branch");
- a name written in pinyin that holds the word of a Chinese institution (Daxue 大学, Xueyuan 学院,
  Yanjiuyuan 研究院, Yanjiusuo 研究所, Kexueyuan 科学院, Shiyanshi 实验室, Gongda 工大; spaced or
  glued too; Wade-Giles Ta-hsueh 大學, Hsueh-yuan 學院): "Haerbin Gongye
  Daxue" is 哈尔滨工业大学 (a warning from a party declared in TW; a company's form in pinyin with
  no PRC place, Gongsi 公司 or Jituan 集团, a warning);
- a Chinese-script name that starts with, or brackets, a PRC place (香港, 澳门 too) and ends with
  有限公司, 股份有限公司, 有限责任公司, 合伙企业, 集团 or 公司, or a branch (分公司, 办事处, 代表处)
  of such a company or in such a place (深圳市…有限公司新加坡分公司, …有限公司深圳分公司).

Weak evidence (a warning: declare the principal place of business):

- an English name with such a place first and another legal form ("Shenzhen Acme Technology
  Ltd.", "Inc.", "Corporation", "Group"; "Limited" alone is also the form of the UK, Ireland
  and Hong Kong itself), or in brackets with a form other than "Limited";
- an older or shared spelling of a PRC place (Peking, Canton, Hangchow, Tsingtao; Dali, Aksu;
  the initials HK) with any legal form: "Canton Road Holdings Ltd." and "Peking Duck House Ltd." are warnings;
- "China" first ("China Acme Technology Co., Ltd.") or "of China" last before a legal form,
  except from a party declared in TW (China Steel, China Airlines, China Motor are Taiwanese);
- a branch in a PRC place of a company with another form ("Acme Pte. Ltd. Shanghai Branch");
- a Chinese-script name with one of those legal forms and no PRC place (Hong Kong, Taiwan,
  Singapore and Malaysia companies write such names too, so none is taken from a party
  declared there);
- an identifier of another scheme (``tax-id``, ``uen``, ``lei``) that, once its separators and
  invisible characters are gone and its digits folded to ASCII, has the shape and check digit
  of a USCC, as when written compactly (also with the letter O typed for 0).

Read the same way (strong): the name without quotes, end punctuation or a leading "The"
("「深圳市…有限公司」", "“Beijing … Co., Ltd.”;"), middle dots as spaces, square brackets as round,
each part of "… Co., Ltd./Singapore"; offices as branches ("Singapore Office", "Liaison Office",
"Singapore Br.", 深圳市…有限公司(新加坡分公司)); a Chinese-script PRC place among English words
("深圳 Acme … Co., Ltd.", "Acme … (深圳) Co., Ltd."); the pinyin form "Youxian (Zeren) Gongsi";
districts and zones (Pudong, Haidian, Xiong'an, Hengqin, Nansha, Qianhai); "(China)", "(PRC)" or
a leading "PRC" with "Co., Ltd." or "Limited" and (中国) with a Chinese form (the naming of a
foreign-invested enterprise registered in the PRC); (深圳市), (广东省); Macau's Portuguese forms
(Limitada, Lda., S.A.) with Macau; 企业, 厂, 经营部 and 商行 after a PRC place; Chinese-script
districts and zones (浦东, 前海, 横琴); a PRC place in brackets after a Chinese form
(艾克米科技有限公司(深圳)), another note there read past; a bracket closing nothing at the end;
"Co-Ltd", "Co._Ltd.", "L.T.D.", a trailing ®; "P.R.C." first; a bracketed place with zone words
("(Hainan Free Trade Port)"); "Sociedade Unipessoal Limitada"; 中心, 工作室, 研究院, 研究所 and
门市部 after a PRC place; "Zhongguo" first as "China" (a warning). A strong English name followed
by more words ("… Co., Ltd. Singapore", "… t/a Acme", "… (Singapore) Pte. Ltd.") is a warning.
A PRC place after "Co., Ltd." ("Acme Technology Co., Ltd., Shenzhen") is read as a branch's
(strong); one within a "Co., Ltd." name ("Acme Shenzhen Technology Co., Ltd.") is a warning. A Chinese-script name
starting with 中国 with a form is a warning except from a party declared in TW, HK or MO.

Also strong: the PRC's words for itself and its regions as places ("Mainland China", "(China
Mainland)", "(Greater Bay Area)", 大湾区, 中国大陆); the common misspellings of the largest places
("Beijng", "Bejing", "Shangai", "Shenzen", "Guangzhuo", "Honkong"); a place after "Limited" not
called a branch ("Acme Technology Limited Hong Kong", "... Limited (Hong Kong)") from a party
declared where "Limited" is not its own form, as "Acme Technology (Hong Kong) Limited" is; the
one-person company 一人有限公司 or 一人有限责任公司 (the PRC's, and Macau's name for its Sociedade
Unipessoal Limitada) with no place, and the enterprise types of a PRC licence after a form
(艾克米科技有限公司(自然人独资)); a parent named in the name ("Acme AI Pte. Ltd. (a subsidiary of
Beijing Acme Technology Co., Ltd.)", "..., a wholly-owned subsidiary of ...", "(wholly owned by
...)", "(X's subsidiary)", ", a X company", (X的子公司), a name that is the clause alone) read as
its own name would be, at the same strength (the headquarters rule also screens the
parent so named: "(a subsidiary of Huawei)" is Huawei's exact match); a fifteen-digit PRC
business registration number of before 2015 (工商注册号: a division code and an ISO 7064 MOD 11,10
check digit), a fifteen-character tax registration number of before 2015 (税务登记号: a division
code and a GB 11714 organization code with its check) or an eighteen-character resident identity
number (a sole trader's tax number, GB 11643) under a scheme that names the PRC (``cn-…``,
工商注册号, 税务登记号); a Hong Kong company number (CR, up to eight digits: a company incorporated
there) under a scheme that names Hong Kong (``hk-cr``, ``HK CR No.``, 香港公司註冊編號).

Also a warning: those numbers under another scheme (``registration``, ``tax-id``); a Hong Kong
business registration (``hk-br``: a foreign company's branch there has one too) or a registered
non-Hong Kong company's number (F and seven digits); any number under a scheme naming Hong Kong
or Macau, or the PRC and a registration (``cn-business-registration: abc``); a word one letter
from a large place that is no common misspelling (also another pinyin word: "Hangkong", 航空);
Pekin (French and Spanish for Peking; also a town in Illinois) with the PRC form only. LEIs are
left alone: ISO 17442 gives a LEI's issuer in its first four characters and no country anywhere.

Only a warning, where the strong form would block lawful customers:

- a Traditional-script name with 股份有限公司 and a PRC place first from a party declared in TW
  (長春石油化學股份有限公司, 大連化學工業股份有限公司 are Taiwanese), unless the place is bracketed
  or carries 市 or 省;
- a place shared with Korea or Singapore (Danyang, Dongyang, Jurong);
- an unbracketed place before "Limited" alone from a party declared where "Limited" is the
  company's own form (the UK, Ireland and others: "Acme Shanghai Limited"), or after "of"
  ("Friends of Tibet Limited").

Not evidence: a name with no legal form ("Peking Duck House"), or with another country's
form ("Canton Road Pte. Ltd.", "Beijing Lion Technology (Singapore) Pte. Ltd."), and names
of PRC places that are also places elsewhere (Nanyang, Anyang, Taoyuan, Xinyi, Lianjiang).
A name says nothing when its party chooses another one: this catches a party that writes its
own registered name, it cannot stop one that renames itself.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz.distance import OSA

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


# Provinces, municipalities and cities of the PRC in modern pinyin (provinces, prefecture-level
# cities, the larger county-level cities). Left out: names that are also a place, word or name
# elsewhere (Nanyang in Singapore, Anyang in Korea, Taoyuan, Yilan, Xinyi and Lianjiang in Taiwan,
# Shishi, Kashi, Jian, Luan, Aba, Ili, Mile, Bole).
_PLACES = frozenset(
    """
    beijing shanghai tianjin chongqing hebei shanxi liaoning jilin heilongjiang jiangsu zhejiang
    anhui fujian jiangxi shandong henan hubei hunan guangdong hainan sichuan guizhou yunnan shaanxi
    gansu qinghai neimenggu guangxi xizang tibet ningxia xinjiang
    shenzhen guangzhou hangzhou nanjing suzhou wuxi chengdu wuhan xian xi'an hefei changsha
    zhengzhou jinan qingdao dalian shenyang harbin xiamen fuzhou kunming ningbo dongguan foshan
    zhuhai changzhou nantong wenzhou shijiazhuang taiyuan nanchang nanning guiyang lanzhou urumqi
    hohhot yinchuan xining haikou sanya zhongshan huizhou yantai weifang tangshan xuzhou yangzhou
    shaoxing jiaxing taizhou quanzhou zibo linyi baotou luoyang yichang xiangyang zhuzhou hengyang
    liuzhou guilin mianyang
    qinhuangdao handan xingtai baoding zhangjiakou chengde cangzhou langfang hengshui datong
    yangquan changzhi jincheng shuozhou jinzhong yuncheng xinzhou linfen lvliang huhehaote wuhai
    chifeng tongliao ordos erdos hulunbuir hulunbeier bayannur wulanchabu ulanqab anshan fushun
    benxi dandong jinzhou yingkou fuxin liaoyang panjin tieling huludao changchun siping liaoyuan
    tonghua baishan songyuan baicheng yanbian qiqihar jixi hegang shuangyashan daqing yichun
    jiamusi qitaihe mudanjiang heihe suihua lianyungang huaian huai'an yancheng zhenjiang suqian
    huzhou jinhua quzhou zhoushan lishui wuhu bengbu huainan maanshan ma'anshan huaibei tongling
    anqing huangshan chuzhou fuyang lu'an bozhou chizhou xuancheng putian sanming zhangzhou
    nanping longyan ningde jingdezhen pingxiang jiujiang xinyu yingtan ganzhou ji'an shangrao
    zaozhuang dongying jining taian tai'an weihai rizhao dezhou liaocheng binzhou heze kaifeng
    pingdingshan hebi xinxiang jiaozuo puyang xuchang luohe sanmenxia shangqiu xinyang zhoukou
    zhumadian jiyuan huangshi shiyan ezhou jingmen xiaogan jingzhou huanggang xianning suizhou
    enshi xiantao tianmen xiangtan shaoyang yueyang changde zhangjiajie yiyang chenzhou yongzhou
    huaihua loudi xiangxi shaoguan shantou jiangmen zhanjiang maoming zhaoqing meizhou shanwei
    heyuan yangjiang qingyuan chaozhou jieyang yunfu wuzhou beihai fangchenggang qinzhou guigang
    yulin baise hezhou hechi laibin chongzuo sansha danzhou zigong panzhihua luzhou deyang
    guangyuan suining neijiang leshan nanchong meishan yibin guangan guang'an dazhou yaan ya'an
    bazhong ziyang liangshan liupanshui zunyi anshun bijie tongren qujing yuxi baoshan zhaotong
    lijiang pu'er lincang chuxiong honghe wenshan xishuangbanna dehong lhasa shigatse xigaze
    rikaze qamdo nyingchi nagqu tongchuan baoji xianyang weinan yanan yan'an hanzhong ankang
    shangluo jiayuguan jinchang baiyin tianshui zhangye pingliang jiuquan longnan linxia
    haidong golmud shizuishan guyuan zhongwei karamay turpan hami changji korla kashgar hotan
    shihezi yining
    yiwu kunshan jiangyin zhangjiagang changshu taicang yixing liyang yangzhong
    taixing jingjiang rugao haimen qidong xinghua dongtai gaoyou yizheng pizhou cixi yuyao haining
    tongxiang pinghu zhuji shengzhou yueqing ruian rui'an wenling linhai lanxi jiangshan
    jiande linan lin'an jinjiang fuqing zhangping shaowu wuyishan jianou fuding shouguang zhucheng
    qingzhou gaomi changyi anqiu laizhou longkou penglai zhaoyuan laiyang qixia zoucheng tengzhou
    qufu jiaozhou pingdu laixi xintai feicheng kaiping enping heshan sihui gaoyao lianzhou leizhou
    huazhou gaozhou xingning puning luoding yingde gongyi xinzheng dengfeng xinmi xingyang yanshi
    yongcheng dengzhou ruzhou wugang yuzhou changge linzhou danjiangkou zaoyang laohekou daye
    macheng liuyang ningxiang liling leiyang dingzhou xinji zhuozhou sanhe gaobeidian renqiu
    huanghua botou qianan dujiangyan pengzhou qionglai chongzhou jianyang ruili jinghong tengchong
    gejiu manzhouli erenhot suifenhe hunchun yanji wafangdian haicheng khorgas horgos kuytun
    pudong minhang xuhui jing'an jingan yangpu songjiang jiading qingpu lingang zhangjiang haidian
    shunyi changping fengtai dongcheng xicheng yizhuang daxing xiong'an xiongan hengqin nansha
    qianhai futian longgang bao'an baoan longhua tianhe panyu huadu yuhang xiaoshan wujiang binhai
    liangjiang shunde
    """.split()  # noqa: SIM905  # a block of names reads better than a list of 400 strings
)
# The larger places whose name may be written in two syllables ("Shen Zhen", "Bei Jing")
_SPACED = frozenset(
    """
    beijing shanghai tianjin chongqing shenzhen guangzhou hangzhou nanjing suzhou wuxi chengdu wuhan
    hefei changsha zhengzhou jinan qingdao dalian shenyang xiamen fuzhou kunming ningbo dongguan
    foshan zhuhai changzhou nantong wenzhou guangdong jiangsu zhejiang shandong fujian sichuan
    xinjiang xizang yiwu kunshan
    """.split()  # noqa: SIM905
)
# Places of more than one word, and what to call them: the PRC's own and Hong Kong and Macau, which
# the bundled policies count as the PRC (territories HK = "CN", MO = "CN").
_MULTI_WORD = {
    "inner mongolia": "Inner Mongolia",
    "nei mongol": "Inner Mongolia",
    "nei menggu": "Inner Mongolia",
    "xi an": "Xi'an",
    "hong kong": "Hong Kong",
    "hong kong sar": "Hong Kong",
    "xiang gang": "Hong Kong",
    # the PRC's own words for itself and its regions (the Greater Bay Area is Guangdong's nine
    # cities with Hong Kong and Macau: all counted as the PRC)
    "mainland china": "Mainland China",
    "china mainland": "Mainland China",
    "greater bay area": "the Greater Bay Area",
}
_SAR = {
    "hongkong": "Hong Kong",
    "hksar": "Hong Kong",
    "hk": "Hong Kong",
    "xianggang": "Hong Kong",
    "aomen": "Macau",
    "kowloon": "Hong Kong",
    "macau": "Macau",
    "macao": "Macau",
}
# Older (postal, Wade-Giles) spellings and names that are also used elsewhere ("Canton Road",
# "Peking Duck", Dali in Cyprus, Aksu in Kazakhstan; Danyang and Dongyang are Korean places and
# names, as in Dongyang Piston Co., Ltd.; Jurong is in Singapore): a warning, never the rule's severity.
_OLD_PLACES = frozenset(
    """
    peking peiping canton kwangchow hangchow tientsin nanking tsingtao tsingtau chungking amoy
    soochow foochow sian mukden dairen hankow swatow kweilin kweiyang tsinan chengtu kiangsu
    chekiang fukien kwangtung kwangsi szechuan szechwan hupeh honan hopeh hopei shantung shansi
    kansu anhwei kiangsi kweichow sinkiang ningsia tsinghai chinghai
    dali puer chaoyang aksu wuwei
    danyang dongyang jurong
    pekin
    """.split()  # noqa: SIM905
)
# Common misspellings of the largest places that are no word or place of their own: the place.
_MISSPELLINGS = {
    **dict.fromkeys(("beijng", "bejing", "biejing", "beijign", "beiijng", "beijjing", "peijing"), "Beijing"),
    **dict.fromkeys(("shangai", "shanghia", "shangahi", "shagnhai", "shanghaii"), "Shanghai"),
    **dict.fromkeys(("shenzen", "shenzehn", "shenzhn", "sehnzhen", "schenzhen"), "Shenzhen"),
    **dict.fromkeys(("guangzhuo", "guangzou", "guanzhou", "guangzho", "gaungzhou"), "Guangzhou"),
    **dict.fromkeys(("hangzou", "hangzho"), "Hangzhou"),
    **dict.fromkeys(("chongquing", "chonqing"), "Chongqing"),
    **dict.fromkeys(("honkong", "hongkog", "hongkonk", "hongkonng"), "Hong Kong"),
}
# Older spellings that are also a town elsewhere, read only with the PRC form "Co., Ltd." (a warning)
_PRC_FORM_ONLY = frozenset({"Pekin"})
# The places a name is most often written after: a word one letter from one of them (added, dropped,
# changed, or two swapped) that is not a common misspelling above is a warning, as it may be
# another pinyin word ("Hangkong", 航空, aviation; "Tianxin"; "Honglong"). Left out: the places one letter from another place or word (Shenyang
# and the Korean Shinyang, Nantong and Nanton in Canada, Shandong and Shandon in Ireland, Kunshan
# and Kunsan, Jiangsu and Jangsu, Guangdong and Gwangdong in Korean names); Pekin, French and Spanish for Peking and a town in Illinois, is an older
# spelling above (a warning).
_MISSPELT_OF = (
    "beijing",
    "shanghai",
    "shenzhen",
    "guangzhou",
    "hangzhou",
    "chongqing",
    "tianjin",
    "zhejiang",
    "chengdu",
    "xinjiang",
    "hongkong",
)
# The legal forms of an English PRC enterprise name: "Co., Ltd." and its spellings (also the
# Japanese, Korean and Thai form, so a PRC place is needed with it).
_PRC_FORM = (
    r"(?:(?:co|corp|company|corporation)\.?[\s,\-_]*(?:ltd|l\.t\.d|limited)\.?"
    r"|(?:ltd|limited)\.?\s+(?:liability\s+)?(?:co|company)\.?"  # 有限(责任)公司 word for word
    r"|(?:gufen\s+)?youxian\s+(?:zeren\s+)?gongsi)"  # the same in pinyin
)
# The Portuguese forms of Macau ("Acme Tecnologia (Macau), Limitada"): with Macau, strong
# The PRC form inside a name, followed by more words
_EMBEDDED_FORM = re.compile(rf"(?:^|[\s,])(?:{_PRC_FORM})(?=[\s,;:\"'(]|tm\b)", re.IGNORECASE)
_MACAU_FORM = r"(?:(?:sociedade\s+unipessoal\s+)?limitada|lda\.?|s\.\s*a\.?|sa)"
# "Limited" alone: the Hong Kong form, and how PRC names are often shortened in English
_LIMITED_FORM = r"(?:ltd|limited)\.?"
_OTHER_FORM = (
    r"(?:inc|incorporated|corp|corporation|co|company|group|holdings?|llc|l\.l\.c|partnership|l\.?p)\.?"
)
_FORMS = (
    ("prc", re.compile(rf"(?:^|[\s,])({_PRC_FORM})\s*$", re.IGNORECASE)),
    ("macau", re.compile(rf"(?:^|[\s,])({_MACAU_FORM})\s*$", re.IGNORECASE)),
    ("limited", re.compile(rf"(?:^|[\s,])({_LIMITED_FORM})\s*$", re.IGNORECASE)),
    ("other", re.compile(rf"(?:^|[\s,])({_OTHER_FORM})\s*$", re.IGNORECASE)),
)
# Forms of other places that end in "Limited": a Singapore, Australian, Indian or Malaysian company
# named after a PRC place ("Beijing Lion Technology (Singapore) Pte. Ltd.") is none of the above.
_LOCAL_FORM = re.compile(
    r"\b(?:pte|pty|pvt|private|sdn\.?\s*bhd|bhd)\.?\s*,?\s*(?:ltd|limited)?\.?\s*$", re.IGNORECASE
)
_TRAILING_NOTE = re.compile(r"\s*\(([^()]*)\)\s*$")  # "(Singapore Branch)" after the legal form
_BRANCH = re.compile(
    r"[\s,\-/]*\b(?:branch(?:\s+office)?|br\.?|(?:representative|rep\.?|liaison|sales|regional)?\s*office)\s*$",
    re.IGNORECASE,
)
_BRACKETS = re.compile(r"\(([^()]*)\)")
# What may follow a place in brackets: "(Hainan Free Trade Port)", "(Shanghai Pilot Free Trade Zone)"
_ZONE_WORDS = frozenset(
    [
        "free",
        "trade",
        "zone",
        "port",
        "pilot",
        "new",
        "area",
        "district",
        "city",
        "province",
        "sar",
        "economic",
        "development",
        "special",
        # "(Guangdong-Hong Kong-Macao Greater Bay Area)"
        "greater",
        "bay",
        "hong",
        "kong",
        "macao",
        "macau",
    ]
)
# The same in Chinese script (after folding Traditional characters to Simplified), longest first
# so that 石家庄 is not read as another place. Left out: 大同 and 永康 (also Taiwanese names).
_CJK_PLACES = sorted(
    """
    北京 上海 天津 重庆 深圳 广州 杭州 南京 苏州 无锡 成都 武汉 西安 合肥 长沙 郑州 济南 青岛 大连 沈阳 哈尔滨 厦门 福州 昆明
    宁波 东莞 佛山 珠海 广东 江苏 浙江 山东 河北 河南 湖北 湖南 四川 福建 安徽 辽宁 吉林 黑龙江 陕西 山西 江西 云南 贵州 广西
    海南 甘肃 青海 内蒙古 宁夏 新疆 西藏 烟台 潍坊 唐山 徐州 扬州 绍兴 嘉兴 台州 泉州 淄博 临沂 包头 洛阳 宜昌 襄阳 株洲 衡阳
    柳州 桂林 绵阳 中山 惠州 常州 南通 温州 石家庄 太原 南昌 南宁 贵阳 兰州 乌鲁木齐 呼和浩特 银川 西宁 海口 三亚 香港 澳门 义乌 昆山
    江阴 张家港 常熟 太仓 宜兴 晋江 石狮 福清 慈溪 余姚 诸暨 乐清 瑞安 温岭 海宁 桐乡 寿光 龙口 胶州 东阳 临海 丹阳 如皋 靖江
    泰兴 邳州 秦皇岛 邯郸 邢台 保定 张家口 承德 沧州 廊坊 衡水 阳泉 长治 晋城 朔州 晋中 运城 忻州 临汾 吕梁 乌海 赤峰 通辽 鄂尔多斯
    呼伦贝尔 巴彦淖尔 乌兰察布 鞍山 抚顺 本溪 丹东 锦州 营口 阜新 辽阳 盘锦 铁岭 葫芦岛 长春 四平 辽源 通化 松原 白城 延边 齐齐哈尔 鸡西 鹤岗
    双鸭山 大庆 伊春 佳木斯 七台河 牡丹江 黑河 绥化 连云港 淮安 盐城 镇江 泰州 宿迁 湖州 金华 衢州 舟山 丽水 芜湖 蚌埠 淮南 马鞍山 淮北
    铜陵 安庆 黄山 滁州 阜阳 宿州 六安 亳州 池州 宣城 莆田 三明 漳州 南平 龙岩 宁德 景德镇 萍乡 九江 新余 鹰潭 赣州 吉安 宜春
    抚州 上饶 枣庄 东营 济宁 泰安 威海 日照 德州 聊城 滨州 菏泽 开封 平顶山 鹤壁 新乡 焦作 濮阳 许昌 漯河 三门峡 商丘 信阳 周口
    驻马店 黄石 十堰 鄂州 荆门 孝感 荆州 黄冈 咸宁 随州 恩施 湘潭 邵阳 岳阳 常德 张家界 益阳 郴州 永州 怀化 娄底 韶关 汕头 江门
    湛江 茂名 肇庆 梅州 汕尾 河源 阳江 清远 潮州 揭阳 云浮 梧州 北海 防城港 钦州 贵港 玉林 百色 贺州 河池 崇左 儋州 自贡 攀枝花
    泸州 德阳 广元 遂宁 内江 乐山 南充 眉山 宜宾 广安 达州 雅安 巴中 资阳 六盘水 遵义 安顺 毕节 铜仁 曲靖 玉溪 保山 昭通 丽江
    普洱 临沧 楚雄 西双版纳 拉萨 日喀则 林芝 铜川 宝鸡 咸阳 渭南 延安 汉中 榆林 商洛 嘉峪关 金昌 白银 天水 张掖 平凉 酒泉 庆阳 陇南
    石嘴山 吴忠 固原 中卫 克拉玛依 吐鲁番 哈密 昌吉 库尔勒 喀什 石河子
    浦东 闵行 徐汇 静安 杨浦 松江 嘉定 青浦 临港 张江 海淀 顺义 昌平 丰台 东城 西城 亦庄 大兴 雄安 横琴 南沙 前海
    福田 龙岗 宝安 龙华 天河 番禺 花都 余杭 萧山 吴江 顺德
    粤港澳大湾区 大湾区 中国大陆 中国内地
    """.split(),  # noqa: SIM905
    key=len,
    reverse=True,
)
_CJK_PLACE_WORD = re.compile(rf"^\(?({'|'.join(_CJK_PLACES)})(?:市|省)?\)?$")
# Chinese-script forms of a PRC enterprise, longest first; 公司 and 集团 alone too ("深圳市…科技公司",
# "…集团"): a PRC place with any of them is the enterprise-name pattern.
_CJK_FORMS = (
    "股份有限公司",
    "有限责任公司",
    "有限公司",
    "(有限合伙)",
    "有限合伙",
    "合伙企业",
    "集团",
    "公司",
)
# The one-person limited company: the PRC's 一人有限责任公司 (its Company Law since 2005) and
# Macau's name for its Sociedade Unipessoal Limitada; a form of no other place, strong with no place
_CJK_ONE_PERSON = ("一人有限责任公司", "一人有限公司")
# The enterprise types a PRC business licence gives and names are registered with in brackets
# (艾克米科技有限公司(自然人独资)): strong with no place
_CJK_TYPE_NOTES = frozenset(
    {
        "自然人独资",
        "法人独资",
        "外商独资",
        "中外合资",
        "中外合作",
        "台港澳法人独资",
        "港澳台法人独资",
        "自然人投资或控股",
    }
)
# Other PRC entity forms (an enterprise, a factory, a business department, a trading house): read
# only with a PRC place, as the words end other names too
_CJK_PLACE_FORMS = ("企业", "厂", "经营部", "商行", "中心", "工作室", "研究院", "研究所", "门市部")
# A branch or office named after its company: 深圳市…有限公司新加坡分公司, …有限公司深圳分公司
_CJK_BRANCH = re.compile(
    r"^(?P<name>.*(?:公司|集团))(?P<where>.{0,12}?)(?:分公司|分行|分店|办事处|代表处|联络处)$"
)
_CJK_TRAILING_NOTE = re.compile(r"^(?P<name>.+?)\((?P<note>[^()]{1,12})\)$")
_CJK_BRACKETED_BRANCH = re.compile(r"\((.{0,12}?(?:分公司|分行|分店|办事处|代表处|联络处))\)$")
# Where "Limited" alone is a company's own legal form (an unbracketed PRC place before it is only a
# warning from a party declared there: "Acme Shanghai Limited" is a British or Irish company name)
LIMITED_COUNTRIES = frozenset(
    {"GB", "IE", "IM", "JE", "GG", "GI", "MT", "CY", "NZ", "AU", "IN", "ZA", "NG", "KE"}
)
# Where companies write Chinese-script names with these forms themselves (weak evidence is not taken)
CHINESE_SCRIPT_COUNTRIES = frozenset({"CN", "HK", "MO", "TW", "SG", "MY"})


# Names of the scheme as manifests write it (compared after folding, case-free, punctuation as
# spaces, a leading "cn", "prc" or "china" dropped: "cn-uscc", "ｕｓｃｃ", 统一社会信用代码)
_USCC_SCHEMES = frozenset(
    {
        "uscc",
        "usci",
        "unified social credit code",
        "unified social credit identifier",
        "social credit code",
        "tyshxydm",
        "统一社会信用代码",
        "社会信用代码",
        "统一代码",
    }
)
_PRC_SCHEME_PREFIXES = ("cn", "prc", "china", "zh")
# A scheme that names a USCC among other words ("USCC No.", "uscc-number", "uscc_cn", "zh-uscc",
# 信用代码, 营业执照 (the business licence that carries it)) is a USCC scheme
_USCC_WORDS = frozenset({"uscc", "usci", "tyshxydm"})
_USCC_PHRASES = ("social credit", "信用代码", "营业执照", "统一代码")
# What a registration number may carry that says it is the PRC's: "CN914403…", "914403… (PRC)", "USCC 914403…"
_PRC_VALUE_MARK = re.compile(r"^(?:CN|PRC|CHINA|USCC|USCI)|(?:CN|PRC|CHINA)$")
# Separators a registration number is written with: anything that is not a letter or digit
_NOT_ALNUM = re.compile(r"[\W_]+")


@dataclass(frozen=True)
class RegistrationEvidence:
    """One sign that a party is registered in the PRC: how strong, and what it is, for the finding."""

    strong: bool
    what: str


def normalize_identifier(value: str) -> str:
    """A registration number as its registry writes it: folded, separators and invisible characters gone.

    "9144 0300 1922 0382 16", "91440300-1922038216" and the same in full-width digits or with a
    zero-width space all become ``914403001922038216``; a digit of another script becomes its ASCII digit.
    """
    folded = _NOT_ALNUM.sub("", fold(value))
    return "".join(
        str(unicodedata.decimal(c)) if unicodedata.decimal(c, None) is not None else c for c in folded
    ).upper()


def _scheme_words(scheme: str) -> tuple[str, bool]:
    """A scheme name compared case-free, its punctuation as spaces, and whether it names the PRC."""
    words = _NOT_ALNUM.sub(" ", fold(scheme)).split()
    prc = bool(words) and words[0] in _PRC_SCHEME_PREFIXES
    return " ".join(words[1:] if prc and len(words) > 1 else words), prc


def _uscc_scheme(scheme: str) -> bool:
    """Whether a scheme name (as ``_scheme_words`` gives it) names the USCC."""
    return (
        scheme in _USCC_SCHEMES
        or any(word in _USCC_WORDS for word in scheme.split())
        or any(phrase in scheme for phrase in _USCC_PHRASES)
    )


_TYPED = str.maketrans({"O": "0", "I": "1", "L": "1"})  # letters typed for digits


def _uscc_read(code: str) -> tuple[bool, bool]:
    """Whether a normalized number is a valid USCC, and whether it carried a mark of the PRC.

    Also read: the number with its mark taken off ("CN914403…", "914403… (PRC)") and with the
    letters O, I or l typed for 0 and 1.
    """
    unmarked = _PRC_VALUE_MARK.sub("", code)
    candidates = (
        (code, False),
        (code.translate(_TYPED), False),
        (unmarked, True),
        (unmarked.translate(_TYPED), True),
    )
    for candidate, marked in candidates:
        if uscc_valid(candidate):
            return True, marked and unmarked != code
    return False, False


# A parent named in a name: "(a subsidiary of X)", ", a wholly-owned subsidiary of X", "- member of
# the X group", "(wholly owned by X)", "(an X company)"
_PARENT_CLAUSE = re.compile(
    r"(?:[\s,;:(\-–—]+|^)(?:(?:a|an|the)\s+)?(?:(?:wholly|fully|majority|100\s*%)[\s\-]*owned\s+)?"
    r"(?:(?:subsidiary|affiliate|affiliated\s+company|member(?:\s+company)?|division|unit|part)\s+of"
    r"|(?:owned|controlled|held)\s+by)\s+(?:the\s+)?(?P<parent>(?:[^()]|\([^()]*\))+?)(?:\s+group)?[\s)]*$",
    re.IGNORECASE,
)
# The same with the parent first: "(Beijing Acme Co., Ltd. subsidiary)", "(X's wholly-owned
# subsidiary)", ", a Beijing Acme Co., Ltd. company", （北京…有限公司的子公司）, (…有限公司全资子公司)
_PARENT_SUFFIX = re.compile(
    r"(?:\(\s*|[\s,;\-–—]+(?:a|an)\s+)(?P<parent>(?:[^()]|\([^()]*\))+?)(?:'s)?\s+"
    r"(?:(?:wholly|fully|majority)[\s\-]*owned\s+)?(?:subsidiary|affiliate|group\s+company|company)\s*\)?\s*$"
    r"|\((?P<cjk>[^()]+?)的?(?:全资|控股)?(?:子公司|附属公司|旗下(?:公司|企业))\)$",
    re.IGNORECASE,
)
# What a name may start with and still name its parent ("Subsidiary of ..."; not "Division of ...")
_PARENT_FIRST = re.compile(
    r"^\(?\s*(?:(?:a|an)\s+)?(?:[\w\s%\-]*owned\s+)?(?:subsidiary|affiliate|owned\s+by)", re.IGNORECASE
)


# PRC administrative division codes (GB/T 2260) start with a province's two digits
_PROVINCE_CODES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65".split()  # noqa: SIM905
)
_ORG_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def registration_number_valid(code: str) -> bool:
    """Whether ``code`` is a PRC business registration number of before 2015 (工商注册号) with a correct check digit.

    Fifteen digits: the registering authority's six-digit division code, eight of sequence, and a
    check digit by ISO 7064 MOD 11,10 (GB/T 17710), as the registration-number rules of 2006 give it.
    """
    if len(code) != 15 or not code.isascii() or not code.isdigit() or code[:2] not in _PROVINCE_CODES:
        return False
    p = 10
    for c in code[:14]:
        s = (p + int(c)) % 10 or 10
        p = s * 2 % 11
    return (p + int(code[14])) % 10 == 1


def old_tax_id_valid(code: str) -> bool:
    """Whether ``code`` is a PRC tax registration number of before 2015 (税务登记号) with a valid organization code.

    Fifteen characters: a six-digit division code and the nine-character organization code
    (GB 11714-1997: eight digits or capitals, then a check character, 0-9 or X).
    """
    if len(code) != 15 or not code.isascii() or not code[:6].isdigit() or code[:2] not in _PROVINCE_CODES:
        return False
    org = code[6:]
    if not org[:8].isalnum() or not all(c.isdigit() or "A" <= c <= "Z" for c in org[:8]):
        return False
    total = sum(
        (int(c) if c.isdigit() else ord(c) - 55) * w for c, w in zip(org[:8], _ORG_CODE_WEIGHTS, strict=True)
    )
    check = 11 - total % 11
    return org[8] == {10: "X", 11: "0"}.get(check, str(check))


def resident_id_valid(code: str) -> bool:
    """Whether ``code`` is an 18-character PRC resident identity number (GB 11643), the tax number of a sole trader.

    A division code, a date of birth (19xx or 20xx), three digits of sequence and an ISO 7064
    MOD 11-2 check character (0-9 or X).
    """
    if len(code) != 18 or not code.isascii() or not code[:17].isdigit() or code[:2] not in _PROVINCE_CODES:
        return False
    year, month, day = int(code[6:10]), int(code[10:12]), int(code[12:14])
    if not (1900 <= year <= 2099 and 1 <= month <= 12 and 1 <= day <= 31):
        return False
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(c) * w for c, w in zip(code[:17], weights, strict=True))
    return code[17] == "10X98765432"[total % 11]


# Scheme words that name a PRC registration other than the USCC (compared as ``_scheme_words``
# gives them: 工商注册号, 税务登记号, 组织机构代码, 营业执照注册号 in any script)
_PRC_OLD_PHRASES = ("注册号", "工商", "税务登记", "组织机构", "纳税人识别号", "身份证", "gszch", "swdjh")
# Scheme words that name Hong Kong or Macau, and what kind of number it is
_NUMBER_MARK = re.compile(r"^(?:NO|NUMBER|CR|BR|CRN|BRN|REG)")  # "No. 1234567", "CR1234567"
_HK_WORDS = frozenset({"hk", "hongkong", "hksar", "xianggang", "hkbr", "hkcr", "hkbrn", "hkcrn"})
_MO_WORDS = frozenset({"macau", "macao", "aomen"})  # not "mo": also Missouri
_CR_WORDS = frozenset({"cr", "crn", "ci", "company", "incorporation", "hkcr", "hkcrn", "companies"})
_BR_WORDS = frozenset({"br", "brn", "business", "hkbr", "hkbrn"})


def _older_registration(
    ident: Identifier, code: str, scheme: str, names_prc: bool
) -> list[RegistrationEvidence]:
    """An identifier that is no USCC but names, or has the shape of, a PRC, Hong Kong or Macau registration.

    Strong: a fifteen-digit business registration or tax number of before 2015 with a valid check,
    or a resident identity number, under a scheme that names the PRC (``cn-tax-id``, 工商注册号); a
    Hong Kong company number (CR: seven digits, of a company incorporated there) under a scheme that
    names Hong Kong (``hk-cr``). Weak (a warning): the same numbers under another scheme (``tax-id``,
    ``registration``), a Hong Kong business registration (``hk-br``: also a foreign company's
    branch there), a Hong Kong number of a registered non-Hong Kong company (F and seven digits),
    any other number under a scheme naming Hong Kong or Macau, and a scheme that names the PRC and a
    registration (``cn-business-registration``) whatever its value. A scheme that names an old PRC
    registration in Chinese (工商注册号, 税务登记号, 组织机构代码) is strong whatever its value, as a
    USCC scheme is. Read through: a number's "No." or "CR", and a mark of the PRC ("CN1101…").
    """
    words = set(scheme.split())
    named_old = any(p in scheme for p in _PRC_OLD_PHRASES)
    prc_scheme = (names_prc and scheme not in ("", "cn")) or named_old
    shown = f"{ident.scheme}:{ident.value}"
    bare = _NUMBER_MARK.sub("", code)
    marked = bool(_PRC_VALUE_MARK.search(bare))
    code = _PRC_VALUE_MARK.sub("", bare)
    if registration_number_valid(code) or old_tax_id_valid(code) or resident_id_valid(code):
        kind = (
            "a PRC business registration number of before 2015 (工商注册号)"
            if registration_number_valid(code)
            else "a PRC tax registration number of before 2015 (税务登记号)"
            if old_tax_id_valid(code)
            else "a PRC resident identity number (a sole trader's tax number)"
        )
        if prc_scheme or names_prc or marked:
            return [
                RegistrationEvidence(True, f"identifier {shown} is {kind} under a scheme that names the PRC")
            ]
        return [RegistrationEvidence(False, f"identifier {shown} has the shape and check digit of {kind}")]
    hk = bool(words & _HK_WORDS) or "hong kong" in scheme or "香港" in scheme
    if hk:
        if words & _CR_WORDS or "公司注册" in scheme:
            if code.isdigit() and 1 <= len(code) <= 8:
                return [
                    RegistrationEvidence(
                        True,
                        f"identifier {shown} is a Hong Kong company number: a company incorporated in Hong Kong "
                        "(counted as the PRC)",
                    )
                ]
            if code[:1] == "F" and code[1:].isdigit():
                return [
                    RegistrationEvidence(
                        False,
                        f"identifier {shown} is a Hong Kong number of a registered non-Hong Kong company",
                    )
                ]
        what = (
            "a Hong Kong business registration"
            if words & _BR_WORDS or "商业登记" in scheme
            else "a Hong Kong registration"
        )
        return [RegistrationEvidence(False, f"identifier {shown} is {what}: Hong Kong is counted as the PRC")]
    if words & _MO_WORDS or "澳门" in scheme:
        return [
            RegistrationEvidence(
                False, f"identifier {shown} is a Macau registration: Macau is counted as the PRC"
            )
        ]
    if named_old:
        return [
            RegistrationEvidence(
                True, f"identifier {shown} is under a scheme that names an old PRC registration"
            )
        ]
    if prc_scheme:
        return [
            RegistrationEvidence(False, f"identifier {shown} is under a scheme that names a PRC registration")
        ]
    return []


_SAR_DOTTED = re.compile(r"\bS\.\s*A\.\s*R\b\.?", re.IGNORECASE)


def _parent_clause(name: str) -> tuple[int, str] | None:
    """Where the clause naming a parent starts in ``name``, and the parent it names, or None."""
    found = _PARENT_CLAUSE.search(name)
    if found is not None and (found.start() > 0 or _PARENT_FIRST.match(name)):
        parent = _clean(found.group("parent"))
        if parent:
            return found.start(), parent
    found = _PARENT_SUFFIX.search(name)
    if found is not None and found.start() > 0:
        parent = _clean(found.group("parent") or found.group("cjk"))
        if parent:
            return found.start(), parent
    return None


def parent_named(name: str) -> str | None:
    """The parent a name says it belongs to ("Acme AI Pte. Ltd. (a subsidiary of Huawei)": Huawei), or None."""
    clause = _parent_clause(name) or _parent_clause(unicodedata.normalize("NFKC", name))  # （…的子公司）
    return clause[1] if clause is not None else None


def prc_registration(
    name: str, identifiers: Sequence[Identifier], declared: str, *, parents: int = 3
) -> list[RegistrationEvidence]:
    """The signs in a party's own name and identifiers that it is registered in the PRC (see the module docstring).

    ``parents``: how many parents deep to read the parent a name says it belongs to ("X (a
    subsidiary of Y (a subsidiary of Z))"); beyond that a named parent is read as part of the name.
    """
    out: list[RegistrationEvidence] = []
    for ident in identifiers:
        code = normalize_identifier(ident.value)
        valid, marked = _uscc_read(code)
        scheme, names_prc = _scheme_words(ident.scheme)
        if _uscc_scheme(scheme) or ((names_prc or marked) and valid):
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
        else:
            out += _older_registration(ident, code, scheme, names_prc)
    # Folded first (look-alike letters, invisible characters, full-width forms, Traditional Chinese):
    # "Веijing" with a Cyrillic В is Beijing here as it is to the screener. A name may hold both
    # scripts ("北京蓝港计算有限公司 (Blue Harbor Computing)"): each part is read for itself.
    whole = _clean(" ".join(fold(name).replace("’", "'").split()))
    whole = _SAR_DOTTED.sub("SAR", whole)  # "Hong Kong S.A.R."
    parent = parent_named(whole) if parents > 0 else None
    if parent is not None:
        # "Acme AI Pte. Ltd. (a subsidiary of Beijing Acme Technology Co., Ltd.)": the parent it
        # names is read as its own name would be, and the rest as the party's name
        written = parent_named(_clean(" ".join(name.split()))) or parent
        signs = prc_registration(parent, [], declared, parents=parents - 1)
        named_after = _place(_words(parent))
        if named_after is not None and named_after[1] and not signs:
            # "(a member of the Beijing Acme group)": a parent named after a PRC place, with no form
            out.append(
                RegistrationEvidence(
                    False, f"its name says it belongs to {written!r}, named after {_where(named_after[0])}"
                )
            )
        out += [
            RegistrationEvidence(
                e.strong, f"its name says it belongs to {written!r}: {e.what.split(': ', 1)[-1]}"
            )
            for e in signs
        ]
        clause = _parent_clause(whole)
        whole = _clean(whole[: clause[0]]) if clause is not None else whole
    # "... Co., Ltd./Singapore": each part is read too, and the strongest sign of each script kept
    english: list[RegistrationEvidence] = []
    chinese: list[RegistrationEvidence] = []
    # a character the folding changed was Traditional: 長春…股份有限公司 from a party declared in TW
    traditional = any(fold(ch) != ch for ch in name if "\u4e00" <= ch <= "\u9fff")
    for text in [whole, *(_clean(part) for part in whole.split("/") if "/" in whole)]:
        # a Chinese-script PRC place among English words counts as a place: "深圳 Acme ... Co., Ltd."
        latin = " ".join(w for w in text.split() if w.isascii() or _CJK_PLACE_WORD.match(w))
        if latin:
            english += _english_evidence(latin, declared)
            inner = _EMBEDDED_FORM.search(latin)
            if inner is not None and latin[inner.end() :].strip(_EDGE):
                # a PRC enterprise name with words after it ("... Co., Ltd. Singapore", "... t/a Acme",
                # "... (Singapore) Pte. Ltd."): a warning, as the words may make another company
                english += [
                    RegistrationEvidence(
                        False, f"its name holds a PRC enterprise name: {e.what.split(': ', 1)[-1]}"
                    )
                    for e in _english_evidence(latin[: inner.end()], declared)
                    if e.strong
                ]
        cjk = re.sub(
            r"\(\s*\)|（\s*）", "", "".join(ch for ch in text if not (ch.isascii() and ch not in "()"))
        )
        if cjk:
            chinese += _chinese_evidence(cjk, declared, taiwanese=declared == "TW" and traditional)
    for signs in (english, chinese):
        if signs:
            out.append(max(signs, key=lambda e: e.strong))
    return out


# What may stand around a name and is not part of it: quotes, brackets of titles, a sentence's
# punctuation ("深圳市…有限公司。", "「…」", "…Co., Ltd.;", "\"Beijing … Co., Ltd.\"")
_EDGE = " \t.;:,!?。；：，、\"'`“”‘’„«»「」『』《》〈〉*®©℠"
_SQUARE = str.maketrans(
    {"[": "(", "]": ")", "【": "(", "】": ")", "〔": "(", "〕": ")", "·": " ", "・": " ", "‧": " ", "•": " "}
)


def _clean(text: str) -> str:
    """A folded name without what stands around it: quotes, end punctuation, a leading "The"; middle dots as spaces."""
    text = text.translate(_SQUARE)
    while True:
        before = text
        text = text.strip(_EDGE)
        if text.endswith(")") and text.count(")") > text.count("("):
            text = text[:-1]  # "深圳市…有限公司）": a bracket closing nothing
        if text.casefold().startswith("the "):
            text = text[4:]
        if text == before:
            return " ".join(text.split())


def _place(words: Sequence[str]) -> tuple[str, bool, int] | None:
    """The PRC place the words start with, or None.

    Its name for the finding, whether that name is unambiguous, and how many words it took.
    """
    if not words:
        return None
    for n in (3, 2):
        multi = " ".join(words[:n])
        if len(words) >= n and multi in _MULTI_WORD:
            return _MULTI_WORD[multi], True, n
    first = words[0]
    cjk = _CJK_PLACE_WORD.match(first)
    if cjk is not None:  # 深圳 among English words
        return cjk.group(1), True, 1
    if first in _SAR:  # "HK" is also other initials (HK inno.N, a Korean company): a warning
        return _SAR[first], first != "hk", 1
    if first in _PLACES:
        return first[0].upper() + first[1:], True, 1
    if len(words) > 1 and (first + words[1]) in _SPACED:  # "Shen Zhen"
        return (first + words[1]).title(), True, 2
    if first in _OLD_PLACES:
        return first[0].upper() + first[1:], False, 1
    if first in _MISSPELLINGS:  # "Beijng", "Shenzen": the place, misspelt as it commonly is
        return _MISSPELLINGS[first], True, 1
    misspelt = _misspelt(first)
    if misspelt is not None:  # one letter from a large place: also other pinyin words (Hangkong, 航空)
        return misspelt, False, 1
    return None


def _misspelt(word: str) -> str | None:
    """The place of ``_MISSPELT_OF`` that ``word`` misspells by one letter (OSA distance 1), as ``_place`` names it."""
    if len(word) < 6 or not word.isascii() or not word.isalpha() or word in _PLACES or word in _OLD_PLACES:
        return None
    for place in _MISSPELT_OF:
        if abs(len(place) - len(word)) <= 1 and OSA.distance(word, place, score_cutoff=1) == 1:
            return "Hong Kong" if place == "hongkong" else place.title()
    return None


def _place_at_end(words: Sequence[str]) -> tuple[str, bool, int] | None:
    """The PRC place the words end with ("Sunshine Logistics Shenzhen"), as ``_place`` gives it."""
    for n in (3, 2, 1):
        found = _place(words[-n:]) if len(words) >= n else None
        if found is not None and found[2] == n:
            return found
    return None


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[\s,()\-/.&]+", text.casefold()) if w]


def _where(place: str) -> str:
    if place in ("Hong Kong", "Macau"):
        return f"{place} (counted as the PRC)"
    return f"a PRC place ({place})"


def _company_form(text: str) -> tuple[str, str] | None:
    """The kind and text of the legal form that ends a name (None: none, or another country's)."""
    if _LOCAL_FORM.search(text):
        return None
    return next(((kind, m.group(1)) for kind, rx in _FORMS if (m := rx.search(text))), None)


def _split_branch(text: str) -> tuple[str, list[tuple[str, bool, bool]]]:
    """A name without its trailing notes and branch, and the PRC places those name.

    "... Co., Ltd. Shenzhen Branch" and "... Co., Ltd. (Singapore Branch)" are the company
    "... Co., Ltd."; the places come as ``_place`` gives them (its name, whether unambiguous),
    with whether the name calls it a branch or office ("... Limited Hong Kong Branch") or not
    ("... Limited Hong Kong", "... Limited (Hong Kong)": the place written after the form).
    """
    places: list[tuple[str, bool, bool]] = []
    while True:
        note = _TRAILING_NOTE.search(text)
        if note is not None and note.start() > 0:
            inner = _BRANCH.sub("", note.group(1))
            words = _words(inner)
            found = _place_at_end(words)
            if found is not None:
                places.append((*found[:2], inner != note.group(1)))
            text = text[: note.start()]
            continue
        suffix = _BRANCH.search(text)
        if suffix is None or suffix.start() == 0:
            words = text.split()
            for n in (3, 2, 1):  # "Acme Technology Co., Ltd., Shenzhen": the place after the form
                if len(words) > n and _company_form(" ".join(words[:-n]).rstrip(" ,-")) is not None:
                    found = _place(_words(" ".join(words[-n:])))
                    if found is not None and found[2] == len(_words(" ".join(words[-n:]))):
                        places.append((*found[:2], False))
                        return " ".join(words[:-n]).strip(" ,-"), places
            return text.strip(" ,-"), places
        words = text[: suffix.start()].split()
        # the last words that are a place ("Hong Kong", "Shen Zhen"), or start with one after the
        # company's legal form ("... Co., Ltd., Beijing Haidian Branch")
        tails = [(n, _words(" ".join(words[-n:]))) for n in (3, 2, 1) if len(words) > n]
        cut, found = next(
            (
                (n, f)
                for n, tail in tails
                if (f := _place(tail)) is not None
                and (f[2] == len(tail) or _company_form(" ".join(words[:-n]).rstrip(" ,-")) is not None)
            ),
            (None, None),
        )
        if cut is not None and found is not None:
            places.append((*found[:2], True))
        else:  # a branch elsewhere ("Singapore Branch"): the company's name ends before it
            cut = next((n for n in (1, 2, 3) if len(words) > n and _company_form(" ".join(words[:-n]))), 0)
        text = " ".join(words[: len(words) - cut])


def _prc_form(kind: str, place: str) -> bool:
    """Whether a legal form of this kind is the PRC's form for a company of this place (Macau: Limitada, S.A.)."""
    return kind == "prc" or (kind == "macau" and place == "Macau")


def _english_evidence(text: str, declared: str) -> list[RegistrationEvidence]:
    """An English name's sign of a PRC registration: place and legal form, each strong or not.

    Strong: an unambiguous PRC place (or Hong Kong, Macau) first and "Co., Ltd." last; the same
    place in brackets and "Co., Ltd." or "Limited" last ("Acme (Hong Kong) Limited"); a branch
    in such a place of a company with "Co., Ltd." ("Acme Technology Co., Ltd. Shenzhen Branch").
    Weak: an unambiguous place first and another legal form ("Ltd.", "Inc.", "Corporation",
    "Group"); an older or shared spelling (Peking, Canton) with any legal form; a branch in a PRC
    place of a company with another form. A name without a legal form, or with a form of another
    country ("Pte. Ltd.", "Sdn. Bhd."), is not evidence: "Peking Duck House", "Canton Road Pte. Ltd.".
    """
    text, branches = _split_branch(text)
    form = _company_form(text)
    form_text = f"the legal form {form[1].strip()!r}" if form else "no PRC legal form"
    signs: list[RegistrationEvidence] = []
    for place, certain, branch in branches:
        # "Acme Technology Limited Hong Kong": the place after "Limited", not called a branch, from a
        # party declared where "Limited" is not its own form, is "Acme Technology (Hong Kong) Limited"
        limited_ok = (
            not branch and form is not None and form[0] == "limited" and declared not in LIMITED_COUNTRIES
        )
        strong = certain and form is not None and (form[0] == "prc" or limited_ok)
        what = f"a branch in {_where(place)} of a company with" if branch else f"{_where(place)} after"
        signs.append(RegistrationEvidence(strong, f"{what} {form_text}"))
    if form is not None and form[0] == "macau" and "macau" not in _words(text):
        form = None  # Limitada, S.A.: the forms of Portugal, Spain and Latin America unless with Macau
    if form is not None:
        body = text[: len(text) - len(form[1])]
        words = _words(body)
        found = _place(words)
        if found is not None and found[0] in _PRC_FORM_ONLY and form[0] != "prc":
            found = None  # "Pekin Life Insurance Company" (Pekin, Illinois)
        if found is not None:
            strong = found[1] and _prc_form(form[0], found[0])
            signs.append(RegistrationEvidence(strong, f"{_where(found[0])} first and {form_text} last"))
        found = _place_at_end(words) if len(words) > 1 else None
        if found is not None and found[0] in _PRC_FORM_ONLY and form[0] != "prc":
            found = None
        if found is not None:  # "Sunshine Logistics Shenzhen Co., Ltd.": the bracketed place unbracketed
            # with "Limited" alone, not from "Friends of Tibet Limited" (a place named, not a place of
            # registration; "Bank of Shanghai Co., Ltd." is the PRC form and stays strong), nor from
            # "Acme Shanghai Limited" declared in the UK or Ireland, where "Limited" is the own form
            of_place = len(words) > found[2] and words[-found[2] - 1] == "of"
            limited_ok = form[0] == "limited" and declared not in LIMITED_COUNTRIES and not of_place
            strong = found[1] and (_prc_form(form[0], found[0]) or limited_ok)
            signs.append(RegistrationEvidence(strong, f"{_where(found[0])} before {form_text}"))
        if (words[:1] == ["prc"] or words[:3] == ["p", "r", "c"]) and form[0] in ("prc", "limited"):
            signs.append(RegistrationEvidence(True, f"'PRC' first and {form_text} last"))
        middle = [f for w in words[1:-1] if (f := _place([w])) is not None and f[1]]
        if middle and form[0] == "prc":  # "Acme Shenzhen Technology Co., Ltd."
            signs.append(RegistrationEvidence(False, f"{_where(middle[0][0])} within and {form_text} last"))
        if declared != "TW" and (words[:1] in (["china"], ["zhongguo"]) or words[-2:] == ["of", "china"]):
            # a PRC national enterprise ("China ... Corporation", "... Corporation of China");
            # a warning only, and none from a party declared in TW, where China Steel, China
            # Airlines and China Motor are registered
            signs.append(RegistrationEvidence(False, f"'China' and {form_text}"))
        for bracket in _BRACKETS.findall(body):
            inside = _words(bracket)
            if inside in (["china"], ["prc"], ["p", "r", "c"]) and form[0] in ("prc", "limited"):
                # a foreign-invested enterprise registered in the PRC: "Acme Technology (China) Co., Ltd."
                signs.append(
                    RegistrationEvidence(True, f"'({bracket.strip()})' in brackets and {form_text} last")
                )
                continue
            inside = ["hk"] if inside == ["h", "k"] else inside  # "(H.K.)": the initials HK, a warning
            found = _place(inside) if inside else None
            rest = inside[found[2] :] if found is not None else []
            if found is not None and len(inside) > 3 and not set(rest) <= _ZONE_WORDS:
                found = None  # "(Hainan Free Trade Port)" is a place
            if found is not None:
                strong = found[1] and (_prc_form(form[0], found[0]) or form[0] == "limited")
                signs.append(
                    RegistrationEvidence(strong, f"{_where(found[0])} in brackets and {form_text} last")
                )
    words = _words(text)
    pinyin = _pinyin_institution(words)
    if pinyin is not None:
        # "Haerbin Gongye Daxue", "Zhongguo Gongcheng Wuli Yanjiuyuan": a Chinese institution's name
        # written out in pinyin, whatever country is declared; a warning only from a party declared
        # in TW (its institutions write Hanyu Pinyin too) (red team rt12). A company's form in
        # pinyin (Gongsi, Jituan) with no PRC place is a warning, as "China ... Co., Ltd." is.
        signs.append(
            RegistrationEvidence(
                declared != "TW" and pinyin[0] not in _PINYIN_COMPANY,
                f"it holds the pinyin {pinyin[0]!r} ({pinyin[1]}): a Chinese organisation's name written in pinyin",
            )
        )
    if not signs:
        return []
    best = max(signs, key=lambda s: s.strong)
    what = "its name is a PRC enterprise name" if best.strong else "its name reads as a PRC enterprise name"
    return [RegistrationEvidence(best.strong, f"{what}: {best.what}")]


# The word(s) of a Chinese organisation's kind in its name written in Hanyu Pinyin, and what they say:
# no other language writes these words, so a name holding one is the Chinese name of an organisation.
_PINYIN_ENDINGS = {
    ("daxue",): "大学, university",
    ("da", "xue"): "大学, university",
    ("xueyuan",): "学院, college or academy",
    ("xue", "yuan"): "学院, college or academy",
    ("yanjiuyuan",): "研究院, research institute",
    ("yanjiu", "yuan"): "研究院, research institute",
    ("yan", "jiu", "yuan"): "研究院, research institute",
    ("yanjiusuo",): "研究所, research institute",
    ("yanjiu", "suo"): "研究所, research institute",
    ("yan", "jiu", "suo"): "研究所, research institute",
    ("kexueyuan",): "科学院, academy of sciences",
    ("kexue", "yuan"): "科学院, academy of sciences",
    ("ke", "xue", "yuan"): "科学院, academy of sciences",
    ("shiyanshi",): "实验室, laboratory",
    ("shiyan", "shi"): "实验室, laboratory",
    ("shi", "yan", "shi"): "实验室, laboratory",
    ("gongda",): "工大, university of technology",
    # Wade-Giles, as older and Taiwanese names write them
    ("ta", "hsueh"): "大學, university",
    ("tahsueh",): "大學, university",
    ("hsueh", "yuan"): "學院, college or academy",
    ("yen", "chiu", "yuan"): "研究院, research institute",
    ("yen", "chiu", "so"): "研究所, research institute",
    ("gong", "si"): "公司, company",
    ("jituan",): "集团, group",
    ("gongsi",): "公司, company",
    ("youxian", "gongsi"): "有限公司, limited company",
}


_PINYIN_COMPANY = frozenset({"gongsi", "gong si", "jituan", "youxian gongsi"})
"""The pinyin of a company's form: a warning alone (an institution's word is strong)."""


def _pinyin_institution(words: Sequence[str]) -> tuple[str, str] | None:
    """The pinyin word of a Chinese organisation in a name (its text and its meaning), or None.

    Anywhere among two or more words ("Haerbin Gongye Daxue", "Haerbin Gongye Daxue Pte. Ltd."),
    spaced ("Da Xue"), or glued to the words before it ("HaerbinGongyeDaxue"); "Daxue" alone names
    nothing.
    """
    if len(words) > 1:
        for size in (3, 2, 1):
            for at in range(len(words) - size + 1):
                if (meaning := _PINYIN_ENDINGS.get(tuple(words[at : at + size]))) is not None:
                    return " ".join(words[at : at + size]), meaning
    for word in words:
        for ending in _PINYIN_GLUED:
            if word.endswith(ending) and len(word) > len(ending):
                return ending, _PINYIN_ENDINGS[(ending,)]
    return None


_PINYIN_GLUED = tuple(sorted((k[0] for k in _PINYIN_ENDINGS if len(k) == 1), key=len, reverse=True))


def _where_cjk(place: str) -> str:
    sar = {"香港": "Hong Kong", "澳门": "Macau"}.get(place)
    return f"{place} ({sar}, counted as the PRC)" if sar else f"a PRC place ({place})"


def _chinese_evidence(text: str, declared: str, *, taiwanese: bool = False) -> list[RegistrationEvidence]:
    """A Chinese-script name's sign: a PRC place (or 香港, 澳门) and a PRC form, or a form alone.

    ``taiwanese``: the name is written in Traditional characters by a party declared in TW, where
    股份有限公司 is the company's own form and companies are named after mainland places (長春石油化學,
    大連化學, 泰安產物保險): a place first with that form is a warning; bracketed or with 市 or 省 (the PRC's
    administrative division), still strong.
    """
    folded = "".join(text.split()).replace("（", "(").replace("）", ")").strip(_EDGE)
    folded = _CJK_BRACKETED_BRANCH.sub(r"\1", folded)  # 深圳市…有限公司(新加坡分公司)
    note = _CJK_TRAILING_NOTE.match(folded)
    if note is not None:  # 艾克米科技有限公司(深圳), 深圳市…有限公司(新加坡): the note after the form
        inside = note.group("note")
        place_note = next((p for p in _CJK_PLACES if inside.startswith(p)), None)
        folded = note.group("name")
        if place_note is not None and any(folded.endswith(f) for f in _CJK_FORMS):
            return [
                RegistrationEvidence(
                    True, f"its name is a PRC enterprise name: {_where_cjk(place_note)} after the legal form"
                )
            ]
        if inside in _CJK_TYPE_NOTES and any(folded.endswith(f) for f in _CJK_FORMS):
            return [
                RegistrationEvidence(
                    True,
                    f"its name is a PRC enterprise name: the PRC enterprise type ({inside}) after the legal form",
                )
            ]
    branch = _CJK_BRANCH.match(folded)
    if branch is not None:
        where = branch.group("where").strip("()")
        place_cjk = next((p for p in _CJK_PLACES if where.startswith(p)), None)
        if place_cjk is not None:
            return [
                RegistrationEvidence(
                    True,
                    f"its name is a PRC branch name: a branch in {_where_cjk(place_cjk)} of {branch.group('name')}",
                )
            ]
        folded = branch.group("name")  # a branch elsewhere: its company's name decides
    one_person = next((f for f in _CJK_ONE_PERSON if folded.endswith(f)), None)
    if one_person is not None:
        return [
            RegistrationEvidence(
                True,
                f"its name is a PRC enterprise name: the legal form {one_person} "
                "(the PRC's one-person limited company, and Macau's)",
            )
        ]
    form_cjk = next((f for f in _CJK_FORMS + _CJK_PLACE_FORMS if folded.endswith(f)), None)
    if form_cjk is None:
        return []
    head = folded.lstrip("(")
    if "(中国)" in folded and form_cjk not in _CJK_PLACE_FORMS:  # 艾克米科技(中国)有限公司
        return [
            RegistrationEvidence(
                True, f"its name is a PRC enterprise name: (中国) and the legal form {form_cjk}"
            )
        ]
    place_cjk = next((p for p in _CJK_PLACES if head.startswith(p) or _cjk_bracketed(p, folded)), None)
    if place_cjk is not None:
        division = head.startswith((place_cjk + "市", place_cjk + "省")) or _cjk_bracketed(place_cjk, folded)
        if taiwanese and form_cjk == "股份有限公司" and not division:
            return [
                RegistrationEvidence(
                    False,
                    f"its name reads as a PRC enterprise name: {_where_cjk(place_cjk)} and the legal form "
                    f"{form_cjk} (also a Taiwanese form, in Traditional script)",
                )
            ]
        return [
            RegistrationEvidence(
                True,
                f"its name is a PRC enterprise name: {_where_cjk(place_cjk)} and the legal form {form_cjk}",
            )
        ]
    if form_cjk in _CJK_PLACE_FORMS:
        return []
    if head.startswith("中国") and declared not in ("TW", "HK", "MO"):
        return [
            RegistrationEvidence(False, f"its Chinese-script name starts with 中国 and ends with {form_cjk}")
        ]
    if declared not in CHINESE_SCRIPT_COUNTRIES:
        return [RegistrationEvidence(False, f"its Chinese-script name ends with the legal form {form_cjk}")]
    return []


def _cjk_bracketed(place: str, name: str) -> bool:
    """Whether a Chinese-script name brackets the place: (深圳), (深圳市), (广东省)."""
    return any(f"({place}{suffix})" in name for suffix in ("", "市", "省"))
