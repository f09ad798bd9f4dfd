"""The ``detection`` section of the configuration, and per-brand overrides.

```yaml
detection:
  algorithm: adaptive        # or simple (the foundation's fixed-ratio rule)
  sensitivity: balanced      # low | balanced | high: a preset of the fields below
  windows: [5m, 15m, 60m]    # any field below overrides the preset
  fire_after: 2
brands:
  - id: acme
    sensitivity: high        # this brand's preset
    detection: {min_negative: 3, cooldown: 10m}
```

Precedence for one brand: the preset of its sensitivity (``brand.sensitivity``
or else ``detection.sensitivity``), then the fields set in ``detection``, then
the fields set in ``brand.detection``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from streams.detection.params import SENSITIVITIES, SIGNALS, AdaptiveParams, build_params
from streams.settings import (
    ConfigError,
    get_duration,
    get_enum,
    get_int,
    get_number,
    get_str_list,
    join,
    parse_duration,
    reject_unknown,
    section,
)

ALGORITHMS = ("adaptive", "simple")


def _number(minimum: float | None = None, maximum: float | None = None) -> Callable[[Mapping[str, Any], str, str], Any]:
    def read(raw: Mapping[str, Any], name: str, path: str) -> float:
        return get_number(raw, name, path, 0.0, minimum=minimum, maximum=maximum)
    return read


def _integer(minimum: int | None = None, maximum: int | None = None) -> Callable[[Mapping[str, Any], str, str], Any]:
    def read(raw: Mapping[str, Any], name: str, path: str) -> int:
        return get_int(raw, name, path, 0, minimum=minimum, maximum=maximum)
    return read


def _duration(minimum: float = 0.0) -> Callable[[Mapping[str, Any], str, str], Any]:
    def read(raw: Mapping[str, Any], name: str, path: str) -> float:
        return get_duration(raw, name, path, 0.0, minimum=minimum)
    return read


def _windows(raw: Mapping[str, Any], name: str, path: str) -> tuple[float, ...]:
    where = join(path, name)
    value = raw.get(name)
    if not isinstance(value, list) or not 1 <= len(value) <= 5:
        raise ConfigError(where, "expected a list of 1 to 5 durations, e.g. [5m, 15m, 60m]")
    out: list[float] = []
    for i, item in enumerate(value):
        seconds = parse_duration(item, join(where, i))
        if seconds < 1.0:
            raise ConfigError(join(where, i), "a window must be at least 1s")
        out.append(seconds)
    return tuple(sorted(set(out)))


def _signals(raw: Mapping[str, Any], name: str, path: str) -> tuple[str, ...]:
    where = join(path, name)
    items = get_str_list(raw, name, path, required=True)
    for i, item in enumerate(items):
        if item not in SIGNALS:
            raise ConfigError(join(where, i), f"must be one of {', '.join(SIGNALS)}; got {item!r}")
    return tuple(dict.fromkeys(items))


# Every tunable field, with the reader that validates it. Keep in step with
# AdaptiveParams (a test checks that the two agree).
FIELD_READERS: dict[str, Callable[[Mapping[str, Any], str, str], Any]] = {
    "windows": _windows,
    "signals": _signals,
    "z_fire": _number(0.5, 50.0),
    "volume_z_fire": _number(0.5, 100.0),
    "volume_tail_margin": _number(0.0, 10.0),
    "volume_confirm_z": _number(0.0, 100.0),
    "z_critical": _number(0.5, 100.0),
    "resolve_z": _number(0.0, 50.0),
    "min_negative": _integer(1, 1_000_000),
    "min_volume": _integer(0, 10_000_000),
    "min_ratio": _number(1.0, 1000.0),
    "negative_min_ratio": _number(1.0, 1000.0),
    "min_share_lift": _number(0.0, 1.0),
    "critical_share_lift": _number(0.0, 1.0),
    "critical_ratio": _number(1.0, 1000.0),
    "share_gate_z": _number(-10.0, 50.0),
    "attention_phi_floor": _number(0.0, 100.0),
    "fire_after": _integer(1, 1000),
    "resolve_after": _integer(1, 10_000),
    "cooldown": _duration(),
    "volume_cooldown": _duration(),
    "volume_long_half_life": _duration(60.0),
    "volume_long_z": _number(0.0, 100.0),
    "volume_long_ratio": _number(1.0, 1000.0),
    "warmup": _duration(),
    "cold_start_share": _number(0.0, 1.0),
    "baseline_half_life": _duration(60.0),
    "local_share_half_life": _duration(),
    "season_half_life": _duration(86400.0),
    "relearn_after": _duration(60.0),
    "utc_offset_hours": _number(-12.0, 14.0),
    "sparkline_buckets": _integer(1, 240),
    "risk_critical_hits": _integer(1, 1_000_000),
    "risk_z_fire": _number(0.5, 37.0),
    "risk_min_hits": _integer(1, 1_000_000),
    "risk_min_ratio": _number(1.0, 1000.0),
    "risk_min_negative": _integer(0, 1_000_000),
    "kol_max_per_week": _number(0.0, 100.0),
    "kol_min_followers": _integer(0, 10**10),
    "kol_amplify_posts": _integer(1, 1_000_000),
    "sequential_arl_weeks": _number(0.01, 10_000.0),
    "sequential_min_shift": _number(0.0, 10_000.0),
    "sequential_z_margin": _number(0.0, 3.0),
    "tone_mixture": _number(0.01, 0.99),
    "tone_power": _number(0.5, 16.0),
    "tone_z_margin": _number(-3.0, 3.0),
    "copy_min_posts": _integer(1, 1_000_000),
    "copy_min_ratio": _number(1.0, 1000.0),
}


@dataclass(frozen=True)
class BrandDetection:
    algorithm: str
    params: AdaptiveParams


@dataclass(frozen=True)
class DetectionConfig:
    algorithm: str = "adaptive"
    sensitivity: str = "balanced"
    # Fields set explicitly in the ``detection`` section (validated values).
    overrides: Mapping[str, Any] = field(default_factory=dict)
    brands: Mapping[str, BrandDetection] = field(default_factory=dict)

    def for_brand(self, brand_id: str) -> BrandDetection:
        """The brand's resolved settings; unknown brands get the global ones."""
        found = self.brands.get(brand_id)
        if found is not None:
            return found
        return BrandDetection(self.algorithm, build_params(self.sensitivity, dict(self.overrides)))


