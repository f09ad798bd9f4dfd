"""From a post to its scored brand mentions: the score stage as plain code.

Brands are matched first and only posts that mention a tracked brand are
scored (scoring is the expensive step; most of a firehose mentions none of
our brands). One post mentioning two brands yields two mentions with the
same score. In the worker the mentions of a batch are combined before they
leave the stage (``MentionCounter``): one ``MentionCounts`` record per brand
and posts range instead of one record per mention. The scorer reads each post with the tracked brands' names
masked (``PostScorer.scoring_texts``, ``BrandMatcher.mask``): a brand's
name is not an opinion about it.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, Protocol

from streams.brands import BrandMatcher
from streams.models import Bucket, Mention, MentionCounts, Post, is_repost, reach_weight
from streams.sentiment.preprocess import copy_key, story_key


class ScoreLike(Protocol):
    negative: float
    sentiment: float
    risk_terms: list[str]


def mentions_for(post: Post, brands: Sequence[str], score: ScoreLike, negative_threshold: float,
                 src: tuple[int, int] = (-1, -1)) -> list[Mention]:
    reach = reach_weight(post.author.followers, post.reposts, post.comments)
    is_negative = score.negative >= negative_threshold
    # The scorer's preprocessing already found the story; other scorers
    # (no Weibo preprocessing, the SnowNLP library) leave it to us.
    story = getattr(score, "story", None)
    if story is None:
        story = story_key(post.text) or ""
    story = story or post.key
    # Copies are counted among negative posts that are not reposts (Bucket.add);
    # the scorer's preprocessing found the copy key on the way, if it ran.
    copied = ""
    if is_negative and not is_repost(post.text):
        copied = getattr(score, "copy", None)
        if copied is None:
            copied = copy_key(post.text) or ""
    created_at = post.event_time
    return [
        Mention(
            brand=brand,
            post_key=post.key,
            source=post.source,
            post_id=post.id,
            author_id=post.author.id,
            author_name=post.author.name,
            followers=post.author.followers,
            verified=post.author.verified,
            text=post.text[:500],
            url=post.url,
            created_at=created_at,
            negative=float(score.negative),
            sentiment=float(score.sentiment),
            is_negative=is_negative,
            reach=reach,
            risk_terms=list(score.risk_terms),
            reposts=post.reposts,
            comments=post.comments,
            likes=post.likes,
            src_partition=src[0],
            src_offset=src[1],
            src_index=index,
            story=story,
            copy_key=copied,
        )
        for index, brand in enumerate(brands)
    ]


class PostScorer:
    """Match + score a batch of posts with any scorer that has ``score_many``."""

    def __init__(self, matcher: BrandMatcher, scorer: Any, negative_threshold: float) -> None:
        self.matcher = matcher
        self.scorer = scorer
        self.negative_threshold = negative_threshold

    def match(self, posts: Sequence[Post]) -> list[tuple[Post, list[str]]]:
        return [(post, brands) for post in posts if (brands := self.matcher.match(post.text))]

    def scoring_texts(self, matched: Sequence[tuple[Post, list[str]]]) -> list[str]:
        """What the sentiment scorer reads for each matched post: its text with the tracked brands masked."""
        mask = self.matcher.mask
        return [mask(post.text) for post, _ in matched]

    def build(self, matched: Sequence[tuple[Post, list[str]]], scores: Sequence[ScoreLike],
              sources: Sequence[tuple[int, int]] | None = None) -> list[Mention]:
        """Mentions for matched posts; ``sources`` gives each post's (partition, offset)."""
        out: list[Mention] = []
        for i, ((post, brands), score) in enumerate(zip(matched, scores, strict=True)):
            src = sources[i] if sources is not None else (-1, -1)
            out.extend(mentions_for(post, brands, score, self.negative_threshold, src))
        return out

    def score_posts(self, posts: Sequence[Post]) -> list[Mention]:
        matched = self.match(posts)
        if not matched:
            return []
        scores = self.scorer.score_many(self.scoring_texts(matched))
        return self.build(matched, scores)


# (posts partition, first offset, last offset): the posts a batch covered on one partition.
PostsRange = tuple[int, int, int]


