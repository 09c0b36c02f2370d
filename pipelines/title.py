"""Title: `Doc` -> (doc_id, (title, score)) from the seq2seq titler, plus a failure summary.

The titler runs through `KeyedInference` like every model (length buckets, token-budget
batches, RunInference); the handler truncates each source to the titler's input length and
decodes a whole batch with beam search on the device. Titles join the documents in Summarize.
A failed batch leaves its documents' titles null (they are still written: a title is an
enrichment, not a reason to reject a record) and is counted, with its reasons, in the manifest.
"""
from __future__ import annotations

import apache_beam as beam
from apache_beam.ml.inference.base import ModelHandler

from wenmai.config import InferenceConfig
from wenmai.pipelines.infer import DocInference, FailureStats


class Title(beam.PTransform):
    """Docs -> `titles` (doc_id, (title, score)) and `stats` ("title", {"failed", "reasons"})."""

    def __init__(self, handler: ModelHandler, config: InferenceConfig = InferenceConfig()):
        super().__init__()
        self._handler = handler
        self._config = config

    def expand(self, docs):
        out = docs | "Generate" >> DocInference(self._handler, self._config)
        stats = (out["errors"]
                 | "CountFailures" >> beam.CombineGlobally(FailureStats())
                 | "Name" >> beam.Map(lambda s: ("title", s)))
        return {"titles": out["results"], "stats": stats}
