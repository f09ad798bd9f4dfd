"""Reading crawler files, whole or as they grow.

One code path serves ``koubei replay``, ``koubei backtest`` and the
``files`` connector: ``FileReader.read(path, cursor)`` returns the records
after the cursor and the cursor after them. A cursor is plain data (it is
the ``files`` connector's checkpoint) and knows, per file:

* CSV and JSONL (crawlers append rows): the bytes consumed, so a restart or
  the next poll continues with the next row. Only complete rows are read
  while a file grows (``final=False``): a line without its newline, or a
  CSV row whose quotes are still open, waits for the next read;
* JSON (MediaCrawler rewrites the whole array on every save, weibo-crawler
  its ``{user, weibo}`` object): the number of records consumed and a
  digest of the first, so a file rewritten with more records yields only
  the new ones, and a file replaced by a different one starts over. A JSON
  file caught half-written (the array not closed yet) waits too;
* the encoding, decided once from the file's first bytes (BOM, UTF-8, else
  GB18030: ``streams.readers.text``), and the inode, so a file replaced
  under the same name is read from its start.

Every record goes through the input gate and comes back as a ``Record``:
a post, or a rejection with its reason and the original bytes. Nothing in
a file's content raises; only a file that cannot be read at all
(``ReaderError``: missing, a directory, UTF-16, a format that cannot be
told) stops the read, with a message that says what to do.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePath
from typing import Any

from streams.gate import Gate, Rejection, internal_error
from streams.models import Post, RecordError
from streams.readers.base import Origin, Record, Schema
from streams.readers.mapping import REQUIRED, TARGETS, FieldMapping
from streams.readers.split import BOM, JSON, JSONL, json_container, split_array, value_end
from streams.readers.text import SAMPLE_BYTES, UTF8, UTF8_SIG, decode, detect_encoding

CSV = "csv"
SUFFIXES = {".csv": CSV, ".tsv": CSV, ".jsonl": JSONL, ".ndjson": JSONL, ".jsonlines": JSONL, ".json": JSON}
# Rows read per call while following a growing file: bounds memory, not progress.
CHUNK_BYTES = 8 << 20


class ReaderError(ValueError):
    """A file that cannot be read at all; the message says what to do."""


@dataclass
class Cursor:
    """How far a file has been read (JSON-serialisable through ``to_state``)."""

    format: str = ""
    container: str = ""
    encoding: str = ""
    offset: int = 0  # CSV/JSONL: bytes consumed
    position: int = 0  # records consumed (JSON: the next element's index)
    header: tuple[str, ...] = ()
    inode: int = 0
    fingerprint: str = ""  # JSON: digest of the first record
    size: int = 0  # the file's size when last read (progress metrics)
    mtime_ns: int = 0  # JSON: an unchanged file is not read again

    def to_state(self) -> dict[str, Any]:
        return {"format": self.format, "container": self.container, "encoding": self.encoding,
                "offset": self.offset, "position": self.position, "header": list(self.header),
                "inode": self.inode, "fingerprint": self.fingerprint, "size": self.size, "mtime_ns": self.mtime_ns}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Cursor:
        return cls(format=str(state.get("format", "")), container=str(state.get("container", "")),
                   encoding=str(state.get("encoding", "")), offset=int(state.get("offset", 0)),
                   position=int(state.get("position", 0)), header=tuple(state.get("header", ())),
                   inode=int(state.get("inode", 0)), fingerprint=str(state.get("fingerprint", "")),
                   size=int(state.get("size", 0)), mtime_ns=int(state.get("mtime_ns", 0)))


def container_of(path: PurePath, sample: bytes) -> str:
    """CSV, JSONL or JSON: by suffix, else by the first bytes; a ``.json``
    file of one object a line is JSON lines (``json_container``)."""
    by_suffix = SUFFIXES.get(path.suffix.lower())
    if by_suffix in (CSV, JSONL):
        return by_suffix
    return json_container(sample) or by_suffix or CSV


def _loads(data: bytes | str) -> Any:
    """JSON, or RecordError with the gate's reasons."""
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RecordError("malformed_json", f"malformed JSON: {exc}") from None
    except RecursionError:
        raise RecordError("too_deep", "JSON nested too deeply to read") from None


