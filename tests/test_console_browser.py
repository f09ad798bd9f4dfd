"""End to end in a real headless Chromium: `koubei console` over the embedded
broker with a crisis on it; log in, open the incident from the overview,
silence it for an hour through the confirmation page, see the silence on
the page, screenshot; then arrive from a chat message (another site) with
the session kept, and acknowledge through a signed link."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from cdp import Browser, find_chromium, safe_js  # noqa: E402
from console_support import (  # noqa: E402
    LINK_SECRET,
    TOKEN,
    console_config,
    free_port,
    now_start,
    publish_crisis,
    start_console,
    stop_console,
    write_config_file,
)

from alerting.console.links import signed_action_url  # noqa: E402
from streams import topics  # noqa: E402
from streams.kafka import BrokerQuirks, read_topic  # noqa: E402

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def chromium() -> str:
    path, why = find_chromium()
    if path is None:
        pytest.skip(why)
    return path


def test_silence_an_incident_in_a_real_browser(chromium: str, tmp_path: Path, kafka_url: str, kafka_bootstrap: str,
                                               broker_quirks: BrokerQuirks, topic_prefix: str) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = console_config(kafka_url, topic_prefix, broker_quirks, public_url=base)
    ref = publish_crisis(config, kafka_bootstrap, broker_quirks, now_start())
    cfg = write_config_file(tmp_path / "koubei.yaml", kafka_url, topic_prefix, broker_quirks, public_url=base)
    started = time.monotonic()
    proc = start_console(cfg, port, tmp_path / "console.log")
    try:
        asyncio.run(_drive(chromium, tmp_path, base, ref))
    finally:
        stop_console(proc)
    silences = [json.loads(r.value) for r in read_topic(kafka_bootstrap, config.topic(topics.SILENCES))]
    assert [(s["matchers"], s["ends_at"] - s["starts_at"]) for s in silences] == [({"brand": ["acme"]}, 3600)]
    [ack] = [json.loads(r.value) for r in read_topic(kafka_bootstrap, config.topic(topics.ACKS))]
    assert ack["incident"] == ref and ack["by"] == "王经理"
    assert time.monotonic() - started < 60  # the brief's budget is ~30 s; leave room on a loaded machine


async def _drive(chromium: str, tmp_path: Path, base: str, ref: str) -> None:
    profile = tmp_path / "profile"
    profile.mkdir()
    async with Browser(chromium, profile) as browser:
        # The overview asks for a login first (reading needs one by default).
        await browser.goto(base + "/")
        await browser.wait_for("document.querySelector('#token') !== null")
        await browser.evaluate(f"document.querySelector('#token').value = {safe_js(TOKEN)};"
                               f"document.querySelector('#name').value = {safe_js('王经理')}")
        await browser.click("#login-submit")
        await browser.wait_for("document.querySelector('tr[data-brand=acme]') !== null")
        assert "品牌概览" in await browser.text()
        # Overview -> the brand's open incidents -> the incident.
        await browser.click("tr[data-brand=acme] a[href*='state=open']")
        await browser.click(f"tr[data-id={safe_js(ref)}] a")
        await browser.wait_for("document.querySelector('#why') !== null")
        assert "为什么告警" in await browser.text()
        # Silence 1 h: a confirmation page says what will happen, its button does it.
        await browser.click("#action-silence-1h")
        await browser.wait_for("document.querySelector('#confirm') !== null")
        assert "1 小时" in await browser.evaluate("document.querySelector('#what').innerText")
        await browser.click("#confirm")
        await browser.wait_for("document.querySelector('li.silence') !== null")
        body = await browser.text()
        assert "静默中" in body and "已静默「艾克美」" in body and "王经理" in body
        png = await browser.screenshot(tmp_path / "incident-silenced.png")
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000

        # From a chat message: another site links here. SameSite=Strict cookies are not sent on
        # that first request; the page reloads itself from this site and the login is kept.
        link = signed_action_url(base, LINK_SECRET, "ack", ref, time.time() + 600)
        chat = (f"data:text/html;charset=utf-8,<a id=open href='{base}/incidents/{ref}'>open</a>"
                f"<a id=ack href='{link}'>ack</a>")
        await browser.goto(chat)
        await browser.click("#open")
        await browser.wait_for("document.querySelector('#why') !== null")
        assert "已登录：王经理" in await browser.text()
        await browser.goto(chat)
        await browser.click("#ack")
        await browser.wait_for("document.querySelector('#confirm') !== null")
        assert "标记为已确认" in await browser.text()
        await browser.click("#confirm")
        await browser.wait_for("document.querySelector('.ack') !== null")
        assert "王经理 于" in await browser.text()
        await browser.screenshot(tmp_path / "incident-acknowledged.png")
