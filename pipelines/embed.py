"""EncodeSentences: `Doc` -> (doc_id, embedding) pairs, plus (doc_id, error) for failed batches.

Runs the sentence encoder through Beam's `RunInference` with a `KeyedModelHandler`, so the
doc_id rides along with each (text, words) example and results join back without a shuffle.
A batch that raises goes to the `errors` output, one entry per document it held.
"""
from __future__ import annotations

import apache_beam as beam
from apache_beam.ml.inference.base import KeyedModelHandler, ModelHandler, RunInference

from wenmai.types import Doc


def to_example(doc: Doc):
    """Example: Doc(doc_id="a", text="你好", tokens=("你好",)) -> ("a", ("你好", ("你好",)))"""
    return doc.doc_id, (doc.text, doc.tokens)


def failed_batch(element):
    """(failed batch of keyed examples, exception) -> (doc_id, reason) per document."""
    batch, error = element
    reason = f"inference_error: {type(error).__name__}: {error}"
    for doc_id, _ in batch:
        yield doc_id, reason


class EncodeSentences(beam.PTransform):
    """Docs -> `embeddings` (doc_id, float32 vector) and `errors` (doc_id, reason) outputs."""

    def __init__(self, handler: ModelHandler):
        super().__init__()
        self._handler = handler

    def expand(self, docs):
        main, failed = (
            docs
            | "ToExamples" >> beam.Map(to_example)
            | "PyTorchRunInference" >> RunInference(KeyedModelHandler(self._handler))
            .with_exception_handling()
        )
        embeddings = main | "Vectors" >> beam.MapTuple(lambda doc_id, result: (doc_id,
                                                                                 result.inference))
        errors = failed.failed_inferences | "PerDocument" >> beam.FlatMap(failed_batch)
        return {"embeddings": embeddings, "errors": errors}
