"""Where the benchmarks find their datasets: `--data-dir`, else ../shared/data from the working
directory or from the source checkout, else one line and exit code 2 (no ../shared needed here)."""
import pytest

from wenmai.benchmarks import data
from wenmai.benchmarks.data import MISSING, data_dir
from wenmai.cli import main as wenmai
from wenmai.config import UsageError


@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    """A working directory with no ../shared/data, and a checkout without one either."""
    cwd = tmp_path / "repo"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(data, "CHECKOUT", tmp_path / "checkout" / "shared" / "data")
    return cwd


def test_the_flag_wins_and_must_be_a_directory(tmp_path, nowhere):
    assert data_dir(tmp_path) == tmp_path
    with pytest.raises(UsageError, match=r"^--data-dir .*missing: no such directory$"):
        data_dir(tmp_path / "missing")


def test_shared_data_seen_from_the_working_directory(tmp_path, nowhere):
    (tmp_path / "shared" / "data").mkdir(parents=True)
    assert data_dir() == (tmp_path / "shared" / "data").resolve()


def test_then_the_source_checkout(tmp_path, nowhere):
    data.CHECKOUT.mkdir(parents=True)
    assert data_dir() == data.CHECKOUT


def test_none_is_a_usage_error_that_says_what_to_pass(nowhere):
    with pytest.raises(UsageError) as e:
        data_dir()
    assert str(e.value) == MISSING
    assert "--data-dir" in MISSING and "\n" not in MISSING


# every benchmark that reads a dataset by default; extra flags only where one is required
VERBS = [["encoder"], ["bert"], ["titler"], ["efficiency", "--model", "titler"], ["extractor"],
         ["knn"], ["job"], ["infomap"], ["encoders"], ["report"], ["title-lengths"]]


@pytest.mark.parametrize("verb", VERBS, ids=lambda v: v[0])
def test_every_benchmark_exits_2_with_one_line_without_data(verb, nowhere, capsys):
    assert wenmai(["bench", *verb]) == 2
    err = capsys.readouterr().err
    assert err == f"wenmai: error: {MISSING}\n"
    assert wenmai(["bench", *verb, "--data-dir", "bogus"]) == 2
    assert capsys.readouterr().err == "wenmai: error: --data-dir bogus: no such directory\n"


def test_a_default_file_is_looked_up_in_the_data_dir(tmp_path, nowhere, capsys):
    assert wenmai(["bench", "titler", "--data-dir", str(tmp_path)]) == 2  # an empty data dir
    err = capsys.readouterr().err
    assert err.startswith("wenmai: error: --pairs ") and err.count("\n") == 1
    assert str(tmp_path / "titles" / "csl" / "test.jsonl") in err
