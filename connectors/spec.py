"""What a configured connector instance is: its spec, its common fields and
the field readers the connector types share.

Each connector type declares its own options dataclass in its own module
(``connectors.rss.RssOptions`` ...) with ``streams.settings.option``; the
fields every instance accepts are declared once here (``CommonOptions``,
and ``Politeness`` for the types that call out to a source). This module
imports nothing from ``connectors`` so that every connector module, the
registry and the runtime can use it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

from streams.gate import zone_setting
from streams.readers import FORMATS, FieldMapping, MappingError
from streams.settings import ConfigError, get_secret, get_str_list, join, option

INSTANCE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
SOURCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")

# Covariant: a spec is read-only, so a spec of RssOptions is a spec of object.
OptionsT = TypeVar("OptionsT", covariant=True)


def http_url(value: Any, where: str, context: Mapping[str, Any]) -> str:
    """An http(s) URL without its trailing slash."""
    if value is None:
        raise ConfigError(where, "required field is missing")
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(where, f"expected an http(s):// URL, got {value!r}")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(where, f"expected an http(s):// URL, got {value!r}")
    return value.rstrip("/")


def string_list(value: Any, where: str, *, required: bool = False) -> tuple[str, ...]:
    """A list of non-empty strings (one string is a list of one); errors name the item."""
    return tuple(get_str_list({where: value}, where, "", required=required))


def listen_address(value: Any, where: str, context: Mapping[str, Any]) -> str:
    """``host:port`` to serve on (``[::1]:8088`` for IPv6); the default is loopback only."""
    text = "127.0.0.1:8088" if value is None else value
    if not isinstance(text, str):
        raise ConfigError(where, f"expected host:port, got {text!r}")
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(where, f"expected host:port, got {text!r}")
    return text


def split_listen(address: str) -> tuple[str, int]:
    """(host, port) of an address ``listen_address`` accepted."""
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def source_name(value: Any, where: str, context: Mapping[str, Any]) -> str | None:
    """``Post.source`` of the posts a connector makes; None = the type's default."""
    if value is None:
        return None
    if not isinstance(value, str) or not SOURCE_NAME.match(value):
        raise ConfigError(where, "letters, digits, '.', '_' or '-' only (no ':', it is part of the key)")
    return value


def record_format(value: Any, where: str, context: Mapping[str, Any]) -> str:
    """A reader format (streams.readers.FORMATS); "" = auto."""
    if value is None or value == "auto":
        return ""
    if value not in FORMATS:
        raise ConfigError(where, f"must be one of auto, {', '.join(FORMATS)}; got {value!r}")
    return str(value)


def field_mapping(value: Any, where: str, context: Mapping[str, Any]) -> dict[str, str]:
    """A post field -> source field mapping (streams.readers.FieldMapping); {} = none."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(where, "expected a mapping of post field -> source field, e.g. {id: mid, text: content}")
    try:
        FieldMapping.parse({str(k): str(v) for k, v in value.items()})
    except MappingError as exc:
        raise ConfigError(join(where, exc.field) if exc.field else where, exc.message) from None
    return {str(k): str(v) for k, v in value.items()}


def time_zone(value: Any, where: str, context: Mapping[str, Any]) -> str:
    """A zone name or offset for naive times; "" = the input section's default_timezone."""
    return zone_setting(value, where, default="")


@dataclass(frozen=True)
class CommonOptions:
    """Fields every connector instance accepts."""

    type: str = option(required=True, help="connector type (see the list above)")
    source: str | None = option(None, parse=source_name, shown_default="per type",
                                help="Post.source written into every post (key = source:id)")
    queue_size: int = option(100, minimum=1, maximum=100_000,
                             help="batches buffered between fetching and Kafka (backpressure beyond)")
    metrics_port: int = option(0, minimum=0, maximum=65535, help="Prometheus port for koubei connect (0 = off)")


@dataclass(frozen=True)
class Politeness:
    """How hard a connector may hit its source (only for types that call out)."""

    rate_limit: float = option(1.0, minimum=0.0, help="requests per second to the source (0 = unlimited)")
    burst: int = option(1, minimum=1, maximum=1000, help="requests allowed back to back")
    timeout: float = option(30.0, duration=True, minimum=0.05, help="HTTP request timeout")
    max_attempts: int = option(5, minimum=1, maximum=100,
                               help="tries per request on 429/5xx/timeouts before giving up until the next poll")
    backoff_base: float = option(1.0, duration=True, minimum=0.01,
                                 help="first retry delay; doubles per failure (with jitter)")
    backoff_max: float = option(300.0, duration=True, minimum=0.01,
                                help="longest wait between retries (Retry-After is honoured up to 1h)")


@dataclass(frozen=True)
class ConnectorSpec(Generic[OptionsT]):
    """One configured instance: its name, type, source, typed options and common fields."""

    name: str
    type: str
    source: str
    options: OptionsT
    politeness: Politeness = field(default_factory=Politeness)
    queue_size: int = 100
    metrics_port: int = 0

    @property
    def path(self) -> str:
        """The config path of this instance, for error messages."""
        return join("connectors", self.name)


def require_secret(spec: ConnectorSpec[object], field_name: str, environ: Mapping[str, str]) -> str:
    """The secret a running connector needs, read from the variable its
    ``*_env`` field names; the error names the field, never the value."""
    var = getattr(spec.options, field_name)
    value = get_secret({field_name: var}, field_name, spec.path, required=True, environ=environ)
    assert value is not None  # required=True raised otherwise
    return value
