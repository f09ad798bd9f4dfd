"""The fast scorer reproduces SnowNLP's numbers (model stock, no lexicon, no preprocessing)."""

from __future__ import annotations

import csv
import random
import zipfile
from pathlib import Path

import pytest

from streams.sentiment import load_scorer
from streams.sentiment._scorer import shared_segmenter

# Values printed by snownlp 0.12.3: SnowNLP(text).sentiments and snownlp.seg.seg(text).
GOLDEN = [
    ("这个东西真心很赞", 0.9769551298267365, ["这个", "东西", "真心", "很", "赞"]),
    ("质量太差了，再也不买了", 0.024801945256849645, ["质量", "太差", "了", "，", "再", "也", "不", "买", "了"]),
    ("我觉得这款手机非常好用", 0.8666132820264196, ["我", "觉得", "这款", "手机", "非常", "好", "用"]),
    ("没有问题", 0.5262327818078083, ["没有", "问题"]),
    ("有问题", 0.5262327818078083, ["有", "问题"]),
    (" ", 0.5262327818078083, []),
    ("今天天气不错，出去走走", 0.8185736771970602, ["今天", "天气", "不错", "，", "出", "去", "走走"]),
    (
        "客服态度恶劣，投诉无门！！",
        1.8811992230305385e-05,
        ["客", "服", "态度", "恶劣", "，", "投诉", "无", "门", "！！"],
    ),
    ("中", 0.7150301700493692, ["中"]),
    ("中国", 0.7349726775956282, ["中国"]),
    ("鬱", 0.5, ["鬱"]),
    ("我㐀你", 0.5, ["我", "㐀", "你"]),
    ("abc 中文 def", 0.5160898712921523, ["abc", "中文", "def"]),
    ("哈" * 24, 0.9999994206533375, ["哈哈哈"] * 8),
]


@pytest.mark.parametrize(("text", "expected", "words"), GOLDEN)
def test_matches_snownlp_golden_values(text: str, expected: float, words: list[str]) -> None:
    scorer = load_scorer(model="stock", lexicon=False, weibo_preprocessing=False)
    result = scorer.score(text)
    assert abs(result.sentiment - expected) <= 1e-9
    assert result.negative == pytest.approx(1 - expected, abs=1e-12)
    assert shared_segmenter().seg(text) == words


def test_batch_and_single_scoring_agree() -> None:
    scorer = load_scorer(model="stock", lexicon=False, weibo_preprocessing=False)
    texts = [t for t, _, _ in GOLDEN]
    batch = scorer.score_many(texts)
    assert [r.sentiment for r in batch] == [scorer.score(t).sentiment for t in texts]


def _corpus_sample(shared_data: Path, size: int, seed: int) -> list[str]:
    folder = shared_data / "sentiment"
    texts: list[str] = []
    with open(folder / "weibo2018_train.txt", encoding="utf-8") as handle:
        texts += [line.rstrip("\n").split(",", 2)[2] for line in handle if line.strip()]
    for name in ("weibo_senti_100k_split.csv", "waimai_10k.csv", "ChnSentiCorp_htl_all.csv"):
        with open(folder / name, encoding="utf-8", newline="") as handle:
            texts += [row[1] for row in list(csv.reader(handle))[1:] if len(row) > 1]
    with zipfile.ZipFile(folder / "online_shopping_10_cats.zip") as archive:
        member = next(n for n in archive.namelist() if n.endswith(".csv"))
        rows = list(csv.reader(archive.read(member).decode("utf-8").splitlines()))[1:]
        texts += [row[2] for row in rows if len(row) > 2]
    rng = random.Random(seed)
    sample = rng.sample([t for t in texts if t.strip()], size)
    # Characters SnowNLP has never seen and single-character runs exercise the decoder's special cases.
    sample += ["".join(chr(rng.randint(0x4E00, 0x9FA5)) for _ in range(rng.randint(1, 30))) for _ in range(200)]
    return sample


@pytest.mark.slow
def test_matches_snownlp_on_shared_corpora(shared_data: Path) -> None:
    snownlp = pytest.importorskip("snownlp")
    sample = _corpus_sample(shared_data, 2000, seed=3)
    scorer = load_scorer(model="stock", lexicon=False, weibo_preprocessing=False)
    ours = scorer.score_many(sample)
    mismatches = []
    for text, result in zip(sample, ours, strict=True):
        expected = snownlp.SnowNLP(text).sentiments
        if abs(result.sentiment - expected) > 1e-9:
            mismatches.append((text[:60], result.sentiment, expected))
    assert not mismatches, f"{len(mismatches)} of {len(sample)} differ, e.g. {mismatches[:3]}"


@pytest.mark.slow
def test_one_post_per_call_matches_snownlp(shared_data: Path) -> None:
    # score() on one post takes the small-batch path (one decoding pass, backtracking in Python);
    # score_many above takes the batched one. Both must be exact.
    snownlp = pytest.importorskip("snownlp")
    sample = _corpus_sample(shared_data, 300, seed=5)
    scorer = load_scorer(model="stock", lexicon=False, weibo_preprocessing=False)
    mismatches = []
    for text in sample:
        ours = scorer.score(text).sentiment
        expected = snownlp.SnowNLP(text).sentiments
        if abs(ours - expected) > 1e-9:
            mismatches.append((text[:60], ours, expected))
    assert not mismatches, f"{len(mismatches)} of {len(sample)} differ, e.g. {mismatches[:3]}"
