"""What the console knows, built from topic records: incidents
(``alerting.incidents``), per-brand bucket series, silences, sentiment
corrections. Plain state, no I/O: the follower (``alerting.console.follower``)
feeds it records, the handlers read it, the tests build it by hand.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from alerting.console.charts import Point
from alerting.incidents import IncidentBook
from alerting.labels import Labeler
from alerting.policy.silences import Silence, SilenceStore
from alerting.render.safe import epoch, finite
from streams.sentiment.auto import Correction

# Topic roles the follower routes records by (the suffixes of streams.topics).
ALERTS, BUCKETS, DELIVERIES, SILENCES, ACKS, CORRECTIONS = (
    "alerts", "buckets", "deliveries", "silences", "acks", "sentiment.corrections")
# Fewest posts an hour needs to count towards the usual negative share.
BASELINE_MIN_POSTS = 5
CORRECTIONS_KEPT = 50_000


@dataclass
class BrandSeries:
    """Closed buckets of one brand: start -> (size, total, negative); a bucket
    re-sent after a worker restart replaces the earlier copy."""

    buckets: dict[float, tuple[float, int, int]] = field(default_factory=dict)

    def points(self, since: float = -math.inf, until: float = math.inf) -> list[Point]:
        return [Point(start, size, total, negative) for start, (size, total, negative) in sorted(self.buckets.items())
                if since <= start < until]

    @property
    def newest(self) -> float:
        return max(self.buckets) if self.buckets else -math.inf


def parse_bucket(payload: bytes | None) -> tuple[str, float, float, int, int] | None:
    """(brand, start, size, total, negative) of a bucket record, or None."""
    if not payload:
        return None
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("brand"), str) or not data["brand"]:
        return None
    start, size = epoch(data.get("start")), finite(data.get("size"), 0.0)
    total, negative = finite(data.get("total"), -1.0), finite(data.get("negative"), -1.0)
    if start is None or not 0 < size <= 86400 or not 0 <= negative <= total < 1e12:
        return None
    return data["brand"], start, size, int(total), int(negative)


@dataclass
class BrandSummary:
    """One row of the overview."""

    brand: str
    name: str
    share_now: float | None  # negative share of the last hour of data
    baseline: float | None  # what the brand usually shows
    baseline_source: str  # "alert" (the detector's, from an open incident) or "median" (of hourly shares)
    volume_hour: int
    negative_hour: int
    hourly_totals: list[int]
    hourly_negatives: list[int]
    open_incidents: int
    newest: float | None


@dataclass
class ConsoleState:
    brands: dict[str, str]  # id -> display name, in configuration order
    labeler: Labeler
    history: float = 7 * 86400.0
    gap: float | Callable[[str], float] = 1800.0
    book: IncidentBook = field(init=False)
    series: dict[str, BrandSeries] = field(default_factory=dict)
    silences: SilenceStore = field(default_factory=SilenceStore)
    # silence id -> the incident it lasts for ("until resolved" silences)
    until_resolved: dict[str, str] = field(default_factory=dict)
    corrections: dict[str, Correction] = field(default_factory=dict)
    records: dict[str, int] = field(default_factory=dict)  # role -> records applied
    unreadable: dict[str, int] = field(default_factory=dict)  # role -> records skipped
    loaded: bool = False
    clock: float = 0.0  # the newest bucket start seen
    # Since when reading Kafka has kept failing (None while it works): the
    # pages then say that what they show is as of that moment.
    read_failing_since: float | None = None

    def __post_init__(self) -> None:
        self.book = IncidentBook(gap=self.gap, retention=self.history)

    # -- records -------------------------------------------------------------

    def apply(self, role: str, key: bytes | None, value: bytes | None) -> bool:
        """Apply one record of the topic ``role``; False when it could not be read."""
        ok = self._apply(role, key, value)
        counter = self.records if ok else self.unreadable
        counter[role] = counter.get(role, 0) + 1
        return ok

    def _apply(self, role: str, key: bytes | None, value: bytes | None) -> bool:
        if role == ALERTS:
            return self.book.add_alert_record(value) is None
        if role == BUCKETS:
            return self.add_bucket(value)
        if role == DELIVERIES:
            return self.book.add_delivery_record(value)
        if role == ACKS:
            return self.book.add_ack_record(key, value)
        if role == SILENCES:
            return self.add_silence_record(value)
        if role == CORRECTIONS:
            return self.add_correction_record(key, value)
        return False

    def add_bucket(self, value: bytes | None) -> bool:
        parsed = parse_bucket(value)
        if parsed is None:
            return False
        brand, start, size, total, negative = parsed
        if start < self.clock - self.history:
            return True  # read, but older than the window kept
        self.series.setdefault(brand, BrandSeries()).buckets[start] = (size, total, negative)
        if start > self.clock:
            self.clock = start
        return True

    def add_silence_record(self, value: bytes | None) -> bool:
        """A silence record; ``until_resolved`` (an incident id, written by the
        console) marks a silence that ends when that incident resolves."""
        if not self.silences.apply_record(value):
            return False
        data = json.loads(value or b"")  # apply_record has parsed it already
        ref = data.get("until_resolved")
        if isinstance(ref, str):
            self.until_resolved[str(data["id"])] = ref
        return True

    def add_correction_record(self, key: bytes | None, value: bytes | None) -> bool:
        if value is None:
            if key is not None:
                self.corrections.pop(key.decode("utf-8", "replace"), None)
            return key is not None
        try:
            correction = Correction.from_json(value)
        except (ValueError, TypeError):
            return False
        self.corrections[correction.post_id] = correction
        if len(self.corrections) > CORRECTIONS_KEPT:
            del self.corrections[next(iter(self.corrections))]
        return True

    def prune(self) -> None:
        """Drop buckets and incidents older than ``history`` (by the data's clock)."""
        horizon = self.clock - self.history
        for series in self.series.values():
            for start in [s for s in series.buckets if s < horizon]:
                del series.buckets[start]
        self.book.expire()

    # -- views ---------------------------------------------------------------

    def brand_name(self, brand: str) -> str:
        return self.brands.get(brand, brand)

    def all_brands(self) -> list[str]:
        """Configured brands first, in their order, then any other brand seen in the data."""
        seen = set(self.series) | set(self.book.brands())
        return list(self.brands) + sorted(seen - set(self.brands))

    def summary(self, brand: str, hours: int = 24) -> BrandSummary:
        series = self.series.get(brand, BrandSeries())
        newest = series.newest if series.buckets else None
        end = (newest + 60.0) if newest is not None else self.clock
        totals, negatives = [0] * hours, [0] * hours
        hourly: dict[int, list[int]] = {}
        for start, (_, total, negative) in series.buckets.items():
            slot = math.floor((end - start) / 3600.0)
            if 0 <= slot < hours:
                totals[hours - 1 - slot] += total
                negatives[hours - 1 - slot] += negative
            acc = hourly.setdefault(slot, [0, 0])
            acc[0] += total
            acc[1] += negative
        open_incidents = self.book.incidents(brand, open_only=True)
        baseline, source = None, ""
        if open_incidents:
            share = open_incidents[0].signals[-1].latest.baseline_share
            if isinstance(share, (int, float)) and math.isfinite(share) and 0 <= share <= 1:
                baseline, source = float(share), "alert"
        if baseline is None:
            shares = [neg / tot for slot, (tot, neg) in hourly.items() if slot >= 1 and tot >= BASELINE_MIN_POSTS]
            if shares:
                baseline, source = statistics.median(shares), "median"
        volume, negative = totals[-1], negatives[-1]
        return BrandSummary(brand, self.brand_name(brand), negative / volume if volume else None, baseline, source,
                            volume, negative, totals, negatives, len(open_incidents), newest)

    def points(self, brand: str, since: float, until: float) -> list[Point]:
        series = self.series.get(brand)
        return series.points(since, until) if series is not None else []

    def active_silences(self, now: float) -> list[Silence]:
        return self.silences.active(now)

    def due_expiries(self, now: float) -> list[Silence]:
        """"Until resolved" silences whose incident has resolved: the console ends them."""
        due = []
        for silence_id, ref in self.until_resolved.items():
            silence = self.silences.silences.get(silence_id)
            if silence is None or not silence.active(now):
                continue
            incident = self.book.get(ref)
            if incident is not None and not incident.is_open:
                due.append(silence)
        return due

    def stats(self) -> dict[str, Any]:
        return {"loaded": self.loaded, "records": dict(self.records), "unreadable": dict(self.unreadable),
                "incidents": len(self.book.incidents()), "brands": len(self.series),
                "alerts_rejected": dict(self.book.rejected)}


def apply_all(state: ConsoleState, role: str, records: Iterable[tuple[bytes | None, bytes | None]]) -> None:
    for key, value in records:
        state.apply(role, key, value)
