"""Routing stage: which routes (and so which channels) an alert goes to."""

from __future__ import annotations

from collections.abc import Mapping

from alerting.config import RouteConfig
from alerting.matchers import matches_all


def route_matches(route: RouteConfig, labels: Mapping[str, str]) -> bool:
    return matches_all(route.all_matchers, labels)


def match_routes(root: RouteConfig | None, labels: Mapping[str, str]) -> list[RouteConfig]:
    """Alertmanager's tree walk: the deepest matching routes win; a route that
    matches stops its siblings unless it says ``continue``. A matching route
    whose children do not match delivers itself."""
    if root is None:
        return []
    found = _walk(root, labels)
    return [r for r in found if r.receiver is not None]


def _walk(route: RouteConfig, labels: Mapping[str, str]) -> list[RouteConfig]:
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


def routes_by_path(root: RouteConfig | None) -> dict[str, RouteConfig]:
    """Every route of the tree by its config path (a parked notification names its route)."""
    out: dict[str, RouteConfig] = {}
    stack = [root] if root is not None else []
    while stack:
        route = stack.pop()
        out[route.path] = route
        stack.extend(route.routes)
    return out
