"""Training: SnowNLP-compatible model files, and a model that beats stock on Weibo."""

from __future__ import annotations

import gzip
import marshal
from pathlib import Path

import pytest

from streams.sentiment import ModelFileError, load_scorer
from streams.sentiment._bayes import NaiveBayes
from streams.sentiment.evaluation import evaluate, holdout_split, read_dataset, roc_auc
from streams.sentiment.training import train_model


def test_model_file_is_snownlp_format_and_round_trips(tmp_path: Path) -> None:
    model = train_model(["很好", "满意"], ["很差", "失望"], classifier="nb")
    assert isinstance(model, NaiveBayes)
    path = tmp_path / "m.marshal"
    model.save(path)
    raw = marshal.loads(gzip.decompress(path.read_bytes()))
    assert set(raw["d"]) == {"neg", "pos"}
    assert raw["total"] == sum(v["total"] for v in raw["d"].values())
    loaded = NaiveBayes.load(path)
    assert loaded.positive_probability(["满意"]) == model.positive_probability(["满意"])
    assert loaded.metadata["filter_stopwords"] is True


def test_bayes_arithmetic_matches_snownlp_add_one_counting() -> None:
    model = NaiveBayes.train([(["好", "好"], "pos"), (["差"], "neg")])
    # pos: 好 -> 1 + 2 = 3, total 2 + 1 = 3; neg: 差 -> 2, total 2; total 5.
    import math

    log_pos = math.log(3) - math.log(5) + math.log(3 / 3)
    log_neg = math.log(2) - math.log(5) + math.log(1 / 2)
    expected = 1 / (1 + math.exp(log_neg - log_pos))
    assert model.positive_probability(["好"]) == pytest.approx(expected, abs=1e-15)


def test_a_file_that_is_not_a_model_is_rejected(tmp_path: Path) -> None:
    bad = tmp_path / "bad.model"
    bad.write_bytes(b"hello")
    with pytest.raises(ModelFileError, match="not a SnowNLP sentiment model"):
        load_scorer(model=str(bad))
    with pytest.raises(ModelFileError, match="not found"):
        load_scorer(model=str(tmp_path / "missing"))


def test_holdout_split_is_fixed_and_disjoint(shared_data: Path) -> None:
    rows = read_dataset(shared_data / "sentiment" / "weibo2018_train.txt", "weibo2018")
    train, test = holdout_split(rows)
    assert len(rows) == 10_000 and len(test) == 1_000 and len(train) == 9_000
    assert holdout_split(rows)[1] == test


def test_roc_auc_counts_ties_half() -> None:
    assert roc_auc([0.9, 0.1], [True, False]) == 1.0
    assert roc_auc([0.5, 0.5], [True, False]) == 0.5


@pytest.mark.slow
def test_trained_naive_bayes_beats_stock_on_held_out_weibo(shared_data: Path, tmp_path: Path) -> None:
    # The default classifier (nblr) has its own held-out test in test_sentiment_linear.py.
    rows = read_dataset(shared_data / "sentiment" / "weibo2018_train.txt", "weibo2018")
    train, test = holdout_split(rows)
    model = train_model([e.text for e in train if e.positive], [e.text for e in train if not e.positive], classifier="nb")
    path = tmp_path / "weibo.marshal"
    model.save(path)
    trained = evaluate(load_scorer(model=str(path)), test)
    stock = evaluate(load_scorer(model="stock", lexicon=False, weibo_preprocessing=False), test)
    assert trained.negative_f1 >= stock.negative_f1 + 0.15
    assert trained.accuracy > stock.accuracy


def test_decision_offset_fixes_a_biased_cut() -> None:
    from streams.sentiment.lexicon import adjust_negative
    from streams.sentiment.training import decision_offset

    # Long positive documents dominate the word totals, so at 0.5 the model calls everything positive.
    documents = [(["差"], "neg") for _ in range(40)] + [(["好", "好", "好", "差", "差"], "pos") for _ in range(40)]
    documents += [(["差", "好"], "neg") for _ in range(20)]
    model = NaiveBayes.train(documents)

    def accuracy(offset: float) -> float:
        right = sum(
            (adjust_negative(model.positive_probability(words), offset) >= 0.5) == (label == "neg")
            for words, label in documents
        )
        return right / len(documents)

    assert accuracy(0.0) == 0.4
    assert accuracy(decision_offset(documents)) == 1.0
    assert decision_offset(documents[:5]) == 0.0  # too few documents to cross-validate


def test_trained_model_carries_its_offset_into_negative() -> None:
    positive = ["很好用，推荐", "质量不错", "物流很快，满意", "非常喜欢", "好评"] * 4
    negative = ["太差了", "质量很差", "客服不理人，失望", "不喜欢", "差评"] * 4
    model = train_model(positive, negative, classifier="nb")
    offset = model.metadata["negative_logit_offset"]
    from streams.sentiment import SentimentScorer
    from streams.sentiment.lexicon import adjust_negative

    result = SentimentScorer(model, lexicon=False).score("还行吧")
    assert result.negative == pytest.approx(adjust_negative(result.sentiment, offset))
