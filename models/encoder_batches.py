"""Encoded training sentences -> `batches(epoch)` generators for the encoder's `Trainer`.

Each batch is `(features, labels)`: `features` is a list of columns (anchor, positive and
optionally hard negative), each a dict of `char_ids` / `word_ids` tensors padded to that column's
longest row; `labels` are the anchors' paraphrase-group ids (None for an unsupervised objective).
Every epoch reshuffles with its own seed (`seed * 1000 + epoch`), so a run is reproducible.
"""
from __future__ import annotations

import random
from typing import TYPE_CHECKING, Callable, Iterator, Optional, Sequence

import torch

from wenmai.models.encoder_data import PairData
from wenmai.models.vocab import pad_ids

if TYPE_CHECKING:
    from wenmai.models.train_encoder import EncoderTrainConfig

__all__ = ["features", "delete_chars", "pair_batches", "sentence_batches"]

Encoded = tuple[list[int], list[int]]  # (char ids, word ids) of one sentence
Batches = Callable[[int], Iterator[tuple[list[dict], Optional[torch.Tensor]]]]


def features(seqs: Sequence[Encoded]) -> dict[str, torch.Tensor]:
    """One column of a batch: the encoder's inputs for these sentences."""
    return {"char_ids": pad_ids([c for c, _ in seqs]), "word_ids": pad_ids([w for _, w in seqs])}


def delete_chars(seq: Encoded, rate: float, rng: random.Random) -> Encoded:
    """The (char ids, word ids) with each position dropped at `rate`; never empties a sentence.

    Example (rate 0.5): ([5, 6, 7, 8], [2, 2, 3, 3]) -> ([5, 7, 8], [2, 3, 3])
    """
    keep = [k for k in range(len(seq[0])) if rng.random() >= rate] or [0]
    return [seq[0][k] for k in keep], [seq[1][k] for k in keep]


def pair_batches(data: PairData, encoded: Sequence[Encoded],
                 cfg: EncoderTrainConfig) -> tuple[Batches, int]:
    """`(batches(epoch), steps per epoch)`: every positive pair once (`cfg.repeats` times per
    file; random side first), plus `cfg.singletons` rows (s, s with characters deleted), and a
    hard-negative column when `cfg.hard_negatives` (a labelled negative of the anchor, else of
    the positive, else a random training sentence)."""
    assert not cfg.repeats or len(cfg.repeats) == len(cfg.train_files), "one repeat per train file"
    repeats = cfg.repeats or (1,) * len(cfg.train_files)
    pairs = [p for p, src in zip(data.positives, data.source) for _ in range(repeats[src])]
    n_rows = len(pairs) if not cfg.max_pairs else min(cfg.max_pairs, len(pairs))
    n_rows += min(cfg.singletons, len(data.singles))
    steps = max(1, n_rows // cfg.batch_size)

    def batches(epoch: int):
        rng = random.Random(cfg.seed * 1000 + epoch)
        rows = list(pairs)
        rng.shuffle(rows)
        if cfg.max_pairs:
            rows = rows[:cfg.max_pairs]
        rows = [(b, a) if rng.random() < 0.5 else (a, b) for a, b in rows]
        if cfg.singletons:
            rows += [(s, s) for s in rng.sample(data.singles, min(cfg.singletons, len(data.singles)))]
        rng.shuffle(rows)
        n_texts = len(data.texts)
        for k in range(steps):
            chunk = rows[k * cfg.batch_size:(k + 1) * cfg.batch_size]
            labels = torch.tensor([data.group[a] for a, _ in chunk], dtype=torch.long)  # (B,)
            anchors = [encoded[a] for a, _ in chunk]
            pos = [delete_chars(encoded[p], cfg.deletion, rng) if a == p else encoded[p]
                   for a, p in chunk]
            columns = [features(anchors), features(pos)]
            if cfg.hard_negatives:
                negs = []
                for a, p in chunk:
                    cands = data.negatives.get(a) or data.negatives.get(p)
                    negs.append(encoded[rng.choice(cands) if cands else rng.randrange(n_texts)])
                columns.append(features(negs))
            yield columns, labels

    return batches, steps


def sentence_batches(encoded: Sequence[Encoded], cfg: EncoderTrainConfig) -> tuple[Batches, int]:
    """`(batches(epoch), steps per epoch)` for an unsupervised objective: every sentence once,
    shuffled, one column, no labels (a last partial batch is dropped unless it is the only one)."""
    steps = max(1, len(encoded) // cfg.batch_size)

    def batches(epoch: int):
        order = list(range(len(encoded)))
        random.Random(cfg.seed * 1000 + epoch).shuffle(order)
        for k in range(steps):
            chunk = order[k * cfg.batch_size:(k + 1) * cfg.batch_size]
            yield [features([encoded[i] for i in chunk])], None

    return batches, steps
