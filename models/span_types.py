"""Entity types of text spans: (text, jieba tokens, [start, end)) -> P(type), for typed triples.

Every SKE predicate has a subject type and an object type (国籍: 人物 -> 国家). The extractor's
pointers know the predicate but not whether a span can fill its slots, so news sentences gave
吴中区 国籍 中国 or 青霉素 国籍 英国. This module is a small multinomial logistic regression over
hashed sparse features of a span, trained on the typed spans of the train-role triples files
(SKE train and DuIE 2.0 carry subject_type / object_type) plus untyped word n-grams as a "not an
entity" class; `allowed_share` then says how much of a span's probability falls on the types a
predicate's slot accepts.

Features (all strings, hashed into `n_buckets` weights per class): the span itself, its
characters, character bigrams, first and last one or two characters (suffixes such as 大学, 公司,
区 carry the type), its length, the two characters either side (《 》 mark works), and the
jieba dictionary tags (nr, ns, nt, nz; "oov" for words the dictionary lacks) of the tokens the
span covers, with whether the span starts and ends on token boundaries. Tags come from jieba's
dictionary table, not from a second segmentation, so the pipeline's own tokens are used as they are.

Weights are saved as safetensors (float16) plus a JSON list of the classes: nothing unpickles.
"""
from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional, Sequence

import numpy as np

from wenmai.text import covering_tokens, dictionary_tags

__all__ = ["NONE", "CANONICAL", "canonical_type", "allowed_types", "span_features",
           "SpanTypeClassifier", "fit_span_types", "load_span_types", "TypeFilter", "PosFilter",
           "slots_from_schema", "SPAN_TYPES_FILE", "SPAN_TYPES_WEIGHTS"]

NONE = "NONE"  # the class of spans that are not an entity of any schema type
SPAN_TYPES_FILE = "span_types.json"
SPAN_TYPES_WEIGHTS = "span_types.safetensors"

# Schema types learnt as one class. The predicate already tells a song from a film (作词 vs 导演)
# and a span alone rarely can (都挺好, 洛奇): the filter only has to catch a place or a phrase in
# a person's slot, so works, organisations and places below country level are one class each.
CANONICAL = {"娱乐人物": "人物", "历史人物": "人物",
             **{t: "作品" for t in ("影视作品", "图书作品", "书籍", "网络小说", "文学作品", "歌曲",
                                  "音乐专辑", "电视综艺")},
             **{t: "组织" for t in ("企业", "企业/品牌", "机构", "学校", "出版社", "网站")},
             **{t: "地点" for t in ("城市", "行政区", "景点")}}
# a birthplace or headquarters may be named by a country
_ALSO = {"地点": ("国家",)}


def canonical_type(name: str) -> str:
    """The class a schema type is learnt as. Example: canonical_type("娱乐人物") == "人物"."""
    return CANONICAL.get(name, name)


def allowed_types(schema_type: str) -> frozenset[str]:
    """Classes accepted in a slot of `schema_type`. Example: allowed_types("城市") ==
    {"地点", "国家"}."""
    t = canonical_type(schema_type)
    return frozenset((t,) + _ALSO.get(t, ()))


def _tag(word: str, tags: Mapping[str, str]) -> str:
    return tags.get(word) or ("num" if word.isdigit() else "oov")


def span_features(text: str, tokens: Sequence[str], start: int, end: int,
                  tags: Mapping[str, str]) -> list[str]:
    """Feature strings of text[start:end]; `tokens` concatenate to `text`, `tags` maps a word to
    its jieba dictionary tag.

    Example: span_features("毕业于清华大学", ("毕业", "于", "清华大学"), 3, 7, {"清华大学": "nt"})
    includes "s=清华大学", "l2=大学", "p1=于", "tag=nt", "tags=nt", "ab=11".
    """
    s = text[start:end]
    f = ["s=" + s, "f1=" + s[:1], "l1=" + s[-1:], "f2=" + s[:2], "l2=" + s[-2:],
         "len=" + str(min(len(s), 12)), "p1=" + text[max(0, start - 1):start],
         "p2=" + text[max(0, start - 2):start], "n1=" + text[end:end + 1],
         "n2=" + text[end:end + 2]]
    f += ["c=" + c for c in set(s)]
    f += ["b=" + s[i:i + 2] for i in range(len(s) - 1)]
    if any(c.isdigit() for c in s):
        f.append("digit")
    # tokens covering the span, and whether the span starts / ends on a token boundary
    covered, a, b = [], 0, 0
    for tok, lo, hi in covering_tokens(tokens, start, end):
        covered.append(_tag(tok, tags))
        a |= lo == start
        b |= hi == end
    f += ["tag=" + t for t in set(covered)]
    f += ["tags=" + "+".join(covered[:4]), "ntok=" + str(min(len(covered), 5)), f"ab={a:d}{b:d}"]
    return f


