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

import orjson

# A repost spreads another's post: Weibo writes it ``own words//@author:original``
# (the same mark streams.sentiment.preprocess splits repost chains on).
_REPOST = re.compile(r"//\s*@")


# Bucket.tones: the brand's own posts per twentieth of the negative probability.
TONE_BINS = 20


def tone_bin(negative: float) -> int:
    """The bin of a negative probability; anything outside [0, 1] (NaN too) clamps."""
    if negative >= 1.0:
        return TONE_BINS - 1
    if negative > 0.0:
        return int(negative * TONE_BINS)
    return 0


def is_repost(text: str) -> bool:
    """A repost or a reply chain: ``//@`` in the text (Weibo's own display)."""
    return "//" in text and _REPOST.search(text) is not None


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
    # For a negative post that is not a repost, the text it copies
    # (streams.sentiment.preprocess.copy_key: its words without punctuation,
    # digits or emoji); "" otherwise or from producers that predate it
    # (then the story counts copies).
    copy_key: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Mention:
        """A mention record off the wire (the previous versions' per-mention
        records), each field of its declared type; raises ValueError naming
        the field otherwise, before anything counts it (``Bucket.add`` must
        never stop half-way through a mention)."""
        fields_ = cls.__dataclass_fields__
        values = {k: v for k, v in data.items() if k in fields_}
        for name, value in values.items():
            kind = _MENTION_FIELD_TYPES[str(fields_[name].type)]
            if kind is float:
                ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            elif kind is int:
                ok = isinstance(value, int) and not isinstance(value, bool)
            elif kind is list:
                ok = isinstance(value, list) and all(isinstance(x, str) for x in value)
            else:
                ok = isinstance(value, kind)
            if not ok:
                raise ValueError(f"mention field {name!r}: expected {fields_[name].type}, got {value!r:.40}")
        return cls(**values)


