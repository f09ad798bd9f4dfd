"""Prometheus Alertmanager: POST /api/v2/alerts, so teams route, group and
silence with the tool they already run. Active alerts are re-sent every
``resend_interval`` (the grouping stage schedules it) with ``endsAt`` a few
intervals ahead; a resolve sends ``endsAt`` = when it ended."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from alerting.channels.base import Channel, ChannelOptions, HttpRequest, Outcome, SendResult, dumps
from alerting.labels import LABEL_NAME
from alerting.message import Notification
from alerting.render import to_plain
from alerting.render.safe import as_text, epoch, finite
from streams.settings import option

# Like Prometheus: endsAt = now + 4 x resend interval, so one or two lost
# re-sends do not resolve the alert.
ENDS_AT_INTERVALS = 4
# Alertmanager takes any unicode label value; we keep them to one short
# line so its UI, its notifications and its grouping keys stay readable.
MAX_LABEL_VALUE = 1_024
MAX_ANNOTATION = 16_384


def iso(when: float, fallback: float | None = None) -> str:
    seconds = epoch(when)
    if seconds is None:
        seconds = epoch(fallback) or 0.0
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat().replace("+00:00", "Z")


def ratio(value: object) -> str:
    number = finite(value)
    return f"{number:.4f}" if abs(number) < 1e6 else f"{number:.4g}"


def label_value(value: object) -> str:
    return re.sub(r"\s+", " ", as_text(value, MAX_LABEL_VALUE * 2)).strip()[:MAX_LABEL_VALUE]


@dataclass(frozen=True)
class AlertmanagerOptions(ChannelOptions):
    # Alertmanager forgets an alert after resolve_timeout (5 m) unless it is
    # re-sent; the grouping stage re-sends active alerts this often.
    resend_interval: float = option(60.0, duration=True, minimum=1.0,
                                    help="how often active alerts are re-posted (well under resolve_timeout, 5m)")

    def reminder_cap(self) -> float | None:
        return self.resend_interval


class Alertmanager(Channel[AlertmanagerOptions]):
    type = "alertmanager"
    options_class = AlertmanagerOptions
    default_rate_per_minute = 3000.0
    default_burst = 50

    def endpoint(self) -> str:
        base = self.config.url.reveal().rstrip("/")
        return base if base.endswith("/api/v2/alerts") else base + "/api/v2/alerts"

    def alerts(self, note: Notification, now: float) -> list[dict[str, Any]]:
        rendered = self.renderer.render(note)
        out = []
        for alert in note.alerts:
            incident = rendered.of(alert)
            ends = ((epoch(alert.ended_at) or now) if alert.state == "resolved"
                    else now + ENDS_AT_INTERVALS * self.options.resend_interval)
            # Each signal is one Alertmanager alert (its labels identify it);
            # each carries its brand's incident: title, the message, the page.
            annotations = {"summary": self.renderer.standing_title(incident.incident),
                           "description": to_plain(incident.body()),
                           "negative_share": ratio(alert.negative_share),
                           "baseline_share": ratio(alert.baseline_share)}
            if incident.links.incident:
                annotations["incident_url"] = incident.links.incident
            timeline = self.renderer.timeline(self.renderer.milestones(note, alert))
            if timeline:
                annotations["timeline"] = timeline
            labels = {"alertname": "KoubeiReputation", "brand": label_value(alert.brand),
                      "severity": alert.severity, "signal": label_value(alert.signal), "source": "koubei-sentinel"}
            # The brand's own labels (brands[].labels: team, region ...), for Alertmanager's routes and silences.
            labels.update({name: label_value(value) for name, value in note.labels.get(alert.key, {}).items()
                           if name not in labels and LABEL_NAME.match(name)})
            out.append({
                "labels": labels,
                "annotations": {name: text[:MAX_ANNOTATION] for name, text in annotations.items()},
                "startsAt": iso(alert.started_at, now),
                "endsAt": iso(ends, now),
                "generatorURL": incident.links.incident or self.renderer.dashboard_url(alert),
            })
        return out

    def build(self, note: Notification, now: float) -> list[HttpRequest]:
        return [HttpRequest("POST", self.endpoint(), dumps(self.alerts(note, now)),
                            {"Content-Type": "application/json"})]

    def check_body(self, body: Any) -> SendResult:
        return SendResult(Outcome.DELIVERED, "ok")
