"""Inline SVG charts for the console: no JavaScript, no external files (the
console must work on a machine without internet access).

Each function takes plain numbers and returns an ``<svg>`` element as text;
labels are escaped, and non-finite numbers are skipped, never drawn.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

NEGATIVE = "#d62728"
VOLUME = "#9bb7d4"
SHARE = "#b22222"
BASELINE = "#555"
# A white outline under text drawn over bars keeps it readable.
HALO = 'stroke="#fff" stroke-width="3" paint-order="stroke"'
MARK_COLOURS = {"fired": "#ff7f0e", "escalated": "#d62728", "deescalated": "#ff7f0e", "resolved": "#2ca02c",
                "alert": "#d62728"}


@dataclass(frozen=True)
class Point:
    """One bar of a timeline: posts and negative posts from ``start`` for ``size`` seconds."""

    start: float
    size: float
    total: int
    negative: int

    @property
    def share(self) -> float | None:
        return self.negative / self.total if self.total > 0 else None


@dataclass(frozen=True)
class Mark:
    """A moment marked on a timeline (an alert fired, escalated, resolved)."""

    at: float
    kind: str  # a key of MARK_COLOURS
    label: str


def _finite(values: Sequence[float]) -> list[float]:
    return [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]


def sparkline(values: Sequence[float], negatives: Sequence[float] | None = None, width: int = 120,
              height: int = 28, title: str = "") -> str:
    """Bars of ``values`` (grey) with ``negatives`` over them (red)."""
    shown = _finite(values)
    top = max(shown + [1.0])
    n = max(len(values), 1)
    bar = width / n
    parts = [f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             f'role="img" aria-label="{escape(title)}">']
    if title:
        parts.append(f"<title>{escape(title)}</title>")
    for i, value in enumerate(values):
        if not (isinstance(value, (int, float)) and math.isfinite(value)) or value <= 0:
            continue
        h = max(1.0, value / top * (height - 2))
        parts.append(f'<rect x="{i * bar:.1f}" y="{height - h:.1f}" width="{max(bar - 1, 1):.1f}" '
                     f'height="{h:.1f}" fill="{VOLUME}"/>')
        neg = negatives[i] if negatives is not None and i < len(negatives) else 0.0
        if isinstance(neg, (int, float)) and math.isfinite(neg) and neg > 0:
            hn = max(1.0, min(neg, value) / top * (height - 2))
            parts.append(f'<rect x="{i * bar:.1f}" y="{height - hn:.1f}" width="{max(bar - 1, 1):.1f}" '
                         f'height="{hn:.1f}" fill="{NEGATIVE}"/>')
    parts.append("</svg>")
    return "".join(parts)


def _nice_step(span: float, target: int) -> float:
    """A round step (1, 2, 5 x 10^k) giving about ``target`` ticks over ``span``."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / max(target, 1)
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return factor * power
    return 10 * power


_TIME_STEPS = (60, 300, 600, 900, 1800, 3600, 2 * 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400)