_MENTION_FIELD_TYPES: dict[str, type] = {"str": str, "int": int, "float": float, "bool": bool, "list[str]": list}


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
    # Optional, so that records written before them still parse: the story
    # the post spreads (Mention.story, else the post's own key), the
    # platform's repost counter, the author's verified badge and the post's
    # risk terms. The alert message groups its posts into stories by them
    # and names the verified accounts among the posters.
    story: str = ""
    reposts: int = 0
    verified: bool = False
    terms: list[str] = field(default_factory=list)

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
    # Negative posts per story (Mention.story, else the post's key) as
    # [posts, their repost counters summed]; at most MAX_STORIES stories, a
    # later story is not counted. The alert message says how many posts tell
    # each of its top stories (streams/detection/incident.py sums them).
    stories: dict[str, list[int]] = field(default_factory=dict)
    # Only in a part on the wire (``MentionCounts``): reach revisions of posts
    # counted in earlier parts (``revise``), applied after the part's counts.
    revisions: list[dict[str, Any]] = field(default_factory=list)

    # The distinct opinions among the negative posts (8-character keys,
    # ``opinion_key``), at most MAX_NEGATIVE_STORIES: a repost (``//@`` in
    # its text) counts as the story it spreads (Mention.story), any other
    # post as itself. Ten reposts of one complaint are one opinion told ten
    # times; ten accounts posting the same words (a bot flood) are ten. The
    # detector counts opinions. Empty with negative > 0 means "no story
    # information" (an older producer).
    negative_stories: list[str] = field(default_factory=list)
    # Negative posts that are not reposts, per story key (their own words):
    # the same words posted again and again by different posts, not spread
    # by reposting (a bot flood, a copied template). At most MAX_COPIES
    # keys; a later key is not counted. Empty from an older producer.
    copies: dict[str, int] = field(default_factory=dict)
    # The post of the bucket from the most-followed account, whatever its
    # tone (same shape and weighing as ``kol``; accounts under 1,000
    # followers are not kept). The KOL signal watches a very big account's
    # story even when the model misreads the post itself.
    big: dict[str, Any] = field(default_factory=dict)
    # Reposts (``//@`` in their text) per story they spread, whatever their
    # tone, as [reposts, negative reposts]; at most MAX_REPOST_STORIES
    # stories, a later story is not counted. How the public passes a story
    # on: the KOL signal tests the reaction to a big account's post.
    repost_stories: dict[str, list[int]] = field(default_factory=dict)
    # The brand's own posts (not reposts), whatever their tone, per
    # twentieth of the model's negative probability (``tone_bin``); empty
    # until the first one, and from an older producer. The detector's
    # negative_tone signal reads how negative, not only whether.
    tones: list[int] = field(default_factory=list)

    TOP_N = 5
    MAX_RISK_STORIES = 64
    MAX_STORIES = 32
    MAX_NEGATIVE_STORIES = 64
    MAX_COPIES = 32
    MAX_REPOST_STORIES = 32
    BIG_MIN_WEIGHT = 1000

    @property
    def end(self) -> float:
        return self.start + self.size

    @property
    def negative_share(self) -> float:
        return self.negative / self.total if self.total else 0.0

    def add(self, mention: Mention) -> None:
        self.total += 1
        story = mention.story or mention.post_key
        if mention.risk_terms:
            self.risk_hits += 1
            for term in mention.risk_terms:
                self.risk_terms[term] = self.risk_terms.get(term, 0) + 1
            self._add_story(story)
        weight = _weight(mention.followers, mention.verified)
        if weight >= self.BIG_MIN_WEIGHT and (not self.big or weight > _weight(self.big["followers"],
                                                                                 self.big["verified"])):
            self.big = {"id": mention.post_key, "author": mention.author_name, "followers": mention.followers,
                        "verified": mention.verified, "story": story}
        repost = is_repost(mention.text)
        if repost:
            _count_pair(self.repost_stories, self.MAX_REPOST_STORIES, story, 1, 1 if mention.is_negative else 0)
        else:
            self._tone_counts()[tone_bin(mention.negative)] += 1
        if not mention.is_negative:
            return
        self.negative += 1
        self.reach_negative += mention.reach
        _count_pair(self.stories, self.MAX_STORIES, story, 1, max(0, mention.reposts))
        if repost:
            self._add_opinion(opinion_key(story))
        else:
            self._add_opinion(opinion_key(mention.post_key))
            key = mention.copy_key or mention.story
            if key:
                self._count_copy(key, 1)
        self._offer_kol({"id": mention.post_key, "author": mention.author_name, "followers": mention.followers,
                         "verified": mention.verified, "story": mention.story, "reposts": mention.reposts})
        reach = round(mention.reach, 4)
        top = self.top_negative
        # Most negative mentions do not make the top few: decide before building their sample.
        if len(top) >= self.TOP_N and (-reach, mention.post_key) >= (-top[-1]["reach"], top[-1]["id"]):
            return
        # SamplePost.to_dict(), without the dataclass round trip.
        self._offer_samples([{"id": mention.post_key, "author": mention.author_name, "followers": mention.followers,
                              "excerpt": mention.text[:140], "url": mention.url,
                              "negative": round(mention.negative, 4), "reach": reach,
                              "created_at": mention.created_at, "story": story, "reposts": mention.reposts,
                              "verified": mention.verified, "terms": list(mention.risk_terms[:5])}])

    def merge(self, part: Bucket) -> None:
        """Add the counts of ``part`` (another bucket of the same brand, built
        from other mentions): the result is what adding all of its mentions
        one by one would give (counts exactly; stories, samples and the KOL
        in the order the parts arrive)."""
        self.total += part.total
        self.negative += part.negative
        self.reach_negative += part.reach_negative
        self.risk_hits += part.risk_hits
        for term, count in part.risk_terms.items():
            self.risk_terms[term] = self.risk_terms.get(term, 0) + count
        for story in part.risk_stories:
            self._add_story(story)
        for story, (posts, reposts) in part.stories.items():
            _count_pair(self.stories, self.MAX_STORIES, story, posts, reposts)
        for opinion in part.negative_stories:
            self._add_opinion(opinion)
        for key, posts in part.copies.items():
            self._count_copy(key, posts)
        if part.kol and _outweighs(part.kol, self.kol):
            self.kol = dict(part.kol)
        if part.big and _outweighs(part.big, self.big):
            self.big = dict(part.big)
        for story, (reposts, negative) in part.repost_stories.items():
            _count_pair(self.repost_stories, self.MAX_REPOST_STORIES, story, reposts, negative)
        if part.tones:
            tones = self._tone_counts()
            for i, n in enumerate(part.tones):
                tones[i] += n
        if part.top_negative:
            self._offer_samples(part.top_negative)
        for revision in part.revisions:
            self.revise(revision)

    def revise(self, revision: dict[str, Any]) -> None:
        """A post counted before was seen again with more engagement: its reach
        evidence changes, its counts do not. ``revision``: ``{"id", "reach_delta",
        "sample", "kol"}`` (``ReachRevision.to_dict``)."""
        self.reach_negative += float(revision.get("reach_delta", 0.0))
        sample = revision.get("sample")
        if sample:
            self.top_negative = [s for s in self.top_negative if s["id"] != sample["id"]]
            self._offer_samples([sample])
        kol = revision.get("kol")
        if kol:
            if self.kol.get("id") == kol["id"]:
                self.kol = dict(kol)
            else:
                self._offer_kol(kol)

    def _tone_counts(self) -> list[int]:
        if not self.tones:
            self.tones = [0] * TONE_BINS
        return self.tones

    def _count_copy(self, key: str, posts: int) -> None:
        copies = self.copies
        if key in copies:
            copies[key] += posts
        elif len(copies) < self.MAX_COPIES:
            copies[key] = posts

    def _add_opinion(self, opinion: str) -> None:
        if opinion not in self.negative_stories and len(self.negative_stories) < self.MAX_NEGATIVE_STORIES:
            self.negative_stories.append(opinion)

    def _add_story(self, story: str) -> None:
        if story not in self.risk_stories and len(self.risk_stories) < self.MAX_RISK_STORIES:
            self.risk_stories.append(story)

    def _offer_kol(self, account: dict[str, Any]) -> None:
        if _outweighs(account, self.kol):
            self.kol = dict(account)

    def _offer_samples(self, samples: list[dict[str, Any]]) -> None:
        # Keep the few most far-reaching negative posts, each post once.
        top = self.top_negative
        worst = (-top[-1]["reach"], top[-1]["id"]) if len(top) >= self.TOP_N else None
        added = False
        for sample in samples:
            if worst is not None and (-sample["reach"], sample["id"]) >= worst:
                continue  # would be cut again below
            if any(kept["id"] == sample["id"] for kept in top):
                continue
            top.append(sample)
            added = True
        if added:
            top.sort(key=_sample_order)
            del top[self.TOP_N :]

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
            "stories": {k: list(v) for k, v in self.stories.items()},
            "negative_stories": list(self.negative_stories),
            "copies": dict(self.copies),
            "big": dict(self.big),
            "repost_stories": {k: list(v) for k, v in self.repost_stories.items()},
            "tones": list(self.tones),
        }

    def part_dict(self) -> dict[str, Any]:
        """The bucket as a part of a ``MentionCounts`` record: its counts and
        evidence, without the de-duplication marks (the record's posts range
        is the mark)."""
        out = self.to_dict()
        del out["brand"], out["size"], out["last_offset"], out["sources"]
        out["reach_negative"] = self.reach_negative  # rounded once, in the stored bucket
        if self.revisions:
            out["revisions"] = list(self.revisions)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Bucket:
        """A bucket as ``to_dict`` wrote it (older versions' fields optional),
        its containers copied. Raises ValueError, TypeError or KeyError for
        anything else."""
        return cls(brand=_typed(data["brand"], str, "brand"), size=float(data["size"]),
                   last_offset=int(data.get("last_offset", -1)),
                   sources={str(k): list(_typed(v, list, "sources"))
                            for k, v in _typed(data.get("sources") or {}, dict, "sources").items()},
                   **_counts_from_dict(data, fresh=True))