class MentionCounter:
    """Combines the mentions of one batch into ``MentionCounts`` records: per
    brand and group of posts ranges, a part of each bucket the mentions fall
    in, built with ``Bucket.add`` (the aggregator merges parts with
    ``Bucket.merge``, which gives the counts adding the mentions one by one
    would give). ``group`` names the record a mention goes to; ``ranges``
    given to ``records`` say which posts ranges each group covers."""

    def __init__(self, size: float) -> None:
        self.size = float(size)
        self.parts: dict[tuple[str, Hashable], dict[float, Bucket]] = {}
        self.waits: dict[tuple[str, Hashable], list[int]] = {}

    def bucket_start(self, t: float) -> float:
        return math.floor(t / self.size) * self.size

    def _part(self, brand: str, group: Hashable, start: float) -> Bucket:
        parts = self.parts.setdefault((brand, group), {})
        part = parts.get(start)
        if part is None:
            part = parts[start] = Bucket(brand, start, self.size)
        return part

    def add(self, mention: Mention, group: Hashable, wait_ms: int | None = None) -> None:
        self._part(mention.brand, group, self.bucket_start(mention.created_at)).add(mention)
        if wait_ms is not None:
            self.waits.setdefault((mention.brand, group), []).append(wait_ms)

    def revise(self, brand: str, group: Hashable, event_time: float, revision: dict[str, Any]) -> None:
        """A reach revision (streams.repeats) for the brand's bucket at ``event_time``."""
        self._part(brand, group, self.bucket_start(event_time)).revisions.append(revision)

    def records(self, ranges: Mapping[Hashable, Sequence[PostsRange]], sent: float) -> list[MentionCounts]:
        """One record per brand and group, the groups in offset order (``in_offset_order``)."""
        by_group: dict[Hashable, list[tuple[str, dict[float, Bucket]]]] = {}
        for (brand, group), parts in self.parts.items():
            by_group.setdefault(group, []).append((brand, parts))
        return [MentionCounts(brand=brand, ranges={p: (first, last) for p, first, last in ranges[group]},
                              buckets=[parts[start] for start in sorted(parts)], sent=sent,
                              waits=self.waits.get((brand, group), []))
                for group in in_offset_order(ranges) for brand, parts in by_group.get(group, [])]


def in_offset_order(ranges: Mapping[Hashable, Sequence[PostsRange]]) -> list[Hashable]:
    """The groups ordered so that on every posts partition their ranges go out
    in offset order. A bucket's mark says "counted up to this offset" per posts
    partition (streams.aggregate): a range sent after a later one on the same
    partition would look counted and be dropped. A batch after a restart has
    ranges that may have been sent before, each a group of its own, and the
    ranges never sent, one group spanning every partition: on a partition the
    former come first, while the shared group may start with another
    partition's range (a restarted worker lost posts this way). Groups
    whose order no partition decides keep the order given."""
    groups = list(ranges)
    after: dict[Hashable, set[Hashable]] = {g: set() for g in groups}  # g -> groups that must follow g
    waiting: dict[Hashable, int] = dict.fromkeys(groups, 0)
    by_partition: dict[int, list[tuple[int, int, Hashable]]] = {}
    for index, group in enumerate(groups):
        for partition, first, _ in ranges[group]:
            by_partition.setdefault(partition, []).append((first, index, group))
    for pieces in by_partition.values():
        pieces.sort(key=lambda piece: piece[:2])
        for (_, _, earlier), (_, _, later) in zip(pieces, pieces[1:], strict=False):
            if earlier != later and later not in after[earlier]:
                after[earlier].add(later)
                waiting[later] += 1
    ordered: list[Hashable] = []
    ready = [g for g in groups if waiting[g] == 0]
    while ready:
        group = ready.pop(0)
        ordered.append(group)
        for later in sorted(after[group], key=groups.index):
            waiting[later] -= 1
            if waiting[later] == 0:
                ready.append(later)
    # A cycle (two groups each first on one partition) cannot be sent in order;
    # never built by the score stage. Its groups follow in the order given.
    return ordered + [g for g in groups if g not in ordered]
