"""The delivery pipeline, pure: every decision between an alert event and a
channel's ``send``, with the time passed in, so the notifier, the CLI and
the tests run the same code. Read it in the order an alert meets it
(Alertmanager's dispatcher followed by its ``notify`` stages)::

    Dispatcher.accept      route            alert -> the routes (channels) it matches
                           group            one aggregation group per route, channel and group_by labels
    Dispatcher.due         group timers     group_wait / group_interval / repeat_interval
    Dispatcher.materialize notify_stages:   inhibit, time intervals, quiet hours, silences, dedup
    notifier               rate limit       a token bucket per destination
                           send             the channel renders and sends; says "retry or not"
                           RetryPolicy      retry inline, park in the retry topic, give up
    Dispatcher.delivered   delivery log     what the channel heard (the dedup stage's truth)

A message is built from the group's current state when it is about to be
sent, not when the group's timer fired: a retry after an outage carries
everything that happened meanwhile (superseding what failed), and the
delivery log is written only for what a platform accepted.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from alerting.channels import ChannelConfig, Outcome, SendResult
from alerting.config import AlertingConfig, DeliveryConfig, RouteConfig
from alerting.episode import Episode, Milestone, episode_id
from alerting.labels import Labeler
from alerting.message import Notification, alert_identity
from alerting.policy.backoff import backoff_delay, next_retry_at
from alerting.policy.dedup import DeliveryLog
from alerting.policy.grouping import AggregationGroup, Grouper, Token, timings_for
from alerting.policy.inhibition import Inhibitor
from alerting.policy.routing import match_routes, routes_by_path
from alerting.policy.silences import SilenceStore
from streams.models import AlertEvent

# An alert whose last delivery is older than its reminder interval (at least
# this) ended without a recorded resolve; the floor covers Alertmanager
# channels, whose 1-minute re-sends would otherwise expire during a restart.
RESTORE_MIN_WINDOW = 3600.0
# A group whose delivery was parked waits for the parked record to be read
# back; if that does not happen this long after it was due (it went to
# another worker), the group stops waiting and delivers on its own.
PARKED_GRACE = 60.0


# ---- what flows through the stages ------------------------------------------

@dataclass
class Batch:
    """One group's episodes at one instant, sorted by the stages into what
    is shown, held back, muted, news for the channel, or finished."""

    group: AggregationGroup
    now: float
    visible: list[Episode]
    held: list[Episode] = field(default_factory=list)
    muted: list[tuple[Episode, str]] = field(default_factory=list)
    news: list[Episode] = field(default_factory=list)
    finished: list[Episode] = field(default_factory=list)
    repeat_due: bool = False

    def labels(self, episode: Episode) -> Mapping[str, str]:
        return self.group.alert_labels.get(episode.id, {})

    def hold(self, episode: Episode) -> None:
        self.visible.remove(episode)
        self.held.append(episode)

    def mute(self, episode: Episode, stage: str) -> None:
        self.visible.remove(episode)
        self.muted.append((episode, stage))

    def finish(self, episode: Episode) -> None:
        self.visible.remove(episode)
        self.finished.append(episode)


class Stage(Protocol):
    """One step of the notify pipeline: moves episodes out of ``batch.visible``."""

    name: str

    def apply(self, batch: Batch) -> None: ...


class InhibitStage:
    """``inhibit_rules``: an alert is not sent while a firing alert that
    matches a rule's source (and shares its ``equal`` labels) inhibits it."""

    name = "inhibit"

    def __init__(self, inhibitor: Inhibitor) -> None:
        self.inhibitor = inhibitor

    def apply(self, batch: Batch) -> None:
        for episode in list(batch.visible):
            if self.inhibitor.inhibited(episode.latest.key, batch.labels(episode)):
                batch.mute(episode, self.name)


class TimeIntervalStage:
    """A route's ``mute_time_intervals`` and ``active_time_intervals``: its
    alerts are muted inside the former and outside the latter (like a
    silence: still firing when the interval ends, they are sent then)."""

    name = "time_interval"

    def apply(self, batch: Batch) -> None:
        route = batch.group.route
        muted = any(interval.contains(batch.now) for interval in route.mute_time_intervals)
        inactive = bool(route.active_time_intervals) and not any(
            interval.contains(batch.now) for interval in route.active_time_intervals)
        if muted or inactive:
            for episode in list(batch.visible):
                batch.mute(episode, self.name)


