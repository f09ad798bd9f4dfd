"""Per-brand event-time buckets and the watermark that closes them.

Pure logic: the Faust agent, ``koubei backtest`` and the tests drive the same
``Aggregator``. Bucket counts live in a ``BucketStore`` (a Faust windowed
table in the worker, a dict offline); the small per-partition progress
(``AggregatorState``) lives in a plain table.

Watermark (documented policy, also in README.md and docs/operations.md):

* event time is reported by *clocks*, one per posts partition: in the
  worker, the scoring worker that consumes a posts partition sends ticks
  carrying the newest ``created_at`` it has processed there (after the
  mentions of those posts). Clocks belong to partitions, not to workers, so
  one fast partition cannot outrun a slow one and a worker that joins late
  (two workers starting together on a backlog) cannot find the watermark
  already moved on by the other. Offline, the single clock is the mentions'
  own time;
* until every expected clock (every posts partition) has reported, or
  ``idle_close`` seconds of wall time have passed since the first report,
  there is no watermark: nothing closes while a partition's worker is
  still starting;
* a clock that has not reported for ``idle_close`` seconds of wall time is
  idle and ignored (a quiet source, a partition with no posts). Time the
  aggregator itself was down does not count as idleness: after a restart
  every clock is fresh again until it has had ``idle_close`` seconds to
  report, so a restarted worker does not close the buckets its backlog is
  about to fill;
* ``event clock = min over active clocks``; when every clock is idle, event
  time is assumed to move on at wall-clock rate from the newest report:
  ``newest + idle - idle_close``. That closes the last buckets of a quiet
  night without a single new post;
* ``watermark = event clock - allowed_lateness``;
* a bucket ``[start, start + size)`` closes once ``start + size <= watermark``
  and is then emitted for EVERY brand seen on the partition, empty or not
  (zero mentions at 3 a.m. is information for the baseline);
* a mention for a bucket that has already closed is *late* and counted in
  ``koubei_late_mentions_total``. With ``late_policy: open_bucket`` (the
  default) it is added to the oldest bucket still open: a news item polled
  five minutes after publication still counts towards detection, a few
  minutes shifted, instead of vanishing. With ``late_policy: drop`` it is
  not added anywhere (the detector has already judged its bucket);
* a record whose offset is <= the last applied offset is a re-delivery
  after a crash and is skipped; so is a mention whose originating post
  (posts partition, offset) was already counted, which happens when the
  score stage re-processes posts after a crash. Together these keep counts
  exact under Kafka's at-least-once delivery;
* the worker's score stage sends counts, not mentions (``MentionCounts``:
  one brand's part of each bucket from one batch of posts, covering a range
  of posts offsets on each of one or more posts partitions). Each bucket
  marks, per posts partition, the end of the last range it counted, in the
  same table write as the counts. A part whose ranges all end at or before
  the marks was counted; one whose ranges all start after them is new. The
  score stage never sends a range that straddles a range it may have sent
  before, and sends a range that may have been sent before on its own
  (streams/ledger.py), so no third case arises; if one does (an upgrade
  from per-mention records in the middle of a re-run) it is counted and
  reported as an overlap.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from streams.models import Bucket, Mention, MentionCounts

# If event time jumps further than this (a replay of another day, a clock
# fix), emitting every empty bucket in between would flood the detector with
# thousands of zeros; the gap is skipped instead and counted.
MAX_GAP_BUCKETS = 7 * 24 * 60
# Buckets closed per call of ``close_ready``: the rest close on the next
# call (the worker calls it every batch and every tick), so a jump in event
# time never blocks the event loop.
MAX_CLOSE_PER_CALL = 5000
LATE_POLICIES = ("open_bucket", "drop")
# The brand index of a range mark: ``[last offset, RANGE_INDEX]`` compares
# after every ``[offset, brand index]`` mark of a single mention at or before
# ``last``, so per-mention records and counts records share one mark.
RANGE_INDEX = 1 << 30


class BucketStore(Protocol):
    """Where the buckets live. ``get`` returns the stored bucket itself: the
    aggregator changes it and then ``put``s it back (a store that persists
    buckets writes what was ``put``)."""

    def get(self, brand: str, start: float) -> Bucket | None: ...

    def put(self, brand: str, start: float, bucket: Bucket) -> None: ...

    def delete(self, brand: str, start: float) -> None: ...

    def closed_before(self, brand: str, start: float) -> bool:
        """The bucket was closed and sent already, although the aggregator's
        state (saved apart from the buckets) does not say so."""
        ...

    def closed_until(self, brand: str) -> float | None:
        """The end of the newest bucket of ``brand`` held as closed and sent
        (None: none), for the aggregator's state to catch up after a crash."""
        ...


