"""Links into the PR console, for chat messages and other tools.

Plain functions with no dependency beyond the standard library, so a
message renderer can call them without loading the web app:

* ``incident_url(base, incident_id)``: the incident page;
* ``signed_action_url(base, secret, action, incident_id, expires)``: a link
  that lets whoever holds it silence or acknowledge one incident until
  ``expires``, without logging in. It opens a confirmation page; only the
  button there (a POST with the page's CSRF token) acts;
* ``action_links(base, secret, brand, started_at, expires)``: all of them
  for one incident, as a dict; ``message_links(config, brand, started_at,
  now)`` the same from the ``console`` section.

The signature is HMAC-SHA256 over the action, the incident id and the
expiry (unix seconds), with a secret only the console and the notifier
know (``console.link_secret_env``); it is checked in constant time. An id
may be any alias of the incident (``alerting.incidents``): the alert's own
``<brand>:<started_at>`` is enough.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import quote

from alerting.incidents import incident_id as make_incident_id
from alerting.incidents import parse_incident_id
from alerting.render.incident import IncidentLinks, IncidentRef, LinkProvider

if TYPE_CHECKING:
    from alerting.console.config import ConsoleConfig

# What a signed link may do, and for how long a silence it creates lasts.
ACTIONS = ("silence-1h", "silence-4h", "ack")
SILENCE_SECONDS = {"silence-1h": 3600.0, "silence-4h": 4 * 3600.0}
# A domain label in the signed text: a signature made for anything else never verifies here.
_DOMAIN = "koubei-console-action/v1"


class LinkError(ValueError):
    """Why a signed link is refused; ``reason`` is one of ``malformed``,
    ``unknown_action``, ``bad_signature``, ``expired``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _base(base: str) -> str:
    return base.rstrip("/")


def incident_url(base: str, incident_id: str, language: str | None = None) -> str:
    """``https://console.example.com/incidents/acme%3A1763699100``; ``language="en"`` adds ``?lang=en``."""
    url = f"{_base(base)}/incidents/{quote(incident_id, safe='')}"
    return url + "?lang=en" if language == "en" else url


def action_signature(secret: str, action: str, incident_id: str, expires: int) -> str:
    text = f"{_DOMAIN}\n{action}\n{incident_id}\n{expires}"
    return hmac.new(secret.encode("utf-8"), text.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def signed_action_url(base: str, secret: str, action: str, incident_id: str, expires: float,
                      language: str | None = None) -> str:
    """A link to the confirmation page of ``action`` (one of ACTIONS) on the
    incident, valid until ``expires`` (unix seconds)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r} (one of {', '.join(ACTIONS)})")
    if not secret:
        raise ValueError("signing needs a secret (console.link_secret_env)")
    if parse_incident_id(incident_id) is None:
        raise ValueError(f"not an incident id: {incident_id!r}")
    if not math.isfinite(expires):
        raise ValueError("expires must be a finite unix time")
    exp = int(expires)
    sig = action_signature(secret, action, incident_id, exp)
    url = f"{_base(base)}/act/{action}/{quote(incident_id, safe='')}?exp={exp}&sig={sig}"
    return url + "&lang=en" if language == "en" else url


def verify_action(secret: str, action: str, incident_id: str, expires: str, signature: str, now: float) -> int:
    """The link's expiry when it is genuine and not expired; raises LinkError otherwise.
    The signature is checked before the expiry, so a tampered link is
    reported as tampered even when it also looks expired."""
    if action not in ACTIONS:
        raise LinkError("unknown_action", f"unknown action {action!r}")
    if not expires.isdigit() or len(expires) > 12 or parse_incident_id(incident_id) is None or len(signature) != 64:
        raise LinkError("malformed", "the link is incomplete or damaged")
    exp = int(expires)
    expected = action_signature(secret, action, incident_id, exp)
    if not secret or not hmac.compare_digest(expected.encode("ascii"), signature.encode("ascii", "replace")):
        raise LinkError("bad_signature", "the link's signature does not match: it was changed or made elsewhere")
    if now >= exp:
        raise LinkError("expired", "the link has expired")
    return exp


def action_links(base: str | None, secret: str | None, brand: str, started_at: float, expires: float,
                 language: str | None = None) -> dict[str, str]:
    """For a chat message about an incident of ``brand`` that started at
    ``started_at`` (any of its alerts' ``started_at``, or a moment while it
    was going on): ``{"incident": url, "silence-1h": url, "ack": url}``, the
    action links valid until ``expires``. Empty without ``base``; only the
    incident link without ``secret``."""
    if not base or not math.isfinite(started_at):
        return {}
    ref = make_incident_id(brand, started_at)
    links = {"incident": incident_url(base, ref, language)}
    if secret:
        for action in ("silence-1h", "ack"):
            links[action] = signed_action_url(base, secret, action, ref, expires, language)
    return links


def message_links(config: ConsoleConfig, brand: str, started_at: float, now: float,
                  language: str | None = None) -> dict[str, str]:
    """``action_links`` from the ``console`` section: ``console.public_url``,
    ``console.link_secret_env``, valid ``console.link_ttl`` from ``now``."""
    secret = config.link_secret.reveal() if config.link_secret is not None else None
    return action_links(config.public_url, secret, brand, started_at, now + config.link_ttl, language)


def link_provider(config: ConsoleConfig, clock: Callable[[], float] = time.time) -> LinkProvider:
    """The renderer's links for a message about an incident: its console page
    and, with ``console.link_secret_env``, the signed 静默 1 小时 / 确认 links.
    No links without ``console.public_url``."""
    def provide(ref: IncidentRef) -> IncidentLinks:
        found = message_links(config, ref.brand, ref.started_at, clock())
        return IncidentLinks(found.get("incident", ""), found.get("silence-1h", ""), found.get("ack", ""))
    return provide