BUCKETS_KIND = "buckets"


def bucket_record(buckets: list[Bucket]) -> bytes:
    """One record on ``koubei.buckets`` for one brand's buckets closed together, in order."""
    return orjson.dumps({"kind": BUCKETS_KIND, "brand": buckets[0].brand, "buckets": [b.to_dict() for b in buckets]})


def read_bucket_record(data: Any) -> list[Bucket]:
    """The buckets of a ``koubei.buckets`` record: a list (``bucket_record``), or
    one bucket alone (the previous versions' records). Raises ValueError,
    TypeError or KeyError for anything else."""
    if not isinstance(data, dict):
        raise TypeError(f"expected a JSON object, got {type(data).__name__}")
    try:
        if data.get("kind") == BUCKETS_KIND:
            buckets = [Bucket.from_dict(_typed(b, dict, "bucket")) for b in _typed(data["buckets"], list, "buckets")]
        else:
            buckets = [Bucket.from_dict(data)]
    except OverflowError as exc:  # int() of an infinite number
        raise ValueError(str(exc)) from None
    for bucket in buckets:  # the detector reads these as the aggregator reads parts: checked first
        _check_part(bucket)
    return buckets


@dataclass
class MentionCounts:
    """One brand's counts from one batch of posts, on ``koubei.mentions``
    keyed by brand (``kind: "counts"``).

    The score stage combines before the shuffle: instead of one record per
    (post, brand) it sends, per batch, one record per brand holding a part
    of each bucket the batch touched (``Bucket.part_dict``). ``ranges`` maps
    each posts partition the record covers to the (first, last) offsets of
    posts it covered there: every post of those ranges that mentions the
    brand is in the parts, so the aggregator can tell a record it has
    already counted (a re-delivery, or the score stage re-processing posts
    after a crash) from a new one by the ranges alone (streams/aggregate.py).
    ``waits`` are, per counted mention, the milliseconds between the post's
    record timestamp on ``koubei.posts`` and ``sent`` (wall time the record
    was sent): the aggregator adds its own delay to measure post-to-bucket
    latency.
    """

    brand: str
    ranges: dict[int, tuple[int, int]]
    buckets: list[Bucket]
    sent: float = 0.0
    waits: list[int] = field(default_factory=list)

    KIND = "counts"

    @property
    def mentions(self) -> int:
        return sum(b.total for b in self.buckets)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.KIND, "v": 1, "brand": self.brand,
                "ranges": {str(p): [first, last] for p, (first, last) in sorted(self.ranges.items())},
                "sent": self.sent, "waits": list(self.waits), "buckets": [b.part_dict() for b in self.buckets]}

    def to_json(self) -> bytes:
        # orjson: a counts record is the largest thing the score stage encodes.
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any], size: float) -> MentionCounts:
        """Raises ValueError/TypeError/KeyError for a record that is not one."""
        try:
            return cls._from_dict(data, size)
        except OverflowError as exc:  # int() of an infinite number
            raise ValueError(str(exc)) from None

    @classmethod
    def _from_dict(cls, data: dict[str, Any], size: float) -> MentionCounts:
        brand = str(data["brand"])
        ranges: dict[int, tuple[int, int]] = {}
        for key, value in _typed(data["ranges"], dict, "ranges").items():
            partition = int(key)
            first, last = (int(x) for x in _typed(value, list, "range"))
            if partition < 0 or first < 0 or last < first:
                raise ValueError(f"bad posts range {partition}:{first}..{last}")
            ranges[partition] = (first, last)
        if not ranges:
            raise ValueError("a counts record covers no posts range")
        buckets = [_part_from_dict(part, brand, float(size)) for part in _typed(data["buckets"], list, "buckets")]
        waits = data.get("waits") or []
        return cls(brand=brand, ranges=ranges, buckets=buckets, sent=float(data.get("sent") or 0.0),
                   waits=[int(w) for w in _typed(waits, list, "waits")])


