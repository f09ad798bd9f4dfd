"""Named time intervals with Alertmanager's fields and meaning, for routes'
``mute_time_intervals`` and ``active_time_intervals``::

    time_intervals:
      - name: night
        time_intervals:
          - times: [{start_time: "22:00", end_time: "24:00"}, {start_time: "00:00", end_time: "08:00"}]
            weekdays: ["monday:friday"]
            days_of_month: ["1:5", "-3:-1"]      # negative days count from the month's end
            months: ["may:august", "12"]
            years: ["2026:2027"]
            location: Asia/Shanghai             # default: alerting.timezone (Alertmanager's is UTC)

Within one interval every field given must match (an absent field matches
anything), and within a field any of its entries; a named set matches when
any of its intervals does. Times include their start and exclude their end;
every other range includes both ends.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from streams.settings import ConfigError, join, reject_unknown, section

WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december")
INTERVAL_FIELDS = ("times", "weekdays", "days_of_month", "months", "years", "location")

Range = tuple[int, int]


@dataclass(frozen=True)
class TimeInterval:
    times: tuple[Range, ...] = ()  # minutes of the day, [start, end)
    weekdays: tuple[Range, ...] = ()  # 0 = Sunday, as in Alertmanager
    days_of_month: tuple[Range, ...] = ()  # 1..31 or -31..-1
    months: tuple[Range, ...] = ()  # 1..12
    years: tuple[Range, ...] = ()
    location: str = "UTC"

    def contains(self, epoch: float) -> bool:
        local = datetime.fromtimestamp(epoch, ZoneInfo(self.location))
        if self.times:
            minute = local.hour * 60 + local.minute
            if not any(start <= minute < end for start, end in self.times):
                return False
        if self.weekdays:
            day = (local.weekday() + 1) % 7  # Python: Monday = 0
            if not any(lo <= day <= hi for lo, hi in self.weekdays):
                return False
        if self.days_of_month:
            length = calendar.monthrange(local.year, local.month)[1]
            if not any(_day(lo, length) <= local.day <= _day(hi, length) for lo, hi in self.days_of_month):
                return False
        if self.months and not any(lo <= local.month <= hi for lo, hi in self.months):
            return False
        return not self.years or any(lo <= local.year <= hi for lo, hi in self.years)


def _day(day: int, length: int) -> int:
    """A configured day in a month of ``length`` days: -1 is its last day; 31 in a short month is its last day."""
    return min(length, day) if day > 0 else max(1, length + 1 + day)


@dataclass(frozen=True)
class NamedTimeIntervals:
    name: str
    intervals: tuple[TimeInterval, ...]

    def contains(self, epoch: float) -> bool:
        return any(interval.contains(epoch) for interval in self.intervals)


def _clock(value: Any, where: str, end: bool) -> int:
    if isinstance(value, bool) or value is None:
        raise ConfigError(where, f"expected a time like \"17:00\", got {value!r}")
    if isinstance(value, (int, float)):
        raise ConfigError(where, f"expected a time like \"17:00\" in quotes, got the number {value!r} "
                                 "(YAML 1.1 reads an unquoted 17:00 as a number of minutes)")
    text = str(value).strip()
    parts = text.split(":")
    if len(parts) != 2 or not all(p.isdigit() and len(p) == 2 for p in parts):
        raise ConfigError(where, f"expected HH:MM, got {text!r}")
    hours, minutes = int(parts[0]), int(parts[1])
    if minutes > 59 or hours > 24 or (hours == 24 and (minutes or not end)):
        raise ConfigError(where, f"{text!r} is not a time of day (00:00 to 24:00; 24:00 only as an end)")
    return hours * 60 + minutes


def _times(value: Any, where: str) -> tuple[Range, ...]:
    if not isinstance(value, list):
        raise ConfigError(where, "expected a list of {start_time, end_time}")
    out = []
    for i, item in enumerate(value):
        path = join(where, i)
        data = section(item, path)
        reject_unknown(data, ("start_time", "end_time"), path)
        start = _clock(data.get("start_time"), join(path, "start_time"), end=False)
        end = _clock(data.get("end_time"), join(path, "end_time"), end=True)
        if end <= start:
            raise ConfigError(join(path, "end_time"), "must be after start_time (a range cannot pass midnight: "
                                                      "give two ranges, e.g. 22:00-24:00 and 00:00-08:00)")
        out.append((start, end))
    return tuple(out)


def _ranges(value: Any, where: str, parse_one: Callable[[str, str], int], lowest: int, highest: int, what: str,
            allow_negative: bool = False) -> tuple[Range, ...]:
    if not isinstance(value, list):
        raise ConfigError(where, f"expected a list of {what} or ranges like \"a:b\"")
    out = []
    for i, item in enumerate(value):
        path = join(where, i)
        text = str(item).strip().lower() if isinstance(item, (str, int)) and not isinstance(item, bool) else None
        if not text:
            raise ConfigError(path, f"expected {what} or a range like \"a:b\", got {item!r}")
        bounds = text.split(":")
        if len(bounds) > 2:
            raise ConfigError(path, f"expected {what} or a range like \"a:b\", got {item!r}")
        lo, hi = (parse_one(b.strip(), path) for b in (bounds if len(bounds) == 2 else bounds * 2))
        for bound in (lo, hi):
            in_range = lowest <= bound <= highest or (allow_negative and -highest <= bound <= -lowest)
            if not in_range:
                raise ConfigError(path, f"{bound} is out of range ({lowest}..{highest}"
                                        + (f" or -{highest}..-{lowest}" if allow_negative else "") + ")")
        if (lo > 0) == (hi > 0) and lo > hi:
            raise ConfigError(path, f"the range {item!r} ends before it starts")
        out.append((lo, hi))
    return tuple(out)


def _named(names: tuple[str, ...], what: str) -> Callable[[str, str], int]:
    def parse(text: str, where: str) -> int:
        if text.lstrip("-").isdigit():
            return int(text)
        if text in names:
            return names.index(text) + (1 if what == "month" else 0)
        raise ConfigError(where, f"unknown {what} {text!r} (use {', '.join(names[:3])}... or a number)")
    return parse


def _number(text: str, where: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ConfigError(where, f"expected a whole number, got {text!r}") from None


def parse_time_interval(raw: Any, where: str, default_location: str) -> TimeInterval:
    data = section(raw, where)
    reject_unknown(data, INTERVAL_FIELDS, where)
    location = data.get("location", default_location)
    try:
        ZoneInfo(str(location))
    except (ValueError, KeyError, OSError):
        raise ConfigError(join(where, "location"), f"unknown time zone {location!r} (use e.g. Asia/Shanghai)") from None
    weekday = _named(WEEKDAYS, "weekday")
    return TimeInterval(
        times=_times(data["times"], join(where, "times")) if "times" in data else (),
        weekdays=_ranges(data["weekdays"], join(where, "weekdays"), weekday, 0, 6, "weekdays")
        if "weekdays" in data else (),
        days_of_month=_ranges(data["days_of_month"], join(where, "days_of_month"), _number, 1, 31, "days",
                              allow_negative=True) if "days_of_month" in data else (),
        months=_ranges(data["months"], join(where, "months"), _named(MONTHS, "month"), 1, 12, "months")
        if "months" in data else (),
        years=_ranges(data["years"], join(where, "years"), _number, 1, 9999, "years") if "years" in data else (),
        location=str(location),
    )


def parse_time_intervals(raw: Any, where: str, default_location: str) -> Mapping[str, NamedTimeIntervals]:
    """``alerting.time_intervals``: a list of ``{name, time_intervals: [...]}``."""
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise ConfigError(where, "expected a list of {name, time_intervals}")
    out: dict[str, NamedTimeIntervals] = {}
    for i, item in enumerate(raw):
        path = join(where, i)
        data = section(item, path)
        reject_unknown(data, ("name", "time_intervals"), path)
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(join(path, "name"), "required: a name routes refer to")
        if name in out:
            raise ConfigError(join(path, "name"), f"duplicate time interval name {name!r}")
        intervals = data.get("time_intervals")
        if not isinstance(intervals, list):
            raise ConfigError(join(path, "time_intervals"), "expected a list of intervals")
        out[name] = NamedTimeIntervals(name, tuple(
            parse_time_interval(x, join(join(path, "time_intervals"), j), default_location)
            for j, x in enumerate(intervals)))
    return out
