"""Two machines, one PostgreSQL state database, one profile: never two runs at once.

"Two machines" are two kit homes (separate folders: their own runs/, settings file and copy of
the twin's info.json) whose settings file names the same database, running the same profile's
sync at the same ticks as real processes (`komet-ftd-ops run sync`). At every tick exactly one
of them works and the other records `skipped`; every FTD order lands in Komet exactly once
(`sandbox check --final`). Then the lease's two failure modes: a holder killed with SIGKILL
frees the profile at once, and a holder cut off from the database (its session ended on the
server) stops its kernel at the next ledger write with the upstream error (exit 75).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from conftest import REPO, Twin, start_twin, write_database_url
from test_lease import terminate_backend
from test_run_kill import _alive, _is_kernel, _wait_for_kernel

from komet_ftd_ops.runs import index as runs
from komet_ftd_ops.sandbox.control import SandboxControl
from komet_ftd_ops.settings.home import Home
from komet_ftd_ops.state.engine import parse_target
from komet_ftd_ops.state.lease import HELD_BY, _lock_ids, lease_key

pytestmark = pytest.mark.postgres
TICKS = 2
LATENCY_MS = 150  # every call slowed: a run outlasts the start of the other machine's
PROFILE = "[orders]\nunknown_settle_seconds = 0\n"  # read lost answers back at once


def _env(home: Path) -> dict[str, str]:
    env = {**os.environ, "KOMET_FTD_OPS_HOME": str(home)}
    env.pop("KOMET_FTD_OPS_DATABASE_URL", None)  # each machine reads its own settings file
    return env


def _kit(home: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "komet_ftd_ops", *args],
        cwd=REPO, env=_env(home), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def _sync(home: Path) -> subprocess.Popen[str]:
    return _kit(home, "run", "sync", "--profile", "sandbox")


def _machines(root: Path, url: str, twin: Twin) -> tuple[Path, Path]:
    """Two homes on one database and one twin (B gets a copy of the twin's info.json)."""
    a, b = root / "machine-a", root / "machine-b"
    for home in (a, b):
        write_database_url(home, url)
        (home / "profiles").mkdir(parents=True, exist_ok=True)
        (home / "profiles" / "sandbox.toml").write_text(PROFILE)
    (b / "sandbox").mkdir()
    shutil.copy(twin.kit.sandbox_info, b / "sandbox" / "info.json")
    return a, b


def _records(home: Path) -> list[runs.RunRecord]:
    with Home.at(home).open_store() as store:
        return runs.list_runs(store, profile="sandbox")


def _finished(proc: subprocess.Popen[str], timeout: float = 300) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, out


@pytest.fixture
def twin_a(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Twin]:
    """The twin, run from machine A's home."""
    monkeypatch.delenv("KOMET_FTD_OPS_DATABASE_URL", raising=False)
    running = start_twin(tmp_path / "machine-a", lines=120, seed=5)
    try:
        yield running
    finally:
        running.stop()


@pytest.mark.slow
@pytest.mark.timeout(900)  # a dozen runs, each a process and a kernel
def test_two_machines_run_one_profile_once_per_tick_and_every_order_once(
    tmp_path: Path, postgres_url: str, twin_a: Twin
) -> None:
    a, b = _machines(tmp_path, postgres_url, twin_a)
    control = SandboxControl(twin_a.info)
    control.settings("komet", autoconfirm=True)
    code, out = _finished(_sync(a))  # lists the offers on FTD
    assert code == 0, out[-3000:]
    for tick in range(TICKS):
        control.shop(3, oversell=0.2, seed=tick)
        for service in ("komet", "ftd"):  # slow calls: each run outlasts the other's start
            control.add_fault(service, "latency", None, 1.0, LATENCY_MS)
        both = [_sync(a), _sync(b)]
        codes = [_finished(p) for p in both]
        control.clear_faults()
        for code, out in codes:
            assert code in (0, 75), out[-3000:]
        records = _records(a)
        assert len(records) == 1 + 2 * (tick + 1)  # one database: both machines' rows
        this_tick = records[:2]  # newest first
        statuses = sorted(r.status for r in this_tick)
        assert statuses in (["ok", "skipped"], ["failed", "skipped"]), this_tick
        skipped = next(r for r in this_tick if r.status == runs.SKIPPED)
        assert "database backend" in (skipped.reason or ""), skipped.reason
        control.confirm()
    assert _records(b) == _records(a)
    for _ in range(2):  # calm cycles from either machine until every order is final
        assert _finished(_sync(b))[0] in (0, 75)
        control.confirm()
    code, out = _finished(_kit(a, "sandbox", "check", "--final"), timeout=120)
    assert code == 0 and out.startswith("ok:"), out
    web = control.dump()["komet"]["web_orders"]
    po = [w["customerPo"] for w in web if w["status"] != 3 and w["customerPo"]]
    assert len(po) == len(set(po)), "an FTD order landed in Komet twice"


def _lease_pid(url: str) -> int | None:
    """The database backend holding the sandbox profile's lease, if any."""
    import psycopg

    conninfo = parse_target(url).set(drivername="postgresql").render_as_string(False)
    sql = HELD_BY.format(classid="%(classid)s", objid="%(objid)s")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute(sql, _lock_ids(lease_key("sandbox"))).fetchone()
    return None if row is None else int(row[0])


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_killed_holder_frees_the_lease_and_a_cut_off_one_stops_writing(
    tmp_path: Path, postgres_url: str, twin_a: Twin
) -> None:
    a, b = _machines(tmp_path, postgres_url, twin_a)
    control = SandboxControl(twin_a.info)
    assert _finished(_sync(a))[0] == 0  # lists the offers on FTD
    control.shop(4, oversell=0.0, seed=11)
    for service in ("komet", "ftd"):
        control.add_fault(service, "latency", None, 1.0, LATENCY_MS)

    # kill -9 machine A's runner mid-run: its kernel dies with it, B gets the lease at once
    holder = _sync(a)
    old = _wait_for_kernel(holder)  # type: ignore[arg-type]
    assert _lease_pid(postgres_url) is not None
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(10)
    t0 = time.monotonic()
    while _lease_pid(postgres_url) is not None:
        assert time.monotonic() - t0 < 30, "a killed holder's lease outlived the keepalive bound"
        time.sleep(0.05)
    deadline = time.monotonic() + 5
    while any(_alive(p) for p in old) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [p.pid for p in old if _alive(p)] == []

    # B runs, and is cut off from the database mid-run: its kernel's next write stops it
    cut = _sync(b)
    kernels = [p for p in _wait_for_kernel(cut) if _is_kernel(p)]  # type: ignore[arg-type]
    assert kernels
    time.sleep(1.0)  # into the cycle: the kernel is talking to the twin
    backend = _lease_pid(postgres_url)
    assert backend is not None
    terminate_backend(postgres_url, backend)
    code, out = _finished(cut)
    assert code == 75, out[-3000:]
    (row, *_) = _records(b)
    assert row.status == runs.FAILED and row.failure_class == "upstream", row
    assert "LeaseLost" in (row.reason or ""), row.reason
    with pytest.raises(psutil.NoSuchProcess):
        psutil.Process(kernels[0].pid).status()

    control.clear_faults()
    for _ in range(2):
        assert _finished(_sync(a))[0] in (0, 75)
        control.confirm()
    code, out = _finished(_kit(a, "sandbox", "check", "--final"), timeout=120)
    assert code == 0 and out.startswith("ok:"), out
