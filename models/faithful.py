"""What a faithful title may say, defined once: number strings, copy-only spans, series labels.

The decoder (`titler.beam_search` through `TitleConstraint`) and the metric
(`wenmai eval titler`: number_faithful, names_faithful, series_share, novel_char_share) both use these
definitions, so "faithful" means the same thing where titles are made and where they are judged.

**Span characters** are ASCII digits, the Chinese numerals 〇零一二三四五六七八九十百千万亿两,
Latin letters, "." and "%" (after NFKC, as the pipeline cleans text). A *run* is a maximal
sequence of span characters, a "." only between two others: "2026年8月10日" has the runs "2026",
"8" and "10"; "增长3.5%" has "3.5%"; "iPhone15发布" has "iPhone15"; "措施.方法" has none (there
"." is a full stop, as abstracts write it, and no title copies it).

**A number string** is a run that holds a numeral, plus the one unit character right after it
when that character is in `UNITS` ("1244万", "2026年", "三成", "6月", "2日"). Not numbers: a
lone 一 or 两 (一个, 两国: articles and measure words far more often than figures), and runs
inside the fixed words of `NUMERAL_WORDS` (一些, 统一, 万一, 十分, ...).

**Faithful** means whole: a title's number string occurs in its source as a whole run, with the
same unit after it when it has one. So 90亿 is not in 900亿, 6月2日 is not in 6月22日 (2日 is
not a whole run there), 十五 is not in 十五五, 124万 is not in 1244万, 一百万 not in 一千一百万.
The decoder holds every run (numbers and Latin words alike) to this rule: a run may only be
continued along a run of the source and may only end where a source run ends.

**Series labels** are programme rubrics, not headlines (国内联播快讯, ...): a title may never be
one. A trained titler also stores the titles its training data repeated on many dates, as
`title_key`s (hashes: the model directory holds no dataset text).

Example:
    >>> number_strings("全国高考报名人数1244万，比去年增加三成")
    ['1244万', '三成']
    >>> number_faithful("报名人数124万", "报名人数1244万")
    False
"""
from __future__ import annotations

import hashlib
import re
from collections import Counter
from typing import Iterable, Optional, Sequence

from wenmai.models.vocab import normalize_char

__all__ = ["title_key", "NUMERALS", "SPAN_CHARS", "UNITS", "NUMERAL_WORDS", "SERIES_LABELS", "runs",
           "number_strings", "number_faithful", "has_names", "names_faithful", "is_series_label",
           "series_share",
           "novel_char_share", "chinese_share", "untitled_reason", "TitleConstraint",
           "NEWS_OPENERS", "strip_opener", "titler_input", "leading_clauses", "digest_headlines",
           "digest_lead"]

NUMERALS = frozenset("0123456789〇零一二三四五六七八九十百千万亿两")
SPAN_CHARS = NUMERALS | frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.%")
# one character after a numeral run that belongs to the number: dates and times, counts,
# money, shares and the commonest measure words of news
UNITS = frozenset("年月日号时点分秒岁成倍元角个人名位次家座项条天周届期米吨度例台架艘辆件所户亩股")
NUMERAL_WORDS = ("一些", "统一", "万一", "一起", "一样", "一直", "唯一", "一定", "一般", "一致",
                 "一切", "一体", "一律", "一旦", "同一", "一再", "一道", "一同", "一流", "一线",
                 "一举", "进一步", "一方面", "千万", "万物", "十分", "百姓", "一带一路", "一国两制",
                 "两岸", "两会", "三农", "万众", "千百万", "一把手", "第一时间", "不一")
# rubrics of the news programme in the train data: bundles of unrelated items, not headlines
SERIES_LABELS = frozenset({"国内联播快讯", "国际联播快讯", "联播快讯", "新闻联播", "新闻联播快讯",
                           "央视快评", "国际时评", "新闻特写", "焦点访谈", "今日关注", "联播快评"})
# stock openings of the news stories (after NFKC: full-width brackets and colons become ASCII)
NEWS_OPENERS = re.compile(r"^\s*((央视网|中国网络电视台)([(（]新闻联播[)）])?消息([(（]新闻联播[)）])?[:：]\s*)?"
                          r"(本台消息[，,:：]\s*)?")


