"""The scheduler's warm kernel: started between ticks, used at the tick, dying with its runner.

Real processes throughout: the scheduler (in this process or in a child), its papermill child
and kernel, the pool of `schedule --all`. The `warm` fixture notebook writes which kernel ran it
(pid, start time) and whether the kit was imported before its first cell.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
from conftest import REPO, TEST_PROFILE_TOML

from komet_ftd_ops.runs import index as runs
from komet_ftd_ops.runs.fleet import schedule_all
from komet_ftd_ops.runs.kernel import _exited_within
from komet_ftd_ops.runs.processes import profile_lock
from komet_ftd_ops.runs.runner import exit_code_for_run
from komet_ftd_ops.runs.scheduler import schedule
from komet_ftd_ops.settings.home import Home

WARM = Path(__file__).parent / "fixtures" / "notebooks" / "warm.ipynb"


def _seen(home: Path, record: runs.RunRecord) -> dict[str, object]:
    return dict(json.loads((home / f"kernel-{record.id}.json").read_text()))


def _warm(home: Path, record: runs.RunRecord) -> bool:
    """The run's papermill child (its kernel's parent) was a warm slot's (`--warm`)."""
    return _seen(home, record)["warm"] is True


def _kernels_under(pid: int) -> list[psutil.Process]:
    try:
        found = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    out = []
    for proc in found:
        try:
            if "ipykernel" in " ".join(proc.cmdline()) and proc.status() != psutil.STATUS_ZOMBIE:
                out.append(proc)
        except psutil.NoSuchProcess:
            continue
    return out


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class Sampler:
    """Watches this process's kernels in a thread: the most at once, and for each kernel the
    fewest run rows that existed while it was alive (a warm kernel is seen before its row)."""

    def __init__(self, home: Path) -> None:
        self.home, self.most, self.rows_when_seen = home, 0, dict[int, int]()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.is_set():
            kernels = _kernels_under(os.getpid())
            self.most = max(self.most, len(kernels))
            if kernels:
                with Home.at(self.home).open_store() as store:
                    rows = len(runs.list_runs(store, limit=1000))
                for k in kernels:
                    self.rows_when_seen[k.pid] = min(self.rows_when_seen.get(k.pid, rows), rows)
            time.sleep(0.05)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _at_grid_start(every_s: float) -> None:
    """Wait for the start of a tick of the wall-clock grid, so that the first run (at once)
    ends well before the next tick and the warm kernel is up by then."""
    while time.time() % every_s > 0.5:
        time.sleep(0.1)


def test_a_run_on_the_warm_kernel_lands_a_normal_notebook_and_an_ok_row(
    home: Path, profile: str
) -> None:
    _at_grid_start(20)
    with Sampler(home) as sampler:
        ticks = schedule(profile, 20, Home.at(home), max_ticks=2, notebook=WARM,
                         require_preflight=False)  # fmt: skip

    assert [t.record.status for t in ticks if t.record] == [runs.OK, runs.OK]
    with Home.at(home).open_store() as store:
        second, first = runs.list_runs(store)
    cold, warm = _seen(home, first), _seen(home, second)
    assert not _warm(home, first)  # the first tick runs at once, on a fresh kernel
    assert _warm(home, second)  # the second on the kernel started between the ticks
    # both kernels imported the notebook's modules as they started, before its first cell
    assert cold["preloaded"] is True and warm["preloaded"] is True
    # the second run's kernel was up before the second run's row existed: between the ticks
    assert sampler.rows_when_seen[int(str(warm["pid"]))] == 1
    assert warm["cwd"] == str(WARM.parent)  # the run's folder, as a cold kernel has
    assert second.counters["offers"] == 3 and second.status == runs.OK
    assert second.notebook is not None and second.notebook.exists()
    executed = json.loads(second.notebook.read_text())
    assert [c["cell_type"] for c in executed["cells"]][:3] == ["markdown", "code", "code"]
    assert any("injected-parameters" in c["metadata"].get("tags", []) for c in executed["cells"])
    assert "take_run" not in second.notebook.read_text()  # the handoff leaves no trace
    assert second.html is not None and "synced test" in second.html.read_text()
    assert _kernels_under(os.getpid()) == []  # the slot's kernel went with the schedule


SCHEDULER = (
    "import sys\n"
    "from pathlib import Path\n"
    "from komet_ftd_ops.runs.scheduler import schedule\n"
    "from komet_ftd_ops.settings.home import Home\n"
    "schedule(sys.argv[1], 3600, Home.from_environment(), notebook=Path(sys.argv[2]),\n"
    "         require_preflight=False)\n"
)


