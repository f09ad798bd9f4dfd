"""The stages' outbox on a real broker: every record arrives, in order per
partition, and the partitions' end offsets are right (the embedded broker
reports a wrong one after a multi-record batch unless a single-record batch
follows it)."""

from __future__ import annotations

import asyncio

import pytest

from streams.faust_app import WorkerApp
from streams.kafka import BrokerQuirks, ensure_topics, read_topic
from streams.outbox import Outbox

pytestmark = [pytest.mark.integration]


def end_offsets(bootstrap: str, topic: str, partitions: int) -> dict[int, int]:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, client_id="koubei-test")
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        return {tp.partition: offset for tp, offset in consumer.end_offsets(tps).items()}
    finally:
        consumer.close()


def test_outbox_records_arrive_in_order_and_end_offsets_are_right(kafka_url: str, kafka_bootstrap: str,
                                                                   broker_quirks: BrokerQuirks,
                                                                   topic_prefix: str) -> None:
    topic = f"{topic_prefix}.out"
    ensure_topics(kafka_bootstrap, {topic: 3})
    sent_counts: dict[str, int] = {}

    async def run() -> None:
        app = WorkerApp(f"{topic_prefix}-app", broker=kafka_url, **broker_quirks.faust_settings())
        producer = app.producer
        await producer.start()
        try:
            for round_ in range(3):  # several deliveries: each must leave the ends right
                out = Outbox(producer, batch_records=broker_quirks.single_record_batches,
                             on_sent=lambda t, n: sent_counts.__setitem__(t, sent_counts.get(t, 0) + n))
                for i in range(40):
                    out.add(topic, f"{round_}-{i}".encode(), key=f"k{i % 5}".encode())
                out.add(topic, f"{round_}-alone".encode(), partition=2)
                assert len(out) == 41
                await out.deliver()
                assert len(out) == 0
        finally:
            await producer.stop()

    asyncio.run(run())
    records = read_topic(kafka_bootstrap, topic)
    assert len(records) == 3 * 41 == sent_counts[topic]
    ends = end_offsets(kafka_bootstrap, topic, 3)
    by_partition: dict[int, list[bytes]] = {}
    for record in records:
        by_partition.setdefault(record.partition, []).append(record.value)
    assert ends == {p: len(by_partition.get(p, [])) for p in range(3)}
    for key in range(5):  # one key's records stay in the order they were added
        values = [r.value.decode() for r in records if r.key == f"k{key}".encode()]
        assert values == [f"{r}-{i}" for r in range(3) for i in range(40) if i % 5 == key]