def _normalized(text: str) -> str:
    """Each character normalised as the titler's vocabulary normalises it (NFKC where it keeps
    one character, lower case), so the metric sees the characters the decoder saw: "℃" stays
    one character here, where whole-string NFKC would make it "°C"."""
    return "".join(normalize_char(c) for c in text)


_LINKS = re.compile(r"\[[^\]]*\]\((?:https?://|www\.)[^)]*\)|(?:https?://|www\.)[^\s)\]]+")


def titler_input(text: str) -> str:
    """What the titler reads of a document: no stock opening, no links (a URL's letters are no
    title material). `documents.text` itself keeps both.

    Example: titler_input("央视网消息：会议召开。[查看原文](https://example.com/a.shtml)") == "会议召开。"
    """
    return _LINKS.sub("", strip_opener(text)).strip()


def strip_opener(text: str) -> str:
    """The text without a news outlet's stock opening (which the titler would learn to copy).

    Example: strip_opener("央视网消息(新闻联播):今天上午……") == "今天上午……";
    strip_opener("本台消息，今天上午……") == "今天上午……"
    """
    return NEWS_OPENERS.sub("", text, count=1)


_OPENERS, _CLOSERS = "(（「『“‘《[【", ")）」』”’》]】"
_LEAD_BREAKS = "，,；;：:。？！?!"
_LEAD_KEEP = "？！?!"  # a question or an exclamation keeps its mark as a title
_SENTENCE_ENDS = "。？！?!"


def _ascii_alnum(c: str) -> bool:
    return c.isascii() and c.isalnum()


def leading_clauses(text: str, max_chars: int, min_chars: int = 8) -> Optional[str]:
    """A short document's own leading words as its title: the whole clauses of its first sentence
    that fit in `max_chars`, less the clause mark they end on (a ? or ! stays); None when the
    first clause alone is longer, or when what fits is shorter than `min_chars` (根据生产实践,
    用留数定理: an abstract's opening phrase says nothing), or ends on a clause of three characters
    or fewer (…的检索,因此). A mark inside brackets or quotes, a "," or ":" between digits (1,000;
    10:30) and a "." inside a number or a Latin name (3.5, H.264) end no clause. Nothing is
    rewritten, so nothing can be misstated: a question of 40 characters is better titled by its
    own first clause than by a titler that learned from news and abstracts (`pipelines/title.py`).

    Example: leading_clauses("如何看待某科技公司恶意贬低激光电视被判商业诋毁,企业不正当竞争都包含哪些行为?", 32)
    == "如何看待某科技公司恶意贬低激光电视被判商业诋毁";
    leading_clauses("距离考研还有二十天左右,你开始冲刺了吗?此时理想的复习状态是怎样的?", 32)
    == "距离考研还有二十天左右,你开始冲刺了吗?"
    """
    text = text.strip()
    if len(text) <= max_chars:
        return text
    best, depth = None, 0
    for i, c in enumerate(text[:max_chars + 1]):
        if c in _OPENERS:
            depth += 1
        elif c in _CLOSERS:
            depth = max(0, depth - 1)
        elif depth == 0 and i > 0 and (c in _LEAD_BREAKS or c == ".") and not (
                c in ",:." and _ascii_alnum(text[i - 1]) and _ascii_alnum(text[i + 1:i + 2])
                and (c == "." or text[i - 1].isdigit())):  # 1,000 10:30 3.5 H.264
            clause = (text[:i + 1] if c in _LEAD_KEEP else text[:i]).rstrip()
            last = len(clause) - max(clause.rfind(m, 0, len(clause) - 1) for m in _LEAD_BREAKS)
            if min_chars <= len(clause) <= max_chars and last > 3:  # not on 因此, 同时, 首先
                best = clause
            if c in _FULL_STOPS:  # the first sentence at most (…狡猾」?, not …狡猾」?关于艾滋病);
                return best  # abstracts end sentences with "."
    return best


