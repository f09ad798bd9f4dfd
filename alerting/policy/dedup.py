"""Dedup stage: the delivery log, stored as records on ``<prefix>.deliveries``.

After a restart the notifier re-reads alerts whose offsets were not yet
committed; the log (what each channel was successfully sent, per alert
lifecycle) keeps those from reaching the channel twice. Firing records carry
the alert itself, so a restarted notifier also knows which alerts are still
active on each channel and keeps reminding (and re-sending to Alertmanager,
which would otherwise let them time out).
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
            "state": alert.state, "sequence": alert.sequence, "notification": note_id,
            "kind": note.kind, "delivered_at": delivered_at,
        }
        if alert.state == "firing":
            value["alert"] = alert_fields(alert)
        out.append((f"{note.channel}|{alert.key}".encode(),
                    json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()))
    return out


@dataclass
class ActiveAlert:
    event: AlertEvent
    delivered_at: float


@dataclass
class DeliveryLog:
    # (channel, alert key) -> {started_at: (state rank, sequence)}
    entries: dict[tuple[str, str], dict[float, tuple[int, int]]] = field(default_factory=dict)
    # (channel, alert key) -> the newest firing alert the channel was sent, until it resolves
    active: dict[tuple[str, str], ActiveAlert] = field(default_factory=dict)

    def record(self, channel: str, key: str, started_at: float, state: str, sequence: int) -> None:
        lifecycles = self.entries.setdefault((channel, key), {})
        mark = (STATE_RANK[state], sequence)
        if lifecycles.get(started_at, (-1, -1)) < mark:
            lifecycles[started_at] = mark
        if len(lifecycles) > KEEP_LIFECYCLES:
            for old in sorted(lifecycles)[: len(lifecycles) - KEEP_LIFECYCLES]:
                del lifecycles[old]

    def record_notification(self, note: Notification, delivered_at: float) -> None:
        for alert in note.alerts:
            self.record(note.channel, alert.key, alert.started_at, alert.state, alert.sequence)
            self._track_active(note.channel, alert, delivered_at)

    def _track_active(self, channel: str, alert: AlertEvent, delivered_at: float) -> None:
        slot = (channel, alert.key)
        mark = self.entries.get(slot, {}).get(alert.started_at)
        if mark is not None and mark > alert_identity(alert)[1:]:
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
            channel, key, state = str(data["channel"]), str(data["key"]), str(data["state"])
            started_at = float(data["started_at"])
            self.record(channel, key, started_at, state, int(data["sequence"]))
            delivered_at = float(data.get("delivered_at", 0.0))
            if state == "resolved":
                self._track_active(channel, _resolved_marker(key, started_at, int(data["sequence"])), delivered_at)
            elif isinstance(data.get("alert"), dict):
                self._track_active(channel, AlertEvent.from_dict(data["alert"]), delivered_at)
        except (ValueError, KeyError, TypeError):
            return False
        return True

    def delivered(self, channel: str, event: AlertEvent) -> bool:
        """True when this update, or a later one of the same lifecycle, was delivered."""
        mark = self.entries.get((channel, event.key), {}).get(event.started_at)
        if mark is None:
            return False
        return mark >= alert_identity(event)[1:]

    def undelivered(self, note: Notification) -> list[AlertEvent]:
        return [a for a in note.alerts if not self.delivered(note.channel, a)]


def _resolved_marker(key: str, started_at: float, sequence: int) -> AlertEvent:
    """Just enough of a resolved alert to order it against firing ones."""
    return AlertEvent(key=key, brand="", brand_name="", signal="", state="resolved", severity="warning",
                      started_at=started_at, event_time=started_at, window_seconds=0.0, value=0.0, baseline=0.0,
                      statistic=0.0, negative=0, total=0, negative_share=0.0, baseline_share=0.0,
                      volume_change=0.0, sequence=sequence)
