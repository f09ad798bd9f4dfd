"""One module per platform; each only knows how to render and send.

Whether to send, when, and how often to retry is decided by the policy
stages and the notifier (like Alertmanager's receivers).
"""

from __future__ import annotations

from alerting.channels.base import Channel, HttpRequest, Outcome, SendResult
from alerting.config import ChannelConfig
from alerting.render import Renderer


def make_channel(config: ChannelConfig, renderer: Renderer) -> Channel:
    from alerting.channels import alertmanager, dingtalk, feishu, pagerduty, slack, webhook, wecom

    kinds: dict[str, type[Channel]] = {
        "dingtalk": dingtalk.DingTalk, "wecom": wecom.WeCom, "feishu": feishu.Feishu, "slack": slack.Slack,
        "pagerduty": pagerduty.PagerDuty, "alertmanager": alertmanager.Alertmanager, "webhook": webhook.Webhook,
    }
    return kinds[config.type](config, renderer)


__all__ = ["Channel", "HttpRequest", "Outcome", "SendResult", "make_channel"]
