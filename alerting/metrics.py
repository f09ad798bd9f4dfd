"""Prometheus metrics of alert delivery (default registry, base units).

Labels stay bounded: ``channel`` is a configured channel name, ``outcome``
an enum below, ``brand`` a configured brand id (anything else is "other").
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Counter, Gauge, Histogram

NOTIFICATION_OUTCOMES = ("sent", "failed", "retried", "dead", "duplicate")
ALERT_OUTCOMES = ("routed", "no_route", "invalid", "replayed")

notifications_total = Counter(
    "koubei_notifications_total",
    "Notification attempts by channel and outcome: sent (delivered), failed (an attempt failed), "
    "retried (parked in the retry topic), dead (dead-lettered), duplicate (when its turn came there was nothing "
    "left to tell: already told per the delivery log, superseded by a newer delivery, muted, or ended unannounced).",
    ["channel", "outcome"],
)
notified_alerts_total = Counter(
    "koubei_notified_alerts_total",
    "Alerts carried by delivered notifications; over koubei_notifications_total{outcome=sent} this is the grouping ratio.",
    ["channel"],
)
alerts_received_total = Counter(
    "koubei_alert_events_received_total", "Alert events read from the alerts topic.", ["brand", "outcome"],
)
alert_end_to_end_seconds = Histogram(
    "koubei_alert_end_to_end_seconds",
    "From the start of the spike (the event time of the first bucket that fired) to the firing notification "
    "being accepted by the platform: what a PR team experiences. Replays of old data land in +Inf.",
    ["channel"],
    buckets=(30, 60, 120, 180, 300, 600, 900, 1800, 3600, 7200),
)
delivery_latency_seconds = Histogram(
    "koubei_notification_delivery_latency_seconds",
    "From the alert event being produced to the platform accepting the notification (includes group_wait).",
    ["channel"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
silences_active = Gauge("koubei_silences_active", "Silences in effect now.")
pending_notifications = Gauge("koubei_notifications_pending", "Notifications queued or being retried in memory.")
notifications_overdue = Gauge(
    "koubei_notifications_overdue",
    "Alert groups whose delivery to the channel is past delivery.retry_deadline: dead-lettered once and still "
    "retried; the channel gets everything it missed when it comes back. Non-zero means a channel is down.",
    ["channel"],
)


def brand_label(brand: str, known: Iterable[str]) -> str:
    return brand if brand in set(known) else "other"


def init_channel(channel: str) -> None:
    """Create the series at zero so dashboards and rate() see them from the start."""
    for outcome in NOTIFICATION_OUTCOMES:
        notifications_total.labels(channel=channel, outcome=outcome)
    notified_alerts_total.labels(channel=channel)
    notifications_overdue.labels(channel=channel).set(0)
