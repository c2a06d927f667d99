"""`runs_url`: run notebooks in a shared folder, or copied to a URL papermill writes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from papermill.iorw import papermill_io

from komet_ftd_ops.runs import index as runs
from komet_ftd_ops.runs.runner import exit_code_for_run, run_notebook
from komet_ftd_ops.settings.home import Home

FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"
SCHEME = "kittest://"


def _settings(home: Path, runs_url: str) -> None:
    (home / "komet-ftd-ops.toml").write_text(f'runs_url = "{runs_url}"\n')


def _run(home: Path) -> runs.RunRecord:
    return run_notebook(
        "sync",
        "test",
        parameters={},
        home=Home.at(home),
        deadline_s=60,
        notebook=FIXTURES / "ok.ipynb",
    )


class FolderHandler:
    """A papermill I/O handler for `kittest://<path>`: object storage played by a folder."""

    def __init__(self, root: Path, fail: bool = False) -> None:
        self.root = root
        self.fail = fail

    def _path(self, url: str) -> Path:
        return self.root / url.removeprefix(SCHEME)

    def read(self, url: str) -> str:
        return self._path(url).read_text(encoding="utf-8")

    def listdir(self, url: str) -> list[str]:
        return [str(p) for p in self._path(url).iterdir()]

    def write(self, buf: str, url: str) -> None:
        if self.fail:
            raise PermissionError("AccessDenied: the bucket refused the write")
        path = self._path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(buf, encoding="utf-8")

    def pretty_path(self, url: str) -> str:
        return url


@pytest.fixture
def bucket(tmp_path: Path) -> Iterator[FolderHandler]:
    handler = FolderHandler(tmp_path / "bucket")
    papermill_io.register(SCHEME, handler)
    try:
        yield handler
    finally:
        papermill_io._handlers.remove((SCHEME, handler))


def test_the_default_is_runs_under_the_home(kit: Home) -> None:
    assert kit.runs_url() == "runs/" and kit.runs_dir == kit.root / "runs"
    assert kit.runs_remote() is None


def test_a_shared_folder_is_the_runs_folder(
    home: Path, profile: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    shared = tmp_path_factory.mktemp("shared-mount") / "kit-runs"
    _settings(home, str(shared))
    record = _run(home)
    assert record.status == runs.OK
    assert record.notebook is not None and record.notebook.is_relative_to(shared)
    assert record.notebook.exists() and record.html is not None and record.html.exists()
    assert not (home / "runs").exists()
    index = (shared / "index.html").read_text()
    assert f'href="test/{record.html.parent.name}/{record.html.name}"' in index


def test_a_remote_runs_url_gets_a_copy_and_the_index_links_there(
    home: Path, profile: str, bucket: FolderHandler
) -> None:
    _settings(home, f"{SCHEME}kit-runs/")
    record = _run(home)
    assert record.status == runs.OK and record.notebook is not None and record.html is not None
    day = record.notebook.parent.name
    assert record.notebook.is_relative_to(home / "runs")  # executed locally first
    for local in (record.notebook, record.html):
        copy = bucket.root / "kit-runs" / "test" / day / local.name
        assert copy.read_text(encoding="utf-8") == local.read_text(encoding="utf-8")
    index = (home / "runs" / "index.html").read_text()
    assert f'href="{SCHEME}kit-runs/test/{day}/{record.html.name}"' in index


def test_a_remote_copy_that_fails_fails_the_run_as_upstream(
    home: Path, profile: str, bucket: FolderHandler
) -> None:
    bucket.fail = True
    _settings(home, f"{SCHEME}kit-runs")
    record = _run(home)
    assert record.status == runs.FAILED and record.failure_class == "upstream"
    assert "could not be copied to kittest://kit-runs/test/" in (record.reason or "")
    assert "AccessDenied" in (record.reason or "")
    assert exit_code_for_run(record) == 75
    assert record.notebook is not None and record.notebook.exists()  # the local copy stays
