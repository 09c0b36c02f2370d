"""`wenmai bench report`: every benchmark in one run, written to OUT.json and OUT.md.

Each section is one `wenmai bench ...` command (listed in the report next to its figures) run in
this process on this machine, with this command's `--data-dir`; its dict goes to OUT.json as soon
as it finishes, so a long run that stops keeps what it measured (`--reuse` then skips the sections
already there). Every figure in OUT.md is a ratio or a curve from a single run of its section.
"""
from __future__ import annotations

import importlib
import json
import os
import platform
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional

from wenmai.benchmarks.data import add_data_dir_arg, data_dir
from wenmai.cli.args import ArgumentParser

SHOWN_DATA_DIR = "../shared/data"  # how commands in the report name the default data directory
# OUT.md from this line on is written by hand (decisions, notes, one-off measurements): a rerun
# regenerates what is above it and keeps the rest as it is
HAND_WRITTEN = "<!-- Written by hand from here on: `wenmai bench report` keeps it as it is. -->"

# name -> (module, function, argv): `wenmai bench <verb> --data-dir DIR <argv>` runs the same thing
SECTIONS: dict[str, tuple[str, str, list[str]]] = {
    "encoder": ("wenmai.benchmarks.encoder", "main", ["--limit", "20000"]),
    "bert": ("wenmai.benchmarks.bert", "main", ["--limit", "2000"]),
    "titler": ("wenmai.benchmarks.titler", "main", ["--limit", "500"]),
    "titler_pipeline": ("wenmai.benchmarks.efficiency", "main",
                        ["--model", "titler", "--limit", "500"]),
    "extractor": ("wenmai.benchmarks.extractor", "main", []),
    "extractor_pipeline": ("wenmai.benchmarks.efficiency", "main",
                           ["--model", "extractor", "--limit", "1000"]),
    "knn": ("wenmai.benchmarks.knn", "main", ["--sizes", "10000", "100000"]),
    "knn_1m": ("wenmai.benchmarks.knn", "main", ["--sizes", "1000000", "--sharded-max", "0"]),
    "infomap": ("wenmai.benchmarks.infomap", "main", ["--limit", "10000"]),
    "job": ("wenmai.benchmarks.job", "main", ["--sizes", "1000", "10000", "100000"]),
    "job_news": ("wenmai.benchmarks.job", "main", ["--corpus", "news", "--sizes", "1000"]),
}
VERBS = {"encoder": "encoder", "bert": "bert", "titler": "titler", "titler_pipeline": "efficiency",
         "extractor": "extractor", "extractor_pipeline": "efficiency", "knn": "knn",
         "knn_1m": "knn",
         "infomap": "infomap", "job": "job", "job_news": "job"}


def command(name: str, shown_data_dir: str = SHOWN_DATA_DIR, argv: Optional[list[str]] = None) -> str:
    """The command line that reruns section `name` (with `argv` instead of its own arguments).

    Example: command("infomap") == "wenmai bench infomap --data-dir ../shared/data --limit 10000"
    """
    argv = SECTIONS[name][2] if argv is None else argv
    return " ".join(["wenmai bench", VERBS[name], "--data-dir", shown_data_dir, *argv])


def section_args(overrides: list[str]) -> dict[str, list[str]]:
    """`--args SECTION=ARGS` strings -> {section: its argument list}, so a smaller machine budget
    (a GPU lease, say) can run a section at other sizes; the report shows the command that ran.

    Example: section_args(["job=--sizes 1000 10000"]) == {"job": ["--sizes", "1000", "10000"]}
    """
    out = {}
    for item in overrides:
        name, sep, args = item.partition("=")
        if not sep or name not in SECTIONS:
            raise ValueError(f"--args {item!r}: expected SECTION=ARGS with SECTION one of "
                             f"{', '.join(SECTIONS)}")
        out[name] = args.split()
    return out


def machine() -> dict:
    import torch

    info = {"cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
            "torch": torch.__version__, "gpu": None}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


# --------------------------------------------------------------------------------------------------
# Markdown, one renderer per section


def _encoder(r: dict) -> list[str]:
    rows = [("bare loop", r["bare_loop"]), ("pipeline, length buckets", r["pipeline_buckets_group"]),
            ("pipeline, no buckets", r["pipeline_buckets_off"])]
    return ["| variant | sentences/s | vs bare loop | padding efficiency |", "|---|---|---|---|"] + [
        f"| {name} | {x['sentences_per_s']:,.0f} | {x.get('efficiency_vs_bare', 1.0):.2f} | "
        f"{x['padding_efficiency']:.2f} |" for name, x in rows] + [
        "", f"{r['n']:,} TNEWS headlines, token budget {r['max_batch_tokens']:,} per batch."]


