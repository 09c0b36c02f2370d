"""bench daily: per-date files, windows, and the figures read back from published runs."""
import json

from wenmai.benchmarks.daily import markdown, summarise, windows, write_days


def test_write_days_keeps_the_newest_dates_one_file_each(tmp_path):
    news = tmp_path / "news.jsonl"
    rows = [("20260601", "甲"), ("20260603", "丙"), ("20260602", "乙一"), ("20260602", "乙二")]
    news.write_text("".join(json.dumps({"date": d, "text": t, "title": "x"}, ensure_ascii=False)
                            + "\n" for d, t in rows), encoding="utf-8")
    days = write_days(news, 2, tmp_path / "days")
    assert [d for d, _ in days] == ["2026-06-02", "2026-06-03"]
    assert [json.loads(x)["text"] for x in days[0][1].read_text(encoding="utf-8").splitlines()] \
        == ["乙一", "乙二"]


def test_windows_step_one_date():
    days = [("d1", "a"), ("d2", "b"), ("d3", "c")]
    assert windows(days, 2) == [("d2", ["a", "b"]), ("d3", ["b", "c"])]
    assert windows(days, 4) == []


def test_summary_pools_documents_over_runs_and_the_report_names_the_goal():
    runs = [{"run_date": "d1", "documents": 3, "seen_again": 0, "kept_topic": 0, "stability": None,
             "topics_alive": 2, "births": 2, "deaths": 0, "splits": 0, "merges": 0, "returns": 0,
             "seconds": 2.0, "seconds_alone": 1.5},
            {"run_date": "d2", "documents": 4, "seen_again": 3, "kept_topic": 2, "stability": 2 / 3,
             "topics_alive": 3, "births": 1, "deaths": 0, "splits": 1, "merges": 0, "returns": 0,
             "seconds": 2.5, "seconds_alone": None}]
    s = summarise(runs)
    assert s["stability"] == 2 / 3 and s["births"] == 3 and s["timed_runs"] == 1
    report = {"summary": s, "runs": runs, "command": "wenmai bench daily", "data": "news.jsonl",
              "config": {"window": 2, "days": 3, "threads": 1},
              "trajectory": {"topic_id": 0, "runs": [{"run_date": "d1", "size": 2,
                                                      "new_documents": 2, "keywords": ["甲乙"]}]},
              "duckdb_query": "SELECT 1"}
    text = markdown(report)
    assert "2 of the 3" in text and "66.7%" in text and "goal 95.0%" in text and "| d1 | 2 | 2 | 甲乙 |" in text


def test_the_bench_end_to_end_on_three_invented_days(tmp_path, models_dir):
    from wenmai.benchmarks.daily import main

    stories = {"20260601": ["华为公司发布新款手机芯片", "北京今天气温骤降最高五度"],
               "20260602": ["华为公司发布新款手机系统", "北京今天气温骤降伴有大风"],
               "20260603": ["华为公司发布新款平板电脑", "北京今天气温骤降道路结冰"]}
    news = tmp_path / "news.jsonl"
    news.write_text("".join(json.dumps({"date": d, "text": t}, ensure_ascii=False) + "\n"
                            for d, ts in stories.items() for t in ts), encoding="utf-8")
    report = main(["--news", str(news), "--days", "3", "--window", "2", "--work",
                   str(tmp_path / "work"), "--report", str(tmp_path / "daily"), "--",
                   "--models", str(models_dir), "--k", "3"])
    s = report["summary"]
    assert s["runs"] == 2 and s["documents_seen_again"] == 2 and s["timed_runs"] == 2
    assert s["pairs_without_carry"] == 1 and 0 <= s["stability_without_carry"] <= 1
    assert [r["run_date"] for r in report["runs"]] == ["2026-06-02", "2026-06-03"]
    assert report["trajectory"]["runs"] and "topic_days" in report["duckdb_query"]
    assert json.loads((tmp_path / "daily.json").read_text())["summary"] == s
    assert "Stability" in (tmp_path / "daily.md").read_text()
