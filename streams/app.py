"""The Faust application: topics, tables and agents, nothing else.

Every agent is a thin loop around plain code that the backtest and the
tests run too: ``parse_post`` (schema), ``PostScorer`` (brand match +
sentiment), ``Aggregator`` (buckets + watermark), ``create_detector``
(spike rule) and, for delivery, ``alerting.notifier.Notifier``.

    koubei.posts ──score──▶ koubei.mentions ──aggregate──▶ koubei.buckets ──detect──▶ koubei.alerts ──notify──▶ channels
         │ (invalid)            (keyed by brand;            (closed buckets,              (firing / resolved,
         ▼                       + watermark ticks)          keyed by brand)               keyed by alert key)
    koubei.posts.dead

``mentions``, ``buckets`` and the tables are co-partitioned by brand, so
one brand's buckets and detector state always live on one partition and
one worker, and move together on a rebalance.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
import weakref
from typing import Any

import faust
from faust.streams import _current_event
from mode import Service

from streams import metrics
from streams.aggregate import Aggregator, AggregatorState
from streams.brands import BrandMatcher
from streams.config import KoubeiConfig
from streams.detection import create_detector
from streams.kafka import BrokerQuirks, bootstrap_servers
from streams.models import AlertEvent, Bucket, Mention, RecordError, dead_letter, parse_post
from streams.scoring import PostScorer

log = logging.getLogger("koubei.worker")

SCORE_BATCH = 500
SCORE_BATCH_WAIT = 0.2
AGGREGATE_BATCH = 1000
AGGREGATE_BATCH_WAIT = 0.2


class WindowedBucketStore:
    """``Aggregator``'s bucket store on top of a Faust tumbling windowed table.

    Buckets are addressed by their explicit window range rather than by
    ``relative_to_*``: bucket closing is driven by our own watermark, not
    by Faust's window expiry (``on_window_close`` is unreliable upstream,
    see ../shared/NOTES.md section 2), so we read and delete windows
    ourselves.
    """

    def __init__(self, table: Any) -> None:
        self.table = table  # the WindowWrapper returned by Table.tumbling()
        self.window = table.table.window

    def _range(self, start: float) -> tuple[float, float]:
        return tuple(self.window.ranges(start)[0])  # type: ignore[return-value]

    def get(self, brand: str, start: float) -> dict[str, Any] | None:
        value = self.table[brand][self._range(start)]
        return value or None

    def put(self, brand: str, start: float, bucket: dict[str, Any]) -> None:
        self.table[brand][self._range(start)] = bucket

    def delete(self, brand: str, start: float) -> None:
        window = self._range(start)
        if (brand, window) in self.table.table.data:
            del self.table[brand][window]


class BatchBucketStore:
    """Buffers one batch's bucket updates and writes each bucket once."""

    def __init__(self, backing: WindowedBucketStore) -> None:
        self.backing = backing
        self.cache: dict[tuple[str, float], dict[str, Any] | None] = {}
        self.dirty: set[tuple[str, float]] = set()

    def get(self, brand: str, start: float) -> dict[str, Any] | None:
        key = (brand, start)
        if key not in self.cache:
            self.cache[key] = self.backing.get(brand, start)
        return self.cache[key]

    def put(self, brand: str, start: float, bucket: dict[str, Any]) -> None:
        self.cache[(brand, start)] = bucket
        self.dirty.add((brand, start))

    def delete(self, brand: str, start: float) -> None:
        self.cache[(brand, start)] = None
        self.dirty.discard((brand, start))
        self.backing.delete(brand, start)

    def flush(self) -> None:
        for brand, start in sorted(self.dirty):
            bucket = self.cache[(brand, start)]
            if bucket is not None:
                self.backing.put(brand, start, bucket)
        self.dirty.clear()


def posts_clock_name(partition: int) -> str:
    return f"posts-{partition}"


def _make_pool(config: KoubeiConfig) -> Any:
    from streams.sentiment.pool import ScoringPool

    s = config.sentiment
    return ScoringPool(s.model, s.lexicon, s.weibo_preprocessing, config.scoring.processes, config.scoring.cache_size)


