"""The installed `komet-ftd-ops` as a person runs it, for the tests that drive the CLI: the
console script of this venv, a home from KOMET_FTD_OPS_HOME, output captured as text."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CLI = Path(sys.executable).parent / "komet-ftd-ops"


def kfo(home: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`komet-ftd-ops ARGS` run in `home` with that home as KOMET_FTD_OPS_HOME."""
    env = {**os.environ, "KOMET_FTD_OPS_HOME": str(home)}
    return subprocess.run(
        [str(CLI), *args], cwd=home, env=env, capture_output=True, text=True, timeout=timeout
    )


def one_line(text: str) -> str:
    """The one line a refusal prints: exactly one, and no traceback."""
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]
