"""Where the kit's home is: KOMET_FTD_OPS_HOME, else the nearest komet-ftd-ops.toml above, else
the current folder; `komet-ftd-ops init` and the first run write that file; a sync notebook run
by hand (papermill from <home>/notebooks) finds the home and is recorded as a `manual` run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import REPO, Twin

from komet_ftd_ops.cli import cli
from komet_ftd_ops.runs import index as runs
from komet_ftd_ops.runs.manual import MANUAL, NOT_APPLIED
from komet_ftd_ops.runs.processes import profile_lock
from komet_ftd_ops.runs.runner import run_notebook
from komet_ftd_ops.settings.home import HOME_VARIABLE, SETTINGS_FILE, Home

FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"


def test_the_home_is_found_from_a_subfolder(tmp_path: Path) -> None:
    (tmp_path / SETTINGS_FILE).write_text("")
    deep = tmp_path / "notebooks" / "drafts"
    deep.mkdir(parents=True)
    assert Home.from_environment({}, cwd=deep).root == tmp_path.resolve()
    assert Home.from_environment({}, cwd=tmp_path).root == tmp_path.resolve()


def test_the_variable_wins_and_without_a_settings_file_the_current_folder_is_home(
    tmp_path: Path,
) -> None:
    (tmp_path / SETTINGS_FILE).write_text("")
    below, elsewhere = tmp_path / "notebooks", tmp_path.parent / f"{tmp_path.name}-other"
    below.mkdir()
    elsewhere.mkdir()
    assert Home.from_environment({HOME_VARIABLE: str(elsewhere)}, cwd=below).root == elsewhere
    assert Home.from_environment({}, cwd=elsewhere).root == elsewhere  # nothing above it


def test_init_writes_the_settings_file_once_and_the_cli_then_finds_the_home_below(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(HOME_VARIABLE, raising=False)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["init"])
    assert result.exit_code == 0, result.output
    settings = tmp_path / SETTINGS_FILE
    assert f"wrote {SETTINGS_FILE}" in result.output
    assert tomllib.loads(settings.read_text()) == {}  # comments only: valid, empty TOML
    assert "database_url" in settings.read_text()  # says what belongs there
    settings.write_text(settings.read_text() + "# mine\n")
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    again = CliRunner().invoke(cli, ["init", "--print-home"])
    assert again.output.strip() == str(tmp_path.resolve())
    assert settings.read_text().endswith("# mine\n")  # never overwritten


def test_the_first_run_marks_its_home(tmp_path: Path, profile: str, home: Path) -> None:
    assert not (home / SETTINGS_FILE).exists()
    record = run_notebook(
        "sync", profile, parameters={}, home=Home.at(home), deadline_s=60,
        notebook=FIXTURES / "ok.ipynb",
    )  # fmt: skip
    assert record.status == runs.OK, record.reason
    assert (home / SETTINGS_FILE).is_file()


def _papermill_in_notebooks(home: Path) -> subprocess.CompletedProcess[str]:
    """`cd <home>/notebooks && papermill sync.ipynb out.ipynb`, no KOMET_FTD_OPS_HOME set."""
    folder = home / "notebooks"
    folder.mkdir(exist_ok=True)
    shutil.copy(REPO / "notebooks" / "sync.ipynb", folder / "sync.ipynb")
    env = {k: v for k, v in os.environ.items() if k != HOME_VARIABLE}
    return subprocess.run(
        [sys.executable, "-m", "papermill", "sync.ipynb", "out.ipynb"],
        cwd=folder, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def _outputs(notebook: Path) -> str:
    cells = json.loads(notebook.read_text())["cells"]
    return "".join(
        "".join(out.get("text", ""))
        for c in cells
        if c["cell_type"] == "code"
        for out in c["outputs"]
    )


def test_a_hand_run_sync_notebook_finds_its_home_and_is_recorded_as_manual(
    twin: Twin, home: Path
) -> None:
    Home.at(home).write_settings()
    result = _papermill_in_notebooks(home)
    assert result.returncode == 0, result.stderr[-3000:]
    with Home.at(home).open_store() as store:
        [record] = runs.list_runs(store, profile="sandbox")
    assert (record.kind, record.status) == (MANUAL, runs.OK)
    assert record.counters["offers"] > 0  # the cycle's counters landed in its row
    assert record.html is None  # the runner's HTML copy did not happen, and the row says so
    text = _outputs(home / "notebooks" / "out.ipynb")
    assert NOT_APPLIED in text
    assert (home / "runs" / "index.html").exists()


def test_a_hand_run_sync_notebook_is_skipped_while_another_run_holds_the_lock(
    twin: Twin, home: Path
) -> None:
    Home.at(home).write_settings()
    with profile_lock(Home.at(home), "sandbox", note="sync since 12:00:00Z") as held:
        assert held is None
        result = _papermill_in_notebooks(home)
    assert result.returncode == 0, result.stderr[-3000:]
    with Home.at(home).open_store() as store:
        [record] = runs.list_runs(store, profile="sandbox")
        assert store.get("sandbox", "inventory.last_total") is None  # nothing ran
    assert (record.kind, record.status) == (MANUAL, runs.SKIPPED)
    assert "holds the lock" in (record.reason or "") and "sync since 12:00:00Z" in record.reason
    assert "skipped, nothing ran" in _outputs(home / "notebooks" / "out.ipynb")
