"""A real sync process, SIGKILLed at random points between (and during) its calls, restarted.

Each run: its own twin, florists buying (some stock already sold in Komet), then rounds of a
sync process killed after a random number of HTTP calls, with the sales rep and buyers acting in
between; then an undisturbed process finishes. No order may be lost or doubled, with the state
in SQLite or (the first third of the seeds) in PostgreSQL.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, StateBackend, start_twin
from sim.twin_world import TwinWorld

from komet_ftd_ops.sandbox.control import SandboxControl

WORKER = REPO / "tests" / "sim" / "sync_worker.py"
RUNS = int(os.environ.get("KILL_RUNS", "3"))
PG_RUNS = max(1, RUNS // 3)  # the same seeds on PostgreSQL state: the first third of them
CASES = [pytest.param(run, "sqlite", id=f"sqlite-{run}") for run in range(RUNS)] + [
    pytest.param(run, "postgresql", id=f"postgresql-{run}", marks=pytest.mark.postgres)
    for run in range(PG_RUNS)
]
ROUNDS = 5


def _worker(home: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), "--home", str(home), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=REPO,
    )


def _kill_after(home: Path, calls: int, rng: random.Random) -> bool:
    """Start a sync process; SIGKILL it after `calls` HTTP calls. True if it died mid-run."""
    proc = _worker(home, "--cycles", "4")
    assert proc.stdout is not None
    seen = 0
    for line in proc.stdout:
        seen += line.startswith(b"call ")
        if seen >= calls:
            time.sleep(rng.uniform(0, 0.03))  # somewhere inside or just after that call
            break
    killed = proc.poll() is None
    if killed:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    proc.stdout.close()
    return killed


def _finish(home: Path) -> str:
    proc = _worker(home, "--cycles", "12", "--until-idle")
    out, _ = proc.communicate(timeout=240)
    return out.decode()


def _people(control: SandboxControl, rng: random.Random) -> None:
    roll = rng.random()
    if roll < 0.3:
        control.confirm()
    elif roll < 0.5:
        control.call("ftd", "POST", "cancel", {"count": 1, "seed": rng.randint(0, 10**6)})
    elif roll < 0.8:
        control.shop(rng.randint(1, 3), oversell=0.3, seed=rng.randint(0, 10**6))


@pytest.mark.slow
@pytest.mark.parametrize(("run", "state_backend"), CASES, indirect=["state_backend"])
def test_a_killed_sync_process_loses_and_doubles_nothing(
    tmp_path: Path, run: int, state_backend: StateBackend
) -> None:
    twin = start_twin(tmp_path)
    try:
        world = TwinWorld(tmp_path, twin.info)  # lists the inventory on FTD
        control = world.control
        rng = random.Random(run)
        control.shop(6, oversell=0.2, seed=run)
        for service in ("komet", "ftd"):  # a little latency widens the windows a kill can hit
            control.add_fault(service, "latency", None, 1.0, 20)
        kills = 0
        for _ in range(ROUNDS):
            kills += _kill_after(tmp_path, rng.randint(1, 30), rng)
            _people(control, rng)
        control.clear_faults()
        assert "idle" in _finish(tmp_path)
        control.confirm()
        _finish(tmp_path)
        assert kills >= ROUNDS - 1, "the sync process ended before it could be killed"
        assert world.violations() == []  # reads what the killed processes committed
        statuses = {o["status"] for o in control.dump()["ftd"]["orders"]}
        assert statuses <= {"CONFIRMED", "REJECTED", "CANCEL_REQUESTED", "CANCELLED", "NEW"}
        world.close()
    finally:
        twin.stop()
