"""The Faust application class the worker runs: Faust, minus two per-message costs.

Measured on the embedded broker with an agent that does nothing but read
posts in batches (issue 16; docs/benchmarks.md has the numbers and the
command), Faust 0.15 spends most of its per-message time in two places that
do nothing for this pipeline:

* its consumer hands every fetched message to the topic's queue through
  ``Service.wait_first(callback(message), suspend_flow.wait())``, which
  creates three tasks and an ``asyncio.wait`` per message so that a
  rebalance can interrupt a hand-off blocked on a full queue. The hand-off
  normally completes at once (the conductor puts without waiting unless the
  queue is full), so ``HandOffConsumer`` awaits it directly while the flow
  is not suspended, and keeps Faust's path otherwise (a rebalance in
  progress);
* before each message the conductor asks the producer buffer for its size,
  which reads a setting through Faust's settings descriptor every time;
  ``QuickSizeProducer`` reads it once.

Faust also fixes its consumer's ``fetch_max_wait_ms`` at 1,500. Apache
Kafka answers a fetch as soon as there is data, but the embedded broker
holds it for a share of that wait (measured: 1,500 ms gives a record
372 ms p50 / 752 ms max to arrive, 50 ms gives 3 / 31 ms), on every hop
of the pipeline. ``WorkerApp(fetch_max_wait=...)`` sets it
(``BrokerQuirks.fetch_max_wait``).

Under load the posts arrive faster than the score stage takes them, and
Faust's agent path then costs per message again (issue 16, a py-spy profile
of ``bench/faust_overhead_bench.py``):

* the conductor's hand-off (Faust's Cython ``ConductorHandler``), finding
  the agent's queue full, creates a task and an ``asyncio.wait`` for every
  message until the queue has room. ``RawHandOff`` awaits the channel's
  ``put`` directly instead, for a partition read by one raw channel (every
  topic of the worker), and leaves any other partition to Faust's handler;
* ``Stream.take_events`` moves each event through the stream's iterator, a
  background drainer task, a processor and two sensor hooks before it
  reaches the batch. ``BatchReader`` takes the agent's batches from its
  channel's queue directly; the stages acknowledge each message
  themselves once their output is safe, as they already did.

Nothing else changes: offsets, acks, commits, rebalances and tables are
Faust's own.

Faust's Prometheus sensor updates several labelled series for every
message and every event (about a tenth of the worker's time, issue 16).
``BatchedPrometheusMonitor`` keeps its metric names and labels but only
counts in the hooks; the counts reach Prometheus when /metrics is read
(``setup_faust_sensors``).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import faust
from aiohttp.web import Response
from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
from faust.transport.conductor import Conductor
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.transport.producer import ProducerBuffer
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest


class WorkerConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        wait = getattr(self.app, "fetch_max_wait", None)
        if wait is not None:
            # Read when the consumer starts its fetcher, after this.
            consumer._fetch_max_wait_ms = int(wait * 1000)
        return consumer


class HandOffConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer with a direct hand-off while flow is not suspended."""

    def _new_consumer_thread(self) -> Any:
        return WorkerConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def wait_first(self, *coros: Any, timeout: Any = None) -> Any:
        if len(coros) == 2 and not self.suspend_flow.is_set() and _is_wait_of(coros[1], self.suspend_flow):
            # The message hand-off of Consumer._drain_messages (the only caller
            # passing the suspend_flow wait); its result is not used there.
            coros[1].close()
            await coros[0]
            return None
        return await super().wait_first(*coros, timeout=timeout)


def _is_wait_of(coro: Any, event: Any) -> bool:
    """Is ``coro`` the not yet started ``event.wait()``?"""
    frame = getattr(coro, "cr_frame", None)
    return frame is not None and getattr(coro, "__name__", "") == "wait" and frame.f_locals.get("self") is event


class QuickSizeProducerBuffer(ProducerBuffer):
    """``size`` without a settings lookup per call; only installed for a
    producer that is not threaded (``QuickSizeProducer``)."""

    @property
    def size(self) -> int:
        return len(self.pending._queue)  # type: ignore[attr-defined]


