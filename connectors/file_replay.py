"""File replay: push a JSONL (or mapped CSV) file of posts into ``koubei.posts``
in event-time order.

Used by the demo, the tests and anyone replaying history through a live
pipeline. Lines are sent as they are (bytes untouched) so that the worker,
not the replayer, decides what is valid: a malformed line reaches the
dead-letter topic with its reason exactly as it would from a real source.

A CSV file needs a column mapping (``load_csv_records``): valid rows are
sent as Post JSON, and a row that cannot be mapped is sent as the JSON of
its cells so that the worker dead-letters it like any other bad record.

Pacing: with ``speed`` N the gap between two posts is their ``created_at``
gap divided by N (``speed`` 60 plays an hour in a minute); with no speed
the file is sent as fast as the broker takes it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.csv_source import CsvOptions, read_csv
from streams.gate import Gate, Rejection
from streams.models import Post


@dataclass(frozen=True)
class ReplayRecord:
    line_no: int
    key: bytes | None
    value: bytes
    event_time: float | None  # None when the line could not be read as a post


@dataclass
class ReplayStats:
    total: int = 0
    sent: int = 0
    unreadable: int = 0
    first_event_time: float | None = None
    last_event_time: float | None = None
    elapsed: float = 0.0


def _describe(raw: bytes, gate: Gate) -> tuple[bytes | None, float | None]:
    """The key and event time of a line the gate admits; (None, None) otherwise."""
    result = gate.admit(raw)
    if isinstance(result, Rejection):
        return None, None
    return result.key.encode(), result.event_time


def load_records(path: str | Path, *, csv_options: CsvOptions | None = None,
                 source: str = "csv", gate: Gate | None = None) -> list[ReplayRecord]:
    """Read a JSONL file (or a CSV file with ``csv_options``) and order it by event time.

    Lines that cannot be read as posts keep their place relative to their
    neighbours (they sort with the previous readable line's time) so a bad
    line is replayed, not dropped.
    """
    gate = gate or Gate()
    if csv_options is not None:
        return load_csv_records(csv_options, source=source, gate=gate)
    if str(path).lower().endswith((".csv", ".tsv")):
        raise ValueError(f"{path}: a CSV file needs a column mapping (koubei replay --map id=COL,text=COL,created_at=COL)")
    records: list[ReplayRecord] = []
    with open(path, "rb") as fh:
        for line_no, line in enumerate(fh, start=1):
            raw = line.rstrip(b"\r\n")
            if not raw.strip():
                continue
            key, created = _describe(raw, gate)
            records.append(ReplayRecord(line_no, key, raw, created))
    return _event_time_order(records)


def load_csv_records(options: CsvOptions, *, source: str = "csv", gate: Gate | None = None) -> list[ReplayRecord]:
    """Rows of a CSV file mapped to posts (see ``connectors.csv_source``), in event-time order."""
    records: list[ReplayRecord] = []
    for row_no, item in read_csv(options, source, gate=gate):
        if isinstance(item, Post):
            records.append(ReplayRecord(row_no, item.key.encode(), item.to_json(), item.event_time))
        else:
            records.append(ReplayRecord(row_no, None, item.original, None))
    return _event_time_order(records)


def _event_time_order(records: list[ReplayRecord]) -> list[ReplayRecord]:
    last = float("-inf")
    order: list[tuple[float, int, ReplayRecord]] = []
    for index, record in enumerate(records):
        if record.event_time is not None:
            last = record.event_time
        order.append((last if record.event_time is None else record.event_time, index, record))
    order.sort(key=lambda item: (item[0], item[1]))
    return [record for _, _, record in order]


def replay(records: Iterable[ReplayRecord], producer: Any, topic: str, *, speed: float | None = None,
           on_progress: Callable[[ReplayStats], None] | None = None, progress_every: float = 0.5,
           stop: threading.Event | None = None, clock: Callable[[], float] = time.monotonic,
           sleep: Callable[[float], None] = time.sleep) -> ReplayStats:
    items = list(records)
    stats = ReplayStats(total=len(items))
    started = clock()
    last_report = started
    t0: float | None = None
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
        timestamp_ms = int(record.event_time * 1000) if record.event_time is not None else None
        producer.send(topic, key=record.key, value=record.value, timestamp_ms=timestamp_ms)
        stats.sent += 1
        now = clock()
        if on_progress is not None and now - last_report >= progress_every:
            last_report = now
            stats.elapsed = now - started
            on_progress(stats)
    producer.flush()
    stats.elapsed = clock() - started
    if on_progress is not None:
        on_progress(stats)
    return stats
