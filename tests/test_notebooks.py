"""The template notebooks run headless with their default parameters (`pytest --nbval-lax`)
against the running twin, as a newcomer opening them in JupyterLab would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO, Twin


def test_every_notebook_runs_with_its_defaults_under_nbval(
    twin: Twin, home: Path, tmp_path: Path
) -> None:
    env = {**os.environ, "KOMET_FTD_OPS_HOME": str(home)}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "-q",
         "-o", "addopts=", "--rootdir", str(tmp_path), str(REPO / "notebooks")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
