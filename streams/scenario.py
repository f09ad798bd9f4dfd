"""Synthetic, labeled scenarios of brand posts: ``koubei scenario``.

A scenario is a stream of Weibo-like posts about a few fictional brands plus
a sidecar of labels saying when each brand had a crisis (or a harmless
spike) and whether a negative alert is the right answer. The demo, the
integration tests and the detection benchmark all replay scenarios made here,
so the generator aims at the properties a detector is sensitive to rather
than at pretty text:

* volume follows a day: low at night, a noon and an evening peak, a little
  more at the weekend; every minute's count is Poisson around that curve,
  and the level wanders from hour to hour (real traffic is overdispersed);
* calm traffic is mostly neutral or positive with a normal share of
  complaints, and ordinary posts sometimes get a small burst of reposts;
* reach is heavy-tailed: many accounts with a few hundred followers, a few
  verified "big V" accounts with millions, and engagement that grows with
  reach;
* events have a shape in time (sudden, slow burn, flat-topped bot flood)
  and their own vocabulary (see ``streams.scenario_texts``).

Everything is drawn from one ``random.Random(seed)``, so a (kind, seed,
start, days, brands, scale) tuple always gives byte-identical files.

Bot floods are labeled ``negative_alert``: near-identical posts from many
new, tiny accounts are a coordinated negative campaign, and a PR team wants
to hear about it. The alert's evidence (its top posts: same text, authors
with a handful of followers) is what tells the team it is a campaign rather
than customers, so the generator marks bot accounts only in ``raw`` (which
the pipeline never reads) and the labels, never in the text.
"""

from __future__ import annotations

import json
import math
import random
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from streams import scenario_texts as bank
from streams.scenario_texts import BrandProfile

KINDS = ("demo", "sudden", "slow_burn", "night", "bot_flood", "positive_viral", "news_day", "calm_month")
NEGATIVE_ALERT = "negative_alert"
NO_NEGATIVE_ALERT = "no_negative_alert"
LABELS_FORMAT = 1
BEIJING = timezone(timedelta(hours=8))
DEFAULT_START = datetime(2026, 3, 2, tzinfo=BEIJING)  # a Monday
DEFAULT_BRANDS = ("chenguang", "xinghe", "yunfan", "qinghe")
SOURCE = "weibo-sim"
DEMO_SEED = 20260302

# Posts per brand per (average) day at scale 1. Chosen so the demo day holds
# about ten thousand posts: enough for a baseline, small enough to replay and
# score in about a minute.
DAILY_VOLUME = {"xinghe": 3400, "chenguang": 2200, "yunfan": 1800, "qinghe": 1600}

# Relative volume by local hour (Beijing): trough at 4-5 a.m., peaks at lunch
# and 20-22 h, the usual shape of Chinese social media traffic.
HOURLY = (
    0.42, 0.26, 0.15, 0.09, 0.07, 0.08, 0.16, 0.38, 0.66, 0.86, 0.95, 1.05,
    1.30, 1.18, 0.98, 0.92, 0.94, 1.00, 1.08, 1.22, 1.38, 1.42, 1.20, 0.80,
)
_HOURLY_MEAN = sum(HOURLY) / len(HOURLY)
WEEKDAY = (1.0, 0.97, 0.98, 1.0, 1.06, 1.16, 1.12)  # Monday first

# What calm posts are about (weights). With SnowNLP as the scorer this gives
# roughly 15-25 % negative posts, which matches what brand monitors report.
CALM_TOPICS = (("praise", 0.30), ("complaint", 0.20), ("news", 0.17), ("question", 0.15),
               ("repost", 0.10), ("reply", 0.08))
ASPECT_WEIGHTS = (("quality", 0.28), ("service", 0.22), ("refund", 0.14), ("safety", 0.08),
                  ("price", 0.16), ("delivery", 0.12))


