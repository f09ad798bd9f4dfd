"""The ``connectors`` section of koubei.yaml: named instances, each with a ``type``.

::

    connectors:
      state_dir: .koubei-data/connectors     # checkpoints (optional)
      ingest: {type: http_ingest, listen: 127.0.0.1:8088, token_env: KOUBEI_INGEST_TOKEN}
      news:   {type: rss, feeds: [https://example.com/feed.xml], interval: 5m}

Each field is declared once: the fields every instance accepts in
``connectors.spec`` (``CommonOptions``, ``Politeness``), a type's own
fields in its module's options dataclass, found through the one registry
(``connectors.registry.TYPES``). Parsing is strict (unknown fields fail,
every error names its field) and secrets are never read from the file:
``*_env`` fields name an environment variable whose value is looked up
only when the connector starts (``connectors.spec.require_secret``), so
``koubei check-config`` and the worker do not need every connector's token.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors.registry import TYPES
from connectors.spec import INSTANCE_NAME, CommonOptions, ConnectorSpec, Politeness
from streams.settings import (
    ConfigError,
    FieldDoc,
    describe,
    get_str,
    join,
    read_section,
    reject_unknown,
    section,
    yaml_keys,
)

DEFAULT_STATE_DIR = ".koubei-data/connectors"
RESERVED = ("state_dir",)


@dataclass(frozen=True)
class ConnectorsConfig:
    state_dir: str = DEFAULT_STATE_DIR
    instances: Mapping[str, ConnectorSpec[object]] = field(default_factory=dict)

    def get(self, name: str) -> ConnectorSpec[object]:
        try:
            return self.instances[name]
        except KeyError:
            known = ", ".join(sorted(self.instances)) or "none configured"
            raise ConfigError(join("connectors", name), f"no such connector (configured: {known})") from None


def common_fields() -> tuple[FieldDoc, ...]:
    """The fields every instance accepts, then the politeness fields (polling types only)."""
    return describe(CommonOptions) + describe(Politeness)


def parse_connector(name: str, raw: Any, path: str, environ: Mapping[str, str]) -> ConnectorSpec[object]:
    """One instance: its type from the registry, then the common fields, the
    politeness fields (types that call out only) and the type's options."""
    data = section(raw, path)
    if data.get("type") is None:
        raise ConfigError(join(path, "type"), f"required: one of {', '.join(TYPES)}")
    kind = data["type"]
    if kind not in TYPES:
        raise ConfigError(join(path, "type"), f"must be one of {', '.join(TYPES)}; got {kind!r}")
    ctype = TYPES[kind]
    common_keys = yaml_keys(CommonOptions)
    polite_keys = yaml_keys(Politeness) if ctype.polls else ()
    option_keys = yaml_keys(ctype.options)
    reject_unknown(data, common_keys + polite_keys + option_keys, path)
    context = {"environ": environ}
    common = read_section(CommonOptions, {k: v for k, v in data.items() if k in common_keys}, path, context)
    politeness = read_section(Politeness, {k: v for k, v in data.items() if k in polite_keys}, path, context)
    options = read_section(ctype.options, {k: v for k, v in data.items() if k in option_keys}, path, context)
    return ConnectorSpec(name=name, type=kind, source=common.source or ctype.default_source, options=options,
                         politeness=politeness, queue_size=common.queue_size, metrics_port=common.metrics_port)


def parse_connectors(raw: Any, path: str, *, environ: Mapping[str, str]) -> ConnectorsConfig:
    """Validate the ``connectors`` section; raises ConfigError naming the field."""
    data = section(raw, path)
    state_dir = get_str(data, "state_dir", path, DEFAULT_STATE_DIR)
    instances: dict[str, ConnectorSpec[object]] = {}
    for name, item in data.items():
        if name in RESERVED:
            continue
        where = join(path, str(name))
        if not isinstance(name, str) or not INSTANCE_NAME.match(name):
            raise ConfigError(where, "connector names use lower-case letters, digits, '-' or '_' "
                                     "(the name labels metrics and the checkpoint file)")
        instances[name] = parse_connector(name, item, where, environ)
    return ConnectorsConfig(state_dir=state_dir, instances=instances)
