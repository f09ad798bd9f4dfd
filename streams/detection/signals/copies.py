"""``copy_flood``: the same words posted again and again, not reposted.

A bot flood or a copied complaint template shows itself in *how* the posts
are written, whatever the sentiment model makes of them: many posts with
the same words (one story key, streams.sentiment.preprocess.story_key) that
are not reposts. On the real-text scenarios a flood on a brand's busiest
hour added 40 % to its volume and was read only 66 % negative (one of its
three scripted texts read positive), so no count or share test saw it
(docs/benchmarks.md, "The day's own tone").

Per bucket the brand's negative non-repost posts arrive per story key
(``Bucket.copies``). A text posted once is remembered for 15 minutes; a
text posted again keeps its *recent* posts, decayed with a half-life of
``COPY_HALF_LIFE`` (7.5 minutes); the statistic is the recent **copies**,
each copied text's recent posts beyond one.

By chance two ordinary posts share their words with a small probability
``k`` (short stock phrases: 差评, 退钱), so with ``M`` recent posts of the
active texts chance alone makes about ``k M (M - 1) / 2`` copies: more posts (a
news day, a viral hour) make more chance copies, by the square. ``k`` is
learned from ordinary buckets as copies per new pair of posts (discounted
sums with the baseline's half-life, prior 0.1 % worth 10,000 pairs). The
tail is exact and very overdispersed (inverse shape ``COPY_DISPERSION``:
copies come in clumps, one ordinary template is many copies). Hot at
``z_fire`` with at least ``copy_min_posts`` copies and ``copy_min_ratio``
times the expected, after the warm-up, while the brand's recent negative
share (decayed the same way, so over the span the copies come from) is at
least the usual: copies of a slogan in a wave of praise that the model
misreads are not an attack; and only in a bucket that brought new copies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streams.detection.baseline import Frame
from streams.detection.signals.base import Description, Signal, Test
from streams.detection.stats import exact_count_z

COPY_HALF_LIFE = 450.0  # seconds: a copied text's recent posts count half after this long
SINGLE_SECONDS = 900.0  # a text posted once is remembered this long
DROP_BELOW = 0.25  # a copied text whose recent posts decayed below this is forgotten
COPY_DISPERSION = 1.0
PRIOR_PAIR_RATE = 0.001  # chance copies per pair of posts, before the brand's own are learnt
PRIOR_PAIR_WEIGHT = 10_000.0
MAX_SINGLES = 64  # texts posted once, kept (the oldest go first)
MAX_COPIED = 32  # copied texts kept (the least recent posts go first)


@dataclass
class CopyState:
    # Texts (story keys) posted once recently: {key: bucket index}, oldest
    # first. Most negative posts are such texts, so they cost no decay: they
    # leave in order when older than SINGLE_SECONDS.
    singles: dict[str, int] = field(default_factory=dict)
    # Copied texts: their recent posts, decayed with COPY_HALF_LIFE and
    # rounded to 4 decimals as they are computed (a short state).
    active: dict[str, float] = field(default_factory=dict)
    # The brand's recent negative and all posts, decayed the same way: the
    # share over the span the copies come from.
    recent: list[float] = field(default_factory=lambda: [0.0, 0.0])
    copies: float = 0.0  # discounted copies of ordinary buckets
    pairs: float = 0.0  # discounted new pairs of posts of ordinary buckets


class CopyFlood(Signal):
    name = "copy_flood"
    State = CopyState

    def derive(self) -> None:
        b = self.baseline
        size = b.size or 60.0
        self.decay = 0.5 ** (size / COPY_HALF_LIFE)
        self.single_buckets = max(1, int(round(SINGLE_SECONDS / size)))
        windows = b.windows or [1]
        target = SINGLE_SECONDS / size
        self.window_index = min(range(len(windows)), key=lambda i: abs(windows[i] - target))
        self.fresh = 0  # copies in the current bucket (for learning)
        self.new_pairs = 0.0  # pairs the current bucket's posts made with the recent ones and each other
        self.posts = 0.0  # recent posts of the remembered texts
        self.copies = 0.0  # recent copies (the statistic), as of the last bucket

    @property
    def pair_rate(self) -> float:
        s = self.state
        return (s.copies + PRIOR_PAIR_RATE * PRIOR_PAIR_WEIGHT) / (s.pairs + PRIOR_PAIR_WEIGHT)

    def _advance(self, f: Frame) -> float:
        """Age the remembered texts and add the frame's bucket; returns the recent copies."""
        s = self.state
        now = f.seen
        singles = s.singles
        oldest = now - self.single_buckets
        while singles:
            key = next(iter(singles))
            if singles[key] > oldest:
                break
            del singles[key]
        q = self.decay
        active = s.active
        if active:
            active = {k: round(c * q, 4) for k, c in active.items() if c * q >= DROP_BELOW}
        before = len(singles) + sum(active.values())
        fresh = 0
        bucket = f.bucket
        copies_in = bucket.copies if bucket is not None else {}
        arriving = sum(copies_in.values()) if copies_in else 0
        self.new_pairs = before * arriving + arriving * (arriving - 1) / 2.0
        for key, posts in copies_in.items():
            count = active.get(key)
            if count is not None:
                active[key] = round(count + posts, 4)
                fresh += posts
            elif key in singles:
                del singles[key]
                active[key] = float(posts + 1)
                fresh += posts
            elif posts > 1:
                active[key] = float(posts)
                fresh += posts - 1
            else:
                singles[key] = now
        self.fresh = fresh
        while len(singles) > MAX_SINGLES:
            del singles[next(iter(singles))]
        if len(active) > MAX_COPIED:
            active = dict(sorted(active.items(), key=lambda kv: kv[1], reverse=True)[:MAX_COPIED])
        s.active = active
        recent = s.recent
        recent[0] = round(recent[0] * q + f.negative, 4)
        recent[1] = round(recent[1] * q + f.total, 4)
        posts = float(len(singles))
        copies = 0.0
        for count in active.values():
            posts += count
            if count > 1.0:
                copies += count - 1.0
        self.posts = posts
        self.copies = copies
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
        # Copies must still be arriving: the decayed remains of a wave that
        # has ended do not open an alert.
        hot = (f.warmed and self.fresh > 0 and z >= p.z_fire and copies >= p.copy_min_posts
               and copies >= p.copy_min_ratio * expected and self._share_not_down(f))
        return Test(z, self.window_index, hot, z < p.resolve_z)

    def _share_not_down(self, f: Frame) -> bool:
        negative, total = self.state.recent
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
        counts = [c for c in self.state.active.values() if c >= 2.0]
        return len(counts), int(max(counts, default=0.0))

    def describe(self, f: Frame, test: Test, w: dict[str, Any]) -> Description:
        p = self.params
        copies = self.copies
        expected = self._expected()
        texts, most = self._texts()
        critical = test.z >= p.z_critical and copies >= p.critical_ratio * max(expected, 1.0)
        return Description(round(copies, 1), expected, critical,
                           "exact negative-binomial tail of negative posts repeating the words of an earlier one "
                           "(not reposts), decayed with a half-life of 7.5 minutes, against chance copies among that many posts",
                           {"copied_posts": int(round(copies)), "copied_texts": texts, "most_copies_of_one_text": most,
                            "expected_copies": round(expected, 4), "recent_posts_of_these_texts": round(self.posts, 1),
                            "chance_copies_per_pair": round(self.pair_rate, 6)})

    def summary(self, facts: dict[str, Any], minutes: float) -> str:
        e = facts["evidence"]
        return (f"{int(facts['value'])} recent negative posts repeat the words of an earlier one "
                f"({e['copied_texts']} texts, one {e['most_copies_of_one_text']} times) vs "
                f"{facts['baseline']:.1f} expected, z={facts['z']:.1f}")

    def z_per_window(self, f: Frame) -> list[float]:
        copies = self.copies
        return [round(exact_count_z(copies, self._expected(), COPY_DISPERSION), 3) if i == self.window_index else 0.0
                for i in range(len(self.baseline.sums))]
