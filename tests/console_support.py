"""A crisis as the pipeline writes it (alerts, buckets, a delivery) on a real
broker, and a console configuration for it: shared by the console tests."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).parent / "alerting"))
from alert_samples import BRANDS, T0, alert  # noqa: E402

from alerting.console.auth import hash_password  # noqa: E402
from alerting.incidents import incident_id  # noqa: E402
from alerting.message import alert_fields  # noqa: E402
from streams import topics  # noqa: E402
from streams.cli.config import KoubeiConfig, parse_koubei_config  # noqa: E402
from streams.kafka import BrokerQuirks, ensure_topics, make_producer  # noqa: E402
from streams.models import AlertEvent  # noqa: E402

__all__ = ["BRANDS", "T0"]  # re-exported for the console tests

TOKEN = "test-console-token-0123456789"
LINK_SECRET = "test-link-secret-abcdef"
PASSWORD = "pr-lead-password"
# Few iterations: the tests check the scheme, not its cost.
USERS = f"pr-lead:{hash_password(PASSWORD, iterations=1000)}"
ENVIRON = {"KOUBEI_CONSOLE_TOKEN": TOKEN, "KOUBEI_CONSOLE_USERS": USERS, "KOUBEI_LINK_SECRET": LINK_SECRET}


def console_raw(kafka_url: str, prefix: str, quirks: BrokerQuirks, **console: Any) -> dict[str, Any]:
    section = {"token_env": "KOUBEI_CONSOLE_TOKEN", "users_env": "KOUBEI_CONSOLE_USERS",
               "link_secret_env": "KOUBEI_LINK_SECRET", "public_url": "http://127.0.0.1:8090", **console}
    return {"brands": BRANDS,
            "kafka": {"url": kafka_url, "topic_prefix": prefix, "broker_quirks": "tansu" if quirks.embedded else "none"},
            "console": section}


def console_config(kafka_url: str, prefix: str, quirks: BrokerQuirks, **console: Any) -> KoubeiConfig:
    return parse_koubei_config(console_raw(kafka_url, prefix, quirks, **console), environ=ENVIRON)


def write_config_file(path: Path, kafka_url: str, prefix: str, quirks: BrokerQuirks, **console: Any) -> Path:
    path.write_text(yaml.safe_dump(console_raw(kafka_url, prefix, quirks, **console), allow_unicode=True),
                    encoding="utf-8")
    return path


def crisis(start: float) -> list[AlertEvent]:
    """acme: negative share fires, escalates; volume joins; both still open."""
    return [
        alert("acme", "firing", "warning", 1, start, "negative_share", event_time=start + 120),
        alert("acme", "firing", "critical", 2, start, "negative_share", event_time=start + 600,
              peak_severity="critical"),
        alert("acme", "firing", "warning", 1, start + 300, "volume", event_time=start + 360),
    ]


def resolves(start: float, end: float) -> list[AlertEvent]:
    return [
        alert("acme", "resolved", "critical", 3, start, "negative_share", event_time=end, ended_at=end,
              peak_severity="critical"),
        alert("acme", "resolved", "warning", 2, start + 300, "volume", event_time=end, ended_at=end),
    ]


def bucket(brand: str, start: float, total: int, negative: int) -> bytes:
    return json.dumps({"brand": brand, "start": start, "size": 60.0, "total": total, "negative": negative}).encode()


def publish_crisis(config: KoubeiConfig, bootstrap: str, quirks: BrokerQuirks, start: float) -> str:
    """Alerts, two hours of buckets around them and one delivery; returns the incident id."""
    ensure_topics(bootstrap, config.topics.plan(topics.CONSOLE))
    producer = make_producer(bootstrap, quirks)
    try:
        for event in crisis(start):
            producer.send(config.topic(topics.ALERTS), key=event.key.encode(), value=event.to_json())
        for i in range(-90, 30):
            hot = i >= 0
            producer.send(config.topic(topics.BUCKETS), key=b"acme",
                          value=bucket("acme", start + 60 * i, 40 if hot else 12, 28 if hot else 2))
            producer.send(config.topic(topics.BUCKETS), key=b"bolt", value=bucket("bolt", start + 60 * i, 8, 1))
        first = crisis(start)[0]
        delivery = {"channel": "pr-ding", "key": first.key, "started_at": first.started_at, "state": "firing",
                    "sequence": 1, "severity": "warning", "notification": "n1", "kind": "new",
                    "delivered_at": start + 150, "alert": alert_fields(first)}
        producer.send(config.topic(topics.DELIVERIES), key=f"pr-ding|{first.key}".encode(),
                      value=json.dumps(delivery).encode())
        producer.flush(timeout=30)
    finally:
        producer.close()
    return incident_id("acme", start)


def publish(config: KoubeiConfig, bootstrap: str, quirks: BrokerQuirks, events: list[AlertEvent]) -> None:
    producer = make_producer(bootstrap, quirks)
    try:
        for event in events:
            producer.send(config.topic(topics.ALERTS), key=event.key.encode(), value=event.to_json())
        producer.flush(timeout=30)
    finally:
        producer.close()


def now_start() -> float:
    """A crisis that started 20 minutes ago (the console's clock is the wall clock)."""
    return float(int(time.time()) - 1200)


async def page(client: Any, path: str, **kwargs: Any) -> tuple[Any, str]:
    """GET like a browser (an aiohttp test client): follows the same-site
    reload that a visit without the session cookie gets."""
    response = await client.get(path, **kwargs)
    text = await response.text()
    bounce = re.search(r'http-equiv="refresh" content="0;url=([^"]+)"', text)
    if bounce:
        response = await client.get(bounce.group(1).replace("&amp;", "&"), **kwargs)
        text = await response.text()
    return response, text


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF field on the page"
    return match.group(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_console(config_file: Path, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    """`koubei console` as its own process; returns once it has read the topics (/readyz)."""
    env = {**os.environ, **ENVIRON}
    env.pop("KOUBEI_KAFKA_URL", None)
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "streams.cli", "console", "-c", str(config_file), "--listen",
                                 f"127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("koubei console did not get ready:\n" + log_path.read_text())
        time.sleep(0.2)


def stop_console(proc: subprocess.Popen[bytes]) -> int:
    """Ctrl-C, as a person would; the exit code."""
    import signal

    proc.send_signal(signal.SIGINT)
    return proc.wait(timeout=20)
