"""The clock: one `run sync` per interval, aligned to the wall clock, never overlapping.

A plain loop in the calling thread, not APScheduler's BlockingScheduler. Both can be made
correct; the loop is the simpler one here because:

- APScheduler runs jobs in a worker thread, while Ctrl-C and SIGTERM arrive in the main
  thread; stopping cleanly (kill the child's process group, record the run) would then need
  cross-thread signalling. In the loop the run is in the main thread, so the runner's own
  interrupt handling does it.
- "Never overlap" is free: the next tick is computed only after the current run returned.
- "No catch-up burst" is one line (jump to the latest tick that has passed) and is the same
  rule as APScheduler's `coalesce=True`: missed ticks fold into one run, scheduled at the
  latest of them, started at once.
- Many profiles at once (`schedule --all`) are `runs.fleet`: a pool of runner processes on the
  same clock rules (`coalesce`), since one main thread can run only one notebook at a time.
- Sleeping polls the wall clock at least once a second: `time.sleep` counts monotonic time,
  which stops while a laptop is suspended, so a long sleep would wake up late.

Between ticks the next run's papermill child and kernel start and import the run notebook's
modules (`runs.kernel.WarmSlot`): at the tick papermill executes on that kernel, so the run
starts without the interpreter, kernel and import costs. The warm kernel holds no lock until
its run is handed over, and dies with this process.

First run at once; then ticks at wall-clock multiples of the interval (UTC epoch, so `5m`
means :00, :05, :10...). After a 20-minute suspend the loop wakes, finds four missed ticks,
runs once for the latest of them, and logs how late that was.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from ..errors import ConfigError, KometFtdOpsError
from ..settings.home import Home
from ..settings.profiles import load_profile
from .headline import headline
from .index import RunRecord
from .kernel import WarmSlot
from .runner import notebooks_dir, prepare_runner, run_sync_notebook, terminate_as_interrupt

log = logging.getLogger(__name__)

_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600}
_EVERY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*$", re.IGNORECASE)


def parse_every(text: str) -> float:
    """'5m' → 300.0, '30s' → 30.0, '1h' → 3600.0; a bare number is seconds."""
    match = _EVERY.match(text)
    if not match or float(match.group(1)) <= 0:
        raise ConfigError(f"interval {text!r} is not like '30s', '5m' or '1h'.")
    return float(match.group(1)) * _UNITS[match.group(2).lower()]


@dataclass(frozen=True)
class Tick:
    """One tick of the clock and the run it started (None if the run could not start).

    Not `orders.cycle.Cycle`, the order pipeline's working state inside one sync: a tick is
    the clock's side, and starts a whole notebook run in a child process.
    """

    number: int
    scheduled_at: datetime
    lateness_s: float  # start of the run minus its tick
    skipped_ticks: int  # ticks that fell due during an overrun or a pause and got no run
    record: RunRecord | None


def _sleep_until(target: float) -> None:
    while (remaining := target - time.time()) > 0:
        time.sleep(min(remaining, 1.0))


def _next_tick(after: float, every_s: float) -> float:
    return (math.floor(after / every_s) + 1) * every_s


def _latest_tick(at: float, every_s: float) -> float:
    return math.floor(at / every_s) * every_s


def coalesce(due: float, now: float, every_s: float) -> tuple[float, int]:
    """The tick a run starting `now` is for, and how many ticks it folds in: after an overrun,
    a pause or a wait for a slot, one run for the latest tick that has passed, never a burst."""
    latest = _latest_tick(now, every_s)
    if latest > due:
        return latest, round((latest - due) / every_s)
    return due, 0


def describe_run(record: RunRecord) -> str:
    """'run <id> ok in 5.6 s (started 0.2 s late): <reason; counts> -> <notebook>'."""
    # The cycle's counts in the line itself: "ok in 5.6 s" alone reads the same for an idle
    # cycle and for one that parked an order.
    said = "; ".join(x for x in (record.reason, headline(record.counters)) if x)
    return (
        f"run {record.id} {record.status} in {record.duration_s or 0.0:.1f} s "
        f"(started {record.lateness_s or 0.0:.2f} s late)"
        f"{f': {said}' if said else ''} -> {record.notebook or 'no notebook'}"
    )


def schedule(
    profile: str,
    every_s: float,
    home: Home,
    *,
    max_ticks: int | None = None,
    on_tick: Callable[[Tick], None] | None = None,
    dry_run: bool = False,
    notebook: Path | None = None,
    run: Callable[..., RunRecord] | None = None,
    require_preflight: bool = True,
) -> list[Tick]:
    """Run sync on the clock until Ctrl-C/SIGTERM or `max_ticks` runs; returns the ticks.

    `run` replaces the sync run (called as `run(scheduled_at=...)`), for tests of the clock.
    The schedule refuses a profile whose onboarding preflight has not passed.
    A run that cannot start (a broken profile, a missing notebook) is logged and the clock
    goes on; a stop signal kills the current run (recorded as failed, "interrupted").
    """
    if every_s <= 0:
        raise ConfigError("the interval must be positive.")
    load_profile(profile, home)  # fail at once on a broken profile, not at the first tick
    if require_preflight:
        from ..onboarding import preflight_passed

        passed, why = preflight_passed(profile, home)
        if not passed:
            raise ConfigError(f"the schedule will not start: {why}")
    # The next run's kernel starts between ticks, in this process (which runs it): one warm
    # kernel, the child of this runner, dying with it.
    warm = WarmSlot(home, notebook or notebooks_dir() / "sync.ipynb") if run is None else None
    run = run or partial(
        run_sync_notebook, profile, home=home, dry_run=dry_run, notebook=notebook, warm=warm
    )
    ticks: list[Tick] = []
    due = time.time()  # the first tick runs at once
    log.info("scheduling sync for %s every %g s (Ctrl-C stops)", profile, every_s)
    with terminate_as_interrupt():
        try:
            while max_ticks is None or len(ticks) < max_ticks:
                if warm is not None and ticks:  # the first tick runs at once: no time to warm
                    _warm_up(warm)
                _sleep_until(due)
                skipped = 0
                if ticks:  # an overrun or a pause: one run, for the latest tick
                    due, skipped = coalesce(due, time.time(), every_s)
                tick = _run_tick(len(ticks) + 1, due, skipped, run)
                ticks.append(tick)
                if on_tick is not None:
                    on_tick(tick)
                due = _next_tick(due, every_s)
        except KeyboardInterrupt:
            log.info("schedule for %s stopped after %d run(s)", profile, len(ticks))
        finally:
            if warm is not None:
                warm.close()
    return ticks


def _warm_up(warm: WarmSlot) -> None:
    """Start the next run's kernel, and load what this process needs after it (the runs page,
    the state database); a failure only costs the next run its head start."""
    try:
        warm.refill()
        prepare_runner(warm.home)
    except (OSError, KometFtdOpsError) as exc:
        log.warning("no warm kernel for the next run: %s", exc)


def _run_tick(number: int, due: float, skipped: int, run: Callable[..., RunRecord]) -> Tick:
    scheduled = datetime.fromtimestamp(due, UTC)
    lateness = time.time() - due
    if skipped:
        log.warning(
            "tick %d: skipping %d tick(s) that fell due while the previous run overran or "
            "the machine was paused; one run for the latest",
            number,
            skipped,
        )
    log.info(
        "tick %d: scheduled %s, starting %.2f s late", number, f"{scheduled:%H:%M:%S}Z", lateness
    )
    record = None
    try:
        record = run(scheduled_at=scheduled)
    except KometFtdOpsError as exc:
        log.error("tick %d could not run: %s", number, exc)
    except Exception:  # a runner bug must not stop the clock; the traceback is in the log
        log.exception("tick %d crashed", number)
    if record is not None:
        log.info("tick %d: %s", number, describe_run(record))
    return Tick(number, scheduled, lateness, skipped, record)
