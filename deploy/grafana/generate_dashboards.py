"""Writes the Grafana dashboards in deploy/grafana/dashboards/ (JSON).

The JSON files are what Grafana provisions; this script is how they are
edited, so panels stay consistent (same datasource variable, units, grid).
Run it after changing a panel; tests/test_deploy_dashboards.py fails when
the committed JSON differs from what this script writes.

    .venv/bin/python deploy/grafana/generate_dashboards.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT_DIR = Path(__file__).resolve().parent / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
WIDTH = 24


class Layout:
    """Places panels left to right in rows of 24 grid units."""

    def __init__(self) -> None:
        self.x = 0
        self.y = 0
        self.row_height = 0
        self.next_id = 1

    def place(self, panel: dict[str, Any], w: int, h: int) -> dict[str, Any]:
        if self.x + w > WIDTH:
            self.newline()
        panel["gridPos"] = {"x": self.x, "y": self.y, "w": w, "h": h}
        panel["id"] = self.next_id
        self.next_id += 1
        self.x += w
        self.row_height = max(self.row_height, h)
        return panel

    def newline(self) -> None:
        if self.x:
            self.y += self.row_height
        self.x = 0
        self.row_height = 0

    def row(self, title: str) -> dict[str, Any]:
        self.newline()
        panel = {"type": "row", "title": title, "collapsed": False, "panels": []}
        self.place(panel, WIDTH, 1)
        self.newline()
        return panel


def target(expr: str, legend: str = "", ref: str = "A", instant: bool = False) -> dict[str, Any]:
    return {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "refId": ref,
            "range": not instant, "instant": instant}


def refs(exprs: list[tuple[str, str]], instant: bool = False) -> list[dict[str, Any]]:
    return [target(expr, legend, chr(ord("A") + i), instant) for i, (expr, legend) in enumerate(exprs)]


def stat(title: str, expr: str, unit: str, description: str, thresholds: list[tuple[float | None, str]] | None = None,
         decimals: int | None = None, legend: str = "") -> dict[str, Any]:
    steps = [{"color": color, "value": value} for value, color in (thresholds or [(None, "green")])]
    defaults: dict[str, Any] = {"unit": unit, "thresholds": {"mode": "absolute", "steps": steps},
                                "color": {"mode": "thresholds"}}
    if decimals is not None:
        defaults["decimals"] = decimals
    return {
        "type": "stat", "title": title, "description": description, "datasource": DATASOURCE,
        "targets": refs([(expr, legend)], instant=True),
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "colorMode": "background", "graphMode": "none", "textMode": "value", "justifyMode": "center",
                    "orientation": "auto"},
    }


def timeseries(title: str, exprs: list[tuple[str, str]], unit: str, description: str,
               overrides: list[dict[str, Any]] | None = None, stack: bool = False, fill: int = 10,
               min_value: float | None = 0) -> dict[str, Any]:
    custom: dict[str, Any] = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": fill, "showPoints": "never",
                              "spanNulls": True, "stacking": {"mode": "normal" if stack else "none", "group": "A"}}
    defaults: dict[str, Any] = {"unit": unit, "custom": custom, "color": {"mode": "palette-classic"}}
    if min_value is not None:
        defaults["min"] = min_value
    return {
        "type": "timeseries", "title": title, "description": description, "datasource": DATASOURCE,
        "targets": refs(exprs),
        "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                    "tooltip": {"mode": "multi", "sort": "desc"}},
    }


def override(name: str, **properties: Any) -> dict[str, Any]:
    return {"matcher": {"id": "byName", "options": name},
            "properties": [{"id": key.replace("__", "."), "value": value} for key, value in properties.items()]}


def override_regex(pattern: str, **properties: Any) -> dict[str, Any]:
    return {"matcher": {"id": "byRegexp", "options": pattern},
            "properties": [{"id": key.replace("__", "."), "value": value} for key, value in properties.items()]}


# Every worker publishes koubei_brand_info{brand, name} = 1 per configured
# brand (streams/metrics.py); max by () folds the workers' copies into one.
BRAND_NAMES = "max by (brand, name) (koubei_brand_info)"


def named(expr: str) -> str:
    """A per-brand expression (its result has a ``brand`` label) with the
    brand's display name added as ``name``, for legends."""
    return f"{expr} * on (brand) group_left(name) {BRAND_NAMES}"


def datasource_variable() -> dict[str, Any]:
    return {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus",
            "current": {}, "hide": 0, "refresh": 1, "regex": "", "options": []}


