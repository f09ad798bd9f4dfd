"""HTTP ingest: crawlers and partner feeds push posts to ``POST /ingest``.

Accepted bodies: one post object, a JSON array of posts, or NDJSON (one
post per line; sent as ``application/x-ndjson`` or detected when the body is
not a single JSON document). Every record is validated on its own with
the input gate (``streams.gate``): rejected records go to the dead-letter topic with their
reason and never block the accepted ones. The answer is ``202`` with
``{"accepted": n, "rejected": m, "errors": [{"index", "reason", "error"}]}``
and is sent only after Kafka confirmed the accepted posts, so a client that
got 202 may forget the batch and a client that got anything else should
retry it (re-sent posts keep their ``source:id`` key).

Status codes: 401 without the bearer token, 413 over ``max_body_bytes`` or
``max_records``, 415 for a body that is not UTF-8, 400 for an empty body,
503 with ``Retry-After`` when the queue to Kafka stays full.

``GET /healthz`` answers 200 while the server runs (liveness); ``GET /readyz``
answers 200 while a post would be queued at once and 503 while the queue to
Kafka is full or the connector is stopping (readiness: a load balancer then
sends crawlers to another replica instead of having them wait for a 503).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from connectors.config import ConnectorSpec, HttpIngestOptions, require_secret
from connectors.runtime import Batch, Context, DeadItem, json_bytes, post_from_mapping
from streams.gate import Gate
from streams.models import Post

log = logging.getLogger(__name__)

MAX_ERRORS_LISTED = 100
NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl", "application/json-lines")


def split_records(body: bytes, content_type: str) -> list[tuple[Any, bytes] | DeadItem]:
    """The records of one request body: (decoded value, its bytes) or a dead
    item for a line that is not JSON. Raises ValueError for a body that is
    not UTF-8."""
    text = body.decode("utf-8")  # UnicodeDecodeError is a ValueError
    if content_type not in NDJSON_TYPES:
        try:
            document = json.loads(text)
        except json.JSONDecodeError:
            document = None
            if "\n" not in text.strip():
                return [DeadItem("malformed_json", "body is not JSON", body)]
        else:
            if isinstance(document, list):
                return [(item, json_bytes(item)) for item in document]
            return [(document, body)]
    out: list[tuple[Any, bytes] | DeadItem] = []
    for line_no, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        raw = line.rstrip("\r").encode()
        try:
            out.append((json.loads(line), raw))
        except json.JSONDecodeError as exc:
            out.append(DeadItem("malformed_json", f"line {line_no}: {exc.msg} at column {exc.colno}", raw))
    return out


def validate(records: list[tuple[Any, bytes] | DeadItem],
             gate: Gate) -> tuple[list[Post], list[DeadItem], list[dict[str, Any]]]:
    posts: list[Post] = []
    dead: list[DeadItem] = []
    errors: list[dict[str, Any]] = []
    for index, record in enumerate(records):
        result = record if isinstance(record, DeadItem) else post_from_mapping(record[0], record[1], gate)
        if isinstance(result, DeadItem):
            dead.append(result)
            if len(errors) < MAX_ERRORS_LISTED:
                errors.append({"index": index, "reason": result.reason, "error": result.message})
        else:
            posts.append(result)
    return posts, dead, errors


class HttpIngestConnector:
    def __init__(self, spec: ConnectorSpec, environ: Mapping[str, str]) -> None:
        self.spec = spec
        self.options: HttpIngestOptions = spec.options
        self._token = require_secret(spec, "token_env", environ).encode()
        self.port: int | None = None  # the bound port (useful with listen: host:0)
        self.ready = asyncio.Event()
        self._ctx: Context | None = None

    def _authorised(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), self._token)

    async def handle_ingest(self, request: web.Request) -> web.Response:
        assert self._ctx is not None
        ctx = self._ctx
        if not self._authorised(request):
            ctx.metrics.error("unauthorised")
            return web.json_response({"error": "missing or wrong bearer token"}, status=401,
                                     headers={"WWW-Authenticate": 'Bearer realm="koubei-ingest"'})
        if request.content_length is not None and request.content_length > self.options.max_body_bytes:
            ctx.metrics.error("too_large")
            return _too_large(self.options.max_body_bytes)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            ctx.metrics.error("too_large")
            return _too_large(self.options.max_body_bytes)
        if not body.strip():
            return web.json_response({"error": "empty body"}, status=400)
        try:
            records = split_records(body, request.content_type)
        except ValueError:
            ctx.metrics.error("bad_encoding")
            return web.json_response({"error": "body is not UTF-8"}, status=415)
        if len(records) > self.options.max_records:
            ctx.metrics.error("too_many_records")
            return web.json_response({"error": f"{len(records)} records, the limit is {self.options.max_records}"},
                                     status=413)
        posts, dead, errors = validate(records, ctx.gate)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(ctx.emit(Batch(posts=posts, dead=dead, done=done)), self.options.queue_timeout)
        except TimeoutError:
            ctx.metrics.error("queue_full")
            return web.json_response({"error": "busy, retry later"}, status=503, headers={"Retry-After": "1"})
        try:
            await done
        except Exception as exc:  # noqa: BLE001 - Kafka failure: the client must retry
            log.error("%s: Kafka did not confirm an ingest batch: %s", self.spec.name, exc)
            return web.json_response({"error": "not stored, retry"}, status=503, headers={"Retry-After": "5"})
        ctx.success()
        return web.json_response({"accepted": len(posts), "rejected": len(dead), "errors": errors}, status=202)

    async def handle_health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "connector": self.spec.name})

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
        app.router.add_get("/healthz", self.handle_health)
        app.router.add_get("/readyz", self.handle_ready)
        return app

    async def run(self, ctx: Context) -> None:
        self._ctx = ctx
        runner = web.AppRunner(self.make_app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.options.host, self.options.port)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self.options.port
        log.info("%s: listening on %s:%s", self.spec.name, self.options.host, self.port)
        self.ready.set()
        try:
            await ctx.stop.wait()
        finally:
            # Stop accepting, let in-flight requests finish (their batches are
            # already queued and will be confirmed by the draining sink).
            await runner.cleanup()


def _too_large(limit: int) -> web.Response:
    return web.json_response({"error": f"body larger than {limit} bytes"}, status=413)
