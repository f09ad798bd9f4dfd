"""People's corrections to sentiment: the compacted topic ``<prefix>.sentiment.corrections``.

One record per correction, keyed by the post id, value ``Correction.to_json()``
(``{"post_id", "label", "text", "by", "at"}``). The topic is compacted
(``cleanup.policy=compact``), so the newest correction of a post is the one
that stays; a record with no value (a tombstone) withdraws it. One
partition: the log is small and read whole, in order, by whoever trains
(``koubei sentiment train --with-corrections``, ``sentiment.model: auto``).
The embedded broker accepts compaction but never performs it; readers take
the newest record per key, so the result is the same on both brokers.
"""

from __future__ import annotations

from typing import Any

from streams import topics
from streams.config import PipelineConfig
from streams.sentiment.auto import Correction, latest_corrections


def corrections_topic(config: PipelineConfig) -> str:
    """``<kafka.topic_prefix>.sentiment.corrections``."""
    return config.topic(topics.SENTIMENT_CORRECTIONS)


def ensure_corrections_topic(config: PipelineConfig, bootstrap: str) -> None:
    from streams.kafka import ensure_topics

    ensure_topics(bootstrap, config.topics.plan((topics.SENTIMENT_CORRECTIONS,)), config.kafka.replication_factor,
                  security=config.kafka)


def publish_correction(config: PipelineConfig, bootstrap: str, quirks: Any, correction: Correction) -> None:
    """Write one correction and wait for the broker's acknowledgement."""
    from streams.kafka import make_producer

    ensure_corrections_topic(config, bootstrap)
    producer = make_producer(bootstrap, quirks, security=config.kafka)
    try:
        producer.send(corrections_topic(config), key=correction.post_id.encode("utf-8"),
                      value=correction.to_json()).get(timeout=30)
    finally:
        producer.close()


def read_corrections(config: PipelineConfig, bootstrap: str, timeout: float = 5.0) -> tuple[dict[str, Correction], int]:
    """The newest correction per post id, and how many records could not be read as one."""
    from streams.kafka import read_topic

    ensure_corrections_topic(config, bootstrap)
    records = read_topic(bootstrap, corrections_topic(config), timeout=timeout, security=config.kafka)
    return latest_corrections((record.key, record.value) for record in records)
