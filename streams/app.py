"""The Faust application: topics, tables and agents, nothing else.

Every agent is a thin loop around plain code that the backtest and the
tests run too (``TOPOLOGY`` below): the input gate, ``PostScorer`` (brand
match + sentiment), ``Aggregator`` (buckets + watermark) and
``create_detector`` (spike rule). Alert delivery is not part of the
pipeline: the composition root attaches it (``AttachedService``).

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
import functools
import json
import logging
import os
import socket
import time
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust
from faust.streams import _current_event
from faust.types import EventT, StreamT
from mode import Service

from streams import metrics, topics
from streams.aggregate import Aggregator, AggregatorState
from streams.brands import BrandMatcher
from streams.config import PipelineConfig
from streams.detection import create_detector
from streams.gate import Gate, Rejection, internal_error
from streams.health import StageHealth
from streams.kafka import BrokerQuirks, bootstrap_servers, faust_credentials
from streams.models import AlertEvent, Bucket, Mention, Post, dead_letter
from streams.scoring import PostScorer, mentions_for
from streams.sentiment import ScoreResult
from streams.sentiment.auto import AutoModel, AutoSettings, StreamLearner
from streams.sentiment.corrections import read_corrections
from streams.sentiment.pool import ScoringPool
from streams.topics import TopicSpec

log = logging.getLogger("koubei.worker")
AgentFun = Callable[[StreamT], Awaitable[None]]


@dataclass(frozen=True)
class Stage:
    """One agent of the worker: the topic it reads, the topics it writes and
    the plain code it runs (the same code ``koubei backtest`` runs)."""

    name: str
    reads: TopicSpec
    writes: tuple[TopicSpec, ...]
    runs: str


# The stream topology, in order. Every stage handles each record on its own:
# a record it cannot handle goes to a dead-letter topic with its reason.
TOPOLOGY = (
    Stage("score", topics.POSTS, (topics.MENTIONS, topics.POSTS_DEAD),
          "streams.gate.Gate, then streams.scoring.PostScorer (brand match + sentiment)"),
    Stage("aggregate", topics.MENTIONS, (topics.BUCKETS, topics.INTERNAL_DEAD),
          "streams.aggregate.Aggregator (event-time buckets + watermark)"),
    Stage("detect", topics.BUCKETS, (topics.ALERTS, topics.INTERNAL_DEAD),
          "streams.detection.create_detector (one detector per brand)"),
)

SCORE_BATCH = 500
SCORE_BATCH_WAIT = 0.2
AGGREGATE_BATCH = 1000
AGGREGATE_BATCH_WAIT = 0.2
CORRECTIONS_INTERVAL = 300.0  # seconds between reads of the sentiment corrections topic


class WindowedBucketStore:
    """``Aggregator``'s bucket store on top of a Faust tumbling windowed table.

    Buckets are addressed by their explicit window range rather than by
    ``relative_to_*``: bucket closing is driven by our own watermark, not
    by Faust's window expiry (``on_window_close`` is unreliable upstream,
    faust-streaming issues #195, #250 and #412), so we read and delete windows
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


def _make_pool(config: PipelineConfig) -> ScoringPool:
    s = config.sentiment
    return ScoringPool(s.model, s.lexicon, s.weibo_preprocessing, config.scoring.processes, config.scoring.cache_size)


@dataclass(frozen=True)
class AttachedService:
    """A service the worker runs on its own event loop (alert delivery, say),
    started and stopped with it; ``/readyz`` waits for ``ready()``."""

    name: str
    service: type[Service]
    ready: Callable[[], bool]


