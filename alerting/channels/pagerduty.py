"""PagerDuty Events API v2: one event per alert, trigger and resolve with a
stable dedup_key per alert lifecycle (so a re-sent trigger is harmless)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from alerting.channels.base import Channel, ChannelOptions, HttpRequest, Outcome, SendResult, dumps
from alerting.episode import episode_id
from alerting.message import Notification
from alerting.render import Rendered, to_plain
from alerting.secret import UNSET, Secret, secret_from_env
from streams.models import AlertEvent
from streams.settings import option

SEVERITY = {"critical": "critical", "warning": "warning"}
MAX_SUMMARY = 1024
MAX_DEDUP_KEY = 255


def dedup_key(alert: AlertEvent) -> str:
    return f"koubei/{alert.key}/{int(alert.started_at)}"[:MAX_DEDUP_KEY]


@dataclass(frozen=True)
class PagerDutyOptions(ChannelOptions):
    routing_key: Secret = option(UNSET, key="routing_key_env", env_name=True, parse=secret_from_env(required=True),
                                 required=True, help="environment variable holding the integration's routing key")
    source: str = option("koubei-sentinel", help="PagerDuty payload.source")

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

    def trigger(self, note: Notification, alert: AlertEvent, rendered: Rendered, index: int) -> dict[str, Any]:
        single = Notification(self.name, "", {}, [alert], "new", alert.event_time,
                              timelines={k: v for k, v in note.timelines.items() if k == episode_id(alert)})
        title = self.renderer.title(single)
        details: dict[str, Any] = {
            "brand": alert.brand, "signal": alert.signal, "negative_share": alert.negative_share,
            "baseline_share": alert.baseline_share, "negative_posts": alert.negative, "posts": alert.total,
            "volume_change": alert.volume_change, "window_seconds": alert.window_seconds,
            "risk_terms": alert.risk_terms, "top_posts": alert.top_posts[:3], "summary": alert.summary,
            "message": to_plain(rendered.sections[index])[:4000],
        }
        timeline = self.renderer.timeline(self.renderer.milestones(note, alert))
        if timeline:
            details["timeline"] = timeline
        event: dict[str, Any] = {
            "routing_key": self.options.routing_key.reveal(),
            "event_action": "trigger",
            "dedup_key": dedup_key(alert),
            "payload": {
                "summary": title[:MAX_SUMMARY],
                "source": self.options.source,
                "severity": SEVERITY[alert.severity],
                "timestamp": datetime.fromtimestamp(alert.event_time, timezone.utc).isoformat(),
                "component": alert.brand,
                "group": alert.brand,
                "class": alert.signal,
                "custom_details": details,
            },
            "client": "Koubei Sentinel",
        }
        url = self.renderer.dashboard_url(alert)
        if url:
            event["links"] = [{"href": url, "text": rendered.strings["dashboard"]}]
        return event

    def events(self, note: Notification) -> list[dict[str, Any]]:
        rendered = self.renderer.render(note)
        out: list[dict[str, Any]] = []
        for i, alert in enumerate(note.alerts):
            if alert.state == "firing":
                out.append(self.trigger(note, alert, rendered, i))
                continue
            if any(m.kind == "fired" for m in self.renderer.milestones(note, alert)):
                # PagerDuty never heard this incident open (an outage): open
                # it with the whole story, then resolve it, so it is on record.
                out.append(self.trigger(note, alert, rendered, i))
            out.append(self.resolve(alert))
        return out

    def build(self, note: Notification, now: float) -> list[HttpRequest]:
        return [HttpRequest("POST", self.config.url.reveal(), dumps(event), {"Content-Type": "application/json"})
                for event in self.events(note)]

    def check_body(self, body: Any) -> SendResult:
        if isinstance(body, dict) and body.get("status") == "success":
            return SendResult(Outcome.DELIVERED, "ok")
        return SendResult(Outcome.PERMANENT, f"unexpected answer {str(body)[:200]}")
