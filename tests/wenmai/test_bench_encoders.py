"""`wenmai bench encoders` end to end on a tiny data directory laid out like ../shared/data."""
import json

from wenmai.benchmarks.encoders import REFERENCES, ROWS, main, summarise, verdicts

from ..models.test_train_encoder import CITIES, TOPICS

TINY_TRAIN = ("--train-files pairs.tsv --dev-files pairs.tsv --dev-sizes 12 --char-dim 16 "
              "--word-dim 8 --hidden 16 --dim 16 --batch-size 8 --warmup-steps 2 "
              "--corpus-max-texts 200")


def _data(root):
    pairs, labelled = [], []
    for i, c in enumerate(CITIES):
        for j, (a, b) in enumerate(TOPICS):
            pairs.append(f"{a.format(c=c)}\t{b.format(c=c)}\t1")
            pairs.append(f"{a.format(c=c)}\t{TOPICS[(j + 1) % 4][1].format(c=CITIES[i - 1])}\t0")
            labelled.append(f"t{j}\t{a.format(c=c)}")
    files = {"pairs.tsv": pairs, "similarity/lcqmc/test.tsv": pairs,
             "similarity/afqmc/dev.tsv": pairs, "similarity/stsb_zh/dev.tsv": pairs,
             "topics/thucnews/dev.tsv": labelled,
             "topics/tnews/unlabeled.txt": [p.split("\t")[1] for p in pairs],
             "titles/lcsts/train.jsonl": [json.dumps({"text": p.split("\t")[0]}, ensure_ascii=False)
                                          for p in pairs]}
    for name, lines in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def test_summarise_mean_and_spread():
    out = summarise([{"a": 1.0, "b": None}, {"a": 3.0, "b": 2.0}])
    assert out == {"a": {"mean": 2.0, "spread": 2.0}, "b": {"mean": 2.0, "spread": 0.0}}


def _rows(**cells):
    return {name: {key: {"mean": m, "spread": s} for key, (m, s) in row.items()}
            for name, row in cells.items()}


def test_verdicts_state_who_beats_whom_and_whether_the_lead_is_noise():
    rows = _rows(gru_am={"lcqmc_test": (0.60, 0.01), "nmi": (0.40, 0.0)},
                 gru_angular={"lcqmc_test": (0.605, 0.02), "nmi": (0.40, 0.0)},
                 infomax={"lcqmc_test": (0.40, 0.0), "nmi": (0.38, 0.0)},
                 shipped={"lcqmc_test": (0.62, 0.0), "nmi": (0.37, 0.0)},
                 random={"lcqmc_test": (0.42, 0.0), "nmi": (0.14, 0.0)},
                 char_tfidf={"lcqmc_test": (0.54, 0.0), "nmi": (0.41, 0.0)})
    infomax, best, decided = verdicts(rows)
    assert decided.endswith("keep the shipped recipe (gru_angular's lead is within seed noise).")
    assert "beats random." in infomax and "0.380" in infomax
    assert best.startswith("- Best trained row on LCQMC test: gru_angular (0.605")
    assert "+0.005 over gru_am, no more than the larger seed spread (0.020)" in best
    assert "shipped encoder scores 0.620" in best
    rows["infomax"]["ami"] = {"mean": 0.3, "spread": 0.0}
    rows["random"]["ami"] = {"mean": 0.1, "spread": 0.0}
    rows["char_tfidf"]["ami"] = {"mean": 0.2, "spread": 0.0}
    assert "AMI (chance-adjusted) of the same clusters: 0.300 vs random 0.100 and char TF-IDF " \
        "0.200: beats random and char_tfidf." in verdicts(rows)[1]
    rows["infomax"]["nmi"]["mean"] = 0.5
    rows["gru_angular"]["lcqmc_test"]["mean"] = 0.65
    infomax, _, best, decided = verdicts(rows)
    assert "beats random and char_tfidf." in infomax and "more than the larger seed" in best
    assert decided.endswith("switch to gru_angular.")
    rows["gru_angular"]["nmi"] = {"mean": 0.35, "spread": 0.01}
    rows["gru_angular"]["sentences_per_s"] = {"mean": 100.0, "spread": 0.0}
    rows["gru_am"]["sentences_per_s"] = {"mean": 300.0, "spread": 0.0}
    assert verdicts(rows)[-1].endswith(
        "keep the shipped recipe: gru_angular leads LCQMC test by +0.050, but it loses beyond seed "
        "noise on nmi -0.050 and it runs at 0.333x gru_am's sentences/s.")
    rows["gru_angular"]["lcqmc_test"]["spread"] = rows["gru_am"]["lcqmc_test"]["spread"] = 0.0
    assert verdicts(rows)[-1].endswith("no decision from one seed (rerun with --seeds A B).")