def _check_sample(sample: Any) -> None:
    if not isinstance(sample, dict) or not isinstance(sample.get("id"), str):
        raise ValueError("a sample post needs a string id")
    if not isinstance(sample.get("reach"), (int, float)) or isinstance(sample.get("reach"), bool):
        raise ValueError(f"sample {sample['id']!r}: reach must be a number")


def _check_account(account: Any) -> None:
    if not isinstance(account, dict) or not isinstance(account.get("id"), str):
        raise ValueError("a KOL account needs a string id")
    if not isinstance(account.get("followers"), int) or not isinstance(account.get("verified"), bool):
        raise ValueError(f"account {account['id']!r}: followers must be an integer and verified a boolean")


def _sample_order(sample: dict[str, Any]) -> tuple[float, str]:
    return (-sample["reach"], sample["id"])


def _weight(followers: int, verified: bool) -> int:
    """An account's reach as the KOL fields weigh it: a verified account counts ~3x."""
    return followers * (3 if verified else 1)


def _outweighs(account: dict[str, Any], current: dict[str, Any]) -> bool:
    """Strictly heavier wins: the first of equals stays."""
    return not current or _weight(account["followers"], account["verified"]) > _weight(current["followers"],
                                                                                        current["verified"])


def _count_pair(table: dict[str, list[int]], cap: int, key: str, first: int, second: int) -> None:
    """Add two counts to ``key``'s pair; a key past ``cap`` keys is not counted."""
    counts = table.get(key)
    if counts is None and len(table) < cap:
        counts = table[key] = [0, 0]
    if counts is not None:
        counts[0] += first
        counts[1] += second


def _pair(value: Any, what: str) -> list[int]:
    """A story's two counts, e.g. ``[posts, reposts]``, as decoded from JSON."""
    if not isinstance(value, list) or len(value) != 2:
        raise ValueError(f"{what}: expected a pair of counts, got {value!r:.40}")
    return [int(value[0]), int(value[1])]


