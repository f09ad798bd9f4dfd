"""The labels an alert carries through routing, grouping, inhibition and
silences: ``brand``, ``severity``, ``signal``, and every label its brand
declares in ``brands[].labels`` (team, region, ...). All bounded values."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from streams.config import Brand
from streams.models import AlertEvent

ALERT_LABELS = ("brand", "severity", "signal")
# Set by the channels (Alertmanager's labels), so a brand may not use them.
RESERVED_LABELS = (*ALERT_LABELS, "alertname", "source")
LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Labeler:
    """brand id -> the brand's own labels."""

    brand_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @classmethod
    def of(cls, brands: Iterable[Brand]) -> Labeler:
        return cls({brand.id: dict(brand.labels) for brand in brands})

    def names(self) -> tuple[str, ...]:
        """Every label an alert can carry, for validating matchers and group_by."""
        extra = sorted({name for labels in self.brand_labels.values() for name in labels})
        return (*ALERT_LABELS, *[n for n in extra if n not in ALERT_LABELS])

    def labels(self, event: AlertEvent) -> dict[str, str]:
        own = self.brand_labels.get(event.brand, {})
        return {**own, "brand": event.brand, "severity": event.severity, "signal": event.signal}
