"""The whole koubei.yaml: the pipeline's sections plus the delivery and
ingestion layers' (``alerting``, ``connectors``, ``console``).

This is the composition root's view of the file. The layers below read
only their own part: ``streams.config.PipelineConfig`` for the stream
worker and the offline tools, ``alerting.config.AlertingConfig`` for
delivery, ``connectors.config.ConnectorsConfig`` for ingestion. Every
command validates the whole file once at start (``load_koubei_config``),
so a bad field anywhere fails the same way, naming the field.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from alerting.config import AlertingConfig, parse_alerting
from alerting.console.config import ConsoleConfig
from connectors.config import ConnectorsConfig, parse_connectors
from streams.config import PipelineConfig, read_config_file
from streams.settings import option, read_section


def _alerting(value: Any, where: str, context: Mapping[str, Any]) -> AlertingConfig:
    return parse_alerting(value, where, context["section"]["brands"], environ=context["environ"])


def _connectors(value: Any, where: str, context: Mapping[str, Any]) -> ConnectorsConfig:
    return parse_connectors(value, where, environ=context["environ"])


@dataclass(frozen=True)
class KoubeiConfig(PipelineConfig):
    alerting: AlertingConfig = option(AlertingConfig(), parse=_alerting,
                                      help="chat channels, routing and delivery (docs/alerting.md)")
    connectors: ConnectorsConfig = option(ConnectorsConfig(), parse=_connectors,
                                          help="named connector instances (docs/connectors.md)")
    console: ConsoleConfig = option(ConsoleConfig(), help="the PR team's web console (docs/console.md)")


def parse_koubei_config(raw: Any, *, environ: Mapping[str, str] | None = None, source: str = "") -> KoubeiConfig:
    """Validate a whole parsed YAML document; raises ConfigError naming the field."""
    config = read_section(KoubeiConfig, raw, "", {"environ": os.environ if environ is None else environ})
    return replace(config, source=source)


def load_koubei_config(path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None) -> KoubeiConfig:
    return parse_koubei_config(read_config_file(path), environ=environ, source=str(path))
