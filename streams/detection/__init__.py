"""Spike detection: pure objects fed closed buckets, one per brand."""

from __future__ import annotations

from typing import Any

from streams.detection.base import Detector
from streams.detection.simple import SimpleSpikeDetector


def create_detector(config: Any, brand_id: str, state: dict[str, Any] | None = None) -> Detector:
    """Build the configured detector for a brand, restoring ``state`` if given."""
    brand = config.brand(brand_id) if config is not None else None
    name = brand.name if brand is not None else brand_id
    return SimpleSpikeDetector(brand_id, name, state=state)


__all__ = ["Detector", "SimpleSpikeDetector", "create_detector"]
