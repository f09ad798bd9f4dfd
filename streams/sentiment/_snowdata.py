"""SnowNLP's shipped model data, read directly from its files.

``import snownlp`` loads every model eagerly (2-3 s, +412 MB), so nothing here
imports it: the package directory is located with ``importlib.util.find_spec``
and the gzip'd marshal files are decoded by hand.

The segmenter model (a character trigram tagger) is 336 MB as Python objects.
It is converted once into a compact table (a few tens of MB of NumPy arrays)
that holds, for every n-gram the model knows, the exact log-probability
SnowNLP's ``log_prob`` would compute; the conversion runs in a child process
(so the big temporary heap never lives in a scorer process) and its result is
cached on disk, keyed by the source file's size and mtime.
"""

from __future__ import annotations

import gzip
import importlib.util
import marshal
import math
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# Bump when the layout of the converted table changes.
SEG_TABLE_FORMAT = 1
# SnowNLP's tag alphabet in its own order; the order decides Viterbi ties.
TAGS = ("b", "m", "e", "s")
BOS_TAG = 4  # the begin-of-sentence pseudo tag
CJK_FIRST = 0x4E00
CJK_LAST = 0x9FA5  # SnowNLP's re_zh range is [\u4E00-\u9FA5]
# The conversion reports these parts as it goes (read, unigrams, bigrams, trigrams, write).
CONVERT_PARTS = 5
_PROGRESS_LINE = "koubei-progress"


class SnowDataError(RuntimeError):
    """SnowNLP's data files are missing or unreadable."""


def snownlp_dir() -> Path:
    spec = importlib.util.find_spec("snownlp")
    if spec is None or spec.origin is None:
        raise SnowDataError("the snownlp package is not installed (pip install 'snownlp>=0.12.3,<0.13')")
    return Path(spec.origin).parent


def read_marshal_gz(path: Path) -> Any:
    """Decode a SnowNLP ``.marshal.3`` file (gzip'd marshal, or plain marshal as SnowNLP falls back to)."""
    raw = path.read_bytes()
    try:
        raw = gzip.decompress(raw)
    except OSError:
        pass
    return marshal.loads(raw)


def stopwords() -> frozenset[str]:
    # Same reading as snownlp.normal: one word per line, stripped.
    path = snownlp_dir() / "normal" / "stopwords.txt"
    with open(path, encoding="utf-8") as handle:
        return frozenset(line.strip() for line in handle)


