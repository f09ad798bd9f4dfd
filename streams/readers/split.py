"""Split a request body into its records without parsing them.

Ingest answers per record, so one record must never decide the fate of the
others. ``json.loads`` of a whole array fails for all of them when one
element is malformed or nested 100,000 deep; here the body is cut into the
bytes of each record by a scanner that only tracks strings and brackets
(iterative, no recursion, structure characters are ASCII so UTF-8 can be
scanned as bytes), and each record is then read on its own by the input
gate. Whatever the body, the result is a list of byte strings: a record
that is broken stays one record with its own reason.
"""

from __future__ import annotations

import re

# A complete JSON string, a bracket, a comma, or a quote that opens a string
# that never ends. Everything else (numbers, literals, whitespace) is skipped
# by the regex engine, so the loop runs per token, not per byte.
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{},]|"', re.DOTALL)
_OPEN = frozenset(b"[{")
_CLOSE = frozenset(b"]}")
_COMMA = ord(",")
_QUOTE = ord('"')
BOM = b"\xef\xbb\xbf"
JSONL, JSON = "jsonl", "json"


def strip_bom(body: bytes) -> bytes:
    return body[len(BOM):] if body.startswith(BOM) else body


def first_byte(body: bytes) -> int | None:
    """The first byte that is not JSON whitespace, or None for a blank body."""
    stripped = body.lstrip(b" \t\r\n")
    return stripped[0] if stripped else None


def split_array(body: bytes, limit: int | None = None) -> list[bytes]:
    """The elements of a JSON array, each as its own bytes (whitespace trimmed).

    ``body`` starts (after whitespace) with ``[``. An unclosed array ends at
    the end of the body; text after the closing bracket is one more record
    (which the gate will call malformed). Stops after ``limit`` + 1 records
    so that the caller can tell "too many" without splitting all of them.
    """
    start = body.index(b"[")
    records: list[bytes] = []
    depth = 0
    element = start + 1
    for match in _TOKEN.finditer(body, start):
        token = match.group()
        kind = token[0]
        if kind == _QUOTE:
            if len(token) == 1:
                break  # a string that never ends: the rest is one broken record
            continue
        if kind in _OPEN:
            depth += 1
            if depth == 1:
                element = match.end()
        elif kind in _CLOSE:
            depth -= 1
            if depth == 0:
                last = body[element:match.start()].strip()
                if last or records:
                    records.append(last)  # "[1,]" ends in an empty record
                trailing = body[match.end():].strip()
                if trailing:
                    records.append(trailing)
                return records
        elif kind == _COMMA and depth == 1:
            records.append(body[element:match.start()].strip())
            element = match.end()
            if limit is not None and len(records) > limit:
                return records
    rest = body[element:].strip()
    if rest:
        records.append(rest)
    return records


def json_container(sample: bytes) -> str | None:
    """How a file whose first bytes (UTF-8) are ``sample`` holds JSON: ``JSON``
    (one document: an array, or one object), ``JSONL`` (a first object and
    more after it: one value a line, also when the file is named ``.json``, as
    many published corpora are), or None (it does not open with ``[`` or
    ``{``). An object longer than the sample reads as one document."""
    text = strip_bom(sample).lstrip()
    if text.startswith(b"["):
        return JSON
    if text.startswith(b"{"):
        end = value_end(text, 0)
        return JSONL if end is not None and text[end:].strip() else JSON
    return None


def value_end(body: bytes, start: int) -> int | None:
    """Where the object or array starting at ``start`` ends, or None if it never does."""
    depth = 0
    for match in _TOKEN.finditer(body, start):
        token = match.group()
        kind = token[0]
        if kind == _QUOTE:
            if len(token) == 1:
                return None
            continue
        if kind in _OPEN:
            depth += 1
        elif kind in _CLOSE:
            depth -= 1
            if depth <= 0:
                return match.end()
    return None


def split_lines(body: bytes, limit: int | None = None) -> list[bytes]:
    """NDJSON: one record per non-blank line (a CR before the LF is dropped)."""
    records: list[bytes] = []
    for line in body.split(b"\n"):
        line = line.rstrip(b"\r")
        if line.strip():
            records.append(line)
            if limit is not None and len(records) > limit:
                break
    return records


def split_body(body: bytes, *, ndjson: bool, limit: int | None = None) -> list[bytes] | None:
    """The records of a body that is one object, an array of objects or NDJSON.

    ``ndjson`` forces line splitting (the client said so); otherwise an
    object followed by more text is read as NDJSON too. None when the body
    starts with something else (not JSON at all, or a bare value).
    """
    body = strip_bom(body)
    first = first_byte(body)
    if first is None:
        return []
    if ndjson:
        return split_lines(body, limit)
    if first == ord("["):
        return split_array(body, limit)
    if first == ord("{"):
        start = body.index(b"{")
        end = value_end(body, start)
        if end is not None and not body[end:].strip():
            return [body[start:end]]
        return split_lines(body, limit)
    return None
