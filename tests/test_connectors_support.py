"""Shared helpers for the connector tests, and tests of the runtime's plain parts.

Every source in these tests is a real HTTP server on 127.0.0.1 (aiohttp)
speaking the source's protocol; every post is read back from a real broker.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from prometheus_client import REGISTRY

from connectors._html import html_to_text
from connectors._policy import Backoff, RecentIds, TokenBucket, parse_retry_after
from connectors._state import StateError, StateStore
from connectors.config import ConnectorsConfig, parse_connectors
from connectors.mastodon import SseParser
from connectors.runtime import KafkaTarget, run_connector
from connectors.spec import ConnectorSpec
from streams.gate import Gate
from streams.kafka import BrokerQuirks, read_topic

# ---------------------------------------------------------------- helpers


def connectors_config(raw: Mapping[str, Any], state_dir: Path, environ: Mapping[str, str] | None = None) -> ConnectorsConfig:
    return parse_connectors({"state_dir": str(state_dir), **raw}, "connectors", environ=environ or {})


def kafka_target(bootstrap: str, quirks: BrokerQuirks, prefix: str) -> KafkaTarget:
    return KafkaTarget(bootstrap, quirks, prefix, partitions=2)


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def posts_in(bootstrap: str, topic: str) -> list[tuple[str, dict[str, Any], int]]:
    """(key, post, timestamp_ms) of every record in the topic."""
    return [(r.key.decode(), json.loads(r.value), r.timestamp) for r in read_topic(bootstrap, topic, timeout=3.0)]


def dead_in(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    return [json.loads(r.value) for r in read_topic(bootstrap, topic, timeout=3.0)]


async def run_until(spec: ConnectorSpec[object], config: ConnectorsConfig, target: KafkaTarget,
                    done: Callable[[], bool], *, environ: Mapping[str, str] | None = None,
                    timeout: float = 30.0, after_start: Callable[[Any], Awaitable[None] | None] | None = None,
                    gate: Gate | None = None) -> None:
    """Run a connector until ``done()`` holds, then stop it the way SIGTERM does."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_connector(spec, config, target, stop=stop, environ=environ or {},
                                             on_started=after_start, gate=gate))
    deadline = time.monotonic() + timeout
    while not done():
        if task.done():
            task.result()
            raise AssertionError("connector ended before the condition held")
        if time.monotonic() > deadline:
            stop.set()
            await asyncio.gather(task, return_exceptions=True)
            raise AssertionError("condition not reached before the timeout")
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(task, timeout=30)


def checkpoints(name: str) -> float:
    return metric("koubei_connector_checkpoints_total", connector=name)


@asynccontextmanager
async def local_server(app: web.Application) -> Any:
    """Serve ``app`` on 127.0.0.1 with a free port; yields the base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def iso(ts: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ts, timezone.utc).isoformat()


# ---------------------------------------------------------------- plain-part tests


def test_token_bucket_spaces_requests_after_the_burst() -> None:
    bucket = TokenBucket(rate=2.0, burst=2)
    assert bucket.wait_time(100.0) == 0.0
    bucket.take(100.0)
    bucket.take(100.0)
    assert bucket.wait_time(100.0) == pytest.approx(0.5)
    assert bucket.wait_time(100.25) == pytest.approx(0.25)
    assert bucket.wait_time(100.5) == 0.0


def test_token_bucket_zero_rate_is_unlimited() -> None:
    bucket = TokenBucket(rate=0.0)
    for _ in range(100):
        bucket.take(1.0)
    assert bucket.wait_time(1.0) == 0.0


def test_backoff_grows_is_capped_and_resets() -> None:
    backoff = Backoff(base=1.0, cap=8.0, rng=random.Random(7))
    delays = [backoff.failure() for _ in range(6)]
    ceilings = [1, 2, 4, 8, 8, 8]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert ceiling / 2 <= delay <= ceiling
    backoff.success()
    assert backoff.failure() <= 1.0


def test_backoff_never_retries_before_retry_after() -> None:
    backoff = Backoff(base=1.0, cap=2.0, rng=random.Random(1))
    assert backoff.failure(retry_after=30.0) == 30.0


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("7", now_wall=0.0) == 7.0
    now = 1_700_000_000.0
    assert parse_retry_after("Tue, 14 Nov 2023 22:13:40 GMT", now_wall=now) == pytest.approx(20.0)
    assert parse_retry_after("Tue, 14 Nov 2023 22:00:00 GMT", now_wall=now) == 0.0
    assert parse_retry_after("soon", now_wall=now) is None
    assert parse_retry_after(None, now_wall=now) is None
    assert parse_retry_after("999999", now_wall=now) == 3600.0


def test_recent_ids_forgets_the_oldest() -> None:
    ids = RecentIds(3, ["a", "b"])
    assert not ids.add("a")
    assert ids.add("c") and ids.add("d")
    assert "b" not in ids and ids.to_list() == ["a", "c", "d"]


def test_html_to_text_keeps_what_a_reader_sees() -> None:
    html = ('<p>质量<b>太差</b>了&amp;退款难</p><p>第二段<br>换行</p>'
            '<script>alert(1)</script><a href="https://x">#品牌</a>')
    assert html_to_text(html) == "质量太差了&退款难\n\n第二段\n换行\n#品牌"
    assert html_to_text("价格<100 元") == "价格<100 元"


def test_sse_parser_follows_the_event_stream_rules() -> None:
    parser = SseParser()
    lines = [":thump", "event: update", "id: 41", "data: {\"a\":", "data: 1}", "", "retry: 1500",
             "event: delete", "data:7", "", "", "data: x"]
    events = [e for e in (parser.feed_line(line) for line in lines) if e is not None]
    assert [(e.event, e.data, e.id) for e in events] == [("update", '{"a":\n1}', "41"), ("delete", "7", "41")]
    assert parser.retry_ms == 1500 and parser.last_event_id == "41"


def test_state_store_round_trip_and_lock(tmp_path: Path) -> None:
    store = StateStore(tmp_path, "news", "rss")
    assert store.load() == {}
    store.lock()
    try:
        with pytest.raises(StateError, match="already running"):
            StateStore(tmp_path, "news", "rss").lock()
        store.save({"seen": ["a"], "feeds": {}})
        assert store.load() == {"seen": ["a"], "feeds": {}}
        assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    finally:
        store.close()
    with pytest.raises(StateError, match="belongs to a 'rss' connector"):
        StateStore(tmp_path, "news", "weibo").load()


def test_state_store_refuses_a_corrupt_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "news.json").write_text('{"state": ', encoding="utf-8")
    with pytest.raises(StateError, match="delete it"):
        StateStore(tmp_path, "news", "rss").load()
