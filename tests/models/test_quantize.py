"""int8 dynamic quantization, bf16 convolutions and bf16 autocast for CPU inference, on tiny
random models."""
import contextlib

import numpy as np
import torch

from wenmai.config import InferenceConfig
from wenmai.models.encoder import EncoderConfig, SentenceEncoder
from wenmai.models.handlers import EncoderHandler
from wenmai.models.extractor import ExtractorConfig, TripleExtractor
from wenmai.models.quantize import (Bf16Conv1d, bf16_context, bf16_convolutions, for_device,
                                    is_quantized, native_bf16, quantize_int8)


def _encoder() -> SentenceEncoder:
    torch.manual_seed(0)
    return SentenceEncoder(EncoderConfig(char_vocab_size=40, word_vocab_size=20, char_dim=16,
                                         word_dim=8, hidden=32, dim=24)).eval()


def _batch():
    torch.manual_seed(1)
    chars = torch.randint(2, 40, (6, 12))  # (B, T)
    chars[3:, 7:] = 0  # padded rows: the packed int8 GRU must honour lengths too
    words = torch.randint(2, 20, (6, 12)) * (chars != 0)
    return chars, words


def test_int8_encoder_gives_near_identical_vectors():
    model = _encoder()
    with torch.inference_mode():
        full = model(*_batch())
    quantized = quantize_int8(model)
    assert is_quantized(quantized) and not any(isinstance(m, torch.nn.GRU)
                                               for m in quantized.modules())
    with torch.inference_mode():
        small = quantized(*_batch())
    cosine = (full * small).sum(-1)  # unit vectors
    assert cosine.min() > 0.99 and not torch.equal(full, small)  # close, yet really int8


def test_only_cpu_models_are_quantized():
    assert not is_quantized(for_device(_encoder(), torch.device("cuda"), int8=True))
    assert not is_quantized(for_device(_encoder(), torch.device("cpu"), int8=False))
    assert is_quantized(for_device(_encoder(), torch.device("cpu"), int8=True))


def test_quantized_model_keeps_loader_attributes():
    model = _encoder()
    model.threshold = 0.35  # as load_extractor attaches its decoding choices
    assert quantize_int8(model).threshold == 0.35


def test_bf16_context_only_when_asked_on_cpu():
    assert isinstance(bf16_context(torch.device("cpu"), False), contextlib.nullcontext)
    assert isinstance(bf16_context(torch.device("cuda"), True), contextlib.nullcontext)


def test_handler_quantizes_on_cpu_only_when_configured(models_dir):
    batch = [("华为公司总部位于深圳", ("华为公司", "总部", "位于", "深圳")), ("北京降温", ("北京", "降温"))]
    vectors = {}
    for int8 in (False, True):
        handler = EncoderHandler(models_dir / "encoder", InferenceConfig(device="cpu",
                                                                         encoder_int8=int8))
        loaded = handler.load_model()
        assert is_quantized(loaded.module) == int8
        vectors[int8] = np.stack([r.inference for r in handler.run_inference(batch, loaded)])
    assert np.allclose((vectors[False] * vectors[True]).sum(axis=1), 1.0, atol=2e-2)


def test_int8_vectors_move_little_with_batch_mates():
    """Dynamic quantization scales activations per batch: a row's vector may move with its
    batch-mates, but only a little (fp32 rows do not move at all: tests/models/test_handlers.py)."""
    model = quantize_int8(_encoder())
    chars, words = _batch()
    with torch.inference_mode():
        together = model(chars, words)
        alone = torch.cat([model(chars[i:i + 1], words[i:i + 1]) for i in range(len(chars))])
    assert (together * alone).sum(-1).min() > 0.99


def _extractor() -> TripleExtractor:
    torch.manual_seed(0)
    return TripleExtractor(ExtractorConfig(char_vocab_size=40, word_vocab_size=20,
                                           predicates=("作者", "国籍"), d=32, word_dim=8,
                                           dilations=(1, 2, 5, 1), max_len=16)).eval()


def test_bf16_convolutions_wrap_every_conv_and_stay_close():
    model = _extractor()
    chars, words = _batch()
    with torch.inference_mode():
        full = model.encode(chars, words)
    wrapped = bf16_convolutions(model)
    convs = [m for m in wrapped.modules() if isinstance(m, torch.nn.Conv1d)]
    assert convs and all(c.weight.dtype == torch.bfloat16 for c in convs)
    assert sum(isinstance(m, Bf16Conv1d) for m in wrapped.modules()) == len(convs)  # 4 + 2 heads
    with torch.inference_mode():
        small = wrapped.encode(chars, words)
    assert small.dtype == torch.float32  # the residual stream stays fp32
    assert not torch.equal(full, small)  # really bf16 ...
    assert torch.allclose(full, small, atol=0.05, rtol=0.05)  # ... and close to fp32
    assert (small[3:, 7:] == 0).all()  # padding still zero


def test_conv_bf16_only_on_a_cpu_with_native_bf16():
    def wrapped(module):
        return any(isinstance(m, Bf16Conv1d) for m in module.modules())

    assert not wrapped(for_device(_extractor(), torch.device("cuda"), False, conv_bf16=True))
    assert not wrapped(for_device(_extractor(), torch.device("cpu"), False, conv_bf16=False))
    assert wrapped(for_device(_extractor(), torch.device("cpu"), False, conv_bf16=True)) \
        == native_bf16()
