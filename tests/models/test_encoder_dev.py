"""Epoch selection on the held-out slice: per-file figures keyed by the file's folder, their mean,
and accuracy-best thresholds for our cosine and the TF-IDF baseline."""
import numpy as np
import pytest
import torch

from wenmai.models.encoder import EncoderConfig, SentenceEncoder
from wenmai.models.encoder_dev import dev_scores, dev_thresholds
from wenmai.models.vocab import Vocab

DEV = {"similarity/lcqmc/dev.tsv": (["花呗怎么还款", "今天天气很好", "手机信号很差"],
                                    ["花呗如何还钱", "北京的天气", "手机没有信号"],
                                    np.array([1.0, 0.0, 1.0])),
       "similarity/stsb/train.tsv": (["一只猫在睡觉", "一只狗在叫"], ["猫正在睡觉", "一辆车在开"],
                                     np.array([4.6, 0.4]))}


def test_dev_scores_per_folder_and_their_mean():
    torch.manual_seed(0)
    texts = [t for a, b, _ in DEV.values() for t in a + b]
    vocab = Vocab.build([(t, list(t)) for t in texts])
    model = SentenceEncoder(EncoderConfig(char_vocab_size=vocab.n_chars,
                                          word_vocab_size=vocab.n_words, char_dim=8, word_dim=4,
                                          hidden=8, dim=8, dropout=0.0)).eval()
    row, raw = dev_scores(model, vocab, DEV, list, max_len=16)
    assert set(row) == {"lcqmc_spearman", "lcqmc_auc", "stsb_spearman", "stsb_auc", "dev_spearman"}
    assert row["dev_spearman"] == pytest.approx(np.mean([row["lcqmc_spearman"],
                                                         row["stsb_spearman"]]))
    sims, y = raw["similarity/lcqmc/dev.tsv"]
    assert sims.shape == (3,) and np.all(np.abs(sims) <= 1 + 1e-6)
    assert y is DEV["similarity/lcqmc/dev.tsv"][2]


def test_dev_thresholds_separate_a_separable_slice():
    raw = {name: (np.where(y >= 1, 0.9, 0.2), y) for name, (_, _, y) in DEV.items()}
    ours, base, acc = dev_thresholds(raw, DEV)
    assert 0.2 < ours < 0.9 and acc["dev_accuracy"] == 1.0
    assert 0.0 <= base <= 1.0 and 0.0 <= acc["dev_baseline_accuracy"] <= 1.0
