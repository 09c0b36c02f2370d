"""The `wenmai` command: run | train | eval | bench. Thin: each verb hands its argv to one module.

```
wenmai run INPUT... --output DIR [--runner ...]      the batch job (wenmai.job)
wenmai train encoder|titler|extractor ...           writes a model directory
wenmai eval encoder|cluster|titler|extractor ...     prints one JSON object as its last line
wenmai bench encoder|titler|extractor|knn|job|report ...   figures from one run each
```
Exit codes: 0 done (a run published), 1 a run failed (not published; one line says why),
2 a command-line mistake (one line saying what is wrong, before any work), 130 interrupted.
"""
from __future__ import annotations

import logging
import sys
from typing import Optional

USAGE = """usage: wenmai {run,report,train,eval,bench} ... | --version

  wenmai run INPUT... --output DIR [options] [Beam options]
  wenmai report RUN_DIR                                      rebuilds RUN_DIR/report.html
  wenmai train encoder [options]
  wenmai train extractor [options]
  wenmai train titler [options]
  wenmai eval encoder --pairs FILE.tsv [--models DIR]
  wenmai eval cluster --labelled FILE.tsv [--models DIR]
  wenmai eval extractor --data FILE.json [--models DIR]
  wenmai eval titler --pairs FILE.jsonl [--models DIR] [--beam-size N] [--news-holdout]
  wenmai bench encoder [--texts FILE] [--limit N]
  wenmai bench infomap --labelled FILE.tsv [--limit N]
  wenmai bench extractor [--data FILE.json] [--baseline DIR]
  wenmai bench titler [--pairs FILE.jsonl] [--beam-sizes 1 4]
  wenmai bench efficiency --model encoder|titler|extractor   bare loop vs in the pipeline
  wenmai bench bert [--limit N]                              our encoder vs BERT-base
  wenmai bench knn [--sizes N...]                            exact / IVF / HNSW / sharded recall
  wenmai bench job [--sizes N...] [--corpus texts|news|short] the whole job: time, memory, stages
  wenmai bench buffers [--size N]                            which steps hold memory, and how much
  wenmai bench speedup [--base COMMIT] [--news N]            this version beside COMMIT, same run
  wenmai bench encoders [--seeds S...]                       encoder variants -> docs/encoders.md
  wenmai bench cluster-titles --run OUT                      which cluster title reads better
  wenmai bench clusterers [--files F...]                     InfoMap vs k-means, HDBSCAN, UMAP
  wenmai bench report [--sections ...]                       all of them -> docs/benchmarks.md
"""

TRAINERS = {"extractor": ("wenmai.cli.train", "extractor"), "encoder": ("wenmai.cli.train", "encoder"),
            "titler": ("wenmai.cli.train", "titler")}
BENCHMARKS = {"extractor": ("wenmai.benchmarks.extractor", "main"),
              "encoder": ("wenmai.benchmarks.encoder", "main"),
              "infomap": ("wenmai.benchmarks.infomap", "main"),
              "titler": ("wenmai.benchmarks.titler", "main"),
              "knn": ("wenmai.benchmarks.knn", "main"),
              "bert": ("wenmai.benchmarks.bert", "main"),
              "job": ("wenmai.benchmarks.job", "main"),
              "buffers": ("wenmai.benchmarks.buffers", "main"),
              "encoders": ("wenmai.benchmarks.encoders", "main"),
              "efficiency": ("wenmai.benchmarks.efficiency", "main"),
              "report": ("wenmai.benchmarks.report", "main"),
              "cluster-titles": ("wenmai.benchmarks.cluster_titles", "main"),
              "daily": ("wenmai.benchmarks.daily", "main"),
              "clusterers": ("wenmai.benchmarks.clusterers", "main"),
              "title-lengths": ("wenmai.benchmarks.title_lengths", "main"),
              "speedup": ("wenmai.benchmarks.speedup", "main")}
EVALUATORS = {"extractor": ("wenmai.cli.evaluate", "extractor"),
              "encoder": ("wenmai.cli.evaluate", "encoder"),
              "cluster": ("wenmai.eval_cluster", "main"),
              "titler": ("wenmai.cli.evaluate", "titler")}


def _usage_error(message: str) -> int:
    print(f"wenmai: error: {message}", file=sys.stderr)
    return 2


def _dispatch(table: dict, verb: str, argv: list[str]):
    import importlib

    from wenmai.config import UsageError

    if not argv or argv[0] not in table:
        raise UsageError(f"{verb} needs one of: {', '.join(sorted(table))}")
    target = table[argv[0]]
    module, fn = target if isinstance(target, tuple) else (target, "main")
    return getattr(importlib.import_module(module), fn)(argv[1:])


def _quiet_beam_without_gcp(record: logging.LogRecord) -> bool:
    """Beam warns on import that apitools is missing whenever its [gcp] extra is not installed;
    that is the normal local case, not something a user should act on."""
    return "apitools not found" not in record.getMessage()


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("wenmai")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def main(argv: Optional[list[str]] = None) -> int:
    import os

    # processes this command starts with `python -m` (Beam's multi-process workers, the infomap
    # child) must not import a `wenmai/` folder from the working directory (Python 3.11+)
    os.environ.setdefault("PYTHONSAFEPATH", "1")
    try:
        code = _main(argv)
        sys.stdout.flush()  # here, where a closed pipe can still be handled, not at exit
        return code
    except KeyboardInterrupt:
        print("wenmai: interrupted; nothing published", file=sys.stderr, flush=True)
        return 130
    except BrokenPipeError:
        # The reader of our stdout went away (`wenmai run ... | head`): not an error of ours,
        # and the run's work is done and published. Exit at once: a normal interpreter shutdown
        # from here sometimes aborted in a native library's exit handlers ("terminate called
        # without an active exception", 2 of 12 tries on a loaded machine), exit code -6.
        sys.stderr.flush()
        os._exit(0)


def _main(argv: Optional[list[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(_quiet_beam_without_gcp)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    if argv[0] in ("-V", "--version"):
        print(f"wenmai {_version()}")
        return 0
    verb, rest = argv[0], argv[1:]
    from wenmai.config import UsageError

    try:
        if verb == "run":
            from wenmai.job import RunFailed, print_summary, run

            try:
                print_summary(run(rest))
            except RunFailed as e:
                print(f"wenmai: {e}", file=sys.stderr)
                return 1
        elif verb == "report":
            from wenmai.report import main as report

            report(rest)
        elif verb == "train":
            _dispatch(TRAINERS, verb, rest)
        elif verb == "eval":
            _dispatch(EVALUATORS, verb, rest)
        elif verb == "bench":
            _dispatch(BENCHMARKS, verb, rest)
        else:
            return _usage_error(f"unknown command {verb!r}\n{USAGE}")
    except (UsageError, FileNotFoundError) as e:
        return _usage_error(str(e))
    return 0


if __name__ == "__main__":
    sys.exit(main())
