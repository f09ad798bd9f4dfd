"""Feishu / Lark custom bot: an interactive card, signed when a secret is set."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from alerting.channels.base import Channel, HttpRequest, SendResult, SigningSecret, dumps, shrink_to_fit
from alerting.message import Notification
from alerting.render import Rendered

MAX_BODY_BYTES = 20_000


def sign(secret: str, timestamp: int) -> str:
    """Feishu's documented scheme differs from DingTalk's: the KEY is
    "<seconds>\\n<secret>" and the message is empty."""
    digest = hmac.new(f"{timestamp}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


@dataclass(frozen=True)
class FeishuOptions(SigningSecret):
    """A Feishu / Lark custom bot, signed when it has a secret."""


class Feishu(Channel[FeishuOptions]):
    type = "feishu"
    options_class = FeishuOptions
    # 100/min and 5/s per bot: the per-second limit is the binding one.
    default_rate_per_minute = 300.0
    default_burst = 5
    # 9499 "too many requests", 11232 "frequency limited" (100/min, 5/s per bot).
    throttle_codes = {9499: 1.0, 11232: 60.0}
    transient_codes = frozenset({2200})

    def payload(self, note: Notification, rendered: Rendered, budget: int, now: float) -> dict[str, Any]:
        firing = note.firing
        colour = ("red" if any(a.severity == "critical" for a in firing) else "orange") if firing else "green"
        elements: list[dict[str, Any]] = [
            {"tag": "div", "text": {"tag": "lark_md", "content": rendered.text(budget)}},
        ]
        dashboards = [self.renderer.dashboard_url(a) for a in note.alerts[:1] if self.renderer.dashboard_url(a)]
        if dashboards:
            elements.append({"tag": "action", "actions": [{
                "tag": "button", "type": "primary", "url": dashboards[0],
                "text": {"tag": "plain_text", "content": rendered.strings["dashboard"]},
            }]})
        payload: dict[str, Any] = {
            "msg_type": "interactive",
            "card": {
                "config": {"wide_screen_mode": True},
                "header": {"template": colour, "title": {"tag": "plain_text", "content": rendered.title[:200]}},
                "elements": elements,
            },
        }
        if self.options.secret is not None:
            ts = int(now)
            payload = {"timestamp": str(ts), "sign": sign(self.options.secret.reveal(), ts), **payload}
        return payload

    def build(self, note: Notification, now: float) -> list[HttpRequest]:
        rendered = self.renderer.render(note)
        _, body = shrink_to_fit(lambda budget: dumps(self.payload(note, rendered, budget, now)), MAX_BODY_BYTES)
        return [HttpRequest("POST", self.config.url.reveal(), body, {"Content-Type": "application/json"})]

    def check_body(self, body: Any) -> SendResult:
        if not isinstance(body, dict):
            return self._code_result(None, f"unexpected answer {str(body)[:100]}")
        # Older bots answer {"StatusCode": 0}, newer ones {"code": 0}.
        code = body.get("code", body.get("StatusCode"))
        return self._code_result(code, body.get("msg", body.get("StatusMessage", "")))
