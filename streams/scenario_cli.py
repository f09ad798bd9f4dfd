"""``koubei scenario``: write a synthetic, labeled scenario (see streams.scenario)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from streams.scenario import KINDS, generate, plan_scenario, write_scenario
from streams.scenario_texts import PROFILES


def _brand_list(value: str) -> list[str]:
    brands = [b.strip() for b in value.replace(" ", ",").split(",") if b.strip()]
    if not brands:
        raise argparse.ArgumentTypeError("give at least one brand id")
    return brands


def cmd_scenario(args: argparse.Namespace) -> int:
    brands: list[str] | None = None
    if args.brands:
        brands = [b for group in args.brands for b in group]
    try:
        spec = plan_scenario(args.kind, seed=args.seed, start=args.start, days=args.days, brands=brands,
                             scale=args.scale)
    except ValueError as exc:
        print(f"koubei scenario: {exc}", file=sys.stderr)
        return 2
    scenario = generate(spec)
    try:
        sidecar = write_scenario(scenario, args.out, config_out=args.config_out)
    except OSError as exc:
        print(f"koubei scenario: cannot write {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    labels = scenario.labels
    print(f"{labels['posts']:,} posts ({spec.kind}, seed {spec.seed}, {spec.days:g} days from "
          f"{spec.start.isoformat()}) -> {args.out}")
    print(f"labels -> {sidecar}")
    for brand in labels["brands"]:
        windows = "; ".join(f"{w['kind']} {w['onset'][5:16]}..{w['end'][11:16]} expects {w['expected']}"
                            for w in brand["windows"]) or "calm"
        print(f"  {brand['id']:<10} {brand['posts']:>7,} posts  {windows}")
    if args.config_out:
        print(f"config -> {args.config_out}")
    return 0


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    p = subparsers.add_parser(
        "scenario",
        help="write a synthetic labeled scenario (JSONL posts + FILE.labels.json)",
        description=("Write Weibo-like synthetic posts about fictional brands, with a sidecar of labels "
                     "(crisis onset/end and whether a negative alert is expected). The first brand listed "
                     "gets the event of the kind; the others stay calm. Same arguments, same bytes."),
    )
    p.add_argument("--out", required=True, metavar="FILE.jsonl", help="where to write the posts")
    p.add_argument("--kind", choices=KINDS, default="demo", help="what happens (default: demo)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--start", default=None, metavar="ISO",
                   help="first moment, e.g. 2026-03-02T00:00+08:00 (default; naive times are Beijing time)")
    p.add_argument("--days", type=float, default=None,
                   help="length in days (default: 1 for demo, 30 for calm_month, else 2)")
    p.add_argument("--brands", type=_brand_list, action="append", metavar="ID[,ID...]",
                   help=f"brands from the phrase bank: {', '.join(PROFILES)} (default: all, chenguang first)")
    p.add_argument("--scale", type=float, default=1.0, help="volume multiplier (default 1: ~10,000 posts a day)")
    p.add_argument("--config-out", metavar="koubei.yaml", help="also write a config that tracks these brands")
    p.set_defaults(func=cmd_scenario)


def main(argv: list[str] | None = None) -> int:
    """``python -m streams.scenario_cli ...``: the same as ``koubei scenario ...``."""
    parser = argparse.ArgumentParser(prog="koubei")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["scenario", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
