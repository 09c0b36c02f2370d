"""The topic tables: the columns issue 17 promises, each documented."""
import pyarrow as pa
import pytest

from wenmai.schemas.topics import DOCUMENT_TOPIC_FIELDS, RELATIONS, TOPIC_TABLES

EXPECTED = {
    "topics": ["topic_id", "first_run_date", "last_run_date", "size", "title", "keywords",
               "centroid"],
    "topic_days": ["topic_id", "run_date", "size", "new_documents", "title", "keywords"],
    "lineage": ["run_date", "cluster_id", "topic_id", "previous_topic_id", "relation", "overlap"],
}


@pytest.mark.parametrize("table", sorted(EXPECTED))
def test_promised_columns_present_and_documented(table):
    schema = TOPIC_TABLES[table]
    assert set(EXPECTED[table]) <= set(schema.names)
    assert all(f.metadata and f.metadata[b"description"] for f in schema)


def test_documents_gain_a_topic_id_that_is_never_null():
    fields = {f.name: f for f in DOCUMENT_TOPIC_FIELDS}
    assert fields["topic_id"].type == pa.int64() and not fields["topic_id"].nullable
    assert fields["previous_duplicate_of"].nullable


def test_every_relation_is_described():
    description = TOPIC_TABLES["lineage"].field("relation").metadata[b"description"].decode()
    assert all(r in description for r in RELATIONS)