class QuietHoursStage:
    """``quiet_hours`` (deprecated in favour of ``mute_time_intervals``): hold
    matching severities during a daily window, send them when it ends."""

    name = "quiet_hours"

    def apply(self, batch: Batch) -> None:
        quiet = batch.group.timings.quiet_hours
        if quiet is None or not quiet.contains(batch.now):
            return
        for episode in list(batch.visible):
            if episode.latest.severity in quiet.severities:
                batch.hold(episode)


class SilenceStage:
    """``koubei silence add``: a silenced alert is not sent; still firing when
    the silence ends, it is sent at the next group check."""

    name = "silence"

    def __init__(self, silences: SilenceStore) -> None:
        self.silences = silences

    def apply(self, batch: Batch) -> None:
        for episode in list(batch.visible):
            if self.silences.is_silenced(batch.labels(episode), batch.now):
                batch.mute(episode, self.name)


class DedupStage:
    """Only what the channel has not heard (the delivery log) is news.

    A resolve is news only for an episode the channel heard about, or one a
    message was due for while it fired (owed): so a resolved message is
    never the first thing a channel hears of an episode it never knew about
    (that flapped inside ``group_wait``), and an episode that fired and
    resolved while the channel was down is still told, as one summary."""

    name = "dedup"

    def __init__(self, ledger: DeliveryLog) -> None:
        self.ledger = ledger

    def apply(self, batch: Batch) -> None:
        group = batch.group
        for episode in list(batch.visible):
            event = episode.latest
            if self.ledger.heard(group.channel, event):
                if event.state == "resolved":
                    batch.finish(episode)
                continue  # firing and known: shown with the group's news, not news itself
            if group.rejected.get(episode.id) == alert_identity(event):
                continue  # the platform refused exactly this; wait for a change
            if event.state == "resolved":
                heard_before = self.ledger.heard_any(group.channel, event)
                owed = episode.id in group.owed or self.ledger.is_owed(group.channel, event)
                if not heard_before and not owed:
                    batch.finish(episode)  # fired and resolved before anyone was due to hear
                    continue
                if heard_before and not group.timings.send_resolved:
                    batch.finish(episode)
                    continue
            batch.news.append(episode)
        batch.repeat_due = (group.last_notified is not None
                            and batch.now - group.last_notified >= group.timings.repeat_interval
                            and any(e.latest.state == "firing" for e in batch.visible))


def told_of(ledger: DeliveryLog, channel: str, event: AlertEvent) -> dict[str, Any] | None:
    """What ``channel`` was told of ``event``'s episode (None: nothing), so
    that a message about an incident it knows tells only what changed."""
    if not ledger.heard_any(channel, event):
        return None
    told: dict[str, Any] = {"sequence": ledger.heard_sequence(channel, event), "current": ledger.heard(channel, event)}
    last = ledger.active.get((channel, event.key))
    if last is not None and last.event.started_at == event.started_at:
        told.update(severity=last.event.severity, peak_value=last.event.peak_value)
    return told


def notify_stages(inhibitor: Inhibitor, silences: SilenceStore, ledger: DeliveryLog) -> tuple[Stage, ...]:
    """The notify pipeline after grouping, in order (Alertmanager's MultiStage)."""
    return (
        InhibitStage(inhibitor),  # inhibit_rules: a critical hides the same brand's warnings
        TimeIntervalStage(),  # the route's mute_time_intervals / active_time_intervals
        QuietHoursStage(),  # hold warnings at night (deprecated quiet_hours)
        SilenceStage(silences),  # koubei silence add
        DedupStage(ledger),  # what the channel has not heard
    )


# ---- deliveries -----------------------------------------------------------

@dataclass
class Job:
    """One group owes its channel a message. What the message says is decided
    when it is sent (``Dispatcher.materialize``), so a job that waits through
    an outage carries the state at the end of it."""

    group_key: str
    channel: str
    attempt: int = 0  # failed attempts so far
    first_failed_at: float | None = None
    from_retry_topic: bool = False
    overdue: bool = False  # past retry_deadline: dead-lettered once, still retried
    tokens: list[Token] = field(default_factory=list)  # taken from the group; released when delivered or parked
    sources: list[Token] = field(default_factory=list)  # parked copies (retry-topic records) this job supersedes
    note: Notification | None = None  # the last message built for it


@dataclass
class Accepted:
    routes: int
    replay: bool  # every channel it routes to already heard this update
    released: list[Token]


