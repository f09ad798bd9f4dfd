"""Routing stage: which routes (and so which channels) an alert goes to."""

from __future__ import annotations

from alerting.config import RouteConfig
from streams.models import AlertEvent


def labels_of(event: AlertEvent) -> dict[str, str]:
    """The labels routes, groups and silences match on; all bounded values."""
    return {"brand": event.brand, "severity": event.severity, "signal": event.signal}


def route_matches(route: RouteConfig, labels: dict[str, str]) -> bool:
    return all(labels.get(name) in values for name, values in route.match.items())


def match_routes(root: RouteConfig | None, event: AlertEvent) -> list[RouteConfig]:
    """Alertmanager's tree walk: the deepest matching routes win; a route that
    matches stops its siblings unless it says ``continue``. A matching route
    whose children do not match delivers itself."""
    if root is None:
        return []
    labels = labels_of(event)
    found = _walk(root, labels)
    return [r for r in found if r.receiver is not None]


def _walk(route: RouteConfig, labels: dict[str, str]) -> list[RouteConfig]:
    if not route_matches(route, labels):
        return []
    matched: list[RouteConfig] = []
    for child in route.routes:
        hits = _walk(child, labels)
        if hits:
            matched.extend(hits)
            if not child.continue_matching:
                break
    return matched or [route]
