"""Segment: `Doc` -> `Doc` with `tokens` filled by jieba (word features and keywords).

jieba loads its dictionary in `DoFn.setup()` (about a second, once per worker), never at import.
"""
from __future__ import annotations

import logging

import apache_beam as beam

from wenmai.types import Doc


def load_jieba():
    """jieba with its dictionary loaded and its start-up chatter silenced."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def segment(jieba, text: str) -> tuple[str, ...]:
    """jieba's precise mode; the tokens concatenate back to the text.

    Example: segment(jieba, "华为公司总部位于深圳") == ("华为公司", "总部", "位于", "深圳")
    """
    return tuple(jieba.lcut(text))


class SegmentFn(beam.DoFn):
    def setup(self):
        self._jieba = load_jieba()

    def process(self, doc: Doc):
        yield doc.with_(tokens=segment(self._jieba, doc.text))


class Segment(beam.PTransform):
    def expand(self, docs):
        return docs | "Jieba" >> beam.ParDo(SegmentFn())
