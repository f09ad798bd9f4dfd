"""Grouping stage: Alertmanager's group_wait / group_interval / repeat_interval.

Alerts that share a route, a channel and the values of the route's
``group_by`` labels travel in one message. A new group waits ``group_wait``
(so the other brands of an industry scandal join it), later changes are
batched every ``group_interval``, and an unchanged firing group is repeated
after ``repeat_interval``.

A group holds the current state of each of its episodes, not what it has
sent: what the channel heard is in the delivery log, written only when a
platform accepted a message (alerting.policy.dedup). So a message that could
not be delivered leaves the group as it was, and the next attempt carries
the episodes' current state: a failed notification is superseded, never
dropped. While one delivery of a group is queued, in flight or parked in the
retry topic the group is ``busy``: that delivery will carry whatever changes
meanwhile, so the group does not start a second one.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field

from alerting.channels import ChannelConfig
from alerting.config import QuietHours, RouteConfig
from alerting.episode import Episode, episode_id
from streams.models import AlertEvent

Token = Hashable  # what a caller needs back to commit a message (the notifier's Kafka source)


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


def group_labels(route: RouteConfig, labels: Mapping[str, str], event: AlertEvent) -> dict[str, str]:
    if "..." in route.group_by:
        return {**labels, "key": event.key}
    return {name: labels.get(name, "") for name in route.group_by}


def group_key(route: RouteConfig, channel: str, labels: Mapping[str, str]) -> str:
    return f"{route.path}|{channel}|" + ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


@dataclass
class AggregationGroup:
    key: str
    channel: str
    route: RouteConfig
    labels: dict[str, str]
    timings: Timings
    next_flush: float
    episodes: dict[str, Episode] = field(default_factory=dict)
    # The labels each episode's alert carries (brand labels included).
    alert_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    # Messages each episode answers for, released once what they said was
    # delivered, parked, dead-lettered or found to need no delivery.
    tokens: dict[str, list[Token]] = field(default_factory=dict)
    # Episodes a message was due for while they fired: the channel is told
    # about them even if they resolve before a delivery succeeds.
    owed: set[str] = field(default_factory=set)
    # Episode -> the update a platform rejected for good: not retried until it changes.
    rejected: dict[str, tuple[float, int, int]] = field(default_factory=dict)
    last_notified: float | None = None
    busy: bool = False
    parked_due: float | None = None  # busy because its delivery waits in the retry topic until then

    def add(self, event: AlertEvent, labels: Mapping[str, str], token: Token | None, heard: bool, now: float,
            notified_at: float | None = None) -> list[Token]:
        """Insert an update; returns the tokens that need no delivery (a
        stale replay, or an update the channel already heard)."""
        eid = episode_id(event)
        episode = self.episodes.get(eid)
        if episode is None:
            episode = Episode.start(event)
            self.episodes[eid] = episode
        elif not episode.update(event):
            return [token] if token is not None else []
        self.alert_labels[eid] = dict(labels)
        if heard:
            # A replay after a restart of something the channel already got:
            # remember it (for reminders) without sending it again.
            if self.last_notified is None:
                # Without the time from the delivery log, counting the
                # reminder interval from now errs on the quiet side.
                self.last_notified = notified_at if notified_at is not None else now
            if event.state == "resolved":
                self.forget(eid)
            return [token] if token is not None else []
        if token is not None:
            self.tokens.setdefault(eid, []).append(token)
        return []

    def take_tokens(self, eid: str) -> list[Token]:
        return self.tokens.pop(eid, [])

    def forget(self, eid: str) -> list[Token]:
        """The episode is over for this channel; returns its tokens."""
        self.episodes.pop(eid, None)
        self.alert_labels.pop(eid, None)
        self.owed.discard(eid)
        self.rejected.pop(eid, None)
        return self.tokens.pop(eid, [])

    @property
    def empty(self) -> bool:
        return not self.episodes and not self.tokens and not self.busy


class Grouper:
    """All aggregation groups of one notifier; pure, time passed in.

    Flush times sit in a heap so that a notifier with thousands of long-lived
    groups (every firing alert re-checked for reminders) does not scan them
    all on every poll.
    """

    def __init__(self) -> None:
        self.groups: dict[str, AggregationGroup] = {}
        self._schedule: list[tuple[float, str]] = []

    def group_for(self, route: RouteConfig, channel: ChannelConfig, labels: Mapping[str, str], event: AlertEvent,
                  now: float) -> AggregationGroup:
        grouped = group_labels(route, labels, event)
        key = group_key(route, channel.name, grouped)
        group = self.groups.get(key)
        if group is None:
            timings = timings_for(route, channel)
            group = AggregationGroup(key=key, channel=channel.name, route=route, labels=grouped, timings=timings,
                                     next_flush=now + timings.group_wait)
            self.groups[key] = group
            heapq.heappush(self._schedule, (group.next_flush, key))
        return group

    def reschedule(self, group: AggregationGroup, when: float) -> None:
        group.next_flush = when
        heapq.heappush(self._schedule, (when, group.key))

    def discard_if_empty(self, group: AggregationGroup) -> None:
        if group.empty and self.groups.get(group.key) is group:
            del self.groups[group.key]

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

    def pop_due(self, now: float) -> list[AggregationGroup]:
        """Groups whose flush time has come, in time order; the caller reschedules them."""
        out: list[AggregationGroup] = []
        while True:
            top = self._top()
            if top is None or top[0] > now:
                return out
            heapq.heappop(self._schedule)
            out.append(self.groups[top[1]])

    def drop(self, predicate: Callable[[AlertEvent], bool]) -> None:
        """Forget the alerts ``predicate`` selects (their partition moved to
        another worker, which takes over their lifecycle)."""
        for key, group in list(self.groups.items()):
            for eid, episode in list(group.episodes.items()):
                if predicate(episode.latest):
                    group.forget(eid)
            if not group.episodes:
                group.busy = False  # a parked delivery of it is re-read by the new owner
            if group.empty:
                del self.groups[key]

    def active_alerts(self) -> int:
        return sum(len(g.episodes) for g in self.groups.values())
