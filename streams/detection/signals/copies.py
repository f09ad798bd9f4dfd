"""``copy_flood``: the same words posted again and again, not reposted.

A bot flood or a copied complaint template shows itself in *how* the posts
are written, whatever the sentiment model makes of them: many posts with
the same words (one story key, streams.sentiment.preprocess.story_key) that
are not reposts. On the real-text scenarios a flood on a brand's busiest
hour added 40 % to its volume and was read only 66 % negative (one of its
three scripted texts read positive), so no count or share test saw it
(docs/benchmarks.md, "The day's own tone").

Per bucket the brand's negative non-repost posts arrive per story key
(``Bucket.copies``). A key stays *active* while it was seen within the last
``COPY_WINDOW`` seconds; a post whose key is active is a **copy**. The
statistic is the copies of the active keys (each key's posts but its first).

By chance two ordinary posts share their words with a small probability
``k`` (short stock phrases: 差评, 退钱), so with ``M`` posts in the active
keys chance alone makes about ``k M (M - 1) / 2`` copies: more posts (a
news day, a viral hour) make more chance copies, by the square. ``k`` is
learned from ordinary buckets as copies per new pair of posts (discounted
sums with the baseline's half-life, prior 0.1 % worth 10,000 pairs). The
tail is exact and very overdispersed (inverse shape ``COPY_DISPERSION``:
copies come in clumps, one ordinary template is many copies). Hot at
``z_fire`` with at least ``copy_min_posts`` copies and ``copy_min_ratio``
times the expected, after the warm-up, while the window's negative share
is at least the usual: copies of a slogan in a wave of praise that the
model misreads are not an attack.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streams.detection.baseline import Frame
from streams.detection.signals.base import Description, Signal, Test
from streams.detection.stats import exact_count_z

COPY_WINDOW = 900.0  # seconds a key stays active after its last post
COPY_DISPERSION = 1.0
PRIOR_PAIR_RATE = 0.001  # chance copies per pair of posts, before the brand's own are learnt
PRIOR_PAIR_WEIGHT = 10_000.0
MAX_ACTIVE = 64  # active keys kept (the stalest single posts go first): ~1.4 KB of state


@dataclass
class CopyState:
    # Active keys: {key: [posts while active, last bucket index seen]}.
    active: dict[str, list[int]] = field(default_factory=dict)
    copies: float = 0.0  # discounted copies of ordinary buckets
    pairs: float = 0.0  # discounted new pairs of posts of ordinary buckets


class CopyFlood(Signal):
    name = "copy_flood"
    State = CopyState

    def derive(self) -> None:
        b = self.baseline
        size = b.size or 60.0
        self.horizon = max(1, int(round(COPY_WINDOW / size)))
        windows = b.windows or [1]
        self.window_index = min(range(len(windows)), key=lambda i: abs(windows[i] - self.horizon))
        self.fresh = 0  # copies in the current bucket (for learning)
        self.new_pairs = 0.0  # pairs the current bucket's posts made with the active ones and each other
        self.posts = 0  # posts of the active keys

    @property
    def pair_rate(self) -> float:
        s = self.state
        return (s.copies + PRIOR_PAIR_RATE * PRIOR_PAIR_WEIGHT) / (s.pairs + PRIOR_PAIR_WEIGHT)

    def _advance(self, f: Frame) -> int:
        """Move the active keys by the frame's bucket; returns the copies of the active keys."""
        active = self.state.active
        now = f.seen
        oldest = now - self.horizon
        stale = [k for k, (_posts, last) in active.items() if last <= oldest]
        for k in stale:
            del active[k]
        before = sum(posts for posts, _last in active.values())
        fresh = 0
        bucket = f.bucket
        arriving = sum(bucket.copies.values()) if bucket is not None else 0
        self.new_pairs = before * arriving + arriving * (arriving - 1) / 2.0
        for key, posts in (bucket.copies.items() if bucket is not None else ()):
            entry = active.get(key)
            if entry is None:
                active[key] = [posts, now]
                fresh += posts - 1
            else:
                entry[0] += posts
                entry[1] = now
                fresh += posts
        self.fresh = fresh
        if len(active) > MAX_ACTIVE:
            # Keep the keys with copies, then the most recent.
            ranked = sorted(active.items(), key=lambda kv: (kv[1][0] > 1, kv[1][1]), reverse=True)
            self.state.active = dict(ranked[:MAX_ACTIVE])
        posts = copies = 0
        for count, _last in self.state.active.values():
            posts += count
            copies += count - 1
        self.posts = posts
        return copies

    def _expected(self) -> float:
        m = self.posts
        return max(m * (m - 1) / 2.0, 1.0) * self.pair_rate

    def score(self, f: Frame) -> Test:
        copies = self._advance(f)
        firing = self.key in f.firing
        if not f.warmed and not firing:
            return Test(0.0, self.window_index, False, True)
        p = self.params
        if not firing and copies < p.copy_min_posts:
            return Test(0.0, self.window_index, False, True)
        expected = self._expected()
        z = exact_count_z(copies, expected, COPY_DISPERSION)
        hot = (f.warmed and z >= p.z_fire and copies >= p.copy_min_posts and copies >= p.copy_min_ratio * expected
               and self._share_not_down(f))
        return Test(z, self.window_index, hot, z < p.resolve_z)

    def _share_not_down(self, f: Frame) -> bool:
        sums = self.baseline.sums
        if self.window_index >= len(sums):
            return True
        total, negative = sums[self.window_index][0], sums[self.window_index][1]
        return negative >= total * f.count_share

    def learn(self, f: Frame, tone_learns: bool, volume_learns: bool) -> None:
        if not (tone_learns and volume_learns) or self.new_pairs <= 0.0:
            return
        keep = 1.0 - self.baseline.a_level
        s = self.state
        # One template burst must not make the next flood look ordinary.
        fresh = min(self.fresh, 4.0 + 4.0 * self.new_pairs * self.pair_rate)
        s.copies = s.copies * keep + fresh
        s.pairs = s.pairs * keep + self.new_pairs

    def _texts(self) -> tuple[int, int]:
        counts = [posts for posts, _last in self.state.active.values() if posts > 1]
        return len(counts), max(counts, default=0)

    def describe(self, f: Frame, test: Test, w: dict[str, Any]) -> Description:
        p = self.params
        copies = sum(posts - 1 for posts, _last in self.state.active.values())
        expected = self._expected()
        texts, most = self._texts()
        critical = test.z >= p.z_critical and copies >= p.critical_ratio * max(expected, 1.0)
        return Description(float(copies), expected, critical,
                           "exact negative-binomial tail of negative posts repeating the words of an earlier one "
                           "(not reposts) within 15 minutes, against chance copies among that many posts",
                           {"copied_posts": int(copies), "copied_texts": texts, "most_copies_of_one_text": most,
                            "expected_copies": round(expected, 4), "posts_of_active_texts": self.posts,
                            "chance_copies_per_pair": round(self.pair_rate, 6)})

    def summary(self, facts: dict[str, Any], minutes: float) -> str:
        e = facts["evidence"]
        return (f"{int(facts['value'])} negative posts repeat the words of an earlier one within "
                f"{COPY_WINDOW / 60:g} min ({e['copied_texts']} texts, one {e['most_copies_of_one_text']} times) vs "
                f"{facts['baseline']:.1f} expected, z={facts['z']:.1f}")

    def z_per_window(self, f: Frame) -> list[float]:
        copies = sum(posts - 1 for posts, _last in self.state.active.values())
        return [round(exact_count_z(copies, self._expected(), COPY_DISPERSION), 3) if i == self.window_index else 0.0
                for i in range(len(self.baseline.sums))]
