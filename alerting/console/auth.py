"""Who may act in the console: an access token, or users with password
hashes (HTTP basic or the login form); sessions with a CSRF token each.

Plain code, no web framework: the handlers in ``alerting.console.app``
call it. Secrets are compared in constant time and never logged.

Password hashes are PBKDF2-HMAC-SHA256 in the form
``pbkdf2_sha256$<iterations>$<salt, base64>$<hash, base64>`` (what
``koubei console --hash-password`` prints); ``users_env`` holds
``name:hash`` entries, one per line or separated by commas.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from collections import OrderedDict
from dataclasses import dataclass

SCHEME = "pbkdf2_sha256"
# OWASP's 2023 recommendation for PBKDF2-HMAC-SHA256; about 0.5 s on one
# core here, paid once per login (a session, or a cached basic credential, follows).
DEFAULT_ITERATIONS = 600_000
MIN_ITERATIONS = 1_000
MAX_ITERATIONS = 10_000_000
USER_NAME = re.compile(r"^[A-Za-z0-9_.@\-]{1,64}$")
MAX_SESSIONS = 10_000


def hash_password(password: str, iterations: int = DEFAULT_ITERATIONS, salt: bytes | None = None) -> str:
    if not MIN_ITERATIONS <= iterations <= MAX_ITERATIONS:
        raise ValueError(f"iterations must be between {MIN_ITERATIONS} and {MAX_ITERATIONS}")
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return f"{SCHEME}${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def _split_hash(stored: str) -> tuple[int, bytes, bytes]:
    parts = stored.split("$")
    if len(parts) != 4 or parts[0] != SCHEME:
        raise ValueError(f"expected {SCHEME}$<iterations>$<salt>$<hash> (koubei console --hash-password)")
    if not parts[1].isdigit() or not MIN_ITERATIONS <= int(parts[1]) <= MAX_ITERATIONS:
        raise ValueError(f"iterations must be a number between {MIN_ITERATIONS} and {MAX_ITERATIONS}")
    try:
        salt = base64.b64decode(parts[2], validate=True)
        digest = base64.b64decode(parts[3], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("salt and hash must be base64") from None
    if len(salt) < 8 or len(digest) != 32:
        raise ValueError("salt must be at least 8 bytes and the hash 32 bytes")
    return int(parts[1]), salt, digest


def verify_password(stored: str, password: str) -> bool:
    """Constant-time check of ``password`` against a stored hash; False for a malformed hash."""
    try:
        iterations, salt, digest = _split_hash(stored)
    except ValueError:
        return False
    candidate = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8", "surrogatepass"), salt, iterations)
    return hmac.compare_digest(candidate, digest)


def parse_users(text: str) -> dict[str, str]:
    """``alice:pbkdf2_sha256$...`` entries (lines or commas) -> {name: hash};
    ValueError names the entry by position, never its content."""
    users: dict[str, str] = {}
    entries = [e.strip() for e in re.split(r"[,\n]", text) if e.strip()]
    if not entries:
        raise ValueError("no user:hash entries")
    for i, entry in enumerate(entries, 1):
        name, sep, stored = entry.partition(":")
        if not sep or not USER_NAME.match(name):
            raise ValueError(f"entry {i}: expected name:hash with a name of letters, digits, '.', '_', '-', '@'")
        try:
            _split_hash(stored)
        except ValueError as exc:
            raise ValueError(f"entry {i} ({name}): {exc}") from None
        if name in users:
            raise ValueError(f"entry {i}: user {name!r} given twice")
        users[name] = stored
    return users


def token_matches(expected: str, given: str) -> bool:
    # Compare digests: compare_digest on the raw strings would leak their length.
    want = hashlib.sha256(expected.encode("utf-8")).digest()
    got = hashlib.sha256(given.encode("utf-8", "surrogatepass")).digest()
    return hmac.compare_digest(want, got)


def basic_credentials(header: str) -> tuple[str, str] | None:
    """(user, password) of an ``Authorization: Basic ...`` header, or None."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


@dataclass
class Session:
    id: str
    csrf: str
    created: float
    user: str | None = None  # None until logged in
    logged_in_at: float = 0.0
    flash: str = ""  # a message (HTML, already escaped) shown once on the next page


class SessionStore:
    """Sessions in memory (a restarted console asks people to log in again),
    at most MAX_SESSIONS, the least recently used dropped first."""

    def __init__(self, ttl: float, max_sessions: int = MAX_SESSIONS) -> None:
        self.ttl = ttl
        self.max_sessions = max_sessions
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    def new(self, now: float) -> Session:
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), now)
        self._sessions[session.id] = session
        while len(self._sessions) > self.max_sessions:
            self._sessions.popitem(last=False)
        return session

    def get(self, session_id: str | None, now: float) -> Session | None:
        if not session_id:
            return None
        session = self._sessions.get(session_id)
        if session is None:
            return None
        if now - session.created > self.ttl:
            del self._sessions[session_id]
            return None
        self._sessions.move_to_end(session_id)
        return session

    def login(self, session: Session, user: str, now: float) -> Session:
        """A new session id and CSRF token for the logged-in user (the
        pre-login id, which a third party may have planted, stops working)."""
        self._sessions.pop(session.id, None)
        fresh = self.new(now)
        fresh.user = user
        fresh.logged_in_at = now
        return fresh

    def logout(self, session: Session) -> None:
        self._sessions.pop(session.id, None)

    def __len__(self) -> int:
        return len(self._sessions)


def csrf_matches(session: Session, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(session.csrf.encode("ascii"), str(given).encode("utf-8", "replace"))