def _hash(feature: str, n_buckets: int) -> int:
    return zlib.crc32(feature.encode("utf-8")) % n_buckets


@dataclass
class SpanTypeClassifier:
    """Linear softmax over hashed features: P(class | span) = softmax(Σ_f W[h(f)] + bias)."""

    classes: tuple[str, ...]
    weights: np.ndarray  # (n_buckets, C) float32
    bias: np.ndarray  # (C,)
    index: dict = field(init=False)

    def __post_init__(self):
        self.index = {c: i for i, c in enumerate(self.classes)}

    @property
    def n_buckets(self) -> int:
        return self.weights.shape[0]

    def proba(self, features: Sequence[Sequence[str]]) -> np.ndarray:
        """(N, C) class probabilities of N spans given as feature lists."""
        logits = np.tile(self.bias.astype(np.float32), (len(features), 1))
        for i, feats in enumerate(features):
            rows = sorted({_hash(f, self.n_buckets) for f in feats})
            logits[i] += self.weights[rows].astype(np.float32).sum(0)
        logits -= logits.max(1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(1, keepdims=True)

    def allowed_share(self, features: Sequence[Sequence[str]],
                      allowed: Sequence[frozenset[str]]) -> np.ndarray:
        """(N,) probability mass on each span's allowed classes."""
        p = self.proba(features)
        return np.array([sum(p[i, self.index[c]] for c in ok if c in self.index)
                         for i, ok in enumerate(allowed)], dtype=np.float32)

    def save(self, directory) -> None:
        from safetensors.numpy import save_file

        path = Path(directory)
        save_file({"weights": self.weights.astype(np.float16),
                   "bias": self.bias.astype(np.float32)}, str(path / SPAN_TYPES_WEIGHTS))
        (path / SPAN_TYPES_FILE).write_text(
            json.dumps({"classes": list(self.classes), "n_buckets": self.n_buckets},
                       ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def load_span_types(directory) -> Optional[SpanTypeClassifier]:
    """The classifier saved in `directory`, or None when it has none."""
    from safetensors.numpy import load_file

    path = Path(directory)
    if not (path / SPAN_TYPES_FILE).is_file():
        return None
    meta = json.loads((path / SPAN_TYPES_FILE).read_text(encoding="utf-8"))
    tensors = load_file(str(path / SPAN_TYPES_WEIGHTS))
    assert tensors["weights"].shape == (meta["n_buckets"], len(meta["classes"])), \
        "span type weights do not match their class list"
    return SpanTypeClassifier(tuple(meta["classes"]), tensors["weights"].astype(np.float32),
                              tensors["bias"])


def fit_span_types(features: Sequence[Sequence[str]], labels: Sequence[str], *,
                   n_buckets: int = 1 << 16, c: float = 1.0, max_iter: int = 300,
                   seed: int = 1337) -> SpanTypeClassifier:
    """Multinomial logistic regression (scikit-learn, L2, strength 1/c) on hashed features."""
    from scipy.sparse import csr_matrix
    from sklearn.linear_model import LogisticRegression

    classes = tuple(sorted(set(labels)))
    assert len(classes) >= 2, "need spans of at least two classes"
    index = {k: i for i, k in enumerate(classes)}
    rows, cols = [], []
    for i, feats in enumerate(features):
        for h in {_hash(f, n_buckets) for f in feats}:
            rows.append(i)
            cols.append(h)
    x = csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)),
                   shape=(len(features), n_buckets))
    y = np.array([index[k] for k in labels])
    lr = LogisticRegression(C=c, max_iter=max_iter, random_state=seed)
    lr.fit(x, y)
    weights = np.zeros((n_buckets, len(classes)), dtype=np.float32)
    bias = np.zeros(len(classes), dtype=np.float32)
    if len(lr.classes_) == 2:  # scikit-learn fits one logit for two classes: class 1 vs 0
        weights[:, lr.classes_[1]] = lr.coef_[0]
        bias[lr.classes_[1]] = lr.intercept_[0]
    else:
        weights[:, lr.classes_] = lr.coef_.T
        bias[lr.classes_] = lr.intercept_
    return SpanTypeClassifier(classes, weights, bias)


