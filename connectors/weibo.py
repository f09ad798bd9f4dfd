"""Weibo: keyword search and user timelines in the shape of the open API.

Endpoints (relative to ``base_url``, default https://api.weibo.com):

* ``GET /2/search/topics.json?q=KEYWORD&count=N&page=P``
* ``GET /2/statuses/user_timeline.json?uid=UID&since_id=ID&count=N&page=P``

Both answer ``{"statuses": [...], "total_number": n}``, newest first. The
access token comes from the environment (``token_env``) and travels in the
``Authorization: OAuth2`` header, never in a URL that could be logged.

Cursor: per query the highest status id emitted (``since_id``). A poll
walks pages until it meets a status at or below that id, a short page, or
``max_pages``; the new statuses are emitted oldest first and the cursor
moves only after Kafka confirmed them. Rate-limit answers (HTTP 429, or
error_code 10022/10023/10024 in a 403) back off like any 429.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpx

from connectors._http import FetchError, PoliteClient, Stopping
from connectors._policy import RecentIds
from connectors.base import Batch, Context, DeadItem, json_bytes, map_item
from connectors.spec import ConnectorSpec, http_url, require_secret, string_list
from streams.gate import Gate
from streams.models import Post, RecordError
from streams.settings import ConfigError, join, option

log = logging.getLogger(__name__)

RATE_LIMIT_CODES = frozenset({10022, 10023, 10024})
WEIBO_TIME = "%a %b %d %H:%M:%S %z %Y"  # "Tue May 31 17:46:55 +0800 2011"


def _uids(value: Any, where: str, context: Mapping[str, Any]) -> tuple[str, ...]:
    users = string_list(value, where)
    for i, uid in enumerate(users):
        if not uid.isdigit():
            raise ConfigError(join(where, i), f"expected a numeric Weibo uid, got {uid!r}")
    return users


def _api_root(value: Any, where: str, context: Mapping[str, Any]) -> str:
    return http_url("https://api.weibo.com" if value is None else value, where, context)


@dataclass(frozen=True, kw_only=True)
class WeiboOptions:
    token_env: str = option(env_name=True, required=True, help="variable holding the OAuth2 access token")
    base_url: str = option("https://api.weibo.com", parse=_api_root, help="API root")
    keywords: tuple[str, ...] = option((), help="search/topics.json queries")
    users: tuple[str, ...] = option((), parse=_uids, help="statuses/user_timeline.json uids")
    interval: float = option(60.0, duration=True, minimum=0.05, help="time between polls")
    count: int = option(50, minimum=1, maximum=200, help="statuses per page")
    max_pages: int = option(5, minimum=1, maximum=100, help="pages per query and poll")
    dedup_window: int = option(20_000, minimum=1, help="status ids remembered across queries")

    def check(self, path: str) -> None:
        if not self.keywords and not self.users:
            raise ConfigError(join(path, "keywords"), "list at least one keyword (or a user in users)")


def response_json(response: httpx.Response) -> Any:
    """The response's JSON, or None when it is not JSON (or nested too deeply to read)."""
    try:
        return response.json()
    except (ValueError, RecursionError):
        return None


def classify_weibo(response: httpx.Response) -> str | None:
    """Weibo reports rate limits as an error body, not always as 429."""
    if response.status_code < 400:
        return None
    body = response_json(response)
    if isinstance(body, dict) and body.get("error_code") in RATE_LIMIT_CODES:
        return "rate_limited"
    return None


def status_id(status: Any) -> int:
    if not isinstance(status, dict):
        raise RecordError("not_an_object", "status: expected a JSON object")
    raw = status.get("idstr") or status.get("id")
    if isinstance(raw, bool) or raw is None:
        raise RecordError("missing_field", "id: required field is missing")
    try:
        return int(str(raw))
    except ValueError:
        raise RecordError("bad_value", f"id: not a Weibo status id: {str(raw)[:30]!r}") from None


