"""The command line: exit codes and one-line errors (subprocess-free: main() is called)."""
import json

import pytest

from wenmai.cli import main
from wenmai.config import GraphConfig, InferenceConfig
from wenmai.cli.args import add_dataclass_args, dataclass_from_args


def test_config_flags_round_trip():
    import argparse

    parser = argparse.ArgumentParser()
    add_dataclass_args(parser, GraphConfig)
    add_dataclass_args(parser, InferenceConfig)
    args = parser.parse_args(["--k", "7", "--min-similarity", "0.3", "--bucket-boundaries", "8", "64"])
    assert dataclass_from_args(GraphConfig, args) == GraphConfig(k=7, min_similarity=0.3)
    assert dataclass_from_args(InferenceConfig, args).bucket_boundaries == (8, 64)


@pytest.mark.parametrize("argv,message", [
    (["frobnicate"], "unknown command"),
    (["eval", "nothing"], "eval needs one of"),
    (["train"], "train needs one of"),
    (["run", "/nonexistent/*.txt", "--output", "/tmp/x", "--models", "{models}"], "matches no file"),
    (["eval", "cluster", "--labelled", "/nonexistent.tsv"], "no such file"),
    (["run", "x.txt", "--output", "/tmp/x", "--k", "many"], "argument --k: invalid int value"),
    (["run", "x.txt"], "the following arguments are required: --output"),
    (["eval", "encoder"], "the following arguments are required: --pairs"),
])
def test_usage_errors_exit_2_with_one_line(argv, message, models_dir, capsys):
    assert main([a.format(models=models_dir) for a in argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("wenmai: error:") and message in err[0]


def test_unwritable_output_exits_2(tiny_corpus, models_dir, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")  # even root cannot create a directory inside a file
    code = main(["run", str(tiny_corpus), "--output", str(blocker / "out"), "--models",
                 str(models_dir)])
    assert code == 2 and "cannot write output" in capsys.readouterr().err


def test_eval_cluster_prints_json_last(tmp_path, models_dir, capsys):
    rows = ["体育\t国足在预选赛中获胜", "体育\t中国男足赢下比赛", "天气\t北京今天降温",
            "天气\t北京气温骤降", "科技\t华为发布新手机", "科技\t新款手机今天发布"]
    path = tmp_path / "labelled.tsv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert main(["eval", "cluster", "--labelled", str(path), "--models", str(models_dir)]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"nmi", "ari", "v_measure", "n_clusters", "n"} <= set(result) and result["n"] == 6
    assert result["baseline"]["name"] == "kmeans_true_k" and result["baseline"]["k"] == 3
    assert all(0 <= result[k] <= 1 for k in ("nmi", "v_measure")) and -1 <= result["ari"] <= 1


def test_damaged_model_exits_2_naming_the_file(tiny_corpus, models_dir, tmp_path, capsys):
    import shutil

    broken = tmp_path / "models"
    shutil.copytree(models_dir, broken)
    (broken / "encoder" / "model.safetensors").write_bytes(b"not safetensors at all")
    code = main(["run", str(tiny_corpus), "--output", str(tmp_path / "out"), "--models", str(broken)])
    assert code == 2 and "model.safetensors" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_version(capsys):
    from importlib import metadata

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"wenmai {metadata.version('wenmai')}"


def test_a_failed_run_exits_1_with_one_line(tmp_path, models_dir, capsys):
    (tmp_path / "q.jsonl").write_text('{"body": "正文"}\n' * 4, encoding="utf-8")
    code = main(["run", str(tmp_path / "q.jsonl"), "--output", str(tmp_path / "out"), "--models",
                 str(models_dir), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1
    assert err[0].startswith("wenmai: run ") and "no documents from 4 records" in err[0]
    assert "missing_field: text x4 (read)" in err[0] and not (tmp_path / "out").exists()


def _cli(*args):
    import sys

    return [sys.executable, "-c", "import sys; from wenmai.cli import main; sys.exit(main())", *args]


def test_a_closed_pipe_is_not_a_traceback(tiny_corpus, models_dir, tmp_path):
    """`wenmai run ... | head -0`: the reader is gone before the summary is printed."""
    import subprocess

    job = subprocess.Popen(_cli("run", str(tiny_corpus), "--output", str(tmp_path / "out"),
                                "--models", str(models_dir), "--no-titles", "--no-triples",
                                "--quiet"),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    job.stdout.close()
    _, err = job.communicate(timeout=120)
    assert job.returncode == 0 and b"Traceback" not in err and b"BrokenPipe" not in err, err
    assert (tmp_path / "out" / "_SUCCESS").exists()
