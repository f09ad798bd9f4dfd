"""Generic webhook: the alerts as JSON, signed with HMAC-SHA256.

Signature (docs/alerting.md): ``X-Koubei-Signature: sha256=<hex>`` where
hex = HMAC-SHA256(key=secret, msg=f"{X-Koubei-Timestamp}.".encode() + body).
The timestamp (unix seconds) is inside the signed bytes, so a receiver that
rejects timestamps older than 5 minutes rejects replays. ``X-Koubei-Delivery``
is the notification id: the same on a re-delivery, so receivers can dedup.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from alerting.channels.base import Channel, HttpRequest, Outcome, SendResult, SigningSecret, dumps
from alerting.episode import episode_id
from alerting.message import Notification, alert_fields
from alerting.render.safe import json_safe
from streams.models import AlertEvent

SCHEMA_VERSION = "1"
# No platform limit applies; receivers commonly accept 1 MB.
MAX_BODY_BYTES = 1_000_000
MAX_STRING = 4_000
MAX_ITEMS = 100


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, timestamp: str, body: bytes, header: str, now: float, max_age: float = 300.0) -> bool:
    """What a receiver does (also used by our tests' fake receiver)."""
    try:
        age = now - int(timestamp)
    except ValueError:
        return False
    if abs(age) > max_age:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), header)


@dataclass(frozen=True)
class WebhookOptions(SigningSecret):
    """A generic JSON webhook, HMAC-signed when it has a secret."""


class Webhook(Channel[WebhookOptions]):
    type = "webhook"
    options_class = WebhookOptions
    default_rate_per_minute = 3000.0
    default_burst = 50

    def payload(self, note: Notification, note_id: str, shown: int | None = None) -> dict[str, Any]:
        rendered = self.renderer.render(note)
        alerts = note.alerts if shown is None else note.alerts[:shown]
        out = {
            "version": SCHEMA_VERSION,
            "id": note_id,
            "kind": note.kind,
            "channel": note.channel,
            "group_key": note.group_key,
            "group_labels": note.group_labels,
            "status": "firing" if note.firing else "resolved",
            "title": rendered.title,
            "text": rendered.text(),
            "language": self.renderer.language,
            # The message's incidents as data: signals, stories, KOLs, posts, links (docs/alerting.md).
            "incidents": [json_safe(r.data, max_string=MAX_STRING, max_items=MAX_ITEMS)
                          for r in rendered.incidents[:MAX_ITEMS]],
            "alerts": [self.alert(note, a) for a in alerts],
        }
        if note.mentions:
            out["mentions"] = json_safe(note.mentions, max_string=MAX_STRING, max_items=MAX_ITEMS)
        if len(alerts) < len(note.alerts):
            out["alerts_omitted"] = len(note.alerts) - len(alerts)
        return out

    def alert(self, note: Notification, alert: AlertEvent) -> dict[str, Any]:
        # Evidence is the detector's and the posts': bounded here so that one
        # odd record cannot make a body no receiver accepts.
        out = json_safe(alert_fields(alert), max_string=MAX_STRING, max_items=MAX_ITEMS)
        out["dashboard_url"] = self.renderer.dashboard_url(alert)
        missed = note.timelines.get(episode_id(alert))
        if missed:  # what the receiver missed before this update (an outage): [{kind, at, severity, sequence}]
            out["timeline"] = missed
        return dict(out)

    def body(self, note: Notification, note_id: str) -> bytes:
        """At most MAX_BODY_BYTES: alerts that do not fit are counted in ``alerts_omitted``."""
        body = dumps(self.payload(note, note_id))
        shown = len(note.alerts)
        while len(body) > MAX_BODY_BYTES and shown > 1:
            shown = max(1, min(shown - 1, int(shown * MAX_BODY_BYTES / len(body))))
            body = dumps(self.payload(note, note_id, shown))
        return body

    def build(self, note: Notification, now: float) -> list[HttpRequest]:
        note_id = note.id
        body = self.body(note, note_id)
        ts = str(int(now))
        headers = {"Content-Type": "application/json", "User-Agent": "koubei-sentinel",
                   "X-Koubei-Timestamp": ts, "X-Koubei-Delivery": note_id}
        if self.options.secret is not None:
            headers["X-Koubei-Signature"] = signature(self.options.secret.reveal(), ts, body)
        return [HttpRequest("POST", self.config.url.reveal(), body, headers)]

    def check_body(self, body: Any) -> SendResult:
        return SendResult(Outcome.DELIVERED, "ok")
