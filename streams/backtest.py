"""``koubei backtest POSTS.jsonl``: the stream's own code, run over a file.

Nothing here re-implements a stage. Posts go through the input gate (bad
lines are counted with the stream's dead-letter reasons), ``PostScorer``
(brand matching + the configured sentiment scorer), the ``Aggregator`` with
a ``DictBucketStore`` and, per brand, ``create_detector``: the objects the
Faust agents drive. The only offline choices:

* posts are sorted by ``created_at`` first (a file is history, not a live
  feed), so no mention is late;
* the aggregator's wall clock is the event time, so its idle rule (close
  buckets when no post arrives for a while) never fires; buckets close by
  the watermark exactly as in a busy stream, and all are closed at the end;
* scores are memoised by text: the scorer is deterministic, and a file of
  reposts holds the same text many times.

An alert's *emitted* time is the event time at which the watermark closed
the bucket that fired (bucket end + allowed lateness in a steady stream):
that is when the live pipeline would have sent it, and the delay reported
against a labeled onset uses it.

With a labels sidecar (``POSTS.labels.json``, written by ``koubei scenario``)
the run is also scored: each ``negative_alert`` window is found or missed,
each ``no_negative_alert`` window stays quiet or not, and every other
negative alert counts as false. A *negative* alert is one on any signal but
``volume``: a volume spike alone (a launch, a viral compliment) is news,
not a crisis.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone, tzinfo
from pathlib import Path
from typing import Any, TextIO

from streams.aggregate import Aggregator, DictBucketStore
from streams.brands import BrandMatcher
from streams.config import PipelineConfig, load_config, parse_config
from streams.gate import Gate, InputRules, Rejection
from streams.models import AlertEvent, Bucket, Mention, Post
from streams.readers import ReaderError, file_reader, read_all
from streams.readers.text import clip
from streams.scenario import NEGATIVE_ALERT, NO_NEGATIVE_ALERT, labels_path, load_labels
from streams.scoring import PostScorer
from streams.settings import ConfigError

NON_NEGATIVE_SIGNALS = frozenset({"volume"})
# An alert that fires within this long after a labeled crisis ends is still
# about that crisis (the tail of the story), not a false alarm.
INCIDENT_GRACE_SECONDS = 3600.0
SCORE_CHUNK = 500
INVALID_EXAMPLES = 5
TOP_POSTS_SHOWN = 3


class BacktestError(Exception):
    """A problem with the input that stops the run; the message says what to fix."""


@dataclass(frozen=True)
class InvalidLine:
    line_no: int
    reason: str
    message: str


@dataclass
class PostFile:
    posts: list[Post]
    invalid: list[InvalidLine]
    lines: int

    @property
    def reasons(self) -> Counter[str]:
        return Counter(item.reason for item in self.invalid)


@dataclass(frozen=True)
class AlertRecord:
    event: AlertEvent
    emitted_at: float  # event time when the watermark closed the bucket that fired
    new: bool  # the first firing of this alert (not an escalation or a resolve)

    @property
    def negative(self) -> bool:
        return self.event.signal not in NON_NEGATIVE_SIGNALS


@dataclass(frozen=True)
class BucketPoint:
    start: float
    total: int
    negative: int
    risk_stories: int = 0  # distinct stories of the bucket's posts with a risk term


@dataclass
class WindowOutcome:
    brand: str
    kind: str
    onset: float
    end: float
    expected: str
    alerts: list[AlertRecord] = field(default_factory=list)

    @property
    def alerted(self) -> bool:
        return bool(self.alerts)

    @property
    def passed(self) -> bool:
        return self.alerted if self.expected == NEGATIVE_ALERT else not self.alerted

    @property
    def delay_seconds(self) -> float | None:
        """From labeled onset to the end of the bucket that fired."""
        return self.alerts[0].event.event_time - self.onset if self.alerts else None

    @property
    def emitted_delay_seconds(self) -> float | None:
        """From labeled onset to when the stream would have sent the alert."""
        return self.alerts[0].emitted_at - self.onset if self.alerts else None


@dataclass
class BrandStats:
    brand: str
    name: str
    mentions: int = 0
    negative: int = 0
    negative_alerts: int = 0
    volume_alerts: int = 0
    false_alerts: int = 0

    @property
    def negative_share(self) -> float:
        return self.negative / self.mentions if self.mentions else 0.0


@dataclass
class BacktestResult:
    file: PostFile
    matched_posts: int
    alerts: list[AlertRecord]
    brands: dict[str, BrandStats]
    series: dict[str, list[BucketPoint]]
    first_time: float | None
    last_time: float | None
    timezone: tzinfo
    detector: str
    outcomes: list[WindowOutcome] = field(default_factory=list)
    labels: dict[str, Any] | None = None
    skipped_buckets: int = 0
    # sentiment.model: auto: (event time, posts trained on) of each model swapped in.
    sentiment_swaps: list[tuple[float, int]] = field(default_factory=list)

    @property
    def span_days(self) -> float:
        if self.first_time is None or self.last_time is None:
            return 0.0
        return max(self.last_time - self.first_time, 0.0) / 86400.0

    def false_alerts_per_brand_week(self) -> float:
        weeks = self.span_days / 7.0 * max(len(self.brands), 1)
        return sum(b.false_alerts for b in self.brands.values()) / weeks if weeks > 0 else 0.0


# ---------------------------------------------------------------- input

# Offline there is no event loop to keep responsive: close everything that is due.
UNLIMITED = 2**62


def history_gate(rules: InputRules | None = None) -> Gate:
    """The stream's input gate for a replay of history: the same rules, but
    no limit on age (a backtest reads last year on purpose)."""
    return Gate(replace(rules or InputRules(), max_age=0.0))


def read_posts(path: str | Path, gate: Gate | None = None, fmt: str | None = None) -> PostFile:
    """Parse a JSONL file with the stream's input gate; bad lines are kept as reasons.

    Crawler files (MediaCrawler, weibo-search, weibo-crawler, CSV/JSON) and
    folders of them are read by ``streams.readers`` (``fmt``, or told apart
    per file), with the same gate."""
    file = Path(path)
    if fmt not in (None, "jsonl") or file.is_dir() or file.suffix.lower() not in (".jsonl", ".ndjson", ""):
        return _read_crawler_files(file, gate or history_gate(), fmt)
    admit = (gate or history_gate()).admit
    posts: list[Post] = []
    invalid: list[InvalidLine] = []
    lines = 0
    try:
        handle = file.open("rb")
    except FileNotFoundError:
        raise BacktestError(f"posts file not found: {file}") from None
    except IsADirectoryError:
        raise BacktestError(f"{file} is a directory, expected a JSONL file of posts") from None
    with handle:
        for line_no, raw in enumerate(handle, start=1):
            lines = line_no
            record = raw.rstrip(b"\r\n")
            post = admit(record)
            if isinstance(post, Rejection):
                invalid.append(InvalidLine(line_no, post.reason, post.message))
                continue
            # ``raw`` is never read after parsing (a Mention copies what it
            # needs) and on a month of posts it is a fifth of the memory.
            posts.append(replace(post, raw={}) if post.raw else post)
    return PostFile(posts, invalid, lines)


def _read_crawler_files(path: Path, gate: Gate, fmt: str | None) -> PostFile:
    if not path.exists():
        raise BacktestError(f"posts file not found: {path}")
    posts: list[Post] = []
    invalid: list[InvalidLine] = []
    try:
        records = list(read_all(file_reader(fmt, gate), path))
    except ReaderError as exc:
        raise BacktestError(str(exc)) from None
    for record in records:
        if isinstance(record.result, Rejection):
            invalid.append(InvalidLine(record.position, record.result.reason, record.result.message))
        else:
            post = record.result
            posts.append(replace(post, raw={}) if post.raw else post)
    return PostFile(posts, invalid, len(records))


def config_from_labels(labels: dict[str, Any], settings: dict[str, Any] | None = None) -> PipelineConfig:
    """A configuration tracking the brands a scenario's labels describe.

    ``settings`` are further top-level sections (``buckets``, ``detection`` ...)
    validated like a koubei.yaml, for experiments with a scenario's brands."""
    brands = [
        {"id": b["id"], "name": b.get("name", b["id"]), "aliases": list(b["aliases"]),
         "exclude": list(b.get("exclude", []))}
        for b in labels["brands"]
    ]
    return parse_config({**(settings or {}), "brands": brands}, source="labels sidecar")


