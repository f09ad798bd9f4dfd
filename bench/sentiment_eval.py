"""Evaluation table for docs/benchmarks.md.

    .venv/bin/python bench/sentiment_eval.py --data ../shared/data --model-out /tmp/weibo2018-90.marshal

Trains a model on 90 % of weibo2018_train (fixed seed, the same split as
``koubei sentiment train/eval --holdout 0.1``), then prints accuracy,
negative-class precision/recall/F1, ROC AUC and posts/s for five
configurations on each labeled corpus. "stock SnowNLP" runs the snownlp
package itself; the model file is written where --model-out says (never
into the repository).
"""

from __future__ import annotations

import argparse
import sys
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    parser.add_argument("--model-out", type=Path, required=True)
    parser.add_argument("--skip-snownlp", action="store_true", help="the exact scorer has the same quality numbers")
    args = parser.parse_args()
    folder = args.data / "sentiment"

    weibo = read_dataset(folder / "weibo2018_train.txt", "weibo2018")
    train, held_out = holdout_split(weibo)
    started = time.perf_counter()
    model = train_model([e.text for e in train if e.positive], [e.text for e in train if not e.positive])
    model.save(args.model_out)
    print(f"trained on {len(train)} weibo2018 posts in {time.perf_counter() - started:.1f} s -> {args.model_out}")

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
        ("trained on weibo2018 90 % + preprocessing + lexicon", dict(model=str(args.model_out), lexicon=True, weibo_preprocessing=True)),
        ("trained, preprocessing, no lexicon", dict(model=str(args.model_out), lexicon=False, weibo_preprocessing=True)),
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
