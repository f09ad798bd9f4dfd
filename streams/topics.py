"""Every Kafka topic of the pipeline, in one table.

A topic's full name is ``<kafka.topic_prefix>.<suffix>``. Everything that
creates, reads or writes a topic (the worker, the notifier, the connectors,
the command line, the tests) takes its name and settings from here.

Partitioning: ``mentions`` and ``buckets`` are co-partitioned by brand with
the worker's tables (their changelogs get ``kafka.partitions`` too), so one
brand's buckets and detector state live on one partition and move together
on a rebalance. The logs that every notifier reads whole at start-up
(deliveries, silences) have one partition, which keeps them in order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# Records accepted on the posts topic (Apache Kafka's default message limit).
MAX_POST_BYTES = 1_000_000
# A dead letter wraps the original record (base64, +33 %) with its reason, so
# it can be larger than anything its source topic accepts: the dead-letter
# topics allow 4 MiB and every producer that writes them may send that much.
DEAD_LETTER_MAX_BYTES = 4 * 1024 * 1024
# Producer request size: room for the largest dead letter plus headers.
MAX_REQUEST_BYTES = DEAD_LETTER_MAX_BYTES + 65536


@dataclass(frozen=True)
class TopicSpec:
    suffix: str
    key: str  # what the record key is
    value: str  # what the record value is
    single_partition: bool = False
    compacted: bool = False
    max_message_bytes: int | None = None

    def configs(self) -> dict[str, str]:
        """Topic-level settings given at creation."""
        out: dict[str, str] = {}
        if self.compacted:
            out["cleanup.policy"] = "compact"
        if self.max_message_bytes is not None:
            out["max.message.bytes"] = str(self.max_message_bytes)
        return out


POSTS = TopicSpec("posts", "source:id", "a post (streams.models.Post JSON)")
POSTS_DEAD = TopicSpec("posts.dead", "source:id when known", "an invalid post with its reason and original bytes",
                       max_message_bytes=DEAD_LETTER_MAX_BYTES)
MENTIONS = TopicSpec("mentions", "brand id",
                     "a brand's counts from a batch of posts (streams.models.MentionCounts), or a watermark tick "
                     "(key __tick__); per-mention records of earlier versions are still read")
BUCKETS = TopicSpec("buckets", "brand id", "a brand's buckets closed together (streams.models.bucket_record)")
ALERTS = TopicSpec("alerts", "brand:signal", "an alert lifecycle event")
INTERNAL_DEAD = TopicSpec("internal.dead", "none", "an internal record a stage could not process, with the reason",
                          max_message_bytes=DEAD_LETTER_MAX_BYTES)
ALERTS_RETRY = TopicSpec("alerts.retry", "alert key", "a notification parked for a later delivery attempt")
ALERTS_DEAD = TopicSpec("alerts.dead", "channel", "a notification given up on, with the reason",
                        single_partition=True, max_message_bytes=DEAD_LETTER_MAX_BYTES)
DELIVERIES = TopicSpec("deliveries", "channel|alert key", "the delivery log: what each channel was told",
                       single_partition=True)
SILENCES = TopicSpec("silences", "silence id", "silence created / expired", single_partition=True)
# People's sentiment corrections: the newest per post counts (compacted), read whole by whoever trains.
SENTIMENT_CORRECTIONS = TopicSpec("sentiment.corrections", "post id", "a person's label for a post's sentiment",
                                  single_partition=True, compacted=True)
# Acknowledgements of incidents from the PR console (alerting/incidents.py Ack): the newest per incident id counts.
ACKS = TopicSpec("acks", "incident id", "someone acknowledged an incident", single_partition=True, compacted=True)

# The stream worker's own topics, and the notifier's.
PIPELINE = (POSTS, POSTS_DEAD, MENTIONS, BUCKETS, ALERTS, INTERNAL_DEAD)
NOTIFIER = (ALERTS, ALERTS_RETRY, ALERTS_DEAD, DELIVERIES, SILENCES)
# What the PR console (`koubei console`) reads; it writes silences, acks and sentiment corrections.
CONSOLE = (ALERTS, BUCKETS, DELIVERIES, SILENCES, ACKS, SENTIMENT_CORRECTIONS)
ALL = tuple(dict.fromkeys(PIPELINE + NOTIFIER + CONSOLE))
BY_SUFFIX = {spec.suffix: spec for spec in ALL}


@dataclass(frozen=True)
class Topics:
    """Topic names and creation settings for one deployment."""

    prefix: str = "koubei"
    partitions: int = 4

    def name(self, spec: TopicSpec | str) -> str:
        found = BY_SUFFIX[spec] if isinstance(spec, str) else spec
        return f"{self.prefix}.{found.suffix}"

    def partitions_of(self, spec: TopicSpec) -> int:
        return 1 if spec.single_partition else self.partitions

    def plan(self, specs: Iterable[TopicSpec] = ALL) -> dict[str, tuple[int, dict[str, str]]]:
        """name -> (partitions, topic configs), what ``ensure_topics`` creates."""
        return {self.name(s): (self.partitions_of(s), s.configs()) for s in specs}
