"""The ``csv`` connector: one CSV file with a column mapping.

It reads the file once, in file order, in batches (``connectors.base.emit_rows``);
the checkpoint is the number of data rows already confirmed by Kafka, so a
restart continues with the next row. The file must not be rewritten in
place between runs (appending is fine): the row count is the cursor. To
follow a folder a crawler keeps writing into, use the ``files`` connector.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from connectors.base import Context, DeadItem, SourceError, emit_rows, json_bytes, map_item
from connectors.spec import ConnectorSpec, field_mapping, time_zone
from streams.gate import Gate
from streams.models import Post
from streams.readers.mapping import REQUIRED, TARGETS, FieldMapping
from streams.readers.text import file_encoding
from streams.settings import ConfigError, option

CSV_TARGETS = TARGETS
CSV_REQUIRED = REQUIRED


def _mapping(value: Any, where: str, context: Mapping[str, Any]) -> dict[str, str]:
    if value is None:
        raise ConfigError(where, f"required: which CSV column holds each of {', '.join(CSV_REQUIRED)}")
    return field_mapping(value, where, context)


def _delimiter(value: Any, where: str, context: Mapping[str, Any]) -> str:
    text = "," if value is None else value
    if not isinstance(text, str) or len(text) != 1:
        raise ConfigError(where, f"must be one character, got {text!r}")
    return text


def _encoding(value: Any, where: str, context: Mapping[str, Any]) -> str:
    name = "" if value is None else value
    if name == "":
        return ""
    if not isinstance(name, str):
        raise ConfigError(where, f"expected an encoding name like utf-8 or gb18030, got {name!r}")
    try:
        "".encode(name)
    except LookupError:
        raise ConfigError(where, f"unknown encoding {name!r}") from None
    return name


@dataclass(frozen=True, kw_only=True)
class CsvOptions:
    path: str = option(required=True, help="CSV file with a header row")
    mapping: Mapping[str, str] = option(parse=_mapping, shown_default="(required)",
                                        help="Post field -> CSV column; needs id, text, created_at; optional "
                                             + ", ".join(t for t in CSV_TARGETS if t not in CSV_REQUIRED))
    delimiter: str = option(",", parse=_delimiter, help="column separator")
    encoding: str = option("", parse=_encoding, shown_default="auto",
                           help="file encoding, e.g. gb18030; default: told from the file (BOM, UTF-8, else GB18030)")
    # "" = the input section's default_timezone.
    default_timezone: str = option("", parse=time_zone, shown_default="input.default_timezone",
                                   help="zone of times without an offset, e.g. +08:00 or Asia/Shanghai")
    lang: str = option("zh", help="Post.lang when not mapped")


def csv_gate(options: CsvOptions, gate: Gate) -> Gate:
    """The gate with the file's own zone for naive times, when the connector sets one."""
    if not options.default_timezone:
        return gate
    return Gate(replace(gate.rules, default_timezone=options.default_timezone), gate.clock)


def row_to_post(row: Mapping[str, str | None], mapping: Mapping[str, str], *, source: str,
                gate: Gate, lang: str, row_no: int) -> Post:
    """One CSV row as a post (the readers' field mapping); times, counts and
    verification labels are read by the gate in whatever form the crawler wrote them."""
    post = FieldMapping.parse(mapping).to_post(row, source, lang)
    return gate.post({**post, "raw": {"row": row_no}})


def check_header(fieldnames: Sequence[str] | None, mapping: Mapping[str, str], path: str) -> None:
    header = set(fieldnames or [])
    needed = {name for names in FieldMapping.parse(mapping).fields.values() for name in names}
    missing = sorted(name for name in needed if name not in header and name.split(".")[0] not in header)
    if missing:
        raise SourceError(f"{path}: the header has no column {', '.join(repr(m) for m in missing)} "
                         f"(columns: {', '.join(fieldnames or [])})")


def read_csv(options: CsvOptions, source: str, start_row: int = 0,
             gate: Gate | None = None) -> Iterator[tuple[int, Post | DeadItem]]:
    """(row number, post or dead item) for every data row after ``start_row``."""
    row_gate = csv_gate(options, gate or Gate())
    row_no = 0
    encoding = options.encoding or file_encoding(options.path)
    try:
        with open(options.path, newline="", encoding=encoding, errors="strict") as fh:
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
                yield row_no, map_item(partial(row_to_post, clean, options.mapping, source=source, gate=row_gate,
                                               lang=options.lang, row_no=row_no), json_bytes(clean))
    except UnicodeDecodeError:
        raise SourceError(f"{options.path}: not {encoding} after row {row_no} "
                          "(set the connector's encoding, e.g. gb18030)") from None


class CsvConnector:
    def __init__(self, spec: ConnectorSpec[CsvOptions], environ: Mapping[str, str]) -> None:
        self.spec = spec
        self.options = spec.options
        if not Path(self.options.path).is_file():
            raise FileNotFoundError(f"{spec.path}.path: no such file: {self.options.path}")

    async def run(self, ctx: Context) -> None:
        await emit_rows(ctx, read_csv(self.options, self.spec.source, int(ctx.state.get("row", 0)), ctx.gate))
