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
            definition = variable["definition"]
            labels = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", definition)
            result = re.fullmatch(r"query_result\((.+)\)", definition)
            assert labels or result, f"variable {variable['name']}: label_values(metric, label) or query_result(expr)"
            if labels:
                yield f"variable {variable['name']!r}", f"{labels.group(1)}{{{labels.group(2)}=\"\"}}"
            else:
                yield f"variable {variable['name']!r}", result.group(1)


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


def grafana_regex(regex: str) -> re.Pattern[str]:
    """A Grafana variable regex (``/.../``, JavaScript named groups) as Python's."""
    assert regex.startswith("/") and regex.endswith("/"), regex
    return re.compile(regex[1:-1].replace("(?<", "(?P<"))


def test_brands_are_picked_by_name_several_at_once() -> None:
    dashboard = load(GRAFANA / "dashboards" / "brand-health.json")
    # The notifier's alert messages link to /d/koubei-brand?var-brand=<id>: the value stays the id.
    assert dashboard["uid"] == "koubei-brand"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    brand = variables["brand"]
    assert brand["multi"] is True and brand["includeAll"] is True
    assert "koubei_brand_info" in brand["definition"] and brand["definition"].startswith("query_result(")
    pattern = grafana_regex(brand["regex"])
    # What Grafana's query_result gives for one series (with or without spaces after commas).
    for line in ('{brand="chenguang",name="晨光乳业"} 1 1767225600000',
                 '{brand="chenguang", name="晨光乳业"} 1 1767225600000'):
        match = pattern.search(line)
        assert match and (match.group("value"), match.group("text")) == ("chenguang", "晨光乳业")


def test_brand_panels_follow_the_selection_and_show_names() -> None:
    dashboard = load(GRAFANA / "dashboards" / "brand-health.json")
    every = list(panels(dashboard))
    named = 0
    for panel in every:
        for target in panel.get("targets", []):
            expr = target["expr"]
            if re.search(r"koubei_(?!brand_info)\w*\{", expr):
                assert 'brand=~"$brand"' in expr, f"{panel['title']} ignores the brand selection"
            if "{{name}}" in target["legendFormat"]:
                named += 1
                assert "group_left(name)" in expr and "koubei_brand_info" in expr, panel["title"]
            assert "{{brand}}" not in target["legendFormat"], f"{panel['title']}: show the name, not the id"
    assert named >= 4
    stats = [p for p in every if p["type"] == "stat"]
    assert len(stats) >= 4
    for panel in stats:
        assert "group_left(name)" in panel["targets"][0]["expr"], f"{panel['title']}: one value per brand, named"
    annotations = [a for a in dashboard["annotations"]["list"] if "expr" in a]
    assert annotations and "koubei_alerts_total" in annotations[0]["expr"]
    assert 'brand=~"$brand"' in annotations[0]["expr"] and "{{name}}" in annotations[0]["textFormat"]


def test_each_selected_brand_gets_its_baseline_band() -> None:
    dashboard = load(GRAFANA / "dashboards" / "brand-health.json")
    top = dashboard["panels"]
    [repeat_at] = [i for i, p in enumerate(top) if p["type"] == "row" and p.get("repeat") == "brand"]
    assert "${brand:text}" in top[repeat_at]["title"]
    # A non-collapsed row owns the panels up to the next row.
    following = top[repeat_at + 1:]
    end = next((i for i, p in enumerate(following) if p["type"] == "row"), len(following))
    repeated = following[:end]
    share = next(p for p in repeated if p["title"].startswith("Negative share vs baseline"))
    exprs = " ".join(t["expr"] for t in share["targets"])
    assert "koubei_negative_share_ratio" in exprs and "koubei_negative_share_baseline_ratio" in exprs
    band = [o for o in share["fieldConfig"]["overrides"]
            if any(p["id"] == "custom.fillBelowTo" for p in o["properties"])]
    assert band, "the baseline band needs a fillBelowTo override"
    legends = {t["legendFormat"] for t in share["targets"]}
    for o in band:
        assert o["matcher"]["options"] in legends
        assert next(p["value"] for p in o["properties"] if p["id"] == "custom.fillBelowTo") in legends
    assert any(p["title"].startswith("Detector score") for p in repeated)
    volume = next(p for p in top if p["type"] == "timeseries" and p["title"].startswith("Volume"))
    assert "koubei_mentions_total" in volume["targets"][0]["expr"]


