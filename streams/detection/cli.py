"""``koubei backtest``: the same detector code over history.

Two modes share the sub-command:

* ``koubei backtest --series FILE.csv --out OUT.csv``: a NAB-format series
  (``timestamp,value``) through the volume detector with default settings;
  writes ``timestamp,value,anomaly_score,alert``. Other tools rely on this
  interface: keep it stable.
* ``koubei backtest POSTS.jsonl [--config FILE] [--plot DIR]``: posts scored
  and detected offline, implemented in ``streams.backtest``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from streams.readers import FORMATS


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "backtest",
        help="replay history through the detector (posts, or a NAB-format series)",
        description="Replay history through the spike detector: POSTS.jsonl, or --series FILE.csv --out OUT.csv.",
    )
    parser.add_argument("posts", nargs="?", metavar="POSTS.jsonl",
                        help="posts to score and detect offline: JSONL of posts, a crawler file or a folder of them")
    parser.add_argument("--format", choices=FORMATS, default=None,
                        help="format of POSTS; default: told apart per file (" + ", ".join(FORMATS) + ")")
    parser.add_argument("--series", metavar="FILE.csv", help="NAB-format series timestamp,value (mentions per bucket)")
    parser.add_argument("--out", metavar="OUT.csv", help="with --series: where to write timestamp,value,anomaly_score,alert")
    parser.add_argument("--config", metavar="FILE", help="configuration file (brands, detection settings)")
    parser.add_argument("--plot", metavar="DIR", help="write one PNG per brand into DIR")
    parser.add_argument("--json", metavar="OUT", help="also write every alert event as a JSON line (as on koubei.alerts)")
    parser.add_argument("--report-json", metavar="FILE",
                        help="also write the run as one JSON report for the PR console's backtest page")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.series is not None:
        if args.posts is not None:
            print("koubei backtest: give either POSTS.jsonl or --series, not both", file=sys.stderr)
            return 2
        if not args.out:
            print("koubei backtest: --series needs --out OUT.csv", file=sys.stderr)
            return 2
        return _run_series(args.series, args.out)
    if args.out:
        print("koubei backtest: --out is only used with --series", file=sys.stderr)
        return 2
    if args.posts is None:
        print("koubei backtest: give POSTS.jsonl, or --series FILE.csv --out OUT.csv", file=sys.stderr)
        return 2
    # Imported here: the posts mode loads the scorer, which the series mode does not need.
    from streams.backtest import run_backtest

    return int(run_backtest(args) or 0)


def _run_series(source: str, out: str) -> int:
    from streams.detection.series import SeriesError, read_series, score_series, write_scored

    try:
        rows = read_series(source)
    except SeriesError as exc:
        print(f"koubei backtest: {exc}", file=sys.stderr)
        return 2
    scored = score_series(rows)
    try:
        written = write_scored(out, scored)
    except OSError as exc:
        print(f"koubei backtest: cannot write {out}: {exc.strerror}", file=sys.stderr)
        return 2
    alerts = sum(r.alert for r in scored)
    print(f"{written} rows scored, {alerts} alert(s) -> {out}")
    return 0
