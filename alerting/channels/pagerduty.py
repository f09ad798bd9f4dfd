"""PagerDuty Events API v2: one event per alert, trigger and resolve with a
stable dedup_key per alert lifecycle (so a re-sent trigger is harmless)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from alerting.channels.base import Channel, ChannelOptions, HttpRequest, Outcome, SendResult, dumps
from alerting.labels import ALERT_LABELS
from alerting.message import Notification
from alerting.render import Rendered, to_plain
from alerting.render.safe import as_text, epoch, finite
from alerting.secret import UNSET, Secret, secret_from_env
from streams.models import AlertEvent
from streams.settings import option

SEVERITY = {"critical": "critical", "warning": "warning"}
MAX_SUMMARY = 1024
MAX_DEDUP_KEY = 255


MAX_FIELD = 255  # component, group, class: identifiers, kept short


def dedup_key(alert: AlertEvent) -> str:
    """One PagerDuty incident per alert lifecycle. An overlong alert key is
    hashed rather than cut, so two lifecycles never share an incident."""
    key = f"koubei/{alert.key}/{int(finite(alert.started_at))}"
    if len(key) <= MAX_DEDUP_KEY and key.isprintable():
        return key
    return "koubei/" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _terms(terms: list[Any]) -> list[list[Any]]:
    return [[as_text(t[0], 100), t[1] if isinstance(t[1], int) and not isinstance(t[1], bool) else finite(t[1])]
            for t in terms[:20] if isinstance(t, (list, tuple)) and len(t) >= 2]


@dataclass(frozen=True)
class PagerDutyOptions(ChannelOptions):
    routing_key: Secret = option(UNSET, key="routing_key_env", env_name=True, parse=secret_from_env(required=True),
                                 required=True, help="environment variable holding the integration's routing key")
    source: str = option("koubei-sentinel", help="PagerDuty payload.source")
    group_label: str = option("brand", help="the alert label (brand, or a brand label such as team) whose value "
                                            "becomes payload.group")

    def rate_limit_identity(self) -> str:
        # PagerDuty limits calls per routing key, not per URL.
        return self.routing_key.reveal()


class PagerDuty(Channel[PagerDutyOptions]):
    type = "pagerduty"
    options_class = PagerDutyOptions
    default_rate_per_minute = 120.0
    default_burst = 120
    default_url = "https://events.pagerduty.com/v2/enqueue"

    def resolve(self, alert: AlertEvent) -> dict[str, Any]:
        return {"routing_key": self.options.routing_key.reveal(), "event_action": "resolve",
                "dedup_key": dedup_key(alert)}

    def trigger(self, note: Notification, alert: AlertEvent, rendered: Rendered, now: float) -> dict[str, Any]:
        incident = rendered.of(alert)
        # One PagerDuty incident per alert lifecycle (dedup_key); each carries
        # the brand's whole incident: its signals, stories, KOLs, posts, links.
        details: dict[str, Any] = {
            "brand": as_text(alert.brand, MAX_FIELD), "brand_name": as_text(alert.brand_name, MAX_FIELD),
            "signal": as_text(alert.signal, MAX_FIELD),
            "negative_share": finite(alert.negative_share), "baseline_share": finite(alert.baseline_share),
            "window_seconds": finite(alert.window_seconds), "risk_terms": _terms(alert.risk_terms),
            **{name: incident.data[name] for name in ("signals", "stories", "kols", "posts", "links", "totals")
               if name in incident.data},
            "summary": as_text(alert.summary, 1024), "message": to_plain(incident.body())[:4000],
        }
        labels = note.labels.get(alert.key, {})
        own = {name: as_text(value, MAX_FIELD) for name, value in labels.items() if name not in ALERT_LABELS}
        if own:  # the brand's labels (brands[].labels)
            details["labels"] = own
        timeline = self.renderer.timeline(self.renderer.milestones(note, alert))
        if timeline:
            details["timeline"] = timeline
        event: dict[str, Any] = {
            "routing_key": self.options.routing_key.reveal(),
            "event_action": "trigger",
            "dedup_key": dedup_key(alert),
            "payload": {
                "summary": self.renderer.standing_title(incident.incident)[:MAX_SUMMARY],
                "source": self.options.source,
                "severity": SEVERITY[alert.severity],
                "timestamp": datetime.fromtimestamp(epoch(alert.event_time) or now, timezone.utc).isoformat(),
                "component": as_text(alert.brand, MAX_FIELD),
                "group": as_text(labels.get(self.options.group_label) or alert.brand, MAX_FIELD),
                "class": as_text(alert.signal, MAX_FIELD),
                "custom_details": details,
            },
            "client": "Koubei Sentinel",
        }
        links = [{"href": incident.links.incident, "text": rendered.strings["links"]["incident"]}] \
            if incident.links.incident else []
        dashboard = self.renderer.dashboard_url(alert)
        if dashboard:
            links.append({"href": dashboard, "text": rendered.strings["dashboard"]})
        if links:
            event["links"] = links
        return event

    def events(self, note: Notification, now: float) -> list[dict[str, Any]]:
        rendered = self.renderer.render(note)
        out: list[dict[str, Any]] = []
        for alert in note.alerts:
            if alert.state == "firing":
                out.append(self.trigger(note, alert, rendered, now))
                continue
            if any(m.kind == "fired" for m in self.renderer.milestones(note, alert)):
                # PagerDuty never heard this incident open (an outage): open it
                # with the whole story, then resolve it, so it is on record.
                out.append(self.trigger(note, alert, rendered, now))
            out.append(self.resolve(alert))
        return out

    def build(self, note: Notification, now: float) -> list[HttpRequest]:
        return [HttpRequest("POST", self.config.url.reveal(), dumps(event), {"Content-Type": "application/json"})
                for event in self.events(note, now)]

    def check_body(self, body: Any) -> SendResult:
        if isinstance(body, dict) and body.get("status") == "success":
            return SendResult(Outcome.DELIVERED, "ok")
        return SendResult(Outcome.PERMANENT, f"unexpected answer {str(body)[:200]}")
