"""Kafka security from the one ``kafka:`` section: the config, the builders in
streams/kafka.py, every client that receives them, and credentials kept out
of reprs, errors and logs. No broker here (tests/test_kafka_security_tls.py
runs TLS against one); the TLS handshakes below are real, against a local
TLS server with certificates made in the test.
"""

from __future__ import annotations

import ast
import asyncio
import logging
import socket
import ssl
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.cli.config import parse_koubei_config
from streams.config import KafkaConfig, parse_config
from streams.kafka import (
    BrokerQuirks,
    aiokafka_security,
    cluster_id,
    describe_security,
    faust_credentials,
    kafka_python_security,
    make_producer,
    ssl_context,
)
from streams.settings import ConfigError, read_section
from tests.kafka_tls import Pki, TlsRelay, make_pki, server_context

REPO = Path(__file__).resolve().parent.parent
BRANDS = [{"id": "xinghe", "name": "星河手机", "aliases": ["星河手机"]}]
USER, PASSWORD = "koubei-svc", "pw-Ünïcode-7f3a9c-SECRET"
ENV = {"KAFKA_USER": USER, "KAFKA_PASSWORD": PASSWORD}
SCRAM = {"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
         "sasl_username_env": "KAFKA_USER", "sasl_password_env": "KAFKA_PASSWORD"}


@pytest.fixture(autouse=True)
def credentials_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where a deployment puts them (a Kubernetes Secret, a compose variable)."""
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def kafka_section(raw: dict[str, Any], environ: dict[str, str] | None = None) -> KafkaConfig:
    """The kafka section of a config read in this process's environment, or in ``environ``."""
    return parse_config({"brands": BRANDS, "kafka": raw}, environ=environ).kafka


def mtls(pki: Pki, **extra: Any) -> dict[str, Any]:
    return {"security_protocol": "SSL", "ssl_ca_file": str(pki.ca_file), "ssl_cert_file": str(pki.client_cert),
            "ssl_key_file": str(pki.client_key), "ssl_key_password_env": "KEY_PASSWORD", **extra}


# ---- the configuration ----------------------------------------------------


def test_plaintext_is_the_default_and_adds_nothing() -> None:
    cfg = kafka_section({})
    assert cfg.security_protocol == "PLAINTEXT"
    assert kafka_python_security(cfg) == {"security_protocol": "PLAINTEXT"}
    assert aiokafka_security(cfg) == {"security_protocol": "PLAINTEXT"}
    assert faust_credentials(cfg) is None
    assert ssl_context(cfg) is None


@pytest.mark.parametrize("raw,environ,field,words", [
    ({"security_protocol": "TLS"}, ENV, "kafka.security_protocol", "must be one of"),
    ({**SCRAM, "sasl_mechanism": None}, ENV, "kafka.sasl_mechanism", "required with security_protocol SASL_SSL"),
    ({**SCRAM, "sasl_mechanism": "GSSAPI"}, ENV, "kafka.sasl_mechanism", "must be one of"),
    ({**SCRAM, "sasl_password_env": None}, ENV, "kafka.sasl_password_env", "required"),
    (SCRAM, {"KAFKA_USER": USER}, "kafka.sasl_password_env", "environment variable KAFKA_PASSWORD is not set"),
    (SCRAM, {"KAFKA_USER": USER, "KAFKA_PASSWORD": ""}, "kafka.sasl_password_env", "is not set"),
    # Someone pastes the password itself into the file.
    ({**SCRAM, "sasl_password_env": PASSWORD}, ENV, "kafka.sasl_password_env", "must be the NAME"),
    ({"sasl_username_env": "KAFKA_USER"}, ENV, "kafka.sasl_username_env", "only used with security_protocol SASL"),
    ({"ssl_ca_file": "/etc/hostname"}, ENV, "kafka.ssl_ca_file", "only used with security_protocol SSL"),
    ({"security_protocol": "SSL", "ssl_ca_file": "/nonexistent/ca.pem"}, ENV, "kafka.ssl_ca_file", "file not found"),
    ({"security_protocol": "SSL", "ssl_key_file": "/etc/hostname"}, ENV, "kafka.ssl_cert_file",
     "required with ssl_key_file"),
    ({"security_protocol": "SSL", "ssl_check_hostname": "no"}, ENV, "kafka.ssl_check_hostname", "true or false"),
])
def test_bad_security_settings_name_the_field(raw: dict[str, Any], environ: dict[str, str], field: str,
                                              words: str) -> None:
    with pytest.raises(ConfigError) as info:
        kafka_section(raw, environ)
    assert info.value.field == field
    assert words in info.value.message
    assert PASSWORD not in str(info.value)


