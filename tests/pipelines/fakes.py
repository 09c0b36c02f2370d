"""Fake model handlers for pipeline tests (after Beam's base_test.FakeModelHandler)."""
from __future__ import annotations

import hashlib

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
