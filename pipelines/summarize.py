"""Summarize: Docs + embeddings + cluster assignments + titles -> `documents` and `clusters` rows.

Joins them on doc_id (one CoGroupByKey; keywords add shuffles keyed by word). A document whose embedding
failed goes to `dead_letter` with the inference error, so records read still equal documents
written plus dead letters. Each cluster gets its size, its representative (of the
`TITLE_CANDIDATES` members nearest the cluster's mean embedding, the one whose title the titler
was surest of; ties by closeness, then doc_id, originals before duplicates), a title (the
representative's title, else `text_title` of its text) and keywords ranked against the whole run
by class-based TF-IDF (`Keywords`), over the jieba tokens from Segment. The join carries each
Doc without its tokens and their keyword words as one string (`document_words`): an article's
tokens were most of its join value, and the runner holds every value in memory.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence

import apache_beam as beam
import numpy as np

from wenmai.config import SegmentConfig
from wenmai.models.faithful import digest_headlines, titler_input
from wenmai.pipelines.cluster import Assignment
from wenmai.pipelines.embed import lead_view
from wenmai.text import dictionary_tags
from wenmai.types import RAW_LIMIT, DeadLetter, Doc

DEAD_LETTER = "dead_letter"
TITLE_CHARS = 64  # at most, in a title taken from a text (`text_title`)
TIE = 1e-5  # members whose closeness to their cluster's mean differs by less tie (ids decide)
# The representative is the surest-titled of this many members nearest the mean (`representative`).
TITLE_CANDIDATES = 3


def document_row(doc: Doc, embedding, cluster_id: int, title=None) -> dict:
    """`title` is the Title step's (text, score, title_source), or None when titling is off, the
    document is not titled (e.g. not Chinese) or its batch failed."""
    title_text, title_score, title_source = title if title is not None else (None, None, None)
    return {
        "doc_id": doc.doc_id, "source": doc.source, "position": doc.position, "text": doc.text,
        "n_chars": len(doc.text), "truncated": doc.truncated, "duplicate_of": doc.duplicate_of,
        "title": title_text, "title_score": title_score, "title_source": title_source,
        # a float32 array, not a list of Python floats: 1.6 KB a row instead of 12 KB (384
        # dims), in every copy the runner holds; pyarrow writes it as list<float32> all the same
        "embedding": np.asarray(embedding, dtype=np.float32), "cluster_id": cluster_id,
    }


def join_document(doc_id: str, grouped: dict):
    """One doc_id's joined values -> a documents row (+ a member for its cluster, and its keyword
    words for its cluster when joined) or a dead letter."""
    docs, embeddings, errors, clusters = (list(grouped[k]) for k in ("doc", "emb", "err", "cluster"))
    titles = list(grouped.get("title", ()))
    if not docs:
        return  # an embedding without its doc cannot happen: embeddings are made from docs
    doc = docs[0]
    if not embeddings or not clusters:
        reason = errors[0] if errors else "no_embedding"
        yield beam.pvalue.TaggedOutput(DEAD_LETTER, DeadLetter(
            doc.source, doc.position, "embed", reason[:RAW_LIMIT], doc.text[:RAW_LIMIT]))
        return
    assignment: Assignment = clusters[0]
    row = document_row(doc, embeddings[0], assignment.cluster_id, titles[0] if titles else None)
    yield row
    if row["title"] is not None:
        doc = doc.with_(metadata={**doc.metadata, "title": row["title"],
                                  "title_certainty": title_certainty(row)})
    yield beam.pvalue.TaggedOutput("members", (assignment.cluster_id,
                                                (assignment.flow, doc, embeddings[0])))
    for words in grouped.get("words", ()):
        yield beam.pvalue.TaggedOutput("words", (assignment.cluster_id, words))


# Words made only of digits and number characters (零点, 一千三百, 五个, 百分之一点) say how much,
# not what about; with one more character (2026年, 15万, 3G) they are still a quantity.
_NUMBER_CHARS = re.compile(r"[\d.%零〇一二两三四五六七八九十百千万亿点个多余第分之]")
# Spans that are addresses or markup, not prose: their tokens (https, www, cctv, com, shtml, a
# tag's name) are kept out of the keyword vocabulary; the text itself is never changed.
_NOT_PROSE = re.compile(
    r"(?:https?:?/*|www\.)[\w\-./?%&=#:~+@]*"  # URLs, also with a mangled scheme (https//x.im)
    r"|[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+"  # e-mail addresses
    r"|[\w\-]+(?:\.[\w\-]+)*\.(?:com|cn|net|org|gov|edu|html?|shtml|php|aspx?|jsp)\b[\w\-./?%&=#]*"
    r"|<[^<>]{0,200}>|&[a-zA-Z]+;|&#\d+;",  # tags and entities
    re.IGNORECASE | re.ASCII)  # ASCII: a Chinese word next to an address is not part of it


# jieba dictionary tags of words that say how or when, not what about: pronouns (我国, 我们,
# 这里), time words (今天, 目前), adverbs (共同), direction words (最后, 以来), adjectives (重要,
# 伟大), prepositions, conjunctions, particles, numerals, measure words, interjections,
# onomatopoeia, state words. Nouns (安全 an too), names, verbs and verbal nouns stay.
_FUNCTION_TAGS = re.compile(r"[rtdpcumqyoz]\w*|e|f|a|ad|ag")
# Verbs that frame a question, an opinion or a report rather than name what it is about: a
# cluster of 如何看待… questions had 看待 as a keyword, one of 如何评价… questions 评价, and
# reports say 表示, 指出, 显示 whatever their subject.
_FRAME_WORDS = frozenset("""
看待 评价 值得 有没有 怎么办 不会 应该 知道 觉得 认为 愿意 无法 是否 能否 需要 希望 时候 出现 带来
表示 指出 强调 显示 进行
""".split())


def keyword_tokens(tokens: Sequence[str]) -> list[str]:
    """The tokens that may be keywords: not inside a URL, e-mail address or markup; at least two
    characters with a letter among them; not a number or a number with one unit character; not
    a function word by jieba's dictionary tag (a word the dictionary lacks, often a name, stays)
    nor a framing verb (`_FRAME_WORDS`: 看待, 评价, 表示).

    Example: keyword_tokens(("详见", "https", "://", "tv", ".", "cctv", ".", "com", "，", "2026", "年",
             "华为", "发布", "15万")) == ["华为", "发布"] (详见 is an adjective to jieba)
    """
    text = "".join(tokens)
    blocked = np.zeros(len(text) + 1, dtype=bool)
    for m in _NOT_PROSE.finditer(text):
        blocked[m.start():m.end()] = True
    tags = dictionary_tags()
    out, pos = [], 0
    for token in tokens:
        start, pos = pos, pos + len(token)
        word = token.strip()
        if (len(word) < 2 or blocked[start:pos].any() or not any(c.isalpha() for c in word)
                or len(_NUMBER_CHARS.sub("", word)) < 2
                or _FUNCTION_TAGS.fullmatch(tags.get(word, "x")) or word in _FRAME_WORDS):
            continue
        out.append(word.lower())
    return out


_WORD_SEP = "\t"  # never inside a word: CleanText turns every whitespace run into one space


def document_words(doc: Doc) -> str:
    """A document's keyword words (`keyword_tokens` of what its vector reads: a digest's first
    item) as one tab-joined string: a few bytes a word where a tuple of str objects takes ~70,
    in every copy the runner holds (an article's tokens were most of its documents-join value).

    Example: document_words(Doc("a", "s", 0, "华为发布芯片", tokens=("华为", "发布", "芯片")))
             == "华为\t发布\t芯片"
    """
    return _WORD_SEP.join(keyword_tokens(lead_view(doc).tokens))


def split_words(words: str) -> list[str]:
    return [w for w in words.split(_WORD_SEP) if w]


def ctfidf(count: int, total_count: int, mean_cluster_words: float) -> float:
    """BERTopic's class-based TF-IDF of a word in one cluster, up to the cluster's own size (which
    does not change the ranking inside a cluster): its count there times
    log(1 + average words per cluster / its count in the whole run).

    Example: ctfidf(3, 3, 10.0) == 3 * log(1 + 10 / 3) (a word found only in this cluster)
    """
    return count * math.log(1.0 + mean_cluster_words / total_count)


def rank_keywords(entries: Iterable[tuple[int, int]], total_count: int, doc_freq: int,
                  run: "RunStats", word: str, max_df: float):
    """One word's (cluster_id, count) entries -> (cluster_id, (score, word)) for each cluster,
    nothing when the word is in more than `max_df` of the run's documents or is part of a word
    that is (央视 of 央视网: jieba cuts the opener whole, but the string is in every story)."""
    if doc_freq > max_df * run.documents or any(word in common for common in run.common):
        return
    for cluster_id, count in entries:
        yield cluster_id, (ctfidf(count, total_count, run.mean_cluster_words), word)


@dataclass(frozen=True)
class RunStats:
    """What c-TF-IDF needs of the whole run: documents, average keyword tokens per cluster and
    the words over the document-frequency ceiling (few: each is in most documents)."""

    documents: int
    mean_cluster_words: float
    common: frozenset = frozenset()


def top_words(scored: Iterable[tuple[float, str]], k: int) -> list[str]:
    """Highest score first, ties by word.

    Example: top_words([(1.0, "乙"), (2.0, "丙"), (1.0, "甲")], 2) == ["丙", "乙"] (乙 < 甲)
    """
    return [w for _, w in sorted(scored, key=lambda sw: (-round(sw[0], 9), sw[1]))[:k]]


def cluster_keywords(clusters: Sequence[int], doc_tokens: Sequence[Sequence[str]], k: int,
                     max_df: float) -> dict[int, list[str]]:
    """The `Keywords` transform's result computed in memory: cluster id per document and its
    jieba tokens -> top-k keywords per cluster (for evaluations and tests).

    Example: cluster_keywords([0, 0, 1], [["华为", "发布"], ["华为", "手机"], ["北京", "降温"]], 1, 0.9)
             == {0: ["华为"], 1: ["北京"]}
    """
    words = [keyword_tokens(tokens) for tokens in doc_tokens]
    counts = Counter((c, w) for c, ws in zip(clusters, words) for w in ws)
    total = Counter(w for ws in words for w in ws)
    doc_freq = Counter(w for ws in words for w in set(ws))
    n_clusters = len(set(clusters))
    common = frozenset(w for w, df in doc_freq.items() if df > max_df * len(doc_tokens))
    run = RunStats(len(doc_tokens), sum(total.values()) / max(1, n_clusters), common)
    per_word: dict[str, list] = {}
    for (c, w), n in counts.items():
        per_word.setdefault(w, []).append((c, n))
    scored: dict[int, list] = {c: [] for c in set(clusters)}
    for w, entries in per_word.items():
        for c, sw in rank_keywords(entries, total[w], doc_freq[w], run, w, max_df):
            scored[c].append(sw)
    return {c: top_words(sw, k) for c, sw in scored.items()}


def word_entries(word: str, grouped: dict, run: "RunStats", max_df: float):
    """CoGroupByKey result for one word (its per-cluster counts, its document frequency) ->
    (cluster_id, (score, word)) per cluster."""
    entries = sorted(grouped["count"])
    doc_freq = sum(grouped["df"])
    yield from rank_keywords(entries, sum(n for _, n in entries), doc_freq, run, word, max_df)


def _word_entries(item, run: RunStats, max_df: float):
    return word_entries(item[0], item[1], run, max_df)


class Keywords(beam.PTransform):
    """(cluster_id, a member's `document_words`) -> (cluster_id, [keyword, ...]) for each cluster
    with any.

    Class-based TF-IDF (BERTopic's c-TF-IDF) over the run: a cluster's words are ranked by how
    often they occur in it against how often in the whole run, so what every story says (a
    broadcaster's name, a stock opener) sinks; a word in more than `keyword_max_df` of the
    documents is never a keyword. Keyed by word, so no worker holds the run's vocabulary.
    """

    def __init__(self, config: SegmentConfig):
        super().__init__()
        self._config = config

    def expand(self, members):
        config = self._config
        words = members | "SplitWords" >> beam.MapTuple(
            lambda cluster_id, words: (cluster_id, split_words(words)))
        counts = (words
                  | "PerClusterWord" >> beam.FlatMapTuple(
                      lambda c, ws: (((c, w), 1) for w in ws))
                  | "CountClusterWord" >> beam.CombinePerKey(sum)
                  | "ByWord" >> beam.MapTuple(lambda cw, n: (cw[1], (cw[0], n))))
        doc_freq = (words
                    | "DistinctWords" >> beam.FlatMapTuple(lambda c, ws: ((w, 1) for w in set(ws)))
                    | "DocFreq" >> beam.CombinePerKey(sum))
        totals = (words
                  | "DocAndWords" >> beam.MapTuple(lambda c, ws: (1, len(ws), {c}))
                  | "RunTotals" >> beam.CombineGlobally(_sum_totals))
        sizes = totals | "RunSizes" >> beam.Map(lambda t: RunStats(t[0], t[1] / max(1, len(t[2]))))
        common = (doc_freq
                  | "OverCeiling" >> beam.Filter(
                      lambda kv, run, max_df: kv[1] > max_df * run.documents,
                      beam.pvalue.AsSingleton(sizes), config.keyword_max_df)
                  | "CommonWords" >> beam.Keys()
                  | "GatherCommon" >> beam.combiners.ToList())
        run = sizes | "RunStats" >> beam.Map(
            lambda r, words: RunStats(r.documents, r.mean_cluster_words, frozenset(words)),
            beam.pvalue.AsSingleton(common))
        return ({"count": counts, "df": doc_freq}
                | "JoinByWord" >> beam.CoGroupByKey()
                | "Score" >> beam.FlatMap(_word_entries, beam.pvalue.AsSingleton(run),
                                               config.keyword_max_df)
                | "TopPerCluster" >> beam.combiners.Top.PerKey(
                    config.max_keywords, key=lambda sw: (round(sw[0], 9), _desc(sw[1])))
                | "Words" >> beam.MapTuple(lambda c, sw: (c, top_words(sw, config.max_keywords))))


def _desc(word: str) -> tuple[int, ...]:
    """Sort key that orders words descending (Top keeps the largest: ties go to the first word)."""
    return tuple(-ord(ch) for ch in word) + (0,)


def _sum_totals(rows) -> tuple[int, int, set]:
    """(documents, keyword tokens, cluster ids) summed; a CombineGlobally fn (empty input -> 0s)."""
    docs, n_words, clusters = 0, 0, set()
    for d, n, c in rows:
        docs, n_words, clusters = docs + d, n_words + n, clusters | c
    return docs, n_words, clusters


def title_certainty(row: dict) -> float:
    """How sure a document's title is: its own words (a short text, a digest's headline) 0, a
    generated title its score (mean log-probability per token, <= 0).

    Example: title_certainty({"title_source": "generated", "title_score": -0.4}) == -0.4
    """
    if row["title_source"] == "text":
        return 0.0
    return -math.inf if row["title_score"] is None else float(row["title_score"])


def representative(members: list[tuple[float, Doc, np.ndarray]],
                   candidates: int = TITLE_CANDIDATES) -> Doc:
    """Of the `candidates` members nearest the cluster's mean direction (typical documents;
    InfoMap's highest-flow node is a hub, often a bridge to other topics), the one with the
    surest title, untitled members last: its title names the cluster. Read on 1,000 train-role
    news stories (the newest of titles/xwlb/archive.jsonl), the nearest member's own title was
    a fragment or garbled (习近平总书记在省部级主要领导干部“学习) where a neighbour's was whole."""
    vectors = np.stack([m[2] for m in members]).astype(np.float32)  # (n, D), unit rows
    closeness = vectors @ vectors.mean(axis=0)  # (n,) cosine to the mean, up to its norm
    # Closeness within TIE is a tie (ids decide): embeddings move ~1e-7 when the runner batches
    # differently, and a rounded key still flipped at a rounding boundary between runs.
    order = sorted(range(len(members)), key=lambda i: -closeness[i])
    ranked: list[int] = []  # nearest first; each tied group by originals first, then doc_id
    while order and len(ranked) < candidates:
        tied = {i for i in order if closeness[i] >= closeness[order[0]] - TIE}
        ranked += sorted(tied, key=lambda i: (members[i][1].duplicate_of is not None,
                                              members[i][1].doc_id))
        order = [i for i in order if i not in tied]
    certainty = {i: members[i][1].metadata.get("title_certainty", -math.inf)
                 for i in ranked[:candidates]}
    surest = max(certainty.values())
    # nearest of those within TIE of the surest: scores too move a hair with their batch-mates
    return members[next(i for i, c in certainty.items() if c >= surest - TIE)][1]


_SENTENCE_END = re.compile(r"[。!?！？]")
_CLAUSE_END = re.compile(r"[，；;：]|(?<!\d)[,:]|[,:](?!\d)")  # never inside 51,234 or 10:30


def text_title(text: str) -> str:
    """A cluster title from a representative without a title (titles off, or its batch failed):
    a digest's first headline, else the first sentence of the text without the outlet's opener or
    links, cut after its last whole clause within `TITLE_CHARS` (hard-cut only when its first
    clause is longer). Never the stock opener (央视网消息(新闻联播):…), never a word cut in two at
    a clause's end.

    Example: text_title("央视网消息: 北京今天降温，最低气温零下五度。明天回暖。") == "北京今天降温，最低气温零下五度"
    """
    headlines = digest_headlines(text)
    if headlines:
        return headlines[0]
    body = titler_input(text) or text
    sentence = _SENTENCE_END.split(body, maxsplit=1)[0].strip() or body
    if len(sentence) <= TITLE_CHARS:
        return sentence
    cut = [m.start() for m in _CLAUSE_END.finditer(sentence, 0, TITLE_CHARS + 1)]
    return sentence[:cut[-1]] if cut and cut[-1] > 0 else sentence[:TITLE_CHARS]


def cluster_row(cluster_id: int, members) -> dict:
    """A cluster's members -> its row, keywords still empty (`fill_keywords` adds them)."""
    members = list(members)
    rep = representative(members)
    return {
        "cluster_id": cluster_id, "size": len(members), "representative_doc_id": rep.doc_id,
        "title": rep.metadata.get("title") or text_title(rep.text), "keywords": [],
        "flow": float(sum(flow for flow, _, _ in members)),
    }


def fill_keywords(cluster_id: int, grouped: dict):
    for row in grouped["row"]:
        yield {**row, "keywords": next(iter(grouped["keywords"]), [])}


class Summarize(beam.PTransform):
    """(docs, embeddings, embed errors, assignments[, titles]) -> `documents`, `clusters`,
    `dead_letter`; titles are (doc_id, (title, score)) pairs."""

    def __init__(self, config: SegmentConfig):
        super().__init__()
        self._config = config

    def expand(self, inputs):
        docs, embeddings, errors, assignments, *titles = inputs
        keyed = {
            # the tokens only feed keywords: joined as words, not carried in every Doc copy
            "doc": docs | "KeyDocs" >> beam.Map(lambda d: (d.doc_id, d.with_(tokens=()))),
            "words": docs | "KeywordWords" >> beam.Map(lambda d: (d.doc_id, document_words(d))),
            "emb": embeddings,
            "err": errors,
            "cluster": assignments | "KeyAssignments" >> beam.Map(lambda a: (a.doc_id, a)),
        }
        if titles:
            keyed["title"] = titles[0]
        joined = (
            keyed
            | "JoinByDocId" >> beam.CoGroupByKey()
            | "DocumentRows" >> beam.FlatMapTuple(join_document).with_outputs(
                DEAD_LETTER, "members", "words", main="documents")
        )
        rows = (
            joined.members
            | "GroupByCluster" >> beam.GroupByKey()
            | "ClusterRows" >> beam.MapTuple(lambda c, members: (c, cluster_row(c, members)))
        )
        keywords = joined.words | "Keywords" >> Keywords(self._config)
        clusters = ({"row": rows, "keywords": keywords}
                    | "JoinKeywords" >> beam.CoGroupByKey()
                    | "WithKeywords" >> beam.FlatMapTuple(fill_keywords))
        return {"documents": joined.documents, "clusters": clusters,
                DEAD_LETTER: joined[DEAD_LETTER]}
