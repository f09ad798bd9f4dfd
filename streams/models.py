"""The records that travel between topics, as plain dataclasses.

Every record is JSON on the wire so that any Kafka tool (and any language)
can read it. Posts from outside enter through ``streams.gate``, which turns
any input into a ``Post`` or a reason; a ``RecordError`` carries a short
machine ``reason`` (a metric label and the dead-letter record's reason)
plus a human message that names the offending field.
"""

from __future__ import annotations

import json
import math
import re
import zlib
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

# A repost spreads another's post: Weibo writes it ``own words//@author:original``
# (the same mark streams.sentiment.preprocess splits repost chains on).
_REPOST = re.compile(r"//\s*@")


def opinion_key(key: str) -> str:
    """An 8-character key for an opinion: a story key (8 hex digits) as it
    is, any other key (a post key) hashed (crc32) to the same length, so a
    bucket's list of opinions stays small."""
    return key if len(key) == 8 else f"{zlib.crc32(key.encode('utf-8', 'surrogatepass')):08x}"

ALERT_STATES = ("firing", "resolved")
SEVERITIES = ("warning", "critical")


class RecordError(ValueError):
    """A record that cannot be accepted; ``reason`` is a bounded label."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def format_time(value: datetime) -> str:
    return value.isoformat()


@dataclass(frozen=True)
class Author:
    id: str
    name: str
    followers: int = 0
    verified: bool = False


@dataclass(frozen=True)
class Post:
    """A social post as every connector emits it on ``koubei.posts``."""

    source: str
    id: str
    author: Author
    text: str
    created_at: datetime
    url: str = ""
    reposts: int = 0
    comments: int = 0
    likes: int = 0
    lang: str = "zh"
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The Kafka key: a re-sent post gets the same key, so it is recognisable."""
        return f"{self.source}:{self.id}"

    @property
    def event_time(self) -> float:
        return self.created_at.timestamp()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = format_time(self.created_at)
        return data

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":")).encode()


def reach_weight(followers: int, reposts: int, comments: int) -> float:
    """How far a negative post is likely to travel, on a log scale.

    A verified account with a million followers is worth about seven ordinary
    posts, not a million: reach matters, but a single big account must not
    drown out a hundred angry customers.
    """
    return 1.0 + math.log10(1 + followers) + math.log10(1 + reposts + comments)


