"""deploy/k8s: structure, probes, config, secrets and monitoring wiring.

Nothing here talks to a cluster: the manifests are parsed with PyYAML and,
when kubectl is installed, rendered with `kubectl kustomize` (offline).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from streams.cli.config import load_koubei_config

REPO = Path(__file__).resolve().parent.parent
K8S = REPO / "deploy" / "k8s"
KOUBEI_YAML = REPO / "deploy" / "koubei.yaml"
SECRETS = {"KOUBEI_PR_WEBHOOK_URL": "https://hooks.example.com/pr", "KOUBEI_PR_WEBHOOK_SECRET": "s",
           "KOUBEI_INGEST_TOKEN": "t", "WEIBO_ACCESS_TOKEN": "w"}


def documents(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((K8S / name).read_text(encoding="utf-8")) if d]


@pytest.fixture(scope="module")
def applied() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    docs: list[dict[str, Any]] = []
    for resource in kustomization["resources"]:
        docs.extend(documents(resource))
    return docs


def one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


def env_names(container: dict[str, Any]) -> set[str]:
    return {e["name"] for e in container.get("env", [])}


def test_every_document_has_the_basic_fields(applied: list[dict[str, Any]]) -> None:
    for doc in applied:
        assert doc.get("apiVersion") and doc.get("kind") and doc["metadata"].get("name"), doc
    kinds = {d["kind"] for d in applied}
    assert {"StatefulSet", "ConfigMap", "Service", "ServiceMonitor", "PodDisruptionBudget"} <= kinds


def test_worker_replicas_resources_and_probes_match_the_worker(applied: list[dict[str, Any]]) -> None:
    config = load_koubei_config(KOUBEI_YAML, environ=SECRETS)
    worker = one(applied, "StatefulSet", "koubei-worker")
    assert worker["spec"]["replicas"] >= 2
    assert worker["spec"]["replicas"] <= config.kafka.partitions, "replicas beyond the partition count sit idle"
    pod = worker["spec"]["template"]["spec"]
    assert worker["spec"]["selector"]["matchLabels"].items() <= worker["spec"]["template"]["metadata"]["labels"].items()
    container = pod["containers"][0]
    args = container["args"]
    assert args[0] == "worker"
    web_port = int(args[args.index("--web-port") + 1])
    assert web_port == config.worker.web_port
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["web"] == web_port
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "web"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "web"}
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind])
    # Scoring processes run beside the worker process: the limit must leave room.
    assert float(container["resources"]["limits"]["cpu"]) >= 1 + config.scoring.processes
    assert pod["terminationGracePeriodSeconds"] >= 30


def test_worker_state_is_on_a_persistent_volume(applied: list[dict[str, Any]]) -> None:
    config = load_koubei_config(KOUBEI_YAML, environ=SECRETS)
    assert config.worker.store == "rocksdb://"
    worker = one(applied, "StatefulSet", "koubei-worker")
    container = worker["spec"]["template"]["spec"]["containers"][0]
    args = container["args"]
    data_dir = args[args.index("--data-dir") + 1]
    assert data_dir == config.worker.data_dir
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    claims = {c["metadata"]["name"]: c for c in worker["spec"]["volumeClaimTemplates"]}
    data_mount = next(name for name, path in mounts.items() if path == data_dir)
    assert data_mount in claims
    assert claims[data_mount]["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claims[data_mount]["spec"]["resources"]["requests"]["storage"]


def test_configmap_carries_the_deploy_config(applied: list[dict[str, Any]]) -> None:
    configmap = one(applied, "ConfigMap", "koubei-config")
    assert configmap["data"]["koubei.yaml"] == KOUBEI_YAML.read_text(encoding="utf-8")
    for workload in (one(applied, "StatefulSet", "koubei-worker"), one(applied, "Deployment", "koubei-connector-ingest")):
        pod = workload["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        container = pod["containers"][0]
        config_mount = next(m for m in container["volumeMounts"] if m["mountPath"] == "/etc/koubei")
        assert volumes[config_mount["name"]]["configMap"]["name"] == "koubei-config"
        assert container["args"][container["args"].index("-c") + 1] == "/etc/koubei/koubei.yaml"


def test_secrets_are_referenced_for_every_env_field(applied: list[dict[str, Any]]) -> None:
    raw = yaml.safe_load(KOUBEI_YAML.read_text(encoding="utf-8"))
    channel_vars = {c[f] for c in raw["alerting"]["channels"] for f in ("url_env", "secret_env", "routing_key_env")
                    if f in c}
    assert channel_vars
    example = documents("secret.example.yaml")[0]
    keys = set(example["stringData"])
    worker = one(applied, "StatefulSet", "koubei-worker")["spec"]["template"]["spec"]["containers"][0]
    ingest = one(applied, "Deployment", "koubei-connector-ingest")["spec"]["template"]["spec"]["containers"][0]
    for container, wanted in ((worker, channel_vars), (ingest, {raw["connectors"]["ingest"]["token_env"]})):
        assert wanted <= env_names(container)
        for entry in container["env"]:
            if entry["name"] in wanted:
                ref = entry["valueFrom"]["secretKeyRef"]
                assert ref["name"] == example["metadata"]["name"] and ref["key"] in keys, entry
    assert all("secret" not in d["kind"].lower() for d in applied), "real Secrets never live in the repo"


def test_servicemonitors_select_services_with_the_named_port(applied: list[dict[str, Any]]) -> None:
    services = [d for d in applied if d["kind"] == "Service"]
    monitors = [d for d in applied if d["kind"] == "ServiceMonitor"]
    prometheus = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"] for job in prometheus["scrape_configs"]}
    assert len(monitors) == 2
    for monitor in monitors:
        selector = monitor["spec"]["selector"]["matchLabels"]
        matched = [s for s in services if selector.items() <= s["metadata"]["labels"].items()]
        assert matched, monitor["metadata"]["name"]
        for endpoint in monitor["spec"]["endpoints"]:
            assert endpoint["path"] == "/metrics"
            for service in matched:
                assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
        # The job label comes from a service label whose value the rules use.
        job = matched[0]["metadata"]["labels"][monitor["spec"]["jobLabel"]]
        assert job in jobs, f"job {job} is not one the rules and dashboards expect"
    for service in services:
        pods = [d for d in applied if d["kind"] in ("StatefulSet", "Deployment")
                and service["spec"]["selector"].items() <= d["spec"]["template"]["metadata"]["labels"].items()]
        assert pods, f"service {service['metadata']['name']} selects no workload"
        container_ports = {p["name"] for p in pods[0]["spec"]["template"]["spec"]["containers"][0]["ports"]}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= container_ports


def test_kustomize_renders_the_manifests() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not installed: `kubectl kustomize deploy/k8s` not checked")
    result = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    rendered = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert all(d["metadata"].get("namespace") == "koubei" for d in rendered if d["kind"] != "Namespace")
    assert any(d["kind"] == "StatefulSet" for d in rendered)
