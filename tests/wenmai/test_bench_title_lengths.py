"""`wenmai bench title-lengths` on tiny files laid out like ../shared/data (no dataset text)."""
import json

import pytest

from wenmai.benchmarks import data
from wenmai.benchmarks.title_lengths import (DOCUMENT_FILES, TITLE_FILES, main, percentile,
                                             read_documents)
from wenmai.cli import main as wenmai


def _jsonl(path, titles):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"text": "正文" * 40, "title": t}, ensure_ascii=False) + "\n"
                            for t in titles), encoding="utf-8")


@pytest.fixture
def data_dir(tmp_path):
    root = tmp_path / "data"
    _jsonl(root / TITLE_FILES[0], ["甲" * n for n in (10, 20, 30, 40)])  # news
    _jsonl(root / TITLE_FILES[1], ["乙" * 5, "乙" * 15, "  "])  # an empty title is skipped
    _jsonl(root / TITLE_FILES[2], ["丙丙丙"])
    headlines = root / DOCUMENT_FILES[0]
    headlines.parent.mkdir(parents=True)
    headlines.write_text("".join(f"news_x\t{'丁' * n}\n" for n in (10, 24, 30, 40, 50)),
                         encoding="utf-8")
    questions = root / DOCUMENT_FILES[1]
    questions.parent.mkdir(parents=True)
    # full-width letters count once normalised (ＡＢ -> AB); the blank line is no document
    questions.write_text("ＡＢ" + "戊" * 30 + "\n\n" + "戊" * 33 + "\n", encoding="utf-8")
    return root


def test_percentile_is_an_observed_length():
    assert percentile([10, 20, 30, 40], 50) == 20 and percentile([10, 20, 30, 40], 90) == 40
    assert percentile([7], 99) == 7 and percentile([], 50) is None


def test_read_documents_takes_the_text_column_and_normalises(tmp_path):
    path = tmp_path / "x.tsv"
    path.write_text("a\t华为 发布\u200b新手机\nb\t\n", encoding="utf-8")
    assert list(read_documents(path)) == ["华为 发布新手机"]


def test_title_lengths_on_a_tiny_data_dir(data_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no ../shared/data from here: only --data-dir is used
    monkeypatch.setattr(data, "CHECKOUT", tmp_path / "nowhere")
    r = main(["--data-dir", str(data_dir), "--percentiles", "50", "90", "--chars", "24", "32"])
    assert r["titles"][TITLE_FILES[0]] == {"n": 4, "mean_chars": 25.0, "p50": 20, "p90": 40}
    assert r["titles"][TITLE_FILES[1]]["n"] == 2 and r["titles"][TITLE_FILES[1]]["p90"] == 15
    assert r["titles"][TITLE_FILES[2]]["p50"] == 3
    assert r["documents"][DOCUMENT_FILES[0]] == {"n": 5, "mean_chars": 30.8, "at_most_24": 0.4,
                                                 "at_most_32": 0.6}
    assert r["documents"][DOCUMENT_FILES[1]] == {"n": 2, "mean_chars": 32.5, "at_most_24": 0.0,
                                                 "at_most_32": 0.5}
    out = capsys.readouterr().out.splitlines()
    assert json.loads(out[-1]) == json.loads(json.dumps(r))  # the last line is the whole report
    assert any(line.startswith(TITLE_FILES[0]) and line.split()[-2:] == ["20", "40"]
               for line in out)
    assert any(line.startswith(DOCUMENT_FILES[0]) and line.split()[-2:] == ["40.0%", "60.0%"]
               for line in out)


def test_explicit_files_need_no_data_dir(data_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(data, "CHECKOUT", tmp_path / "nowhere")
    r = main(["--titles", str(data_dir / TITLE_FILES[2]),
              "--documents", str(data_dir / DOCUMENT_FILES[0])])
    assert list(r["titles"]) == [str(data_dir / TITLE_FILES[2])] and r["data_dir"] is None
    assert r["documents"][str(data_dir / DOCUMENT_FILES[0])]["at_most_40"] == 0.8


def test_bad_flags_and_missing_files_exit_2(data_dir, capsys):
    assert wenmai(["bench", "title-lengths", "--data-dir", str(data_dir), "--chars", "0"]) == 2
    assert "chars must be positive" in capsys.readouterr().err
    (data_dir / TITLE_FILES[2]).unlink()
    assert wenmai(["bench", "title-lengths", "--data-dir", str(data_dir)]) == 2
    assert capsys.readouterr().err == f"wenmai: error: {TITLE_FILES[2]}: no such file\n"
