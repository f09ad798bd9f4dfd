"""Feishu / Lark custom bot: an interactive card, signed when a secret is set."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from alerting.channels.base import (
    Channel,
    HttpRequest,
    SendResult,
    SigningSecret,
    dumps,
    mention_targets,
    shrink_to_fit,
)
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
        targets = mention_targets(self.options, note)
        # Feishu notifies the open_ids named in <at> tags (mobiles cannot be mentioned by a bot).
        ats = "".join(f"<at id={u}></at>" for u in targets.users) + ("<at id=all></at>" if targets.everyone else "")
        elements: list[dict[str, Any]] = [
            # The card's header shows the title; one incident's links are buttons.
            {"tag": "div", "text": {"tag": "lark_md", "content": rendered.text(max(64, budget - len(ats.encode())), heading="")}},
        ]
        if ats:
            elements.append({"tag": "div", "text": {"tag": "lark_md", "content": ats}})
        if len(rendered.incidents) == 1:
            one = rendered.incidents[0]
            words = rendered.strings["links"]
            buttons = [(words["incident"], one.links.incident, "primary")]
            if one.incident.firing:
                buttons += [(words["silence_1h"], one.links.silence_1h, "default"),
                            (words["acknowledge"], one.links.acknowledge, "default")]
            buttons.append((rendered.strings["dashboard"], one.dashboard_url, "default"))
            actions = [{"tag": "button", "type": kind, "url": link, "text": {"tag": "plain_text", "content": text}}
                       for text, link, kind in buttons if link]
            if actions:
                elements.append({"tag": "action", "actions": actions})
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
        # One incident: links as buttons, not in the text; several: each incident's links in its text.
        rendered = self.renderer.render(note, inline_links=len({a.brand for a in note.alerts}) > 1)
        _, body = shrink_to_fit(lambda budget: dumps(self.payload(note, rendered, budget, now)), MAX_BODY_BYTES)
        return [HttpRequest("POST", self.config.url.reveal(), body, {"Content-Type": "application/json"})]

    def check_body(self, body: Any) -> SendResult:
        if not isinstance(body, dict):
            return self._code_result(None, f"unexpected answer {str(body)[:100]}")
        # Older bots answer {"StatusCode": 0}, newer ones {"code": 0}.
        code = body.get("code", body.get("StatusCode"))
        return self._code_result(code, body.get("msg", body.get("StatusMessage", "")))
