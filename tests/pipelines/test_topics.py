"""Stable topic ids: same, split, merge, new, return, dormant, ids never reused, idempotent."""
import dataclasses
import json

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline

from wenmai.pipelines.previous import PreviousDoc, semantic_part, text_hash
from wenmai.pipelines.topics import (ClusterInfo, PreviousIndex, TopicConfig, TrackTopics,
                                     best_one_to_one, components, containment, find_duplicates,
                                     fingerprint, match_topics, relation)
from wenmai.schemas.tables import validate_rows
from wenmai.schemas.topics import LINEAGE, TOPIC_DAYS, TOPICS

CONFIG = TopicConfig(centroid_match=0.9, centroid_keywords=1, return_days=30,
                     near_duplicate=0.9, near_duplicate_cosine=0.8)


def axis(i: int, dim: int = 4, tilt: float = 0.0) -> np.ndarray:
    """A unit vector along axis i, tilted towards the next axis by `tilt`."""
    v = np.zeros(dim, dtype=np.float32)
    v[i] = 1.0
    v[(i + 1) % dim] = tilt
    return v / np.linalg.norm(v)


def cluster(cid: int, size: int, vec=None, new: int = 0, title=None) -> ClusterInfo:
    return ClusterInfo(cid, size, new, title or f"c{cid}", ("词",), vec)


def topic(tid: int, last: str, vec, first: str = "2026-05-01", size: int = 3) -> dict:
    return {"topic_id": tid, "first_run_date": first, "last_run_date": last, "size": size,
            "runs": 2, "documents": size, "title": f"t{tid}", "keywords": ["词"],
            "centroid": [float(x) for x in vec]}


def relations(m) -> set:
    return {(r["cluster_id"], r["previous_topic_id"], r["relation"], r["overlap"])
            for r in m.lineage}


def test_helpers():
    assert relation(2, 1) == "merge" and relation(1, 3) == "split" and relation(1, 1) == "same"
    assert components([(0, 5), (1, 5), (2, 7)]) == [([0, 1], [5]), ([2], [7])]
    assert best_one_to_one({(0, 10): 5, (0, 11): 4, (1, 10): 3}) == {0: 11, 1: 10}
    assert np.allclose(semantic_part([0.6, 0.0, 0.8], 1), [1.0, 0.0])
    assert text_hash("你好") == text_hash("你好") != text_hash("你好。")


def test_first_run_numbers_topics_from_zero_in_cluster_order():
    m = match_topics([cluster(1, 2, axis(1)), cluster(0, 5, axis(0))], {}, [], "2026-06-01", None,
                     CONFIG)
    assert m.assigned == {0: 0, 1: 1}
    assert relations(m) == {(0, None, "new", 0), (1, None, "new", 0)}
    assert [t["first_run_date"] for t in m.topics] == ["2026-06-01"] * 2
    assert m.stats["births"] == 2 and m.stats["stability"] is None


def test_same_topic_keeps_its_id_even_when_cluster_ids_change():
    registry = [topic(4, "2026-05-31", axis(0)), topic(9, "2026-05-31", axis(2))]
    clusters = [cluster(0, 6, axis(2), new=2), cluster(1, 3, axis(0))]
    m = match_topics(clusters, {(0, 9): 4, (1, 4): 3}, registry, "2026-06-01", "2026-05-31",
                     CONFIG)
    assert m.assigned == {0: 9, 1: 4}
    assert relations(m) == {(0, 9, "same", 4), (1, 4, "same", 3)}
    assert m.stats["stability"] == 1.0 and m.stats["births"] == 0 and m.stats["deaths"] == 0
    nine = next(t for t in m.topics if t["topic_id"] == 9)
    assert nine["last_run_date"] == "2026-06-01" and nine["runs"] == 3 and nine["documents"] == 5
    assert nine["first_run_date"] == "2026-05-01" and nine["size"] == 6


def test_split_larger_part_keeps_the_id_the_other_gets_a_new_one():
    registry = [topic(0, "2026-05-31", axis(0)), topic(1, "2026-05-31", axis(1))]
    clusters = [cluster(0, 5, axis(0)), cluster(1, 2, axis(0, tilt=0.3))]
    m = match_topics(clusters, {(0, 0): 5, (1, 0): 2}, registry, "2026-06-01", "2026-05-31",
                     CONFIG)
    assert m.assigned == {0: 0, 1: 2}  # a new id after the largest ever given, not 1 again
    assert relations(m) == {(0, 0, "split", 5), (1, 0, "split", 2)}
    assert m.stats["splits"] == 1 and m.stats["births"] == 1 and m.stats["deaths"] == 1
    assert m.stats["stability"] == round(5 / 7, 6)
    assert {t["topic_id"] for t in m.topics} == {0, 1, 2}  # topic 1 stays in the registry


