"""The worker's batch path through Faust (streams/faust_app.py): the
conductor's hand-off of raw messages (``RawHandOff``), the score stage's
``BatchReader`` and the detect stage's slices (``streams.app.slices_by_bytes``).

These run Faust's own conductor, channels and queues, without a broker: the
hand-off and the reader only touch the queue between them. The pipeline
integration tests run the same path against the embedded broker."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest
from faust.sensors.prometheus import FaustMetrics
from faust.types import TP, Message
from faust.types.tuples import ConsumerMessage
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from streams.app import slices_by_bytes
from streams.faust_app import BatchedPrometheusMonitor, BatchReader, RawHandOff, RawSchema, WorkerApp

TOPIC = "handoff-test"


def make_app(buffer: int) -> WorkerApp:
    app = WorkerApp(f"handoff-{buffer}", broker="kafka://127.0.0.1:9", store="memory://",
                    stream_buffer_maxsize=buffer, web_enabled=False)
    app.flow_control.resume()  # a worker resumes it once its partitions are assigned
    return app


def message(offset: int, partition: int = 0, generation: int = 0) -> Message:
    """A fetched record of consumer generation ``generation`` (a new app's is 0)."""
    return Message(TOPIC, partition, offset, 0.0, 0, [], f"k{offset}".encode(), f"v{offset}".encode(), None,
                   generation_id=generation)


def subscribed(app: WorkerApp, schema: Any = None) -> Any:
    """A channel reading the topic, registered with the conductor as an agent's is."""
    topic = app.topic(TOPIC, schema=schema if schema is not None else RawSchema())
    return topic.__aiter__()


def test_raw_messages_reach_the_queue_in_order_and_a_full_queue_waits() -> None:
    async def run() -> None:
        app = make_app(buffer=4)
        channel = subscribed(app)
        tp = TP(TOPIC, 0)
        handler = app.topics._build_handler(tp, {channel})
        assert isinstance(handler, RawHandOff)
        messages = [message(i) for i in range(7)]
        for m in messages[:4]:
            await handler(m)
        assert channel.queue.full()
        blocked = asyncio.ensure_future(handler(messages[4]))
        await asyncio.sleep(0.01)
        assert not blocked.done()  # waits for room, does not drop or overflow
        first = channel.queue.get_nowait()
        await asyncio.wait_for(blocked, 1)
        for m in messages[5:]:
            while channel.queue.full():
                channel.queue.get_nowait()
            await handler(m)
        assert first.value == b"v0" and first.key == b"k0" and first.message is messages[0]
        assert all(m.refcount == 1 for m in messages)  # one channel: one ack ends each

    asyncio.run(run())


def test_a_partition_with_a_decoding_channel_keeps_fausts_handler() -> None:
    async def run() -> None:
        app = make_app(buffer=8)
        channel = subscribed(app, schema=app.conf.Schema(key_type=bytes, key_serializer="raw",
                                                            value_serializer="json"))
        handler = app.topics._build_handler(TP(TOPIC, 0), {channel})
        assert isinstance(handler, RawHandOff)
        record = message(0)
        record.value = b'{"a": 1}'
        await handler(record)  # delegated: Faust's handler decodes the JSON
        event = channel.queue.get_nowait()
        assert event.value == {"a": 1}

    asyncio.run(run())


def test_batch_reader_takes_what_is_there_then_waits_at_most_within() -> None:
    async def run() -> None:
        app = make_app(buffer=64)
        registry = CollectorRegistry()
        monitor = BatchedPrometheusMonitor(metrics=FaustMetrics.create(registry, "t"))
        app.monitor = monitor
        stream = app.stream(app.topic(TOPIC, schema=RawSchema()))
        reader = BatchReader(stream)
        handler = app.topics._build_handler(TP(TOPIC, 0), {reader.channel})
        for i in range(5):
            await handler(message(i))
        batches = reader.batches(3, within=0.05)
        first = await batches.__anext__()
        assert [e.message.offset for e in first] == [0, 1, 2]  # max_ reached at once
        loop = asyncio.get_running_loop()
        started = loop.time()
        second = await batches.__anext__()
        assert [e.message.offset for e in second] == [3, 4]  # the rest after ``within``
        assert loop.time() - started >= 0.04

        async def late() -> None:
            await asyncio.sleep(0.02)
            await handler(message(6))

        await handler(message(5))
        task = asyncio.ensure_future(late())
        third = await asyncio.wait_for(batches.__anext__(), 2)
        await task
        assert [e.message.offset for e in third] == [5, 6]  # one arriving within the wait joins
        monitor.flush()
        assert registry.get_sample_value("t_total_events_total") == 7
        assert registry.get_sample_value("t_total_active_events") == 0

    asyncio.run(run())


def test_batch_reader_ends_quietly_when_the_worker_stops() -> None:
    """At shutdown the channel's queue ends with StopAsyncIteration; the reader
    ends the stream (an error raised there was a RuntimeError, and every graceful
    stop logged the score stage as dead). Events taken from a batch cut short are
    not handed out: unacknowledged, they are read again after the restart."""
    async def run(taken: int) -> None:
        app = make_app(buffer=64)
        stream = app.stream(app.topic(TOPIC, schema=RawSchema()))
        reader = BatchReader(stream)
        handler = app.topics._build_handler(TP(TOPIC, 0), {reader.channel})
        for i in range(taken):
            await handler(message(i))
        queue = reader.channel.queue
        original = queue.get

        async def get() -> object:
            if queue.empty():
                raise StopAsyncIteration
            return await original()

        queue.get = get  # type: ignore[method-assign]
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(reader.batches(10, within=5.0).__anext__(), 2)

    asyncio.run(run(0))  # stopped while waiting for a first event
    asyncio.run(run(2))  # stopped while a batch was filling


@dataclass
class Record:
    value: bytes


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=300), max_size=40), st.integers(min_value=1, max_value=500))
def test_slices_keep_every_record_in_order_within_the_limit(sizes: list[int], limit: int) -> None:
    records = [Record(b"x" * n) for n in sizes]
    pieces = slices_by_bytes(records, limit)  # type: ignore[arg-type]
    assert [r for piece in pieces for r in piece] == records
    assert all(piece for piece in pieces)
    for piece in pieces:
        assert len(piece) == 1 or sum(len(r.value) for r in piece) <= limit


def test_batch_reader_drops_a_stale_generation_and_tracks_what_it_hands_out() -> None:
    """As Faust's stream: a record fetched before a rebalance is not handed out
    (it is read again from the committed offset), and the others are tracked
    as unacknowledged, so that a rebalance waits for the batch in flight."""
    async def run() -> None:
        app = make_app(buffer=64)
        stream = app.stream(app.topic(TOPIC, schema=RawSchema()))
        reader = BatchReader(stream)
        handler = app.topics._build_handler(TP(TOPIC, 0), {reader.channel})
        await app.topics._update_indices()  # as at subscription: the topic's offsets are acknowledged
        # What a consumer fetches: messages that are tracked until acknowledged.
        stale, fresh = (ConsumerMessage(TOPIC, 0, offset, 0.0, 0, [], b"k", b"v", None, generation_id=generation)
                        for offset, generation in ((0, 7), (1, 0)))
        await handler(stale)
        await handler(fresh)
        batch = await asyncio.wait_for(reader.batches(10, within=0.01).__anext__(), 2)
        assert [e.message for e in batch] == [fresh]
        unacked = app.consumer._unacked_messages
        assert fresh in unacked and stale not in unacked
        fresh.ack(app.consumer)
        assert fresh not in unacked

    asyncio.run(run())
