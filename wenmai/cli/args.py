"""Typed config dataclasses <-> argparse flags: the one bridge between the command line and
`wenmai.config`, so a default, its reason and its choices are written once, in the dataclass.

- Flags: `GraphConfig.min_similarity` -> `--min-similarity` (with prefix "graph_":
  `--graph-min-similarity`). Nested dataclass fields are flattened into the same parser, so
  `TitlerTrainConfig.model.enc_hidden` is `--enc-hidden`; a field marked
  `field(metadata={"cli": False})` is no flag (e.g. a vocabulary size that the data decides).
- Help: the comment on a field's line (and the comment lines right above it) in the class source,
  then its default and, for a `Literal[...]` type, its choices.
- Types: bool -> --x/--no-x; tuple[T, ...] -> one or more values; Optional[T] -> T or the None
  default; Literal[...] -> choices.

We keep argparse (not tyro or simple-parsing) because `wenmai run` must hand every flag it does
not know to Beam's PipelineOptions (`parse_known_args`) and keeps its flat, established flag names.
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import inspect
import io
import textwrap
import tokenize
import typing
from typing import Any

from wenmai.config import UsageError

__all__ = ["ArgumentParser", "add_dataclass_args", "dataclass_from_args", "field_comments"]


class _DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows "(default: X)" after the help, except where there is no default to show."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False and action.nargs == 0:
            return action.help
        return super()._get_help_string(action)


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports a bad flag as a UsageError (one line, exit code 2 in `wenmai.cli`)
    instead of printing the whole usage block, and shows defaults beside the help."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _DefaultsFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


@functools.lru_cache(maxsize=None)
def field_comments(cls: type) -> dict[str, str]:
    """Field name -> the comments that document it in `cls`'s source: the comment lines right
    above the field (up to a blank line), then the comments on its own line(s).

    Example: for a class body line `k: int = 10  # neighbours per document`, the result maps
    "k" to "neighbours per document".
    """
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):  # no source (e.g. built in a REPL): flags without help
        return {}
    lines = source.splitlines()
    comments = {tok.start[0]: tok.string.lstrip("#").strip()
                for tok in tokenize.generate_tokens(io.StringIO(source).readline)
                if tok.type == tokenize.COMMENT}
    out = {}
    for node in ast.parse(source).body[0].body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        above, line = [], node.lineno - 1
        while line >= 1 and lines[line - 1].strip().startswith("#"):
            above.insert(0, comments[line])
            line -= 1
        own = [comments[n] for n in range(node.lineno, node.end_lineno + 1) if n in comments]
        out[node.target.id] = " ".join(part for part in above + own
                                       if part and not part.startswith("---"))  # section rules
    return out


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _unwrap_optional(tp: Any) -> Any:
    if typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0]
    return tp


def _cli_fields(cls: type):
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.init and f.metadata.get("cli", True):
            yield f, _unwrap_optional(hints[f.name])


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def add_dataclass_args(parser: argparse.ArgumentParser, cls: type, prefix: str = "",
                       group: bool = True) -> None:
    """Adds one flag per scalar field of `cls`, recursing into nested config dataclasses.

    Example: `GraphConfig.min_similarity` becomes `--min-similarity` (or `--graph-min-similarity`
    with prefix "graph_"), with the field's comment, default and choices as its help.
    """
    comments = field_comments(cls)
    target = parser.add_argument_group(cls.__name__) if group else parser
    for f, tp in _cli_fields(cls):
        if dataclasses.is_dataclass(tp):
            add_dataclass_args(parser, tp, prefix, group=group)
            continue
        kwargs: dict[str, Any] = {"default": _default(f),
                                  "help": comments.get(f.name, "").replace("%", "%%") or " "}
        if typing.get_origin(tp) is typing.Literal:
            kwargs.update(type=type(typing.get_args(tp)[0]), choices=typing.get_args(tp))
        elif tp is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(tp) is tuple:
            kwargs.update(nargs="+", type=typing.get_args(tp)[0])
        else:
            kwargs["type"] = tp
        target.add_argument(_flag(prefix + f.name), **kwargs)


def dataclass_from_args(cls: type, args: argparse.Namespace, prefix: str = "", **overrides: Any):
    """Builds `cls` (and its nested configs) from the flags `add_dataclass_args` added;
    `overrides` win. A value the config rejects is a UsageError (one line, exit 2), not a
    traceback."""
    values = {}
    for f, tp in _cli_fields(cls):
        key = prefix + f.name
        if f.name in overrides:
            values[f.name] = overrides[f.name]
        elif dataclasses.is_dataclass(tp):
            values[f.name] = dataclass_from_args(tp, args, prefix)
        elif hasattr(args, key):
            value = getattr(args, key)
            values[f.name] = tuple(value) if isinstance(value, list) else value
    try:
        return cls(**values)
    except (ValueError, TypeError) as e:
        raise UsageError(f"{cls.__name__}: {e}") from e
