"""WeCom (企业微信) group robot: markdown, or text with mentions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from alerting.channels.base import Channel, HttpRequest, Mentions, SendResult, dumps
from alerting.message import Notification
from alerting.render import cut_bytes, to_plain
from streams.settings import option

MAX_MARKDOWN_BYTES = 4_096
MAX_TEXT_BYTES = 2_048
MAX_TITLE_BYTES = 512  # text mode: a group's title lists its brands; keep room for the alerts


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
        cfg = self.options
        title = cut_bytes(rendered.title, MAX_TITLE_BYTES)
        if cfg.msgtype == "text":
            limit = MAX_TEXT_BYTES - len(title.encode()) - 2
            content = title + "\n\n" + to_plain(rendered.text(limit))
            text: dict[str, Any] = {"content": cut_bytes(content, MAX_TEXT_BYTES)}
            mobiles = list(cfg.mention_mobiles) + (["@all"] if cfg.mention_all else [])
            if cfg.mention_users:
                text["mentioned_list"] = list(cfg.mention_users)
            if mobiles:
                text["mentioned_mobile_list"] = mobiles
            return {"msgtype": "text", "text": text}
        # In markdown only <@userid> notifies (mobiles cannot be mentioned).
        mentions = "".join(f"<@{u}>" for u in cfg.mention_users)
        tail = f"\n\n{mentions}" if mentions else ""
        # A single alert's section starts with its own title; a group needs one.
        header = f"### {rendered.title}" if len(note.alerts) > 1 else ""
        prefix = f"{header}\n\n" if header else ""
        budget = MAX_MARKDOWN_BYTES - len(prefix.encode()) - len(tail.encode())
        content = f"{prefix}{rendered.text(budget)}{tail}"
        return {"msgtype": "markdown", "markdown": {"content": cut_bytes(content, MAX_MARKDOWN_BYTES)}}

    def build(self, note: Notification, now: float) -> list[HttpRequest]:
        return [HttpRequest("POST", self.config.url.reveal(), dumps(self.payload(note)), {"Content-Type": "application/json"})]

    def check_body(self, body: Any) -> SendResult:
        if not isinstance(body, dict) or "errcode" not in body:
            return self._code_result(None, f"unexpected answer {str(body)[:100]}")
        return self._code_result(body.get("errcode"), body.get("errmsg", ""))
