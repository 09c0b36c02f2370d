import apache_beam as beam
import numpy as np
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from wenmai.config import SegmentConfig
from wenmai.pipelines.cluster import Assignment
from wenmai.pipelines.summarize import Keywords, Summarize, join_document, representative
from wenmai.types import DeadLetter, Doc


def test_keywords_rank_by_tfidf_and_skip_stop_and_single_chars():
    from wenmai.text import load_jieba

    load_jieba()
    top = Keywords().top(["华为", "公司", "总部", "位于", "深圳", "华为", "的", "了", "地"], 10)
    assert top[0] == "华为"  # twice as frequent as any other word
    assert set(top) == {"华为", "公司", "总部", "位于", "深圳"}  # single characters never rank


def test_keywords_skip_number_words():
    from wenmai.text import load_jieba

    load_jieba()
    tokens = ["降息", "零点", "五个", "百分之一点", "一千三百", "2026", "降息", "贷款"]
    assert Keywords().top(tokens, 5) == ["降息", "贷款"]


def test_representative_is_nearest_the_mean_then_original():
    a, b = Doc("a", "s", 0, "x"), Doc("b", "s", 1, "x", duplicate_of="a")
    c = Doc("c", "s", 2, "y")
    e1, e2 = np.array([1.0, 0.0], np.float32), np.array([0.6, 0.8], np.float32)
    assert representative([(0.2, b, e1), (0.2, a, e1)]) is a  # a tie: the original wins
    # Two members point one way, one the other: the mean leans to the pair; a hub's flow is ignored.
    assert representative([(0.9, c, e2), (0.1, b, e1), (0.1, a, e1)]) is a


def test_join_document_without_embedding_is_a_dead_letter():
    doc = Doc("a", "s", 3, "文本")
    out = list(join_document("a", {"doc": [doc], "emb": [], "err": ["inference_error: X"],
                                    "cluster": []}))
    assert len(out) == 1 and out[0].tag == "dead_letter"
    assert out[0].value == DeadLetter("s", 3, "embed", "inference_error: X", "文本")


def test_summarize_rows():
    docs = [Doc("a", "s", 0, "华为公司总部", tokens=("华为公司", "总部")),
            Doc("b", "s", 1, "华为公司总部", tokens=("华为公司", "总部"), duplicate_of="a"),
            Doc("c", "s", 2, "北京降温", tokens=("北京", "降温"))]
    vec = np.ones(4, np.float32) / 2
    with TestPipeline() as p:
        out = (
            p | "Docs" >> beam.Create(docs),
            p | "Emb" >> beam.Create([("a", vec), ("b", vec), ("c", vec)]),
            p | "Err" >> beam.Create([]),
            p | "Assign" >> beam.Create([Assignment("a", 0, 0.25), Assignment("b", 0, 0.25),
                                         Assignment("c", 1, 0.5)]),
        ) | Summarize(SegmentConfig())
        docs_out = out["documents"] | "DocIds" >> beam.Map(
            lambda r: (r["doc_id"], r["cluster_id"], r["n_chars"], len(r["embedding"])))
        clusters = out["clusters"] | "Clusters" >> beam.Map(
            lambda r: (r["cluster_id"], r["size"], r["representative_doc_id"], r["title"],
                       tuple(r["keywords"]), r["flow"]))
        assert_that(docs_out, equal_to([("a", 0, 6, 4), ("b", 0, 6, 4), ("c", 1, 4, 4)]),
                    label="docs")
        assert_that(clusters, equal_to([(0, 2, "a", "华为公司总部", ("华为公司", "总部"), 0.5),
                                        (1, 1, "c", "北京降温", ("降温", "北京"), 0.5)]),
                    label="clusters")
        assert_that(out["dead_letter"], equal_to([]), label="dead")


def test_titles_fill_documents_and_the_cluster_title_is_the_representatives():
    docs = [Doc("a", "s", 0, "华为公司总部在深圳", tokens=("华为公司", "总部", "在", "深圳")),
            Doc("c", "s", 2, "北京降温", tokens=("北京", "降温"))]
    vec = np.ones(4, np.float32) / 2
    with TestPipeline() as p:
        out = (
            p | "Docs" >> beam.Create(docs),
            p | "Emb" >> beam.Create([("a", vec), ("c", vec)]),
            p | "Err" >> beam.Create([]),
            p | "Assign" >> beam.Create([Assignment("a", 0, 0.5), Assignment("c", 1, 0.5)]),
            p | "Titles" >> beam.Create([("a", ("华为总部", -0.5, "generated"))]),  # c's failed
        ) | Summarize(SegmentConfig())
        assert_that(out["documents"] | "DocTitles" >> beam.Map(
            lambda r: (r["doc_id"], r["title"], r["title_score"], r["title_source"])),
            equal_to([("a", "华为总部", -0.5, "generated"), ("c", None, None, None)]), label="docs")
        assert_that(out["clusters"] | "ClusterTitles" >> beam.Map(
            lambda r: (r["cluster_id"], r["title"])),
            equal_to([(0, "华为总部"), (1, "北京降温")]), label="clusters")
