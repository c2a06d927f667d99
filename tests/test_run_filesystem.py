"""A full disk or a read-only runs/ ends the run as failed (class filesystem, exit 74) with one
line, and never leaves a truncated notebook as the run's record.

Real mounts: a 256 KB tmpfs as the home's runs/ folder (full disk), and the same remounted
read-only (chmod does not stop root, and CI runs as root). Mounting needs root: the tests skip
only when not run as root.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO

from komet_ftd_ops import errors
from komet_ftd_ops.runs import index as runs
from komet_ftd_ops.runs.filesystem import MIN_FREE_BYTES, PARTIAL_SUFFIX
from komet_ftd_ops.runs.runner import EXIT_IOERR, exit_code_for_run, run_notebook
from komet_ftd_ops.settings.home import Home

FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="mounting a tmpfs needs root (CI runs these as root)"
)


@pytest.fixture
def tiny_runs(home: Path) -> Iterator[Path]:
    """A 256 KB tmpfs mounted as `<home>/runs`, unmounted afterwards whatever happens."""
    folder = home / "runs"
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _run(home: Path, name: str, **parameters: object) -> runs.RunRecord:
    return run_notebook(
        "sync",
        "test",
        parameters=parameters,
        home=Home.at(home),
        deadline_s=120,
        notebook=FIXTURES / f"{name}.ipynb",
    )


def _cli(home: Path, name: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "komet_ftd_ops", "run", "sync", "--profile", "test",
         "--notebook", str(FIXTURES / f"{name}.ipynb")],
        cwd=REPO, env={**os.environ, "KOMET_FTD_OPS_HOME": str(home)},
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip


def _only_record(home: Path) -> runs.RunRecord:
    with Home.at(home).open_store() as store:
        (record,) = runs.list_runs(store)
    return record


def _whole_notebooks(folder: Path) -> list[Path]:
    """Every .ipynb under folder; each must be whole JSON (none cut short by the disk)."""
    found = sorted(folder.rglob("*.ipynb"))
    for path in found:
        json.loads(path.read_text())
    return found


def test_a_disk_that_fills_during_the_run_fails_it_with_one_line_and_a_partial_file(
    home: Path, profile: str, tiny_runs: Path
) -> None:
    record = _run(home, "bulky", kilobytes=600)  # the output is more than the disk holds

    assert record.status == runs.FAILED and record.failure_class == errors.FILESYSTEM
    assert exit_code_for_run(record) == EXIT_IOERR == 74
    assert "No space left on device" in record.reason and "\n" not in record.reason
    assert record.counters == {"orders_received": 1}  # the work the cells did is in the row
    assert _whole_notebooks(tiny_runs) == []  # the truncated notebook is not left as a record
    if record.notebook is not None:  # set aside, and the row says where
        assert record.notebook.name.endswith(".ipynb" + PARTIAL_SUFFIX)
        assert record.notebook.exists()
    assert record.html is None
    assert _only_record(home) == record


def test_a_full_disk_refuses_the_run_before_it_starts_and_exits_74(
    home: Path, profile: str, tiny_runs: Path
) -> None:
    # some room left, less than a run needs
    (tiny_runs / "filler").write_bytes(b"\0" * (256 * 1024 - MIN_FREE_BYTES + 8 * 1024))

    result = _cli(home, "ok")

    assert result.returncode == 74, result.stderr[-2000:]
    (line,) = [x for x in result.stderr.splitlines() if "filesystem" in x]
    assert "KB free" in line and "Traceback" not in result.stderr
    record = _only_record(home)
    assert record.status == runs.FAILED and record.failure_class == errors.FILESYSTEM
    assert record.notebook is None and record.counters == {}  # nothing ran
    files = {p.name for p in tiny_runs.rglob("*") if p.is_file()}
    assert files <= {"filler", "index.html"}  # no notebook begun (the index is rebuilt)


def test_a_read_only_runs_folder_fails_the_run_with_one_line_and_exits_74(
    home: Path, profile: str, tiny_runs: Path
) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_runs)], check=True)

    result = _cli(home, "ok")

    assert result.returncode == 74, result.stderr[-2000:]
    (line,) = [x for x in result.stderr.splitlines() if x.strip()]  # one line, no traceback
    assert "filesystem" in line and "Read-only file system" in line
    assert result.stdout.strip() == ""  # no notebook to point at
    record = _only_record(home)
    assert record.status == runs.FAILED and record.failure_class == errors.FILESYSTEM
    assert "Read-only file system" in record.reason and "\n" not in record.reason
    assert list(tiny_runs.iterdir()) == []