@dataclass(frozen=True)
class EventSpec:
    """One labeled event for one brand: when, how big, what shape, what is expected."""

    brand: str
    kind: str  # crisis | slow_burn | bot_flood | positive_viral | news_day
    onset: datetime
    end: datetime
    peak_per_minute: float  # extra posts per minute at the peak
    ramp_minutes: float  # from onset to peak
    plateau_minutes: float  # at the peak
    expected: str
    description: str
    # Shape of the rise: 1 = linear, 2 = quadratic (a slow burn creeps: it
    # is barely visible for the first hour and then accelerates).
    ramp_power: float = 1.0

    def rate(self, t: datetime) -> float:
        """Extra posts per minute at ``t`` (0 outside the event)."""
        if t < self.onset or t >= self.end:
            return 0.0
        minutes = (t - self.onset).total_seconds() / 60.0
        if minutes < self.ramp_minutes:
            return self.peak_per_minute * ((minutes + 1.0) / (self.ramp_minutes + 1.0)) ** self.ramp_power
        minutes -= self.ramp_minutes
        if minutes < self.plateau_minutes:
            return self.peak_per_minute
        minutes -= self.plateau_minutes
        remaining = (self.end - self.onset).total_seconds() / 60.0 - self.ramp_minutes - self.plateau_minutes
        # Exponential decay that reaches ~5 % of the peak at the labeled end.
        tau = max(remaining, 1.0) / 3.0
        return self.peak_per_minute * math.exp(-minutes / tau)


@dataclass(frozen=True)
class ScenarioSpec:
    kind: str
    seed: int
    start: datetime
    days: float
    brands: tuple[str, ...]
    scale: float
    events: tuple[EventSpec, ...]

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)


@dataclass
class Scenario:
    spec: ScenarioSpec
    posts: list[dict[str, Any]]
    labels: dict[str, Any]


@dataclass
class _Author:
    id: str
    name: str
    followers: int
    verified: bool
    kind: str = "user"  # user | big_v | bot


@dataclass
class _Generator:
    spec: ScenarioSpec
    rng: random.Random
    users: list[_Author] = field(default_factory=list)
    big_vs: list[_Author] = field(default_factory=list)
    bots: list[_Author] = field(default_factory=list)
    posts: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    recent_texts: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    bot_scripts: dict[str, list[str]] = field(default_factory=dict)
    traps: int = 0


def _parse_start(value: str | datetime | None) -> datetime:
    if value is None:
        return DEFAULT_START
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"--start: not an ISO-8601 time: {value!r}") from None
    if parsed.tzinfo is None:
        # Scenario clocks are Beijing time unless told otherwise: the bank is
        # Chinese social media and the diurnal curve is local.
        parsed = parsed.replace(tzinfo=BEIJING)
    return parsed.astimezone(BEIJING)


