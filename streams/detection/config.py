"""PLACEHOLDER (replaced by the detection work): validates the ``detection`` section."""
from __future__ import annotations

from typing import Any

from streams.settings import section


def parse_detection(raw: Any, path: str, brands: Any) -> dict[str, Any]:
    return section(raw, path)
