"""EncodeSentences: `Doc` -> (doc_id, embedding) pairs, plus (doc_id, error) for failed batches.

Runs the sentence encoder through Beam's `RunInference` with a keyed handler, so the
doc_id rides along with each (text, words) example and results join back without a shuffle.
A batch that raises goes to the `errors` output, one entry per document it held.

Length buckets (`InferenceConfig.length_buckets == "group"`): a GroupByKey on (length bucket,
shard) hands RunInference the examples bucket by bucket, shortest first inside each group, so
Beam's token-budget batches pad little. This works on every runner; Beam 2.77's own stateful
bucketing ("beam") needs processing-time timers that only Dataflow-class runners provide.
"""
from __future__ import annotations

import bisect
import zlib

import apache_beam as beam
from apache_beam.ml.inference.base import ModelHandler, RunInference

from wenmai.config import InferenceConfig
from wenmai.models.handlers import KeyedHandler
from wenmai.types import Doc


def to_example(doc: Doc):
    """Example: Doc(doc_id="a", text="你好", tokens=("你好",)) -> ("a", ("你好", ("你好",)))"""
    return doc.doc_id, (doc.text, doc.tokens)


def bucket_key(keyed_example, boundaries: tuple[int, ...], shards: int) -> tuple[int, int]:
    """(length bucket, shard) of a keyed example; the shard is a stable hash of the doc_id.

    Example: bucket_key(("a", ("你好", ())), (16, 32), 4) == (0, zlib.crc32(b"a") % 4)
    """
    doc_id, (text, _) = keyed_example
    return bisect.bisect_right(boundaries, len(text)), zlib.crc32(doc_id.encode("utf-8")) % shards


def shortest_first(group):
    _, examples = group
    return sorted(examples, key=lambda ex: (len(ex[1][0]), ex[0]))


class GroupByLength(beam.PTransform):
    """Keyed examples -> the same examples, re-emitted bucket by bucket, shortest first."""

    def __init__(self, boundaries: tuple[int, ...], shards: int):
        super().__init__()
        self._boundaries = tuple(boundaries)
        self._shards = shards

    def expand(self, examples):
        return (
            examples
            | "KeyByBucket" >> beam.WithKeys(lambda ex: bucket_key(ex, self._boundaries,
                                                                   self._shards))
            | "GroupByBucket" >> beam.GroupByKey()
            | "ShortestFirst" >> beam.FlatMap(shortest_first)
        )


def failed_batch(element):
    """(failed batch of keyed examples, exception) -> (doc_id, reason) per document."""
    batch, error = element
    reason = f"inference_error: {type(error).__name__}: {error}"
    for doc_id, _ in batch:
        yield doc_id, reason


class EncodeSentences(beam.PTransform):
    """Docs -> `embeddings` (doc_id, float32 vector) and `errors` (doc_id, reason) outputs."""

    def __init__(self, handler: ModelHandler, config: InferenceConfig = InferenceConfig()):
        super().__init__()
        self._handler = handler
        self._config = config

    def expand(self, docs):
        examples = docs | "ToExamples" >> beam.Map(to_example)
        if self._config.length_buckets == "group":
            examples = examples | "GroupByLength" >> GroupByLength(self._config.bucket_boundaries,
                                                                   self._config.bucket_shards)
        main, failed = (
            examples
            | "PyTorchRunInference" >> RunInference(KeyedHandler(self._handler))
            .with_exception_handling()
        )
        embeddings = main | "Vectors" >> beam.MapTuple(lambda doc_id, result: (doc_id,
                                                                                 result.inference))
        errors = failed.failed_inferences | "PerDocument" >> beam.FlatMap(failed_batch)
        return {"embeddings": embeddings, "errors": errors}