def create_app(config: KoubeiConfig, quirks: BrokerQuirks, *, web_port: int | None = None,
               with_notifier: bool = True) -> faust.App:
    kafka = config.kafka
    worker = config.worker
    app = faust.App(
        worker.app_id,
        broker=kafka.url,
        store=worker.store,
        datadir=worker.data_dir,
        topic_partitions=kafka.partitions,
        topic_replication_factor=kafka.replication_factor,
        web_port=worker.web_port if web_port is None else web_port,
        web_bind="0.0.0.0",
        web_host="127.0.0.1",
        processing_guarantee="at_least_once",
        consumer_auto_offset_reset="earliest",
        table_standby_replicas=0,
        # Room for a dead letter of the largest record a topic accepts (see
        # streams.commands.DEAD_LETTER_MAX_BYTES).
        producer_max_request_size=4 * 1024 * 1024 + 65536,
        **quirks.faust_settings(),
    )

    posts_topic = app.topic(config.topic("posts"), key_type=bytes, value_type=bytes,
                            key_serializer="raw", value_serializer="raw")
    dead_topic = app.topic(config.topic("posts.dead"), key_serializer="raw", value_serializer="raw")
    mentions_topic = app.topic(config.topic("mentions"), key_type=bytes, value_type=bytes,
                               key_serializer="raw", value_serializer="raw")
    buckets_topic = app.topic(config.topic("buckets"), key_type=bytes, value_type=bytes,
                              key_serializer="raw", value_serializer="raw")
    alerts_topic = app.topic(config.topic("alerts"), key_serializer="raw", value_serializer="raw")

    size = config.buckets.size_seconds
    # No ``expires``: Faust expires windows against the WALL clock, which would
    # delete the buckets of any replay of history (a demo, a backfill) within
    # seconds. The aggregator deletes buckets itself once they are
    # ``retention_buckets`` behind the watermark, in event time.
    # Values are plain JSON dicts (no key_type/value_type: Faust would try to
    # decode them as Records on changelog recovery).
    bucket_table = app.Table("bucket-counts", default=dict, partitions=kafka.partitions).tumbling(size)
    aggregator_table = app.Table("aggregator-state", default=dict, partitions=kafka.partitions)
    detector_table = app.Table("detector-state", default=dict, partitions=kafka.partitions)
    bucket_store = WindowedBucketStore(bucket_table)

    matcher = BrandMatcher(config.brands)
    brand_ids = set(config.brand_ids)
    pool_holder: dict[str, Any] = {}

    def pool() -> Any:
        if "pool" not in pool_holder:
            pool_holder["pool"] = _make_pool(config)
        return pool_holder["pool"]

    internal_dead = app.topic(config.topic("internal.dead"), key_serializer="raw", value_serializer="raw")
    clock_id = f"{socket.gethostname()}:{os.getpid()}"
    # One event clock per posts partition (see streams.aggregate): the
    # watermark must not depend on which worker happens to own a partition.
    expected_clocks = [posts_clock_name(p) for p in range(kafka.partitions)]
    # When this process first read each mentions partition: silence before
    # that is downtime or another worker's ownership, not idleness.
    resumed_at: dict[int, float] = {}

    async def broadcast_tick(progress: dict[int, float] | None) -> None:
        """A tick to every mentions partition moves every partition's watermark.

        ``progress``: posts partition -> newest ``created_at`` processed
        there, sent after the mentions of those posts; None for the
        wall-clock tick that only lets idle partitions close buckets.
        """
        body: dict[str, Any] = {"kind": "tick", "clock": clock_id}
        if progress:
            body["partitions"] = {str(p): t for p, t in progress.items()}
        value = json.dumps(body).encode()
        for partition in range(kafka.partitions):
            await mentions_topic.send(key=b"__tick__", value=value, partition=partition)

    async def park_internal(stage: str, event: Any, exc: Exception) -> None:
        # One bad internal record must not crash-loop an agent: park it with the reason.
        log.exception("%s: cannot process record at %s[%s]@%s", stage, event.message.topic,
                      event.message.partition, event.message.offset)
        reason = type(exc).__name__
        metrics.DEAD_LETTERS.labels(config.topic("internal.dead"), reason).inc()
        raw = event.value if isinstance(event.value, bytes) else json.dumps(event.value).encode()
        await internal_dead.send(value=dead_letter(reason, str(exc)[:500], raw, stage=stage,
                                                   topic=event.message.topic, partition=event.message.partition,
                                                   offset=event.message.offset))

    @app.agent(posts_topic)
    async def score(stream: Any) -> None:
        scorer = PostScorer(matcher, None, config.sentiment.negative_threshold)
        async for events in stream.take_events(SCORE_BATCH, within=SCORE_BATCH_WAIT):
            started = time.perf_counter()
            posts = []
            origin: dict[int, tuple[int, int]] = {}
            progress: dict[int, float] = {}
            for event in events:
                raw = event.value
                try:
                    post = parse_post(raw)
                except RecordError as exc:
                    metrics.DEAD_LETTERS.labels(config.topic("posts.dead"), exc.reason).inc()
                    await dead_topic.send(value=dead_letter(exc.reason, exc.message, raw, topic=config.topic("posts")))
                    continue
                metrics.POSTS_INGESTED.labels(post.source).inc()
                partition = event.message.partition
                progress[partition] = max(progress.get(partition, post.event_time), post.event_time)
                origin[id(post)] = (event.message.partition, event.message.offset)
                posts.append(post)
            matched = scorer.match(posts)
            mentions: list[Mention] = []
            if matched:
                metrics.POSTS_MATCHED.inc(len(matched))
                results = await pool().score_many_async(scorer.scoring_texts(matched))
                mentions = scorer.build(matched, results, [origin[id(p)] for p, _ in matched])
            now = time.time()
            for mention in mentions:
                metrics.MENTIONS.labels(mention.brand).inc()
                if mention.is_negative:
                    metrics.NEGATIVE_MENTIONS.labels(mention.brand).inc()
                metrics.SCORE_LATENCY.observe(max(0.0, now - mention.created_at))
                await mentions_topic.send(key=mention.brand.encode(), value=json.dumps(mention.to_dict(), ensure_ascii=False).encode(),
                                          timestamp=mention.created_at)
            if progress:
                # Every batch with posts refreshes its partitions' clocks,
                # even without progress: a clock that stops reporting is idle.
                await broadcast_tick(progress)
            metrics.SCORE_BATCH_SECONDS.observe(time.perf_counter() - started)

    @app.agent(mentions_topic)
    async def aggregate(stream: Any) -> None:
        async for events in stream.take_events(AGGREGATE_BATCH, within=AGGREGATE_BATCH_WAIT):
            by_partition: dict[int, list[Any]] = {}
            for event in events:
                by_partition.setdefault(event.message.partition, []).append(event)
            for partition, partition_events in by_partition.items():
                # Table writes go to the changelog partition of the "current
                # event" (a context variable); a batch mixes partitions, so
                # point it at this one. Only the context variable of this task
                # is set: the stream's own current_event attribute is what
                # take_events uses to pair buffered values with their events.
                _current_event.set(weakref.ref(partition_events[-1]))
                await aggregate_partition(partition, partition_events)

    async def aggregate_partition(partition: int, events: list[Any]) -> None:
        b = config.buckets
        state_key = f"partition-{partition}"
        saved = aggregator_table[state_key]
        state = AggregatorState.from_dict(saved)
        # Write-back cache: a batch of mentions mostly hits the same one or two
        # buckets per brand, and each table write is a changelog record.
        store = BatchBucketStore(bucket_store)
        aggregator = Aggregator(size, b.allowed_lateness_seconds, b.idle_close_seconds, store,
                                state, retention_buckets=b.retention_buckets, late_policy=b.late_policy,
                                expected_clocks=expected_clocks,
                                resumed_at=resumed_at.setdefault(partition, time.time()))
        wall = time.time()
        for event in events:
            try:
                record = json.loads(event.value)
                if record.get("kind") == "tick":
                    for posts_partition, event_time in (record.get("partitions") or {}).items():
                        aggregator.observe_time(float(event_time), wall, clock=posts_clock_name(int(posts_partition)))
                    continue
                mention = Mention.from_dict(record)
            except (ValueError, TypeError, KeyError) as exc:
                await park_internal("aggregate", event, exc)
                continue
            if mention.brand not in brand_ids:
                continue  # a brand removed from the config
            result = aggregator.add(mention, wall, event.message.offset, clock=None)
            if result.status in ("added", "late"):
                metrics.MENTIONS_AGGREGATED.labels(mention.brand).inc()
            if result.status in ("late", "dropped"):
                metrics.LATE_MENTIONS.labels(mention.brand).inc()
            elif result.status == "duplicate":
                metrics.DUPLICATE_RECORDS.labels("aggregate").inc()
        aggregator.forget_idle_clocks(wall, horizon=max(3600.0, 10 * b.idle_close_seconds))
        closed = list(aggregator.close_ready(wall))
        store.flush()
        for bucket in closed:
            await buckets_topic.send(key=bucket.brand.encode(), value=json.dumps(bucket.to_dict(), ensure_ascii=False).encode(),
                                     timestamp=bucket.end)
            metrics.BUCKETS_CLOSED.labels(bucket.brand).inc()
            metrics.BUCKET_MENTIONS.labels(bucket.brand).set(bucket.total)
            metrics.BUCKET_NEGATIVE.labels(bucket.brand).set(bucket.negative)
            metrics.NEGATIVE_SHARE.labels(bucket.brand).set(bucket.negative_share)
        mark = aggregator.watermark(wall)
        if mark is not None:
            metrics.WATERMARK.labels(str(partition)).set(mark)
        new_state = state.to_dict()
        if new_state != saved:
            aggregator_table[state_key] = new_state

    @app.agent(buckets_topic)
    async def detect(stream: Any) -> None:
        async for event in stream.events():
            try:
                bucket = Bucket.from_dict(json.loads(event.value))
            except (ValueError, TypeError, KeyError) as exc:
                await park_internal("detect", event, exc)
                continue
            if bucket.brand not in brand_ids:
                continue
            detector = create_detector(config, bucket.brand, state=detector_table[bucket.brand] or None)
            events: list[AlertEvent] = detector.update(bucket)
            detector_table[bucket.brand] = detector.to_state()
            _export_detector_gauges(detector, bucket.brand)
            for alert in events:
                metrics.ALERTS.labels(alert.brand, alert.severity, alert.state).inc()
                await alerts_topic.send(key=alert.key.encode(), value=alert.to_json(), timestamp=alert.event_time)
                log.info("alert %s %s %s: %s", alert.state, alert.severity, alert.key, alert.summary)

    @app.timer(interval=worker.tick_seconds)
    async def wall_clock_tick() -> None:
        # Lets idle partitions close their buckets (see streams.aggregate).
        await broadcast_tick(None)

    @app.page("/healthz")
    async def healthz(self: Any, request: Any) -> Any:
        return self.json({"status": "ok"})

    notifier_holder: dict[str, Any] = {}

    @app.page("/readyz")
    async def readyz(self: Any, request: Any) -> Any:
        recovery = app.tables.recovery
        streams_ready = not app.rebalancing and recovery.completed.is_set()
        # A worker that delivers alerts is ready only once its notifier has
        # joined its consumer group: alerts produced before that would wait
        # for the join (seconds on the embedded broker).
        notifier = notifier_holder.get("notifier")
        notifier_ready = not with_notifier or (notifier is not None and notifier.ready.is_set())
        ready = streams_ready and notifier_ready
        body = {"ready": ready, "rebalancing": bool(app.rebalancing), "notifier_ready": notifier_ready}
        return self.json(body, status=200 if ready else 503)

    if with_notifier:
        app.service(_notifier_service(config, quirks, notifier_holder))

    app.koubei_config = config  # type: ignore[attr-defined]
    return app


