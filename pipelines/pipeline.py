"""The wenmai job, top to bottom: read -> clean -> segment -> embed -> graph -> cluster -> write.

```
ReadCorpus ─► CleanText ─► Segment ─► EncodeSentences ─► BuildKnnGraph ─► ClusterInfomap ─┐
      └──────────── every rejection ─► dead_letter ──────────────► Summarize ─► WriteTables
```
`build_pipeline` only composes the stages; each lives in its own module with its own tests.
Models come in as Beam `ModelHandler`s, so tests pass small fake or random ones.
"""
from __future__ import annotations

from dataclasses import dataclass

import apache_beam as beam
from apache_beam.ml.inference.base import ModelHandler

from wenmai.config import PipelineConfig
from wenmai.pipelines.clean import CleanText
from wenmai.pipelines.cluster import ClusterInfomap
from wenmai.pipelines.embed import EncodeSentences
from wenmai.pipelines.graph import BuildKnnGraph
from wenmai.pipelines.read import ReadCorpus
from wenmai.pipelines.segment import Segment
from wenmai.pipelines.summarize import Summarize
from wenmai.pipelines.write import WriteTables


@dataclass(frozen=True)
class Handlers:
    """The model handlers one run uses."""

    encoder: ModelHandler


def build_pipeline(p: beam.Pipeline, paths: list[str], config: PipelineConfig,
                   handlers: Handlers, directory: str) -> None:
    """Adds the whole job to `p`, writing its tables under `directory`."""
    read = p | "ReadCorpus" >> ReadCorpus(paths, config.read)
    cleaned = read.records | "CleanText" >> CleanText(config.read)
    docs = cleaned["docs"] | "Segment" >> Segment()
    embedded = docs | "EncodeSentences" >> EncodeSentences(handlers.encoder, config.inference)
    graph = embedded["embeddings"] | "BuildKnnGraph" >> BuildKnnGraph(config.graph)
    clusters = graph | "ClusterInfomap" >> ClusterInfomap(config.cluster)
    summary = ((docs, embedded["embeddings"], embedded["errors"], clusters.assignments)
               | "Summarize" >> Summarize(config.segment))

    dead_letters = (
        (read.dead_letter, cleaned["dead_letter"], summary["dead_letter"])
        | "AllDeadLetters" >> beam.Flatten()
        | "DeadLetterRows" >> beam.Map(lambda d: d.as_row())
    )
    stats = (
        (graph | "GraphStats" >> beam.Map(lambda g: ("graph", g.stats)),
         clusters.stats | "ClusterStats" >> beam.Map(lambda s: ("cluster", s)))
        | "AllStats" >> beam.Flatten()
    )
    _ = {
        "documents": summary["documents"],
        "edges": graph | "EdgeRows" >> beam.FlatMap(lambda g: g.edge_rows()),
        "clusters": summary["clusters"],
        "dead_letter": dead_letters,
        "stats": stats,
    } | "WriteTables" >> WriteTables(directory)