def plan_scenario(kind: str, seed: int = 1, start: str | datetime | None = None, days: float | None = None,
                  brands: Sequence[str] | None = None, scale: float = 1.0) -> ScenarioSpec:
    """Decide the scenario's brands, length and labeled events (no posts yet).

    The FIRST brand listed gets the event of the kind; the others stay calm.
    Events are placed on the last simulated day so that everything before is
    history a detector can learn from.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown scenario kind {kind!r}; choose one of {', '.join(KINDS)}")
    chosen = tuple(brands) if brands else DEFAULT_BRANDS
    unknown = [b for b in chosen if b not in bank.PROFILES]
    if unknown:
        raise ValueError(f"unknown brand(s) {', '.join(unknown)}; the phrase bank has {', '.join(bank.PROFILES)}")
    if len(set(chosen)) != len(chosen):
        raise ValueError("--brands lists a brand twice")
    if not (0.01 <= scale <= 100):
        raise ValueError(f"--scale must be between 0.01 and 100, got {scale}")
    default_days = {"demo": 1.0, "calm_month": 30.0}.get(kind, 2.0)
    length = float(days) if days is not None else default_days
    if not (0.25 <= length <= 366):
        raise ValueError(f"--days must be between 0.25 and 366, got {length}")
    begin = _parse_start(start)
    last_day = begin + timedelta(days=max(math.ceil(length) - 1, 0))
    last_day = last_day.replace(hour=0, minute=0, second=0, microsecond=0)

    def at(hour: int, minute: int) -> datetime:
        return max(last_day + timedelta(hours=hour, minutes=minute), begin)

    target = chosen[0]
    name = bank.PROFILES[target].name
    events: list[EventSpec] = []
    # Peaks in posts/minute at scale 1; the background for a mid-size brand
    # at noon is about 2/minute.
    if kind in ("demo", "sudden"):
        onset = at(13, 7) if kind == "demo" else at(10, 23)
        events.append(EventSpec(target, "crisis", onset, onset + timedelta(minutes=100), 22.0 * scale, 3, 30,
                                NEGATIVE_ALERT, f"sudden crisis: {name} exposé goes viral, then subsides"))
    elif kind == "slow_burn":
        onset = at(9, 30)
        events.append(EventSpec(target, "slow_burn", onset, onset + timedelta(hours=7), 8.0 * scale, 240, 60,
                                NEGATIVE_ALERT, f"slow burn: complaints about {name} creep up for four hours",
                                ramp_power=2.0))
    elif kind == "night":
        onset = at(2, 4)
        events.append(EventSpec(target, "crisis", onset, at(4, 0), 5.0 * scale, 4, 45,
                                NEGATIVE_ALERT, f"night-time crisis: {name} incident at 2 a.m., low volume"))
    elif kind == "bot_flood":
        onset = at(15, 41)
        events.append(EventSpec(target, "bot_flood", onset, onset + timedelta(minutes=45), 14.0 * scale, 2, 40,
                                NEGATIVE_ALERT, f"bot flood: near-identical attacks on {name} from new tiny accounts"))
    elif kind == "positive_viral":
        onset = at(11, 32)
        events.append(EventSpec(target, "positive_viral", onset, onset + timedelta(hours=3), 45.0 * scale, 10, 60,
                                NO_NEGATIVE_ALERT, f"positive viral spike: {name} praised for a donation"))
    elif kind == "news_day":
        onset = at(9, 0)
        events.append(EventSpec(target, "news_day", onset, at(23, 59), 5.0 * scale, 60, 14 * 60 - 60,
                                NO_NEGATIVE_ALERT, f"news day: {name} product launch, high volume, normal tone"))
    finish = begin + timedelta(days=length)
    for event in events:
        if event.onset >= finish - timedelta(minutes=30):
            raise ValueError(f"--days {length:g} is too short for {kind}: its event starts at "
                             f"{event.onset.isoformat()}, after (or just before) the scenario ends")
    # An event cut short by the end of the scenario is labeled as it happens.
    events = [e if e.end <= finish else replace(e, end=finish) for e in events]
    return ScenarioSpec(kind, int(seed), begin, length, chosen, float(scale), tuple(events))


# ---------------------------------------------------------------- randomness

def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam < 30:
        # Knuth: exact and cheap for the small per-minute means used here.
        limit = math.exp(-lam)
        k, p = 0, rng.random()
        while p > limit:
            k += 1
            p *= rng.random()
        return k
    return max(0, int(round(rng.gauss(lam, math.sqrt(lam)))))


def _weighted(rng: random.Random, pairs: Sequence[tuple[str, float]]) -> str:
    total = sum(w for _, w in pairs)
    x = rng.random() * total
    for item, weight in pairs:
        x -= weight
        if x <= 0:
            return item
    return pairs[-1][0]


def _nickname(rng: random.Random) -> str:
    style = rng.random()
    if style < 0.2:
        return "用户" + "".join(rng.choice(string.digits) for _ in range(10))
    name = rng.choice(bank.FIRST_NAMES) + rng.choice(bank.NAME_PARTS)
    if style < 0.55:
        name += str(rng.randint(1, 9999))
    return name


def _make_accounts(rng: random.Random, count: int, user_id: tuple[str, int],
                   big_v_id: tuple[str, int]) -> tuple[list[_Author], list[_Author]]:
    """``count`` ordinary accounts and 40 big V accounts; ids are a prefix
    and a base number ((prefix, base)), so two generators' accounts differ."""
    users: list[_Author] = []
    for i in range(count):
        # log10(followers) ~ N(2.1, 0.85): median ~ 125 followers, 1 in 40
        # above 5,000; verified accounts are rarer at the bottom.
        followers = int(10 ** min(max(rng.gauss(2.1, 0.85), 0.0), 5.5))
        verified = rng.random() < (0.01 if followers < 10_000 else 0.35)
        users.append(_Author(f"{user_id[0]}{user_id[1] + i * 7919}", _nickname(rng), followers, verified))
    big_vs: list[_Author] = []
    for i in range(40):
        followers = int(10 ** rng.uniform(5.0, 6.9))
        name = rng.choice(bank.BIG_V_NAMES).format(city=rng.choice(bank.CITIES))
        big_vs.append(_Author(f"{big_v_id[0]}{big_v_id[1] + i * 104_729}", name, followers, rng.random() < 0.85,
                              "big_v"))
    return users, big_vs


