"""The Prometheus and Alertmanager files in deploy/, checked by their own tools.

promtool and amtool come from the Debian packages `prometheus` and
`prometheus-alertmanager` (deploy/tools/ensure-prometheus-tools.sh installs
them when it can); without them these tests skip and say so.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
ALERTMANAGER_CONFIG = REPO / "deploy" / "alertmanager" / "alertmanager.yml"
INSTALL_HINT = "deploy/tools/ensure-prometheus-tools.sh installs it when run as root on Debian/Ubuntu"


def tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not on PATH (Debian package `{package}`; {INSTALL_HINT})")
    return path


def run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=60)


def test_rules_pass_promtool_check() -> None:
    promtool = tool("promtool", "prometheus")
    files = sorted(str(p) for p in (PROMETHEUS_DIR / "rules").glob("*.yml"))
    assert len(files) == 2
    result = run(promtool, "check", "rules", *files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_rules_pass_their_promtool_unit_tests() -> None:
    promtool = tool("promtool", "prometheus")
    tests = sorted(str(p.relative_to(PROMETHEUS_DIR)) for p in (PROMETHEUS_DIR / "tests").glob("*.test.yml"))
    assert tests, "no promtool unit tests found"
    result = run(promtool, "test", "rules", *tests, cwd=PROMETHEUS_DIR)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_rule_has_a_promtool_unit_test() -> None:
    import yaml

    alerts = {rule["alert"] for group in yaml.safe_load((PROMETHEUS_DIR / "rules" / "koubei-alerts.yml").read_text())["groups"]
              for rule in group["rules"] if "alert" in rule}
    tested: set[str] = set()
    for path in (PROMETHEUS_DIR / "tests").glob("*.test.yml"):
        for case in yaml.safe_load(path.read_text())["tests"]:
            tested.update(t["alertname"] for t in case.get("alert_rule_test", []) if t.get("exp_alerts"))
    assert alerts - tested == set(), f"alerts never seen firing in a promtool test: {sorted(alerts - tested)}"


def test_promtool_unit_tests_can_fail(tmp_path: Path) -> None:
    """A wrong expectation must make promtool fail (the tests are not vacuous)."""
    promtool = tool("promtool", "prometheus")
    source = (PROMETHEUS_DIR / "tests" / "koubei-rules.test.yml").read_text()
    assert 'instance: "worker-1:6066"}' in source
    broken = source.replace('instance: "worker-1:6066"}', 'instance: "worker-2:6066"}', 1)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "broken.test.yml").write_text(broken)
    (tmp_path / "rules").symlink_to(PROMETHEUS_DIR / "rules")
    result = run(promtool, "test", "rules", "tests/broken.test.yml", cwd=tmp_path)
    assert result.returncode != 0
    assert "KoubeiWorkerDown" in result.stdout + result.stderr


def test_compose_prometheus_config_passes_promtool_check() -> None:
    promtool = tool("promtool", "prometheus")
    result = run(promtool, "check", "config", "--syntax-only", str(PROMETHEUS_DIR / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_alertmanager_example_passes_amtool_check() -> None:
    amtool = tool("amtool", "prometheus-alertmanager")
    result = run(amtool, "check-config", str(ALERTMANAGER_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_alertmanager_routes_every_severity_the_rules_use() -> None:
    import yaml

    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    routed = " ".join(m for route in config["route"]["routes"] for m in route["matchers"])
    receivers = {r["name"] for r in config["receivers"]}
    assert {route["receiver"] for route in config["route"]["routes"]} <= receivers
    for severity in ("warning", "critical"):
        assert f'severity="{severity}"' in routed
