"""EncodeSentences: `Doc` -> (doc_id, document vector) pairs, plus (doc_id, reason) for failures.

A document becomes one vector in two parts (`EmbedConfig`; chosen with `wenmai eval cluster` on
the tune-role topic files, figures in docs/clusterers.md):

1. semantic: the encoder's vectors of the document's sentences (pieces of at most
   `InferenceConfig.max_len` characters, so the encoder reads all of a long text, not its first
   128 characters), averaged with each piece weighted by its length, then unit length;
2. lexical: the document's char 1-2-gram TF-IDF projected by a truncated SVD to `lexical_dims`,
   fitted once per run on up to `lexical_sample` documents (the smallest hashes of their text,
   so the same texts give the same fit wherever the file lies and in whatever order they come;
   the doc_ids embed the input's path), then unit length. It carries the run's own vocabulary
   (terms of a discipline, an app's jargon) that a sentence encoder trained on short
   paraphrases blurs.

The vector is [sqrt(1 - w) * semantic, sqrt(w) * lexical] (w = `lexical_weight`), so the cosine
of two documents is (1 - w) * semantic cosine + w * lexical cosine. A run too small for the SVD
gets zeros in the lexical part, so every run's vectors have the same length: encoder dim +
`lexical_dims`. A document with any piece the encoder failed on goes to `errors` (never a
vector from part of its text).

A digest (a bulletin of unrelated items under their own headlines) is embedded as its first
item (`lead_view`), the item its title names: the mean of all its items sat between topics, and
the 138 bulletins among 1,000 news stories formed clusters of their own.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

import apache_beam as beam
import numpy as np
from apache_beam.ml.inference.base import ModelHandler

from wenmai.config import EmbedConfig, InferenceConfig
from wenmai.models.faithful import digest_lead
from wenmai.pipelines.extract import slice_tokens, split_sentences
from wenmai.pipelines.infer import DocInference, KeyedInference
from wenmai.text import TokenOffsets
from wenmai.types import Doc

SAMPLE_CHARS = 4_000  # characters of a sampled document the TF-IDF is fitted on


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; all-zero rows stay zero.

    Example: unit_rows([[3, 4], [0, 0]]) == [[0.6, 0.8], [0, 0]]
    """
    x = np.asarray(x, dtype=np.float32)
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(norm > 0, norm, 1)


def document_pieces(text: str, tokens: Sequence[str], max_chars: int):
    """(offset, piece, words) for each sentence of at most `max_chars` characters.

    Example: document_pieces("你好。再见！", ("你好", "。", "再见", "！"), 128)
             == [(0, "你好。", ("你好", "。")), (3, "再见！", ("再见", "！"))]
    """
    offsets = TokenOffsets(tokens)
    return [(offset, piece, slice_tokens(offsets, offset, offset + len(piece)))
            for offset, piece in split_sentences(text, max_chars)]


def lead_view(doc: Doc) -> Doc:
    """What stands for a document in its vector and its cluster's keywords: a digest's first item
    (text and the tokens inside it), any other document whole. `documents.text` keeps it all.

    Example: lead_view(Doc(..., text="甲地新建水库投用 水库今天投用。 乙市…")).text
             == "甲地新建水库投用 水库今天投用。 "
    """
    lead = digest_lead(doc.text)
    if lead is None:
        return doc
    if sum(map(len, doc.tokens)) != len(doc.text):  # not segmented here: the text alone
        return doc.with_(text=lead, tokens=())
    tokens, n = [], 0
    for token in doc.tokens:
        if n + len(token) > len(lead):
            break
        tokens.append(token)
        n += len(token)
    return doc.with_(text=doc.text[:n], tokens=tuple(tokens))


