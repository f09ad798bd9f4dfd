"""HTTP ingest: real HTTP requests to the endpoint, posts read back from the broker."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from streams.broker import free_port
from streams.kafka import BrokerQuirks
from tests.test_connectors_support import connectors_config, dead_in, iso, kafka_target, metric, posts_in, run_until

pytestmark = pytest.mark.integration
TOKEN = "ingest-secret-7f3a"
REPO = Path(__file__).resolve().parent.parent


def post(i: int, **extra: Any) -> dict[str, Any]:
    record = {"source": "crawler", "id": f"p{i}", "text": f"某品牌 第{i}条", "created_at": iso(1_790_000_000 + i),
              "author": {"id": f"u{i}", "name": "网友", "followers": 10 * i}}
    record.update(extra)
    return record


def test_ingest_accepts_json_arrays_and_ndjson_and_dead_letters_bad_records(
        kafka_bootstrap: str, broker_quirks: BrokerQuirks, topic_prefix: str, tmp_path: Path) -> None:
    name = f"in{topic_prefix}"
    config = connectors_config({name: {"type": "http_ingest", "listen": "127.0.0.1:0", "token_env": "INGEST_TOKEN",
                                       "max_body_bytes": 4096, "max_records": 5}}, tmp_path)
    target = kafka_target(kafka_bootstrap, broker_quirks, topic_prefix)
    answers: dict[str, tuple[int, Any]] = {}
    seen_in_kafka_at_202: list[str] = []
    finished = asyncio.Event()

    async def client(connector: Any) -> None:
        await connector.ready.wait()
        url = f"http://127.0.0.1:{connector.port}/ingest"
        auth = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(timeout=10) as http:
            async def send(label: str, content: bytes, headers: dict[str, str]) -> None:
                response = await http.post(url, content=content, headers=headers)
                body = response.json() if response.headers.get("content-type", "").startswith("application/json") \
                    else response.text
                answers[label] = (response.status_code, body)

            await send("no_token", json.dumps(post(0)).encode(), {})
            await send("wrong_token", json.dumps(post(0)).encode(), {"Authorization": "Bearer nope"})
            await send("one", json.dumps(post(1)).encode(), {**auth, "Content-Type": "application/json"})
            array = [post(2), {"source": "crawler", "id": "p3", "text": "没有作者", "created_at": iso(1_790_000_003)},
                     post(4)]
            await send("array", json.dumps(array).encode(), {**auth, "Content-Type": "application/json"})
            seen_in_kafka_at_202.extend(
                k for k, _, _ in await asyncio.to_thread(posts_in, kafka_bootstrap, target.posts_topic))
            ndjson = "\n".join([json.dumps(post(5)), "{broken", json.dumps(post(6, created_at="2999-01-01T00:00:00"))])
            await send("ndjson", ndjson.encode(), {**auth, "Content-Type": "application/x-ndjson"})
            await send("too_big", b"[" + b" " * 5000 + b"]", {**auth, "Content-Type": "application/json"})
            await send("too_many", json.dumps([post(i) for i in range(10, 16)]).encode(), auth)
            await send("not_utf8", b"\xff\xfe{}", auth)
            await send("empty", b"  ", auth)
        finished.set()

    async def scenario() -> None:
        await run_until(config.get(name), config, target, finished.is_set, environ={"INGEST_TOKEN": TOKEN},
                        after_start=lambda connector: _background(client(connector)))

    asyncio.run(scenario())
    assert answers["no_token"][0] == 401 and answers["wrong_token"][0] == 401
    assert answers["one"] == (202, {"accepted": 1, "rejected": 0, "errors": []})
    status, body = answers["array"]
    assert status == 202 and (body["accepted"], body["rejected"]) == (2, 1)
    assert body["errors"] == [{"index": 1, "reason": "missing_field", "error": "author: required field is missing"}]
    # 202 is only sent once Kafka confirmed the posts.
    assert {"crawler:p1", "crawler:p2", "crawler:p4"} <= set(seen_in_kafka_at_202)
    status, body = answers["ndjson"]
    assert status == 202 and (body["accepted"], body["rejected"]) == (1, 2)
    assert [e["reason"] for e in body["errors"]] == ["malformed_json", "future_time"]
    assert answers["too_big"][0] == 413 and answers["too_many"][0] == 413
    assert answers["not_utf8"][0] == 415 and answers["empty"][0] == 400

    posts = posts_in(kafka_bootstrap, target.posts_topic)
    assert sorted(k for k, _, _ in posts) == ["crawler:p1", "crawler:p2", "crawler:p4", "crawler:p5"]
    assert all(ts == 1_790_000_000_000 + int(k[-1]) * 1000 for k, _, ts in posts)
    dead = dead_in(kafka_bootstrap, target.dead_topic)
    assert sorted(d["reason"] for d in dead) == ["future_time", "malformed_json", "missing_field"]
    assert any(d.get("original_text") == "{broken" for d in dead)
    assert metric("koubei_connector_errors_total", connector=name, kind="unauthorised") == 2
    assert metric("koubei_connector_posts_fetched_total", connector=name) == 4


def _background(coro: Any) -> None:
    task = asyncio.get_running_loop().create_task(coro)
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)


_TASKS: set[asyncio.Task[Any]] = set()


@pytest.mark.slow
def test_koubei_connect_stops_cleanly_on_sigterm(kafka_url: str, kafka_bootstrap: str, topic_prefix: str,
                                                tmp_path: Path) -> None:
    port, metrics_port = free_port(), free_port()
    config = tmp_path / "koubei.yaml"
    config.write_text(f"""
kafka: {{url: "{kafka_url}", topic_prefix: {topic_prefix}, partitions: 2}}
brands: [{{id: acme, name: 某品牌, aliases: [某品牌]}}]
connectors:
  state_dir: {tmp_path / 'state'}
  ingest: {{type: http_ingest, listen: "127.0.0.1:{port}", token_env: KOUBEI_TEST_INGEST_TOKEN,
            metrics_port: {metrics_port}}}
""", encoding="utf-8")
    env = {**os.environ, "KOUBEI_TEST_INGEST_TOKEN": TOKEN}
    env.pop("KOUBEI_KAFKA_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "streams.cli", "connect", "ingest", "-c", str(config)],
                            env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "ingest endpoint did not come up"
            time.sleep(0.1)
        response = httpx.post(f"http://127.0.0.1:{port}/ingest", json=[post(1), post(2)],
                              headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        assert response.status_code == 202 and response.json()["accepted"] == 2
        scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
        assert 'koubei_connector_posts_fetched_total{connector="ingest"} 2.0' in scraped
        assert 'koubei_connector_last_success_timestamp_seconds{connector="ingest"}' in scraped
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    assert "stopped cleanly" in stderr and TOKEN not in stderr
    keys = sorted(k for k, _, _ in posts_in(kafka_bootstrap, f"{topic_prefix}.posts"))
    assert keys == ["crawler:p1", "crawler:p2"]
