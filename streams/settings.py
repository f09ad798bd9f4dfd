"""Small, strict readers for YAML configuration sections.

Every error names the full field path (``brands[2].aliases[0]``) so a user
can fix the file without reading our code. Sections owned by other
packages (detection, alerting, connectors) use the same readers, so every
error in ``koubei check-config`` looks the same.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, Field, dataclass, is_dataclass
from dataclasses import field as dataclass_field
from dataclasses import fields as dataclass_fields
from types import UnionType
from typing import Any, Protocol, TypeVar, Union, get_args, get_origin, get_type_hints

T = TypeVar("T")

# One or more number+unit parts, as Go and Alertmanager write them: 90s, 5m, 1h30m, 1d12h.
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")
_DURATION = re.compile(r"^\s*(?:\d+(?:\.\d+)?\s*(?:ms|s|m|h|d|w)\s*)+$")
_PLAIN_NUMBER = re.compile(r"^\s*\d+(?:\.\d+)?\s*$")
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
    """Seconds from ``90``, ``"90s"``, ``"5m"``, ``"4h"``, ``"1d"``, ``"1h30m"``."""
    if isinstance(value, bool):
        raise ConfigError(where, f"expected a duration like 30s, 5m or 4h, got {value!r}")
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or value < 0:
            raise ConfigError(where, "duration must be a finite number >= 0")
        return float(value)
    if isinstance(value, str):
        if _PLAIN_NUMBER.match(value):
            return float(value)
        if _DURATION.match(value):
            return sum(float(n) * _UNITS[u] for n, u in _DURATION_PART.findall(value))
    raise ConfigError(where, f"expected a duration like 30s, 5m, 4h or 1h30m, got {value!r}")


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


# ---------------------------------------------------------------------------
# Declarative sections: each field declared once, with its type, default,
# bounds and help text. ``read_section`` validates a YAML mapping against a
# frozen dataclass built from ``option`` fields; ``describe`` lists the
# fields for ``koubei connectors`` and the docs. Errors name the field path
# exactly like the readers above, because they are the readers above.
# ---------------------------------------------------------------------------

_META = "koubei"
_NO_DEFAULT: Any = object()


class FieldParser(Protocol):
    """A custom reader for one field: the raw YAML value (None when absent)
    and the field's path; returns the validated value or raises ConfigError."""

    def __call__(self, value: Any, where: str, context: Mapping[str, Any]) -> Any: ...


@dataclass(frozen=True)
class Option:
    """What ``option`` records about one field."""

    help: str = ""
    key: str | None = None  # the YAML name, when it differs from the attribute
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    duration: bool = False
    required: bool = False
    allow_empty: bool = False
    env_name: bool = False  # the field holds the NAME of an environment variable
    parse: FieldParser | None = None
    shown_default: str | None = None  # how ``describe`` shows the default


def option(default: Any = _NO_DEFAULT, *, help: str = "", key: str | None = None,  # noqa: A002 - the word users read
           minimum: float | None = None, maximum: float | None = None, choices: Iterable[str] = (),
           duration: bool = False, required: bool = False, allow_empty: bool = False, env_name: bool = False,
           parse: FieldParser | None = None, shown_default: str | None = None) -> Any:
    """Declare one configuration field of a section dataclass."""
    meta = {_META: Option(help, key, minimum, maximum, tuple(choices), duration, required, allow_empty,
                          env_name, parse, shown_default)}
    if default is _NO_DEFAULT:
        return dataclass_field(metadata=meta)
    if isinstance(default, (dict, list, set)):
        frozen = default
        return dataclass_field(default_factory=lambda: type(frozen)(frozen), metadata=meta)
    return dataclass_field(default=default, metadata=meta)


def options_of(cls: type) -> list[tuple[Field[Any], Option, Any]]:
    """(dataclass field, its Option, its resolved type) for every declared field."""
    hints = get_type_hints(cls)
    out = []
    for f in dataclass_fields(cls):
        meta = f.metadata.get(_META)
        if isinstance(meta, Option):
            out.append((f, meta, hints[f.name]))
    return out


def yaml_keys(cls: type) -> tuple[str, ...]:
    return tuple(opt.key or f.name for f, opt, _ in options_of(cls))


def _default_of(f: Field[Any]) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return _NO_DEFAULT


def _read_typed(kind: Any, value: Any, where: str, opt: Option, context: Mapping[str, Any]) -> Any:
    origin = get_origin(kind)
    if origin in (UnionType, Union):
        args = [a for a in get_args(kind) if a is not type(None)]
        if value is None:
            return None
        return _read_typed(args[0], value, where, opt, context)
    if is_dataclass(kind) and isinstance(kind, type):
        return read_section(kind, value, where, context)
    # The plain readers report against the key they were given ("v");
    # read_section puts the real path back.
    holder = {"v": value}
    if kind is bool:
        return get_bool(holder, "v", "", False)
    if kind is int:
        return int(get_number(holder, "v", "", 0, minimum=opt.minimum, maximum=opt.maximum, integer=True))
    if kind is float:
        if opt.duration:
            seconds = parse_duration(value, where)
            if opt.minimum is not None and seconds < opt.minimum:
                raise ConfigError(where, f"must be at least {opt.minimum:g}s")
            if opt.maximum is not None and seconds > opt.maximum:
                raise ConfigError(where, f"must be at most {opt.maximum:g}s")
            return seconds
        return get_number(holder, "v", "", 0.0, minimum=opt.minimum, maximum=opt.maximum)
    if kind is str:
        if opt.choices:
            if value not in opt.choices:
                raise ConfigError(where, f"must be one of {', '.join(opt.choices)}; got {value!r}")
            return str(value)
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ConfigError(where, f"expected a string, got {type(value).__name__}")
        text = str(value)
        if not text.strip() and not opt.allow_empty:
            raise ConfigError(where, "must not be empty")
        if opt.env_name and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text):
            raise ConfigError(where, "must be the NAME of an environment variable, not the secret itself")
        return text
    if origin is tuple:
        items = get_str_list(holder, "v", "", required=opt.required)
        if opt.choices:
            for i, item in enumerate(items):
                if item not in opt.choices:
                    raise ConfigError(join(where, i), f"must be one of {', '.join(opt.choices)}; got {item!r}")
        return tuple(items)
    if origin in (Mapping, dict) or kind in (Mapping, dict):
        data = section(value, where)
        return {str(k): get_str(data, k, where, allow_empty=True) for k in data}
    raise TypeError(f"{where}: no reader for configuration type {kind!r}")


