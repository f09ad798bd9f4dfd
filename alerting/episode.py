"""Episodes: one alert lifecycle (an alert key and its ``started_at``) as the
notifier knows it: the newest update, and the milestones it went through
(fired, escalated to critical, back to warning, resolved).

The milestones are what a channel is told when it missed updates, e.g.
after an outage: "fired 13:08, critical 13:12, resolved 13:40" in one
message instead of a bare "resolved" for a crisis it never heard of.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from alerting.message import alert_identity
from streams.models import AlertEvent

MILESTONE_KINDS = ("fired", "escalated", "deescalated", "resolved")
SEVERITY_RANK = {"warning": 0, "critical": 1}


def episode_id(event: AlertEvent) -> str:
    """The lifecycle an update belongs to: detectors restart ``sequence`` for
    a new lifecycle of the same key, which starts at a later bucket."""
    return f"{event.key}|{event.started_at!r}"


@dataclass(frozen=True)
class Milestone:
    kind: str  # one of MILESTONE_KINDS
    at: float  # event time
    severity: str  # "" when not known (the notifier joined the episode late)
    sequence: int  # the update that brought it; a channel told up to this sequence heard it

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "at": self.at, "severity": self.severity, "sequence": self.sequence}

    @classmethod
    def from_dict(cls, data: Any) -> Milestone:
        if not isinstance(data, dict) or data.get("kind") not in MILESTONE_KINDS:
            raise ValueError("milestone: expected an object with a known kind")
        at = float(data.get("at", 0.0))
        return cls(str(data["kind"]), at if math.isfinite(at) else 0.0, str(data.get("severity", "")),
                   int(data.get("sequence", 0)))


def _time_of(value: float | None, fallback: float) -> float:
    return value if value is not None and isinstance(value, (int, float)) and math.isfinite(value) else fallback


@dataclass
class Episode:
    latest: AlertEvent
    milestones: list[Milestone] = field(default_factory=list)

    @property
    def id(self) -> str:
        return episode_id(self.latest)

    @classmethod
    def start(cls, event: AlertEvent) -> Episode:
        """The first update the notifier sees of a lifecycle. When that is not
        the first one the detector sent (a restart, a replay), the firing is
        dated by ``started_at`` but its first severity is not known."""
        first_seen = event.sequence <= 1 and event.state == "firing"
        fired = Milestone("fired", _time_of(event.started_at, 0.0), event.severity if first_seen else "",
                          event.sequence if first_seen else min(1, event.sequence))
        episode = cls(event, [fired])
        if event.state == "resolved":
            episode.milestones.append(Milestone("resolved", _time_of(event.ended_at, event.event_time),
                                                event.severity, event.sequence))
        return episode

    def update(self, event: AlertEvent) -> bool:
        """Take a newer update of this lifecycle; False for an older or equal one.
        The same sequence number at another severity is newer: a detector that
        lost its state numbers its updates again."""
        mine, theirs = alert_identity(self.latest), alert_identity(event)
        if theirs < mine or (theirs == mine and event.severity == self.latest.severity):
            return False
        if event.state == "resolved":
            if not any(m.kind == "resolved" for m in self.milestones):
                self.milestones.append(Milestone("resolved", _time_of(event.ended_at, event.event_time),
                                                 event.severity, event.sequence))
        elif self.latest.state == "firing" and event.severity != self.latest.severity:
            rising = SEVERITY_RANK.get(event.severity, 0) > SEVERITY_RANK.get(self.latest.severity, 0)
            self.milestones.append(Milestone("escalated" if rising else "deescalated",
                                             _time_of(event.event_time, 0.0), event.severity, event.sequence))
        self.latest = event
        return True

    def merge(self, milestones: list[Milestone]) -> None:
        """Milestones learnt elsewhere (a parked notification read back after a
        restart) complete the ones seen here; a known severity wins over an
        unknown one."""
        by_step = {(m.kind, m.sequence): m for m in self.milestones}
        for milestone in milestones:
            known = by_step.get((milestone.kind, milestone.sequence))
            if known is None or (not known.severity and milestone.severity):
                by_step[(milestone.kind, milestone.sequence)] = milestone
        self.milestones = sorted(by_step.values(), key=lambda m: (m.sequence, MILESTONE_KINDS.index(m.kind)))

    def untold(self, heard_sequence: int) -> tuple[Milestone, ...]:
        """The milestones a channel that heard up to ``heard_sequence`` missed."""
        return tuple(m for m in self.milestones if m.sequence > heard_sequence)
