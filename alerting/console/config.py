"""The ``console`` section of koubei.yaml: the PR team's web console.

Declared once with ``streams.settings.option``; secrets never live in the
file: ``*_env`` fields name environment variables (``alerting.secret``).
Without ``token_env`` and ``users_env`` the console is read-only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from alerting.console.auth import parse_users
from alerting.secret import Secret, environ_of, secret_from_env
from streams.settings import ConfigError, get_str, option

_HOST_PORT = re.compile(r"^(?P<host>[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\]):(?P<port>\d{1,5})$")
_HTTP_URL = re.compile(r"^https?://[^\s/?#]+(/[^\s?#]*)?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_listen(value: Any, where: str) -> tuple[str, int]:
    """``127.0.0.1:8090`` -> ("127.0.0.1", 8090); ``[::1]:8090`` for IPv6."""
    text = value if isinstance(value, str) else ""
    match = _HOST_PORT.match(text.strip())
    if not match or not 0 <= int(match.group("port")) <= 65535:
        raise ConfigError(where, f"expected HOST:PORT such as 127.0.0.1:8090, got {value!r}")
    return match.group("host").strip("[]"), int(match.group("port"))


def _listen(value: Any, where: str, context: Mapping[str, Any]) -> str:
    if value is None:
        return "127.0.0.1:8090"
    parse_listen(value, where)
    return str(value).strip()


def _public_url(value: Any, where: str, context: Mapping[str, Any]) -> str:
    if value is None or value == "":
        return ""
    text = get_str({"public_url": value}, "public_url", where.rpartition(".")[0])
    if not _HTTP_URL.match(text):
        raise ConfigError(where, f"expected an http(s) URL such as https://console.example.com, got {text!r}")
    return text.rstrip("/")


def _users(value: Any, where: str, context: Mapping[str, Any]) -> Mapping[str, str]:
    """The NAME of an environment variable holding ``user:hash`` entries
    (``koubei console hash-password``), one per line or separated by commas."""
    if value is None:
        return {}
    if not isinstance(value, str) or not _ENV_NAME.match(value):
        raise ConfigError(where, "must be the NAME of an environment variable, not the users themselves")
    text = environ_of(context).get(value)
    if not text:
        raise ConfigError(where, f"environment variable {value} is not set")
    try:
        return parse_users(text)
    except ValueError as exc:
        # The reason names the entry's position and what is wrong, never a hash.
        raise ConfigError(where, f"${value}: {exc}") from None


@dataclass(frozen=True)
class ConsoleConfig:
    listen: str = option("127.0.0.1:8090", parse=_listen, help="HOST:PORT the console serves on")
    public_url: str = option("", parse=_public_url, shown_default="(none)",
                             help="the console's address as PR users reach it; chat messages link there")
    token: Secret | None = option(None, key="token_env", parse=secret_from_env(required=False),
                                  shown_default="(none)", help="environment variable holding the access token")
    users: Mapping[str, str] = option({}, key="users_env", parse=_users,
                                      help="environment variable holding user:password-hash entries "
                                           "(HTTP basic auth; `koubei console hash-password`)")
    link_secret: Secret | None = option(None, key="link_secret_env", parse=secret_from_env(required=False),
                                        shown_default="(none)",
                                        help="environment variable holding the key that signs action links")
    link_ttl: float = option(86400.0, duration=True, minimum=60.0, help="how long a signed action link works")
    session_ttl: float = option(12 * 3600.0, duration=True, minimum=60.0, help="how long a login lasts")
    history: float = option(7 * 86400.0, duration=True, minimum=3600.0,
                            help="alerts and per-minute buckets kept (and read at start)")
    reports_dir: str = option("", allow_empty=True, help="folder of `koubei backtest --report-json` files to show")
    anonymous_read: bool = option(False, help="show the pages without a login (actions always need one)")

    @property
    def auth_enabled(self) -> bool:
        return self.token is not None or bool(self.users)

    @property
    def secure_cookies(self) -> bool:
        """Cookies are marked Secure when users reach the console over https."""
        return self.public_url.startswith("https://")

    @property
    def address(self) -> tuple[str, int]:
        return parse_listen(self.listen, "console.listen")