def query_variable(name: str, label: str, query: str, multi: bool = False, regex: str = "") -> dict[str, Any]:
    return {"name": name, "label": label, "type": "query", "datasource": DATASOURCE,
            "definition": query, "query": {"query": query, "refId": f"{name}-var"},
            "refresh": 2, "sort": 1, "multi": multi, "includeAll": multi, "current": {}, "hide": 0,
            "options": [], "regex": regex}


def brand_variable() -> dict[str, Any]:
    """Brands picked by name, several at once; the value stays the brand id
    (the notifier's links pass ``var-brand=<id>``). Grafana's named capture
    groups turn each ``{brand="chenguang",name="晨光乳业"} 1 <ts>`` result
    into text 晨光乳业, value chenguang."""
    return query_variable("brand", "Brand", f"query_result({BRAND_NAMES})", multi=True,
                          regex='/brand="(?<value>[^"]+)".*name="(?<text>[^"]+)"/')


def links_to_other_dashboards() -> list[dict[str, Any]]:
    """Both dashboards carry the tag: each links to the other, keeping the
    time range and the variables (the brand selection survives the trip)."""
    return [{"type": "dashboards", "tags": ["koubei-sentinel"], "asDropdown": False, "includeVars": True,
             "keepTime": True, "targetBlank": False, "title": "Koubei Sentinel", "icon": "external link"}]


def dashboard(uid: str, title: str, description: str, panels: list[dict[str, Any]],
              variables: list[dict[str, Any]], annotations: list[dict[str, Any]], time_from: str) -> dict[str, Any]:
    builtin = {"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True,
               "hide": True, "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard"}
    return {
        "uid": uid, "title": title, "description": description, "tags": ["koubei-sentinel"],
        "timezone": "browser", "schemaVersion": 39, "version": 1, "editable": True, "graphTooltip": 1,
        "refresh": "30s", "time": {"from": time_from, "to": "now"}, "timepicker": {},
        "templating": {"list": variables},
        "annotations": {"list": [builtin, *annotations]},
        "links": links_to_other_dashboards(), "panels": panels,
    }


# ---- Brand health -------------------------------------------------------------

