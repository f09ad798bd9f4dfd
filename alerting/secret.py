"""Secrets read from the environment: a robot URL with its token, a signing
key, a routing key. The value is never written in koubei.yaml, never in a
``repr`` (so never in a log line that prints a config object) and never in
an error message: those name the environment variable instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from streams.settings import ConfigError, FieldParser, get_secret


@dataclass(frozen=True, repr=False)
class Secret:
    """A secret value and where it came from (``$NAME``); shown only as its origin."""

    value: str = field(compare=True)
    origin: str = field(default="the configuration", compare=False)

    def reveal(self) -> str:
        return self.value

    def __repr__(self) -> str:
        return f"Secret(from {self.origin})"

    __str__ = __repr__


UNSET = Secret("", "nowhere")


def environ_of(context: Mapping[str, Any]) -> Mapping[str, str]:
    environ: Mapping[str, str] = context.get("environ", os.environ)
    return environ


def secret_from_env(*, required: bool) -> FieldParser:
    """A reader for a ``*_env`` field: the YAML holds the NAME of an
    environment variable and the field becomes its value. A variable that is
    named but not set is an error even for an optional secret: an unsigned
    request would only be rejected later by the platform, after the alert."""

    def parse(value: Any, where: str, context: Mapping[str, Any]) -> Secret | None:
        if value is None:
            if required:
                raise ConfigError(where, "required: name of the environment variable holding the secret")
            return None
        path, _, name = where.rpartition(".")
        secret = get_secret({name: value}, name, path, required=True, environ=environ_of(context))
        if secret is None:  # get_secret(required=True) raises instead; kept for the type checker
            raise ConfigError(where, f"environment variable {value} is not set")
        return Secret(secret, f"${value}")

    return parse
