"""The wenmai job, top to bottom: read -> clean -> segment -> infer -> graph -> cluster -> write.

```
ReadCorpus ─► CleanText ─► Segment ─┬─► EncodeSentences ─► BuildKnnGraph ─► ClusterInfomap ─┐
                                    ├─► Title ───────────────────────────────────────────────┼─► Summarize ─► WriteTables
                                    └─► Extract (triples) ───────────────────────────────────┘
      └──────────── every rejection ─► dead_letter ─────────────────────────────────────────┘
```
Across runs, `ReadPreviousRun` reads the run this one continues (`--previous`): `CarryTopics`
weighs the graph towards its topics before InfoMap, and `TrackTopics` gives this run's clusters
their stable topic ids after Summarize (`wenmai.pipelines.topics`).
`build_pipeline` only composes the stages; each lives in its own module with its own tests.
Models come in as Beam `ModelHandler`s, so tests pass small fake or random ones; a step whose
handler is None (`--no-titles`, `--no-triples`) is left out, and its table columns stay empty.
With a `progress_dir` (local runners), small counting side branches (`CountProgress`) let the
driver print how far the run has got.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Optional

import apache_beam as beam
from apache_beam.ml.inference.base import ModelHandler

from wenmai.config import PipelineConfig
from wenmai.pipelines.carry import CarryTopics
from wenmai.pipelines.clean import CleanText
from wenmai.pipelines.cluster import ClusterInfomap
from wenmai.pipelines.embed import EncodeSentences
from wenmai.pipelines.extract import Extract
from wenmai.pipelines.graph import BuildKnnGraph
from wenmai.pipelines.previous import ReadPreviousRun
from wenmai.pipelines.progress import CountProgress
from wenmai.pipelines.read import ReadCorpus
from wenmai.pipelines.segment import Segment
from wenmai.pipelines.summarize import Summarize
from wenmai.pipelines.title import Title
from wenmai.pipelines.topics import TopicRun, TrackTopics
from wenmai.pipelines.write import WriteTables


# The named stages, in the order they run: the manifest's stage_seconds lists these and no
# helper step. PROGRESS_STEPS: the progress line's counters, each with its stage.
STAGES = ("ReadCorpus", "CleanText", "Segment", "EncodeSentences", "BuildKnnGraph",
          "ReadPreviousRun", "CarryTopics", "ClusterInfomap", "Title", "Extract", "Summarize",
          "TrackTopics", "WriteTables")
PROGRESS_STEPS = {"read": "ReadCorpus", "cleaned": "CleanText", "embedded": "EncodeSentences",
                  "titled": "Title", "triples": "Extract", "clustered": "ClusterInfomap",
                  "documents": "Summarize"}


@dataclass(frozen=True)
class Handlers:
    """The model handlers one run uses; None leaves that model's step out."""

    encoder: ModelHandler
    titler: Optional[ModelHandler] = None
    extractor: Optional[ModelHandler] = None


def build_pipeline(p: beam.Pipeline, paths: list[str], config: PipelineConfig,
                   handlers: Handlers, directory: str, progress_dir: Optional[str] = None,
                   topics: Optional[TopicRun] = None) -> dict:
    """Adds the whole job to `p`, writing its tables under `directory`; returns the write
    results ({table: PCollection of file names}). `topics`: the run's date and the run it
    continues (default: today, UTC, continuing none)."""
    def progress(pcoll, step: str, label: str = "") -> None:
        if progress_dir is not None:
            _ = pcoll | f"Progress_{label or step}" >> CountProgress(progress_dir, step)

    read = p | "ReadCorpus" >> ReadCorpus(paths, config.read)
    progress(read.records, "read", "read_records")
    progress(read.dead_letter, "read", "read_dead_letters")
    cleaned = read.records | "CleanText" >> CleanText(config.read)
    progress(cleaned["docs"], "cleaned")
    docs = cleaned["docs"] | "Segment" >> Segment()
    embedded = docs | "EncodeSentences" >> EncodeSentences(handlers.encoder, config.inference,
                                                           config.embed)
    graph = embedded["embeddings"] | "BuildKnnGraph" >> BuildKnnGraph(config.graph)
    topics = topics or TopicRun(datetime.now(timezone.utc).date().isoformat())
    previous = p | "ReadPreviousRun" >> ReadPreviousRun(topics.previous, config.embed.lexical_dims)
    carried = ({"graph": graph, "docs": docs, "previous_documents": previous["documents"]}
               | "CarryTopics" >> CarryTopics(topics.config.carry_boost, topics.config.carry_damp))
    clusters = carried | "ClusterInfomap" >> ClusterInfomap(config.cluster, docs)
    progress(embedded["embeddings"], "embedded")
    progress(clusters.assignments, "clustered")
    stats = [read.stats, graph | "GraphStats" >> beam.Map(lambda g: ("graph", g.stats)),
             clusters.stats | "ClusterStats" >> beam.Map(lambda s: ("cluster", s))]
    to_summarize = [docs, embedded["embeddings"], embedded["errors"], clusters.assignments]
    if handlers.titler is not None:
        titled = docs | "Title" >> Title(handlers.titler, config.inference, config.title)
        to_summarize.append(titled["titles"])
        progress(titled["titles"], "titled")
        stats.append(titled["stats"])
    triples = p | "NoTriples" >> beam.Create([])
    if handlers.extractor is not None:
        extracted = docs | "Extract" >> Extract(handlers.extractor, config.extract.sentence_chars,
                                                config.inference)
        triples = extracted["triples"]
        progress(triples, "triples")
        stats.append(extracted["stats"])
    summary = tuple(to_summarize) | "Summarize" >> Summarize(config.segment)
    progress(summary["documents"], "documents")
    tracked = ({"documents": summary["documents"], "clusters": summary["clusters"],
                "previous_documents": previous["documents"], "previous_topics": previous["topics"]}
               | "TrackTopics" >> TrackTopics(topics.run_date, topics.config,
                                              config.embed.lexical_dims,
                                              topics.previous and topics.previous.run_date))
    stats.append(tracked["stats"])

    dead_letters = (
        (read.dead_letter, cleaned["dead_letter"], summary["dead_letter"])
        | "AllDeadLetters" >> beam.Flatten()
        | "DeadLetterRows" >> beam.Map(lambda d: d.as_row())
    )
    return {
        "documents": tracked["documents"],
        "triples": triples,
        "edges": graph | "EdgeRows" >> beam.FlatMap(lambda g: g.edge_rows()),
        "clusters": summary["clusters"],
        "dead_letter": dead_letters,
        **{name: tracked[name] for name in ("topics", "topic_days", "lineage")},
        "stats": tuple(stats) | "AllStats" >> beam.Flatten(),
    } | "WriteTables" >> WriteTables(directory)
