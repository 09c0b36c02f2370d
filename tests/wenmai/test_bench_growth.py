"""The short-document corpus of the growth curve: sources read, texts normalised, no exact
duplicates, only short texts, and every size a prefix of the next."""
import json

import pytest

from wenmai.benchmarks import growth
from wenmai.benchmarks.growth import (clause_runs, distinct_short, line_texts, per_thousand,
                                      short_corpus, story_texts)


def test_line_texts_by_format():
    assert line_texts("新闻\t今天有雨\n") == ["今天有雨"]
    assert line_texts("怎么还款\t如何还款\t1\n") == ["怎么还款", "如何还款"]
    assert line_texts("一行一个问题\n") == ["一行一个问题"]


def test_clause_runs_keep_whole_clauses_within_the_limit():
    sentence = "今天上午，会议在北京召开，代表出席。"
    assert clause_runs(sentence, 13) == ["今天上午，会议在北京召开，", "代表出席。"]
    assert "".join(clause_runs(sentence, 6)) == sentence
    assert clause_runs("没有逗号的一句很长的话。", 4) == ["没有逗号的一句很长的话。"]


def test_story_texts_split_sentences_and_cut_long_ones():
    story = "短句一。这是一个比较长的句子，它有两个分句，还有第三个。\n编辑：某人"
    texts = list(story_texts(story, 12))
    assert texts[0] == "短句一。"
    assert all(len(t) <= 12 for t in texts[1:-1])
    assert "编辑：某人" in texts or "编辑：" in texts


def test_distinct_short_normalises_before_deduplicating():
    assert distinct_short(["ＡＩ芯片", "AI芯片", "长", " AI芯片 ", "太长了太长了太长了"], 2, 8) == ["AI芯片"]


@pytest.fixture
def data(tmp_path):
    """One tiny file at every source path: 3 texts each (1 long story sentence cut in 2)."""
    for i, name in enumerate(growth.HEADLINES + growth.PAIRS):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith(".txt"):
            path.write_text(f"第{i}个问题是什么\n第{i}个问题是什么\n", encoding="utf-8")
        elif "similarity" in name:
            path.write_text(f"第{i}句甲\t第{i}句乙\t0\n", encoding="utf-8")
        else:
            path.write_text(f"科技\t第{i}条标题\n", encoding="utf-8")
    for i, name in enumerate(growth.STORIES):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        story = {"title": f"第{i}篇", "text": f"第{i}篇的第一句。" + "很长的一个分句，" * 6}
        path.write_text(json.dumps(story, ensure_ascii=False) + "\n", encoding="utf-8")
    return tmp_path


def test_short_corpus_prefixes_distinct_and_short(data):
    full = short_corpus(data, 20, min_chars=2, max_chars=32)
    assert len(set(full)) == len(full) == 20
    assert all(2 <= len(t) <= 32 for t in full)
    assert short_corpus(data, 7, min_chars=2) == full[:7]  # every size a prefix of the next
    assert short_corpus(data, 20, min_chars=2, seed=1) != full  # the order is a seeded shuffle


def test_short_corpus_too_small_is_an_error(data):
    with pytest.raises(ValueError, match="distinct short texts"):
        short_corpus(data, 10_000, min_chars=2)


def test_per_thousand():
    assert per_thousand({"n": 100_000, "peak_rss_mib": 2_500.0}) == 25.0


def test_phase_memory_keeps_the_peak_of_each_phase():
    from wenmai.benchmarks.growth import PhaseMemory

    phases = PhaseMemory()
    phases.sample(100.0)
    phases.event("INFO wenmai.progress: stage CleanText started\n")
    phases.sample(300.0)
    phases.sample(200.0)
    phases.event("wenmai: 0:00:10 read 5 | cleaned 3\n")  # a progress line is no event
    phases.sample(250.0)
    phases.event("INFO wenmai.progress: stage CleanText done: 5 cleaned in 1.0 s\n")
    phases.sample(50.0)
    assert phases.peaks == {"start": 100.0, "CleanText started": 300.0, "CleanText done": 50.0}


def test_tree_rss_counts_children():
    import os
    import subprocess
    import sys

    from wenmai.benchmarks.growth import tree_rss_mib

    alone = tree_rss_mib(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "import time; x = bytearray(200 << 20); "
                              "time.sleep(60)"])
    try:
        import time

        deadline = time.time() + 30  # a loaded CI machine may take seconds to start the child
        while tree_rss_mib(os.getpid()) < alone + 150 and time.time() < deadline:
            time.sleep(0.1)
        assert tree_rss_mib(os.getpid()) >= alone + 150
    finally:
        child.kill()
        child.wait()
    assert tree_rss_mib(-1) == 0


def test_a_run_past_the_memory_cap_is_stopped(tmp_path, monkeypatch):
    import time

    from wenmai.benchmarks import job
    from wenmai.benchmarks.growth import MemoryCapHit, run_traced

    # Stands in for `wenmai run`: logs a stage, then grows past the cap and would sleep on.
    monkeypatch.setattr(job, "_CHILD", "import sys, time\n"
                        "print('INFO wenmai.progress: stage CleanText started', file=sys.stderr, "
                        "flush=True)\nx = bytearray(300 << 20)\ntime.sleep(60)\n")
    start = time.time()
    with pytest.raises(MemoryCapHit, match="CleanText started") as hit:
        run_traced(tmp_path / "c.txt", tmp_path / "out", tmp_path, [], interval=0.1,
                   max_rss_mib=200)
    assert time.time() - start < 30
    # The sampler stops at the first reading above the cap; phase peaks are rounded to whole MiB.
    assert max(hit.value.phases.values()) >= 200
