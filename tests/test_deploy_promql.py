"""PromQL in deploy/ names only series that really exist.

Helpers here are shared by the dashboard and rule tests: a small PromQL
scanner that lists the metric names an expression reads, and the set of
names the code exports (from prometheus_client's registry, plus Faust's
sensors, the recording rules and Prometheus' own ``up``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tests.test_sre_metrics_catalogue import code_metrics

REPO = Path(__file__).resolve().parent.parent
RULES_DIR = REPO / "deploy" / "prometheus" / "rules"

# Series every scrape target has without the project defining them:
# Prometheus' synthetic `up`, and prometheus_client's default process collector.
BUILTIN_SERIES = {"up", "process_start_time_seconds", "process_resident_memory_bytes",
                  "process_cpu_seconds_total", "process_open_fds"}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
            "bool", "offset", "inf", "nan"}
# Aggregations may put their grouping first (`sum by (x) (...)`), so they are
# not always directly followed by a parenthesis like functions are.
AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
                "bottomk", "topk", "quantile"}
STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
MATCHERS = re.compile(r"\{[^{}]*\}")
GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
RANGE = re.compile(r"\[[^\]]*\]")
VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+")
IDENT = re.compile(r"(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?")


def metric_names(expr: str) -> set[str]:
    """Metric names an expression reads (functions, keywords and labels removed)."""
    text = VARIABLE.sub("1", STRING.sub('""', expr))
    text = RANGE.sub("", MATCHERS.sub("", text))
    text = GROUPING.sub(r"\1", text)
    names = set()
    for match in IDENT.finditer(text):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in KEYWORDS or name in AGGREGATIONS:
            continue
        names.add(name)
    return names


def exported_series() -> set[str]:
    """Every series name the code's metrics produce in the exposition format."""
    names: set[str] = set()
    for name, (kind, _) in code_metrics().items():
        if kind == "histogram":
            names.update({f"{name}_bucket", f"{name}_sum", f"{name}_count"})
        else:
            names.add(name)
    return names


def load_rules() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    for path in sorted(RULES_DIR.glob("*.yml")):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            rules.extend(group["rules"])
    return rules


def recorded_series() -> set[str]:
    return {rule["record"] for rule in load_rules() if "record" in rule}


def known_series() -> set[str]:
    return exported_series() | recorded_series() | BUILTIN_SERIES


def test_scanner_finds_metrics_and_skips_functions_labels_and_variables() -> None:
    expr = ('histogram_quantile(0.95, sum by (le, channel) (rate(koubei_x_bucket{channel=~"$channel"}[$__rate_interval])))'
            ' / on (instance) group_left () max without (job) (up{job="a b"}) > bool 0.5'
            ' and koubei:rec:rate5m offset 5m or absent(koubei_y_total)')
    assert metric_names(expr) == {"koubei_x_bucket", "up", "koubei:rec:rate5m", "koubei_y_total"}
    assert metric_names('sum(rate(koubei_mentions_total{brand="${brand}"}[5m])) * 100') == {"koubei_mentions_total"}


def test_every_rule_reads_only_existing_series() -> None:
    known = known_series()
    unknown = {}
    for rule in load_rules():
        missing = metric_names(rule["expr"]) - known
        if missing:
            unknown[rule.get("record") or rule.get("alert")] = sorted(missing)
    assert not unknown, f"rules read series nobody exports: {unknown}"


def test_recording_rules_follow_the_naming_convention() -> None:
    for name in recorded_series():
        assert re.fullmatch(r"([a-z_]+:)?koubei_[a-z_]+:[a-z0-9_]+", name), name


def test_every_alert_has_severity_summary_and_description() -> None:
    alerts = [rule for rule in load_rules() if "alert" in rule]
    assert {a["alert"] for a in alerts} >= {"KoubeiWorkerDown", "KoubeiConsumerLagGrowing", "KoubeiConnectorSilent",
                                            "KoubeiDeliveriesFailing", "KoubeiDeadLettersRising"}
    for alert in alerts:
        assert alert["labels"]["severity"] in {"warning", "critical"}, alert["alert"]
        assert alert["annotations"].get("summary") and alert["annotations"].get("description"), alert["alert"]
