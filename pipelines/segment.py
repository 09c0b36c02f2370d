"""Segment: `Doc` -> `Doc` with `tokens` filled by jieba (word features and keywords).

jieba loads its dictionary in `DoFn.setup()` (about a second, once per worker), never at import.
"""
from __future__ import annotations

import apache_beam as beam

from wenmai.text import load_jieba, segment  # noqa: F401 (re-exported)
from wenmai.types import Doc


class SegmentFn(beam.DoFn):
    def setup(self):
        self._jieba = load_jieba()

    def process(self, doc: Doc):
        yield doc.with_(tokens=segment(self._jieba, doc.text))


class Segment(beam.PTransform):
    def expand(self, docs):
        return docs | "Jieba" >> beam.ParDo(SegmentFn())
