"""deploy/tools/ensure-prometheus-tools.sh never fails the build.

`make test` runs it before pytest; whatever the machine, it must exit 0 and
say why it did not install. The cases that would really install are not run
here (the script's apt-get path is exercised by `make test` itself).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "deploy" / "tools" / "ensure-prometheus-tools.sh"


def run_script(path_dir: Path, *prefix: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*prefix, "/bin/sh", str(SCRIPT)], env={"PATH": str(path_dir)}, capture_output=True,
                          text=True, timeout=30)


def link(tmp_path: Path, *names: str) -> Path:
    for name in names:
        found = shutil.which(name)
        if found is None:
            pytest.skip(f"{name} not installed")
        (tmp_path / name).symlink_to(found)
    return tmp_path


def test_without_apt_get_it_explains_and_exits_zero(tmp_path: Path) -> None:
    result = run_script(link(tmp_path, "id"))
    assert result.returncode == 0
    assert "missing: promtool amtool prometheus" in result.stdout
    assert "no apt-get" in result.stdout


def test_as_non_root_it_explains_and_exits_zero(tmp_path: Path) -> None:
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        pytest.skip("needs root and setpriv to run the script as another user")
    result = run_script(link(tmp_path, "id", "apt-get"), setpriv, "--reuid=65534", "--regid=65534", "--clear-groups")
    assert result.returncode == 0, result.stderr
    assert "not root" in result.stdout


def test_with_the_tools_present_it_does_nothing(tmp_path: Path) -> None:
    result = run_script(link(tmp_path, "id", "promtool", "amtool", "prometheus"))
    assert result.returncode == 0
    assert "are present" in result.stdout