def _make_users(gen: _Generator, count: int) -> None:
    users, big_vs = _make_accounts(gen.rng, count, ("u", 5_000_000_000), ("v", 1_900_000_000))
    gen.users.extend(users)
    gen.big_vs.extend(big_vs)


def _pick_active(rng: random.Random, users: list[_Author]) -> _Author:
    # u**2 skews picks toward the start of the pool: a minority of accounts
    # writes most posts, as on every platform.
    u = rng.random()
    return users[int(len(users) * u * u)]


def _pick_user(gen: _Generator) -> _Author:
    return _pick_active(gen.rng, gen.users)


def _new_bot(gen: _Generator) -> _Author:
    rng = gen.rng
    if gen.bots and rng.random() < 0.35:
        return rng.choice(gen.bots)  # some bots post twice or three times
    bot = _Author(f"b{7_700_000_000 + len(gen.bots) * 31}", "用户" + "".join(rng.choice(string.digits) for _ in range(10)),
                  rng.randint(0, 25), False, "bot")
    gen.bots.append(bot)
    return bot


# ---------------------------------------------------------------- text

def _fill(gen: _Generator, template: str, profile: BrandProfile) -> str:
    rng = gen.rng
    return template.format(
        b=rng.choice(profile.mentions),
        p=rng.choice(profile.products),
        n=rng.randint(2, 9),
        price=rng.choice((39, 99, 199, 699, 1299, 1999, 2999, 3999)),
        city=rng.choice(bank.CITIES),
        u=_nickname(rng),
    )


def _decorate(gen: _Generator, text: str, tone: str, profile: BrandProfile, crisis: bool = False) -> str:
    rng = gen.rng
    if tone == "neg":
        emoticons, tails = bank.NEG_EMOTICONS, bank.NEG_TAILS
    elif tone == "pos":
        emoticons, tails = bank.POS_EMOTICONS, bank.POS_TAILS
    else:
        emoticons, tails = bank.NEUTRAL_EMOTICONS, bank.NEUTRAL_TAILS
    if rng.random() < 0.3:
        tail = rng.choice(tails)
        if tail:
            text = f"{text}，{tail}" if not text.endswith(("！", "？", "]", "!")) else f"{text} {tail}"
    if rng.random() < 0.35:
        text += rng.choice(emoticons) * (2 if rng.random() < 0.2 else 1)
    hashtags = profile.crisis_hashtags if crisis and profile.crisis_hashtags else profile.hashtags
    roll = rng.random()
    if roll < 0.12:
        text = f"{rng.choice(hashtags)}{text}"
    elif roll < 0.25:
        text = f"{text} {rng.choice(hashtags)}"
    if rng.random() < 0.07:
        text += " http://t.cn/A6" + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(6))
    if rng.random() < 0.03:
        text = text.translate(bank.TRADITIONAL)
    return text


def _remember(gen: _Generator, brand: str, text: str, author: _Author) -> None:
    recent = gen.recent_texts.setdefault(brand, [])
    recent.append((author.name, text))
    if len(recent) > 50:
        del recent[:10]


