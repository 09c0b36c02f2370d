"""The shipped sample stories: long, multi-paragraph documents for the README's first command.

samples/corpus/stories.jsonl is what shows titles on long documents, so it must stay a usable
corpus: enough stories, each really multi-paragraph and long, with unique ids.
"""
from __future__ import annotations

import json
from pathlib import Path

STORIES = Path(__file__).resolve().parents[2] / "samples" / "corpus" / "stories.jsonl"


def _load() -> list[dict]:
    with STORIES.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def test_every_line_is_an_id_and_a_text():
    for row in _load():
        assert set(row) == {"id", "text"}, row
        assert isinstance(row["id"], str) and isinstance(row["text"], str), row["id"]


def test_enough_long_multi_paragraph_stories_with_unique_ids():
    rows = _load()
    assert len(rows) >= 12
    ids = [row["id"] for row in rows]
    assert len(set(ids)) == len(ids), "duplicate ids"
    for row in rows:
        paragraphs = [p for p in row["text"].split("\n") if p.strip()]
        assert len(paragraphs) >= 2, row["id"]
        assert len(row["text"]) >= 200, row["id"]