def _export_detector_gauges(detector: Any, brand: str) -> None:
    """Publish what the detector knows, if it exposes it (``gauges()``)."""
    gauges = getattr(detector, "gauges", None)
    if gauges is None:
        return
    values = gauges()
    if "baseline_share" in values:
        metrics.BASELINE_SHARE.labels(brand).set(values["baseline_share"])
    if "score" in values:
        metrics.DETECTOR_SCORE.labels(brand).set(values["score"])
    if "firing" in values:
        metrics.ALERTS_FIRING.labels(brand).set(values["firing"])


def _notifier_service(config: KoubeiConfig, quirks: BrokerQuirks, holder: dict[str, Any]) -> type[Service]:
    class NotifierService(Service):
        """Runs alert delivery on the worker's event loop, stopped in order on shutdown."""

        def __post_init__(self) -> None:
            self._stop_event = asyncio.Event()
            self._task: asyncio.Task[None] | None = None

        async def on_start(self) -> None:
            from alerting.notifier import Notifier

            notifier = Notifier(config, bootstrap_servers(config.kafka.url), quirks)
            holder["notifier"] = notifier
            self._task = asyncio.ensure_future(notifier.run(self._stop_event))

        async def on_stop(self) -> None:
            self._stop_event.set()
            if self._task is not None:
                try:
                    await asyncio.wait_for(self._task, timeout=15)
                except TimeoutError:
                    self._task.cancel()

    return NotifierService
