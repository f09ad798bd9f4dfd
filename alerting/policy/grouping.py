"""Grouping stage: Alertmanager's group_wait / group_interval / repeat_interval.

Alerts that share a route, a channel and the values of the route's
``group_by`` labels travel in one message. A new group waits ``group_wait``
(so the other brands of an industry scandal join it), later changes are
batched every ``group_interval``, and an unchanged firing group is repeated
after ``repeat_interval``. Like Alertmanager's notification log, a group
remembers what it last told its channel about each alert, so silences and
quiet hours only postpone: an alert still firing when they end is sent then.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from alerting.channels import ChannelConfig
from alerting.config import QuietHours, RouteConfig
from alerting.message import Notification, alert_identity
from alerting.policy.routing import labels_of
from streams.models import AlertEvent


@dataclass(frozen=True)
class Timings:
    group_wait: float
    group_interval: float
    repeat_interval: float
    send_resolved: bool = True
    quiet_hours: QuietHours | None = None


def timings_for(route: RouteConfig, channel: ChannelConfig) -> Timings:
    interval, repeat = route.group_interval, route.repeat_interval
    cap = channel.options.reminder_cap()
    if cap is not None:
        # Alertmanager drops an alert it has not heard of for resolve_timeout:
        # re-send active ones every resend_interval (endsAt covers the gap).
        interval = min(interval, cap)
        repeat = min(repeat, cap)
    return Timings(route.group_wait, interval, repeat, channel.send_resolved, route.quiet_hours)


def group_labels(route: RouteConfig, event: AlertEvent) -> dict[str, str]:
    labels = labels_of(event)
    if "..." in route.group_by:
        return {**labels, "key": event.key}
    return {name: labels[name] for name in route.group_by}


@dataclass
class AggregationGroup:
    key: str
    channel: str
    labels: dict[str, str]
    timings: Timings
    next_flush: float
    alerts: dict[str, AlertEvent] = field(default_factory=dict)
    # What the channel was last told about each alert (alert_identity).
    notified: dict[str, tuple[float, int, int]] = field(default_factory=dict)
    tokens: dict[str, list[Any]] = field(default_factory=dict)
    last_notified: float | None = None

    def add(self, event: AlertEvent, token: Any, already_delivered: bool, now: float,
            notified_at: float | None = None) -> list[Any]:
        """Insert an update; returns tokens that need no delivery (stale replays)."""
        current = self.alerts.get(event.key)
        if current is not None and alert_identity(current) >= alert_identity(event):
            return [token] if token is not None else []
        self.alerts[event.key] = event
        if already_delivered:
            # A replay after restart of something the channel already got:
            # remember it (for reminders) without sending it again.
            self.notified[event.key] = alert_identity(event)
            if self.last_notified is None:
                # Without the time from the delivery log, counting the
                # reminder interval from now errs on the quiet side.
                self.last_notified = notified_at if notified_at is not None else now
            if event.state == "resolved":
                del self.alerts[event.key]
            return [token] if token is not None else []
        if token is not None:
            self.tokens.setdefault(event.key, []).append(token)
        return []

    def flush(self, now: float, silenced: Callable[[AlertEvent, float], bool]) -> tuple[Notification | None, list[Any]]:
        """Decide what to send now; returns (notification, tokens to release)."""
        quiet = self.timings.quiet_hours
        in_quiet = quiet is not None and quiet.contains(now)
        send: list[AlertEvent] = []
        changed = False
        release: list[Any] = []
        carried: list[Any] = []
        for key, alert in list(self.alerts.items()):
            tokens = self.tokens.pop(key, [])
            held = in_quiet and quiet is not None and alert.severity in quiet.severities
            if held:
                self.tokens[key] = tokens  # keep uncommitted until it is sent
                continue
            if silenced(alert, now):
                release.extend(tokens)
                if alert.state == "resolved":
                    # Silenced while it ended: tell nobody, forget it.
                    del self.alerts[key]
                    self.notified.pop(key, None)
                continue
            if alert.state == "resolved":
                was_told = key in self.notified
                if not self.timings.send_resolved or not was_told:
                    release.extend(tokens)
                    del self.alerts[key]
                    self.notified.pop(key, None)
                    continue
            if self.notified.get(key) != alert_identity(alert):
                changed = True
            send.append(alert)
            carried.extend(tokens)
        repeat_due = (self.last_notified is not None
                      and now - self.last_notified >= self.timings.repeat_interval
                      and any(a.state == "firing" for a in send))
        self.next_flush = now + self.timings.group_interval
        if not changed and not repeat_due:
            return None, release + carried
        for alert in send:
            self.notified[alert.key] = alert_identity(alert)
            if alert.state == "resolved":
                del self.alerts[alert.key]
                del self.notified[alert.key]
        self.last_notified = now
        note = Notification(
            channel=self.channel, group_key=self.key, group_labels=dict(self.labels),
            alerts=sorted(send, key=lambda a: (a.state != "firing", a.severity != "critical", a.brand, a.key)),
            kind="new" if changed else "repeat", created_at=now, tokens=carried,
        )
        return note, release

    @property
    def empty(self) -> bool:
        return not self.alerts and not self.tokens


class Grouper:
    """All aggregation groups of one notifier; pure, time passed in.

    Flush times sit in a heap so that a notifier with thousands of long-lived
    groups (every firing alert re-checked for reminders) does not scan them
    all on every poll.
    """

    def __init__(self) -> None:
        self.groups: dict[str, AggregationGroup] = {}
        self._schedule: list[tuple[float, str]] = []

    def add(self, event: AlertEvent, route: RouteConfig, channel: ChannelConfig, token: Any, now: float,
            already_delivered: bool = False, notified_at: float | None = None) -> list[Any]:
        labels = group_labels(route, event)
        key = f"{route.path}|{channel.name}|" + ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        group = self.groups.get(key)
        if group is None:
            timings = timings_for(route, channel)
            group = AggregationGroup(key=key, channel=channel.name, labels=labels, timings=timings,
                                     next_flush=now + timings.group_wait)
            self.groups[key] = group
            heapq.heappush(self._schedule, (group.next_flush, key))
        released = group.add(event, token, already_delivered, now, notified_at)
        if group.empty:
            del self.groups[key]
        return released

    def _top(self) -> tuple[float, str] | None:
        """The earliest scheduled flush, dropping entries that are out of date."""
        while self._schedule:
            due, key = self._schedule[0]
            group = self.groups.get(key)
            if group is not None and group.next_flush == due:
                return due, key
            heapq.heappop(self._schedule)
        return None

    def next_due(self) -> float | None:
        top = self._top()
        return top[0] if top else None

    def flush_due(self, now: float, silenced: Callable[[AlertEvent, float], bool]
                  ) -> tuple[list[Notification], list[Any]]:
        notes: list[Notification] = []
        released: list[Any] = []
        while True:
            top = self._top()
            if top is None or top[0] > now:
                break
            heapq.heappop(self._schedule)
            group = self.groups[top[1]]
            note, free = group.flush(now, silenced)
            released.extend(free)
            if note is not None:
                notes.append(note)
            if group.empty:
                del self.groups[top[1]]
            else:
                heapq.heappush(self._schedule, (group.next_flush, top[1]))
        return notes, released

    def drop(self, predicate: Callable[[AlertEvent], bool]) -> None:
        """Forget the alerts ``predicate`` selects (their partition moved to
        another worker, which takes over their lifecycle)."""
        for key, group in list(self.groups.items()):
            for alert_key, event in list(group.alerts.items()):
                if predicate(event):
                    del group.alerts[alert_key]
                    group.notified.pop(alert_key, None)
                    group.tokens.pop(alert_key, None)
            if group.empty:
                del self.groups[key]

    def active_alerts(self) -> int:
        return sum(len(g.alerts) for g in self.groups.values())
