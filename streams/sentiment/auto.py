"""``sentiment.model: auto``: a deployment model learnt from the deployment's own posts.

Distant supervision: Weibo users label their own posts with emoticons. A
post whose emoticons all lean one way ([怒] [抓狂] [泪] ... against [哈哈]
[赞] [爱你] ...) is *weakly* labelled that way; the emoticons are taken out
of the text the model learns from (training runs without emoticon tokens),
so the model learns the words that go with them and can then read posts
that carry no emoticon at all. It learns them next to the team's tone words
(streams/sentiment/tone_words.py, ``TONE_WORD_REPEATS`` documents each), as
the shipped default does: emoticon-labelled posts alone read human-labelled
Weibo worse than the default until ~20,000 have arrived (AUC 0.82 at 2,000),
with the tone words better from the first training (0.88 at 2,000 against
0.87 for the default; docs/benchmarks.md).

``AutoModel`` is plain logic, no I/O but its own state directory: the
worker (or ``koubei backtest``, or ``koubei sentiment score --model auto``)
calls ``observe`` with the texts it scored (brand names already masked, so
a brand in a crisis does not become a negative word), ``maybe_retrain``
now and then, and swaps in the model it returns. Corrections from people
(``koubei sentiment correct``) win over weak labels.

When it trains: first once ``min_examples`` distinct weakly labelled posts
are in the sample (each class at least a tenth of that), then each time as
many new ones have arrived as the last model was trained on (2,000, 4,000,
8,000 ...): training time is linear in the sample, so the total cost stays
within twice the last training. The sample keeps the newest
``max_examples`` distinct posts (half per class), so the model follows the
stream and memory is bounded.

A swap must not move the brands' negative share by itself: the detectors
learnt each brand's usual share from the old model's readings, so a new
model that reads the same calm posts more often negative looks like a
crisis on every brand at once, and one that reads them less often hides
crises until the baselines have re-learnt (days). With ``keep_share`` (the
default) each new model gets a log-odds offset (``negative_logit_offset``,
which ``SentimentScorer`` applies) such that it reads the same share of the
newest scored posts as negative as the model it replaces did: what changes
at a swap is which posts are read negative, not how many. Measured on the
weibo_senti_100k stream (bench/real_suite.py, docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import math
import os
import tempfile
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from streams.sentiment import lexicon as lex
from streams.sentiment._bayes import ModelFileError
from streams.sentiment._scorer import SentimentModel, load_model
from streams.sentiment.preprocess import has_content, prepare
from streams.sentiment.tone_words import tone_words_metadata, with_tone_words
from streams.sentiment.training import train_model

# Emoticons that label a post: the lexicon's lists (lexicon.NEGATIVE_EMOTICONS says
# how they were chosen), so the scorer's fixed polarities and the weak labels agree.
WEAK_NEGATIVE = lex.NEGATIVE_EMOTICONS
WEAK_POSITIVE = lex.POSITIVE_EMOTICONS
# L2 strength for models learnt from weak labels: max(WEAK_LAM, WEAK_LAM_POSTS / posts).
# On the tune half of weibo2018, 18k weakly labelled posts did best with 3e-5 (3e-5, 1e-4,
# 3e-4 and 1e-3 tried: bench/sentiment_auto_eval.py --sweep) while 1-2k did better with
# 3e-4; keeping lam * posts at 0.3 below 10,000 posts gives both (docs/benchmarks.md).
WEAK_LAM = 3e-5
WEAK_LAM_POSTS = 0.3
# Each tone word is this many one-word training documents next to the weak posts. On the tune
# half of weibo2018, with 2,239 / 5,228 / 17,918 weakly labelled weibo_senti_100k posts, 0 / 2 /
# 5 / 10 / 30 / 100 repeats gave AUC 0.823-0.865 / 0.873-0.881 / 0.881-0.890 / 0.881-0.896 /
# 0.873-0.898 / 0.861-0.891 (bench/sentiment_auto_eval.py --sweep prints the table).
TONE_WORD_REPEATS = 10
log = logging.getLogger("koubei.sentiment.auto")
MODEL_FILE = "auto.model"
SAMPLE_FILE = "auto-sample.json.gz"
CORRECTION_LABELS = ("negative", "positive", "neutral")


def train_weak_model(
    positive: Sequence[str], negative: Sequence[str], corrections: int = 0,
    progress: Callable[[str, int, int], None] | None = None,
) -> SentimentModel:
    """A model from weakly labelled texts (emoticons already out of what it reads) and the tone words.

    ``AutoModel.train`` and ``koubei sentiment train --weak`` both train here.
    Raises ValueError when a class is empty."""
    if not positive or not negative:
        raise ValueError("training needs at least one positive and one negative text")
    return train_model(
        *with_tone_words(positive, negative, TONE_WORD_REPEATS),
        emoticon_tokens=False, progress=progress,
        lam=max(WEAK_LAM, WEAK_LAM_POSTS / (len(positive) + len(negative))),
        metadata={"source": "weak emoticon labels of the deployment's own posts (sentiment.model: auto) "
                            "and the project's tone words (streams/sentiment/tone_words.py)",
                  "weak_positive": len(positive), "weak_negative": len(negative),
                  "tone_words": tone_words_metadata(TONE_WORD_REPEATS),
                  "corrections": corrections},
    )


def weak_label(text: str) -> bool | None:
    """True: weakly negative; False: weakly not negative; None: no label.

    No label when the scored part has no emoticon of either list, has both, or
    has no words left once the emoticons are out (nothing to learn from)."""
    prepared = prepare(text)
    if not has_content(prepared.scored_text):
        return None
    emoticons = set(prepared.scored_emoticons)
    negative = not emoticons.isdisjoint(WEAK_NEGATIVE)
    positive = not emoticons.isdisjoint(WEAK_POSITIVE)
    if negative == positive:
        return None
    return negative


# keep_share: the newest distinct scored posts kept with the reading the detector
# got, and the fewest that make a share worth matching.
SHARE_TEXTS = 4_000
SHARE_MIN_TEXTS = 200
# An offset beyond this many log-odds says the new model and the old one read
# the posts too differently to line up; it is clipped there.
MAX_LOGIT_OFFSET = 6.0


@dataclass(frozen=True)
class AutoSettings:
    min_examples: int = 2_000
    max_examples: int = 50_000
    # keep_share (module docstring): each new model reads the newest posts as negative as often as the
    # model it replaces, at negative_threshold, scored as the pipeline scores (lexicon, preprocessing).
    keep_share: bool = True
    negative_threshold: float = 0.52
    lexicon: bool = True
    weibo_preprocessing: bool = True

    def __post_init__(self) -> None:
        if self.min_examples < 20:
            raise ValueError(f"min_examples must be >= 20, got {self.min_examples}")
        if self.max_examples < self.min_examples:
            raise ValueError(f"max_examples ({self.max_examples}) must be >= min_examples ({self.min_examples})")
        if not 0.0 < self.negative_threshold < 1.0:
            raise ValueError(f"negative_threshold must be between 0 and 1, got {self.negative_threshold}")

    @classmethod
    def from_config(cls, sentiment: Any, negative_threshold: float | None = None) -> AutoSettings:
        """From a ``SentimentConfig`` (``negative_threshold``: a command line's override)."""
        threshold = sentiment.negative_threshold if negative_threshold is None else negative_threshold
        return cls(sentiment.auto_min_examples, sentiment.auto_max_examples, sentiment.auto_keep_share,
                   min(max(threshold, 1e-6), 1.0 - 1e-6), sentiment.lexicon, sentiment.weibo_preprocessing)


def _logit(p: float) -> float:
    p = min(max(p, 1e-9), 1.0 - 1e-9)
    return math.log(p / (1.0 - p))


def share_offset(readings: Sequence[float], target_share: float, threshold: float) -> float:
    """The log-odds offset that makes ``target_share`` of ``readings`` (negative probabilities, read with
    no offset) reach ``threshold``: as near as ties allow, and within +-MAX_LOGIT_OFFSET.

    Exact because ``SentimentScorer`` adds the offset to each post's final log-odds."""
    if not readings:
        return 0.0
    z = sorted((_logit(r) for r in readings), reverse=True)
    n = len(z)
    k = min(n, max(0, round(target_share * n)))
    cut = _logit(threshold)
    if k == 0:
        offset = cut - z[0] - 1e-6
    elif k == n:
        offset = cut - z[-1]
    else:
        offset = cut - (z[k - 1] + z[k]) / 2.0
    return max(-MAX_LOGIT_OFFSET, min(MAX_LOGIT_OFFSET, offset))


@dataclass(frozen=True)
class Correction:
    """A person's label for one post (the value of a record on ``<prefix>.sentiment.corrections``)."""

    post_id: str
    label: str  # one of CORRECTION_LABELS
    text: str = ""  # the post's text, when the person (or the console) knew it
    by: str = ""
    at: float = 0.0  # Unix time

    def __post_init__(self) -> None:
        if not self.post_id:
            raise ValueError("a correction needs a post id")
        if self.label not in CORRECTION_LABELS:
            raise ValueError(f"label must be one of {', '.join(CORRECTION_LABELS)}, got {self.label!r}")

    @property
    def negative(self) -> bool:
        """The model has two classes: neutral counts as not negative."""
        return self.label == "negative"

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), ensure_ascii=False).encode("utf-8")

    @classmethod
    def from_json(cls, raw: bytes | str) -> Correction:
        """Raises ValueError (with the reason) for anything that is not a correction."""
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"not JSON: {exc}") from None
        except RecursionError:
            raise ValueError("not JSON: nested too deeply") from None
        if not isinstance(data, dict):
            raise ValueError("a correction is a JSON object")
        fields = {k: data.get(k) for k in ("post_id", "label", "text", "by", "at") if data.get(k) is not None}
        for name in ("post_id", "label"):
            if name not in fields:
                raise ValueError(f"a correction needs {name}")
        for name in ("post_id", "label", "text", "by"):
            if name in fields and not isinstance(fields[name], str):
                raise ValueError(f"{name} must be a string")
        if "at" in fields and (not isinstance(fields["at"], int | float) or isinstance(fields["at"], bool)):
            raise ValueError("at must be a number")
        return cls(**fields)


