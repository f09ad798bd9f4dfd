"""The Faust application: topics, tables and agents, nothing else.

Every agent is a thin loop around plain code that the backtest and the
tests run too (``TOPOLOGY`` below): the input gate, ``PostScorer`` (brand
match + sentiment), ``Aggregator`` (buckets + watermark) and
``create_detector`` (spike rule). Alert delivery is not part of the
pipeline: the composition root attaches it (``AttachedService``).

Every agent works per batch (issue 16): the score stage combines a batch's
mentions into one counts record per brand before the shuffle, and each
stage sends its output once per batch through an ``Outbox``, acknowledging
its input only once the output is safe. The wiring that keeps counts exact
under re-delivery is the score stage's ledger (streams/ledger.py) and the
buckets' range marks (streams/aggregate.py).

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
import gc
import json
import logging
import os
import socket
import time
import weakref
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust
import orjson
from faust.streams import _current_event
from faust.types import EventT, StreamT
from mode import Service

from streams import metrics, topics
from streams.aggregate import Aggregator, AggregatorState, CountsResult
from streams.brands import BrandMatcher
from streams.config import PipelineConfig
from streams.detection import create_detector
from streams.faust_app import BatchReader, RawSchema, WorkerApp
from streams.gate import Gate, Rejection, internal_error
from streams.health import StageHealth
from streams.kafka import BrokerQuirks, bootstrap_servers, faust_credentials
from streams.ledger import LedgerBatch, PostsLedger
from streams.models import (
    AlertEvent,
    Bucket,
    Mention,
    MentionCounts,
    Post,
    bucket_record,
    dead_letter,
    read_bucket_record,
)
from streams.offsets import OffsetWatch
from streams.outbox import Outbox
from streams.repeats import counted_at, remember, repeat
from streams.scoring import MentionCounter, PostScorer, PostsRange, mentions_for
from streams.sentiment import ScoreResult
from streams.sentiment.auto import AutoModel, AutoSettings, StreamLearner
from streams.sentiment.corrections import read_corrections
from streams.sentiment.pool import ScoringPool
from streams.table_writes import TableWrites
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
          "streams.gate.Gate, streams.repeats (posts seen again), streams.scoring.PostScorer (brand match + "
          "sentiment) and MentionCounter (one counts record per brand and batch)"),
    Stage("aggregate", topics.MENTIONS, (topics.BUCKETS, topics.INTERNAL_DEAD),
          "streams.aggregate.Aggregator (event-time buckets + watermark)"),
    Stage("detect", topics.BUCKETS, (topics.ALERTS, topics.INTERNAL_DEAD),
          "streams.detection.create_detector (one detector per brand)"),
)

# Batches: as large as a backlog allows, as short a wait as a trickle needs
# (a batch waits at most *_WAIT seconds for more records).
SCORE_BATCH = 1000
SCORE_BATCH_WAIT = 0.1
AGGREGATE_BATCH = 1000
AGGREGATE_BATCH_WAIT = 0.1
DETECT_BATCH = 1000
DETECT_BATCH_WAIT = 0.1
DETECT_SLICE_BYTES = 256 * 1024  # bucket records decoded and applied together, at most (one record may be larger)
MAX_POLL_RECORDS = 500
STREAM_BUFFER = 2048  # events queued per agent (Faust: 4,096; a worker's peak RSS 199 -> 190 MB with both)
FETCH_BYTES = 256 * 1024  # bytes fetched per partition and request (Faust: 1 MiB)
GC_THRESHOLDS = (20_000, 20, 20)  # settle_heap
CORRECTIONS_INTERVAL = 300.0  # seconds between reads of the sentiment corrections topic
# How long the score stage keeps a batch's record in its ledger (streams.ledger)
# at least, and how young a record is never forgotten to keep dedup.max_posts:
# far longer than any commit takes, which is all a record's end is needed for.
LEDGER_HORIZON = 3600.0
LEDGER_MIN_AGE = 600.0
FRESH = "fresh"  # the record group of the posts ranges a batch sends for the first time


class WindowedBucketStore:
    """Buckets as the previous versions kept them: a Faust tumbling windowed
    table, one entry per (brand, bucket). Read only now, so that a worker
    upgraded in the middle of a bucket takes over the counts and marks of the
    buckets still in it (``BrandBucketStore``)."""

    def __init__(self, table: Any) -> None:
        self.table = table  # the WindowWrapper returned by Table.tumbling()

    def buckets_of(self, brand: str) -> dict[float, dict[str, Any]]:
        out: dict[float, dict[str, Any]] = {}
        for key, value in list(self.table.table.data.items()):
            if isinstance(key, tuple) and key and key[0] == brand and isinstance(value, dict) and value:
                out[float(value.get("start", key[1][0]))] = value
        return out


class BrandBucketStore:
    """``Aggregator``'s bucket store for one batch: per brand, two table entries.

    ``<brand>`` holds the brand's open buckets (counts, evidence and
    de-duplication marks together, so that they survive a crash together);
    ``<brand>#closed`` holds only the marks of its closed buckets, which the
    aggregator checks when a late part arrives for one of them
    (streams/aggregate.py). Each is written at most once per batch, and only
    when it changed: per batch a brand costs one or two table writes instead
    of one per bucket it touched, which is what a replay of a day's posts in
    seconds (hundreds of buckets per batch) needs. Buckets are decoded when
    first read in the batch and encoded again only if they were ``put``.

    A brand not yet in the table is read from the previous versions' windowed
    table (``legacy``), once.

    ``decoded``: buckets decoded in earlier batches, with the stored dict they
    were encoded to; while the table still holds that very dict (the memory
    store keeps values as they were set), the bucket is not decoded again.
    """

    def __init__(self, table: Any, legacy: WindowedBucketStore | None = None,
                 decoded: dict[tuple[str, float], tuple[dict[str, Any], Bucket]] | None = None) -> None:
        self.table = table
        self.legacy = legacy
        self.decoded = decoded if decoded is not None else {}
        self.raw: dict[str, dict[float, dict[str, Any]]] = {}  # as stored
        self.objects: dict[str, dict[float, Bucket]] = {}  # decoded in this batch
        self.touched: dict[str, set[float]] = {}
        self.stored: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}
        self.dirty: set[str] = set()

    def _load(self, brand: str) -> dict[float, dict[str, Any]]:
        raw = self.raw.get(brand)
        if raw is None:
            open_entry = self.table.get(brand) or {}
            closed_entry = self.table.get(_closed_key(brand)) or {}
            opened = list(open_entry.get("buckets", []))
            closed = list(closed_entry.get("buckets", []))
            raw = {float(b["start"]): b for b in closed}
            raw.update({float(b["start"]): b for b in opened})
            if not open_entry and not closed_entry and self.legacy is not None:
                legacy = self.legacy.buckets_of(brand)
                if legacy:
                    raw.update(legacy)
                    self.dirty.add(brand)
            self.raw[brand] = raw
            self.objects[brand] = {}
            self.touched[brand] = set()
            self.stored[brand] = (opened, closed)
        return raw

    def get(self, brand: str, start: float) -> Bucket | None:
        raw = self._load(brand)
        bucket = self.objects[brand].get(start)
        if bucket is None and start in raw:
            known = self.decoded.get((brand, start))
            data = raw[start]
            bucket = known[1] if known is not None and known[0] is data else Bucket.from_dict(data)
            self.objects[brand][start] = bucket
        return bucket

    def closed_before(self, brand: str, start: float) -> bool:
        """The stored bucket holds only its marks: it was closed and sent
        (``flush`` keeps only the marks of buckets already sent)."""
        raw = self._load(brand)
        data = raw.get(start)
        return data is not None and start not in self.touched[brand] and _is_marks_only(data)

    def closed_until(self, brand: str) -> float | None:
        raw = self._load(brand)
        touched = self.touched[brand]
        closed = [start + float(data.get("size", 0.0)) for start, data in raw.items()
                  if start not in touched and _is_marks_only(data)]
        return max(closed) if closed else None

    def put(self, brand: str, start: float, bucket: Bucket) -> None:
        raw = self._load(brand)
        raw.setdefault(start, {})
        self.objects[brand][start] = bucket
        self.touched[brand].add(start)
        self.dirty.add(brand)

    def delete(self, brand: str, start: float) -> None:
        raw = self._load(brand)
        if raw.pop(start, None) is not None:
            self.objects[brand].pop(start, None)
            self.touched[brand].discard(start)
            self.decoded.pop((brand, start), None)
            self.dirty.add(brand)

    def flush(self, next_close: float | None, write: Callable[[str, dict[str, Any]], None] | None = None) -> None:
        """Write the brands changed in this batch. Buckets before ``next_close``
        are closed (already sent): only their marks are kept. (Every brand with
        a bucket that closed was read in this batch, by ``close_ready``.)
        ``write(key, value)``: how an entry is written (the worker's waits for
        its changelog record, streams.table_writes); the table's own setter
        by default."""
        put = write if write is not None else self.table.__setitem__
        for brand in sorted(self.raw):
            raw, touched, objects = self.raw[brand], self.touched[brand], self.objects[brand]
            opened: list[dict[str, Any]] = []
            closed: list[dict[str, Any]] = []
            for start in sorted(raw):
                data = raw[start]
                if start in touched:
                    data = objects[start].to_dict()
                    self.decoded[(brand, start)] = (data, objects[start])
                if next_close is not None and start < next_close:
                    closed.append(data if _is_marks_only(data) else _marks_only(data))
                    self.decoded.pop((brand, start), None)
                else:
                    opened.append(data)
            stored_open, stored_closed = self.stored[brand]
            # The marks of a bucket that closes go out before the open entry
            # without it: one changelog partition keeps the order, so after a
            # crash a bucket's marks are in one entry or the other.
            if closed != stored_closed:
                put(_closed_key(brand), {"buckets": closed})
            if opened != stored_open:
                put(brand, {"buckets": opened})
            self.stored[brand] = (opened, closed)
            self.raw[brand] = {float(b["start"]): b for b in closed + opened}
            objects.clear()
            touched.clear()
        self.dirty.clear()


def _closed_key(brand: str) -> str:
    return f"{brand}#closed"


_MARKS = ("brand", "start", "size", "last_offset", "sources")


def _marks_only(bucket: dict[str, Any]) -> dict[str, Any]:
    return {"brand": bucket["brand"], "start": bucket["start"], "size": bucket["size"],
            "last_offset": bucket.get("last_offset", -1), "sources": bucket.get("sources", {})}


def _is_marks_only(bucket: dict[str, Any]) -> bool:
    return len(bucket) == len(_MARKS) and all(k in bucket for k in _MARKS)


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
    app = WorkerApp(
        worker.app_id,
        fetch_max_wait=quirks.fetch_max_wait,
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
        # Faust's consumer hands fetched records to the agents one at a time
        # and waits when an agent's queue is full; a bounded poll keeps a
        # backlog of posts from holding the counts and buckets behind it.
        broker_max_poll_records=MAX_POLL_RECORDS,
        # Memory: records waiting per agent, and fetched per partition. A record
        # larger than the fetch size still arrives, alone (Kafka's KIP-74; the
        # embedded broker too, checked with 900 kB).
        stream_buffer_maxsize=STREAM_BUFFER,
        consumer_max_fetch_size=FETCH_BYTES,
        **quirks.faust_settings(),
    )

    posts_topic = app.topic(config.topic(topics.POSTS), schema=RawSchema())
    mentions_topic = app.topic(config.topic(topics.MENTIONS), schema=RawSchema())
    buckets_topic = app.topic(config.topic(topics.BUCKETS), schema=RawSchema())
    names = {spec: config.topic(spec) for spec in (topics.POSTS, topics.POSTS_DEAD, topics.MENTIONS, topics.BUCKETS,
                                                   topics.ALERTS, topics.INTERNAL_DEAD)}

    size = config.buckets.size_seconds
    # Values are plain JSON dicts (no key_type/value_type: Faust would try to
    # decode them as Records on changelog recovery).
    brand_buckets = app.Table("brand-buckets", default=dict, partitions=kafka.partitions)
    # The bucket table of the previous versions, read when a brand is first
    # seen (BrandBucketStore). No ``expires``: Faust expires windows against
    # the wall clock.
    legacy_buckets = WindowedBucketStore(
        app.Table("bucket-counts", default=dict, partitions=kafka.partitions).tumbling(size))
    aggregator_table = app.Table("aggregator-state", default=dict, partitions=kafka.partitions)
    detector_table = app.Table("detector-state", default=dict, partitions=kafka.partitions)
    # The score stage's ledger (streams.ledger), one record per batch and
    # posts partition, in that posts partition's changelog partition.
    ledger_table = app.Table("score-batches", default=dict, partitions=kafka.partitions)
    dedup = config.dedup.horizon_seconds > 0
    ledger = PostsLedger(max(LEDGER_HORIZON, config.dedup.horizon_seconds), config.dedup.max_posts, LEDGER_MIN_AGE)
    ledger_generation: dict[str, int] = {}

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
        learner = StreamLearner(AutoModel(AutoSettings.from_config(config.sentiment),
                                          state_dir=Path(worker.data_dir) / "sentiment-auto", mask=matcher.mask),
                                lambda path: pool().use_model(path))

    async def learn_sentiment(texts: list[str], scores: Sequence[Any]) -> None:
        if learner is not None:
            await learner.observe(texts, scores)

    clock_id = f"{socket.gethostname()}:{os.getpid()}"
    # One event clock per posts partition (see streams.aggregate): the
    # watermark must not depend on which worker happens to own a partition.
    expected_clocks = [posts_clock_name(p) for p in range(kafka.partitions)]
    # When this process first read each mentions partition: silence before
    # that is downtime or another worker's ownership, not idleness.
    resumed_at: dict[int, float] = {}

    def count_sent(topic: str, n: int) -> None:
        count = getattr(app.monitor, "count_sent", None)
        if count is not None:
            count(topic, n)

    def outbox() -> Outbox:
        return Outbox(app.producer, batch_records=quirks.single_record_batches, on_sent=count_sent)

    def tick_value(progress: dict[int, float] | None) -> bytes:
        """A tick to every mentions partition moves every partition's watermark.

        ``progress``: posts partition -> newest ``created_at`` processed
        there, sent after the counts of those posts; None for the
        wall-clock tick that only lets idle partitions close buckets.
        """
        body: dict[str, Any] = {"kind": "tick", "clock": clock_id}
        if progress:
            body["partitions"] = {str(p): t for p, t in progress.items()}
        return json.dumps(body).encode()

    async def broadcast_tick(progress: dict[int, float] | None) -> None:
        value = tick_value(progress)
        for partition in range(kafka.partitions):
            await mentions_topic.send(key=b"__tick__", value=value, partition=partition)

    def park_internal(out: Outbox, stage: str, event: EventT, reason: str, message: str) -> None:
        """One record a stage cannot handle goes to internal.dead with the reason; the stream goes on."""
        metrics.DEAD_LETTERS.labels(names[topics.INTERNAL_DEAD], reason).inc()
        value = event.value
        raw = value if isinstance(value, bytes) else json.dumps(value, default=str).encode("utf-8", "replace")
        out.add(names[topics.INTERNAL_DEAD], dead_letter(reason, message[:500], raw, stage=stage,
                                                         topic=event.message.topic, partition=event.message.partition,
                                                         offset=event.message.offset))

    def record_failed(out: Outbox, stage: str, event: EventT, exc: Exception, what: str = "") -> None:
        """A bug met on one record: logged with its place, parked with a digest of the error."""
        log.error("%s: cannot process record at %s[%s]@%s %s", stage, event.message.topic,
                  event.message.partition, event.message.offset, what, exc_info=exc)
        metrics.RECORD_FAILURES.labels(stage).inc()
        failure = internal_error(exc)
        park_internal(out, stage, event, failure.reason, f"{what}: {failure.message}" if what else failure.message)

    def dead_post(out: Outbox, raw: bytes | None, reason: str, message: str) -> None:
        metrics.DEAD_LETTERS.labels(names[topics.POSTS_DEAD], reason).inc()
        out.add(names[topics.POSTS_DEAD], dead_letter(reason, message, raw, topic=names[topics.POSTS]))

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

    def by_partition(events: Sequence[EventT]) -> dict[int, list[EventT]]:
        """A batch's events per partition, each partition's in offset order."""
        out: dict[int, list[EventT]] = {}
        for event in events:
            out.setdefault(event.message.partition, []).append(event)
        return out

    def on_partition(event: EventT) -> None:
        """Table writes go to the changelog partition of the "current event" (a
        context variable); a batch mixes partitions, so point it at one. Only
        the context variable of this task is set: the stream's own
        current_event attribute is what take_events uses to pair buffered
        values with their events."""
        _current_event.set(weakref.ref(event))

    def ledger_for(partition: int, event: EventT) -> None:
        """Load the ledger records of a posts partition this worker reads (again)."""
        generation = app.consumer_generation_id
        if ledger_generation.get("id") != generation:
            ledger.forget()  # a rebalance: partitions may have moved
            ledger_generation["id"] = generation
        if not ledger.loaded(partition):
            prefix = f"{partition}/"
            ledger.load(partition, [LedgerBatch.from_dict(v) for k, v in list(ledger_table.items())
                                    if isinstance(k, str) and k.startswith(prefix) and v])

    def record_ranges(ranges: Sequence[PostsRange], remembered: dict[PostsRange, dict[str, Any]]) -> TableWrites:
        """Write the ends of ``ranges`` to the ledger (streams.ledger), with the
        posts each range counted (``remembered``); returns the writes, which
        must be durable before the ranges' counts are sent. Ends already
        recorded are skipped: those ranges were recorded, posts included, by
        the run that first sent them. A record lives in the changelog
        partition of its posts partition, and so does its removal."""
        now = time.time()
        writes = TableWrites()
        for partition, first, last in ranges:
            if ledger.is_end(partition, last):
                continue
            batch = LedgerBatch(partition, first, last, now, remembered.get((partition, first, last), {}))
            ledger.add(batch)
            writes.set(ledger_table, batch.key, batch.to_dict(), partition)
        old = [b for partition in {r[0] for r in ranges} for b in ledger.expire(partition, now)] + ledger.evict(now)
        for batch in old:
            if batch.key in ledger_table.data:
                writes.delete(ledger_table, batch.key, batch.partition)
        metrics.REMEMBERED_POSTS.set(ledger.remembered)
        return writes

    @app.task
    async def load_scorer() -> None:
        # The model loads before the first post arrives, not in its batch. On
        # the event loop's thread: loaded in a thread of its own it landed in
        # another malloc arena, ~10 MB more peak RSS.
        pool()
        settle_heap()

    @app.agent(posts_topic)
    @guarded("score")
    async def score(stream: StreamT) -> None:
        """Batches are prepared (validated, matched, scored, counted) while the
        previous batch's output is on its way to the broker: a batch's posts
        are acknowledged only once its output is safe (``send_batch``), which
        keeps the at-least-once chain while the round trips overlap the next
        batch's work."""
        scorer = PostScorer(matcher, None, config.sentiment.negative_threshold)
        if learner is not None:
            learner.resume()
        sending: asyncio.Future[None] | None = None
        # Posts are the one topic with a record per post: the batches come
        # straight from the agent's queue (streams.faust_app.BatchReader), and
        # send_batch acknowledges each post once the batch's output is safe.
        async for events in BatchReader(stream).batches(SCORE_BATCH, SCORE_BATCH_WAIT):
            started = time.perf_counter()
            prepared = await score_batch(scorer, events)
            metrics.SCORE_BATCH_SECONDS.observe(time.perf_counter() - started)
            if sending is not None:
                await sending  # in order: the counts of one batch before the next one's
            sending = asyncio.ensure_future(send_batch(*prepared, events))
            sending.add_done_callback(_report_send_failure)
            health.progressed("score")

    def _report_send_failure(future: asyncio.Future[None]) -> None:
        if not future.cancelled() and future.exception() is not None:
            # The agent raises it with its next batch; a stage without a next
            # batch must not look healthy meanwhile.
            log.error("score: a batch could not be sent", exc_info=future.exception())
            health.failed("score", future.exception())  # type: ignore[arg-type]

    async def send_batch(out: Outbox, ledger_writes: TableWrites, events: Sequence[EventT]) -> None:
        await ledger_writes.wait()  # the ranges' ends are durable before their counts leave
        await out.deliver()
        consumer = app.consumer
        for event in events:
            message = event.message
            if message.ack(consumer):
                app.sensors.on_message_out(message.tp, message.offset, message)

    offset_watch = OffsetWatch()  # the posts offsets score_batch has seen, per partition

    async def score_batch(scorer: PostScorer, events: Sequence[EventT]) -> tuple[Outbox, TableWrites]:
        """One batch of posts: validated, matched, scored and combined into
        per-brand counts per posts range (``MentionCounter``); a post seen
        before is not counted again (streams.repeats). Returns the outbox to
        send and the ledger writes to wait for first."""
        out = outbox()
        posts: list[Post] = []
        where: dict[int, tuple[EventT, Hashable, PostsRange]] = {}
        progress: dict[int, float] = {}
        ingested: dict[str, int] = {}
        # Ranges never sent before share one record per brand (FRESH); a range
        # that may have been sent before gets a record of its own (streams.ledger).
        groups: dict[Hashable, list[PostsRange]] = {}
        counted_here: dict[tuple[int, str], int] = {}  # (partition, post key) -> offset, this batch
        repeats: list[tuple[Post, EventT, Hashable, PostsRange]] = []
        duplicates: dict[str, int] = {}
        for partition, partition_events in by_partition(events).items():
            ledger_for(partition, partition_events[0])
            last_end = ledger.last_end(partition)
            offsets = [e.message.offset for e in partition_events]
            for first, last in offset_watch.skipped(partition, partition_events[0].message.generation_id, offsets):
                metrics.POSTS_SKIPPED_OFFSETS.labels(str(partition)).inc(last - first + 1)
                log.warning("score: posts partition %d: offsets %d-%d were never handed to the score stage; "
                            "their posts are not counted (streams/offsets.py)", partition, first, last)
            pieces = iter(ledger.split(partition, offsets))
            piece: tuple[int, int] = (-1, -1)
            group: Hashable = FRESH
            source: PostsRange = (partition, -1, -1)
            for event in partition_events:
                offset = event.message.offset
                if offset > piece[1]:
                    piece = next(pieces)
                    source = (partition, piece[0], piece[1])
                    group = FRESH if piece[0] > last_end else source
                    groups.setdefault(group, []).append(source)
                post = gate.admit(event.value)
                if isinstance(post, Rejection):
                    dead_post(out, event.value, post.reason, post.message)
                    continue
                ingested[post.source] = ingested.get(post.source, 0) + 1
                event_time = post.event_time
                progress[partition] = max(progress.get(partition, event_time), event_time)
                if dedup:
                    entry = ledger.seen(partition, post.key)
                    first_offset = counted_here.get((partition, post.key), offset) if entry is None \
                        else counted_at(entry)
                    if first_offset != offset:  # seen before at another offset: a repeat
                        duplicates[post.source] = duplicates.get(post.source, 0) + 1
                        repeats.append((post, event, group, source))
                        continue
                    counted_here[(partition, post.key)] = offset
                posts.append(post)
                where[id(post)] = (event, group, source)
        for name, n in ingested.items():
            metrics.POSTS_INGESTED.labels(name).inc(n)
        for name, n in duplicates.items():
            metrics.DUPLICATE_POSTS.labels(name).inc(n)
        counter = MentionCounter(size)
        remembered: dict[PostsRange, dict[str, Any]] = {}
        matched = scorer.match(posts)
        if matched:
            metrics.POSTS_MATCHED.inc(len(matched))
            texts = scorer.scoring_texts(matched)  # brand names masked: they are not sentiment
            results = await score_texts(texts)
            await learn_sentiment(texts, results)
            now = time.time()
            latencies: list[float] = []
            for (post, brands), result in zip(matched, results, strict=True):
                event, group, source = where[id(post)]
                try:
                    if isinstance(result, Exception):
                        raise result
                    mentions = mentions_for(post, brands, result, scorer.negative_threshold,
                                            (event.message.partition, event.message.offset))
                    wait = max(0, int((now - (event.message.timestamp or now)) * 1000))
                    for mention in mentions:
                        counter.add(mention, group, wait)
                except Exception as exc:  # noqa: BLE001 - one post, not the stream
                    metrics.RECORD_FAILURES.labels("score").inc()
                    log.error("score: cannot score post %s", post.key, exc_info=exc)
                    failure = internal_error(exc)
                    dead_post(out, event.value, failure.reason, failure.message)
                    continue
                if dedup:
                    first = mentions[0]
                    remembered.setdefault(source, {})[post.key] = remember(
                        post, event.message.offset, brands, first.negative, first.is_negative, first.story)
                latencies.append(now - post.event_time)
            metrics.observe_many(metrics.SCORE_LATENCY, latencies)
        for post, event, group, source in repeats:
            partition = event.message.partition
            entry = _remembered_now(remembered, partition, post.key)
            if entry is None:
                entry = ledger.seen(partition, post.key)
            if entry is None:
                continue  # its first sighting (this batch) was not counted: nothing to update
            try:
                change = repeat(entry, post, event.message.offset)
            except (ValueError, TypeError, IndexError) as exc:  # a remembered entry this version cannot read
                log.warning("score: cannot read what is remembered of %s (%s); counted once, reach not updated",
                            post.key, exc)
                continue
            if change.entry is not None:
                remembered.setdefault(source, {})[post.key] = change.entry
            for brand, revision in change.revisions:
                counter.revise(brand, group, change.event_time, revision)
        records = counter.records(groups, sent=time.time())
        ledger_writes = record_ranges(sorted({(p, first, last) for r in records for p, (first, last) in r.ranges.items()}),
                                      remembered)
        for record in records:
            out.add(names[topics.MENTIONS], record.to_json(), key=record.brand.encode())
            mentions = record.mentions
            if mentions:
                metrics.MENTIONS.labels(record.brand).inc(mentions)
            negative = sum(b.negative for b in record.buckets)
            if negative:
                metrics.NEGATIVE_MENTIONS.labels(record.brand).inc(negative)
        if progress:
            # Every batch with posts refreshes its partitions' clocks, even
            # without progress: a clock that stops reporting is idle. The
            # ticks follow the counts in every mentions partition.
            tick = tick_value(progress)
            for partition in range(kafka.partitions):
                out.add(names[topics.MENTIONS], tick, key=b"__tick__", partition=partition)
        return out, ledger_writes

    @app.agent(mentions_topic)
    @guarded("aggregate")
    async def aggregate(stream: StreamT) -> None:
        # Decoded buckets kept between batches (BrandBucketStore); new with
        # every start of the agent, so a restarted agent decodes what is stored.
        decoded: dict[tuple[str, float], tuple[dict[str, Any], Bucket]] = {}
        async for events in stream.take_events(AGGREGATE_BATCH, within=AGGREGATE_BATCH_WAIT):
            # The table writes of every partition are acknowledged before the
            # batch is (streams.table_writes), awaited together.
            writes = TableWrites()
            for partition, partition_events in by_partition(events).items():
                on_partition(partition_events[-1])
                await aggregate_partition(partition, partition_events, decoded, writes)
            await writes.wait()
            health.progressed("aggregate")

    async def aggregate_partition(partition: int, events: list[EventT],
                                  decoded: dict[tuple[str, float], tuple[dict[str, Any], Bucket]],
                                  writes: TableWrites) -> None:
        b = config.buckets
        state_key = f"partition-{partition}"
        saved = aggregator_table[state_key]
        state = AggregatorState.from_dict(saved)
        store = BrandBucketStore(brand_buckets, legacy_buckets, decoded)
        aggregator = Aggregator(size, b.allowed_lateness_seconds, b.idle_close_seconds, store,
                                state, retention_buckets=b.retention_buckets, late_policy=b.late_policy,
                                expected_clocks=expected_clocks,
                                resumed_at=resumed_at.setdefault(partition, time.time()),
                                max_future=config.input.max_future)
        out = outbox()
        wall = time.time()
        totals: dict[str, CountsResult] = {}
        latencies: list[float] = []
        for event in events:
            try:
                record = orjson.loads(event.value)
                if not isinstance(record, dict):
                    raise ValueError(f"expected a JSON object, got {type(record).__name__}")
                kind = record.get("kind")
                if kind == "tick":
                    for posts_partition, event_time in (record.get("partitions") or {}).items():
                        aggregator.observe_time(float(event_time), wall, clock=posts_clock_name(int(posts_partition)))
                    continue
                if kind == MentionCounts.KIND:
                    counts = MentionCounts.from_dict(record, size)
                    if counts.brand not in brand_ids:
                        continue  # a brand removed from the config
                    result = aggregator.add_counts(counts, wall, event.message.offset)
                    brand = counts.brand
                else:  # a per-mention record of the previous versions
                    mention = Mention.from_dict(record)
                    if mention.brand not in brand_ids:
                        continue
                    added = aggregator.add(mention, wall, event.message.offset, clock=None)
                    brand = mention.brand
                    result = CountsResult(added=int(added.status == "added"), late=int(added.status == "late"),
                                          dropped=int(added.status == "dropped"),
                                          duplicate=int(added.status == "duplicate"))
            except (ValueError, TypeError, KeyError) as exc:
                park_internal(out, "aggregate", event, type(exc).__name__, str(exc))
                continue
            except Exception as exc:  # noqa: BLE001 - one record, not the stream
                record_failed(out, "aggregate", event, exc)
                continue
            total = totals.setdefault(brand, CountsResult())
            total.added += result.added
            total.late += result.late
            total.dropped += result.dropped
            total.duplicate += result.duplicate
            total.overlaps += result.overlaps
            latencies.extend(result.latencies)
        for brand, total in totals.items():
            if total.added + total.late:
                metrics.MENTIONS_AGGREGATED.labels(brand).inc(total.added + total.late)
            if total.late + total.dropped:
                metrics.LATE_MENTIONS.labels(brand).inc(total.late + total.dropped)
            if total.duplicate:
                metrics.DUPLICATE_RECORDS.labels("aggregate").inc(total.duplicate)
            if total.overlaps:
                metrics.COUNT_OVERLAPS.inc(total.overlaps)
                log.warning("aggregate: %d bucket parts of %s overlapped ranges already counted", total.overlaps, brand)
        metrics.observe_many(metrics.POST_TO_BUCKET, latencies)
        if aggregator.clamped:
            metrics.CLAMPED_EVENT_TIMES.inc(aggregator.clamped)
        if aggregator.caught_up:
            log.warning("aggregate: partition %d: its state was older than its buckets (a crash between the two "
                        "writes); closing resumes after the buckets already sent, at %s", partition,
                        state.next_close)
        aggregator.forget_idle_clocks(wall, horizon=max(3600.0, 10 * b.idle_close_seconds))
        closed = list(aggregator.close_ready(wall))
        # One record per brand and batch, its closed buckets in order (a replay
        # of history closes hundreds per second; live traffic one per minute).
        by_brand: dict[str, list[Bucket]] = {}
        for bucket in closed:
            by_brand.setdefault(bucket.brand, []).append(bucket)
        for brand, buckets in by_brand.items():
            out.add(names[topics.BUCKETS], bucket_record(buckets), key=brand.encode(), timestamp=buckets[-1].end)
        # Closed buckets (and dead letters) are safe in Kafka before the store
        # drops their counts (BrandBucketStore keeps only the marks of closed ones).
        await out.deliver()
        for bucket in closed:
            metrics.BUCKETS_CLOSED.labels(bucket.brand).inc()
        for bucket in _last_per_brand(closed):
            metrics.BUCKET_MENTIONS.labels(bucket.brand).set(bucket.total)
            metrics.BUCKET_NEGATIVE.labels(bucket.brand).set(bucket.negative)
            metrics.NEGATIVE_SHARE.labels(bucket.brand).set(bucket.negative_share)
        store.flush(state.next_close, lambda key, value: writes.set(brand_buckets, key, value, partition))
        mark = aggregator.watermark(wall)
        if mark is not None:
            metrics.WATERMARK.labels(str(partition)).set(mark)
        new_state = state.to_dict()
        if new_state != saved:
            writes.set(aggregator_table, state_key, new_state, partition)

    @app.agent(buckets_topic)
    @guarded("detect")
    async def detect(stream: StreamT) -> None:
        async for events in stream.take_events(DETECT_BATCH, within=DETECT_BATCH_WAIT):
            # A backlog of buckets (a replay, a restart) is decoded a slice at
            # a time: the detector keeps each bucket it applied until the
            # slice's states are written (detect_batch), 7.8 MB at once for
            # 20,000 posts replayed at full speed (tracemalloc, issue 16).
            for piece in slices_by_bytes(events, DETECT_SLICE_BYTES):
                await detect_batch(piece)
            health.progressed("detect")

    async def detect_batch(events: Sequence[EventT]) -> None:
        """Buckets in order, one detector per brand for the whole batch; alerts
        are safe in Kafka before the detectors' states are written."""
        out = outbox()
        detectors: dict[str, Any] = {}
        applied: dict[str, list[Bucket]] = {}
        last_event: dict[str, EventT] = {}
        for event in events:
            try:
                buckets = read_bucket_record(orjson.loads(event.value))
            except (ValueError, TypeError, KeyError) as exc:
                park_internal(out, "detect", event, type(exc).__name__, str(exc))
                continue
            for bucket in buckets:
                if bucket.brand in brand_ids:
                    detect_bucket(out, event, bucket, detectors, applied, last_event)
        await out.deliver()
        writes = TableWrites()
        for brand, detector in detectors.items():
            if brand not in last_event:
                continue
            # The detector state lives with the brand's buckets partition, and
            # is acknowledged before the batch is (streams.table_writes).
            writes.set(detector_table, brand, detector.to_state(), last_event[brand].message.partition)
            _export_detector_gauges(detector, brand)
        await writes.wait()

    def detect_bucket(out: Outbox, event: EventT, bucket: Bucket, detectors: dict[str, Any],
                      applied: dict[str, list[Bucket]], last_event: dict[str, EventT]) -> None:
        """One bucket through its brand's detector; a detector that fails on it
        goes on as if it had not come."""
        brand = bucket.brand
        try:
            if brand not in detectors:
                detectors[brand] = create_detector(config, brand, state=detector_table[brand] or None)
                applied[brand] = []
            alerts: list[AlertEvent] = detectors[brand].update(bucket)
        except Exception as exc:  # noqa: BLE001 - the brand's detector goes on as if this bucket had not come
            record_failed(out, "detect", event, exc, f"bucket {brand} {bucket.start:.0f}")
            detectors.pop(brand, None)
            try:
                detector = create_detector(config, brand, state=detector_table[brand] or None)
                for earlier in applied.get(brand, []):
                    detector.update(earlier)  # their alerts were sent already
                detectors[brand] = detector
            except Exception:  # noqa: BLE001 - the state stays as it was before this batch
                log.exception("detect: cannot rebuild the detector of %s; its state stays as before", brand)
                applied.pop(brand, None)
            return
        applied[brand].append(bucket)
        last_event[brand] = event
        for alert in alerts:
            metrics.ALERTS.labels(alert.brand, alert.severity, alert.state).inc()
            out.add(names[topics.ALERTS], alert.to_json(), key=alert.key.encode(), timestamp=alert.event_time)
            log.info("alert %s %s %s: %s", alert.state, alert.severity, alert.key, alert.summary)

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


