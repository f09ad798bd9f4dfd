"""Sentiment scorer benchmark: speed against SnowNLP in the same run, load time, memory.

    .venv/bin/python bench/sentiment_bench.py --data ../shared/data [--posts 400] [--repeat 3] [--model PATH]

Prints posts/s for SnowNLP and for the fast scorer on the same Weibo-length
posts (20-140 characters), the ratio, and the load time and resident-memory
increase of each (measured in fresh subprocesses). With ``--model`` (a file
written by ``koubei sentiment train``) the trained model is timed the same
way, with preprocessing and lexicon. Numbers, not assertions.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

LOAD_PROBE = r"""
import json, sys, time
def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
before = rss_mb()
started = time.perf_counter()
if sys.argv[1] == "snownlp":
    import snownlp
    value = snownlp.SnowNLP("这个东西真心很赞").sentiments
else:
    from streams.sentiment import load_scorer
    value = load_scorer(model="stock", lexicon=sys.argv[1] == "full", weibo_preprocessing=sys.argv[1] == "full").score("这个东西真心很赞").sentiment
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "rss_added_mb": rss_mb() - before, "value": value}))
"""


def weibo_length_posts(data: Path, count: int, seed: int) -> list[str]:
    texts: list[str] = []
    with open(data / "sentiment" / "weibo2018_train.txt", encoding="utf-8") as handle:
        texts += [line.rstrip("\n").split(",", 2)[2] for line in handle if line.strip()]
    import csv

    with open(data / "sentiment" / "weibo_senti_100k_split.csv", encoding="utf-8", newline="") as handle:
        texts += [row[1] for row in list(csv.reader(handle))[1:] if len(row) > 1]
    texts = [t for t in texts if 20 <= len(t) <= 140]
    return random.Random(seed).sample(texts, count)


def probe(kind: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", LOAD_PROBE, kind], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    parser.add_argument("--posts", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--model", help="also time this trained model (preprocessing + lexicon)")
    args = parser.parse_args()

    from streams.sentiment import SentimentScorer, load_model
    from streams.sentiment._scorer import shared_segmenter
    from streams.sentiment._segmenter import FastSegmenter

    posts = weibo_length_posts(args.data, args.posts, seed=11)
    print(f"{len(posts)} posts, {statistics.mean(len(p) for p in posts):.0f} characters on average")

    stock = load_model("stock")
    trained = load_model(args.model) if args.model else None
    table = shared_segmenter().table
    import snownlp  # after our loading, so its 400 MB do not distort anything above

    rows: dict[str, list[float]] = {}
    for _ in range(args.repeat):
        started = time.perf_counter()
        expected = [snownlp.SnowNLP(p).sentiments for p in posts]
        rows.setdefault("snownlp", []).append(len(posts) / (time.perf_counter() - started))
        configurations = [
            ("fast exact, one post per call", False, False, False, stock),
            ("fast exact, score_many", True, False, False, stock),
            ("+ preprocessing + lexicon, one post per call", False, True, True, stock),
            ("+ preprocessing + lexicon, score_many", True, True, True, stock),
        ]
        if trained is not None:
            kind = trained.metadata.get("classifier", "nb")
            configurations += [
                (f"trained {kind} + prep. + lexicon, one post per call", False, True, True, trained),
                (f"trained {kind} + prep. + lexicon, score_many", True, True, True, trained),
            ]
        for label, batch, prep, lexicon, model in configurations:
            # A fresh segmenter with no run cache: every post is decoded, nothing is remembered.
            scorer = SentimentScorer(model, lexicon=lexicon, weibo_preprocessing=prep, segmenter=FastSegmenter(table, 0))
            started = time.perf_counter()
            if batch:
                results = scorer.score_many(posts)
            else:
                results = [scorer.score(p) for p in posts]
            rows.setdefault(label, []).append(len(posts) / (time.perf_counter() - started))
            if not prep:
                worst = max(abs(r.sentiment - e) for r, e in zip(results, expected, strict=True))
                assert worst <= 1e-9, f"not exact: {worst}"
    base = statistics.median(rows["snownlp"])
    print(f"{'scorer':48} {'posts/s (median)':>16} {'x snownlp':>10}")
    for label, values in rows.items():
        median = statistics.median(values)
        print(f"{label:48} {median:16.0f} {median / base:10.1f}")

    from streams.sentiment.pool import ScoringPool

    # The pipeline path: ScoringPool in-process vs worker processes, and the cache on a stream with reposts.
    stream = posts * 3
    for processes, cache_size in ((0, 0), (2, 0), (0, 50_000)):
        shared_segmenter().clear_cache()
        pool = ScoringPool("stock", True, True, processes=processes, cache_size=cache_size)
        pool.score_many(posts[:50])  # start the workers
        rates = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            for i in range(0, len(stream), 256):
                pool.score_many(stream[i : i + 256])
            rates.append(len(stream) / (time.perf_counter() - started))
        pool.close()
        label = f"ScoringPool processes={processes} cache_size={cache_size}"
        print(f"{label:48} {statistics.median(rates):16.0f} (batches of 256, every post 3x)")

    for kind in ("snownlp", "exact", "full"):
        runs = [probe(kind) for _ in range(args.repeat)]
        seconds = statistics.median(r["seconds"] for r in runs)
        rss = statistics.median(r["rss_added_mb"] for r in runs)
        print(f"load {kind:8} {seconds:6.2f} s  +{rss:6.1f} MB RSS (import + load + first score, fresh process)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
