"""`schedule --all`: a bounded pool, a fair queue, deadlines, the preflight gate, a clean stop.

Most tests run the real pool with stand-in runs: a tiny Python process per run that writes
when it started and ended (the pool's side is all there is to see there). The rest run the
kit's own runner, with notebooks from tests/fixtures.
"""

from __future__ import annotations

import logging
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import pytest
from click.testing import CliRunner
from conftest import TEST_PROFILE_TOML, StateBackend
from kit_profiles import pass_preflight

from komet_ftd_ops.cli.runs import schedule as schedule_command
from komet_ftd_ops.ftd.models import FtdOrder
from komet_ftd_ops.orders import OrderLedger
from komet_ftd_ops.runs import index as runs
from komet_ftd_ops.runs.fleet import FleetRun, run_command, schedule_all
from komet_ftd_ops.runs.html import write_index
from komet_ftd_ops.runs.runner import INTERRUPTED_REASON
from komet_ftd_ops.sandbox import control
from komet_ftd_ops.sandbox import profiles as twin_profiles
from komet_ftd_ops.settings.home import Home
from komet_ftd_ops.state.store import Store
from komet_ftd_ops.sync import run_sync
from komet_ftd_ops.testing.invariants import violations

FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"

# A stand-in run: appends "<profile> start|end <time>" to a log, sleeps, ends. "hang" ignores
# SIGTERM and sleeps on, as a runner stuck past its own deadline would.
STAND_IN = """
import signal, sys, time
profile, log, sleep_s = sys.argv[1], sys.argv[2], float(sys.argv[3])
if sleep_s < 0:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sleep_s = 600
with open(log, "a") as fh:
    fh.write(f"{profile} start {time.time()}\\n")
time.sleep(sleep_s)
with open(log, "a") as fh:
    fh.write(f"{profile} end {time.time()}\\n")
"""


def stand_in(log: Path, sleep_s: dict[str, float], default: float = 0.3):  # type: ignore[no-untyped-def]
    def command(profile: str, scheduled_at: datetime, result: Path) -> list[str]:
        return [
            sys.executable,
            "-c",
            STAND_IN,
            profile,
            str(log),
            str(sleep_s.get(profile, default)),
        ]

    return command


def spans(log: Path) -> list[tuple[str, float, float]]:
    """(profile, start, end) of each stand-in run that ended, in order of start."""
    open_: dict[str, float] = {}
    done = []
    for line in log.read_text().splitlines():
        name, what, at = line.split()
        if what == "start":
            open_[name] = float(at)
        else:
            done.append((name, open_.pop(name), float(at)))
    return sorted(done, key=lambda s: s[1])


def most_at_once(found: list[tuple[str, float, float]]) -> int:
    edges = sorted([(s, 1) for _, s, _ in found] + [(e, -1) for _, _, e in found])
    now = peak = 0
    for _, step in edges:
        now += step
        peak = max(peak, now)
    return peak


def add_profiles(home: Path, names: list[str], deadline_s: int = 60) -> None:
    (home / "profiles").mkdir(exist_ok=True)
    toml = TEST_PROFILE_TOML.replace("deadline_seconds = 60", f"deadline_seconds = {deadline_s}")
    for name in names:
        (home / "profiles" / f"{name}.toml").write_text(toml)


