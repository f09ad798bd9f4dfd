"""RSS 2.0 / RSS 1.0 / Atom poller for news sites, blogs and forums.

Polite by protocol: every feed is fetched with the ``ETag`` and
``Last-Modified`` it last sent (``If-None-Match`` / ``If-Modified-Since``),
so an unchanged feed costs the site a 304 and no body.

Post ids are derived from the article's canonical link (or its guid when
it has no link), so the same article in two feeds gets the same id and is
emitted once; the ids emitted recently are part of the checkpoint.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from connectors._html import html_to_text
from connectors._http import FetchError, PoliteClient, Stopping
from connectors._policy import RecentIds
from connectors.base import Batch, Context, DeadItem, map_item
from connectors.spec import ConnectorSpec, http_url, string_list
from streams.gate import Gate
from streams.models import Post, RecordError
from streams.settings import ConfigError, join, option

log = logging.getLogger(__name__)

ATOM = "{http://www.w3.org/2005/Atom}"
RSS1 = "{http://purl.org/rss/1.0/}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
DC = "{http://purl.org/dc/elements/1.1/}"
TRACKING_PARAMS = ("utm_", "spm", "from")


def _feeds(value: Any, where: str, context: Mapping[str, Any]) -> tuple[str, ...]:
    feeds = string_list(value, where, required=True)
    for i, feed in enumerate(feeds):
        http_url(feed, join(join(where, i), "url"), context)
    if len(set(feeds)) != len(feeds):
        raise ConfigError(where, "lists the same feed twice")
    return feeds


@dataclass(frozen=True)
class RssOptions:
    feeds: tuple[str, ...] = option(parse=_feeds, shown_default="(required)", help="feed addresses (http/https)")
    interval: float = option(300.0, duration=True, minimum=0.05, help="time between polls of all feeds")
    dedup_window: int = option(20_000, minimum=1, help="item ids remembered for de-duplication")
    lang: str = option("zh", help="Post.lang for items")


class FeedError(ValueError):
    pass


@dataclass(frozen=True)
class FeedItem:
    guid: str
    link: str
    title: str
    body_html: str
    published: str  # as written in the feed; parsed when mapped
    author: str
    original: bytes


@dataclass(frozen=True)
class Feed:
    title: str
    items: list[FeedItem]


def _text(element: ET.Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def parse_feed(body: bytes) -> Feed:
    """Items of an RSS or Atom document, in document order."""
    # Entity declarations are the only way a feed can make the parser expand
    # text without bound; no real feed needs them.
    if b"<!ENTITY" in body[:4096].upper():
        raise FeedError("feed declares XML entities; refused")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise FeedError(f"not well-formed XML ({exc})") from None
    try:
        return _feed_of(root)
    except RecursionError:
        # Serialising an item (its dead-letter original) recurses per level.
        raise FeedError("an element is nested too deeply") from None


def _feed_of(root: ET.Element) -> Feed:
    if root.tag == f"{ATOM}feed":
        return Feed(_text(root.find(f"{ATOM}title")), [_atom_entry(e) for e in root.findall(f"{ATOM}entry")])
    if root.tag == "rss":
        channel = root.find("channel")
        if channel is None:
            raise FeedError("RSS document without a channel")
        return Feed(_text(channel.find("title")), [_rss_item(i, "") for i in channel.findall("item")])
    if root.tag.endswith("RDF"):
        channel = root.find(f"{RSS1}channel")
        return Feed(_text(channel.find(f"{RSS1}title")) if channel is not None else "",
                    [_rss_item(i, RSS1) for i in root.findall(f"{RSS1}item")])
    raise FeedError(f"not an RSS or Atom document (root element {root.tag!r})")


def _rss_item(item: ET.Element, ns: str) -> FeedItem:
    body = _text(item.find(f"{CONTENT}encoded")) or _text(item.find(f"{ns}description"))
    return FeedItem(
        guid=_text(item.find("guid")) or item.get("{http://www.w3.org/1999/02/22-rdf-syntax-ns#}about", ""),
        link=_text(item.find(f"{ns}link")),
        title=_text(item.find(f"{ns}title")),
        body_html=body,
        published=_text(item.find("pubDate")) or _text(item.find(f"{DC}date")),
        author=_text(item.find(f"{DC}creator")) or _text(item.find("author")),
        original=ET.tostring(item, encoding="utf-8"),
    )


def _atom_entry(entry: ET.Element) -> FeedItem:
    link = ""
    for candidate in entry.findall(f"{ATOM}link"):
        if candidate.get("rel", "alternate") == "alternate" and candidate.get("href"):
            link = candidate.get("href", "")
            break
    return FeedItem(
        guid=_text(entry.find(f"{ATOM}id")),
        link=link,
        title=_text(entry.find(f"{ATOM}title")),
        body_html=_text(entry.find(f"{ATOM}content")) or _text(entry.find(f"{ATOM}summary")),
        published=_text(entry.find(f"{ATOM}published")) or _text(entry.find(f"{ATOM}updated")),
        author=_text(entry.find(f"{ATOM}author/{ATOM}name")),
        original=ET.tostring(entry, encoding="utf-8"),
    )


def canonical_link(link: str) -> str:
    """The same article reached through two feeds often differs only in
    tracking parameters, a fragment or the host's case."""
    parts = urlsplit(link.strip())
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if not k.lower().startswith(TRACKING_PARAMS)]
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", urlencode(query), ""))