# A digest's item headline: a line with no sentence punctuation (after normalisation the line
# break before and after it is a space), between a sentence's end and its item's first sentence.
_SENTENCE_MARKS = re.compile(r"[。，！？；：,!?;:]|\.\.\.")  # NFKC writes …… as ......
_CONTINUES = re.compile(r"^[。，！？；：、,!?;:)）》”]")  # a segment that carries on a sentence
_ITEM_ENDS = ("。", "!", "?", "！", "？", "”", "…", "...")
_BRACKETS = (("《", "》"), ("“", "”"), ("(", ")"), ("[", "]"), ("‘", "’"), ("<", ">"))
_CJK = re.compile(r"[\u4e00-\u9fff]")
# not an item's headline: a dateline (新华社北京3月5日电) or a numbered section (一、 (二) 3.)
_NOT_HEADLINE = re.compile(r"\d{1,2}月\d{1,2}日电|^(?:[一二三四五六七八九十]+、|[(（][一二三四五六七八九十\d]+[)）]"
                           r"|\d+[.、])")
HEADLINE_CHARS = (6, 40)


def _is_headline(parts: Sequence[str], after: str) -> bool:
    line = " ".join(parts)
    lo, hi = HEADLINE_CHARS
    return (lo <= len(line) <= hi and line not in SERIES_LABELS and "记者" not in line
            and not _NOT_HEADLINE.search(line)
            # each part a phrase, not a number or Latin word set off by spaces (iPhone 16)
            and all(len(_CJK.findall(part)) >= 2 for part in parts)
            and not _CONTINUES.match(after)  # "…隆重开幕 。": a sentence broken by a space
            and not (line[-1].isdigit() and after[:1].isdigit())  # "李克强1 8日"
            and all(line.count(a) == line.count(b) for a, b in _BRACKETS))


def _headline_at(segments: Sequence[str], i: int) -> int:
    """The end j of the headline line segments[i:j] starting at i (a run of segments without
    sentence marks, then a segment with one), or i when there is none. Reads at most a
    headline's length ahead, so a document is scanned in linear time."""
    j, chars = i, -1
    while j < len(segments) and not _SENTENCE_MARKS.search(segments[j]):
        chars += len(segments[j]) + 1
        if chars > HEADLINE_CHARS[1]:
            return i
        j += 1
    return j if i < j < len(segments) and _is_headline(segments[i:j], segments[j]) else i


def digest_headlines(text: str, min_items: int = 3) -> list[str]:
    """The item headlines of a digest (a bulletin of unrelated items, each a headline line and
    its sentences, opening with its first item), or [] for any other document.

    A digest has no one subject to title; its first item's headline is the faithful choice. On
    titles/xwlb/news.jsonl this finds 1,971 stories, every one of them titled as the programme's
    bulletins there (国内联播快讯, 国际联播快讯); on the 48,577 stories of archive.jsonl, 6 (each a
    list of headed items). A single stray line break inside a sentence never makes one, nor does a
    dateline, a numbered section or a number set off by spaces. An article under a title line
    with three unnumbered subheadings reads as one (its title line then titles it).

    Example: digest_headlines("央视网消息：甲地新建水库投用 水库今天投用，可蓄水。 乙市出台育儿补贴 "
    "补贴每月发放。 丙省春播过半 春播进度快于去年。") == ["甲地新建水库投用", "乙市出台育儿补贴", "丙省春播过半"]
    """
    segments = titler_input(text).split(" ")
    if segments[0] in SERIES_LABELS:  # the rubric, then the first item
        segments = segments[1:]
    headlines: list[str] = []
    i, item_may_start = 0, True
    while i < len(segments):
        if item_may_start:
            j = _headline_at(segments, i)
            if j > i:
                headlines.append(" ".join(segments[i:j]))
                i = j
            elif not headlines:
                return []  # a digest opens with its first item's headline
        item_may_start = segments[i].endswith(_ITEM_ENDS)
        i += 1
    return headlines if len(headlines) >= min_items else []


def digest_lead(text: str) -> Optional[str]:
    """A digest's first item (the start of `text` up to its second headline), or None for any
    other document: the part its headline title names.

    Example: digest_lead("甲地新建水库投用 水库今天投用。 乙市出台育儿补贴 补贴每月发放。 "
    "丙省春播过半 春播进度快。") == "甲地新建水库投用 水库今天投用。 "
    """
    headlines = digest_headlines(text)
    if not headlines:
        return None
    first = text.find(headlines[0])
    end = text.find(f" {headlines[1]} ", first + len(headlines[0]))  # the line, not a mention
    return text[:end + 1] if first >= 0 and end > 0 else None


