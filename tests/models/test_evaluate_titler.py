"""ROUGE scoring on hand-made examples, the lead baseline, and `wenmai eval titler` end to end."""
import json

import pytest
import torch

from wenmai.models.checkpoint import save_pretrained
from wenmai.models.evaluate_titler import (evaluate_titler, lead_title, read_title_pairs,
                                           rouge_scores)
from wenmai.models.titler import Titler, TitlerConfig, build_titler_vocab

ROWS = [
    {"text": "研究了一种新的算法，实验表明该算法收敛更快。", "title": "一种快速收敛的新算法"},
    {"text": "今天北京气温骤降，最高只有五度", "title": "北京降温"},
    {"text": "", "title": "空文本也要计分"},  # an empty text is scored, not dropped
]
KEYS = {"rouge_1", "rouge_2", "rouge_l", "n", "number_faithful", "names_faithful", "series_share",
        "novel_char_share"}


def test_rouge_hand_example():
    # unigrams: 4 of 4 predicted characters match, 4 of 6 reference ones -> F1 = 0.8
    # bigrams: 北京, 天气 of (北京 京天 天气) vs (北京 京今 今日 日天 天气) -> P 2/3, R 2/5 -> F1 0.5
    # LCS 北京天气 (4) -> F1 0.8
    s = rouge_scores(["北京天气"], ["北京今日天气"])
    assert s["rouge_1"] == pytest.approx(0.8, abs=1e-6)
    assert s["rouge_2"] == pytest.approx(0.5, abs=1e-6)
    assert s["rouge_l"] == pytest.approx(0.8, abs=1e-6)


def test_rouge_counts_empty_predictions_as_zero():
    s = rouge_scores(["", "北京天气", "ABC"], ["北京", "北京天气", "abc"])  # lower-cased like CSL
    assert s["rouge_1"] == pytest.approx(2 / 3, abs=1e-6)
    assert rouge_scores(["北京"], ["上海"])["rouge_l"] == 0.0


def test_lead_title():
    assert lead_title("研究了一种新的算法，实验表明", 20) == "研究了一种新的算法"
    assert lead_title("目的:了解抗高血压药的应用情况.方法:回顾", 8) == "目的:了解抗高血"
    assert lead_title("地震6.8级.然后", 20) == "地震6.8级"  # a decimal point is not a full stop
    assert lead_title("", 5) == ""


def _write(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    vocab = build_titler_vocab([r["text"] + r["title"] for r in ROWS], min_count=1)
    torch.manual_seed(0)
    model = Titler(TitlerConfig(vocab_size=vocab.n_chars, emb_dim=8, enc_hidden=8, dec_hidden=16,
                                max_len=32))
    root = tmp_path_factory.mktemp("models")
    save_pretrained(model.eval(), root / "titler", vocab=vocab, card="tiny random titler")
    return root


def test_scores_every_row(models_dir, tmp_path):
    result = evaluate_titler(_write(tmp_path / "t.jsonl", ROWS), models_dir, beam_size=3,
                             max_title_len=6)
    assert KEYS <= set(result) and result["n"] == len(ROWS) and result["beam_size"] == 3
    assert result["other"]["beam_size"] == 1 and KEYS - {"n"} <= set(result["other"])
    assert {"rouge_1", "rouge_2", "rouge_l"} <= set(result["lead_baseline"])
    for figures in (result, result["other"], result["lead_baseline"]):
        assert all(0.0 <= figures[k] <= 1.0 for k in ("rouge_1", "rouge_2", "rouge_l"))


def test_cli_prints_json_last(models_dir, tmp_path, capsys):
    from wenmai.cli import main

    pairs = _write(tmp_path / "t.jsonl", ROWS)
    assert main(["eval", "titler", "--pairs", str(pairs), "--models", str(models_dir),
                 "--beam-size", "2", "--max-title-len", "5"]) == 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert KEYS <= set(last) and last["n"] == len(ROWS) and last["beam_size"] == 2


def test_bad_line_names_it(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "好", "title": "好"}\n{"text": "好"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.jsonl:2"):
        read_title_pairs(path)
    with pytest.raises(FileNotFoundError):
        read_title_pairs(tmp_path / "missing.jsonl")