def item_id(item: FeedItem) -> str:
    basis = canonical_link(item.link) if item.link else item.guid
    if not basis:
        raise RecordError("missing_field", "item has neither a link nor a guid")
    return hashlib.sha1(basis.encode()).hexdigest()[:20]


def item_to_post(item: FeedItem, *, source: str, lang: str, feed_url: str, feed_title: str,
                 fetched_at: float, gate: Gate | None = None) -> Post:
    post_id = item_id(item)
    body = html_to_text(item.body_html)
    title = html_to_text(item.title)
    if not body:
        text = title
    elif not title or body.startswith(title):
        text = body
    else:
        text = f"{title}\n{body}"
    if not text:
        raise RecordError("missing_field", "item has neither a title nor a description")
    # Feeds without dates exist; their items are dated when first seen. The
    # gate reads RFC 822 (RSS) and ISO-8601 (Atom, dc:date) dates.
    created: str | float = item.published or fetched_at
    host = urlsplit(feed_url).netloc
    return (gate or Gate()).post({
        "source": source, "id": post_id, "text": text, "url": item.link,
        "created_at": created, "lang": lang,
        "author": {"id": item.author or host, "name": item.author or feed_title or host},
        "raw": {"feed": feed_url, "guid": item.guid},
    })


def new_items(feed: Feed, seen: RecentIds, *, source: str, lang: str, feed_url: str,
              fetched_at: float) -> tuple[list[Post], list[DeadItem], int]:
    """Posts not emitted before (oldest first), malformed items, duplicates skipped."""
    batch = Batch()
    duplicates = 0
    for item in feed.items:
        result = map_item(partial(item_to_post, item, source=source, lang=lang, feed_url=feed_url,
                                  feed_title=feed.title, fetched_at=fetched_at), item.original)
        if not batch.take(result, seen):
            duplicates += 1
    batch.posts.sort(key=lambda p: p.created_at)
    return batch.posts, batch.dead, duplicates


class RssConnector:
    def __init__(self, spec: ConnectorSpec[RssOptions], environ: Mapping[str, str]) -> None:
        self.spec = spec
        self.options = spec.options

    async def run(self, ctx: Context) -> None:
        feeds_state: dict[str, dict[str, str]] = copy.deepcopy(ctx.state.get("feeds", {}))
        seen = RecentIds(self.options.dedup_window, ctx.state.get("seen", []))
        async with ctx.client() as client:
            while not ctx.stop.is_set():
                for url in self.options.feeds:
                    try:
                        await self._poll_feed(ctx, client, url, feeds_state, seen)
                    except Stopping:
                        return
                    except FetchError as exc:
                        log.warning("%s: %s", self.spec.name, exc)
                    if ctx.stop.is_set():
                        return
                if await ctx.sleep(self.options.interval):
                    return

    async def _poll_feed(self, ctx: Context, client: PoliteClient, url: str, feeds_state: dict[str, dict[str, str]],
                         seen: RecentIds) -> None:
        validators = feeds_state.get(url, {})
        headers = {"Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5"}
        if validators.get("etag"):
            headers["If-None-Match"] = validators["etag"]
        if validators.get("last_modified"):
            headers["If-Modified-Since"] = validators["last_modified"]
        response = await client.get(url, headers=headers)
        if response.status_code == 304:
            ctx.success()
            return
        try:
            feed = parse_feed(response.content)
        except FeedError as exc:
            # Keep the old validators so the next poll fetches the feed again.
            ctx.metrics.error("malformed_feed")
            log.warning("%s: %s: %s", self.spec.name, url, exc)
            return
        posts, dead, duplicates = new_items(feed, seen, source=self.spec.source, lang=self.options.lang,
                                            feed_url=url, fetched_at=time.time())
        ctx.metrics.duplicates.inc(duplicates)
        feeds_state[url] = {k: v for k, v in (("etag", response.headers.get("ETag")),
                                                 ("last_modified", response.headers.get("Last-Modified"))) if v}
        checkpoint = {"feeds": copy.deepcopy(feeds_state), "seen": seen.to_list()}
        await ctx.emit(Batch(posts=posts, dead=dead, checkpoint=checkpoint))
        ctx.success()
