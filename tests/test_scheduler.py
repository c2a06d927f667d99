"""The clock: aligned ticks, no overlap, no catch-up burst, lateness logged, clean stop."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner

from komet_ftd_ops.cli.runs import schedule as schedule_command
from komet_ftd_ops.errors import ConfigError
from komet_ftd_ops.onboarding.handoff import PASS, Preflight, save_preflight
from komet_ftd_ops.runs import index as runs
from komet_ftd_ops.runs.runner import INTERRUPTED_REASON
from komet_ftd_ops.runs.scheduler import Tick, parse_every, schedule
from komet_ftd_ops.settings.home import Home
from komet_ftd_ops.settings.profiles import load_profile

FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"


@pytest.mark.parametrize(("text", "seconds"), [("5m", 300), ("30s", 30), ("1h", 3600), ("2", 2)])
def test_parse_every(text: str, seconds: float) -> None:
    assert parse_every(text) == seconds


@pytest.mark.parametrize("text", ["", "5x", "0s", "-1m", "m"])
def test_parse_every_refuses_nonsense(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_every(text)


class FakeRun:
    """Stands in for a sync run: records when it ran; the first one overruns."""

    def __init__(self, durations: list[float]) -> None:
        self.durations = durations
        self.spans: list[tuple[float, float]] = []

    def __call__(self, *, scheduled_at: datetime) -> runs.RunRecord:
        start = time.time()
        time.sleep(self.durations[min(len(self.spans), len(self.durations) - 1)])
        self.spans.append((start, time.time()))
        return runs.RunRecord(
            id=f"r{len(self.spans)}",
            profile="test",
            kind="sync",
            status=runs.OK,
            started_at=datetime.fromtimestamp(start, UTC),
            kit_version="0",
            scheduled_at=scheduled_at,
            duration_s=self.spans[-1][1] - start,
        )


def test_an_overrun_leads_to_one_late_run_not_a_burst(
    home: Path, profile: str, caplog: pytest.LogCaptureFixture
) -> None:
    every = 1.0
    fake = FakeRun([2.6, 0.05])  # the first run spans more than two ticks
    seen: list[Tick] = []
    caplog.set_level(logging.INFO, logger="komet_ftd_ops.runs.scheduler")

    ticks = schedule(
        profile,
        every,
        Home.at(home),
        max_ticks=3,
        on_tick=seen.append,
        run=fake,
        require_preflight=False,
    )

    assert ticks == seen and len(fake.spans) == 3
    for (_, end), (start, _) in zip(fake.spans, fake.spans[1:], strict=False):
        assert start >= end  # never overlapping
    first_end = fake.spans[0][1]
    second, third = ticks[1], ticks[2]
    # The ticks that fell due during the overrun fold into one run, for the latest, at once.
    assert second.skipped_ticks >= 1
    assert 0 <= fake.spans[1][0] - second.scheduled_at.timestamp() < every
    assert fake.spans[1][0] - first_end < 0.5
    # Then the clock is back on its grid: the next run waits for the next tick.
    assert third.skipped_ticks == 0
    assert third.scheduled_at.timestamp() == second.scheduled_at.timestamp() + every
    assert fake.spans[2][0] >= third.scheduled_at.timestamp()
    messages = [r.getMessage() for r in caplog.records]
    assert sum("late" in m and "starting" in m for m in messages) == 3
    assert sum("skipping" in m for m in messages) == 1


def test_the_schedule_command_runs_real_syncs_on_their_ticks(
    home: Path, profile: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="komet_ftd_ops.runs.scheduler")
    args = ["--profile", "test", "--every", "1s", "--max-cycles", "2"]
    refused = CliRunner().invoke(
        schedule_command, [*args, "--notebook", str(FIXTURES / "ok.ipynb")]
    )
    assert refused.exit_code != 0 and "no preflight for profile 'test'" in str(refused.exception)
    prof = load_profile("test", Home.at(home))
    save_preflight(
        Preflight(
            "test", PASS, company_id=prof.komet_company_id, ftd_customer_id=prof.ftd_customer_id,
            token_ref=prof.komet_token_ref, location_id=prof.komet_location_id,
            komet_base_url=prof.komet_base_url,
        ),
        Home.at(home),
    )  # fmt: skip

    result = CliRunner().invoke(schedule_command, [*args, "--notebook", str(FIXTURES / "ok.ipynb")])

    assert result.exit_code == 0, result.output
    with Home.at(home).open_store() as store:
        second, first = runs.list_runs(store)
    assert first.status == second.status == runs.OK
    assert first.scheduled_at is not None and second.scheduled_at is not None
    assert second.scheduled_at.timestamp() % 1 == 0  # on the wall-clock grid
    assert second.started_at >= first.finished_at  # never overlapping
    # Each run takes longer than the 1 s interval, so ticks fell due during the first one;
    # the second run is for the latest of them, not a stale one replayed late.
    assert second.lateness_s < 1.5
    assert any("late" in r.getMessage() and second.id in r.getMessage() for r in caplog.records)


def test_sigterm_kills_the_current_run_and_stops_cleanly(home: Path, profile: str) -> None:
    script = (
        "import sys; from pathlib import Path\n"
        "from komet_ftd_ops.runs.scheduler import schedule\n"
        "from komet_ftd_ops.settings.home import Home\n"
        "ticks = schedule('test', 3600, Home.at(sys.argv[1]), notebook=Path(sys.argv[2]), "
        "require_preflight=False)\n"
        "print('stopped after', len(ticks), flush=True)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(home), str(FIXTURES / "sleepy.ipynb")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    pid_file = home / "kernel.pid"
    try:
        deadline = time.monotonic() + 60
        while not pid_file.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert pid_file.exists(), proc.stderr.read() if proc.poll() is not None else "no kernel"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    assert proc.returncode == 0, err
    assert "stopped after 0" in out
    with Home.at(home).open_store() as store:
        (record,) = runs.list_runs(store)
    assert record.status == runs.FAILED and record.reason == INTERRUPTED_REASON
    assert record.scheduled_at is not None
    assert _gone(int(pid_file.read_text()))


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_the_tick_log_line_gives_the_cycles_counts(
    kit: Home, profile: str, caplog: pytest.LogCaptureFixture
) -> None:
    counters = {
        "orders_received": 5, "orders_invoiced": 4, "orders_acknowledged": 4,
        "orders_confirmed": 2, "orders_rejected": 0, "orders_parked": 1, "feed_kind": "delta",
        "offers_published": 12, "offers_withdrawn": 3, "offers_rejected_by_ftd": 0,
    }  # fmt: skip

    def cycle(*, scheduled_at: datetime) -> runs.RunRecord:
        return runs.RunRecord(
            "r1", "test", "sync", runs.OK, datetime.now(UTC), "0", scheduled_at, duration_s=5.6,
            counters=counters,
        )  # fmt: skip

    caplog.set_level(logging.INFO, logger="komet_ftd_ops.runs.scheduler")
    schedule(profile, 3600, kit, max_ticks=1, run=cycle, require_preflight=False)

    (line,) = [r.getMessage() for r in caplog.records if "run r1 ok in 5.6 s" in r.getMessage()]
    assert (
        "orders: 5 received, 4 invoiced, 4 acknowledged, 2 confirmed, 0 rejected, 1 parked | "
        "delta feed: 12 published, 3 withdrawn, 0 rejected by FTD" in line
    )
