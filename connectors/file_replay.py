"""File replay: push a file (or a folder of files) of posts into ``koubei.posts``
in event-time order.

Used by the demo, the tests and anyone replaying history through a live
pipeline. Any format the readers know (``streams.readers``: JSONL of posts,
MediaCrawler, weibo-search, weibo-crawler, CSV/JSON with a mapping) is read
with the same input gate as every other entry point. Lines of a JSONL file
of posts are sent as they are (bytes untouched) so that the worker, not the
replayer, decides what is valid: a malformed line reaches the dead-letter
topic with its reason exactly as it would from a real source. Records of
other formats are sent as Post JSON when valid, and as their original
bytes (the JSON of a CSV row's cells) when not, so that the worker
dead-letters them like any other bad record.

``--dry-run`` reads and validates without sending (``dry_run_summary``).

Memory is bounded whatever the file's size: the records are sorted in runs
of about ``RUN_BYTES`` kept in temporary files and merged while they are
sent (``stream_records``, ``SortedRecords``).

Pacing: with ``speed`` N the gap between two posts is their ``created_at``
gap divided by N (``speed`` 60 plays an hour in a minute); with no speed
the file is sent as fast as the broker takes it.

Every record is confirmed: a record the producer refuses or Kafka does not
acknowledge (after the producer's own retries) is sent once more at the end
of the replay, and one that fails again is counted in ``failed`` with the
first error, never counted as sent (the command then says so and exits 1).
"""

from __future__ import annotations

import heapq
import pickle
import struct
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sized
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from connectors.csv_source import CsvOptions
from streams.gate import Gate, Rejection
from streams.readers import CSV, JSONL, Cursor, FieldMapping, file_reader, files_in


@dataclass(frozen=True)
class ReplayRecord:
    line_no: int
    key: bytes | None
    value: bytes
    event_time: float | None  # None when the line could not be read as a post
    reason: str | None = None  # why the gate refused it (the worker will say the same)


@dataclass
class ReplayStats:
    total: int = 0
    sent: int = 0
    unreadable: int = 0
    first_event_time: float | None = None
    last_event_time: float | None = None
    elapsed: float = 0.0
    failed: int = 0  # records Kafka did not confirm, even when sent again
    first_error: str = ""


# Records held in memory before a sorted run of them goes to a temporary
# file: about 64 MiB of record bytes (a replay of a multi-GB crawler export
# used to hold the whole file, about five times its size in memory).
RUN_BYTES = 64 * 1024 * 1024
_LENGTH = struct.Struct("<I")  # a pickled record's length in a run file
# The readers' share of a CSV or JSON lines file per call.
READ_BYTES = 16 * 1024 * 1024
# What a record costs in memory beyond its bytes (the record, its key, the sort tuple).
RECORD_OVERHEAD = 200


class SortedRecords:
    """Records in event-time order, each read once: ``len`` is known before
    iterating. Beyond ``RUN_BYTES`` the input is sorted in runs kept in
    temporary files and merged while iterating (an external merge sort), so
    memory stays bounded whatever the file's size. The order is exactly the
    in-memory one: by event time, then by reading order, a record that could
    not be read taking the time of the readable record before it."""

    def __init__(self, records: list[tuple[float, int, ReplayRecord]], runs: list[Any], total: int) -> None:
        self._records = records  # (sort time, reading order, record), sorted
        self._runs = runs
        self.total = total

    def __len__(self) -> int:
        return self.total

    def __iter__(self) -> Iterator[ReplayRecord]:
        if not self._runs:
            yield from (record for _, _, record in self._records)
            return
        streams = [_run_items(run) for run in self._runs]
        if self._records:
            streams.append(iter(self._records))
        for _, _, record in heapq.merge(*streams, key=lambda item: (item[0], item[1])):
            yield record

    def close(self) -> None:
        for run in self._runs:
            run.close()
        self._runs = []


def _run_items(run: Any) -> Iterator[tuple[float, int, ReplayRecord]]:
    # Length-prefixed pickles, read one at a time: pickle.Unpickler on the
    # file read a whole run back into memory at once (measured: 176 MB for
    # a 64 MiB run), which is what the runs are there to avoid.
    run.seek(0)
    while header := run.read(_LENGTH.size):
        (size,) = _LENGTH.unpack(header)
        yield pickle.loads(run.read(size))