class Dispatcher:
    """Routing, grouping and the notify stages of one notifier (no I/O)."""

    def __init__(self, acfg: AlertingConfig, labeler: Labeler, ledger: DeliveryLog, silences: SilenceStore) -> None:
        self.acfg = acfg
        self.labeler = labeler
        self.ledger = ledger
        self.silences = silences
        self.inhibitor = Inhibitor(acfg.inhibit_rules)
        self.stages = notify_stages(self.inhibitor, silences, ledger)
        self.grouper = Grouper()
        self.jobs: dict[str, Job] = {}
        self._routes = routes_by_path(acfg.route)

    # ---- routing and grouping -------------------------------------------

    def routes(self, event: AlertEvent) -> tuple[dict[str, str], list[RouteConfig]]:
        labels = self.labeler.labels(event)
        return labels, match_routes(self.acfg.route, labels)

    def accept(self, event: AlertEvent, token: Token | None, now: float) -> Accepted:
        """Put an alert event into its groups (one per matching route). The
        token is kept by every group that still has to tell its channel."""
        labels, routes = self.routes(event)
        self.inhibitor.observe(event, labels)  # any alert may inhibit, whatever its route
        released: list[Token] = []
        replay = bool(routes)
        for route in routes:
            channel = self.acfg.channel(route.receiver or "")
            heard = self.ledger.heard(channel.name, event)
            replay = replay and heard
            if self.ledger.ended(channel.name, event):
                # An update read again after the channel heard the end of its
                # lifecycle (a replay, a parked copy): nothing to keep.
                if token is not None:
                    released.append(token)
                continue
            group = self.grouper.group_for(route, channel, labels, event, now)
            released += group.add(event, labels, token, heard, now)
            self.grouper.discard_if_empty(group)
        return Accepted(len(routes), replay, released)

    def restore(self, channel_name: str, event: AlertEvent, delivered_at: float, now: float) -> int:
        """Seed the groups with an alert the delivery log says is still firing
        on a channel, so that reminders survive a restart. An alert not
        delivered or reminded for longer than its repeat interval allows ended
        without a recorded resolve (e.g. send_resolved: false)."""
        labels, routes = self.routes(event)
        self.inhibitor.observe(event, labels)
        restored = 0
        for route in routes:
            if route.receiver != channel_name:
                continue
            channel = self.acfg.channel(channel_name)
            timings = timings_for(route, channel)
            if delivered_at < now - max(timings.repeat_interval + timings.group_interval, RESTORE_MIN_WINDOW):
                continue
            group = self.grouper.group_for(route, channel, labels, event, now)
            group.add(event, labels, None, True, now, notified_at=delivered_at)
            self.grouper.discard_if_empty(group)
            restored += 1
        return restored

    # ---- the stages ------------------------------------------------------

    def evaluate(self, group: AggregationGroup, now: float) -> Batch:
        batch = Batch(group, now, list(group.episodes.values()))
        for stage in self.stages:
            stage.apply(batch)
        return batch

    def _settle(self, batch: Batch) -> list[Token]:
        """Release what the stages decided needs no delivery now."""
        group = batch.group
        released: list[Token] = []
        for episode, _stage in batch.muted:
            # A muted alert does not hold its offset for the mute's whole length.
            released += group.forget(episode.id) if episode.latest.state == "resolved" else group.take_tokens(episode.id)
        for episode in batch.finished:
            released += group.forget(episode.id)
        news = {e.id for e in batch.news}
        for episode in batch.visible:
            if episode.id not in news:
                released += group.take_tokens(episode.id)
        return released

    def due(self, now: float) -> tuple[list[Job], list[Token]]:
        """Groups whose timer fired: a job for each that has something to tell."""
        jobs: list[Job] = []
        released: list[Token] = []
        for group in self.grouper.pop_due(now):
            interval = group.timings.group_interval
            if (group.busy and group.key not in self.jobs and group.parked_due is not None
                    and now > group.parked_due + PARKED_GRACE):
                # Its parked record was not read back (another worker owns
                # that retry partition): deliver from here rather than never.
                group.busy, group.parked_due = False, None
            if group.busy:
                self.grouper.reschedule(group, now + interval)
                continue
            batch = self.evaluate(group, now)
            released += self._settle(batch)
            if batch.news or batch.repeat_due:
                job = Job(group.key, group.channel)
                group.busy = True
                self.jobs[group.key] = job
                jobs.append(job)
            self.grouper.reschedule(group, now + interval)
            self.grouper.discard_if_empty(group)
        return jobs, released

    def materialize(self, job: Job, now: float) -> tuple[Notification | None, list[Token]]:
        """The message a job sends now: the group's current state through the
        notify stages. None when there is nothing (left) to tell."""
        group = self.grouper.groups.get(job.group_key)
        if group is None:
            return None, []
        batch = self.evaluate(group, now)
        released = self._settle(batch)
        if not batch.news and not batch.repeat_due:
            return None, released
        news = {e.id for e in batch.news}
        shown = [e for e in batch.visible if e.latest.state == "firing" or e.id in news]
        tokens: list[Token] = []
        for episode in batch.news:
            tokens += group.take_tokens(episode.id)
            if episode.latest.state == "firing":
                group.owed.add(episode.id)
        timelines: dict[str, list[dict[str, Any]]] = {}
        for episode in shown:
            untold = episode.untold(self.ledger.heard_sequence(group.channel, episode.latest))
            if len(untold) >= 2:  # it missed more than this update: tell the whole story
                timelines[episode.id] = [m.to_dict() for m in untold]
        told = {e.id: heard for e in shown if (heard := told_of(self.ledger, group.channel, e.latest)) is not None}
        mention = group.route.mention
        alerts = sorted((e.latest for e in shown),
                        key=lambda a: (a.state != "firing", a.severity != "critical", a.brand, a.key))
        note = Notification(
            channel=group.channel, group_key=group.key, group_labels=dict(group.labels), alerts=alerts,
            kind="new" if news else "repeat", created_at=now, tokens=tokens, timelines=timelines,
            labels={e.latest.key: dict(group.alert_labels.get(e.id, {})) for e in shown}, told=told,
            mentions={"mobiles": list(mention.mobiles), "users": list(mention.users), "all": mention.all}
            if mention is not None else {},
        )
        job.tokens += tokens
        job.note = note
        return note, released

    # ---- outcomes ----------------------------------------------------------

    def _retire(self, job: Job) -> tuple[AggregationGroup | None, list[Token]]:
        """The job is over: what it answered for may be committed."""
        released = job.tokens + job.sources
        job.tokens, job.sources = [], []
        if self.jobs.get(job.group_key) is job:
            del self.jobs[job.group_key]
        return self.grouper.groups.get(job.group_key), released

    def _close(self, job: Job, now: float) -> tuple[AggregationGroup | None, list[Token]]:
        group, released = self._retire(job)
        if group is not None:
            group.busy, group.parked_due = False, None
            self.grouper.reschedule(group, now + group.timings.group_interval)
        return group, released

    def delivered(self, job: Job, note: Notification, now: float) -> list[Token]:
        """The platform accepted ``note``: log it, and finish the episodes it ended."""
        self.ledger.record_notification(note, now)
        group, released = self._close(job, now)
        if group is not None:
            group.last_notified = now
            for alert in note.alerts:
                eid = episode_id(alert)
                episode = group.episodes.get(eid)
                if alert.state == "resolved" and episode is not None and episode.latest == alert:
                    released += group.forget(eid)
            self.grouper.discard_if_empty(group)
        return released

    def nothing_to_send(self, job: Job, now: float) -> list[Token]:
        """Everything the job was for was told meanwhile, muted or ended unannounced."""
        group, released = self._close(job, now)
        if group is not None:
            self.grouper.discard_if_empty(group)
        return released

    def rejected(self, job: Job, note: Notification, now: float) -> list[Token]:
        """The platform refused ``note`` for good: do not retry it until something changes."""
        group, released = self._close(job, now)
        if group is not None:
            for alert in note.alerts:
                if episode_id(alert) in group.episodes:
                    group.rejected[episode_id(alert)] = alert_identity(alert)
            self.grouper.discard_if_empty(group)
        return released

    def parked(self, job: Job, due: float) -> list[Token]:
        """``job`` is safe in the retry topic: its messages may be committed.
        The group stays busy until the parked record is read back (``resume``)."""
        if job.note is not None:
            self.ledger.record_owed(job.note)
        group, released = self._retire(job)
        if group is not None:
            group.parked_due = due
            self.grouper.reschedule(group, due)
        return released

    def resume(self, note: Notification, route_path: str, source: Token, attempt: int, first_failed_at: float,
               overdue: bool, now: float) -> tuple[Job, bool]:
        """A parked notification read back from the retry topic: its episodes
        join their group (a restart lost them from memory) and the group's
        delivery continues. Returns the group's job and whether it is new (to
        be scheduled); an existing job now also answers for ``source``.
        Raises LookupError when no route of this config sends it to its channel."""
        channel = self.acfg.channel(note.channel)  # KeyError: the channel was removed
        parked_route = self._routes.get(route_path)
        target: AggregationGroup | None = None
        for alert in note.alerts:
            labels = note.labels.get(alert.key) or self.labeler.labels(alert)
            if parked_route is not None and parked_route.receiver == channel.name:
                routes = [parked_route]
            else:
                routes = [r for r in match_routes(self.acfg.route, labels) if r.receiver == channel.name]
            for route in routes:
                group = self._join(route, channel, labels, alert, note, now)
                target = target or group
        if target is None:
            raise LookupError(f"no route sends {note.channel!r} these alerts any more")
        job = self.jobs.get(target.key)
        if job is not None:
            job.sources.append(source)
            job.attempt = max(job.attempt, attempt)
            job.first_failed_at = min(job.first_failed_at or first_failed_at, first_failed_at)
            job.overdue = job.overdue or overdue
            return job, False
        job = Job(target.key, channel.name, attempt=attempt, first_failed_at=first_failed_at, from_retry_topic=True,
                  overdue=overdue, sources=[source])
        target.busy, target.parked_due = True, None
        self.jobs[target.key] = job
        return job, True

    def _join(self, route: RouteConfig, channel: ChannelConfig, labels: Mapping[str, str], alert: AlertEvent,
              note: Notification, now: float) -> AggregationGroup:
        group = self.grouper.group_for(route, channel, labels, alert, now)
        self.inhibitor.observe(alert, labels)
        if self.ledger.ended(channel.name, alert):
            return group  # told meanwhile that it ended
        heard = self.ledger.heard(channel.name, alert)
        group.add(alert, labels, None, heard, now)
        eid = episode_id(alert)
        episode = group.episodes.get(eid)
        if episode is not None:
            group.owed.add(eid)  # a message was due for it: it was parked because it failed
            milestones = []
            for raw in note.timelines.get(eid, []):
                try:
                    milestones.append(Milestone.from_dict(raw))
                except (TypeError, ValueError):
                    continue
            episode.merge(milestones)
        return group

    def drop(self, predicate: Callable[[AlertEvent], bool]) -> None:
        """Forget the alerts ``predicate`` selects (their partition moved to another worker)."""
        self.grouper.drop(predicate)
        for key in [k for k in self.jobs if k not in self.grouper.groups]:
            del self.jobs[key]


