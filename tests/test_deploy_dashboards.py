"""The Grafana dashboards only query series the code really exports.

Every panel query, annotation query and variable query is scanned for the
metric names it reads; each must be a metric defined in the code (via
prometheus_client's registry), one of Faust's sensors, a recording rule in
deploy/, or Prometheus' `up`. Label matchers must use labels the metric has.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.test_deploy_promql import known_series, metric_names
from tests.test_sre_metrics_catalogue import code_metrics

REPO = Path(__file__).resolve().parent.parent
GRAFANA = REPO / "deploy" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
TARGET_LABELS = {"job", "instance"}
SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^{}]*)\}")
MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")


def load(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text(encoding="utf-8")))


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every query in the dashboard."""
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            yield f"panel {panel['title']!r} {target['refId']}", target["expr"]
    for annotation in dashboard["annotations"]["list"]:
        if "expr" in annotation:
            yield f"annotation {annotation['name']!r}", annotation["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", variable["definition"])
            assert match, f"variable {variable['name']}: only label_values(metric, label) is used"
            yield f"variable {variable['name']!r}", f"{match.group(1)}{{{match.group(2)}=\"\"}}"


def labels_of_series() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for name, (kind, labels) in code_metrics().items():
        if kind == "histogram":
            out[f"{name}_bucket"] = {*labels, "le"}
            out[f"{name}_sum"] = out[f"{name}_count"] = set(labels)
        else:
            out[name] = set(labels)
    return out


@pytest.fixture(scope="module")
def known() -> set[str]:
    return known_series()


def test_both_dashboards_exist() -> None:
    assert [p.name for p in DASHBOARDS] == ["brand-health.json", "pipeline-health.json"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_query_names_exported_metrics(path: Path, known: set[str]) -> None:
    dashboard = load(path)
    seen = 0
    unknown = []
    for where, expr in queries(dashboard):
        names = metric_names(expr)
        assert names, f"{where}: no metric found in {expr!r}"
        seen += 1
        unknown.extend(f"{where}: {name}" for name in sorted(names - known))
    assert seen >= 10
    assert not unknown, "queries name series nobody exports:\n" + "\n".join(unknown)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_label_matchers_use_labels_the_metric_has(path: Path) -> None:
    labels = labels_of_series()
    wrong = []
    for where, expr in queries(load(path)):
        for name, body in SELECTOR.findall(expr):
            if name not in labels:
                continue  # recording rules and `up` carry the labels they aggregate by
            for label in MATCHER.findall(body):
                if label not in labels[name] | TARGET_LABELS:
                    wrong.append(f"{where}: {name} has no label {label!r}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_panels_use_the_datasource_variable_and_do_not_overlap(path: Path) -> None:
    dashboard = load(path)
    occupied: set[tuple[int, int]] = set()
    ids = set()
    for panel in panels(dashboard):
        assert panel["id"] not in ids
        ids.add(panel["id"])
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24, panel["title"]
        cells = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"]) for y in range(grid["y"], grid["y"] + grid["h"])}
        assert not cells & occupied, f"panel {panel['title']!r} overlaps another"
        occupied |= cells
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
            assert panel.get("description"), f"panel {panel['title']!r} has no description"


def test_brand_health_has_the_brand_variable_band_annotations_and_stats() -> None:
    dashboard = load(GRAFANA / "dashboards" / "brand-health.json")
    # The notifier's alert messages link to /d/koubei-brand?var-brand=<id>.
    assert dashboard["uid"] == "koubei-brand"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["brand"]["definition"] == "label_values(koubei_mentions_total, brand)"
    every = list(panels(dashboard))
    for panel in every:
        for target in panel.get("targets", []):
            if "koubei_" in target["expr"] and "brand" in target["expr"]:
                assert 'brand="$brand"' in target["expr"], f"{panel['title']} ignores the brand variable"
    stats = [p for p in every if p["type"] == "stat"]
    assert len(stats) >= 4
    share = next(p for p in every if p["title"] == "Negative share vs baseline")
    exprs = " ".join(t["expr"] for t in share["targets"])
    assert "koubei_negative_share_ratio" in exprs and "koubei_negative_share_baseline_ratio" in exprs
    band = [o for o in share["fieldConfig"]["overrides"]
            if any(p["id"] == "custom.fillBelowTo" for p in o["properties"])]
    assert band, "the baseline band needs a fillBelowTo override"
    legends = {t["legendFormat"] for t in share["targets"]}
    for o in band:
        assert o["matcher"]["options"] in legends
        assert next(p["value"] for p in o["properties"] if p["id"] == "custom.fillBelowTo") in legends
    annotations = [a for a in dashboard["annotations"]["list"] if "expr" in a]
    assert annotations and "koubei_alerts_total" in annotations[0]["expr"]
    assert 'brand="$brand"' in annotations[0]["expr"]
    volume = next(p for p in every if p["type"] == "timeseries" and p["title"].startswith("Volume"))
    assert "koubei_mentions_total" in volume["targets"][0]["expr"]


def test_pipeline_health_covers_stages_lag_latency_and_failures() -> None:
    dashboard = load(GRAFANA / "dashboards" / "pipeline-health.json")
    assert dashboard["uid"] == "koubei-pipeline"
    every = list(panels(dashboard))
    exprs = " ".join(t["expr"] for p in every for t in p.get("targets", []))
    for name in ("koubei_posts_ingested_total", "koubei_mentions_total", "koubei_buckets_closed_total",
                 "koubei_alerts_total", "topic:koubei_consumer_lag:messages", "koubei_post_to_scored_seconds",
                 "koubei_notification_delivery_latency_seconds", "koubei_dead_letters_total",
                 "koubei_connector_errors_total", "koubei_faust_"):
        assert name in exprs, name
    delivery = next(p for p in every if p["title"] == "Delivery errors by channel")
    assert "by (channel, outcome)" in delivery["targets"][0]["expr"]


def test_committed_json_is_what_the_generator_writes() -> None:
    spec = importlib.util.spec_from_file_location("generate_dashboards", GRAFANA / "generate_dashboards.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name, builder in module.DASHBOARDS.items():
        assert (GRAFANA / "dashboards" / name).read_text(encoding="utf-8") == module.render(builder), (
            f"{name} is stale: run .venv/bin/python deploy/grafana/generate_dashboards.py")


def test_provisioning_points_at_the_dashboards_and_prometheus() -> None:
    providers = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "koubei.yml").read_text())["providers"]
    assert providers[0]["options"]["path"] == "/var/lib/grafana/dashboards/koubei"
    datasources = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    assert datasources["datasources"][0]["type"] == "prometheus"
    compose = yaml.safe_load((REPO / "deploy" / "docker-compose.yml").read_text())
    volumes = compose["services"]["grafana"]["volumes"]
    assert any(v.startswith("./grafana/dashboards:/var/lib/grafana/dashboards/koubei") for v in volumes)
    assert any(v.startswith("./grafana/provisioning:/etc/grafana/provisioning") for v in volumes)
