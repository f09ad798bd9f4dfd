"""The console's web application (aiohttp): thin handlers over
``ConsoleState`` (what is known), ``pages`` (HTML) and a writer (actions).

Security, in one place:

* **Who may act.** Actions need a login: the access token
  (``console.token_env``) or a user and password checked against a hash
  (``console.users_env``; the login form, or HTTP basic for tools). Reading
  needs one too unless ``console.anonymous_read``. A signed chat link
  (``alerting.console.links``) is its own credential for its one action on
  its one incident until it expires.
* **CSRF.** Every form carries the session's CSRF token and actions are
  POST only; cookies are HttpOnly and SameSite=Strict. A visitor arriving
  from a chat app (another site) does not send Strict cookies, so a page
  requested without a session cookie first reloads itself from this site
  (``pages.bounce_page``), which does send them.
* **Headers.** A Content-Security-Policy without scripts, no framing, no
  Referer (a signed link must not leak to the sites posts link to).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit

from aiohttp import web

from alerting.config import AlertingConfig
from alerting.console import pages
from alerting.console.auth import Session, SessionStore, basic_credentials, csrf_matches, token_matches, verify_password
from alerting.console.config import ConsoleConfig
from alerting.console.links import SILENCE_SECONDS, LinkError, verify_action
from alerting.console.state import ConsoleState
from alerting.incidents import Ack, Incident
from alerting.matchers import any_of
from alerting.policy.silences import Silence, expired, new_silence
from alerting.render.safe import scrub
from streams.config import PipelineConfig
from streams.sentiment.auto import CORRECTION_LABELS, Correction

log = logging.getLogger(__name__)

SESSION_COOKIE = "koubei_session"
LANG_COOKIE = "koubei_lang"
BOUNCE_PARAM = "_b"
# Actions from the console's own buttons; the chat links offer ACTIONS.
CONSOLE_ACTIONS = ("silence-1h", "silence-4h", "silence-resolved", "ack")
FAILED_LOGIN_PAUSE = 1.0
BASIC_CACHE_SECONDS = 600.0
MAX_REPORT_BYTES = 50 * 1024 * 1024
# What the middleware finds out about a request, for the handlers.
SESSION = web.RequestKey("session", Session)
USER = web.RequestKey("user", str)  # "" when nobody is logged in
LANGUAGE = web.RequestKey("language", str)
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")



class Writer(Protocol):
    """Where actions go (``alerting.console.follower.KafkaWriter``)."""

    async def silence(self, silence: Silence, until_resolved: str | None = None) -> None: ...

    async def ack(self, ack: Ack) -> None: ...

    async def correct(self, correction: Correction) -> None: ...


@dataclass(frozen=True)
class ConsoleSettings:
    """The parts of koubei.yaml the console uses (the composition root hands them over)."""

    pipeline: PipelineConfig
    alerting: AlertingConfig
    console: ConsoleConfig

    @property
    def language(self) -> str:
        return self.alerting.language or self.pipeline.language


def local_path(value: str | None, default: str = "/") -> str:
    """``value`` when it is a path on this site (``/incidents?x=1``), else ``default``:
    a "next" parameter must never send people elsewhere."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value


def redirect(location: str) -> web.Response:
    """A 303 as a plain response, so the middleware still sets its cookies on it."""
    return web.Response(status=303, headers={"Location": location})


def _without_bounce(request: web.Request) -> str:
    query = [(k, v) for k, v in parse_qsl(request.query_string, keep_blank_values=True) if k != BOUNCE_PARAM]
    return request.path + ("?" + urlencode(query) if query else "")


