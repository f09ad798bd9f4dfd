"""What every reader shares: a record read from a file, where it came from,
and the shape of a crawler schema."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from streams.gate import Rejection
from streams.models import Post


@dataclass(frozen=True)
class Record:
    """One record of a file: its number (1-based row, line or element), its
    original bytes (what a dead letter keeps) and what the gate made of it."""

    position: int
    original: bytes
    result: Post | Rejection


@dataclass(frozen=True)
class Origin:
    """Where records come from: crawlers put the platform, the keyword or the
    user in the path, and weibo-crawler the user in the enclosing document."""

    path: PurePath
    source: str | None = None  # overrides the schema's source (the post key is source:id)
    document: Mapping[str, Any] = field(default_factory=dict)
    lang: str = "zh"


# A schema maps one record (a CSV row as a dict, a JSON object) to the post
# mapping the input gate reads; it raises RecordError for a record it cannot map.
ToPost = Callable[[Mapping[str, Any], Origin], dict[str, Any]]


@dataclass(frozen=True)
class Schema:
    name: str
    summary: str
    to_post: ToPost
    # Does a file with these field names (CSV header, keys of the first record) at this path use the schema?
    recognises: Callable[[Collection[str], PurePath], bool]
    # The key of the record list when a JSON file is one object (weibo-crawler: {"user", "weibo": [...]}).
    records_key: str | None = None
    # Rows may have more cells than the header (weibo-crawler writes retweet columns only for reposts).
    ragged_rows: bool = False


def first(record: Mapping[str, Any], *names: str) -> Any:
    """The first of ``names`` present with a value (crawler versions rename fields)."""
    for name in names:
        value = record.get(name)
        if value is not None and value != "":
            return value
    return None