def pool_pieces(pieces: Iterable[tuple[int, int, np.ndarray]]) -> np.ndarray:
    """(offset, n_chars, vector) of a document's pieces -> their length-weighted mean, unit length.
    Summed in offset order, so the result never depends on the order pieces arrive in.

    Example: pool_pieces([(0, 1, [1, 0]), (1, 3, [0, 1])]) == unit([1, 3]) == [0.316, 0.949]
    """
    pieces = sorted(pieces, key=lambda p: p[0])
    total = sum(n * np.asarray(v, dtype=np.float64) for _, n, v in pieces)
    return unit_rows(total)


def mix(semantic: np.ndarray, lexical: np.ndarray, lexical_weight: float) -> np.ndarray:
    """[sqrt(1 - w) * unit(semantic), sqrt(w) * unit(lexical)], unit length (works on rows too).

    Example: mix([1, 0], [0, 2], 0.5) == [0.707, 0, 0, 0.707]
    """
    parts = [np.sqrt(1 - lexical_weight) * unit_rows(semantic),
             np.sqrt(lexical_weight) * unit_rows(lexical)]
    return unit_rows(np.concatenate(parts, axis=-1))


@dataclass
class Lexical:
    """A fitted char TF-IDF + SVD projection: texts -> (n, dims) float32 (unit rows, or zeros)."""

    vectorizer: object  # sklearn TfidfVectorizer, fitted
    components: np.ndarray  # (k, F) float32, k <= dims
    dims: int

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        z = np.zeros((len(texts), self.dims), dtype=np.float32)
        if len(texts):
            x = self.vectorizer.transform(list(texts))  # (n, F) sparse
            z[:, :len(self.components)] = x @ self.components.T  # (n, k)
        return unit_rows(z)


def fit_lexical(texts: Sequence[str], config: EmbedConfig) -> Optional[Lexical]:
    """TF-IDF (char 1-2-grams, sublinear tf, in at least 2 and at most half of the texts) and a
    truncated SVD fitted on `texts`; None when there are too few texts or n-grams to fit one."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    if config.lexical_dims <= 0 or len(texts) < 3:
        return None
    few = len(texts) < 20  # min_df 2 / max_df 0.5 leave nothing of a handful of texts
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True,
                                 min_df=1 if few else 2, max_df=1.0 if few else 0.5,
                                 max_features=config.lexical_max_features, dtype=np.float32)
    try:
        x = vectorizer.fit_transform(list(texts))  # (n, F)
    except ValueError:  # no n-gram left after the document-frequency limits
        return None
    k = min(config.lexical_dims, x.shape[1] - 1, len(texts) - 1)
    if k < 1:
        return None
    svd = TruncatedSVD(k, random_state=0).fit(x)
    return Lexical(vectorizer, svd.components_.astype(np.float32), config.lexical_dims)


def sample_key(text: str) -> tuple[int, str]:
    """Orders documents for the fitting sample by their text alone: a stable hash, then the text.
    Not by doc_id, which embeds the input's path: the randomized SVD depends on the order of its
    rows, so an id order gave other clusters for the same stories read from another path.

    Example: sample_key("你好") == (zlib.crc32("你好".encode("utf-8")), "你好")
    """
    text = text[:SAMPLE_CHARS]
    return zlib.crc32(text.encode("utf-8")), text


def fit_on_sample(sample: list, config: EmbedConfig) -> Optional[Lexical]:
    return fit_lexical([text for _, text in sorted(sample)], config)


def lexical_batch(docs: list[Doc], lexical: Optional[Lexical], dims: int):
    """A batch of docs -> (doc_id, lexical vector) each; zeros when no model could be fitted."""
    if lexical is None:
        z = np.zeros((len(docs), dims), dtype=np.float32)
    else:
        z = lexical.transform([d.text for d in docs])
    return [(d.doc_id, v) for d, v in zip(docs, z)]


def piece_examples(doc: Doc, max_chars: int):
    """Doc -> ((doc_id, offset, n_chars), (piece, words)) for each of its pieces."""
    for offset, piece, words in document_pieces(doc.text, doc.tokens, max_chars):
        yield (doc.doc_id, offset, len(piece)), (piece, words)


def document_vector(doc_id: str, grouped: dict, lexical_weight: float, use_lexical: bool):
    """One document's pieces (+ lexical vector, errors) -> (doc_id, vector) or a tagged error."""
    errors = sorted(grouped["err"])
    if errors:
        yield beam.pvalue.TaggedOutput("errors", (doc_id, errors[0]))
        return
    pieces = list(grouped["piece"])
    if not pieces:  # blank text: Clean keeps none, but a vector of nothing is no vector
        yield beam.pvalue.TaggedOutput("errors", (doc_id, "no_text"))
        return
    semantic = pool_pieces(pieces)
    if use_lexical:
        semantic = mix(semantic, next(iter(grouped["lex"])), lexical_weight)
    yield doc_id, semantic.astype(np.float32)