def _already_counted(bucket: Bucket, mention: Mention, offset: int | None) -> bool:
    """Has ``bucket`` already counted this mention (a re-delivery after a crash)?

    Two marks: the mentions offset (the aggregate stage re-reading its input)
    and, per posts partition, the [post offset, brand index] of the newest
    post counted (the score stage re-scoring posts and emitting them again
    with new mentions offsets). Mentions from one posts partition arrive in
    post-offset order, so anything at or before the mark was counted.
    """
    if offset is not None and offset <= bucket.last_offset:
        return True
    if mention.src_partition >= 0:
        last = bucket.sources.get(str(mention.src_partition))
        return last is not None and [mention.src_offset, mention.src_index] <= last
    return False


def _mark(bucket: Bucket, mention: Mention, offset: int | None) -> None:
    if offset is not None and offset > bucket.last_offset:
        bucket.last_offset = offset
    if mention.src_partition >= 0:
        position = [mention.src_offset, mention.src_index]
        key = str(mention.src_partition)
        if bucket.sources.get(key) is None or position > bucket.sources[key]:
            bucket.sources[key] = position


def _range_status(bucket: Bucket, ranges: dict[int, tuple[int, int]]) -> str:
    """Has ``bucket`` counted the posts ``ranges`` (partition -> first, last):
    ``"counted"``, ``"new"`` or (never by design) ``"overlap"``?"""
    new = counted = 0
    for partition, (first, last) in ranges.items():
        mark = bucket.sources.get(str(partition))
        if mark is None or mark[0] < first:
            new += 1
        elif mark[0] >= last:
            counted += 1
    if new == len(ranges):
        return "new"
    return "counted" if counted == len(ranges) else "overlap"


def _mark_ranges(bucket: Bucket, ranges: dict[int, tuple[int, int]], offset: int | None) -> None:
    if offset is not None and offset > bucket.last_offset:
        bucket.last_offset = offset
    for partition, (_, last) in ranges.items():
        key = str(partition)
        position = [last, RANGE_INDEX]
        if bucket.sources.get(key) is None or position > bucket.sources[key]:
            bucket.sources[key] = position


@dataclass
class CountsResult:
    """What ``Aggregator.add_counts`` did with one record's mentions."""

    added: int = 0  # counted in their own bucket
    late: int = 0  # counted in the oldest open bucket (their own had closed)
    dropped: int = 0  # late, not counted (late_policy: drop)
    duplicate: int = 0  # already counted
    overlaps: int = 0  # bucket parts whose range overlapped a counted one (counted)
    latencies: list[float] = field(default_factory=list)  # post record timestamp -> counted, seconds


class DictBucketStore:
    """The offline store: a plain dict keyed by (brand, start)."""

    def __init__(self) -> None:
        self.data: dict[tuple[str, float], Bucket] = {}

    def get(self, brand: str, start: float) -> Bucket | None:
        return self.data.get((brand, start))

    def put(self, brand: str, start: float, bucket: Bucket) -> None:
        self.data[(brand, start)] = bucket

    def delete(self, brand: str, start: float) -> None:
        self.data.pop((brand, start), None)

    def closed_before(self, brand: str, start: float) -> bool:
        return False  # buckets and state live and die together in one process

    def closed_until(self, brand: str) -> float | None:
        return None


@dataclass
class AggregatorState:
    """Progress of one mentions partition; small and JSON-able."""

    clocks: dict[str, list[float]] = field(default_factory=dict)  # clock id -> [event time, wall seen]
    first_report: float | None = None  # wall time of the first clock report ever
    next_close: float | None = None  # start of the oldest bucket not yet closed
    earliest_open: float | None = None  # oldest bucket written before the first clock report
    brands: dict[str, float] = field(default_factory=dict)  # brand -> first bucket with a mention
    late: int = 0
    skipped_buckets: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> AggregatorState:
        """A copy: the caller compares the new state with ``data`` to skip
        writing an unchanged state, so nothing may be shared with it."""
        if not data:
            return cls()
        return cls(
            clocks={str(k): list(v) for k, v in data.get("clocks", {}).items()},
            first_report=data.get("first_report"),
            next_close=data.get("next_close"),
            earliest_open=data.get("earliest_open"),
            brands=dict(data.get("brands", {})),
            late=int(data.get("late", 0)),
            skipped_buckets=int(data.get("skipped_buckets", 0)),
        )


@dataclass(frozen=True)
class AddResult:
    status: str  # "added" | "late" (added to the oldest open bucket) | "dropped" (late, drop policy) | "duplicate"
    bucket_start: float