class _JiebaTags:
    """jieba's part-of-speech dictionary, loaded on first use (not at unpickling)."""

    _tags: Optional[Mapping[str, str]] = None

    @property
    def tags(self) -> Mapping[str, str]:
        if self._tags is None:
            self._tags = dictionary_tags()
        return self._tags


class TypeFilter(_JiebaTags):
    """Keeps a triple when both of its spans put at least `min_share` of their probability on
    the classes its predicate's slots accept (`slots`: predicate -> (subject, object) classes).

    Tags come from jieba's dictionary table, loaded on first use (not at import or in __init__).
    """

    def __init__(self, classifier: SpanTypeClassifier, slots: Mapping[str, tuple],
                 min_share: float):
        self.classifier = classifier
        self.slots = {p: (frozenset(s), frozenset(o)) for p, (s, o) in slots.items()}
        self.min_share = min_share

    def shares(self, text: str, tokens: Sequence[str], triples: Sequence[dict]) -> np.ndarray:
        """(N, 2) allowed-class share of each triple's subject and object."""
        if not triples:
            return np.zeros((0, 2), dtype=np.float32)
        tokens = tokens if "".join(tokens) == text else _fallback_tokens(text)
        feats, allowed = [], []
        for t in triples:
            s_ok, o_ok = self.slots[t["predicate"]]
            feats += [span_features(text, tokens, t["subject_start"], t["subject_end"], self.tags),
                      span_features(text, tokens, t["object_start"], t["object_end"], self.tags)]
            allowed += [s_ok, o_ok]
        return self.classifier.allowed_share(feats, allowed).reshape(-1, 2)

    def keep(self, text: str, tokens: Sequence[str], triples: Sequence[dict]) -> list[dict]:
        shares = self.shares(text, tokens, triples)
        return [t for t, (a, b) in zip(triples, shares) if min(a, b) >= self.min_share]



def _fallback_tokens(text: str) -> list[str]:
    """Tokens for a text whose given tokens do not spell it (a caller passed none): jieba's."""
    import jieba

    return jieba.lcut(text)


def slots_from_schema(path) -> dict[str, tuple[frozenset, frozenset]]:
    """predicate -> (subject classes, object classes) from a schema file of JSON lines
    {"predicate", "subject_type", "object_type"} (DuIE's "@value" dicts accepted); a predicate
    listed twice (成立日期: 企业 and 机构) accepts the union."""
    slots: dict = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            r = json.loads(line)
            o = r["object_type"]
            o = o["@value"] if isinstance(o, dict) else o
            s_old, o_old = slots.get(r["predicate"], (frozenset(), frozenset()))
            slots[r["predicate"]] = (s_old | allowed_types(r["subject_type"]),
                                     o_old | allowed_types(o))
    return slots


# jieba dictionary tags that can name an entity of a class (a word jieba lacks always can)
POS_EVIDENCE = {"人物": ("nr",), "国家": ("ns",), "地点": ("ns",), "组织": ("nt", "nz", "ns")}


class PosFilter(_JiebaTags):
    """The baseline the classifier is measured against: a span fits a person, place or
    organisation slot when one of its words carries the matching jieba tag (nr, ns, nt/nz) or
    is missing from jieba's dictionary (new names), or it holds a "·"; other slots always fit."""

    def __init__(self, slots: Mapping[str, tuple]):
        self.slots = {p: (frozenset(s), frozenset(o)) for p, (s, o) in slots.items()}

    def _fits(self, text, tokens, start, end, allowed) -> bool:
        needs = [POS_EVIDENCE.get(c) for c in allowed]
        if any(n is None for n in needs) or "·" in text[start:end]:
            return True
        tags = [self.tags.get(tok) for tok, _, _ in covering_tokens(tokens, start, end)]
        return any(t is None or t.startswith(n) for t in tags for need in needs for n in need)

    def shares(self, text: str, tokens: Sequence[str], triples: Sequence[dict]) -> np.ndarray:
        """(N, 2): 1 where the subject / object fits its slot, else 0."""
        tokens = tokens if "".join(tokens) == text else _fallback_tokens(text)
        out = np.zeros((len(triples), 2), dtype=np.float32)
        for i, t in enumerate(triples):
            s_ok, o_ok = self.slots[t["predicate"]]
            out[i, 0] = self._fits(text, tokens, t["subject_start"], t["subject_end"], s_ok)
            out[i, 1] = self._fits(text, tokens, t["object_start"], t["object_end"], o_ok)
        return out
