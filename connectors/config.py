"""PLACEHOLDER (replaced by the connectors work): validates the ``connectors`` section."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streams.settings import section


def parse_connectors(raw: Any, path: str, *, environ: Mapping[str, str]) -> dict[str, Any]:
    return section(raw, path)