def read_section(cls: type[T], raw: Any, path: str, context: Mapping[str, Any] | None = None) -> T:
    """Validate ``raw`` (a YAML mapping or None) into the section dataclass ``cls``.

    Unknown keys fail, absent fields take their default, a field marked
    ``required`` (or without a default) must be present. A section class
    may define ``check(self, path)`` for rules that span fields."""
    ctx = context or {}
    data = section(raw, path)
    reject_unknown(data, yaml_keys(cls), path)
    values: dict[str, Any] = {}
    # A custom parser sees the fields read before it as context["section"].
    field_context = {**ctx, "section": values}
    for f, opt, kind in options_of(cls):
        key = opt.key or f.name
        where = join(path, key)
        value = data.get(key)
        if opt.parse is not None:
            values[f.name] = opt.parse(value, where, field_context)
            continue
        if value is None and is_dataclass(kind) and isinstance(kind, type):
            # An absent section is an empty one: its own fields' parsers
            # (environment overrides, say) still run.
            value = {}
        if value is None:
            default = _default_of(f)
            if opt.required or default is _NO_DEFAULT:
                raise ConfigError(where, "required field is missing")
            values[f.name] = default
            continue
        try:
            values[f.name] = _read_typed(kind, value, where, opt, field_context)
        except ConfigError as exc:
            if exc.field in ("v", ""):
                raise ConfigError(where, exc.message) from None
            if exc.field.startswith("v["):
                raise ConfigError(where + exc.field[1:], exc.message) from None
            raise
    made = cls(**values)
    check = getattr(made, "check", None)
    if callable(check):
        check(path)
    return made


@dataclass(frozen=True)
class FieldDoc:
    """One configuration field as the command line and the docs list it."""

    name: str
    kind: str
    default: str
    help: str


def _kind_label(kind: Any, opt: Option) -> str:
    if opt.choices:
        return "|".join(opt.choices)
    if opt.env_name:
        return "env var name"
    if opt.duration:
        return "duration"
    origin = get_origin(kind)
    if origin in (UnionType, Union):
        args = [a for a in get_args(kind) if a is not type(None)]
        return _kind_label(args[0], opt)
    if origin is tuple:
        return "list"
    if origin in (Mapping, dict) or kind in (Mapping, dict):
        return "mapping"
    return {bool: "bool", int: "integer", float: "number", str: "string"}.get(kind, getattr(kind, "__name__", "value"))


def _shown(value: Any, opt: Option) -> str:
    if opt.shown_default is not None:
        return opt.shown_default
    if value is _NO_DEFAULT or opt.required:
        return "(required)"
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if opt.duration and isinstance(value, (int, float)):
        return format_duration(float(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, tuple):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def describe(cls: type) -> tuple[FieldDoc, ...]:
    """The section's fields, in declaration order, for help output and docs."""
    return tuple(FieldDoc(opt.key or f.name, _kind_label(kind, opt), _shown(_default_of(f), opt), opt.help)
                 for f, opt, kind in options_of(cls))


def format_duration(seconds: float) -> str:
    """``5400`` -> ``1h30m``: the inverse of ``parse_duration`` for whole units."""
    if seconds <= 0:
        return "0s"
    parts = []
    rest = seconds
    for unit, size in (("w", 604800.0), ("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0)):
        count = int(rest // size)
        if count:
            parts.append(f"{count}{unit}")
            rest -= count * size
    if rest > 1e-9:
        parts.append(f"{round(rest * 1000):d}ms")
    return "".join(parts)


def _sexagesimal_free_loader() -> type:
    """YAML 1.1 reads ``23:00`` as the integer 1380 (base 60), so an unquoted
    ``start: 23:00`` would silently become a number. This loader resolves
    such scalars as the strings people meant; everything else is
    ``yaml.SafeLoader``."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    resolvers = {}
    for first, entries in yaml.SafeLoader.yaml_implicit_resolvers.items():
        resolvers[first] = [(tag, regexp) for tag, regexp in entries
                            if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")]
    Loader.yaml_implicit_resolvers = resolvers
    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:int",
        re.compile(r"""^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$""", re.X),
        list("-+0123456789"))
    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?
                    |[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$""", re.X),
        list("-+0123456789."))
    return Loader


_LOADER: type | None = None


def load_yaml(text: str) -> Any:
    """Parse configuration YAML (see ``_sexagesimal_free_loader``)."""
    import yaml

    global _LOADER
    if _LOADER is None:
        _LOADER = _sexagesimal_free_loader()
    return yaml.load(text, Loader=_LOADER)  # noqa: S506 - a SafeLoader subclass