def test_credentials_live_only_in_the_environment() -> None:
    cfg = kafka_section(SCRAM)
    assert (cfg.sasl_username_env, cfg.sasl_password_env) == ("KAFKA_USER", "KAFKA_PASSWORD")
    assert PASSWORD not in repr(cfg) and USER not in repr(cfg)
    # The process environment lost the variable since the config was read:
    # the error names the field and the variable, not a value.
    with pytest.raises(ConfigError) as info:
        kafka_python_security(cfg, environ={"KAFKA_USER": USER})
    assert info.value.field == "kafka.sasl_password_env" and "KAFKA_PASSWORD" in info.value.message


def test_check_config_validates_and_reports_the_security(tmp_path: Path, pki: Pki, capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    from streams.cli import main

    monkeypatch.setenv("KEY_PASSWORD", pki.key_password)
    path = tmp_path / "koubei.yaml"
    path.write_text(yaml.safe_dump({"brands": BRANDS, "kafka": mtls(pki)}, allow_unicode=True), encoding="utf-8")
    assert main(["check-config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "kafka security: SSL, CA " in out and "client certificate" in out and pki.key_password not in out
    # A wrong key password is caught by check-config, not at the first connection.
    monkeypatch.setenv("KEY_PASSWORD", "wrong-Zq9")
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "kafka.ssl_cert_file: cannot load the client certificate" in err and "wrong-Zq9" not in err


_FIELD_VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=30),
                          st.sampled_from(["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL", "PLAIN", "SCRAM-SHA-256",
                                           "SCRAM-SHA-512", "KAFKA_USER", "KAFKA_PASSWORD", "/etc/hostname", ""]),
                          st.lists(st.text(max_size=5), max_size=2), st.dictionaries(st.text(max_size=5), st.integers(),
                                                                                      max_size=2))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from([
    "security_protocol", "sasl_mechanism", "sasl_username_env", "sasl_password_env", "ssl_ca_file", "ssl_cert_file",
    "ssl_key_file", "ssl_key_password_env", "ssl_check_hostname", "bogus"]), _FIELD_VALUES, max_size=6))
def test_any_kafka_section_gives_a_config_or_a_named_error(raw: dict[str, Any]) -> None:
    try:
        cfg = read_section(KafkaConfig, raw, "kafka", {"environ": ENV})
    except ConfigError as exc:
        assert exc.field.startswith("kafka.")
        assert PASSWORD not in str(exc)
        return
    # Whatever was accepted, the builders either work or name the field.
    try:
        kafka_python_security(cfg, environ=ENV)
    except ConfigError as exc:
        assert exc.field.startswith("kafka.")


# ---- the builders ---------------------------------------------------------


def test_sasl_ssl_scram_settings_for_each_library(pki: Pki) -> None:
    cfg = kafka_section({**SCRAM, "ssl_ca_file": str(pki.ca_file)})
    for built in (kafka_python_security(cfg), aiokafka_security(cfg)):
        assert set(built) == {"security_protocol", "ssl_context", "sasl_mechanism", "sasl_plain_username",
                              "sasl_plain_password"}
        assert built["security_protocol"] == "SASL_SSL" and built["sasl_mechanism"] == "SCRAM-SHA-512"
        assert (built["sasl_plain_username"], built["sasl_plain_password"]) == (USER, PASSWORD)
        assert PASSWORD not in repr(built) and PASSWORD not in str(built)
        context = built["ssl_context"]
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
        assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName", "koubei test CA"),),)]
    credentials = faust_credentials(cfg)
    import faust
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    assert isinstance(credentials, faust.SASLCredentials)
    auth = credentials_to_aiokafka_auth(credentials)
    assert auth["security_protocol"] == "SASL_SSL" and auth["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (auth["sasl_plain_username"], auth["sasl_plain_password"]) == (USER, PASSWORD)
    assert PASSWORD not in repr(credentials)
    assert describe_security(cfg) == f"SASL_SSL, SCRAM-SHA-512, CA {pki.ca_file}"


def test_sasl_plaintext_has_no_tls_and_ssl_has_no_sasl(pki: Pki) -> None:
    plain = kafka_python_security(kafka_section({**SCRAM, "security_protocol": "SASL_PLAINTEXT",
                                                 "sasl_mechanism": "PLAIN"}))
    assert plain["security_protocol"] == "SASL_PLAINTEXT" and "ssl_context" not in plain
    assert plain["sasl_mechanism"] == "PLAIN"
    tls = kafka_python_security(kafka_section({"security_protocol": "SSL"}))
    assert set(tls) == {"security_protocol", "ssl_context"}
    assert tls["ssl_context"].get_ca_certs() or True  # system trust store: content depends on the machine


def _handshake(context: ssl.SSLContext, port: int, server_hostname: str = "localhost") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=server_hostname) as tls:
            return tls.recv(16)


