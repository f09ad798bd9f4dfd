"""Kafka plumbing shared by the worker, the connectors and the tools.

``BrokerQuirks`` is the one place that knows about the embedded broker's
defects (listed on the class). Every workaround below is applied
ONLY when the broker is the embedded Tansu; against Apache Kafka the
clients run with their normal settings.

The security settings of every Kafka client (TLS, SASL) are built here and
only here, from the ``kafka`` section of koubei.yaml: ``ssl_context`` for
both libraries, ``kafka_python_security`` (CLI, connectors, tools),
``aiokafka_security`` (the notifier) and ``faust_credentials`` (the Faust
app). The helpers below (``make_producer``, ``read_topic``,
``ensure_topics``, ``cluster_id``, ``detect_quirks``) take that section as
``security=``; ``None`` means PLAINTEXT, which only the embedded broker of
tests, demos and benchmarks uses.
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from streams.config import SASL_PROTOCOLS, TLS_PROTOCOLS
from streams.settings import ConfigError

if TYPE_CHECKING:
    from faust.types.auth import CredentialsT

    from streams.config import KafkaConfig

log = logging.getLogger(__name__)


class Secret(str):
    """A credential on its way into a client library.

    The libraries need a plain ``str`` (they ``encode`` it), but they also
    dump their configuration: kafka-python's ``KafkaAdminClient`` logs every
    keyword it was given at DEBUG. Dicts, lists and tracebacks show their
    items with ``repr``, so masking ``repr`` keeps the value out of those
    lines while the string itself still works."""

    def __repr__(self) -> str:
        return "'***'"


def _from_env(cfg: KafkaConfig, field_name: str, environ: Mapping[str, str] | None) -> Secret:
    """The value of the environment variable that ``kafka.<field_name>`` names.

    The config loader already refused a variable that was not set; this
    repeats the check for a process whose environment changed since, and
    the error names the field and the variable, never a value."""
    var = getattr(cfg, field_name)
    env = os.environ if environ is None else environ
    value = env.get(var) if var else None
    if not value:
        raise ConfigError(f"kafka.{field_name}", f"environment variable {var} is not set")
    return Secret(value)


def ssl_context(cfg: KafkaConfig, environ: Mapping[str, str] | None = None) -> ssl.SSLContext | None:
    """The TLS context of every client, or None when the protocol has no TLS.

    One context serves kafka-python and aiokafka alike (both accept
    ``ssl_context``), so the CA, the client certificate and the hostname
    check are the same for every process."""
    if cfg.security_protocol not in TLS_PROTOCOLS:
        return None
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cfg.ssl_ca_file or None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError("kafka.ssl_ca_file", f"cannot read the CA bundle {cfg.ssl_ca_file}: {exc}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # The certificate chain is always verified (CERT_REQUIRED, the default
    # context's setting); only the name check can be switched off, for
    # brokers reached through an address their certificate does not name.
    context.check_hostname = cfg.ssl_check_hostname
    if cfg.ssl_cert_file:
        password = _from_env(cfg, "ssl_key_password_env", environ) if cfg.ssl_key_password_env else None
        try:
            context.load_cert_chain(cfg.ssl_cert_file, cfg.ssl_key_file or None, password=password)
        except (OSError, ssl.SSLError) as exc:
            # The message of a failed load names the library's reason, never the password.
            raise ConfigError("kafka.ssl_cert_file", f"cannot load the client certificate {cfg.ssl_cert_file} "
                              f"with key {cfg.ssl_key_file}: {type(exc).__name__}") from None
    return context


def _security_kwargs(cfg: KafkaConfig, environ: Mapping[str, str] | None) -> dict[str, Any]:
    settings: dict[str, Any] = {"security_protocol": cfg.security_protocol}
    context = ssl_context(cfg, environ)
    if context is not None:
        settings["ssl_context"] = context
    if cfg.security_protocol in SASL_PROTOCOLS:
        settings["sasl_mechanism"] = cfg.sasl_mechanism
        settings["sasl_plain_username"] = _from_env(cfg, "sasl_username_env", environ)
        settings["sasl_plain_password"] = _from_env(cfg, "sasl_password_env", environ)
    return settings


def kafka_python_security(cfg: KafkaConfig, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Keyword arguments for kafka-python's KafkaProducer, KafkaConsumer and
    KafkaAdminClient (3.0: ``security_protocol``, ``ssl_context``,
    ``sasl_mechanism``, ``sasl_plain_username``/``_password``, the last two
    for SCRAM as well as PLAIN)."""
    return _security_kwargs(cfg, environ)