class _MemoScorer:
    """Scores each distinct text once; the wrapped scorer is deterministic."""

    def __init__(self, scorer: Any, limit: int) -> None:
        self.scorer = scorer
        self.limit = limit
        self.cache: dict[str, Any] = {}

    def score_many(self, texts: Sequence[str]) -> list[Any]:
        missing = list(dict.fromkeys(t for t in texts if t not in self.cache))
        fresh = dict(zip(missing, self.scorer.score_many(missing), strict=True)) if missing else {}
        out = [self.cache[t] if t in self.cache else fresh[t] for t in texts]
        if self.limit > 0:
            if len(self.cache) + len(fresh) > self.limit:
                self.cache.clear()  # crude but bounded; repeated texts cluster in time anyway
            self.cache.update(fresh)
        return out


def _auto_model(config: PipelineConfig) -> Any:
    """``sentiment.model: auto``: learn from the replayed posts as the worker learns from its stream."""
    if config.sentiment.model != "auto":
        return None
    from streams.sentiment.auto import AutoModel, AutoSettings

    return AutoModel(AutoSettings.from_config(config.sentiment))


def load_configured_scorer(config: PipelineConfig) -> Any:
    from streams.sentiment import load_scorer

    s = config.sentiment
    return load_scorer(model=s.model, lexicon=s.lexicon, weibo_preprocessing=s.weibo_preprocessing)


