"""Kill the notifier in the middle of a delivery: after a restart the alert
arrives, and arrives once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent / "alerting"))
from alert_samples import BRANDS, alert  # noqa: E402
from fake_platforms import Answer, FakePlatform  # noqa: E402

from alerting.notifier import topic_names  # noqa: E402
from streams.cli.config import load_koubei_config  # noqa: E402
from streams.kafka import BrokerQuirks, make_producer, read_topic  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def start_notifier(config_path: Path, log_path: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, HOOK_SECRET="hook-secret")
    env.pop("KOUBEI_KAFKA_URL", None)  # the config file says where the broker is
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child
    return subprocess.Popen([sys.executable, "-m", "streams.cli", "notify", "-c", str(config_path),
                             "--metrics-port", "0"], stdout=log, stderr=subprocess.STDOUT, env=env)


def write_config(path: Path, kafka_url: str, quirks: BrokerQuirks, prefix: str, app_id: str, url: str) -> Path:
    path.write_text(yaml.safe_dump({
        "brands": BRANDS,
        "kafka": {"url": kafka_url, "topic_prefix": prefix, "partitions": 2,
                  "broker_quirks": "tansu" if quirks.embedded else "none"},
        "worker": {"app_id": app_id},
        "alerting": {
            "channels": [{"name": "hook", "type": "webhook", "url": url, "secret_env": "HOOK_SECRET"}],
            "routes": {"receiver": "hook", "group_wait": "100ms", "group_interval": "200ms"},
        },
    }, allow_unicode=True), encoding="utf-8")
    return path


def test_killed_right_after_the_first_firing_the_escalation_arrives_after_restart(
        tmp_path: Path, kafka_url: str, kafka_bootstrap: str, broker_quirks: BrokerQuirks,
        topic_prefix: str) -> None:
    with FakePlatform("webhook", secret="hook-secret") as fake:
        config_path = write_config(tmp_path / "koubei.yaml", kafka_url, broker_quirks, topic_prefix,
                                   f"esc-{topic_prefix}", fake.url)
        cfg = load_koubei_config(config_path, environ={"HOOK_SECRET": "hook-secret"})
        log_path = tmp_path / "notifier.log"
        producer = make_producer(kafka_bootstrap, broker_quirks)
        first = start_notifier(config_path, log_path)
        try:
            fired = alert("acme", sequence=1)
            producer.send(cfg.topic("alerts"), key=fired.key.encode(), value=fired.to_json()).get(timeout=20)
            assert len(fake.wait_for(1, timeout=60)) == 1, log_path.read_text()
        finally:
            first.send_signal(signal.SIGKILL)  # right after the platform accepted the firing
            first.wait(10)
        critical = alert("acme", sequence=2, severity="critical")
        producer.send(cfg.topic("alerts"), key=critical.key.encode(), value=critical.to_json()).get(timeout=20)
        producer.close()

        second = start_notifier(config_path, log_path)
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and not any(
                    a["severity"] == "critical" for r in fake.accepted for a in r.json()["alerts"]):
                time.sleep(0.1)
            time.sleep(1.5)  # a duplicate or a stale re-send, if any, would come now
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(30)
        told = [[(a["severity"], a["sequence"]) for a in r.json()["alerts"]] for r in fake.accepted]
        # The firing may be sent twice if the kill came before the delivery log
        # write (at least once); the escalation arrives, once, and last.
        assert told[-1] == [("critical", 2)], (told, log_path.read_text())
        assert told[0] == [("warning", 1)] and told.count([("critical", 2)]) == 1, told


def test_killed_mid_delivery_the_alert_arrives_exactly_once_after_restart(
        tmp_path: Path, kafka_url: str, kafka_bootstrap: str, broker_quirks: BrokerQuirks,
        topic_prefix: str) -> None:
    release = threading.Event()
    with FakePlatform("webhook", secret="hook-secret") as fake:
        fake.script.append(Answer(hold=release))  # the first delivery hangs until we have killed the sender
        config_path = tmp_path / "koubei.yaml"
        config_path.write_text(yaml.safe_dump({
            "brands": BRANDS,
            "kafka": {"url": kafka_url, "topic_prefix": topic_prefix, "partitions": 2,
                      "broker_quirks": "tansu" if broker_quirks.embedded else "none"},
            "worker": {"app_id": f"kill-{topic_prefix}"},
            "alerting": {
                "channels": [{"name": "hook", "type": "webhook", "url": fake.url, "secret_env": "HOOK_SECRET"}],
                "routes": {"receiver": "hook", "group_wait": "100ms", "group_interval": "200ms"},
            },
        }, allow_unicode=True), encoding="utf-8")
        cfg = load_koubei_config(config_path, environ={"HOOK_SECRET": "hook-secret"})
        log_path = tmp_path / "notifier.log"
        first = start_notifier(config_path, log_path)
        try:
            producer = make_producer(kafka_bootstrap, broker_quirks)
            event = alert("acme", severity="critical")
            producer.send(cfg.topic("alerts"), key=event.key.encode(), value=event.to_json()).get(timeout=20)
            producer.close()
            assert fake.wait_arrivals(1, timeout=60) == 1, log_path.read_text()
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        release.set()
        assert fake.wait_for(1, timeout=5, accepted_only=False)[0].accepted is False

        second = start_notifier(config_path, log_path)
        try:
            got = fake.wait_for(1, timeout=90)
            assert len(got) == 1, log_path.read_text()
            # Stay a while longer: a duplicate, if any, would come now.
            time.sleep(1.5)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(30)
        assert [r.accepted for r in fake.received] == [False, True]
        ids = {r.headers["x-koubei-delivery"] for r in fake.received}
        assert len(ids) == 1  # the same notification id: a receiver can also dedup on it
        assert fake.accepted[0].json()["alerts"][0]["severity"] == "critical"

    log = [json.loads(r.value) for r in read_topic(kafka_bootstrap, topic_names(cfg)["deliveries"])]
    assert [(d["key"], d["state"]) for d in log] == [("acme:negative_share", "firing")]
