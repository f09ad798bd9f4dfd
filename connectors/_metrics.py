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

# Files connector: per-file progress (the file label is the path under the followed folder).
FILE_SIZE = Gauge("koubei_connector_file_size_bytes", "Size of a followed file when last looked at",
                  ["connector", "file"])
FILE_READ = Gauge("koubei_connector_file_read_bytes",
                  "Bytes of a followed file read so far (size - read = what is still to come)", ["connector", "file"])
FILE_RECORDS = Counter("koubei_connector_file_records_total", "Records read from a followed file (posts and rejected)",
                       ["connector", "file"])
FILES_FOLLOWED = Gauge("koubei_connector_files_followed", "Files matching the folder and glob", ["connector"])


class FileMetrics:
    """Per-file progress of one files connector."""

    def __init__(self, connector: str) -> None:
        self.connector = connector
        self.followed = FILES_FOLLOWED.labels(connector)
        self._files: set[str] = set()

    def progress(self, file: str, read: int, size: int, records: int) -> None:
        self._files.add(file)
        FILE_READ.labels(self.connector, file).set(read)
        FILE_SIZE.labels(self.connector, file).set(size)
        if records:
            FILE_RECORDS.labels(self.connector, file).inc(records)

    def forget(self, file: str) -> None:
        """A file that is gone: its series go too (files are per day; labels must not pile up)."""
        if file in self._files:
            self._files.discard(file)
            for metric in (FILE_READ, FILE_SIZE, FILE_RECORDS):
                try:
                    metric.remove(self.connector, file)
                except KeyError:
                    pass