def latest_corrections(records: Iterable[tuple[bytes | None, bytes | None]]) -> tuple[dict[str, Correction], int]:
    """The newest correction per post id from (key, value) records in log order, and how many were unreadable.

    A record with no value deletes the post's correction (a compacted topic's tombstone)."""
    out: dict[str, Correction] = {}
    bad = 0
    for key, value in records:
        if value is None:
            if key is not None:
                out.pop(key.decode("utf-8", "replace"), None)
            continue
        try:
            correction = Correction.from_json(value)
        except (ValueError, TypeError):
            bad += 1
            continue
        out[correction.post_id] = correction
    return out, bad


def apply_corrections(
    positive: Sequence[str], negative: Sequence[str], corrections: Iterable[Correction],
    mask: Callable[[str], str] | None = None,
) -> tuple[list[str], list[str], int]:
    """Corrections win over other labels: (positive, negative, corrections used).

    A text with the same words as a corrected post (a repost, a copy) is dropped and
    the corrected text (through ``mask``) is added with the person's label. A
    correction without text cannot be learnt from and is not used."""
    corrected: dict[str, tuple[str, bool]] = {}  # dedupe key -> (masked text, is negative)
    for correction in corrections:
        if correction.text:
            text = mask(correction.text) if mask else correction.text
            corrected[_dedupe_key(text)] = (text, correction.negative)
    if not corrected:
        return list(positive), list(negative), 0
    out_positive = [t for t in positive if _dedupe_key(t) not in corrected]
    out_negative = [t for t in negative if _dedupe_key(t) not in corrected]
    for text, is_negative in corrected.values():
        (out_negative if is_negative else out_positive).append(text)
    return out_positive, out_negative, len(corrected)


