"""The NB-weighted logistic regression classifier (``--classifier nblr``, the default)."""

from __future__ import annotations

import gzip
import marshal
from pathlib import Path

import numpy as np
import pytest

from streams.cli import main
from streams.sentiment import SentimentScorer, load_scorer
from streams.sentiment._bayes import NaiveBayes
from streams.sentiment._linear import LinearModel, document_features
from streams.sentiment._scorer import load_model
from streams.sentiment.evaluation import evaluate, holdout_split, read_dataset
from streams.sentiment.training import train_model

POSITIVE = ["很好用，推荐", "质量不错[哈哈]", "物流很快，满意", "非常喜欢", "好评，下次还买"] * 4
NEGATIVE = ["太差了，退货", "质量很差[怒]", "客服不理人，失望", "不喜欢", "差评，再也不买"] * 4
# Issue 3's target (measured: 0.880 on 2026-11-22; training is deterministic, so this has margin only
# for floating-point differences between machines).
HELD_OUT_ACCURACY = 0.86


def _synthetic(n: int, seed: int) -> tuple[list[list[str]], np.ndarray]:
    """Documents whose label is carried by a few cue words among many random noise words."""
    rng = np.random.default_rng(seed)
    docs: list[list[str]] = []
    labels = rng.random(n) < 0.5
    for negative in labels:
        words = [f"noise{int(i)}" for i in rng.integers(0, 200, size=8)]
        cues = ["差", "坑", "退"] if negative else ["好", "赞", "爱"]
        words += [cues[int(i)] for i in rng.integers(0, 3, size=2)]
        docs.append(list(dict.fromkeys(words)))
    return docs, labels


def test_training_is_deterministic_and_separates_classes(tmp_path: Path) -> None:
    docs, labels = _synthetic(400, seed=3)
    train = list(zip(docs[:300], labels[:300].tolist(), strict=True))
    first = LinearModel.train(train)
    second = LinearModel.train(train)
    first.save(tmp_path / "a")
    second.save(tmp_path / "b")
    # Full-batch gradient descent with a fixed step and no shuffling: the same bytes every time.
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes()
    z = first.negative_logits([(d, "") for d in docs[300:]])
    accuracy = float(((z >= 0) == labels[300:]).mean())
    assert accuracy >= 0.95


def test_model_round_trips_through_save_and_load(tmp_path: Path) -> None:
    model = train_model(POSITIVE, NEGATIVE)
    assert isinstance(model, LinearModel)
    path = tmp_path / "models" / "m.nblr"
    model.save(path)
    raw = marshal.loads(gzip.decompress(path.read_bytes()))
    assert set(raw) == {"nblr", "koubei"} and raw["koubei"]["classifier"] == "nblr"
    loaded = load_model(str(path))
    assert isinstance(loaded, LinearModel)
    texts = ["质量很差，失望", "很好用", "", "hello"]
    before = SentimentScorer(model).score_many(texts)
    after = load_scorer(model=str(path)).score_many(texts)
    assert [r.sentiment for r in before] == [r.sentiment for r in after]
    assert [r.negative for r in before] == [r.negative for r in after]


def test_trained_model_scores_through_the_scorer_with_lexicon_and_emoticons() -> None:
    scorer = SentimentScorer(train_model(POSITIVE, NEGATIVE), lexicon=True)
    bad, good = scorer.score("质量很差，失望"), scorer.score("很好用，满意")
    assert bad.negative > 0.5 > good.negative
    assert bad.sentiment < 0.5 < good.sentiment
    # The model learned [怒] and [哈哈] itself, so the fixed emoticon polarity is not added on top.
    assert scorer.model.knows("[怒]") and scorer.model.knows("[哈哈]")
    # Lexicon terms push 'negative' up from the model's own probability; 'sentiment' stays raw.
    plain = SentimentScorer(scorer.model, lexicon=False).score("某品牌奶粉被曝光过期")
    risky = scorer.score("某品牌奶粉被曝光过期")
    assert risky.sentiment == plain.sentiment
    assert risky.negative > plain.negative and risky.risk_terms == ["曝光", "过期"]


def test_degenerate_texts_give_the_prior_and_never_raise() -> None:
    scorer = SentimentScorer(train_model(POSITIVE, NEGATIVE), lexicon=True)
    model = scorer.model
    assert isinstance(model, LinearModel)
    prior = 1 / (1 + np.exp(model.bias))
    for text in ("", "   ", "[怒]", "😀😀", "\ud800x", "很" * 30_000):
        result = scorer.score(text)
        assert 0.0 <= result.sentiment <= 1.0 and 0.0 <= result.negative <= 1.0
    assert scorer.score("").sentiment == pytest.approx(prior, abs=1e-12)


def test_character_ngrams_do_not_collide_with_words() -> None:
    features = document_features(["好"], "好 好")
    assert "好" in features and "\x00好" in features and "\x00好 好" in features
    assert len(features) == len(set(features))


def test_cli_train_chooses_the_classifier(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pos, neg = tmp_path / "pos.txt", tmp_path / "neg.txt"
    pos.write_text("\n".join(POSITIVE) + "\n", encoding="utf-8")
    neg.write_text("\n".join(NEGATIVE) + "\n", encoding="utf-8")
    for classifier, expected in (("nb", NaiveBayes), ("nblr", LinearModel)):
        out = tmp_path / f"{classifier}.model"
        args = ["sentiment", "train", "--pos", str(pos), "--neg", str(neg), "--out", str(out), "--classifier", classifier]
        assert main(args) == 0
        assert f"trained {classifier}" in capsys.readouterr().out
        assert isinstance(load_model(str(out)), expected)
        scorer = load_scorer(model=str(out))
        assert scorer.score("质量很差").negative > 0.5 > scorer.score("很好用").negative
    # Without --classifier the default is nblr.
    default = tmp_path / "default.model"
    assert main(["sentiment", "train", "--pos", str(pos), "--neg", str(neg), "--out", str(default)]) == 0
    assert isinstance(load_model(str(default)), LinearModel)


@pytest.mark.slow
def test_default_model_reaches_the_target_on_held_out_weibo(shared_data: Path, tmp_path: Path) -> None:
    # Issue 3 item 7: trained on the seeded 90 %, preprocessing + lexicon, on the held-out 10 %.
    rows = read_dataset(shared_data / "sentiment" / "weibo2018_train.txt", "weibo2018")
    train, test = holdout_split(rows)
    model = train_model([e.text for e in train if e.positive], [e.text for e in train if not e.positive])
    path = tmp_path / "weibo.nblr"
    model.save(path)
    report = evaluate(load_scorer(model=str(path), lexicon=True, weibo_preprocessing=True), test)
    stock = evaluate(load_scorer(model="stock", lexicon=False, weibo_preprocessing=False), test)
    assert report.accuracy >= HELD_OUT_ACCURACY
    assert report.negative_f1 >= stock.negative_f1 + 0.15