def _typed(value: Any, kind: type, what: str) -> Any:
    if not isinstance(value, kind):
        raise TypeError(f"{what}: expected {kind.__name__}, got {type(value).__name__}")
    return value


def _part_from_dict(part: Any, brand: str, size: float) -> Bucket:
    """A bucket part of a counts record, as decoded from the wire: its
    containers are used as they are (nothing else holds them), its numbers
    and shapes are checked."""
    bucket = Bucket(brand=brand, size=size, **_counts_from_dict(_typed(part, dict, "bucket part"), fresh=False))
    _check_part(bucket)
    return bucket


def _counts_from_dict(data: dict[str, Any], fresh: bool) -> dict[str, Any]:
    """The fields a stored bucket and a part on the wire share, typed, as
    ``Bucket`` keyword arguments; ``fresh`` copies the containers that are
    otherwise used as they are (a part's: nothing else holds them)."""
    def container(name: str, kind: type) -> Any:
        value = _typed(data.get(name) or kind(), kind, name)
        return kind(value) if fresh else value

    return {
        "start": float(data["start"]),
        "total": int(data.get("total", 0)),
        "negative": int(data.get("negative", 0)),
        "reach_negative": float(data.get("reach_negative", 0.0)),
        "risk_hits": int(data.get("risk_hits", 0)),
        "risk_terms": container("risk_terms", dict),
        "top_negative": container("top_negative", list),
        "risk_stories": [str(x) for x in container("risk_stories", list)],
        "kol": container("kol", dict),
        "stories": {str(k): _pair(v, "stories") for k, v in container("stories", dict).items()},
        "negative_stories": [str(x) for x in container("negative_stories", list)],
        "copies": {str(k): int(v) for k, v in container("copies", dict).items()},
        "big": container("big", dict),
        "repost_stories": {str(k): _pair(v, "repost_stories") for k, v in container("repost_stories", dict).items()},
        "tones": [int(x) for x in container("tones", list)],
        "revisions": [dict(r) if fresh else r for r in (_typed(r, dict, "revision")
                                                        for r in container("revisions", list))],
    }


def _check_part(bucket: Bucket) -> None:
    """A bucket part from the wire is checked whole before anything is merged,
    so that a malformed record fails alone and never half-applied."""
    if not (math.isfinite(bucket.start) and math.isfinite(bucket.size) and bucket.size > 0):
        raise ValueError(f"a bucket needs a finite start and a positive size, got {bucket.start}, {bucket.size}")
    if not 0 <= bucket.negative <= bucket.total or not 0 <= bucket.risk_hits <= bucket.total:
        raise ValueError(f"counts must be 0 <= negative, risk hits <= total, got {bucket.negative}, "
                         f"{bucket.risk_hits} of {bucket.total}")
    if not (math.isfinite(bucket.reach_negative) and bucket.reach_negative >= 0.0):
        raise ValueError(f"reach_negative must be a finite number >= 0, got {bucket.reach_negative}")
    for sample in bucket.top_negative:
        _check_sample(sample)
    if bucket.kol:
        _check_account(bucket.kol)
    if bucket.big:
        _check_account(bucket.big)
    for revision in bucket.revisions:
        if not isinstance(revision.get("id"), str):
            raise ValueError("a revision needs a string id")
        float(revision.get("reach_delta", 0.0))
        if revision.get("sample"):
            _check_sample(revision["sample"])
        if revision.get("kol"):
            _check_account(revision["kol"])
    if any(not isinstance(v, int) for v in bucket.risk_terms.values()):
        raise ValueError("risk term counts must be integers")
    if any(v < 0 for v in bucket.copies.values()):
        raise ValueError("copy counts must not be negative")
    if any(not 0 <= negative <= reposts for reposts, negative in bucket.repost_stories.values()):
        raise ValueError("repost counts must be 0 <= negative reposts <= reposts")
    tones = bucket.tones
    if tones and (len(tones) != TONE_BINS or min(tones) < 0 or sum(tones) > bucket.total):
        raise ValueError(f"tones must be {TONE_BINS} counts >= 0 summing to at most the total, got {tones!r:.60}")


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
    peak_value: float = 0.0  # the signal's value when its evidence was strongest (highest statistic)
    peak_window_seconds: float = 0.0  # the window of peak_value; 0: not known (older producers)
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