def status_to_post(status: dict[str, Any], *, source: str, query: str, gate: Gate | None = None) -> Post:
    """Map one status of the open API to a Post (RecordError when malformed)."""
    sid = status_id(status)
    user = status.get("user")
    if not isinstance(user, dict):
        raise RecordError("missing_field", "user: required field is missing (deleted account?)")
    long_text = status.get("longText")
    text = long_text.get("longTextContent") if isinstance(long_text, dict) else None
    text = text if isinstance(text, str) and text else status.get("text")
    uid = user.get("idstr") or user.get("id")
    mid = status.get("mid") or sid
    raw: dict[str, Any] = {"query": query, "mid": str(mid)}
    original = status.get("retweeted_status")
    if isinstance(text, str) and isinstance(original, dict) and isinstance(original.get("text"), str):
        # The API gives a repost's own words (and the chain of intermediate
        # comments) in `text` and the reposted post apart. Written the way
        # Weibo shows it, "own words//@author:original", the scorer reads a
        # bare "转发微博" as the original's tone, the lexicon finds its risk
        # terms, and every repost of one post shares that post's story.
        author = original.get("user") if isinstance(original.get("user"), dict) else {}
        name = author.get("screen_name") or author.get("name") or "?"
        text = f"{text}//@{name}:{original['text']}"
        reposted_id = original.get("idstr") or original.get("id")
        if reposted_id:
            raw["reposted_id"] = str(reposted_id)
    return (gate or Gate()).post({
        "source": source,
        "id": str(sid),
        "text": text,
        "created_at": status.get("created_at"),  # the gate reads the API's "Mon Mar 02 13:08:00 +0800 2026"
        "url": f"https://weibo.com/{uid}/{mid}" if uid is not None else "",
        "reposts": status.get("reposts_count", 0),
        "comments": status.get("comments_count", 0),
        "likes": status.get("attitudes_count", 0),
        "author": {
            "id": uid,
            "name": user.get("screen_name") or user.get("name") or "",
            "followers": user.get("followers_count", 0),
            "verified": bool(user.get("verified", False)),
        },
        "raw": raw,
    })


def select_new(statuses: list[Any], since: int) -> tuple[list[tuple[int, Any]], bool]:
    """Statuses newer than ``since`` with their ids, and whether the page
    reached already-seen history. Statuses whose id cannot be read are kept
    with id -1 so they still reach the dead-letter topic."""
    fresh: list[tuple[int, Any]] = []
    reached_old = False
    for status in statuses:
        try:
            sid = status_id(status)
        except RecordError:
            fresh.append((-1, status))
            continue
        if sid <= since:
            reached_old = True
        else:
            fresh.append((sid, status))
    return fresh, reached_old


class WeiboConnector:
    def __init__(self, spec: ConnectorSpec[WeiboOptions], environ: Mapping[str, str]) -> None:
        self.spec = spec
        self.options = spec.options
        self._token = require_secret(spec, "token_env", environ)

    def queries(self) -> list[tuple[str, str, dict[str, str]]]:
        """(cursor name, endpoint, fixed params) for every keyword and user."""
        out = [(f"q:{kw}", "/2/search/topics.json", {"q": kw}) for kw in self.options.keywords]
        out += [(f"uid:{uid}", "/2/statuses/user_timeline.json", {"uid": uid}) for uid in self.options.users]
        return out

    async def run(self, ctx: Context) -> None:
        cursors: dict[str, str] = dict(ctx.state.get("since", {}))
        seen = RecentIds(self.options.dedup_window, ctx.state.get("seen", []))
        headers = {"Authorization": f"OAuth2 {self._token}", "Accept": "application/json"}
        async with ctx.client(headers=headers, classify=classify_weibo) as client:
            while not ctx.stop.is_set():
                for name, endpoint, params in self.queries():
                    try:
                        await self._poll(ctx, client, name, endpoint, params, cursors, seen)
                    except Stopping:
                        return
                    except FetchError as exc:
                        log.warning("%s: %s: %s", self.spec.name, name, exc)
                    if ctx.stop.is_set():
                        return
                if await ctx.sleep(self.options.interval):
                    return

    async def _poll(self, ctx: Context, client: PoliteClient, name: str, endpoint: str, params: dict[str, str],
                    cursors: dict[str, str], seen: RecentIds) -> None:
        since = int(cursors.get(name, "0"))
        collected: list[tuple[int, Any]] = []
        for page in range(1, self.options.max_pages + 1):
            query = {**params, "count": str(self.options.count), "page": str(page)}
            if since:
                query["since_id"] = str(since)
            response = await client.get(self.options.base_url + endpoint, params=query)
            body = response_json(response)
            statuses = body.get("statuses") if isinstance(body, dict) else None
            if not isinstance(statuses, list):
                ctx.metrics.error("malformed_response")
                raise FetchError("malformed_response", f"{endpoint}: response has no statuses list")
            fresh, reached_old = select_new(statuses, since)
            collected.extend(fresh)
            if reached_old or len(statuses) < self.options.count:
                break
        else:
            if since:
                # More new statuses than max_pages can hold: the oldest of them
                # are skipped. Visible as an error so the operator can raise
                # max_pages or shorten the interval.
                ctx.metrics.error("page_limit")
        batch = Batch()
        duplicates = 0
        newest = since
        for sid, status in sorted(collected, key=lambda pair: pair[0]):
            newest = max(newest, sid)
            original = json_bytes(status)
            result = map_item(partial(status_to_post, status, source=self.spec.source, query=name), original) \
                if isinstance(status, dict) else DeadItem("not_an_object", "status: expected a JSON object", original)
            if not batch.take(result, seen):
                duplicates += 1
        ctx.metrics.duplicates.inc(duplicates)
        ctx.success()
        if newest == since and not batch.dead:
            return
        cursors[name] = str(newest)
        batch.checkpoint = {"since": copy.deepcopy(cursors), "seen": seen.to_list()}
        await ctx.emit(batch)
