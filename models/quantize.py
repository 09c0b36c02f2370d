"""int8 dynamic quantization for CPU inference: an fp32 `nn.Module` -> the same module with its
Linear and GRU/LSTM layers holding int8 weights.

Dynamic quantization (PyTorch's `quantize_dynamic`) stores each layer's weights as int8 once and
quantizes the activations per batch on the fly, so it needs no calibration data and leaves every
other layer (embeddings, convolutions, LayerNorm) as trained. On a CPU with VNNI the int8 matrix
products of a GRU step run about twice as fast; on a GPU they would be slower than fp16/fp32
kernels, so `for_device` quantizes only on CPU. Quality is checked per model with its own
evaluation (`wenmai eval ... --int8`; figures in docs/benchmarks.md).

Convolutions are not quantized dynamically. For a convolution-heavy model (the extractor's
DGCNN) `bf16_convolutions` computes only the convolutions in bfloat16, on a CPU with native bf16
instructions (AVX512-BF16 or AMX), where oneDNN's bf16 kernels run them about 5x faster; the
residual stream, attention, pointer heads and thresholds stay fp32. Autocasting the whole model
(`bf16_context`, `--precision bf16`) cost the extractor 0.043 SKE F1; the convolutions alone move
it by 0.0002 (docs/benchmarks.md). Elsewhere bf16 is emulated and slower, so it runs fp32.
"""
from __future__ import annotations

import contextlib
import functools
import warnings

import torch
import torch.nn as nn

__all__ = ["QUANTIZED_LAYERS", "Bf16Conv1d", "bf16_context", "bf16_convolutions", "for_device",
           "is_quantized", "native_bf16", "quantize_int8"]

# the layer types whose weights become int8: what `quantize_dynamic` supports and our models use
QUANTIZED_LAYERS = (nn.Linear, nn.GRU, nn.LSTM)


def quantize_int8(module: nn.Module) -> nn.Module:
    """`module` with its Linear/GRU/LSTM layers replaced by int8 dynamic ones, in place (the
    fp32 copies are dropped, so memory goes down too); attributes a loader attached (thresholds,
    banned titles) stay on it. Call it on a model in eval mode: quantized layers do not train."""
    with warnings.catch_warnings():
        # torch >= 2.10 marks torch.ao.quantization deprecated in favour of the torchao package,
        # which we do not depend on; the eager API still works and is what we measured
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(module, set(QUANTIZED_LAYERS),
                                                      dtype=torch.qint8, inplace=True)


class Bf16Conv1d(nn.Module):
    """A Conv1d whose weights are stored and multiplied in bfloat16: input cast down, output cast
    back to the input's dtype, so the layers around it see what they were trained with."""

    def __init__(self, conv: nn.Conv1d):
        super().__init__()
        self.conv = conv.to(torch.bfloat16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x.to(torch.bfloat16)).to(x.dtype)


def bf16_convolutions(module: nn.Module) -> nn.Module:
    """`module` with every Conv1d wrapped as a `Bf16Conv1d`, in place (for inference)."""
    for name, child in list(module.named_children()):
        if isinstance(child, nn.Conv1d):
            setattr(module, name, Bf16Conv1d(child))
        else:
            bf16_convolutions(child)
    return module


def for_device(module: nn.Module, device: torch.device, int8: bool,
               conv_bf16: bool = False) -> nn.Module:
    """The module to run on `device`: on a CPU, int8-quantized when `int8`, and its convolutions
    in bfloat16 when `conv_bf16` and the CPU has native bf16; as it is otherwise (a GPU's own
    fp32/fp16 kernels are faster there, and `--precision` decides)."""
    if torch.device(device).type != "cpu":
        return module
    if int8:
        module = quantize_int8(module)
    if conv_bf16 and native_bf16():
        module = bf16_convolutions(module)
    return module


def is_quantized(module: nn.Module) -> bool:
    """True when any layer of `module` holds int8 dynamic weights."""
    from torch.ao.nn.quantized import dynamic

    return any(isinstance(m, (dynamic.Linear, dynamic.GRU, dynamic.LSTM))
               for m in module.modules())


@functools.lru_cache(maxsize=1)
def native_bf16() -> bool:
    """True on a CPU whose bf16 matrix kernels are native (oneDNN's own check)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without oneDNN
        return False


def bf16_context(device: torch.device, enabled: bool):
    """bfloat16 autocast on a CPU with native bf16 when `enabled`; a no-op otherwise (GPUs
    follow `--precision`)."""
    if enabled and torch.device(device).type == "cpu" and native_bf16():
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()
