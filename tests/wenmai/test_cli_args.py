"""The dataclass <-> argparse bridge: help from the config's comments, nested configs, choices."""
from dataclasses import dataclass, field
from typing import Literal, Optional

import pytest

from wenmai.cli.args import ArgumentParser, add_dataclass_args, dataclass_from_args, field_comments
from wenmai.config import UsageError


@dataclass(frozen=True)
class Inner:
    # a block comment that explains
    # over two lines
    width: int = 8
    mode: Literal["fast", "exact"] = "fast"  # how to search
    size: int = field(default=5, metadata={"cli": False})  # decided by the data, not a flag

    def __post_init__(self):
        if self.width <= 0:
            raise ValueError("width must be positive")


@dataclass(frozen=True)
class Outer:
    name: Optional[str] = None  # a name; None: derived
    flags: tuple[int, ...] = (1, 2)  # several values
    on: bool = True  # switch it off with --no-on
    inner: Inner = field(default_factory=Inner)


def test_comments_become_help():
    assert field_comments(Inner) == {"width": "a block comment that explains over two lines",
                                     "mode": "how to search",
                                     "size": "decided by the data, not a flag"}
    parser = ArgumentParser(prog="t")
    add_dataclass_args(parser, Outer)
    text = parser.format_help()
    assert "how to search (default: fast)" in " ".join(text.split())
    assert "{fast,exact}" in text and "--size" not in text


def test_nested_round_trip_and_choices():
    parser = ArgumentParser(prog="t")
    add_dataclass_args(parser, Outer)
    args = parser.parse_args(["--width", "3", "--mode", "exact", "--no-on", "--flags", "4"])
    assert dataclass_from_args(Outer, args) == Outer(flags=(4,), on=False,
                                                     inner=Inner(width=3, mode="exact"))
    with pytest.raises(UsageError, match="invalid choice"):
        parser.parse_args(["--mode", "slow"])


def test_rejected_value_is_a_usage_error():
    parser = ArgumentParser(prog="t")
    add_dataclass_args(parser, Outer)
    with pytest.raises(UsageError, match="width must be positive"):
        dataclass_from_args(Outer, parser.parse_args(["--width", "0"]))


def test_every_run_option_has_help_and_default():
    from wenmai.job import build_parser

    parser = build_parser()
    undocumented = [a.dest for a in parser._actions
                    if a.dest not in ("help", "inputs") and not (a.help or "").strip()]
    assert undocumented == []
