"""`wenmai run`: parse flags once, check them, run the Beam job, publish the output atomically.

Our own flags become a typed `PipelineConfig`; every other flag goes to Beam's
`PipelineOptions` (`--runner`, `--direct_running_mode`, Dataflow options, ...). Tables are
written to a hidden sibling directory and moved into place only after the manifest and the
`_SUCCESS` marker are written, so a run killed midway never leaves a directory that looks
complete.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from wenmai import manifest
from wenmai.config import (LENGTH_BUCKETS, ArgumentParser, ClusterConfig, GraphConfig,
                           InferenceConfig, PipelineConfig, ReadConfig, SegmentConfig, UsageError,
                           add_dataclass_args, dataclass_from_args, to_dict)
from wenmai.models import DEFAULT_MODELS_DIR
from wenmai.pipelines.cluster import ENGINES
from wenmai.pipelines.pipeline import Handlers, build_pipeline
from wenmai.pipelines.read import expand_inputs

_LOGGER = logging.getLogger(__name__)

# In-process and fast for batch jobs; honours --direct_running_mode. (The DirectRunner would
# first try to fetch the Prism runner, and falls back to a slower engine for stateful batching.)
DEFAULT_RUNNER = "FnApiRunner"


@dataclass(frozen=True)
class RunSummary:
    output: str
    manifest: dict
    result: object  # beam PipelineResult


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="wenmai run", description="Chinese corpus in, analytics tables out.",
        epilog="Unrecognised flags go to Beam (e.g. --runner, --direct_running_mode).")
    parser.add_argument("inputs", nargs="+", help="files or globs: .txt, .jsonl, .parquet (+.gz)")
    parser.add_argument("--output", required=True, help="output directory (local or gs://)")
    parser.add_argument("--models", default=None, help=f"model directory (default: shipped, "
                                                       f"{DEFAULT_MODELS_DIR})")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    parser.add_argument("--run-id", default=None, help="run id for the manifest (default: new); "
                        "re-running a published run id replaces it")
    parser.add_argument("--run-date", default=None, help="YYYY-MM-DD: publish to "
                        "OUTPUT/run_date=YYYY-MM-DD/ (a date-partitioned layout for schedules)")
    for cls in (ReadConfig, SegmentConfig, InferenceConfig, GraphConfig, ClusterConfig):
        add_dataclass_args(parser, cls)
    return parser


def parse_args(argv: Optional[list[str]]) -> tuple[argparse.Namespace, PipelineConfig, list[str]]:
    args, beam_args = build_parser().parse_known_args(argv)
    config = PipelineConfig(
        inputs=tuple(args.inputs), output=args.output, models_dir=args.models,
        read=dataclass_from_args(ReadConfig, args),
        segment=dataclass_from_args(SegmentConfig, args),
        inference=dataclass_from_args(InferenceConfig, args),
        graph=dataclass_from_args(GraphConfig, args),
        cluster=dataclass_from_args(ClusterConfig, args),
    )
    return args, config, beam_args


def check_config(config: PipelineConfig, check_models: bool = True) -> None:
    """Fails fast, before any work, on what the run could not survive."""
    if config.cluster.engine not in ENGINES:
        raise UsageError(f"--engine {config.cluster.engine!r}: expected one of {sorted(ENGINES)}")
    if config.inference.length_buckets not in LENGTH_BUCKETS:
        raise UsageError(f"--length-buckets {config.inference.length_buckets!r}: expected one of "
                         f"{', '.join(LENGTH_BUCKETS)}")
    if config.inference.device not in ("auto", "cpu", "cuda"):
        raise UsageError(f"--device {config.inference.device!r}: expected auto, cpu or cuda")
    if not 0 < config.graph.k:
        raise UsageError("--k must be positive")
    if not -1 <= config.graph.min_similarity <= 1:
        raise UsageError("--min-similarity must lie in [-1, 1]")
    encoder_dir = Path(config.models_dir or DEFAULT_MODELS_DIR) / "encoder"
    if check_models and not (encoder_dir / "config.json").is_file():
        raise UsageError(f"no encoder model at {encoder_dir} (expected config.json there); "
                         f"pass --models DIR with an encoder/ subdirectory, or train one with "
                         f"`wenmai train encoder`")
    if check_models:
        from wenmai.models.encoder import load_encoder

        try:  # a damaged or mismatched model fails here, in one line, not inside a worker
            load_encoder(encoder_dir)
        except (ValueError, OSError) as e:
            raise UsageError(str(e)) from e


def output_dir(output: str, run_date: Optional[str]) -> str:
    """The directory a run publishes to: OUTPUT, or OUTPUT/run_date=YYYY-MM-DD for schedules.

    Example: output_dir("out", "2026-11-28") == "out/run_date=2026-11-28"
    """
    if run_date is None:
        return output
    try:
        datetime.strptime(run_date, "%Y-%m-%d")
    except ValueError as e:
        raise UsageError(f"--run-date {run_date!r}: expected YYYY-MM-DD") from e
    return str(Path(output) / f"run_date={run_date}")


def published_run_id(target: Path) -> Optional[str]:
    try:
        return json.loads((target / "manifest.json").read_text())["run_id"]
    except (OSError, ValueError, KeyError):
        return None


def prepare_output(output: str, overwrite: bool, run_id: str) -> str:
    """Checks the output can be written and returns this run's (hidden, sibling) staging directory.

    An existing, non-empty output is replaced only with --overwrite, or when it holds a complete
    run with the same run id (a scheduler retrying the same run). A staging directory left by a
    killed attempt of the same run id is cleared first.
    """
    target = Path(output)
    if (target.exists() and any(target.iterdir()) and not overwrite
            and published_run_id(target) != run_id):
        raise UsageError(f"output {output} exists and is not empty; pass --overwrite to replace it")
    staging = target.parent / f".{target.name}.tmp-{run_id}"
    try:
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
    except OSError as e:
        raise UsageError(f"cannot write output next to {output}: {e.strerror or e}") from e
    return str(staging)


def publish(staging: str, output: str) -> None:
    """Moves the finished staging directory into place; an old output is replaced only then."""
    target = Path(output)
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
        target.rename(old)
    Path(staging).rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def default_handlers(config: PipelineConfig) -> Handlers:
    from wenmai.models.handlers import EncoderHandler

    models = Path(config.models_dir or DEFAULT_MODELS_DIR)
    return Handlers(encoder=EncoderHandler(models / "encoder", config.inference))


def model_manifest(config: PipelineConfig) -> dict:
    from wenmai.models.checkpoint import model_sha256

    models = Path(config.models_dir or DEFAULT_MODELS_DIR)
    out = {}
    for name in ("encoder",):
        directory = models / name
        card = json.loads((directory / "config.json").read_text())
        out[name] = {"path": str(directory), "sha256": model_sha256(directory),
                     "model_type": card.get("model_type")}
    return out


def run(argv: Optional[list[str]] = None, test_pipeline: Optional[beam.Pipeline] = None,
        handlers: Optional[Handlers] = None, clock: Callable[[], float] = time.time) -> RunSummary:
    """Runs the job; `test_pipeline` and `handlers` are seams for tests (fake models)."""
    args, config, beam_args = parse_args(argv)
    check_config(config, check_models=handlers is None)
    try:
        paths = expand_inputs(list(config.inputs))
    except ValueError as e:
        raise UsageError(str(e)) from e
    run_id = args.run_id or datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6]
    output = output_dir(config.output, args.run_date)
    staging = prepare_output(output, args.overwrite, run_id)

    options = PipelineOptions(beam_args)
    if not options.view_as(StandardOptions).runner and test_pipeline is None:
        options.view_as(StandardOptions).runner = DEFAULT_RUNNER
    started = clock()
    try:
        p = test_pipeline or beam.Pipeline(options=options)
        build_pipeline(p, paths, config, handlers or default_handlers(config), staging)
        result = p.run()
        result.wait_until_finish()
        seconds = clock() - started

        counts = manifest.count_rows(staging)
        counters = manifest.stage_counters(result)
        records_read = counters.get("wenmai.read/records", 0) + counters.get("wenmai.read/rejected", 0)
        balance = manifest.check_balance(records_read, counts)
        stats = manifest.read_stats(staging)
        shutil.rmtree(Path(staging) / manifest.STATS_DIR, ignore_errors=True)
        record = {
            "run_id": run_id,
            "started_at": datetime.fromtimestamp(started, timezone.utc).isoformat(),
            "seconds": round(seconds, 3),
            "inputs": paths,
            "output": output,
            "run_date": args.run_date,
            "counts": counts,
            "balance": balance,
            "stages": counters,
            "graph": stats.get("graph", {}),
            "clusters": stats.get("cluster", {}),
            "models": model_manifest(config) if handlers is None else {"encoder": "injected"},
            "parameters": to_dict(config),
            "beam_options": beam_args,
            "versions": manifest.package_versions(),
        }
        (Path(staging) / "manifest.json").write_text(json.dumps(record, ensure_ascii=False, indent=2))
        if not balance["balanced"]:
            raise RuntimeError(f"records read ({records_read}) != documents + dead letters "
                               f"({balance['documents']} + {balance['dead_letter']}); output kept "
                               f"unpublished in {staging}")
        (Path(staging) / "_SUCCESS").write_text("")
        publish(staging, output)
    except BaseException:
        _LOGGER.error("run %s failed; partial output left in %s", run_id, staging)
        raise
    return RunSummary(output, record, result)


def print_summary(summary: RunSummary, top: int = 8) -> None:
    """What a person wants to see after a run: where the tables are and the biggest clusters."""
    import pyarrow.parquet as pq

    m = summary.manifest
    counts = m["counts"]
    print(f"wenmai run {m['run_id']}: {m['balance']['records_read']} records -> "
          f"{counts.get('documents', 0)} documents, {counts.get('dead_letter', 0)} dead letters, "
          f"{counts.get('edges', 0)} edges, {counts.get('clusters', 0)} clusters "
          f"in {m['seconds']:.1f} s")
    for table in counts:
        print(f"  {table:<12} {os.path.join(summary.output, table)}/")
    clusters = pq.read_table(os.path.join(summary.output, "clusters")).to_pylist()
    clusters.sort(key=lambda c: c["cluster_id"])
    print(f"top {min(top, len(clusters))} clusters:")
    for c in clusters[:top]:
        print(f"  #{c['cluster_id']:<3} size {c['size']:<4} {' '.join(c['keywords'][:6]):<36} "
              f"| {c['title']}")
    sys.stdout.flush()
