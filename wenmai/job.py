"""`wenmai run`: parse flags once, check them, run the Beam job, publish the output atomically.

Our own flags become a typed `PipelineConfig`; every other flag goes to Beam's
`PipelineOptions` (`--runner`, `--direct_running_mode`, Dataflow options, ...). Tables are
written to a hidden staging location and published only after the manifest is written, with
`_SUCCESS` last (`wenmai.output`: one directory rename locally, object moves on gs://), so a run
killed midway never leaves an output that looks complete.

A run that finishes but should not be trusted is not published either: no documents, more dead
letters than `--max-dead-letter-share` of the records read, or records read (counted from the
data, per input file) != documents + dead letters. It raises `RunFailed` (exit code 1 in
`wenmai.cli`) with one line naming the top dead-letter reasons; its manifest (status "failed")
and report stay in the hidden staging directory until the next run of that output. Ctrl-C
removes the staging directory (exit code 130).
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import difflib
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
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
                           EmbedConfig, InferenceConfig, PipelineConfig, ReadConfig, SegmentConfig,
                           TitleConfig, UsageError, to_dict)
from wenmai.models import DEFAULT_MODELS_DIR
from wenmai.output import MANIFEST, output_for
from wenmai.profile import format_profile, model_profile
from wenmai.pipelines.cluster import ENGINES
from wenmai.pipelines.pipeline import PROGRESS_STEPS, STAGES, Handlers, build_pipeline
from wenmai.pipelines.previous import resolve_previous
from wenmai.pipelines.read import FILE_STATS, absolute_path, expand_inputs
from wenmai.pipelines.topics import STATS as TOPIC_STATS
from wenmai.pipelines.topics import TopicConfig, TopicRun, check_topic_config
from wenmai.progress import Progress
from wenmai.report import REPORT, render_report

_LOGGER = logging.getLogger(__name__)

# In-process and fast for batch jobs; honours --direct_running_mode. (The DirectRunner would
# first try to fetch the Prism runner, and falls back to a slower engine for stateful batching.)
DEFAULT_RUNNER = "FnApiRunner"


# Runners whose workers never share this machine's disk: no progress counters there.
REMOTE_RUNNERS = ("DataflowRunner", "TestDataflowRunner")


@dataclass(frozen=True)
class RunConfig:
    """The run as a whole: when it counts as failed, and what it prints while it runs."""

    # A run whose dead letters are more than this share of the records read fails (exit 1) and is
    # not published. 0.5 = more dead letters than documents: what a wrong --text-field or input
    # format gives, while a .txt with blank lines between paragraphs stays at or below it.
    # 1.0 fails only on no documents at all.
    max_dead_letter_share: float = 0.5
    # A run whose titler or extractor failed on more than this share of what it was given (a
    # model that cannot run here, e.g. a precision the machine lacks) fails too: the tables would
    # be written without their titles or triples, and exit 0 would hide it. 1.0: never.
    max_failed_share: float = 0.5
    quiet: bool = False  # no progress lines or stage log on stderr (errors still print)
    progress_secs: float = 10.0  # seconds between progress lines on local runners
    # print where the time went after the run: seconds per step, and per model its batches,
    # examples, inference seconds and padding share (from the runner's metrics: costs nothing)
    profile: bool = False


class RunFailed(Exception):
    """The pipeline finished, but its output is not published (exit code 1)."""


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
    parser.add_argument("--previous", default=None, help="a published run (local or gs://) this "
                        "one continues: its topics keep their ids (default with --run-date: the "
                        "newest earlier run_date= partition under --output)")
    parser.add_argument("--no-previous", action="store_true", help="continue no earlier run: "
                        "every topic is new")
    for cls in (RunConfig, ReadConfig, SegmentConfig, InferenceConfig, TitleConfig, ExtractConfig,
                EmbedConfig, GraphConfig, ClusterConfig, TopicConfig):
        add_dataclass_args(parser, cls)
    return parser


def beam_parser() -> argparse.ArgumentParser:
    """The parser Beam's own PipelineOptions use (every registered options class)."""
    try:
        from apache_beam.options.pipeline_options import _BeamArgumentParser as BeamParser
    except ImportError:  # a private name; plain argparse parses the same flags
        BeamParser = argparse.ArgumentParser
    parser = BeamParser(allow_abbrev=False)
    classes = {str(cls): cls for cls in PipelineOptions.__subclasses__()}
    for cls in classes.values():
        cls._add_argparse_args(parser)  # pylint: disable=protected-access
    return parser