def runs(text: str) -> list[tuple[int, int]]:
    """(start, end) of every maximal run of span characters. A "." belongs to a run only between
    two other span characters (3.5, H.264): elsewhere it is a full stop, which abstracts write as
    "." after Chinese (…的措施.方法), and a title may not copy it.

    Example: runs("2026年8月10日") == [(0, 4), (5, 6), (7, 9)]; runs("措施.方法 第3.5节") == [(7, 10)]
    """
    return [m.span() for m in _RUN.finditer(text)]


_RUN_CHARS = "[" + re.escape("".join(sorted(SPAN_CHARS - {"."}))) + "]+"
_RUN = re.compile(f"{_RUN_CHARS}(?:\\.{_RUN_CHARS})*")


def _masked(text: str) -> list[bool]:
    """Per character: inside one of NUMERAL_WORDS."""
    mask = [False] * len(text)
    for word in NUMERAL_WORDS:
        for m in re.finditer(re.escape(word), text):
            mask[m.start():m.end()] = [True] * (m.end() - m.start())
    return mask


def number_strings(text: str) -> list[str]:
    """Every number string of `text` (see the module docstring), in order."""
    text = _normalized(text)
    mask = _masked(text)
    out = []
    for start, end in runs(text):
        run = text[start:end]
        if not any(c in NUMERALS for c in run) or all(mask[start:end]) or run in ("一", "两"):
            continue
        unit = text[end] if end < len(text) and text[end] in UNITS else ""
        out.append(run + unit)
    return out


def _whole_numbers(source: str) -> set[str]:
    """Every run of `source`, alone and with the unit after it: what a title may repeat."""
    out = set()
    for start, end in runs(source):
        out.add(source[start:end])
        if end < len(source) and source[end] in UNITS:
            out.add(source[start:end + 1])
    return out


def number_faithful(title: str, source: str) -> bool:
    """True when every number string of `title` occurs in `source` as a whole."""
    allowed = _whole_numbers(_normalized(source))
    return all(s in allowed for s in number_strings(title))


def has_names(title: str) -> bool:
    """True when a title holds a 《 or 》 (a work's name, or what is left of one)."""
    return BOOK_OPEN in title or BOOK_CLOSE in title


def names_faithful(title: str, source: str) -> bool:
    """True when every 《name》 of `title` is a 《name》 of `source`, character for character,
    and no 《 or 》 of the title is left unpaired.

    Example: names_faithful("公布《行政复议法实施例》", "公布修订后的《行政复议法实施条例》") is False
    """
    pattern = _BOOK.pattern
    names = set(_BOOK.findall(_normalized(source)))
    norm = _normalized(title)
    found = re.findall(pattern, norm)
    leftover = re.sub(pattern, "", norm)
    return all(n in names for n in found) and not has_names(leftover)


def title_key(title: str) -> str:
    """A title's key for the banned list: sha256 of its characters normalised as the titler's
    vocabulary normalises them (so a decoded prefix and a raw title give the same key).

    Example: title_key("国内联播快讯") == title_key(" 国内联播快讯") (surrounding space ignored)
    """
    norm = "".join(normalize_char(c) for c in title.strip())
    return hashlib.sha256(norm.encode("utf-8")).hexdigest()[:20]


_LABEL_KEYS = frozenset(title_key(t) for t in SERIES_LABELS)
BOOK_OPEN, BOOK_CLOSE = "《", "》"
# a time word a title ended on: the source's sentence went on (…新闻发布会今天, …当地时间今天)
_DANGLING_TIME = re.compile(r"(?:当地时间)?(?:今天|昨天|明天|今日|昨日|日前|近日|当天|当日|目前|此前)?$")
_TRAILING_MARKS = ",:;、。 "  # after normalisation (，：； -> ,:;)
_DANGLING_MARKS = _TRAILING_MARKS + "(“‘[-/—<"  # nothing follows an opener or a dash (…酶(, …JWH-)
_PAIRED = (("“", "”"), ("‘", "’"), ("(", ")"), ("[", "]"))  # after normalisation (（ -> ()
_BOOK = re.compile("《([^《》]+)》")
_LABELS_NORM = tuple("".join(normalize_char(c) for c in t) for t in SERIES_LABELS)


def is_series_label(title: str, banned_keys: Iterable[str] = ()) -> bool:
    """A series label, or a title whose key is among `banned_keys` (a model's repeated titles)."""
    key = title_key(title)
    return key in _LABEL_KEYS or key in set(banned_keys)