def brand_health() -> dict[str, Any]:
    b = 'brand=~"$brand"'
    layout = Layout()
    panels: list[dict[str, Any]] = []

    def add(panel: dict[str, Any], w: int, h: int) -> None:
        panels.append(layout.place(panel, w, h))

    def per_brand(expr: str) -> str:
        return named(f"sum by (brand) ({expr})")

    baseline = f"max(koubei_negative_share_baseline_ratio{{{b}}})"
    bucket_n = f"clamp_min(max(koubei_bucket_mentions{{{b}}}), 1)"
    # 95 % range of a bucket's negative share if nothing changed: the
    # binomial spread around the baseline for the last bucket's volume.
    spread = f"2 * sqrt({baseline} * (1 - {baseline}) / {bucket_n})"

    panels.append(layout.row("At a glance: ${brand:text}"))
    add(stat("Mentions, last hour", per_brand(f"increase(koubei_mentions_total{{{b}}}[1h])"), "short",
             "Scored mentions of each selected brand in the last hour.", decimals=0, legend="{{name}}"), 6, 5)
    add(stat("Negative, last hour", per_brand(f"increase(koubei_negative_mentions_total{{{b}}}[1h])"), "short",
             "Mentions scored negative in the last hour.", decimals=0, legend="{{name}}"), 6, 5)
    add(stat("Negative share (last bucket)", named(f"max by (brand) (koubei_negative_share_ratio{{{b}}})"),
             "percentunit", "Negative share of each brand's last closed bucket.",
             [(None, "green"), (0.25, "orange"), (0.4, "red")], decimals=1, legend="{{name}}"), 6, 5)
    add(stat("Alerts firing", per_brand(f"koubei_alerts_firing{{{b}}}"), "none",
             "Brand alerts open now (firing and not yet resolved).", [(None, "green"), (1, "red")], decimals=0, legend="{{name}}"), 6, 5)

    panels.append(layout.row("Volume and sentiment"))
    add(timeseries("Volume (mentions per minute)", [
        (per_brand(f"rate(koubei_mentions_total{{{b}}}[$__rate_interval])") + " * 60", "{{name}}"),
        (per_brand(f"rate(koubei_negative_mentions_total{{{b}}}[$__rate_interval])") + " * 60", "{{name}} negative"),
    ], "short", "Scored mentions per minute for each selected brand, and how many of them are negative.",
        overrides=[override_regex(".* negative$", custom__lineStyle={"fill": "dash"})]), 12, 9)
    add(timeseries("Negative share (15 min)", [
        (named(f"max by (brand) (brand:koubei_negative_share:ratio_rate15m{{{b}}})"), "{{name}}"),
    ], "percentunit", "Share of negative mentions over the last 15 minutes, one line per brand, to compare them.",
        fill=0), 12, 9)

    # One row per selected brand: its own baseline band and detector.
    detail = layout.row("${brand:text}")
    detail["repeat"] = "brand"
    panels.append(detail)
    add(timeseries("Negative share vs baseline: ${brand:text}", [
        (f"max(koubei_negative_share_ratio{{{b}}})", "negative share (bucket)"),
        (f"max(brand:koubei_negative_share:ratio_rate15m{{{b}}})", "negative share (15 min)"),
        (baseline, "baseline"),
        (f"{baseline} + {spread}", "normal range (upper)"),
        (f"clamp_min({baseline} - {spread}, 0)", "normal range (lower)"),
    ], "percentunit", "Negative share of each closed bucket against the detector's baseline. The shaded band is "
       "the range a bucket of this size would show 95 % of the time if nothing had changed.",
        overrides=[
            override("negative share (bucket)", color={"mode": "fixed", "fixedColor": "red"}, custom__fillOpacity=0),
            override("negative share (15 min)", color={"mode": "fixed", "fixedColor": "orange"},
                     custom__fillOpacity=0),
            override("baseline", color={"mode": "fixed", "fixedColor": "blue"}, custom__lineStyle={"fill": "dash"},
                     custom__fillOpacity=0),
            override("normal range (upper)", color={"mode": "fixed", "fixedColor": "blue"}, custom__lineWidth=0,
                     custom__fillBelowTo="normal range (lower)", custom__fillOpacity=15),
            override("normal range (lower)", color={"mode": "fixed", "fixedColor": "blue"}, custom__lineWidth=0,
                     custom__fillOpacity=0),
        ], fill=0), 12, 9)
    add(timeseries("Mentions per closed bucket: ${brand:text}", [
        (f"max(koubei_bucket_mentions{{{b}}})", "mentions"),
        (f"max(koubei_bucket_negative_mentions{{{b}}})", "negative"),
    ], "short", "Counts of the last closed bucket (what the detector saw).",
        overrides=[override("negative", color={"mode": "fixed", "fixedColor": "red"})]), 12, 9)
    add(timeseries("Detector score: ${brand:text}", [
        (f"max(koubei_detector_score{{{b}}})", "score"),
        (baseline, "baseline share"),
    ], "none", "The detector's statistic for the brand's main signal after each bucket (higher = more unusual), "
       "and the baseline share it has learned.", fill=0, min_value=None), 12, 8)
    add(timeseries("Alert events: ${brand:text}", [
        (f"sum by (severity, state) (increase(koubei_alerts_total{{{b}}}[$__rate_interval]))", "{{severity}} {{state}}"),
        (f"sum(koubei_alerts_firing{{{b}}})", "open alerts"),
    ], "short", "Alert events emitted (firing/resolved by severity) and alerts open.", fill=0), 12, 8)

    annotations = [{
        "name": "Brand alerts", "datasource": DATASOURCE, "enable": True, "hide": False, "iconColor": "red",
        "expr": named(f"sum by (brand, severity, state) (increase(koubei_alerts_total{{{b}}}[2m]))") + " > 0",
        "step": "60s", "titleFormat": "{{severity}} alert {{state}}", "textFormat": "{{name}}",
        "tagKeys": "name,severity,state", "useValueForTime": False,
    }]
    variables = [datasource_variable(), brand_variable()]
    return dashboard("koubei-brand", "Koubei Sentinel: Brand health",
                     "Per-brand volume, negative share against its baseline, and alerts; pick brands by name.",
                     panels, variables, annotations, "now-6h")


# ---- Pipeline health ----------------------------------------------------------

