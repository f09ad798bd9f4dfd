"""Kafka plumbing shared by the worker, the connectors and the tools.

``BrokerQuirks`` is the one place that knows about the embedded broker's
defects (listed on the class). Every workaround below is applied
ONLY when the broker is the embedded Tansu; against Apache Kafka the
clients run with their normal settings.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

# The cluster id `koubei broker` (streams.broker) gives the embedded broker,
# by which ``detect_quirks`` recognises it.
EMBEDDED_CLUSTER_ID = "koubei-embedded-tansu"


def bootstrap_servers(url: str) -> str:
    """``kafka://h1:9092;h2:9092`` (Faust's form) -> ``h1:9092,h2:9092``."""
    rest = url.split("://", 1)[1] if "://" in url else url
    hosts = [h.strip().rstrip("/") for h in rest.replace(";", ",").split(",") if h.strip()]
    return ",".join(hosts)


def cluster_id(bootstrap: str, timeout: float = 10.0) -> str:
    """Ask the cluster who it is (a Metadata request)."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="koubei-probe",
        request_timeout_ms=int(timeout * 1000),
    )
    try:
        info = admin.describe_cluster()
        return str(info.get("cluster_id") or "")
    finally:
        admin.close()


@dataclass(frozen=True)
class BrokerQuirks:
    """Client settings that depend on which broker we talk to."""

    embedded: bool
    # Tansu reports end offset = first offset of the last batch + 1 when that
    # batch held several records; Faust then stops changelog recovery early
    # and loses table updates, and lag and ``read_topic`` stop short. One
    # record per produced batch avoids it. The worker's stages still batch
    # their own output (streams.outbox): per partition, one multi-record
    # batch followed by its last record alone, which leaves the end offset
    # right.
    single_record_batches: bool
    # Tansu's first group join takes about half the session timeout and a
    # rejoin after restart waits for the old session to expire: keep it short
    # locally. Apache Kafka keeps Faust's defaults.
    session_timeout: float | None
    # Tansu has no InitProducerId, so no idempotent/transactional producer:
    # Faust's exactly_once cannot run there.
    exactly_once_supported: bool
    # Tansu holds a fetch for a share of its maximum wait even when records
    # are there (Apache Kafka answers at once): a record took 372 ms p50 /
    # 752 ms max to reach a consumer with Faust's fixed 1.5 s wait, 3 / 31 ms
    # with 50 ms. Seconds, or None for the client's default.
    fetch_max_wait: float | None = None

    @classmethod
    def for_embedded(cls) -> BrokerQuirks:
        return cls(embedded=True, single_record_batches=True, session_timeout=10.0, exactly_once_supported=False,
                   fetch_max_wait=0.05)

    @classmethod
    def for_kafka(cls) -> BrokerQuirks:
        return cls(embedded=False, single_record_batches=False, session_timeout=None, exactly_once_supported=True)

    def kafka_python_producer_settings(self) -> dict[str, Any]:
        if self.single_record_batches:
            # batch_size=1 byte: every batch is full after its first record.
            return {"batch_size": 1, "linger_ms": 0}
        return {"linger_ms": 5}

    def faust_settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = {}
        if self.single_record_batches:
            settings["producer_max_batch_size"] = 1
        if self.session_timeout is not None:
            settings["broker_session_timeout"] = self.session_timeout
            settings["broker_heartbeat_interval"] = max(1.0, self.session_timeout / 5)
            settings["broker_rebalance_timeout"] = self.session_timeout * 2
        return settings


def detect_quirks(mode: str, bootstrap: str) -> BrokerQuirks:
    """``mode`` is the config's ``kafka.broker_quirks``: auto | tansu | none."""
    if mode == "tansu":
        return BrokerQuirks.for_embedded()
    if mode == "none":
        return BrokerQuirks.for_kafka()
    try:
        cid = cluster_id(bootstrap)
    except Exception as exc:  # noqa: BLE001 - the worker will report the real connection error
        log.warning("could not ask the broker for its cluster id (%s); assuming Apache Kafka", exc)
        return BrokerQuirks.for_kafka()
    if cid == EMBEDDED_CLUSTER_ID or cid.startswith("tansu"):
        return BrokerQuirks.for_embedded()
    return BrokerQuirks.for_kafka()


def ensure_topics(bootstrap: str, plan: Mapping[str, tuple[int, Mapping[str, str]] | int],
                  replication_factor: int = 1) -> list[str]:
    """Create the topics that do not exist yet; returns the names created.

    ``plan``: name -> (partitions, topic configs), as ``streams.topics.Topics.plan``
    gives it, or name -> partitions for a topic with the broker's settings.
    Topics are created explicitly, with the configured partition count,
    because auto-created topics get the broker's default (4 on Tansu) and
    co-partitioned topics (mentions, buckets) must agree. Existing topics are
    left alone: partitions can only grow, and the embedded broker cannot
    even do that (no CreatePartitions).
    """
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="koubei-admin")
    try:
        existing = set(admin.list_topics())
        wanted = []
        for name, spec in plan.items():
            if name in existing:
                continue
            parts, configs = spec if isinstance(spec, tuple) else (spec, {})
            wanted.append(NewTopic(name=name, num_partitions=parts, replication_factor=replication_factor,
                                   topic_configs=dict(configs)))
        if not wanted:
            return []
        try:
            admin.create_topics(wanted)
        except TopicAlreadyExistsError:
            pass  # another worker won the race
        return [t.name for t in wanted]
    finally:
        admin.close()


def make_producer(bootstrap: str, quirks: BrokerQuirks, **overrides: Any) -> Any:
    """A kafka-python producer for tools and connectors (bytes in, bytes out)."""
    from kafka import KafkaProducer

    settings: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "acks": "all",
        "retries": 5,
        "client_id": "koubei",
        "max_request_size": 2_000_000,
    }
    settings.update(quirks.kafka_python_producer_settings())
    settings.update(overrides)
    return KafkaProducer(**settings)


def read_topic(bootstrap: str, topic: str, timeout: float = 5.0) -> list[Any]:
    """Read a whole topic from the beginning (tools and tests); no group, no commit."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             consumer_timeout_ms=int(timeout * 1000), client_id="koubei-reader")
    try:
        parts = consumer.partitions_for_topic(topic)
        if not parts:
            return []
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        records = []
        remaining = {tp for tp in tps if ends[tp] > 0}
        while remaining:
            batch = consumer.poll(timeout_ms=int(timeout * 1000))
            if not batch:
                break
            for tp, msgs in batch.items():
                records.extend(msgs)
                if consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return records
    finally:
        consumer.close()