def stream_records(path: str | Path, *, fmt: str | None = None, mapping: FieldMapping | None = None,
                   source: str | None = None, csv_options: CsvOptions | None = None,
                   gate: Gate | None = None, run_bytes: int = RUN_BYTES) -> SortedRecords:
    """Read a file or a folder (format told apart per file unless ``fmt``) and
    order the records by event time, in bounded memory. ``csv_options`` (a
    csv connector's settings) give the mapping, delimiter and zone of a CSV
    file.

    Records that cannot be read as posts keep their place relative to their
    neighbours (they sort with the previous readable record's time) so a
    bad record is replayed, not dropped. Raises ReaderError (a ValueError)
    for a file that cannot be read at all."""
    gate = gate or Gate()
    delimiter = None
    encoding = None
    if csv_options is not None:
        mapping = FieldMapping.parse(csv_options.mapping)
        fmt, delimiter = fmt or "csv", csv_options.delimiter
        encoding = csv_options.encoding or None
        if csv_options.default_timezone:
            gate = Gate(replace(gate.rules, default_timezone=csv_options.default_timezone), gate.clock)
    reader = file_reader(fmt, gate, mapping=mapping, source=source, delimiter=delimiter, encoding=encoding)
    pending: list[tuple[float, int, ReplayRecord]] = []
    pending_bytes = 0
    runs: list[Any] = []
    index = 0
    last = float("-inf")
    try:
        for file in files_in(path):
            cursor: Cursor | None = None
            limit: int | None = READ_BYTES
            while True:
                read, after = reader.read(file, cursor, max_bytes=limit)
                for record in read:
                    replay_record = _replay_record(record, after.format == JSONL and mapping is None)
                    if replay_record.event_time is not None:
                        last = replay_record.event_time
                    pending.append((last if replay_record.event_time is None else replay_record.event_time, index,
                                    replay_record))
                    index += 1
                    pending_bytes += len(replay_record.value) + RECORD_OVERHEAD
                    if pending_bytes >= run_bytes:
                        runs.append(_spill(pending))
                        pending, pending_bytes = [], 0
                if after.container not in (CSV, JSONL):
                    break  # a JSON document is read whole, in one call
                if cursor is not None and after.offset == cursor.offset:
                    if limit is None or after.offset >= after.size:
                        break
                    limit = None  # one line longer than a chunk: read on to the end of the file
                    continue
                cursor, limit = after, READ_BYTES
    except BaseException:
        for run in runs:
            run.close()
        raise
    pending.sort(key=lambda item: (item[0], item[1]))
    return SortedRecords(pending, runs, index)


def _replay_record(record: Any, passthrough: bool) -> ReplayRecord:
    result = record.result
    if isinstance(result, Rejection):
        return ReplayRecord(record.position, None, record.original, None, result.reason)
    if passthrough:  # posts: bytes untouched
        return ReplayRecord(record.position, result.key.encode(), record.original, result.event_time)
    return ReplayRecord(record.position, result.key.encode(), result.to_json(), result.event_time)


def _spill(items: list[tuple[float, int, ReplayRecord]]) -> Any:
    """One sorted run in a temporary file (deleted when closed)."""
    items.sort(key=lambda item: (item[0], item[1]))
    run = tempfile.TemporaryFile(prefix="koubei-replay-")
    for item in items:
        data = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
        run.write(_LENGTH.pack(len(data)))
        run.write(data)
    run.flush()
    return run


def load_records(path: str | Path, *, fmt: str | None = None, mapping: FieldMapping | None = None,
                 source: str | None = None, csv_options: CsvOptions | None = None,
                 gate: Gate | None = None) -> list[ReplayRecord]:
    """``stream_records`` as a list (for small files and the tests)."""
    records = stream_records(path, fmt=fmt, mapping=mapping, source=source, csv_options=csv_options, gate=gate)
    try:
        return list(records)
    finally:
        records.close()


def _error_text(exc: BaseException) -> str:
    """``Kind: message``, once: kafka-python's errors already start with their kind."""
    kind, text = type(exc).__name__, str(exc)
    return text if text.startswith(kind) else f"{kind}: {text}"


class KafkaNoAnswer(Exception):
    """A record the producer neither confirmed nor failed by the end of a flush."""


