"""The connector runtime shared by every connector.

A connector only fetches and maps: it hands the runtime ``Batch`` objects
(posts, malformed items, and the checkpoint that becomes true once those
posts are in Kafka). The runtime owns everything else:

* a bounded queue between the connector and Kafka, so a slow broker slows
  the connector down instead of growing memory;
* the sink, which produces a batch, waits for Kafka to confirm it
  (``flush``), and only then writes the checkpoint. A crash between the two
  re-sends those posts after restart with the same ``source:id`` key
  (at-least-once, duplicates recognisable); a post is never lost;
* dead letters: a malformed item goes to ``<prefix>.posts.dead`` with its
  reason and original bytes while the rest of its batch flows;
* metrics and a clean shutdown: on stop the connector finishes its current
  step, the queue is drained and the last checkpoint is committed.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from connectors._metrics import ConnectorMetrics
from connectors._state import StateStore
from connectors.base import Batch, Connector, Context, DeadItem, State
from connectors.config import ConnectorsConfig
from connectors.registry import build_connector
from connectors.spec import ConnectorSpec
from streams import topics as topic_table
from streams.gate import Gate
from streams.kafka import BrokerQuirks, ensure_topics, make_producer
from streams.models import dead_letter
from streams.topics import MAX_POST_BYTES, Topics

if TYPE_CHECKING:
    from kafka import KafkaProducer

if TYPE_CHECKING:
    from streams.config import KafkaConfig

log = logging.getLogger(__name__)

# The original bytes kept in a dead letter: base64 makes them a third larger,
# and the record must stay under the producer's request size (2 MB,
# streams.kafka.make_producer), whatever a client sent.
MAX_DEAD_ORIGINAL_BYTES = 1_000_000

# Batches taken from the queue per Kafka flush: fewer flushes under load,
# and still one flush per batch when traffic is light.
DRAIN_LIMIT = 256


@dataclass(frozen=True)
class KafkaTarget:
    bootstrap: str
    quirks: BrokerQuirks
    topic_prefix: str = "koubei"
    partitions: int = 4
    replication_factor: int = 1
    # The kafka section whose TLS / SASL settings the producer uses; None = PLAINTEXT.
    security: KafkaConfig | None = None

    @property
    def topics(self) -> Topics:
        return Topics(self.topic_prefix, self.partitions)

    @property
    def posts_topic(self) -> str:
        return self.topics.name(topic_table.POSTS)

    @property
    def dead_topic(self) -> str:
        return self.topics.name(topic_table.POSTS_DEAD)


class SinkError(RuntimeError):
    """Kafka did not confirm a batch; its checkpoint was not written."""


class Sink:
    """Produce, confirm, then checkpoint. Runs in a worker thread because
    kafka-python blocks."""

    def __init__(self, producer: KafkaProducer, target: KafkaTarget, store: StateStore, spec: ConnectorSpec[object],
                 metrics: ConnectorMetrics, wall: Callable[[], float] = time.time) -> None:
        self.producer = producer
        self.target = target
        self.store = store
        self.spec = spec
        self.metrics = metrics
        self.wall = wall

    def _dead_letter(self, item: DeadItem) -> bytes:
        """The dead-letter record of an item, its original cut to what Kafka takes
        (the sha256 of the whole original still identifies it)."""
        original = item.original
        extra: dict[str, str | int | bool] = {}
        if len(original) > MAX_DEAD_ORIGINAL_BYTES:
            extra = {"original_truncated": True, "original_bytes": len(original),
                     "original_sha256": hashlib.sha256(original).hexdigest()}
            original = original[:MAX_DEAD_ORIGINAL_BYTES]
        return dead_letter(item.reason, item.message, original, source=self.spec.source or self.spec.type,
                           connector=self.spec.name, **extra)

    def write(self, batches: list[Batch]) -> None:
        futures = []
        sent = 0
        newest: float | None = None
        checkpoint: State | None = None
        try:
            for batch in batches:
                for post in batch.posts:
                    value = post.to_json()
                    if len(value) > MAX_POST_BYTES:
                        # One post Kafka would refuse must not stop the connector: it is dead-lettered.
                        batch.dead.append(DeadItem("record_too_large", f"post is {len(value)} bytes as JSON, "
                                                   f"Kafka takes {MAX_POST_BYTES}", value))
                        continue
                    futures.append(self.producer.send(self.target.posts_topic, key=post.key.encode(),
                                                      value=value, timestamp_ms=int(post.event_time * 1000)))
                    sent += 1
                    newest = post.event_time if newest is None else max(newest, post.event_time)
                for item in batch.dead:
                    futures.append(self.producer.send(self.target.dead_topic, value=self._dead_letter(item)))
                if batch.checkpoint is not None:
                    checkpoint = batch.checkpoint
            self.producer.flush()
        except Exception as exc:
            # kafka-python refuses some records in send() itself (too large,
            # unknown topic, closed producer): same outcome, no checkpoint.
            raise SinkError(f"Kafka refused a record: {exc}") from exc
        # A future flush() left open is no confirmation either: the checkpoint
        # must not pass a post Kafka never acknowledged.
        unconfirmed = [f for f in futures if not f.succeeded()]
        if unconfirmed:
            first = next((f for f in unconfirmed if f.failed()), None)
            why = first.exception if first is not None else "no answer when the flush ended"
            raise SinkError(f"Kafka did not confirm {len(unconfirmed)} of {len(futures)} records: {why}")
        # Only now is it safe to move the cursor past these posts.
        if checkpoint is not None:
            self.store.save(checkpoint)
            self.metrics.checkpoints.inc()
        self.metrics.posts.inc(sent)
        for batch in batches:
            for item in batch.dead:
                self.metrics.dead_letter(item.reason)
        if newest is not None:
            self.metrics.lag.set(max(0.0, self.wall() - newest))


async def _sink_loop(queue: asyncio.Queue[Batch | None], sink: Sink, metrics: ConnectorMetrics) -> None:
    finished = False
    while not finished:
        first = await queue.get()
        batches: list[Batch] = []
        if first is None:
            finished = True
        else:
            batches.append(first)
        while not finished and len(batches) < DRAIN_LIMIT:
            try:
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                break
            if item is None:
                finished = True
            else:
                batches.append(item)
        metrics.queue_depth.set(queue.qsize())
        if not batches:
            continue
        try:
            await asyncio.to_thread(sink.write, batches)
        except BaseException as exc:
            for batch in batches:
                if batch.done is not None and not batch.done.done():
                    batch.done.set_exception(SinkError(str(exc)))
            raise
        for batch in batches:
            if batch.done is not None and not batch.done.done():
                batch.done.set_result(None)


async def run_connector(spec: ConnectorSpec[object], config: ConnectorsConfig, target: KafkaTarget, *,
                        stop: asyncio.Event | None = None, environ: Mapping[str, str] | None = None,
                        producer: KafkaProducer | None = None, on_started: Callable[[Connector], Awaitable[None] | None] | None = None,
                        shutdown_grace: float = 10.0, gate: Gate | None = None) -> None:
    """Run one connector until it finishes (file connectors) or ``stop`` is set.

    Raises SinkError when Kafka fails to confirm a batch: the process must
    exit without committing, and the next start resumes from the last
    confirmed checkpoint.
    """
    env = os.environ if environ is None else environ
    stop = stop or asyncio.Event()
    metrics = ConnectorMetrics(spec.name)
    # Secrets and config problems surface before anything is locked or opened.
    connector = build_connector(spec, env)
    store = StateStore(config.state_dir, spec.name, spec.type)
    store.lock()
    own_producer = producer is None
    tasks: list[asyncio.Task[object]] = []
    try:
        state = store.load()
        await asyncio.to_thread(ensure_topics, target.bootstrap,
                                target.topics.plan((topic_table.POSTS, topic_table.POSTS_DEAD)),
                                target.replication_factor, security=target.security)
        if producer is None:
            producer = await asyncio.to_thread(make_producer, target.bootstrap, target.quirks,
                                               security=target.security, client_id=f"koubei-connector-{spec.name}")
        queue: asyncio.Queue[Batch | None] = asyncio.Queue(maxsize=spec.queue_size)
        ctx = Context(spec, state, queue, stop, metrics, env, gate)
        sink_task = asyncio.create_task(_sink_loop(queue, Sink(producer, target, store, spec, metrics), metrics))
        source_task = asyncio.create_task(connector.run(ctx))
        tasks += [sink_task, source_task]
        if on_started is not None:
            started = on_started(connector)
            if started is not None:
                await started
        stop_task = asyncio.create_task(stop.wait())
        tasks.append(stop_task)
        done, _ = await asyncio.wait({source_task, sink_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        if sink_task in done:
            # Kafka failed: stop fetching, keep the last committed checkpoint.
            stop.set()
            source_task.cancel()
            await asyncio.gather(source_task, return_exceptions=True)
            stop_task.cancel()
            sink_task.result()  # re-raises the SinkError
            return
        if source_task not in done:
            try:
                await asyncio.wait_for(asyncio.shield(source_task), timeout=shutdown_grace)
            except TimeoutError:
                log.warning("%s: did not stop within %.0fs, cancelling", spec.name, shutdown_grace)
                source_task.cancel()
        stop_task.cancel()
        source_error = None
        try:
            await source_task
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # noqa: BLE001 - reported after the queue is drained
            source_error = exc
        # Everything fetched so far still reaches Kafka and the checkpoint.
        if sink_task.done():
            sink_task.result()  # the sink failed meanwhile: report that, not a hang
        await queue.put(None)
        await sink_task
        if source_error is not None:
            raise source_error
    finally:
        # Only reached with tasks still running when we were cancelled from outside.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if own_producer and producer is not None:
            await asyncio.to_thread(producer.close)
        store.close()
