"""evaluate_encoder on a tiny pairs file with a tiny saved model; helpers; the CLI entry point."""
import json

import numpy as np
import pytest
import torch

from wenmai.models.checkpoint import save_pretrained
from wenmai.models.encoder import EncoderConfig, SentenceEncoder
from wenmai.models.evaluate import (best_threshold, embed_texts, evaluate_encoder,
                                    read_pairs, score_pairs, tfidf_similarities)
from wenmai.models.vocab import Vocab

ROWS = [
    ("花呗怎么还款", "花呗如何还钱", 1),
    ("今天天气很好", "今天天气不错", 1),
    ("我想买一部手机", "北京的天气怎么样", 0),
    ("借呗可以提前还吗", "借呗能提前还款吗", 1),
    ("这首歌叫什么名字", "怎么开通花呗", 0),
    ("", "空的一边", 0),  # an empty text is scored like any other (all-padding vector)
]
KEYS = {"spearman", "pearson", "auc", "accuracy", "n", "baseline"}
BASELINE_KEYS = {"name", "spearman", "pearson", "auc", "accuracy"}


def _write(path, rows):
    path.write_text("".join(f"{a}\t{b}\t{y}\n" for a, b, y in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    import jieba

    texts = [t for a, b, _ in ROWS for t in (a, b) if t]
    vocab = Vocab.build((t, jieba.lcut(t)) for t in texts)
    torch.manual_seed(0)
    model = SentenceEncoder(EncoderConfig(char_vocab_size=vocab.n_chars, word_vocab_size=vocab.n_words,
                                          char_dim=8, word_dim=4, hidden=8, dim=6))
    root = tmp_path_factory.mktemp("models")
    save_pretrained(model, root / "encoder", vocab=vocab, extra={"threshold": 0.5,
                                                                  "baseline_threshold": 0.3})
    return root


def test_scores_every_row(models_dir, tmp_path):
    result = evaluate_encoder(_write(tmp_path / "pairs.tsv", ROWS), models_dir)
    assert set(result) == KEYS and set(result["baseline"]) == BASELINE_KEYS
    assert result["n"] == len(ROWS)
    assert result["baseline"]["name"] == "char_tfidf"
    for figures in (result, result["baseline"]):
        assert 0 <= figures["auc"] <= 1 and 0 <= figures["accuracy"] <= 1
        assert -1 <= figures["spearman"] <= 1 and -1 <= figures["pearson"] <= 1


def test_graded_labels(models_dir, tmp_path):
    rows = [(a, b, score) for (a, b, _), score in zip(ROWS, [4.8, 3.2, 0.4, 5, 1.0, 0])]
    result = evaluate_encoder(_write(tmp_path / "sts.tsv", rows), models_dir, batch_size=2)
    assert result["n"] == len(rows) and 0 <= result["auc"] <= 1


def test_malformed_row_names_the_line(models_dir, tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_text("你好\t您好\t1\n你好\t您好\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.tsv:2"):
        evaluate_encoder(path, models_dir)
    path.write_text("你好\t您好\tyes\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.tsv:1: label 'yes'"):
        read_pairs(path)


def test_missing_model_names_the_path(tmp_path):
    pairs = _write(tmp_path / "pairs.tsv", ROWS)
    with pytest.raises(FileNotFoundError, match="encoder"):
        evaluate_encoder(pairs, tmp_path / "no_models")


def test_main_prints_json_last(models_dir, tmp_path, capsys):
    pairs = _write(tmp_path / "pairs.tsv", ROWS)
    from wenmai.cli.evaluate import encoder as main_encoder

    main_encoder(["--pairs", str(pairs), "--models", str(models_dir)])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert set(json.loads(last)) == KEYS


def test_embed_texts_order_and_norm(models_dir):
    from wenmai.models.encoder import load_encoder

    model, vocab = load_encoder(models_dir / "encoder")
    texts = ["花呗怎么还款", "今天天气很好", "", "我想买一部手机"]
    vecs = embed_texts(texts, model, vocab, batch_size=2)
    assert vecs.shape == (4, model.dim) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs[[0, 1, 3]], axis=1), 1, atol=1e-5)
    reversed_ = embed_texts(texts[::-1], model, vocab, batch_size=3)
    assert np.allclose(vecs, reversed_[::-1], atol=1e-6)
    assert embed_texts([], model, vocab).shape == (0, model.dim)


def test_helpers():
    sims = np.array([0.1, 0.2, 0.8, 0.9])
    labels = np.array([0.0, 0.0, 1.0, 1.0])
    assert 0.2 < best_threshold(sims, labels) < 0.8
    figures = score_pairs(sims, labels, threshold=0.5)
    assert figures["auc"] == 1.0 and figures["accuracy"] == 1.0 and figures["spearman"] > 0.8
    same = tfidf_similarities(["花呗怎么还款"], ["花呗怎么还款"])
    assert same[0] == pytest.approx(1.0)