def test_merge_keeps_the_larger_topic_and_records_both():
    registry = [topic(3, "2026-05-31", axis(0)), topic(5, "2026-05-31", axis(0, tilt=0.2))]
    m = match_topics([cluster(0, 7, axis(0))], {(0, 3): 2, (0, 5): 4}, registry, "2026-06-01",
                     "2026-05-31", CONFIG)
    assert m.assigned == {0: 5}
    assert relations(m) == {(0, 3, "merge", 2), (0, 5, "merge", 4)}
    assert m.stats["merges"] == 1 and m.stats["deaths"] == 1 and m.stats["births"] == 0


def test_equal_overlaps_go_to_the_closer_centroid():
    registry = [topic(1, "2026-05-31", axis(1)), topic(2, "2026-05-31", axis(0))]
    m = match_topics([cluster(0, 4, axis(0))], {(0, 1): 2, (0, 2): 2}, registry, "2026-06-01",
                     "2026-05-31", CONFIG)
    assert m.assigned == {0: 2}


def test_cluster_of_new_documents_continues_a_topic_by_centroid_or_starts_one():
    registry = [topic(0, "2026-05-31", axis(0)), topic(1, "2026-05-31", axis(1))]
    clusters = [cluster(0, 3, axis(0, tilt=0.1), new=3), cluster(1, 3, axis(2), new=3)]
    m = match_topics(clusters, {}, registry, "2026-06-01", "2026-05-31", CONFIG)
    assert m.assigned == {0: 0, 1: 2}
    assert relations(m) == {(0, 0, "same", 0), (1, None, "new", 0)}
    assert next(r for r in m.lineage if r["cluster_id"] == 0)["similarity"] == pytest.approx(
        float(axis(0) @ axis(0, tilt=0.1)), abs=1e-6)


def test_centroid_match_needs_shared_keywords():
    registry = [topic(0, "2026-05-31", axis(0))]  # keywords ["词"]
    close = [cluster(0, 3, axis(0), new=3)]
    two = dataclasses.replace(CONFIG, centroid_keywords=2)
    assert match_topics(close, {}, registry, "2026-06-01", "2026-05-31", CONFIG).assigned == {0: 0}
    assert match_topics(close, {}, registry, "2026-06-01", "2026-05-31", two).assigned == {0: 1}


def test_a_topic_unseen_for_days_returns_by_centroid_but_not_after_return_days():
    registry = [topic(0, "2026-05-31", axis(0)), topic(7, "2026-05-20", axis(3))]
    clusters = [cluster(0, 4, axis(0)), cluster(1, 2, axis(3, tilt=0.05), new=2)]
    m = match_topics(clusters, {(0, 0): 4}, registry, "2026-06-01", "2026-05-31", CONFIG)
    assert m.assigned == {0: 0, 1: 7}
    assert (1, 7, "return", 0) in relations(m) and m.stats["returns"] == 1
    assert next(t for t in m.topics if t["topic_id"] == 7)["first_run_date"] == "2026-05-01"
    dormant = match_topics(clusters, {(0, 0): 4}, registry, "2026-06-30", "2026-05-31", CONFIG)
    assert dormant.assigned == {0: 0, 1: 8}  # 41 days > return_days: a new topic


def test_a_split_piece_is_not_matched_by_centroid():
    """A cluster sharing documents only with a topic that continues elsewhere is a new topic,
    even when its centroid is close to another unclaimed topic."""
    registry = [topic(0, "2026-05-31", axis(0)), topic(1, "2026-05-31", axis(1))]
    m = match_topics([cluster(0, 5, axis(0)), cluster(1, 2, axis(1))], {(0, 0): 5, (1, 0): 1},
                     registry, "2026-06-01", "2026-05-31", CONFIG)
    assert m.assigned == {0: 0, 1: 2}


def test_matching_is_idempotent_and_independent_of_input_order():
    registry = [topic(t, "2026-05-31", axis(t % 4, tilt=t / 10)) for t in range(6)]
    clusters = [cluster(c, 5 - c, axis(c % 4, tilt=c / 9), new=1) for c in range(5)]
    overlaps = {(0, 1): 3, (0, 2): 3, (1, 2): 2, (2, 4): 1, (3, 4): 1}
    a = match_topics(clusters, overlaps, registry, "2026-06-01", "2026-05-31", CONFIG)
    b = match_topics(clusters[::-1], dict(reversed(list(overlaps.items()))), registry[::-1],
                     "2026-06-01", "2026-05-31", CONFIG)
    assert a.assigned == b.assigned and a.lineage == b.lineage and a.topics == b.topics