def timeline(points: Sequence[Point], marks: Sequence[Mark] = (), *, baseline: float | None = None,
             span: tuple[float, float] | None = None, clock: Callable[[float], str] = str,
             labels: dict[str, str] | None = None, width: int = 860, height: int = 320) -> str:
    """Volume bars (grey, negative in red) over a negative-share line, the
    baseline share dashed, ``marks`` as vertical lines and ``span`` (the
    time an alert was firing) shaded. ``clock`` formats a tick's time;
    ``labels`` names the axes ({"volume", "share", "baseline"})."""
    words = {"volume": "posts", "share": "negative share", "baseline": "baseline", **(labels or {})}
    usable = [p for p in points if math.isfinite(p.start) and math.isfinite(p.size) and p.size > 0]
    left, right, top_pad, gap, bottom = 56, 12, 14, 26, 36
    panel = (height - top_pad - gap - bottom) / 2
    vol_top, share_top = top_pad, top_pad + panel + gap
    plot_w = width - left - right
    out = [f'<svg class="timeline" viewBox="0 0 {width} {height}" width="100%" role="img" '
           f'aria-label="{escape(words["volume"])} / {escape(words["share"])}" '
           f'preserveAspectRatio="xMidYMid meet" font-family="sans-serif" font-size="11">']
    if not usable:
        out.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" fill="#888">–</text></svg>')
        return "".join(out)
    t0 = min(p.start for p in usable)
    t1 = max(p.start + p.size for p in usable)
    # Marks widen the axis, but only near the data: a mark dated years away
    # (a damaged record) is left out rather than squeezing the bars to a line.
    reach = max(t1 - t0, 3600.0)
    marks = [m for m in marks if math.isfinite(m.at) and t0 - reach <= m.at <= t1 + reach]
    for mark in marks:
        t0, t1 = min(t0, mark.at), max(t1, mark.at)
    t1 = t1 if t1 > t0 else t0 + 60

    def x(t: float) -> float:
        return left + (t - t0) / (t1 - t0) * plot_w

    vmax = max(max(p.total for p in usable), 1)
    vstep = _nice_step(vmax, 3)
    vmax = math.ceil(vmax / vstep) * vstep
    # Axes and grid.
    for tick in range(0, int(vmax) + 1, max(int(vstep), 1)):
        y = vol_top + panel - tick / vmax * panel
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#666">{tick}</text>')
    for pct in (0, 25, 50, 75, 100):
        y = share_top + panel - pct / 100 * panel
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#666">{pct}%</text>')
    titles = [(vol_top + 11, words["volume"]), (share_top + 11, words["share"])]
    if span is not None and all(math.isfinite(v) for v in span):
        a, b = max(span[0], t0), min(span[1], t1)
        if b > a:
            out.append(f'<rect class="firing" x="{x(a):.1f}" y="{top_pad}" width="{x(b) - x(a):.1f}" '
                       f'height="{height - top_pad - bottom}" fill="#fde0dc" opacity="0.6"/>')
    # Volume bars.
    for p in usable:
        bx, bw = x(p.start), max(x(p.start + p.size) - x(p.start) - 0.5, 0.6)
        h = p.total / vmax * panel
        out.append(f'<rect x="{bx:.1f}" y="{vol_top + panel - h:.1f}" width="{bw:.1f}" height="{h:.1f}" '
                   f'fill="{VOLUME}"/>')
        hn = min(p.negative, p.total) / vmax * panel
        if hn > 0:
            out.append(f'<rect x="{bx:.1f}" y="{vol_top + panel - hn:.1f}" width="{bw:.1f}" height="{hn:.1f}" '
                       f'fill="{NEGATIVE}"/>')
    # Negative share line (gaps where a bar had no posts).
    segment: list[str] = []
    segments: list[list[str]] = []
    for p in usable:
        share = p.share
        if share is None:
            if segment:
                segments.append(segment)
            segment = []
            continue
        y = share_top + panel - min(max(share, 0.0), 1.0) * panel
        segment.append(f"{x(p.start + p.size / 2):.1f},{y:.1f}")
    if segment:
        segments.append(segment)
    for seg in segments:
        if len(seg) == 1:
            cx, cy = seg[0].split(",")
            out.append(f'<circle cx="{cx}" cy="{cy}" r="1.5" fill="{SHARE}"/>')
        else:
            out.append(f'<polyline class="share" points="{" ".join(seg)}" fill="none" stroke="{SHARE}" '
                       'stroke-width="1.5"/>')
    if baseline is not None and math.isfinite(baseline) and 0.0 <= baseline <= 1.0:
        y = share_top + panel - baseline * panel
        out.append(f'<line class="baseline" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
                   f'stroke="{BASELINE}" stroke-dasharray="5,4"/>')
        out.append(f'<text x="{width - right - 4}" y="{y - 4:.1f}" text-anchor="end" fill="{BASELINE}">'
                   f'{escape(words["baseline"])} {baseline:.0%}</text>')
    # Time axis.
    step = next((s for s in _TIME_STEPS if (t1 - t0) / s <= 8), _TIME_STEPS[-1])
    tick = math.ceil(t0 / step) * step
    while tick <= t1:
        tx = x(tick)
        out.append(f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{height - bottom}" y2="{height - bottom + 4}" stroke="#666"/>')
        out.append(f'<text x="{tx:.1f}" y="{height - bottom + 16}" text-anchor="middle" fill="#666">'
                   f'{escape(clock(tick))}</text>')
        tick += step
    for y, title in titles:  # panel titles inside the plot, over the bars
        out.append(f'<text x="{left + 4}" y="{y}" fill="#333" {HALO}>{escape(title)}</text>')
    # Marks on top; each label on the first row where it does not run into the previous one.
    row_ends: list[float] = []
    for mark in sorted((m for m in marks if math.isfinite(m.at)), key=lambda m: m.at):
        mx = x(mark.at)
        colour = MARK_COLOURS.get(mark.kind, "#333")
        out.append(f'<line class="mark mark-{escape(mark.kind)}" x1="{mx:.1f}" x2="{mx:.1f}" y1="{top_pad}" '
                   f'y2="{height - bottom}" stroke="{colour}" stroke-width="1.5" stroke-dasharray="4,2"/>')
        wide = sum(11 if ord(ch) > 0x2E80 else 6 for ch in mark.label) + 6
        anchor = "end" if mx + wide > width - right else "start"
        lo, hi = (mx - wide, mx) if anchor == "end" else (mx, mx + wide)
        row = next((i for i, end in enumerate(row_ends) if lo > end), len(row_ends))
        if row == len(row_ends):
            row_ends.append(hi)
        row_ends[row] = hi
        dx = -3 if anchor == "end" else 3
        out.append(f'<text x="{mx + dx:.1f}" y="{top_pad + 10 + row * 12}" text-anchor="{anchor}" fill="{colour}" '
                   f'{HALO}>{escape(mark.label)}</text>')
    out.append("</svg>")
    return "".join(out)


def downsample(points: Sequence[Point], max_bars: int = 240) -> list[Point]:
    """At most ``max_bars`` bars: neighbouring buckets added up (a week of
    minutes becomes hourly bars)."""
    if len(points) <= max_bars:
        return list(points)
    ordered = sorted(points, key=lambda p: p.start)
    t0 = ordered[0].start
    span = ordered[-1].start + ordered[-1].size - t0
    size = max(p.size for p in ordered)
    step = max(size, math.ceil(span / max_bars / size) * size)
    bins: dict[int, list[int]] = {}
    for p in ordered:
        slot = int((p.start - t0) // step)
        acc = bins.setdefault(slot, [0, 0])
        acc[0] += p.total
        acc[1] += p.negative
    return [Point(t0 + slot * step, step, acc[0], acc[1]) for slot, acc in sorted(bins.items())]
