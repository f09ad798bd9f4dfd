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

from streams.sentiment.auto import Correction, latest_corrections

TOPIC_NAME = "sentiment.corrections"
TOPIC_CONFIG = {"cleanup.policy": "compact"}


def corrections_topic(config: Any) -> str:
    """``<kafka.topic_prefix>.sentiment.corrections`` (``config`` is a KoubeiConfig)."""
    return str(config.topic(TOPIC_NAME))


def ensure_corrections_topic(config: Any, bootstrap: str) -> None:
    from streams.kafka import ensure_topics

    topic = corrections_topic(config)
    ensure_topics(bootstrap, {topic: 1}, config.kafka.replication_factor, {topic: TOPIC_CONFIG})


def publish_correction(config: Any, bootstrap: str, quirks: Any, correction: Correction) -> None:
    """Write one correction and wait for the broker's acknowledgement."""
    from streams.kafka import make_producer

    ensure_corrections_topic(config, bootstrap)
    producer = make_producer(bootstrap, quirks)
    try:
        producer.send(corrections_topic(config), key=correction.post_id.encode("utf-8"),
                      value=correction.to_json()).get(timeout=30)
    finally:
        producer.close()


def read_corrections(config: Any, bootstrap: str, timeout: float = 5.0) -> tuple[dict[str, Correction], int]:
    """The newest correction per post id, and how many records could not be read as one."""
    from streams.kafka import read_topic

    ensure_corrections_topic(config, bootstrap)
    records = read_topic(bootstrap, corrections_topic(config), timeout=timeout)
    return latest_corrections((record.key, record.value) for record in records)
