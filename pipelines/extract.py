"""Extract: `Doc` -> `triples` rows (subject, predicate, object with character spans, score).

Documents are split into sentences of at most `ExtractConfig.sentence_chars` characters with
their offsets kept, each sentence keyed by (doc_id, offset) and run through the extractor with
`KeyedInference`; the extractor's spans are sentence offsets, so adding the sentence's offset
makes them point into `documents.text`. A failed batch costs only its sentences' triples (the
documents are still written) and is counted, with its reasons, in the manifest.
"""
from __future__ import annotations

import re
from typing import Iterator, Sequence

import apache_beam as beam
from apache_beam.ml.inference.base import ModelHandler

from wenmai.config import InferenceConfig
from wenmai.pipelines.infer import FailureStats, KeyedInference
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


def slice_tokens(tokens: Sequence[str], start: int, end: int) -> tuple[str, ...]:
    """The jieba tokens covering text[start:end], a token cut where the span cuts it.

    Example: slice_tokens(("华为", "公司", "总部"), 1, 5) == ("为", "公司", "总")
    """
    out, pos = [], 0
    for token in tokens:
        lo, hi = pos, pos + len(token)
        pos = hi
        if hi <= start:
            continue
        if lo >= end:
            break
        out.append(token[max(start, lo) - lo:min(end, hi) - lo])
    return tuple(out)


def sentence_examples(doc: Doc, max_chars: int):
    """Doc -> ((doc_id, offset), (sentence, words)) for each sentence."""
    for offset, sentence in split_sentences(doc.text, max_chars):
        yield (doc.doc_id, offset), (sentence, slice_tokens(doc.tokens, offset,
                                                             offset + len(sentence)))


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
