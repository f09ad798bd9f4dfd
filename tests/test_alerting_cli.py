"""koubei silence add|list|expire and koubei test-alert."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent / "alerting"))
from alert_samples import BRANDS  # noqa: E402
from fake_platforms import FakePlatform  # noqa: E402

from streams.cli import main  # noqa: E402
from streams.kafka import BrokerQuirks  # noqa: E402


def write_config(path: Path, kafka_url: str = "kafka://127.0.0.1:1", prefix: str = "koubei",
                 quirks: BrokerQuirks | None = None, channels: list[dict[str, Any]] | None = None) -> Path:
    path.write_text(yaml.safe_dump({
        "brands": BRANDS,
        "kafka": {"url": kafka_url, "topic_prefix": prefix,
                  "broker_quirks": "tansu" if quirks is not None and quirks.embedded else "none"},
        "alerting": {"channels": channels or []},
    }, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.integration
def test_silence_add_list_expire_round_trip(tmp_path: Path, kafka_url: str, broker_quirks: BrokerQuirks,
                                            topic_prefix: str, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KOUBEI_KAFKA_URL", raising=False)
    cfg = str(write_config(tmp_path / "k.yaml", kafka_url, topic_prefix, broker_quirks))
    assert main(["silence", "add", "brand=acme", "severity=warning", "--for", "2h",
                 "--comment", "已知问题，公关跟进中", "--author", "pr-lead", "-c", cfg]) == 0
    silence_id = capsys.readouterr().out.split()[1]
    assert main(["silence", "list", "--json", "-c", cfg]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert listed["id"] == silence_id and listed["matchers"] == {"brand": ["acme"], "severity": ["warning"]}
    assert listed["ends_at"] - listed["starts_at"] == 7200 and listed["comment"] == "已知问题，公关跟进中"
    assert main(["silence", "list", "-c", cfg]) == 0
    assert "brand=acme severity=warning" in capsys.readouterr().out
    assert main(["silence", "expire", silence_id[:6], "-c", cfg]) == 0
    capsys.readouterr()
    assert main(["silence", "list", "--json", "-c", cfg]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["silence", "list", "--all", "-c", cfg]) == 0
    assert "expired" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "message"), [
    (["brand=nope", "--for", "1h"], "not a configured brand"),
    (["brand=acme", "--for", "soon"], "duration"),
    (["brand=acme", "--for", "90d"], "max_duration"),
    (["colour=red", "--for", "1h"], "bad matcher"),
])
def test_silence_add_rejects_bad_input_before_touching_kafka(tmp_path: Path, argv: list[str], message: str,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    cfg = str(write_config(tmp_path / "k.yaml"))  # points at a closed port: Kafka is never contacted
    assert main(["silence", "add", *argv, "--comment", "x", "-c", cfg]) == 2
    assert message in capsys.readouterr().err


def test_test_alert_sends_a_rendered_sample_to_each_channel(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    with FakePlatform("dingtalk") as ding, FakePlatform("slack") as slack:
        cfg = str(write_config(tmp_path / "k.yaml", channels=[
            {"name": "pr-ding", "type": "dingtalk", "url": ding.url},
            {"name": "team-slack", "type": "slack", "url": slack.url}]))
        assert main(["test-alert", "-c", cfg]) == 0
        assert main(["test-alert", "-c", cfg, "--channel", "team-slack", "--resolved"]) == 0
    out = capsys.readouterr().out
    assert "pr-ding (dingtalk): delivered" in out and out.count("team-slack (slack): delivered") == 2
    assert len(ding.accepted) == 1 and len(slack.accepted) == 2
    assert "测试告警" in ding.accepted[0].json()["markdown"]["text"]


def test_test_alert_reports_a_broken_robot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with FakePlatform("dingtalk", secret="real") as ding:
        cfg = str(write_config(tmp_path / "k.yaml", channels=[
            {"name": "pr-ding", "type": "dingtalk", "url": ding.url, "secret_env": "WRONG_SECRET"}]))
        import os

        os.environ["WRONG_SECRET"] = "stale"
        try:
            assert main(["test-alert", "-c", cfg]) == 1
        finally:
            del os.environ["WRONG_SECRET"]
    assert "permanent - rejected: code 310000" in capsys.readouterr().out


def test_test_alert_unknown_channel(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = str(write_config(tmp_path / "k.yaml", channels=[{"name": "a", "type": "webhook", "url": "http://127.0.0.1:9"}]))
    assert main(["test-alert", "-c", cfg, "--channel", "b"]) == 2
    assert "no channel 'b' (channels: a)" in capsys.readouterr().err

