"""Text in: reading records from files, normalising text, cutting it into words.

Shared by the pipeline's steps (`wenmai.pipelines.read`, `.clean`, `.segment`) and by the
models' training and evaluation code, which read the same files and must see the same text the
pipeline sees; neither side imports the other. Pure functions, no Beam transforms.

Formats, chosen by suffix after an optional `.gz` (decompressed transparently by Beam):
- `.txt`: every `\\n`-separated line is one record (a trailing `\\r` is dropped);
- `.jsonl`: every line is one JSON object with a text field (and optionally an id field);
- `.parquet`: every row, read in batches of a few columns.
Files are streamed record by record, so no file is ever held in memory whole.
"""
from __future__ import annotations

import bisect
import functools
import itertools
import json
import logging
import re
import unicodedata
from typing import Iterator, Optional, Union

from apache_beam.io.filesystem import CompressionTypes

from wenmai.config import ReadConfig
from wenmai.types import RAW_LIMIT, DeadLetter, Record

_WHITESPACE = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """NFKC, control and format characters removed, runs of whitespace collapsed to one space.

    Example: normalize_text("ＡＩ芯片\\t出货\\x00量 １２３ 万片\\u200b ") == "AI芯片 出货量 123 万片"
    """
    text = unicodedata.normalize("NFKC", text)
    # Cc (control) and Cf (format: zero-width spaces, BOMs, bidi marks) carry no content; a tab or
    # newline becomes a space first so words on either side stay apart.
    text = "".join(
        " " if ch.isspace() else ch
        for ch in text
        if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cf")
    )
    return _WHITESPACE.sub(" ", text).strip()



