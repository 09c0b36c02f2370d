"""The held-out train-role slice -> the figures that pick the best epoch, and the decision
thresholds stored in config.json.

Model selection never sees a report file: `PairData.dev` is a slice of the train-role files
that training never saw (`encoder_data.load_pair_data`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from wenmai.models.encoder import SentenceEncoder
from wenmai.models.evaluate import (best_threshold, binarise, pair_similarities, score_pairs,
                                    tfidf_similarities)
from wenmai.models.vocab import Vocab

__all__ = ["dev_scores", "dev_thresholds"]


def dev_scores(model: SentenceEncoder, vocab: Vocab, dev: dict, segment: Callable[[str], list[str]],
               max_len: int) -> tuple[dict, dict]:
    """Per-slice figures + mean Spearman, and the raw (sims, labels) for threshold picking."""
    row, raw = {}, {}
    for name, (a, b, y) in dev.items():
        sims = pair_similarities(a, b, model, vocab, max_len=max_len, segment=segment)
        key = Path(name).parent.name
        figures = score_pairs(sims, y, None)
        row[f"{key}_spearman"] = figures["spearman"]
        row[f"{key}_auc"] = figures["auc"]
        raw[name] = (sims, y)
    row["dev_spearman"] = float(np.mean([v for k, v in row.items() if k.endswith("_spearman")]))
    return row, raw


def dev_thresholds(raw: dict, dev: dict) -> tuple[float, float, dict]:
    """Accuracy-best thresholds for our cosine and for the TF-IDF baseline, on the dev slice."""
    sims = np.concatenate([s for s, _ in raw.values()])
    labels = np.concatenate([binarise(y) for _, y in raw.values()]).astype(np.float64)
    ours = best_threshold(sims, labels)
    base_sims = np.concatenate([tfidf_similarities(a, b) for a, b, _ in dev.values()])
    base = best_threshold(base_sims, labels)
    acc = {"dev_accuracy": float(((sims > ours) == (labels == 1)).mean()),
           "dev_baseline_accuracy": float(((base_sims > base) == (labels == 1)).mean())}
    return ours, base, acc