def cache_dir() -> Path:
    explicit = os.environ.get("KOUBEI_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "koubei-sentinel"


@dataclass(frozen=True)
class SegTable:
    """The segmenter model as lookup arrays (see ``convert_seg_model`` for the meaning)."""

    cp_to_id: np.ndarray  # int32, indexed by codepoint - CJK_FIRST; UNK for unknown characters
    known: np.ndarray  # bool per char id: SnowNLP's "found" test (some (char, tag) unigram exists)
    uni_lp: np.ndarray  # float64 (n_ids, 4): log(l1 * P(char, tag)), -inf when unseen
    bi_keys: np.ndarray  # int64 sorted: c2 * M + c3
    bi_start: np.ndarray  # int64 (len(bi_keys) + 1): entry ranges
    bi_code: np.ndarray  # int8: t2 * 4 + t3 (t2 may be BOS_TAG)
    bi_lp: np.ndarray  # float64: log(uni + bi) for that (c2 t2, c3 t3)
    tri_keys: np.ndarray  # int64 sorted: (c1 * M + c2) * M + c3
    tri_start: np.ndarray
    tri_code: np.ndarray  # int8: (t1 * 5 + t2) * 4 + t3
    tri_lp: np.ndarray  # float64: log(uni + bi + tri)
    n_chars: int  # ids 0..n_chars-1 are characters; BOS = n_chars, UNK = n_chars + 1

    @property
    def bos(self) -> int:
        return self.n_chars

    @property
    def unk(self) -> int:
        return self.n_chars + 1

    @property
    def radix(self) -> int:
        return self.n_chars + 2


def _log_or_neg_inf(value: float) -> float:
    # SnowNLP returns -inf when the interpolated probability is exactly 0.
    return math.log(value) if value != 0 else float("-inf")


def convert_seg_model(source: Path, target: Path, progress: Callable[[int, int], None] | None = None) -> None:
    """Precompute every log-probability SnowNLP's segmenter can look up.

    SnowNLP's ``log_prob(s1, s2, s3)`` is ``log(uni + bi + tri)`` with
    ``uni = l1 * count(s3) / total``, ``bi = l2 * count(s2, s3) / count(s2)``
    and ``tri = l3 * count(s1, s2, s3) / count(s1, s2)`` (0 when a divisor is
    0). A trigram count is non-zero only if the bigram one is, so the value is
    ``log(uni)`` for unseen bigrams, one number per seen (s2, s3), and one per
    seen (s1, s2, s3). Each is computed here with the same float operations
    in the same order as SnowNLP, so lookups reproduce its numbers bit for bit.
    """
    report = progress or (lambda done, total: None)
    report(0, CONVERT_PARTS)
    model = read_marshal_gz(source)
    report(1, CONVERT_PARTS)
    l1, l2, l3 = model["l1"], model["l2"], model["l3"]
    uni_d: dict[Any, Any] = model["uni"]["d"]
    uni_total = model["uni"]["total"]
    bi_d: dict[Any, Any] = model["bi"]["d"]
    tri_d: dict[Any, Any] = model["tri"]["d"]
    tag_index = {tag: i for i, tag in enumerate(TAGS)}
    tag_index["BOS"] = BOS_TAG

    chars = sorted({char for (char, _tag) in uni_d if char})
    char_id = {char: i for i, char in enumerate(chars)}
    n_chars = len(chars)
    bos = n_chars
    radix = n_chars + 2
    char_id[""] = bos

    def uni_term(state: tuple[str, str]) -> float:
        return l1 * (float(uni_d.get(state, 0)) / uni_total)

    cp_to_id = np.full(CJK_LAST - CJK_FIRST + 1, n_chars + 1, dtype=np.int32)
    known = np.zeros(radix, dtype=bool)
    uni_lp = np.full((radix, 4), float("-inf"))
    for (char, tag), count in uni_d.items():
        if not char or tag not in TAGS:
            continue
        cid = char_id[char]
        if count:
            known[cid] = True
        uni_lp[cid, tag_index[tag]] = _log_or_neg_inf(uni_term((char, tag)))
        if len(char) == 1 and CJK_FIRST <= ord(char) <= CJK_LAST:
            cp_to_id[ord(char) - CJK_FIRST] = cid
    report(2, CONVERT_PARTS)

    bi_rows: list[tuple[int, int, float]] = []
    for (s2, s3), count in bi_d.items():
        if s3[1] not in TAGS or s2[0] not in char_id or s3[0] not in char_id:
            continue
        bi = float(l2 * count) / uni_d[s2] if uni_d.get(s2, 0) != 0 else 0
        key = char_id[s2[0]] * radix + char_id[s3[0]]
        bi_rows.append((key, tag_index[s2[1]] * 4 + tag_index[s3[1]], _log_or_neg_inf(uni_term(s3) + bi)))
    report(3, CONVERT_PARTS)

    tri_rows: list[tuple[int, int, float]] = []
    for (s1, s2, s3), count in tri_d.items():
        if s3[1] not in TAGS or not all(s[0] in char_id for s in (s1, s2, s3)):
            continue
        uni = uni_term(s3)
        bi = float(l2 * bi_d.get((s2, s3), 0)) / uni_d[s2] if uni_d.get(s2, 0) != 0 else 0
        tri = float(l3 * count) / bi_d[(s1, s2)] if bi_d.get((s1, s2), 0) != 0 else 0
        key = (char_id[s1[0]] * radix + char_id[s2[0]]) * radix + char_id[s3[0]]
        code = (tag_index[s1[1]] * 5 + tag_index[s2[1]]) * 4 + tag_index[s3[1]]
        tri_rows.append((key, code, _log_or_neg_inf(uni + bi + tri)))
    report(4, CONVERT_PARTS)

    def pack(rows: list[tuple[int, int, float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        rows.sort()
        keys = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        codes = np.fromiter((r[1] for r in rows), dtype=np.int8, count=len(rows))
        lps = np.fromiter((r[2] for r in rows), dtype=np.float64, count=len(rows))
        unique_keys, starts = np.unique(keys, return_index=True)
        starts = np.append(starts, len(rows)).astype(np.int64)
        return unique_keys, starts, codes, lps

    bi_keys, bi_start, bi_code, bi_lp = pack(bi_rows)
    tri_keys, tri_start, tri_code, tri_lp = pack(tri_rows)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, suffix=".tmp.npz", delete=False) as tmp:
        np.savez(
            tmp,
            format=np.int64(SEG_TABLE_FORMAT),
            n_chars=np.int64(n_chars),
            cp_to_id=cp_to_id,
            known=known,
            uni_lp=uni_lp,
            bi_keys=bi_keys,
            bi_start=bi_start,
            bi_code=bi_code,
            bi_lp=bi_lp,
            tri_keys=tri_keys,
            tri_start=tri_start,
            tri_code=tri_code,
            tri_lp=tri_lp,
        )
    os.replace(tmp.name, target)
    report(CONVERT_PARTS, CONVERT_PARTS)


def seg_table_path(source: Path) -> Path:
    stat = source.stat()
    return cache_dir() / f"snownlp-seg-v{SEG_TABLE_FORMAT}-{stat.st_size}-{stat.st_mtime_ns}.npz"


def load_seg_table(source: Path | None = None, progress: Callable[[str, int, int], None] | None = None) -> SegTable:
    """Load the converted segmenter table, converting SnowNLP's model first if needed.

    ``progress("convert", done, CONVERT_PARTS)`` is called as a conversion goes on (10-20 s)."""
    source = source or snownlp_dir() / "seg" / "seg.marshal.3"
    if not source.exists():
        raise SnowDataError(f"SnowNLP segmenter model not found at {source}")
    target = seg_table_path(source)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        # A read-only home (some CI and container setups): fall back to the temp directory.
        target = Path(tempfile.gettempdir()) / f"koubei-sentinel-{os.environ.get('USER', 'user')}" / target.name
    if not target.exists():
        # A child process keeps the ~400 MB temporary heap of the conversion out of this one.
        returncode, errors = _convert_in_child(source, target, progress)
        if returncode != 0 or not target.exists():
            raise SnowDataError(f"converting {source} to {target} failed: {errors.strip()[-2000:]}")
    with np.load(target) as data:
        if int(data["format"]) != SEG_TABLE_FORMAT:
            raise SnowDataError(f"{target} has an unexpected format; delete it to rebuild")
        return SegTable(
            cp_to_id=data["cp_to_id"],
            known=data["known"],
            uni_lp=data["uni_lp"],
            bi_keys=data["bi_keys"],
            bi_start=data["bi_start"],
            bi_code=data["bi_code"],
            bi_lp=data["bi_lp"],
            tri_keys=data["tri_keys"],
            tri_start=data["tri_start"],
            tri_code=data["tri_code"],
            tri_lp=data["tri_lp"],
            n_chars=int(data["n_chars"]),
        )


def _convert_in_child(source: Path, target: Path, progress: Callable[[str, int, int], None] | None) -> tuple[int, str]:
    """Run the conversion in a child process, relaying its progress lines; (exit code, stderr)."""
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace") as errors:
        child = subprocess.Popen(
            [sys.executable, "-m", "streams.sentiment._snowdata", str(source), str(target)],
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
        assert child.stdout is not None
        for line in child.stdout:
            parts = line.split()
            if progress is not None and len(parts) == 3 and parts[0] == _PROGRESS_LINE:
                progress("convert", int(parts[1]), int(parts[2]))
        returncode = child.wait()
        errors.seek(0)
        return returncode, errors.read()


if __name__ == "__main__":
    convert_seg_model(
        Path(sys.argv[1]), Path(sys.argv[2]), lambda done, total: print(_PROGRESS_LINE, done, total, flush=True)
    )