@dataclass
class Mention:
    """One (post, brand) pair, scored; keyed by brand on ``koubei.mentions``."""

    brand: str
    post_key: str
    source: str
    post_id: str
    author_id: str
    author_name: str
    followers: int
    verified: bool
    text: str
    url: str
    created_at: float  # epoch seconds, event time
    negative: float  # final probability that the post is negative
    sentiment: float  # the model's raw positive probability
    is_negative: bool
    reach: float
    risk_terms: list[str] = field(default_factory=list)
    reposts: int = 0
    comments: int = 0
    likes: int = 0
    kind: str = "mention"
    # Where the post came from on koubei.posts (partition, offset) and which of
    # its brands this is: lets the aggregator drop mentions re-emitted when
    # the score stage re-processes posts after a crash.
    src_partition: int = -1
    src_offset: int = -1
    src_index: int = 0
    # The story the post spreads (streams.sentiment.preprocess.story_key):
    # reposts of one post share it. "" from producers that predate it.
    story: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Mention:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class SamplePost:
    """A post quoted as evidence in an alert."""

    id: str
    author: str
    followers: int
    excerpt: str
    url: str
    negative: float
    reach: float
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Bucket:
    """Per-brand counts for one event-time bucket ``[start, start + size)``."""

    brand: str
    start: float
    size: float
    total: int = 0
    negative: int = 0
    reach_negative: float = 0.0
    risk_hits: int = 0
    risk_terms: dict[str, int] = field(default_factory=dict)
    top_negative: list[dict[str, Any]] = field(default_factory=list)
    # De-duplication marks (see streams.aggregate): the last mentions offset
    # applied, and per posts partition the last [offset, brand index].
    last_offset: int = -1
    sources: dict[str, list[int]] = field(default_factory=dict)
    # Distinct stories of the posts with a risk term (Mention.story), at most
    # MAX_RISK_STORIES: the detector counts a story once per hour, not once
    # per repost. Empty with risk_hits > 0 means "no story information".
    risk_stories: list[str] = field(default_factory=list)
    # The negative post of the bucket from the most-followed account (a
    # verified one counts as ~3x its followers): {"id", "author", "followers",
    # "verified", "story", "reposts"}; empty when no negative post. The
    # detector's KOL signal compares it with the brand's usual reach.
    kol: dict[str, Any] = field(default_factory=dict)
    # The distinct opinions among the negative posts (8-character keys,
    # ``opinion_key``), at most MAX_NEGATIVE_STORIES: a repost (``//@`` in
    # its text) counts as the story it spreads (Mention.story), any other
    # post as itself. Ten reposts
    # of one complaint are one opinion told ten times; ten accounts posting
    # the same words (a bot flood) are ten. The detector counts opinions.
    # Empty with negative > 0 means "no story information" (an older producer).
    negative_stories: list[str] = field(default_factory=list)

    TOP_N = 5
    MAX_RISK_STORIES = 64
    MAX_NEGATIVE_STORIES = 64

    @property
    def end(self) -> float:
        return self.start + self.size

    @property
    def negative_share(self) -> float:
        return self.negative / self.total if self.total else 0.0

    def add(self, mention: Mention) -> None:
        self.total += 1
        if mention.risk_terms:
            self.risk_hits += 1
            for term in mention.risk_terms:
                self.risk_terms[term] = self.risk_terms.get(term, 0) + 1
            story = mention.story or mention.post_key
            if story not in self.risk_stories and len(self.risk_stories) < self.MAX_RISK_STORIES:
                self.risk_stories.append(story)
        if not mention.is_negative:
            return
        self.negative += 1
        self.reach_negative += mention.reach
        opinion = opinion_key((mention.story or mention.post_key) if _REPOST.search(mention.text) else mention.post_key)
        if opinion not in self.negative_stories and len(self.negative_stories) < self.MAX_NEGATIVE_STORIES:
            self.negative_stories.append(opinion)
        weight = mention.followers * (3 if mention.verified else 1)
        kol = self.kol
        if not kol or weight > kol["followers"] * (3 if kol["verified"] else 1):
            self.kol = {"id": mention.post_key, "author": mention.author_name, "followers": mention.followers,
                        "verified": mention.verified, "story": mention.story, "reposts": mention.reposts}
        sample = SamplePost(
            id=mention.post_key,
            author=mention.author_name,
            followers=mention.followers,
            excerpt=mention.text[:140],
            url=mention.url,
            negative=round(mention.negative, 4),
            reach=round(mention.reach, 4),
            created_at=mention.created_at,
        ).to_dict()
        # Keep the few most far-reaching negative posts; O(TOP_N) per mention.
        self.top_negative.append(sample)
        self.top_negative.sort(key=lambda s: (-s["reach"], s["id"]))
        del self.top_negative[self.TOP_N :]

    def to_dict(self) -> dict[str, Any]:
        return {
            "brand": self.brand,
            "start": self.start,
            "size": self.size,
            "total": self.total,
            "negative": self.negative,
            "reach_negative": round(self.reach_negative, 6),
            "risk_hits": self.risk_hits,
            "risk_terms": dict(self.risk_terms),
            "top_negative": list(self.top_negative),
            "last_offset": self.last_offset,
            "sources": dict(self.sources),
            "risk_stories": list(self.risk_stories),
            "kol": dict(self.kol),
            "negative_stories": list(self.negative_stories),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Bucket:
        return cls(
            brand=data["brand"],
            start=float(data["start"]),
            size=float(data["size"]),
            total=int(data.get("total", 0)),
            negative=int(data.get("negative", 0)),
            reach_negative=float(data.get("reach_negative", 0.0)),
            risk_hits=int(data.get("risk_hits", 0)),
            risk_terms=dict(data.get("risk_terms", {})),
            top_negative=list(data.get("top_negative", [])),
            last_offset=int(data.get("last_offset", -1)),
            sources={str(k): list(v) for k, v in data.get("sources", {}).items()},
            risk_stories=[str(x) for x in data.get("risk_stories", [])],
            kol=dict(data.get("kol") or {}),
            negative_stories=[str(x) for x in data.get("negative_stories", [])],
        )


@dataclass
class AlertEvent:
    """A lifecycle event for one alert, on ``koubei.alerts`` keyed by ``key``.

    ``key`` is stable for the whole life of one alert (brand + signal), so
    a receiver can pair ``firing`` with ``resolved`` and deduplicate.
    """

    key: str
    brand: str
    brand_name: str
    signal: str  # e.g. "negative_share", "negative_volume", "volume"
    state: str  # "firing" | "resolved"
    severity: str  # "warning" | "critical"
    started_at: float  # event time of the bucket that fired
    event_time: float  # event time of this update (bucket end)
    window_seconds: float
    value: float  # current value of the signal
    baseline: float  # what the brand normally shows
    statistic: float  # test statistic (z or -log10 p), for explanation
    negative: int  # negative posts in the window
    total: int  # posts in the window
    negative_share: float
    baseline_share: float
    volume_change: float  # ratio of window volume to baseline volume
    summary: str = ""  # one line, language-neutral, why it fired
    ended_at: float | None = None
    peak_value: float = 0.0
    peak_severity: str = ""
    risk_terms: list[list[Any]] = field(default_factory=list)  # [[term, count], ...]
    top_posts: list[dict[str, Any]] = field(default_factory=list)
    sparkline: list[float] = field(default_factory=list)  # recent negative counts per bucket
    sequence: int = 0  # increases with every update of the same alert
    detector: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.state not in ALERT_STATES:
            raise ValueError(f"state must be one of {ALERT_STATES}, got {self.state!r}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {self.severity!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AlertEvent:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def dead_letter(reason: str, message: str, original: bytes | None, **where: Any) -> bytes:
    """A dead-letter record keeps the original bytes (base64) so nothing is lost."""
    import base64

    record: dict[str, Any] = {
        "reason": reason,
        "error": message,
        "original_b64": base64.b64encode(original or b"").decode("ascii"),
        "failed_at": datetime.now(timezone.utc).isoformat(),
    }
    if original is not None and len(original) <= 65536:
        # Readable for people browsing the topic; original_b64 is the exact
        # original, always present, also for large or non-UTF-8 records.
        try:
            record["original_text"] = original.decode("utf-8")
        except UnicodeDecodeError:
            pass
    record.update(where)
    return json.dumps(record, ensure_ascii=False).encode()