class _Deliveries:
    """What Kafka said about each record sent: confirmed, failed, or nothing yet.

    A record counts as sent only on its confirmation. ``flush()`` can end (or
    raise) with a future still open; such a record is a failure too, never a
    silent success."""

    def __init__(self, producer: Any, topic: str) -> None:
        self.producer = producer
        self.topic = topic
        self.failures: list[tuple[ReplayRecord, BaseException]] = []
        self._open: dict[int, ReplayRecord] = {}
        self._next = 0

    def send(self, record: ReplayRecord) -> None:
        """Send one record; a refusal now or a failed acknowledgement later goes to ``failures``."""
        timestamp_ms = int(record.event_time * 1000) if record.event_time is not None else None
        try:
            future = self.producer.send(self.topic, key=record.key, value=record.value, timestamp_ms=timestamp_ms)
        except Exception as exc:  # noqa: BLE001 - kafka-python raises several kinds in send(); one record, not the replay
            self.failures.append((record, exc))
            return
        ticket = self._next
        self._next += 1
        self._open[ticket] = record
        # The callbacks run in the producer's I/O thread (or at once when the
        # future is already done); dict.pop and list.append are atomic.
        future.add_callback(lambda _metadata: self._open.pop(ticket, None))
        future.add_errback(lambda exc: self._failed(ticket, record, exc))

    def _failed(self, ticket: int, record: ReplayRecord, exc: BaseException) -> None:
        # A late answer to a record already given up on (and sent again) is not news.
        if self._open.pop(ticket, None) is not None:
            self.failures.append((record, exc))

    def settle(self) -> list[tuple[ReplayRecord, BaseException]]:
        """Flush, then hand over (and forget) every failed or unconfirmed record."""
        flush_error: BaseException | None = None
        try:
            self.producer.flush()
        except Exception as exc:  # noqa: BLE001 - reported on the records it left without an answer
            flush_error = exc
        unanswered = [record for ticket in sorted(self._open)
                      if (record := self._open.pop(ticket, None)) is not None]
        if unanswered:
            reason = flush_error or KafkaNoAnswer("no acknowledgement from Kafka when the flush ended")
            self.failures.extend((record, reason) for record in unanswered)
        failures, self.failures = self.failures, []
        return failures


def dry_run_summary(records: Iterable[ReplayRecord]) -> dict[str, Any]:
    """What ``--dry-run`` prints: valid posts, repeats of a key already seen
    (a re-crawl, an overlapping search, a second crawler), invalid records by reason."""
    seen: set[bytes] = set()
    valid = duplicates = 0
    reasons: Counter[str] = Counter()
    for record in records:
        if record.key is None:
            reasons[record.reason or "invalid"] += 1
        elif record.key in seen:
            duplicates += 1
        else:
            seen.add(record.key)
            valid += 1
    return {"valid": valid, "duplicates": duplicates, "invalid": sum(reasons.values()),
            "by_reason": dict(sorted(reasons.items()))}


def replay(records: Iterable[ReplayRecord], producer: Any, topic: str, *, speed: float | None = None,
           on_progress: Callable[[ReplayStats], None] | None = None, progress_every: float = 0.5,
           stop: threading.Event | None = None, clock: Callable[[], float] = time.monotonic,
           sleep: Callable[[float], None] = time.sleep) -> ReplayStats:
    # Records that know their length (a list, SortedRecords) are iterated
    # once as they are, never copied whole.
    items = records if isinstance(records, Sized) else list(records)
    stats = ReplayStats(total=len(items))
    started = clock()
    last_report = started
    t0: float | None = None
    deliveries = _Deliveries(producer, topic)
    for record in items:
        if stop is not None and stop.is_set():
            break
        if record.event_time is None:
            stats.unreadable += 1
        else:
            if t0 is None:
                t0 = record.event_time
                stats.first_event_time = record.event_time
            stats.last_event_time = record.event_time
            if speed:
                due = started + (record.event_time - t0) / speed
                delay = due - clock()
                if delay > 0:
                    # Sleep in short slices so Ctrl-C / stop() is honoured quickly.
                    while delay > 0 and not (stop is not None and stop.is_set()):
                        sleep(min(delay, 0.2))
                        delay = due - clock()
        deliveries.send(record)
        stats.sent += 1
        now = clock()
        if on_progress is not None and now - last_report >= progress_every:
            last_report = now
            stats.elapsed = now - started
            on_progress(stats)
    failures = deliveries.settle()
    if failures:
        # Once more, in their order: a broker that was briefly away has them now.
        # A record whose answer was only late may arrive twice; a post's key
        # makes the second copy a duplicate downstream, never a lost post.
        for record, _ in sorted(failures, key=lambda failure: failure[0].line_no):
            deliveries.send(record)
        again = deliveries.settle()
        stats.failed = len(again)
        stats.sent -= len(again)
        if again:
            stats.first_error = f"line {again[0][0].line_no}: {_error_text(again[0][1])}"
    stats.elapsed = clock() - started
    if on_progress is not None:
        on_progress(stats)
    return stats
