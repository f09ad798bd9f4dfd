"""The foundation's first spike rule: simple, documented, replaceable.

Rule (per brand, over closed buckets):
  * ``recent``   = negative posts in the last ``recent_buckets`` buckets;
  * ``baseline`` = mean negative posts per bucket over the ``history_buckets``
    buckets before those, times ``recent_buckets``;
  * FIRE when ``recent >= min_negative`` and
    ``recent >= ratio * max(baseline, floor)`` (``floor`` keeps a brand with a
    near-zero history from firing on two complaints);
  * severity is ``critical`` when ``recent >= critical_ratio * max(baseline, floor)``;
  * RESOLVE after ``resolve_after`` consecutive buckets in which the rule
    no longer holds.
History is only learned from buckets in which the alert is not firing, so
a crisis does not raise its own baseline.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from streams.models import AlertEvent, Bucket


@dataclass(frozen=True)
class SimpleParams:
    recent_buckets: int = 5
    history_buckets: int = 60
    min_negative: int = 8
    ratio: float = 3.0
    critical_ratio: float = 6.0
    floor: float = 1.0
    resolve_after: int = 5
    warmup_buckets: int = 10


class SimpleSpikeDetector:
    name = "simple"

    def __init__(self, brand: str, brand_name: str = "", params: SimpleParams | None = None,
                 state: dict[str, Any] | None = None) -> None:
        self.brand = brand
        self.brand_name = brand_name or brand
        self.params = params or SimpleParams()
        p = self.params
        state = state or {}
        if state.get("detector", self.name) != self.name:
            state = {}  # another algorithm's state (the config changed): start afresh
        self.recent: deque[list[float]] = deque(state.get("recent", []), maxlen=p.recent_buckets)
        self.history: deque[float] = deque(state.get("history", []), maxlen=p.history_buckets)
        self.firing: dict[str, Any] | None = state.get("firing")
        self.quiet: int = int(state.get("quiet", 0))
        self.last_start: float | None = state.get("last_start")
        self.sparkline: deque[float] = deque(state.get("sparkline", []), maxlen=30)

    def to_state(self) -> dict[str, Any]:
        return {
            "detector": self.name,
            "recent": [list(r) for r in self.recent],
            "history": list(self.history),
            "firing": self.firing,
            "quiet": self.quiet,
            "last_start": self.last_start,
            "sparkline": list(self.sparkline),
        }

    def update(self, bucket: Bucket) -> list[AlertEvent]:
        p = self.params
        if self.last_start is not None and bucket.start <= self.last_start:
            return []  # a re-delivered bucket: already counted
        self.last_start = bucket.start
        if len(self.recent) == p.recent_buckets:
            oldest = self.recent[0]
            if not self.firing:
                self.history.append(oldest[1])
        self.recent.append([bucket.total, bucket.negative])
        self.sparkline.append(bucket.negative)
        recent_neg = sum(r[1] for r in self.recent)
        recent_total = sum(r[0] for r in self.recent)
        hist_mean = sum(self.history) / len(self.history) if self.history else 0.0
        baseline = max(hist_mean * p.recent_buckets, p.floor)
        warmed = len(self.history) >= p.warmup_buckets
        hot = warmed and recent_neg >= p.min_negative and recent_neg >= p.ratio * baseline
        severity = "critical" if recent_neg >= p.critical_ratio * baseline else "warning"
        events: list[AlertEvent] = []
        if hot:
            self.quiet = 0
            if self.firing is None:
                self.firing = {"started_at": bucket.start, "peak": recent_neg, "severity": severity, "seq": 0}
                events.append(self._event("firing", severity, bucket, recent_neg, recent_total, baseline))
            else:
                self.firing["peak"] = max(self.firing["peak"], recent_neg)
                if severity == "critical" and self.firing["severity"] != "critical":
                    self.firing["severity"] = "critical"
                    events.append(self._event("firing", severity, bucket, recent_neg, recent_total, baseline))
        elif self.firing is not None:
            self.quiet += 1
            if self.quiet >= p.resolve_after:
                events.append(self._event("resolved", self.firing["severity"], bucket, recent_neg, recent_total, baseline))
                self.firing = None
                self.quiet = 0
        return events

    def _event(self, state: str, severity: str, bucket: Bucket, recent_neg: float,
               recent_total: float, baseline: float) -> AlertEvent:
        p = self.params
        assert self.firing is not None
        self.firing["seq"] += 1
        hist_share = None
        share = recent_neg / recent_total if recent_total else 0.0
        window = p.recent_buckets * bucket.size
        return AlertEvent(
            key=f"{self.brand}:negative_volume",
            brand=self.brand,
            brand_name=self.brand_name,
            signal="negative_volume",
            state=state,
            severity=severity,
            started_at=self.firing["started_at"],
            event_time=bucket.end,
            window_seconds=window,
            value=recent_neg,
            baseline=round(baseline, 4),
            statistic=round(recent_neg / baseline, 4) if baseline else 0.0,
            negative=int(recent_neg),
            total=int(recent_total),
            negative_share=round(share, 4),
            baseline_share=hist_share or 0.0,
            volume_change=0.0,
            summary=f"{int(recent_neg)} negative posts in {window / 60:g} min vs {baseline:.1f} usual",
            ended_at=bucket.end if state == "resolved" else None,
            peak_value=self.firing["peak"],
            peak_window_seconds=window,  # one fixed window: its peak is the largest value
            peak_severity=self.firing["severity"],
            risk_terms=sorted(([t, n] for t, n in bucket.risk_terms.items()), key=lambda x: -x[1])[:5],
            top_posts=list(bucket.top_negative[:3]),
            sparkline=list(self.sparkline),
            sequence=self.firing["seq"],
            detector=self.name,
        )
