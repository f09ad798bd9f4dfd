"""Spike detection: pure objects fed closed buckets, one per brand.

``create_detector`` is what the stream worker, ``koubei backtest`` and the
tests call; it picks the configured algorithm (``adaptive`` by default, or
``simple``) with the brand's resolved parameters and restores ``state``.
"""

from __future__ import annotations

from typing import Any

from streams.detection.adaptive import AdaptiveDetector
from streams.detection.base import Detector
from streams.detection.config import BrandDetection, DetectionConfig, parse_detection
from streams.detection.params import AdaptiveParams, build_params
from streams.detection.simple import SimpleSpikeDetector


def create_detector(config: Any, brand_id: str, state: dict[str, Any] | None = None) -> Detector:
    """Build the configured detector for a brand, restoring ``state`` if given.

    ``config`` is the PipelineConfig, or None (tests): then defaults.
    """
    name = brand_id
    if config is not None:
        try:
            name = config.brand(brand_id).name
        except KeyError:
            name = brand_id
    detection = getattr(config, "detection", None)
    if not isinstance(detection, DetectionConfig):
        detection = DetectionConfig()
    chosen = detection.for_brand(brand_id)
    if chosen.algorithm == "simple":
        return SimpleSpikeDetector(brand_id, name, state=state)
    return AdaptiveDetector(brand_id, name, params=chosen.params, state=state)


__all__ = [
    "AdaptiveDetector",
    "AdaptiveParams",
    "BrandDetection",
    "DetectionConfig",
    "Detector",
    "SimpleSpikeDetector",
    "build_params",
    "create_detector",
    "parse_detection",
]
