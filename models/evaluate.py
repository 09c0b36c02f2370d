"""Offline evaluation of the shipped models: a labelled file -> one dict of figures in [0, 1].

Encoder: `text_a<TAB>text_b<TAB>label` pairs (0/1, or a 0-5 similarity score) -> Spearman and
Pearson correlation of our cosine similarity with the label, ROC AUC, and accuracy at the
threshold stored in the model's config.json (chosen on train-role data when the model was trained,
never on the evaluated file). Graded labels are binarised at score >= 3 for AUC and accuracy.

Beside it, a baseline anyone can reproduce: character 1-2-gram TF-IDF cosine (scikit-learn,
fitted on the evaluated file's own texts, no labels). Its accuracy threshold is the one stored as
"baseline_threshold" in config.json, picked the same way as ours (best accuracy on the training
run's held-out train-role slice, TF-IDF fitted on that slice's texts); 0.5 if absent.

`python -m wenmai.models.evaluate --pairs FILE [--models DIR]` prints the JSON as its last line.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from wenmai.models.encoder import embed_features

__all__ = ["read_pairs", "embed_texts", "pair_similarities", "tfidf_similarities", "score_pairs",
           "best_threshold", "binarise", "evaluate_encoder", "json_safe", "ENCODER_SUBDIR"]

ENCODER_SUBDIR = "encoder"
GRADED_POSITIVE = 3.0  # 0-5 scores at or above this count as paraphrases for AUC / accuracy


# --------------------------------------------------------------------------------------------------
# reading


def read_pairs(path) -> tuple[list[str], list[str], np.ndarray]:
    """(texts_a, texts_b, labels) of a pairs file; a malformed row raises ValueError naming its line.

    Example line: "花呗怎么还款\t花呗如何还钱\t1".
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pairs file not found: {path}")
    texts_a, texts_b, labels = [], [], []
    with open(path, encoding="utf-8", newline="") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.rstrip("\r\n")
            parts = line.split("\t")
            if len(parts) != 3:
                raise ValueError(f"{path}:{lineno}: expected text_a<TAB>text_b<TAB>label, "
                                 f"found {len(parts)} field(s)")
            try:
                label = float(parts[2])
            except ValueError:
                raise ValueError(f"{path}:{lineno}: label {parts[2]!r} is not a number") from None
            if not math.isfinite(label):
                raise ValueError(f"{path}:{lineno}: label {parts[2]!r} is not finite")
            texts_a.append(parts[0])
            texts_b.append(parts[1])
            labels.append(label)
    return texts_a, texts_b, np.asarray(labels, dtype=np.float64)


# --------------------------------------------------------------------------------------------------
# embedding


def _segment(text: str) -> list[str]:
    import jieba  # imported on use: loading its dictionary costs a second

    return jieba.lcut(text)


def embed_texts(texts: Sequence[str], model, vocab, max_len: int = 128, batch_size: int = 256,
                segment=None) -> np.ndarray:
    """[N, D] float32 unit vectors (empty text -> the all-padding vector), in input order.

    Words come from `jieba.lcut` (or `segment(text) -> list[str]`); texts are batched by length
    so that each batch pads only to its own longest text.
    """
    segment = segment or _segment
    n = len(texts)
    out = np.zeros((n, model.dim), dtype=np.float32)
    if n == 0:
        return out
    encoded = [vocab.encode(t, segment(t) if t else [], max_len) for t in texts]
    order = sorted(range(n), key=lambda i: len(encoded[i][0]))
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        out[idx], _, _ = embed_features(model, [encoded[i] for i in idx], device)  # (b, D)
    model.train(was_training)
    return out


def pair_similarities(texts_a, texts_b, model, vocab, max_len: int = 128, batch_size: int = 256,
                      segment=None) -> np.ndarray:
    """Cosine similarity of each (a, b) pair; each distinct text is embedded once."""
    unique = list(dict.fromkeys(list(texts_a) + list(texts_b)))
    index = {t: i for i, t in enumerate(unique)}
    vecs = embed_texts(unique, model, vocab, max_len=max_len, batch_size=batch_size, segment=segment)
    a = vecs[[index[t] for t in texts_a]]
    b = vecs[[index[t] for t in texts_b]]
    return (a * b).sum(1).astype(np.float64)