def _calm_text(gen: _Generator, profile: BrandProfile, complaint_weight: float) -> tuple[str, str]:
    """(text, topic) for an ordinary post about the brand."""
    rng = gen.rng
    topics = [(t, complaint_weight if t == "complaint" else w) for t, w in CALM_TOPICS]
    topic = _weighted(rng, topics)
    if topic in ("repost", "reply") and not gen.recent_texts.get(profile.id):
        topic = "praise"
    if topic == "praise":
        return _decorate(gen, _fill(gen, rng.choice(profile.praise + bank.GENERIC_PRAISE), profile), "pos", profile), topic
    if topic == "complaint":
        aspect = _weighted(rng, ASPECT_WEIGHTS)
        text = _fill(gen, rng.choice(profile.complaints[aspect]), profile)
        return _decorate(gen, text, "neg", profile), f"complaint:{aspect}"
    if topic == "news":
        return _decorate(gen, _fill(gen, rng.choice(profile.news + bank.GENERIC_NEWS), profile), "neutral", profile), topic
    if topic == "question":
        return _decorate(gen, _fill(gen, rng.choice(profile.questions + bank.GENERIC_QUESTIONS), profile), "neutral", profile), topic
    name, original = rng.choice(gen.recent_texts[profile.id])
    if topic == "repost":
        comment = rng.choice(bank.REPOST_COMMENTS)
        return f"{comment}//@{name}:{original}", topic
    # Weibo's "comment and forward" shape: the reply, then the post replied to.
    reply = rng.choice(bank.REPLIES_POS if rng.random() < 0.75 else bank.REPLIES_NEG)
    return f"回复@{name}:{reply}//@{name}:{original}", topic


def _event_text(gen: _Generator, event: EventSpec, profile: BrandProfile,
                said: list[tuple[str, str]]) -> tuple[str, str, str]:
    """(text, topic, author kind) for a post that belongs to an event.

    ``said`` holds (author, text) of the event's earlier original posts:
    reposts during an event spread the event's own posts.
    """
    rng = gen.rng
    if event.kind in ("crisis", "slow_burn"):
        roll = rng.random()
        if event.kind == "slow_burn" and roll < 0.35:
            # A slow burn is mostly customers piling on with the same defect.
            aspect = rng.choice(("quality", "safety", "refund"))
            text = _fill(gen, rng.choice(profile.complaints[aspect]), profile)
            return _decorate(gen, text, "neg", profile, crisis=True), "crisis_complaint", "user"
        if roll < 0.12:
            text = _fill(gen, rng.choice(profile.crisis_news), profile)
            return _decorate(gen, text, "neutral", profile, crisis=True), "crisis_news", "big_v"
        if roll < 0.30 and said:
            name, original = rng.choice(said[-30:])
            comment = rng.choice(bank.CRISIS_REPOST_COMMENTS)
            if rng.random() < 0.3:
                middle = _nickname(rng)
                return f"{comment}//@{middle}:{rng.choice(bank.CRISIS_REPOST_COMMENTS)}//@{name}:{original}", "crisis_repost", "user"
            return f"{comment}//@{name}:{original}", "crisis_repost", "user"
        text = _fill(gen, rng.choice(profile.crisis), profile)
        author_kind = "big_v" if rng.random() < 0.04 else "user"
        return _decorate(gen, text, "neg", profile, crisis=True), "crisis", author_kind
    if event.kind == "bot_flood":
        # One campaign, one script per message: filled once, then copied.
        scripts = gen.bot_scripts.setdefault(profile.id, [_fill(gen, t, profile) for t in profile.bot_flood])
        text = rng.choice(scripts)
        # Near-identical: the campaign's script with a trivial variation so
        # that exact-duplicate filters do not catch it.
        variation = rng.choice(("", "", "！", "!!", " ", "。", rng.choice(bank.NEG_EMOTICONS), f" {rng.randint(1, 99)}"))
        return text + variation, "bot", "bot"
    if event.kind == "positive_viral":
        roll = rng.random()
        if roll < 0.2 and said:
            name, original = rng.choice(said[-30:])
            return f"{rng.choice(('感动', '支持', '转发', '必须支持', '哭了'))}//@{name}:{original}", "viral_repost", "user"
        if roll < 0.28:
            text = _fill(gen, rng.choice(bank.VIRAL_SKEPTIC), profile)
            return _decorate(gen, text, "neg", profile), "viral_skeptic", "user"
        text = _fill(gen, rng.choice(profile.viral_praise + bank.GENERIC_VIRAL), profile)
        return _decorate(gen, text, "pos", profile), "viral", "big_v" if rng.random() < 0.03 else "user"
    # news_day: a launch is talked about in the brand's normal mix of tones.
    if rng.random() < 0.5:
        text = _fill(gen, rng.choice(profile.launch + bank.GENERIC_LAUNCH), profile)
        return _decorate(gen, text, "neutral", profile), "launch", "big_v" if rng.random() < 0.05 else "user"
    text, topic = _calm_text(gen, profile, 0.20)
    return text, topic, "user"


