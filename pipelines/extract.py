"""Extract: `Doc` -> `triples` rows (subject, predicate, object with character spans, score).

Documents are split into sentences of at most `ExtractConfig.sentence_chars` characters with
their offsets kept, each sentence keyed by (doc_id, offset) and run through the extractor with
`KeyedInference`; the extractor's spans are sentence offsets, so adding the sentence's offset
makes them point into `documents.text`. A failed batch costs only its sentences' triples (the
documents are still written) and is counted, with its reasons, in the manifest.
"""
from __future__ import annotations

import re
from typing import Iterator, Sequence, Union

import apache_beam as beam
from apache_beam.ml.inference.base import ModelHandler

from wenmai.config import InferenceConfig
from wenmai.pipelines.infer import FailureStats, KeyedInference
from wenmai.text import TokenOffsets, covering_tokens
from wenmai.types import Doc

# A sentence ends after 。！？；… or a line break, with any closing quotes or brackets.
_SENTENCE = re.compile(r"[^。！？!?；;…\n]*(?:[。！？!?；;…\n]+[”’」』）)\]]*|$)")
_SOFT_BREAK = "，,、：:"  # where an over-long sentence is cut, when there is one


def _cut_long(start: int, end: int, text: str, max_chars: int) -> Iterator[tuple[int, int]]:
    """[start, end) in pieces of at most max_chars, cut after the last comma when there is one."""
    while end - start > max_chars:
        limit = start + max_chars
        cut = max((text.rfind(c, start + 1, limit) for c in _SOFT_BREAK), default=-1)
        cut = cut + 1 if cut > start else limit
        yield start, cut
        start = cut
    yield start, end


def split_sentences(text: str, max_chars: int) -> list[tuple[int, str]]:
    """(offset, sentence) pairs; sentence == text[offset:offset + len(sentence)], no blanks.

    Example: split_sentences("你好。 再见！", 10) == [(0, "你好。"), (4, "再见！")]
    """
    out = []
    for m in _SENTENCE.finditer(text):
        if m.start() == m.end():
            continue
        for start, end in _cut_long(m.start(), m.end(), text, max_chars):
            piece = text[start:end]
            stripped = piece.strip()
            if stripped:
                offset = start + len(piece) - len(piece.lstrip())
                out.append((offset, stripped))
    return out


# News boilerplate that states no fact (the 央视网消息 成立日期 2026年): the opener naming
# the source (央视网消息（新闻联播）：, 新华社北京6月4日电, 本台消息：), bylines ((记者 张三)),
# URLs and the markdown links around them ([查看原文](https://...)), editor lines.
_BOILERPLATE = re.compile("|".join([
    r"^\s*[^。！？，,\n]{0,24}?消息\s*(?:[（(][^）)\n]{0,12}[）)])?\s*[：:]",  # 央视网消息：
    r"^\s*[^。！？，,\n]{0,20}?\d{1,2}月\d{1,2}日电",  # 新华社北京6月4日电
    r"^\s*[^。！？\n]{0,20}?[（(]新闻联播[）)]\s*消息\s*[：:]",  # 央视网(新闻联播)消息：
    r"\[[^\]\n]{0,20}\]\([^)\s]*\)",  # [查看原文](URL)
    r"(?:https?://|www\.)[^\s，。）)\]]+",  # a bare URL
    r"[（(]\s*(?:央视)?记者[^）)\n]{0,30}[）)]",  # (记者 张三 李四)
    r"(?:责任编辑|编辑|来源|记者)\s*[：:|丨][^\n。]{0,30}",  # 编辑：张三
]), re.MULTILINE)


def boilerplate_spans(text: str) -> list[tuple[int, int]]:
    """[start, end) of the news boilerplate in `text`, in order.

    Example: boilerplate_spans("央视网消息（新闻联播）：今天发布。") == [(0, 12)]
    """
    return [m.span() for m in _BOILERPLATE.finditer(text) if m.end() > m.start()]


def _without(start: int, end: int, cut: Sequence[tuple[int, int]]) -> Iterator[tuple[int, int]]:
    """[start, end) minus the spans in `cut` (sorted), as the pieces left."""
    for a, b in cut:
        if b <= start or a >= end:
            continue
        if a > start:
            yield start, a
        start = max(start, b)
    if start < end:
        yield start, end


def slice_tokens(tokens: Union[Sequence[str], TokenOffsets], start: int, end: int
                 ) -> tuple[str, ...]:
    """The jieba tokens covering text[start:end], a token cut where the span cuts it (pass a
    `TokenOffsets` when slicing one document many times).

    Example: slice_tokens(("华为", "公司", "总部"), 1, 5) == ("为", "公司", "总")
    """
    found = tokens.covering(start, end) if isinstance(tokens, TokenOffsets) \
        else covering_tokens(tokens, start, end)
    return tuple(token[max(start, lo) - lo:min(end, hi) - lo] for token, lo, hi in found)


def sentence_examples(doc: Doc, max_chars: int):
    """Doc -> ((doc_id, offset), (sentence, words)) for each sentence, boilerplate cut out: what
    is left of a sentence around an opener, byline or URL is kept if it has a letter or digit."""
    cut = boilerplate_spans(doc.text)
    tokens = TokenOffsets(doc.tokens)
    for offset, sentence in split_sentences(doc.text, max_chars):
        for start, end in _without(offset, offset + len(sentence), cut):
            piece = doc.text[start:end]
            stripped = piece.strip()
            if not any(ch.isalnum() for ch in stripped):
                continue
            start += len(piece) - len(piece.lstrip())
            yield (doc.doc_id, start), (stripped, slice_tokens(tokens, start,
                                                               start + len(stripped)))


def triple_rows(key, triples: list[dict]):
    """((doc_id, offset), sentence triples) -> triples rows with document offsets."""
    doc_id, offset = key
    for t in triples:
        yield {
            "doc_id": doc_id, "subject": t["subject"], "predicate": t["predicate"],
            "object": t["object"],
            "subject_start": offset + t["subject_start"], "subject_end": offset + t["subject_end"],
            "object_start": offset + t["object_start"], "object_end": offset + t["object_end"],
            "score": float(t["score"]),
        }


class Extract(beam.PTransform):
    """Docs -> `triples` rows and `stats` ("extract", {"sentences", "failed", "reasons"})."""

    def __init__(self, handler: ModelHandler, sentence_chars: int,
                 config: InferenceConfig = InferenceConfig()):
        super().__init__()
        self._handler = handler
        self._sentence_chars = sentence_chars
        self._config = config

    def expand(self, docs):
        sentences = docs | "Sentences" >> beam.FlatMap(sentence_examples, self._sentence_chars)
        out = sentences | "ExtractTriples" >> KeyedInference(self._handler, self._config)
        rows = out["results"] | "TripleRows" >> beam.FlatMapTuple(triple_rows)
        counted = sentences | "CountSentences" >> beam.combiners.Count.Globally()
        stats = (out["errors"]
                 | "CountFailures" >> beam.CombineGlobally(FailureStats())
                 | "WithSentences" >> beam.Map(
                     lambda s, n: ("extract", {"sentences": n, **s}),
                     n=beam.pvalue.AsSingleton(counted)))
        return {"triples": rows, "stats": stats}
