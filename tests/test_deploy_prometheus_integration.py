"""A real Prometheus server (the Debian binary) scraping a running worker.

The worker replays the small labeled scenario from tests/pipeline_support;
Prometheus, on 127.0.0.1 with a temporary config and the project's own
recording rules, scrapes the worker every second. The test then asks
Prometheus' HTTP API (not the worker) for the per-brand series: this is
what dashboards and alert rules will see, so it checks the scrape config,
the metric names and the lag recording rule against real Faust output.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from connectors.file_replay import load_records, replay
from streams import topics
from streams.broker import free_port
from streams.cli.config import load_koubei_config
from streams.gate import Gate, InputRules
from streams.kafka import BrokerQuirks, ensure_topics, make_producer
from tests.pipeline_support import Pipeline, build_small_scenario, wait_for, write_lines
from tests.test_pipeline_integration import expected_mentions

# The scenarios are dated March 2026: replay them whatever today's date is.
HISTORY = Gate(InputRules(max_age=0))

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
RULES_DIR = REPO / "deploy" / "prometheus" / "rules"
WORKER_JOB = "koubei-worker"


class PrometheusServer:
    """``prometheus`` on 127.0.0.1 with its own config and TSDB directory."""

    def __init__(self, binary: str, workdir: Path, scrape_target: str) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.scrape_target = scrape_target
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "prometheus.log"

    def _write_config(self) -> Path:
        # The deploy rules evaluate every 30 s; a test cannot wait that long,
        # so the same expressions are loaded with a 1 s interval.
        rules_dir = self.workdir / "rules"
        rules_dir.mkdir()
        for source in sorted(RULES_DIR.glob("*.yml")):
            rules = yaml.safe_load(source.read_text(encoding="utf-8"))
            for group in rules["groups"]:
                group["interval"] = "1s"
            (rules_dir / source.name).write_text(yaml.safe_dump(rules, sort_keys=False), encoding="utf-8")
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
            "rule_files": [str(rules_dir / "*.yml")],
            "scrape_configs": [{"job_name": WORKER_JOB, "static_configs": [{"targets": [self.scrape_target]}]}],
        }
        path = self.workdir / "prometheus.yml"
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        return path

    def start(self) -> PrometheusServer:
        config = self._write_config()
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.process = subprocess.Popen(
            [self.binary, f"--config.file={config}", f"--storage.tsdb.path={self.workdir / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        wait_for(self._ready, timeout=30, what="prometheus /-/ready", interval=0.2, on_timeout=self.tail)
        return self

    def _ready(self) -> bool:
        if self.process is None or self.process.poll() is not None:
            raise AssertionError(f"prometheus exited early:\n{self.tail()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=1) as resp:
                return resp.status == 200
        except OSError:
            return False

    def query(self, promql: str) -> list[dict[str, Any]]:
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=5) as resp:
            body = json.loads(resp.read())
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    def values_by(self, promql: str, label: str) -> dict[str, float]:
        return {series["metric"].get(label, ""): float(series["value"][1]) for series in self.query(promql)}

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@pytest.fixture
def prometheus_binary() -> str:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("no prometheus binary on PATH (Debian package `prometheus`; "
                    "deploy/tools/ensure-prometheus-tools.sh installs it when run as root)")
    return binary


@pytest.fixture
def scraped_pipeline(tmp_path: Path, kafka_url: str, kafka_bootstrap: str,
                     prometheus_binary: str) -> Iterator[tuple[Pipeline, PrometheusServer]]:
    pipeline = Pipeline(tmp_path, kafka_url, prefix=f"pm{int(time.time() * 1000) % 10**9}")
    config = load_koubei_config(pipeline.config_path)
    ensure_topics(kafka_bootstrap, config.topics.plan(topics.PIPELINE))
    prom_dir = tmp_path / "prometheus"
    prom_dir.mkdir()
    server = PrometheusServer(prometheus_binary, prom_dir, f"127.0.0.1:{pipeline.web_port}")
    try:
        pipeline.start_worker()
        server.start()
        yield pipeline, server
    finally:
        server.stop()
        pipeline.close()


def test_prometheus_scrapes_per_brand_series_during_a_replay(scraped_pipeline: tuple[Pipeline, PrometheusServer],
                                                             kafka_bootstrap: str,
                                                             broker_quirks: BrokerQuirks) -> None:
    pipeline, server = scraped_pipeline
    scenario = build_small_scenario()
    path = write_lines(pipeline.tmp / "posts.jsonl", scenario.lines)
    config = load_koubei_config(pipeline.config_path)
    expected = {brand: float(count) for brand, count in expected_mentions(scenario).items()}
    assert len(expected) == 3, "the scenario should mention every brand"

    producer = make_producer(kafka_bootstrap, broker_quirks)
    try:
        replay(load_records(path, gate=HISTORY), producer, config.topic("posts"))
    finally:
        producer.close()

    mentions_query = f'sum by (brand) (koubei_mentions_total{{job="{WORKER_JOB}"}})'
    wait_for(lambda: server.values_by(mentions_query, "brand") == expected, timeout=60,
             what="Prometheus to scrape every replayed mention",
             on_timeout=lambda: f"prometheus has {server.values_by(mentions_query, 'brand')}, "
                                f"expected {expected}\n{server.tail()}")

    assert server.values_by(f'up{{job="{WORKER_JOB}"}}', "job") == {WORKER_JOB: 1.0}
    ingested = server.values_by(f'sum(koubei_posts_ingested_total{{job="{WORKER_JOB}"}})', "")
    assert ingested == {"": float(scenario.valid)}
    negatives = server.values_by('sum by (brand) (koubei_negative_mentions_total)', "brand")
    assert set(negatives) == set(expected)
    # Only the crisis brand has a negative burst: it must lead the others.
    assert negatives["xinghe"] > max(negatives["chenguang"], negatives["yunfan"])
    dead = server.values_by('sum by (reason) (koubei_dead_letters_total)', "reason")
    # The hostile corpus has several records per reason (tests/hostile_records.py).
    assert dead == {reason: float(n) for reason, n in Counter(reason for _, reason in scenario.bad_records).items()}

    # The lag recording rule must find Faust's offset gauges for the posts topic.
    lag_query = f'topic_partition:koubei_consumer_lag:messages{{topic="{config.topic("posts")}"}}'
    wait_for(lambda: bool(server.query(lag_query)), timeout=30,
             what="the consumer-lag recording rule to produce the posts topic's partitions",
             on_timeout=lambda: str(server.query('{__name__=~"koubei_faust_topic_partition.*"}')))
    for series in server.query(lag_query):
        assert float(series["value"][1]) >= 0, series