# ---------------------------------------------------------------- posts

def _engagement(gen: _Generator, author: _Author, boost: float) -> tuple[int, int, int]:
    rng = gen.rng
    if author.kind == "bot":
        return 0, rng.randint(0, 1), rng.randint(0, 2)
    base = math.sqrt(author.followers + 1) * math.exp(rng.gauss(0.0, 1.0)) * boost
    return int(base * 0.04), int(base * 0.06), int(base * 0.3)


def _emit(gen: _Generator, when: float, author: _Author, text: str, brand: str | None,
          topic: str, role: str, boost: float = 1.0) -> None:
    reposts, comments, likes = _engagement(gen, author, boost)
    post = {
        "source": SOURCE,
        "id": "",  # assigned once posts are in time order
        "author": {"id": author.id, "name": author.name, "followers": author.followers,
                   "verified": author.verified},
        "text": text,
        "created_at": "",
        "url": "",
        "reposts": reposts,
        "comments": comments,
        "likes": likes,
        "lang": "zh",
        "raw": {"generator": "koubei-scenario", "brand": brand, "topic": topic, "role": role,
                "account": author.kind},
    }
    gen.posts.append((when, post))
    if brand is not None and role == "background" and "//@" not in text:
        _remember(gen, brand, text, author)


def _background(gen: _Generator, brand: str, profile: BrandProfile, minute_starts: Sequence[float],
                locals_: Sequence[datetime]) -> None:
    rng = gen.rng
    spec = gen.spec
    per_minute = DAILY_VOLUME[brand] * spec.scale / 1440.0 / _HOURLY_MEAN
    day_level = 1.0
    wander = 0.0
    complaint_weight = 0.20
    last_day = None
    last_hour = None
    for start, local in zip(minute_starts, locals_, strict=True):
        if local.date() != last_day:
            last_day = local.date()
            day_level = math.exp(rng.gauss(0.0, 0.08))
            complaint_weight = 0.15 * math.exp(rng.gauss(0.0, 0.15))
        if local.hour != last_hour:
            last_hour = local.hour
            wander = 0.7 * wander + rng.gauss(0.0, 0.12)
        hour_pos = local.hour + local.minute / 60.0
        h0 = int(hour_pos) % 24
        frac = hour_pos - int(hour_pos)
        curve = HOURLY[h0] * (1 - frac) + HOURLY[(h0 + 1) % 24] * frac
        lam = per_minute * curve * WEEKDAY[local.weekday()] * day_level * math.exp(wander)
        for _ in range(_poisson(rng, lam)):
            author = _pick_user(gen) if rng.random() > 0.02 else rng.choice(gen.big_vs)
            text, topic = _calm_text(gen, profile, complaint_weight)
            _emit(gen, start + rng.random() * 60.0, author, text, brand, topic, "background")
        # Now and then an ordinary post travels a little: a handful of
        # reposts within minutes. Real calm traffic has these micro-bursts.
        if rng.random() < 3.0 / 1440.0 * curve and gen.recent_texts.get(brand):
            name, original = rng.choice(gen.recent_texts[brand])
            for _ in range(rng.randint(3, 12)):
                comment = rng.choice(bank.REPOST_COMMENTS)
                _emit(gen, start + rng.random() * 600.0, _pick_user(gen), f"{comment}//@{name}:{original}",
                      brand, "cascade", "background")