def test_the_dashboards_link_to_each_other() -> None:
    brand = load(GRAFANA / "dashboards" / "brand-health.json")
    pipeline = load(GRAFANA / "dashboards" / "pipeline-health.json")
    for source, other in ((brand, pipeline), (pipeline, brand)):
        reaching = [link for link in source["links"]
                    if (link["type"] == "dashboards" and set(link["tags"]) <= set(other["tags"]))
                    or (link["type"] == "link" and f"/d/{other['uid']}" in link.get("url", ""))]
        assert reaching, f"{source['title']} has no link to {other['title']}"
        assert all(link["keepTime"] for link in reaching), "keep the time range when switching"


def test_the_name_join_evaluates_as_intended(tmp_path: Path) -> None:
    """promtool evaluates a panel's query on series like two workers export:
    one result per selected brand, carrying the brand's name."""
    import shutil
    import subprocess

    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not on PATH (Debian package prometheus; deploy/tools/ensure-prometheus-tools.sh)")
    dashboard = load(GRAFANA / "dashboards" / "brand-health.json")
    stat = next(p for p in panels(dashboard) if p["title"] == "Mentions, last hour")
    # How Grafana substitutes a multi-value selection into a regex matcher.
    expr = stat["targets"][0]["expr"].replace("$brand", "(chenguang|xinghe)")
    series = []
    for worker in ("w1", "w2"):
        for brand, name in (("chenguang", "晨光乳业"), ("xinghe", "星河手机"), ("yunfan", "云帆")):
            series.append({"series": f'koubei_brand_info{{brand="{brand}",name="{name}",instance="{worker}"}}',
                           "values": "1x120"})
    series += [{"series": 'koubei_mentions_total{brand="chenguang",instance="w1"}', "values": "0+10x120"},
               {"series": 'koubei_mentions_total{brand="chenguang",instance="w2"}', "values": "0+5x120"},
               {"series": 'koubei_mentions_total{brand="xinghe",instance="w1"}', "values": "0+1x120"},
               {"series": 'koubei_mentions_total{brand="yunfan",instance="w2"}', "values": "0+7x120"}]
    test = {"rule_files": [], "evaluation_interval": "1m", "tests": [{
        "interval": "1m", "input_series": series,
        "promql_expr_test": [{"expr": expr, "eval_time": "2h", "exp_samples": [
            {"labels": '{brand="chenguang",name="晨光乳业"}', "value": 900},
            {"labels": '{brand="xinghe",name="星河手机"}', "value": 60},
        ]}]}]}
    path = tmp_path / "join.test.yml"
    path.write_text(yaml.safe_dump(test, allow_unicode=True), encoding="utf-8")
    result = subprocess.run([promtool, "test", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


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


def test_brand_info_publishes_the_configured_names() -> None:
    from prometheus_client import REGISTRY

    from streams.metrics import BRAND_INFO, publish_brand_info

    def published() -> dict[tuple[str, str], float]:
        return {(s.labels["brand"], s.labels["name"]): s.value
                for family in REGISTRY.collect() if family.name == "koubei_brand_info" for s in family.samples}

    try:
        publish_brand_info([("chenguang", "晨光乳业"), ("xinghe", "星河手机")])
        assert published() == {("chenguang", "晨光乳业"): 1.0, ("xinghe", "星河手机"): 1.0}
        # A renamed or removed brand leaves no stale series behind.
        publish_brand_info([("chenguang", "晨光")])
        assert published() == {("chenguang", "晨光"): 1.0}
    finally:
        BRAND_INFO.clear()
