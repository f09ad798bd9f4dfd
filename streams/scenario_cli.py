"""``koubei scenario``: write a synthetic, labeled scenario (see streams.scenario)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from streams.corpus import TEXT_FORMATS, LabelledTexts, TextCorpusError, parse_label_map, read_labelled_texts
from streams.scenario import KINDS, generate, plan_scenario, write_scenario
from streams.scenario_real import BRAND_IDS, REAL_KINDS, generate_real, plan_real
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
    if args.texts:
        return _real_scenario(args, brands)
    kind = args.kind or "demo"
    if kind not in KINDS:
        print(f"koubei scenario: --kind {kind} needs --texts (the phrase bank has {', '.join(KINDS)})",
              file=sys.stderr)
        return 2
    try:
        spec = plan_scenario(kind, seed=args.seed, start=args.start, days=args.days, brands=brands,
                             scale=args.scale)
    except ValueError as exc:
        print(f"koubei scenario: {exc}", file=sys.stderr)
        return 2
    scenario = generate(spec)
    return _write(args, scenario)


def _real_scenario(args: argparse.Namespace, brands: list[str] | None) -> int:
    kind = args.kind or "mix"
    try:
        plan = plan_real(kind, seed=args.seed, start=args.start, days=args.days, brands=brands, scale=args.scale)
        labels = parse_label_map(args.texts_labels) if args.texts_labels else None
        texts = LabelledTexts()
        for path in args.texts:
            read_labelled_texts(path, args.texts_format, strip_emoticons=args.strip_emoticons, into=texts,
                                labels=labels)
    except (ValueError, TextCorpusError) as exc:
        print(f"koubei scenario: {exc}", file=sys.stderr)
        return 2
    print(f"texts: {len(texts.positive):,} positive, {len(texts.negative):,} negative, {len(texts.neutral):,} neutral "
          f"({texts.skipped:,} rows skipped) from {', '.join(texts.sources)}", file=sys.stderr)
    if texts.unknown_labels:
        unknown = ", ".join(f"{label!r} ({count:,})" for label, count in texts.unknown_labels.most_common(5))
        print(f"  rows skipped for labels not known: {unknown}; --texts-labels says what they mean", file=sys.stderr)
    try:
        scenario = generate_real(plan, texts, progress=lambda msg: print(f"  {msg}", file=sys.stderr))
    except TextCorpusError as exc:
        print(f"koubei scenario: {exc}", file=sys.stderr)
        return 2
    return _write(args, scenario)


def _write(args: argparse.Namespace, scenario: Any) -> int:
    spec = scenario.spec
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
    p.add_argument("--kind", choices=tuple(dict.fromkeys(KINDS + REAL_KINDS)), default=None,
                   help="what happens (default: demo; with --texts: mix). kol and mix need --texts")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--start", default=None, metavar="ISO",
                   help="first moment, e.g. 2026-03-02T00:00+08:00 (default; naive times are Beijing time)")
    p.add_argument("--days", type=float, default=None,
                   help="length in days (default: 1 for demo, 30 for calm_month, else 2)")
    p.add_argument("--brands", type=_brand_list, action="append", metavar="ID[,ID...]",
                   help=f"brands from the phrase bank: {', '.join(PROFILES)} (default: all, chenguang first); "
                        f"with --texts: {', '.join(BRAND_IDS)} (default: the first four)")
    p.add_argument("--texts", action="append", metavar="FILE",
                   help="draw every post's words from this labelled corpus instead of the phrase bank "
                        "(repeatable; weibo2018 'mid,label,text', CSV 'label,review', the online_shopping "
                        "zip 'cat,label,review', any CSV or TSV with a header naming its label and text columns "
                        "(text/content/review..., label/sentiment/emotion...) or without one, JSON lines or a JSON "
                        "list of records)")
    p.add_argument("--texts-format", choices=TEXT_FORMATS, default="auto",
                   help="format of the --texts files (default: auto, by extension and first lines)")
    p.add_argument("--texts-labels", metavar="LABEL=CLASS[,...]",
                   help="what the --texts labels mean when they are not 0/1 or -1/0/1 or words, e.g. "
                        "0=negative,1=neutral,2=positive (classes: positive, negative, neutral)")
    p.add_argument("--strip-emoticons", action="store_true",
                   help="remove [xx] emoticon tokens from the texts (for corpora labelled from them)")
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