def _event_posts(gen: _Generator, event: EventSpec, profile: BrandProfile) -> int:
    rng = gen.rng
    count = 0
    said: list[tuple[str, str]] = []
    t = event.onset
    step = timedelta(minutes=1)
    while t < event.end:
        for _ in range(_poisson(rng, event.rate(t))):
            text, topic, author_kind = _event_text(gen, event, profile, said)
            if author_kind == "bot":
                author = _new_bot(gen)
            elif author_kind == "big_v":
                author = rng.choice(gen.big_vs)
            else:
                author = _pick_user(gen)
            boost = 3.0 if event.kind in ("crisis", "positive_viral") else 1.0
            _emit(gen, t.timestamp() + rng.random() * 60.0, author, text, event.brand, topic,
                  "bot" if author_kind == "bot" else event.kind, boost)
            if "//@" not in text and author_kind != "bot":
                said.append((author.name, text))
            count += 1
        t += step
    return count


def _noise(gen: _Generator, minute_starts: Sequence[float], locals_: Sequence[datetime]) -> None:
    """Posts about nothing we track, and the exclusion traps."""
    rng = gen.rng
    profiles = [bank.PROFILES[b] for b in gen.spec.brands]
    per_minute = 0.05 * sum(DAILY_VOLUME[b] for b in gen.spec.brands) * gen.spec.scale / 1440.0
    for start, local in zip(minute_starts, locals_, strict=True):
        lam = per_minute * HOURLY[local.hour] / _HOURLY_MEAN
        for _ in range(_poisson(rng, lam)):
            if rng.random() < 0.35:
                profile = rng.choice(profiles)
                text = rng.choice(profile.trap_posts)
                gen.traps += 1
                topic = f"trap:{profile.id}"
            else:
                text = rng.choice(bank.UNRELATED).format(n=rng.randint(2, 300), city=rng.choice(bank.CITIES))
                topic = "unrelated"
            _emit(gen, start + rng.random() * 60.0, _pick_user(gen), text, None, topic, "noise")


def generate(spec: ScenarioSpec, progress: Callable[[str], None] | None = None) -> Scenario:
    """Produce the posts (dicts valid for ``Post.from_dict``) and the labels."""
    rng = random.Random(f"koubei-scenario:{spec.kind}:{spec.seed}")
    gen = _Generator(spec, rng)
    total_minutes = int(round(spec.days * 1440))
    expected_posts = sum(DAILY_VOLUME[b] for b in spec.brands) * spec.scale * spec.days
    _make_users(gen, max(500, int(expected_posts / 4)))
    t0 = spec.start.timestamp()
    minute_starts = [t0 + 60.0 * i for i in range(total_minutes)]
    locals_ = [spec.start + timedelta(minutes=i) for i in range(total_minutes)]
    for brand in spec.brands:
        if progress:
            progress(f"background traffic for {brand}")
        _background(gen, brand, bank.PROFILES[brand], minute_starts, locals_)
    event_counts = []
    for event in spec.events:
        if progress:
            progress(f"{event.kind} event for {event.brand}")
        event_counts.append(_event_posts(gen, event, bank.PROFILES[event.brand]))
    _noise(gen, minute_starts, locals_)

    end_ts = spec.end.timestamp()
    timed = sorted(((w, p) for w, p in gen.posts if t0 <= w < end_ts), key=lambda item: item[0])
    posts: list[dict[str, Any]] = []
    # Weibo-like ids increase with time; the offset keeps them 16 digits.
    next_id = 4_980_000_000_000_000 + rng.randint(0, 10**9)
    for when, post in timed:
        next_id += rng.randint(1, 5000)
        post["id"] = str(next_id)
        post["created_at"] = datetime.fromtimestamp(int(when), BEIJING).isoformat()
        post["url"] = f"https://weibo.example/{post['author']['id']}/{next_id}"
        posts.append(post)
    labels = _labels(spec, posts, event_counts, gen)
    return Scenario(spec, posts, labels)


