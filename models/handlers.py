"""Beam `ModelHandler`s for our models: (text, words) examples -> `PredictionResult`s.

One handler per model, after Beam's `ml/inference/base.py`: `__init__` stores only a path, a
device choice and batching knobs (so the handler pickles to any worker); `load_model` reads
safetensors + JSON config, moves the model to CUDA when present (else CPU) and returns it with
its vocabulary; `run_inference` featurises the batch and embeds it with
`encoder.embed_features`, which pads to *this batch's* longest sequence (no fixed 512, no
`torch.stack` of ragged tensors) and runs under `inference_mode`.
Batching itself is Beam's (`BatchElements` with length buckets), configured from
`InferenceConfig`.
"""
from __future__ import annotations

import contextlib
import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import torch
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import KeyedModelHandler, ModelHandler, PredictionResult

from wenmai.config import InferenceConfig
from wenmai.models.quantize import for_device

__all__ = ["EncoderHandler", "ExtractorHandler", "KeyedHandler", "LoadedModel", "TextExample",
           "TextModelHandler", "TitlerHandler", "count_tokens", "padded_groups",
           "precision_context", "select_device", "text_length", "token_budget", "token_weight"]

_LOGGER = logging.getLogger(__name__)

TextExample = tuple[str, Sequence[str]]  # (text, jieba words)


def select_device(requested: str = "auto") -> torch.device:
    """`auto` picks CUDA when a GPU is usable, else CPU; asking for CUDA without one falls back
    to CPU with a warning instead of failing the worker."""
    if requested in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda")
    if requested == "cuda":
        _LOGGER.warning("CUDA requested but not available; running on CPU")
    return torch.device("cpu")


PRECISIONS = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}


