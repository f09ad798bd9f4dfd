"""WeCom (企业微信) group robot: markdown, or text with mentions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from alerting.channels.base import Channel, HttpRequest, Mentions, SendResult, dumps, mention_targets
from alerting.message import Notification
from alerting.render import cut_bytes, to_plain
from streams.settings import option

MAX_MARKDOWN_BYTES = 4_096
MAX_TEXT_BYTES = 2_048


@dataclass(frozen=True)
class WeComOptions(Mentions):
    """A WeCom group robot. Markdown cannot @ a mobile number; text can."""

    msgtype: str = option("markdown", choices=("markdown", "text"),
                          help="markdown (4,096 bytes) or text (2,048 bytes; needed to @ by mobile)")


class WeCom(Channel[WeComOptions]):
    type = "wecom"
    options_class = WeComOptions
    default_rate_per_minute = 20.0
    default_burst = 20
    # 45009: API frequency out of limit (20/min per robot).
    throttle_codes = {45009: 60.0}
    transient_codes = frozenset({-1})

    def payload(self, note: Notification) -> dict[str, Any]:
        rendered = self.renderer.render(note)
        targets = mention_targets(self.options, note)
        if self.options.msgtype == "text":
            content = to_plain(rendered.text(MAX_TEXT_BYTES))
            text: dict[str, Any] = {"content": cut_bytes(content, MAX_TEXT_BYTES)}
            mobiles = list(targets.mobiles) + (["@all"] if targets.everyone else [])
            if targets.users:
                text["mentioned_list"] = list(targets.users)
            if mobiles:
                text["mentioned_mobile_list"] = mobiles
            return {"msgtype": "text", "text": text}
        # In markdown only <@userid> notifies (mobiles cannot be mentioned).
        mentions = "".join(f"<@{u}>" for u in targets.users)
        tail = f"\n\n{mentions}" if mentions else ""
        content = rendered.text(MAX_MARKDOWN_BYTES - len(tail.encode()), heading="###") + tail
        return {"msgtype": "markdown", "markdown": {"content": cut_bytes(content, MAX_MARKDOWN_BYTES)}}

    def build(self, note: Notification, now: float) -> list[HttpRequest]:
        return [HttpRequest("POST", self.config.url.reveal(), dumps(self.payload(note)), {"Content-Type": "application/json"})]

    def check_body(self, body: Any) -> SendResult:
        if not isinstance(body, dict) or "errcode" not in body:
            return self._code_result(None, f"unexpected answer {str(body)[:100]}")
        return self._code_result(body.get("errcode"), body.get("errmsg", ""))
