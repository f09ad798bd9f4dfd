"""docs/metrics.md documents exactly the metrics the code defines.

The code side comes from prometheus_client's registry after importing the
metric modules (plus Faust's sensors, created in a private registry with the
prefix ``koubei worker`` uses), so a metric added, renamed or relabelled in
code without the catalogue (or the reverse) fails here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY, CollectorRegistry

REPO = Path(__file__).resolve().parent.parent
CATALOGUE = REPO / "docs" / "metrics.md"
ROW = re.compile(r"^\|\s*`(koubei_[a-z0-9_]+)`\s*\|\s*(counter|gauge|histogram)\s*\|([^|]*)\|\s*([WNC, ]+)\s*\|")
PROCESSES = {"W", "N", "C"}


def exposed_name(collector: Any) -> str:
    # prometheus_client strips "_total" from a counter's name and adds it
    # back in the exposition; the catalogue lists what Prometheus stores.
    name = str(collector._name)
    return f"{name}_total" if collector._type == "counter" else name


def collectors(registry: CollectorRegistry) -> dict[str, Any]:
    # _names_to_collectors is the registry's own index (no public accessor
    # gives the label names of a metric that has no children yet).
    found: dict[str, Any] = {}
    for collector in set(registry._names_to_collectors.values()):
        name = getattr(collector, "_name", "")
        if name.startswith("koubei_"):
            found[exposed_name(collector)] = collector
    return found


def code_metrics() -> dict[str, tuple[str, tuple[str, ...]]]:
    from faust.sensors.prometheus import FaustMetrics

    import alerting.metrics  # noqa: F401 - registers its metrics
    import connectors._metrics  # noqa: F401
    import streams.metrics  # noqa: F401

    faust_registry = CollectorRegistry()
    FaustMetrics.create(faust_registry, "koubei_faust")  # the prefix streams.cli.pipeline.cmd_worker passes
    out: dict[str, tuple[str, tuple[str, ...]]] = {}
    for registry in (REGISTRY, faust_registry):
        for name, collector in collectors(registry).items():
            out[name] = (str(collector._type), tuple(collector._labelnames))
    return out


def catalogue_metrics(text: str) -> dict[str, tuple[str, tuple[str, ...], set[str]]]:
    out: dict[str, tuple[str, tuple[str, ...], set[str]]] = {}
    for line in text.splitlines():
        match = ROW.match(line)
        if not match:
            continue
        name, kind, labels, processes = match.groups()
        assert name not in out, f"{name} is listed twice in docs/metrics.md"
        label_names = tuple(re.findall(r"`([a-z_]+)`", labels))
        out[name] = (kind, label_names, {p.strip() for p in processes.split(",") if p.strip()})
    return out


@pytest.fixture(scope="module")
def documented() -> dict[str, tuple[str, tuple[str, ...], set[str]]]:
    rows = catalogue_metrics(CATALOGUE.read_text(encoding="utf-8"))
    assert len(rows) > 40, "the catalogue table rows were not recognised"
    return rows


def test_every_metric_in_code_is_documented(documented: dict[str, Any]) -> None:
    missing = sorted(set(code_metrics()) - set(documented))
    assert not missing, f"metrics defined in code but missing from docs/metrics.md: {missing}"


def test_every_documented_metric_exists_in_code(documented: dict[str, Any]) -> None:
    stale = sorted(set(documented) - set(code_metrics()))
    assert not stale, f"docs/metrics.md lists metrics the code does not define: {stale}"


def test_types_and_labels_match(documented: dict[str, Any]) -> None:
    wrong = []
    for name, (kind, labels) in code_metrics().items():
        doc_kind, doc_labels, processes = documented[name]
        if (doc_kind, set(doc_labels)) != (kind, set(labels)):
            wrong.append(f"{name}: code {kind}{sorted(labels)}, docs {doc_kind}{sorted(doc_labels)}")
        if not processes or not processes <= PROCESSES:
            wrong.append(f"{name}: process column {sorted(processes)} is not W/N/C")
    assert not wrong, "\n".join(wrong)


def test_names_follow_prometheus_conventions() -> None:
    problems = []
    for name, (kind, labels) in code_metrics().items():
        if name.startswith("koubei_faust_"):
            continue  # Faust's names are Faust's (ms latencies, its spelling)
        if kind == "counter" and not name.endswith("_total"):
            problems.append(f"{name}: counter without _total")
        if kind != "counter" and name.endswith("_total"):
            problems.append(f"{name}: {kind} named like a counter")
        if re.search(r"_(ms|milliseconds|minutes|hours|percent)(_|$)", name):
            problems.append(f"{name}: not in base units")
        # Unbounded values must never be labels.
        for label in labels:
            if label in {"id", "post_id", "text", "author", "url", "user"}:
                problems.append(f"{name}: unbounded label {label}")
    assert not problems, "\n".join(problems)


def test_catalogue_parser_rejects_what_it_should() -> None:
    text = ("| `koubei_a_total` | counter | `brand` | W | x |\n"
            "| `koubei_b` | gauge | | N, C | y |\n"
            "| not a metric | counter | | W | z |\n")
    assert catalogue_metrics(text) == {"koubei_a_total": ("counter", ("brand",), {"W"}),
                                       "koubei_b": ("gauge", (), {"N", "C"})}
