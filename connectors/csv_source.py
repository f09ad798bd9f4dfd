"""File connectors: a CSV file with a column mapping, or a JSONL file of posts.

Both read the file once, in file order, in batches of ``BATCH_ROWS`` rows;
the checkpoint is the number of data rows already confirmed by Kafka, so a
restart continues with the next row. The file must not be rewritten in
place between runs (appending is fine): the row count is the cursor.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import Any

from connectors.config import ConnectorSpec, CsvOptions, JsonlOptions
from connectors.runtime import Batch, Context, DeadItem, SourceError, json_bytes, map_item
from streams.models import Post, RecordError, parse_time

BATCH_ROWS = 500
TRUE_WORDS = frozenset({"1", "true", "yes", "y", "t", "是", "真", "v"})
FALSE_WORDS = frozenset({"", "0", "false", "no", "n", "f", "否", "假"})
COUNT_FIELDS = ("followers", "reposts", "comments", "likes")


def parse_offset(text: str) -> timezone | None:
    if not text:
        return None
    if text in ("Z", "UTC"):
        return timezone.utc
    sign = -1 if text[0] == "-" else 1
    hours, minutes = int(text[1:3]), int(text[4:6])
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def parse_cell_time(value: str, default_tz: timezone | None) -> datetime:
    """Epoch seconds (or milliseconds), or ISO-8601; naive times take
    ``default_tz`` when one is configured and are rejected otherwise."""
    text = value.strip()
    if not text:
        raise RecordError("missing_field", "created_at: empty cell")
    if text.replace(".", "", 1).isdigit():
        number = float(text)
        # 13 digits is an epoch in milliseconds (what Weibo exports and JS write).
        return parse_time(number / 1000 if number > 1e11 else number)
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        raise RecordError("bad_value", f"created_at: not an ISO-8601 time: {text[:40]!r}") from None
    if parsed.tzinfo is None:
        if default_tz is None:
            raise RecordError("naive_time", f"created_at: time has no timezone offset: {text[:40]!r} "
                                            "(set default_timezone)")
        parsed = parsed.replace(tzinfo=default_tz)
    return parsed


def _count(value: str, name: str) -> int:
    text = value.strip().replace(",", "")
    if not text:
        return 0
    if not text.isdigit():
        raise RecordError("wrong_type", f"{name}: expected a non-negative integer, got {value[:20]!r}")
    return int(text)


def row_to_post(row: Mapping[str, str | None], mapping: Mapping[str, str], *, source: str,
                default_tz: timezone | None, lang: str, row_no: int) -> Post:
    def cell(name: str) -> str:
        column = mapping.get(name)
        if column is None:
            return ""
        value = row.get(column)
        if value is None:
            raise RecordError("missing_field", f"{name}: column {column!r} is missing in this row")
        return value

    verified_text = cell("verified").strip().lower()
    if verified_text not in TRUE_WORDS | FALSE_WORDS:
        raise RecordError("wrong_type", f"verified: expected true/false, got {verified_text[:20]!r}")
    author_name = cell("author_name").strip()
    return Post.from_dict({
        "source": source,
        "id": cell("id").strip(),
        "text": cell("text"),
        "created_at": parse_cell_time(cell("created_at"), default_tz).isoformat(),
        "url": cell("url").strip(),
        "lang": cell("lang").strip() or lang,
        "author": {
            "id": cell("author_id").strip() or author_name or "unknown",
            "name": author_name,
            "followers": _count(cell("followers"), "followers"),
            "verified": verified_text in TRUE_WORDS,
        },
        **{name: _count(cell(name), name) for name in COUNT_FIELDS if name != "followers"},
        "raw": {"row": row_no},
    })


def check_header(fieldnames: Sequence[str] | None, mapping: Mapping[str, str], path: str) -> None:
    missing = sorted(set(mapping.values()) - set(fieldnames or []))
    if missing:
        raise SourceError(f"{path}: the header has no column {', '.join(repr(m) for m in missing)} "
                         f"(columns: {', '.join(fieldnames or [])})")


def read_csv(options: CsvOptions, source: str, start_row: int = 0) -> Iterator[tuple[int, Post | DeadItem]]:
    """(row number, post or dead item) for every data row after ``start_row``."""
    tz = parse_offset(options.default_timezone)
    row_no = 0
    try:
        with open(options.path, newline="", encoding=options.encoding, errors="strict") as fh:
            reader = csv.DictReader(fh, delimiter=options.delimiter)
            check_header(reader.fieldnames, options.mapping, options.path)
            for row_no, row in enumerate(reader, start=1):
                if row_no <= start_row:
                    continue
                clean = {k: v for k, v in row.items() if k is not None}
                extra = row.get(None)
                if extra:
                    # More cells than the header: usually an unquoted delimiter
                    # inside the text, so every later column is shifted.
                    yield row_no, DeadItem("bad_row", f"row {row_no}: {len(extra)} more cells than the header",
                                           json_bytes({**clean, "_extra": extra}))
                    continue
                yield row_no, map_item(partial(row_to_post, clean, options.mapping, source=source, default_tz=tz,
                                               lang=options.lang, row_no=row_no), json_bytes(clean))
    except UnicodeDecodeError:
        raise SourceError(f"{options.path}: not {options.encoding} after row {row_no} "
                          "(set the connector's encoding, e.g. gb18030)") from None


def read_jsonl(path: str, start_line: int = 0) -> Iterator[tuple[int, Post | DeadItem | None]]:
    with open(path, "rb") as fh:
        for line_no, line in enumerate(fh, start=1):
            if line_no <= start_line:
                continue
            raw = line.rstrip(b"\r\n")
            if not raw.strip():
                yield line_no, None  # blank line: moves the cursor, is not a record
                continue
            try:
                data: Any = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                yield line_no, DeadItem("malformed_json", f"line {line_no}: {exc}", raw)
                continue
            yield line_no, map_item(partial(Post.from_dict, data), raw)


async def _replay(ctx: Context, rows: Iterator[tuple[int, Post | DeadItem | None]]) -> None:
    posts: list[Post] = []
    dead: list[DeadItem] = []
    last_row = int(ctx.state.get("row", 0))
    for row_no, item in rows:
        last_row = row_no
        if isinstance(item, Post):
            posts.append(item)
        elif item is not None:
            dead.append(item)
        if len(posts) + len(dead) >= BATCH_ROWS:
            await ctx.emit(Batch(posts=posts, dead=dead, checkpoint={"row": last_row}))
            ctx.success()
            posts, dead = [], []
            if ctx.stop.is_set():
                return
    await ctx.emit(Batch(posts=posts, dead=dead, checkpoint={"row": last_row}))
    ctx.success()


class CsvConnector:
    def __init__(self, spec: ConnectorSpec) -> None:
        self.spec = spec
        self.options: CsvOptions = spec.options
        if not Path(self.options.path).is_file():
            raise FileNotFoundError(f"{spec.path}.path: no such file: {self.options.path}")

    async def run(self, ctx: Context) -> None:
        await _replay(ctx, read_csv(self.options, self.spec.source, int(ctx.state.get("row", 0))))


class JsonlConnector:
    def __init__(self, spec: ConnectorSpec) -> None:
        self.spec = spec
        self.options: JsonlOptions = spec.options
        if not Path(self.options.path).is_file():
            raise FileNotFoundError(f"{spec.path}.path: no such file: {self.options.path}")

    async def run(self, ctx: Context) -> None:
        await _replay(ctx, read_jsonl(self.options.path, int(ctx.state.get("row", 0))))
