"""DingTalk custom robot: markdown with @-mentions, signed when a secret is set."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

from alerting.channels.base import (
    Channel,
    HttpRequest,
    Mentions,
    SendResult,
    SigningSecret,
    dumps,
    mention_targets,
    shrink_to_fit,
)
from alerting.message import Notification
from alerting.render import Rendered

MAX_BODY_BYTES = 20_000


def sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's documented scheme: base64(HMAC-SHA256(key=secret,
    msg="<ms>\\n<secret>")), URL-encoded."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest).decode())


@dataclass(frozen=True)
class DingTalkOptions(SigningSecret, Mentions):
    """A DingTalk robot: signed with its 加签 secret, mentions by mobile or user id."""


class DingTalk(Channel[DingTalkOptions]):
    type = "dingtalk"
    options_class = DingTalkOptions
    default_rate_per_minute = 20.0
    default_burst = 20
    # 130101: "send too fast"; the robot is then muted for 10 minutes.
    throttle_codes = {130101: 600.0}
    transient_codes = frozenset({-1})

    def signed_url(self, now: float) -> str:
        url = self.config.url.reveal()
        if self.options.secret is None:
            return url
        ms = int(now * 1000)
        sep = "&" if "?" in url else "?"
        return f"{url}{sep}timestamp={ms}&sign={sign(self.options.secret.reveal(), ms)}"

    def payload(self, note: Notification, rendered: Rendered, budget: int) -> dict[str, Any]:
        targets = mention_targets(self.options, note)
        # DingTalk only notifies someone whose @mobile (or @userId) appears in the text.
        mentions = " ".join([f"@{m}" for m in targets.mobiles] + [f"@{u}" for u in targets.users])
        tail = f"\n\n{mentions}" if mentions else ""
        text = rendered.text(max(64, budget - len(tail.encode())), heading="###")
        return {
            "msgtype": "markdown",
            "markdown": {"title": rendered.title[:64], "text": text + tail},
            "at": {"atMobiles": list(targets.mobiles), "atUserIds": list(targets.users),
                   "isAtAll": targets.everyone},
        }

    def build(self, note: Notification, now: float) -> list[HttpRequest]:
        rendered = self.renderer.render(note)
        _, body = shrink_to_fit(lambda budget: dumps(self.payload(note, rendered, budget)), MAX_BODY_BYTES)
        return [HttpRequest("POST", self.signed_url(now), body, {"Content-Type": "application/json"})]

    def check_body(self, body: Any) -> SendResult:
        if not isinstance(body, dict) or "errcode" not in body:
            return self._code_result(None, f"unexpected answer {str(body)[:100]}")
        return self._code_result(body.get("errcode"), body.get("errmsg", ""))
