"""Score the detector on NAB's realTweets series with NAB's protocol.

Our own implementation of NAB's published scoring rules, reading the label
windows and profiles that come with the data: detections in the first 15 %
of a series (probation) are ignored; within a label window the first
detection scores by a scaled sigmoid of its position; a detection outside
every window costs the profile's false-positive weight and a window without
one its false-negative weight; the sum is normalised between the null
detector (0) and the perfect one (100).

Usage::

    .venv/bin/python bench/nab_score.py --data ../shared/data/nab
    .venv/bin/python bench/nab_score.py --data ../shared/data/nab --scored DIR
    .venv/bin/python bench/nab_score.py --data ../shared/data/nab --loco

``--loco``: leave-one-category-out over the 53 series of
``combined_windows.json``. Every setting of a small grid of the volume
signal's parameters (36 settings) is run on every series once (``--jobs``
settings at a time); for each category, the
setting with the best standard score on the *other* categories is picked
and that category's score with it is reported (held out). The table says
which setting each category got; only the held-out column is a claim.

Without ``--scored`` the detector runs in-process with default settings
(exactly what ``koubei backtest --series`` does); with it, the
``OUT.csv`` files written by ``koubei backtest --series`` are scored
(``DIR/Twitter_volume_AAPL.csv`` ...). A row is a detection when its
``alert`` column is 1 (or, with ``--threshold T``, when ``anomaly_score >= T``).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROBATION_SHARE = 0.15
PROBATION_MAX_ROWS = 0.15 * 5000  # NAB caps probation at 750 rows
PROFILE_NAMES = {"standard": "standard", "reward_low_FP": "reward_low_FP_rate", "reward_low_FN": "reward_low_FN_rate"}


def scaled_sigmoid(position: float) -> float:
    """+0.987 at a window's left edge (-1), 0 at its right edge (0), towards
    -1 after it; a point three widths or more past a window is a full -1."""
    if position >= 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


@dataclass
class FileScore:
    raw: float
    perfect: float
    null: float
    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def normalised(self) -> float:
        span = self.perfect - self.null
        return 100.0 * (self.raw - self.null) / span if span else 0.0


def probation_rows(n_rows: int) -> int:
    return int(min(math.floor(PROBATION_SHARE * n_rows), PROBATION_MAX_ROWS))


def window_indices(times: list[float], windows: list[tuple[float, float]]) -> list[tuple[int, int]]:
    """Each window as [first row inside, last row inside]; windows with no row are dropped."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(windows):
        inside = [i for i, t in enumerate(times) if start <= t <= end]
        if inside:
            out.append((inside[0], inside[-1]))
    return out


def score_file(times: list[float], detections: list[bool], windows: list[tuple[float, float]],
               cost: dict[str, float]) -> FileScore:
    """NAB score of one file for one cost profile (tpWeight, fpWeight, fnWeight)."""
    if len(times) != len(detections):
        raise ValueError("times and detections differ in length")
    tp_w, fp_w, fn_w = cost["tpWeight"], cost["fpWeight"], cost["fnWeight"]
    probation = probation_rows(len(times))
    spans = window_indices(times, windows)
    max_tp = scaled_sigmoid(-1.0)
    # A window lying wholly inside probation is not scored at all.
    scored_windows = [k for k, (_, right) in enumerate(spans) if right >= probation]
    best: dict[int, float | None] = {k: None for k in scored_windows}
    fp_total = 0.0
    fp_count = 0
    k = 0  # index of the next window not yet passed
    previous: tuple[int, int] | None = None
    for i, detected in enumerate(detections):
        while k < len(spans) and spans[k][1] < i:
            previous = spans[k]
            k += 1
        inside = k < len(spans) and spans[k][0] <= i <= spans[k][1]
        if not detected or i < probation:
            continue
        if inside:
            left, right = spans[k]
            width = right - left + 1
            reward = tp_w * scaled_sigmoid(-(right - i + 1) / width) / max_tp
            current = best[k]
            if current is None or reward > current:
                best[k] = reward
        else:
            if previous is None:
                penalty = -1.0
            else:
                prev_width = previous[1] - previous[0] + 1
                penalty = scaled_sigmoid((i - previous[1]) / max(prev_width - 1, 1))
            fp_total += fp_w * penalty
            fp_count += 1
    hits = [v for v in best.values() if v is not None]
    misses = len(best) - len(hits)
    raw = sum(hits) + fp_total - fn_w * misses
    return FileScore(raw=raw, perfect=tp_w * len(best), null=-fn_w * len(best),
                     true_positives=len(hits), false_positives=fp_count, false_negatives=misses)


