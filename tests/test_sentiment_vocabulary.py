"""The linear model's compact vocabulary (streams/sentiment/_linear.py,
``_Vocabulary``) answers exactly as a dict of its features would."""

from __future__ import annotations

import pickle

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.sentiment._linear import LinearModel, _Vocabulary

# Short strings from ASCII, CJK and the char n-gram prefix: the kinds of features the model has,
# and the byte patterns where str's hash of one kind equals another's.
WORDS = st.text(alphabet=st.sampled_from(list("1gaQ_`\x00") + ["朱", "开", "景", "兑", "怀", "😀", "ｇ"]),
                min_size=0, max_size=4)


def dict_lookup(features: list[str], queries: list[str]) -> tuple[list[bool], list[int]]:
    index = {f: i for i, f in enumerate(features)}
    found = [index.get(q) for q in queries]
    return [i is not None for i in found], [i for i in found if i is not None]


@settings(max_examples=300, deadline=None)
@given(st.lists(WORDS, unique=True, max_size=60), st.lists(WORDS, max_size=60))
def test_lookup_is_the_dicts_answer(features: list[str], queries: list[str]) -> None:
    vocabulary = _Vocabulary(features)
    known, columns = vocabulary.lookup(queries)
    expected_known, expected_columns = dict_lookup(features, queries)
    assert known.tolist() == expected_known
    assert columns.tolist() == expected_columns
    assert all((q in vocabulary) == (q in features) for q in queries)


def test_bytes_that_hash_alike_across_string_kinds_stay_apart() -> None:
    # "朱" is U+6731: the bytes 0x31 0x67 of "1g". str's hash is the same; the keys are not.
    assert hash("朱") == hash("1g")
    vocabulary = _Vocabulary(["朱", "开"])
    assert "朱" in vocabulary and "1g" not in vocabulary
    assert "\x00_" not in vocabulary  # hash("\x00_") == hash("开")


def test_a_repeated_feature_falls_back_to_the_dict() -> None:
    vocabulary = _Vocabulary(["a", "b", "a"])
    known, columns = vocabulary.lookup(["a", "b", "c"])
    assert known.tolist() == [True, True, False]
    assert columns.tolist() == [2, 1]  # as {f: i for i, f in enumerate(...)} keeps the last


def test_empty_and_large_vocabularies() -> None:
    assert _Vocabulary([]).lookup(["a"])[0].tolist() == [False]
    features = [f"w{i}" for i in range(50_000)]
    vocabulary = _Vocabulary(features)
    known, columns = vocabulary.lookup(features[::-1] + ["nope"])
    assert known.sum() == 50_000 and not known[-1]
    assert np.array_equal(columns, np.arange(50_000)[::-1])


def test_a_pickled_model_rebuilds_its_table_and_scores_the_same(tmp_path) -> None:  # type: ignore[no-untyped-def]
    documents = [(["好", "喜欢"], True), (["差", "退款"], False), (["一般"], True), (["投诉", "差"], False)]
    docs = [(words, "") for words, _ in documents]
    model = LinearModel.train([(words, not positive) for words, positive in documents], steps=20)
    again = pickle.loads(pickle.dumps(model))
    assert again.negative_logits(docs).tolist() == model.negative_logits(docs).tolist()
    model.save(tmp_path / "m.model")
    assert (tmp_path / "m.model").read_bytes()  # save reads the features back from the blob
    assert model.knows("差") and not model.knows("好吗")