def pipeline_health() -> dict[str, Any]:
    layout = Layout()
    panels: list[dict[str, Any]] = []
    rate = "$__rate_interval"

    def add(panel: dict[str, Any], w: int, h: int) -> None:
        panels.append(layout.place(panel, w, h))

    panels.append(layout.row("Processes"))
    add(stat("Workers up", 'sum(up{job="koubei-worker"})', "none", "Worker targets Prometheus can scrape.",
             [(None, "red"), (1, "green")], decimals=0), 6, 4)
    add(stat("Connectors up", 'sum(up{job="koubei-connector"})', "none", "Connector targets Prometheus can scrape.",
             [(None, "red"), (1, "green")], decimals=0), 6, 4)
    add(stat("Rebalances recovering", "sum(koubei_faust_total_rebalances_recovering)", "none",
             "Workers restoring tables after a rebalance (not ready meanwhile).",
             [(None, "green"), (1, "orange")], decimals=0), 6, 4)
    add(stat("Total consumer lag", "sum(topic:koubei_consumer_lag:messages)", "short",
             "Records not yet processed, all topics.", [(None, "green"), (1000, "orange"), (10000, "red")],
             decimals=0), 6, 4)

    panels.append(layout.row("Stages"))
    add(stat("Stages down", "count(koubei_stage_up == 0) or vector(0)", "none",
             "Stages that died (the worker answers /healthz 503 and exits to be restarted).",
             [(None, "green"), (1, "red")], decimals=0), 6, 6)
    add(timeseries("Seconds since each stage finished a batch", [
        ("time() - max by (stage) (koubei_stage_progress_timestamp_seconds)", "{{stage}}"),
    ], "s", "A healthy stage finishes a batch every few seconds; over 30 s with records waiting on its "
             "topic is a stall (alert KoubeiStageStalled).", fill=0), 18, 6)

    panels.append(layout.row("Throughput per stage"))
    add(timeseries("Stages (records/s)", [
        ("sum(connector:koubei_connector_posts_fetched:rate5m)", "connectors: posts fetched"),
        (f"sum(rate(koubei_posts_ingested_total[{rate}]))", "score: posts in"),
        (f"sum(rate(koubei_posts_matched_total[{rate}]))", "score: posts matching a brand"),
        (f"sum(rate(koubei_mentions_total[{rate}]))", "score: mentions out"),
        (f"sum(rate(koubei_mentions_aggregated_total[{rate}]))", "aggregate: mentions counted"),
        (f"sum(rate(koubei_buckets_closed_total[{rate}]))", "aggregate: buckets closed"),
        (f"sum(rate(koubei_alerts_total[{rate}]))", "detect: alert events"),
        (f'sum(rate(koubei_notifications_total{{outcome="sent"}}[{rate}]))', "notify: notifications sent"),
    ], "ops", "Records per second through each stage, from the connectors to the PR team's chat.", fill=0), 12, 9)
    add(timeseries("Posts in by source", [
        (f"sum by (source) (rate(koubei_posts_ingested_total[{rate}]))", "{{source}}"),
    ], "ops", "Valid posts per second read from the posts topic, by platform.", stack=True), 12, 9)
    add(timeseries("Connector fetch rate", [
        (f"sum by (connector) (rate(koubei_connector_posts_fetched_total[{rate}]))", "{{connector}}"),
    ], "ops", "Posts per second each connector confirmed to Kafka.", stack=True), 12, 8)
    add(timeseries("Kafka messages (Faust)", [
        (f"sum(rate(koubei_faust_messages_received_total[{rate}]))", "received"),
        (f"sum(rate(koubei_faust_total_sent_messages_total[{rate}]))", "sent"),
    ], "ops", "Messages the workers consume and produce (all topics, including changelogs).", fill=0), 12, 8)
    add(timeseries("Posts seen again by source", [
        (f"sum by (source) (rate(koubei_duplicate_posts_total[{rate}]))", "{{source}}"),
    ], "ops", "Posts a source sent again (same source:id within dedup.horizon: a re-crawl, an overlapping "
        "search, a second crawler), counted once. A crawler re-sending everything shows here.", stack=True), 12, 8)
    add(timeseries("Posts remembered for de-duplication", [
        ("sum(koubei_remembered_posts)", "remembered"),
    ], "short", "Posts the workers remember to recognise them when seen again; bounded by dedup.max_posts "
        "per worker (the oldest are forgotten first).", fill=0), 12, 8)

    panels.append(layout.row("Lag"))
    add(timeseries("Consumer lag by topic (records)", [
        ("topic:koubei_consumer_lag:messages", "{{topic}}"),
    ], "short", "End offset minus committed offset, summed over partitions.", fill=0), 8, 8)
    add(timeseries("Connector lag", [
        ("max by (connector) (koubei_connector_lag_seconds)", "{{connector}}"),
        ("connector:koubei_connector_silence:seconds", "{{connector}} since last success"),
    ], "s", "How far behind its source each connector is, and time since its last successful fetch.",
        fill=0), 8, 8)
    add(timeseries("Watermark delay", [
        ("time() - max by (partition) (koubei_watermark_timestamp_seconds)", "partition {{partition}}"),
    ], "s", "Wall clock minus event-time watermark per mentions partition (buckets close after it passes).",
        fill=0), 8, 8)

    panels.append(layout.row("Latency"))
    add(timeseries("Post created to scored", [
        ("koubei_post_to_scored_seconds:p50_5m", "p50"),
        ("koubei_post_to_scored_seconds:p95_5m", "p95"),
    ], "s", "From a post's created_at to its mentions being scored.", fill=0), 8, 8)
    add(timeseries("Scoring batch time", [
        ("koubei_score_batch_seconds:p95_5m", "p95 per batch"),
        (f"histogram_quantile(0.95, sum by (le) (rate(koubei_faust_events_runtime_ms_bucket[{rate}]))) / 1000",
         "p95 Faust event runtime"),
    ], "s", "Wall time to match and score a batch; Faust's per-event agent time (ms converted to s).",
        fill=0), 8, 8)
    add(timeseries("Alert to delivered", [
        ("channel:koubei_notification_delivery_latency_seconds:p95_5m", "p95 {{channel}}"),
    ], "s", "From the alert's bucket end to the platform accepting the notification (includes group_wait).",
        fill=0), 8, 8)

    panels.append(layout.row("Failures"))
    add(timeseries("Dead letters", [
        (f"sum by (topic, reason) (rate(koubei_dead_letters_total[{rate}]))", "{{topic}} {{reason}}"),
        (f"sum by (connector, reason) (rate(koubei_connector_dead_letters_total[{rate}]))",
         "connector {{connector}} {{reason}}"),
    ], "ops", "Records parked in a dead-letter topic, by reason.", stack=True), 8, 8)
    add(timeseries("Delivery errors by channel", [
        (f'sum by (channel, outcome) (rate(koubei_notifications_total{{outcome=~"failed|retried|dead"}}[{rate}]))',
         "{{channel}} {{outcome}}"),
        ("channel:koubei_notifications_failed:ratio_rate10m", "{{channel}} failure ratio"),
    ], "short", "Failed attempts, retries and given-up notifications per channel; failure ratio over 10 minutes.",
        fill=0), 8, 8)
    add(timeseries("Connector errors", [
        (f"sum by (connector, kind) (rate(koubei_connector_errors_total[{rate}]))", "{{connector}} {{kind}}"),
    ], "ops", "Errors talking to the sources (rate limits, 5xx, timeouts).", stack=True), 8, 8)
    add(timeseries("Late and duplicate records", [
        (named(f"sum by (brand) (rate(koubei_late_mentions_total[{rate}]))"), "late {{name}}"),
        (f"sum by (stage) (rate(koubei_duplicate_records_total[{rate}]))", "duplicate ({{stage}})"),
        (f"sum(rate(koubei_faust_total_error_messages_sent_total[{rate}]))", "Kafka produce errors"),
        (f"sum(rate(koubei_count_overlaps_total[{rate}]))", "count overlaps (expected 0)"),
    ], "ops", "Mentions too late for their bucket, re-delivered records skipped, produce errors, and bucket "
        "parts that overlapped ranges already counted (a bug if ever above 0; the worker logs it).",
        fill=0), 12, 8)
    add(timeseries("Notifier queue", [
        ("sum(koubei_notifications_pending)", "pending"),
        ("max(koubei_silences_active)", "silences active"),
    ], "short", "Notifications waiting in memory, and silences in effect.", fill=0), 12, 8)

    variables = [datasource_variable()]
    return dashboard("koubei-pipeline", "Koubei Sentinel: Pipeline health",
                     "Throughput, lag, latency and failures of every stage, connector to chat.",
                     panels, variables, [], "now-3h")


DASHBOARDS = {"brand-health.json": brand_health, "pipeline-health.json": pipeline_health}


def render(builder: Any) -> str:
    return json.dumps(builder(), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for name, builder in DASHBOARDS.items():
        (OUT_DIR / name).write_text(render(builder), encoding="utf-8")
        print(f"wrote {OUT_DIR / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
