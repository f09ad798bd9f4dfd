"""HTTP ingest: crawlers and partner feeds push posts to ``POST /ingest``.

Accepted bodies: one post object, a JSON array of posts, or NDJSON (one
post per line; sent as ``application/x-ndjson``, to ``/ingest/ndjson``, or
detected when the body is more than one JSON document). Every record is
cut out of the body on its own (``streams.readers.split``) and read by the
input gate (``streams.gate``): a rejected record goes to the dead-letter
topic with its reason and never blocks the others, whatever its content
(invalid UTF-8, a lone surrogate, nesting 100,000 deep, epoch 1e20). Any
exception while handling one record becomes that record's
``internal_error``. The answer is ``202`` with
``{"accepted": n, "rejected": m, "errors": [{"index", "reason", "error"}]}``
and is sent only after Kafka confirmed the accepted posts, so a client that
got 202 may forget the batch and a client that got anything else should
retry it (re-sent posts keep their ``source:id`` key).

Routes: ``POST /ingest`` (posts, or records in the configured ``format`` or
``mapping``), ``POST /ingest/ndjson`` (always NDJSON), and
``/ingest/weibo-crawler`` for dataabc/weibo-crawler's ``post`` mode: its
``{"user", "weibo": [...]}`` body, sent with GET or POST and an
``api-token`` header (the bearer token's value), answered ``200`` with the
same per-record counts (the crawler retries anything but 200).

Authentication, whichever is configured (at least one must be):

* ``Authorization: Bearer TOKEN`` (``token_env``);
* a signed body (``hmac_secret_env``): ``X-Koubei-Timestamp: <unix seconds>``
  and ``X-Koubei-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>``,
  within 5 minutes of the server's clock.

Both are compared in constant time. Other answers: 401 (not authenticated),
413 (over ``max_body_bytes``, enforced while reading, or over
``max_records``), 415 (a content type that is not JSON or NDJSON, a charset
other than UTF-8, a body that is not UTF-8), 400 (empty, or not JSON),
408 (the body did not arrive within ``read_timeout``), 503 with
``Retry-After`` (``max_concurrent`` requests already in progress, the queue
to Kafka full, or Kafka failed). A connection whose request line and
headers do not arrive within ``header_timeout`` is closed (a client
trickling one byte a second cannot hold a connection). Every answer closes
the connection, so each request gets the header deadline anew.

``GET /healthz`` answers 200 while the server runs (liveness); ``GET /readyz``
answers 200 while a post would be queued at once and 503 while the queue to
Kafka is full or the connector is stopping (readiness: a load balancer then
sends crawlers to another replica instead of having them wait for a 503).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from aiohttp import web

from connectors.base import Batch, Context, DeadItem, json_bytes
from connectors.spec import ConnectorSpec, field_mapping, listen_address, record_format, require_secret, split_listen
from streams.gate import Rejection, internal_error
from streams.models import Post
from streams.readers import FieldMapping, FileReader, file_reader
from streams.readers.split import split_body, strip_bom
from streams.settings import ConfigError, join, option

log = logging.getLogger(__name__)

MAX_ERRORS_LISTED = 100
SIGNATURE_WINDOW = 300.0  # seconds a signed request stays valid (both directions: clocks drift)
JSON_TYPES = ("application/json",)
NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl", "application/json-lines",
                "application/x-jsonlines")
ACCEPTED_TYPES = ", ".join(JSON_TYPES + NDJSON_TYPES)
WEIBO_CRAWLER_PATH = "/ingest/weibo-crawler"
# Where ingested records come from, for schemas that read the file path (none needs it here).
INGEST_ORIGIN = PurePath("ingest")
WEIBO_CRAWLER_ORIGIN = PurePath("weibo-crawler")


@dataclass(frozen=True, kw_only=True)
class HttpIngestOptions:
    listen: str = option("127.0.0.1:8088", parse=listen_address, help="address to serve on (host:port)")
    token_env: str | None = option(None, env_name=True, help="variable holding the bearer token")
    hmac_secret_env: str | None = option(None, env_name=True,
                                         help="variable holding the secret of signed requests (X-Koubei-Signature)")
    max_body_bytes: int = option(5_000_000, minimum=1024, maximum=100_000_000,
                                 help="larger bodies get 413 (refused while reading)")
    max_records: int = option(10_000, minimum=1, maximum=1_000_000, help="records per request (413 beyond)")
    max_concurrent: int = option(8, minimum=1, maximum=1024,
                                 help="requests handled at once; more get 503 + Retry-After")
    header_timeout: float = option(10.0, duration=True, minimum=0.05,
                                   help="a connection must send its request line and headers within this")
    read_timeout: float = option(30.0, duration=True, minimum=0.05, help="the body must arrive within this (408)")
    queue_timeout: float = option(10.0, duration=True, minimum=0.01,
                                  help="wait for queue space before 503 + Retry-After")
    format: str = option("", parse=record_format, shown_default="posts",
                         help="records of /ingest in a crawler's schema (mediacrawler, ...) instead of posts")
    mapping: Mapping[str, str] = option({}, parse=field_mapping,
                                        help="post field -> record field for /ingest records in a foreign shape")

    def check(self, path: str) -> None:
        if self.token_env is None and self.hmac_secret_env is None:
            raise ConfigError(join(path, "token_env"),
                              "required: token_env (bearer token) or hmac_secret_env (signed requests), or both")

    @property
    def host(self) -> str:
        return split_listen(self.listen)[0]

    @property
    def port(self) -> int:
        return split_listen(self.listen)[1]


# ---------------------------------------------------------------- plain parts


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """The ``X-Koubei-Signature`` value of a body (what a client computes)."""
    digest = hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


@dataclass(frozen=True)
class Credentials:
    """The secrets a request may prove it knows; None = that method is off."""

    token: bytes | None = None
    hmac_secret: bytes | None = None

    def bearer_ok(self, authorization: str) -> bool:
        scheme, _, value = authorization.partition(" ")
        return (self.token is not None and scheme.lower() == "bearer"
                and hmac.compare_digest(value.strip().encode("utf-8", "replace"), self.token))

    def token_ok(self, value: str) -> bool:
        """A bare token header (weibo-crawler's ``api-token``)."""
        return self.token is not None and hmac.compare_digest(value.strip().encode("utf-8", "replace"), self.token)

    def signature_problem(self, timestamp: str, signed: str, body: bytes, now: float) -> str | None:
        """Why a signed request is refused, or None when it is good."""
        if self.hmac_secret is None:
            return "signed requests are not enabled (no hmac_secret_env)"
        if not timestamp.strip().isdigit():
            return "X-Koubei-Timestamp must be the unix time in seconds"
        if abs(now - int(timestamp.strip())) > SIGNATURE_WINDOW:
            return f"X-Koubei-Timestamp is more than {SIGNATURE_WINDOW:.0f}s away from the server's clock"
        expected = signature(self.hmac_secret, timestamp.strip(), body)
        if not hmac.compare_digest(signed.strip().encode("utf-8", "replace"), expected.encode("ascii")):
            return "X-Koubei-Signature does not match the body"
        return None


@dataclass
class Answer:
    """What one request gets: a status and a JSON body; ``batch`` holds what
    goes to Kafka (the answer waits for its confirmation)."""

    status: int
    body: dict[str, Any]
    batch: Batch | None = None
    headers: dict[str, str] = field(default_factory=dict)


def refuse(status: int, message: str, **headers: str) -> Answer:
    return Answer(status, {"error": message}, headers=dict(headers))


# One record's bytes -> a post or the reason it is refused (the gate, or a
# reader schema then the gate).
Admit = Callable[[bytes], Post | Rejection]


def admit_record(admit: Admit, raw: bytes) -> Post | DeadItem:
    """One record through ``admit``; never raises."""
    try:
        result = admit(raw)
    except Exception as exc:  # noqa: BLE001 - admission never raises; if it does, only this record fails
        result = internal_error(exc)
    if isinstance(result, Rejection):
        return DeadItem(result.reason, result.message, raw)
    return result


def answer_records(records: list[bytes], admit: Admit, max_records: int, status: int = 202) -> Answer:
    """The per-record answer: ``status`` (202) with counts, or 413 for too many records."""
    if len(records) > max_records:
        return refuse(413, f"more than {max_records} records in one request (max_records)")
    batch = Batch()
    errors: list[dict[str, Any]] = []
    for index, raw in enumerate(records):
        result = admit_record(admit, raw)
        if isinstance(result, DeadItem):
            batch.dead.append(result)
            if len(errors) < MAX_ERRORS_LISTED:
                errors.append({"index": index, "reason": result.reason, "error": result.message})
        else:
            batch.posts.append(result)
    return Answer(status, {"accepted": len(batch.posts), "rejected": len(batch.dead), "errors": errors}, batch)


def media_type(content_type: str | None) -> tuple[str, str]:
    """(type, charset) of a Content-Type header, lower case; ("", "") when absent."""
    if not content_type:
        return "", ""
    kind, _, params = content_type.partition(";")
    charset = ""
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return kind.strip().lower(), charset


def content_problem(content_type: str | None) -> str | None:
    """Why a Content-Type is refused (415), or None."""
    kind, charset = media_type(content_type)
    if charset and charset not in ("utf-8", "utf8"):
        return f"charset {charset} is not accepted: send UTF-8"
    if kind and kind not in JSON_TYPES + NDJSON_TYPES and not kind.endswith("+json"):
        return f"content type {kind} is not accepted; send one of {ACCEPTED_TYPES} (or no Content-Type)"
    return None


def answer_body(body: bytes, content_type: str | None, admit: Admit, max_records: int, *,
                ndjson: bool = False) -> Answer:
    """The answer to an authenticated body of ``/ingest`` (or ``/ingest/ndjson``
    with ``ndjson``): never raises, and never fails for one record's content."""
    problem = content_problem(content_type)
    if problem is not None:
        return refuse(415, problem)
    if not body.strip():
        return refuse(400, "empty body: send a JSON object, a JSON array or NDJSON")
    try:
        records = split_body(body, ndjson=ndjson or media_type(content_type)[0] in NDJSON_TYPES, limit=max_records)
    except Exception as exc:  # noqa: BLE001 - a splitter bug: the body becomes one record with the digest
        rejection = internal_error(exc)
        return Answer(202, {"accepted": 0, "rejected": 1,
                            "errors": [{"index": 0, "reason": rejection.reason, "error": rejection.message}]},
                      Batch(dead=[DeadItem(rejection.reason, rejection.message, body)]))
    if records is None:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return refuse(415, "body is not UTF-8: send UTF-8 JSON or NDJSON")
        return refuse(400, "body is not JSON: send a JSON object, a JSON array of objects or NDJSON")
    return answer_records(records, admit, max_records)


def weibo_crawler_records(body: bytes) -> tuple[list[bytes], dict[str, Any]] | str:
    """The posts of weibo-crawler's post-mode body ``{"user": {...}, "weibo": [...]}``
    (each as its JSON bytes) and the rest of the document; or why it is not one."""
    try:
        document = json.loads(strip_bom(body))
    except (ValueError, RecursionError):
        return "body is not JSON: weibo-crawler sends {\"user\": {...}, \"weibo\": [...]}"
    if not isinstance(document, dict) or not isinstance(document.get("weibo"), list):
        return "expected weibo-crawler's body {\"user\": {...}, \"weibo\": [...]}"
    rest = {k: v for k, v in document.items() if k != "weibo"}
    return [json_bytes(item) for item in document["weibo"]], rest


# ---------------------------------------------------------------- the server


class HeaderDeadline(asyncio.Protocol):
    """One connection's protocol wrapped with a deadline: the connection is
    closed when its request line and headers have not arrived in time.

    aiohttp parses the request; this only keeps the time. The handler calls
    ``_headers_arrived`` (the timer is found by its transport) when it starts, so the body
    gets its own limit (``read_timeout``) and a slow Kafka never counts."""

    def __init__(self, inner: asyncio.Protocol, seconds: float, timers: dict[asyncio.BaseTransport, asyncio.TimerHandle],
                 on_expire: Callable[[], None]) -> None:
        self.inner = inner
        self.seconds = seconds
        self.timers = timers
        self.on_expire = on_expire
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.inner.connection_made(transport)
        loop = asyncio.get_running_loop()
        self.timers[transport] = loop.call_later(self.seconds, self._expire, transport)

    def _expire(self, transport: asyncio.BaseTransport) -> None:
        self.timers.pop(transport, None)
        self.on_expire()
        transport.close()

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        timer = self.timers.pop(self.transport, None) if self.transport is not None else None
        if timer is not None:
            timer.cancel()
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class HttpIngestConnector:
    def __init__(self, spec: ConnectorSpec[HttpIngestOptions], environ: Mapping[str, str],
                 clock: Callable[[], float] = time.time) -> None:
        self.spec = spec
        self.options = spec.options
        options = spec.options
        self.credentials = Credentials(
            token=require_secret(spec, "token_env", environ).encode() if options.token_env else None,
            hmac_secret=require_secret(spec, "hmac_secret_env", environ).encode() if options.hmac_secret_env else None,
        )
        self.clock = clock
        self.port: int | None = None  # the bound port (useful with listen: host:0)
        self._reader: FileReader | None = None
        self.ready = asyncio.Event()
        self._ctx: Context | None = None
        self._slots: asyncio.Semaphore | None = None
        self._header_timers: dict[asyncio.BaseTransport, asyncio.TimerHandle] = {}

    # ---- authentication --------------------------------------------------

    def _authenticated(self, request: web.Request, body: bytes | None) -> str | None:
        """None when the request proves a configured secret; else why not.
        With ``body`` None only the header-only methods are checked."""
        headers = request.headers
        if "Authorization" in headers and self.credentials.bearer_ok(headers["Authorization"]):
            return None
        if request.path == WEIBO_CRAWLER_PATH and "api-token" in headers:
            return None if self.credentials.token_ok(headers["api-token"]) else "wrong api-token"
        if "X-Koubei-Signature" in headers:
            if body is None:
                return "pending"  # checked once the body is read
            return self.credentials.signature_problem(headers.get("X-Koubei-Timestamp", ""),
                                                      headers["X-Koubei-Signature"], body, self.clock())
        if self.credentials.token is not None and self.credentials.hmac_secret is not None:
            return "send Authorization: Bearer TOKEN or a signed body (X-Koubei-Timestamp, X-Koubei-Signature)"
        if self.credentials.token is not None:
            return "missing or wrong bearer token"
        return "missing X-Koubei-Signature (signed requests only)"

    def _unauthorised(self, message: str) -> web.Response:
        assert self._ctx is not None
        self._ctx.metrics.error("unauthorised")
        return _json(401, {"error": message}, {"WWW-Authenticate": 'Bearer realm="koubei-ingest"'})

    # ---- request handling ------------------------------------------------

    async def handle_ingest(self, request: web.Request) -> web.Response:
        return await self._guarded(request, ndjson=False)

    async def handle_ndjson(self, request: web.Request) -> web.Response:
        return await self._guarded(request, ndjson=True)

    async def handle_weibo_crawler(self, request: web.Request) -> web.Response:
        return await self._guarded(request, ndjson=False)

    async def _guarded(self, request: web.Request, *, ndjson: bool) -> web.Response:
        self._headers_arrived(request)
        assert self._ctx is not None and self._slots is not None
        if self._slots.locked():
            self._ctx.metrics.error("busy")
            return _json(503, {"error": f"busy: {self.options.max_concurrent} requests in progress, retry later"},
                         {"Retry-After": "1"})
        async with self._slots:
            return await self._handle(request, ndjson=ndjson)

    def _headers_arrived(self, request: web.Request) -> None:
        transport = request.transport
        timer = self._header_timers.pop(transport, None) if transport is not None else None
        if timer is not None:
            timer.cancel()

    async def _handle(self, request: web.Request, *, ndjson: bool) -> web.Response:
        ctx = self._ctx
        assert ctx is not None
        pending = self._authenticated(request, None)
        if pending is not None and pending != "pending":
            return self._unauthorised(pending)
        problem = content_problem(request.headers.get("Content-Type"))
        if problem is not None:
            ctx.metrics.error("unsupported_type")
            return _json(415, {"error": problem})
        if request.content_length is not None and request.content_length > self.options.max_body_bytes:
            ctx.metrics.error("too_large")
            return _too_large(self.options.max_body_bytes)
        body = await self._read_body(request)
        if isinstance(body, web.Response):
            return body
        if pending == "pending":
            refused = self._authenticated(request, body)
            if refused is not None:
                return self._unauthorised(refused)
        if request.path == WEIBO_CRAWLER_PATH:
            answer = self._weibo_crawler_answer(body)
        else:
            answer = answer_body(body, request.headers.get("Content-Type"), self._admit, self.options.max_records,
                                 ndjson=ndjson)
        return await self._deliver(answer)

    def _admit(self, raw: bytes) -> Post | Rejection:
        """A record of /ingest: a post, or a record in the configured schema or mapping."""
        assert self._reader is not None
        return self._reader.admit_bytes(raw, self.options.format or "jsonl", INGEST_ORIGIN, {})

    def _weibo_crawler_answer(self, body: bytes) -> Answer:
        """weibo-crawler's post mode: its body, and 200 (it treats anything else as a failure and retries)."""
        if not body.strip():
            return refuse(400, "empty body")
        found = weibo_crawler_records(body)
        if isinstance(found, str):
            return refuse(400, found)
        records, document = found
        assert self._reader is not None
        reader = self._reader

        def admit(raw: bytes) -> Post | Rejection:
            return reader.admit_bytes(raw, "weibo-crawler", WEIBO_CRAWLER_ORIGIN, document)

        return answer_records(records, admit, self.options.max_records, status=200)

    async def _read_body(self, request: web.Request) -> bytes | web.Response:
        ctx = self._ctx
        assert ctx is not None
        try:
            async with asyncio.timeout(self.options.read_timeout):
                return await request.read()
        except web.HTTPRequestEntityTooLarge:
            ctx.metrics.error("too_large")
            return _too_large(self.options.max_body_bytes)
        except TimeoutError:
            ctx.metrics.error("read_timeout")
            return _json(408, {"error": f"the body did not arrive within {self.options.read_timeout:g}s"})

    async def _deliver(self, answer: Answer) -> web.Response:
        """Queue the answer's batch for Kafka and answer once it is confirmed."""
        ctx = self._ctx
        assert ctx is not None
        if answer.status >= 400:
            ctx.metrics.error({400: "bad_request", 413: "too_large", 415: "unsupported_type"}.get(answer.status,
                                                                                               "refused"))
        if answer.batch is None:
            return _json(answer.status, answer.body, answer.headers)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        answer.batch.done = done
        try:
            await asyncio.wait_for(ctx.emit(answer.batch), self.options.queue_timeout)
        except TimeoutError:
            ctx.metrics.error("queue_full")
            return _json(503, {"error": "busy, retry later"}, {"Retry-After": "1"})
        try:
            await done
        except Exception as exc:  # noqa: BLE001 - Kafka failure: the client must retry
            log.error("%s: Kafka did not confirm an ingest batch: %s", self.spec.name, exc)
            return _json(503, {"error": "not stored, retry"}, {"Retry-After": "5"})
        ctx.success()
        return _json(answer.status, answer.body, answer.headers)

    async def handle_health(self, request: web.Request) -> web.Response:
        self._headers_arrived(request)
        return _json(200, {"status": "ok", "connector": self.spec.name})

    async def handle_ready(self, request: web.Request) -> web.Response:
        ctx = self._ctx
        if ctx is None or ctx.stop.is_set():
            return web.json_response({"status": "stopping", "connector": self.spec.name}, status=503)
        if ctx.queue.full():
            return web.json_response({"status": "busy", "connector": self.spec.name}, status=503)
        return web.json_response({"status": "ready", "connector": self.spec.name})

    def make_app(self) -> web.Application:
        # aiohttp enforces the size limit while reading, so a huge body is
        # refused without being buffered.
        app = web.Application(client_max_size=self.options.max_body_bytes)
        app.router.add_post("/ingest", self.handle_ingest)
        app.router.add_post("/ingest/ndjson", self.handle_ndjson)
        # weibo-crawler's post mode sends its JSON body with GET (requests' session.get(json=...)).
        app.router.add_route("POST", WEIBO_CRAWLER_PATH, self.handle_weibo_crawler)
        app.router.add_route("GET", WEIBO_CRAWLER_PATH, self.handle_weibo_crawler)
        app.router.add_get("/healthz", self.handle_health)
        app.router.add_get("/readyz", self.handle_ready)
        return app

    async def run(self, ctx: Context) -> None:
        self._ctx = ctx
        mapping = FieldMapping.parse(self.options.mapping) if self.options.mapping else None
        # A mapping names no platform: its posts take this connector's source.
        self._reader = file_reader(self.options.format or None, ctx.gate, mapping=mapping,
                                   source=self.spec.source if mapping is not None else None)
        self._slots = asyncio.Semaphore(self.options.max_concurrent)
        # lingering_time: after an early answer (408, 413) aiohttp reads and
        # discards the rest of the body before closing; 1 s bounds that too.
        runner = web.AppRunner(self.make_app(), access_log=None, lingering_time=1.0)
        await runner.setup()
        loop = asyncio.get_running_loop()
        handler_factory = runner.server
        assert handler_factory is not None

        def protocol() -> asyncio.Protocol:
            return HeaderDeadline(handler_factory(), self.options.header_timeout, self._header_timers,
                                  lambda: ctx.metrics.error("header_timeout"))

        server = await loop.create_server(protocol, self.options.host, self.options.port)
        self.port = server.sockets[0].getsockname()[1] if server.sockets else self.options.port
        log.info("%s: listening on %s:%s", self.spec.name, self.options.host, self.port)
        self.ready.set()
        try:
            await ctx.stop.wait()
        finally:
            # Stop accepting, let in-flight requests finish (their batches are
            # already queued and will be confirmed by the draining sink).
            server.close()
            await runner.cleanup()
            for timer in self._header_timers.values():
                timer.cancel()
            self._header_timers.clear()


def _json(status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None) -> web.Response:
    # ASCII JSON: a message quoting a lone surrogate must still encode.
    response = web.json_response(body, status=status, headers=dict(headers or {}))
    # One request per connection: each request meets the header deadline anew.
    response.force_close()
    return response


def _too_large(limit: int) -> web.Response:
    return _json(413, {"error": f"body larger than {limit} bytes (max_body_bytes)"})
