"""PLACEHOLDER (replaced by the alerting work): validates the ``alerting`` section."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streams.settings import section


def parse_alerting(raw: Any, path: str, brands: Any, *, environ: Mapping[str, str]) -> dict[str, Any]:
    return section(raw, path)
