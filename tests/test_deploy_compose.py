"""deploy/docker-compose.yml, the Dockerfile and the files they mount.

`docker compose config` is the authoritative check and runs when the compose
plugin works here. It is not installable from the registries this project
uses, so the file is also validated against the Compose Specification's JSON
schema (tests/data/compose-spec) and by the structural checks below: every
service another file names exists, no secret has a default, nothing runs as
root, the image prepares the segmenter at build time.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from streams.cli.config import load_koubei_config

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
ENV_EXAMPLE = DEPLOY / ".env.example"
SECRETS = {"KOUBEI_PR_WEBHOOK_URL": "https://hooks.example.com/pr", "KOUBEI_PR_WEBHOOK_SECRET": "s",
           "KOUBEI_INGEST_TOKEN": "t", "WEIBO_ACCESS_TOKEN": "w"}
VARIABLE = re.compile(r"\$\{([^}]*)\}")
KOUBEI_IMAGE = "koubei-sentinel"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return dict(compose["services"])


def env_example() -> dict[str, str]:
    pairs = [line.split("=", 1) for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    return {name.strip(): value.strip() for name, value in pairs}


def dockerfile_final_stage() -> list[str]:
    lines = [line.strip() for line in (DEPLOY / "Dockerfile").read_text(encoding="utf-8").splitlines()]
    last_from = max(i for i, line in enumerate(lines) if line.startswith("FROM "))
    return lines[last_from:]


def _compose_cli() -> list[str]:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("docker CLI not installed; the schema and structural checks below still run")
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        reason = ((probe.stderr or probe.stdout).strip().splitlines() or ["no output"])[0]
        pytest.skip(f"docker compose plugin not available here ({reason}); the schema and structural checks run")
    return [docker, "compose", "-f", str(COMPOSE)]


def test_docker_compose_config_accepts_the_file_and_requires_every_secret() -> None:
    cli = _compose_cli()
    filled = {**os.environ, **{name: f"value-of-{name.lower()}" for name in env_example()}}
    result = subprocess.run([*cli, "config", "--quiet"], capture_output=True, text=True, timeout=60, cwd=DEPLOY,
                            env=filled)
    assert result.returncode == 0, result.stderr
    missing = {k: v for k, v in filled.items() if k != "GRAFANA_ADMIN_PASSWORD"}
    result = subprocess.run([*cli, "config", "--quiet"], capture_output=True, text=True, timeout=60, cwd=DEPLOY,
                            env=missing)
    assert result.returncode != 0 and "GRAFANA_ADMIN_PASSWORD" in result.stderr


def test_the_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    import jsonschema

    schema = json.loads((REPO / "tests" / "data" / "compose-spec" / "compose-spec.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema)
    assert [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(compose)] == []
    # The validator is not a rubber stamp: a misspelt key fails.
    broken = {**compose, "services": {**compose["services"], "kafka": {**compose["services"]["kafka"], "restrat": 1}}}
    assert list(validator.iter_errors(broken))


# ---- every service that is referenced exists ------------------------------


def _host_port(address: str) -> tuple[str, int | None]:
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    return str(parts.hostname), parts.port


def test_every_referenced_service_exists(services: dict[str, Any]) -> None:
    names = set(services) | {s["hostname"] for s in services.values() if "hostname" in s}
    referenced: list[tuple[str, str]] = []
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))
    for job in prometheus["scrape_configs"]:
        for static in job.get("static_configs", []):
            referenced += [(f"prometheus job {job['job_name']}", t) for t in static["targets"]]
    for manager in prometheus["alerting"]["alertmanagers"]:
        referenced += [("prometheus alerting", t) for s in manager["static_configs"] for t in s["targets"]]
    alertmanager = yaml.safe_load((DEPLOY / "alertmanager" / "alertmanager.yml").read_text(encoding="utf-8"))
    for receiver in alertmanager["receivers"]:
        referenced += [(f"alertmanager receiver {receiver['name']}", c["url"])
                       for c in receiver.get("webhook_configs", [])]
    for path in (DEPLOY / "grafana" / "provisioning" / "datasources").glob("*.yml"):
        referenced += [(f"grafana datasource {d['name']}", d["url"])
                       for d in yaml.safe_load(path.read_text(encoding="utf-8"))["datasources"]]
    for name, service in services.items():
        env = service.get("environment", {})
        if "KOUBEI_KAFKA_URL" in env:
            referenced.append((f"{name} KOUBEI_KAFKA_URL", env["KOUBEI_KAFKA_URL"].replace(";", ",").split(",")[0]))
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on {dependency}, which is not a service"
    assert len(referenced) >= 10
    for where, address in referenced:
        host, _ = _host_port(address)
        if host in ("localhost", "127.0.0.1"):
            continue
        assert host in names, f"{where} points at {address}: no service {host} in docker-compose.yml"


def test_pipeline_alerts_reach_the_sre_chat_through_the_bridge(compose: dict[str, Any],
                                                               services: dict[str, Any]) -> None:
    alertmanager = yaml.safe_load((DEPLOY / "alertmanager" / "alertmanager.yml").read_text(encoding="utf-8"))
    [chat] = [r for r in alertmanager["receivers"] if r["name"] == "sre-chat"]
    [hook] = chat["webhook_configs"]
    url = urlsplit(hook["url"])
    bridge = services[str(url.hostname)]
    assert bridge["image"].startswith("timonwong/prometheus-webhook-dingtalk:v")
    assert f"--web.listen-address=:{url.port}" in bridge["command"]
    # The bridge answers /dingtalk/<target>/send for each target of its config.
    match = re.fullmatch(r"/dingtalk/([A-Za-z][\w-]*)/send", url.path)
    assert match, url.path
    [mount] = bridge["configs"]
    config = yaml.safe_load(compose["configs"][mount["source"]]["content"])
    assert match.group(1) in config["targets"]
    assert "--config.file=" + mount["target"] in bridge["command"]
    assert services["alertmanager"]["depends_on"]["alert-bridge"]["condition"] == "service_healthy"
    assert "/-/ready" in " ".join(bridge["healthcheck"]["test"])


# ---- secrets --------------------------------------------------------------


def test_no_secret_has_a_default(compose: dict[str, Any]) -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    variables = VARIABLE.findall(text)
    assert variables
    names = set()
    for expression in variables:
        name, sep, message = expression.partition(":?")
        assert sep and message.strip(), f"${{{expression}}}: every variable is required (${{NAME:?message}})"
        names.add(name)
    example = env_example()
    assert names == set(example), "deploy/.env.example lists exactly the variables the compose file requires"
    assert all(value == "" for value in example.values()), "the example carries no values"
    assert "deploy/.env" in (REPO / ".gitignore").read_text(encoding="utf-8").split()
    lowered = text.lower()
    for placeholder in ("change-me", "changeme", ":-admin", "password: admin", "replace-me"):
        assert placeholder not in lowered


def test_secrets_reach_the_services_whose_config_names_them(services: dict[str, Any]) -> None:
    raw = yaml.safe_load((DEPLOY / "koubei.yaml").read_text(encoding="utf-8"))
    channel_vars = {c[f] for c in raw["alerting"]["channels"] for f in ("url_env", "secret_env", "routing_key_env")
                    if f in c}
    for name in ("worker-1", "worker-2"):
        assert channel_vars <= set(services[name]["environment"]), name
    for name, service in services.items():
        if name.startswith("connector-"):
            token = raw["connectors"][service["command"][1]].get("token_env")
            if token:
                assert token in service["environment"], f"{name} lacks ${token}"
    assert "GF_SECURITY_ADMIN_PASSWORD" in services["grafana"]["environment"]


# ---- images and users -----------------------------------------------------


def test_every_service_runs_as_a_non_root_user_without_privileges(services: dict[str, Any]) -> None:
    stage = dockerfile_final_stage()
    users = [line.split()[1] for line in stage if line.startswith("USER ")]
    assert users and users[-1] == "koubei", "the image's last USER is the koubei user"
    assert any("useradd" in line and "--uid 10001" in line for line in stage)
    for name, service in services.items():
        user = str(service.get("user", ""))
        assert user and user.split(":")[0] not in ("root", "0"), f"{name}: state a non-root user"
        if service.get("image", "").startswith(KOUBEI_IMAGE):
            assert user == "koubei", name
            assert service["read_only"] is True and any(t.startswith("/tmp") for t in service["tmpfs"]), name
        assert "ALL" in service["cap_drop"], name
        assert "no-new-privileges:true" in service["security_opt"], name


def test_published_ports_stay_on_the_host(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: publish on 127.0.0.1 (a proxy exposes it)"
    assert "ports" not in services["kafka"], "Kafka speaks PLAINTEXT: never published"


def test_the_image_prepares_the_segmenter_at_build_time(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from streams.sentiment import _snowdata

    stage = dockerfile_final_stage()
    copy = next(i for i, line in enumerate(stage) if line.startswith("COPY --from=build"))
    prepare = next(i for i, line in enumerate(stage) if "koubei sentiment prepare" in line)
    user = next(i for i, line in enumerate(stage) if line.startswith("USER "))
    assert copy < prepare < user, "prepare after the venv is in place, as root, before dropping privileges"
    env = " ".join(line for line in stage[:prepare] if line.startswith("ENV") or line.startswith("KOUBEI_") or "=" in line)
    match = re.search(r"KOUBEI_CACHE_DIR=(\S+)", env)
    assert match, "the cache directory is fixed before prepare runs"
    cache = match.group(1)
    volumes = " ".join(line for line in stage if line.startswith("VOLUME"))
    assert "/var/lib/koubei" in volumes and not cache.startswith("/var/lib/koubei"), \
        "a cache under the volume would be hidden by the mounted volume"
    # The code reads the same variable.
    monkeypatch.setenv("KOUBEI_CACHE_DIR", str(tmp_path))
    assert _snowdata.cache_dir() == tmp_path


def test_koubei_services_build_the_image_from_the_dockerfile(services: dict[str, Any]) -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert "pip install" in dockerfile and "[rocksdb]" in dockerfile, "the image needs the RocksDB store"
    assert 'ENTRYPOINT ["koubei"]' in dockerfile
    for name, service in services.items():
        if service.get("image", "").startswith(KOUBEI_IMAGE):
            assert service["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}, name
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    copied = [source for line in dockerfile.splitlines() if line.startswith("COPY ") and "--from" not in line
              for source in line.split()[1:-1]]
    # pip needs the readme pyproject names; every package directory must be in the image.
    assert project["readme"] in copied
    for package in ("streams", "connectors", "alerting"):
        assert package in copied and (REPO / package).is_dir(), package


# ---- the pipeline's services ----------------------------------------------


def test_all_parts_of_the_deployment_are_present(services: dict[str, Any]) -> None:
    assert {"kafka", "worker-1", "worker-2", "prometheus", "alertmanager", "alert-bridge", "grafana"} <= set(services)
    connectors = [name for name in services if name.startswith("connector-")]
    assert len(connectors) >= 2
    assert services["kafka"]["image"].startswith("apache/kafka:")
    for name, service in services.items():
        image = service["image"]
        if not image.startswith(KOUBEI_IMAGE):
            assert ":" in image and not image.endswith(":latest"), f"{name}: pin the image version"


def test_kafka_runs_kraft_single_node(services: dict[str, Any]) -> None:
    env = services["kafka"]["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == 1
    assert services["kafka"]["healthcheck"]["test"]


def test_workers_are_ready_checked_on_readyz_and_scraped(services: dict[str, Any]) -> None:
    config = load_koubei_config(DEPLOY / "koubei.yaml", environ=SECRETS)
    port = config.worker.web_port
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in prometheus["scrape_configs"]}
    worker_targets = set(jobs["koubei-worker"]["static_configs"][0]["targets"])
    for name in ("worker-1", "worker-2"):
        service = services[name]
        command = service["command"]
        assert command[:1] == ["worker"] and command[command.index("--web-port") + 1] == str(port)
        assert f"127.0.0.1:{port}/readyz" in " ".join(service["healthcheck"]["test"])
        assert service["depends_on"]["kafka"]["condition"] == "service_healthy"
        assert f"{service['hostname']}:{port}" in worker_targets
        # Each worker keeps its own RocksDB directory.
        assert any(v.endswith(":/var/lib/koubei") for v in service["volumes"])
    assert services["worker-1"]["volumes"] != services["worker-2"]["volumes"]


def test_connectors_match_the_config_and_are_scraped(services: dict[str, Any]) -> None:
    config = load_koubei_config(DEPLOY / "koubei.yaml", environ=SECRETS)
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in prometheus["scrape_configs"]}
    targets = set(jobs["koubei-connector"]["static_configs"][0]["targets"])
    for name, service in services.items():
        if not name.startswith("connector-"):
            continue
        command = service["command"]
        assert command[0] == "connect"
        spec = config.connectors.instances[command[1]]
        assert spec.metrics_port, f"{command[1]}: metrics_port must be set to be scraped"
        assert f"{service['hostname']}:{spec.metrics_port}" in targets
        check = " ".join(service["healthcheck"]["test"])
        if spec.type == "http_ingest":
            assert f":{spec.options.port}/readyz" in check
        else:
            assert f":{spec.metrics_port}/metrics" in check


def test_monitoring_mounts_the_files_in_deploy(services: dict[str, Any]) -> None:
    mounts = [v.split(":")[0] for s in ("prometheus", "alertmanager", "grafana") for v in services[s]["volumes"]]
    for source in mounts:
        if source.startswith("./"):
            assert (DEPLOY / source).exists(), f"{source} is mounted but does not exist"
    rules = next(v for v in services["prometheus"]["volumes"] if v.startswith("./prometheus/rules:"))
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    assert prometheus["rule_files"] == [rules.split(":")[1] + "/*.yml"]
    assert prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"]


def test_deploy_config_is_a_valid_production_config() -> None:
    config = load_koubei_config(DEPLOY / "koubei.yaml", environ=SECRETS)
    assert config.worker.store == "rocksdb://"
    assert config.kafka.broker_quirks == "none"
    assert config.kafka.partitions >= 2
    assert config.grafana_url.endswith("/d/koubei-brand")