def test_rows_match_their_schemas():
    registry = [topic(0, "2026-05-31", axis(0))]
    m = match_topics([cluster(0, 4, axis(0)), cluster(1, 1, None)], {(0, 0): 2}, registry,
                     "2026-06-01", "2026-05-31", CONFIG)
    validate_rows(TOPICS, m.topics)
    validate_rows(TOPIC_DAYS, m.topic_days)
    validate_rows(LINEAGE, m.lineage)


def _prev(doc_id, text, vec, topic_id=0, first="2026-05-30", dup=None):
    return PreviousDoc(doc_id, text_hash(text), topic_id, first, np.asarray(vec, np.float32), text,
                       *(dup or (None, None, None)))


def _today(doc_id, text, vec):
    return fingerprint({"doc_id": doc_id, "text": text, "cluster_id": 0, "embedding": vec}, 0)


def test_containment_of_character_bigrams():
    assert containment("北京降温", "北京今天降温") == pytest.approx(2 / 3)
    assert containment("北京降温", "北京降温，全市大风蓝色预警继续生效") == 0.0  # an excerpt


def test_duplicates_of_earlier_runs_exact_near_and_through_earlier_links():
    story = "今天北京市气温骤降，最高气温只有五度，气象台发布寒潮蓝色预警，提醒市民注意保暖。"
    index = PreviousIndex.build([
        _prev("a", "北京降温", axis(0)),
        _prev("b", story, axis(1), dup=("z", "2026-05-01", 0.97)),
        _prev("c", "上海今天下雨，最高气温二十度，气象台提醒市民出门带伞注意安全。", axis(1)),
    ])
    edited = story.replace("今天", "")  # a lightly edited copy
    today = [_today("x", "北京降温", axis(2)),  # same text, whatever the vector
             _today("y", edited, axis(1, tilt=0.1)),
             _today("w", "上海今天下雨，最高气温二十度，气象台提醒市民出门注意安全。", axis(3)),
             _today("v", "广州今天高温，最高气温三十五度，气象台提醒市民注意防暑降温。", axis(1))]
    links = dict(find_duplicates(today, index, CONFIG))
    assert set(links) == {"x", "y"}  # w: near in text but far in meaning; v: near in meaning only
    assert (links["x"].doc_id, links["x"].run_date, links["x"].similarity) == ("a", "2026-05-30", 1.0)
    assert (links["y"].doc_id, links["y"].run_date) == ("z", "2026-05-01")  # b's own root
    assert links["y"].similarity == pytest.approx(min(0.97, containment(edited, story)))
    assert links["x"].exact and not links["y"].exact


# ------------------------------------------------------------------------------------------------
# The transform on tiny tables


def doc_row(doc_id, text, cluster_id, vec):
    return {"doc_id": doc_id, "text": text, "cluster_id": cluster_id,
            "embedding": [float(x) for x in vec] + [0.5, 0.5]}  # + 2 lexical dims


def cluster_row(cid, size, title):
    return {"cluster_id": cid, "size": size, "title": title, "keywords": ["词"],
            "representative_doc_id": "-", "flow": 0.5}


def run_track(directory, documents, clusters, previous, run_date, previous_run_date):
    """Runs TrackTopics; its outputs come back through JSON-lines files under `directory`."""
    with TestPipeline() as p:
        inputs = {"documents": p | "Docs" >> beam.Create(documents),
                  "clusters": p | "Clusters" >> beam.Create(clusters)}
        if previous is not None:
            inputs["previous_documents"] = p | "PrevDocs" >> beam.Create(previous[0])
            inputs["previous_topics"] = p | "PrevTopics" >> beam.Create(previous[1])
        result = inputs | TrackTopics(run_date, CONFIG, lexical_dims=2,
                                      previous_run_date=previous_run_date)
        for name, pcoll in result.items():
            _ = (pcoll | f"Json_{name}" >> beam.Map(json.dumps, ensure_ascii=False)
                 | f"Write_{name}" >> beam.io.WriteToText(str(directory / name)))
    return {name: [json.loads(line) for f in sorted(directory.glob(f"{name}-*"))
                   for line in f.read_text(encoding="utf-8").splitlines()]
            for name in ("documents", "topics", "topic_days", "lineage", "stats")}