class Aggregator:
    def __init__(self, size: float, allowed_lateness: float, idle_close: float,
                 store: BucketStore, state: AggregatorState | None = None,
                 retention_buckets: int = 180, late_policy: str = "open_bucket",
                 expected_clocks: Sequence[str] = (), resumed_at: float = 0.0,
                 max_future: float = math.inf) -> None:
        """``expected_clocks``: the clocks that must report before anything
        closes (the worker passes one per posts partition; see the module
        docstring). ``resumed_at``: wall time this process started reading
        the partition; silence before it is downtime, not idleness.
        ``max_future``: no report moves a clock further ahead of the wall
        clock than this (the input gate's limit, applied again here so that
        no single record can move event time, and every bucket, years away)."""
        if late_policy not in LATE_POLICIES:
            raise ValueError(f"late_policy must be one of {LATE_POLICIES}")
        self.late_policy = late_policy
        self.size = float(size)
        self.allowed_lateness = float(allowed_lateness)
        self.idle_close = float(idle_close)
        self.store = store
        self.state = state or AggregatorState()
        self.retention_buckets = retention_buckets
        self.expected_clocks = tuple(expected_clocks)
        self.resumed_at = float(resumed_at)
        self.max_future = float(max_future)
        self.clamped = 0  # reports clamped to wall clock + max_future
        self.caught_up = 0  # times the state caught up with buckets closed before a crash (_catch_up)

    def bucket_start(self, t: float) -> float:
        # Aligned to the Unix epoch, like Faust's own windows.
        return math.floor(t / self.size) * self.size

    def add(self, mention: Mention, wall_now: float, offset: int | None = None,
            clock: str | None = "local") -> AddResult:
        """Count a mention. ``clock`` also reports its time as event-time
        progress (offline use); the worker passes None and relies on ticks."""
        state = self.state
        home = self.bucket_start(mention.created_at)
        # The de-duplication marks live in the mention's own ("home") bucket,
        # written in the same table update as the counts they protect: after
        # a crash either both survived or neither did. A late mention is
        # checked and marked there too, so re-reading it after a crash cannot
        # count it a second time in an open bucket.
        stored = self.store.get(mention.brand, home)
        home_bucket = stored if stored is not None else Bucket(mention.brand, home, self.size)
        if _already_counted(home_bucket, mention, offset):
            return AddResult("duplicate", home)
        self._catch_up(mention.brand, home)
        late = state.next_close is not None and home < state.next_close
        if late:
            state.late += 1
            if stored is not None:  # never re-create a bucket that retention deleted
                _mark(home_bucket, mention, offset)
                self.store.put(mention.brand, home, home_bucket)
            if self.late_policy == "drop":
                return AddResult("dropped", home)
            assert state.next_close is not None
            start = state.next_close
            bucket = self.store.get(mention.brand, start) or Bucket(mention.brand, start, self.size)
        else:
            start, bucket = home, home_bucket
            if state.next_close is None and (state.earliest_open is None or start < state.earliest_open):
                state.earliest_open = start
        first = state.brands.get(mention.brand)
        if first is None or start < first:
            state.brands[mention.brand] = start
        _mark(bucket, mention, offset)
        bucket.add(mention)
        self.store.put(mention.brand, start, bucket)
        if clock is not None:
            self.observe_time(mention.created_at, wall_now, clock=clock)
        return AddResult("late" if late else "added", start)

    def add_counts(self, counts: MentionCounts, wall_now: float, offset: int | None = None) -> CountsResult:
        """Count a ``MentionCounts`` record: each bucket part goes to its own
        bucket, or, when that has closed, to the oldest open one (like a late
        mention); the range mark is checked and set in the part's own bucket,
        as for a single mention (see ``add``)."""
        state = self.state
        result = CountsResult()
        late_parts: list[Bucket] = []
        for part in counts.buckets:
            home = self.bucket_start(part.start)
            stored = self.store.get(counts.brand, home)
            home_bucket = stored if stored is not None else Bucket(counts.brand, home, self.size)
            status = _range_status(home_bucket, counts.ranges)
            if status == "counted":
                result.duplicate += part.total
                continue
            if status == "overlap":
                result.overlaps += 1
            self._catch_up(counts.brand, home)
            late = state.next_close is not None and home < state.next_close
            if late:
                state.late += part.total
                if stored is not None:  # never re-create a bucket that retention deleted
                    _mark_ranges(home_bucket, counts.ranges, offset)
                    self.store.put(counts.brand, home, home_bucket)
                if self.late_policy == "drop":
                    result.dropped += part.total
                else:
                    result.late += part.total
                    late_parts.append(part)
                continue
            if state.next_close is None and (state.earliest_open is None or home < state.earliest_open):
                state.earliest_open = home
            self._first_seen(counts.brand, home)
            _mark_ranges(home_bucket, counts.ranges, offset)
            home_bucket.merge(part)
            self.store.put(counts.brand, home, home_bucket)
            result.added += part.total
        if late_parts:
            assert state.next_close is not None
            start = state.next_close
            target = self.store.get(counts.brand, start) or Bucket(counts.brand, start, self.size)
            for part in late_parts:
                target.merge(part)
            self._first_seen(counts.brand, start)
            self.store.put(counts.brand, start, target)
        counted = result.added + result.late
        if counted and not result.duplicate and counts.sent and counts.waits:
            delay = max(0.0, wall_now - counts.sent)
            result.latencies = [delay + w / 1000.0 for w in counts.waits]
        return result

    def _catch_up(self, brand: str, home: float) -> None:
        """A part for a bucket the store says was closed and sent while the
        state says it is open: the state, written after the buckets, was lost
        in a crash between the two writes. The store keeps only the marks of
        the buckets before the close point it was last flushed with, for every
        brand, so the state catches up with the newest of them; otherwise the
        part would re-open a bucket that was sent and send it again holding
        only itself.

        Rare (only after such a crash), so every brand is looked at."""
        state = self.state
        if state.next_close is not None and home < state.next_close:
            return
        if not self.store.closed_before(brand, home):
            return
        ends = [self.store.closed_until(b) for b in {brand, *state.brands}]
        state.next_close = max([home + self.size, *(end for end in ends if end is not None)])
        self.caught_up += 1

    def _first_seen(self, brand: str, start: float) -> None:
        first = self.state.brands.get(brand)
        if first is None or start < first:
            self.state.brands[brand] = start

    def observe_time(self, event_time: float, wall_now: float, clock: str = "local") -> None:
        """A clock reports that event time has reached ``event_time`` (idempotent)."""
        state = self.state
        if event_time > wall_now + self.max_future:
            event_time = wall_now + self.max_future
            self.clamped += 1
        previous = state.clocks.get(clock)
        state.clocks[clock] = [max(event_time, previous[0]) if previous else event_time, wall_now]
        if state.first_report is None:
            state.first_report = wall_now
        if state.next_close is None:
            first = self.bucket_start(event_time - self.allowed_lateness)
            if state.earliest_open is not None:
                first = min(first, state.earliest_open)
            state.next_close = first

    def _silent_for(self, seen: float, wall_now: float) -> float:
        return wall_now - max(seen, self.resumed_at)

    def event_clock(self, wall_now: float) -> float | None:
        state = self.state
        clocks = state.clocks
        if not clocks:
            return None
        if self.expected_clocks and state.first_report is not None:
            starting = wall_now - state.first_report < self.idle_close
            if starting and any(name not in clocks for name in self.expected_clocks):
                return None  # a partition's worker may still be starting
        active = [t for t, seen in clocks.values() if self._silent_for(seen, wall_now) <= self.idle_close]
        if active:
            return min(active)
        newest, seen = max(clocks.values())
        return newest + self._silent_for(seen, wall_now) - self.idle_close

    def watermark(self, wall_now: float) -> float | None:
        clock = self.event_clock(wall_now)
        return None if clock is None else clock - self.allowed_lateness

    def forget_idle_clocks(self, wall_now: float, horizon: float) -> None:
        """Drop clocks silent for longer than ``horizon`` (workers long gone)."""
        clocks = self.state.clocks
        if len(clocks) > 1:
            newest_seen = max(seen for _, seen in clocks.values())
            for name in [n for n, (_, seen) in clocks.items() if wall_now - seen > horizon and seen < newest_seen]:
                del clocks[name]

    def close_ready(self, wall_now: float, limit: int = MAX_CLOSE_PER_CALL) -> Iterator[Bucket]:
        """Yield the buckets (per brand) whose end has passed the watermark, at
        most about ``limit`` per call (whole bucket steps: every brand's
        bucket of one step is yielded before the step counts as closed).

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
        closed = 0
        while state.next_close + self.size <= mark and closed < limit:
            start = state.next_close
            for brand, first in sorted(state.brands.items()):
                if start < first:
                    continue  # a brand's history starts with its first mention
                closed += 1
                if self.store.closed_before(brand, start):
                    # Its state is older than its buckets (a crash between the two
                    # writes): the bucket went out with its counts before the store
                    # kept only its marks, and must not go out again as zeros.
                    continue
                yield self.store.get(brand, start) or Bucket(brand, start, self.size)
                old = start - self.size * self.retention_buckets
                self.store.delete(brand, old)
            state.next_close = start + self.size
            closed += 1  # a step costs something even with no brand to close
