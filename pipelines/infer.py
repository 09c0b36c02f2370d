"""KeyedInference: (key, example) pairs -> `results` (key, inference) and `errors` (key, reason).

The one way every model step (encoder, titler, extractor) runs a model: Beam's `RunInference`
with a keyed handler, so the key (a doc_id, or a (doc_id, offset) for a sentence) rides along
with each example and results join back without a shuffle. A batch that raises goes to
`errors`, one entry per example it held, never dropped.

Length buckets (`InferenceConfig.length_buckets == "group"`): a GroupByKey on (length bucket,
shard), and each group, shortest first, cut into the handler's token-budget batches there
(`cut_batches`); RunInference then runs one whole batch per element (`PreBatched`). So batches pad
little, and which examples share a batch depends on their group alone, never on the order the
examples arrive in or on the runner's bundles: the int8 encoder scales its activations per
batch, so batch-mates move a vector, and batches that Beam's BatchElements filled across groups
in arrival order gave the same 1,000 stories read in reverse other clusters (ARI 0.888). This
works on every runner; Beam 2.77's own stateful bucketing ("beam") needs processing-time timers
that only Dataflow-class runners provide.
"""
from __future__ import annotations

import bisect
import zlib

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import ModelHandler, RunInference

from wenmai.config import InferenceConfig
from wenmai.models.handlers import KeyedHandler
from wenmai.types import Doc


def bucket_key(keyed_example, boundaries: tuple[int, ...], shards: int) -> tuple[int, int]:
    """(length bucket, shard) of a keyed (text, words) example; the shard is a stable hash of the
    text, not of the key: keys embed the input's path, and which examples share a batch must not
    depend on it (the int8 encoder scales its activations per batch, so batch-mates move a vector
    in its third decimal, and the same stories read from another path clustered differently).

    Example: bucket_key(("a", ("你好", ())), (16, 32), 4) == (0, zlib.crc32("你好".encode()) % 4)
    """
    _, (text, _) = keyed_example
    return bisect.bisect_right(boundaries, len(text)), zlib.crc32(text.encode("utf-8")) % shards


def shortest_first(group):
    """A bucket's examples, shortest first, then by text (the key only breaks ties between equal
    texts, whose batches are then equal whatever the keys)."""
    _, examples = group
    return sorted(examples, key=lambda ex: (len(ex[1][0]), ex[1][0], str(ex[0])))


def _one(example) -> int:
    return 1


def cut_batches(group, size_fn, budget: int):
    """A group's keyed examples, shortest first, cut into batches as Beam's BatchElements cuts
    its stream: a batch ends with the example that brings its size (`size_fn` of each example)
    to `budget`. The group's last batch may be smaller.

    Example: cut_batches((k, [("a", ("xx", ())), ("b", ("x", ()))]), lambda ex: len(ex[0]), 2)
             -> [("b", ("x", ())), ("a", ("xx", ()))] as one batch (sizes 1 + 2 reach 2)
    """
    batch, size = [], 0
    for example in shortest_first(group):
        batch.append(example)
        size += size_fn(example[1])
        if size >= budget:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


class GroupByLength(beam.PTransform):
    """Keyed examples -> whole batches (lists of keyed examples), cut inside each length group,
    shortest first, by the handler's own budget (`batch_elements_kwargs`: `max_batch_size`,
    weighed by `element_size_fn` when it has one)."""

    def __init__(self, boundaries: tuple[int, ...], shards: int, handler: ModelHandler):
        super().__init__()
        self._boundaries = tuple(boundaries)
        self._shards = shards
        kwargs = handler.batch_elements_kwargs()
        self._size_fn = kwargs.get("element_size_fn") or _one
        self._budget = kwargs.get("max_batch_size") or 1

    def expand(self, examples):
        return (
            examples
            | "KeyByBucket" >> beam.WithKeys(lambda ex: bucket_key(ex, self._boundaries,
                                                                   self._shards))
            | "GroupByBucket" >> beam.GroupByKey()
            | "CutBatches" >> beam.FlatMap(cut_batches, self._size_fn, self._budget)
        )


