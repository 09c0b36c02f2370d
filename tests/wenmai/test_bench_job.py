"""`wenmai bench job`'s corpora: the newest news stories, corpus files and their characters."""
import json

from wenmai.benchmarks.job import corpus_chars, newest_stories, write_corpus


def test_newest_stories_by_date_not_file_order(tmp_path):
    path = tmp_path / "news.jsonl"
    rows = [{"date": "20260102", "text": "乙"}, {"date": "20260101", "text": "甲"},
            {"date": "20260103", "text": "丙\n丁"}, {"date": "20260102", "text": "戊"}]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows) + "\n",
                    encoding="utf-8")
    assert newest_stories(path, 2) == ["戊", "丙\n丁"]  # same date: file order
    assert newest_stories(path, 9) == ["甲", "乙", "戊", "丙\n丁"]
    assert newest_stories(path, 0) == []


def test_corpus_files_keep_multi_line_texts_whole(tmp_path):
    texts = ["第一段。\n第二段。", "短"]
    jsonl = write_corpus(texts, tmp_path, "news", jsonl=True)
    assert [json.loads(line)["text"] for line in jsonl.read_text("utf-8").splitlines()] == texts
    assert corpus_chars(jsonl) == len(texts[0]) + 1
    txt = write_corpus(["北京降温", "你好"], tmp_path, "lines", jsonl=False)
    assert txt.read_text("utf-8") == "北京降温\n你好\n" and corpus_chars(txt) == 6
