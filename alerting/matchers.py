"""Label matchers with Alertmanager's syntax and meaning, shared by routes,
inhibition rules and silences: ``name op value`` with ``=``, ``!=``, ``=~``
and ``!~``; the value bare or double-quoted (``\\"``, ``\\\\``, ``\\n`` escapes);
a regular expression matches the whole value (``^(?:re)$``); a label an
alert does not carry has the empty value. Several matchers all have to
match. Alertmanager's brace form ``{brand="acme", severity!="warning"}``
is read too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

OPERATORS = ("=~", "!~", "!=", "=")
_MATCHER = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$', re.S)
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n"}


class MatcherError(ValueError):
    pass


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str
    value: str
    pattern: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def make(cls, name: str, op: str, value: str) -> Matcher:
        if op not in OPERATORS:
            raise MatcherError(f"unknown operator {op!r} (use {', '.join(OPERATORS)})")
        pattern = None
        if op in ("=~", "!~"):
            try:
                pattern = re.compile(f"^(?:{value})$", re.S)
            except re.error as exc:
                raise MatcherError(f"{name}{op}{quote(value)}: not a regular expression ({exc})") from None
        return cls(name, op, value, pattern)

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.name, "")
        if self.op == "=":
            return value == self.value
        if self.op == "!=":
            return value != self.value
        assert self.pattern is not None
        found = self.pattern.match(value) is not None
        return found if self.op == "=~" else not found

    @property
    def equality(self) -> bool:
        return self.op == "="

    def __str__(self) -> str:
        return f"{self.name}{self.op}{quote(self.value)}"

    def display(self) -> str:
        """Like ``str`` but without quotes around a plain value (``brand=acme``)."""
        plain = re.fullmatch(r"[A-Za-z0-9_.:-]+", self.value) is not None
        return f"{self.name}{self.op}{self.value}" if plain else str(self)


def quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _unquote(text: str, where: str) -> str:
    if not (len(text) >= 2 and text[0] == '"' and text[-1] == '"'):
        if '"' in text:
            raise MatcherError(f"{where}: unbalanced quotes")
        return text
    out: list[str] = []
    i, body = 0, text[1:-1]
    while i < len(body):
        char = body[i]
        if char == "\\":
            if i + 1 >= len(body) or body[i + 1] not in _ESCAPES:
                raise MatcherError(f"{where}: bad escape in a quoted value (use \\\", \\\\ or \\n)")
            out.append(_ESCAPES[body[i + 1]])
            i += 2
            continue
        if char == '"':
            raise MatcherError(f"{where}: unescaped quote inside the value")
        out.append(char)
        i += 1
    return "".join(out)


def parse_matcher(text: str) -> Matcher:
    """``severity="critical"``, ``brand=~"acme|bolt"``, ``signal!=volume``."""
    match = _MATCHER.match(text)
    if not match:
        raise MatcherError(f"bad matcher {text!r}: expected LABEL=VALUE, LABEL!=VALUE, LABEL=~REGEX or LABEL!~REGEX")
    name, op, raw = match.groups()
    return Matcher.make(name, op, _unquote(raw, f"bad matcher {text!r}"))


def _split_braces(text: str) -> list[str]:
    """``{a="x,y", b!=z}`` -> ['a="x,y"', 'b!=z'] (commas inside quotes kept)."""
    inner = text.strip()[1:-1]
    parts, current, quoted, escaped = [], [], False, False
    for char in inner:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\" and quoted:
            current.append(char)
            escaped = True
        elif char == '"':
            current.append(char)
            quoted = not quoted
        elif char == "," and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if quoted:
        raise MatcherError(f"bad matchers {text!r}: unbalanced quotes")
    parts.append("".join(current))
    return [p for p in parts if p.strip()]


def parse_matchers(items: Iterable[str]) -> tuple[Matcher, ...]:
    """A list of matcher strings, each one matcher or a ``{...}`` list of them."""
    out: list[Matcher] = []
    for item in items:
        text = item.strip()
        if text.startswith("{") and text.endswith("}"):
            out.extend(parse_matcher(part) for part in _split_braces(text))
        else:
            out.append(parse_matcher(text))
    return tuple(out)


def any_of(name: str, values: Sequence[str]) -> Matcher:
    """The deprecated ``match: {label: [a, b]}`` form: equal to any of the values."""
    if len(values) == 1:
        return Matcher.make(name, "=", values[0])
    return Matcher.make(name, "=~", "|".join(re.escape(v) for v in values))


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)
