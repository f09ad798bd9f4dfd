"""Prometheus metrics, one label set per connector instance."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

POSTS_FETCHED = Counter("koubei_connector_posts_fetched_total",
                        "Posts read from the source and confirmed by Kafka", ["connector"])
DEAD_LETTERS = Counter("koubei_connector_dead_letters_total",
                       "Malformed items sent to the dead-letter topic", ["connector", "reason"])
DUPLICATES = Counter("koubei_connector_duplicates_skipped_total",
                     "Items dropped because their id was already emitted", ["connector"])
ERRORS = Counter("koubei_connector_errors_total",
                 "Errors talking to the source, by kind (http_429, http_5xx, timeout, connect, ...)",
                 ["connector", "kind"])
LAG = Gauge("koubei_connector_lag_seconds",
            "Age of the newest post confirmed by Kafka: how far behind the source we are", ["connector"])
LAST_SUCCESS = Gauge("koubei_connector_last_success_timestamp_seconds",
                     "Unix time of the last successful fetch or ingest", ["connector"])
QUEUE_DEPTH = Gauge("koubei_connector_queue_depth", "Batches waiting for Kafka", ["connector"])
CHECKPOINTS = Counter("koubei_connector_checkpoints_total", "Checkpoints committed", ["connector"])


class ConnectorMetrics:
    """The metric children of one connector, so call sites cannot mislabel."""

    def __init__(self, connector: str) -> None:
        self.connector = connector
        self.posts = POSTS_FETCHED.labels(connector)
        self.lag = LAG.labels(connector)
        self.last_success = LAST_SUCCESS.labels(connector)
        self.queue_depth = QUEUE_DEPTH.labels(connector)
        self.checkpoints = CHECKPOINTS.labels(connector)
        self.duplicates = DUPLICATES.labels(connector)

    def error(self, kind: str) -> None:
        ERRORS.labels(self.connector, kind).inc()

    def dead_letter(self, reason: str) -> None:
        DEAD_LETTERS.labels(self.connector, reason).inc()
