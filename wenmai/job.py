"""`wenmai run`: parse flags once, check them, run the Beam job, publish the output atomically.

Our own flags become a typed `PipelineConfig`; every other flag goes to Beam's
`PipelineOptions` (`--runner`, `--direct_running_mode`, Dataflow options, ...). Tables are
written to a hidden staging location and published only after the manifest is written, with
`_SUCCESS` last (`wenmai.output`: one directory rename locally, object moves on gs://), so a run
killed midway never leaves an output that looks complete.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from wenmai import manifest
from wenmai.cli.args import ArgumentParser, add_dataclass_args, dataclass_from_args
from wenmai.config import (KNN_MODES, LENGTH_BUCKETS, ClusterConfig, ExtractConfig, GraphConfig,
                           InferenceConfig, PipelineConfig, ReadConfig, SegmentConfig, TitleConfig,
                           UsageError, to_dict)
from wenmai.models import DEFAULT_MODELS_DIR
from wenmai.output import MANIFEST, output_for
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
    for cls in (ReadConfig, SegmentConfig, InferenceConfig, TitleConfig, ExtractConfig,
                GraphConfig, ClusterConfig):
        add_dataclass_args(parser, cls)
    return parser


def parse_args(argv: Optional[list[str]]) -> tuple[argparse.Namespace, PipelineConfig, list[str]]:
    args, beam_args = build_parser().parse_known_args(argv)
    config = PipelineConfig(
        inputs=tuple(args.inputs), output=args.output, models_dir=args.models,
        read=dataclass_from_args(ReadConfig, args),
        segment=dataclass_from_args(SegmentConfig, args),
        inference=dataclass_from_args(InferenceConfig, args),
        title=dataclass_from_args(TitleConfig, args),
        extract=dataclass_from_args(ExtractConfig, args),
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
    if config.inference.precision not in ("fp32", "fp16", "bf16"):
        raise UsageError(f"--precision {config.inference.precision!r}: expected fp32, fp16 or "
                         f"bf16")
    if config.graph.knn not in KNN_MODES:
        raise UsageError(f"--knn {config.graph.knn!r}: expected one of {', '.join(KNN_MODES)}")
    if not 0 < config.graph.k:
        raise UsageError("--k must be positive")
    if not -1 <= config.graph.min_similarity <= 1:
        raise UsageError("--min-similarity must lie in [-1, 1]")
    if not config.title.title_beam_size >= 1 or not config.title.title_max_chars >= 1:
        raise UsageError("--title-beam-size and --title-max-chars must be at least 1")
    threshold = config.extract.triple_threshold
    if threshold is not None and not 0 < threshold < 1:
        raise UsageError("--triple-threshold must lie in (0, 1)")
    if check_models:
        for name in models_used(config):
            check_model(Path(config.models_dir or DEFAULT_MODELS_DIR) / name, name)


# model name -> (module, loader); `--no-titles` / `--no-triples` drop the titler / extractor
LOADERS = {"encoder": ("wenmai.models.encoder", "load_encoder"),
           "titler": ("wenmai.models.titler", "load_titler"),
           "extractor": ("wenmai.models.extractor", "load_extractor")}
SKIP_FLAG = {"titler": "--no-titles", "extractor": "--no-triples"}


def models_used(config: PipelineConfig) -> list[str]:
    return (["encoder"] + (["titler"] if config.title.titles else [])
            + (["extractor"] if config.extract.triples else []))


def check_model(directory: Path, name: str) -> None:
    """A missing, damaged or mismatched model fails here, in one line, not inside a worker."""
    import importlib

    if not (directory / "config.json").is_file():
        skip = f", or run without it ({SKIP_FLAG[name]})" if name in SKIP_FLAG else ""
        raise UsageError(f"no {name} model at {directory} (expected config.json there); pass "
                         f"--models DIR with a {name}/ subdirectory, train one with `wenmai train "
                         f"{name}`{skip}")
    module, loader = LOADERS[name]
    try:
        getattr(importlib.import_module(module), loader)(directory)
    except (ValueError, OSError, KeyError) as e:
        raise UsageError(str(e)) from e


def resolve_knn(config: PipelineConfig, paths: list[str]) -> PipelineConfig:
    """`--knn auto` -> sharded when the inputs total more than `--sharded-above-bytes`, else
    single: the Beam graph is fixed before any record is read, so file sizes decide."""
    if config.graph.knn != "auto":
        return config
    total = sum(m.size_in_bytes for r in FileSystems.match(paths) for m in r.metadata_list)
    knn = "sharded" if total > config.graph.sharded_above_bytes else "single"
    return dataclasses.replace(config, graph=dataclasses.replace(config.graph, knn=knn))


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
    return FileSystems.join(output.rstrip("/"), f"run_date={run_date}")


def default_handlers(config: PipelineConfig) -> Handlers:
    from wenmai.models.handlers import EncoderHandler, ExtractorHandler, TitlerHandler

    models = Path(config.models_dir or DEFAULT_MODELS_DIR)
    title, extract = config.title, config.extract
    device, precision = config.inference.device, config.inference.precision
    return Handlers(
        encoder=EncoderHandler(models / "encoder", config.inference),
        titler=TitlerHandler(models / "titler", max_len=title.title_input_chars,
                             beam_size=title.title_beam_size, max_title_len=title.title_max_chars,
                             max_batch_tokens=title.title_batch_tokens, device=device,
                             precision=precision)
        if title.titles else None,
        extractor=ExtractorHandler(models / "extractor", max_len=extract.sentence_chars,
                                   threshold=extract.triple_threshold,
                                   max_batch_tokens=extract.extract_batch_tokens, device=device,
                                   precision=precision)
        if extract.triples else None,
    )


def model_manifest(config: PipelineConfig) -> dict:
    from wenmai.models.checkpoint import model_sha256

    models = Path(config.models_dir or DEFAULT_MODELS_DIR)
    out = {}
    for name in models_used(config):
        directory = models / name
        card = json.loads((directory / "config.json").read_text())
        out[name] = {"path": str(directory), "sha256": model_sha256(directory),
                     "model_type": card.get("model_type")}
    return out


def run(argv: Optional[list[str]] = None, test_pipeline: Optional[beam.Pipeline] = None,
        handlers: Optional[Handlers] = None, clock: Callable[[], float] = time.time) -> RunSummary:
    """Runs the job; `test_pipeline` and `handlers` are seams for tests (fake models)."""
    args, config, beam_args = parse_args(argv)
    check_config(config, check_models=False)  # the cheap checks first, the inputs, then models
    try:
        paths = expand_inputs(list(config.inputs))
    except ValueError as e:
        raise UsageError(str(e)) from e
    if handlers is None:
        check_config(config, check_models=True)
    config = resolve_knn(config, paths)
    run_id = args.run_id or datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6]
    output = output_dir(config.output, args.run_date)
    target = output_for(output, run_id)
    staging = target.prepare(args.overwrite)

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
        target.remove(manifest.STATS_DIR)
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
            "stage_seconds": manifest.stage_seconds(result),  # per top-level step, all workers
            "graph": stats.get("graph", {}),
            "clusters": stats.get("cluster", {}),
            "titles": stats.get("title"),  # failed batches leave titles null: counted here
            "extraction": stats.get("extract"),  # sentences, and failed ones with reasons
            "models": (model_manifest(config) if handlers is None else
                       {k: "injected" for k, v in vars(handlers).items() if v is not None}),
            "parameters": to_dict(config),
            "beam_options": beam_args,
            "versions": manifest.package_versions(),
        }
        target.write_text(MANIFEST, json.dumps(record, ensure_ascii=False, indent=2))
        if not balance["balanced"]:
            raise RuntimeError(f"records read ({records_read}) != documents + dead letters "
                               f"({balance['documents']} + {balance['dead_letter']}); output kept "
                               f"unpublished in {staging}")
        target.publish()  # writes _SUCCESS last
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