# ---------------------------------------------------------------- the run

def _window_outcomes(labels: dict[str, Any], brand_ids: Iterable[str]) -> list[WindowOutcome]:
    tracked = set(brand_ids)
    out: list[WindowOutcome] = []
    for brand in labels["brands"]:
        if brand["id"] not in tracked:
            continue
        for window in brand.get("windows", []):
            out.append(WindowOutcome(
                brand=brand["id"],
                kind=str(window.get("kind", "")),
                onset=datetime.fromisoformat(window["onset"]).timestamp(),
                end=datetime.fromisoformat(window["end"]).timestamp(),
                expected=str(window["expected"]),
            ))
    return out


def _judge(result: BacktestResult) -> None:
    """Match new negative alerts to labeled windows; the rest are false alerts."""
    for record in result.alerts:
        if not (record.new and record.negative):
            continue
        t = record.event.event_time
        explained = False
        for window in result.outcomes:
            if window.brand != record.event.brand:
                continue
            if window.expected == NEGATIVE_ALERT and window.onset <= t <= window.end + INCIDENT_GRACE_SECONDS:
                if t <= window.end:
                    window.alerts.append(record)
                explained = True
            elif window.expected == NO_NEGATIVE_ALERT and window.onset <= t <= window.end + INCIDENT_GRACE_SECONDS:
                window.alerts.append(record)
        if not explained:
            result.brands[record.event.brand].false_alerts += 1


@dataclass
class Aggregated:
    """A file scored and bucketed: every closed bucket with the event time at
    which the watermark closed it. Detection can be replayed on it with other
    settings (``detect_buckets``) without scoring again."""

    file: PostFile
    buckets: list[tuple[Bucket, float]]
    stats: dict[str, BrandStats]
    matched: int
    skipped_buckets: int
    # sentiment.model: auto: (event time, posts trained on) of each model swapped in.
    sentiment_swaps: list[tuple[float, int]] = field(default_factory=list)


