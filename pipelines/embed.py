"""EncodeSentences: `Doc` -> (doc_id, embedding) pairs, plus (doc_id, error) for failed batches.

The sentence encoder through `KeyedInference` (RunInference with length buckets, see
`wenmai.pipelines.infer`), keyed by doc_id.
"""
from __future__ import annotations

import apache_beam as beam
from apache_beam.ml.inference.base import ModelHandler

from wenmai.config import InferenceConfig
from wenmai.pipelines.infer import DocInference


class EncodeSentences(beam.PTransform):
    """Docs -> `embeddings` (doc_id, float32 vector) and `errors` (doc_id, reason) outputs."""

    def __init__(self, handler: ModelHandler, config: InferenceConfig = InferenceConfig()):
        super().__init__()
        self._handler = handler
        self._config = config

    def expand(self, docs):
        out = docs | "Encode" >> DocInference(self._handler, self._config)
        return {"embeddings": out["results"], "errors": out["errors"]}
