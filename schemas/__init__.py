"""The pyarrow schema of every output table, defined once and imported everywhere.

`TABLES` maps a table name to its schema; writers always pass the schema explicitly (no
inference from the first record), so an empty table still has the right columns and types.
"""
from wenmai.schemas.tables import (CLUSTERS, DEAD_LETTER, DOCUMENTS, EDGES, STATS_DIR, TABLES,
                                   TRIPLES, validate_rows)
from wenmai.schemas.topics import LINEAGE, TOPIC_DAYS, TOPICS

__all__ = ["CLUSTERS", "DEAD_LETTER", "DOCUMENTS", "EDGES", "LINEAGE", "STATS_DIR", "TABLES",
           "TOPIC_DAYS", "TOPICS", "TRIPLES", "validate_rows"]
