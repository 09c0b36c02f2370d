import bisect
import random
import zlib

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from wenmai.config import InferenceConfig
from wenmai.pipelines.infer import (GroupByLength, KeyedInference, bucket_key, cut_batches,
                                    failed_batch, shortest_first)

from .fakes import FakeEncoderHandler


def test_failed_batch_reports_every_key():
    out = list(failed_batch(([("a", ("x", ())), (("b", 3), ("y", ()))], ValueError("boom"))))
    assert out == [("a", "inference_error: ValueError: boom"),
                   (("b", 3), "inference_error: ValueError: boom")]
    beam_form = (ValueError, "ValueError('boom')", ["Traceback ...\n", "ValueError: boom\n"])
    assert list(failed_batch(([("a", ("x", ()))], beam_form))) == [
        ("a", "inference_error: ValueError: boom")]


def test_bucket_key_by_length_and_a_shard_of_the_text_not_the_key():
    assert bucket_key(("a", ("你好", ())), (16, 32), 4) == (0, zlib.crc32("你好".encode()) % 4)
    assert bucket_key(("a", ("字" * 20, ())), (16, 32), 4)[0] == 1
    assert bucket_key(("a", ("字" * 40, ())), (16, 32), 4)[0] == 2
    # keys embed the input's path: the same sentence read from another file shares its bucket
    texts = [f"第{i}句话" for i in range(50)]
    here = [bucket_key((("/data/a.jsonl:1", 7 * i), (t, ())), (16,), 8) for i, t in enumerate(texts)]
    there = [bucket_key((("/tmp/b.jsonl:1", 7 * i), (t, ())), (16,), 8) for i, t in enumerate(texts)]
    assert here == there and len({shard for _, shard in here}) > 1


def test_shortest_first_orders_by_length_then_text_then_key():
    group = ((0, 0), [("b", ("长一点的", ())), ("c", ("短", ())), ("a", ("短", ())), ("d", ("矮", ()))])
    # equal lengths go by text ("短" < "矮"), equal texts by key
    assert [k for k, _ in shortest_first(group)] == ["a", "c", "d", "b"]


def test_group_by_length_keeps_every_example_in_batches_of_one_group():
    examples = [(f"d{i}", ("字" * n, ())) for i, n in enumerate([3, 40, 17, 3, 90, 5, 6])]
    with TestPipeline() as p:
        batches = p | beam.Create(examples) | GroupByLength((16, 32, 64), 1,
                                                            FakeEncoderHandler())
        assert_that(batches | beam.FlatMap(lambda b: b), equal_to(examples))
        # the fake handler's budget is 4 examples; one length bucket per batch
        assert_that(batches | "Shapes" >> beam.Map(
            lambda b: (len(b), len({bisect.bisect_right((16, 32, 64), len(t)) for _, (t, _) in b}))),
            equal_to([(4, 1), (1, 1), (1, 1), (1, 1)]), label="OneGroupEach")


def test_cut_batches_ends_a_batch_with_the_example_that_reaches_the_budget():
    group = ((0, 0), [(k, ("字" * n, ())) for k, n in zip("abcde", [3, 1, 2, 5, 4])])
    cut = list(cut_batches(group, lambda ex: len(ex[0]), 4))
    assert [[k for k, _ in b] for b in cut] == [["b", "c", "a"], ["e"], ["d"]]


def test_batches_do_not_depend_on_the_order_examples_arrive_in():
    # the int8 encoder's rows move with their batch-mates: the same examples in any order (another
    # input order, other bundles) must meet in the same batches: each group's own, cut in its
    # sorted order
    examples = [(f"d{i}", (f"第{i}句" + "字" * (i % 23), ())) for i in range(60)]
    groups = {}
    for ex in examples:
        groups.setdefault(bucket_key(ex, (16, 32), 2), []).append(ex)
    expected = [tuple(k for k, _ in b) for g in groups.items()
                for b in cut_batches(g, lambda ex: 1, 4)]
    assert len(expected) > len(groups)  # groups of several batches
    for order in (examples, examples[::-1], random.Random(0).sample(examples, len(examples))):
        with TestPipeline() as p:
            out = (p | beam.Create(order) | GroupByLength((16, 32), 2, FakeEncoderHandler())
                   | beam.Map(lambda b: tuple(k for k, _ in b)))
            assert_that(out, equal_to(expected))


def test_keyed_inference_results_and_errors_cover_every_key():
    examples = [(("d", i), (text, ())) for i, text in enumerate(["华为", "坏", "北京", "上海", "广州"])]
    with TestPipeline() as p:
        out = (p | beam.Create(examples)
               | KeyedInference(FakeEncoderHandler(fail_on="坏"), InferenceConfig()))
        keys = ((out["results"] | "ResultKeys" >> beam.Keys()),
                (out["errors"] | "ErrorKeys" >> beam.Keys())) | beam.Flatten()
        assert_that(keys, equal_to([k for k, _ in examples]))