def aggregate_posts(file: PostFile, config: PipelineConfig, scorer: Any,
                    progress: Callable[[int, int], None] | None = None,
                    on_mentions: Callable[[Sequence[Mention]], None] | None = None) -> Aggregated:
    """Score and bucket ``file``'s posts with the stream's own stages.

    ``on_mentions`` sees every batch of scored mentions in event-time order,
    as the aggregator gets them: how each post was read by the model in use
    at that moment (with ``sentiment.model: auto`` the model changes on the way)."""
    posts = sorted(file.posts, key=lambda p: p.event_time)  # stable: file order breaks ties
    memo = _MemoScorer(scorer, config.scoring.cache_size or 50_000)
    post_scorer = PostScorer(BrandMatcher(config.brands), memo, config.sentiment.negative_threshold)
    b = config.buckets
    aggregator = Aggregator(b.size_seconds, b.allowed_lateness_seconds, b.idle_close_seconds,
                            DictBucketStore(), retention_buckets=b.retention_buckets, late_policy=b.late_policy)
    stats = {brand.id: BrandStats(brand.id, brand.name) for brand in config.brands}
    closed: list[tuple[Bucket, float]] = []
    matched = 0

    def add(mentions: Sequence[Mention]) -> None:
        if on_mentions is not None:
            on_mentions(mentions)
        for mention in mentions:
            s = stats[mention.brand]
            s.mentions += 1
            s.negative += mention.is_negative
            aggregator.add(mention, wall_now=mention.created_at)
            closed.extend((bucket, mention.created_at)
                          for bucket in aggregator.close_ready(mention.created_at, limit=UNLIMITED))

    auto = _auto_model(config)
    swaps: list[tuple[float, int]] = []
    total = len(posts)
    for begin in range(0, total, SCORE_CHUNK):
        chunk = posts[begin:begin + SCORE_CHUNK]
        found = post_scorer.match(chunk)
        matched += len(found)
        if found:
            texts = post_scorer.scoring_texts(found)
            scores = memo.score_many(texts)
            add(post_scorer.build(found, scores))
            if auto is not None:
                # As the live worker does: learn from what was scored, swap when a model is due.
                auto.observe(texts, scores)
                model = auto.maybe_retrain()
                if model is not None:
                    memo.scorer = auto.scorer(model)
                    memo.cache.clear()
                    swaps.append((chunk[-1].event_time, auto.trained_on))
        if progress:
            progress(min(begin + SCORE_CHUNK, total), total)
    if posts:
        # Close every bucket: let the wall clock run on past the last post
        # until the idle rule pushes the watermark beyond the last bucket.
        last = posts[-1].event_time
        flush = last + b.idle_close_seconds + b.allowed_lateness_seconds + 2 * b.size_seconds
        closed.extend((bucket, last + b.size_seconds) for bucket in aggregator.close_ready(flush, limit=UNLIMITED))
    return Aggregated(PostFile(posts, file.invalid, file.lines), closed, stats, matched,
                      aggregator.state.skipped_buckets, swaps)


def detect_buckets(agg: Aggregated, config: PipelineConfig, labels: dict[str, Any] | None = None) -> BacktestResult:
    """Run the configured detector of every brand over ``agg``'s buckets and judge the alerts."""
    from streams.detection import create_detector

    detectors = {brand.id: create_detector(config, brand.id) for brand in config.brands}
    stats = {k: replace(v) for k, v in agg.stats.items()}
    series: dict[str, list[BucketPoint]] = {brand.id: [] for brand in config.brands}
    alerts: list[AlertRecord] = []
    open_keys: set[str] = set()
    for bucket, now in agg.buckets:
        series[bucket.brand].append(BucketPoint(bucket.start, bucket.total, bucket.negative, len(bucket.risk_stories)))
        for event in detectors[bucket.brand].update(bucket):
            new = event.state == "firing" and event.key not in open_keys
            if event.state == "firing":
                open_keys.add(event.key)
            else:
                open_keys.discard(event.key)
            alerts.append(AlertRecord(event, now, new))
    posts = agg.file.posts
    zone = posts[0].created_at.tzinfo if posts and posts[0].created_at.tzinfo else timezone.utc
    detector_name = next(iter(detectors.values())).name if detectors else ""
    result = BacktestResult(
        file=agg.file, matched_posts=agg.matched, alerts=alerts, brands=stats, series=series,
        first_time=posts[0].event_time if posts else None, last_time=posts[-1].event_time if posts else None,
        timezone=zone, detector=detector_name, labels=labels, skipped_buckets=agg.skipped_buckets,
        sentiment_swaps=agg.sentiment_swaps,
    )
    for record in alerts:
        if record.new:
            s = stats[record.event.brand]
            if record.negative:
                s.negative_alerts += 1
            else:
                s.volume_alerts += 1
    if labels is not None:
        result.outcomes = _window_outcomes(labels, stats)
        _judge(result)
    return result