def _bert(r: dict) -> list[str]:
    return ["| encoder | parameters | sentences/s |", "|---|---|---|",
            f"| ours | {r['ours']['parameters'] / 1e6:.1f} M | {r['ours']['sentences_per_s']:,.0f} |",
            f"| BERT-base (random init) | {r['bert_base']['parameters'] / 1e6:.1f} M | "
            f"{r['bert_base']['sentences_per_s']:,.1f} |", "",
            f"**Ours is {r['speedup']:.1f}x BERT-base** on {r['n']:,} headlines (mean "
            f"{r['mean_chars']:.1f} characters), batches of {r['batch_size']}, {r['device']}."]


def _titler(r: dict) -> list[str]:
    lines = ["| beam | titles/s | slowdown vs greedy | mean title chars |", "|---|---|---|---|"]
    for k, row in r["beams"].items():
        lines.append(f"| {k} | {row['titles_per_s']:,.1f} | {row['slowdown_vs_greedy']:.2f} | "
                     f"{row['mean_title_chars']:.1f} |")
    return lines + ["", f"{r['n']:,} sources (first {r['max_len']} characters), batches of "
                        f"{r['batch_size']}."]


def _efficiency(r: dict) -> list[str]:
    return ["| | items/s |", "|---|---|",
            f"| bare loop | {r['bare_items_per_s']:,.1f} |",
            f"| in the pipeline | {r['pipeline_items_per_s']:,.1f} |", "",
            f"Pipeline efficiency **{r['efficiency']:.2f}** ({r['items']:,} {r['model']} inputs)."]


def _extractor(r: dict) -> list[str]:
    lines = ["| length | attention | ms / layer | elements kept for backward | peak RSS growth (MiB) |",
             "|---|---|---|---|---|"]
    for a in r["attention"]:
        rss = next((v for k, v in a.items() if "rss" in k), None)
        lines.append(f"| {a['length']} | {a['attention']} | {a['ms_per_layer']:.1f} | "
                     f"{a['saved_elements']:,} | {rss if rss is None else f'{rss:.1f}'} |")
    lines += ["", "| model | sentences/s |", "|---|---|"]
    for arch, x in r["forward_equal_width"].items():
        lines.append(f"| {arch}, equal width (forward) | {x['sentences_per_s']:,.0f} |")
    for name, x in r.get("extract_trained", {}).items():
        lines.append(f"| {name}, trained, end to end | {x['sentences_per_s']:,.0f} |")
    return lines


def _knn(r: dict) -> list[str]:
    lines = ["| vectors | index | seconds | recall@k |", "|---|---|---|---|"]
    for size in r["sizes"]:
        for name, row in size["indexes"].items():
            lines.append(f"| {size['n']:,} | {name} | {row['seconds']:.1f} | {row['recall']:.3f} |")
    return lines + ["", f"k = {r['k']}; {r['real_vectors']:,} real sentence vectors (noisy copies "
                        f"beyond them, sigma {r['noise']}); recall over a fixed query sample."]


def _infomap(r: dict) -> list[str]:
    lines = ["| engine | seconds | codelength | clusters | NMI |", "|---|---|---|---|---|"]
    for name, x in r["engines"].items():
        lines.append(f"| {name} | {x['seconds']:.2f} | {x['codelength']:.4f} | {x['clusters']} | "
                     f"{x['nmi']:.3f} |")
    return lines + ["", f"{r['n']:,} nodes, {r['edges']:,} edges."]


def _job(r: dict) -> list[str]:
    lines = ["| documents | seconds | documents/s | characters/s | peak RSS (MiB) | "
             "largest stage shares | model inference seconds |", "|---|---|---|---|---|---|---|"]
    for run in r["runs"]:
        shares = ", ".join(f"{k} {v:.0%}" for k, v in list(run["stage_share"].items())[:4])
        models = ", ".join(f"{m} {x['seconds']:.1f}" for m, x in run.get("inference", {}).items()
                           if x.get("seconds") is not None) or "–"
        lines.append(f"| {run['n']:,} | {run['job_seconds']:.1f} | {run['documents_per_s']:,.1f} | "
                     f"{run.get('characters_per_s', 0):,.0f} | {run['peak_rss_mib']:,.0f} | "
                     f"{shares} | {models} |")
    return lines


RENDER: dict[str, Callable[[dict], list[str]]] = {
    "encoder": _encoder, "bert": _bert, "titler": _titler, "titler_pipeline": _efficiency,
    "extractor": _extractor, "extractor_pipeline": _efficiency, "knn": _knn, "knn_1m": _knn,
    "infomap": _infomap,
    "job": _job, "job_news": _job}
