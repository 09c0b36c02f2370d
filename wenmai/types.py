"""The records that flow between stages.

`Record` is what a reader yields (raw text or a read error); `Doc` is the one document type every
later stage passes along (after datatrove's `Document`); `DeadLetter` is a rejected record with its
reason. All are frozen and picklable, so any Beam runner can move them between workers.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Optional

RAW_LIMIT = 500  # characters of a rejected record kept in dead_letter.raw


@dataclass(frozen=True)
class Record:
    """One record as read: its text, or `error` saying why it has none."""

    source: str
    position: int
    text: Optional[str] = None
    doc_id: Optional[str] = None  # given by the input (id field), else derived in CleanText
    error: Optional[str] = None  # reason code when the record could not be read
    raw: Optional[str] = None  # what was read, for the dead-letter table


@dataclass(frozen=True)
class Doc:
    doc_id: str
    source: str
    position: int
    text: str
    truncated: bool = False
    duplicate_of: Optional[str] = None
    tokens: tuple[str, ...] = ()  # jieba words; ''.join(tokens) == text
    metadata: dict = field(default_factory=dict, hash=False, compare=False)

    def with_(self, **changes) -> "Doc":
        return replace(self, **changes)


@dataclass(frozen=True)
class DeadLetter:
    source: str
    position: int
    stage: str
    reason: str
    raw: Optional[str] = None

    def as_row(self) -> dict:
        raw = self.raw if self.raw is None else self.raw[:RAW_LIMIT]
        return {"source": self.source, "position": self.position, "stage": self.stage,
                "reason": self.reason, "raw": raw}


def derive_doc_id(source: str, position: int) -> str:
    """Stable id from where the record was found: the source path as matched and the record index.

    Example: derive_doc_id("data/news.txt", 3) == "data/news.txt:3"
    """
    return f"{source}:{position}"
