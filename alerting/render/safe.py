"""Outside values made safe to put in a message: alert evidence comes from
posts and detectors, and may hold anything JSON can (and Python floats
JSON cannot): lone surrogates, control characters, NaN, 1e300, a time in
the year 10^12, a 100,000-deep ``raw``. Every helper here returns a value
and never raises, so a strange record renders (tests/test_alerting_render_properties.py).
"""

from __future__ import annotations

import math
import re
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")
# C0 and C1 controls (newlines and tabs are handled by the callers),
# zero-width characters and bidirectional overrides (which can make a
# message read differently from what it says).
_INVISIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
_URL = re.compile(r"^https?://[^\s()<>\[\]\"'`\\]{1,1000}$")
# Unix seconds a message may show: 1970 to the end of year 9999.
LAST_SECOND = 253_402_300_799.0
MAX_DEPTH = 32
MAX_STRING = 100_000


def scrub(text: str) -> str:
    """Valid UTF-8, nothing invisible: lone surrogates become U+FFFD."""
    return _INVISIBLE.sub("", _SURROGATE.sub("\ufffd", text))


def as_text(value: Any, limit: int = MAX_STRING) -> str:
    """A scalar as text (at most about ``limit`` characters); containers,
    which could be nested without end, are not shown."""
    if isinstance(value, str):
        return scrub(value[:limit])
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) if abs(value) < 10**18 else f"{float(value):.3g}"
    if isinstance(value, float):
        return f"{value:g}" if math.isfinite(value) else ""
    return ""


def finite(value: Any, default: float = 0.0) -> float:
    """A real number as a finite float, else ``default``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    try:
        number = float(value)
    except OverflowError:
        return default
    return number if math.isfinite(number) else default


def epoch(value: Any) -> float | None:
    """Unix seconds a calendar can show, or None."""
    number = finite(value, math.nan)
    return number if 0.0 <= number <= LAST_SECOND else None


def count(value: Any) -> str:
    """A count for people: ``12,345``; absurd magnitudes in short form; text (``1.5万``) kept short."""
    if isinstance(value, str):
        return scrub(value[:40].strip())[:20]
    number = finite(value, math.nan)
    if math.isnan(number):
        return "0"
    if abs(number) >= 1e15:
        return f"{number:.3g}"
    return f"{int(number):,}"


def url(value: Any) -> str:
    """An http(s) URL safe inside a markdown link, or ""."""
    if isinstance(value, str) and _URL.match(value):
        return value
    return ""


def json_safe(value: Any, depth: int = 0, max_string: int | None = None, max_items: int | None = None) -> Any:
    """A copy that ``json.dumps(allow_nan=False)`` accepts and that encodes
    as valid UTF-8: non-finite floats become null, strings are scrubbed of
    lone surrogates, nesting deeper than MAX_DEPTH is cut ("…"); optionally
    strings cut to ``max_string`` characters and containers to ``max_items``."""
    if isinstance(value, str):
        if max_string is not None and len(value) > max_string:
            value = value[: max_string - 1] + "…"
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if depth >= MAX_DEPTH:
        return "…"
    if isinstance(value, dict):
        items = list(value.items())[:max_items] if max_items is not None else value.items()
        return {json_safe(k, depth, max_string) if isinstance(k, str) else as_text(k):
                json_safe(v, depth + 1, max_string, max_items) for k, v in items}
    if isinstance(value, (list, tuple)):
        items = value[:max_items] if max_items is not None else value
        return [json_safe(v, depth + 1, max_string, max_items) for v in items]
    return as_text(value)