class QuickSizeProducer(faust_aiokafka.Producer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.app.conf.producer_threaded:
            buffer = QuickSizeProducerBuffer(loop=self.loop, beacon=self.beacon)
            buffer.app = self.app
            self.buffer = buffer


class RawSchema(faust.Schema):
    """Keys and values as the bytes on the wire (the ``raw`` codec), without
    Faust's serializer registry on the way: the stages decode records
    themselves."""

    def __init__(self) -> None:
        super().__init__(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")

    def compile(self, app: Any, *, on_key_decode_error: Any = None, on_value_decode_error: Any = None,
                default_propagate: bool = False) -> Any:
        event_type = app.conf.Event  # App.create_event reads the setting for every message

        async def decode(message: Any, *, propagate: bool = default_propagate) -> Any:
            return event_type(app, message.key, message.value, message.headers, message)

        return decode


class RawHandOff:
    """The conductor's callback for one topic partition whose one subscriber
    reads raw (``RawSchema``): the message becomes an event in that
    channel's queue. Flow control, the producer buffer's ebb and the queue's
    pressure callbacks (which pause and resume fetching the partition) are
    Faust's; only a full queue is waited for differently: one awaited
    ``put``, not a task and an ``asyncio.wait`` per message."""

    def __init__(self, conductor: Conductor, tp: Any, channels: Any, fallback: Any) -> None:
        app = conductor.app
        self.tp = tp
        self.channels = channels  # the conductor's live set for this partition
        self.fallback = fallback  # Faust's handler, for anything but one raw channel
        self.acquire_flow_control = app.flow_control.acquire
        self.wait_until_producer_ebb = app.producer.buffer.wait_until_ebb
        self.on_topic_buffer_full = app.sensors.on_topic_buffer_full
        self.consumer = app.consumer

    def on_pressure_high(self) -> None:
        self.on_topic_buffer_full(self.tp)
        self.consumer.on_buffer_full(self.tp)

    def on_pressure_drop(self) -> None:
        self.consumer.on_buffer_drop(self.tp)

    async def __call__(self, message: Any) -> None:
        channels = self.channels
        if len(channels) != 1:
            await self.fallback(message)
            return
        channel = next(iter(channels))
        if not isinstance(channel.schema, RawSchema):
            await self.fallback(message)
            return
        await self.acquire_flow_control()
        await self.wait_until_producer_ebb()
        message.refcount += 1  # Message.incref(1): one channel will ack it
        event = await channel.decode(message, propagate=True)  # RawSchema: never raises
        queue = channel.queue
        if queue.full():
            self.on_topic_buffer_full(self.tp)
            await channel.put(event)
        else:
            queue.put_nowait_enhanced(event, on_pressure_high=self.on_pressure_high,
                                      on_pressure_drop=self.on_pressure_drop)


class WorkerConductor(Conductor):
    def _build_handler(self, tp: Any, channels: Any) -> Any:
        return RawHandOff(self, tp, channels, super()._build_handler(tp, channels))


class BatchReader:
    """An agent's events in batches, taken from its channel's queue.

    ``batches(max_, within)`` yields up to ``max_`` events: all the queue
    holds at once, and while fewer than ``max_`` have come, more as they
    arrive for at most ``within`` seconds after the first (what
    ``Stream.take_events`` does, without an event's trip through the
    stream). The events are not acknowledged here: the reader acks each
    ``event.message`` once its output is safe (``message.ack(consumer)``).
    Taking many events at once also lets the conductor fill the queue
    again in one go (``RawHandOff``) instead of one wake-up per event.

    What Faust's stream does to each event on its way in is done here too
    (``admit``): an event fetched before a rebalance (another consumer
    generation, or while flow control is suspended) is dropped, unacknowledged,
    to be read again from the committed offset; every other one is tracked
    as taken and not yet acknowledged, so that a rebalance waits for the
    batch in flight (``Consumer.wait_empty``) before it commits and hands
    the partitions over. Without that a SIGKILL restart test lost counts.
    """

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.channel = stream.channel.__aiter__()  # the iterator subscribes the topic (Topic.__aiter__)
        monitor = getattr(stream.app, "monitor", None)
        self._count = getattr(monitor, "count_stream_events", None)

    def admit(self, events: list[Any]) -> list[Any]:
        """The events of the current consumer generation, tracked as taken (see the class docstring)."""
        app = self.stream.app
        if not app.flow_control.is_active():
            return []
        generation = app.consumer_generation_id
        acking = app.topics.acks_enabled_for
        unacked = app.consumer._unacked_messages  # what Consumer.wait_empty waits for
        message_in = app.sensors.on_message_in
        admitted = []
        for event in events:
            message = event.message
            if message.generation_id != generation:
                continue
            if not message.tracked and acking(message.topic):
                message.tracked = True
                unacked.add(message)
                message_in(message.tp, message.offset, message)
            admitted.append(event)
        return admitted

    async def batches(self, max_: int, within: float) -> AsyncIterator[list[Any]]:
        queue = self.channel.queue
        stream = self.stream
        try:
            while not stream.should_stop:
                try:
                    batch = [await queue.get()]
                except StopAsyncIteration:
                    # The channel's queue ends this way when the worker stops: the end
                    # of the stream, not a failure (raised on, an async generator turns
                    # it into a RuntimeError and the stage is reported dead).
                    return
                deadline = time.monotonic() + within
                while len(batch) < max_:
                    if not queue.empty():
                        batch.append(queue.get_nowait())
                        continue
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    try:
                        batch.append(await asyncio.wait_for(queue.get(), left))
                    except TimeoutError:
                        break
                    except StopAsyncIteration:
                        return  # stopping: the events taken are not acknowledged and are read again
                batch = self.admit(batch)
                if not batch:
                    continue
                if self._count is not None:
                    self._count(stream, len(batch))
                yield batch
        finally:
            # As a stream does when its iteration ends (an agent of isolated
            # partitions then leaves the conductor).
            stream.channel.on_stop_iteration()


class WorkerTransport(faust_aiokafka.Transport):
    Conductor = WorkerConductor
    Consumer = HandOffConsumer
    Producer = QuickSizeProducer


class WorkerApp(faust.App):
    """``faust.App`` on ``WorkerTransport`` (for kafka:// and aiokafka:// URLs).

    ``fetch_max_wait``: seconds a fetch may wait for data (None: Faust's 1.5 s)."""

    def __init__(self, *args: Any, fetch_max_wait: float | None = None, **kwargs: Any) -> None:
        self.fetch_max_wait = fetch_max_wait
        super().__init__(*args, **kwargs)

    def _new_transport(self) -> Any:
        return WorkerTransport(self.conf.broker_consumer, self)

    def _new_producer_transport(self) -> Any:
        return WorkerTransport(self.conf.broker_producer, self)


class BatchedPrometheusMonitor(PrometheusMonitor):
    """Faust's Prometheus sensor, updated per scrape instead of per message.

    The per-message and per-event hooks count into plain integers; ``flush``
    adds the counts to the Prometheus series (the same names and labels as
    Faust's). One event in ``SAMPLE`` has its runtime observed, and one send
    in ``SAMPLE`` its latency. Hooks that fire per rebalance, commit or
    assignment are Faust's own.
    """

    SAMPLE = 64

    def __init__(self, metrics: FaustMetrics, **kwargs: Any) -> None:
        super().__init__(metrics, **kwargs)
        self._received: Counter[str] = Counter()
        self._read_offsets: dict[Any, int] = {}
        self._acked = 0
        self._events: Counter[Any] = Counter()
        self._events_out = 0
        self._table_ops: Counter[tuple[str, str]] = Counter()
        self._sent_by_topic: Counter[str] = Counter()
        self._sent = 0
        self._tick = 0
        self._stream_labels: dict[Any, str] = {}
        self._active_messages = 0
        self._active_events = 0

    def _sampled(self) -> bool:
        self._tick += 1
        return self._tick % self.SAMPLE == 0

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        self._received[tp.topic] += 1
        self._read_offsets[tp] = offset

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> Any:
        self._events[stream] += 1
        return {"time_in": self.time()} if self._sampled() else None

    def on_stream_event_out(self, tp: Any, offset: int, stream: Any, event: Any, state: Any = None) -> None:
        self._events_out += 1
        if state is not None:
            self._metrics.events_runtime_latency.observe(self.secs_to_ms(self.time() - state["time_in"]))

    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        self._acked += 1

    def count_stream_events(self, stream: Any, n: int) -> None:
        """``n`` events a stage took and handled in one batch (``BatchReader``)."""
        self._events[stream] += n
        self._events_out += n

    def on_table_get(self, table: Any, key: Any) -> None:
        self._table_ops[(table.name, self.KEYS_RETRIEVED)] += 1

    def on_table_set(self, table: Any, key: Any, value: Any) -> None:
        self._table_ops[(table.name, self.KEYS_UPDATED)] += 1

    def on_table_del(self, table: Any, key: Any) -> None:
        self._table_ops[(table.name, self.KEYS_DELETED)] += 1

    def on_send_initiated(self, producer: Any, topic: str, message: Any, keysize: int, valsize: int) -> Any:
        self._sent_by_topic[topic] += 1
        return self.time() if self._sampled() else None

    def on_send_completed(self, producer: Any, state: Any, metadata: Any) -> None:
        self._sent += 1
        if state is not None:
            self._metrics.producer_send_latency.observe(self.ms_since(state))

    def on_send_error(self, producer: Any, exc: BaseException, state: Any) -> None:
        self.send_errors += 1
        self._metrics.total_error_messages_sent.inc()
        if state is not None:
            self._metrics.producer_error_send_latency.observe(self.ms_since(state))

    def track_tp_end_offset(self, tp: Any, offset: int) -> None:
        # Faust calls this for every record it fetches.
        self.tp_end_offsets[tp] = offset

    def count_sent(self, topic: str, n: int) -> None:
        """Records a stage sent through its own outbox (streams.outbox), acknowledged."""
        self._sent_by_topic[topic] += n
        self._sent += n

    def flush(self) -> None:
        m = self._metrics
        received = sum(self._received.values())
        if received:
            m.messages_received.inc(received)
            for topic, n in self._received.items():
                m.messages_received_per_topics.labels(topic=topic).inc(n)
            self._received.clear()
        for tp, offset in self._read_offsets.items():
            m.messages_received_per_topics_partition.labels(topic=tp.topic, partition=tp.partition).set(offset)
        self._read_offsets.clear()
        for tp, offset in self.tp_end_offsets.items():
            m.topic_partition_end_offset.labels(topic=tp.topic, partition=tp.partition).set(offset)
        self._active_messages += received - self._acked
        self._acked = 0
        m.active_messages.set(self._active_messages)
        events = sum(self._events.values())
        if events:
            m.total_events.inc(events)
            for stream, n in self._events.items():
                label = self._stream_labels.get(stream)
                if label is None:
                    label = self._stream_labels[stream] = self._stream_label(stream)
                m.total_events_per_stream.labels(stream=f"stream.{label}.events").inc(n)
            self._events.clear()
        self._active_events += events - self._events_out
        self._events_out = 0
        m.total_active_events.set(self._active_events)
        for (table, operation), n in self._table_ops.items():
            m.table_operations.labels(table=f"table.{table}", operation=operation).inc(n)
        self._table_ops.clear()
        for topic, n in self._sent_by_topic.items():
            m.topic_messages_sent.labels(topic=f"topic.{topic}").inc(n)
        self._sent_by_topic.clear()
        if self._sent:
            m.total_sent_messages.inc(self._sent)
            self._sent = 0


def setup_faust_sensors(app: faust.App, name_prefix: str,
                        registry: CollectorRegistry = REGISTRY) -> BatchedPrometheusMonitor:
    """Faust's Prometheus metrics on /metrics, as
    ``faust.sensors.prometheus.setup_prometheus_sensors`` exposes them, with
    ``BatchedPrometheusMonitor`` (flushed before each scrape)."""
    prefix = name_prefix.replace("-", "_").replace(".", "_")
    monitor = BatchedPrometheusMonitor(metrics=FaustMetrics.create(registry, prefix))
    app.monitor = monitor

    @app.page("/metrics")
    async def metrics_page(self: Any, request: Any) -> Any:
        monitor.flush()
        return Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}, status=200)

    return monitor
