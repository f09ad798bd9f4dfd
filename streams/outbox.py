"""What one batch of a stage produces, sent together and awaited once.

A stage collects its output records in an ``Outbox`` and calls ``deliver``
once per batch: the records are handed to the producer without one awaited
``Topic.send`` each, and ``deliver`` returns when the broker has
acknowledged all of them, so the stage acknowledges its input only after
its output is safe (the at-least-once chain the aggregator's
de-duplication relies on, streams/aggregate.py).

The embedded broker (``BrokerQuirks.single_record_batches``) reports a
wrong end offset for a partition whose last batch held several records:
first offset of that batch + 1. Consumers still read every record, but
the end offset is what Faust's changelog recovery, lag metrics and
``streams.kafka.read_topic`` stop at. So there the worker's producer is
configured to put one record in each batch, which makes every produce
request carry one record. The outbox does better for its own records: per
partition, all records but the last go in one explicit multi-record batch
and the last one follows alone in a batch of its own. The partition then
always ends with a single-record batch and its end offset is right, while
most records travel batched. (A record another coroutine sends to the same
partition in between is harmless: it either joins the multi-record batch
or forms its own single-record batch, and the outbox's last record still
comes after the multi-record batch.) Against Apache Kafka the records are
simply sent and the client batches them as usual.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

# Bytes per explicit batch (the broker's default message.max.bytes is 1 MB).
BATCH_BYTES = 512 * 1024


@dataclass(frozen=True)
class OutRecord:
    topic: str
    value: bytes
    key: bytes | None = None
    partition: int | None = None
    timestamp: float | None = None  # seconds; None = now


class Outbox:
    """Records of one batch; ``deliver`` sends them and waits for the broker.

    ``producer`` is the worker's Faust producer (``app.producer``);
    ``batch_records``: build explicit batches with a single-record tail per
    partition (the embedded broker, see the module docstring).
    ``on_sent(topic, n)`` counts records sent (the per-topic send counters
    that Faust's own ``Topic.send`` would have updated).
    """

    def __init__(self, producer: Any, *, batch_records: bool,
                 on_sent: Callable[[str, int], None] | None = None) -> None:
        self.producer = producer
        self.batch_records = batch_records
        self.on_sent = on_sent
        self.records: list[OutRecord] = []

    def add(self, topic: str, value: bytes, *, key: bytes | None = None, partition: int | None = None,
            timestamp: float | None = None) -> None:
        self.records.append(OutRecord(topic, value, key, partition, timestamp))

    def __len__(self) -> int:
        return len(self.records)

    async def deliver(self) -> None:
        """Send every record and wait until the broker has acknowledged them all."""
        records, self.records = self.records, []
        if not records:
            return
        futures: list[Awaitable[Any]] = []
        by_partition: dict[tuple[str, int], list[OutRecord]] = {}
        for record in records:
            partition = record.partition
            if partition is None and record.key is not None and self.batch_records:
                partition = self.producer.key_partition(record.topic, record.key).partition
            if partition is None or not self.batch_records:
                futures.append(await self._send_one(record, partition))
            else:
                by_partition.setdefault((record.topic, partition), []).append(record)
        if by_partition:
            sent = await asyncio.gather(*(self._send_partition(topic, partition, batch)
                                          for (topic, partition), batch in by_partition.items()))
            for batch_futures in sent:
                futures.extend(batch_futures)
        if self.on_sent is not None:
            counts: dict[str, int] = {}
            for record in records:
                counts[record.topic] = counts.get(record.topic, 0) + 1
            for topic, n in counts.items():
                self.on_sent(topic, n)
        await asyncio.gather(*futures)

    async def _send_one(self, record: OutRecord, partition: int | None) -> Awaitable[Any]:
        return await self.producer.send(record.topic, record.key, record.value, partition, record.timestamp, None)

    async def _send_partition(self, topic: str, partition: int, records: list[OutRecord]) -> list[Awaitable[Any]]:
        futures: list[Awaitable[Any]] = []
        client = _aiokafka_producer(self.producer)
        if client is None or len(records) == 1:
            # No explicit batches available: one record per batch (slower, still right).
            for record in records:
                futures.append(await self._send_one(record, partition))
            return futures
        builder = _new_builder(client, BATCH_BYTES)
        for record in records[:-1]:
            if _append(builder, record) is None:
                futures.append(await client.send_batch(builder, topic, partition=partition))
                builder = _new_builder(client, BATCH_BYTES)
                if _append(builder, record) is None:
                    raise ValueError(f"a record of {len(record.value)} bytes does not fit a batch of {BATCH_BYTES}")
        futures.append(await client.send_batch(builder, topic, partition=partition))
        # The tail: the producer's own builder holds one record (max_batch_size=1
        # on the embedded broker), and send_batch queues it only after the
        # batch above has been drained, so it is alone in its batch.
        tail = client.create_batch()
        _append(tail, records[-1])
        futures.append(await client.send_batch(tail, topic, partition=partition))
        return futures


def _aiokafka_producer(producer: Any) -> Any:
    """The aiokafka producer inside Faust's, or None if this Faust has none."""
    ensure = getattr(producer, "_ensure_producer", None)
    if ensure is None:
        return None
    try:
        client = ensure()
    except Exception:  # noqa: BLE001 - fall back to one send per record
        log.warning("no aiokafka producer available; sending records one by one", exc_info=True)
        return None
    usable = all(hasattr(client, name) for name in ("send_batch", "create_batch", "_message_accumulator"))
    return client if usable else None


def _new_builder(client: Any, size: int) -> Any:
    from aiokafka.producer.message_accumulator import BatchBuilder

    # The accumulator holds the compression as the record-batch attribute (an int).
    return BatchBuilder(size, client._message_accumulator._compression_type, is_transactional=False)


def _append(builder: Any, record: OutRecord) -> Any:
    timestamp_ms = int(record.timestamp * 1000) if record.timestamp is not None else None
    return builder.append(timestamp=timestamp_ms, key=record.key, value=record.value)