def _document_vector(item, lexical_weight: float, use_lexical: bool):
    return document_vector(item[0], item[1], lexical_weight, use_lexical)


class LexicalVectors(beam.PTransform):
    """Docs -> (doc_id, lexical vector): fit on a deterministic sample (one global step, bounded
    by `lexical_sample`), then project every document in batches with the fit as a side input."""

    def __init__(self, config: EmbedConfig):
        super().__init__()
        self._config = config

    def expand(self, docs):
        config = self._config
        fitted = (docs
                  | "SampleKeys" >> beam.Map(lambda d: sample_key(d.text))
                  | "Sample" >> beam.combiners.Top.Smallest(config.lexical_sample)
                  | "FitTfidfSvd" >> beam.Map(fit_on_sample, config))
        return (docs
                | "Batch" >> beam.BatchElements(min_batch_size=64, max_batch_size=512)
                | "Project" >> beam.FlatMap(lexical_batch, beam.pvalue.AsSingleton(fitted),
                                            config.lexical_dims))


class EncodeSentences(beam.PTransform):
    """Docs -> `embeddings` (doc_id, float32 vector) and `errors` (doc_id, reason) outputs."""

    def __init__(self, handler: ModelHandler, config: InferenceConfig = InferenceConfig(),
                 embed: EmbedConfig = EmbedConfig()):
        super().__init__()
        self._handler = handler
        self._config = config
        self._embed = embed

    def expand(self, docs):
        embed, use_lexical = self._embed, self._embed.lexical_dims > 0
        docs = docs | "DigestLead" >> beam.Map(lead_view)
        if not embed.sentence_pooling and not use_lexical:  # the first max_len characters only
            out = docs | "Encode" >> DocInference(self._handler, self._config)
            return {"embeddings": out["results"], "errors": out["errors"]}
        if embed.sentence_pooling:
            encoded = (docs
                       | "Pieces" >> beam.FlatMap(piece_examples, self._config.max_len)
                       | "Encode" >> KeyedInference(self._handler, self._config))
        else:  # one piece per document: its text as the encoder reads it
            encoded = (docs
                       | "Whole" >> beam.Map(lambda d: ((d.doc_id, 0, 1), (d.text, d.tokens)))
                       | "Encode" >> KeyedInference(self._handler, self._config))
        grouped = {
            "piece": encoded["results"] | "ByDoc" >> beam.MapTuple(
                lambda key, v: (key[0], (key[1], key[2], v))),
            "err": encoded["errors"] | "ErrByDoc" >> beam.MapTuple(
                lambda key, reason: (key[0], reason)),
        }
        if use_lexical:
            grouped["lex"] = docs | "Lexical" >> LexicalVectors(embed)
        out = (grouped
               | "JoinPieces" >> beam.CoGroupByKey()
               | "DocumentVector" >> beam.FlatMap(
                   _document_vector, embed.lexical_weight, use_lexical).with_outputs(
                       "errors", main="embeddings"))
        return {"embeddings": out.embeddings, "errors": out.errors}
