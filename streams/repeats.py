"""Posts seen again: counted once, their new engagement updating reach evidence.

A post arrives again when a crawler re-crawls it, two searches overlap or
two crawlers cover the same account (issue 15). It has the same key
(``source:id``), so it lands on the same posts partition, where the score
stage remembers the posts it counted (``streams.ledger``, per batch, for
``dedup.horizon``). A post whose key is remembered from another offset is a
repeat: it is not scored and not counted again (``koubei_duplicate_posts_total``).
If it was negative and its reach grew (more followers, reposts or comments:
``streams.models.reach_weight``), the bucket it was counted in gets a reach
revision (``Bucket.revise``): the reach-weighted negative count grows by the
difference, its sample post and the bucket's KOL show the new numbers. Its
counts (total, negative, risk hits) never change.

A remembered post is stored compactly, as JSON in the ledger: its offset
alone (an int) when it was not negative (a repeat changes nothing in any
bucket), or ``Seen.to_list()``. In memory a negative one is kept as that
JSON (``PackedSeen``: 173 bytes instead of 486 for the list, measured; a
full default ledger holds ~150,000 of them). Plain logic: the score stage and
the tests run it; nothing here touches Kafka.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from streams.models import Post, reach_weight


class PackedSeen:
    """A remembered negative post as the JSON of ``Seen.to_list()``.

    Written to the ledger's changelog as that list (``__json__``: Faust's
    JSON codec is orjson's, which embeds the bytes as they are), so the
    changelog format is the same as when entries were lists, and a list
    read back from it is packed again (``streams.ledger.LedgerBatch.from_dict``).
    """

    __slots__ = ("raw",)

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    @classmethod
    def of(cls, data: list[Any]) -> PackedSeen:
        # A copy: the bytes orjson returns keep a ~4 kB allocation however
        # short the JSON (orjson 3.13; docs/benchmarks.md).
        return cls(bytes(memoryview(orjson.dumps(data))))

    def to_list(self) -> list[Any]:
        return orjson.loads(self.raw)  # type: ignore[no-any-return]

    def __json__(self) -> Any:
        return orjson.Fragment(self.raw)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PackedSeen) and other.raw == self.raw

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PackedSeen({self.to_list()!r})"


# A remembered post: its offset, or Seen.to_list() (packed in memory; a
# plain list is read too).
Entry = int | list[Any] | PackedSeen


def _as_list(entry: list[Any] | PackedSeen) -> list[Any]:
    return entry.to_list() if isinstance(entry, PackedSeen) else entry


@dataclass(frozen=True)
class Seen:
    """What a repeat of a negative post needs of the post that was counted."""

    offset: int  # the posts offset it was counted at
    seen_offset: int  # the offset of its newest sighting (the ledger batch that holds this entry)
    event_time: float  # its created_at: the bucket it was counted in
    brands: tuple[str, ...]
    negative: float
    followers: int
    reposts: int
    comments: int
    likes: int
    verified: bool
    story: str
    revised_at: int = -1  # the offset of the sighting that last revised its reach
    revised_by: float = 0.0  # and by how much

    @property
    def reach(self) -> float:
        return reach_weight(self.followers, self.reposts, self.comments)

    def to_list(self) -> list[Any]:
        return [self.offset, self.seen_offset, self.event_time, list(self.brands), self.negative, self.followers,
                self.reposts, self.comments, self.likes, self.verified, self.story, self.revised_at, self.revised_by]

    def packed(self) -> PackedSeen:
        return PackedSeen.of(self.to_list())

    @classmethod
    def from_list(cls, data: list[Any] | PackedSeen) -> Seen:
        (offset, seen_offset, event_time, brands, negative, followers, reposts, comments, likes, verified, story,
         revised_at, revised_by) = _as_list(data)
        return cls(int(offset), int(seen_offset), float(event_time), tuple(str(b) for b in brands), float(negative),
                   int(followers), int(reposts), int(comments), int(likes), bool(verified), str(story),
                   int(revised_at), float(revised_by))


def remember(post: Post, offset: int, brands: list[str], negative: float, is_negative: bool, story: str) -> Entry:
    """The entry for a post counted at ``offset``."""
    if not is_negative:
        return offset
    return Seen(offset, offset, post.event_time, tuple(brands), round(negative, 4), post.author.followers,
                post.reposts, post.comments, post.likes, post.author.verified, story).packed()


def counted_at(entry: Entry) -> int:
    """The offset a remembered post was counted at."""
    return entry if isinstance(entry, int) else int(_as_list(entry)[0])


def last_seen(entry: Entry) -> int:
    """The offset of a remembered post's newest sighting."""
    return entry if isinstance(entry, int) else int(_as_list(entry)[1])


@dataclass
class Repeat:
    """What a repeat changes: the entry to remember from now on (None: no
    change) and, per brand, the reach revision of the bucket at ``event_time``."""

    entry: Entry | None = None
    event_time: float = 0.0
    revisions: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def repeat(entry: Entry, post: Post, offset: int) -> Repeat:
    """A post seen again at ``offset``, remembered as ``entry``."""
    if isinstance(entry, int):
        return Repeat()  # not negative: nothing in any bucket depends on its reach
    seen = Seen.from_list(entry)
    if offset == seen.revised_at:
        # This very sighting revised the reach before a crash; its revision may
        # not have been sent. The aggregator drops it if it was.
        return Repeat(None, seen.event_time, _revisions(seen, post, seen.revised_by))
    grown = replace(seen, seen_offset=max(seen.seen_offset, offset),
                    followers=max(seen.followers, post.author.followers), reposts=max(seen.reposts, post.reposts),
                    comments=max(seen.comments, post.comments), likes=max(seen.likes, post.likes),
                    verified=seen.verified or post.author.verified)
    delta = grown.reach - seen.reach
    if delta <= 1e-9:
        changed = (grown.followers, grown.reposts, grown.comments, grown.likes, grown.verified) != (
            seen.followers, seen.reposts, seen.comments, seen.likes, seen.verified)
        return Repeat(grown.packed() if changed else None, seen.event_time)
    grown = replace(grown, revised_at=offset, revised_by=delta)
    return Repeat(grown.packed(), seen.event_time, _revisions(grown, post, delta))


def _revisions(seen: Seen, post: Post, delta: float) -> list[tuple[str, dict[str, Any]]]:
    key = post.key
    reach = round(seen.reach, 4)
    sample = {"id": key, "author": post.author.name, "followers": seen.followers, "excerpt": post.text[:140],
              "url": post.url, "negative": seen.negative, "reach": reach, "created_at": seen.event_time}
    account = {"id": key, "author": post.author.name, "followers": seen.followers, "verified": seen.verified,
               "story": seen.story, "reposts": seen.reposts}
    revision = {"id": key, "reach_delta": delta, "sample": sample, "kol": account}
    return [(brand, revision) for brand in seen.brands]