class AutoModel:
    """Collects weakly labelled posts and trains the deployment's model when enough have arrived.

    ``state_dir`` (optional): where the trained model and the sample are kept, so a
    restart goes on from them (``AutoModel(settings, state_dir)`` reloads both).
    ``mask`` (optional): applied to correction texts (``BrandMatcher.mask``), as the
    texts given to ``observe`` already are.
    """

    def __init__(self, settings: AutoSettings | None = None, state_dir: Path | None = None,
                 mask: Callable[[str], str] | None = None) -> None:
        self.settings = settings or AutoSettings()
        self.state_dir = state_dir
        self.mask = mask
        per_class = max(1, self.settings.max_examples // 2)
        self._per_class = per_class
        # dedupe key (the scored words) -> text, newest last; True = negative
        self._sample: dict[bool, OrderedDict[str, str]] = {True: OrderedDict(), False: OrderedDict()}
        self._corrections: dict[str, Correction] = {}
        self.trained_on = 0  # posts the current model learnt from (0: none yet)
        self.new_since_training = 0
        self.seen = 0
        self.labelled = 0
        self.trainings = 0
        self.model: SentimentModel | None = None
        # keep_share: the newest distinct scored texts -> the negative probability the detector got.
        self._readings: OrderedDict[str, float] = OrderedDict()
        if state_dir is not None:
            self._load()

    def _remember_readings(self, texts: Sequence[str], scores: Sequence[Any]) -> None:
        readings = self._readings
        for text, score in zip(texts, scores, strict=False):
            value = getattr(score, "negative", score)
            if not isinstance(text, str) or not isinstance(value, int | float) or not math.isfinite(value):
                continue
            readings[text] = float(value)
            readings.move_to_end(text)
            if len(readings) > SHARE_TEXTS:
                readings.popitem(last=False)

    # ------------------------------------------------------------ input

    def observe(self, texts: Sequence[str], scores: Sequence[Any] | None = None) -> int:
        """Take the weakly labelled posts among ``texts``; returns how many were new.

        The labels come from the texts' own emoticons. ``scores`` (the model in
        use's readings of ``texts``: score results or negative probabilities)
        are what ``keep_share`` matches the next model to; without them it has
        nothing to match and a new model reads as it was trained. Never raises
        for any str."""
        if scores is not None and self.settings.keep_share:
            self._remember_readings(texts, scores)
        added = 0
        for text in texts:
            self.seen += 1
            if not isinstance(text, str):
                continue
            label = weak_label(text)
            if label is None:
                continue
            self.labelled += 1
            key = _dedupe_key(text)
            bucket = self._sample[label]
            if key in bucket:
                bucket.move_to_end(key)
                continue
            other = self._sample[not label]
            if key in other:
                del other[key]  # the same words labelled both ways: too ambiguous to keep
                continue
            bucket[key] = text
            if len(bucket) > self._per_class:
                bucket.popitem(last=False)
            added += 1
        self.new_since_training += added
        return added

    def add_corrections(self, corrections: Iterable[Correction]) -> int:
        """Corrections win over weak labels; returns how many changed what the model will learn."""
        changed = 0
        for correction in corrections:
            if self._corrections.get(correction.post_id) != correction:
                self._corrections[correction.post_id] = correction
                changed += 1
        self.new_since_training += changed
        return changed

    # ------------------------------------------------------------ training

    @property
    def sample_size(self) -> int:
        return len(self._sample[True]) + len(self._sample[False])

    def retrain_due(self) -> bool:
        negative, positive = len(self._sample[True]), len(self._sample[False])
        if min(negative, positive) < max(1, self.settings.min_examples // 10):
            return False
        if self.trained_on == 0:
            return negative + positive >= self.settings.min_examples
        return self.new_since_training >= self.trained_on

    def maybe_retrain(self) -> SentimentModel | None:
        """A freshly trained model when one is due, else None (see the module docstring for when)."""
        return self.train() if self.retrain_due() else None

    def training_texts(self) -> tuple[list[str], list[str]]:
        """(positive, negative) texts: the sample, with people's corrections in place of weak labels."""
        positive, negative, _ = apply_corrections(
            list(self._sample[False].values()), list(self._sample[True].values()), self._corrections.values(), self.mask
        )
        return positive, negative

    def train(self, progress: Callable[[str, int, int], None] | None = None) -> SentimentModel:
        """Train on the sample now (raises ValueError when a class is empty)."""
        positive, negative = self.training_texts()
        model = train_weak_model(positive, negative, sum(1 for c in self._corrections.values() if c.text), progress)
        if self.settings.keep_share:
            self._keep_share(model)
        self.model = model
        self.trained_on = len(positive) + len(negative)
        self.new_since_training = 0
        self.trainings += 1
        if self.state_dir is not None:
            self.save()
        return model

    def _keep_share(self, model: SentimentModel) -> None:
        """Give ``model`` the offset with which it reads the newest posts as negative as often as the model in
        use did (recorded in its metadata, so a scorer loading the file applies it)."""
        if len(self._readings) < SHARE_MIN_TEXTS:
            return
        threshold = self.settings.negative_threshold
        texts = list(self._readings)
        target = sum(value >= threshold for value in self._readings.values()) / len(texts)
        model.metadata.pop("negative_logit_offset", None)
        readings = [r.negative for r in self.scorer(model).score_many(texts)]
        offset = share_offset(readings, target, threshold)
        model.metadata["negative_logit_offset"] = offset
        model.metadata["kept_share"] = {"posts": len(texts), "share": target,
                                        "share_without_offset": sum(r >= threshold for r in readings) / len(texts)}
        log.info("sentiment.model auto: the new model reads %.0f %% of %d recent posts negative without an offset, "
                 "the model in use %.0f %%: offset %+.2f log-odds", 100.0 * model.metadata["kept_share"]
                 ["share_without_offset"], len(texts), 100.0 * target, offset)

    def scorer(self, model: SentimentModel) -> Any:
        """A ``SentimentScorer`` for ``model`` with this deployment's scoring settings
        (lexicon, preprocessing): what a caller swaps in, and what ``keep_share``
        reads the recent posts with, so the two read alike."""
        from streams.sentiment._scorer import SentimentScorer

        return SentimentScorer(model, lexicon=self.settings.lexicon,
                               weibo_preprocessing=self.settings.weibo_preprocessing, model_name="auto")

    # ------------------------------------------------------------ state

    @property
    def model_path(self) -> Path | None:
        """The persisted model file, once one was trained (what a scorer or a pool loads)."""
        if self.state_dir is None or self.model is None:
            return None
        return self.state_dir / MODEL_FILE

    def status(self) -> dict[str, int]:
        return {
            "seen": self.seen, "labelled": self.labelled, "sample_negative": len(self._sample[True]),
            "sample_positive": len(self._sample[False]), "corrections": len(self._corrections),
            "trained_on": self.trained_on, "new_since_training": self.new_since_training, "trainings": self.trainings,
        }

    def save(self) -> None:
        """Write the model (if any) and the sample under ``state_dir``, each atomically."""
        if self.state_dir is None:
            raise ValueError("this AutoModel has no state_dir")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if self.model is not None:
            with tempfile.TemporaryDirectory(dir=self.state_dir) as folder:
                partial = Path(folder) / MODEL_FILE
                self.model.save(partial)
                os.replace(partial, self.state_dir / MODEL_FILE)
        state = {
            "negative": list(self._sample[True].values()),
            "positive": list(self._sample[False].values()),
            "corrections": [asdict(c) for c in self._corrections.values()],
            "readings": [[text, value] for text, value in self._readings.items()],
            "counters": {"trained_on": self.trained_on, "new_since_training": self.new_since_training,
                         "seen": self.seen, "labelled": self.labelled, "trainings": self.trainings},
        }
        data = gzip.compress(json.dumps(state, ensure_ascii=False).encode("utf-8"), mtime=0)
        partial_sample = self.state_dir / (SAMPLE_FILE + ".partial")
        partial_sample.write_bytes(data)
        os.replace(partial_sample, self.state_dir / SAMPLE_FILE)

    def _load(self) -> None:
        assert self.state_dir is not None
        # A damaged state file costs what it held, never the start of the worker.
        model_file = self.state_dir / MODEL_FILE
        if model_file.is_file():
            try:
                self.model = load_model(str(model_file))
            except (ModelFileError, OSError) as exc:
                log.warning("sentiment auto: ignoring %s: %s", model_file, exc)
        sample_file = self.state_dir / SAMPLE_FILE
        if not sample_file.is_file():
            return
        try:
            state = json.loads(gzip.decompress(sample_file.read_bytes()))
            if not isinstance(state, dict):
                raise ValueError("not a JSON object")
        except (OSError, EOFError, ValueError) as exc:
            log.warning("sentiment auto: ignoring %s: %s", sample_file, exc)
            self.trained_on = 0 if self.model is None else self.trained_on
            return
        for label, name in ((True, "negative"), (False, "positive")):
            for text in state.get(name, [])[-self._per_class:]:
                if isinstance(text, str):
                    self._sample[label][_dedupe_key(text)] = text
        for item in state.get("readings", [])[-SHARE_TEXTS:]:
            if (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)
                    and isinstance(item[1], int | float) and math.isfinite(item[1])):
                self._readings[item[0]] = float(item[1])
        for raw in state.get("corrections", []):
            try:
                correction = Correction(**raw)
            except (TypeError, ValueError):
                continue
            self._corrections[correction.post_id] = correction
        counters = state.get("counters", {})
        for name in ("trained_on", "new_since_training", "seen", "labelled", "trainings"):
            value = counters.get(name, 0)
            if isinstance(value, int) and value >= 0:
                setattr(self, name, value)
        if self.model is None:
            self.trained_on = 0


def _dedupe_key(text: str) -> str:
    """Reposts and copies of one post count once: the words the model would learn from."""
    words = prepare(text).scored_text
    return " ".join(words.split()) if words else text



class StreamLearner:
    """``sentiment.model: auto`` in a live stream: feeds the scored texts to an
    ``AutoModel`` and swaps each trained model into the scorer.

    Training takes seconds of CPU, so it runs on a thread; the texts scored
    meanwhile wait in a list and are observed once it is done (the sample is
    never read and written at the same time)."""

    def __init__(self, auto: AutoModel, swap: Callable[[str], None]) -> None:
        self.auto = auto
        self.swap = swap
        self._training: asyncio.Task[None] | None = None
        self._pending: list[tuple[str, Any]] = []

    def resume(self) -> None:
        """After a restart: score with the model trained before it, if there is one."""
        if self.auto.model_path is not None and self.auto.model_path.is_file():
            self.swap(str(self.auto.model_path))
            log.info("sentiment.model auto: resumed with the model it learnt from %d posts (%s)",
                     self.auto.trained_on, self.auto.model_path)

    async def observe(self, texts: Sequence[str], scores: Sequence[Any] | None = None) -> None:
        """``scores``: the readings of ``texts`` by the model in use (for ``keep_share``)."""
        if self._training is not None:
            self._pending.extend(zip(texts, scores if scores is not None else [None] * len(texts), strict=False))
            return
        self.auto.observe(texts, scores)
        if self.auto.retrain_due():
            self._training = asyncio.ensure_future(self._train())

    def add_corrections(self, corrections: Iterable[Correction]) -> None:
        if self._training is None:
            self.auto.add_corrections(corrections)

    async def _train(self) -> None:
        try:
            await asyncio.to_thread(self.auto.train)
            if self.auto.model_path is not None:
                self.swap(str(self.auto.model_path))
                log.info("sentiment.model auto: now scoring with a model learnt from %d posts", self.auto.trained_on)
        except Exception:  # noqa: BLE001 - the stream goes on with the model it had
            log.exception("sentiment.model auto: training failed; scoring goes on with the current model")
        finally:
            self._training = None
            pending, self._pending = self._pending, []
            # Read by the model used before the swap: still what the next model is matched to.
            scored = [(t, v) for t, v in pending if v is not None]
            self.auto.observe([t for t, v in pending if v is None])
            if scored:
                self.auto.observe([t for t, _ in scored], [v for _, v in scored])
