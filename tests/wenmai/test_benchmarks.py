"""The benchmark commands run end to end on tiny inputs and report sane figures (never timings:
speed is for `wenmai bench report`, not for tests)."""
import pytest

from ..conftest import TINY_CORPUS


@pytest.fixture(scope="module")
def texts(tmp_path_factory):
    path = tmp_path_factory.mktemp("texts") / "t.txt"
    lines = [f"{t}{i}" for i in range(30) for t in TINY_CORPUS if t.strip()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_bench_knn(models_dir, texts):
    from wenmai.benchmarks.knn import main

    r = main(["--texts", str(texts), "--models", str(models_dir), "--sizes", "150", "400",
              "--queries", "100", "--k", "5"])
    assert [s["n"] for s in r["sizes"]] == [150, 400] and r["real_vectors"] <= 300
    for size in r["sizes"]:
        rows = size["indexes"]
        assert rows["exact"]["recall"] == 1.0
        assert all(0 <= row["recall"] <= 1 for row in rows.values())
        assert rows["sharded"]["recall"] >= 0.8  # a handful of lists on 150-400 vectors


def test_bench_efficiency_and_job(models_dir, texts):
    from wenmai.benchmarks.efficiency import main as efficiency
    from wenmai.benchmarks.job import main as job

    for model in ("encoder", "titler", "extractor"):
        r = efficiency(["--model", model, "--texts", str(texts), "--models", str(models_dir),
                        "--limit", "40", "--title-max-chars", "4"])
        assert r["items"] >= 40 and r["efficiency"] > 0
    r = job(["--texts", str(texts), "--models", str(models_dir), "--sizes", "50", "--",
             "--title-max-chars", "4"])
    (run,) = r["runs"]
    assert run["documents"] == 50 and run["peak_rss_mib"] > 0
    assert abs(sum(run["stage_share"].values()) - 1) < 1e-6 and "Title" in run["stage_share"]


def test_bench_bert(models_dir, texts):
    pytest.importorskip("transformers")  # the [bench] extra
    from wenmai.benchmarks.bert import main

    r = main(["--texts", str(texts), "--models", str(models_dir), "--limit", "8",
              "--batch-size", "4"])
    assert r["bert_base"]["parameters"] > 100e6 > r["ours"]["parameters"] and r["speedup"] > 0


def test_bench_encoder_batch_stability(models_dir, texts):
    from wenmai.benchmarks.encoder import batch_stability, load_docs
    from wenmai.config import InferenceConfig

    docs = load_docs(texts, 40)
    r = batch_stability(docs, models_dir, InferenceConfig(), batch_size=40, n=10)
    assert r["fp32"]["min_cosine"] > 0.99999  # fp32 rows never depend on their batch-mates
    assert r["int8"]["texts"] == 10 and r["int8"]["batch"] == 40
    assert -1 <= r["int8"]["min_cosine"] <= r["int8"]["mean_cosine"] <= 1 + 1e-5