def backtest_posts(file: PostFile, config: PipelineConfig, scorer: Any,
                   labels: dict[str, Any] | None = None,
                   progress: Callable[[int, int], None] | None = None) -> BacktestResult:
    """Score, aggregate and detect ``file``'s posts; pure apart from the scorer."""
    return detect_buckets(aggregate_posts(file, config, scorer, progress), config, labels)


# ---------------------------------------------------------------- output

class ProgressBar:
    """A one-line progress bar on stderr; plain periodic lines when not a TTY."""

    def __init__(self, label: str, stream: TextIO | None = None, width: int = 30) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.started = time.monotonic()
        self.last_draw = 0.0
        self.last_quarter = -1
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        fraction = done / total if total else 1.0
        elapsed = now - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        if self.tty:
            if done < total and now - self.last_draw < 0.1:
                return
            self.last_draw = now
            filled = int(self.width * fraction)
            eta = (total - done) / rate if rate > 0 else 0.0
            bar = "#" * filled + "-" * (self.width - filled)
            self.stream.write(f"\r{self.label} [{bar}] {fraction:4.0%} {done:,}/{total:,} posts "
                              f"{rate:,.0f}/s ETA {eta:4.0f}s")
            if done >= total:
                self.stream.write("\n")
        else:
            quarter = int(fraction * 4)
            if quarter == self.last_quarter:
                return
            self.last_quarter = quarter
            self.stream.write(f"{self.label}: {done:,}/{total:,} posts ({fraction:.0%}, {rate:,.0f}/s)\n")
        self.stream.flush()


def _clock(ts: float, zone: tzinfo, with_date: bool) -> str:
    moment = datetime.fromtimestamp(ts, zone)
    return moment.strftime("%m-%d %H:%M" if with_date else "%H:%M")


def _value_text(event: AlertEvent) -> str:
    if event.signal == "negative_share":
        return f"{event.value:.0%} vs {event.baseline:.0%}"
    # A night's expectation is a fraction of a post: keep two digits there.
    return f"{event.value:,.0f} vs {event.baseline:,.{2 if event.baseline < 1 else 1}f}"


def _minutes(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds / 60:+.1f} min"


def _evidence_lines(event: AlertEvent) -> list[str]:
    """What a PR team reads first: the risk terms and the posts with most reach.
    Near-identical texts from accounts with a handful of followers are how a
    bot flood shows itself here."""
    out: list[str] = []
    if event.risk_terms:
        terms = ", ".join(f"{term} {count}" for term, count in event.risk_terms[:5])
        out.append(f"{'':<25}risk terms: {terms}")
    for post in event.top_posts[:TOP_POSTS_SHOWN]:
        excerpt = " ".join(str(post.get("excerpt", "")).split())[:60]
        out.append(f"{'':<25}{post.get('author', '?')} ({int(post.get('followers', 0)):,} followers): {excerpt}")
    return out


