"""Per-brand event-time buckets and the watermark that closes them.

Pure logic: the Faust agent, ``koubei backtest`` and the tests drive the same
``Aggregator``. Bucket counts live in a ``BucketStore`` (a Faust windowed
table in the worker, a dict offline); the small per-partition progress
(``AggregatorState``) lives in a plain table.

Watermark (documented policy, see docs/architecture.md):

* event time only moves forward: ``max_event_time`` is the newest
  ``created_at`` seen on this partition (mentions, or ticks from the scorer);
* ``watermark = max_event_time - allowed_lateness``;
* when the partition has been idle (no mention, no event-time tick) for
  ``idle_close`` seconds of wall clock, event time is assumed to move on at
  wall-clock rate: ``watermark >= max_event_time + idle - idle_close``. This
  closes the last buckets of a quiet night without a single new post;
* a bucket ``[start, start + size)`` closes once ``start + size <= watermark``
  and is then emitted for EVERY brand seen on the partition, empty or not
  (zero mentions at 3 a.m. is information for the baseline);
* a mention for a bucket that has already closed is *late*: it is counted
  (``koubei_late_mentions_total``) and not added anywhere, because the
  detector has already judged that bucket;
* a mention whose source offset is <= the last applied offset is a
  re-delivery after a crash and is skipped, which keeps counts exact under
  Kafka's at-least-once delivery.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from streams.models import Bucket, Mention

# If event time jumps further than this (a replay of another day, a clock
# fix), emitting every empty bucket in between would flood the detector with
# thousands of zeros; the gap is skipped instead and counted.
MAX_GAP_BUCKETS = 7 * 24 * 60


class BucketStore(Protocol):
    def get(self, brand: str, start: float) -> dict[str, Any] | None: ...

    def put(self, brand: str, start: float, bucket: dict[str, Any]) -> None: ...

    def delete(self, brand: str, start: float) -> None: ...


class DictBucketStore:
    """The offline store: a plain dict keyed by (brand, start)."""

    def __init__(self) -> None:
        self.data: dict[tuple[str, float], dict[str, Any]] = {}

    def get(self, brand: str, start: float) -> dict[str, Any] | None:
        return self.data.get((brand, start))

    def put(self, brand: str, start: float, bucket: dict[str, Any]) -> None:
        self.data[(brand, start)] = bucket

    def delete(self, brand: str, start: float) -> None:
        self.data.pop((brand, start), None)


@dataclass
class AggregatorState:
    """Progress of one mentions partition; small and JSON-able."""

    max_event_time: float | None = None
    wall_at_max: float = 0.0
    next_close: float | None = None  # start of the oldest bucket not yet closed
    brands: list[str] = field(default_factory=list)
    applied_offset: int = -1
    late: int = 0
    skipped_buckets: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> AggregatorState:
        if not data:
            return cls()
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class AddResult:
    status: str  # "added" | "late" | "duplicate"
    bucket_start: float


class Aggregator:
    def __init__(self, size: float, allowed_lateness: float, idle_close: float,
                 store: BucketStore, state: AggregatorState | None = None,
                 retention_buckets: int = 180) -> None:
        self.size = float(size)
        self.allowed_lateness = float(allowed_lateness)
        self.idle_close = float(idle_close)
        self.store = store
        self.state = state or AggregatorState()
        self.retention_buckets = retention_buckets

    def bucket_start(self, t: float) -> float:
        # Aligned to the Unix epoch, like Faust's own windows.
        return math.floor(t / self.size) * self.size

    def add(self, mention: Mention, wall_now: float, offset: int | None = None) -> AddResult:
        state = self.state
        start = self.bucket_start(mention.created_at)
        if offset is not None:
            if offset <= state.applied_offset:
                return AddResult("duplicate", start)
            state.applied_offset = offset
        self._observe(mention.created_at, wall_now)
        if state.next_close is not None and start < state.next_close:
            state.late += 1
            return AddResult("late", start)
        if mention.brand not in state.brands:
            state.brands.append(mention.brand)
            state.brands.sort()
        raw = self.store.get(mention.brand, start)
        bucket = Bucket.from_dict(raw) if raw else Bucket(mention.brand, start, self.size)
        bucket.add(mention)
        self.store.put(mention.brand, start, bucket.to_dict())
        return AddResult("added", start)

    def observe_time(self, event_time: float, wall_now: float, offset: int | None = None) -> None:
        """An event-time tick: the scorer has seen posts up to ``event_time``."""
        if offset is not None:
            if offset <= self.state.applied_offset:
                return
            self.state.applied_offset = offset
        self._observe(event_time, wall_now)

    def _observe(self, event_time: float, wall_now: float) -> None:
        state = self.state
        if state.max_event_time is None or event_time > state.max_event_time:
            state.max_event_time = event_time
            state.wall_at_max = wall_now
        if state.next_close is None:
            state.next_close = self.bucket_start(event_time - self.allowed_lateness)

    def watermark(self, wall_now: float) -> float | None:
        state = self.state
        if state.max_event_time is None:
            return None
        mark = state.max_event_time - self.allowed_lateness
        idle = wall_now - state.wall_at_max
        if idle > self.idle_close:
            mark = max(mark, state.max_event_time + idle - self.idle_close)
        return mark

    def close_ready(self, wall_now: float) -> Iterator[Bucket]:
        """Yield every bucket (per brand) whose end has passed the watermark.

        ``state.next_close`` advances only after a bucket was yielded for all
        brands, so a caller that persists state after consuming the iterator
        never skips a bucket; a crash in between re-emits it and the
        detector ignores the repeat (it tracks the last bucket start).
        """
        state = self.state
        mark = self.watermark(wall_now)
        if mark is None or state.next_close is None:
            return
        if (mark - state.next_close) / self.size > MAX_GAP_BUCKETS:
            skip_to = self.bucket_start(mark) - self.size * MAX_GAP_BUCKETS
            state.skipped_buckets += int((skip_to - state.next_close) / self.size)
            state.next_close = skip_to
        while state.next_close + self.size <= mark:
            start = state.next_close
            for brand in state.brands:
                raw = self.store.get(brand, start)
                yield Bucket.from_dict(raw) if raw else Bucket(brand, start, self.size)
                old = start - self.size * self.retention_buckets
                self.store.delete(brand, old)
            state.next_close = start + self.size
