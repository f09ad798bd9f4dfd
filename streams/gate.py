"""The input gate: every post enters the pipeline through here.

One set of rules for every entry point (the worker's score stage, HTTP
ingest, every connector, ``koubei replay`` and ``koubei backtest``). For
any input, bytes or an already decoded object, ``Gate.admit`` returns a
valid ``Post`` or a ``Rejection`` with a short machine reason and a message
that names the field. It never raises.

The rules, in one sentence each:

* identity and time must be right or the post is rejected: ``source``,
  ``id``, ``author.id`` and ``created_at`` decide the post's key and its
  bucket, and a wrong one silently corrupts counts;
* everything else is cleaned, never a reason to lose a post: text loses
  control and zero-width characters and lone surrogates become U+FFFD,
  counts are read in the forms crawlers write (``1.5万``, ``2w``,
  ``1,234``, ``10+``, ``None``, empty) and clamped, a ``raw`` object too
  deep or too large is replaced by a marker, a URL that is not http(s) is
  dropped;
* time: ISO-8601 with an offset; ``YYYY-MM-DD HH:MM[:SS]`` and friends;
  the Weibo API's ``Mon Mar 02 13:08:00 +0800 2026``; epoch seconds,
  milliseconds, microseconds or nanoseconds told apart by magnitude (a post
  cannot be from before 2001 in seconds, so ``1767225600000`` is
  milliseconds). A time without an offset is in ``default_timezone``
  (crawler exports write naive Beijing time). A time more than
  ``max_future`` ahead of the wall clock, before ``not_before`` or older
  than ``max_age`` is rejected, each with its own reason: one such post
  must not move event time, and so every bucket, years away.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from streams.models import Author, Post, RecordError
from streams.settings import ConfigError, option

# Reasons a record is refused; each is a metric label and is listed, with
# what the user sees, in README.md ("Bad input").
REASONS = (
    "empty_record", "record_too_large", "invalid_utf8", "malformed_json", "too_deep", "not_an_object",
    "missing_field", "wrong_type", "bad_value", "bad_time", "future_time", "too_old", "text_too_long",
    "internal_error",
)

# The largest count a post can carry (followers, reposts...): more than the
# population of the Earth is a crawler bug; clamping keeps arithmetic finite.
MAX_COUNT = 10_000_000_000
MAX_ID_CHARS = 256
MAX_NAME_CHARS = 256
MAX_URL_CHARS = 2048
MAX_LANG_CHARS = 16

# C0/C1 control characters except tab and newline, zero-width and
# directional formatting characters, the BOM and interlinear annotations:
# invisible in a chat message, but they split words for the brand matcher
# and hide text from people.
_INVISIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064"
                        "\u2066-\u206f\ufeff\ufff9-\ufffb]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_COUNT = re.compile(r"^\s*([0-9][0-9,]*(?:\.[0-9]+)?)\s*([万wWkK千亿]?)\s*\+?\s*$")
_COUNT_UNITS = {"": 1, "k": 1_000, "K": 1_000, "千": 1_000, "万": 10_000, "w": 10_000, "W": 10_000,
                "亿": 100_000_000}
_NAIVE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M",
                  "%Y年%m月%d日 %H:%M:%S", "%Y年%m月%d日 %H:%M", "%Y-%m-%d", "%Y/%m/%d")
_VERIFIED_TRUE = {"true", "1", "yes", "y", "是", "认证", "蓝v", "黄v", "金v", "橙v", "红v", "企业认证", "个人认证",
                  "verified"}
_VERIFIED_FALSE = {"false", "0", "no", "n", "否", "", "none", "null", "普通用户", "未认证"}
EPOCH_SECONDS_BELOW = 1e11  # 5138-11-16 in seconds: anything below is seconds
_EPOCH_SCALES = ((1e11, 1.0), (1e14, 1e-3), (1e17, 1e-6), (1e20, 1e-9))


class Rejection(NamedTuple):
    """Why a record was refused: ``reason`` is one of ``REASONS``."""

    reason: str
    message: str


def zone_setting(value: Any, where: str, default: str = "Asia/Shanghai") -> str:
    """A configuration field naming a time zone (IANA name or offset); ``default`` when absent."""
    name = default if value is None or value == "" else value
    if not isinstance(name, str):
        raise ConfigError(where, f"expected a time zone name like Asia/Shanghai or +08:00, got {name!r}")
    if name:
        try:
            zone(name)
        except ValueError as exc:
            raise ConfigError(where, str(exc)) from None
    return name


def _zone_name(value: Any, where: str, context: Mapping[str, Any]) -> str:
    return zone_setting(value, where)


def _date(value: Any, where: str, context: Mapping[str, Any]) -> float:
    if value is None:
        return NOT_BEFORE
    text = value.isoformat() if hasattr(value, "isoformat") else value  # YAML reads 2000-01-01 as a date
    if not isinstance(text, str):
        raise ConfigError(where, f"expected a date like 2000-01-01, got {value!r}")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(where, f"expected a date like 2000-01-01, got {value!r}") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()


NOT_BEFORE = 946684800.0  # 2000-01-01T00:00:00Z


@dataclass(frozen=True)
class InputRules:
    """The limits the gate applies (the ``input`` section of koubei.yaml)."""

    default_timezone: str = option("Asia/Shanghai", parse=_zone_name,
                                   help="zone of times written without an offset (crawler exports: Beijing time)")
    max_future: float = option(600.0, duration=True, help="a post dated further ahead of the wall clock is rejected")
    max_age: float = option(400 * 86400.0, duration=True,
                            help="a post older than this (wall clock) is rejected; 0 = no limit")
    not_before: float = option(NOT_BEFORE, parse=_date, shown_default="2000-01-01",
                               help="a post dated before this is a placeholder time (epoch 0, year 1): rejected")
    max_text_chars: int = option(100_000, minimum=1, help="longer texts are rejected (a crawler bug, not a post)")
    max_record_bytes: int = option(1_000_000, minimum=1024, help="larger records are rejected")
    max_raw_depth: int = option(8, minimum=1, maximum=64, help="a deeper raw object is replaced by a marker")
    max_raw_bytes: int = option(16_384, minimum=256, help="a larger raw object is replaced by a marker")


def zone(name: str) -> tzinfo:
    """A time zone by IANA name or fixed offset (``+08:00``, ``UTC``)."""
    text = name.strip()
    if text in ("UTC", "Z", "utc"):
        return timezone.utc
    match = re.fullmatch(r"([+-])(\d\d):?(\d\d)", text)
    if match:
        sign = -1 if match.group(1) == "-" else 1
        return timezone(sign * timedelta(hours=int(match.group(2)), minutes=int(match.group(3))))
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use e.g. Asia/Shanghai or +08:00)") from None


def clean_text(text: str) -> str:
    """Remove invisible characters and replace lone surrogates (never raises for a str)."""
    if _INVISIBLE.search(text):
        text = _INVISIBLE.sub("", text)
    if _SURROGATE.search(text):
        text = _SURROGATE.sub("\ufffd", text)
    return text


def parse_count(value: Any) -> int:
    """A count in any form a crawler writes; 0 when there is none. Clamped to MAX_COUNT."""
    if value is None or isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return min(max(value, 0), MAX_COUNT)
    if isinstance(value, float):
        return min(int(value), MAX_COUNT) if math.isfinite(value) and value > 0 else 0
    if not isinstance(value, str) or len(value) > 32:
        return 0
    match = _COUNT.match(value)
    if not match:
        return 0
    number = float(match.group(1).replace(",", ""))
    return min(int(number * _COUNT_UNITS[match.group(2)]), MAX_COUNT)


def parse_verified(value: Any) -> bool:
    """Verification as crawlers write it: a bool, 1/0, or a label (蓝V, 黄V, 普通用户 ...)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value == 1
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _VERIFIED_TRUE:
            return True
        if text in _VERIFIED_FALSE:
            return False
        return text.endswith("v") and len(text) <= 4  # 超话V, 其他V: a verified badge
    return False


