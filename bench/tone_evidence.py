"""How much a post's negative *probability* says beyond its verdict, and the tilt negative_tone uses.

Not a test: it prints numbers. For each corpus, a seeded sample of labelled
texts is scored by the model; calm posts are a mix of the corpus's negative
(``--calm-share``) and positive texts, a sudden crisis adds ``--extra``
negative texts per calm post (the real-text suite's sudden crisis: 0.8).
Per calm-post minute, the evidence (nats) a detector gains:

* ``verdict t``: counting posts read at least ``t`` (the Kullback-Leibler
  divergence of the mixed share from the calm share, times the posts);
* ``oracle``: the twenty-bin distribution of the probability, knowing both
  the calm and the crisis distribution (the most any use of it can give);
* ``tilt l, g``: what streams/detection/signals/tone.py gains: its expected
  log-likelihood ratio during the crisis, with the crisis modelled as a share
  ``l`` of posts from the calm distribution tilted by ``p**g`` (the signal
  knows the calm distribution only).

``--tune`` names the corpus whose best tilt is printed as the choice (the
defaults were chosen so, on ``reviews``); the other corpora are then held
out. Usage::

    .venv/bin/python bench/tone_evidence.py --data ../shared/data/sentiment
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streams.models import TONE_BINS, tone_bin  # noqa: E402
from streams.sentiment._scorer import SentimentScorer, load_model  # noqa: E402
from streams.sentiment.evaluation import Example, read_dataset  # noqa: E402

CORPORA: dict[str, list[tuple[str, str]]] = {
    "reviews": [("waimai_10k.csv", "label_review_csv"), ("ChnSentiCorp_htl_all.csv", "label_review_csv")],
    "weibo2018": [("weibo2018_train.txt", "weibo2018")],
    "weibo": [("weibo_senti_100k_split.csv", "label_review_csv")],
}
THRESHOLDS = (0.4, 0.52, 0.6, 0.7, 0.8)
MIXTURES = (0.3, 0.44, 0.6)
POWERS = (1.0, 2.0, 3.0, 4.0, 6.0)
MIDDLES = [(i + 0.5) / TONE_BINS for i in range(TONE_BINS)]


def histogram(values: list[float]) -> list[float]:
    counts = [1e-3] * TONE_BINS
    for v in values:
        counts[tone_bin(v)] += 1.0
    total = sum(counts)
    return [c / total for c in counts]


def kl_bernoulli(p1: float, p0: float) -> float:
    return p1 * math.log(p1 / p0) + (1.0 - p1) * math.log((1.0 - p1) / (1.0 - p0))


def evidence(negative: list[float], positive: list[float], calm_share: float, extra: float) -> dict[str, float]:
    out: dict[str, float] = {}
    for t in THRESHOLDS:
        tpr = sum(x >= t for x in negative) / len(negative)
        fpr = sum(x >= t for x in positive) / len(positive)
        p0 = min(max(calm_share * tpr + (1.0 - calm_share) * fpr, 1e-6), 1 - 1e-6)
        p1 = min(max((p0 + extra * tpr) / (1.0 + extra), 1e-6), 1 - 1e-6)
        out[f"verdict {t:g}"] = kl_bernoulli(p1, p0) * (1.0 + extra)
    h_neg, h_pos = histogram(negative), histogram(positive)
    calm = [calm_share * a + (1.0 - calm_share) * b for a, b in zip(h_neg, h_pos, strict=True)]
    crisis = [(c + extra * a) / (1.0 + extra) for c, a in zip(calm, h_neg, strict=True)]
    out["oracle"] = sum(c1 * math.log(c1 / c0) for c1, c0 in zip(crisis, calm, strict=True)) * (1.0 + extra)
    for lam in MIXTURES:
        for g in POWERS:
            weights = [m ** g for m in MIDDLES]
            mean = sum(c * w for c, w in zip(calm, weights, strict=True))
            ratios = [math.log(1.0 - lam + lam * w / mean) for w in weights]
            out[f"tilt {lam:g}, {g:g}"] = sum(c * r for c, r in zip(crisis, ratios, strict=True)) * (1.0 + extra)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/sentiment"))
    parser.add_argument("--sample", type=int, default=4000, help="texts per corpus (seeded)")
    parser.add_argument("--calm-share", type=float, default=0.2)
    parser.add_argument("--extra", type=float, default=0.8)
    parser.add_argument("--tune", default="reviews", choices=sorted(CORPORA))
    parser.add_argument("--model", default="default")
    args = parser.parse_args()
    scorer = SentimentScorer(load_model(args.model))
    table: dict[str, dict[str, float]] = {}
    for name, files in CORPORA.items():
        examples: list[Example] = []
        for file, fmt in files:
            examples += read_dataset(args.data / file, fmt, strip_emoticon_tokens=name == "weibo")
        random.Random(1).shuffle(examples)
        examples = examples[: args.sample]
        print(f"scoring {len(examples)} {name} texts ...", file=sys.stderr, flush=True)
        scores = [r.negative for r in scorer.score_many([e.text for e in examples], details=False)]
        negative = [s for s, e in zip(scores, examples, strict=True) if not e.positive]
        positive = [s for s, e in zip(scores, examples, strict=True) if e.positive]
        table[name] = evidence(negative, positive, args.calm_share, args.extra)
    names = list(CORPORA)
    print(f"# evidence per calm-post minute (nats), model {args.model}, calm {args.calm_share:.0%} negative, "
          f"+{args.extra:g} crisis posts per calm post; tilt chosen on {args.tune}\n")
    print("| reading | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for row in table[names[0]]:
        print(f"| {row} | " + " | ".join(f"{table[n][row]:.3f}" for n in names) + " |")
    tilts = {k: v for k, v in table[args.tune].items() if k.startswith("tilt")}
    best = max(tilts, key=lambda k: tilts[k])
    print(f"\nbest tilt on {args.tune}: {best} ({tilts[best]:.3f}); held out: "
          + ", ".join(f"{n} {table[n][best]:.3f} (verdict 0.52: {table[n]['verdict 0.52']:.3f}, oracle "
                      f"{table[n]['oracle']:.3f})" for n in names if n != args.tune))


if __name__ == "__main__":
    main()
