"""PPMI-SVD initialisation: reading raw text of each format, the character budget, and copying
vectors into an embedding table (the factorisation itself: tests/models/test_trainer.py)."""
import json

import numpy as np
import torch

from wenmai.models.ppmi import init_embedding, ppmi_svd, read_pretrain_texts, read_texts


def test_read_texts_by_suffix(tmp_path):
    (tmp_path / "a.jsonl").write_text(
        json.dumps({"text": " 今天天气很好 "}, ensure_ascii=False) + "\n\n"
        + json.dumps({"title": "没有正文"}, ensure_ascii=False) + "\n", encoding="utf-8")
    (tmp_path / "b.tsv").write_text("1\t花呗怎么还款\n0\t \n", encoding="utf-8")
    (tmp_path / "c.txt").write_text("第一行\t带制表符\n\n第二行\n", encoding="utf-8")
    assert read_texts(tmp_path / "a.jsonl") == ["今天天气很好"]
    assert read_texts(tmp_path / "b.tsv") == ["花呗怎么还款"]
    assert read_texts(tmp_path / "c.txt") == ["第一行\t带制表符", "第二行"]


def test_read_pretrain_texts_stops_after_the_budget_across_files(tmp_path):
    (tmp_path / "a.txt").write_text("一二三\n四五\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("六七八九\n十\n", encoding="utf-8")
    names = ["a.txt", "b.txt"]
    assert read_pretrain_texts(tmp_path, names, 100) == ["一二三", "四五", "六七八九", "十"]
    assert read_pretrain_texts(tmp_path, names, 6) == ["一二三", "四五", "六七八九"]  # last one whole
    assert read_pretrain_texts(tmp_path, names, 5) == ["一二三", "四五"]
    assert read_pretrain_texts(tmp_path, names, 0) == []


def test_init_embedding_copies_seen_rows_and_keeps_padding_zero():
    torch.manual_seed(0)
    emb = torch.nn.Embedding(5, 3, padding_idx=0)
    before = emb.weight.detach().clone()
    vecs = np.zeros((5, 3), dtype=np.float32)
    vecs[[0, 2, 4]] = [[9, 9, 9], [1, 2, 3], [4, 5, 6]]
    assert init_embedding(emb, vecs) == 2
    w = emb.weight.detach()
    assert torch.equal(w[0], torch.zeros(3))  # the padding row, even where vecs has one
    assert torch.equal(w[[2, 4]], torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]))
    assert torch.equal(w[[1, 3]], before[[1, 3]])  # never seen: random init kept
    assert init_embedding(emb, None) == 0 and init_embedding(None, vecs) == 0


def test_ppmi_vectors_fit_an_embedding_table():
    sequences = [[2, 3, 4, 5], [3, 4, 5, 6], [2, 4, 6, 7]] * 5
    vecs = ppmi_svd(sequences, vocab_size=10, dim=3, window=1, seed=0)
    emb = torch.nn.Embedding(10, 3, padding_idx=0)
    assert vecs.dtype == np.float32 and init_embedding(emb, vecs) == 6  # ids 2..7 seen
    np.testing.assert_array_equal(ppmi_svd(sequences, 10, 3, window=1, seed=0), vecs)  # seeded
