"""Configuration errors name the field; secrets come only from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.cli.config import load_koubei_config, parse_koubei_config
from streams.settings import ConfigError, get_secret, parse_duration

MINIMAL = {"brands": [{"id": "xinghe", "name": "星河手机", "aliases": ["星河手机"]}]}


def error_for(raw: object, environ: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_koubei_config(raw, environ=environ or {})
    return info.value


def test_minimal_config_gets_documented_defaults() -> None:
    config = parse_koubei_config(MINIMAL, environ={})
    assert config.kafka.url == "kafka://127.0.0.1:9092"
    assert config.buckets.size_seconds == 60
    assert config.language == "zh"
    assert config.brand_ids == ("xinghe",)
    assert config.topic("posts") == "koubei.posts"


def test_environment_overrides_the_kafka_url() -> None:
    config = parse_koubei_config(MINIMAL, environ={"KOUBEI_KAFKA_URL": "kafka://127.0.0.1:29092"})
    assert config.kafka.url == "kafka://127.0.0.1:29092"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({}, "brands"),
        ({"brands": []}, "brands"),
        ({"brands": [{"name": "x", "aliases": ["x"]}]}, "brands[0].id"),
        ({"brands": [{"id": "Bad Id", "aliases": ["x"]}]}, "brands[0].id"),
        ({"brands": [{"id": "a", "aliases": []}]}, "brands[0].aliases"),
        ({"brands": [{"id": "a", "aliases": ["x", ""]}]}, "brands[0].aliases[1]"),
        ({"brands": [{"id": "a", "aliases": ["x"]}, {"id": "a", "aliases": ["y"]}]}, "brands[1].id"),
        ({"brands": [{"id": "a", "aliases": ["x"], "sensitivity": "extreme"}]}, "brands[0].sensitivity"),
        ({**MINIMAL, "buckets": {"size": "ten minutes"}}, "buckets.size"),
        ({**MINIMAL, "buckets": {"sise": 60}}, "buckets.sise"),
        ({**MINIMAL, "kafka": {"url": "localhost:9092"}}, "kafka.url"),
        ({**MINIMAL, "kafka": {"partitions": 0}}, "kafka.partitions"),
        ({**MINIMAL, "sentiment": {"negative_threshold": 1.5}}, "sentiment.negative_threshold"),
        ({**MINIMAL, "worker": {"store": "redis://"}}, "worker.store"),
        ({**MINIMAL, "language": "fr"}, "language"),
        ({**MINIMAL, "thresholds": {}}, "thresholds"),
    ],
)
def test_errors_name_the_field(raw: dict, field: str) -> None:
    assert error_for(raw).field == field


def test_durations_accept_units() -> None:
    assert parse_duration("90s", "x") == 90
    assert parse_duration("5m", "x") == 300
    assert parse_duration("4h", "x") == 14400
    assert parse_duration(30, "x") == 30
    with pytest.raises(ConfigError):
        parse_duration("soon", "x")


def test_secret_is_read_from_the_environment_and_never_echoed() -> None:
    raw = {"secret_env": "ROBOT_SECRET"}
    assert get_secret(raw, "secret_env", "alerting.channels[0]", environ={"ROBOT_SECRET": "s3cr3t"}) == "s3cr3t"
    with pytest.raises(ConfigError) as info:
        get_secret({"secret_env": "SEC-abc123=="}, "secret_env", "alerting.channels[0]", environ={})
    assert "SEC-abc123" not in str(info.value)
    with pytest.raises(ConfigError) as info:
        get_secret(raw, "secret_env", "alerting.channels[0]", required=True, environ={})
    assert "ROBOT_SECRET is not set" in str(info.value)


def test_load_config_reports_yaml_position(tmp_path: Path) -> None:
    bad = tmp_path / "koubei.yaml"
    bad.write_text("brands:\n  - id: a\n    aliases: [x\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_koubei_config(bad)
    assert "line" in str(info.value)
    with pytest.raises(ConfigError) as info:
        load_koubei_config(tmp_path / "missing.yaml")
    assert "not found" in str(info.value)


@pytest.mark.parametrize("text", ["brands: " + "[" * 5000 + "]" * 5000 + "\n",
                                  '{"a": ' * 3000 + "1" + "}" * 3000 + "\n"])
def test_a_config_nested_too_deeply_is_a_clear_error(tmp_path: Path, text: str) -> None:
    # PyYAML recurses per level: this was a RecursionError traceback at start-up.
    bad = tmp_path / "koubei.yaml"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match="nested too deeply"):
        load_koubei_config(bad)


def test_documented_example_config_is_valid() -> None:
    example = Path(__file__).resolve().parent.parent / "docs" / "koubei.example.yaml"
    env = {"PR_DINGTALK_URL": "https://robot.example/send", "PR_DINGTALK_SECRET": "s",
           "PAGERDUTY_ROUTING_KEY": "k", "AUDIT_WEBHOOK_URL": "https://audit.example/hook",
           "AUDIT_WEBHOOK_SECRET": "s"}
    config = load_koubei_config(example, environ=env)
    assert config.brand_ids == ("chenguang", "xinghe")
    assert config.brand("xinghe").sensitivity == "high"
    assert config.buckets.late_policy == "open_bucket"
    with pytest.raises(ConfigError) as info:
        load_koubei_config(example, environ={})
    assert "PR_DINGTALK_URL" in str(info.value)