def aiokafka_security(cfg: KafkaConfig, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Keyword arguments for aiokafka's AIOKafkaProducer and AIOKafkaConsumer
    (0.14 takes the same names as kafka-python; SSL and SASL_SSL require
    ``ssl_context``, which is always set for them)."""
    return _security_kwargs(cfg, environ)


def faust_credentials(cfg: KafkaConfig, environ: Mapping[str, str] | None = None) -> CredentialsT | None:
    """``faust.App(broker_credentials=...)``; Faust turns them into the same
    aiokafka settings for its producer, consumers and topic creation."""
    import faust

    context = ssl_context(cfg, environ)
    if cfg.security_protocol == "SSL":
        return faust.SSLCredentials(context)
    if cfg.security_protocol in SASL_PROTOCOLS:
        return faust.SASLCredentials(username=_from_env(cfg, "sasl_username_env", environ),
                                     password=_from_env(cfg, "sasl_password_env", environ),
                                     ssl_context=context, mechanism=cfg.sasl_mechanism)
    return None


def describe_security(cfg: KafkaConfig | None) -> str:
    """What a start-up log line says about the connection (no credentials)."""
    if cfg is None or cfg.security_protocol == "PLAINTEXT":
        return "PLAINTEXT"
    parts = [cfg.security_protocol]
    if cfg.security_protocol in SASL_PROTOCOLS:
        parts.append(str(cfg.sasl_mechanism))
    if cfg.security_protocol in TLS_PROTOCOLS:
        parts.append(f"CA {cfg.ssl_ca_file}" if cfg.ssl_ca_file else "system CAs")
        if cfg.ssl_cert_file:
            parts.append("client certificate")
        if not cfg.ssl_check_hostname:
            parts.append("hostname NOT checked")
    return ", ".join(parts)


def _client_security(security: KafkaConfig | None) -> dict[str, Any]:
    return {} if security is None else kafka_python_security(security)

# The cluster id `koubei broker` (streams.broker) gives the embedded broker,
# by which ``detect_quirks`` recognises it.
EMBEDDED_CLUSTER_ID = "koubei-embedded-tansu"


def bootstrap_servers(url: str) -> str:
    """``kafka://h1:9092;h2:9092`` (Faust's form) -> ``h1:9092,h2:9092``."""
    rest = url.split("://", 1)[1] if "://" in url else url
    hosts = [h.strip().rstrip("/") for h in rest.replace(";", ",").split(",") if h.strip()]
    return ",".join(hosts)


def cluster_id(bootstrap: str, timeout: float = 10.0, *, security: KafkaConfig | None = None) -> str:
    """Ask the cluster who it is (a Metadata request)."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="koubei-probe",
        request_timeout_ms=int(timeout * 1000),
        bootstrap_timeout_ms=int(timeout * 1000),
        **_client_security(security),
    )
    try:
        info = admin.describe_cluster()
        return str(info.get("cluster_id") or "")
    finally:
        admin.close()


@dataclass(frozen=True)
class BrokerQuirks:
    """Client settings that depend on which broker we talk to."""

    embedded: bool
    # Tansu reports end offset = first offset of the last batch + 1 when that
    # batch held several records; Faust then stops changelog recovery early
    # and loses table updates, and lag and ``read_topic`` stop short. One
    # record per produced batch avoids it. The worker's stages still batch
    # their own output (streams.outbox): per partition, one multi-record
    # batch followed by its last record alone, which leaves the end offset
    # right.
    single_record_batches: bool
    # Tansu's first group join takes about half the session timeout and a
    # rejoin after restart waits for the old session to expire: keep it short
    # locally. Apache Kafka keeps Faust's defaults.
    session_timeout: float | None
    # Tansu has no InitProducerId, so no idempotent/transactional producer:
    # Faust's exactly_once cannot run there.
    exactly_once_supported: bool
    # Tansu holds a fetch for a share of its maximum wait even when records
    # are there (Apache Kafka answers at once): a record took 372 ms p50 /
    # 752 ms max to reach a consumer with Faust's fixed 1.5 s wait, 3 / 31 ms
    # with 50 ms. Seconds, or None for the client's default.
    fetch_max_wait: float | None = None

    @classmethod
    def for_embedded(cls) -> BrokerQuirks:
        return cls(embedded=True, single_record_batches=True, session_timeout=10.0, exactly_once_supported=False,
                   fetch_max_wait=0.05)

    @classmethod
    def for_kafka(cls) -> BrokerQuirks:
        return cls(embedded=False, single_record_batches=False, session_timeout=None, exactly_once_supported=True)

    def kafka_python_producer_settings(self) -> dict[str, Any]:
        if self.single_record_batches:
            # batch_size=1 byte: every batch is full after its first record.
            return {"batch_size": 1, "linger_ms": 0}
        return {"linger_ms": 5}

    def faust_settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = {}
        if self.single_record_batches:
            settings["producer_max_batch_size"] = 1
        if self.session_timeout is not None:
            settings["broker_session_timeout"] = self.session_timeout
            settings["broker_heartbeat_interval"] = max(1.0, self.session_timeout / 5)
            settings["broker_rebalance_timeout"] = self.session_timeout * 2
        return settings


def detect_quirks(mode: str, bootstrap: str, *, security: KafkaConfig | None = None) -> BrokerQuirks:
    """``mode`` is the config's ``kafka.broker_quirks``: auto | tansu | none."""
    if mode == "tansu":
        return BrokerQuirks.for_embedded()
    if mode == "none":
        return BrokerQuirks.for_kafka()
    try:
        cid = cluster_id(bootstrap, security=security)
    except Exception as exc:  # noqa: BLE001 - the worker will report the real connection error
        log.warning("could not ask the broker for its cluster id (%s); assuming Apache Kafka", exc)
        return BrokerQuirks.for_kafka()
    if cid == EMBEDDED_CLUSTER_ID or cid.startswith("tansu"):
        return BrokerQuirks.for_embedded()
    return BrokerQuirks.for_kafka()


def ensure_topics(bootstrap: str, plan: Mapping[str, tuple[int, Mapping[str, str]] | int],
                  replication_factor: int = 1, *, security: KafkaConfig | None = None) -> list[str]:
    """Create the topics that do not exist yet; returns the names created.

    ``plan``: name -> (partitions, topic configs), as ``streams.topics.Topics.plan``
    gives it, or name -> partitions for a topic with the broker's settings.
    Topics are created explicitly, with the configured partition count,
    because auto-created topics get the broker's default (4 on Tansu) and
    co-partitioned topics (mentions, buckets) must agree. Existing topics are
    left alone: partitions can only grow, and the embedded broker cannot
    even do that (no CreatePartitions).
    """
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="koubei-admin", **_client_security(security))
    try:
        existing = set(admin.list_topics())
        wanted = []
        for name, spec in plan.items():
            if name in existing:
                continue
            parts, configs = spec if isinstance(spec, tuple) else (spec, {})
            wanted.append(NewTopic(name=name, num_partitions=parts, replication_factor=replication_factor,
                                   topic_configs=dict(configs)))
        if not wanted:
            return []
        try:
            admin.create_topics(wanted)
        except TopicAlreadyExistsError:
            pass  # another worker won the race
        return [t.name for t in wanted]
    finally:
        admin.close()


def make_producer(bootstrap: str, quirks: BrokerQuirks, *, security: KafkaConfig | None = None,
                  **overrides: Any) -> Any:
    """A kafka-python producer for tools and connectors (bytes in, bytes out)."""
    from kafka import KafkaProducer

    settings: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "acks": "all",
        "retries": 5,
        "client_id": "koubei",
        "max_request_size": 2_000_000,
    }
    settings.update(quirks.kafka_python_producer_settings())
    settings.update(_client_security(security))
    settings.update(overrides)
    return KafkaProducer(**settings)


def read_topic(bootstrap: str, topic: str, timeout: float = 5.0, *, security: KafkaConfig | None = None) -> list[Any]:
    """Read a whole topic from the beginning (tools and tests); no group, no commit."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             consumer_timeout_ms=int(timeout * 1000), client_id="koubei-reader",
                             **_client_security(security))
    try:
        parts = consumer.partitions_for_topic(topic)
        if not parts:
            return []
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        records = []
        remaining = {tp for tp in tps if ends[tp] > 0}
        while remaining:
            batch = consumer.poll(timeout_ms=int(timeout * 1000))
            if not batch:
                break
            for tp, msgs in batch.items():
                records.extend(msgs)
                if consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return records
    finally:
        consumer.close()
