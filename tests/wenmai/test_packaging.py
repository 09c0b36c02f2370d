"""`--setup_file ./setup.py` (Dataflow, Flink, Spark): Beam builds our sdist with its own stager
and installs it on every worker; the sdist must carry every package and the shipped weights."""
import tarfile
from pathlib import Path

from apache_beam.runners.portability.stager import Stager

ROOT = Path(__file__).resolve().parents[2]


def test_beam_stager_builds_an_sdist_with_code_and_weights(tmp_path):
    sdist = Stager._build_setup_package(str(ROOT / "setup.py"), str(tmp_path))
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for package in ("wenmai", "wenmai/benchmarks", "pipelines", "models", "schemas"):
        assert f"{package}/__init__.py" in names, package
    assert "pipelines/pipeline.py" in names and "schemas/tables.py" in names
    for weights in sorted((ROOT / "models" / "weights").glob("*/config.json")):
        model = weights.parent.name
        for name in ("config.json", "model.safetensors", "vocab.json", "README.md"):
            assert f"models/weights/{model}/{name}" in names, (model, name)