@dataclass(frozen=True)
class RetryDecision:
    action: str  # "retry_inline" | "park" | "reject"
    at: float = 0.0  # when to try again (park) or how long to pause (retry_inline)
    gave_up: bool = False  # past the deadline for the first time: dead-letter, keep trying


class RetryPolicy:
    """When to try a failed delivery again, from the platform's answer and
    ``alerting.delivery``. Past ``retry_deadline`` a delivery is dead-lettered
    once (loudly) and then retried every ``max_backoff``: the channel still
    gets the current state of every episode when it comes back."""

    # Longest pause inside the consumer before a failing notification is
    # parked in the retry topic instead (so one dead robot cannot hold others back).
    INLINE_CAP = 5.0

    def __init__(self, delivery: DeliveryConfig, rng: random.Random) -> None:
        self.delivery = delivery
        self.rng = rng

    def decide(self, job: Job, result: SendResult, now: float, attempts_left: int) -> RetryDecision:
        d = self.delivery
        if result.outcome is Outcome.PERMANENT:
            return RetryDecision("reject")
        first = job.first_failed_at if job.first_failed_at is not None else now
        if attempts_left > 0 and (result.retry_after is None or result.retry_after <= self.INLINE_CAP):
            pause = backoff_delay(job.attempt, d.initial_backoff, min(d.max_backoff, self.INLINE_CAP), self.rng)
            return RetryDecision("retry_inline", max(pause, result.retry_after or 0.0))
        if job.overdue:
            return RetryDecision("park", now + max(d.max_backoff, result.retry_after or 0.0))
        due = next_retry_at(now, job.attempt, first, d.retry_deadline, d.initial_backoff, d.max_backoff, self.rng,
                            result.retry_after)
        if due is None:
            return RetryDecision("park", now + max(d.max_backoff, result.retry_after or 0.0), gave_up=True)
        return RetryDecision("park", due)