def load_jieba():
    """jieba with its dictionary loaded and its start-up chatter silenced."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


@functools.lru_cache(maxsize=1)
def dictionary_tags():
    """jieba's dictionary word -> part-of-speech tag (nr person, ns place, nt organisation, r
    pronoun, t time word, ...); words the dictionary lacks have none. Read once per process
    (the keywords ask for it once per document)."""
    load_jieba()
    import jieba.posseg

    return jieba.posseg.dt.word_tag_tab


def segment(jieba, text: str) -> tuple[str, ...]:
    """jieba's precise mode; the tokens concatenate back to the text.

    Example: segment(jieba, "华为公司总部位于深圳") == ("华为公司", "总部", "位于", "深圳")
    """
    return tuple(jieba.lcut(text))


class TokenOffsets:
    """A document's tokens with where each ends, for many span lookups: `covering` finds the
    first token by bisection, where `covering_tokens` walks from the document's start each time
    (quadratic over a long document's sentences)."""

    def __init__(self, tokens):
        self.tokens = tuple(tokens)
        self.ends = list(itertools.accumulate(len(t) for t in self.tokens))

    def covering(self, start: int, end: int) -> list[tuple[str, int, int]]:
        """What `covering_tokens(tokens, start, end)` yields."""
        out = []
        for i in range(bisect.bisect_right(self.ends, start), len(self.tokens)):
            hi = self.ends[i]
            lo = hi - len(self.tokens[i])
            if lo >= end:
                break
            out.append((self.tokens[i], lo, hi))
        return out


def covering_tokens(tokens, start: int, end: int):
    """(token, its start, its end) of every token that overlaps text[start:end], in order, for
    tokens that concatenate to the text.

    Example: list(covering_tokens(("华为", "公司", "总部"), 1, 5)) ==
             [("华为", 0, 2), ("公司", 2, 4), ("总部", 4, 6)]
    """
    pos = 0
    for token in tokens:
        lo, hi = pos, pos + len(token)
        pos = hi
        if hi <= start:
            continue
        if lo >= end:
            break
        yield token, lo, hi



STAGE = "read"
DEAD_LETTER = "dead_letter"
FORMATS = (".txt", ".jsonl", ".parquet")

Parsed = Union[Record, DeadLetter]


def file_format(path: str) -> Optional[str]:
    """The format suffix of `path`, ignoring `.gz`.

    Example: file_format("news/2026-11-28.jsonl.gz") == ".jsonl"; file_format("a.csv") is None
    """
    name = path.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    for suffix in FORMATS:
        if name.endswith(suffix):
            return suffix
    return None


def _raw(data: bytes) -> str:
    return data[: RAW_LIMIT * 4].decode("utf-8", errors="replace")[:RAW_LIMIT]


def _decode(source: str, position: int, line: bytes) -> Union[str, DeadLetter]:
    if b"\x00" in line:  # NUL never occurs in text: this is binary data (or a binary file)
        return DeadLetter(source, position, STAGE, "binary: NUL byte", _raw(line.replace(b"\x00", b"")))
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as e:
        return DeadLetter(source, position, STAGE, f"invalid_utf8: byte {e.start}", _raw(line))
    if position == 1:
        text = text.removeprefix("\ufeff")  # a UTF-8 byte-order mark is not text
    return text


def _lines(stream) -> Iterator[tuple[int, bytes]]:
    # readline, not iteration: Beam's decompressing file objects are not iterable.
    # 1-based: position is the line number an editor shows, in doc ids and the tables alike
    for position, line in enumerate(iter(stream.readline, b""), start=1):
        yield position, line.removesuffix(b"\n").removesuffix(b"\r")


def parse_txt(source: str, stream) -> Iterator[Parsed]:
    for position, line in _lines(stream):
        text = _decode(source, position, line)
        yield text if isinstance(text, DeadLetter) else Record(source, position, text)


def text_from_object(obj, config: ReadConfig) -> tuple[Optional[str], Optional[str], Optional[str]]:
    """(text, doc_id, error) for one JSON object or Parquet row.

    Example: text_from_object({"text": "你好", "id": 7}, ReadConfig(id_field="id")) == ("你好", "7", None)
    """
    if not isinstance(obj, dict):
        return None, None, "not_an_object"
    if config.text_field not in obj:
        return None, None, f"missing_field: {config.text_field}"
    text = obj[config.text_field]
    if text is None:
        return None, None, f"null_field: {config.text_field}"
    if not isinstance(text, str):
        return None, None, f"non_string_field: {config.text_field} is {type(text).__name__}"
    doc_id = None
    if config.id_field is not None and obj.get(config.id_field) is not None:
        doc_id = str(obj[config.id_field])
    return text, doc_id, None


def parse_jsonl(source: str, stream, config: ReadConfig) -> Iterator[Parsed]:
    for position, line in _lines(stream):
        text = _decode(source, position, line)
        if isinstance(text, DeadLetter):
            yield text
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            yield DeadLetter(source, position, STAGE, f"bad_json: {e.msg}", text[:RAW_LIMIT])
            continue
        value, doc_id, error = text_from_object(obj, config)
        if error:
            yield DeadLetter(source, position, STAGE, error, text[:RAW_LIMIT])
        else:
            yield Record(source, position, value, doc_id=doc_id)


def parse_parquet(source: str, stream, config: ReadConfig) -> Iterator[Parsed]:
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(stream)
    names = set(parquet.schema_arrow.names)
    if config.text_field not in names:
        # Every row is a record all the same: each one goes to the dead-letter table.
        for position in range(1, parquet.metadata.num_rows + 1):
            yield DeadLetter(source, position, STAGE, f"missing_column: {config.text_field}", None)
        return
    columns = [config.text_field] + ([config.id_field] if config.id_field in names else [])
    position = 1  # 1-based rows, as lines are
    for batch in parquet.iter_batches(batch_size=4096, columns=columns):
        for row in batch.to_pylist():
            value, doc_id, error = text_from_object(row, config)
            if error:
                yield DeadLetter(source, position, STAGE, error, json.dumps(row, ensure_ascii=False,
                                                                            default=str)[:RAW_LIMIT])
            else:
                yield Record(source, position, value, doc_id=doc_id)
            position += 1


def parse_stream(source: str, fmt: str, stream, config: ReadConfig) -> Iterator[Parsed]:
    if fmt == ".txt":
        return parse_txt(source, stream)
    if fmt == ".jsonl":
        return parse_jsonl(source, stream, config)
    return parse_parquet(source, stream, config)


def iter_texts(patterns: list[str], config: ReadConfig = ReadConfig()) -> Iterator[str]:
    """The text of every readable record in the files `patterns` match, outside Beam (for
    training on a corpus the pipeline could read); unreadable records are skipped here, where
    the pipeline would dead-letter them."""
    from apache_beam.io.filesystems import FileSystems

    for path in expand_inputs(patterns):
        fmt = file_format(path)
        if fmt is None:
            continue
        with FileSystems.open(path, compression_type=CompressionTypes.AUTO) as stream:
            for item in parse_stream(path, fmt, stream, config):
                if isinstance(item, Record):
                    yield item.text


def expand_inputs(patterns: list[str]) -> list[str]:
    """Sorted, de-duplicated file paths for the given paths or globs.

    Raises ValueError naming the first pattern that matches no file, or a matched file whose
    format is not supported.
    """
    from apache_beam.io.filesystems import FileSystems

    paths: set[str] = set()
    for pattern, result in zip(patterns, FileSystems.match(list(patterns))):
        matched = [m.path for m in result.metadata_list]
        if not matched:
            raise ValueError(f"input {pattern!r} matches no file")
        for path in matched:
            if file_format(path) is None:
                raise ValueError(f"input {path!r}: unsupported format; expected "
                                 f"{', '.join(FORMATS)} (optionally .gz)")
            paths.add(path)
    return sorted(paths)
