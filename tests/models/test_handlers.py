import pickle

import numpy as np
import pytest
import torch

from wenmai.config import InferenceConfig
from wenmai.models.vocab import pad_ids
from wenmai.models.handlers import EncoderHandler, select_device, text_length
from wenmai.text import load_jieba, segment


@pytest.fixture(scope="module")
def examples():
    jieba = load_jieba()
    texts = ["华为公司总部位于深圳", "北京今日降温", "好", "ＡＩ芯片😀"]
    return [(t, segment(jieba, t)) for t in texts]


def test_pad_ids_pads_to_the_longest_row():
    assert pad_ids([[5, 6, 7], [8]], torch.device("cpu")).tolist() == [[5, 6, 7], [8, 0, 0]]
    assert pad_ids([[]], torch.device("cpu")).tolist() == [[0]]


def test_select_device_falls_back_to_cpu():
    if not torch.cuda.is_available():
        assert select_device("cuda").type == "cpu"
    assert select_device("cpu").type == "cpu"


def test_handler_pickles_before_loading(models_dir):
    handler = EncoderHandler(models_dir / "encoder", InferenceConfig())
    assert pickle.loads(pickle.dumps(handler))._model_dir == str(models_dir / "encoder")


def test_run_inference_unit_vectors_independent_of_batch_mates(models_dir, examples):
    # fp32 (int8's per-batch activation scales move rows a little: tests/models/test_quantize.py)
    handler = EncoderHandler(models_dir / "encoder", InferenceConfig(device="cpu",
                                                                     encoder_int8=False))
    model = handler.load_model()
    together = [r.inference for r in handler.run_inference(examples, model)]
    alone = [next(iter(handler.run_inference([ex], model))).inference for ex in examples]
    for a, b in zip(together, alone):
        assert a.dtype == np.float32 and np.linalg.norm(a) == pytest.approx(1.0, abs=1e-5)
        assert np.allclose(a, b, atol=1e-5)  # padding to a longer batch-mate changes nothing


def test_results_keep_their_examples(models_dir, examples):
    handler = EncoderHandler(models_dir / "encoder")
    results = list(handler.run_inference(examples, handler.load_model()))
    assert [r.example for r in results] == examples
    assert handler.get_num_bytes(examples) == sum(len(t.encode()) for t, _ in examples)
    assert handler.get_metrics_namespace() == "wenmai.encoder"


def test_batching_kwargs_follow_config(models_dir):
    bucketed = EncoderHandler(models_dir, InferenceConfig(length_buckets="beam", bucket_boundaries=(8, 32)))
    kwargs = bucketed.batch_elements_kwargs()
    assert kwargs["bucket_boundaries"] == [8, 32] and kwargs["length_fn"] is text_length
    assert kwargs["max_batch_duration_secs"] > 0
    flat = EncoderHandler(models_dir, InferenceConfig(length_buckets="off", max_batch_tokens=999))
    kwargs = flat.batch_elements_kwargs()
    assert "length_fn" not in kwargs and kwargs["max_batch_size"] == 999
    assert kwargs["element_size_fn"](("好" * 500, ())) == 129  # capped at max_len, + 1


def test_handler_without_buckets_pickles(models_dir):
    handler = EncoderHandler(models_dir, InferenceConfig(length_buckets="off"))
    again = pickle.loads(pickle.dumps(handler))
    assert again.batch_elements_kwargs()["element_size_fn"](("好好", ())) == 3


def test_keyed_handler_batches_by_the_example_not_the_key(models_dir):
    from wenmai.models.handlers import KeyedHandler

    for mode, name in (("off", "element_size_fn"), ("beam", "length_fn")):
        kwargs = KeyedHandler(EncoderHandler(models_dir, InferenceConfig(length_buckets=mode))
                              ).batch_elements_kwargs()
        weight = kwargs[name](("id-with-a-long-key", ("好" * 5, ("好" * 5,))))
        assert weight in (5, 6), mode  # the text's length (+1 for a token weight), not the key's


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_reduced_precision_stays_close_to_fp32(models_dir, precision):
    """bf16 autocast runs on CPU too; fp16 needs CUDA and falls back to fp32 here."""
    from wenmai.models.handlers import precision_context

    batch = [("华为公司总部位于深圳", ("华为公司", "总部", "位于", "深圳")), ("北京降温", ("北京", "降温"))]
    full = EncoderHandler(models_dir / "encoder", InferenceConfig(precision="fp32"))
    half = EncoderHandler(models_dir / "encoder", InferenceConfig(precision=precision))
    a = np.stack([r.inference for r in full.run_inference(batch, full.load_model())])
    b = np.stack([r.inference for r in half.run_inference(batch, half.load_model())])
    assert b.dtype == np.float32 and np.allclose((a * b).sum(axis=1), 1.0, atol=2e-2)
    with pytest.raises(ValueError, match="precision"):
        precision_context(torch.device("cpu"), "int4")


def test_padded_groups_worked_example_and_contract():
    from wenmai.models.handlers import padded_groups

    assert padded_groups([5, 1, 4, 1], 8) == [[1, 3], [2], [0]]
    lengths = [3, 250, 20, 21, 22, 240, 19, 5, 200, 23, 18, 250]
    groups = padded_groups(lengths, 600)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))  # each row once
    for g in groups:
        padded = len(g) * max(lengths[i] for i in g)
        assert len(g) == 1 or (padded <= 600 and sum(lengths[i] for i in g) >= 0.8 * padded)
    assert padded_groups([], 8) == []


def test_extractor_handler_sub_batches_give_the_batch_s_triples(models_dir):
    """Cutting a mixed-length batch into runs of like length changes no sentence's triples."""
    from wenmai.models.extractor import extract_triples
    from wenmai.models.handlers import ExtractorHandler

    jieba = load_jieba()
    texts = ["华为公司总部位于深圳", "北京" * 40, "好", "马化腾创办了腾讯公司，总部在深圳。" * 3, "你好"]
    batch = [(t, segment(jieba, t)) for t in texts]
    handler = ExtractorHandler(models_dir / "extractor", max_len=64, threshold=0.3,
                               max_batch_tokens=64, device="cpu")
    loaded = handler.load_model()
    want = extract_triples(loaded.module, loaded.vocab, batch, loaded.device, 0.3, 64)
    got = [r.inference for r in handler.run_inference(batch, loaded)]
    assert got == want and [r.example for r in handler.run_inference(batch, loaded)] == batch


def test_torch_threads_are_set_where_the_model_loads(models_dir):
    before = torch.get_num_threads()
    try:
        EncoderHandler(models_dir / "encoder", InferenceConfig(device="cpu", torch_threads=1)
                       ).load_model()
        assert torch.get_num_threads() == 1
        torch.set_num_threads(before)
        EncoderHandler(models_dir / "encoder", InferenceConfig(device="cpu")).load_model()
        assert torch.get_num_threads() == before  # 0: torch's default left alone
    finally:
        torch.set_num_threads(before)