def series_share(titles: Sequence[str], sources: Sequence[str],
                 banned_keys: Iterable[str] = ()) -> float:
    """Share of titles that are series labels or the output for at least max(3, 1 % of inputs)
    different sources (a stock title says nothing about its document)."""
    if not titles:
        return 0.0
    distinct = Counter()
    for title, source in set(zip(titles, sources)):
        distinct[title] += 1
    floor = max(3, 0.01 * len(titles))
    banned_keys = set(banned_keys)
    bad = sum(1 for t in titles if t and (is_series_label(t, banned_keys) or distinct[t] >= floor))
    return bad / len(titles)


def novel_char_share(titles: Sequence[str], sources: Sequence[str]) -> float:
    """Share of title characters (all titles together) absent from their own source."""
    total = novel = 0
    for title, source in zip(titles, sources):
        present = set(_normalized(source).lower())
        for c in _normalized(title).lower():
            total += 1
            novel += c not in present
    return novel / total if total else 0.0


def chinese_share(text: str) -> float:
    """Share of CJK ideographs among the letters of `text`, links left out (0 when it has no
    letters)."""
    letters = [c for c in _LINKS.sub("", text) if c.isalpha()]
    if not letters:
        return 0.0
    return sum(1 for c in letters if "\u4e00" <= c <= "\u9fff" or "\u3400" <= c <= "\u4dbf") \
        / len(letters)


def untitled_reason(text: str, min_chinese: float = 0.5) -> Optional[str]:
    """Why a document gets no generated title (None: it gets one): a titler trained on Chinese
    invents strings for other languages, and no title is better than an invented one."""
    if chinese_share(text) < min_chinese:
        return "not_chinese"
    return None


# --------------------------------------------------------------------------------------------------
# the decoder's side: which characters may follow a title prefix


MAX_COPY_TAIL = 16  # characters of a title's end searched for in its source
_FULL_STOPS = frozenset(_SENTENCE_ENDS + ".")  # "." only outside a run (a title's or a lead's)