class ConsoleApp:
    def __init__(self, settings: ConsoleSettings, state: ConsoleState, writer: Writer,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.cfg = settings.console
        self.state = state
        self.writer = writer
        self.clock = clock
        self.sessions = SessionStore(self.cfg.session_ttl)
        self._basic_key = secrets.token_bytes(32)
        self._basic_cache: dict[bytes, tuple[str, float]] = {}
        self._reports: dict[Path, tuple[tuple[float, int], dict[str, Any]]] = {}

    # -- request plumbing ----------------------------------------------------

    def _language(self, request: web.Request) -> str:
        wanted = request.query.get("lang") or request.cookies.get(LANG_COOKIE) or self.settings.language
        return wanted if wanted in pages.LANGUAGES else "zh"

    def _cookie(self, response: web.StreamResponse, name: str, value: str, max_age: float | None = None) -> None:
        response.set_cookie(name, value, path="/", httponly=True, samesite="Strict", secure=self.cfg.secure_cookies,
                            max_age=int(max_age) if max_age is not None else None)

    async def _basic_user(self, request: web.Request) -> str | None:
        header = request.headers.get("Authorization", "")
        if not header or not self.cfg.users:
            return None
        digest = hmac.new(self._basic_key, header.encode("utf-8", "replace"), hashlib.sha256).digest()
        now = self.clock()
        cached = self._basic_cache.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
        creds = basic_credentials(header)
        if creds is None or creds[0] not in self.cfg.users:
            return None
        ok = await asyncio.to_thread(verify_password, self.cfg.users[creds[0]], creds[1])
        if not ok:
            await asyncio.sleep(FAILED_LOGIN_PAUSE)
            return None
        if len(self._basic_cache) > 1000:
            self._basic_cache.clear()
        self._basic_cache[digest] = (creds[0], now + BASIC_CACHE_SECONDS)
        return creds[0]

    @web.middleware
    async def middleware(self, request: web.Request,
                         handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        now = self.clock()
        if request.path in ("/healthz", "/readyz"):
            return await handler(request)
        session = self.sessions.get(request.cookies.get(SESSION_COOKIE), now)
        new_session = False
        if session is None and request.path.startswith("/api/"):
            # Tools: no cookie, no reload, no stored session (a login is HTTP basic per request).
            session = Session("", "", now)
        elif session is None:
            if request.method == "GET" and BOUNCE_PARAM not in request.query:
                target = request.path_qs + ("&" if request.query_string else "?") + f"{BOUNCE_PARAM}=1"
                return self._html(pages.bounce_page(target))
            session = self.sessions.new(now)
            new_session = True
        elif BOUNCE_PARAM in request.query and request.method == "GET":
            return redirect(_without_bounce(request))
        request[SESSION] = session
        request[USER] = session.user or await self._basic_user(request) or ""
        language = self._language(request)
        request[LANGUAGE] = language
        try:
            response = await handler(request)
        except web.HTTPRedirection as exc:
            response = redirect(exc.location or "/")
        current: Session = request[SESSION]
        if new_session or current is not session:
            self._cookie(response, SESSION_COOKIE, current.id)
        if "lang" in request.query and language == request.query.get("lang"):
            self._cookie(response, LANG_COOKIE, language, 365 * 86400)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Cache-Control"] = "no-store"
        return response

    def ctx(self, request: web.Request, notice: str = "", *, page: bool = True) -> pages.PageContext:
        """The page context; ``page=False`` when only its texts are wanted (the
        message left for the next page stays for it)."""
        session: Session = request[SESSION]
        flash = session.flash
        if page:
            session.flash = ""
        return pages.PageContext(language=request[LANGUAGE], path=_without_bounce(request),
                                 timezone=self.settings.alerting.timezone, user=request[USER], csrf=session.csrf,
                                 auth_enabled=self.cfg.auth_enabled, notice=notice or flash, now=self.clock(),
                                 stale_since=self.state.read_failing_since)

    @staticmethod
    def _html(body: str, status: int = 200) -> web.Response:
        return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")

    def _may_read(self, request: web.Request) -> bool:
        return not self.cfg.auth_enabled or self.cfg.anonymous_read or bool(request[USER])

    def _login_redirect(self, request: web.Request) -> web.HTTPSeeOther:
        """Raised; the middleware turns it into a response that keeps the session cookie."""
        return web.HTTPSeeOther("/login?" + urlencode({"next": _without_bounce(request)}))

    def _require_read(self, request: web.Request) -> None:
        if not self._may_read(request):
            raise self._login_redirect(request)

    async def _form(self, request: web.Request) -> Mapping[str, str]:
        data = await request.post()
        return {k: v for k, v in data.items() if isinstance(v, str)}

    def _check_csrf(self, request: web.Request, form: Mapping[str, str]) -> web.Response | None:
        if not csrf_matches(request[SESSION], form.get("csrf")):
            ctx = self.ctx(request)
            return self._html(pages.message_page(ctx, "error_title", "csrf_failed", link=(ctx.path, "back")), 403)
        return None

    def _incident(self, request: web.Request) -> Incident | None:
        return self.state.book.get(request.match_info["incident"])

    def _not_found(self, request: web.Request) -> web.Response:
        ctx = self.ctx(request)
        key = "incident_not_found" if self.state.loaded else "still_loading"
        return self._html(pages.message_page(ctx, "not_found_title", key, link=("/incidents", "nav_incidents")), 404)

    # -- pages -----------------------------------------------------------------

    async def overview(self, request: web.Request) -> web.StreamResponse:
        self._require_read(request)
        summaries = [self.state.summary(b) for b in self.state.all_brands()]
        return self._html(pages.overview_page(self.ctx(request), summaries, self.state.loaded))

    async def incident_list(self, request: web.Request) -> web.StreamResponse:
        self._require_read(request)
        brand = request.query.get("brand") or None
        open_only = request.query.get("state") == "open"
        incidents = self.state.book.incidents(brand, open_only)
        brands = {b: self.state.brand_name(b) for b in self.state.all_brands()}
        return self._html(pages.incident_list_page(self.ctx(request), incidents, brands, brand, open_only))

    async def incident(self, request: web.Request) -> web.StreamResponse:
        self._require_read(request)
        incident = self._incident(request)
        if incident is None:
            return self._not_found(request)
        if incident.id != request.match_info["incident"]:
            return redirect(pages.incident_path(incident.id) + (f"?{request.query_string}"
                                                                 if request.query_string else ""))
        now = self.clock()
        until = incident.resolved_at if incident.resolved_at is not None else max(self.state.clock + 60, now)
        points = self.state.points(incident.brand, incident.opened_at - 3600, until + 1800)
        silences = incident.silences(self.state.active_silences(now), self.state.labeler, now)
        return self._html(pages.incident_page(self.ctx(request), incident, points, silences,
                                              self.state.until_resolved, self.state.corrections))

    # -- login -------------------------------------------------------------------

    async def login_form(self, request: web.Request) -> web.StreamResponse:
        ctx = self.ctx(request)
        if not self.cfg.auth_enabled:
            return self._html(pages.message_page(ctx, "login", "actions_off", error=False, link=("/", "nav_overview")))
        next_path = local_path(request.query.get("next"))
        return self._html(pages.login_page(ctx, next_path, self.cfg.token is not None, bool(self.cfg.users)))

    async def login(self, request: web.Request) -> web.StreamResponse:
        form = await self._form(request)
        refused = self._check_csrf(request, form)
        if refused is not None:
            return refused
        next_path = local_path(form.get("next"))
        user: str | None = None
        token = form.get("token", "")
        if token and self.cfg.token is not None and token_matches(self.cfg.token.reveal(), token):
            # The token is shared; the name people give is what their actions are signed with.
            user = scrub(form.get("name", "").strip())[:64] or "token"
        name, password = form.get("user", ""), form.get("password", "")
        if user is None and password and name in self.cfg.users:
            if await asyncio.to_thread(verify_password, self.cfg.users[name], password):
                user = name
        if user is None:
            await asyncio.sleep(FAILED_LOGIN_PAUSE)
            ctx = self.ctx(request)
            page = pages.login_page(ctx, next_path, self.cfg.token is not None, bool(self.cfg.users), "login_failed")
            return self._html(page, 401)
        request[SESSION] = self.sessions.login(request[SESSION], user, self.clock())
        log.info("console: %s logged in", user)
        return redirect(next_path)

    async def logout(self, request: web.Request) -> web.StreamResponse:
        form = await self._form(request)
        refused = self._check_csrf(request, form)
        if refused is not None:
            return refused
        self.sessions.logout(request[SESSION])
        request[SESSION] = self.sessions.new(self.clock())
        return redirect("/")

    async def language(self, request: web.Request) -> web.StreamResponse:
        language = request.match_info["language"]
        response = redirect(local_path(request.query.get("next")))
        if language in pages.LANGUAGES:
            self._cookie(response, LANG_COOKIE, language, 365 * 86400)
        return response

    # -- actions -----------------------------------------------------------------

    def _silence_until(self, action: str, now: float) -> float:
        if action == "silence-resolved":
            return now + self.settings.alerting.silences.max_duration
        return now + SILENCE_SECONDS[action]

    async def _perform(self, request: web.Request, action: str, incident: Incident, by: str,
                       comment: str) -> str:
        """Do ``action``; returns the notice to show. Raises on a write failure."""
        now = self.clock()
        ctx = self.ctx(request, page=False)
        if action == "ack":
            ack = Ack(incident.id, by, now, comment)
            await self.writer.ack(ack)
            self.state.book.add_ack(ack)
            return ctx.t("done_ack", user=by)
        until = self._silence_until(action, now)
        silence = new_silence((any_of("brand", [incident.brand]),), now, until - now,
                              comment or ctx.texts["default_silence_comment"].format(id=incident.id), by)
        ref = incident.id if action == "silence-resolved" else None
        await self.writer.silence(silence, ref)
        self.state.silences.apply(silence)
        if ref is not None:
            self.state.until_resolved[silence.id] = ref
            return ctx.t("done_silence_resolved", brand=incident.brand_name)
        return ctx.t("done_silence", brand=incident.brand_name, when=ctx.clock(until))

    def _write_failed(self, request: web.Request, exc: Exception, back: str) -> web.Response:
        log.warning("console: an action could not be written: %s: %s", type(exc).__name__, exc)
        ctx = self.ctx(request)
        return self._html(pages.message_page(ctx, "error_title", "write_failed", link=(back, "back")), 503)

    async def confirm(self, request: web.Request) -> web.StreamResponse:
        """GET: what the button will do, and the form that does it."""
        if not request[USER]:
            raise self._login_redirect(request)
        action = request.match_info["action"]
        incident = self._incident(request)
        if incident is None or action not in CONSOLE_ACTIONS:
            return self._not_found(request)
        now = self.clock()
        until = None if action == "ack" else self._silence_until(action, now)
        path = pages.incident_path(incident.id)
        return self._html(pages.confirm_page(self.ctx(request), action, incident, f"{path}/do/{action}", {},
                                             until, path))

    async def _logged_in_post(self, request: web.Request) -> tuple[Mapping[str, str], Incident] | web.Response:
        """The form and incident of a console action, or the answer refusing it
        (no login: to the login page; a wrong CSRF token: 403; no such incident: 404)."""
        if not request[USER]:
            raise self._login_redirect(request)
        form = await self._form(request)
        refused = self._check_csrf(request, form)
        if refused is not None:
            return refused
        incident = self._incident(request)
        if incident is None:
            return self._not_found(request)
        return form, incident

    async def _write_then_back(self, request: web.Request, incident: Incident,
                               write: Callable[[], Awaitable[str]]) -> web.Response:
        """Run ``write`` (it returns the notice to show) and go back to the incident page;
        a failed write gets a page saying nothing changed."""
        path = pages.incident_path(incident.id)
        try:
            notice = await write()
        except Exception as exc:  # noqa: BLE001 - the request gets an answer, the console keeps serving
            return self._write_failed(request, exc, path)
        request[SESSION].flash = notice
        return redirect(path)

    async def act(self, request: web.Request) -> web.StreamResponse:
        """POST: do a console action (login and CSRF token required)."""
        found = await self._logged_in_post(request)
        if isinstance(found, web.Response):
            return found
        form, incident = found
        action = request.match_info["action"]
        if action not in CONSOLE_ACTIONS:
            return self._not_found(request)
        comment = scrub(form.get("comment", "").strip())[:500]
        return await self._write_then_back(request, incident,
                                           lambda: self._perform(request, action, incident, request[USER], comment))

    async def unsilence(self, request: web.Request) -> web.StreamResponse:
        found = await self._logged_in_post(request)
        if isinstance(found, web.Response):
            return found
        form, incident = found
        silence = self.state.silences.silences.get(form.get("silence", ""))
        if silence is None:
            return self._not_found(request)

        async def end() -> str:
            ended = expired(silence, self.clock())
            await self.writer.silence(ended)
            self.state.silences.apply(ended)
            return self.ctx(request, page=False).t("done_unsilence")

        return await self._write_then_back(request, incident, end)

    async def correct(self, request: web.Request) -> web.StreamResponse:
        found = await self._logged_in_post(request)
        if isinstance(found, web.Response):
            return found
        form, incident = found
        post_id, label = form.get("post", ""), form.get("label", "")
        post = next((p for p in incident.top_posts(100) if p.get("id") == post_id), None)
        if post is None or label not in CORRECTION_LABELS:
            return self._not_found(request)
        excerpt = post.get("excerpt")
        correction = Correction(post_id, label, excerpt if isinstance(excerpt, str) else "", request[USER],
                                self.clock())

        async def write() -> str:
            await self.writer.correct(correction)
            self.state.corrections[post_id] = correction
            ctx = self.ctx(request, page=False)
            return ctx.t("done_correct", label=ctx.texts.get("label_" + label, label))

        return await self._write_then_back(request, incident, write)

    # -- signed chat links ----------------------------------------------------------

    def _link_check(self, request: web.Request, expires: str, signature: str) -> web.Response | None:
        secret = self.cfg.link_secret.reveal() if self.cfg.link_secret is not None else ""
        try:
            verify_action(secret, request.match_info["action"], request.match_info["incident"], expires, signature,
                          self.clock())
        except LinkError as exc:
            ctx = self.ctx(request)
            status = 410 if exc.reason == "expired" else 400
            page = pages.message_page(ctx, "link_" + exc.reason + "_title", "link_" + exc.reason,
                                      link=(pages.incident_path(request.match_info["incident"]), "open_incident"))
            return self._html(page, status)
        return None

    async def link(self, request: web.Request) -> web.StreamResponse:
        refused = self._link_check(request, request.query.get("exp", ""), request.query.get("sig", ""))
        if refused is not None:
            return refused
        incident = self._incident(request)
        if incident is None:
            return self._not_found(request)
        action = request.match_info["action"]
        until = None if action == "ack" else self._silence_until(action, self.clock())
        hidden = {"exp": request.query["exp"], "sig": request.query["sig"]}
        page = pages.confirm_page(self.ctx(request), action, incident, request.path, hidden, until,
                                  pages.incident_path(incident.id))
        return self._html(page)

    async def link_act(self, request: web.Request) -> web.StreamResponse:
        form = await self._form(request)
        refused = self._check_csrf(request, form) or self._link_check(request, form.get("exp", ""),
                                                                        form.get("sig", ""))
        if refused is not None:
            return refused
        incident = self._incident(request)
        if incident is None:
            return self._not_found(request)
        by = request[USER] or self.ctx(request, page=False).texts["chat_link_user"]
        comment = scrub(form.get("comment", "").strip())[:500]
        return await self._write_then_back(
            request, incident, lambda: self._perform(request, request.match_info["action"], incident, by, comment))

    # -- backtest reports --------------------------------------------------------------

    def _report_dir(self) -> Path | None:
        return Path(self.cfg.reports_dir) if self.cfg.reports_dir else None

    def _load_report(self, path: Path) -> dict[str, Any] | None:
        try:
            stat = path.stat()
            stamp = (stat.st_mtime, stat.st_size)
            cached = self._reports.get(path)
            if cached is not None and cached[0] == stamp:
                return cached[1]
            if stat.st_size > MAX_REPORT_BYTES:
                return None
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            return None
        if not isinstance(data, dict) or data.get("kind") != "koubei-backtest-report":
            return None
        self._reports[path] = (stamp, data)
        return data

    async def reports(self, request: web.Request) -> web.StreamResponse:
        self._require_read(request)
        folder = self._report_dir()
        found: list[tuple[str, str]] = []
        if folder is not None and folder.is_dir():
            files = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
            for path in files[:200]:
                report = await asyncio.to_thread(self._load_report, path)
                if report is not None:
                    brands = report.get("brands") if isinstance(report.get("brands"), list) else []
                    found.append((path.name, f'{report.get("source", "")} · {len(brands)} brands'))
        return self._html(pages.report_list_page(self.ctx(request), found, folder is not None))

    async def report(self, request: web.Request) -> web.StreamResponse:
        self._require_read(request)
        folder = self._report_dir()
        name = request.match_info["name"]
        report = None
        if folder is not None and name.endswith(".json") and "/" not in name and "\\" not in name \
                and not name.startswith("."):
            report = await asyncio.to_thread(self._load_report, folder / name)
        ctx = self.ctx(request)
        if report is None:
            return self._html(pages.message_page(ctx, "not_found_title", "report_not_found",
                                                 link=("/backtests", "nav_backtests")), 404)
        try:
            return self._html(pages.report_page(ctx, name, report))
        except (TypeError, AttributeError, ValueError) as exc:
            log.warning("console: report %s cannot be shown: %s", name, exc)
            return self._html(pages.message_page(ctx, "error_title", "report_unreadable",
                                                 link=("/backtests", "nav_backtests")), 422)

    # -- machine-readable ------------------------------------------------------------

    async def api_incidents(self, request: web.Request) -> web.StreamResponse:
        if not self._may_read(request):
            return web.json_response({"error": "login required"}, status=401)
        incidents = self.state.book.incidents(request.query.get("brand") or None, request.query.get("open") == "1")
        return web.json_response([i.to_dict() for i in incidents], dumps=_dumps)

    async def api_incident(self, request: web.Request) -> web.StreamResponse:
        if not self._may_read(request):
            return web.json_response({"error": "login required"}, status=401)
        incident = self._incident(request)
        if incident is None:
            return web.json_response({"error": "no such incident"}, status=404)
        now = self.clock()
        data = incident.to_dict()
        data["silences"] = [s.to_dict() for s in incident.silences(self.state.active_silences(now),
                                                                   self.state.labeler, now)]
        return web.json_response(data, dumps=_dumps)

    async def healthz(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"status": "ok", **self.state.stats()}, dumps=_dumps)

    async def readyz(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"ready": self.state.loaded}, status=200 if self.state.loaded else 503)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/", self.overview),
            web.get("/incidents", self.incident_list),
            web.get("/incidents/{incident}", self.incident),
            web.get("/incidents/{incident}/confirm/{action}", self.confirm),
            web.post("/incidents/{incident}/do/{action}", self.act),
            web.post("/incidents/{incident}/unsilence", self.unsilence),
            web.post("/incidents/{incident}/correct", self.correct),
            web.get("/act/{action}/{incident}", self.link),
            web.post("/act/{action}/{incident}", self.link_act),
            web.get("/login", self.login_form),
            web.post("/login", self.login),
            web.post("/logout", self.logout),
            web.get("/lang/{language}", self.language),
            web.get("/backtests", self.reports),
            web.get("/backtests/{name}", self.report),
            web.get("/api/incidents", self.api_incidents),
            web.get("/api/incidents/{incident}", self.api_incident),
            web.get("/healthz", self.healthz),
            web.get("/readyz", self.readyz),
        ]


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def create_app(settings: ConsoleSettings, state: ConsoleState, writer: Writer,
               clock: Callable[[], float] = time.time) -> web.Application:
    console = ConsoleApp(settings, state, writer, clock)
    app = web.Application(middlewares=[console.middleware], client_max_size=64 * 1024)
    app[CONSOLE_KEY] = console
    app.add_routes(console.routes())
    return app


CONSOLE_KEY = web.AppKey("console", ConsoleApp)