def test_more_due_profiles_than_slots_all_run_in_turn_never_more_than_the_pool(
    home: Path, profile: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    names = ["p1", "p2", "p3", "p4", "p5"]
    add_profiles(home, names)
    (home / "profiles" / "test.toml").unlink()
    log = tmp_path_factory.mktemp("log") / "runs.log"

    finished = schedule_all(
        Home.at(home), every_s=1, jobs=2, max_runs=10, require_preflight=False,
        command=stand_in(log, {}, default=0.8),
    )  # fmt: skip

    found = spans(log)
    assert len(found) == len(finished) == 10
    assert most_at_once(found) == 2  # the pool is used, and never exceeded
    # The pool's own order of starts (a stand-in's log line waits for its Python to start).
    by_start = sorted(finished, key=lambda r: r.started_at)
    starts = [r.profile for r in by_start]
    # None runs twice before every other has run once, round after round: at every start the
    # profiles' counts differ by one at most.
    for n in range(1, len(starts) + 1):
        counts = [starts[:n].count(name) for name in names]
        assert max(counts) - min(counts) <= 1, starts
    for name in names:  # a profile never overlaps itself
        own = [r for r in by_start if r.profile == name]
        assert all(b.started_at >= a.finished_at for a, b in zip(own, own[1:], strict=False))
    # The three that found both slots taken started only when a slot was free again.
    first_end = min(r.finished_at for r in by_start[:2])
    assert all(r.started_at >= first_end for r in by_start[2:5])
    assert all(r.exit_code == 0 for r in finished)


def test_a_hung_run_is_killed_past_its_deadline_and_delays_nobody(
    home: Path, profile: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    add_profiles(home, ["hung"], deadline_s=1)
    add_profiles(home, ["a", "b"])
    (home / "profiles" / "test.toml").unlink()
    log = tmp_path_factory.mktemp("log") / "runs.log"
    seen: list[FleetRun] = []

    schedule_all(
        Home.at(home), every_s=1, jobs=3, duration_s=4.2, require_preflight=False,
        grace_s=0.5, command=stand_in(log, {"hung": -1}, default=0.1), on_finish=seen.append,
    )  # fmt: skip

    hung = [r for r in seen if r.profile == "hung"]
    assert hung and all(r.killed and r.exit_code == -signal.SIGKILL for r in hung)
    for run in hung:  # killed at deadline + grace, not at the end of the schedule
        assert 1.4 < (run.finished_at - run.started_at).total_seconds() < 3.0
    assert "hung start" in log.read_text() and "hung end" not in log.read_text()
    for name in ("a", "b"):  # on every tick, on time, while "hung" held a slot
        own = [r for r in seen if r.profile == name]
        assert len(own) >= 4
        assert all(r.lateness_s < 0.6 for r in own[1:])
        ticks = [r.scheduled_at.timestamp() for r in own]
        assert all(b - a == 1 for a, b in zip(ticks[1:], ticks[2:], strict=False))
    assert not [
        p for p in psutil.process_iter(["cmdline"]) if STAND_IN in (p.info["cmdline"] or [])
    ]


def test_a_profile_joins_once_its_preflight_passes_and_is_named_once_until_then(
    home: Path, profile: str, tmp_path_factory: pytest.TempPathFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    add_profiles(home, ["ready", "later"])
    (home / "profiles" / "test.toml").unlink()
    pass_preflight(home, "ready")
    log = tmp_path_factory.mktemp("log") / "runs.log"
    caplog.set_level(logging.INFO, logger="komet_ftd_ops.runs.fleet")
    seen: list[FleetRun] = []

    def onboard_later(run: FleetRun) -> None:
        seen.append(run)
        if len(seen) == 2:  # "later" was refused at least twice by now
            pass_preflight(home, "later")

    schedule_all(Home.at(home), every_s=1, duration_s=4.5, command=stand_in(log, {}, 0.1),
                 on_finish=onboard_later)  # fmt: skip

    order = [r.profile for r in seen]
    assert order[:2] == ["ready", "ready"] and "later" in order
    joined = seen[order.index("later")]
    assert joined.started_at > seen[1].finished_at
    messages = [r.getMessage() for r in caplog.records]
    refused = [m for m in messages if m.startswith("later not scheduled")]
    assert len(refused) == 1 and "no preflight for profile 'later'" in refused[0]
    assert "later: preflight passes now; joining the schedule" in messages


@pytest.mark.slow
def test_schedule_all_runs_real_syncs_side_by_side_and_the_page_shows_each_profile(
    home: Path, profile: str
) -> None:
    add_profiles(home, ["north", "south"])
    (home / "profiles" / "test.toml").unlink()
    for name in ("north", "south"):
        pass_preflight(home, name)
    args = ["--all", "--every", "1s", "--max-cycles", "2", "--jobs", "2"]

    result = CliRunner().invoke(schedule_command, [*args, "--notebook", str(FIXTURES / "ok.ipynb")])

    assert result.exit_code == 0, result.output
    with Home.at(home).open_store() as store:
        records = runs.list_runs(store)
    assert sorted(r.profile for r in records) == ["north", "south"]
    assert all(r.status == runs.OK and r.scheduled_at is not None for r in records)
    first, second = sorted(records, key=lambda r: r.started_at)
    assert second.started_at < first.finished_at  # side by side, not one after the other
    page = (home / "runs" / "index.html").read_text()
    table = page[page.index('<table id="profiles">') : page.index("</table>")]
    assert table.count("<tr class=") == 2 and "north" in table and "south" in table


def test_schedule_wants_one_profile_or_all() -> None:
    neither = CliRunner().invoke(schedule_command, ["--every", "1s"])
    assert neither.exit_code == 2 and "either --profile NAME or --all" in neither.output
    both = CliRunner().invoke(schedule_command, ["--all", "--profile", "x"])
    assert both.exit_code == 2
    jobs = CliRunner().invoke(schedule_command, ["--profile", "x", "--jobs", "2"])
    assert jobs.exit_code == 2 and "--jobs goes with --all" in jobs.output


@pytest.mark.slow
def test_sigterm_stops_every_run_and_each_runner_records_it_interrupted(
    home: Path, profile: str
) -> None:
    add_profiles(home, ["east", "west"])
    (home / "profiles" / "test.toml").unlink()
    script = (
        "import sys; from pathlib import Path\n"
        "from komet_ftd_ops.runs.fleet import schedule_all\n"
        "from komet_ftd_ops.settings.home import Home\n"
        "done = schedule_all(Home.at(sys.argv[1]), every_s=3600, notebook=Path(sys.argv[2]), "
        "require_preflight=False, jobs=2)\n"
        "print('stopped after', len(done), sorted(r.exit_code for r in done), flush=True)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(home), str(FIXTURES / "sleepy.ipynb")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None and _kernels(proc.pid) < 2:
            time.sleep(0.2)
        assert _kernels(proc.pid) == 2, proc.stderr.read() if proc.poll() is not None else ""
        descendants = psutil.Process(proc.pid).children(recursive=True)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    assert proc.returncode == 0, err
    assert "stopped after 2 [130, 130]" in out
    with Home.at(home).open_store() as store:
        records = runs.list_runs(store)
    assert sorted(r.profile for r in records) == ["east", "west"]
    assert all(r.status == runs.FAILED and r.reason == INTERRUPTED_REASON for r in records)
    assert all(_gone(p) for p in descendants)


def _kernels(pid: int) -> int:
    """Kernels running under the pool (ipykernel_launcher processes)."""
    try:
        below = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return 0
    return sum(any("ipykernel" in part for part in _cmdline(p)) for p in below)


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []


def _gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_the_real_run_command_names_the_run(tmp_path: Path) -> None:
    at = datetime(2026, 12, 1, 12, tzinfo=UTC)
    argv = run_command(dry_run=True, notebook=tmp_path / "x.ipynb")("acme", at, tmp_path / "r")
    assert argv[1:6] == [
        "-m", "komet_ftd_ops.runs.fleet_child", "acme", at.isoformat(), str(tmp_path / "r"),
    ]  # fmt: skip
    assert argv[6:] == ["--dry-run", "--notebook", str((tmp_path / "x.ipynb").resolve())]


def _order(store: Store, profile: str, order_id: str, *, park: bool = False) -> None:
    """An order received (FTD still shows it NEW); parked for a person when `park`."""
    ledger = OrderLedger(store, profile)
    body = {"order_id": order_id, "order_number": order_id[-4:], "status": "NEW", "version": 1,
            "requested_ship_date": "2026-11-30",
            "lines": [{"line_id": "1", "offer_id": "om:428720", "units_per_box": 100}]}  # fmt: skip
    lines = [{"line_id": "1", "offer_id": "om:428720", "boxes": 2, "price": "0.42"}]
    now = datetime.now(UTC)
    ledger.receive(FtdOrder.from_wire(body), lines, now)
    if park:
        ledger.park(order_id, "web_order_gone", "deleted in Komet", retry=False, now=now)


def _sync(store: Store, profile: str, minutes_ago: float, status: str = runs.OK) -> None:
    started = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    run_id = runs.new_run_id("sync", started)
    runs.create_run(store, run_id=run_id, profile=profile, kind="sync", started_at=started,
                    kit_version="t")  # fmt: skip
    runs.finish_run(store, run_id, status=status, duration_s=1,
                    failure_class="upstream" if status == runs.FAILED else None,
                    reason="Komet 503" if status == runs.FAILED else None,
                    finished_at=started + timedelta(seconds=1))  # fmt: skip


def test_the_runs_page_opens_with_every_profile_failing_ones_first(
    kit: Home, state_backend: StateBackend
) -> None:
    add_profiles(kit.root, ["calm", "fresh"])  # "fresh" has never run
    with kit.open_store() as store:
        assert store.backend == state_backend.name
        _sync(store, "calm", 3)
        _sync(store, "busy", 20)
        _sync(store, "busy", 10, runs.FAILED)
        _sync(store, "busy", 5, runs.FAILED)
        _order(store, "busy", "FTD-1")
        _order(store, "busy", "FTD-2", park=True)
        _order(store, "calm", "FTD-3")
        _sync(store, "parky", 2)
        _order(store, "parky", "FTD-4", park=True)
        page = write_index(store, kit).read_text()

    table = page[page.index('<table id="profiles">') : page.index("</table>")]
    rows = table.split("<tr")[2:]  # after the header row
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", r) for r in rows]
    assert [c[0] for c in cells] == ["busy", "parky", "calm", "fresh"]
    busy, parky, calm, fresh = cells
    assert busy[2:5] == ["2", "1", "2"] and "Komet 503" in busy[5] and "20 min ago" in busy[1]
    assert parky[2:5] == [
        "1",
        "1",
        "0",
    ]  # parked before its acknowledgement: FTD waits too and 'class="problem"' in rows[1]
    assert calm[2:5] == ["1", "0", "0"] and "3 min ago" in calm[1] and "routine" in rows[2]
    assert "never" in fresh[1] and fresh[2:5] == ["0", "0", "0"]
    assert page.index('id="profiles"') < page.index('id="runs"')  # at the top


@pytest.fixture
def three_wholesalers(home: Path) -> Iterator[dict[str, Any]]:
    """A twin serving three wholesalers (60 lines each), their profiles written and onboarded
    (as `sandbox up --wholesalers 3 --onboard`); its info.json."""
    kit = Home.at(home)
    info = control.up(kit, lines=60, seed=7, wholesalers=3, timeout=60)
    try:
        ctl = control.SandboxControl(info)
        for number in (1, 2, 3):  # the reading of `messages` the kit handles today
            ctl.settings("komet", wholesaler=number, messages="table")
        ctl.close()
        names = twin_profiles.write_profiles(kit, info)
        assert set(twin_profiles.onboard(kit, names).values()) == {"pass"}
        yield info
    finally:
        control.down(kit)


@pytest.mark.slow
def test_schedule_all_runs_three_profiles_side_by_side_against_three_wholesalers(
    home: Path, three_wholesalers: dict[str, Any]
) -> None:
    ctl = control.SandboxControl(three_wholesalers)
    for name in ("sandbox", "sandbox-2", "sandbox-3"):  # each publishes its offers first
        run_sync(name, home=Home.at(home))
    try:
        bought = {n: len(ctl.shop(n, seed=40 + n, wholesaler=n)["orders"]) for n in (1, 2, 3)}
        args = ["--all", "--every", "1s", "--max-cycles", "3", "--jobs", "3"]

        result = CliRunner().invoke(schedule_command, args)

        assert result.exit_code == 0, result.output
        with Home.at(home).open_store() as store:  # the schedule's runs (onboarding made some)
            records = [r for r in runs.list_runs(store) if r.scheduled_at is not None]
        by_profile = {r.profile: r for r in records}
        assert sorted(by_profile) == ["sandbox", "sandbox-2", "sandbox-3"] and len(records) == 3
        assert all(r.status == runs.OK for r in records), [r.reason for r in records]
        assert max(r.started_at for r in records) < min(r.finished_at for r in records)
        for number, name in ((1, "sandbox"), (2, "sandbox-2"), (3, "sandbox-3")):
            assert by_profile[name].counters["orders_received"] == bought[number] == number
            state = ctl.dump(number)  # its own orders, each exactly once, in its own company
            customer = control.wholesaler(three_wholesalers, number)["komet"]["ftd_customer_id"]
            with Home.at(home).open_store() as store:
                broken = violations(store, name, state["komet"], state["ftd"], customer)
            assert broken == [] and len(state["ftd"]["orders"]) == number, (name, broken)
    finally:
        ctl.close()
    page = (home / "runs" / "index.html").read_text()
    table = page[page.index('<table id="profiles">') : page.index("</table>")]
    assert table.count("<tr class=") == 3