class TitleConstraint:
    """Per source: which next characters keep a title faithful to it.

    `rule(prefix)` -> (only, allow, ban), character sets for the next position:
    - `only` (not None): nothing else may follow, not even the end (a run or a name must go on);
    - `allow`: span characters that may follow (every other span character is banned);
    - `ban`: further characters that may not follow ("" stands for the end of the title).
    Rules: a run of span characters follows a run of the source and ends only where a source run
    ends; a unit right after a run is one that follows that run in the source; a title that is
    copying a source word goes on to the word's end before it ends or turns elsewhere (阿里巴 ->
    阿里巴巴, 搭 -> 搭乘, 酒 -> 酒泉: the copy is the title's longest tail found in the source,
    and binds when every place it comes from ends inside a word) and neither starts nor turns
    into the middle of one (国 of 我国, 示 of 指示); a work's
    name in 《》 is copied whole, character for character, closed only where the source closes it
    (no 《行政复议法实施例》 for 《…实施条例》, no stray 》), and given once (no 《大国工匠》《大国工匠》,
    no 中华考工记《中华考工记》); a title is never a series
    label, though one the source names may tag it, as the broadcaster's own titles do
    (央视快评:努力建设…).
    """

    END = ""

    def __init__(self, source: str, words: Sequence[str] = (), banned_keys: Iterable[str] = (),
                 normalize=None):
        normalize = normalize or normalize_char  # one character to one: offsets stay the same
        norm = "".join(normalize(c) for c in source)
        self._source, self._norm_source = source, norm
        spans = runs(norm)
        self._runs = {norm[s:e] for s, e in spans}
        self._prefixes: dict[str, set[str]] = {}  # run prefix -> span characters that continue it
        self._units: dict[str, set[str]] = {}  # whole run -> units seen right after it
        for s, e in spans:
            run = norm[s:e]
            for i in range(e - s):
                self._prefixes.setdefault(run[:i], set()).add(run[i])
            if e < len(norm) and norm[e] in UNITS:
                self._units.setdefault(run, set()).add(norm[e])
        self._banned = set(banned_keys) | _LABEL_KEYS
        norm_words = ["".join(normalize(c) for c in w) for w in words]
        self._no_start = self._inner_only(norm, norm_words)
        self._word_ends = self._boundaries(norm, norm_words)  # None: no word knowledge
        self._copies: dict[str, list[int]] = {}  # prefix tail -> `_copy_ends` result
        self._names = frozenset(_BOOK.findall(norm))  # the source's 《name》s
        self._tags = {label for label in _LABELS_NORM if label in norm}  # labels it names

    @staticmethod
    def _boundaries(text: str, words: Sequence[str]) -> Optional[frozenset[int]]:
        """Offsets where a source word ends (0 included), or None when the words do not tile the
        text."""
        ends, at = {0}, 0
        for w in words:
            at += len(w)
            ends.add(at)
        return frozenset(ends) if at == len(text) else None

    @staticmethod
    def _inner_only(text: str, words: Sequence[str]) -> set[str]:
        """Characters that occur in the source only inside words, never at a word's start (国 of
        我国): a title starting with one would start mid-word. Given the words reversed: the
        characters that never end a word (酒 of 酒泉), after which a title may not end."""
        if sum(len(w) for w in words) != len(text):  # words do not tile the text: no knowledge
            return set()
        starts, inner = set(), set()
        for w in words:
            starts.add(w[:1])
            inner.update(w[1:])
        return {c for c in inner - starts if c not in SPAN_CHARS}

    def rule(self, prefix: str) -> tuple[Optional[set[str]], set[str], set[str]]:
        tail = len(prefix)
        while tail > 0 and prefix[tail - 1] in SPAN_CHARS:
            tail -= 1
        run = prefix[tail:]
        follow = self._prefixes.get(run, set())
        ban: set[str] = set()
        only: Optional[set[str]] = None
        if run and run not in self._runs:
            only = set(follow)  # inside a run: it must go on along a source run
        elif run:
            ban |= UNITS - self._units.get(run, set())
        goes_on, binding = self._copy(prefix) if not run else (set(), False)
        if binding:  # mid-word in the source: go on along it (搭 -> 搭乘), no end
            only = goes_on if only is None else (only & goes_on) or only
        elif not run:  # free to turn elsewhere, not into a word's middle (国 of 我国, 示 of 指示)
            ban |= (self._no_start - goes_on) | self._across(prefix)
        if prefix and title_key(prefix) in self._banned:
            ban.add(self.END)
        opened = prefix.rfind(BOOK_OPEN)
        if opened > prefix.rfind(BOOK_CLOSE):  # inside 《》: the name goes on as in the source
            name = self._name_goes_on(prefix[:opened], prefix[opened + 1:])
            only = name if only is None else only & name
        else:
            ban.add(BOOK_CLOSE)  # nothing to close
            if not self._unused_names(prefix):
                ban.add(BOOK_OPEN)  # no name left to copy
        for label in _LABELS_NORM:  # a label is no part of a title either (国内联播快讯研究)
            if label in self._tags and prefix == label:  # but a tag the source names: 央视快评:
                only = {":"} if only is None else only & {":"}
            elif label in self._tags and prefix == label[:-1]:
                continue
            elif prefix.endswith(label[:-1]):
                ban.add(label[-1])
            elif label not in self._tags:  # nor its opening, cut off (国内联播快,)
                for k in range(2, len(label) - 1):
                    if prefix.endswith(label[:k]) and label[:k + 1] not in self._norm_source:
                        ban.add(label[k])
        return only, follow, ban

    def _unused_names(self, before: str) -> list[str]:
        """The source's names a title starting `before` has not yet given, marked or bare: the
        n-gram ban does not reach inside 《》, so this is what keeps 《大国工匠》《大国工匠》 out."""
        return [n for n in self._names if n not in before]

    def _name_goes_on(self, before: str, name: str) -> set[str]:
        """What may follow `name` inside a 《 opened after `before`: the next character of each
        unused source name it begins, or 》 where one ends."""
        return {n[len(name)] if len(n) > len(name) else BOOK_CLOSE
                for n in self._unused_names(before) if n.startswith(name)}

    def _copy_ends(self, prefix: str) -> list[int]:
        """Where, in the source, each occurrence of the prefix's longest tail found there ends."""
        tail = prefix[-MAX_COPY_TAIL:]
        if tail not in self._copies:
            ends: list[int] = []
            for k in range(len(tail), 0, -1):
                piece, at = tail[-k:], self._norm_source.find(tail[-k:])
                while at >= 0:
                    ends.append(at + k)
                    at = self._norm_source.find(piece, at + 1)
                if ends:
                    break
            self._copies[tail] = ends
        return self._copies[tail]

    def _copy(self, prefix: str) -> tuple[set[str], bool]:
        """(the characters that continue the source text the title is copying, whether they bind).

        The copy is the prefix's longest tail found in the source. It binds when every place it
        comes from ends inside a word: "乘组搭" of "航天员乘组搭乘神舟" ends inside 搭乘, so only 乘
        may follow (not 圆满成功, not the end); "加速成" of "加速成型" goes on to 型. Nothing is
        copied, or the words are unknown: ((), False)."""
        if self._word_ends is None:
            return set(), False
        ends = self._copy_ends(prefix)
        if not ends:
            return set(), False
        return ({self._norm_source[e] for e in ends if e < len(self._norm_source)},
                not self._word_ends.intersection(ends))

    def _across(self, prefix: str) -> set[str]:
        """The characters that would carry a copy over the end of its source sentence: a copy
        that ends where a sentence does (…的竞争力.方法, …措施。今年) may not go on with the next
        sentence's first character, unless it goes on that way elsewhere in the source."""
        if not prefix or prefix[-1] in SPAN_CHARS:
            return set()
        src, after, goes_on = self._norm_source, set(), set()
        for e in self._copy_ends(prefix):
            if e < len(src) and src[e] in _FULL_STOPS:
                nxt = e + 1
                while nxt < len(src) and src[nxt].isspace():  # 。 分离前: the stop, a space
                    nxt += 1
                if nxt < len(src):
                    after.add(src[nxt])
            elif e < len(src):
                goes_on.add(src[e])
        return after - goes_on

    def finish(self, title: str) -> str:
        """The decoded (normalised) title as the reader sees it: an unfinished run, a word left
        midway, or a 《name》 left open, cut off the end (only the length limit can leave one), every run in its source's own spelling
        (the vocabulary lower-cases Latin letters: "iphone" -> "iPhone"); a quote or bracket
        left open where the source closes it right there gets its closing mark
        (采取“非法行动 -> 采取“非法行动”), a closing mark with nothing opened before it is
        dropped (活动周”特色阅读活动), and so are a clause or sentence mark and a time word the title
        ended on (…修复、, …巴切莱特。, …发布会今天)."""
        while title and title[-1] not in SPAN_CHARS and self._copy(title)[1]:
            title = title[:-1]  # a word the length limit cut (…加力优 of 加力优化)
        tail = len(title)
        while tail > 0 and title[tail - 1] in SPAN_CHARS:
            tail -= 1
        if title[tail:] and title[tail:] not in self._runs:
            title = title[:tail]
        opened = title.rfind(BOOK_OPEN)
        if opened > 0 and opened > title.rfind(BOOK_CLOSE):  # a name the length limit cut
            title = title[:opened].rstrip(",:、 ")
        for mark, close in _PAIRED:
            opened = title.rfind(mark)  # a quote or bracket the title ended in, closed as the source closes it
            if opened >= 0 and opened > title.rfind(close) and title[opened:] + close in self._norm_source:
                title += close
            closed = title.find(close)  # a closing mark with nothing opened before it (活动周”特色…)
            if (closed >= 0 and mark not in title[:closed]
                    and not {title[closed - 1:closed], title[closed + 1:closed + 2]} <= SPAN_CHARS):
                title = title[:closed] + title[closed + 1:]  # (not between two digits: 3)5)
        bare = title.rstrip(_DANGLING_MARKS)
        if bare:  # no title ends on a clause or sentence mark (…时强调, …修复、, …巴切莱特。),
            title = bare  # nor on an opening bracket or quote, or a dash (…歧化酶(, …激动剂JWH-)
        dangling = _DANGLING_TIME.search(title)
        if dangling.group(0) and dangling.start() >= 4:
            title = title[:dangling.start()].rstrip(_TRAILING_MARKS)
        out, last = [], 0
        for start, end in runs(title):
            at = self._norm_source.find(title[start:end])
            out.append(title[last:start])
            out.append(self._source[at:at + end - start] if at >= 0 else title[start:end])
            last = end
        out.append(title[last:])
        return "".join(out)