DAY1_DOCS = [doc_row("n1", "北京降温", 0, axis(0)), doc_row("n2", "北京下雪", 0, axis(0, tilt=0.1)),
             doc_row("n3", "上海下雨", 1, axis(1))]
DAY1_CLUSTERS = [cluster_row(0, 2, "北京降温"), cluster_row(1, 1, "上海下雨")]


def as_previous(out):
    docs = [(r["doc_id"], PreviousDoc(
        r["doc_id"], text_hash(r["text"]), r["topic_id"], r["first_run_date"],
        semantic_part(r["embedding"], 2), r["text"], r["previous_duplicate_of"],
        r["previous_duplicate_run_date"], r["previous_duplicate_similarity"]))
        for r in out["documents"]]
    return docs, out["topics"]


def test_track_topics_two_days_and_an_idempotent_rerun(tmp_path):
    day1 = run_track(tmp_path / "day1", DAY1_DOCS, DAY1_CLUSTERS, None, "2026-06-01", None)
    ids1 = {r["doc_id"]: r["topic_id"] for r in day1["documents"]}
    assert ids1 == {"n1": 0, "n2": 0, "n3": 1}
    previous = as_previous(day1)
    # Day 2: cluster ids swap, n2's text changed (a new document), a new story repeats n3's text,
    # another is a new topic.
    day2_docs = [doc_row("n1", "北京降温", 1, axis(0)), doc_row("n2", "北京又下雪", 1, axis(0, tilt=0.5)),
                 doc_row("n3", "上海下雨", 0, axis(1)), doc_row("m1", "上海下雨", 0, axis(1)),
                 doc_row("m2", "广州高温", 2, axis(2))]
    day2_clusters = [cluster_row(0, 2, "上海下雨"), cluster_row(1, 2, "北京降温"),
                     cluster_row(2, 1, "广州高温")]
    runs = [run_track(tmp_path / f"day2_{i}", day2_docs, day2_clusters, previous, "2026-06-02",
                      "2026-06-01") for i in range(2)]
    day2 = runs[0]
    rows = {r["doc_id"]: r for r in day2["documents"]}
    assert {d: r["topic_id"] for d, r in rows.items()} == {"n1": 0, "n2": 0, "n3": 1, "m1": 1,
                                                           "m2": 2}
    assert rows["n1"]["first_run_date"] == "2026-06-01"
    assert rows["n2"]["first_run_date"] == "2026-06-02"  # same id, other text: a new document
    assert (rows["m1"]["previous_duplicate_of"], rows["m1"]["previous_duplicate_run_date"],
            rows["m1"]["previous_duplicate_similarity"]) == ("n3", "2026-06-01", 1.0)
    assert rows["n3"]["previous_duplicate_of"] is None
    stats = dict(day2["stats"])["topics"]
    assert stats["stability"] == 1.0 and stats["documents_seen_again"] == 2
    assert stats["births"] == 1 and stats["previous_duplicates_exact"] == 1
    assert {(r["topic_id"], r["run_date"], r["size"], r["new_documents"])
            for r in day2["topic_days"]} == {(1, "2026-06-02", 2, 1), (0, "2026-06-02", 2, 1),
                                              (2, "2026-06-02", 1, 1)}
    validate_rows(TOPICS, day2["topics"])
    validate_rows(LINEAGE, day2["lineage"])
    again = runs[1]
    for table in ("documents", "topics", "topic_days", "lineage"):
        key = lambda r: str(sorted(r.items()))  # noqa: E731
        assert sorted(map(key, again[table])) == sorted(map(key, day2[table])), table


def test_track_topics_with_empty_previous_run_counts_everything_new(tmp_path):
    out = run_track(tmp_path, DAY1_DOCS, DAY1_CLUSTERS, ([], []), "2026-06-01", "2026-05-31")
    assert sorted(r["topic_id"] for r in out["documents"]) == [0, 0, 1]
    assert dict(out["stats"])["topics"]["births"] == 2


def test_settings_the_matching_cannot_use_are_refused():
    from wenmai.config import UsageError
    from wenmai.pipelines.topics import check_topic_config

    check_topic_config(TopicConfig())
    for bad in ({"carry_damp": 1.5}, {"near_duplicate": 0.0}, {"return_days": -1},
                {"centroid_match": 2.0}):
        with pytest.raises(UsageError):
            check_topic_config(dataclasses.replace(TopicConfig(), **bad))
