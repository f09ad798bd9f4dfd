"""The console's Kafka side: a follower that reads the topics into
``ConsoleState`` and a writer for people's actions.

The follower is one kafka-python consumer without a group (every console
reads everything; nothing is committed), assigned every partition of the
topics in ``streams.topics.CONSOLE``. The alerts and buckets topics are
read from ``history`` ago (the broker's time index, the start of the topic
where it has none); the small logs (deliveries, silences, acks,
corrections) from their beginning. It then keeps polling. Polls run in a
worker thread; records are applied on the event loop, so the web handlers
and the follower never touch the state at the same time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from alerting.console.state import ConsoleState
from alerting.incidents import Ack, ack_record
from alerting.policy.silences import Silence, expired
from streams import topics
from streams.config import PipelineConfig
from streams.kafka import BrokerQuirks, ensure_topics, kafka_python_security, make_producer
from streams.sentiment.auto import Correction
from streams.sentiment.corrections import publish_correction

log = logging.getLogger(__name__)

# How long one poll waits for records; the embedded broker answers a fetch
# only after fetch_max_wait_ms even when records wait (docs/alerting.md), so
# keep that short too.
POLL_SECONDS = 0.5
FETCH_MAX_WAIT_MS = 100
# A person waits for the answer: a broker that cannot be reached is reported
# within seconds (kafka-python's defaults wait 30 s to bootstrap, 60 s to send).
WRITE_TIMEOUT = 15.0
# Topics read from "history ago" rather than from their beginning.
TIME_INDEXED = (topics.ALERTS, topics.BUCKETS)


def topic_roles(config: PipelineConfig) -> dict[str, str]:
    """Full topic name -> its suffix (the role ``ConsoleState.apply`` takes)."""
    return {config.topic(spec): spec.suffix for spec in topics.CONSOLE}


def silence_record(silence: Silence, until_resolved: str | None) -> bytes:
    """A silence record; ``until_resolved`` names the incident it lasts for
    (notifiers ignore the field: for them it is a silence with an end)."""
    data = silence.to_dict()
    if until_resolved:
        data["until_resolved"] = until_resolved
    return json.dumps(data, separators=(",", ":")).encode()


@dataclass
class KafkaWriter:
    """Writes people's actions; each call waits for the broker's acknowledgement
    (in a worker thread) and raises when it did not come."""

    config: PipelineConfig
    bootstrap: str
    quirks: BrokerQuirks
    connect_timeout: float = 5.0
    _producer: Any = None

    def _connected(self) -> Any:
        if self._producer is None:
            ms = int(self.connect_timeout * 1000)
            self._producer = make_producer(self.bootstrap, self.quirks, security=self.config.kafka,
                                           bootstrap_timeout_ms=ms, max_block_ms=ms, request_timeout_ms=10_000,
                                           delivery_timeout_ms=int(WRITE_TIMEOUT * 1000))
        return self._producer

    def _send(self, topic: str, key: bytes, value: bytes) -> None:
        self._connected().send(topic, key=key, value=value).get(timeout=WRITE_TIMEOUT)

    async def silence(self, silence: Silence, until_resolved: str | None = None) -> None:
        await asyncio.to_thread(self._send, self.config.topic(topics.SILENCES), silence.id.encode(),
                                silence_record(silence, until_resolved))

    async def ack(self, ack: Ack) -> None:
        key, value = ack_record(ack)
        await asyncio.to_thread(self._send, self.config.topic(topics.ACKS), key, value)

    async def correct(self, correction: Correction) -> None:
        # The trainers' own writer (streams/sentiment/corrections.py); connecting first
        # makes an unreachable broker fail fast here too.
        await asyncio.to_thread(self._connected)
        await asyncio.to_thread(publish_correction, self.config, self.bootstrap, self.quirks, correction)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=5)
            self._producer = None


class Follower:
    """Reads the console's topics into ``state`` until ``stop`` is set."""

    def __init__(self, config: PipelineConfig, bootstrap: str, state: ConsoleState, writer: KafkaWriter | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.bootstrap = bootstrap
        self.state = state
        self.writer = writer
        self.clock = clock
        self.roles = topic_roles(config)
        self.ready = asyncio.Event()
        self._consumer: Any = None

    def _open(self) -> dict[Any, int]:
        """Create the topics if needed, assign every partition, seek; the end offsets to reach."""
        from kafka import KafkaConsumer, TopicPartition

        ensure_topics(self.bootstrap, self.config.topics.plan(topics.CONSOLE), self.config.kafka.replication_factor,
                      security=self.config.kafka)
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False, group_id=None,
                                 client_id="koubei-console", fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
                                 max_partition_fetch_bytes=4 * 1024 * 1024, **kafka_python_security(self.config.kafka))
        self._consumer = consumer
        assigned = []
        timed = {self.config.topic(spec) for spec in TIME_INDEXED}
        for name in self.roles:
            parts = consumer.partitions_for_topic(name) or set()
            assigned += [TopicPartition(name, p) for p in sorted(parts)]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        since_ms = int((self.clock() - self.state.history) * 1000)
        by_time = [tp for tp in assigned if tp.topic in timed]
        if by_time:
            try:
                found = consumer.offsets_for_times({tp: since_ms for tp in by_time})
            except Exception as exc:  # noqa: BLE001 - a broker without a time index: read from the start
                log.info("console: no time index (%s); reading alerts and buckets from their start", exc)
                found = {}
            for tp, offset in found.items():
                if offset is None:
                    consumer.seek_to_end(tp)  # nothing that recent: only new records matter
                elif offset.timestamp >= 0:
                    consumer.seek(tp, offset.offset)
                # A timestamp of -1: the broker keeps no time index (the embedded one); read from
                # the start, ConsoleState drops what is older than ``history``.
        ends = consumer.end_offsets(assigned)
        return {tp: end for tp, end in ends.items() if end > consumer.position(tp)}

    def _poll(self) -> list[tuple[str, Any]]:
        batch = self._consumer.poll(timeout_ms=int(POLL_SECONDS * 1000), max_records=5000)
        out = []
        for tp, records in batch.items():
            role = self.roles.get(tp.topic)
            if role is not None:
                out.extend((role, r) for r in records)
        return out

    def _behind(self, ends: dict[Any, int]) -> dict[Any, int]:
        return {tp: end for tp, end in ends.items() if self._consumer.position(tp) < end}

    async def run(self, stop: asyncio.Event) -> None:
        ends = await asyncio.to_thread(self._open)
        empty_polls = 0
        try:
            while not stop.is_set():
                records = await asyncio.to_thread(self._poll)
                self.state.read_failing_since = None
                for role, record in records:
                    self.state.apply(role, record.key, record.value)
                if not self.ready.is_set():
                    ends = await asyncio.to_thread(self._behind, ends)
                    empty_polls = 0 if records else empty_polls + 1
                    # A position can stop short of a reported end offset (transaction
                    # markers; end offsets the embedded broker gets wrong, see
                    # streams.kafka.BrokerQuirks): polls that keep coming back empty
                    # also mean caught up.
                    if not ends or empty_polls >= 2:
                        self.state.loaded = True
                        self.ready.set()
                        log.info("console: initial load done (%s)", self.state.stats())
                if records:
                    self.state.prune()
                await self.expire_resolved()
        finally:
            consumer, self._consumer = self._consumer, None
            if consumer is not None:
                await asyncio.to_thread(consumer.close)

    async def run_until_stopped(self, stop: asyncio.Event, retry_seconds: float = 5.0) -> None:
        """``run``, started again after a failure (Kafka unreachable, a
        rebalance of the cluster): the pages keep serving what is known, and a
        new start reads the topics again (applying a record twice changes nothing)."""
        while not stop.is_set():
            try:
                await self.run(stop)
            except Exception as exc:  # noqa: BLE001 - logged, retried; the web pages keep serving
                if self.state.read_failing_since is None:
                    self.state.read_failing_since = self.clock()
                log.warning("console: reading Kafka failed (%s: %s); trying again in %.0f s",
                            type(exc).__name__, exc, retry_seconds)
                try:
                    await asyncio.wait_for(stop.wait(), retry_seconds)
                except TimeoutError:
                    pass

    async def expire_resolved(self) -> None:
        """End the "until resolved" silences whose incident has resolved."""
        if self.writer is None or not self.state.loaded:
            return
        now = self.clock()
        for silence in self.state.due_expiries(now):
            ended = expired(silence, now)
            try:
                await self.writer.silence(ended)
            except Exception as exc:  # noqa: BLE001 - retried at the next poll
                log.warning("console: could not end silence %s: %s", silence.id, exc)
                return
            self.state.silences.apply(ended)
