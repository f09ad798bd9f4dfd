"""``koubei scenario --texts``: scenarios whose every word comes from a labelled corpus."""

from __future__ import annotations

import argparse
import csv
import json
import random
import zipfile
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams import scenario_cli
from streams.brands import BrandMatcher
from streams.config import Brand
from streams.corpus import LabelledTexts, TextCorpusError, parse_label_map, read_labelled_texts
from streams.gate import Gate, InputRules
from streams.scenario import NEGATIVE_ALERT, NO_NEGATIVE_ALERT, labels_path, load_labels, write_scenario
from streams.scenario_real import CRISIS_KINDS, TEXT_BRANDS, generate_real, insert_alias, plan_real
from tests.bench_scripts import bench_module

POSITIVE = ["送餐很快，味道不错", "房间干净，服务热情，下次还来", "性价比很高，推荐", "包装很好，东西也好吃",
            "前台小姐姐很耐心", "物流快，质量好"]
NEGATIVE = ["等了两个小时才送到，饭都凉了", "房间有霉味，空调还坏了", "客服态度太差，退款一直不处理",
            "吃完拉肚子，再也不点了", "图片和实物差太多", "隔音太差，一晚上没睡着"]


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="koubei")
    scenario_cli.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return int(args.func(args))


@pytest.fixture()
def corpora(tmp_path: Path) -> dict[str, Path]:
    """One small file in each of the shared corpora's formats, with their quirks."""
    weibo = tmp_path / "weibo.txt"
    rows = [f"42312653{i:08d},{1 if i % 2 else 0},{t}" for i, t in enumerate(POSITIVE + NEGATIVE)]
    rows.insert(3, "4231265300000000,1,{%#话题#%} 今天真开心,还有逗号[哈哈]")  # commas inside the text
    rows.append("broken line without fields")
    weibo.write_text("\n".join(rows) + "\n", encoding="utf-8")
    csv_file = tmp_path / "reviews.csv"
    csv_file.write_text("label,review\n" + "".join(f"1,\"{t}\"\n" for t in POSITIVE)
                        + "".join(f"0,{t}\n" for t in NEGATIVE) + "x,no label\n0,\n", encoding="utf-8")
    archive = tmp_path / "shop.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("online_shopping_10_cats.csv", "cat,label,review\n" + "".join(
            f"书籍,1,{t}\n" for t in POSITIVE) + "".join(f"水果,0,\"{t},还有逗号\"\n" for t in NEGATIVE))
    return {"weibo": weibo, "csv": csv_file, "zip": archive}


def test_every_reader_format_keeps_labels_and_skips_bad_rows(corpora: dict[str, Path]) -> None:
    weibo = read_labelled_texts(corpora["weibo"])
    assert len(weibo.positive) == len(POSITIVE) + 1 and len(weibo.negative) == len(NEGATIVE)
    assert weibo.skipped == 1 and "今天真开心,还有逗号[哈哈]" in weibo.positive[-1] + "".join(weibo.positive)
    csv_texts = read_labelled_texts(corpora["csv"])
    assert sorted(csv_texts.positive) == sorted(POSITIVE) and sorted(csv_texts.negative) == sorted(NEGATIVE)
    assert csv_texts.skipped == 2
    shop = read_labelled_texts(corpora["zip"], "online_shopping_zip")
    assert len(shop.negative) == len(NEGATIVE) and all(t.endswith(",还有逗号") for t in shop.negative)
    stripped = read_labelled_texts(corpora["weibo"], strip_emoticons=True)
    assert not any("[哈哈]" in t for t in stripped.positive)


def test_unusable_corpus_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TextCorpusError, match="not found"):
        read_labelled_texts(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"label,review\n\xff\xfe\x00garbage\n")
    with pytest.raises(TextCorpusError, match="no labelled text"):
        read_labelled_texts(bad)
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("a,b\n1,x\n", encoding="utf-8")
    with pytest.raises(TextCorpusError, match="no labelled text|header"):
        read_labelled_texts(wrong, "label_review_csv")


@settings(max_examples=200, deadline=None)
@given(text=st.text(min_size=2, max_size=80), seed=st.integers(0, 10**6))
def test_an_inserted_alias_is_always_found_by_the_brand_matcher(text: str, seed: int) -> None:
    brand = TEXT_BRANDS[seed % len(TEXT_BRANDS)]
    matcher = BrandMatcher([Brand(b.id, b.name, (b.name, b.short)) for b in TEXT_BRANDS])
    assert brand.id in matcher.match(insert_alias(text, brand, random.Random(seed)))


def _words(text: str) -> str:
    """A post's text without the inserted alias: what the corpus said."""
    for b in TEXT_BRANDS:
        for form in (f"回复@{b.official}:", f"@{b.official}", f"#{b.name}#", f"#{b.short}#", b.name, b.short):
            text = text.replace(form, "")
    return text.replace(" ", "").lstrip("，")


def _texts() -> LabelledTexts:
    return LabelledTexts(positive=list(POSITIVE), negative=list(NEGATIVE), sources=["test"])


