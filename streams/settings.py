"""Small, strict readers for YAML configuration sections.

Every error names the full field path (``brands[2].aliases[0]``) so a user
can fix the file without reading our code. Sections owned by other
packages (detection, alerting, connectors) use the same readers, so every
error in ``koubei check-config`` looks the same.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, None: 1.0}


class ConfigError(ValueError):
    """A configuration problem; ``field`` is the dotted path to the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


def join(path: str, name: str | int) -> str:
    if isinstance(name, int):
        return f"{path}[{name}]"
    return f"{path}.{name}" if path else name


def section(raw: Any, path: str) -> dict[str, Any]:
    """A mapping, or empty when the section is absent."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(path, f"expected a mapping, got {type(raw).__name__}")
    return dict(raw)


def reject_unknown(raw: Mapping[str, Any], allowed: Iterable[str], path: str) -> None:
    """Typos must fail loudly: a misspelt threshold silently using its default
    is how an alert never fires."""
    allowed_set = set(allowed)
    for key in raw:
        if key not in allowed_set:
            hint = ", ".join(sorted(allowed_set))
            raise ConfigError(join(path, str(key)), f"unknown field (allowed: {hint})")


def get_str(raw: Mapping[str, Any], name: str, path: str, default: str | None = None,
            *, required: bool = False, allow_empty: bool = False) -> str:
    value = raw.get(name, default)
    where = join(path, name)
    if value is None:
        if required:
            raise ConfigError(where, "required field is missing")
        return "" if default is None else default
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ConfigError(where, f"expected a string, got {type(value).__name__}")
    text = str(value)
    if not text.strip() and not allow_empty:
        raise ConfigError(where, "must not be empty")
    return text


def get_bool(raw: Mapping[str, Any], name: str, path: str, default: bool) -> bool:
    value = raw.get(name, default)
    if not isinstance(value, bool):
        raise ConfigError(join(path, name), f"expected true or false, got {value!r}")
    return value


def get_number(raw: Mapping[str, Any], name: str, path: str, default: float,
               *, minimum: float | None = None, maximum: float | None = None,
               integer: bool = False) -> float:
    value = raw.get(name, default)
    where = join(path, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(where, f"expected a number, got {value!r}")
    if integer and int(value) != value:
        raise ConfigError(where, f"expected a whole number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(where, f"must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(where, f"must be <= {maximum}, got {value}")
    return int(value) if integer else float(value)


def get_int(raw: Mapping[str, Any], name: str, path: str, default: int,
            *, minimum: int | None = None, maximum: int | None = None) -> int:
    return int(get_number(raw, name, path, default, minimum=minimum, maximum=maximum, integer=True))


def parse_duration(value: Any, where: str) -> float:
    """Seconds from ``90``, ``"90s"``, ``"5m"``, ``"4h"``, ``"1d"``."""
    if isinstance(value, bool):
        raise ConfigError(where, f"expected a duration like 30s, 5m or 4h, got {value!r}")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ConfigError(where, "duration must be >= 0")
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1)) * _UNITS[match.group(2)]
    raise ConfigError(where, f"expected a duration like 30s, 5m or 4h, got {value!r}")


def get_duration(raw: Mapping[str, Any], name: str, path: str, default: float,
                 *, minimum: float = 0.0) -> float:
    seconds = parse_duration(raw.get(name, default), join(path, name))
    if seconds < minimum:
        raise ConfigError(join(path, name), f"must be at least {minimum:g}s")
    return seconds


def get_enum(raw: Mapping[str, Any], name: str, path: str, choices: Iterable[str], default: str) -> str:
    options = tuple(choices)
    value = raw.get(name, default)
    if value not in options:
        raise ConfigError(join(path, name), f"must be one of {', '.join(options)}; got {value!r}")
    return str(value)


def get_str_list(raw: Mapping[str, Any], name: str, path: str, *, required: bool = False) -> list[str]:
    value = raw.get(name)
    where = join(path, name)
    if value is None:
        if required:
            raise ConfigError(where, "required field is missing")
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ConfigError(where, f"expected a list of strings, got {type(value).__name__}")
    out: list[str] = []
    for i, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, (str, int)) or not str(item).strip():
            raise ConfigError(join(where, i), f"expected a non-empty string, got {item!r}")
        out.append(str(item))
    if required and not out:
        raise ConfigError(where, "must list at least one entry")
    return out


def get_secret(raw: Mapping[str, Any], name: str, path: str, *, required: bool = False,
               environ: Mapping[str, str] | None = None) -> str | None:
    """Secrets never live in the YAML file: the field names an environment
    variable (``secret_env: DINGTALK_SECRET``) and the value is read from it.
    The value is never put into an error message or a log line."""
    env = os.environ if environ is None else environ
    var = raw.get(name)
    where = join(path, name)
    if var is None:
        if required:
            raise ConfigError(where, "required: name of the environment variable holding the secret")
        return None
    if not isinstance(var, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", var):
        raise ConfigError(where, "must be the NAME of an environment variable, not the secret itself")
    value = env.get(var)
    if value is None or value == "":
        if required:
            raise ConfigError(where, f"environment variable {var} is not set")
        return None
    return value
