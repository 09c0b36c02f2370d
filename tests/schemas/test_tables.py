import pyarrow as pa
import pytest

from wenmai.schemas import TABLES, validate_rows

EXPECTED = {  # the columns docs/design.md and the README promise, at least
    "documents": ["doc_id", "source", "text", "n_chars", "title", "embedding", "cluster_id"],
    "triples": ["doc_id", "subject", "predicate", "object", "subject_start", "subject_end",
                "object_start", "object_end", "score"],
    "edges": ["src", "dst", "similarity"],
    "clusters": ["cluster_id", "size", "representative_doc_id", "title", "keywords", "flow"],
    "dead_letter": ["source", "position", "stage", "reason", "raw"],
}


@pytest.mark.parametrize("table", sorted(EXPECTED))
def test_design_columns_present_and_documented(table):
    schema = TABLES[table]
    assert set(EXPECTED[table]) <= set(schema.names)
    assert all(f.metadata and f.metadata[b"description"] for f in schema)


def test_embedding_and_keyword_types():
    assert TABLES["documents"].field("embedding").type == pa.list_(pa.float32())
    assert TABLES["clusters"].field("keywords").type == pa.list_(pa.string())


def test_validate_rows_rejects_missing_and_extra_columns():
    row = {"src": "a", "dst": "b", "similarity": 0.5}
    assert validate_rows(TABLES["edges"], [row]).num_rows == 1
    with pytest.raises(ValueError, match="columns"):
        validate_rows(TABLES["edges"], [{"src": "a", "dst": "b"}])
    with pytest.raises(ValueError, match="columns"):
        validate_rows(TABLES["edges"], [{**row, "extra": 1}])
    with pytest.raises(ValueError, match="not nullable"):
        validate_rows(TABLES["edges"], [{"src": "a", "dst": None, "similarity": 0.5}])
