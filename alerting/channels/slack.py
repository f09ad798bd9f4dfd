"""Slack incoming webhook: Block Kit with a plain-text fallback."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from alerting.channels.base import Channel, ChannelOptions, HttpRequest, Outcome, SendResult, dumps, mention_targets
from alerting.message import Notification
from alerting.render import to_plain, to_slack_mrkdwn

MAX_SECTION_CHARS = 3_000
MAX_BLOCKS = 50
MAX_HEADER_CHARS = 150
FALLBACK_CHARS = 3_000


def _cut(text: str, limit: int) -> str:
    """At most ``limit`` characters as Slack counts them (UTF-16 code units:
    an emoji outside the BMP counts twice)."""
    units = 0
    for i, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            keep, room = [], limit - 1
            for c in text[:i]:
                room -= 2 if ord(c) > 0xFFFF else 1
                if room < 0:
                    break
                keep.append(c)
            return "".join(keep) + "…"
    return text


@dataclass(frozen=True)
class SlackOptions(ChannelOptions):
    """A Slack incoming webhook has no options of its own."""


class Slack(Channel[SlackOptions]):
    type = "slack"
    options_class = SlackOptions
    default_rate_per_minute = 60.0
    default_burst = 1

    def payload(self, note: Notification) -> dict[str, Any]:
        rendered = self.renderer.render(note)
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": _cut(rendered.title, MAX_HEADER_CHARS)}},
        ]
        targets = mention_targets(self.options, note)
        # Slack notifies <@member id>s and, for everyone, <!channel>; mobiles mean nothing there.
        mentions = " ".join([f"<@{u}>" for u in targets.users] + (["<!channel>"] if targets.everyone else []))
        room = MAX_BLOCKS - 2 - (1 if mentions else 0)  # header, a possible "... N more" note, the mentions
        if len(rendered.incidents) == 1:
            # One incident: a section per paragraph (why, stories, accounts, posts, links).
            texts = [p for _, p in rendered.incidents[0].paragraphs] or [rendered.incidents[0].title]
            omitted = 0
        else:
            texts = rendered.sections
            omitted = max(0, len(texts) - room)
        for text in texts[:room]:
            blocks.append({"type": "section",
                           "text": {"type": "mrkdwn", "text": _cut(to_slack_mrkdwn(text), MAX_SECTION_CHARS)}})
        if omitted:
            blocks.append({"type": "context", "elements": [
                {"type": "mrkdwn", "text": rendered.more.safe_substitute(count=omitted)}]})
        if mentions:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": mentions}})
        fallback = _cut(to_plain(rendered.text()), FALLBACK_CHARS)
        return {"text": fallback, "blocks": blocks}

    def build(self, note: Notification, now: float) -> list[HttpRequest]:
        return [HttpRequest("POST", self.config.url.reveal(), dumps(self.payload(note)), {"Content-Type": "application/json"})]

    def check_body(self, body: Any) -> SendResult:
        # Slack answers 200 with the plain text "ok".
        if body == "ok" or body is None:
            return SendResult(Outcome.DELIVERED, "ok")
        if body == "rate_limited":
            return SendResult(Outcome.RETRY, "rate_limited", 1.0, True)
        return SendResult(Outcome.PERMANENT, f"rejected: {str(body)[:200]}")