def tfidf_similarities(texts_a, texts_b) -> np.ndarray:
    """Char 1-2-gram TF-IDF cosine of each pair, the vectoriser fitted on these texts only."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 2))
    vectorizer.fit(list(texts_a) + list(texts_b))
    a = vectorizer.transform(texts_a)  # rows are L2-normalised
    b = vectorizer.transform(texts_b)
    return np.asarray(a.multiply(b).sum(1)).ravel().astype(np.float64)


# --------------------------------------------------------------------------------------------------
# scoring


def binarise(labels: np.ndarray) -> np.ndarray:
    """0/1 labels as they are; graded scores (anything outside {0, 1}) as score >= 3."""
    graded = not np.isin(labels, (0.0, 1.0)).all()
    return (labels >= GRADED_POSITIVE if graded else labels >= 0.5).astype(np.int64)


def best_threshold(sims: np.ndarray, labels: np.ndarray) -> float:
    """The similarity threshold with the best accuracy (midpoint between neighbours), for the
    training run to store; never called on a report file."""
    y = binarise(labels)
    order = np.argsort(sims)
    s, yy = sims[order], y[order]
    # predicting positive for s > cut: accuracy = (negatives at or below) + (positives above)
    neg_below = np.concatenate([[0], np.cumsum(1 - yy)])
    pos_above = yy.sum() - np.concatenate([[0], np.cumsum(yy)])
    acc = neg_below + pos_above  # index k: the cut sits after the first k sorted items
    k = int(np.argmax(acc))
    if k == 0:
        return float(s[0] - 1e-6)
    if k == len(s):
        return float(s[-1] + 1e-6)
    return float((s[k - 1] + s[k]) / 2)


def score_pairs(sims: np.ndarray, labels: np.ndarray, threshold: Optional[float]) -> dict:
    """spearman, pearson, auc, accuracy (at `threshold`; NaN when none) of similarities vs labels.

    A figure that is undefined on this file (a constant column; one class only for AUC) is NaN.
    """
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import roc_auc_score

    y = binarise(labels)
    constant = np.ptp(sims) == 0 or np.ptp(labels) == 0
    spearman = float("nan") if constant else float(spearmanr(sims, labels).statistic)
    pearson = float("nan") if constant else float(pearsonr(sims, labels).statistic)
    auc = float(roc_auc_score(y, sims)) if 0 < y.sum() < len(y) else float("nan")
    accuracy = float(((sims > threshold) == (y == 1)).mean()) if threshold is not None and len(y) \
        else float("nan")
    return {"spearman": spearman, "pearson": pearson, "auc": auc, "accuracy": accuracy}


def evaluate_encoder(pairs_path, models_dir=None, batch_size: int = 256,
                     int8: bool = False) -> dict:
    """Scores every row of a pairs file with the encoder in `models_dir/encoder/`.

    Returns {"spearman", "pearson", "auc", "accuracy", "n",
             "baseline": {"name": "char_tfidf", "spearman", "pearson", "auc", "accuracy"}}.
    """
    from wenmai.models import DEFAULT_MODELS_DIR
    from wenmai.models.checkpoint import read_config
    from wenmai.models.encoder import load_encoder

    texts_a, texts_b, labels = read_pairs(pairs_path)
    encoder_dir = Path(models_dir if models_dir is not None else DEFAULT_MODELS_DIR) / ENCODER_SUBDIR
    model, vocab = load_encoder(encoder_dir)
    if int8:  # as `wenmai run` runs it on a CPU (wenmai.models.quantize)
        from wenmai.models.quantize import quantize_int8

        model = quantize_int8(model)
    meta = read_config(encoder_dir)
    if "threshold" not in meta:
        raise ValueError(f"{encoder_dir / 'config.json'} has no 'threshold'")
    sims = pair_similarities(texts_a, texts_b, model, vocab, max_len=model.config.max_len,
                             batch_size=batch_size)
    result = score_pairs(sims, labels, float(meta["threshold"]))
    result["n"] = int(len(labels))
    base = score_pairs(tfidf_similarities(texts_a, texts_b), labels,
                       float(meta.get("baseline_threshold", 0.5)))
    result["baseline"] = {"name": "char_tfidf", **base}
    return result


def json_safe(value):
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN; an undefined figure is null
    return value