def load_windows(path: Path) -> dict[str, list[tuple[float, float]]]:
    from streams.detection.series import parse_timestamp

    data = json.loads(path.read_text(encoding="utf-8"))
    return {name: [(parse_timestamp(a, name), parse_timestamp(b, name)) for a, b in pairs]
            for name, pairs in data.items()}


def load_profiles(path: Path) -> dict[str, dict[str, float]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return {short: dict(data[long]["CostMatrix"]) for short, long in PROFILE_NAMES.items()}


def read_scored(path: Path, threshold: float | None) -> tuple[list[float], list[bool]]:
    from streams.detection.series import parse_timestamp

    times: list[float] = []
    flags: list[bool] = []
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            times.append(parse_timestamp(row["timestamp"], str(path)))
            flag = float(row["anomaly_score"]) >= threshold if threshold is not None else row["alert"].strip() == "1"
            flags.append(flag)
    return times, flags


def run(data: Path, scored_dir: Path | None, threshold: float | None) -> dict[str, Any]:
    from streams.detection.series import read_series, score_series

    windows = load_windows(data / "windows.json")
    profiles = load_profiles(data / "profiles.json")
    results: dict[str, dict[str, FileScore]] = {}
    for name in sorted(windows):
        if scored_dir is not None:
            times, flags = read_scored(scored_dir / Path(name).name, threshold)
        else:
            rows = read_series(data / name)
            scored = score_series(rows)
            times = [r.row.epoch for r in scored]
            flags = [r.anomaly_score >= threshold if threshold is not None else r.alert == 1 for r in scored]
        results[name] = {prof: score_file(times, flags, windows[name], cost) for prof, cost in profiles.items()}
    totals = {}
    for prof in profiles:
        raw = sum(r[prof].raw for r in results.values())
        perfect = sum(r[prof].perfect for r in results.values())
        null = sum(r[prof].null for r in results.values())
        totals[prof] = FileScore(raw, perfect, null,
                                 sum(r[prof].true_positives for r in results.values()),
                                 sum(r[prof].false_positives for r in results.values()),
                                 sum(r[prof].false_negatives for r in results.values()))
    return {"files": results, "total": totals, "profiles": list(profiles)}


LOCO_GRID: dict[str, list[float]] = {
    "volume_z_fire": [6.0, 8.0, 10.0],
    "volume_tail_margin": [1.0, 1.2, 1.5],
    "volume_confirm_z": [0.0, 5.0],
    "volume_long_z": [0.0, 3.5],
}


def _category_score(files: dict[str, FileScore]) -> float:
    raw = sum(f.raw for f in files.values())
    perfect = sum(f.perfect for f in files.values())
    null = sum(f.null for f in files.values())
    return 100.0 * (raw - null) / (perfect - null) if perfect != null else 0.0


def _score_setting(job: tuple[Path, dict[str, float]]) -> dict[str, FileScore]:
    """Every series of combined_windows.json with one setting (one process's work)."""
    from streams.detection.params import build_params
    from streams.detection.series import score_series

    data, overrides = job
    windows = load_windows(data / "combined_windows.json")
    standard = load_profiles(data / "profiles.json")["standard"]
    params = build_params("balanced", overrides)
    scores = {}
    for name in sorted(windows):
        scored = score_series(_shifted_series(data / name), params)
        scores[name] = score_file([r.row.epoch for r in scored], [r.alert == 1 for r in scored], windows[name],
                                  standard)
    return scores


def loco(data: Path, progress: bool = True, jobs: int = 1) -> dict[str, Any]:
    """Leave-one-category-out over combined_windows.json (see the module docstring)."""
    import itertools
    from concurrent.futures import ProcessPoolExecutor

    windows = load_windows(data / "combined_windows.json")
    series = sorted(windows)
    names = list(LOCO_GRID)
    settings = [dict(zip(names, values, strict=True)) for values in itertools.product(*(LOCO_GRID[n] for n in names))]
    per_setting: list[dict[str, FileScore]] = []
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        for i, scores in enumerate(pool.map(_score_setting, [(data, o) for o in settings])):
            per_setting.append(scores)
            if progress:
                print(f"  setting {i + 1}/{len(settings)} {settings[i]}: all-series score "
                      f"{_category_score(scores):.1f}", file=sys.stderr, flush=True)
    categories = sorted({name.split("/")[0] for name in series})
    rows = []
    for held in categories:
        def others(scores: dict[str, FileScore], held: str = held) -> float:
            return _category_score({k: v for k, v in scores.items() if not k.startswith(held + "/")})

        best = max(range(len(settings)), key=lambda i: (others(per_setting[i]), -i))
        inside = {k: v for k, v in per_setting[best].items() if k.startswith(held + "/")}
        default = {k: v for k, v in per_setting[settings.index(_default_setting(names))].items()
                   if k.startswith(held + "/")} if _default_setting(names) in settings else {}
        rows.append({"category": held, "files": len(inside), "setting": settings[best],
                     "train_score": others(per_setting[best]), "held_out": _category_score(inside),
                     "default_held": _category_score(default) if default else None,
                     "tp": sum(f.true_positives for f in inside.values()),
                     "fp": sum(f.false_positives for f in inside.values()),
                     "fn": sum(f.false_negatives for f in inside.values())})
    return {"rows": rows, "settings": len(settings)}


def _shifted_series(path: Path) -> list[Any]:
    """A NAB series as counts: the detector tests counts, and some NAB series
    (the artificial ones, some AWS metrics) go below zero, so a series whose
    minimum is negative is shifted up by that minimum."""
    from streams.detection.series import SeriesRow, parse_timestamp

    rows: list[tuple[str, float, float]] = []
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            rows.append((row["timestamp"], parse_timestamp(row["timestamp"], str(path)), float(row["value"])))
    low = min(v for _, _, v in rows)
    shift = -low if low < 0 else 0.0
    return [SeriesRow(text, epoch, value + shift) for text, epoch, value in rows]


def _default_setting(names: list[str]) -> dict[str, float]:
    from streams.detection.params import AdaptiveParams

    defaults = AdaptiveParams()
    return {n: float(getattr(defaults, n)) for n in names}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the nab/ folder (windows.json, profiles.json, realTweets/)")
    parser.add_argument("--scored", type=Path, help="folder of OUT.csv files from koubei backtest --series")
    parser.add_argument("--threshold", type=float, help="score anomaly_score >= T instead of the alert column")
    parser.add_argument("--loco", action="store_true", help="leave-one-category-out over combined_windows.json")
    parser.add_argument("--jobs", type=int, default=1, help="--loco: settings scored at once")
    args = parser.parse_args(argv)
    if args.loco:
        if not (args.data / "combined_windows.json").is_file():
            print(f"nab_score: {args.data}/combined_windows.json not found", file=sys.stderr)
            return 2
        out = loco(args.data, jobs=args.jobs)
        print("| held-out category | files | setting chosen on the other categories | their score | "
              "**held-out standard score** | with today's defaults | TP | FP | FN |")
        print("|---|---|---|---|---|---|---|---|---|")
        for r in out["rows"]:
            setting = ", ".join(f"{k}={v:g}" for k, v in r["setting"].items())
            default = "-" if r["default_held"] is None else f"{r['default_held']:.1f}"
            print(f"| {r['category']} | {r['files']} | {setting} | {r['train_score']:.1f} | **{r['held_out']:.1f}** | "
                  f"{default} | {r['tp']} | {r['fp']} | {r['fn']} |")
        return 0
    if not (args.data / "windows.json").is_file():
        print(f"nab_score: {args.data}/windows.json not found", file=sys.stderr)
        return 2
    out = run(args.data, args.scored, args.threshold)
    profiles = out["profiles"]
    print("| file | " + " | ".join(profiles) + " | TP | FP | FN |")
    print("|---|" + "---|" * (len(profiles) + 3))
    for name, scores in out["files"].items():
        std = scores["standard"]
        cells = " | ".join(f"{scores[p].normalised:.1f}" for p in profiles)
        print(f"| {Path(name).name} | {cells} | {std.true_positives} | {std.false_positives} | {std.false_negatives} |")
    total = out["total"]
    std = total["standard"]
    cells = " | ".join(f"**{total[p].normalised:.1f}**" for p in profiles)
    print(f"| **total** | {cells} | {std.true_positives} | {std.false_positives} | {std.false_negatives} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
