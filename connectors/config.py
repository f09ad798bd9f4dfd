"""The ``connectors`` section of koubei.yaml: named instances, each with a ``type``.

::

    connectors:
      state_dir: .koubei-data/connectors     # checkpoints (optional)
      ingest: {type: http_ingest, listen: 127.0.0.1:8088, token_env: KOUBEI_INGEST_TOKEN}
      news:   {type: rss, feeds: [https://example.com/feed.xml], interval: 5m}

Parsing is strict (unknown fields fail, every error names its field) and
secrets are never read from the file: ``*_env`` fields name an environment
variable whose value is looked up only when the connector starts
(``require_secret``), so ``koubei check-config`` and the worker do not need
every connector's token in their environment.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from streams.settings import (
    ConfigError,
    get_bool,
    get_duration,
    get_enum,
    get_int,
    get_number,
    get_secret,
    get_str,
    get_str_list,
    join,
    reject_unknown,
    section,
)

DEFAULT_STATE_DIR = ".koubei-data/connectors"
INSTANCE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
SOURCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
RESERVED = ("state_dir",)


@dataclass(frozen=True)
class FieldDoc:
    """One config field as ``koubei connectors`` lists it."""

    name: str
    kind: str
    default: str
    help: str


@dataclass(frozen=True)
class Politeness:
    """How hard a connector may hit its source."""

    rate_limit: float = 1.0  # requests per second; 0 = unlimited
    burst: int = 1
    timeout: float = 30.0
    max_attempts: int = 5
    backoff_base: float = 1.0
    backoff_max: float = 300.0


@dataclass(frozen=True)
class HttpIngestOptions:
    host: str
    port: int
    token_env: str
    max_body_bytes: int
    max_records: int
    queue_timeout: float


@dataclass(frozen=True)
class RssOptions:
    feeds: tuple[str, ...]
    interval: float
    dedup_window: int
    lang: str


@dataclass(frozen=True)
class WeiboOptions:
    base_url: str
    token_env: str
    keywords: tuple[str, ...]
    users: tuple[str, ...]
    interval: float
    count: int
    max_pages: int
    dedup_window: int


@dataclass(frozen=True)
class MastodonOptions:
    base_url: str
    stream: str
    tag: str
    local: bool
    token_env: str | None
    dedup_window: int


CSV_TARGETS = ("id", "text", "created_at", "author_id", "author_name", "followers", "verified",
               "url", "reposts", "comments", "likes", "lang")
CSV_REQUIRED = ("id", "text", "created_at")


@dataclass(frozen=True)
class CsvOptions:
    path: str
    mapping: Mapping[str, str]
    delimiter: str
    encoding: str
    default_timezone: str  # "" = naive times are rejected, else e.g. "+08:00"
    lang: str


@dataclass(frozen=True)
class JsonlOptions:
    path: str


@dataclass(frozen=True)
class ConnectorSpec:
    name: str
    type: str
    source: str
    options: Any
    politeness: Politeness = field(default_factory=Politeness)
    queue_size: int = 100
    metrics_port: int = 0

    @property
    def path(self) -> str:
        return join("connectors", self.name)


@dataclass(frozen=True)
class ConnectorsConfig:
    state_dir: str = DEFAULT_STATE_DIR
    instances: Mapping[str, ConnectorSpec] = field(default_factory=dict)

    def get(self, name: str) -> ConnectorSpec:
        try:
            return self.instances[name]
        except KeyError:
            known = ", ".join(sorted(self.instances)) or "none configured"
            raise ConfigError(join("connectors", name), f"no such connector (configured: {known})") from None


COMMON_FIELDS = (
    FieldDoc("type", "string", "(required)", "connector type"),
    FieldDoc("source", "string", "per type", "Post.source written into every post (key = source:id)"),
    FieldDoc("rate_limit", "number", "1", "requests per second to the source (0 = unlimited); "
             "this and the next five: rss, weibo, mastodon only"),
    FieldDoc("burst", "integer", "1", "requests allowed back to back"),
    FieldDoc("timeout", "duration", "30s", "HTTP request timeout"),
    FieldDoc("max_attempts", "integer", "5", "tries per request on 429/5xx/timeouts before giving up until the next poll"),
    FieldDoc("backoff_base", "duration", "1s", "first retry delay; doubles per failure (with jitter)"),
    FieldDoc("backoff_max", "duration", "5m", "longest wait between retries (Retry-After is honoured up to 1h)"),
    FieldDoc("queue_size", "integer", "100", "batches buffered between fetching and Kafka (backpressure beyond)"),
    FieldDoc("metrics_port", "integer", "0", "Prometheus port for koubei connect (0 = off)"),
)
_COMMON_NAMES = tuple(f.name for f in COMMON_FIELDS)
# Fields about calling out to a source; ingest and file connectors never do,
# so setting them there is a mistake worth reporting.
_POLITENESS_NAMES = ("rate_limit", "burst", "timeout", "max_attempts", "backoff_base", "backoff_max")


def _url(raw: Mapping[str, Any], name: str, path: str, default: str | None = None) -> str:
    value = get_str(raw, name, path, default, required=default is None)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(join(path, name), f"expected an http(s):// URL, got {value!r}")
    return value.rstrip("/")


def _env_name(raw: Mapping[str, Any], name: str, path: str, *, required: bool,
              environ: Mapping[str, str]) -> str | None:
    """Validate a ``*_env`` field (the NAME of a variable); the value is read later."""
    if raw.get(name) is None:
        if required:
            raise ConfigError(join(path, name), "required: name of the environment variable holding the secret")
        return None
    get_secret(raw, name, path, required=False, environ=environ)  # checks the name's shape only
    return str(raw[name])


def require_secret(spec: ConnectorSpec, field_name: str, environ: Mapping[str, str]) -> str:
    """The secret a running connector needs; the error names the field, never the value."""
    var = getattr(spec.options, field_name)
    value = get_secret({field_name: var}, field_name, spec.path, required=True, environ=environ)
    assert value is not None  # required=True raised otherwise
    return value


def _listen(raw: Mapping[str, Any], path: str) -> tuple[str, int]:
    value = get_str(raw, "listen", path, "127.0.0.1:8088")
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(join(path, "listen"), f"expected host:port, got {value!r}")
    return host.strip("[]"), int(port)


def _http_ingest(raw: Mapping[str, Any], path: str, environ: Mapping[str, str]) -> HttpIngestOptions:
    host, port = _listen(raw, path)
    token_env = _env_name(raw, "token_env", path, required=True, environ=environ)
    assert token_env is not None
    return HttpIngestOptions(
        host=host, port=port, token_env=token_env,
        max_body_bytes=get_int(raw, "max_body_bytes", path, 5_000_000, minimum=1024, maximum=100_000_000),
        max_records=get_int(raw, "max_records", path, 10_000, minimum=1, maximum=1_000_000),
        queue_timeout=get_duration(raw, "queue_timeout", path, 10.0, minimum=0.01),
    )


def _rss(raw: Mapping[str, Any], path: str, environ: Mapping[str, str]) -> RssOptions:
    feeds = get_str_list(raw, "feeds", path, required=True)
    for i, feed in enumerate(feeds):
        _url({"url": feed}, "url", join(join(path, "feeds"), i))
    if len(set(feeds)) != len(feeds):
        raise ConfigError(join(path, "feeds"), "lists the same feed twice")
    return RssOptions(
        feeds=tuple(feeds),
        interval=get_duration(raw, "interval", path, 300.0, minimum=0.05),
        dedup_window=get_int(raw, "dedup_window", path, 20_000, minimum=1),
        lang=get_str(raw, "lang", path, "zh"),
    )


def _weibo(raw: Mapping[str, Any], path: str, environ: Mapping[str, str]) -> WeiboOptions:
    token_env = _env_name(raw, "token_env", path, required=True, environ=environ)
    assert token_env is not None
    keywords = get_str_list(raw, "keywords", path)
    users = get_str_list(raw, "users", path)
    for i, uid in enumerate(users):
        if not uid.isdigit():
            raise ConfigError(join(join(path, "users"), i), f"expected a numeric Weibo uid, got {uid!r}")
    if not keywords and not users:
        raise ConfigError(join(path, "keywords"), "list at least one keyword (or a user in users)")
    return WeiboOptions(
        base_url=_url(raw, "base_url", path, "https://api.weibo.com"),
        token_env=token_env,
        keywords=tuple(keywords),
        users=tuple(users),
        interval=get_duration(raw, "interval", path, 60.0, minimum=0.05),
        count=get_int(raw, "count", path, 50, minimum=1, maximum=200),
        max_pages=get_int(raw, "max_pages", path, 5, minimum=1, maximum=100),
        dedup_window=get_int(raw, "dedup_window", path, 20_000, minimum=1),
    )


def _mastodon(raw: Mapping[str, Any], path: str, environ: Mapping[str, str]) -> MastodonOptions:
    stream = get_enum(raw, "stream", path, ("public", "hashtag"), "public")
    tag = get_str(raw, "tag", path, "", allow_empty=True).lstrip("#")
    if stream == "hashtag" and not tag:
        raise ConfigError(join(path, "tag"), "required when stream is hashtag")
    if stream == "public" and tag:
        raise ConfigError(join(path, "tag"), "only used with stream: hashtag")
    return MastodonOptions(
        base_url=_url(raw, "base_url", path),
        stream=stream,
        tag=tag,
        local=get_bool(raw, "local", path, False),
        token_env=_env_name(raw, "token_env", path, required=False, environ=environ),
        dedup_window=get_int(raw, "dedup_window", path, 20_000, minimum=1),
    )


def _csv(raw: Mapping[str, Any], path: str, environ: Mapping[str, str]) -> CsvOptions:
    mapping_path = join(path, "mapping")
    if raw.get("mapping") is None:
        raise ConfigError(mapping_path, f"required: which CSV column holds each of {', '.join(CSV_REQUIRED)}")
    mapping_raw = section(raw.get("mapping"), mapping_path)
    reject_unknown(mapping_raw, CSV_TARGETS, mapping_path)
    mapping = {name: get_str(mapping_raw, name, mapping_path) for name in mapping_raw}
    for name in CSV_REQUIRED:
        if name not in mapping:
            raise ConfigError(join(mapping_path, name), "required: the CSV column holding it")
    delimiter = get_str(raw, "delimiter", path, ",")
    if len(delimiter) != 1:
        raise ConfigError(join(path, "delimiter"), "must be one character")
    tz = get_str(raw, "default_timezone", path, "", allow_empty=True)
    if tz and not re.fullmatch(r"[+-]\d\d:\d\d|Z|UTC", tz):
        raise ConfigError(join(path, "default_timezone"), f"expected an offset like +08:00, got {tz!r}")
    encoding = get_str(raw, "encoding", path, "utf-8")
    try:
        "".encode(encoding)
    except LookupError:
        raise ConfigError(join(path, "encoding"), f"unknown encoding {encoding!r}") from None
    return CsvOptions(path=get_str(raw, "path", path, required=True), mapping=mapping, delimiter=delimiter,
                      encoding=encoding, default_timezone=tz, lang=get_str(raw, "lang", path, "zh"))


def _jsonl(raw: Mapping[str, Any], path: str, environ: Mapping[str, str]) -> JsonlOptions:
    return JsonlOptions(path=get_str(raw, "path", path, required=True))


@dataclass(frozen=True)
class ConnectorType:
    name: str
    summary: str
    default_source: str
    fields: tuple[FieldDoc, ...]
    parse: Callable[[Mapping[str, Any], str, Mapping[str, str]], Any]
    # Types that never call out (ingest, files) refuse the HTTP politeness fields.
    polls: bool = True


TYPES: dict[str, ConnectorType] = {
    t.name: t
    for t in (
        ConnectorType("http_ingest", "POST /ingest: one post, a JSON array or NDJSON; bearer token; 202 with counts",
                      "ingest", (
                          FieldDoc("listen", "host:port", "127.0.0.1:8088", "address to serve on"),
                          FieldDoc("token_env", "env var name", "(required)", "variable holding the bearer token"),
                          FieldDoc("max_body_bytes", "integer", "5000000", "larger bodies get 413"),
                          FieldDoc("max_records", "integer", "10000", "records per request (413 beyond)"),
                          FieldDoc("queue_timeout", "duration", "10s", "wait for queue space before 503 + Retry-After"),
                      ), _http_ingest, polls=False),
        ConnectorType("rss", "RSS 2.0 / Atom poller with ETag/Last-Modified and de-duplication across feeds",
                      "rss", (
                          FieldDoc("feeds", "list of URLs", "(required)", "feed addresses"),
                          FieldDoc("interval", "duration", "5m", "time between polls of all feeds"),
                          FieldDoc("dedup_window", "integer", "20000", "item ids remembered for de-duplication"),
                          FieldDoc("lang", "string", "zh", "Post.lang for items"),
                      ), _rss),
        ConnectorType("weibo", "Weibo open API: keyword search and user timelines, paging with since_id",
                      "weibo", (
                          FieldDoc("base_url", "URL", "https://api.weibo.com", "API root"),
                          FieldDoc("token_env", "env var name", "(required)", "variable holding the OAuth2 access token"),
                          FieldDoc("keywords", "list", "[]", "search/topics.json queries"),
                          FieldDoc("users", "list of uids", "[]", "statuses/user_timeline.json uids"),
                          FieldDoc("interval", "duration", "1m", "time between polls"),
                          FieldDoc("count", "integer", "50", "statuses per page (1-200)"),
                          FieldDoc("max_pages", "integer", "5", "pages per query and poll"),
                          FieldDoc("dedup_window", "integer", "20000", "status ids remembered across queries"),
                      ), _weibo),
        ConnectorType("mastodon", "Mastodon streaming API (SSE): public or hashtag timeline, reconnects with Last-Event-ID",
                      "mastodon", (
                          FieldDoc("base_url", "URL", "(required)", "server, e.g. https://mastodon.social"),
                          FieldDoc("stream", "public|hashtag", "public", "which timeline"),
                          FieldDoc("tag", "string", "", "hashtag (stream: hashtag)"),
                          FieldDoc("local", "bool", "false", "only the server's own posts"),
                          FieldDoc("token_env", "env var name", "", "variable holding an access token (optional)"),
                          FieldDoc("dedup_window", "integer", "20000", "status ids remembered across reconnects"),
                      ), _mastodon),
        ConnectorType("csv", "a CSV file replayed once, columns mapped to Post fields; resumes at the next row",
                      "csv", (
                          FieldDoc("path", "file", "(required)", "CSV file with a header row"),
                          FieldDoc("mapping", "mapping", "(required)",
                                   "Post field -> CSV column; needs id, text, created_at; optional "
                                   + ", ".join(t for t in CSV_TARGETS if t not in CSV_REQUIRED)),
                          FieldDoc("delimiter", "char", ",", "column separator"),
                          FieldDoc("encoding", "string", "utf-8", "file encoding (e.g. gb18030)"),
                          FieldDoc("default_timezone", "offset", "", "zone for times without one, e.g. +08:00"),
                          FieldDoc("lang", "string", "zh", "Post.lang when not mapped"),
                      ), _csv, polls=False),
        ConnectorType("jsonl", "a JSONL file of posts replayed once; resumes at the next line", "file", (
            FieldDoc("path", "file", "(required)", "one Post JSON object per line"),
        ), _jsonl, polls=False),
    )
}


def _politeness(raw: Mapping[str, Any], path: str) -> Politeness:
    rate = get_number(raw, "rate_limit", path, 1.0, minimum=0.0)
    return Politeness(
        rate_limit=rate,
        burst=get_int(raw, "burst", path, 1, minimum=1, maximum=1000),
        timeout=get_duration(raw, "timeout", path, 30.0, minimum=0.05),
        max_attempts=get_int(raw, "max_attempts", path, 5, minimum=1, maximum=100),
        backoff_base=get_duration(raw, "backoff_base", path, 1.0, minimum=0.01),
        backoff_max=get_duration(raw, "backoff_max", path, 300.0, minimum=0.01),
    )


def parse_connector(name: str, raw: Any, path: str, environ: Mapping[str, str]) -> ConnectorSpec:
    data = section(raw, path)
    if data.get("type") is None:
        raise ConfigError(join(path, "type"), f"required: one of {', '.join(TYPES)}")
    kind = get_enum(data, "type", path, tuple(TYPES), "")
    ctype = TYPES[kind]
    common = _COMMON_NAMES if ctype.polls else tuple(n for n in _COMMON_NAMES if n not in _POLITENESS_NAMES)
    reject_unknown(data, common + tuple(f.name for f in ctype.fields), path)
    source = get_str(data, "source", path, ctype.default_source)
    if not SOURCE_NAME.match(source):
        raise ConfigError(join(path, "source"), "letters, digits, '.', '_' or '-' only (no ':', it is part of the key)")
    options_raw = {k: v for k, v in data.items() if k not in _COMMON_NAMES}
    return ConnectorSpec(
        name=name,
        type=kind,
        source=source,
        options=ctype.parse(options_raw, path, environ),
        politeness=_politeness(data, path),
        queue_size=get_int(data, "queue_size", path, 100, minimum=1, maximum=100_000),
        metrics_port=get_int(data, "metrics_port", path, 0, minimum=0, maximum=65535),
    )


def parse_connectors(raw: Any, path: str, *, environ: Mapping[str, str]) -> ConnectorsConfig:
    """Validate the ``connectors`` section; raises ConfigError naming the field."""
    data = section(raw, path)
    state_dir = get_str(data, "state_dir", path, DEFAULT_STATE_DIR)
    instances: dict[str, ConnectorSpec] = {}
    for name, item in data.items():
        if name in RESERVED:
            continue
        where = join(path, str(name))
        if not isinstance(name, str) or not INSTANCE_NAME.match(name):
            raise ConfigError(where, "connector names use lower-case letters, digits, '-' or '_' "
                                     "(the name labels metrics and the checkpoint file)")
        instances[name] = parse_connector(name, item, where, environ)
    return ConnectorsConfig(state_dir=state_dir, instances=instances)
