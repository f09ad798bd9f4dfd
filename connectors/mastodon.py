"""Mastodon streaming (any server with the Mastodon API): server-sent events.

``GET /api/v1/streaming/public`` (or ``/public/local``, ``/hashtag?tag=T``,
``/hashtag/local?tag=T``) streams ``event: update`` with a status as JSON,
``event: delete`` and heartbeats (comment lines). Status content is HTML
and is reduced to text; a boost is emitted as the boosted status.

Reconnects: after a disconnect or an error the connector waits (backoff,
at least the server's ``retry:`` hint, honouring Retry-After on 429/503)
and reconnects with ``Last-Event-ID`` set to the last event id it saw, so
a server that keeps history can resume the stream. Statuses already emitted
are recognised by id (part of the checkpoint) and not sent twice, which
also covers servers that replay or ignore ``Last-Event-ID``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx

from connectors._html import html_to_text
from connectors._http import PoliteClient, Stopping, pause
from connectors._policy import Backoff, RecentIds, parse_retry_after
from connectors.base import Batch, Context, DeadItem, map_item
from connectors.spec import ConnectorSpec, http_url, require_secret
from streams.gate import Gate
from streams.models import Post, RecordError
from streams.settings import ConfigError, join, option

log = logging.getLogger(__name__)


def _hashtag(value: Any, where: str, context: Mapping[str, Any]) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ConfigError(where, f"expected a hashtag, got {value!r}")
    return value.strip().lstrip("#")


@dataclass(frozen=True, kw_only=True)
class MastodonOptions:
    base_url: str = option(parse=http_url, shown_default="(required)", help="server, e.g. https://mastodon.social")
    stream: str = option("public", choices=("public", "hashtag"), help="which timeline")
    tag: str = option("", parse=_hashtag, help="hashtag (stream: hashtag)")
    local: bool = option(False, help="only the server's own posts")
    token_env: str | None = option(None, env_name=True, help="variable holding an access token (optional)")
    dedup_window: int = option(20_000, minimum=1, help="status ids remembered across reconnects")

    def check(self, path: str) -> None:
        if self.stream == "hashtag" and not self.tag:
            raise ConfigError(join(path, "tag"), "required when stream is hashtag")
        if self.stream == "public" and self.tag:
            raise ConfigError(join(path, "tag"), "only used with stream: hashtag")


@dataclass
class SseEvent:
    event: str
    data: str
    id: str | None


@dataclass
class SseParser:
    """The text/event-stream line protocol (WHATWG HTML, server-sent events)."""

    last_event_id: str | None = None
    retry_ms: int | None = None
    _event: str = ""
    _data: list[str] = field(default_factory=list)

    def feed_line(self, line: str) -> SseEvent | None:
        """Feed one line (without its line break); returns an event when a blank line completes one."""
        if line == "":
            if not self._data:
                self._event = ""
                return None
            event = SseEvent(self._event or "message", "\n".join(self._data), self.last_event_id)
            self._event, self._data = "", []
            return event
        if line.startswith(":"):
            return None  # comment / heartbeat
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self.last_event_id = value
        elif name == "retry" and value.isdigit():
            self.retry_ms = int(value)
        return None


def stream_path(options: MastodonOptions) -> tuple[str, dict[str, str]]:
    path = "/api/v1/streaming/" + options.stream + ("/local" if options.local else "")
    return path, ({"tag": options.tag} if options.stream == "hashtag" else {})


def status_to_post(status: dict[str, Any], *, source: str, gate: Gate | None = None) -> Post:
    if isinstance(status.get("reblog"), dict):
        status = status["reblog"]
    account = status.get("account")
    if not isinstance(account, dict):
        raise RecordError("missing_field", "account: required field is missing")
    content = status.get("content")
    if not isinstance(content, str):
        raise RecordError("missing_field" if content is None else "wrong_type", "content: expected HTML text")
    text = html_to_text(content)
    spoiler = status.get("spoiler_text")
    if isinstance(spoiler, str) and spoiler.strip():
        text = f"{spoiler.strip()}\n{text}"
    return (gate or Gate()).post({
        "source": source,
        "id": status.get("id"),
        "text": text,
        "created_at": status.get("created_at"),
        "url": status.get("url") or status.get("uri") or "",
        "reposts": status.get("reblogs_count", 0),
        "comments": status.get("replies_count", 0),
        "likes": status.get("favourites_count", 0),
        "lang": status.get("language") or "und",
        "author": {
            "id": account.get("id"),
            "name": account.get("display_name") or account.get("acct") or account.get("username") or "",
            "followers": account.get("followers_count", 0),
            # Mastodon has no identity verification, only verified profile links.
            "verified": False,
        },
        "raw": {"acct": account.get("acct", ""), "uri": status.get("uri", "")},
    })


def event_to_item(event: SseEvent, source: str) -> Post | DeadItem | None:
    """An ``update`` event as a post or a dead item; other events are not posts."""
    if event.event != "update":
        return None
    original = event.data.encode()
    try:
        status = json.loads(event.data)
    except json.JSONDecodeError as exc:
        return DeadItem("malformed_json", f"update event: {exc.msg}", original)
    except RecursionError:
        return DeadItem("malformed_json", "update event: nested too deeply", original)
    if not isinstance(status, dict):
        return DeadItem("not_an_object", "update event: expected a status object", original)
    return map_item(partial(status_to_post, status, source=source), original)


class MastodonConnector:
    def __init__(self, spec: ConnectorSpec[MastodonOptions], environ: Mapping[str, str]) -> None:
        self.spec = spec
        self.options = spec.options
        self._token = require_secret(spec, "token_env", environ) if self.options.token_env else None
        self.connections = 0  # successful connections
        self.last_event_id: str | None = None
        self.seen = RecentIds(self.options.dedup_window)

    async def run(self, ctx: Context) -> None:
        self.last_event_id = ctx.state.get("last_event_id")
        self.seen = RecentIds(self.options.dedup_window, ctx.state.get("seen", []))
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        politeness = self.spec.politeness
        backoff = Backoff(politeness.backoff_base, max(politeness.backoff_max, politeness.backoff_base))
        path, params = stream_path(self.options)
        url = self.options.base_url + path
        async with ctx.client(headers=headers) as client:
            while not ctx.stop.is_set():
                retry_after: float | None = None
                hint: float | None = None
                try:
                    await client.wait_turn()
                    outcome, retry_after, hint = await self._connect_once(ctx, client, url, params, backoff)
                except Stopping:
                    return
                ctx.metrics.error(outcome)
                delay = backoff.failure(retry_after)
                if hint is not None:
                    delay = max(delay, hint)
                log.warning("%s: stream %s, reconnecting in %.1fs", self.spec.name, outcome, delay)
                if await pause(ctx.stop, delay):
                    return

    async def _connect_once(self, ctx: Context, client: PoliteClient, url: str, params: dict[str, str],
                            backoff: Backoff) -> tuple[str, float | None, float | None]:
        """One connection; returns (error kind, Retry-After, server retry hint) when it ends."""
        headers = {"Last-Event-ID": self.last_event_id} if self.last_event_id else {}
        parser = SseParser(last_event_id=self.last_event_id)
        reader = asyncio.create_task(self._read(ctx, client, url, params, headers, parser, backoff))
        stopper = asyncio.create_task(ctx.stop.wait())
        try:
            await asyncio.wait({reader, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
        if not reader.done():
            # Shutdown: a stream never ends by itself, so stop reading now;
            # everything already emitted is in the queue and will be flushed.
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            raise Stopping()
        hint = parser.retry_ms / 1000 if parser.retry_ms is not None else None
        try:
            outcome, retry_after = reader.result()
        except httpx.TimeoutException:
            return "timeout", None, hint
        except httpx.TransportError:
            return "disconnect", None, hint
        return outcome, retry_after, hint

    async def _read(self, ctx: Context, client: PoliteClient, url: str, params: dict[str, str],
                    headers: dict[str, str], parser: SseParser, backoff: Backoff) -> tuple[str, float | None]:
        async with client.http.stream("GET", url, params=params, headers=headers) as response:
            if response.status_code != 200:
                retry_after = parse_retry_after(response.headers.get("Retry-After"), time.time())
                if response.status_code == 429:
                    return "http_429", retry_after
                if response.status_code >= 500:
                    return "http_5xx", retry_after
                return f"http_{response.status_code // 100}xx", retry_after
            if not response.headers.get("content-type", "").startswith("text/event-stream"):
                return "not_event_stream", None
            self.connections += 1
            backoff.success()
            ctx.success()
            async for line in response.aiter_lines():
                event = parser.feed_line(line.rstrip("\r\n"))
                if event is None:
                    continue
                await self._handle(ctx, event, parser)
        return "disconnect", None

    async def _handle(self, ctx: Context, event: SseEvent, parser: SseParser) -> None:
        item = event_to_item(event, self.spec.source)
        self.last_event_id = parser.last_event_id
        posts: list[Post] = []
        dead: list[DeadItem] = []
        if isinstance(item, DeadItem):
            dead.append(item)
        elif isinstance(item, Post):
            if self.seen.add(item.id):
                posts.append(item)
            else:
                ctx.metrics.duplicates.inc()
        ctx.success()
        if not posts and not dead and event.id is None:
            return
        checkpoint = {"last_event_id": self.last_event_id, "seen": self.seen.to_list()}
        await ctx.emit(Batch(posts=posts, dead=dead, checkpoint=checkpoint))
