"""Title: `Doc` -> (doc_id, (title, score, title_source)), plus a summary for the manifest.

Five routes, decided per document by `route`:
- **own**: a document no longer than a title (`--title-min-chars`) is its own title
  (title_source "text", score null): no model call, so headline corpora do not pay for the titler;
- **lead**: a short document (`--title-lead-chars`, one or two sentences: a question, a post) is
  titled by the whole clauses of its first sentence that fit in a title, at least 8 characters
  (`faithful.leading_clauses`; title_source "text", score null): the titler learned from news and
  abstracts, and rewrote one-line questions into fragments and misstatements (如何看待张文宏称
  「艾滋病病毒比新冠病毒更狡猾」 -> 张文宏称「病毒比新冠病毒更狡猾」); one whose first clause is
  already too long is generated;
- **headline**: a digest (a bulletin of unrelated items, each under its own headline line:
  `faithful.digest_headlines`) is titled by its first item's headline (title_source "text", score
  null): it has no one subject, and a generated title mixed its items or titled one at random;
- **untitled**: a document that is mostly not Chinese gets no title (its reason is counted in the
  manifest): the titler would invent strings for it;
- **generated**: the rest run through `KeyedInference` like every model (length buckets,
  token-budget batches, RunInference). The titler reads the text without a news outlet's stock
  opening and without links (`faithful.titler_input`); `documents.text` itself is never changed.
A failed batch leaves its documents' titles null (they are still written: a title is an
enrichment, not a reason to reject a record) and is counted, with its reasons, in the manifest.
"""
from __future__ import annotations

from typing import Optional

import apache_beam as beam
from apache_beam.ml.inference.base import ModelHandler

from wenmai.config import InferenceConfig, TitleConfig
from wenmai.models.faithful import digest_headlines, leading_clauses, titler_input, untitled_reason
from wenmai.pipelines.infer import DocInference, FailureStats
from wenmai.types import Doc

GENERATED, OWN, HEADLINE, LEAD = "generated", "text", "headline", "lead"


def route(doc: Doc, min_chars: int, lead_chars: int = 0,
          title_chars: int = 32) -> tuple[str, Optional[str]]:
    """("own" | "headline" | "lead" | "untitled" | "generated", the title for own, headline and
    lead, or the reason for untitled).

    Example: route(Doc(..., text="北京降温"), 32) == ("own", "北京降温");
    a line of English -> ("untitled", "not_chinese").
    """
    if len(doc.text) <= min_chars:
        return "own", doc.text
    reason = untitled_reason(doc.text)
    if reason:
        return "untitled", reason
    headlines = digest_headlines(doc.text)
    if headlines:
        return "headline", headlines[0]
    if len(doc.text) <= lead_chars:
        lead = leading_clauses(titler_input(doc.text), title_chars)
        if lead:
            return "lead", lead
    return "generated", None


class RouteFn(beam.DoFn):
    def __init__(self, min_chars: int, lead_chars: int = 0, title_chars: int = 32):
        self._min_chars, self._lead_chars, self._title_chars = min_chars, lead_chars, title_chars

    def process(self, doc: Doc):
        where, what = route(doc, self._min_chars, self._lead_chars, self._title_chars)
        if where in ("own", "headline", "lead"):  # the document's own words; title_source "text"
            yield beam.pvalue.TaggedOutput(where, (doc.doc_id, (what, None, OWN)))
        elif where == "untitled":
            yield beam.pvalue.TaggedOutput("untitled", what)
        else:
            # what the titler reads, not the text kept; the titler reads characters only, so
            # the tokens (an article's largest part) are not carried into its length groups
            yield doc.with_(text=titler_input(doc.text), tokens=())


class TitleSummary(beam.CombineFn):
    """Route tags -> {"generated", "own", "headline", "lead", "untitled": {reason: n}} counts for
    the manifest."""

    def create_accumulator(self):
        return {}

    def add_input(self, acc, tag):
        return {**acc, tag: acc.get(tag, 0) + 1}

    def merge_accumulators(self, accs):
        out: dict = {}
        for acc in accs:
            for k, v in acc.items():
                out[k] = out.get(k, 0) + v
        return out

    def extract_output(self, acc):
        untitled = {k.split(":", 1)[1]: v for k, v in sorted(acc.items()) if k.startswith("untitled:")}
        return {"generated": acc.get(GENERATED, 0), "own": acc.get(OWN, 0),
                "headline": acc.get(HEADLINE, 0), "lead": acc.get(LEAD, 0), "untitled": untitled}


def _with_summary(failures: dict, summary: dict) -> dict:
    return {**failures, **summary}


class Title(beam.PTransform):
    """Docs -> `titles` (doc_id, (title, score, title_source)) and `stats` ("title", {"failed",
    "reasons", "generated", "own", "headline", "lead", "untitled"}); `title` gives the routes'
    lengths (`title_min_chars`, `title_lead_chars`, `title_max_chars`)."""

    def __init__(self, handler: ModelHandler, config: InferenceConfig = InferenceConfig(),
                 title: TitleConfig = TitleConfig()):
        super().__init__()
        self._handler = handler
        self._config = config
        self._route = RouteFn(title.title_min_chars, title.title_lead_chars, title.title_max_chars)

    def expand(self, docs):
        routed = docs | "Route" >> beam.ParDo(self._route).with_outputs(
            "own", "headline", "lead", "untitled", main="generate")
        out = routed.generate | "Generate" >> DocInference(self._handler, self._config)
        generated = out["results"] | "MarkGenerated" >> beam.MapTuple(
            lambda doc_id, result: (doc_id, (result[0], result[1], GENERATED)))
        titles = (generated, routed.own, routed.headline, routed.lead) | "AllTitles" >> beam.Flatten()
        tags = ((routed.generate | "TagGenerated" >> beam.Map(lambda _: GENERATED)),
                (routed.own | "TagOwn" >> beam.Map(lambda _: OWN)),
                (routed.headline | "TagHeadline" >> beam.Map(lambda _: HEADLINE)),
                (routed.lead | "TagLead" >> beam.Map(lambda _: LEAD)),
                (routed.untitled | "TagUntitled" >> beam.Map(lambda r: f"untitled:{r}")))
        summary = tags | "AllTags" >> beam.Flatten() | "Summarize" >> beam.CombineGlobally(
            TitleSummary())
        stats = (out["errors"]
                 | "CountFailures" >> beam.CombineGlobally(FailureStats())
                 | "AddRoutes" >> beam.Map(_with_summary, beam.pvalue.AsSingleton(summary))
                 | "Name" >> beam.Map(lambda s: ("title", s)))
        return {"titles": titles, "stats": stats}