def precision_context(device: torch.device, precision: str):
    """Autocast for reduced-precision inference: fp16 on CUDA (tensor cores), bf16 on CUDA or
    CPU; fp32 (the default) runs as trained. fp16 on a CPU falls back to fp32 with a warning."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "fp16" and device.type != "cuda":
        _LOGGER.warning("fp16 inference needs CUDA; running fp32 on %s", device)
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=PRECISIONS[precision])


def text_length(example: TextExample) -> int:
    """Bucket key of an example: its length in characters."""
    return len(example[0])


def token_weight(example: TextExample, max_len: int) -> int:
    """Batch weight of an example: the tokens it feeds the model (truncated length + 1)."""
    return min(len(example[0]), max_len) + 1


def count_tokens(namespace: str, lengths: Sequence[int], max_len: int) -> None:
    """Counts a batch's real tokens (each row cut at max_len) and the tokens it pads to (rows x
    its longest row): `wenmai run --profile` reports 1 - real / padded as the padding share."""
    cut = [min(n, max_len) for n in lengths]
    Metrics.counter(namespace, "tokens_real").inc(sum(cut))
    Metrics.counter(namespace, "tokens_padded").inc(len(cut) * max(cut, default=0))


def padded_groups(lengths: Sequence[int], max_tokens: int,
                  max_padding: float = 0.2) -> list[list[int]]:
    """A batch's row indices, shortest first, cut into runs whose padded size (rows x longest
    row) stays within `max_tokens` and whose padding stays within `max_padding` of it (a run
    holds at least one row). Beam's batches weigh real tokens, and its length buckets arrive
    interleaved, so one batch can mix 20- and 250-character sentences and pad half of what the
    model reads (the extractor's 48 % on news, `wenmai run --profile`).

    Example: padded_groups([5, 1, 4, 1], 8) == [[1, 3], [2], [0]]
    """
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    groups: list[list[int]] = []
    real = 0
    for i in order:
        padded = (len(groups[-1]) + 1) * lengths[i] if groups else 0
        if groups and padded <= max_tokens and real + lengths[i] >= (1 - max_padding) * padded:
            groups[-1].append(i)
            real += lengths[i]
        else:
            groups.append([i])
            real = lengths[i]
    return groups


def _on_value(fn, keyed_example):
    return fn(keyed_example[1])


class KeyedHandler(KeyedModelHandler):
    """Beam's KeyedModelHandler whose batching functions see the example, not the (key, example)
    pair: Beam 2.77 hands `element_size_fn` and `length_fn` the keyed element as it is, so a
    length of the pair would measure the key."""

    def batch_elements_kwargs(self):
        kwargs = dict(super().batch_elements_kwargs())
        for name in ("element_size_fn", "length_fn"):
            if name in kwargs:
                kwargs[name] = functools.partial(_on_value, kwargs[name])
        return kwargs


@dataclass
class LoadedModel:
    """What `load_model` returns: the module, its vocabulary and where it runs."""

    module: torch.nn.Module
    vocab: Any
    device: torch.device


def token_budget(max_batch_tokens: int, max_len: int) -> dict:
    """Batching kwargs for a fixed token budget (min = max: the same batches on every run):
    `max_batch_size` weighs examples by `element_size_fn` (Beam 2.77's `max_batch_weight=` raises
    TypeError on a handler)."""
    return dict(min_batch_size=max_batch_tokens, max_batch_size=max_batch_tokens,
                element_size_fn=functools.partial(token_weight, max_len=max_len))


class TextModelHandler(ModelHandler[TextExample, Any, LoadedModel]):
    """What every wenmai handler shares: it holds only a model directory, a device choice and
    plain knobs (so it pickles to any worker), loads through the model's own safetensors loader
    (`LOADER` = module, function) onto CUDA when present, and sizes batches in bytes of text."""

    LOADER: tuple[str, str]
    NAMESPACE: str

    def __init__(self, model_dir: str | Path, device: str, precision: str, int8: bool = False,
                 threads: int = 0, conv_bf16: bool = False, **batching):
        self._model_dir = str(model_dir)
        self._device = device
        self._precision = precision
        # int8 dynamic quantization of Linear/GRU layers, on CPU only. Activation scales are
        # per batch, so a row's output then moves a little with its batch-mates (the encoder's
        # vectors by cosine < 0.01): kept for the encoder, whose time it halves; the titler's
        # and extractor's time is elsewhere (docs/benchmarks.md), and their outputs stay exact
        self._int8 = int8
        self._conv_bf16 = conv_bf16  # convolutions in bf16 on a CPU with native bf16 (quantize.py)
        self._threads = threads  # torch intra-op threads in the worker; 0 = torch's default
        super().__init__(**batching)

    def load_model(self) -> LoadedModel:
        import importlib

        if self._threads > 0:  # per worker process: set where the model is loaded
            torch.set_num_threads(self._threads)
        module_name, function = self.LOADER
        module, vocab = getattr(importlib.import_module(module_name), function)(self._model_dir)
        device = select_device(self._device)
        module.to(device).eval().requires_grad_(False)
        return LoadedModel(for_device(module, device, self._int8, self._conv_bf16), vocab, device)

    def get_num_bytes(self, batch: Sequence[TextExample]) -> int:
        return sum(len(text.encode("utf-8")) for text, _ in batch)

    def get_metrics_namespace(self) -> str:
        return self.NAMESPACE


class EncoderHandler(TextModelHandler):
    """Sentence encoder: (text, words) -> L2-normalised float32 vector."""

    LOADER = ("wenmai.models.encoder", "load_encoder")
    NAMESPACE = "wenmai.encoder"

    def __init__(self, model_dir: str | Path, config: InferenceConfig = InferenceConfig()):
        self._config = config
        if config.length_buckets == "beam":
            # Beam 2.77 buckets only with a duration (a stateful DoFn with a processing-time
            # timer); its batches then count elements per bucket.
            batching = dict(min_batch_size=1, max_batch_size=config.max_batch_size,
                            max_batch_duration_secs=config.max_batch_duration_secs,
                            batch_length_fn=text_length,
                            batch_bucket_boundaries=list(config.bucket_boundaries))
        else:
            batching = token_budget(config.max_batch_tokens, config.max_len)
        super().__init__(model_dir, config.device, config.precision, config.encoder_int8,
                         config.torch_threads, **batching)

    def run_inference(self, batch: Sequence[TextExample], model: LoadedModel,
                      inference_args: Optional[dict[str, Any]] = None
                      ) -> Iterable[PredictionResult]:
        from wenmai.models.encoder import embed_features

        features = [model.vocab.encode(text, words, self._config.max_len) for text, words in batch]
        vectors: list = [None] * len(batch)
        for group in padded_groups([len(c) for c, _ in features], self._config.max_batch_tokens):
            with precision_context(model.device, self._precision):
                found, real, padded = embed_features(model.module, [features[i] for i in group],
                                                     model.device)  # (b, D)
            for i, vector in zip(group, found):
                vectors[i] = vector
            # Padding efficiency = real / padded tokens, readable from the job's metrics.
            Metrics.counter(self.get_metrics_namespace(), "tokens_real").inc(real)
            Metrics.counter(self.get_metrics_namespace(), "tokens_padded").inc(padded)
        return [PredictionResult(example, vector) for example, vector in zip(batch, vectors)]


class ExtractorHandler(TextModelHandler):
    """Triple extractor: one sentence (text, words) -> list of triple dicts with offsets into that
    text (see `extractor.extract_triples`). The pipeline cuts documents into sentences of at most
    `max_len` characters; longer text is read up to `max_len`."""

    LOADER = ("wenmai.models.extractor", "load_extractor")
    NAMESPACE = "wenmai.extractor"

    def __init__(self, model_dir: str | Path, max_len: int = 256, threshold: Optional[float] = None,
                 max_batch_tokens: int = 8192, device: str = "auto", precision: str = "fp32",
                 threads: int = 0, conv_bf16: bool = False):
        # threshold None: the one stored in the model's config.json (chosen on held-out data)
        self._max_len = max_len
        self._threshold = threshold
        self._max_batch_tokens = max_batch_tokens
        super().__init__(model_dir, device, precision, threads=threads, conv_bf16=conv_bf16,
                         **token_budget(max_batch_tokens, max_len))

    def run_inference(self, batch: Sequence[TextExample], model: LoadedModel,
                      inference_args: Optional[dict[str, Any]] = None
                      ) -> Iterable[PredictionResult]:
        from wenmai.models.extractor import extract_triples

        lengths = [min(len(text), self._max_len) for text, _ in batch]
        triples: list = [[] for _ in batch]
        for group in padded_groups(lengths, self._max_batch_tokens):  # its convolutions cost
            with precision_context(model.device, self._precision):  # every padded position
                found = extract_triples(model.module, model.vocab, [batch[i] for i in group],
                                        model.device, self._threshold, self._max_len)
            for i, row in zip(group, found):
                triples[i] = row
            count_tokens(self.get_metrics_namespace(), [lengths[i] for i in group], self._max_len)
        Metrics.counter(self.get_metrics_namespace(), "triples").inc(sum(map(len, triples)))
        return [PredictionResult(example, found) for example, found in zip(batch, triples)]


class TitlerHandler(TextModelHandler):
    """Titler: (text, words) -> (title, log-probability per character). Words are not used.

    Batches by a fixed token budget (`max_batch_tokens` of truncated source characters, as the
    encoder's); each batch is decoded at once by `inference_fn` (default
    `titler.generate_titles`: batched beam search, greedy when beam_size is 1).
    """

    LOADER = ("wenmai.models.titler", "load_titler")
    NAMESPACE = "wenmai.titler"

    def __init__(self, model_dir: str | Path, max_len: int = 256, beam_size: int = 4,
                 max_title_len: int = 32, max_batch_tokens: int = 8192, device: str = "auto",
                 precision: str = "fp32", threads: int = 0, *, inference_fn=None):
        self._max_len = max_len
        self._beam_size = beam_size
        self._max_title_len = max_title_len
        self._inference_fn = inference_fn  # None: wenmai.models.titler.generate_titles
        super().__init__(model_dir, device, precision, threads=threads,
                         **token_budget(max_batch_tokens, max_len))

    def run_inference(self, batch: Sequence[TextExample], model: LoadedModel,
                      inference_args: Optional[dict[str, Any]] = None
                      ) -> Iterable[PredictionResult]:
        from wenmai.models.titler import generate_titles

        generate = self._inference_fn or generate_titles
        with precision_context(model.device, self._precision):
            titles = generate(model.module, model.vocab, [text for text, _ in batch],
                              self._beam_size, self._max_title_len, model.device,
                              max_len=self._max_len, batch_size=max(1, len(batch)),
                              **(inference_args or {}))
        Metrics.counter(self.get_metrics_namespace(), "titles").inc(len(batch))
        # source characters + </s>, the rows the titler's encoder pads (`--profile`)
        count_tokens(self.get_metrics_namespace(), [len(text) + 1 for text, _ in batch],
                     self._max_len + 1)
        return [PredictionResult(example, (title, float(score)))
                for example, (title, score) in zip(batch, titles)]
