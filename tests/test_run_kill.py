"""No two runs of one profile ever work at once, whatever is killed.

Real processes throughout: `komet-ftd-ops run sync` (the CLI), the built-in scheduler, the
papermill child and the kernel are SIGKILLed mid-run and the next run is started at once. While
any process of the killed run is still alive, the profile lock must be held (the probe here
tries it: if it gets the lock while an old process lives, that process works unlocked). The
killed run's processes must be gone within seconds (they die with their parent), and against
the real twin the orders still go through in later cycles, each exactly once.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import pytest
import test_reconcile
from conftest import REPO, StateBackend, start_twin
from test_reconcile import Market

from komet_ftd_ops.orders import OrderLedger
from komet_ftd_ops.reconcile.ledger_view import OpenOrder
from komet_ftd_ops.runs import index as runs
from komet_ftd_ops.runs.health import HealthRules, check_health, check_held, held_and_stuck
from komet_ftd_ops.runs.processes import profile_lock
from komet_ftd_ops.sandbox.control import SandboxControl
from komet_ftd_ops.settings.home import Home

FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"
market = test_reconcile.market  # the twin-trading fixture, shared
SCHEDULER = (
    "import sys\n"
    "from komet_ftd_ops.runs.scheduler import schedule\n"
    "from komet_ftd_ops.settings.home import Home\n"
    "schedule(sys.argv[1], float(sys.argv[2]), Home.from_environment(), require_preflight=False)\n"
)


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "KOMET_FTD_OPS_HOME": str(home)}


def _start(home: Path, *args: str) -> subprocess.Popen[bytes]:
    logs = home / "logs"  # each process's stderr, to read when a test fails
    logs.mkdir(exist_ok=True)
    with (logs / f"{time.time_ns()}.log").open("wb") as err:
        return subprocess.Popen(
            [sys.executable, *args], cwd=REPO, env=_env(home), stdout=subprocess.DEVNULL, stderr=err
        )


def _run_sync_cli(home: Path, profile: str, *extra: str) -> subprocess.Popen[bytes]:
    return _start(home, "-m", "komet_ftd_ops", "run", "sync", "--profile", profile, *extra)


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _is_kernel(proc: psutil.Process) -> bool:
    try:
        return "ipykernel" in " ".join(proc.cmdline())
    except psutil.NoSuchProcess:
        return False


def _wait_for_kernel(top: subprocess.Popen[bytes], timeout: float = 90) -> list[psutil.Process]:
    """Every descendant of `top` once a kernel is among them (the run is working)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert top.poll() is None, "the run ended before its kernel started"
        try:
            found = psutil.Process(top.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            found = []
        if any(_is_kernel(p) for p in found):
            return found
        time.sleep(0.05)
    raise AssertionError("no kernel started")


# PostgreSQL: only the runner holds the lease; its child and kernel die with it (a parent-death
# signal, delivered as the runner exits) and re-check the lease before every write. So the lease
# may be free a moment before they are gone, but never while one of them could still write.
DYING_S = 1.0


def _never_unlocked_while_alive(
    home: Path, profile: str, old: list[psutil.Process], backend: str = "sqlite"
) -> float:
    """Probe the lock until the old processes are gone; returns how long they took to die.

    Getting the lock while one of them still lives is the overlap this file is about (on
    PostgreSQL: one of them still alive `DYING_S` after).
    """
    t0 = time.monotonic()
    while True:
        with profile_lock(Home.at(home), profile, note="probe") as held_by:
            if held_by is None:
                if backend == "postgresql":
                    _wait_gone(old, DYING_S)
                survivors = [p.pid for p in old if _alive(p)]
                assert survivors == [], f"processes {survivors} of a killed run work unlocked"
                return time.monotonic() - t0
        assert time.monotonic() - t0 < 20, "the killed run's processes did not die with it"
        time.sleep(0.01)


def _wait_gone(processes: list[psutil.Process], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while any(_alive(p) for p in processes) and time.monotonic() < deadline:
        time.sleep(0.01)


def _kill_mid_run(top: subprocess.Popen[bytes], rng: random.Random) -> list[psutil.Process]:
    old = _wait_for_kernel(top)
    time.sleep(rng.uniform(0.2, 1.5))  # somewhere in the cycle
    old = [*old, *(p for p in psutil.Process(top.pid).children(recursive=True) if p not in old)]
    os.kill(top.pid, signal.SIGKILL)
    top.wait(10)
    return old


# --- offline: the sleepy fixture notebook and the `test` profile -----------------------------


def _sleepy_cli(home: Path) -> subprocess.Popen[bytes]:
    return _run_sync_cli(home, "test", "--notebook", str(FIXTURES / "sleepy.ipynb"))


def test_a_killed_cli_takes_its_child_and_kernel_along(
    home: Path, profile: str, state_backend: StateBackend
) -> None:
    cli = _sleepy_cli(home)
    old = _kill_mid_run(cli, random.Random(1))
    assert len(old) >= 2  # the papermill child and its kernel (seen before the kill)
    assert _never_unlocked_while_alive(home, profile, old, state_backend.name) < 10
    with Home.at(home).open_store() as store:
        (row,) = runs.list_runs(store)
    assert row.status == runs.RUNNING  # the runner died before it could finish its row
    # The next run finds no live process of it, marks it abandoned, and runs.
    nxt = _run_sync_cli(home, profile, "--notebook", str(FIXTURES / "ok.ipynb"))
    assert nxt.wait(120) == 0
    with Home.at(home).open_store() as store:
        new, killed = runs.list_runs(store)
    assert killed.status == runs.FAILED and "died" in (killed.reason or "")
    assert new.status == runs.OK and killed.finished_at <= new.started_at


@pytest.mark.parametrize("victim", ["child", "kernel"])
def test_a_killed_child_or_kernel_ends_the_run_and_frees_the_lock(
    home: Path, profile: str, victim: str, state_backend: StateBackend
) -> None:
    cli = _sleepy_cli(home)
    old = _wait_for_kernel(cli)
    kernel = next(p for p in old if _is_kernel(p))
    child = next(p for p in old if not _is_kernel(p))
    os.kill((child if victim == "child" else kernel).pid, signal.SIGKILL)
    assert cli.wait(60) == 78  # a run that lost its notebook process needs a person
    assert [p.pid for p in old if _alive(p)] == []
    with profile_lock(Home.at(home), profile) as held_by:
        assert held_by is None
    with Home.at(home).open_store() as store:
        (row,) = runs.list_runs(store)
    assert row.status == runs.FAILED and row.failure_class == "needs_person"


def test_a_second_run_while_a_kernel_works_is_skipped(
    home: Path, profile: str, state_backend: StateBackend
) -> None:
    cli = _sleepy_cli(home)
    try:
        _wait_for_kernel(cli)
        second = _run_sync_cli(home, profile, "--notebook", str(FIXTURES / "ok.ipynb"))
        assert second.wait(60) == 0
    finally:
        cli.kill()
        cli.wait()
    with Home.at(home).open_store() as store:
        statuses = [r.status for r in runs.list_runs(store)]
    assert runs.SKIPPED in statuses


# --- against the twin: the real sync notebook --------------------------------------------


def _overlapping(records: list[runs.RunRecord]) -> list[tuple[str, str]]:
    """Pairs of runs that did work at the same time, by the run index's timestamps."""
    worked = sorted(
        (r for r in records if r.status != runs.SKIPPED), key=lambda r: (r.started_at, r.id)
    )
    pairs = []
    for before, after in zip(worked, worked[1:], strict=False):
        if before.finished_at is None or before.finished_at > after.started_at:
            pairs.append((before.id, after.id))
    return pairs


def _until_idle(home: Path, control: SandboxControl, cycles: int = 8) -> None:
    for _ in range(cycles):
        assert _run_sync_cli(home, "sandbox").wait(300) in (0, 75)
        control.confirm()
        orders = control.dump()["ftd"]["orders"]
        if all(o["status"] in ("CONFIRMED", "REJECTED", "CANCELLED") for o in orders):
            return
    raise AssertionError(
        "orders did not get through: "
        + json.dumps(sorted({o["status"] for o in control.dump()["ftd"]["orders"]}))
    )


def _check(home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "komet_ftd_ops", "sandbox", "check", "--final"],
        cwd=REPO, env=_env(home), capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def _killer_cli(home: Path) -> subprocess.Popen[bytes]:
    return _run_sync_cli(home, "sandbox")


def _killer_scheduler(home: Path) -> subprocess.Popen[bytes]:
    return _start(home, "-c", SCHEDULER, "sandbox", "3")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("start", "state_backend"),
    [
        pytest.param(_killer_cli, "sqlite", id="cli"),
        pytest.param(_killer_scheduler, "sqlite", id="scheduler"),
        pytest.param(_killer_cli, "postgresql", id="cli-postgresql", marks=pytest.mark.postgres),
    ],
    indirect=["state_backend"],
)
def test_a_killed_runner_never_overlaps_the_next_run_and_orders_still_get_through(
    tmp_path: Path, start: Callable[[Path], subprocess.Popen[bytes]], state_backend: StateBackend
) -> None:
    twin = start_twin(tmp_path, lines=120, seed=5)
    try:
        (tmp_path / "profiles").mkdir()
        (tmp_path / "profiles" / "sandbox.toml").write_text(
            "[orders]\nunknown_settle_seconds = 0\n"  # read lost answers back at once
        )
        control = SandboxControl(twin.info)
        control.settings("komet", autoconfirm=True)
        assert _run_sync_cli(tmp_path, "sandbox").wait(300) == 0  # lists the offers on FTD
        rng = random.Random(7)
        for round_ in range(2):
            control.shop(3, oversell=0.2, seed=round_)
            for service in ("komet", "ftd"):  # slow calls: the kill lands inside the cycle
                control.add_fault(service, "latency", None, 1.0, 150)
            old = _kill_mid_run(start(tmp_path), rng)
            nxt = _run_sync_cli(tmp_path, "sandbox")  # at once
            _never_unlocked_while_alive(tmp_path, "sandbox", old, state_backend.name)
            assert nxt.wait(300) in (0, 75)
            control.clear_faults()
        _until_idle(tmp_path, control)
        with Home.at(tmp_path).open_store() as store:
            records = runs.list_runs(store, profile="sandbox")
        assert _overlapping(records) == []
        assert sum(r.status == runs.FAILED and "died" in (r.reason or "") for r in records) >= 1
        check = _check(tmp_path)
        assert check.returncode == 0, check.stdout + check.stderr
        assert check.stdout.startswith("ok:")
        web = control.dump()["komet"]["web_orders"]
        po = [w["customerPo"] for w in web if w["status"] != 3 and w["customerPo"]]
        assert len(po) == len(set(po)), "an FTD order split across two live web orders"
    finally:
        twin.stop()


# --- held and stuck orders: health and `sandbox check` never say ok over them ---------------


def test_an_order_held_for_a_person_turns_health_and_sandbox_check_red(market: Market) -> None:
    market.trade(3, oversell=0.0, seed=61)
    voided = market.control.tamper("void-invoice", 1)["changed"][0]  # behind the kit's back
    market.cycle()  # the kit sees the void and holds the order for a person
    held = [o for o in OrderLedger(market.store, "sandbox").orders() if o.held]
    assert [o.park_reason for o in held] == ["invoice_voided"], voided
    rules = HealthRules(max_silence_min=600)

    red = check_health(market.store, "sandbox", rules=rules, now=market.now)
    assert not red.ok
    assert f"{held[0].order_id} held in {held[0].state} (invoice_voided" in red.line()
    check = _check(market.home)
    assert check.returncode == 1 and not check.stdout.startswith("ok")
    assert f"HELD: {held[0].order_id} held in" in check.stdout

    OrderLedger(market.store, "sandbox").unpark(held[0].order_id, market.now, "a person looked")
    assert check_health(market.store, "sandbox", rules=rules, now=market.now).ok


def test_an_order_unchanged_past_the_limit_outside_new_and_acknowledged_is_stuck() -> None:
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    ago = lambda minutes: now - timedelta(minutes=minutes)  # noqa: E731
    orders = [
        OpenOrder("o1", "confirming", None, None, False, ago(90)),  # stuck
        OpenOrder("o2", "confirming", None, None, False, ago(10)),  # on its way
        OpenOrder("o3", "acknowledged", None, None, False, ago(900)),  # the sales rep's turn
        OpenOrder("o4", "received", "quota", "spent", False, ago(900)),  # new_orders' to report
        OpenOrder("o5", "cancel_reporting", "ftd_unavailable", "503", False, ago(61)),  # stuck
    ]
    assert held_and_stuck(orders, now, 60) == [
        "o1 stuck in confirming (no change), 90 min",  # oldest first
        "o5 stuck in cancel_reporting (ftd_unavailable: 503), 61 min",
    ]
    assert check_held(orders[1:4], now, 60).ok