def format_report(result: BacktestResult, source: str = "") -> str:
    lines: list[str] = []
    f = result.file
    zone = result.timezone
    multi_day = result.span_days > 1.0
    lines.append(f"backtest {source}: {f.lines:,} lines, {len(f.posts):,} posts, {len(f.invalid):,} invalid, "
                 f"{result.matched_posts:,} mentioning a tracked brand; detector {result.detector or '-'}")
    if result.first_time is not None and result.last_time is not None:
        span = (f"{datetime.fromtimestamp(result.first_time, zone).isoformat()} .. "
                f"{datetime.fromtimestamp(result.last_time, zone).isoformat()}")
        lines.append(f"event time {span} ({result.span_days:.2f} days)")
    if f.invalid:
        reasons = ", ".join(f"{reason} {count}" for reason, count in f.reasons.most_common())
        lines.append(f"invalid lines by reason: {reasons}")
        for item in f.invalid[:INVALID_EXAMPLES]:
            lines.append(f"  line {item.line_no}: {item.reason}: {item.message}")
        if len(f.invalid) > INVALID_EXAMPLES:
            lines.append(f"  ... and {len(f.invalid) - INVALID_EXAMPLES} more")
    if result.skipped_buckets:
        lines.append(f"warning: {result.skipped_buckets} empty buckets skipped in a gap of event time")
    for moment, trained_on in result.sentiment_swaps:
        lines.append(f"sentiment model auto: from {datetime.fromtimestamp(moment, zone).isoformat()} on, a model "
                     f"learnt from {trained_on:,} weakly labelled posts of this file")

    lines.append("")
    lines.append("alert timeline (event time; 'sent' = when the stream would have emitted it)")
    if not result.alerts:
        lines.append("  (no alerts)")
    header = f"  {'time':<11} {'sent':<11} {'brand':<12} {'state':<8} {'severity':<8} {'signal':<15} {'value vs baseline':<20} summary"
    if result.alerts:
        lines.append(header)
    for record in result.alerts:
        e = record.event
        summary = clip(e.summary)
        lines.append(f"  {_clock(e.event_time, zone, multi_day):<11} {_clock(record.emitted_at, zone, multi_day):<11} "
                     f"{e.brand:<12} {e.state:<8} {e.severity:<8} {e.signal:<15} {_value_text(e):<20} {summary}")
        if record.new:
            lines.extend(_evidence_lines(e))

    lines.append("")
    lines.append("per brand")
    lines.append(f"  {'brand':<12} {'mentions':>9} {'negative':>9} {'neg share':>9} {'neg alerts':>10} "
                 f"{'vol alerts':>10} {'first alert':>11} {'delay':>10} {'false':>6}")
    windows_by_brand: dict[str, list[WindowOutcome]] = {}
    for window in result.outcomes:
        windows_by_brand.setdefault(window.brand, []).append(window)
    for s in result.brands.values():
        first = next((r for r in result.alerts if r.new and r.negative and r.event.brand == s.brand), None)
        crisis = next((w for w in windows_by_brand.get(s.brand, []) if w.expected == NEGATIVE_ALERT), None)
        delay = _minutes(crisis.emitted_delay_seconds) if crisis else "-"
        false = str(s.false_alerts) if result.labels is not None else "?"
        lines.append(f"  {s.brand:<12} {s.mentions:>9,} {s.negative:>9,} {s.negative_share:>9.1%} {s.negative_alerts:>10} "
                     f"{s.volume_alerts:>10} {_clock(first.event.event_time, zone, multi_day) if first else '-':>11} "
                     f"{delay:>10} {false:>6}")
    if result.outcomes:
        lines.append("")
        lines.append("labeled windows")
        for w in result.outcomes:
            verdict = "OK" if w.passed else ("MISSED" if w.expected == NEGATIVE_ALERT else "ALERTED")
            lines.append(f"  {w.brand:<12} {w.kind:<15} {_clock(w.onset, zone, multi_day)}..{_clock(w.end, zone, multi_day)} "
                         f"expected {w.expected:<18} {verdict:<8} delay {_minutes(w.delay_seconds)} "
                         f"(sent {_minutes(w.emitted_delay_seconds)})")
        lines.append(f"  false negative alerts: {sum(b.false_alerts for b in result.brands.values())} "
                     f"({result.false_alerts_per_brand_week():.2f} per brand-week)")
    return "\n".join(lines)


def write_alerts_json(result: BacktestResult, out: str | Path) -> int:
    with Path(out).open("w", encoding="utf-8") as fh:
        for record in result.alerts:
            fh.write(json.dumps(record.event.to_dict(), ensure_ascii=False, separators=(",", ":")))
            fh.write("\n")
    return len(result.alerts)


