"""The notifier: Kafka and HTTP wiring around the pure pipeline
(alerting/pipeline.py, where the stages are listed in order).

Delivery is at-least-once with duplicates suppressed, and no alert is lost
to an outage:

* an alert's offset is committed only after what it said was delivered,
  parked in ``<prefix>.alerts.retry`` or dead-lettered to
  ``<prefix>.alerts.dead`` (``OffsetTracker``);
* a message is built from its group's current state when it is sent, and
  a parked one is rebuilt when it comes back: a failed message is superseded
  by the current state of every episode, never dropped;
* after a delivery the notifier appends to ``<prefix>.deliveries``; on start
  it reads that log, so alerts re-read after a crash are not sent twice;
* silences live on ``<prefix>.silences``, read and followed by every worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import heapq
import itertools
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from aiokafka import ConsumerRebalanceListener

from alerting import metrics
from alerting.channels import Channel, Outcome, SendResult, make_channel
from alerting.config import AlertingConfig
from alerting.labels import Labeler
from alerting.message import Notification, parse_alert, sample_alert
from alerting.pipeline import Dispatcher, Job, RetryDecision, RetryPolicy
from alerting.policy.dedup import DeliveryLog, delivery_records, owed_records
from alerting.policy.grouping import Grouper
from alerting.policy.offsets import OffsetTracker
from alerting.policy.ratelimit import TokenBucket
from alerting.policy.silences import SilenceStore
from alerting.render import LinkProvider, Renderer
from streams import topics as topic_table
from streams.config import PipelineConfig
from streams.kafka import BrokerQuirks, aiokafka_security, ensure_topics
from streams.models import AlertEvent, dead_letter

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 5.0
EMBEDDED_FETCH_WAIT_MS = 50
STATE_READ_IDLE_POLLS = 20
COMMIT_INTERVAL = 0.2


@dataclass(frozen=True)
class Source:
    """A consumed Kafka message a notification answers for."""

    topic: str
    partition: int
    offset: int
    produced_at: float
    # Which assignment it was read under: a message re-read after a rebalance
    # has the same offset, and a late release of the old copy must not make
    # the new one committable.
    generation: int = 0

    @property
    def tp(self) -> tuple[str, int]:
        return (self.topic, self.partition)


def topic_names(config: PipelineConfig) -> dict[str, str]:
    return {
        "alerts": config.topic(topic_table.ALERTS),
        "retry": config.topic(topic_table.ALERTS_RETRY),
        "dead": config.topic(topic_table.ALERTS_DEAD),
        "deliveries": config.topic(topic_table.DELIVERIES),
        "silences": config.topic(topic_table.SILENCES),
    }


def ensure_notifier_topics(config: PipelineConfig, bootstrap: str) -> None:
    ensure_topics(bootstrap, config.topics.plan(topic_table.NOTIFIER), config.kafka.replication_factor,
                  security=config.kafka)


def producer_settings(quirks: BrokerQuirks) -> dict[str, Any]:
    settings: dict[str, Any] = {"acks": "all", "linger_ms": 0}
    if quirks.single_record_batches:
        # The embedded broker (streams.kafka.BrokerQuirks): multi-record batches break its end offsets,
        # which our start-up read of the delivery log depends on.
        settings["max_batch_size"] = 1
    return settings


def partition_of(key: str, partition_count: int) -> int:
    """The partition Kafka's default partitioner puts ``key`` in (murmur2)."""
    from aiokafka.partitioner import murmur2

    return (murmur2(key.encode()) & 0x7FFFFFFF) % max(1, partition_count)