def test_the_built_context_completes_mutual_tls_and_refuses_the_wrong_server(
        pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEY_PASSWORD", pki.key_password)
    relay = TlsRelay(server_context(pki, require_client_cert=True)).start()
    try:
        context = ssl_context(kafka_section(mtls(pki)))
        assert context is not None
        assert _handshake(context, relay.port) == b"ok\n"
        assert relay.client_names == ["koubei-client"]
        # The name the client connects to is checked against the certificate...
        with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
            _handshake(context, relay.port, server_hostname="kafka.example.net")
        # ...unless switched off; the chain is still verified.
        unchecked = ssl_context(kafka_section(mtls(pki, ssl_check_hostname=False)))
        assert unchecked is not None and _handshake(unchecked, relay.port, "kafka.example.net") == b"ok\n"
        # A CA that did not sign the broker's certificate is refused.
        other = ssl_context(kafka_section(mtls(pki, ssl_ca_file=str(pki.other_ca_file))))
        assert other is not None
        with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
            _handshake(other, relay.port)
        # Without a client certificate the broker side refuses the connection.
        anonymous = ssl_context(kafka_section({"security_protocol": "SSL", "ssl_ca_file": str(pki.ca_file)}))
        assert anonymous is not None
        # (TLS 1.3: the client finishes its handshake first, then reads the refusal or EOF.)
        try:
            answer = _handshake(anonymous, relay.port)
        except (ssl.SSLError, ConnectionError):
            answer = b""
        assert answer == b""
        assert relay.client_names == ["koubei-client", "koubei-client"]
    finally:
        relay.stop()


def test_a_wrong_key_password_or_a_broken_pem_names_the_field(pki: Pki, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEY_PASSWORD", "not-the-password")
    with pytest.raises(ConfigError) as info:
        ssl_context(kafka_section(mtls(pki)))
    assert info.value.field == "kafka.ssl_cert_file" and "not-the-password" not in str(info.value)
    broken = tmp_path / "broken.pem"
    broken.write_bytes(b"-----BEGIN CERTIFICATE-----\n\xff\xfe garbage\n-----END CERTIFICATE-----\n")
    with pytest.raises(ConfigError) as info:
        ssl_context(kafka_section({"security_protocol": "SSL", "ssl_ca_file": str(broken)}))
    assert info.value.field == "kafka.ssl_ca_file"


# ---- every client receives the settings -----------------------------------


def test_kafka_python_producer_and_consumer_receive_the_settings(pki: Pki) -> None:
    from kafka import KafkaConsumer

    cfg = kafka_section({**SCRAM, "ssl_ca_file": str(pki.ca_file)})
    producer = make_producer("127.0.0.1:1", BrokerQuirks.for_kafka(), security=cfg, api_version=(2, 5))
    try:
        config = producer.config
        assert config["security_protocol"] == "SASL_SSL" and config["sasl_mechanism"] == "SCRAM-SHA-512"
        assert (config["sasl_plain_username"], config["sasl_plain_password"]) == (USER, PASSWORD)
        assert config["ssl_context"].get_ca_certs()[0]["subject"] == ((("commonName", "koubei test CA"),),)
        assert config["acks"] in ("all", -1), "the security settings do not replace the producer's own"
    finally:
        producer.close(timeout=1)
    consumer = KafkaConsumer(bootstrap_servers="127.0.0.1:1", api_version=(2, 5), **kafka_python_security(cfg))
    try:
        assert consumer.config["security_protocol"] == "SASL_SSL"
    finally:
        consumer.close()


class _Recorder:
    """Remembers every client of a class that the code under test constructs
    (the real class: only the instances are kept for inspection)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> None:
        real = getattr(module, name)
        made: list[Any] = []

        class Recording(real):  # type: ignore[misc, valid-type]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                made.append(self)

        monkeypatch.setattr(module, name, Recording)
        self.made = made


def test_the_notifier_clients_receive_the_settings(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    import aiokafka

    from alerting import notifier as notifier_module
    from alerting.notifier import Notifier

    producers = _Recorder(monkeypatch, aiokafka, "AIOKafkaProducer")
    consumers = _Recorder(monkeypatch, aiokafka, "AIOKafkaConsumer")
    topics_made: list[Any] = []
    # Topic creation is kafka-python (covered above and in the TLS test); here
    # it records its arguments so the notifier goes on to build its clients.
    monkeypatch.setattr(notifier_module, "ensure_topics", lambda *a, **k: topics_made.append(k))
    monkeypatch.setenv("HOOK_SECRET", "s")
    config = parse_koubei_config({
        "brands": BRANDS, "kafka": {"url": "kafka://127.0.0.1:1", **SCRAM, "ssl_ca_file": str(pki.ca_file)},
        "alerting": {"channels": [{"name": "hook", "type": "webhook", "url": "http://127.0.0.1:1/hook",
                                   "secret_env": "HOOK_SECRET"}], "routes": {"receiver": "hook"}},
    })
    notifier = Notifier(config, config.alerting, "127.0.0.1:1", BrokerQuirks.for_kafka())

    async def run() -> None:
        with pytest.raises(Exception):  # noqa: B017 - nothing listens on port 1: start-up fails after construction
            await asyncio.wait_for(notifier.run(asyncio.Event()), 30)
        for consumer in consumers.made:  # built before the producer failed to start
            await consumer.stop()

    asyncio.run(run())
    assert topics_made and topics_made[0]["security"] is config.kafka
    clients = [p.client for p in producers.made] + [c._client for c in consumers.made]
    assert len(producers.made) == 1 and len(consumers.made) == 2
    for client in clients:
        assert client._security_protocol == "SASL_SSL" and client._sasl_mechanism == "SCRAM-SHA-512"
        assert client._sasl_plain_username == USER and client._sasl_plain_password == PASSWORD
        assert client._ssl_context.get_ca_certs()[0]["subject"] == ((("commonName", "koubei test CA"),),)


def test_the_faust_app_clients_receive_the_settings(pki: Pki, monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    from streams.app import create_app

    config = parse_config({"brands": BRANDS, "worker": {"data_dir": str(tmp_path)},
                           "kafka": {"url": "kafka://127.0.0.1:1", **SCRAM, "ssl_ca_file": str(pki.ca_file)}})

    async def build() -> list[Any]:
        app = create_app(config, BrokerQuirks.for_kafka())
        app.finalize()
        producer = app.producer._new_producer()
        consumer = app.consumer._thread._create_worker_consumer(app.transport)
        return [producer.client, consumer._client]

    for client in asyncio.run(build()):
        assert client._security_protocol == "SASL_SSL" and client._sasl_mechanism == "SCRAM-SHA-512"
        assert client._sasl_plain_username == USER and client._sasl_plain_password == PASSWORD
        assert client._ssl_context.get_ca_certs()[0]["subject"] == ((("commonName", "koubei test CA"),),)


def test_credentials_never_reach_a_log_line(pki: Pki, caplog: pytest.LogCaptureFixture) -> None:
    """kafka-python's admin client logs every keyword it gets at DEBUG."""
    cfg = kafka_section({**SCRAM, "security_protocol": "SASL_PLAINTEXT"})
    # The kafka logger's own level may have been raised by a command run earlier in this process
    # (koubei console quiets it): this test needs its DEBUG lines.
    with caplog.at_level(logging.DEBUG), caplog.at_level(logging.DEBUG, logger="kafka"):
        with pytest.raises(Exception):  # noqa: B017 - nothing listens: only the log lines matter
            cluster_id("127.0.0.1:1", timeout=0.5, security=cfg)
        logging.getLogger("probe").debug("settings %s", kafka_python_security(cfg))
    assert "Starting KafkaAdminClient with configuration" in caplog.text
    assert "settings {" in caplog.text
    assert PASSWORD not in caplog.text


# ---- nothing forgets to pass them -----------------------------------------

HELPERS = {"make_producer", "read_topic", "ensure_topics", "cluster_id", "detect_quirks"}
CLIENTS = {"AIOKafkaProducer", "AIOKafkaConsumer", "KafkaProducer", "KafkaConsumer", "KafkaAdminClient"}
# Only ever talk to the embedded broker of tests, demos and benchmarks, which is PLAINTEXT.
EMBEDDED_ONLY = {"streams/broker.py", "streams/cli/demo.py"}


def _calls(path: Path) -> list[ast.Call]:
    return [node for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))) if isinstance(node, ast.Call)]


def _name(call: ast.Call) -> str:
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def test_every_kafka_client_in_the_code_gets_the_security_settings() -> None:
    checked = 0
    for package in ("streams", "connectors", "alerting"):
        for path in sorted((REPO / package).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            if rel == "streams/kafka.py" or rel in EMBEDDED_ONLY:
                continue
            for call in _calls(path):
                name = _name(call)
                where = f"{rel}:{call.lineno} {name}"
                if name in HELPERS:
                    checked += 1
                    assert any(k.arg == "security" for k in call.keywords), f"{where}: pass security=config.kafka"
                elif name in CLIENTS:
                    checked += 1
                    # Built by streams.kafka: **aiokafka_security(...) or a variable holding it.
                    spread = [k.value for k in call.keywords if k.arg is None]
                    assert any("security" in ast.unparse(v) for v in spread), f"{where}: **aiokafka_security(...)"
                elif name == "App" and rel == "streams/app.py":
                    checked += 1
                    assert any(k.arg == "broker_credentials" for k in call.keywords), where
    assert checked >= 15