def create_app(config: PipelineConfig, quirks: BrokerQuirks, *, web_port: int | None = None,
               services: Sequence[AttachedService] = ()) -> faust.App:
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
        # Room for a dead letter of the largest record a topic accepts.
        producer_max_request_size=topics.MAX_REQUEST_BYTES,
        broker_credentials=faust_credentials(kafka),  # TLS / SASL from the kafka section (streams/kafka.py)
        **quirks.faust_settings(),
    )

    posts_topic = app.topic(config.topic(topics.POSTS), key_type=bytes, value_type=bytes,
                            key_serializer="raw", value_serializer="raw")
    dead_topic = app.topic(config.topic(topics.POSTS_DEAD), key_serializer="raw", value_serializer="raw")
    mentions_topic = app.topic(config.topic(topics.MENTIONS), key_type=bytes, value_type=bytes,
                               key_serializer="raw", value_serializer="raw")
    buckets_topic = app.topic(config.topic(topics.BUCKETS), key_type=bytes, value_type=bytes,
                              key_serializer="raw", value_serializer="raw")
    alerts_topic = app.topic(config.topic(topics.ALERTS), key_serializer="raw", value_serializer="raw")

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

    health = StageHealth([(stage.name, config.topic(stage.reads)) for stage in TOPOLOGY],
                         grace=worker.stage_failure_grace)
    gate = Gate(config.input)
    matcher = BrandMatcher(config.brands)
    brand_ids = set(config.brand_ids)
    pool_holder: dict[str, ScoringPool] = {}

    def pool() -> ScoringPool:
        if "pool" not in pool_holder:
            pool_holder["pool"] = _make_pool(config)
        return pool_holder["pool"]

    # sentiment.model: auto learns this deployment's model from its own posts
    # (streams/sentiment/auto.py); each worker keeps its own under its data dir.
    learner: StreamLearner | None = None
    if config.sentiment.model == "auto":
        s = config.sentiment
        learner = StreamLearner(AutoModel(AutoSettings(s.auto_min_examples, s.auto_max_examples),
                                          state_dir=Path(worker.data_dir) / "sentiment-auto", mask=matcher.mask),
                                lambda path: pool().use_model(path))

    async def learn_sentiment(texts: list[str]) -> None:
        if learner is not None:
            await learner.observe(texts)

    internal_dead = app.topic(config.topic(topics.INTERNAL_DEAD), key_serializer="raw", value_serializer="raw")
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

    async def park_internal(stage: str, event: EventT, reason: str, message: str) -> None:
        """One record a stage cannot handle goes to internal.dead with the reason; the stream goes on."""
        metrics.DEAD_LETTERS.labels(config.topic(topics.INTERNAL_DEAD), reason).inc()
        value = event.value
        raw = value if isinstance(value, bytes) else json.dumps(value, default=str).encode("utf-8", "replace")
        await internal_dead.send(value=dead_letter(reason, message[:500], raw, stage=stage,
                                                   topic=event.message.topic, partition=event.message.partition,
                                                   offset=event.message.offset))

    async def record_failed(stage: str, event: EventT, exc: Exception) -> None:
        """A bug met on one record: logged with its place, parked with a digest of the error."""
        log.exception("%s: cannot process record at %s[%s]@%s", stage, event.message.topic,
                      event.message.partition, event.message.offset)
        metrics.RECORD_FAILURES.labels(stage).inc()
        failure = internal_error(exc)
        await park_internal(stage, event, failure.reason, failure.message)

    async def dead_post(raw: bytes | None, reason: str, message: str) -> None:
        metrics.DEAD_LETTERS.labels(config.topic(topics.POSTS_DEAD), reason).inc()
        await dead_topic.send(value=dead_letter(reason, message, raw, topic=config.topic(topics.POSTS)))

    async def score_texts(texts: list[str]) -> list[ScoreResult | Exception]:
        """Scores for a batch; if the batch fails, each text alone, so that one
        text the scorer cannot handle costs only its own post."""
        try:
            return list(await pool().score_many_async(texts))
        except Exception:  # noqa: BLE001 - isolate the culprit below
            log.exception("score: a batch of %d texts failed; scoring them one by one", len(texts))
        out: list[ScoreResult | Exception] = []
        for text in texts:
            try:
                out.append((await pool().score_many_async([text]))[0])
            except Exception as exc:  # noqa: BLE001 - reported per post
                out.append(exc)
        return out

    def guarded(stage: str) -> Callable[[AgentFun], AgentFun]:
        """An agent whose body dies marks its stage down (streams.health)."""
        def wrap(body: AgentFun) -> AgentFun:
            @functools.wraps(body)
            async def run(stream: StreamT) -> None:
                try:
                    await body(stream)
                except asyncio.CancelledError:
                    raise  # a rebalance or a shutdown, not a failure
                except Exception as exc:
                    health.failed(stage, exc)
                    raise
            return run
        return wrap

    @app.agent(posts_topic)
    @guarded("score")
    async def score(stream: StreamT) -> None:
        scorer = PostScorer(matcher, None, config.sentiment.negative_threshold)
        if learner is not None:
            learner.resume()
        async for events in stream.take_events(SCORE_BATCH, within=SCORE_BATCH_WAIT):
            started = time.perf_counter()
            posts: list[Post] = []
            where: list[EventT] = []
            progress: dict[int, float] = {}
            for event in events:
                post = gate.admit(event.value)
                if isinstance(post, Rejection):
                    await dead_post(event.value, post.reason, post.message)
                    continue
                metrics.POSTS_INGESTED.labels(post.source).inc()
                partition = event.message.partition
                progress[partition] = max(progress.get(partition, post.event_time), post.event_time)
                posts.append(post)
                where.append(event)
            origin = {id(p): e for p, e in zip(posts, where, strict=True)}
            matched = scorer.match(posts)
            if matched:
                metrics.POSTS_MATCHED.inc(len(matched))
                texts = scorer.scoring_texts(matched)  # brand names masked: they are not sentiment
                results = await score_texts(texts)
                await learn_sentiment(texts)
                now = time.time()
                for (post, brands), result in zip(matched, results, strict=True):
                    event = origin[id(post)]
                    try:
                        if isinstance(result, Exception):
                            raise result
                        mentions = mentions_for(post, brands, result, scorer.negative_threshold,
                                                (event.message.partition, event.message.offset))
                        for mention in mentions:
                            value = json.dumps(mention.to_dict(), ensure_ascii=False).encode()
                            await mentions_topic.send(key=mention.brand.encode(), value=value,
                                                      timestamp=mention.created_at)
                            metrics.MENTIONS.labels(mention.brand).inc()
                            if mention.is_negative:
                                metrics.NEGATIVE_MENTIONS.labels(mention.brand).inc()
                            metrics.SCORE_LATENCY.observe(max(0.0, now - mention.created_at))
                    except Exception as exc:  # noqa: BLE001 - one post, not the stream
                        metrics.RECORD_FAILURES.labels("score").inc()
                        log.exception("score: cannot score post %s", post.key)
                        failure = internal_error(exc)
                        await dead_post(event.value, failure.reason, failure.message)
            if progress:
                # Every batch with posts refreshes its partitions' clocks,
                # even without progress: a clock that stops reporting is idle.
                await broadcast_tick(progress)
            metrics.SCORE_BATCH_SECONDS.observe(time.perf_counter() - started)
            health.progressed("score")

    @app.agent(mentions_topic)
    @guarded("aggregate")
    async def aggregate(stream: StreamT) -> None:
        async for events in stream.take_events(AGGREGATE_BATCH, within=AGGREGATE_BATCH_WAIT):
            by_partition: dict[int, list[EventT]] = {}
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
            health.progressed("aggregate")

    async def aggregate_partition(partition: int, events: list[EventT]) -> None:
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
                                resumed_at=resumed_at.setdefault(partition, time.time()),
                                max_future=config.input.max_future)
        wall = time.time()
        for event in events:
            try:
                record = json.loads(event.value)
                if not isinstance(record, dict):
                    raise ValueError(f"expected a JSON object, got {type(record).__name__}")
                if record.get("kind") == "tick":
                    for posts_partition, event_time in (record.get("partitions") or {}).items():
                        aggregator.observe_time(float(event_time), wall, clock=posts_clock_name(int(posts_partition)))
                    continue
                mention = Mention.from_dict(record)
                if mention.brand not in brand_ids:
                    continue  # a brand removed from the config
                result = aggregator.add(mention, wall, event.message.offset, clock=None)
            except (ValueError, TypeError, KeyError) as exc:
                await park_internal("aggregate", event, type(exc).__name__, str(exc))
                continue
            except Exception as exc:  # noqa: BLE001 - one record, not the stream
                await record_failed("aggregate", event, exc)
                continue
            if result.status in ("added", "late"):
                metrics.MENTIONS_AGGREGATED.labels(mention.brand).inc()
            if result.status in ("late", "dropped"):
                metrics.LATE_MENTIONS.labels(mention.brand).inc()
            elif result.status == "duplicate":
                metrics.DUPLICATE_RECORDS.labels("aggregate").inc()
        if aggregator.clamped:
            metrics.CLAMPED_EVENT_TIMES.inc(aggregator.clamped)
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
    @guarded("detect")
    async def detect(stream: StreamT) -> None:
        async for event in stream.events():
            try:
                bucket = Bucket.from_dict(json.loads(event.value))
            except (ValueError, TypeError, KeyError) as exc:
                await park_internal("detect", event, type(exc).__name__, str(exc))
                continue
            if bucket.brand not in brand_ids:
                continue
            try:
                detector = create_detector(config, bucket.brand, state=detector_table[bucket.brand] or None)
                alerts: list[AlertEvent] = detector.update(bucket)
                state = detector.to_state()
            except Exception as exc:  # noqa: BLE001 - the detector state stays as it was before this bucket
                await record_failed("detect", event, exc)
                continue
            detector_table[bucket.brand] = state
            _export_detector_gauges(detector, bucket.brand)
            for alert in alerts:
                metrics.ALERTS.labels(alert.brand, alert.severity, alert.state).inc()
                await alerts_topic.send(key=alert.key.encode(), value=alert.to_json(), timestamp=alert.event_time)
                log.info("alert %s %s %s: %s", alert.state, alert.severity, alert.key, alert.summary)
            health.progressed("detect")

    if learner is not None:
        @app.timer(interval=CORRECTIONS_INTERVAL)
        async def read_sentiment_corrections() -> None:
            # People's corrections win over the emoticons' weak labels.
            try:
                corrections, _ = await asyncio.to_thread(read_corrections, config, bootstrap_servers(config.kafka.url))
            except Exception:  # noqa: BLE001 - Kafka trouble: the next read tries again
                log.warning("sentiment corrections could not be read; trying again later", exc_info=True)
                return
            learner.add_corrections(corrections.values())

    @app.timer(interval=worker.tick_seconds)
    async def wall_clock_tick() -> None:
        # Lets idle partitions close their buckets (see streams.aggregate).
        await broadcast_tick(None)

    @app.page("/healthz")
    async def healthz(self: Any, request: Any) -> Any:
        # 503 once a stage has died: the process exits soon (streams.health).
        ok = health.healthy
        return self.json({"status": "ok" if ok else "failing", "stages": health.report()}, status=200 if ok else 503)

    @app.page("/readyz")
    async def readyz(self: Any, request: Any) -> Any:
        recovery = app.tables.recovery
        streams_ready = not app.rebalancing and recovery.completed.is_set()
        # An attached service (the notifier) must be ready too: alerts
        # produced before it has joined its consumer group would wait for
        # the join (seconds on the embedded broker).
        attached = {f"{s.name}_ready": s.ready() for s in services}
        ready = streams_ready and health.healthy and all(attached.values())
        body = {"ready": ready, "rebalancing": bool(app.rebalancing), "stages": health.report(), **attached}
        return self.json(body, status=200 if ready else 503)

    for attached_service in services:
        app.service(attached_service.service)

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
