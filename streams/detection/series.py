"""Run the volume detector over a NAB-format series (``timestamp,value``).

This is the stable interface behind ``koubei backtest --series``: one output
row per input row, ``timestamp,value,anomaly_score,alert``. ``alert`` is 1 on
the rows where the detector opened a volume alert (the moment a team would
be paged), not on every row while the alert stays open; ``anomaly_score`` is
the volume test statistic (the best window, or the long scale when that is
higher relative to its own threshold) squashed into [0, 1] so that 0.5 is
exactly a volume firing threshold in force at that row.
"""

from __future__ import annotations

import csv
import math
import statistics
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from streams.detection.adaptive import AdaptiveDetector
from streams.detection.params import AdaptiveParams
from streams.models import Bucket
from streams.readers.text import clip, file_encoding


class SeriesError(ValueError):
    """A series file that cannot be read; the message names the line."""


@dataclass(frozen=True)
class SeriesRow:
    timestamp: str  # as written in the input, echoed unchanged
    epoch: float
    value: float


@dataclass(frozen=True)
class ScoredRow:
    row: SeriesRow
    anomaly_score: float
    alert: int


def parse_timestamp(text: str, where: str) -> float:
    """NAB writes naive ``YYYY-MM-DD HH:MM:SS``; those are read as UTC."""
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise SeriesError(f"{where}: not a timestamp: {text[:40]!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def read_series(path: str | Path) -> list[SeriesRow]:
    """The rows of a NAB-format ``timestamp,value`` CSV. Any file gives rows or
    a SeriesError naming the line: bytes the detected encoding cannot read
    become U+FFFD (and fail as a timestamp or a number, not as a crash)."""
    file = Path(path)
    try:
        handle = file.open(newline="", encoding=file_encoding(file), errors="replace")
    except FileNotFoundError:
        raise SeriesError(f"{file}: file not found") from None
    except OSError as exc:
        raise SeriesError(f"{file}: cannot be read: {exc.strerror or exc}") from None
    try:
        with handle:
            return _series_rows(file, csv.reader(handle))
    except csv.Error as exc:
        raise SeriesError(f"{file}: not a timestamp,value CSV: {exc}") from None


def _series_rows(file: Path, reader: Iterator[list[str]]) -> list[SeriesRow]:
    header = next(reader, None)
    if header is None or [h.strip().lower() for h in header[:2]] != ["timestamp", "value"]:
        raise SeriesError(f"{file}:1: expected the header 'timestamp,value', got {clip(repr(header))}")
    rows: list[SeriesRow] = []
    previous: float | None = None
    for line_no, fields in enumerate(reader, start=2):
        if not fields or all(not f.strip() for f in fields):
            continue
        if len(fields) < 2:
            raise SeriesError(f"{file}:{line_no}: expected two columns timestamp,value")
        epoch = parse_timestamp(fields[0], f"{file}:{line_no}")
        try:
            value = float(fields[1])
        except ValueError:
            raise SeriesError(f"{file}:{line_no}: value is not a number: {fields[1][:40]!r}") from None
        if not math.isfinite(value) or value < 0:
            raise SeriesError(f"{file}:{line_no}: value must be a finite count >= 0, got {fields[1]!r}")
        if previous is not None and epoch <= previous:
            raise SeriesError(f"{file}:{line_no}: timestamps must increase")
        previous = epoch
        rows.append(SeriesRow(fields[0], epoch, value))
    if not rows:
        raise SeriesError(f"{file}: no data rows")
    return rows


def bucket_size(rows: list[SeriesRow]) -> float:
    """The series' sampling step: the median gap, robust to missing rows."""
    if len(rows) < 2:
        return 60.0
    gaps = [b.epoch - a.epoch for a, b in zip(rows, rows[1:], strict=False)]
    return max(1.0, float(statistics.median(gaps)))


# A series that is not counts is read as this many pseudo-counts at its
# median: the Poisson part of the variance (1/1000 of the square of the
# level) is then negligible next to any learned overdispersion, so the
# volume test becomes a test of the relative deviation against the series'
# own learned spread, whatever its unit.
PSEUDO_COUNT_MEDIAN = 1000.0


def count_scale(rows: list[SeriesRow]) -> float:
    """1 for a series of whole numbers (mention counts: the Poisson model
    holds); otherwise the factor that puts the median of its non-zero
    values at PSEUDO_COUNT_MEDIAN (a measurement: CPU %, latency, a price).
    Rounding a measurement such as 0.13 to a count would erase it."""
    if all(r.value == int(r.value) for r in rows):
        return 1.0
    positive = sorted(r.value for r in rows if r.value > 0)
    if not positive:
        return 1.0
    # A median below 1e-9 (denormal noise around zero) is taken as 1e-9.
    return PSEUDO_COUNT_MEDIAN / max(positive[len(positive) // 2], 1e-9)


def squash(z: float, z_fire: float) -> float:
    if not math.isfinite(z) or z <= 0:
        return 0.0
    return z * z / (z * z + z_fire * z_fire)


def score_series(rows: list[SeriesRow], params: AdaptiveParams | None = None,
                 brand: str = "series") -> list[ScoredRow]:
    params = params or AdaptiveParams()
    detector = AdaptiveDetector(brand, brand, params=params)
    size = bucket_size(rows)
    scale = count_scale(rows)
    out: list[ScoredRow] = []
    for row in rows:
        events = detector.update(Bucket(brand=brand, start=row.epoch, size=size, total=int(round(row.value * scale))))
        opened = any(e.signal == "volume" and e.state == "firing" and e.sequence == 1 for e in events)
        # Inside warm-up nothing can fire, and the statistic against a baseline
        # still being learned would only be noise in the score.
        score = 0.0
        if detector.last_warmed:
            # Either scale at its own firing threshold scores 0.5.
            score = squash(detector.last_short_volume_z, detector.volume_threshold)
            if params.volume_long_z > 0.0:
                score = max(score, squash(detector.last_long_z, params.volume_long_z))
        out.append(ScoredRow(row, round(score, 6), 1 if opened else 0))
    return out


def write_scored(path: str | Path, scored: Iterable[ScoredRow]) -> int:
    count = 0
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["timestamp", "value", "anomaly_score", "alert"])
        for item in scored:
            value = item.row.value
            writer.writerow([item.row.timestamp, int(value) if value == int(value) else value,
                             item.anomaly_score, item.alert])
            count += 1
    return count
