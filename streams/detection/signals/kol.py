"""``kol``: a negative post about the brand from an account far above its usual reach.

The seed articles' "watch the opinion leaders": one negative post from an
account with millions of followers moves a small brand's reputation before
any count does. Each bucket carries its most-followed negative author
(``Bucket.kol``). The signal sorts accounts into tiers of half a decade of
followers (a verified account counts ~3x) and keeps, per tier, the
discounted number of buckets whose top negative author reached at least that
tier (half-life 28 days) over the discounted number of buckets: the brand's
rate of negative posts from accounts that big. A negative post opens an
alert when that rate, times a week, is at most ``kol_max_per_week`` (and the
account has at least ``kol_min_followers``): a post the brand sees at most
once every few weeks. On a stationary stream that bounds the false KOL
alerts per brand-week by ``kol_max_per_week``; a big brand whose critics
include big accounts every day is never paged for one of them.

The rate starts from a prior worth one day of history: the brand's
negative posts a week times the share of posts from accounts that big on a
platform where 2 % of posts come from accounts with 10**5 followers or more
and the share falls in proportion to followers above that (a power-law tail
of exponent 1, Zipf's law, the usual first description of follower counts:
each half-decade holds ``10**-0.5`` as many). So a young brand does not page
for a 300,000-follower critic, a brand a few days old already knows that a
fifty-million-follower critic is rare, and a brand whose big critics are
routine learns it within days. Tiers run to 10**9 followers: a tier that
lumped every account above 10**7.5 together made a 70-million-follower
critic as ordinary as the 10-million ones a mid-size brand sees weekly.

The reaction, when the post itself is misread. A sentiment model misreads
about one post in five, and the KOL's post is one post: read as not
negative, it never reaches the test above. So the signal also watches, for
``WATCH_HOURS``, the story of any post (whatever its tone) from an account
that big and that rare (``Bucket.big``, the same rate test as if it had
been negative), and counts the reposts that spread it
(``Bucket.repost_stories``). The story is *amplified* when at least
``kol_amplify_posts`` of its reposts read negative and their share beats
the brand's usual negative share by a one-sided binomial test at
``AMPLIFY_Z`` (p <= 1 %): the public passing the story on in anger, which
a misread model still sees in the reposters' own words, and which a post
merely misread as negative (its reposts at the usual share) does not pass.
The alert then names the account and says how many reposts read negative.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from streams.detection.baseline import Frame
from streams.detection.signals.base import Description, Signal, Test
from streams.detection.stats import binomial_upper_tail, tail_z

TIERS = 13  # half-decades from 10**3 to 10**9 followers
FIRST_TIER_LOG10 = 3.0
HALF_LIFE_DAYS = 28.0
PRIOR_BIG_SHARE = 0.02  # share of posts from accounts with >= 10**5 followers (tier 4) ...
PRIOR_TIER_FACTOR = 10 ** -0.5  # ... and each half-decade above holds 10**-0.5 as many (Zipf)
PRIOR_DAYS = 1.0  # the prior is worth this much history
WEEK = 7 * 86400.0
WATCH_HOURS = 2.0  # a big account's story is watched this long for a negative reaction
MAX_WATCHED = 4  # stories watched at once (the oldest leaves first)
AMPLIFY_Z = 2.33  # the reposts' negative share beats the usual one at p <= 1 %


def reaction_z(negative: int, reposts: int, usual_share: float) -> float:
    """How far a watched story's reposts read negative above the brand's usual
    share: the one-sided exact binomial tail, as a normal z. The test is
    looked at again as reposts arrive, so the chance that a story read at
    the usual share ever passes is above the one-look p-value
    (bench/kol_reaction_null.py measures it)."""
    return tail_z(binomial_upper_tail(negative, reposts, usual_share))


def tier(followers: float, verified: bool) -> int:
    """Half-decades of (verified-weighted) followers above 10**3; -1 below."""
    weight = followers * (3.0 if verified else 1.0)
    if weight < 10 ** FIRST_TIER_LOG10:
        return -1
    return min(TIERS - 1, int((math.log10(weight) - FIRST_TIER_LOG10) * 2.0))


def tier_followers(k: int) -> int:
    """The followers (verified-weighted) at which tier ``k`` starts."""
    return int(10 ** (FIRST_TIER_LOG10 + k / 2))


@dataclass
class KolState:
    # Discounted buckets whose top negative author reached at least tier k.
    counts: list[float] = field(default_factory=lambda: [0.0] * TIERS)
    buckets: float = 0.0  # discounted buckets seen
    last: dict[str, Any] = field(default_factory=dict)  # the account behind the current test
    # Stories of big, rare accounts watched for a negative reaction:
    # {"story", "id", "author", "followers", "verified", "per_week", "since", "until", "reposts",
    # "negative", and "share_z" once amplified}.
    watched: list[dict[str, Any]] = field(default_factory=list)


class Kol(Signal):
    name = "kol"
    State = KolState
    single_bucket = True  # one post: hot in the bucket it arrives in

    def derive(self) -> None:
        size = self.baseline.size or 60.0
        self.keep = 0.5 ** (size / (HALF_LIFE_DAYS * 86400.0))
        self.prior_buckets = PRIOR_DAYS * 86400.0 / size
        self.week_buckets = WEEK / size
        counts = self.state.counts
        if len(counts) < TIERS:
            # A state saved with fewer tiers: its top tier counted every
            # account above it, so the new tiers start from that count (the
            # conservative side: nothing looks rarer than it was).
            self.state.counts = list(counts) + [counts[-1] if counts else 0.0] * (TIERS - len(counts))
        elif len(counts) > TIERS:
            self.state.counts = list(counts[:TIERS])

    def rate(self, k: int, f: Frame) -> float:
        """Expected buckets a week with a negative post from tier k or above."""
        s = self.state
        negative_per_bucket = max(self.baseline.volume.level * f.base_share, 1e-4)
        share = min(1.0, PRIOR_BIG_SHARE * PRIOR_TIER_FACTOR ** (k - 4))
        prior = negative_per_bucket * share * self.prior_buckets  # expected such buckets in PRIOR_DAYS
        return (s.counts[k] + prior) / (s.buckets + self.prior_buckets) * self.week_buckets

    def _rare(self, account: dict[str, Any], f: Frame) -> tuple[bool, float, int]:
        """Whether a negative post from ``account`` would page: (rare, per week, tier)."""
        followers = float(account.get("followers", 0) or 0)
        k = tier(followers, bool(account.get("verified", False)))
        if k < 0:
            return False, math.inf, k
        per_week = self.rate(k, f)
        return (per_week <= self.params.kol_max_per_week and followers >= self.params.kol_min_followers,
                per_week, k)

    @staticmethod
    def _surprise(per_week: float) -> float:
        """How surprising one such post is in a week, as a normal z."""
        return tail_z(-math.expm1(-per_week)) if per_week > 0 else 8.0

    def score(self, f: Frame) -> Test:
        bucket = f.bucket
        if bucket is None or not f.warmed:
            if self.state.watched:
                self.state.watched = []
            return Test(0.0, 0, False, True)
        amplified = self._watch(f) if (bucket.big or self.state.watched) else None
        account = bucket.kol
        per_week = math.inf  # no negative post from an account of any tier: nothing surprising
        if account:
            rare, per_week, k = self._rare(account, f)
            if rare:
                self.state.last = {**{k2: account.get(k2) for k2 in ("id", "author", "followers", "verified",
                                                                      "reposts")},
                                   "per_week": round(per_week, 4),
                                   "tier_followers": tier_followers(k), "path": "post"}
                return Test(self._surprise(per_week), 0, True, False)
        if amplified is not None:
            self.state.last = amplified
            return Test(self._surprise(amplified["per_week"]), 0, True, False)
        return Test(self._surprise(per_week), 0, False, True)

    def _watch(self, f: Frame) -> dict[str, Any] | None:
        """Add this bucket's big account to the watched stories if it is rare
        enough, count the reposts of every watched story, and return the
        first amplified one (as ``last``), if any."""
        bucket = f.bucket
        assert bucket is not None
        now = bucket.start + bucket.size
        watched = [w for w in self.state.watched if w["until"] > bucket.start]
        big = bucket.big
        # Most buckets' biggest account is far below kol_min_followers: the cheap test first.
        if (big and (big.get("followers", 0) or 0) >= self.params.kol_min_followers and big.get("story")
                and all(w["story"] != big["story"] for w in watched)):
            rare, per_week, _ = self._rare(big, f)
            if rare:
                watched.append({"story": str(big["story"]), "id": big.get("id", ""), "author": big.get("author", ""),
                                "followers": int(big.get("followers", 0) or 0),
                                "verified": bool(big.get("verified", False)), "per_week": round(per_week, 4),
                                "since": bucket.start, "until": now + WATCH_HOURS * 3600.0,
                                "reposts": 0, "negative": 0})
                del watched[:-MAX_WATCHED]
        found: dict[str, Any] | None = None
        p0 = f.count_share
        for w in watched:
            counts = bucket.repost_stories.get(w["story"])
            if not counts:
                continue
            w["reposts"] += counts[0]
            w["negative"] += counts[1]
            if found is None and counts[1] > 0 and w["negative"] >= self.params.kol_amplify_posts:
                # Once amplified, a story stays so while its negative reposts keep coming (the
                # exact tail walks up to 100,000 reposts: not again each bucket for a big story).
                z = w.get("share_z") or reaction_z(int(w["negative"]), int(w["reposts"]), p0)
                if z >= AMPLIFY_Z:
                    w["share_z"] = round(z, 3)
                    found = {"id": w["id"], "author": w["author"], "followers": w["followers"],
                             "verified": w["verified"], "reposts": 0, "per_week": w["per_week"],
                             "seen_reposts": w["reposts"],
                             "tier_followers": tier_followers(tier(w["followers"], w["verified"])),
                             "path": "reposts",
                             "negative_reposts": w["negative"], "share_z": round(z, 3),
                             "minutes": round((now - w["since"]) / 60.0, 1)}
        self.state.watched = watched
        return found

    def learn(self, f: Frame, tone_learns: bool, volume_learns: bool) -> None:
        s = self.state
        keep = self.keep
        s.buckets = s.buckets * keep + 1.0
        bucket = f.bucket
        account = bucket.kol if bucket is not None else None
        top = tier(float(account.get("followers", 0) or 0), bool(account.get("verified", False))) if account else -1
        counts = s.counts
        for k in range(TIERS):
            counts[k] = counts[k] * keep + (1.0 if k <= top else 0.0)

    def describe(self, f: Frame, test: Test, w: dict[str, Any]) -> Description:
        last = self.state.last
        followers = float(last.get("followers", 0) or 0)
        usual = last.get("per_week", 0.0)
        critical = test.z >= self.params.z_critical
        test_text = ("reposts of a post from an account far above the brand's usual reach read negative more "
                     "often than the brand's posts (one-sided binomial test)" if last.get("path") == "reposts" else
                     "negative post from an account far above the brand's usual reach")
        return Description(followers, float(last.get("tier_followers", 0)), critical,
                           test_text + " (rate of such posts learned per follower tier)",
                           {"window_buckets": 1, "account": last.get("author", ""), "account_followers": int(followers),
                            "account_verified": bool(last.get("verified", False)), "post_id": last.get("id", ""),
                            "post_reposts": int(last.get("reposts", 0) or 0),
                            "usual_per_week": usual, "kol_max_per_week": self.params.kol_max_per_week,
                            **({"path": "reposts", "negative_reposts": int(last.get("negative_reposts", 0)),
                                "reposts_seen": int(last.get("seen_reposts", 0)),
                                "reposts_share_z": last.get("share_z", 0.0),
                                "watched_minutes": last.get("minutes", 0.0)}
                               if last.get("path") == "reposts" else {"path": "post"})})

    def summary(self, facts: dict[str, Any], minutes: float) -> str:
        e = facts["evidence"]
        mark = ", verified" if e.get("account_verified") else ""
        if e.get("path") == "reposts":
            return (f"{e.get('negative_reposts', 0)} of {e.get('reposts_seen', 0)} reposts of a post by "
                    f"{e.get('account', '?')} ({e.get('account_followers', 0):,} followers{mark}) read negative "
                    f"within {e.get('watched_minutes', 0):g} min; accounts that big post negatively about the brand "
                    f"{e.get('usual_per_week', 0):.2f}x a week")
        return (f"negative post by {e.get('account', '?')} ({e.get('account_followers', 0):,} followers{mark}); "
                f"accounts that big post negatively about the brand {e.get('usual_per_week', 0):.2f}x a week")
