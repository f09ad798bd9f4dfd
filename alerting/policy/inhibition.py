"""Inhibition stage (Alertmanager's ``inhibit_rules``): while a source alert
fires, alerts matching a rule's target matchers with the same values of its
``equal`` labels are not sent, e.g. a brand's critical negative-share alert
silences the same brand's warnings and its volume alert. An alert never
inhibits itself; a label both lack counts as equal."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from alerting.matchers import Matcher, matches_all
from streams.models import AlertEvent


@dataclass(frozen=True)
class InhibitRule:
    source_matchers: tuple[Matcher, ...]
    target_matchers: tuple[Matcher, ...]
    equal: tuple[str, ...] = ()

    def inhibits(self, source: Mapping[str, str], target: Mapping[str, str]) -> bool:
        return (matches_all(self.target_matchers, target) and matches_all(self.source_matchers, source)
                and all(source.get(name, "") == target.get(name, "") for name in self.equal))


class Inhibitor:
    """The alerts firing now (any route, silenced or not), by key."""

    def __init__(self, rules: tuple[InhibitRule, ...]) -> None:
        self.rules = rules
        self.firing: dict[str, tuple[float, dict[str, str]]] = {}  # key -> (started_at, labels)

    def observe(self, event: AlertEvent, labels: Mapping[str, str]) -> None:
        if not self.rules:
            return
        current = self.firing.get(event.key)
        if event.state == "firing":
            if current is None or current[0] <= event.started_at:
                self.firing[event.key] = (event.started_at, dict(labels))
        elif current is not None and current[0] <= event.started_at:
            del self.firing[event.key]

    def inhibited(self, key: str, labels: Mapping[str, str]) -> bool:
        return any(rule.inhibits(source, labels)
                   for rule in self.rules
                   for other, (_, source) in self.firing.items() if other != key)
