"""PagerDuty Events API v2: one event per alert, trigger and resolve with a
stable dedup_key per alert lifecycle (so a re-sent trigger is harmless)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from alerting.channels.base import Channel, ChannelOptions, HttpRequest, Outcome, SendResult, dumps
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

    def event(self, alert: AlertEvent, rendered: Rendered, index: int) -> dict[str, Any]:
        key = dedup_key(alert)
        if alert.state == "resolved":
            return {"routing_key": self.options.routing_key.reveal(), "event_action": "resolve", "dedup_key": key}
        title = self.renderer.title(Notification(self.name, "", {}, [alert], "new", alert.event_time))
        details = {
            "brand": alert.brand, "signal": alert.signal, "negative_share": alert.negative_share,
            "baseline_share": alert.baseline_share, "negative_posts": alert.negative, "posts": alert.total,
            "volume_change": alert.volume_change, "window_seconds": alert.window_seconds,
            "risk_terms": alert.risk_terms, "top_posts": alert.top_posts[:3], "summary": alert.summary,
            "message": to_plain(rendered.sections[index])[:4000],
        }
        event: dict[str, Any] = {
            "routing_key": self.options.routing_key.reveal(),
            "event_action": "trigger",
            "dedup_key": key,
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

    def build(self, note: Notification, now: float) -> list[HttpRequest]:
        rendered = self.renderer.render(note)
        return [HttpRequest("POST", self.config.url.reveal(), dumps(self.event(a, rendered, i)),
                            {"Content-Type": "application/json"})
                for i, a in enumerate(note.alerts)]

    def check_body(self, body: Any) -> SendResult:
        if isinstance(body, dict) and body.get("status") == "success":
            return SendResult(Outcome.DELIVERED, "ok")
        return SendResult(Outcome.PERMANENT, f"unexpected answer {str(body)[:200]}")
