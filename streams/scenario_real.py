"""Scenarios made of real, human-written, human-labelled posts: ``koubei scenario --texts``.

The phrase-bank generator (``streams.scenario``) writes every sentence
itself, so a detector tuned on it learns the bank's vocabulary (its crisis
posts say 召回 and 曝光; real complaints rarely do). This generator keeps the
same clock, shapes and labels but draws every post's words from a labelled
corpus (the formats of streams/corpus.py: the shared sentiment
corpora's and generic CSV, TSV and JSON): calm traffic is a mix of the corpus's positive and
negative texts (and neutral ones, when the corpus has a neutral class) at a
brand's usual share, a crisis adds extra *negative* texts, a positive viral
hour adds positive ones and a news day adds more posts at the brand's usual
negative share, mostly neutral when the corpus has neutral texts. A brand
alias is put into each text in one of several natural places (a topic tag ``#鹿鸣奶茶#``, the start, after a
clause mid-sentence, an ``@鹿鸣奶茶官方`` mention, a ``回复@鹿鸣奶茶官方:``
reply), so the brand matcher finds it the way it finds a real post.

Kinds (``REAL_KINDS``): each crisis kind gives the first brand one labelled
event (like the phrase bank); ``mix`` gives *every* brand one crisis of a
different kind plus a positive viral hour and a news day on other days, for
brands from about 0.3 to 10 mentions a minute on average. Which texts a
scenario is made of decides what it measures: tune on scenarios from some
corpora, report on scenarios from others (bench/real_suite.py).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from streams import scenario_texts as bank
from streams.corpus import LabelledTexts, TextCorpusError
from streams.scenario import (
    BEIJING,
    DEFAULT_START,
    HOURLY,
    NEGATIVE_ALERT,
    NO_NEGATIVE_ALERT,
    WEEKDAY,
    EventSpec,
    Scenario,
    ScenarioSpec,
    _Author,
    _make_accounts,
    _nickname,
    _parse_start,
    _pick_active,
    _poisson,
)

REAL_KINDS = ("mix", "sudden", "night", "slow_burn", "kol", "bot_flood", "positive_viral", "news_day",
              "calm_month")
CRISIS_KINDS = ("sudden", "night", "slow_burn", "kol", "bot_flood")
SOURCE = "weibo-real-text"
_HOURLY_MEAN = sum(HOURLY) / len(HOURLY)
# With a corpus that has a neutral class: the share of a brand's non-negative
# posts that are neutral on an ordinary day, and on a news day (reports,
# reposts of the news: mostly neither praise nor complaint).
CALM_NEUTRAL_SHARE = 0.4
NEWS_NEUTRAL_SHARE = 0.7


@dataclass(frozen=True)
class TextBrand:
    id: str
    name: str
    short: str  # the short form people type
    official: str  # the brand's own account, for @mentions and replies
    per_minute: float  # mean mentions a minute over a whole day


# Fictional brands; their names occur in none of the corpora. Volumes span
# 0.3 to 10 mentions a minute (daily mean), the range the detector must cover.
TEXT_BRANDS: tuple[TextBrand, ...] = (
    TextBrand("luming", "鹿鸣奶茶", "鹿鸣", "鹿鸣奶茶官方", 10.0),
    TextBrand("xingyao", "星耀手机", "星耀", "星耀手机官方", 3.0),
    TextBrand("yunqi", "云栖酒店", "云栖", "云栖酒店官方", 1.0),
    TextBrand("qingshan", "青衫外卖", "青衫", "青衫外卖客服", 0.3),
    TextBrand("haitang", "海棠美妆", "海棠", "海棠美妆官方", 5.0),
    TextBrand("beiji", "北极熊家电", "北极熊", "北极熊家电官方", 0.6),
)
BRAND_IDS = tuple(b.id for b in TEXT_BRANDS)
DEFAULT_TEXT_BRANDS = BRAND_IDS[:4]


# ---------------------------------------------------------------- plan

@dataclass(frozen=True)
class RealPlan:
    """What a real-text scenario holds: the spec (clock, brands, events) and its brands."""

    spec: ScenarioSpec
    brands: tuple[TextBrand, ...]


def _brand(brand_id: str) -> TextBrand:
    for b in TEXT_BRANDS:
        if b.id == brand_id:
            return b
    raise ValueError(f"unknown brand {brand_id!r}; real-text scenarios have {', '.join(BRAND_IDS)}")


# The local hours an event of each kind may start in (first and last, inclusive; a news day
# starts at 9). bench/share_bound.py reads them too.
ONSET_HOURS: dict[str, tuple[int, int]] = {
    "sudden": (9, 20), "night": (1, 3), "slow_burn": (8, 11), "kol": (10, 21), "bot_flood": (9, 21),
    "positive_viral": (10, 20),
}


def _event(brand: TextBrand, kind: str, day: datetime, rng: random.Random) -> EventSpec:
    """One labelled event on ``day`` (local midnight) for ``brand``.

    Sizes are in extra posts a minute at the peak and grow with the brand:
    a crisis is large for the brand it hits, and never less than about one
    post a minute (fewer is not a crisis anyone could call)."""
    r = brand.per_minute
    name = brand.name
    if kind == "sudden":
        onset = day + timedelta(hours=rng.randint(*ONSET_HOURS[kind]), minutes=rng.randint(0, 59))
        return EventSpec(brand.id, kind, onset, onset + timedelta(minutes=100), max(1.2, 0.8 * r), 3, 30,
                         NEGATIVE_ALERT, f"sudden crisis: complaints about {name} pile up within minutes")
    if kind == "night":
        onset = day + timedelta(hours=rng.randint(*ONSET_HOURS[kind]), minutes=rng.randint(0, 59))
        return EventSpec(brand.id, kind, onset, onset + timedelta(minutes=110), max(0.6, 0.3 * r), 4, 45,
                         NEGATIVE_ALERT, f"night-time crisis: {name} incident after midnight, low volume")
    if kind == "slow_burn":
        onset = day + timedelta(hours=rng.randint(*ONSET_HOURS[kind]), minutes=rng.randint(0, 59))
        return EventSpec(brand.id, kind, onset, onset + timedelta(hours=7), max(1.0, 0.6 * r), 240, 60,
                         NEGATIVE_ALERT, f"slow burn: complaints about {name} creep up for four hours",
                         ramp_power=2.0)
    if kind == "kol":
        onset = day + timedelta(hours=rng.randint(*ONSET_HOURS[kind]), minutes=rng.randint(0, 59))
        return EventSpec(brand.id, kind, onset, onset + timedelta(minutes=120), max(1.0, 0.6 * r), 25, 30,
                         NEGATIVE_ALERT, f"KOL-led crisis: a big account attacks {name}, its followers amplify")
    if kind == "bot_flood":
        onset = day + timedelta(hours=rng.randint(*ONSET_HOURS[kind]), minutes=rng.randint(0, 59))
        return EventSpec(brand.id, kind, onset, onset + timedelta(minutes=45), max(2.0, 1.0 * r), 2, 40,
                         NEGATIVE_ALERT, f"bot flood: near-identical attacks on {name} from new tiny accounts")
    if kind == "positive_viral":
        onset = day + timedelta(hours=rng.randint(*ONSET_HOURS[kind]), minutes=rng.randint(0, 59))
        return EventSpec(brand.id, kind, onset, onset + timedelta(minutes=60), max(3.0, 3.0 * r), 8, 30,
                         NO_NEGATIVE_ALERT, f"positive viral hour: {name} praised everywhere")
    if kind == "news_day":
        onset = day + timedelta(hours=9)
        return EventSpec(brand.id, kind, onset, day + timedelta(hours=23, minutes=59), max(0.6, 1.5 * r), 60,
                         13 * 60, NO_NEGATIVE_ALERT, f"news day: {name} in the news, high volume, usual tone")
    raise ValueError(f"unknown event kind {kind!r}")


def plan_real(kind: str, seed: int = 1, start: str | datetime | None = None, days: float | None = None,
              brands: Sequence[str] | None = None, scale: float = 1.0) -> RealPlan:
    """Brands, length and labelled events of a real-text scenario (no posts yet).

    Single kinds give the first brand one event on the last day. ``mix``
    (default 10 days) gives every brand one crisis (kinds in turn, the order
    shuffled by seed) and puts a positive viral hour and a news day on two
    other brands' other days; the first three days are history for every brand.
    """
    if kind not in REAL_KINDS:
        raise ValueError(f"unknown real-text scenario kind {kind!r}; choose one of {', '.join(REAL_KINDS)}")
    chosen = tuple(_brand(b) for b in (brands or (BRAND_IDS[:5] if kind == "mix" else DEFAULT_TEXT_BRANDS)))
    if len({b.id for b in chosen}) != len(chosen):
        raise ValueError("--brands lists a brand twice")
    if not (0.01 <= scale <= 100):
        raise ValueError(f"--scale must be between 0.01 and 100, got {scale}")
    default_days = {"mix": 10.0, "calm_month": 30.0}.get(kind, 4.0)
    length = float(days) if days is not None else default_days
    minimum = 6.0 if kind == "mix" else 1.0
    if not (minimum <= length <= 366):
        raise ValueError(f"--days must be between {minimum:g} and 366 for {kind}, got {length}")
    begin = _parse_start(start) if start is not None else DEFAULT_START
    midnight = begin.replace(hour=0, minute=0, second=0, microsecond=0)
    rng = random.Random(f"koubei-real-plan:{kind}:{seed}")
    scaled = tuple(TextBrand(b.id, b.name, b.short, b.official, b.per_minute * scale) for b in chosen)
    events: list[EventSpec] = []
    last_day = midnight + timedelta(days=max(math.ceil(length) - 1, 0))
    if kind == "mix":
        crisis_kinds = list(CRISIS_KINDS)
        rng.shuffle(crisis_kinds)
        usable = list(range(3, int(length) - 1))  # the last day keeps the tail of a late crisis inside
        for i, brand in enumerate(scaled):
            days_free = list(usable)
            rng.shuffle(days_free)
            crisis_day = days_free.pop()
            events.append(_event(brand, crisis_kinds[i % len(crisis_kinds)], midnight + timedelta(days=crisis_day), rng))
            if i % 2 == 0 and days_free:
                events.append(_event(brand, "positive_viral", midnight + timedelta(days=days_free.pop()), rng))
            if i % 2 == 1 and days_free:
                events.append(_event(brand, "news_day", midnight + timedelta(days=days_free.pop()), rng))
    elif kind != "calm_month":
        events.append(_event(scaled[0], kind, last_day, rng))
    finish = begin + timedelta(days=length)
    for event in events:
        if event.onset < begin or event.onset >= finish - timedelta(minutes=30):
            raise ValueError(f"--days {length:g} is too short for {kind}: an event starts at {event.onset.isoformat()}")
    events = [e if e.end <= finish else EventSpec(e.brand, e.kind, e.onset, finish, e.peak_per_minute,
                                                    e.ramp_minutes, e.plateau_minutes, e.expected, e.description,
                                                    e.ramp_power) for e in events]
    spec = ScenarioSpec(kind, int(seed), begin, length, tuple(b.id for b in scaled), float(scale), tuple(events))
    return RealPlan(spec, scaled)


# ---------------------------------------------------------------- posts

class _Pool:
    """Texts of one tone, drawn in a shuffled cycle: every text is used
    before any repeats, and one text never appears twice within minutes."""

    def __init__(self, texts: Sequence[str], rng: random.Random) -> None:
        self.texts = list(texts)
        self.rng = rng
        self.order: list[int] = []

    def draw(self) -> str:
        if not self.order:
            self.order = list(range(len(self.texts)))
            self.rng.shuffle(self.order)
        return self.texts[self.order.pop()]


@dataclass
class _State:
    rng: random.Random
    positive: _Pool
    negative: _Pool
    neutral: _Pool | None = None  # only when the corpus has neutral texts
    users: list[_Author] = field(default_factory=list)
    big_vs: list[_Author] = field(default_factory=list)
    bots: list[_Author] = field(default_factory=list)
    posts: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    recent: dict[str, list[tuple[str, str]]] = field(default_factory=dict)


def insert_alias(text: str, brand: TextBrand, rng: random.Random) -> str:
    """``text`` naming ``brand`` in one of the places real posts name a brand."""
    alias = brand.name if rng.random() < 0.75 else brand.short
    roll = rng.random()
    if roll < 0.22:
        return f"#{brand.name}# {text}"
    if roll < 0.40:
        return f"{alias}，{text}"
    if roll < 0.62:
        marks = [i for i, ch in enumerate(text) if ch in "，,。！!？?；～~ " and 0 < i < len(text) - 1]
        if marks:
            at = rng.choice(marks) + 1
            return f"{text[:at]}{alias}{text[at:]}"
        return f"{text} {alias}"
    if roll < 0.78:
        return f"@{brand.official} {text}"
    if roll < 0.88:
        return f"回复@{brand.official}:{text}"
    if roll < 0.95:
        return f"{text} @{brand.official}"
    return f"{text} #{alias}#"


def _make_users(state: _State, count: int) -> None:
    users, big_vs = _make_accounts(state.rng, count, ("r", 6_000_000_000), ("k", 2_900_000_000))
    state.users.extend(users)
    state.big_vs.extend(big_vs)


def _user(state: _State) -> _Author:
    return _pick_active(state.rng, state.users)


def _emit(state: _State, when: float, author: _Author, text: str, brand: str | None, topic: str, role: str,
          boost: float = 1.0) -> None:
    rng = state.rng
    if author.kind == "bot":
        reposts, comments, likes = 0, rng.randint(0, 1), rng.randint(0, 2)
    else:
        base = math.sqrt(author.followers + 1) * math.exp(rng.gauss(0.0, 1.0)) * boost
        reposts, comments, likes = int(base * 0.04), int(base * 0.06), int(base * 0.3)
    state.posts.append((when, {
        "source": SOURCE, "id": "",
        "author": {"id": author.id, "name": author.name, "followers": author.followers, "verified": author.verified},
        "text": text, "created_at": "", "url": "", "reposts": reposts, "comments": comments, "likes": likes,
        "lang": "zh",
        "raw": {"generator": "koubei-scenario-texts", "brand": brand, "topic": topic, "role": role,
                "account": author.kind},
    }))
    if brand is not None and role == "background" and "//@" not in text:
        recent = state.recent.setdefault(brand, [])
        recent.append((author.name, text))
        if len(recent) > 50:
            del recent[:10]


def _calm_post(state: _State, brand: TextBrand, negative_share: float,
               neutral_share: float = CALM_NEUTRAL_SHARE) -> tuple[str, str]:
    """A post in the brand's usual mix; ``neutral_share`` of the non-negative
    ones are neutral texts when the corpus has any (no draw otherwise, so a
    corpus without them gives the same posts as before neutral texts were read)."""
    rng = state.rng
    recent = state.recent.get(brand.id)
    if recent and rng.random() < 0.12:
        name, original = rng.choice(recent)
        return f"{rng.choice(bank.REPOST_COMMENTS)}//@{name}:{original}", "repost"
    if rng.random() < negative_share:
        return insert_alias(state.negative.draw(), brand, rng), "negative"
    if state.neutral is not None and rng.random() < neutral_share:
        return insert_alias(state.neutral.draw(), brand, rng), "neutral"
    return insert_alias(state.positive.draw(), brand, rng), "positive"


def _background(state: _State, spec: ScenarioSpec, brand: TextBrand, minutes: Sequence[tuple[float, datetime]]) -> None:
    rng = state.rng
    per_minute = brand.per_minute / _HOURLY_MEAN
    day_level, wander, share, last_day, last_hour = 1.0, 0.0, 0.2, None, None
    for start, local in minutes:
        if local.date() != last_day:
            last_day = local.date()
            day_level = math.exp(rng.gauss(0.0, 0.08))
            # The brand's usual share of negative texts wanders from day to day.
            share = min(0.45, max(0.08, 0.2 * math.exp(rng.gauss(0.0, 0.2))))
        if local.hour != last_hour:
            last_hour = local.hour
            wander = 0.7 * wander + rng.gauss(0.0, 0.12)
        hour_pos = local.hour + local.minute / 60.0
        h0 = int(hour_pos) % 24
        frac = hour_pos - int(hour_pos)
        curve = HOURLY[h0] * (1 - frac) + HOURLY[(h0 + 1) % 24] * frac
        lam = per_minute * curve * WEEKDAY[local.weekday()] * day_level * math.exp(wander)
        for _ in range(_poisson(rng, lam)):
            author = _user(state) if rng.random() > 0.02 else rng.choice(state.big_vs)
            text, topic = _calm_post(state, brand, share)
            _emit(state, start + rng.random() * 60.0, author, text, brand.id, topic, "background")
        # Ordinary posts sometimes travel a little: a handful of reposts.
        if rng.random() < 3.0 / 1440.0 * curve and state.recent.get(brand.id):
            name, original = rng.choice(state.recent[brand.id])
            for _ in range(rng.randint(3, 12)):
                _emit(state, start + rng.random() * 600.0, _user(state),
                      f"{rng.choice(bank.REPOST_COMMENTS)}//@{name}:{original}", brand.id, "cascade", "background")


def _kol_account(rng: random.Random) -> _Author:
    followers = int(10 ** rng.uniform(7.3, 8.0))
    name = rng.choice(("消费维权观察", "吃瓜第一线", "热点速递", "每日热搜榜", "财经观察家")) + rng.choice(("", "V", "官微", "2"))
    return _Author(f"kol{rng.randint(10**8, 10**9)}", name, followers, True, "kol")


def _event_posts(state: _State, event: EventSpec, brand: TextBrand) -> int:
    rng = state.rng
    count = 0
    said: list[tuple[str, str]] = []
    kol: _Author | None = None
    if event.kind == "kol":
        # The KOL's post opens the event: a negative text, a very large verified account.
        kol = _kol_account(rng)
        text = insert_alias(state.negative.draw(), brand, rng)
        _emit(state, event.onset.timestamp() + rng.random() * 20.0, kol, text, brand.id, "kol_post", event.kind, 3.0)
        said.append((kol.name, text))
        count += 1
    script: list[str] = []
    if event.kind == "bot_flood":
        script = [insert_alias(state.negative.draw(), brand, rng) for _ in range(3)]
    t = event.onset
    step = timedelta(minutes=1)
    while t < event.end:
        for _ in range(_poisson(rng, event.rate(t))):
            when = t.timestamp() + rng.random() * 60.0
            if event.kind == "bot_flood":
                bot = rng.choice(state.bots) if state.bots and rng.random() < 0.35 else None
                if bot is None:
                    bot = _Author(f"b{8_800_000_000 + len(state.bots) * 31}", _nickname(rng), rng.randint(0, 25),
                                   False, "bot")
                    state.bots.append(bot)
                variation = rng.choice(("", "", "！", "!!", " ", "。", f" {rng.randint(1, 99)}"))
                _emit(state, when, bot, rng.choice(script) + variation, brand.id, "bot", "bot")
            elif event.kind == "positive_viral":
                if said and rng.random() < 0.25:
                    name, original = rng.choice(said[-30:])
                    _emit(state, when, _user(state), f"{rng.choice(('感动', '支持', '转发微博', '哭了'))}//@{name}:{original}",
                          brand.id, "viral_repost", event.kind, 3.0)
                else:
                    author = _user(state)
                    text = insert_alias(state.positive.draw(), brand, rng)
                    _emit(state, when, author, text, brand.id, "viral", event.kind, 3.0)
                    said.append((author.name, text))
            elif event.kind == "news_day":
                text, topic = _calm_post(state, brand, 0.2, NEWS_NEUTRAL_SHARE)
                _emit(state, when, _user(state) if rng.random() > 0.05 else rng.choice(state.big_vs), text, brand.id,
                      f"news:{topic}", event.kind)
            else:
                # Crisis kinds: extra negative texts, a share of them reposts of
                # the event's own posts (for kol most of them: the KOL's story spreads).
                repost_share = 0.6 if event.kind == "kol" else 0.2
                if said and rng.random() < repost_share:
                    name, original = (said[0] if kol is not None and rng.random() < 0.7 else rng.choice(said[-30:]))
                    comment = rng.choice(bank.CRISIS_REPOST_COMMENTS)
                    _emit(state, when, _user(state), f"{comment}//@{name}:{original}", brand.id, "crisis_repost",
                          event.kind, 2.0)
                else:
                    author = _user(state)
                    text = insert_alias(state.negative.draw(), brand, rng)
                    _emit(state, when, author, text, brand.id, "crisis", event.kind, 2.0)
                    said.append((author.name, text))
            count += 1
        t += step
    return count


def generate_real(plan: RealPlan, texts: LabelledTexts, progress: Callable[[str], None] | None = None) -> Scenario:
    """Posts (dicts valid for ``Post.from_dict``) and labels; same plan and texts, same bytes."""
    if not texts.positive or not texts.negative:
        raise TextCorpusError("the texts need both positive and negative examples")
    spec = plan.spec
    rng = random.Random(f"koubei-real:{spec.kind}:{spec.seed}")
    state = _State(rng, _Pool(texts.positive, rng), _Pool(texts.negative, rng),
                   _Pool(texts.neutral, rng) if texts.neutral else None)
    expected = sum(b.per_minute for b in plan.brands) * 1440 * spec.days
    _make_users(state, max(500, int(expected / 4)))
    t0 = spec.start.timestamp()
    total_minutes = int(round(spec.days * 1440))
    minutes = [(t0 + 60.0 * i, spec.start + timedelta(minutes=i)) for i in range(total_minutes)]
    by_id = {b.id: b for b in plan.brands}
    for brand in plan.brands:
        if progress:
            progress(f"background traffic for {brand.id}")
        _background(state, spec, brand, minutes)
    counts = []
    for event in spec.events:
        if progress:
            progress(f"{event.kind} event for {event.brand}")
        counts.append(_event_posts(state, event, by_id[event.brand]))
    # Posts about none of the brands: a keyword stream is never only about you.
    for start, local in minutes:
        for _ in range(_poisson(rng, 0.3 * HOURLY[local.hour] / _HOURLY_MEAN)):
            pool = state.negative if rng.random() < 0.3 else state.positive
            _emit(state, start + rng.random() * 60.0, _user(state), pool.draw(), None, "unrelated", "noise")
    end_ts = spec.end.timestamp()
    timed = sorted(((w, p) for w, p in state.posts if t0 <= w < end_ts), key=lambda item: item[0])
    posts: list[dict[str, Any]] = []
    next_id = 4_990_000_000_000_000 + rng.randint(0, 10**9)
    for when, post in timed:
        next_id += rng.randint(1, 5000)
        post["id"] = str(next_id)
        post["created_at"] = datetime.fromtimestamp(int(when), BEIJING).isoformat()
        post["url"] = f"https://weibo.example/{post['author']['id']}/{next_id}"
        posts.append(post)
    return Scenario(spec, posts, _labels(plan, posts, counts, texts))


def _labels(plan: RealPlan, posts: Sequence[dict[str, Any]], counts: Sequence[int],
            texts: LabelledTexts) -> dict[str, Any]:
    spec = plan.spec
    brands = []
    for brand in plan.brands:
        windows = [
            {"onset": e.onset.isoformat(), "peak": (e.onset + timedelta(minutes=e.ramp_minutes)).isoformat(),
             "end": e.end.isoformat(), "kind": e.kind, "expected": e.expected, "description": e.description,
             "posts": n, "peak_per_minute": round(e.peak_per_minute, 3)}
            for e, n in zip(spec.events, counts, strict=True) if e.brand == brand.id
        ]
        brands.append({
            "id": brand.id, "name": brand.name, "aliases": [brand.name, brand.short], "exclude": [],
            "expected": NEGATIVE_ALERT if any(w["expected"] == NEGATIVE_ALERT for w in windows) else NO_NEGATIVE_ALERT,
            "per_minute": round(brand.per_minute, 3),
            "windows": windows,
            "posts": sum(1 for p in posts if p["raw"]["brand"] == brand.id),
        })
    return {
        "format": 1, "generator": "koubei scenario --texts", "kind": spec.kind, "seed": spec.seed,
        "scale": spec.scale, "start": spec.start.isoformat(), "end": spec.end.isoformat(), "days": spec.days,
        "posts": len(posts), "texts": list(texts.sources),
        "bot_accounts": len({p["author"]["id"] for p in posts if p["raw"]["account"] == "bot"}),
        "brands": brands,
        "notes": ("Every post's words are a human-written, human-labelled text from the corpora listed under "
                  "'texts', with a brand alias inserted. Windows with expected=negative_alert should raise a "
                  "negative alert (any signal except 'volume') between onset and end; expected=no_negative_alert "
                  "windows and calm stretches should not."),
    }
