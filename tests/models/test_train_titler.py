"""Titler training data rules (news cleaning, held-out slice) and a tiny end-to-end training run."""
import json

import pytest

from wenmai.models.train_titler import (TitlerTrainConfig, clean_news, news_rows, split_news,
                                       train_titler)


def test_clean_news_strips_the_stock_opening_and_link_lines():
    raw = ("央视网消息（新闻联播）：今天举行了会议。\n会议强调发展。\n"
           "[查看原文](https://example.invalid/a.shtml)\n---\n(更新时间戳: 1666100494323)")
    assert clean_news(raw) == "今天举行了会议。会议强调发展。"
    assert clean_news("undefined\n[查看原文](https://example.invalid)") == ""
    assert clean_news("央视网消息：国务院召开会议") == "国务院召开会议"
    # older years' openings and the editors' byline line
    assert clean_news("中国网络电视台消息(新闻联播)：本台消息。\n(视频编辑：某某 文字编辑：某某)") == \
        "本台消息。"
    assert clean_news("央视网(新闻联播)消息：会议召开") == "会议召开"


def test_recurring_titles_are_rubrics():
    from wenmai.models.train_titler import recurring_titles

    rows = [("a", "每日快报", "20240101"), ("b", "每日快报", "20240102"),
            ("c", "每日快报", "20240102"), ("d", "北京降温", "20240101"),
            ("e", "北京降温", "20240101")]  # twice on one day: a story told twice, not a rubric
    found = recurring_titles(rows, min_dates=2)
    assert "每日快报" in found and "北京降温" not in found and "国内联播快讯" in found


def test_split_news_holds_out_whole_latest_days():
    rows = [(f"t{i}", f"y{i}", d) for i, d in enumerate(
        ["20240101", "20240102", "20240103", "20240103", "20240102", "20240104"])]
    train, held = split_news(rows, holdout=2)
    assert {d for _, _, d in held} == {"20240104", "20240103"}  # 1 + 2 stories: whole days
    assert len(train) + len(held) == len(rows) and not {r[2] for r in train} & {r[2] for r in held}


def _write(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture
def data_dir(tmp_path):
    pairs = [("研究了一种新的算法，实验表明该算法收敛更快。", "一种快速收敛的新算法"),
             ("今天北京气温骤降，最高只有五度", "北京降温"),
             ("国足在世界杯预选赛中战胜对手", "国足获胜"),
             ("华为公司总部位于深圳，员工超过十万人", "华为总部在深圳")]
    _write(tmp_path / "csl.jsonl", [{"text": t, "title": y} for t, y in pairs * 5])
    _write(tmp_path / "lcsts.jsonl", [{"text": t, "title": y} for t, y in pairs])
    _write(tmp_path / "news.jsonl", [
        {"date": f"2024010{i % 5}", "text": f"央视网消息（新闻联播）：{t}\n[查看原文](x)", "title": y}
        for i, (t, y) in enumerate(pairs * 3)] + [{"date": "20240101", "text": "undefined",
                                                     "title": "undefined"}])
    return tmp_path


def test_news_rows_drop_unusable_stories(data_dir):
    rows = news_rows(data_dir / "news.jsonl")
    assert len(rows) == 12 and all(not t.startswith("央视网") for t, _, _ in rows)


def test_tiny_training_run_writes_a_loadable_model(data_dir, tmp_path):
    from wenmai.models.titler import generate_titles, load_titler

    from wenmai.models.titler import TitlerConfig

    cfg = TitlerTrainConfig(data_dir=str(data_dir), csl_file="csl.jsonl",
                            lcsts_files=("lcsts.jsonl",), news_files=("news.jsonl",),
                            news_holdout=3, news_per_epoch=4, csl_dev_every=5,
                            out=str(tmp_path / "out"), recurring_dates=4,
                            model=TitlerConfig(emb_dim=8, enc_hidden=8, dec_hidden=16),
                            epochs=2, batch_size=8, warmup_steps=2, threads=1, progress=False)
    out = train_titler(cfg, argv=["--tiny"])
    model, vocab = load_titler(out)
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "wenmai train titler --tiny" in card and "| 2 |" in card  # command and both epochs
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert "dev_rouge_l" in config["dev_metrics"]
    # every fixture title recurs on 3 dates: below the floor of 4, so none is banned but the
    # series labels; the held-out cut-off is stored for `wenmai eval titler --news-holdout`
    from wenmai.models.faithful import title_key

    keys = config["banned_title_keys"]  # hashes: the model directory holds no dataset titles
    assert title_key("国内联播快讯") in keys and title_key("北京降温") not in keys
    assert "国内联播快讯" not in json.dumps(config, ensure_ascii=False)
    assert config["news_held_out_from"] == "20240103"  # 2 stories on the 4th, 3 on the 3rd
    assert not (out / "training_state").exists()  # finished: no state left to resume
    titles = generate_titles(model, vocab, ["今天北京气温骤降"], 2, 6)
    assert isinstance(titles[0][0], str) and len(titles[0][0]) <= 6