def test_mix_gives_every_brand_one_crisis_and_decoys_and_the_posts_parse(tmp_path: Path) -> None:
    plan = plan_real("mix", seed=3, days=7, scale=0.2)
    scenario = generate_real(plan, _texts())
    out = tmp_path / "mix.jsonl"
    write_scenario(scenario, out)
    labels = load_labels(labels_path(out))
    kinds = [w["kind"] for b in labels["brands"] for w in b["windows"] if w["expected"] == NEGATIVE_ALERT]
    assert sorted(kinds) == sorted(CRISIS_KINDS)
    decoys = [w["kind"] for b in labels["brands"] for w in b["windows"] if w["expected"] == NO_NEGATIVE_ALERT]
    assert "positive_viral" in decoys and "news_day" in decoys
    gate = Gate(InputRules(max_age=0))
    posts = [gate.post(json.loads(line)) for line in out.read_bytes().splitlines()]
    assert [p.event_time for p in posts] == sorted(p.event_time for p in posts)
    allowed = set(POSITIVE) | set(NEGATIVE)
    raws = [json.loads(line)["raw"] for line in out.read_text(encoding="utf-8").splitlines()]
    for post, raw in zip(posts, raws, strict=True):
        # Every word comes from the corpus: take away the alias and the
        # repost/reply scaffolding and a corpus text is left.
        if raw["role"] in ("noise",):
            assert post.text in allowed
        if raw["role"] in ("sudden", "night", "slow_burn", "kol") and raw["topic"] == "crisis":
            assert _words(post.text) in NEGATIVE
        if raw["role"] == "positive_viral" and raw["topic"] == "viral":
            assert _words(post.text) in POSITIVE
    for brand in labels["brands"]:
        for window in brand["windows"]:
            onset, end = datetime.fromisoformat(window["onset"]), datetime.fromisoformat(window["end"])
            assert datetime.fromisoformat(labels["start"]) < onset < end <= datetime.fromisoformat(labels["end"])


def test_kol_crisis_opens_with_one_very_large_verified_account() -> None:
    scenario = generate_real(plan_real("kol", seed=2, days=2, scale=0.3), _texts())
    first = next(p for p in scenario.posts if p["raw"]["topic"] == "kol_post")
    assert first["author"]["verified"] and first["author"]["followers"] >= 5_000_000
    onset = datetime.fromisoformat(scenario.labels["brands"][0]["windows"][0]["onset"]).timestamp()
    assert 0 <= datetime.fromisoformat(first["created_at"]).timestamp() - onset < 60
    reposts = [p for p in scenario.posts if p["raw"]["topic"] == "crisis_repost" and first["author"]["name"] in p["text"]]
    assert len(reposts) >= 5


def test_same_arguments_same_bytes_through_the_cli(corpora: dict[str, Path], tmp_path: Path) -> None:
    outs = []
    for name in ("a", "b"):
        out = tmp_path / f"{name}.jsonl"
        assert _cli(["scenario", "--texts", str(corpora["csv"]), "--texts", str(corpora["zip"]), "--kind", "sudden",
                     "--days", "1", "--scale", "0.3", "--out", str(out)]) == 0
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] and len(outs[0]) > 1000


def test_cli_rejects_bad_texts_and_kinds_without_texts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(["scenario", "--texts", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "x.jsonl")]) == 2
    assert "not found" in capsys.readouterr().err
    assert _cli(["scenario", "--kind", "kol", "--out", str(tmp_path / "y.jsonl")]) == 2
    assert "needs --texts" in capsys.readouterr().err
    assert not (tmp_path / "y.jsonl").exists()


NEUTRAL = ["今天去了一趟商场", "新品下周发布，官方说的", "有人知道营业时间吗", "转发这条消息"]


def test_signed_and_word_labels_read_a_neutral_class(tmp_path: Path) -> None:
    signed = tmp_path / "signed.txt"
    rows = ([f"1{i:05d},1,{t}" for i, t in enumerate(POSITIVE)] + [f"2{i:05d},-1,{t}" for i, t in enumerate(NEGATIVE)]
            + [f"3{i:05d},0,{t}" for i, t in enumerate(NEUTRAL)])
    signed.write_text("\n".join(rows) + "\n", encoding="utf-8")
    texts = read_labelled_texts(signed)
    # With any -1 in the file, 0 is neutral, not negative.
    assert (sorted(texts.positive), sorted(texts.negative), sorted(texts.neutral)) == (
        sorted(POSITIVE), sorted(NEGATIVE), sorted(NEUTRAL))
    words = tmp_path / "words.csv"
    words.write_text("label,review\n" + "".join(f"Positive,{t}\n" for t in POSITIVE) + "".join(
        f"负面,{t}\n" for t in NEGATIVE) + "".join(f"neutral,{t}\n" for t in NEUTRAL) + "surprise,不知道\n",
        encoding="utf-8")
    texts = read_labelled_texts(words)
    assert (len(texts.positive), len(texts.negative), len(texts.neutral), texts.skipped) == (
        len(POSITIVE), len(NEGATIVE), len(NEUTRAL), 1)
    assert texts.unknown_labels == {"surprise": 1}


