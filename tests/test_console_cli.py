"""`koubei alerts list|show` and `koubei console` as commands, over a real broker."""

from __future__ import annotations

import io
import json
import sys
import time
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from console_support import (  # noqa: E402
    ENVIRON,
    console_config,
    free_port,
    now_start,
    publish_crisis,
    start_console,
    stop_console,
    write_config_file,
)

from alerting.console.auth import verify_password  # noqa: E402
from alerting.incidents import Ack, ack_record, incident_id  # noqa: E402
from alerting.matchers import any_of  # noqa: E402
from alerting.policy.silences import new_silence  # noqa: E402
from streams import topics  # noqa: E402
from streams.cli import incidents as incidents_cli  # noqa: E402
from streams.cli import main  # noqa: E402
from streams.kafka import BrokerQuirks, make_producer  # noqa: E402


@pytest.mark.integration
def test_alerts_list_and_show(tmp_path: Path, kafka_url: str, kafka_bootstrap: str, broker_quirks: BrokerQuirks,
                              topic_prefix: str, capsys: pytest.CaptureFixture[str],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENVIRON.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("KOUBEI_KAFKA_URL", raising=False)
    cfg = str(write_config_file(tmp_path / "koubei.yaml", kafka_url, topic_prefix, broker_quirks))
    config = console_config(kafka_url, topic_prefix, broker_quirks)
    start = now_start()
    ref = publish_crisis(config, kafka_bootstrap, broker_quirks, start)
    silence = new_silence((any_of("brand", ["acme"]),), time.time(), 3600, "已知问题", "pr-lead")
    producer = make_producer(kafka_bootstrap, broker_quirks)
    producer.send(config.topic(topics.SILENCES), key=silence.id.encode(), value=silence.to_json())
    key, value = ack_record(Ack(ref, "王经理", time.time(), "跟进中"))
    producer.send(config.topic(topics.ACKS), key=key, value=value)
    producer.flush(timeout=30)
    producer.close()

    assert main(["alerts", "list", "-c", cfg]) == 0
    out = capsys.readouterr().out
    header, row = out.splitlines()[:2]
    assert "事件编号" in header and "负面占比峰值" in header
    assert ref in row and "艾克美" in row and "严重" in row and "进行中" in row and "已确认" in row and "静默中" in row
    assert main(["alerts", "list", "--lang", "en", "--brand", "bolt", "-c", cfg]) == 0
    assert capsys.readouterr().out.strip() == "No incident matches."
    assert main(["alerts", "list", "--open", "--json", "-c", cfg]) == 0
    [data] = json.loads(capsys.readouterr().out)
    assert data["id"] == ref and data["acks"][0]["by"] == "王经理" and data["silences"][0]["id"] == silence.id

    later = incident_id("acme", start + 300)  # the volume alert's own id names the same incident
    assert main(["alerts", "show", later, "-c", cfg]) == 0
    shown = capsys.readouterr().out
    assert ref in shown and "为什么告警" in shown and "负面占比" in shown and "pr-ding" in shown
    assert "王经理 于" in shown and "brand=acme" in shown and "异物(31)" in shown and "https://weibo.example/0" in shown
    assert main(["alerts", "show", ref, "--json", "-c", cfg]) == 0
    detail = json.loads(capsys.readouterr().out)
    assert [s["signal"] for s in detail["signals"]] == ["negative_share", "volume"]
    assert detail["escalated_at"] == start + 600 and detail["deliveries"][0]["channel"] == "pr-ding"
    assert main(["alerts", "show", "acme:12", "-c", cfg]) == 1
    assert "no incident 'acme:12'" in capsys.readouterr().err


def test_alerts_without_a_broker_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENVIRON.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(incidents_cli, "PROBE_SECONDS", 1.0)
    cfg = str(write_config_file(tmp_path / "koubei.yaml", "kafka://127.0.0.1:1", "koubei", BrokerQuirks.for_kafka()))
    assert main(["alerts", "list", "-c", cfg]) == 1
    assert "koubei alerts: cannot use Kafka" in capsys.readouterr().err


def test_hash_password_prints_a_hash_for_users_env(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("a long enough password\n"))
    assert main(["console", "--hash-password"]) == 0
    stored = capsys.readouterr().out.strip()
    assert verify_password(stored, "a long enough password") and not verify_password(stored, "another")
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    assert main(["console", "--hash-password"]) == 2


@pytest.mark.integration
def test_koubei_console_serves_and_stops_on_ctrl_c(tmp_path: Path, kafka_url: str, kafka_bootstrap: str,
                                                   broker_quirks: BrokerQuirks, topic_prefix: str) -> None:
    config = console_config(kafka_url, topic_prefix, broker_quirks, anonymous_read=True)
    ref = publish_crisis(config, kafka_bootstrap, broker_quirks, now_start())
    cfg = write_config_file(tmp_path / "koubei.yaml", kafka_url, topic_prefix, broker_quirks, anonymous_read=True)
    port = free_port()
    log_path = tmp_path / "console.log"
    proc = start_console(cfg, port, log_path)
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, follow_redirects=True) as client:
            first = client.get("/incidents")
            assert "http-equiv=\"refresh\"" in first.text  # a visit without the cookie reloads once
            listing = client.get("/incidents?_b=1")
            assert listing.status_code == 200 and ref in listing.text
            assert listing.headers["Content-Security-Policy"].startswith("default-src 'none'")
            cookie = listing.headers["set-cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    finally:
        code = stop_console(proc)
    text = log_path.read_text()
    assert code == 0, text
    assert f"serving http://127.0.0.1:{port}/" in text and "history read: 1 incidents" in text


def test_bad_listen_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENVIRON.items():
        monkeypatch.setenv(name, value)
    cfg = str(write_config_file(tmp_path / "koubei.yaml", "kafka://127.0.0.1:1", "koubei", BrokerQuirks.for_kafka()))
    assert main(["console", "-c", cfg, "--listen", "localhost"]) == 2
    assert "--listen: expected HOST:PORT" in capsys.readouterr().err