def test_every_row_trains_scores_and_lands_in_the_table(tmp_path, monkeypatch):
    data = _data(tmp_path / "data")
    out = tmp_path / "docs" / "encoders"
    report = main(["--data-dir", str(data), "--runs", str(tmp_path / "runs"), "--epochs", "1",
                   "--threads", "1", "--train-args", TINY_TRAIN, "--out", str(out)])
    assert set(report["rows"]) == set(ROWS) | set(REFERENCES)
    for name, row in report["rows"].items():
        assert -1 <= row["lcqmc_test"]["mean"] <= 1 and 0 <= row["nmi"]["mean"] <= 1, name
        assert ("sentences_per_s" in row) == (name != "char_tfidf")
        assert 0 <= row["ami"]["mean"] <= 1 and row["clusters"]["mean"] >= 1, name
        assert 0 <= row["nmi_no_floor"]["mean"] <= 1, name
    table = out.with_suffix(".md").read_text(encoding="utf-8")
    assert all(f"| {name} |" in table for name in report["rows"])
    assert json.loads(out.with_suffix(".json").read_text())["seeds"] == [1337]
    # the infomax_am row started from the infomax row's weights
    card = (tmp_path / "runs" / "seed1337" / "infomax_am" / "encoder" / "README.md").read_text()
    assert "Started from" in card and "infomax" in card

    # a rerun reuses the trained rows and their cached scores: nothing is trained or scored again
    import wenmai.benchmarks.encoders as bench

    def fail(*args, **kwargs):
        raise AssertionError("rescored or retrained")

    monkeypatch.setattr(bench, "score_row", fail)
    monkeypatch.setattr("wenmai.cli.train.encoder", fail)  # train_row imports it when called
    again = main(["--data-dir", str(data), "--runs", str(tmp_path / "runs"), "--epochs", "1",
                  "--threads", "1", "--train-args", TINY_TRAIN, "--out", str(out)])
    assert again["rows"] == report["rows"]
    assert again["trained_rows_reused"] == again["trained_rows"] == len(ROWS)
    assert "were already in --runs and only scored" in out.with_suffix(".md").read_text()


def test_the_infomax_row_reads_the_unlabelled_files_it_is_given(tmp_path, monkeypatch):
    from wenmai.benchmarks.encoders import UNLABELLED, Budget, train_row

    seen = []
    monkeypatch.setattr("wenmai.cli.train.encoder", lambda flags: seen.append(flags))
    train_row("infomax", tmp_path / "a", tmp_path, 1, Budget())
    train_row("infomax", tmp_path / "b", tmp_path, 1,
              Budget(unlabelled=("raw/zhihu_questions.txt", "titles/xwlb/archive.jsonl")))
    corpus = [flags[flags.index("--corpus") + 1:] for flags in seen]
    assert corpus[0] == [str(tmp_path / f) for f in UNLABELLED]
    assert corpus[1] == [str(tmp_path / "raw/zhihu_questions.txt"),
                         str(tmp_path / "titles/xwlb/archive.jsonl")]
