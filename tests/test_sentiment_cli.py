"""``koubei sentiment score|train|eval`` end to end through the real CLI entry point."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from streams.cli import main
from streams.sentiment import load_scorer
from streams.sentiment.cli import score_stream


def _score(raw: bytes, **options: bool) -> list[dict]:
    sink = io.StringIO()
    score_stream(load_scorer(**options), io.BytesIO(raw), sink)
    return [json.loads(line) for line in sink.getvalue().splitlines()]


def test_score_plain_and_json_lines_in_input_order() -> None:
    raw = "质量太差了\n".encode() + json.dumps({"id": "p-9", "text": "很好"}, ensure_ascii=False).encode() + b"\n{%#topic#%}\xe5\xa5\xbd\n"
    out = _score(raw, lexicon=False, weibo_preprocessing=False)
    assert [o["id"] for o in out] == [1, "p-9", 3]
    stock = load_scorer("stock", lexicon=False, weibo_preprocessing=False)
    assert out[0]["sentiment"] == stock.score("质量太差了").sentiment
    assert set(out[0]) == {"id", "negative", "is_negative", "sentiment", "risk_terms"}
    assert out[0]["is_negative"] == (out[0]["negative"] >= 0.5)


def test_bad_lines_become_error_lines_not_crashes() -> None:
    raw = b'{"id": 1, "text": 5}\n{"oops\n\xff\xfe\n["a"]\n\n'
    out = _score(raw)
    assert out[0] == {"id": 1, "line": 1, "error": "the JSON object needs a string field 'text'"}
    assert out[1]["line"] == 2 and "invalid JSON" in out[1]["error"]
    assert out[2]["line"] == 3 and "UTF-8" in out[2]["error"]
    assert "error" not in out[3]  # '["a"]' is plain text
    assert out[4]["id"] == 5 and "error" not in out[4]


def test_score_reports_risk_terms() -> None:
    out = _score("某品牌被曝光，要求召回\n".encode())
    assert out[0]["risk_terms"] == ["曝光", "召回"]


def test_train_then_score_and_eval_with_the_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pos = tmp_path / "pos.txt"
    neg = tmp_path / "neg.txt"
    pos.write_text("很好用，推荐\n质量不错[哈哈]\n物流很快，满意\n", encoding="utf-8")
    neg.write_text("太差了，退货\n质量很差[怒]\n客服不理人，失望\n", encoding="utf-8")
    model = tmp_path / "models" / "tiny.marshal"
    assert main(["sentiment", "train", "--pos", str(pos), "--neg", str(neg), "--out", str(model)]) == 0
    assert model.exists()
    scorer = load_scorer(model=str(model), lexicon=False)
    assert scorer.score("质量很差").negative > 0.5 > scorer.score("很好用").negative

    data = tmp_path / "eval.csv"
    data.write_text("label,review\n1,很好用\n0,太差了\n1,满意\n0,失望\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["sentiment", "eval", "--data", str(data), "--format", "label_review_csv", "--model", str(model), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["posts"] == 4
    assert report["accuracy"] == 1.0


def test_train_rejects_missing_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sentiment", "train", "--pos", str(tmp_path / "none.txt"), "--out", str(tmp_path / "m")]) == 2
    assert "--pos and --neg" in capsys.readouterr().err


def test_eval_rejects_a_malformed_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "bad.txt"
    data.write_text("not,a label,x\n", encoding="utf-8")
    assert main(["sentiment", "eval", "--data", str(data), "--format", "weibo2018"]) == 2
    assert "bad.txt:1" in capsys.readouterr().err


def test_a_json_line_nested_too_deeply_is_an_error_line() -> None:
    # json.loads recurses per level: this stopped `koubei sentiment score` with a RecursionError.
    raw = b'{"a": ' * 5000 + b"1" + b"}" * 5000 + "\n好吃\n".encode()
    out = _score(raw)
    assert out[0] == {"id": None, "line": 1, "error": "invalid JSON object: nested too deeply"}
    assert out[1]["id"] == 2 and "error" not in out[1]


def test_eval_rejects_a_csv_field_over_the_csv_limit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "big.csv"
    data.write_text('label,review\n1,"' + "好" * 200_000 + '"\n', encoding="utf-8")
    assert main(["sentiment", "eval", "--data", str(data), "--format", "label_review_csv"]) == 2
    assert "big.csv: not a 'label,review' CSV: field larger than field limit" in capsys.readouterr().err


def test_unknown_model_path_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "ok.txt"
    data.write_text("1,1,很好\n", encoding="utf-8")
    missing = tmp_path / "no.model"
    assert main(["sentiment", "eval", "--data", str(data), "--format", "weibo2018", "--model", str(missing)]) == 2
    assert "sentiment model not found" in capsys.readouterr().err


# ---------------------------------------------------------------- config, brands, auto, corrections

BRANDS_YAML = """
brands:
  - {id: luming, name: 鹿鸣奶茶, aliases: [鹿鸣奶茶, 鹿鸣]}
  - {id: chiyuan, name: 驰远快递, aliases: [驰远快递]}
