"""Offline evaluation of the triple extractor: a triples file -> {"precision", "recall", "f1", "n"}.

Scored as LIC2019 scored it: per sentence, the predicted set of (subject, predicate, object)
strings against the gold set, exact match; precision, recall and F1 are micro-averaged over all
sentences. Every row of the file is scored (`n` = rows).

Input: JSON lines in the LIC2019 format {"text", "spo_list": [{"subject", "predicate", "object",
...}]} or DuIE 2.0's, where "object" (and "object_type") are dicts keyed by "@value".

`wenmai eval extractor --data FILE.json [--models DIR]` prints the JSON as its last line.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Optional, Sequence


__all__ = ["read_triples", "score_triples", "score_by_predicate", "predict_texts",
           "evaluate_extractor",
           "EXTRACTOR_SUBDIR"]

EXTRACTOR_SUBDIR = "extractor"
Triple = tuple[str, str, str]


def _value(field) -> str:
    """A LIC2019 string, or the "@value" of a DuIE 2.0 dict ({"@value": "人物", "inWork": ...})."""
    return field["@value"] if isinstance(field, dict) else field


def read_triples(path) -> list[tuple[str, list[Triple]]]:
    """(text, [(subject, predicate, object), ...]) per line; a malformed line raises ValueError
    naming it.

    Example line (DuIE 2.0): {"text": "《围城》的作者是钱锺书", "spo_list": [{"predicate": "作者",
    "subject": "围城", "object": {"@value": "钱锺书"}, ...}]}
    -> ("《围城》的作者是钱锺书", [("围城", "作者", "钱锺书")])
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"triples file not found: {path}")
    rows = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                raise ValueError(f"{path}:{lineno}: empty line (expected one JSON object a line)")
            try:
                record = json.loads(line)
                spo = [(_value(t["subject"]), _value(t["predicate"]), _value(t["object"]))
                       for t in record.get("spo_list") or []]
                rows.append((record["text"], spo))
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError(f"{path}:{lineno}: not a triples record ({e!r})") from None
    return rows


def score_triples(predicted: Iterable[Iterable[Triple]], gold: Iterable[Iterable[Triple]]) -> dict:
    """Micro precision / recall / F1 of per-sentence (s, p, o) sets; 0 where undefined.

    Example: predicted [[(a, p, b), (a, p, c)]], gold [[(a, p, b)]] -> P 0.5, R 1.0, F1 0.667.
    """
    correct = n_pred = n_gold = 0
    for pred, true in zip(predicted, gold, strict=True):
        pred, true = set(pred), set(true)
        correct += len(pred & true)
        n_pred += len(pred)
        n_gold += len(true)
    precision = correct / n_pred if n_pred else 0.0
    recall = correct / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def predict_texts(texts: Sequence[str], model, vocab, *, threshold: Optional[float] = None,
                  max_len: Optional[int] = None, batch_size: int = 64,
                  segment=None) -> list[list[dict]]:
    """`extract_triples` over many texts, batched by length (each batch pads to its own longest).
    `threshold` None: the model's own decoding choices (see `extract_triples`)."""
    from wenmai.models.extractor import extract_triples

    if segment is None:  # the pipeline's own segmentation (jieba, loaded once, quiet)
        from wenmai.text import load_jieba, segment as cut

        jieba = load_jieba()
        segment = lambda text: list(cut(jieba, text))  # noqa: E731
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out: list[list[dict]] = [[] for _ in texts]
    for lo in range(0, len(order), batch_size):
        idx = order[lo:lo + batch_size]
        batch = [(texts[i], segment(texts[i]) if texts[i] else []) for i in idx]
        found = extract_triples(model, vocab, batch, device, threshold, max_len)
        for i, triples in zip(idx, found):
            out[i] = triples
    model.train(was_training)
    return out


def evaluate_extractor(data_path, models_dir=None, threshold: Optional[float] = None,
                       batch_size: int = 64, by_predicate: bool = False,
                       int8: bool = False, bf16: bool = False, conv_bf16: bool = False) -> dict:
    """Scores every row of a triples file with the extractor in `models_dir/extractor/`."""
    from wenmai.models import DEFAULT_MODELS_DIR
    from wenmai.models.checkpoint import read_config
    from wenmai.models.extractor import load_extractor
    from wenmai.models.quantize import bf16_context, for_device

    rows = read_triples(data_path)
    root = Path(models_dir if models_dir is not None else DEFAULT_MODELS_DIR)
    directory = root / EXTRACTOR_SUBDIR
    model, vocab = load_extractor(directory)
    # as `wenmai run` runs it on a CPU (bf16 autocast needs float layers)
    model = for_device(model, next(model.parameters()).device, int8 and not bf16, conv_bf16)
    meta = read_config(directory)
    # threshold None: the model's own choices (subject and per-predicate object thresholds,
    # type filter), as the pipeline decodes
    with bf16_context(next(model.parameters()).device, bf16):  # as `wenmai run` on a CPU
        predicted = predict_texts([t for t, _ in rows], model, vocab, threshold=threshold,
                                  max_len=int(meta.get("max_len", model.config.max_len)),
                                  batch_size=batch_size)
    predicted = [[(t["subject"], t["predicate"], t["object"]) for t in p] for p in predicted]
    gold = [g for _, g in rows]
    result = score_triples(predicted, gold)
    result["n"] = len(rows)
    if by_predicate:
        result["by_predicate"] = score_by_predicate(predicted, gold)
    return result


def score_by_predicate(predicted: Sequence[Iterable[Triple]], gold: Sequence[Iterable[Triple]]
                       ) -> dict:
    """predicate -> {"precision", "recall", "f1", "support"} (support = gold triples), each
    predicate scored as `score_triples` scores all, on the triples that carry it.

    Example: predicted [[(a, 作者, b), (a, 导演, c)]], gold [[(a, 作者, b)]] -> 作者 P 1 R 1,
    导演 P 0 R 0 (support 0).
    """
    names = sorted({t[1] for rows in (predicted, gold) for ts in rows for t in ts})
    out = {}
    for p in names:
        pick = [[t for t in ts if t[1] == p] for ts in predicted]
        true = [[t for t in ts if t[1] == p] for ts in gold]
        out[p] = {**score_triples(pick, true), "support": sum(len(set(ts)) for ts in true)}
    return out
