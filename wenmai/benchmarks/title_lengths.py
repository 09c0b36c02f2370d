"""`wenmai bench title-lengths`: how long reference titles are, and how many headline-corpus
documents are no longer than a title: the measurement behind `TitleConfig.title_min_chars`
(a document that short is its own title, with no model call).

Title files: JSON lines {"text", "title"} (the train-role files of ../shared/data/README.md);
their titles' length percentiles. Document files: label<TAB>text (.tsv), JSON lines with "text"
(.jsonl/.json), or a text a line; the share of documents no longer than N characters. Lengths
are counted after `normalize_text`, as the pipeline counts them (`pipelines/title.py:route`);
empty lines are skipped, as the pipeline drops empty documents. No model, no timing.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from wenmai.benchmarks.data import add_data_dir_arg, data_dir
from wenmai.cli.args import ArgumentParser

# in --data-dir: the titles the titler learns to write (train role)
TITLE_FILES = ("titles/xwlb/archive.jsonl", "titles/lcsts/train.jsonl", "titles/csl/train.jsonl")
# in --data-dir: headline corpora, whose documents are titles already
DOCUMENT_FILES = ("topics/toutiao/headlines.tsv", "raw/zhihu_questions.txt")


@dataclass(frozen=True)
class TitleLengthsConfig:
    percentiles: tuple[int, ...] = (50, 75, 90, 95, 99)  # of reference title lengths
    chars: tuple[int, ...] = (24, 32, 40)  # candidate --title-min-chars values, around the default

    def __post_init__(self):
        if not all(0 < q <= 100 for q in self.percentiles):
            raise ValueError(f"percentiles must be in (0, 100], got {self.percentiles}")
        if not all(n > 0 for n in self.chars):
            raise ValueError(f"chars must be positive, got {self.chars}")


def read_titles(path: Path) -> Iterator[str]:
    """The "title" of each JSON line, normalised; empty titles are skipped."""
    from wenmai.text import normalize_text

    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                title = normalize_text(json.loads(line)["title"])
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError(f"{path}:{number}: not a JSON object with a \"title\" ({e})") from e
            if title:
                yield title


def read_documents(path: Path) -> Iterator[str]:
    """Each document's text, normalised: label<TAB>text (.tsv), "text" of a JSON line
    (.jsonl/.json) or the whole line; empty ones are skipped.

    Example: a .tsv line "news_tech\\t华为发布新手机" gives "华为发布新手机".
    """
    from wenmai.text import normalize_text

    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if path.suffix == ".tsv":
                text = line.split("\t", 1)[-1]
            elif path.suffix in (".jsonl", ".json") and line.strip():
                try:
                    text = json.loads(line)["text"]
                except (ValueError, KeyError, TypeError) as e:
                    raise ValueError(f"{path}:{number}: not a JSON object with a \"text\" "
                                     f"({e})") from e
            else:
                text = line
            text = normalize_text(text)
            if text:
                yield text


def percentile(lengths: list[int], q: float) -> Optional[int]:
    """The smallest length L with at least q % of `lengths` no longer than L (an observed length).

    Example: percentile([10, 20, 30, 40], 50) == 20; percentile([10, 20, 30, 40], 90) == 40
    """
    import numpy as np

    if not lengths:
        return None
    return int(np.percentile(lengths, q, method="inverted_cdf"))


def title_lengths(titles: dict[str, Path], documents: dict[str, Path],
                  config: TitleLengthsConfig) -> dict:
    """{"titles": {name: n, mean_chars, pQ...}, "documents": {name: n, mean_chars, at_most_N...}}
    for files given as name -> path."""
    from wenmai.config import TitleConfig

    report = {"title_min_chars": TitleConfig.title_min_chars, "percentiles": list(config.percentiles),
              "chars": list(config.chars), "titles": {}, "documents": {}}
    for name, path in titles.items():
        lengths = [len(t) for t in read_titles(path)]
        row = {"n": len(lengths), "mean_chars": sum(lengths) / len(lengths) if lengths else None}
        row.update({f"p{q}": percentile(lengths, q) for q in config.percentiles})
        report["titles"][name] = row
    for name, path in documents.items():
        lengths = [len(t) for t in read_documents(path)]
        row = {"n": len(lengths), "mean_chars": sum(lengths) / len(lengths) if lengths else None}
        row.update({f"at_most_{n}": sum(x <= n for x in lengths) / len(lengths) if lengths else None
                    for n in config.chars})
        report["documents"][name] = row
    return report


def _cell(value, spec: str, width: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}{spec}}"


def print_report(r: dict) -> None:
    width = max(len(name) for name in [*r["titles"], *r["documents"], "file"]) + 2
    print("reference title lengths (characters), percentiles")
    print(f"{'file':<{width}}{'titles':>8}{'mean':>7}" + "".join(f"{'p' + str(q):>6}"
                                                              for q in r["percentiles"]))
    for name, row in r["titles"].items():
        print(f"{name:<{width}}{row['n']:>8}{_cell(row['mean_chars'], '.1f', 7)}"
              + "".join(_cell(row[f"p{q}"], "d", 6) for q in r["percentiles"]))
    print(f"documents no longer than N characters (their own title at --title-min-chars N; "
          f"default {r['title_min_chars']})")
    print(f"{'file':<{width}}{'documents':>10}{'mean':>7}" + "".join(f"{'<=' + str(n):>8}"
                                                                  for n in r["chars"]))
    for name, row in r["documents"].items():
        print(f"{name:<{width}}{row['n']:>10}{_cell(row['mean_chars'], '.1f', 7)}"
              + "".join(_cell(row[f"at_most_{n}"], ".1%", 8) for n in r["chars"]))


def _named(paths: list[Path], data: Optional[Path]) -> dict[str, Path]:
    """name -> path; a path inside the data directory is named relative to it."""
    out = {}
    for path in paths:
        try:
            name = str(path.relative_to(data)) if data is not None else str(path)
        except ValueError:
            name = str(path)
        if not path.is_file():
            raise FileNotFoundError(f"{name}: no such file")
        out[name] = path
    return out


def main(argv: Optional[list[str]] = None) -> dict:
    from wenmai.cli.args import add_dataclass_args, dataclass_from_args

    parser = ArgumentParser(prog="wenmai bench title-lengths", description=__doc__.split("\n\n")[0])
    add_data_dir_arg(parser)
    parser.add_argument("--titles", type=Path, nargs="+", default=None,
                        help='JSON lines {"text", "title"} (default: ' + " ".join(TITLE_FILES)
                             + " in --data-dir)")
    parser.add_argument("--documents", type=Path, nargs="+", default=None,
                        help="label<TAB>text, JSON lines or text-a-line files (default: "
                             + " ".join(DOCUMENT_FILES) + " in --data-dir)")
    add_dataclass_args(parser, TitleLengthsConfig, group=False)
    args = parser.parse_args(argv)
    config = dataclass_from_args(TitleLengthsConfig, args)
    data = data_dir(args.data_dir) if args.titles is None or args.documents is None else None
    titles = args.titles or [data / f for f in TITLE_FILES]
    documents = args.documents or [data / f for f in DOCUMENT_FILES]
    r = title_lengths(_named(titles, data), _named(documents, data), config)
    r["data_dir"] = None if data is None else str(data)
    print_report(r)
    print(json.dumps(r, ensure_ascii=False))
    return r