class PreBatched(ModelHandler):
    """A keyed handler run on batches cut upstream (`GroupByLength`): each element RunInference
    sees is one whole batch, which it must not split or join with others (batches of one
    element), and whose results come back as one list. `examples` counts what the batches held
    (Beam's own `num_inferences` then counts batches)."""

    def __init__(self, keyed: ModelHandler):
        super().__init__()
        self._keyed = keyed

    def load_model(self):
        return self._keyed.load_model()

    def run_inference(self, batch, model, inference_args=None):
        Metrics.counter(self.get_metrics_namespace(), "examples").inc(sum(map(len, batch)))
        return [list(self._keyed.run_inference(list(examples), model, inference_args))
                for examples in batch]

    def batch_elements_kwargs(self):
        return {"min_batch_size": 1, "max_batch_size": 1}

    def get_num_bytes(self, batch) -> int:
        return sum(self._keyed.get_num_bytes(list(examples)) for examples in batch)

    def get_metrics_namespace(self) -> str:
        return self._keyed.get_metrics_namespace()

    def get_resource_hints(self):
        return self._keyed.get_resource_hints()

    def validate_inference_args(self, inference_args):
        return self._keyed.validate_inference_args(inference_args)

    def share_model_across_processes(self) -> bool:
        return self._keyed.share_model_across_processes()

    def model_copies(self) -> int:
        return self._keyed.model_copies()


def error_reason(error) -> str:
    """One line naming the exception. Beam's `with_exception_handling` hands over the error as
    (type, repr, formatted traceback lines), whose last line is "Type: message".

    Example: error_reason((ValueError, "ValueError('x')", ["...", "ValueError: x\n"]))
             == "inference_error: ValueError: x"
    """
    if isinstance(error, tuple) and len(error) == 3 and error[2]:
        return f"inference_error: {error[2][-1].strip()}"
    return f"inference_error: {type(error).__name__}: {error}"


def failed_batch(element):
    """(failed batch of keyed examples, error) -> (key, reason) per example."""
    batch, error = element
    reason = error_reason(error)
    for key, _ in batch:
        yield key, reason


class FailureStats(beam.CombineFn):
    """(key, reason) pairs -> {"failed": n, "reasons": the first few distinct reasons}."""

    KEEP = 5

    def create_accumulator(self):
        return 0, []

    def add_input(self, acc, element):
        n, reasons = acc
        reason = element[1]
        if reason not in reasons and len(reasons) < self.KEEP:
            reasons = reasons + [reason]
        return n + 1, reasons

    def merge_accumulators(self, accs):
        n, reasons = 0, []
        for an, ar in accs:
            n += an
            reasons += [r for r in ar if r not in reasons]
        return n, sorted(reasons)[:self.KEEP]

    def extract_output(self, acc):
        return {"failed": acc[0], "reasons": sorted(acc[1])}


class KeyedInference(beam.PTransform):
    """(key, (text, words)) -> `results` (key, the handler's inference) and `errors` (key, reason)."""

    def __init__(self, handler: ModelHandler, config: InferenceConfig = InferenceConfig()):
        super().__init__()
        self._handler = handler
        self._config = config

    def expand(self, examples):
        handler = KeyedHandler(self._handler)
        if self._config.length_buckets == "group":
            batches = examples | "GroupByLength" >> GroupByLength(
                self._config.bucket_boundaries, self._config.bucket_shards, self._handler)
            main, failed = (batches
                            | "PyTorchRunInference" >> RunInference(PreBatched(handler))
                            .with_exception_handling())
            main = main | "Unbatch" >> beam.FlatMap(lambda results: results)
            failed = failed.failed_inferences | "UnbatchFailed" >> beam.MapTuple(
                lambda batches, error: ([ex for batch in batches for ex in batch], error))
        else:
            main, failed = (examples
                            | "PyTorchRunInference" >> RunInference(handler)
                            .with_exception_handling())
            failed = failed.failed_inferences
        results = main | "Inferences" >> beam.MapTuple(lambda key, result: (key, result.inference))
        errors = failed | "PerExample" >> beam.FlatMap(failed_batch)
        return {"results": results, "errors": errors}


def to_example(doc: Doc):
    """Example: Doc(doc_id="a", text="你好", tokens=("你好",)) -> ("a", ("你好", ("你好",)))"""
    return doc.doc_id, (doc.text, doc.tokens)


class DocInference(beam.PTransform):
    """Docs -> `KeyedInference` on (text, words) keyed by doc_id: the encoder's and the titler's
    step (the extractor keys sentences instead)."""

    def __init__(self, handler: ModelHandler, config: InferenceConfig = InferenceConfig()):
        super().__init__()
        self._handler = handler
        self._config = config

    def expand(self, docs):
        return (docs
                | "ToExamples" >> beam.Map(to_example)
                | "Infer" >> KeyedInference(self._handler, self._config))
