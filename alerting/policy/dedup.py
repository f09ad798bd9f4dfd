"""The delivery log (Alertmanager's notification log), stored as records on
``<prefix>.deliveries``: what each channel was successfully told, per alert
lifecycle. It is written only after a platform accepted a message, so it
is the truth the dedup stage compares an episode's current state with: a
message that failed to go out leaves no trace here, and the next attempt
tells the channel everything it has not heard.

After a restart the notifier re-reads alerts whose offsets were not yet
committed; the log keeps those from reaching the channel twice. Firing
records carry the alert itself, so a restarted notifier also knows which
alerts are still active on each channel and keeps reminding (and re-sending
to Alertmanager, which would otherwise let them time out).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from alerting.message import STATE_RANK, Notification, alert_fields, alert_identity
from streams.models import AlertEvent

# Lifecycles remembered per (channel, alert key); older ones are long resolved.
KEEP_LIFECYCLES = 8


def delivery_records(note: Notification, delivered_at: float) -> list[tuple[bytes, bytes]]:
    """(key, value) records to append after ``note`` was delivered."""
    out = []
    note_id = note.id
    for alert in note.alerts:
        value = {
            "channel": note.channel, "key": alert.key, "started_at": alert.started_at,
            "state": alert.state, "sequence": alert.sequence, "severity": alert.severity, "notification": note_id,
            "kind": note.kind, "delivered_at": delivered_at,
        }
        if alert.state == "firing":
            value["alert"] = alert_fields(alert)
        out.append(_record(f"{note.channel}|{alert.key}", value))
    return out


def owed_records(note: Notification, at: float) -> list[tuple[bytes, bytes]]:
    """(key, value) records saying the channel is owed news of these
    episodes: written before a failed message is parked, so that a
    restarted notifier, which reads this log before anything else, tells
    the channel about an episode even if only its resolve is read again."""
    out = []
    for alert in note.alerts:
        value = {"type": "owed", "channel": note.channel, "key": alert.key, "started_at": alert.started_at, "at": at}
        out.append(_record(f"{note.channel}|{alert.key}", value))
    return out


def _record(key: str, value: dict[str, Any]) -> tuple[bytes, bytes]:
    """ASCII JSON: an alert key with a lone surrogate survives the round trip
    exactly (the log must match the alert again) instead of failing to encode."""
    return key.encode("utf-8", "surrogatepass"), json.dumps(value, separators=(",", ":")).encode()


@dataclass
class ActiveAlert:
    event: AlertEvent
    delivered_at: float


@dataclass(frozen=True)
class Mark:
    """The newest update of one lifecycle a channel was told: (state rank,
    sequence), and the severities it was told at that update. Severity
    matters when a detector that lost its state re-sends a sequence number
    with a different severity: that is news, not a duplicate."""

    rank: int
    sequence: int
    severities: frozenset[str] = frozenset()  # empty: a record from before severities were logged

    def covers(self, event: AlertEvent) -> bool:
        mine, theirs = (self.rank, self.sequence), alert_identity(event)[1:]
        if mine != theirs:
            return mine > theirs
        return not self.severities or event.severity in self.severities


@dataclass
class DeliveryLog:
    # (channel, alert key) -> {started_at: Mark}
    entries: dict[tuple[str, str], dict[float, Mark]] = field(default_factory=dict)
    # (channel, alert key) -> the newest firing alert the channel was sent, until it resolves
    active: dict[tuple[str, str], ActiveAlert] = field(default_factory=dict)
    # (channel, alert key) -> lifecycles a message was due for but not yet delivered (owed_records)
    owed: dict[tuple[str, str], set[float]] = field(default_factory=dict)

    def record(self, channel: str, key: str, started_at: float, state: str, sequence: int, severity: str = "") -> None:
        lifecycles = self.entries.setdefault((channel, key), {})
        current = lifecycles.get(started_at)
        told = frozenset({severity}) if severity else frozenset()
        if current is None or (current.rank, current.sequence) < (STATE_RANK[state], sequence):
            lifecycles[started_at] = Mark(STATE_RANK[state], sequence, told)
        elif (current.rank, current.sequence) == (STATE_RANK[state], sequence) and current.severities and told:
            lifecycles[started_at] = Mark(current.rank, current.sequence, current.severities | told)
        if len(lifecycles) > KEEP_LIFECYCLES:
            for old in sorted(lifecycles)[: len(lifecycles) - KEEP_LIFECYCLES]:
                del lifecycles[old]
        owed = self.owed.get((channel, key))
        if owed is not None:
            owed.discard(started_at)  # told something: the delivery marks take over
            if not owed:
                del self.owed[(channel, key)]

    def record_owed(self, note: Notification) -> None:
        for alert in note.alerts:
            self._owe(note.channel, alert.key, alert.started_at)

    def _owe(self, channel: str, key: str, started_at: float) -> None:
        if started_at in self.entries.get((channel, key), {}):
            return
        owed = self.owed.setdefault((channel, key), set())
        owed.add(started_at)
        if len(owed) > KEEP_LIFECYCLES:
            owed.discard(min(owed))

    def is_owed(self, channel: str, event: AlertEvent) -> bool:
        return event.started_at in self.owed.get((channel, event.key), ())

    def ended(self, channel: str, event: AlertEvent) -> bool:
        """The channel was told this lifecycle resolved: nothing of it is news any more."""
        mark = self.entries.get((channel, event.key), {}).get(event.started_at)
        return mark is not None and mark.rank == STATE_RANK["resolved"]

    def record_notification(self, note: Notification, delivered_at: float) -> None:
        for alert in note.alerts:
            self.record(note.channel, alert.key, alert.started_at, alert.state, alert.sequence, alert.severity)
            self._track_active(note.channel, alert, delivered_at)

    def _track_active(self, channel: str, alert: AlertEvent, delivered_at: float) -> None:
        slot = (channel, alert.key)
        mark = self.entries.get(slot, {}).get(alert.started_at)
        if mark is not None and (mark.rank, mark.sequence) > alert_identity(alert)[1:]:
            return  # an older update of a lifecycle that has moved on (maybe resolved)
        current = self.active.get(slot)
        if current is not None and alert_identity(current.event) > alert_identity(alert):
            return  # an older lifecycle
        if alert.state == "resolved":
            self.active.pop(slot, None)
        else:
            self.active[slot] = ActiveAlert(alert, max(delivered_at, current.delivered_at if current else 0.0))

    def still_active(self) -> list[tuple[str, AlertEvent]]:
        """(channel, alert) pairs whose last delivered update was a firing one."""
        return [(channel, a.event) for (channel, _), a in self.active.items()]

    def apply_record(self, payload: bytes | None) -> bool:
        if not payload:
            return False
        try:
            data: Any = json.loads(payload)
            if data.get("type") == "owed":
                self._owe(str(data["channel"]), str(data["key"]), float(data["started_at"]))
                return True
            channel, key, state = str(data["channel"]), str(data["key"]), str(data["state"])
            started_at = float(data["started_at"])
            self.record(channel, key, started_at, state, int(data["sequence"]), str(data.get("severity", "")))
            delivered_at = float(data.get("delivered_at", 0.0))
            if state == "resolved":
                self._track_active(channel, _resolved_marker(key, started_at, int(data["sequence"])), delivered_at)
            elif isinstance(data.get("alert"), dict):
                self._track_active(channel, AlertEvent.from_dict(data["alert"]), delivered_at)
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
            return False  # a record this version cannot read is skipped, never fatal
        return True

    def heard(self, channel: str, event: AlertEvent) -> bool:
        """True when the channel was told this update, or a later one of the same lifecycle."""
        mark = self.entries.get((channel, event.key), {}).get(event.started_at)
        return mark is not None and mark.covers(event)

    delivered = heard

    def heard_any(self, channel: str, event: AlertEvent) -> bool:
        """True when the channel was told anything about this lifecycle."""
        return event.started_at in self.entries.get((channel, event.key), {})

    def heard_sequence(self, channel: str, event: AlertEvent) -> int:
        """The newest update of this lifecycle the channel was told (0: none)."""
        mark = self.entries.get((channel, event.key), {}).get(event.started_at)
        return mark.sequence if mark is not None else 0


def _resolved_marker(key: str, started_at: float, sequence: int) -> AlertEvent:
    """Just enough of a resolved alert to order it against firing ones."""
    return AlertEvent(key=key, brand="", brand_name="", signal="", state="resolved", severity="warning",
                      started_at=started_at, event_time=started_at, window_seconds=0.0, value=0.0, baseline=0.0,
                      statistic=0.0, negative=0, total=0, negative_share=0.0, baseline_share=0.0,
                      volume_change=0.0, sequence=sequence)