def write_report_json(result: BacktestResult, out: str | Path, source: str, bucket_seconds: float) -> None:
    """The run as one JSON document for the PR console's backtest page
    (alerting/console, docs/console.md): per-brand summary, labelled windows,
    alerts and every bucket's counts. Only numbers the text report prints."""
    def number(value: float | None) -> float | None:
        return value if value is not None and math.isfinite(value) else None

    report = {
        "kind": "koubei-backtest-report", "version": 1, "source": source, "detector": result.detector,
        "first_time": result.first_time, "last_time": result.last_time, "bucket_seconds": bucket_seconds,
        "labelled": result.labels is not None,
        "summary": {"posts": len(result.file.posts), "matched_posts": result.matched_posts,
                    "invalid_lines": len(result.file.invalid),
                    "false_alerts_per_brand_week": number(result.false_alerts_per_brand_week())},
        "brands": [{"brand": b.brand, "name": b.name, "mentions": b.mentions, "negative": b.negative,
                    "negative_share": b.negative_share, "negative_alerts": b.negative_alerts,
                    "volume_alerts": b.volume_alerts, "false_alerts": b.false_alerts} for b in result.brands.values()],
        "windows": [{"brand": w.brand, "kind": w.kind, "onset": w.onset, "end": w.end, "expected": w.expected,
                     "passed": w.passed, "delay_seconds": number(w.delay_seconds),
                     "emitted_delay_seconds": number(w.emitted_delay_seconds)} for w in result.outcomes],
        "alerts": [{"brand": r.event.brand, "signal": r.event.signal, "state": r.event.state,
                    "severity": r.event.severity, "started_at": r.event.started_at, "event_time": r.event.event_time,
                    "emitted_at": r.emitted_at, "new": r.new, "negative": r.negative} for r in result.alerts],
        "series": {brand: [[p.start, p.total, p.negative] for p in points] for brand, points in result.series.items()},
    }
    Path(out).write_text(json.dumps(report, ensure_ascii=False, separators=(",", ":"), allow_nan=False),
                         encoding="utf-8")