def _epoch(number: float, where: str) -> float:
    if not math.isfinite(number) or number < 0:
        raise RecordError("bad_time", f"{where}: epoch time must be a finite number >= 0, got {number!r}")
    for below, scale in _EPOCH_SCALES:
        if number < below:
            return number * scale
    raise RecordError("bad_time", f"{where}: {number:.6g} is not an epoch time in s, ms, us or ns")


def parse_event_time(value: Any, default_zone: tzinfo, where: str = "created_at") -> datetime:
    """An aware time from any accepted form, keeping the offset it was written
    with (epoch numbers are UTC); raises RecordError."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise RecordError("missing_field", f"{where}: required field is missing")
    if isinstance(value, bool):
        raise RecordError("wrong_type", f"{where}: expected a time, got a boolean")
    if isinstance(value, (int, float)):
        return _from_epoch(_epoch(float(value), where), where)
    if not isinstance(value, str):
        raise RecordError("wrong_type", f"{where}: expected an ISO-8601 time or epoch number, got {type(value).__name__}")
    text = value.strip()
    if len(text) > 64:
        raise RecordError("bad_time", f"{where}: not a time: {text[:40]!r}...")
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return _from_epoch(_epoch(float(text), where), where)
    parsed = _parse_text_time(text)
    if parsed is None:
        raise RecordError("bad_time", f"{where}: not a time I can read: {text[:40]!r} "
                                      "(use ISO-8601, e.g. 2026-03-02T13:08:00+08:00, or epoch seconds)")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=default_zone)
    try:
        parsed.timestamp()
    except (OverflowError, ValueError, OSError):
        raise RecordError("bad_time", f"{where}: out of range: {text[:40]!r}") from None
    return parsed


def _from_epoch(seconds: float, where: str) -> datetime:
    try:
        return datetime.fromtimestamp(seconds, tz=timezone.utc)
    except (OverflowError, ValueError, OSError):
        raise RecordError("bad_time", f"{where}: epoch {seconds:.6g} is out of range") from None


def _parse_text_time(text: str) -> datetime | None:
    iso = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        return datetime.fromisoformat(iso)
    except ValueError:
        pass
    for fmt in _NAIVE_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    try:  # the Weibo API: "Mon Mar 02 13:08:00 +0800 2026"
        return datetime.strptime(text, "%a %b %d %H:%M:%S %z %Y")
    except ValueError:
        pass
    try:  # RSS (RFC 2822): "Mon, 02 Mar 2026 13:08:00 +0800"
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _depth_and_size(value: Any, limit_depth: int, limit_bytes: int) -> str | None:
    """Why ``value`` is too deep or too large to keep as ``raw``, or None."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    budget = limit_bytes
    while stack:
        item, depth = stack.pop()
        if depth > limit_depth:
            return f"nested deeper than {limit_depth}"
        if isinstance(item, Mapping):
            budget -= 2 + sum(len(str(k)) + 4 for k in item)
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            budget -= 2 + len(item)
            stack.extend((v, depth + 1) for v in item)
        elif isinstance(item, str):
            budget -= len(item.encode("utf-8", "surrogatepass")) + 2
        else:
            budget -= 8
        if budget < 0:
            return f"larger than {limit_bytes} bytes"
    return None


