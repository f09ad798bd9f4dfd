"""A brand's incident as a whole, beyond any one signal: from the bucket in
which its first alert fired to the bucket in which its last one resolved.

The alert message tells a PR team what the crisis is about (its top stories:
how many posts tell each, how often they were reposted), how big it got
(negative posts, stories, the worst severity reached) and which signals
fired. No single signal's window holds that, so the detector keeps this
tally beside its evidence and every alert event carries it as
``evidence["incident"]`` (docs/alerting.md, "How to read an incident
message"). Plain state, bounded: at most MAX_STORIES stories are counted one
by one (``more_stories`` says when there were more).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from streams.models import AlertEvent, Bucket

MAX_STORIES = 64
# The buckets just before an incident opens hold the posts that started it
# (the detector seeds its evidence from them): their stories are counted too.
RECENT_BUCKETS = 2
RECENT_STORIES = 8  # per recent bucket, the stories with the most posts


def _add(into: dict[str, list[int]], stories: dict[str, list[int]], cap: int) -> bool:
    """Add story counts; False when a story did not fit under ``cap``."""
    fitted = True
    for story, (posts, reposts) in stories.items():
        counts = into.get(story)
        if counts is None:
            if len(into) >= cap:
                fitted = False
                continue
            counts = into[story] = [0, 0]
        counts[0] += int(posts)
        counts[1] += int(reposts)
    return fitted


@dataclass
class IncidentTally:
    opened_at: float | None = None  # start of the bucket in which the first alert fired; None: no incident
    negative: int = 0  # negative posts since then
    total: int = 0  # posts since then
    stories: dict[str, list[int]] = field(default_factory=dict)  # story -> [negative posts, reposts]
    more_stories: bool = False
    severity: str = ""  # the worst severity any of its alerts reached
    signals: list[str] = field(default_factory=list)  # alert keys (signals) that fired, in order
    recent: list[dict[str, list[int]]] = field(default_factory=list)  # story counts of the last buckets

    def open(self, bucket: Bucket) -> None:
        self.opened_at = bucket.start
        self.negative = self.total = 0
        self.stories, self.more_stories, self.severity, self.signals = {}, False, "", []
        for earlier in self.recent:
            self.more_stories |= not _add(self.stories, earlier, MAX_STORIES)
        self.collect(bucket)

    def collect(self, bucket: Bucket) -> None:
        self.negative += bucket.negative
        self.total += bucket.total
        self.more_stories |= not _add(self.stories, bucket.stories, MAX_STORIES)

    def close(self) -> None:
        self.opened_at = None
        self.negative = self.total = 0
        self.stories, self.more_stories, self.severity, self.signals = {}, False, "", []

    def remember(self, bucket: Bucket) -> None:
        top = sorted(bucket.stories.items(), key=lambda kv: (-kv[1][0], kv[0]))[:RECENT_STORIES]
        self.recent = [*self.recent, {k: list(v) for k, v in top}][-RECENT_BUCKETS:]

    def describe(self, events: Iterable[AlertEvent]) -> None:
        """Note what these events say (severity, signals) and attach the
        tally to each: ``evidence["incident"]``."""
        events = list(events)
        for event in events:
            if event.state == "firing" and event.signal not in self.signals:
                self.signals.append(event.signal)
            if event.severity == "critical" or not self.severity:
                self.severity = event.severity
        if self.opened_at is None:
            return
        for event in events:
            shown = {str(p.get("story") or p.get("id", "")) for p in event.top_posts}
            event.evidence["incident"] = {
                "opened_at": self.opened_at, "negative": self.negative, "total": self.total,
                "stories": len(self.stories), "more_stories": self.more_stories, "severity": self.severity,
                "signals": list(self.signals),
                "story_counts": {k: list(v) for k, v in self.stories.items() if k in shown},
            }

    def to_dict(self) -> dict[str, Any]:
        return {"opened_at": self.opened_at, "negative": self.negative, "total": self.total,
                "stories": {k: list(v) for k, v in self.stories.items()}, "more_stories": self.more_stories,
                "severity": self.severity, "signals": list(self.signals), "recent": [dict(r) for r in self.recent]}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> IncidentTally:
        if not data:
            return cls()
        opened = data.get("opened_at")
        return cls(opened_at=float(opened) if opened is not None else None, negative=int(data.get("negative", 0)),
                   total=int(data.get("total", 0)),
                   stories={str(k): [int(v[0]), int(v[1])] for k, v in dict(data.get("stories") or {}).items()},
                   more_stories=bool(data.get("more_stories", False)), severity=str(data.get("severity", "")),
                   signals=[str(s) for s in data.get("signals", [])],
                   recent=[{str(k): [int(v[0]), int(v[1])] for k, v in dict(r).items()}
                           for r in data.get("recent", [])][-RECENT_BUCKETS:])
