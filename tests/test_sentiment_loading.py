"""Loading: SnowNLP's data is read without importing snownlp, and the converted table is reproducible."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from streams.sentiment._snowdata import SnowDataError, convert_seg_model, load_seg_table, snownlp_dir


def test_scoring_never_imports_snownlp() -> None:
    code = (
        "import sys\n"
        "from streams.sentiment import load_scorer\n"
        "load_scorer().score_many(['质量太差了', '很好'])\n"
        "print('snownlp' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SnowDataError, match="not found"):
        load_seg_table(tmp_path / "seg.marshal.3")


@pytest.mark.slow
def test_conversion_from_scratch_matches_the_cached_table(tmp_path: Path) -> None:
    # Needs ~600 MB for ~10-20 s: SnowNLP's model as Python objects.
    cached = load_seg_table()
    target = tmp_path / "seg.npz"
    convert_seg_model(snownlp_dir() / "seg" / "seg.marshal.3", target)
    with np.load(target) as fresh:
        for name in ("cp_to_id", "known", "uni_lp", "bi_keys", "bi_start", "bi_code", "bi_lp", "tri_keys", "tri_code", "tri_lp"):
            assert np.array_equal(fresh[name], getattr(cached, name)), name
