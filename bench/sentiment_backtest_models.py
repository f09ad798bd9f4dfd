"""What the sentiment model does to detection: a labelled scenario backtested with several models.

    .venv/bin/python bench/sentiment_backtest_models.py [streams/data/demo_scenario.jsonl]

Runs ``streams.backtest.backtest_posts`` over the scenario (brands from its
labels sidecar) with SnowNLP's stock model, the shipped default at the
configured threshold and at a higher one, and ``model: auto``; prints each
brand's negative share, negative alerts and false alerts, and the labelled
windows found. Numbers, not assertions.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from streams.backtest import backtest_posts, config_from_labels, load_configured_scorer, read_posts
from streams.config import SentimentConfig
from streams.scenario import labels_path, load_labels

DEFAULT_SCENARIO = Path(__file__).resolve().parents[1] / "streams" / "data" / "demo_scenario.jsonl"


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SCENARIO
    labels = load_labels(labels_path(path))
    posts = read_posts(path)
    threshold = SentimentConfig().negative_threshold
    print("| model | threshold | brand: negative share / negative alerts / false alerts | labelled windows passed |")
    print("|---|---|---|---|")
    for model, cut in (("stock", 0.5), ("default", threshold), ("default", 0.6), ("auto", threshold)):
        config = config_from_labels(labels)
        config = replace(config, sentiment=replace(config.sentiment, model=model, negative_threshold=cut))
        result = backtest_posts(posts, config, load_configured_scorer(config), labels=labels)
        brands = "; ".join(f"{b} {s.negative_share:.0%} / {s.negative_alerts} / {s.false_alerts}"
                           for b, s in result.brands.items())
        passed = sum(w.passed for w in result.outcomes)
        swaps = f" (auto swapped {len(result.sentiment_swaps)}x)" if model == "auto" else ""
        print(f"| {model}{swaps} | {cut:.2f} | {brands} | {passed}/{len(result.outcomes)} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