def _read_fields(data: Mapping[str, Any], path: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, reader in FIELD_READERS.items():
        if name in data:
            values[name] = reader(data, name, path)
    return values


def _check_consistent(params: AdaptiveParams, path: str) -> None:
    """Cross-field rules: each names the field a user most likely meant to change."""
    if params.z_critical < params.z_fire:
        raise ConfigError(join(path, "z_critical"),
                          f"must be >= z_fire ({params.z_fire:g}), got {params.z_critical:g}")
    if params.resolve_z >= min(params.z_fire, params.volume_z_fire):
        raise ConfigError(join(path, "resolve_z"),
                          f"must be below z_fire ({params.z_fire:g}) or an alert could never resolve")


def parse_detection(raw: Any, path: str, brands: Any) -> DetectionConfig:
    """Validate ``detection`` and every ``brands[i].detection``; errors name the field."""
    data = section(raw, path)
    reject_unknown(data, ("algorithm", "sensitivity", *FIELD_READERS), path)
    algorithm = get_enum(data, "algorithm", path, ALGORITHMS, "adaptive")
    sensitivity = get_enum(data, "sensitivity", path, SENSITIVITIES, "balanced")
    overrides = _read_fields(data, path)
    _check_consistent(build_params(sensitivity, overrides), path)
    resolved: dict[str, BrandDetection] = {}
    for i, brand in enumerate(brands or ()):
        brand_path = join(join("brands", i), "detection")
        brand_data = section(getattr(brand, "detection", None), brand_path)
        if "sensitivity" in brand_data:
            raise ConfigError(join(brand_path, "sensitivity"),
                              f"set it one level up, as brands[{i}].sensitivity")
        reject_unknown(brand_data, ("algorithm", *FIELD_READERS), brand_path)
        brand_algorithm = get_enum(brand_data, "algorithm", brand_path, ALGORITHMS, algorithm)
        brand_sensitivity = getattr(brand, "sensitivity", None) or sensitivity
        merged = {**overrides, **_read_fields(brand_data, brand_path)}
        params = build_params(brand_sensitivity, merged)
        _check_consistent(params, brand_path)
        resolved[brand.id] = BrandDetection(brand_algorithm, params)
    return DetectionConfig(algorithm=algorithm, sensitivity=sensitivity, overrides=overrides, brands=resolved)