sentiment: {negative_threshold: 0.4, auto_min_examples: 40}
"""


def _cli_score(argv: list[str], stdin: bytes, monkeypatch: pytest.MonkeyPatch,
               capsys: pytest.CaptureFixture[str]) -> tuple[list[dict], str]:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    assert main(["sentiment", "score", *argv]) == 0
    captured = capsys.readouterr()
    return [json.loads(line) for line in captured.out.splitlines()], captured.err


def test_score_with_a_config_masks_its_brands_and_uses_its_threshold(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "koubei.yaml"
    config.write_text(BRANDS_YAML, encoding="utf-8")
    raw = "鹿鸣奶茶今天排队好久\n驰远快递今天排队好久\n".encode()
    out, _ = _cli_score(["-c", str(config)], raw, monkeypatch, capsys)
    assert out[0]["negative"] == out[1]["negative"]
    assert out[0]["is_negative"] == (out[0]["negative"] >= 0.4)
    unmasked, _ = _cli_score([], raw, monkeypatch, capsys)
    assert unmasked[0]["negative"] != unmasked[1]["negative"]  # what the mask is for


def test_score_model_auto_learns_from_its_input(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "koubei.yaml"
    config.write_text(BRANDS_YAML, encoding="utf-8")
    angry = ["快递丢了客服不管", "等了三个小时还没到", "质量太差用两天就坏了", "再也不买了退钱"]
    happy = ["今天的奶茶很好喝", "包装很用心谢谢", "物流超快第二天就到", "新品味道真不错推荐"]
    lines = [f"{t}第{i}次[怒]" for i in range(150) for t in angry] + [f"{t}第{i}次[哈哈]" for i in range(150) for t in happy]
    lines += ["质量太差再也不买了"] * 3
    state = tmp_path / "state"
    out, err = _cli_score(["-c", str(config), "--model", "auto", "--state-dir", str(state)],
                          ("\n".join(lines) + "\n").encode(), monkeypatch, capsys)
    assert len(out) == len(lines)
    assert "model auto: trained on" in err
    assert (state / "auto.model").is_file()
    assert out[-1]["is_negative"] is True


def test_train_weak_and_progress_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    posts = tmp_path / "posts.txt"
    posts.write_text("\n".join([f"客服不理人第{i}次[怒]" for i in range(30)] + [f"很好喝第{i}次[哈哈]" for i in range(30)]
                               + ["没有表情的帖子", json.dumps({"id": 1, "text": "物流太慢了[抓狂]"}, ensure_ascii=False)]),
                     encoding="utf-8")
    model = tmp_path / "weak.model"
    assert main(["sentiment", "train", "--weak", str(posts), "--out", str(model)]) == 0
    err = capsys.readouterr().err
    assert "61 distinct ones labelled by their emoticons (31 negative, 30 not)" in err
    assert "segmenting" in err and "fitting" in err and "(100%" in err
    assert load_scorer(str(model), lexicon=False).score("客服不理人").negative > 0.5
    data = tmp_path / "eval.csv"
    data.write_text("label,review\n1,很好喝\n0,客服不理人\n", encoding="utf-8")
    assert main(["sentiment", "eval", "--data", str(data), "--format", "label_review_csv", "--model", str(model)]) == 0
    captured = capsys.readouterr()
    assert "scoring 2/2 posts" in captured.err and "threshold          0.52" in captured.out


@pytest.mark.parametrize("extra", [["--classifier", "nb"], ["--no-preprocessing"], ["--keep-stopwords"],
                                   ["--no-emoticon-tokens"], ["--holdout", "0.1"], ["--format", "weibo2018"]])
def test_train_weak_refuses_options_it_cannot_honour(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     extra: list[str]) -> None:
    posts = tmp_path / "posts.txt"
    posts.write_text("客服不理人[怒]\n很好喝[哈哈]\n", encoding="utf-8")
    model = tmp_path / "weak.model"
    assert main(["sentiment", "train", "--weak", str(posts), "--out", str(model), *extra]) == 2
    assert f"does not take {extra[0]}" in capsys.readouterr().err
    assert not model.exists()


def test_format_and_holdout_need_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pos, neg = tmp_path / "pos.txt", tmp_path / "neg.txt"
    pos.write_text("很好喝\n", encoding="utf-8")
    neg.write_text("客服不理人\n", encoding="utf-8")
    assert main(["sentiment", "train", "--pos", str(pos), "--neg", str(neg), "--holdout", "0.1",
                 "--out", str(tmp_path / "m")]) == 2
    assert "go with --data" in capsys.readouterr().err


def test_with_corrections_needs_a_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sentiment", "train", "--with-corrections", "--out", str(tmp_path / "m")]) == 2
    assert "needs -c" in capsys.readouterr().err


@pytest.mark.integration
def test_corrections_go_to_a_compacted_topic_and_win_in_training(
        kafka_url: str, kafka_bootstrap: str, broker_quirks: Any, topic_prefix: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource, ConfigResourceType

    from streams.config import load_config
    from streams.sentiment.corrections import corrections_topic, read_corrections

    config_path = tmp_path / "koubei.yaml"
    config_path.write_text(f"kafka: {{url: '{kafka_url}', topic_prefix: {topic_prefix}}}\n" + BRANDS_YAML, encoding="utf-8")
    flipped = "鹿鸣奶茶的新品我觉得还行"
    assert main(["sentiment", "correct", "weibo:1", "--label", "negative", "--text", flipped, "--by", "ops",
                 "-c", str(config_path)]) == 0
    assert main(["sentiment", "correct", "weibo:2", "--label", "neutral", "-c", str(config_path)]) == 0
    # A later correction of the same post replaces the earlier one.
    assert main(["sentiment", "correct", "weibo:2", "--label", "positive", "--text", "还不错", "-c", str(config_path)]) == 0
    out = capsys.readouterr().out
    assert f"post weibo:1: negative, recorded in {topic_prefix}.sentiment.corrections" in out
    config = load_config(config_path)
    topic = corrections_topic(config)
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        admin.close()
    entries = described.get("topic", {}).get(topic, {}) if isinstance(described, dict) else {}
    if entries or not broker_quirks.embedded:
        assert entries.get("cleanup.policy") == "compact"
    # else: the embedded broker describes no topic configs (and never compacts); readers keep the newest per key.
    corrections, bad = read_corrections(config, kafka_bootstrap)
    assert bad == 0 and corrections["weibo:1"].label == "negative" and corrections["weibo:1"].by == "ops"
    assert corrections["weibo:2"].label == "positive"

    pos = tmp_path / "pos.txt"
    neg = tmp_path / "neg.txt"
    pos.write_text("鹿鸣奶茶的新品我觉得还行\n很好用，推荐\n", encoding="utf-8")
    neg.write_text("太差了，退货\n客服不理人\n", encoding="utf-8")
    model = tmp_path / "m.model"
    assert main(["sentiment", "train", "--pos", str(pos), "--neg", str(neg), "--with-corrections",
                 "-c", str(config_path), "--out", str(model)]) == 0
    assert "corrections: 2 with text used, 0 without text skipped" in capsys.readouterr().err
    from streams.sentiment._linear import LinearModel

    trained = load_scorer(str(model)).model
    assert isinstance(trained, LinearModel)
    # 1 positive file text was replaced by the correction (negative), "还不错" added as positive.
    assert trained.metadata["positive_docs"] == 2 and trained.metadata["negative_docs"] == 3


def test_score_with_model_auto_matches_and_swaps_with_the_commands_own_options() -> None:
    # `score --model auto --no-lexicon`: the model auto swaps in, and the one
    # keep_share reads the recent posts with, score without the lexicon too.
    import argparse

    from streams.sentiment import load_scorer
    from streams.sentiment.cli import _auto_model, _settings

    args = argparse.Namespace(model="auto", no_lexicon=True, no_preprocessing=False, threshold=0.6, config=None)
    auto = _auto_model(_settings(args), None)
    assert (auto.settings.lexicon, auto.settings.weibo_preprocessing, auto.settings.negative_threshold) == (False, True, 0.6)
    scorer = auto.scorer(load_scorer("default").model)
    assert (scorer.lexicon, scorer.weibo_preprocessing) == (False, True)


def test_train_and_eval_read_an_emotion_corpus_in_json_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A corpus in the shape it was published in (koubei scenario --texts reads the same):
    emotion labels map to positive/negative, neutral texts are left out (the model is
    positive/negative) and unknown labels are named; texts keep their length and order."""
    good = [f"很好喝，店员很热情，下次还来第{i}次" for i in range(30)]
    bad = [f"客服不理人，等了两个小时，太差了第{i}次" for i in range(30)]
    records = [{"content": t, "label": "happy"} for t in good] + [{"content": t, "label": "angry"} for t in bad]
    records[1::2], records[::2] = records[30:], records[:30]  # interleaved: happy, angry, happy, ...
    records += [{"content": "今天是周一", "label": "neutral"}, {"content": "居然这样", "label": "surprise"}]
    data = tmp_path / "ewect.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    model = tmp_path / "ewect.model"
    assert main(["sentiment", "train", "--data", str(data), "--format", "auto", "--out", str(model)]) == 0
    err = capsys.readouterr().err
    assert "1 rows skipped (labels not known: 'surprise'), 1 neutral texts left out" in err
    assert load_scorer(str(model), lexicon=False).score("客服不理人，太差了").negative > 0.5
    assert main(["sentiment", "eval", "--data", str(data), "--format", "jsonl", "--model", str(model), "--limit", "2",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    # The file's first two are one of each (positives first would leave the AUC undefined).
    assert report["posts"] == 2 and report["roc_auc"] == 1.0


def test_a_corpus_with_one_class_only_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "only.csv"
    data.write_text("text,label\n很好喝,1\n不错,1\n", encoding="utf-8")
    assert main(["sentiment", "eval", "--data", str(data), "--format", "csv"]) == 2
    assert "needs positive and negative texts, found 2 positive and 0 negative" in capsys.readouterr().err
