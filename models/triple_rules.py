"""Decode-time evidence rules for typed triples: (sentence, jieba tokens, triples) -> the triples
that the sentence's own words support.

The extractor was trained on encyclopedia sentences, where a person and a country in one
sentence almost always are a nationality. On news it paired foreign leaders with the country a
quote mentioned (a visiting president and 一个中国原则), cut names mid-word (金某 of 金某某, 柬埔
of 柬埔寨) and
put phrases in person slots. Each rule below asks the sentence for evidence the pointers lack:

- `word_boundary`: a span must start and end on a jieba word boundary (the extractor's own
  segmentation); "extend" grows it to the words it cuts, "drop" removes the triple.
- `person_evidence`: a 人物 slot needs a person-looking span: a jieba POS `nr*` word under it
  (jieba.posseg, which tags unseen names by its HMM), or a "·" (transliterated names).
- `country_lexicon`: a 国家 slot needs a country name from `COUNTRIES` (our own list).
- `date_shape`: a Date slot needs a year (1998年, 二〇〇八年, 2008-05): a news date without one
  is the day of the report.
- `cues`: some predicates need one of their words near the pair (成立日期: 成立, 创办, ...; not
  成立60年来 or 前身是...成立的), see `CUES`.
- `work_marks`: a work slot needs the span in 《》 (范某说的“低空经济” is no book).
- Kin and spouses (人物 -> 人物 with a cue): the cue stands between the two names and no other
  name does (甲和夫人乙; not 乙和丙 in 甲夫人乙和丙夫人丁).
- Always: the subject and object spans do not overlap (中国铁路…公司 总部地点 中国), and no span
  holds a clause break or a title mark (三枪拍案惊奇》、《大笑江湖).
- `abbreviation_link` (简称 only): the short form stands by its full name, in a bracket opened
  right after it (国际海事组织(IMO), RAFLE（朗阁…中心）) or behind a cue (…公司（以下简称“远数科技”）,
  …简称“粤通租车”), not in the bracket of a name next to it (世界卫生组织(WHO)和…机构(HAI)).
- `nationality_link` (国籍 only): the sentence must tie the person to the country: the country
  before the person in the same clause with only nouns, adjectives or 的 between (越南国家主席X,
  来自德国的参展商X; not 中国驻泰国大使X),
  or right after the person's name with a nationality cue after it (X，美国演员; X，中国籍).

Every rule is measured on the held-out train-role slice and on a news sample; the extractor
card holds the figures, and `RuleConfig`'s defaults are the chosen ones.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

__all__ = ["RuleConfig", "COUNTRIES", "CUES", "slot_types", "has_cue", "snap_span", "is_country", "has_date_shape",
           "looks_like_person", "nationality_linked", "abbreviation_linked", "person_labelled", "work_labelled", "not_a_person", "TripleRules", "pos_tags"]

# Sovereign states and a few entities the training data gives as a nationality, in their
# common Chinese names and the short forms news uses (written for this module, not dataset text).
COUNTRIES = frozenset("""
中国 中华人民共和国 美国 英国 法国 德国 日本 韩国 朝鲜 俄罗斯 意大利 西班牙 葡萄牙 荷兰 比利时 卢森堡
瑞士 奥地利 瑞典 挪威 丹麦 芬兰 冰岛 爱尔兰 波兰 捷克 斯洛伐克 匈牙利 罗马尼亚 保加利亚 希腊 塞尔维亚
克罗地亚 斯洛文尼亚 波黑 波斯尼亚和黑塞哥维那 黑山 北马其顿 马其顿 阿尔巴尼亚 科索沃 摩尔多瓦 乌克兰
白俄罗斯 立陶宛 拉脱维亚 爱沙尼亚 马耳他 塞浦路斯 摩纳哥 列支敦士登 安道尔 圣马力诺 梵蒂冈 土耳其
格鲁吉亚 亚美尼亚 阿塞拜疆 哈萨克斯坦 乌兹别克斯坦 吉尔吉斯斯坦 塔吉克斯坦 土库曼斯坦 蒙古 印度
巴基斯坦 孟加拉国 孟加拉 斯里兰卡 尼泊尔 不丹 马尔代夫 阿富汗 伊朗 伊拉克 叙利亚 黎巴嫩 约旦 以色列
巴勒斯坦 沙特阿拉伯 沙特 也门 阿曼 阿联酋 阿拉伯联合酋长国 卡塔尔 巴林 科威特 越南 老挝 柬埔寨 泰国
缅甸 马来西亚 新加坡 印度尼西亚 印尼 菲律宾 文莱 东帝汶 澳大利亚 新西兰 巴布亚新几内亚 斐济 萨摩亚
汤加 瓦努阿图 所罗门群岛 基里巴斯 密克罗尼西亚 马绍尔群岛 帕劳 瑙鲁 图瓦卢 库克群岛 纽埃 加拿大
墨西哥 古巴 危地马拉 洪都拉斯 萨尔瓦多 尼加拉瓜 哥斯达黎加 巴拿马 伯利兹 牙买加 海地 多米尼加
多米尼克 巴哈马 巴巴多斯 特立尼达和多巴哥 格林纳达 圣卢西亚 圣文森特和格林纳丁斯 安提瓜和巴布达
圣基茨和尼维斯 巴西 阿根廷 智利 秘鲁 哥伦比亚 委内瑞拉 厄瓜多尔 玻利维亚 巴拉圭 乌拉圭 圭亚那 苏里南
埃及 利比亚 突尼斯 阿尔及利亚 摩洛哥 苏丹 南苏丹 埃塞俄比亚 厄立特里亚 吉布提 索马里 肯尼亚 乌干达
坦桑尼亚 卢旺达 布隆迪 刚果 刚果（布） 刚果（金） 刚果民主共和国 民主刚果 加蓬 喀麦隆 中非 乍得 尼日尔
尼日利亚 贝宁 多哥 加纳 科特迪瓦 利比里亚 塞拉利昂 几内亚 几内亚比绍 赤道几内亚 塞内加尔 冈比亚
马里 布基纳法索 毛里塔尼亚 佛得角 圣多美和普林西比 安哥拉 赞比亚 津巴布韦 马拉维 莫桑比克 纳米比亚
博茨瓦纳 南非 莱索托 斯威士兰 埃斯瓦蒂尼 马达加斯加 毛里求斯 塞舌尔 科摩罗
英格兰 苏格兰 威尔士 北爱尔兰 苏联 南斯拉夫 捷克斯洛伐克 东德 西德
""".split())

_COUNTRY_ENDS = tuple(c for c in COUNTRIES if len(c) >= 2)
_CLAUSE_PUNCT = set("，,。；;！？!?：:、\n")
_SENTENCE_END = set("。；;！？!?\n")
_CUE_BREAK = _CLAUSE_PUNCT - set("、")
# no entity holds a clause break or a title mark (三枪拍案惊奇》、《大笑江湖; X公司董事长Y，Z公司)
_BROKEN = re.compile(r"[，,。；;！？!?《》\n]")
# a date with its year: news dates without one (今晚(10月15日)) are the day of the report
_DATE = re.compile(r"[0-9０-９〇零一二三四五六七八九]{2,4}\s*年|[0-9]{4}[-/.][0-9]{1,2}|"
                   r"^(?:1[0-9]|20)[0-9]{2}$")
# a founding mentioned as an anniversary, a predecessor's or another body's: 成立60年来,
# 前身是1905年成立的Y, 1954年公司成立时
_NOT_FOUNDING = re.compile(r"成立\d+(?:周)?年|成立以来|成立时|前身|成立的")
# what may follow a country when it states someone's nationality (X，美国演员 / 中国籍 / 日本人，)
_NATIONALITY_CUE = re.compile(
    r"^(?:籍|人(?!民)|公民|裔|国籍|内地|香港|台湾|澳门|大陆|男|女|著名|知名|青年|职业|前|现役|"
    r"演员|歌手|作家|诗人|画家|导演|编剧|运动员|球员|足球|篮球|网球|排球|棋手|选手|政治家|外交官|"
    r"科学家|物理学家|化学家|数学家|作曲家|音乐家|艺术家|企业家|学者|教授|模特|主持人|记者|"
    r"[\s　]|$)")


# what may stand between a country and the person it names (国家主席, 总统, 的参展商, 著名歌手):
# nouns, adjectives, 的; jieba tags some role nouns as verbs (选手 v)
_GAP_FLAGS = ("n", "vn", "a", "b", "uj", "f")
# an apposition after a name opens with a comma or bracket and holds only punctuation, numbers,
# dates, nouns and adjectives (X（1970－），男，中国YYY)
_APPOSITION = "，,（(、 　"
_APPOSITION_FLAGS = ("x", "m", "t", "q", "b", "a", "n", "eng")
# a head of state or government, a minister or an envoy after a country: the title of the next
# person in a list (X，韩国总统Y), not X's nationality
_OFFICE = re.compile(r"(?:前|时任|现任)?(?:总统|副总统|总理|首相|国王|女王|王储|天皇|元首|领导人|主席|议长|外长|"
                     r"外交部长|国防部长|部长|大臣|大使|第.{1,3}世国王)")
# a copula between a person and a nationality (X是一名冰岛籍足球运动员, X为美国著名歌手)
_COPULA = re.compile(r"(?:是|为|系)(?:一[名位个])?")
_GAP_WORDS = frozenset({"选手", "籍", "前", "代表", "队员", "队长", "主帅", "主教练", "教练"})


# Words one of which the sentence must hold near the pair (their clause, or a few characters
# beyond it) before it states the predicate: a date next to an organisation is not its founding
# date unless something was founded. Predicates not listed need no cue.
CUES = {
    "成立日期": "成立|创立|创建|建立|组建|创办|始建|建校|建院|注册|登记|挂牌|开业|创刊|筹建|设立|诞生|建于|建成",
    "出生日期": "出生|生于|生人|诞生|出世|生日|[（(]|年生|月生|日生",
    "上映时间": "上映|首映|公映|放映|播出|首播|开播|播映|定档|热映|上线|发行|播放",
    "出生地": "出生|生于|人[，,。；]|籍贯|出生地|生长|长大|人$",
    "毕业院校": "毕业|就读|校友|考入|研究生|硕士|博士|学士|本科|学习|进修|求学|学院|学生|读|学历",
    "总部地点": "总部|位于|设在|坐落|地处|落户|总公司|注册地|驻地|在",
    "妻子": "妻|夫人|老婆|太太|爱人|伴侣|配偶|结婚|婚|娶|嫁|夫妇|伉俪|情侣|恋",
    "丈夫": "夫|老公|爱人|伴侣|配偶|结婚|婚|娶|嫁|妻|伉俪|情侣|恋",
    "父亲": "父|爸|爹|之子|之女|儿子|女儿|长子|次子|长女|次女|儿|子|女",
    "母亲": "母|妈|娘|之子|之女|儿子|女儿|长子|次子|长女|次女|儿|子|女",
    "创始人": "创始|创办|创立|创建|成立|创业|发起|建立|创",
    "董事长": "董事长|董事局主席",
    "主持人": "主持人|主持的|主持了|担任主持|主持》|主持，|主持,",
    # not 某总理签署国务院令，公布《条例》 nor 某外长指出，《某宪章》…; 张某《某某图》 is
    # an author right before his work (see _AUTHOR_BEFORE_WORK)
    "作者": "作者|著|写|撰|创作|编|所作|作品|小说|诗|画|绘|词|译|出版|笔|文章|书",
}
# A field label or role phrase next to a span names its type where the span itself cannot:
# pen names (作者是夜潇湘, 是混沌卖完了创作的), works without 《》 (歌名：他的唯一, a sentence
# that opens with the work: 爱到此为止是歌手某某的音乐作品).
_PERSON_LABEL_BEFORE = re.compile(
    r"(?:(?:作品)?作者|作词|作曲|词|曲|歌手|演唱者?|原唱|导演|编剧|主演|主持人|监制|制片人)"
    r"\s*(?:[：:]|是|为)\s*$")
_PERSON_ROLE_AFTER = re.compile(r"^(?:创作|演唱|执导|导演|编剧|作词|作曲|填词|主演|主持)")
_ORG_END = re.compile(r"(?:公司|集团|总台|电视台|出版社|工作室|中心|协会|学会|委员会|局|部|院|网|社|团|台|厂)$")
_WORK_LABEL_BEFORE = re.compile(
    r"(?:^|[\s　，,。；;])(?:歌名|歌曲|曲名|作品名称|作品|书名|片名|剧名|中文名|中文名称|专辑|所属专辑)"
    r"\s*[：:]\s*$")
_WORK_OPENS = re.compile(r"^(?:是|，|,|的|\s|（|\(|$)")

WORK_TYPES = ("影视作品", "图书作品", "书籍", "网络小说", "文学作品", "歌曲", "音乐专辑", "电视综艺",
              "作品")


@dataclass(frozen=True)
class RuleConfig:
    word_boundary: str = "drop"  # extend | drop | off: a span that cuts a jieba word
    person_evidence: bool = True  # 人物 slots need a POS nr word or a "·" in the span
    country_lexicon: bool = True  # 国家 slots need a name from COUNTRIES
    date_shape: bool = True  # Date slots need a year, month or day
    nationality_link: bool = True  # 国籍 needs the country tied to the person in the sentence
    max_link_gap: int = 12  # characters between country and person (country first)
    # a span the span type classifier gives at least this P(人物) also counts as a person
    # (pen names, stage names: jieba tags 江珊 ns, 独舞娃娃 none); above 1: POS evidence only
    person_share: float = 0.5
    person_tokens: bool = True  # every POS word of a person span is a name (nr*) or Latin
    cues: bool = True  # predicates in CUES need one of their words near the pair
    cue_reach: int = 20  # characters beyond the pair the cue may sit, within its clause
    work_marks: bool = True  # a work slot needs the span in 《》
    # a field label or role phrase next to a span stands in for 《》 or a name's POS (歌名：X,
    # 作者是X, 是X创作的; a work that opens the sentence: X是某某演唱的歌曲)
    labels: bool = True
    abbreviation_link: bool = True  # 简称 needs the short form bracketed by or cued from the name

    def __post_init__(self):
        assert self.word_boundary in ("extend", "drop", "off"), \
            f"word_boundary must be extend, drop or off, got {self.word_boundary!r}"


def _bounds(tokens: Sequence[str]) -> list[int]:
    out, pos = [0], 0
    for t in tokens:
        pos += len(t)
        out.append(pos)
    return out


def snap_span(bounds: Sequence[int], start: int, end: int, mode: str) -> Optional[tuple[int, int]]:
    """[start, end) on word boundaries: unchanged when it already is, grown to the words it cuts
    ("extend"), or None ("drop"); `bounds` are the token offsets 0, len(w1), ..., len(text).

    Example: bounds of (金某某, 表示) = [0, 3, 5]; snap_span(b, 0, 2, "extend") == (0, 3),
    snap_span(b, 0, 2, "drop") is None, snap_span(b, 0, 3, "drop") == (0, 3).
    """
    import bisect

    if mode == "off":
        return start, end
    i = bisect.bisect_right(bounds, start) - 1  # last boundary at or before start
    j = bisect.bisect_left(bounds, end)  # first boundary at or after end
    if j >= len(bounds):
        j = len(bounds) - 1
    if bounds[i] == start and bounds[j] == end:
        return start, end
    if mode == "drop":
        return None
    return bounds[i], bounds[j]


def is_country(span: str) -> bool:
    """Example: is_country("柬埔寨") is True, is_country("柬埔") and is_country("中美") are False."""
    return span in COUNTRIES


def has_date_shape(span: str) -> bool:
    """A year is named (a bare year too: 1965). Example: has_date_shape("1998年3月") and
    has_date_shape("1965") are True; has_date_shape("今年") and has_date_shape("10月15日") are
    False."""
    return bool(_DATE.search(span))


@functools.lru_cache(maxsize=4096)
def pos_tags(text: str) -> tuple[tuple[str, str, int, int], ...]:
    """(word, jieba POS flag, start, end) of jieba.posseg's cut of `text` (cached: the rules ask
    once per triple, and a sentence often has several)."""
    import jieba.posseg

    out, pos = [], 0
    for w, flag in jieba.posseg.dt.cut(text):
        out.append((w, flag, pos, pos + len(w)))
        pos += len(w)
    return tuple(out)


def _covered(tags, start: int, end: int):
    return [t for t in tags if t[2] < end and t[3] > start]


def looks_like_person(text: str, start: int, end: int, tags, every: bool = True) -> bool:
    """The span holds a "·" (马蒂亚斯·施密特), or it is 2-4 characters that jieba could only cut
    into single characters (a rare name: 屠|呦|呦), or its POS words are names (nr*; Latin words
    count): all of them (`every`) or at least one.

    Example: with tags of "越南国家主席阮某表示" (阮某 nr), 阮某 is a person; 表示 is not, and
    国家主席阮某 is one only when not `every`.
    """
    if "·" in text[start:end] or "•" in text[start:end]:
        return True
    covered = _covered(tags, start, end)
    flags = [flag for _, flag, _, _ in covered]
    if 2 <= end - start <= 4 and all(len(w) == 1 and not f.startswith("x") for w, f, _, _ in covered):
        return True  # a rare name jieba could not segment at all (屠|呦|呦)
    if every:  # a space between Latin words is part of the name (Khueanpet Pikul)
        flags = [flag for w, flag, _, _ in covered if not w.isspace()]
        return bool(flags) and all(f.startswith(("nr", "eng")) for f in flags)
    return any(f.startswith("nr") for f in flags)


SPOUSES = ("妻子", "丈夫")
# "and his wife" that does not follow the first name: it introduces another couple (甲和夫人乙…
# 为丙和夫人丁举行仪式: 丁 is 丙's wife, not 甲's, and 乙's husband is 甲, not 丁)
_OTHERS_SPOUSE = re.compile(r"[和与及偕携同]夫人")
# a place name's suffix right after a span: 吉伦特省 is a province, not a person (in 法国吉伦特省
# a person slot took 吉伦特); 省长, 州长, 县委 after a name are an office and stay
_PLACE_AFTER = re.compile(r"^[省州县郡](?![长委])")


# a Latin acronym (SPA, WHO, NBA) names a thing or a body: an app description's "SPA 国籍 中国"
# passed the POS evidence, where Latin words count as names; no person slot of SKE train or dev
# holds one
_ACRONYM = re.compile(r"[A-Z]{2,6}")


def not_a_person(text: str, start: int, end: int) -> bool:
    """Evidence against a person in the span: a place suffix right after it (吉伦特|省), the
    span ends in a country's name (援刚果 of 援刚果(金)医疗队), or it is a Latin acronym (SPA).

    Example: not_a_person("法国吉伦特省确认", 2, 5) is True; not_a_person("吉伦特省长表示", 0, 3)
    is False."""
    span = text[start:end]
    return bool(_PLACE_AFTER.match(text[end:end + 2]) or _ACRONYM.fullmatch(span)) or any(
        span.endswith(c) and len(span) > len(c) for c in _COUNTRY_ENDS)


def person_labelled(text: str, start: int, end: int) -> bool:
    """A role label stands right before the span (作者是夜潇湘, 作词:张畅), or the span stands
    between 是/由 and a role verb (是混沌卖完了创作的); never for a span that ends like an
    organisation (由某某电视台创作的).

    Example: person_labelled("《护院犬》…，作者是夜潇湘", i, j) is True for 夜潇湘.
    """
    if _ORG_END.search(text[start:end]):
        return False
    return bool(_PERSON_LABEL_BEFORE.search(text[max(0, start - 8):start])
                or (text[start - 1:start] in ("是", "由")
                    and _PERSON_ROLE_AFTER.match(text[end:end + 2])))


def work_labelled(text: str, start: int, end: int) -> bool:
    """A work without 《》 named by a field label (歌名：他的唯一) or opening the sentence and
    followed by 是, a comma, 的 or a bracket (爱到此为止是歌手某某的音乐作品).

    Example: work_labelled("傻的好幸福是许绍洋演唱的一首歌曲", 0, 5) is True;
    work_labelled("他说傻的好幸福是…", 2, 7) is False.
    """
    if _WORK_LABEL_BEFORE.search(text[max(0, start - 8):start]):
        return True
    return start == 0 and bool(_WORK_OPENS.match(text[end:end + 1]))


def _name_between(tags, s: tuple[int, int], o: tuple[int, int]) -> bool:
    """Another person's name (POS nr*) stands between the two spans: in 甲夫人乙和丙夫人丁, 丙 sits
    between 乙 and 丁, who are not a couple."""
    lo, hi = min(s[1], o[1]), max(s[0], o[0])
    return any(flag.startswith("nr") for _, flag, a, b in tags if a >= lo and b <= hi)


def has_cue(text: str, s: tuple[int, int], o: tuple[int, int], cue: str, reach: int,
            bounds: Optional[Sequence[int]] = None) -> bool:
    """Does `cue` (a regex) occur between and around the two spans, up to `reach` characters
    beyond them but not past a clause break (a 、 in a list is none)? With word `bounds` (token
    offsets), a match of two or more characters must start on one (出生 in 出生于, but 学历 is
    no cue in 北京大学|历史学系, nor 作者 in 先进工作者).

    Example: has_cue("2017年5月，某委员会成立", (8, 13), (0, 7), "成立", 8) is True;
    has_cue("某联合会今天(5月18日)公布数据", (0, 3), (7, 12), "成立", 8) is False.
    """
    lo, hi = min(s[0], o[0]), max(s[1], o[1])
    a = lo
    while a > max(0, lo - reach) and text[a - 1] not in _CUE_BREAK:
        a -= 1
    b = hi
    while b < min(len(text), hi + reach) and text[b] not in _CUE_BREAK:
        b += 1
    # the clause break itself may be part of the cue (人，); so may the end of the sentence
    window = text[a:min(len(text), b + 1)] + ("$" if b == len(text) else "")
    edges = None if bounds is None else set(bounds)
    for m in re.finditer(cue, window):
        lo, hi = a + m.start(), a + min(m.end(), len(text) - a)
        if edges is None or m.end() - m.start() < 2 or lo in edges:
            return True
    return False


_ABBREVIATION_CUE = re.compile(r"简称|缩写|简写|略称|缩称|又称|英文名|全称")


def abbreviation_linked(text: str, s: tuple[int, int], o: tuple[int, int], reach: int = 40) -> bool:
    """Is the short form tied to the full name? Between the two spans (either order, at most
    `reach` characters, no sentence end): a bracket opened right after the first one and not
    closed before the second (艾滋病病毒(HIV); HIV（艾滋病病毒）; …公司（以下简称“远数科技”）), or
    a cue word (…公司简称“粤通租车”; …协会英文全称：…，英文缩写：CLIA).

    Example: abbreviation_linked("世界卫生组织(WHO)和国际健康行动机构(HAI)", (0, 6), (18, 21))
    is False; with (7, 10) it is True.
    """
    first, second = sorted([s, o])
    gap = text[first[1]:second[0]]
    if len(gap) > reach or _SENTENCE_END & set(gap):
        return False
    if gap.lstrip()[:1] in ("(", "（") and not set(gap) & {")", "）"}:
        return True
    return bool(_ABBREVIATION_CUE.search(gap))


def nationality_linked(text: str, s: tuple[int, int], o: tuple[int, int], tags,
                       max_gap: int) -> bool:
    """Does the sentence tie person s to country o? (a) o before s in one clause, at most
    `max_gap` characters apart, only nouns, adjectives or 的 between, and not 驻 before the
    country (越南国家主席X; 来自德国的参展商X; not 中国驻泰国大使韩某); (b) o after s,
    when the country is followed by a nationality cue (X（1970年－），美国演员; X，中国籍);
    (c) "国籍" just before the country (国籍：日本).
    """
    (s0, s1), (o0, o1) = s, o
    if "国籍" in text[max(0, o0 - 4):o0]:
        return True
    if o1 <= s0:
        gap = text[o1:s0]
        if len(gap) > max_gap or _CLAUSE_PUNCT & set(gap) or text[max(0, o0 - 1):o0] == "驻":
            return False
        return all(flag.startswith(_GAP_FLAGS) or w in _GAP_WORDS
                   for w, flag, a, b in tags if a < s0 and b > o1)
    if o0 >= s1:
        # an apposition after the name: X，中国小童星 / X（1970－），男，日本YYY
        gap = text[s1:o0]
        if _COPULA.fullmatch(gap):  # X是一名冰岛籍足球运动员
            cue = _NATIONALITY_CUE.match(text[o1:o1 + 4])
            return bool(cue and cue.group(0).strip())
        if not gap or gap[0] not in _APPOSITION or _SENTENCE_END & set(gap):
            return False
        # the country opens the next item of a list, an office and its holder (X，韩国总统Y;
        # X，意大利前总理Y), not X's own office (X，美国前总统，…)
        end = next((i for i in range(o1, len(text)) if text[i] in _CLAUSE_PUNCT), len(text))
        office = _OFFICE.match(text[o1:end])
        if office and text[o1 + office.end():end].strip():
            return False
        if _NATIONALITY_CUE.match(text[o1:o1 + 4]):
            return True
        # the apposition describes the person: no verb in it up to the clause's end either
        # (not 法国的首都是巴黎，日本的首都是东京)
        return len(gap) <= max_gap and all(
            flag.startswith(_APPOSITION_FLAGS) or w in _GAP_WORDS
            for w, flag, a, b in tags if s1 < b and a < o0) and not any(
            flag.startswith("v") and flag != "vn" and w not in _GAP_WORDS
            for w, flag, a, b in tags if o1 <= a < end)
    return False


class TripleRules:
    """Applies the enabled rules of a `RuleConfig` to one sentence's triples. `slots` maps a
    predicate to its (subject, object) schema types, as in schemas.json (国籍: 人物 -> 国家)."""

    PERSON = ("人物", "娱乐人物", "历史人物")

    def __init__(self, slots: Mapping[str, tuple[str, str]], config: RuleConfig = RuleConfig(),
                 classifier=None):
        self.slots = dict(slots)
        self.config = config
        self.classifier = classifier  # a SpanTypeClassifier, or None: POS evidence only

    def _person_share(self, text: str, tokens: Sequence[str], start: int, end: int) -> float:
        from wenmai.models.span_types import span_features
        from wenmai.text import dictionary_tags

        if self.classifier is None or "人物" not in self.classifier.index:
            return 0.0
        p = self.classifier.proba([span_features(text, tokens, start, end, dictionary_tags())])
        return float(p[0, self.classifier.index["人物"]])

    def _needs_pos(self) -> bool:
        c = self.config
        return c.person_evidence or c.nationality_link

    def apply(self, text: str, tokens: Sequence[str], triples: Sequence[dict]) -> list[dict]:
        if not triples:
            return []
        c = self.config
        if "".join(tokens) != text:
            import jieba

            tokens = jieba.lcut(text)
        bounds = _bounds(tokens)
        tags = pos_tags(text) if self._needs_pos() else []
        out, seen = [], set()
        for t in triples:
            t = self._snapped(text, bounds, t)
            if t is None:
                continue
            key = (t["subject_start"], t["subject_end"], t["predicate"], t["object_start"],
                   t["object_end"])
            if key in seen or not self._fits(text, tokens, tags, t, bounds):
                continue
            seen.add(key)
            out.append(t)
        return out

    def _snapped(self, text: str, bounds, t: dict) -> Optional[dict]:
        mode = self.config.word_boundary
        s = snap_span(bounds, t["subject_start"], t["subject_end"], mode)
        o = snap_span(bounds, t["object_start"], t["object_end"], mode)
        if s is None or o is None:
            return None
        if s == (t["subject_start"], t["subject_end"]) and o == (t["object_start"], t["object_end"]):
            return t
        if s[0] < o[1] and o[0] < s[1]:  # grown into each other
            return None
        return {**t, "subject": text[s[0]:s[1]], "object": text[o[0]:o[1]], "subject_start": s[0],
                "subject_end": s[1], "object_start": o[0], "object_end": o[1]}

    def _slot_ok(self, text: str, tokens, tags, kind: str, start: int, end: int) -> bool:
        c = self.config
        span = text[start:end]
        if c.person_evidence and kind in self.PERSON and (
                not_a_person(text, start, end)
                or (not looks_like_person(text, start, end, tags, c.person_tokens)
                    and not (c.labels and person_labelled(text, start, end))
                    and self._person_share(text, tokens, start, end) < c.person_share)):
            return False
        if c.work_marks and kind in WORK_TYPES and not (
                text[start - 1:start] == "《" and text[end:end + 1] == "》"
                or c.labels and work_labelled(text, start, end)):
            return False
        if c.country_lexicon and kind == "国家" and not is_country(span):
            return False
        if c.date_shape and kind == "Date" and not has_date_shape(span):
            return False
        return True

    def _fits(self, text: str, tokens, tags, t: dict, bounds=None) -> bool:
        slot = self.slots.get(t["predicate"])
        if slot is None:
            return True
        s = (t["subject_start"], t["subject_end"])
        o = (t["object_start"], t["object_end"])
        if s[0] < o[1] and o[0] < s[1]:  # one span inside the other (中国铁路…公司 总部地点 中国)
            return False
        if _BROKEN.search(t["subject"]) or _BROKEN.search(t["object"]):
            return False
        cue = CUES.get(t["predicate"]) if self.config.cues else None
        if cue and not (has_cue(text, s, o, cue, self.config.cue_reach, bounds)
                        or (t["predicate"] == "作者" and o[1] + 1 == s[0]
                            and text[o[1]:s[0]] == "《")):
            return False
        if (cue and t["predicate"] == "成立日期"
                and _NOT_FOUNDING.search(text[min(s[0], o[0]):max(s[1], o[1]) + 6])):
            return False
        if slot[0] in self.PERSON and slot[1] in self.PERSON and cue and (
                _name_between(tags, s, o) or not re.search(cue, text[min(s[1], o[1]):
                                                                      max(s[0], o[0])])
                or (t["predicate"] in SPOUSES
                    and _OTHERS_SPOUSE.search(text[min(s[1], o[1]) + 1:max(s[0], o[0])]))):
            return False  # kin and spouses: the cue stands between them, no other name does
        if not (self._slot_ok(text, tokens, tags, slot[0], *s)
                and self._slot_ok(text, tokens, tags, slot[1], *o)):
            return False
        if self.config.abbreviation_link and t["predicate"] == "简称" and not abbreviation_linked(
                text, s, o):
            return False
        if self.config.nationality_link and t["predicate"] == "国籍":
            return nationality_linked(text, s, o, tags, self.config.max_link_gap)
        return True


def slot_types(schema_path) -> dict[str, tuple[str, str]]:
    """predicate -> (subject type, object type) as a schema file of JSON lines names them (the
    first listing of a predicate; 成立日期's two listings differ only in the subject's kind of
    organisation)."""
    import json

    out: dict[str, tuple[str, str]] = {}
    with open(schema_path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                r = json.loads(line)
                o = r["object_type"]
                out.setdefault(r["predicate"], (r["subject_type"],
                                                o["@value"] if isinstance(o, dict) else o))
    return out
