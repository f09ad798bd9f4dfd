"""Which encoding a crawler's file is in.

Crawlers on Chinese systems write UTF-8 with a BOM (``utf-8-sig``: every
MediaCrawler and weibo-search CSV), plain UTF-8, or GBK/GB18030 (Excel's
"CSV" on a Chinese Windows, older scripts). The encoding is decided once
per file from its first bytes and kept for everything appended later:
a BOM says UTF-8; bytes that decode as UTF-8 are UTF-8, and so are bytes
that are UTF-8 but for a few damaged sequences (a file cut and pasted
together, one bad write: many valid multi-byte characters against a few bad
bytes; GBK read as UTF-8 gives the opposite, most of its characters fail);
anything else is read as GB18030, the superset of GBK and GB2312 that maps
every byte sequence a Chinese Windows writes.
"""

from __future__ import annotations

import codecs
import os

SAMPLE_BYTES = 1 << 16
UTF8_SIG = "utf-8-sig"
UTF8 = "utf-8"
GB18030 = "gb18030"
# Valid multi-byte characters per damaged sequence above which a sample that
# does not decode is still UTF-8. GBK text read as UTF-8 makes about one
# valid character per ten bad ones (tests/test_connectors_readers.py).
DAMAGED_UTF8_RATIO = 20


def detect_encoding(sample: bytes) -> str:
    """The encoding of a file whose first bytes are ``sample``."""
    if sample.startswith(codecs.BOM_UTF8):
        return UTF8_SIG
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        sample.decode(UTF8)
    except UnicodeDecodeError as exc:
        # A sample cut inside a multi-byte character fails only at its very end.
        if exc.start < len(sample) - 3 or exc.reason != "unexpected end of data":
            return UTF8 if _damaged_utf8(sample) else GB18030
    return UTF8


def _damaged_utf8(sample: bytes) -> bool:
    """Whether ``sample``, which does not decode as UTF-8, is UTF-8 with a few bad bytes."""
    text = sample.decode(UTF8, errors="replace")
    bad = text.count("\ufffd")
    valid = sum(1 for ch in text if ch > "\x7f") - bad
    return valid >= DAMAGED_UTF8_RATIO * bad


def file_encoding(path: str | os.PathLike[str]) -> str:
    """The encoding of the file at ``path``, from its first ``SAMPLE_BYTES``."""
    with open(path, "rb") as handle:
        return detect_encoding(handle.read(SAMPLE_BYTES))


def clip(text: str, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters, with "..." when it was longer:
    a message quotes a file's header or an alert's summary, never pages of it."""
    return text if len(text) <= limit else text[:limit - 3] + "..."


def decode(data: bytes, encoding: str) -> str:
    """Text of ``data``; bytes the encoding cannot read become U+FFFD (one bad
    byte must not cost the rest of the file: the gate cleans the text)."""
    if encoding == UTF8_SIG and data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
        encoding = UTF8
    return data.decode(UTF8 if encoding == UTF8_SIG else encoding, errors="replace")
