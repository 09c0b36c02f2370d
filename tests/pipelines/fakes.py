"""Fake model handlers for pipeline tests (after Beam's base_test.FakeModelHandler)."""
from __future__ import annotations

import hashlib
import re

import numpy as np
from apache_beam.ml.inference.base import ModelHandler, PredictionResult


class FakeModel:
    """Stands in for a loaded module (Beam keeps a weak reference to the model)."""


class FakeEncoderHandler(ModelHandler):
    """Embeds a text as a fixed pseudo-random unit vector of its first two characters, so texts
    that share an opening land together; raises on texts containing `fail_on`."""

    def __init__(self, dim: int = 8, fail_on: str | None = None):
        super().__init__(max_batch_size=4)
        self._dim = dim
        self._fail_on = fail_on

    def load_model(self):
        return FakeModel()

    def _vector(self, text: str) -> np.ndarray:
        seed = int(hashlib.md5(text[:2].encode()).hexdigest()[:8], 16)
        v = np.random.default_rng(seed).normal(size=self._dim).astype(np.float32)
        return v / np.linalg.norm(v)

    def run_inference(self, batch, model, inference_args=None):
        if self._fail_on and any(self._fail_on in text for text, _ in batch):
            raise RuntimeError(f"cannot embed {self._fail_on!r}")
        return [PredictionResult(ex, self._vector(ex[0])) for ex in batch]


class FakeTitlerHandler(ModelHandler):
    """Titles a text with its first `chars` characters (score -1.0); raises on `fail_on`."""

    def __init__(self, chars: int = 6, fail_on: str | None = None):
        super().__init__(max_batch_size=4)
        self._chars = chars
        self._fail_on = fail_on

    def load_model(self):
        return FakeModel()

    def run_inference(self, batch, model, inference_args=None):
        if self._fail_on and any(self._fail_on in text for text, _ in batch):
            raise RuntimeError(f"cannot title {self._fail_on!r}")
        return [PredictionResult(ex, (ex[0][:self._chars], -1.0)) for ex in batch]


class FakeExtractorHandler(ModelHandler):
    """Finds "<subject>位于<object>" in a sentence: (subject, 所在地, object) with sentence
    offsets, as the real extractor reports them; raises on sentences containing `fail_on`."""

    PATTERN = re.compile(r"([^，。,\s]+?)(?:总部)?位于([^，。,\s]+)")

    def __init__(self, fail_on: str | None = None):
        super().__init__(max_batch_size=4)
        self._fail_on = fail_on

    def load_model(self):
        return FakeModel()

    def _triples(self, text: str) -> list[dict]:
        return [{"subject": m.group(1), "predicate": "所在地", "object": m.group(2),
                 "subject_start": m.start(1), "subject_end": m.end(1),
                 "object_start": m.start(2), "object_end": m.end(2), "score": 0.9}
                for m in self.PATTERN.finditer(text)]

    def run_inference(self, batch, model, inference_args=None):
        if self._fail_on and any(self._fail_on in text for text, _ in batch):
            raise RuntimeError(f"cannot extract {self._fail_on!r}")
        return [PredictionResult(ex, self._triples(ex[0])) for ex in batch]