def _clean_json(value: Any) -> Any:
    """A JSON-safe copy: strings cleaned, non-finite numbers dropped."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {clean_text(str(k)): _clean_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean_json(v) for v in value]
    return value


class Gate:
    """Admits posts by ``InputRules``; ``clock`` is the wall clock (tests pass their own)."""

    def __init__(self, rules: InputRules | None = None, clock: Callable[[], float] = time.time) -> None:
        self.rules = rules or InputRules()
        self.clock = clock
        self.zone = zone(self.rules.default_timezone)

    # ---- entry points ---------------------------------------------------

    def admit(self, payload: bytes | str | None) -> Post | Rejection:
        """One record as it arrives on the wire (bytes or text of one JSON object)."""
        try:
            return self.admit_mapping(self._decode(payload))
        except RecordError as exc:
            return Rejection(exc.reason, exc.message)
        except Exception as exc:  # noqa: BLE001 - the gate never raises; this is a bug to report
            return internal_error(exc)

    def admit_mapping(self, data: Any) -> Post | Rejection:
        """One record already decoded from JSON (or built by a connector from its source)."""
        try:
            return self._post(data)
        except RecordError as exc:
            return Rejection(exc.reason, exc.message)
        except Exception as exc:  # noqa: BLE001 - the gate never raises; this is a bug to report
            return internal_error(exc)

    def post(self, data: Any) -> Post:
        """The post for a decoded record, or RecordError (for mapping code built
        around exceptions; ``admit_mapping`` is the non-raising form)."""
        return self._post(data)

    def event_time(self, value: Any, where: str = "created_at") -> datetime | Rejection:
        """A time by the gate's rules (format, zone and range)."""
        try:
            return self._checked_time(value, where)
        except RecordError as exc:
            return Rejection(exc.reason, exc.message)

    # ---- the rules ------------------------------------------------------

    def _decode(self, payload: bytes | str | None) -> Any:
        if payload is None:
            raise RecordError("empty_record", "record has no value")
        if isinstance(payload, (bytes, bytearray, memoryview)):
            raw = bytes(payload)
            if len(raw) > self.rules.max_record_bytes:
                raise RecordError("record_too_large",
                                  f"record is {len(raw)} bytes, the limit is {self.rules.max_record_bytes}")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise RecordError("invalid_utf8", f"record is not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
        elif isinstance(payload, str):
            text = payload
            if len(text) > self.rules.max_record_bytes:
                raise RecordError("record_too_large",
                                  f"record is {len(text)} characters, the limit is {self.rules.max_record_bytes}")
        else:
            raise RecordError("wrong_type", f"record: expected bytes or text, got {type(payload).__name__}")
        if text.startswith("\ufeff"):
            text = text[1:]
        if not text.strip():
            raise RecordError("empty_record", "record is empty")
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise RecordError("malformed_json", f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
        except RecursionError:
            raise RecordError("too_deep", "JSON nested too deeply to read") from None

    def _checked_time(self, value: Any, where: str) -> datetime:
        rules = self.rules
        when = parse_event_time(value, self.zone, where)
        t = when.timestamp()
        now = self.clock()
        if t > now + rules.max_future:
            raise RecordError("future_time", f"{where}: {_show(t)} is {t - now:,.0f}s ahead of the wall clock "
                                             f"(limit input.max_future = {rules.max_future:g}s)")
        if t < rules.not_before:
            raise RecordError("too_old", f"{where}: {_show(t)} is before {_show(rules.not_before)} "
                                         "(input.not_before): a placeholder time, not a post's")
        if rules.max_age > 0 and t < now - rules.max_age:
            raise RecordError("too_old", f"{where}: {_show(t)} is older than input.max_age "
                                         f"({rules.max_age / 86400:g} days)")
        return when

    def _post(self, data: Any) -> Post:
        rules = self.rules
        if not isinstance(data, Mapping):
            raise RecordError("not_an_object", f"post: expected a JSON object, got {type(data).__name__}")
        if data.get("source") is not None and not isinstance(data.get("source"), str):
            raise RecordError("wrong_type", f"source: expected a platform name, got {type(data['source']).__name__}")
        source = _identifier(data, "source", "")
        if ":" in source:
            raise RecordError("bad_value", "source: must be a name without ':' (it is part of the key source:id)")
        post_id = _identifier(data, "id", "")
        text = data.get("text")
        if text is None:
            raise RecordError("missing_field", "text: required field is missing")
        if not isinstance(text, str):
            raise RecordError("wrong_type", f"text: expected a string, got {type(text).__name__}")
        if len(text) > rules.max_text_chars:
            raise RecordError("text_too_long", f"text: {len(text)} characters, the limit is {rules.max_text_chars}")
        created = self._checked_time(data.get("created_at"), "created_at")
        author_raw = data.get("author")
        if author_raw is None:
            raise RecordError("missing_field", "author: required field is missing")
        if not isinstance(author_raw, Mapping):
            raise RecordError("wrong_type", f"author: expected an object, got {type(author_raw).__name__}")
        name = author_raw.get("name")
        author = Author(
            id=_identifier(author_raw, "id", "author."),
            name=clean_text(name)[:MAX_NAME_CHARS] if isinstance(name, str) else "" if name is None else str(name)[:MAX_NAME_CHARS],
            followers=parse_count(author_raw.get("followers")),
            verified=parse_verified(author_raw.get("verified")),
        )
        url = data.get("url")
        url = url.strip() if isinstance(url, str) and len(url) <= MAX_URL_CHARS else ""
        if url and not url.lower().startswith(("http://", "https://")):
            url = ""  # javascript:, data: ... must never become a link in a chat message
        lang = data.get("lang")
        lang = clean_text(lang)[:MAX_LANG_CHARS] if isinstance(lang, str) and lang.strip() else "zh"
        return Post(
            source=source,
            id=post_id,
            author=author,
            text=clean_text(text),
            created_at=created,
            url=clean_text(url),
            reposts=parse_count(data.get("reposts")),
            comments=parse_count(data.get("comments")),
            likes=parse_count(data.get("likes")),
            lang=lang,
            raw=self._raw(data.get("raw")),
        )

    def _raw(self, value: Any) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            return {"_dropped": f"raw was a {type(value).__name__}, not an object"}
        problem = _depth_and_size(value, self.rules.max_raw_depth, self.rules.max_raw_bytes)
        if problem is not None:
            return {"_dropped": f"raw was {problem}"}
        return _clean_json(value)


def _identifier(data: Mapping[str, Any], name: str, where: str) -> str:
    value = data.get(name)
    if value is None:
        raise RecordError("missing_field", f"{where}{name}: required field is missing")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise RecordError("wrong_type", f"{where}{name}: expected a string or an integer, got {type(value).__name__}")
    text = clean_text(str(value)).strip()
    if not text:
        raise RecordError("bad_value", f"{where}{name}: must not be empty")
    if len(text) > MAX_ID_CHARS:
        raise RecordError("bad_value", f"{where}{name}: {len(text)} characters, the limit is {MAX_ID_CHARS}")
    return text


def _show(t: float) -> str:
    try:
        return datetime.fromtimestamp(t, tz=timezone.utc).isoformat(timespec="seconds")
    except (OverflowError, ValueError, OSError):
        return f"epoch {t:.6g}"


def internal_error(exc: BaseException) -> Rejection:
    """A bug met while handling one record: its digest, so it can be found in the logs."""
    import hashlib

    text = f"{type(exc).__name__}: {exc}"
    digest = hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:12]
    return Rejection("internal_error", f"{text[:300]} [digest {digest}]")
