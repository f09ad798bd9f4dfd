"""Readers for the files crawlers write, on the ground floor so that
``koubei replay``, ``koubei backtest``, the ``files`` connector and HTTP
ingest all read them with the same code and the same input gate.

Formats (``--format``; told apart per file when omitted):

* ``mediacrawler``, ``weibo-search``, ``weibo-crawler``: the crawlers' own
  schemas (one module each), in every file kind they write;
* ``jsonl``, ``json``, ``csv``: posts in the project's own shape, or any
  records with a field mapping (``streams.readers.mapping``).

``FileReader`` (``streams.readers.files``) reads a file whole or as it
grows; every record comes back as a post or a reason, never an exception.
"""

from __future__ import annotations

from streams.gate import Gate
from streams.readers import mediacrawler, weibo_crawler, weibo_search
from streams.readers.base import Origin, Record, Schema
from streams.readers.files import CSV, JSON, JSONL, Cursor, FileReader, ReaderError, files_in, read_all
from streams.readers.mapping import FieldMapping, MappingError

# The crawler schemas, in the order auto-detection tries them.
SCHEMAS: dict[str, Schema] = {s.name: s for s in (weibo_search.SCHEMA, weibo_crawler.SCHEMA, mediacrawler.SCHEMA)}
GENERIC = (JSONL, JSON, CSV)
FORMATS = (*SCHEMAS, *GENERIC)


def file_reader(fmt: str | None, gate: Gate, *, mapping: FieldMapping | None = None, source: str | None = None,
                lang: str = "zh", delimiter: str | None = None, encoding: str | None = None) -> FileReader:
    """A reader of ``fmt`` (one of ``FORMATS``; None tells each file's format apart)."""
    if fmt is not None and fmt not in FORMATS:
        raise ReaderError(f"unknown format {fmt!r} (formats: {', '.join(FORMATS)})")
    return FileReader(SCHEMAS, fmt, gate, mapping=mapping, source=source, lang=lang, delimiter=delimiter,
                      encoding=encoding)


__all__ = ["CSV", "FORMATS", "GENERIC", "JSON", "JSONL", "SCHEMAS", "Cursor", "FieldMapping", "FileReader",
           "MappingError", "Origin", "ReaderError", "Record", "Schema", "file_reader", "files_in", "read_all"]
