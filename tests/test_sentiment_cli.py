"""``koubei sentiment score|train|eval`` end to end through the real CLI entry point."""

from __future__ import annotations

import io
import json
from pathlib import Path

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
    assert set(out[0]) == {"id", "negative", "sentiment", "risk_terms"}


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


def test_unknown_model_path_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "ok.txt"
    data.write_text("1,1,很好\n", encoding="utf-8")
    missing = tmp_path / "no.model"
    assert main(["sentiment", "eval", "--data", str(data), "--format", "weibo2018", "--model", str(missing)]) == 2
    assert "sentiment model not found" in capsys.readouterr().err