def check_beam_args(beam_args: list[str], ours: argparse.ArgumentParser) -> None:
    """Flags we do not know go to Beam, but only those Beam knows: Beam itself warns about an
    unknown one and ignores it, which lets a typo (`--tittle-beam-size 2`) pass silently."""
    parser = beam_parser()
    _, unknown = parser.parse_known_args(beam_args)
    if not unknown:
        return
    flag = unknown[0]
    if not flag.startswith("-"):
        raise UsageError(f"unexpected argument {flag!r} (inputs come first, together: "
                         f"wenmai run INPUT... --output DIR [options])")
    known = [o for p in (ours, parser) for a in p._actions for o in a.option_strings]
    close = difflib.get_close_matches(flag.split("=", 1)[0], known, n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    raise UsageError(f"unknown option {flag.split('=', 1)[0]} (neither wenmai's nor Beam's){hint}")


def parse_args(argv: Optional[list[str]]) -> tuple[argparse.Namespace, PipelineConfig, list[str]]:
    parser = build_parser()
    args, beam_args = parser.parse_known_args(argv)
    check_beam_args(beam_args, parser)
    config = PipelineConfig(
        inputs=tuple(args.inputs), output=args.output, models_dir=args.models,
        read=dataclass_from_args(ReadConfig, args),
        segment=dataclass_from_args(SegmentConfig, args),
        inference=dataclass_from_args(InferenceConfig, args),
        title=dataclass_from_args(TitleConfig, args),
        extract=dataclass_from_args(ExtractConfig, args),
        graph=dataclass_from_args(GraphConfig, args),
        cluster=dataclass_from_args(ClusterConfig, args),
        embed=dataclass_from_args(EmbedConfig, args),
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


def resolve_knn(config: PipelineConfig, paths: list[str], runner=None) -> PipelineConfig:
    """`--knn auto` -> single on a one-machine runner; elsewhere sharded when the inputs total
    more than `--sharded-above-bytes` (`wenmai.pipelines.graph.choose_knn`): the Beam graph is
    fixed before any record is read, so the runner and file sizes decide."""
    from wenmai.pipelines.graph import choose_knn

    if config.graph.knn != "auto":
        return config
    total = sum(m.size_in_bytes for r in FileSystems.match(paths) for m in r.metadata_list)
    knn = choose_knn(runner, total, config.graph)
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
                             precision=precision, threads=config.inference.torch_threads)
        if title.titles else None,
        extractor=ExtractorHandler(models / "extractor", max_len=extract.sentence_chars,
                                   threshold=extract.triple_threshold,
                                   max_batch_tokens=extract.extract_batch_tokens, device=device,
                                   precision=precision, threads=config.inference.torch_threads,
                                   conv_bf16=extract.extract_conv_bf16)
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


def failure(balance: dict, reasons: list[dict], max_share: float,
            models: Optional[dict] = None, max_failed_share: float = 1.0) -> Optional[str]:
    """Why a finished run must not be published, in one line; None when it may be.

    `models`: per model, (failed, given, reasons) from its stats, e.g. {"titles": (14, 14,
    ["inference_error: RuntimeError: ..."])}; more than `max_failed_share` failed is a failure.

    Example: failure({"records_read": 32, "documents": 0, "dead_letter": 32, "balanced": True},
    [{"stage": "read", "reason": "missing_field", "count": 32, "label": "missing_field: text"}],
    0.5) == "no documents from 32 records; dead letters: missing_field: text x32 (read)"
    """
    read, docs, dead = balance["records_read"], balance["documents"], balance["dead_letter"]
    if not balance["balanced"]:
        return (f"records read ({read}) != documents + dead letters ({docs} + {dead}); "
                f"dead letters: {manifest.top_reasons(reasons)}")
    if docs == 0:
        return f"no documents from {read} records; dead letters: {manifest.top_reasons(reasons)}"
    if dead > max_share * read:
        return (f"{dead} of {read} records are dead letters ({dead / read:.0%}, more than "
                f"--max-dead-letter-share {max_share:g}): {manifest.top_reasons(reasons)}")
    for name, (failed, given, why) in (models or {}).items():
        if given and failed > max_failed_share * given:
            return (f"{name}: the model failed on {failed} of {given} ({failed / given:.0%}, more "
                    f"than --max-failed-share {max_failed_share:g}): {'; '.join(why[:2])}")
    return None


def model_failures(stats: dict[str, list]) -> dict:
    """(failed, given, reasons) of the titler and the extractor from the run's stats."""
    out = {}
    title, extract = _one(stats, "title"), _one(stats, "extract")
    if title:
        out["titles"] = (title.get("failed", 0), title.get("generated", 0), title.get("reasons", []))
    if extract:
        out["triples"] = (extract.get("failed", 0), extract.get("sentences", 0),
                          extract.get("reasons", []))
    return out


def progress_dir_for(runner: Optional[str], run_config: RunConfig) -> Optional[str]:
    """A fresh local directory for the progress counters, or None: --quiet, or a runner whose
    workers do not share this machine's disk."""
    if run_config.quiet or (runner or "").split(".")[-1] in REMOTE_RUNNERS:
        return None
    logging.getLogger("wenmai.progress").setLevel(logging.INFO)
    return tempfile.mkdtemp(prefix="wenmai-progress-")


@contextlib.contextmanager
def interrupt_flag():
    """Yields a dict whose "hit" turns True on Ctrl-C (SIGINT), which still raises
    KeyboardInterrupt. Beam re-raises an interrupt inside a step as a RuntimeError, so the flag,
    not the exception type, says the user stopped the run; Beam's threads then report their
    broken bundles, which is noise once the run is being abandoned, so logging is switched off
    (the process exits right after: exit code 130 in `wenmai.cli`)."""
    state = {"hit": False}
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous is signal.SIG_IGN:
        yield state  # signals reach the main thread only; an ignored SIGINT stays ignored
        return

    def on_interrupt(signum, frame):
        state["hit"] = True
        logging.disable(logging.CRITICAL)
        threading.excepthook = lambda args: None
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield state
    finally:
        signal.signal(signal.SIGINT, previous)


def run(argv: Optional[list[str]] = None, test_pipeline: Optional[beam.Pipeline] = None,
        handlers: Optional[Handlers] = None, clock: Callable[[], float] = time.time) -> RunSummary:
    """Runs the job; `test_pipeline` and `handlers` are seams for tests (fake models).

    Raises UsageError before any work (exit 2), RunFailed when the run finished but is not
    published (exit 1), KeyboardInterrupt after removing the staging directory (exit 130)."""
    args, config, beam_args = parse_args(argv)
    run_config = dataclass_from_args(RunConfig, args)
    if not 0 <= run_config.max_dead_letter_share <= 1:
        raise UsageError("--max-dead-letter-share must lie in [0, 1]")
    if not 0 <= run_config.max_failed_share <= 1:
        raise UsageError("--max-failed-share must lie in [0, 1]")
    topic_config = dataclass_from_args(TopicConfig, args)
    check_topic_config(topic_config)
    check_config(config, check_models=False)  # the cheap checks first, the inputs, then models
    # Absolute paths (or URIs) from here on: workers may run in another directory or machine.
    config = dataclasses.replace(config, inputs=tuple(absolute_path(p) for p in config.inputs),
                                 output=absolute_path(config.output))
    try:
        paths = expand_inputs(list(config.inputs))
    except ValueError as e:
        raise UsageError(str(e)) from e
    injected = handlers is not None
    if not injected:
        check_config(config, check_models=True)
    beam_runner = PipelineOptions(beam_args).view_as(StandardOptions).runner
    config = resolve_knn(config, paths, beam_runner or (DEFAULT_RUNNER if test_pipeline is None
                                                        else test_pipeline.runner))
    run_id = args.run_id or datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6]
    output = output_dir(config.output, args.run_date)
    run_date = args.run_date or datetime.fromtimestamp(clock(), timezone.utc).date().isoformat()
    previous = resolve_previous(args.previous and absolute_path(args.previous), args.no_previous,
                                config.output, run_date, dated=args.run_date is not None)
    topics = TopicRun(run_date, topic_config, previous)
    target = output_for(output, run_id)
    staging = target.prepare(args.overwrite)

    options = PipelineOptions(beam_args)
    if not options.view_as(StandardOptions).runner and test_pipeline is None:
        options.view_as(StandardOptions).runner = DEFAULT_RUNNER
    # Worker processes (multi_processing, the infomap child) start with `python -m`, which puts
    # the working directory first on sys.path: from a source checkout, its `wenmai/` folder would
    # shadow the installed package. Python 3.11+ leaves it out with this set.
    os.environ.setdefault("PYTHONSAFEPATH", "1")
    progress_dir = progress_dir_for(options.view_as(StandardOptions).runner, run_config)
    started = clock()
    with interrupt_flag() as interrupted:
        try:
            p = test_pipeline or beam.Pipeline(options=options)
            handlers = handlers or default_handlers(config)
            build_pipeline(p, paths, config, handlers, staging, progress_dir, topics)
            labels = {part.full_label for part in p.transforms_stack[0].parts}
            steps = {step: stage for step, stage in PROGRESS_STEPS.items() if stage in labels}
            with (Progress(progress_dir, steps, interval=run_config.progress_secs) if progress_dir
                  else contextlib.nullcontext()):
                result = p.run()
                result.wait_until_finish()
            finished = clock()

            counts = manifest.count_rows(staging)
            stats = manifest.read_stats(staging)
            files = stats.get(FILE_STATS, [])
            balance = manifest.check_balance(sum(f["records"] for f in files), counts)
            reasons = manifest.dead_letter_reasons(staging)
            why = failure(balance, reasons, run_config.max_dead_letter_share,
                          model_failures(stats), run_config.max_failed_share)
            target.remove(manifest.STATS_DIR)
            record = {
                "run_id": run_id,
                "status": "failed" if why else "published",
                "failure": why,
                "started_at": datetime.fromtimestamp(started, timezone.utc).isoformat(),
                "finished_at": datetime.fromtimestamp(finished, timezone.utc).isoformat(),
                "seconds": round(finished - started, 3),
                "inputs": manifest.input_files(paths, files),
                "output": output,
                "run_date": args.run_date,
                "counts": counts,
                "balance": balance,
                "dead_letters": {"total": balance["dead_letter"], "by_stage": manifest.by_stage(reasons),
                                 "by_reason": reasons},
                "stages": manifest.stage_counters(result),  # runner metrics, where reported
                # our named steps only, summed over workers; empty where the runner reports no times
                "stage_seconds": manifest.stage_seconds(result, [s for s in STAGES if s in labels]),
                # per model: batches, examples, inference seconds, tokens and padding share
                "inference": model_profile(result),
                "graph": _one(stats, "graph") or {},
                "clusters": _one(stats, "cluster") or {},
                "titles": _one(stats, "title"),  # failed batches leave titles null: counted here
                "extraction": _one(stats, "extract"),  # sentences, and failed ones with reasons
                "topics": _one(stats, TOPIC_STATS),  # births, deaths, splits, merges, stability
                "models": (model_manifest(config) if not injected else
                           {k: "injected" for k, v in vars(handlers).items() if v is not None}),
                "parameters": {**to_dict(config), "run": to_dict(run_config),
                               "topics": {**to_dict(topic_config), "run_date": run_date,
                                          "previous": previous and previous.path}},
                "beam_options": beam_args,
                "versions": manifest.package_versions(),
            }
            target.write_text(MANIFEST, json.dumps(record, ensure_ascii=False, indent=2))
            try:
                target.write_text(REPORT, render_report(staging, record))
            except Exception as e:  # the tables are the product; a report bug must not lose them
                _LOGGER.warning("report.html not written: %s: %s", type(e).__name__, e)
            if why:
                raise RunFailed(f"run {run_id} failed: {why}; nothing published (manifest.json and "
                                f"report.html kept in {staging} until the next run of this output)")
            target.publish()  # writes _SUCCESS last
            if run_config.profile:
                print(format_profile(record), file=sys.stderr, flush=True)
        except KeyboardInterrupt:
            target.discard()
            raise
        except RunFailed:
            raise
        except BaseException:
            if interrupted["hit"]:  # Ctrl-C, re-raised by Beam as another exception
                target.discard()
                raise KeyboardInterrupt from None
            _LOGGER.error("run %s failed; partial output left in %s", run_id, staging)
            raise
        finally:
            if progress_dir is not None:
                shutil.rmtree(progress_dir, ignore_errors=True)
    return RunSummary(output, record, result)


def _one(stats: dict[str, list], name: str):
    """The value of a stats name that one global step writes once (the last, if repeated)."""
    values = stats.get(name)
    return values[-1] if values else None


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
    print(f"  {'report':<12} {os.path.join(summary.output, REPORT)}  (open it in a browser)")
    clusters = pq.read_table(os.path.join(summary.output, "clusters")).to_pylist()
    clusters.sort(key=lambda c: c["cluster_id"])
    print(f"top {min(top, len(clusters))} clusters:")
    for c in clusters[:top]:
        print(f"  #{c['cluster_id']:<3} size {c['size']:<4} {' '.join(c['keywords'][:6]):<36} "
              f"| {c['title']}")
    sys.stdout.flush()
