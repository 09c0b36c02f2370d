"""Where the benchmarks' datasets are: one directory laid out as ../shared/data (its README.md
lists the files and their roles). Every benchmark takes `--data-dir`; its default file paths are
relative to that directory, and an explicit file flag (`--texts`, `--pairs`, ...) still wins.

The directory is, in order: the `--data-dir` flag; `../shared/data` seen from the working
directory (running from the repository root); `../shared/data` seen from a source checkout of
this package. Installed from a wheel, only the first two can exist, so a missing directory is a
UsageError (one line, exit code 2 through `wenmai`), never a path into site-packages.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional

from wenmai.config import UsageError

__all__ = ["add_data_dir_arg", "data_dir"]

RELATIVE = Path("..") / "shared" / "data"
# wenmai/benchmarks/data.py -> the checkout's parent holds shared/ (= ../shared from the checkout)
CHECKOUT = Path(__file__).resolve().parents[3] / "shared" / "data"
MISSING = "no data directory: pass --data-dir DIR (the datasets of ../shared/data/README.md)"


def data_dir(flag: Optional[Path] = None) -> Path:
    """The datasets directory: `flag`, else ../shared/data from the working directory, else from
    the source checkout; a UsageError when none of them is a directory.

    Example: run from the repository root, data_dir() == Path("../shared/data").resolve().
    """
    if flag is not None:
        if not flag.is_dir():
            raise UsageError(f"--data-dir {flag}: no such directory")
        return flag
    for candidate in (Path.cwd() / RELATIVE, CHECKOUT):
        if candidate.is_dir():
            return candidate.resolve()
    raise UsageError(MISSING)


def add_data_dir_arg(parser: argparse.ArgumentParser) -> None:
    """The same `--data-dir` flag on every benchmark (resolved with `data_dir` after parsing, and
    only when a default file path needs it)."""
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="the datasets, laid out as ../shared/data (default: ../shared/data "
                             "from the working directory, else from the source checkout)")