def test_numeric_labels_of_an_unknown_scheme_are_refused_unless_said(tmp_path: Path) -> None:
    three = tmp_path / "three.csv"
    three.write_text("label,review\n" + "".join(f"0,{t}\n" for t in NEGATIVE) + "".join(
        f"1,{t}\n" for t in NEUTRAL) + "".join(f"2,{t}\n" for t in POSITIVE), encoding="utf-8")
    with pytest.raises(TextCorpusError, match="--texts-labels"):
        read_labelled_texts(three)
    texts = read_labelled_texts(three, labels=parse_label_map("0=negative, 1=neutral,2=Positive"))
    assert (sorted(texts.positive), sorted(texts.negative), sorted(texts.neutral)) == (
        sorted(POSITIVE), sorted(NEGATIVE), sorted(NEUTRAL))
    for bad in ("", "0", "0=bad", "=negative"):
        with pytest.raises(TextCorpusError, match="--texts-labels"):
            parse_label_map(bad)


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(st.tuples(st.text(max_size=6), st.text(max_size=30)), max_size=25))
def test_any_labels_and_texts_give_texts_or_a_clear_error(tmp_path_factory: pytest.TempPathFactory,
                                                         rows: list[tuple[str, str]]) -> None:
    path = tmp_path_factory.mktemp("corpus") / "any.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["label", "review"])
        writer.writerows(rows)
    try:
        texts = read_labelled_texts(path)
    except TextCorpusError as exc:
        assert str(path) in str(exc)
        return
    kept = len(texts.positive) + len(texts.negative) + len(texts.neutral)
    assert kept >= 1 and kept + texts.skipped <= len(rows)


def test_neutral_texts_go_to_calm_posts_and_news_days_never_to_crises() -> None:
    texts = LabelledTexts(positive=list(POSITIVE), negative=list(NEGATIVE), neutral=list(NEUTRAL), sources=["t"])
    scenario = generate_real(plan_real("mix", seed=4, days=7, scale=0.3), texts)
    shares: dict[str, list[int]] = {}
    for post in scenario.posts:
        raw = post["raw"]
        words = _words(post["text"])
        if raw["role"] in CRISIS_KINDS and raw["topic"] in ("crisis", "kol_post"):
            assert words in NEGATIVE
        if raw["role"] in ("background", "news_day") and "//@" not in post["text"]:
            cell = shares.setdefault(raw["role"], [0, 0])
            cell[0] += words not in NEGATIVE
            cell[1] += words in NEUTRAL
    calm, news = (shares[k][1] / shares[k][0] for k in ("background", "news_day"))
    # Of the non-negative posts, about 40 % neutral on a calm day and 70 % on a news day.
    assert 0.3 < calm < 0.5 and 0.6 < news < 0.8


def test_cli_reads_a_label_map(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    three = tmp_path / "three.csv"
    three.write_text("label,review\n" + "".join(f"0,{t}\n" for t in NEGATIVE * 3) + "".join(
        f"1,{t}\n" for t in NEUTRAL * 3) + "".join(f"2,{t}\n" for t in POSITIVE * 3), encoding="utf-8")
    out = tmp_path / "s.jsonl"
    assert _cli(["scenario", "--texts", str(three), "--kind", "sudden", "--days", "1", "--scale", "0.2",
                 "--out", str(out)]) == 2
    assert "--texts-labels" in capsys.readouterr().err and not out.exists()
    assert _cli(["scenario", "--texts", str(three), "--texts-labels", "0=negative,1=neutral,2=positive", "--kind",
                 "sudden", "--days", "1", "--scale", "0.2", "--out", str(out)]) == 0
    assert "12 neutral" in capsys.readouterr().err and out.stat().st_size > 1000
    assert _cli(["scenario", "--texts", str(three), "--texts-labels", "2=great", "--out", str(out)]) == 2
    assert "classes are positive, negative and neutral" in capsys.readouterr().err


def test_neutral_texts_script_rebuilds_sentences_and_they_read_as_neutral(tmp_path: Path) -> None:
    module = bench_module("neutral_texts")
    tagged = tmp_path / "tagged.txt"
    tagged.write_text("新华社/nt  记者/n  报道/v  ，/w  今天/t  北京/ns  天气/n  晴朗/a  。/w\n"
                      "（/w  附/v  图片/n  １/m  张/q  ）/w  说明/n  文字/n  很/d  长/a  很/d  长/a\n短/a  句/n\n",
                      encoding="utf-8")
    assert module.sentences(tagged) == ["新华社记者报道，今天北京天气晴朗。"]
    out = tmp_path / "neutral.csv"
    assert module.main(["--half", "A", "--out", str(out)]) == 0
    texts = read_labelled_texts(out)
    assert len(texts.neutral) > 1000 and not texts.positive and not texts.negative
