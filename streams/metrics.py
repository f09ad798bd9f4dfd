"""Prometheus metrics of the stream stages (catalogue: docs/metrics.md).

Names follow Prometheus conventions: ``koubei_`` prefix, base units
(seconds), ``_total`` for counters. Label values are bounded: ``brand`` only
ever takes a configured brand id, ``reason`` a RecordError reason, never a
post id or a text.
"""

from __future__ import annotations

import bisect
import threading
from collections import Counter as Tally
from collections.abc import Iterable

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, start_http_server

POSTS_INGESTED = Counter(
    "koubei_posts_ingested_total", "Valid posts read from koubei.posts", ["source"]
)
DUPLICATE_POSTS = Counter(
    "koubei_duplicate_posts_total",
    "Posts seen again (same source:id within dedup.horizon) and not counted again", ["source"]
)
POSTS_SKIPPED_OFFSETS = Counter(
    "koubei_posts_skipped_offsets_total",
    "Posts offsets the consumer never handed to the score stage (a jump within one consumer generation; "
    "expected 0: those posts are not counted)", ["partition"])
REMEMBERED_POSTS = Gauge(
    "koubei_remembered_posts", "Posts the worker remembers to recognise them when seen again (bound: dedup.max_posts)"
)
POSTS_MATCHED = Counter(
    "koubei_posts_matched_total", "Posts that mention at least one tracked brand (and were scored)"
)
DEAD_LETTERS = Counter(
    "koubei_dead_letters_total", "Records sent to a dead-letter topic", ["topic", "reason"]
)
MENTIONS = Counter("koubei_mentions_total", "Scored (post, brand) mentions", ["brand"])
NEGATIVE_MENTIONS = Counter("koubei_negative_mentions_total", "Mentions scored negative", ["brand"])
MENTIONS_AGGREGATED = Counter(
    "koubei_mentions_aggregated_total", "Mentions counted into a bucket by the aggregate stage", ["brand"]
)
LATE_MENTIONS = Counter(
    "koubei_late_mentions_total", "Mentions whose bucket had already closed (not counted)", ["brand"]
)
DUPLICATE_RECORDS = Counter(
    "koubei_duplicate_records_total",
    "Mentions in re-delivered records (or re-scored posts) skipped by the de-duplication marks", ["stage"]
)
COUNT_OVERLAPS = Counter(
    "koubei_count_overlaps_total",
    "Bucket parts whose posts range overlapped a range already counted (counted anyway; expected 0)",
)
BUCKETS_CLOSED = Counter("koubei_buckets_closed_total", "Per-brand buckets closed", ["brand"])
BUCKET_MENTIONS = Gauge("koubei_bucket_mentions", "Mentions in the brand's last closed bucket", ["brand"])
BUCKET_NEGATIVE = Gauge("koubei_bucket_negative_mentions", "Negative mentions in the last closed bucket", ["brand"])
NEGATIVE_SHARE = Gauge("koubei_negative_share_ratio", "Negative share in the last closed bucket", ["brand"])
BASELINE_SHARE = Gauge("koubei_negative_share_baseline_ratio", "The detector's baseline negative share", ["brand"])
DETECTOR_SCORE = Gauge(
    "koubei_detector_score", "The detector's current test statistic for the brand's main signal", ["brand"]
)
WATERMARK = Gauge("koubei_watermark_timestamp_seconds", "Event-time watermark per mentions partition", ["partition"])
ALERTS = Counter("koubei_alerts_total", "Alert events emitted", ["brand", "severity", "state"])
ALERTS_FIRING = Gauge("koubei_alerts_firing", "Alerts currently firing", ["brand"])
SCORE_LATENCY = Histogram(
    "koubei_post_to_scored_seconds",
    "Event time (created_at) to scored, in seconds (replays of old data land in +Inf)",
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
POST_TO_BUCKET = Histogram(
    "koubei_post_to_bucket_seconds",
    "From a post's record timestamp on koubei.posts to its count in a bucket, in seconds "
    "(replays that stamp records with the post's own time land in +Inf)",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 60, 120, 300, 600),
)
SCORE_BATCH_SECONDS = Histogram(
    "koubei_score_batch_seconds", "Wall time to match and score one batch of posts",
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
STAGE_UP = Gauge("koubei_stage_up", "1 while the worker's stage runs, 0 once it died (the worker then exits)",
                 ["stage"])
STAGE_PROGRESS = Gauge(
    "koubei_stage_progress_timestamp_seconds", "Wall time the stage last finished a batch of its input topic",
    ["stage", "topic"],
)
RECORD_FAILURES = Counter(
    "koubei_record_failures_total",
    "Records a stage could not handle (sent to a dead-letter topic with reason internal_error)", ["stage"],
)
CLAMPED_EVENT_TIMES = Counter(
    "koubei_clamped_event_times_total", "Event-time reports beyond wall clock + input.max_future, clamped",
)
BUILD_INFO = Gauge("koubei_build_info", "Build information", ["version"])
# Dashboards join on it to show 晨光乳业 instead of chenguang
# (``* on (brand) group_left(name) koubei_brand_info``).
BRAND_INFO = Gauge("koubei_brand_info", "1 per configured brand; the name label is its display name", ["brand", "name"])


def publish_brand_info(brands: Iterable[tuple[str, str]]) -> None:
    """(brand id, display name) of every configured brand; brands no longer
    configured disappear, so a renamed brand has one name, not two."""
    BRAND_INFO.clear()
    for brand_id, name in brands:
        BRAND_INFO.labels(brand_id, name).set(1)



def observe_many(histogram: Histogram, values: Iterable[float]) -> None:
    """``histogram.observe`` for many values at once: one increment per bucket
    instead of one lock round per value (the stages observe per batch)."""
    values = list(values)
    if not values:
        return
    try:
        bounds = histogram._upper_bounds  # type: ignore[attr-defined]
        buckets = histogram._buckets  # type: ignore[attr-defined]
        total = histogram._sum  # type: ignore[attr-defined]
    except AttributeError:  # another prometheus_client: the plain way
        for value in values:
            histogram.observe(value)
        return
    counts = Tally(bisect.bisect_left(bounds, value) for value in values)
    for index, n in counts.items():
        buckets[index].inc(n)
    total.inc(sum(values))


_started: set[int] = set()
_lock = threading.Lock()


def serve(port: int, registry: CollectorRegistry = REGISTRY) -> None:
    """Expose /metrics on 127.0.0.1-or-any:port once per process (0 = disabled)."""
    if port <= 0:
        return
    with _lock:
        if port in _started:
            return
        start_http_server(port, registry=registry)
        _started.add(port)
