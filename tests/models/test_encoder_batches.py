"""Encoder batches: padding, character deletion, and what one epoch of pair or sentence batches
holds (every pair once, group labels, hard negatives, reproducible per epoch)."""
import random

import pytest
import torch

from wenmai.models.encoder_batches import delete_chars, features, pair_batches, sentence_batches
from wenmai.models.encoder_data import PairData, build_groups
from wenmai.models.train_encoder import EncoderTrainConfig


def test_features_pad_each_column_to_its_longest_row():
    out = features([([5, 6, 7], [2, 2, 3]), ([8], [4])])
    assert torch.equal(out["char_ids"], torch.tensor([[5, 6, 7], [8, 0, 0]]))
    assert torch.equal(out["word_ids"], torch.tensor([[2, 2, 3], [4, 0, 0]]))
    assert out["char_ids"].dtype == torch.long
    empty = features([([], []), ([], [])])
    assert empty["char_ids"].shape == (2, 1) and not empty["char_ids"].any()  # never width 0


def test_delete_chars_keeps_words_aligned_and_never_empties():
    seq = ([5, 6, 7, 8], [2, 2, 3, 3])
    assert delete_chars(seq, 0.0, random.Random(0)) == seq
    assert delete_chars(seq, 1.0, random.Random(0)) == ([5], [2])
    chars, words = delete_chars(seq, 0.5, random.Random(3))
    assert 1 <= len(chars) == len(words) <= 4
    assert all(seq[1][seq[0].index(c)] == w for c, w in zip(chars, words))


# --------------------------------------------------------------------------------------------------


def _data(n_pairs=10, n_singles=4):
    """Pairs (2i, 2i+1); sentence 2i's labelled negative is 2i+3 (another group)."""
    n = 2 * n_pairs + n_singles
    positives = [(2 * i, 2 * i + 1) for i in range(n_pairs)]
    negatives = {2 * i: [2 * i + 3] for i in range(n_pairs - 1)}
    return PairData(texts=[f"s{i}" for i in range(n)], positives=positives,
                    source=[0] * n_pairs, negatives=negatives, group=build_groups(positives, n),
                    singles=list(range(2 * n_pairs, n)), dev={}, counts={})


def _encoded(n):
    return [([10 + i] * (1 + i % 3), [i] * (1 + i % 3)) for i in range(n)]  # length 1-3


def _first_ids(column):
    return [int(row[0]) - 10 for row in column["char_ids"]]


def test_pair_batches_hold_every_pair_once_labelled_by_group():
    data = _data()
    cfg = EncoderTrainConfig(train_files=("pairs.tsv",), batch_size=5, seed=1, deletion=0.0)
    batches, steps = pair_batches(data, _encoded(len(data.texts)), cfg)
    assert steps == 2
    seen = []
    for columns, labels in batches(0):
        assert len(columns) == 3 and labels.shape == (5,)  # anchor, positive, hard negative
        anchors, positives, negatives = (_first_ids(c) for c in columns)
        assert labels.tolist() == [data.group[a] for a in anchors]
        for a, p, z in zip(anchors, positives, negatives):
            assert data.group[a] == data.group[p]
            labelled = data.negatives.get(a) or data.negatives.get(p)
            if labelled:  # else a random training sentence
                assert z in labelled
        seen += [tuple(sorted(ap)) for ap in zip(anchors, positives)]
    assert sorted(seen) == data.positives


def test_pair_batches_reproducible_per_epoch_and_different_across_epochs():
    data = _data()
    cfg = EncoderTrainConfig(train_files=("pairs.tsv",), batch_size=4, seed=1)
    batches, _ = pair_batches(data, _encoded(len(data.texts)), cfg)

    def rows(epoch):
        return [_first_ids(c) for columns, _ in batches(epoch) for c in columns]

    assert rows(0) == rows(0) and rows(0) != rows(1)


def test_pair_batches_repeats_singletons_max_pairs_and_no_negatives():
    data = _data(n_pairs=6, n_singles=4)
    encoded = _encoded(len(data.texts))
    cfg = EncoderTrainConfig(train_files=("pairs.tsv",), batch_size=4, repeats=(2,),
                             singletons=4, hard_negatives=False, deletion=0.0)
    batches, steps = pair_batches(data, encoded, cfg)
    assert steps == (12 + 4) // 4
    rows = [(a, p) for columns, _ in batches(0)
            for a, p in zip(*(_first_ids(c) for c in columns))]
    assert all(len(columns) == 2 for columns, _ in batches(0))
    assert sorted(a for a, p in rows if a == p) == data.singles  # (s, s) rows
    pairs = [tuple(sorted(r)) for r in rows if r[0] != r[1]]
    assert all(pairs.count(p) == 2 for p in data.positives)
    _, capped_steps = pair_batches(data, encoded, EncoderTrainConfig(
        train_files=("pairs.tsv",), batch_size=4, max_pairs=4))
    assert capped_steps == 1
    with pytest.raises(AssertionError, match="one repeat per train file"):
        pair_batches(data, encoded, EncoderTrainConfig(train_files=("a", "b"), repeats=(1,)))


def test_sentence_batches_every_sentence_at_most_once_without_labels():
    encoded = _encoded(11)
    batches, steps = sentence_batches(encoded, EncoderTrainConfig(batch_size=4, seed=2))
    assert steps == 2
    out = list(batches(0))
    assert all(labels is None and len(columns) == 1 for columns, labels in out)
    ids = [i for columns, _ in out for i in _first_ids(columns[0])]
    assert len(ids) == 8 == len(set(ids))
    small, one = sentence_batches(encoded[:3], EncoderTrainConfig(batch_size=4))
    assert one == 1 and len(_first_ids(next(iter(small(0)))[0][0])) == 3