def settle_heap() -> None:
    """Keep the garbage collector off what lives as long as the worker.

    A batch allocates a few hundred thousand short-lived objects; with
    Python's default thresholds (700, 10, 10) that set off ten full
    collections in a 4-second replay of 20,000 posts, each walking every
    object the worker holds (modules, the sentiment model, the tables):
    0.68 s of the run, ~35 µs per post (issue 16). Objects alive once the
    model is loaded are moved out of the collector's sight (``gc.freeze``),
    and the young generation is collected every ``GC_THRESHOLDS[0]`` net
    allocations instead of 700 (cyclic garbage waits a little longer; the
    worker's RSS did not change measurably).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def slices_by_bytes(events: Sequence[EventT], limit: int) -> list[Sequence[EventT]]:
    """``events`` in order, cut into consecutive slices of at most ``limit``
    bytes of record values each (a larger record alone)."""
    out: list[Sequence[EventT]] = []
    start, size = 0, 0
    for i, event in enumerate(events):
        n = len(event.value) if isinstance(event.value, (bytes, bytearray)) else 0
        if i > start and size + n > limit:
            out.append(events[start:i])
            start, size = i, 0
        size += n
    if start < len(events):
        out.append(events[start:])
    return out


def _remembered_now(remembered: dict[PostsRange, dict[str, Any]], partition: int, key: str) -> Any:
    """The newest entry for a post among this batch's remembered posts (ranges in offset order)."""
    found = None
    for (p, _, _), posts in sorted(remembered.items()):
        if p == partition and key in posts:
            found = posts[key]
    return found


def _last_per_brand(buckets: Sequence[Bucket]) -> list[Bucket]:
    last: dict[str, Bucket] = {}
    for bucket in buckets:
        last[bucket.brand] = bucket
    return list(last.values())


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