def make_renderer(config: PipelineConfig, acfg: AlertingConfig, links: LinkProvider | None = None) -> Renderer:
    """``links``: the console's incident and action links for a message (alerting.console.links.link_provider)."""
    return Renderer(language=acfg.language or config.language, templates_dir=acfg.templates_dir,
                    timezone=acfg.timezone,
                    grafana_url=acfg.grafana_url if acfg.grafana_url is not None else config.grafana_url,
                    links=links)


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """Commit what is finished before partitions move to another worker; the
    rest is re-read there and the delivery log absorbs what we still send."""

    def __init__(self, notifier: Notifier, consumer: Any) -> None:
        self.notifier = notifier
        self.consumer = consumer

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self.notifier._commit(self.consumer)
        self.notifier.revoke({(tp.topic, tp.partition) for tp in revoked}, self._alert_partitions())

    async def on_partitions_assigned(self, assigned: Any) -> None:
        topic = self.notifier.topics["alerts"]
        self.notifier.assign({tp.partition for tp in assigned if tp.topic == topic}, self._alert_partitions())

    def _alert_partitions(self) -> int:
        return len(self.consumer.partitions_for_topic(self.notifier.topics["alerts"]) or ()) or 1


class Notifier:
    def __init__(self, config: PipelineConfig, alerting: AlertingConfig, bootstrap: str, quirks: BrokerQuirks, *,
                 clock: Callable[[], float] = time.time, http: httpx.AsyncClient | None = None,
                 links: LinkProvider | None = None) -> None:
        self.config = config
        self.acfg = alerting
        self.bootstrap = bootstrap
        self.quirks = quirks
        self.clock = clock
        self.topics = topic_names(config)
        self.group_id = f"{config.worker.app_id}-notifier"
        self.renderer = make_renderer(config, alerting, links)
        self.channels: dict[str, Channel[Any]] = {c.name: make_channel(c, self.renderer) for c in self.acfg.channels}
        now = clock()
        # One bucket per destination, not per channel: two channels that post
        # to the same robot (say, with different @-mentions) share its limit.
        self.buckets: dict[str, TokenBucket] = {}
        for c in sorted(self.acfg.channels, key=lambda c: (c.rate_per_second, c.burst)):
            self.buckets.setdefault(c.destination, TokenBucket(c.rate_per_second, c.burst, now))
        self.silences = SilenceStore()
        self.delivery_log = DeliveryLog()
        self.dispatcher = Dispatcher(alerting, Labeler.of(config.brands), self.delivery_log, self.silences)
        self.tracker = OffsetTracker()
        self.rng = random.Random()
        self.retry = RetryPolicy(alerting.delivery, self.rng)
        self._overdue: dict[str, set[str]] = {}  # channel -> group keys past retry_deadline
        self._http = http
        self._owns_http = http is None
        self._queues: dict[str, asyncio.Queue[Job]] = {}
        self._delayed: list[tuple[float, int, Job]] = []
        self._seq = itertools.count()
        self._producer: Any = None
        self._in_flight = 0
        self._holds: dict[Source, int] = {}
        self._generation = 0
        self._pending_dead: list[asyncio.Future[None]] = []
        self.ready = asyncio.Event()
        # httpx logs every request URL at INFO, and robot URLs carry their
        # access token (DingTalk, WeCom, Slack) or signature: never in logs.
        for noisy in ("httpx", "httpcore"):
            logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger(noisy).level))
        for name in self.channels:
            metrics.init_channel(name)
        self._check_templates(now)

    def _check_templates(self, now: float) -> None:
        """Render a sample through every channel now: a broken user template
        should stop start-up, not dead-letter every alert later."""
        if not self.config.brands:
            return
        brand = self.config.brands[0]
        for state in ("firing", "resolved"):
            alert = sample_alert(brand.id, brand.name, state, now, "template check")
            for channel in self.channels.values():
                channel.build(Notification(channel.name, "check", {}, [alert, alert], "test", now), now)

    # ---- start-up --------------------------------------------------------

    async def _read_state(self, consumer: Any) -> None:
        """Read the delivery log and the silences from the beginning; returns once caught up."""
        from aiokafka import TopicPartition

        await consumer.topics()  # fetch metadata so partitions_for_topic knows the topics
        tps = [TopicPartition(self.topics["deliveries"], p)
               for p in (consumer.partitions_for_topic(self.topics["deliveries"]) or {0})]
        tps += [TopicPartition(self.topics["silences"], p)
                for p in (consumer.partitions_for_topic(self.topics["silences"]) or {0})]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        behind = {tp for tp in tps if ends[tp] > 0}
        idle_polls = 0
        while behind:
            batch = await consumer.getmany(timeout_ms=500)
            self._apply_state(batch)
            idle_polls = 0 if batch else idle_polls + 1
            if idle_polls >= STATE_READ_IDLE_POLLS:
                # A broker reporting a wrong end offset (the embedded one, see streams.kafka.BrokerQuirks) must
                # not keep delivery from starting; what follows is still applied.
                log.warning("state topics did not reach their end offsets %s; starting anyway", ends)
                break
            for tp in list(behind):
                if await consumer.position(tp) >= ends[tp]:
                    behind.discard(tp)

    @property
    def grouper(self) -> Grouper:
        return self.dispatcher.grouper

    def _restore_active(self, now: float, partitions: set[int] | None = None, partition_count: int = 1) -> None:
        """Seed the groups with alerts still firing on each channel, so that
        reminders and Alertmanager re-sends survive a restart. Only alerts
        whose key lives in ``partitions`` (those this worker owns) are taken,
        so that several workers do not all remind."""
        restored = 0
        for channel_name, event in self.delivery_log.still_active():
            if channel_name not in self.channels:
                continue
            if partitions is not None and partition_of(event.key, partition_count) not in partitions:
                continue
            slot = self.delivery_log.active[(channel_name, event.key)]
            restored += self.dispatcher.restore(channel_name, event, slot.delivered_at, now)
        if restored:
            log.info("restored %d active alerts from the delivery log", restored)

    def _apply_state(self, batch: dict[Any, list[Any]]) -> None:
        for tp, msgs in batch.items():
            for msg in msgs:
                if tp.topic == self.topics["silences"]:
                    self.silences.apply_record(msg.value)
                else:
                    self.delivery_log.apply_record(msg.value)
        metrics.silences_active.set(len(self.silences.active(self.clock())))

    async def _follow_state(self, consumer: Any, stop: asyncio.Event) -> None:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=500)
            self._apply_state(batch)

    # ---- main loop -------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
        from aiokafka.coordinator.assignors.range import RangePartitionAssignor
        from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor

        await asyncio.to_thread(ensure_notifier_topics, self.config, self.bootstrap)
        if self._http is None:
            self._http = httpx.AsyncClient()
        security = aiokafka_security(self.config.kafka)
        self._producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, client_id=f"{self.group_id}-producer",
                                          **producer_settings(self.quirks), **security)
        state = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                 client_id=f"{self.group_id}-state", **security,
                                 **({"fetch_max_wait_ms": EMBEDDED_FETCH_WAIT_MS} if self.quirks.embedded else {}))
        consumer_kwargs: dict[str, Any] = {}
        if self.quirks.embedded:
            # Measured: the embedded broker answers a fetch only after
            # fetch_max_wait_ms even when records are there (p50 125 ms at
            # the 500 ms default, 13 ms at 50 ms). Kafka answers at once.
            consumer_kwargs["fetch_max_wait_ms"] = EMBEDDED_FETCH_WAIT_MS
        if self.quirks.session_timeout is not None:
            consumer_kwargs["session_timeout_ms"] = int(self.quirks.session_timeout * 1000)
            consumer_kwargs["heartbeat_interval_ms"] = int(max(1.0, self.quirks.session_timeout / 5) * 1000)
        # Range assignment gives a worker the same partition numbers of the
        # alerts and retry topics, so a parked delivery (keyed by its alert's
        # key) is read back by the worker that owns the alert. Round robin stays
        # listed so that a group with older notifiers still agrees on a protocol.
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=self.group_id,
                                    enable_auto_commit=False, auto_offset_reset="earliest",
                                    client_id=self.group_id,
                                    partition_assignment_strategy=(RangePartitionAssignor,
                                                                   RoundRobinPartitionAssignor),
                                    **consumer_kwargs, **security)
        consumer.subscribe([self.topics["alerts"], self.topics["retry"]], listener=_Rebalance(self, consumer))
        tasks: list[asyncio.Task[None]] = []
        await self._producer.start()
        try:
            await state.start()
            await self._read_state(state)
            tasks.append(asyncio.create_task(self._follow_state(state, stop)))
            for name, channel in self.channels.items():
                queue: asyncio.Queue[Job] = asyncio.Queue()
                self._queues[name] = queue
                for _ in range(self.acfg.delivery.concurrency):
                    tasks.append(asyncio.create_task(self._deliver_loop(channel, queue)))
            await consumer.start()
            self.ready.set()
            log.info("notifier started: %d channels, %d silences, consuming %s", len(self.channels),
                     len(self.silences.silences), self.topics["alerts"])
            await self._consume(consumer, stop)
            await self._drain(consumer)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            with contextlib.suppress(Exception):
                await consumer.stop()
            with contextlib.suppress(Exception):
                await state.stop()
            with contextlib.suppress(Exception):
                await self._producer.stop()
            if self._owns_http and self._http is not None:
                await self._http.aclose()
                self._http = None

    async def _consume(self, consumer: Any, stop: asyncio.Event) -> None:
        last_commit = 0.0
        while not stop.is_set():
            now = self.clock()
            wake = min([t for t in (self.grouper.next_due(), self._delayed[0][0] if self._delayed else None)
                        if t is not None], default=now + 1.0)
            timeout_ms = int(min(1.0, max(0.0, wake - now)) * 1000)
            batch = await consumer.getmany(timeout_ms=max(timeout_ms, 1), max_records=500)
            for msgs in batch.values():
                for msg in msgs:
                    self._handle(msg)
            self._tick(self.clock())
            # Committing later only means more re-reads after a crash (the
            # delivery log absorbs them); committing per message cost CPU.
            if time.monotonic() - last_commit >= COMMIT_INTERVAL:
                await self._commit(consumer)
                last_commit = time.monotonic()

    async def _drain(self, consumer: Any) -> None:
        """On stop: let deliveries in progress finish briefly, commit what is done."""
        deadline = time.monotonic() + SHUTDOWN_GRACE
        while self._in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await self._commit(consumer)

    async def _commit(self, consumer: Any) -> None:
        from aiokafka import TopicPartition

        offsets = self.tracker.committable()
        if not offsets:
            return
        assigned = consumer.assignment()
        mine = {TopicPartition(t, p): o for (t, p), o in offsets.items() if TopicPartition(t, p) in assigned}
        if not mine:
            return
        try:
            await consumer.commit(mine)
        except Exception as exc:  # noqa: BLE001 - a rebalance; the new owner re-reads, dedup absorbs it
            log.warning("offset commit failed (%s); messages may be re-read and deduplicated", exc)
            return
        self.tracker.mark_committed({(tp.topic, tp.partition): o for tp, o in mine.items()})

    # ---- per message -----------------------------------------------------

    def _handle(self, msg: Any) -> None:
        source = Source(msg.topic, msg.partition, msg.offset,
                        (msg.timestamp / 1000.0) if msg.timestamp and msg.timestamp > 0 else self.clock(),
                        self._generation)
        self.tracker.track(source.tp, source.offset)
        self._hold(source)  # the handler's own hold, passed on or released below
        if msg.topic == self.topics["retry"]:
            self._handle_retry(msg, source)
            return
        try:
            event = parse_alert(msg.value)
        except ValueError as exc:
            metrics.alerts_received_total.labels(brand="other", outcome="invalid").inc()
            self._dead_letter_raw("invalid_alert", str(exc)[:300], msg.value, source)
            return
        self.accept(event, source, self.clock())

    def accept(self, event: AlertEvent, source: Source | None, now: float) -> None:
        """Route an alert event into its groups (one per matching route)."""
        brand = metrics.brand_label(event.brand, self.config.brand_ids)
        accepted = self.dispatcher.accept(event, source, now)
        if not accepted.routes:
            metrics.alerts_received_total.labels(brand=brand, outcome="no_route").inc()
            log.info("alert %s (%s): no route matches, dropped", event.key, event.state)
        else:
            metrics.alerts_received_total.labels(brand=brand, outcome="replayed" if accepted.replay else "routed").inc()
        # One hold per group that keeps the message: it is done when every group is.
        if source is not None:
            for _ in range(accepted.routes):
                self._hold(source)
        self._release(accepted.released)
        self._release([source] if source else [])

    def assign(self, alert_partitions: set[int], partition_count: int) -> None:
        self._generation += 1
        self._restore_active(self.clock(), alert_partitions, partition_count)

    def revoke(self, tps: set[tuple[str, int]], partition_count: int) -> None:
        """Forget everything that came from partitions another worker will
        now read: it re-reads the uncommitted messages and restores the
        active alerts from the delivery log."""
        for tp in tps:
            self.tracker.forget(tp)
        self._holds = {s: n for s, n in self._holds.items() if s.tp not in tps}
        self._delayed = [d for d in self._delayed if not any(s.tp in tps for s in d[2].sources if isinstance(s, Source))]
        heapq.heapify(self._delayed)
        alerts = self.topics["alerts"]
        lost = {p for (t, p) in tps if t == alerts}
        self.dispatcher.drop(lambda event: partition_of(event.key, partition_count) in lost)

    def _hold(self, source: Source) -> None:
        self._holds[source] = self._holds.get(source, 0) + 1

    def _release(self, sources: list[Any]) -> None:
        """A message becomes committable when its last holder lets go."""
        for source in sources:
            if not isinstance(source, Source):
                continue
            count = self._holds.get(source, 0) - 1
            if count > 0:
                self._holds[source] = count
                continue
            self._holds.pop(source, None)
            if source.generation == self._generation:
                self.tracker.release(source.tp, source.offset)

    def _tick(self, now: float) -> None:
        jobs, released = self.dispatcher.due(now)
        self._release(released)
        for job in jobs:
            self._enqueue(job)
        while self._delayed and self._delayed[0][0] <= now:
            _, _, job = heapq.heappop(self._delayed)
            self._enqueue(job)
        metrics.silences_active.set(len(self.silences.active(now)))
        self._pending_dead = [f for f in self._pending_dead if not f.done()]

    def _enqueue(self, job: Job) -> None:
        metrics.pending_notifications.inc()
        self._queues[job.channel].put_nowait(job)

    def _handle_retry(self, msg: Any, source: Source) -> None:
        """A parked notification is back: it rejoins its group, whose delivery
        then carries the group's current state (superseding the parked copy)."""
        try:
            data = json.loads(msg.value)
            note = Notification.from_dict(data["notification"])
            attempt, first = int(data["attempt"]), float(data["first_failed_at"])
            due, overdue = float(data["due_at"]), bool(data.get("overdue", False))
            route = str(data.get("route", ""))
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
            self._dead_letter_raw("invalid_retry_record", str(exc)[:300], msg.value, source)
            return
        try:
            job, new = self.dispatcher.resume(note, route, source, attempt, first, overdue, self.clock())
        except KeyError:
            self._dead_letter_raw("unknown_channel", f"no channel named {note.channel!r} any more", msg.value, source)
            return
        except LookupError as exc:
            self._dead_letter_raw("no_route", str(exc)[:300], msg.value, source)
            return
        if job.overdue:
            self._set_overdue(job.channel, job.group_key, True)
        if new:
            heapq.heappush(self._delayed, (due, next(self._seq), job))

    # ---- delivery --------------------------------------------------------

    async def _deliver_loop(self, channel: Channel[Any], queue: asyncio.Queue[Job]) -> None:
        while True:
            job = await queue.get()
            self._in_flight += 1
            try:
                await self.deliver(channel, job)
            except Exception as exc:  # noqa: BLE001 - a bug must not block the partition forever
                log.exception("delivery to %s failed unexpectedly", channel.name)
                self._finish_dead(job, "internal_error", f"{type(exc).__name__}: {exc}"[:300])
            finally:
                self._in_flight -= 1
                metrics.pending_notifications.dec()

    async def _attempt(self, channel: Channel[Any], note: Notification) -> SendResult:
        """The rate-limit stage, then the channel's send."""
        bucket = self.buckets[channel.config.destination]
        while True:
            wait = bucket.wait_time(self.clock())
            if wait <= 0 and bucket.take(self.clock()):
                break
            await asyncio.sleep(max(wait, 0.001))
        assert self._http is not None
        result = await channel.send(self._http, note, self.clock())
        if result.throttled:
            bucket.block(self.clock(), result.retry_after if result.retry_after is not None
                         else 1.0 / channel.config.rate_per_second)
        return result

    async def deliver(self, channel: Channel[Any], job: Job) -> None:
        """Build the message from the group's current state, send it, and
        follow the retry policy: retry inline, park, or give up on it."""
        attempts_here = 1 if job.from_retry_topic else self.acfg.delivery.inline_attempts
        decision = RetryDecision("park", self.clock())
        result = SendResult(Outcome.RETRY, "not attempted")
        for i in range(attempts_here):
            note, released = self.dispatcher.materialize(job, self.clock())
            self._release(released)
            if note is None:
                # Told meanwhile (a newer delivery, a replay), muted, or ended unannounced.
                metrics.notifications_total.labels(channel=channel.name, outcome="duplicate").inc()
                self._set_overdue(channel.name, job.group_key, False)
                self._release(self.dispatcher.nothing_to_send(job, self.clock()))
                return
            result = await self._attempt(channel, note)
            if result.outcome is Outcome.DELIVERED:
                await self._delivered(channel, job, note)
                return
            metrics.notifications_total.labels(channel=channel.name, outcome="failed").inc()
            job.attempt += 1
            if job.first_failed_at is None:
                job.first_failed_at = self.clock()
            log.warning("notification %s to %s failed (attempt %d): %s", note.id[:12], channel.name, job.attempt,
                        result.detail)
            decision = self.retry.decide(job, result, self.clock(), attempts_here - i - 1)
            if decision.action == "reject":
                self._finish_dead(job, "rejected", result.detail)
                await self._flush_producer()
                return
            if decision.action != "retry_inline":
                break
            await asyncio.sleep(decision.at)
        await self._park(job, result, decision)

    async def _delivered(self, channel: Channel[Any], job: Job, note: Notification) -> None:
        now = self.clock()
        first_told = [a for a in note.alerts
                      if a.state == "firing" and not self.delivery_log.heard_any(channel.name, a)]
        released = self.dispatcher.delivered(job, note, now)
        self._set_overdue(channel.name, job.group_key, False)
        metrics.notifications_total.labels(channel=channel.name, outcome="sent").inc()
        metrics.notified_alerts_total.labels(channel=channel.name).inc(len(note.alerts))
        produced = [s.produced_at for s in released if isinstance(s, Source) and s.topic == self.topics["alerts"]]
        if produced:
            metrics.delivery_latency_seconds.labels(channel=channel.name).observe(max(0.0, now - min(produced)))
        for alert in first_told:  # the first time this channel hears of the episode
            metrics.alert_end_to_end_seconds.labels(channel=channel.name).observe(max(0.0, now - alert.started_at))
        try:
            futures = [await self._producer.send(self.topics["deliveries"], value=value, key=key)
                       for key, value in delivery_records(note, now)]
            for fut in futures:
                await fut
        except Exception as exc:  # noqa: BLE001 - keep the offset: a restart re-sends (at least once)
            log.error("could not append to the delivery log (%s); keeping the alert uncommitted", exc)
            return
        self._release(released)

    async def _park(self, job: Job, result: SendResult, decision: RetryDecision) -> None:
        """Park the delivery in the retry topic; past the deadline, dead-letter a
        copy once (loudly) and keep trying: the channel is still owed the news."""
        note = job.note
        assert note is not None  # deliver() built one before it could fail
        if decision.gave_up and not job.overdue:
            job.overdue = True
            self._set_overdue(job.channel, job.group_key, True)
            self._dead_letter_copy(note, "retry_deadline",
                                   f"gave up after {job.attempt} attempts: {result.detail}; still retrying every "
                                   f"{self.acfg.delivery.max_backoff:g}s", job.attempt)
        group = self.dispatcher.grouper.groups.get(job.group_key)
        record = {"notification": note.to_dict(), "route": group.route.path if group is not None else "",
                  "attempt": job.attempt, "first_failed_at": job.first_failed_at or self.clock(),
                  "due_at": decision.at, "last_error": result.detail[:300], "overdue": job.overdue}
        # Keyed by an alert key, so the record lands in the retry partition
        # with the same number as that alert's partition (read by the same worker).
        key = note.alerts[0].key if note.alerts else note.channel
        owed = [a for a in note.alerts if not self.delivery_log.heard_any(note.channel, a)
                and not self.delivery_log.is_owed(note.channel, a)]
        try:
            if owed:  # before the parked record: read first after a restart (alerting.policy.dedup.owed_records)
                futures = [await self._producer.send(self.topics["deliveries"], key=k, value=v)
                           for k, v in owed_records(dataclasses.replace(note, alerts=owed), self.clock())]
                for fut in futures:
                    await fut
            await self._producer.send_and_wait(self.topics["retry"], key=key.encode("utf-8", "surrogatepass"),
                                               value=json.dumps(record).encode())
        except Exception as exc:  # noqa: BLE001 - not parked: retry from memory, offsets stay uncommitted
            log.error("could not park notification %s in the retry topic: %s", note.id[:12], exc)
            heapq.heappush(self._delayed, (decision.at, next(self._seq), job))
            return
        metrics.notifications_total.labels(channel=job.channel, outcome="retried").inc()
        self._release(self.dispatcher.parked(job, decision.at))

    def _set_overdue(self, channel: str, group_key: str, overdue: bool) -> None:
        keys = self._overdue.setdefault(channel, set())
        if overdue:
            keys.add(group_key)
        else:
            keys.discard(group_key)
        metrics.notifications_overdue.labels(channel=channel).set(len(keys))

    def _finish_dead(self, job: Job, reason: str, detail: str) -> None:
        """Give up on a delivery for good (a platform's permanent refusal, a bug)."""
        note = job.note or Notification(job.channel, job.group_key, {}, [], "new", self.clock())
        self._set_overdue(job.channel, job.group_key, False)
        sources = (self.dispatcher.rejected(job, note, self.clock()) if job.note is not None
                   else self.dispatcher.nothing_to_send(job, self.clock()))
        self._dead_letter_copy(note, reason, detail, job.attempt, release=sources)

    def _dead_letter_copy(self, note: Notification, reason: str, detail: str, attempts: int,
                          release: list[Any] | None = None) -> None:
        metrics.notifications_total.labels(channel=note.channel, outcome="dead").inc()
        log.error("notification %s to %s dead-lettered (%s): %s", note.id[:12], note.channel, reason, detail)
        record = dead_letter(reason, detail, note.to_json(), channel=note.channel, notification_id=note.id,
                             attempts=attempts)
        held = list(release or [])

        async def send() -> None:
            try:
                await self._producer.send_and_wait(self.topics["dead"], key=note.channel.encode(), value=record)
            except Exception as exc:  # noqa: BLE001 - keep the offset: retried after restart
                log.error("could not write the dead letter: %s", exc)
                return
            self._release(held)

        self._pending_dead.append(asyncio.ensure_future(send()))

    def _dead_letter_raw(self, reason: str, detail: str, payload: bytes | None, source: Source) -> None:
        log.error("record %s:%d@%d dead-lettered (%s): %s", source.topic, source.partition, source.offset,
                  reason, detail)
        record = dead_letter(reason, detail, payload, topic=source.topic, partition=source.partition,
                             offset=source.offset)

        async def send() -> None:
            await self._producer.send_and_wait(self.topics["dead"], value=record)
            self._release([source])

        self._pending_dead.append(asyncio.ensure_future(send()))

    async def _flush_producer(self) -> None:
        pending, self._pending_dead = self._pending_dead, []
        for fut in pending:
            with contextlib.suppress(Exception):
                await fut