def test_the_warm_kernel_is_the_runners_holds_no_lock_and_dies_with_it(
    home: Path, profile: str
) -> None:
    env = {**os.environ, "KOMET_FTD_OPS_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-c", SCHEDULER, profile, str(WARM)], cwd=REPO,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        kernels: list[psutil.Process] = []
        while time.monotonic() < deadline and proc.poll() is None:
            with Home.at(home).open_store() as store:
                done = [r for r in runs.list_runs(store) if r.status == runs.OK]
            kernels = _kernels_under(proc.pid)
            if done and kernels:  # the first run is over and the next one's kernel is up
                break
            time.sleep(0.1)
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        (kernel,) = kernels  # one slot, one warm kernel
        child = kernel.parent()
        assert child is not None and child.parent() is not None
        assert child.parent().pid == proc.pid  # runner -> papermill child -> kernel
        # Between ticks the profile is free: a run by hand is not skipped for a warm kernel.
        with profile_lock(Home.at(home), profile) as held_by:
            assert held_by is None
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        gone, alive = psutil.wait_procs([kernel, child], timeout=10)
        assert alive == []  # no orphan kernel
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_run_on_a_warm_kernel_honours_the_deadline(home: Path, profile: str) -> None:
    toml = home / "profiles" / "test.toml"
    toml.write_text(TEST_PROFILE_TOML.replace("deadline_seconds = 60", "deadline_seconds = 20"))
    holder: list[runs.RunRecord] = []

    def overrun(tick: object) -> None:  # the second run sleeps past its deadline
        (home / "sleep_s").write_text("600")
        holder.append(tick.record)  # type: ignore[attr-defined]

    t0 = time.monotonic()
    schedule(profile, 1.0, Home.at(home), max_ticks=2, notebook=WARM, require_preflight=False,
             on_tick=overrun)  # fmt: skip

    first, second = holder
    assert first.status == runs.OK
    assert second.status == runs.TIMED_OUT and exit_code_for_run(second) == 124
    assert second.reason is not None and "deadline of 20 s passed" in second.reason
    assert _warm(home, second)  # it ran on the warm kernel
    assert 20 <= (second.duration_s or 0) < 40 and time.monotonic() - t0 < 120
    assert _kernels_under(os.getpid()) == []


def test_the_pool_keeps_at_most_one_warm_kernel_per_slot(
    home: Path, profile: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("test2", "test3"):
        (home / "profiles" / f"{name}.toml").write_text(TEST_PROFILE_TOML)
    (home / "profiles" / "test3.toml").unlink()  # two profiles on three slots
    jobs = 3
    _at_grid_start(20)
    with Sampler(home) as sampler:
        # slots idle between ticks (a busy pool starts the next due run at once, cold)
        finished = schedule_all(Home.at(home), every_s=20, jobs=jobs, duration_s=21,
                                notebook=WARM, require_preflight=False)  # fmt: skip

    assert [r.profile for r in finished].count("test") == 2, finished
    assert all(r.exit_code == 0 and r.status == runs.OK for r in finished), finished
    assert sampler.most == jobs  # kernels of runs and warm kernels together: one per slot
    with Home.at(home).open_store() as store:
        records = runs.list_runs(store, limit=100)
    warm = [r for r in records if _warm(home, r)]
    assert warm, "no run started on a warm kernel"
    assert _kernels_under(os.getpid()) == []  # every warm kernel ended with the pool


WARM_DISPLAY_PROBE = """
import sys
from komet_ftd_ops.runs.cells import warm_display
before = "pandas.io.formats.html" in sys.modules
warm_display()
print(before, "pandas.io.formats.html" in sys.modules)
"""


def test_warm_display_pays_pandas_first_html_rendering_ahead() -> None:
    """What a warm kernel calls before the run (`runs.child`): the HTML writer a table cell's
    first display would import is loaded, so the run's table cells do not pay for it."""
    probe = subprocess.run([sys.executable, "-c", WARM_DISPLAY_PROBE], cwd=REPO,
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.split() == ["False", "True"]


def test_the_end_of_a_run_sees_its_child_exit_at_once_and_bounds_the_wait() -> None:
    """`NotebookChild.close` waits for the child (its kernel gone first: the lock goes only
    then) through a pidfd: it returns as the child exits, reaped; a child that does not exit
    is waited for no longer than the bound (close then kills it)."""
    quick = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.5)"])
    t0 = time.monotonic()
    assert _exited_within(quick, 30) is True
    assert quick.returncode == 0 and time.monotonic() - t0 < 20  # at the exit, not the bound
    assert _exited_within(quick, 30) is True  # already reaped: at once
    stuck = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        t0 = time.monotonic()
        assert _exited_within(stuck, 1.0) is False
        assert time.monotonic() - t0 >= 1.0 and stuck.poll() is None
    finally:
        stuck.kill()
        stuck.wait()
