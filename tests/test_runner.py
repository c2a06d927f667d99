"""The runner: real papermill runs of tiny fixture notebooks under a temporary home."""

from __future__ import annotations

import gc
import json
import os
import re
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import papermill
import psutil
import pytest
from click.testing import CliRunner
from conftest import TEST_FTD_TOKEN, TEST_KOMET_TOKEN, StateBackend

import komet_ftd_ops
from komet_ftd_ops import errors
from komet_ftd_ops.cli import runs as cli_runs
from komet_ftd_ops.errors import ConfigError
from komet_ftd_ops.runs import index as runs
from komet_ftd_ops.runs import runner
from komet_ftd_ops.runs.ipykernel_launch import kernel_command
from komet_ftd_ops.runs.runner import (
    LEAK_REASON,
    exit_code_for,
    exit_code_for_run,
    failure_class_for,
    profile_lock,
    redact_secrets,
    run_notebook,
    secret_leaked,
)
from komet_ftd_ops.runs.startup import imports_without_gc
from komet_ftd_ops.settings.home import Home

FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"
KOMET_TOKEN, FTD_TOKEN = TEST_KOMET_TOKEN, TEST_FTD_TOKEN


def _run(
    home: Path, name: str, *, deadline_s: float = 60.0, **parameters: object
) -> runs.RunRecord:
    return run_notebook(
        "sync",
        "test",
        parameters=dict(parameters),
        home=Home.at(home),
        deadline_s=deadline_s,
        notebook=FIXTURES / f"{name}.ipynb",
    )


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _processes_of(home: Path) -> list[psutil.Process]:
    """Live processes (other than this one) whose environment points at this home."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.pid == os.getpid() or proc.status() == psutil.STATUS_ZOMBIE:
                continue
            if proc.environ().get("KOMET_FTD_OPS_HOME") == str(home):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


# --- real runs ---------------------------------------------------------------------------


def test_an_ok_run_lands_in_runs_with_html_copy_row_and_index(home: Path, profile: str) -> None:
    record = _run(home, "ok", dry_run=True)

    assert record.status == runs.OK and record.failure_class is None
    assert exit_code_for_run(record) == 0
    folder = home / "runs" / "test" / f"{record.started_at:%Y-%m-%d}"
    assert record.notebook == folder / f"{record.started_at:%H%M%S}Z-sync.ipynb"
    assert record.notebook.exists() and record.html == record.notebook.with_suffix(".html")
    assert "<html" in record.html.read_text()
    # The notebook found its row through the same home and wrote its counters into it.
    assert record.counters == {"offers": 3, "withdrawn": 1, "dry_run": True}
    assert record.kit_version == komet_ftd_ops.__version__ and record.duration_s > 0
    # Only non-secret parameters went to papermill.
    nb = json.loads(record.notebook.read_text())
    assert nb["metadata"]["papermill"]["parameters"] == {
        "profile": "test",
        "run_id": record.id,
        "dry_run": True,
    }
    with Home.at(home).open_store() as store:
        assert runs.get_run(store, record.id) == record
    index = (home / "runs" / "index.html").read_text()
    assert f'href="test/{folder.name}/{record.html.name}"' in index
    assert 'class="status ok"' in index and "offers=3" in index


def test_a_quota_failure_is_upstream_and_exits_75(home: Path, profile: str) -> None:
    result = CliRunner().invoke(
        cli_runs.run, ["sync", "--profile", "test", "--notebook", str(FIXTURES / "quota.ipynb")]
    )

    assert result.exit_code == 75, result.output
    with Home.at(home).open_store() as store:
        (record,) = runs.list_runs(store)
    assert record.status == runs.FAILED and record.failure_class == errors.UPSTREAM
    assert record.reason.startswith("QuotaExceeded: ") and "\n" not in record.reason
    assert str(record.notebook) in result.stdout
    assert "upstream" in result.stderr


def test_a_second_run_while_one_holds_the_lock_is_skipped_quickly(
    home: Path, profile: str, state_backend: StateBackend
) -> None:
    first: list[runs.RunRecord] = []
    thread = threading.Thread(target=lambda: first.append(_run(home, "sleepy", sleep_s=1)))
    thread.start()
    try:
        deadline = time.monotonic() + 60
        with Home.at(home).open_store() as store:
            while not runs.list_runs(store) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert runs.list_runs(store)[0].status == runs.RUNNING
        t0 = time.monotonic()
        second = _run(home, "ok")
        elapsed = time.monotonic() - t0
    finally:
        thread.join(120)

    assert second.status == runs.SKIPPED and exit_code_for_run(second) == 0
    assert "holds the lock" in second.reason and second.notebook is None
    # the holder as the lock knows it: the lock file's line, or the lease's database session
    assert ("database backend" in second.reason) == (state_backend.name == "postgresql")
    assert elapsed < 3
    assert first[0].status == runs.OK


def test_a_run_past_its_deadline_is_timed_out_and_leaves_no_kernel(
    home: Path, profile: str
) -> None:
    t0 = time.monotonic()
    record = _run(home, "sleepy", deadline_s=12, sleep_s=600)

    assert record.status == runs.TIMED_OUT and record.failure_class == errors.DEADLINE
    assert exit_code_for_run(record) == 124
    assert time.monotonic() - t0 < 30
    pid_file = home / "kernel.pid"
    assert pid_file.exists(), "the kernel did not start within the deadline; raise it"
    assert _gone(int(pid_file.read_text()))
    assert _processes_of(home) == []


def test_a_leaked_secret_is_redacted_and_fails_the_run(home: Path, profile: str) -> None:
    record = _run(home, "leak")

    assert record.status == runs.FAILED and record.failure_class == errors.NEEDS_PERSON
    assert record.reason == LEAK_REASON and secret_leaked(record)
    assert exit_code_for_run(record) == 78
    for path in (record.notebook, record.html):
        text = path.read_text()
        assert "komet-test-token" not in text
        assert "***" in text


# --- refusals, locks, exit codes (no kernel) ---------------------------------------------


@pytest.mark.parametrize(
    "parameters",
    [
        {"token": "abc"},
        {"ftd_api_key": "abc"},
        {"note": KOMET_TOKEN},
        {"urls": [f"x?t={FTD_TOKEN}"]},
    ],
)
def test_secret_looking_parameters_are_refused(
    home: Path, profile: str, parameters: dict[str, object]
) -> None:
    with pytest.raises(ConfigError):
        _run(home, "ok", **parameters)
    assert not (home / "runs").exists()


def test_the_runner_sets_profile_and_run_id_itself(home: Path, profile: str) -> None:
    with pytest.raises(ConfigError, match="set by the runner"):
        _run(home, "ok", run_id="mine")


def test_the_lock_dies_with_its_process(home: Path, state_backend: StateBackend) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sys, time; from pathlib import Path\n"
                "from komet_ftd_ops.runs.runner import profile_lock\n"
                "from komet_ftd_ops.settings.home import Home\n"
                "with profile_lock(Home.at(sys.argv[1]), 'test', note='holder'):\n"
                "    print('locked', flush=True); time.sleep(60)\n"
            ),
            str(home),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with profile_lock(Home.at(home), "test") as held_by:
            assert held_by is not None and "holder" in held_by
            assert ("database backend" in held_by) == (state_backend.name == "postgresql")
    finally:
        holder.kill()
        holder.wait()
    deadline = time.monotonic() + 2  # PostgreSQL: its server ends the session a moment later
    while True:
        with profile_lock(Home.at(home), "test") as held_by:
            if held_by is None or time.monotonic() > deadline:
                break
        time.sleep(0.02)
    assert held_by is None


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (errors.QuotaExceeded("spent"), 75),
        (errors.ConnectionFailed("refused"), 75),
        (errors.AuthError("bad token"), 78),
        (errors.ConfigError("no profile"), 78),
        (errors.DataError("bad file"), 65),
        (errors.DeadlineExceeded("late"), 124),
        (RuntimeError("a bug"), 78),
        (KeyboardInterrupt(), 130),
    ],
)
def test_exit_codes_tell_failure_classes_apart(exc: BaseException, code: int) -> None:
    assert exit_code_for(exc) == code


def test_notebook_exceptions_map_by_name() -> None:
    def failed(ename: str) -> papermill.PapermillExecutionError:
        return papermill.PapermillExecutionError(0, 1, "", ename, "", [])

    assert exit_code_for(failed("QuotaExceeded")) == 75
    assert exit_code_for(failed("ItemNotAvailable")) == 65
    assert exit_code_for(failed("ZeroDivisionError")) == 78  # unexpected: a bug, a person looks
    assert failure_class_for("annotations") == errors.NEEDS_PERSON  # a module attribute, no class


def test_redaction_covers_escaped_forms(tmp_path: Path) -> None:
    secret = 'abc&def"ghi<jk'
    ipynb, page = tmp_path / "run.ipynb", tmp_path / "run.html"
    ipynb.write_text(json.dumps({"text": f"token {secret}", "html": "a&amp;def&quot;ghi&lt;jk"}))
    page.write_text("<pre>token abc&amp;def&quot;ghi&lt;jk</pre>")

    assert redact_secrets([ipynb, page, None], [secret, "short"])
    assert json.loads(ipynb.read_text())["text"] == "token ***"
    assert page.read_text() == "<pre>token ***</pre>"
    assert not redact_secrets([ipynb, page], [secret])


def test_the_cli_says_loudly_when_a_secret_leaked(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record = runs.RunRecord(
        id="r1",
        profile="test",
        kind="sync",
        status=runs.FAILED,
        started_at=datetime(2030, 1, 1, tzinfo=UTC),
        kit_version="0",
        failure_class=errors.NEEDS_PERSON,
        reason=LEAK_REASON,
        notebook=home / "run.ipynb",
    )
    with pytest.raises(SystemExit) as exit_info:
        cli_runs._report(record)
    assert exit_info.value.code == 78
    captured = capsys.readouterr()
    assert captured.out.strip() == str(home / "run.ipynb")
    assert re.search(r"SECRET LEAKED", captured.err)


def test_the_child_is_a_module_that_never_imports_the_slow_grammar(tmp_path: Path) -> None:
    # The runner's protocol by hand: where the answer goes, the runner's pid (0: none) and the
    # kernel's folder as arguments, the spec on stdin, the answer in the result file. A missing
    # notebook is papermill's failure, not the notebook's.
    result = tmp_path / "result.json"
    spec = {"input": str(tmp_path / "missing.ipynb"), "output": str(tmp_path / "out.ipynb"),
            "parameters": {}, "cwd": str(tmp_path)}  # fmt: skip
    child = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", runner.CHILD_MODULE, str(result), "0",
         str(tmp_path)],
        input=json.dumps(spec), cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert child.returncode == 0, child.stderr[-2000:]
    answer = json.loads(result.read_text())
    assert answer["ok"] is False and answer["in_notebook"] is False
    assert answer["ename"] == "FileNotFoundError"
    imported = {line.rsplit("|", 1)[-1].strip() for line in child.stderr.splitlines()}
    assert "papermill" in imported and "jsonschema" in imported  # it would have been imported
    # only the attempt shows (the module is marked absent): never its grammar, built with lark
    slow = {m for m in imported if m == "lark" or m.startswith(f"{runner.SKIP_SLOW_IMPORT}.")}
    assert not slow


def test_a_runs_kernel_is_ipykernel_without_its_debugger(home: Path, profile: str) -> None:
    # The kernelspec's command with runs.ipykernel_launch for ipykernel_launcher: no debugpy
    # (nothing attaches to a headless run), ipykernel's shell as ever (the folder on sys.path),
    # its imports loaded with the collector paused, then frozen out of it (runs/startup.py),
    # and numpy's OpenBLAS on one thread (no worker spinning for work it never gets).
    record = _run(home, "kernel")
    assert record.status == runs.OK, record.reason
    assert record.counters == {"debugger": False, "ipykernel": True, "cwd_on_path": True,
                               "gc_enabled": True, "gc_froze_imports": True,
                               "blas_threads": 1}  # fmt: skip


def test_imports_without_gc_pauses_the_collector_then_restores_it() -> None:
    before = gc.isenabled()
    try:
        gc.enable()
        with pytest.raises(ImportError), imports_without_gc():
            assert not gc.isenabled()
            raise ImportError("a module that does not import")
        assert gc.isenabled()  # back on, even after a failed import
        gc.disable()
        with imports_without_gc():
            pass
        assert not gc.isenabled()  # a collector paused before stays paused
    finally:
        gc.unfreeze()
        (gc.enable if before else gc.disable)()


def test_only_the_stock_ipykernel_command_is_swapped() -> None:
    stock = ["/py", "-Xfrozen_modules=off", "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    assert kernel_command(stock) == [
        "/py", "-m", "komet_ftd_ops.runs.ipykernel_launch", "-f", "{connection_file}"
    ]  # fmt: skip
    own = ["/opt/py", "-m", "my_kernel", "-f", "{connection_file}"]
    assert kernel_command(own) == own
    bare = ["/opt/kernel", "{connection_file}"]
    assert kernel_command(bare) == bare


# papermill imports requests and click for features a run never uses; the child puts stand-ins
# in their place that import the real module on first use.
STAND_IN_PROBE = """
import json, sys
import komet_ftd_ops.runs.child  # its first lines, as `python -m` runs them
import papermill, papermill.iorw
early = [m for m in ("requests", "urllib3", "click") if type(sys.modules.get(m)).__name__ == "module"]
get = papermill.iorw.requests.get  # the first use imports the real module
print(json.dumps({"early": early, "get": get.__module__, "now": type(sys.modules["requests"]).__name__}))
"""


def test_the_child_imports_requests_and_click_only_on_first_use() -> None:
    probe = subprocess.run([sys.executable, "-c", STAND_IN_PROBE], capture_output=True,
                           text=True, timeout=120)  # fmt: skip
    assert probe.returncode == 0, probe.stderr[-2000:]
    assert json.loads(probe.stdout) == {"early": [], "get": "requests.api", "now": "module"}
