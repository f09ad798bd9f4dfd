"""Evaluation table for docs/benchmarks.md.

    .venv/bin/python bench/sentiment_eval.py --data ../shared/data --model-out /tmp/weibo2018-90.model [--cv]

Trains both classifiers on 90 % of weibo2018_train (fixed seed, the same
split as ``koubei sentiment train/eval --holdout 0.1``): the default NB-weighted
logistic regression (written to --model-out) and SnowNLP's naive Bayes
(--model-out + ".nb"). Then prints accuracy, negative-class
precision/recall/F1, ROC AUC and posts/s for each configuration on each
labeled corpus. "stock SnowNLP" runs the snownlp package itself; model files
are written where --model-out says (never into the repository).

``--cv`` first prints 5-fold cross-validation numbers inside the 90 % (the
held-out 10 % is not read for them): the protocol used to choose the
classifier and its settings.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from streams.sentiment import load_scorer
from streams.sentiment._scorer import shared_segmenter
from streams.sentiment.evaluation import EvalReport, Example, evaluate, holdout_split, metrics, read_dataset
from streams.sentiment.training import train_model


def snownlp_report(examples: list[Example]) -> EvalReport:
    import snownlp

    started = time.perf_counter()
    negative = []
    for example in examples:
        try:
            negative.append(1 - snownlp.SnowNLP(example.text).sentiments)
        except ZeroDivisionError:  # SnowNLP('') raises; count it as its prior
            negative.append(1 - 0.5262327818078083)
    return metrics(negative, examples, seconds=time.perf_counter() - started)


def cross_validate(train: list[Example], classifier: str, folds: int = 5, seed: int = 7) -> None:
    """k-fold CV inside the training part, scored like production (preprocessing + lexicon)."""
    order = list(range(len(train)))
    random.Random(seed).shuffle(order)
    reports = []
    with tempfile.TemporaryDirectory() as folder:
        for fold in range(folds):
            held = set(order[fold::folds])
            fit = [e for i, e in enumerate(train) if i not in held]
            started = time.perf_counter()
            model = train_model([e.text for e in fit if e.positive], [e.text for e in fit if not e.positive], classifier=classifier)
            seconds = time.perf_counter() - started
            path = Path(folder) / f"{classifier}-{fold}"
            model.save(path)
            report = evaluate(load_scorer(model=str(path)), [e for i, e in enumerate(train) if i in held])
            reports.append(report)
            print(f"  {classifier} fold {fold}: trained in {seconds:.1f} s, accuracy {report.accuracy:.4f}, neg. F1 {report.negative_f1:.4f}, AUC {report.roc_auc:.4f}")
    mean = {key: statistics.mean(getattr(r, key) for r in reports) for key in ("accuracy", "negative_f1", "roc_auc")}
    print(f"{classifier} {folds}-fold CV mean: accuracy {mean['accuracy']:.4f}, neg. F1 {mean['negative_f1']:.4f}, AUC {mean['roc_auc']:.4f}")
    sys.stdout.flush()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    parser.add_argument("--model-out", type=Path, required=True)
    parser.add_argument("--skip-snownlp", action="store_true", help="the exact scorer has the same quality numbers")
    parser.add_argument("--cv", action="store_true", help="first print 5-fold CV numbers inside the 90 %% training part")
    args = parser.parse_args()
    folder = args.data / "sentiment"

    weibo = read_dataset(folder / "weibo2018_train.txt", "weibo2018")
    train, held_out = holdout_split(weibo)
    if args.cv:
        for classifier in ("nb", "nblr"):
            cross_validate(train, classifier)
    nb_out = Path(str(args.model_out) + ".nb")
    for classifier, out in (("nblr", args.model_out), ("nb", nb_out)):
        started = time.perf_counter()
        model = train_model([e.text for e in train if e.positive], [e.text for e in train if not e.positive], classifier=classifier)
        model.save(out)
        print(f"trained {classifier} on {len(train)} weibo2018 posts in {time.perf_counter() - started:.1f} s -> {out}")

    corpora = {
        "weibo2018 held-out 10 %": held_out,
        "weibo_senti_100k_split ([xx] stripped)": read_dataset(
            folder / "weibo_senti_100k_split.csv", "label_review_csv", strip_emoticon_tokens=True
        ),
        "waimai_10k": read_dataset(folder / "waimai_10k.csv", "label_review_csv"),
        "ChnSentiCorp_htl_all": read_dataset(folder / "ChnSentiCorp_htl_all.csv", "label_review_csv"),
    }
    configs = [
        ("fast exact scorer", dict(model="stock", lexicon=False, weibo_preprocessing=False)),
        ("+ Weibo preprocessing", dict(model="stock", lexicon=False, weibo_preprocessing=True)),
        ("+ lexicon", dict(model="stock", lexicon=True, weibo_preprocessing=True)),
        ("trained nblr on weibo2018 90 % + preprocessing + lexicon", dict(model=str(args.model_out), lexicon=True, weibo_preprocessing=True)),
        ("trained nblr, preprocessing, no lexicon", dict(model=str(args.model_out), lexicon=False, weibo_preprocessing=True)),
        ("trained nb on weibo2018 90 % + preprocessing + lexicon", dict(model=str(nb_out), lexicon=True, weibo_preprocessing=True)),
        ("trained nb, preprocessing, no lexicon", dict(model=str(nb_out), lexicon=False, weibo_preprocessing=True)),
    ]
    for corpus, examples in corpora.items():
        print(f"\n### {corpus} ({len(examples)} posts)\n")
        print("| configuration | accuracy | neg. precision | neg. recall | neg. F1 | ROC AUC | posts/s |")
        print("|---|---|---|---|---|---|---|")
        reports = []
        if not args.skip_snownlp:
            reports.append(("stock SnowNLP (snownlp package)", snownlp_report(examples)))
        for label, options in configs:
            # Every configuration starts with an empty run cache, so posts/s compare fairly.
            shared_segmenter().clear_cache()
            reports.append((label, evaluate(load_scorer(**options), examples)))
        for label, r in reports:
            print(
                f"| {label} | {r.accuracy:.3f} | {r.negative_precision:.3f} | {r.negative_recall:.3f} | "
                f"{r.negative_f1:.3f} | {r.roc_auc:.3f} | {r.posts_per_second:.0f} |"
            )
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