def _json_bytes(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8", "backslashreplace")


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


@dataclass
class FileReader:
    """Reads files of one format (``None``: told apart per file) through one gate.

    ``mapping`` maps foreign fields of the generic formats (csv, jsonl,
    json); ``source`` overrides the post source a schema would give."""

    schemas: Mapping[str, Schema]
    format: str | None
    gate: Gate
    mapping: FieldMapping | None = None
    source: str | None = None
    lang: str = "zh"
    delimiter: str | None = None
    encoding: str | None = None  # None: told from each file's first bytes
    _mapped_header: dict[tuple[str, ...], FieldMapping] = field(default_factory=dict, repr=False)

    # ---- the entry point --------------------------------------------------

    def read(self, path: str | os.PathLike[str], cursor: Cursor | None = None, *, final: bool = True,
             max_bytes: int | None = None) -> tuple[list[Record], Cursor]:
        """The records after ``cursor`` (all of them without one) and the new cursor.

        ``final`` reads a file that is complete (replay, backtest): a last
        line without a newline is still a record. ``max_bytes`` bounds one
        call on CSV/JSONL; call again until the cursor stops moving."""
        file = Path(path)
        try:
            stat = file.stat()
        except FileNotFoundError:
            raise ReaderError(f"{file}: no such file") from None
        if file.is_dir():
            raise ReaderError(f"{file} is a directory, expected a file of posts")
        cursor = cursor or Cursor()
        if cursor.inode and (cursor.inode != stat.st_ino or stat.st_size < cursor.offset):
            cursor = Cursor()  # a different file under the same name: read it from its start
        if not cursor.container:
            started = self._start(file, stat.st_ino, final)
            if started is None:
                return [], Cursor()  # not even a first line yet: look again next time
            cursor = started
        if cursor.container == JSON:
            if cursor.fingerprint and (cursor.size, cursor.mtime_ns) == (stat.st_size, stat.st_mtime_ns):
                return [], cursor
            records, after = self._read_document(file, cursor, final)
            if after is cursor:
                # Not readable yet (caught mid-write): look again next time, and
                # tell the format again then if nothing was read from it so far.
                return records, cursor if cursor.fingerprint else Cursor()
            return records, replace(after, size=stat.st_size, mtime_ns=stat.st_mtime_ns)
        records, after = self._read_lines(file, replace(cursor, size=stat.st_size), final, max_bytes)
        return records, after

    def _start(self, file: Path, inode: int, final: bool) -> Cursor | None:
        """The cursor of a file read for the first time: container, encoding and
        format; None while a growing file has no complete first line to tell them."""
        with file.open("rb") as handle:
            sample = handle.read(SAMPLE_BYTES)
        container = container_of(file, sample)
        if not final and container != JSON and b"\n" not in sample and len(sample) < SAMPLE_BYTES:
            return None
        encoding = self.encoding or detect_encoding(sample)
        if encoding.replace("_", "-").lower() in ("utf-8", "utf8") and sample.startswith(BOM):
            encoding = UTF8_SIG
        if encoding == "utf-16":
            raise ReaderError(f"{file}: UTF-16 files are not read; save it as UTF-8 (or GBK) CSV or JSON")
        fmt = self.format or self._detect(file, container, sample, encoding)
        return Cursor(format=fmt, container=container, encoding=encoding, inode=inode)

    # ---- telling the format -------------------------------------------------

    def _detect(self, file: Path, container: str, sample: bytes, encoding: str) -> str:
        fields = _first_fields(container, decode(sample, encoding), self.delimiter)
        for name, schema in self.schemas.items():
            if schema.recognises(fields, file):
                return name
        if container == CSV:
            if self.mapping is not None or set(REQUIRED) <= set(fields):
                return CSV
            raise ReaderError(f"{file}: cannot tell the format (columns: {', '.join(fields) or 'none'}); "
                              f"pass --format ({', '.join(self.schemas)}, csv) and for csv a column "
                              "mapping: --map id=COL,text=COL,created_at=COL")
        return container  # JSON lines or a JSON array of posts (or mapped records)

    # ---- CSV and JSONL: appended rows --------------------------------------------

    def _read_lines(self, file: Path, cursor: Cursor, final: bool,
                    max_bytes: int | None) -> tuple[list[Record], Cursor]:
        with file.open("rb") as handle:
            handle.seek(cursor.offset)
            data = handle.read(max_bytes) if max_bytes else handle.read()
            while max_bytes and not final and b"\n" not in data and len(data) >= max_bytes:
                more = handle.read(max_bytes)  # one line longer than a chunk: read on to its end
                if not more:
                    break
                data += more
        at_eof = cursor.offset + len(data) >= cursor.size
        if not (final and at_eof):
            cut = data.rfind(b"\n")
            data = data[:cut + 1] if cut >= 0 else b""
        if cursor.offset == 0 and data.startswith(BOM):
            data_start = len(BOM)
        else:
            data_start = 0
        lines = data[data_start:].splitlines(keepends=True)
        header = cursor.header
        if cursor.container == CSV:
            records, used, header = self._csv_rows(file, cursor, lines, complete=final and at_eof)
        else:
            records, used = self._jsonl_rows(file, cursor, lines)
        consumed = data_start + sum(len(line) for line in lines[:used]) if used else 0
        return records, replace(cursor, offset=cursor.offset + consumed, position=cursor.position + len(records),
                                header=header)

    def _jsonl_rows(self, file: Path, cursor: Cursor, lines: list[bytes]) -> tuple[list[Record], int]:
        records: list[Record] = []
        position = cursor.position
        for line in lines:
            raw = line.rstrip(b"\r\n")
            if not raw.strip():
                continue
            position += 1
            if cursor.encoding not in (UTF8, UTF8_SIG):
                raw = decode(raw, cursor.encoding).encode("utf-8", "surrogatepass")
            records.append(Record(position, raw, self.admit_bytes(raw, cursor.format, file, {})))
        return records, len(lines)

    def _csv_rows(self, file: Path, cursor: Cursor, lines: list[bytes], *,
                  complete: bool) -> tuple[list[Record], int, tuple[str, ...]]:
        texts = [decode(line, cursor.encoding) for line in lines]
        delimiter = self.delimiter or ("\t" if file.suffix.lower() == ".tsv" else ",")
        reader = csv.reader(iter(texts), delimiter=delimiter)
        records: list[Record] = []
        used = 0
        position = cursor.position
        header = cursor.header
        schema = self.schemas.get(cursor.format)
        while True:
            start = reader.line_num
            try:
                cells = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:  # a NUL byte, a field over the csv module's limit
                cells = None
                problem = str(exc)
            else:
                problem = ""
            end = reader.line_num
            row_text = "".join(texts[start:end])
            if not complete and end == len(texts) and row_text.count('"') % 2:
                break  # a quoted field still open at the end of what is written: wait for the rest
            used = end
            if not header:
                if cells is None:
                    raise ReaderError(f"{file}: the header row cannot be read ({problem})")
                header = tuple(c.strip() for c in cells)
                continue
            if cells is not None and not any(c.strip() for c in cells):
                continue  # a blank line
            position += 1
            original = row_text.rstrip("\r\n").encode("utf-8", "surrogatepass")
            if cells is None:
                records.append(Record(position, original, Rejection("bad_row", f"row {position}: {problem}")))
                continue
            row = dict(zip(header, cells, strict=False))
            original = _json_bytes(row if len(cells) <= len(header) else {**row, "_extra": cells[len(header):]})
            if len(cells) > len(header) and not (schema is not None and schema.ragged_rows):
                # More cells than the header: usually an unquoted delimiter
                # inside the text, so every later column is shifted.
                records.append(Record(position, original, Rejection(
                    "bad_row", f"row {position}: {len(cells) - len(header)} more cells than the header")))
                continue
            records.append(Record(position, original, self.admit_record(row, cursor.format, file, {})))
        return records, used, header

    # ---- JSON documents: rewritten whole ----------------------------------------

    def _read_document(self, file: Path, cursor: Cursor, final: bool) -> tuple[list[Record], Cursor]:
        data = file.read_bytes()
        if cursor.encoding not in (UTF8, UTF8_SIG):
            data = decode(data, cursor.encoding).encode("utf-8", "surrogatepass")
        if data.startswith(BOM):
            data = data[len(BOM):]
        stripped = data.lstrip()
        elements: list[tuple[bytes, Any]] = []  # (original, decoded or None)
        document: dict[str, Any] = {}
        schema = self.schemas.get(cursor.format)
        if stripped.startswith(b"["):
            if not final and value_end(stripped, 0) is None:
                return [], cursor  # caught mid-rewrite: the array is not closed yet
            elements = [(part, None) for part in split_array(stripped)]
        elif stripped:
            try:
                whole = _loads(stripped)
            except RecordError as exc:
                if not final:
                    return [], cursor  # mid-rewrite, or broken: read again when it changes
                return [Record(1, stripped, Rejection(exc.reason, f"{file.name}: {exc.message}"))], replace(
                    cursor, position=1)
            key = schema.records_key if schema is not None else None
            if key and isinstance(whole, dict) and isinstance(whole.get(key), list):
                document = {k: v for k, v in whole.items() if k != key}
                elements = [(_json_bytes(item), item) for item in whole[key]]
            else:
                elements = [(stripped, whole)]
        fingerprint = _digest(elements[0][0]) if elements else ""
        start = cursor.position if fingerprint == cursor.fingerprint or not cursor.fingerprint else 0
        if len(elements) < start:
            start = 0  # fewer records than already read: a new file
        records = []
        for index in range(start, len(elements)):
            original, decoded = elements[index]
            if decoded is None:
                result = self.admit_bytes(original, cursor.format, file, document)
            else:
                result = self.admit_record(decoded, cursor.format, file, document)
            records.append(Record(index + 1, original, result))
        return records, replace(cursor, position=len(elements), fingerprint=fingerprint)

    # ---- one record through its schema and the gate ----------------------------------

    def admit_bytes(self, raw: bytes, fmt: str, file: PurePath, document: Mapping[str, Any]) -> Post | Rejection:
        """A JSON record as bytes: posts go to the gate as they are (the
        gate decodes them), anything mapped is decoded first."""
        if fmt not in self.schemas and self.mapping is None:
            return self.gate.admit(raw)
        try:
            decoded = _loads(raw)
        except RecordError as exc:
            return Rejection(exc.reason, exc.message)
        return self.admit_record(decoded, fmt, file, document)

    def admit_record(self, record: Any, fmt: str, file: PurePath, document: Mapping[str, Any]) -> Post | Rejection:
        try:
            if not isinstance(record, Mapping):
                return Rejection("not_an_object", f"record: expected an object, got {type(record).__name__}")
            schema = self.schemas.get(fmt)
            origin = Origin(file, self.source, document, self.lang)
            if schema is not None:
                mapped = schema.to_post(record, origin)
            elif self.mapping is not None:
                mapped = self.mapping.to_post(record, self.source or "file", self.lang)
            elif fmt == CSV:
                mapped = self._header_mapping(tuple(record)).to_post(record, self.source or "csv", self.lang)
            else:
                mapped = {"source": self.source, **record} if self.source and "source" not in record else record
            return self.gate.admit_mapping(mapped)
        except RecordError as exc:
            return Rejection(exc.reason, exc.message)
        except Exception as exc:  # noqa: BLE001 - one record's bug is that record's internal_error
            return internal_error(exc)

    def _header_mapping(self, header: tuple[str, ...]) -> FieldMapping:
        """A CSV whose columns are named like post fields maps itself."""
        mapping = self._mapped_header.get(header)
        if mapping is None:
            mapping = FieldMapping.parse({name: name for name in header if name in TARGETS})
            self._mapped_header[header] = mapping
        return mapping


def _first_fields(container: str, text: str, delimiter: str | None) -> list[str]:
    """Field names of a file's first record: the CSV header, or the keys of
    the first JSON object (of an array, a line, or weibo-crawler's document)."""
    if container == CSV:
        first_line = text.split("\n", 1)[0]
        try:
            row = next(csv.reader([first_line], delimiter=delimiter or ","), [])
        except csv.Error:
            return []
        return [cell.strip() for cell in row]
    stripped = text.lstrip()
    candidate: Any = None
    if container == JSONL:
        for line in stripped.split("\n"):
            if line.strip():
                candidate = _quiet_loads(line)
                break
    elif stripped.startswith("["):
        data = stripped.encode("utf-8", "surrogatepass")
        parts = split_array(data, limit=1)
        candidate = _quiet_loads(parts[0]) if parts else None
    else:
        candidate = _quiet_loads(stripped)
        if candidate is None:
            end = value_end(stripped.encode("utf-8", "surrogatepass"), 0)
            candidate = None if end is None else _quiet_loads(stripped.encode("utf-8", "surrogatepass")[:end])
    if isinstance(candidate, dict):
        keys = list(candidate)
        items = candidate.get("weibo")
        if isinstance(items, list) and items and isinstance(items[0], dict):
            keys += list(items[0])
        return keys
    return []


def _quiet_loads(data: str | bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return None


def files_in(path: str | os.PathLike[str]) -> list[Path]:
    """The file itself, or every file of a folder (recursively) with a suffix the readers know."""
    root = Path(path)
    if root.is_dir():
        found = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
        if not found:
            raise ReaderError(f"{root}: no .csv, .json or .jsonl files in this folder")
        return found
    return [root]


def read_all(reader: FileReader, path: str | os.PathLike[str]) -> Iterator[Record]:
    """Every record of a complete file, or of every file of a folder."""
    for file in files_in(path):
        records, _ = reader.read(file, final=True)
        yield from records