def _labels(spec: ScenarioSpec, posts: Sequence[dict[str, Any]], event_counts: Sequence[int],
            gen: _Generator) -> dict[str, Any]:
    from streams.brands import BrandMatcher
    from streams.config import Brand

    matcher = BrandMatcher(Brand(b, bank.PROFILES[b].name, bank.PROFILES[b].aliases, bank.PROFILES[b].exclude)
                           for b in spec.brands)
    brands = []
    for brand in spec.brands:
        profile = bank.PROFILES[brand]
        windows = [
            {
                "onset": e.onset.isoformat(),
                "peak": (e.onset + timedelta(minutes=e.ramp_minutes)).isoformat(),
                "end": e.end.isoformat(),
                "kind": e.kind,
                "expected": e.expected,
                "description": e.description,
                "posts": count,
            }
            for e, count in zip(spec.events, event_counts, strict=True)
            if e.brand == brand
        ]
        brands.append({
            "id": brand,
            "name": profile.name,
            "aliases": list(profile.aliases),
            "exclude": list(profile.exclude),
            "expected": NEGATIVE_ALERT if any(w["expected"] == NEGATIVE_ALERT for w in windows) else NO_NEGATIVE_ALERT,
            "windows": windows,
            # Counted the way the pipeline will count them: a post about a
            # product that never names the brand is not a mention.
            "posts": sum(1 for p in posts if brand in matcher.match(p["text"])),
        })
    return {
        "format": LABELS_FORMAT,
        "generator": "koubei scenario",
        "kind": spec.kind,
        "seed": spec.seed,
        "scale": spec.scale,
        "start": spec.start.isoformat(),
        "end": spec.end.isoformat(),
        "days": spec.days,
        "posts": len(posts),
        "exclusion_trap_posts": sum(1 for p in posts if p["raw"]["topic"].startswith("trap:")),
        "bot_accounts": len({p["author"]["id"] for p in posts if p["raw"]["account"] == "bot"}),
        "brands": brands,
        "notes": ("Windows with expected=negative_alert should raise a negative alert (any signal except "
                  "'volume') between onset and end; expected=no_negative_alert windows and calm brands should "
                  "not. Bot floods are coordinated negative campaigns: alerting is right."),
    }


def labels_path(posts_path: str | Path) -> Path:
    """The sidecar next to a scenario file: ``FILE.labels.json``."""
    path = Path(posts_path)
    if path.suffix == ".jsonl":
        return path.with_suffix(".labels.json")
    return path.with_name(path.name + ".labels.json")


def config_document(labels: dict[str, Any], kafka_url: str = "kafka://127.0.0.1:9092") -> dict[str, Any]:
    """A koubei.yaml (as a dict) that tracks a scenario's brands."""
    return {
        "kafka": {"url": kafka_url},
        "brands": [
            {"id": b["id"], "name": b["name"], "aliases": list(b["aliases"]), "exclude": list(b["exclude"])}
            for b in labels["brands"]
        ],
    }


def write_scenario(scenario: Scenario, out: str | Path, config_out: str | Path | None = None) -> Path:
    """Write posts as JSONL, the labels sidecar and optionally a config; returns the labels path."""
    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with out_path.open("w", encoding="utf-8") as fh:
        for post in scenario.posts:
            fh.write(json.dumps(post, ensure_ascii=False, separators=(",", ":")))
            fh.write("\n")
    sidecar = labels_path(out_path)
    sidecar.write_text(json.dumps(scenario.labels, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    if config_out is not None:
        import yaml

        doc = config_document(scenario.labels)
        text = ("# Generated by `koubei scenario` for the brands of "
                f"{out_path.name} ({scenario.spec.kind}, seed {scenario.spec.seed}).\n")
        text += yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
        Path(config_out).write_text(text, encoding="utf-8")
    return sidecar


def load_labels(path: str | Path) -> dict[str, Any]:
    """Read and sanity-check a labels sidecar; raises ValueError with the reason."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict) or not isinstance(data.get("brands"), list):
        raise ValueError(f"{path}: not a scenario labels file (no 'brands' list)")
    for i, brand in enumerate(data["brands"]):
        if not isinstance(brand, dict) or "id" not in brand or "aliases" not in brand:
            raise ValueError(f"{path}: brands[{i}] needs 'id' and 'aliases'")
        for j, window in enumerate(brand.get("windows", [])):
            for key in ("onset", "end", "expected"):
                if key not in window:
                    raise ValueError(f"{path}: brands[{i}].windows[{j}] has no {key!r}")
    return data


def bundled_demo() -> tuple[Path, Path]:
    """Paths of the demo scenario shipped with the package and its labels."""
    folder = Path(__file__).resolve().parent / "data"
    return folder / "demo_scenario.jsonl", folder / "demo_scenario.labels.json"