def write_plots(result: BacktestResult, folder: str | Path) -> list[Path]:
    """One PNG per brand: volume bars, negative share, baseline band, alerts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    out_dir = Path(folder)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for brand, points in result.series.items():
        if not points:
            continue
        size = points[1].start - points[0].start if len(points) > 1 else 60.0
        span = points[-1].start - points[0].start + size
        # At most ~600 bars: a month of minute buckets becomes hourly bars.
        step = max(size, math.ceil(span / 600 / size) * size)
        bins: dict[float, list[int]] = {}
        for p in points:
            key = math.floor(p.start / step) * step
            acc = bins.setdefault(key, [0, 0])
            acc[0] += p.total
            acc[1] += p.negative
        starts = sorted(bins)
        times = [datetime.fromtimestamp(t, result.timezone) for t in starts]
        totals = [bins[t][0] for t in starts]
        negatives = [bins[t][1] for t in starts]
        # Share over a trailing window of ~15 bins so one-post minutes do not
        # draw a comb between 0 and 100 %.
        shares: list[float] = []
        window = 15 if step == size else 3
        for i in range(len(starts)):
            lo = max(0, i - window + 1)
            tot = sum(totals[lo:i + 1])
            shares.append(sum(negatives[lo:i + 1]) / tot if tot else float("nan"))
        fig, (ax_vol, ax_share) = plt.subplots(2, 1, sharex=True, figsize=(12, 6), height_ratios=(1, 1))
        width = step / 86400.0
        ax_vol.bar(times, totals, width=width, color="#9bb7d4", label="mentions", align="edge")
        ax_vol.bar(times, negatives, width=width, color="#d62728", label="negative", align="edge")
        ax_vol.set_ylabel(f"posts / {step / 60:g} min")
        ax_vol.legend(loc="upper left")
        ax_share.plot(times, shares, color="#d62728", lw=1.2, label="negative share")
        band = [(r.event.event_time, r.event.evidence.get("baseline_share", r.event.baseline_share))
                for r in result.alerts if r.event.brand == brand and r.negative]
        if band:
            # The detector reports its baseline only in alert evidence; show it
            # there with the binomial spread expected for a window of this size.
            typical = sorted(totals)[len(totals) // 2] * window or 1
            for t, base in band:
                spread = 2 * math.sqrt(max(base * (1 - base), 1e-6) / typical)
                moment = datetime.fromtimestamp(t, result.timezone)
                ax_share.errorbar([moment], [base], yerr=[[min(spread, base)], [spread]], fmt="o", color="#555555",
                                  ms=3, capsize=2)
            ax_share.plot([], [], "o", color="#555555", ms=3, label="baseline ±2σ (alert evidence)")
        for record in result.alerts:
            if record.event.brand != brand:
                continue
            moment = datetime.fromtimestamp(record.event.event_time, result.timezone)
            if record.event.state == "firing":
                color = "#ff7f0e" if not record.negative else ("#d62728" if record.new else "#e377c2")
            else:
                color = "#2ca02c"
            for ax in (ax_vol, ax_share):
                ax.axvline(moment, color=color, lw=1, ls="--", alpha=0.8)
        for window in result.outcomes:
            if window.brand != brand:
                continue
            shade = "#ffdddd" if window.expected == NEGATIVE_ALERT else "#ddffdd"
            for ax in (ax_vol, ax_share):
                ax.axvspan(datetime.fromtimestamp(window.onset, result.timezone),
                           datetime.fromtimestamp(window.end, result.timezone), color=shade, alpha=0.5, lw=0)
        ax_share.set_ylim(0, 1)
        ax_share.set_ylabel("negative share")
        ax_share.legend(loc="upper left")
        ax_share.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M", tz=result.timezone))
        fig.autofmt_xdate()
        # Brand ids, not names: the default fonts often lack CJK glyphs.
        fig.suptitle(f"{brand}: mentions, negative share and alerts "
                     "(red = negative alert, orange = volume, green = resolved; shaded = labeled window)")
        fig.tight_layout()
        path = out_dir / f"{brand}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written


# ---------------------------------------------------------------- command

def run_backtest(args: argparse.Namespace) -> int:
    """The POSTS.jsonl mode of ``koubei backtest`` (the sub-command lives in streams.detection.cli)."""
    posts_path = Path(args.posts)
    sidecar = labels_path(posts_path)
    labels: dict[str, Any] | None = None
    try:
        if sidecar.exists():
            labels = load_labels(sidecar)
        config_path = getattr(args, "config", None)
        if config_path:
            config = load_config(config_path)
        elif labels is not None:
            config = config_from_labels(labels)
        else:
            raise BacktestError(f"no --config given and no labels sidecar {sidecar.name} next to {posts_path.name}: "
                                "pass --config koubei.yaml so the backtest knows which brands to track")
        file = read_posts(posts_path, history_gate(config.input), getattr(args, "format", None))
    except (BacktestError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise  # the CLI prints configuration errors in its own format
        print(f"koubei backtest: {exc}", file=sys.stderr)
        return 2
    if not file.posts:
        print(f"koubei backtest: {posts_path} holds no valid post ({len(file.invalid)} invalid lines)", file=sys.stderr)
        for item in file.invalid[:INVALID_EXAMPLES]:
            print(f"  line {item.line_no}: {item.reason}: {item.message}", file=sys.stderr)
        return 1
    try:
        scorer = load_configured_scorer(config)
    except (OSError, RuntimeError, ValueError) as exc:
        print(f"koubei backtest: cannot load the sentiment model {config.sentiment.model!r}: {exc}", file=sys.stderr)
        return 2
    result = backtest_posts(file, config, scorer, labels=labels, progress=ProgressBar("scoring"))
    print(format_report(result, str(posts_path)))
    json_out = getattr(args, "json", None)
    if json_out:
        count = write_alerts_json(result, json_out)
        print(f"\n{count} alert events written to {json_out}")
    report_out = getattr(args, "report_json", None)
    if report_out:
        write_report_json(result, report_out, posts_path.name, config.buckets.size_seconds)
        print(f"report for the console written to {report_out}")
    plot_dir = getattr(args, "plot", None)
    if plot_dir:
        try:
            written = write_plots(result, plot_dir)
        except ImportError:
            print("koubei backtest: --plot needs matplotlib (pip install 'koubei-sentinel[plot]')", file=sys.stderr)
            return 2
        print(f"{len(written)} plot(s) written to {plot_dir}")
    return 0

