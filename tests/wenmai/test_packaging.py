"""`--setup_file ./setup.py` (Dataflow, Flink, Spark): Beam builds our sdist with its own stager
and installs it on every worker; the sdist must carry every package and the shipped weights."""
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from apache_beam.runners.portability.stager import Stager

ROOT = Path(__file__).resolve().parents[2]


def _packages() -> list[str]:
    """Every package directory of the checkout (found, not listed by hand)."""
    found = sorted(str(p.parent.relative_to(ROOT))
                   for top in ("wenmai", "pipelines", "models", "schemas")
                   for p in (ROOT / top).rglob("__init__.py"))
    assert {"wenmai", "wenmai/cli", "models", "pipelines"} <= set(found)
    return found


def test_beam_stager_builds_an_sdist_with_code_and_weights(tmp_path):
    sdist = Stager._build_setup_package(str(ROOT / "setup.py"), str(tmp_path))
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for package in _packages():
        assert f"{package}/__init__.py" in names, package
    assert "pipelines/pipeline.py" in names and "schemas/tables.py" in names
    for weights in sorted((ROOT / "models" / "weights").glob("*/config.json")):
        model = weights.parent.name
        for name in ("config.json", "model.safetensors", "vocab.json", "README.md"):
            assert f"models/weights/{model}/{name}" in names, (model, name)


def test_a_wheel_installs_every_package(tmp_path):
    """`pip install .` (the Dockerfile, a bench's base commit) installs what setup.py lists: a
    package left out of it (wenmai.cli once was) is missing from the wheel though the sdist and
    an editable install carry it, and the `wenmai` command then fails to import."""
    # a copy without build/: setuptools packs a stale build/lib into the wheel as it finds it
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", "build", "dist", "out", "runs", "*.egg-info", "__pycache__", ".*cache", ".hypothesis"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    str(source), "-w", str(tmp_path)], check=True, capture_output=True, cwd=tmp_path)
    (wheel,) = tmp_path.glob("wenmai-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    mapped = {"wenmai": "wenmai", "pipelines": "wenmai/pipelines", "models": "wenmai/models",
              "schemas": "wenmai/schemas"}
    for package in _packages():
        top, _, rest = package.partition("/")
        installed = "/".join(filter(None, (mapped[top], rest)))
        assert f"{installed}/__init__.py" in names, package
