"""Which encoding a crawler's file is in.

Crawlers on Chinese systems write UTF-8 with a BOM (``utf-8-sig``: every
MediaCrawler and weibo-search CSV), plain UTF-8, or GBK/GB18030 (Excel's
"CSV" on a Chinese Windows, older scripts). The encoding is decided once
per file from its first bytes and kept for everything appended later:
a BOM says UTF-8; bytes that decode as UTF-8 are UTF-8; anything else is
read as GB18030, the superset of GBK and GB2312 that maps every byte
sequence a Chinese Windows writes.
"""

from __future__ import annotations

import codecs

SAMPLE_BYTES = 1 << 16
UTF8_SIG = "utf-8-sig"
UTF8 = "utf-8"
GB18030 = "gb18030"


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
            return GB18030
    return UTF8


def decode(data: bytes, encoding: str) -> str:
    """Text of ``data``; bytes the encoding cannot read become U+FFFD (one bad
    byte must not cost the rest of the file: the gate cleans the text)."""
    if encoding == UTF8_SIG and data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
        encoding = UTF8
    return data.decode(UTF8 if encoding == UTF8_SIG else encoding, errors="replace")