TITLES = {"encoder": "Encoder: bare loop vs pipeline, padding", "bert": "Encoder vs BERT-base",
          "titler": "Titler: greedy vs beam search", "titler_pipeline": "Titler in the pipeline",
          "extractor": "Extractor: sparse attention, DGCNN vs BiLSTM",
          "extractor_pipeline": "Extractor in the pipeline",
          "knn": "kNN graph: exact, IVF, HNSW, sharded",
          "knn_1m": "kNN graph at one million vectors", "infomap": "InfoMap engines",
          "job": "The whole job: growth curve",
          "job_news": "The whole job on articles (the newest news stories)"}


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = ["# Benchmarks", "",
             f"Measured {report['finished_at']} on {m['cpus']} CPUs ({m['cpu']}, {m['torch_threads']} "
             f"torch threads){', GPU ' + m['gpu'] if m['gpu'] else ', no GPU'}; torch {m['torch']}. "
             "Rerun everything with `wenmai bench report`, or one section with the command under "
             "its heading; the hand-written part at the end is kept.", ""]
    for name in SECTIONS:
        if name not in report["sections"]:
            continue
        entry = report["sections"][name]
        lines += [f"## {TITLES[name]}", "", f"`{entry['command']}` ({entry['seconds']:.0f} s)", ""]
        if "error" in entry:
            lines += [f"Failed, no figures: `{entry['error']}`", ""]
            continue
        lines += RENDER[name](entry["result"]) + [""]
    return "\n".join(lines)


def hand_written(md: Path) -> str:
    """The part of an existing OUT.md from the `HAND_WRITTEN` line on ("" when none)."""
    text = md.read_text(encoding="utf-8") if md.is_file() else ""
    at = text.find(HAND_WRITTEN)
    return "" if at < 0 else text[at:]


def run_report(out: Path, sections: list[str], reuse: bool, data: Path,
               shown_data_dir: str = SHOWN_DATA_DIR,
               overrides: Optional[dict[str, list[str]]] = None, keep_going: bool = False) -> dict:
    """Runs each section with `--data-dir data` (and its `overrides` arguments, if any); its
    command names the directory as `shown_data_dir`. OUT.md keeps its hand-written part
    (`HAND_WRITTEN`). With `keep_going`, a section that raises is recorded with its error and
    the next one runs (a one-shot run on a borrowed machine keeps the rest); a rerun with `reuse`
    runs a failed section again."""
    overrides = overrides or {}
    path = out.with_suffix(".json")
    kept = hand_written(out.with_suffix(".md"))
    report = json.loads(path.read_text()) if reuse and path.is_file() else {"sections": {}}
    report["machine"] = machine()
    out.parent.mkdir(parents=True, exist_ok=True)
    for name in sections:
        if reuse and name in report["sections"] and "error" not in report["sections"][name]:
            continue
        module, fn, argv = SECTIONS[name]
        argv = overrides.get(name, argv)
        shown = command(name, shown_data_dir, argv)
        print(f"== {name}: {shown}", flush=True)
        start = time.perf_counter()
        try:
            result = getattr(importlib.import_module(module), fn)(["--data-dir", str(data), *argv])
            entry = {"command": shown, "result": result}
        except Exception as e:  # noqa: BLE001 - recorded, then re-raised unless keep_going
            if not keep_going:
                raise
            traceback.print_exc()
            entry = {"command": shown, "error": f"{type(e).__name__}: {e}"[:500]}
        report["sections"][name] = {**entry, "seconds": time.perf_counter() - start}
        report["finished_at"] = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        path.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
        out.with_suffix(".md").write_text(markdown(report) + ("\n" + kept if kept else ""),
                                          encoding="utf-8")
    return report


def main(argv: Optional[list[str]] = None) -> dict:
    parser = ArgumentParser(prog="wenmai bench report", description=__doc__.split("\n")[0])
    add_data_dir_arg(parser)
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks"),
                        help="writes OUT.json and OUT.md")
    parser.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=list(SECTIONS))
    parser.add_argument("--reuse", action="store_true",
                        help="keep sections already in OUT.json instead of rerunning them")
    parser.add_argument("--args", nargs="+", default=[], metavar="SECTION=ARGS",
                        help='other arguments for a section, e.g. --args "job=--sizes 1000 10000"')
    parser.add_argument("--keep-going", action="store_true",
                        help="record a failing section's error and run the next one")
    args = parser.parse_args(argv)
    overrides = section_args(args.args)
    data = data_dir(args.data_dir)  # before any section runs: a missing one stops nothing midway
    shown = SHOWN_DATA_DIR if args.data_dir is None else str(args.data_dir)
    report = run_report(args.out, args.sections, args.reuse, data, shown, overrides,
                        args.keep_going)
    print(markdown(report))
    return report
