"""`schedule --all`: every onboarded profile of the home on its own clock, in a bounded pool.

    schedule_all(home, jobs=N)               a pass about five times a second:
      ├── profiles/*.toml                    a new file joins at once, a removed one leaves
      ├── reap finished runs                 log the outcome; the next tick follows the run's
      ├── a run past deadline + grace        kill its process tree (see below)
      ├── start due profiles, oldest-due first, while fewer than N run
      └── keep a warm runner in every free slot  a runner process waiting for its profile,
                                             its notebook's kernel started and the kit imported
            ├── preflight fails              named once with why (again if the why changes),
            │                                re-checked at each of its ticks: one onboarded
            │                                later joins without a restart
            └── missed ticks                 one run for the latest (`scheduler.coalesce`)

Why a process per run (`python -m komet_ftd_ops.runs.fleet_child`, the runner as
`run sync` calls it): the runner's lock, deadline, kill, run row and secret scan then apply
unchanged; a crash, a leak or a memory-hungry cycle in one profile touches no other; and a
stop signal reaches each runner in its own main thread, which is where the runner handles it
(`terminate_as_interrupt` does nothing in a worker thread).

Warm runners (`fleet_child --warm`): between ticks every free slot holds a runner that has
already started its papermill child and kernel and imported the run notebook's modules
(`runs.kernel.WarmSlot`), and waits on its stdin for a profile. At a tick the pool writes the
profile there, and from then on the runner does exactly what a cold one does (lock, run row,
deadline, secret scan, index). One warm kernel per slot, not per profile: the kernel's
environment holds nothing of a profile, and what a run adds (its lock) is handed over at the
tick. Each warm kernel is its runner's, and dies with it.

Fairness: a profile waiting for a slot keeps its old due time, so it sorts before any profile
that ran meanwhile (whose next tick is later): when more profiles are due than there are
slots, each runs once before any runs twice. A profile never has two runs at once (the next
tick is computed only after its run has ended), and its missed ticks fold into one run.

The runner stops its own notebook at the profile's `sync.deadline_seconds`, then writes the
HTML copy and scans for secrets. The pool kills a run only when the runner itself hangs,
`grace_s` past that deadline, and records nothing: the run's row stays `running` until the
profile's next run finds it abandoned and marks it failed (the runner's rule).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ..errors import ConfigError
from ..settings.home import HOME_VARIABLE, Home, environment
from ..settings.profiles import load_profile, profile_names
from .processes import kill_process_tree, terminate_as_interrupt
from .runner import SAFE_NAME
from .scheduler import _next_tick, coalesce

log = logging.getLogger(__name__)

GRACE_S = 60.0  # past the profile's deadline: the HTML copy and the scan, then a hung runner
STOP_GRACE_S = 30.0  # after SIGTERM, for each runner to kill its kernel and record the run
POLL_S = 0.2
UNKNOWN_EVERY_S = 300.0  # how often a profile that does not load is looked at again

# (profile, scheduled tick, result file) -> the command of one run; tests give stand-ins.
Command = Callable[[str, datetime, Path], list[str]]


@dataclass(frozen=True)
class FleetRun:
    """One run the pool started, as the pool saw it (the run's row is the runner's)."""

    profile: str
    scheduled_at: datetime
    started_at: datetime
    finished_at: datetime
    lateness_s: float  # start minus its tick (a wait for a slot counts)
    skipped_ticks: int  # ticks folded into this run
    exit_code: int  # the runner's; negative: ended by that signal
    killed: bool = False  # by the pool, past deadline + grace
    run_id: str | None = None
    status: str | None = None
    line: str = ""


@dataclass
class _Member:
    name: str
    due: float
    every_s: float = 0.0
    deadline_s: float = 0.0
    refused: str | None = None  # the reason last logged for not running it
    proc: subprocess.Popen[bytes] | None = None
    scheduled: float = 0.0
    skipped: int = 0
    started: float = 0.0
    started_mono: float = 0.0
    result: Path | None = None
    killed: bool = False
    last_start: float = field(default=float("-inf"))


def run_command(dry_run: bool = False, notebook: Path | None = None) -> Command:
    """The real run: the runner in a process of its own (`runs.fleet_child`)."""

    def command(profile: str, scheduled_at: datetime, result: Path) -> list[str]:
        argv = [sys.executable, "-m", "komet_ftd_ops.runs.fleet_child", profile,
                scheduled_at.isoformat(), str(result)]  # fmt: skip
        if dry_run:
            argv.append("--dry-run")
        if notebook is not None:
            argv += ["--notebook", str(Path(notebook).resolve())]
        return argv

    return command


def warm_command(dry_run: bool = False, notebook: Path | None = None) -> list[str]:
    """A warm runner: it reads `{"profile", "scheduled_at", "result"}` from stdin (`fleet_child`)."""
    argv = [sys.executable, "-m", "komet_ftd_ops.runs.fleet_child", "--warm"]
    if dry_run:
        argv.append("--dry-run")
    if notebook is not None:
        argv += ["--notebook", str(Path(notebook).resolve())]
    return argv


def schedule_all(
    home: Home,
    *,
    every_s: float | None = None,
    jobs: int | None = None,
    max_runs: int | None = None,
    duration_s: float | None = None,
    dry_run: bool = False,
    notebook: Path | None = None,
    require_preflight: bool = True,
    grace_s: float = GRACE_S,
    command: Command | None = None,
    on_finish: Callable[[FleetRun], None] | None = None,
) -> list[FleetRun]:
    """Run sync for every onboarded profile until Ctrl-C/SIGTERM, `max_runs` runs started in
    all, or `duration_s` seconds (then running runs finish); returns the runs, in the order
    they ended.

    `every_s` overrides each profile's `sync.every_minutes`; `jobs` bounds the runs at once
    (default: the number of cores). A stop signal sends SIGTERM to every run (each runner
    records its run interrupted) and kills what is left after STOP_GRACE_S.
    """
    if every_s is not None and every_s <= 0:
        raise ConfigError("the interval must be positive.")
    jobs = jobs or os.cpu_count() or 1
    if jobs < 1:
        raise ConfigError("--jobs must be at least 1.")
    pool = _Pool(home, every_s, jobs, require_preflight, grace_s,
                 command or run_command(dry_run, notebook), on_finish,
                 warm_command(dry_run, notebook) if command is None else None)  # fmt: skip
    end = time.time() + duration_s if duration_s is not None else None
    log.info(
        "scheduling sync for every profile of %s, %d at a time (Ctrl-C stops)", home.root, jobs
    )
    with tempfile.TemporaryDirectory(prefix="komet-ftd-ops-fleet-") as tmp:
        pool.results = Path(tmp)
        with terminate_as_interrupt():
            try:
                while True:
                    left = None if max_runs is None else max_runs - pool.started
                    pool.pass_(accepting=(left is None or left > 0)
                               and (end is None or time.time() < end), left=left)  # fmt: skip
                    if pool.done:
                        break
                    time.sleep(POLL_S)
            except KeyboardInterrupt:
                pool.stop()
            finally:
                pool.close_warm()
    log.info("schedule --all stopped after %d run(s)", len(pool.finished))
    return pool.finished


def _text(result: dict[str, object], key: str) -> str | None:
    value = result.get(key)
    return value if isinstance(value, str) else None


class _Pool:
    def __init__(
        self,
        home: Home,
        every_s: float | None,
        jobs: int,
        require_preflight: bool,
        grace_s: float,
        command: Command,
        on_finish: Callable[[FleetRun], None] | None,
        warm_argv: list[str] | None = None,
    ) -> None:
        self.home, self.every_s, self.jobs = home, every_s, jobs
        self.warm_argv = warm_argv  # None: no warm runners (a test's stand-in command)
        self.warm: list[subprocess.Popen[bytes]] = []
        self.require_preflight, self.grace_s = require_preflight, grace_s
        self.command, self.on_finish = command, on_finish
        self.members: dict[str, _Member] = {}
        self.finished: list[FleetRun] = []
        self.started = 0
        self.results = Path(tempfile.gettempdir())
        self.done = False
        self.env = {**environment(), HOME_VARIABLE: str(home.root)}

    @property
    def running(self) -> list[_Member]:
        return [m for m in self.members.values() if m.proc is not None]

    def pass_(self, *, accepting: bool, left: int | None = None) -> None:
        """One look at everything; `left`: how many more runs may start (None: no bound)."""
        self._discover()
        self._reap()
        self._enforce_deadlines()
        if accepting:
            before = self.started
            self._start_due(left)
            self._keep_warm(None if left is None else left - (self.started - before))
        else:
            self.close_warm()
        self.done = not accepting and not self.running

    # --- members ---------------------------------------------------------------------------

    def _discover(self) -> None:
        names = set(profile_names(self.home))
        for name in sorted(names - set(self.members)):
            self.members[name] = _Member(name, due=time.time())  # its first run at once
        for name in sorted(set(self.members) - names):
            if self.members[name].proc is None:
                log.info("%s: profile removed; no longer scheduled", name)
                del self.members[name]

    def _admit(self, m: _Member, now: float) -> bool:
        """Whether the profile may run now; a refusal is logged once per reason."""
        why = None
        if not SAFE_NAME.match(m.name):
            why = "the profile name must be letters, digits, '_', '-' or '.'"
        else:
            try:
                profile = load_profile(m.name, self.home)
                m.every_s = self.every_s or 60.0 * profile.sync.every_minutes
                m.deadline_s = float(profile.sync.deadline_seconds)
            except ConfigError as exc:
                why = f"the profile does not load: {exc}"
        if why is None and self.require_preflight:
            from ..onboarding import preflight_passed

            passed, said = preflight_passed(m.name, self.home)
            why = None if passed else said
        if why is not None:
            if why != m.refused:
                log.warning("%s not scheduled: %s (checked again at its next tick)", m.name, why)
            m.refused = why
            m.due = _next_tick(now, m.every_s or self.every_s or UNKNOWN_EVERY_S)
            return False
        if m.refused is not None:
            log.info("%s: preflight passes now; joining the schedule", m.name)
            m.refused = None
        return True

    # --- runs ------------------------------------------------------------------------------

    def _start_due(self, left: int | None) -> None:
        free = self.jobs - len(self.running)
        if left is not None:
            free = min(free, left)
        now = time.time()
        waiting = [m for m in self.members.values() if m.proc is None and m.due <= now]
        # Oldest due first; a tie (the first pass, one clock for all) goes to the profile that
        # started least recently.
        for m in sorted(waiting, key=lambda m: (m.due, m.last_start, m.name)):
            if free <= 0:
                break
            if self._admit(m, now):
                self._start(m, time.time())
                free -= 1

    def _start(self, m: _Member, now: float) -> None:
        m.scheduled, m.skipped = coalesce(m.due, now, m.every_s)
        if m.skipped:
            log.warning(
                "%s: %d tick(s) fell due while its run overran, a slot was busy or the machine "
                "was paused; one run for the latest",
                m.name,
                m.skipped,
            )
        m.result = self.results / f"{m.name}.json"
        m.result.unlink(missing_ok=True)
        scheduled = datetime.fromtimestamp(m.scheduled, UTC)
        m.proc = self._hand_to_warm(m.name, scheduled, m.result) or subprocess.Popen(
            self.command(m.name, scheduled, m.result),
            stdin=subprocess.DEVNULL,
            env=self.env,
            cwd=self.home.root,
            start_new_session=True,  # its own group: Ctrl-C in the terminal reaches the pool only
        )
        m.started, m.started_mono, m.last_start, m.killed = now, time.monotonic(), now, False
        self.started += 1
        log.info(
            "%s: scheduled %s, starting %.2f s late (%d running)",
            m.name,
            f"{scheduled:%H:%M:%S}Z",
            now - m.scheduled,
            len(self.running),
        )

    # --- warm runners ----------------------------------------------------------------------

    def _keep_warm(self, left: int | None) -> None:
        """One warm runner per free slot (fewer when fewer runs may still start)."""
        if self.warm_argv is None:
            return
        alive = [p for p in self.warm if p.poll() is None]
        for proc in self.warm:
            if proc not in alive:
                log.warning(
                    "a warm runner ended unused (exit %s); starting another", proc.returncode
                )
        self.warm = alive
        want = self.jobs - len(self.running)
        if left is not None:
            want = min(want, max(0, left))
        while len(self.warm) > want:
            _close_warm_runner(self.warm.pop())
        while len(self.warm) < want:
            self.warm.append(
                subprocess.Popen(
                    self.warm_argv,
                    stdin=subprocess.PIPE,
                    env=self.env,
                    cwd=self.home.root,
                    start_new_session=True,
                )  # fmt: skip
            )

    def _hand_to_warm(
        self, profile: str, scheduled: datetime, result: Path
    ) -> subprocess.Popen[bytes] | None:
        """Give the run to a warm runner; None when none is alive (then a cold one starts)."""
        while self.warm:
            proc = self.warm.pop(0)
            if proc.poll() is not None or proc.stdin is None:
                continue
            job = {"profile": profile, "scheduled_at": scheduled.isoformat(), "result": str(result)}
            try:
                proc.stdin.write(json.dumps(job).encode() + b"\n")
                proc.stdin.close()
            except OSError:  # it died just now
                continue
            return proc
        return None

    def close_warm(self) -> None:
        """End every warm runner (no run was handed to them)."""
        while self.warm:
            _close_warm_runner(self.warm.pop())

    def _reap(self) -> None:
        for m in self.running:
            assert m.proc is not None
            code = m.proc.poll()
            if code is not None:
                self._finished(m, code)

    def _finished(self, m: _Member, code: int) -> None:
        result: dict[str, object] = {}
        if m.result is not None and m.result.exists():
            with suppress(ValueError, OSError):
                result = json.loads(m.result.read_text())
            m.result.unlink(missing_ok=True)
        line = str(result.get("line") or "")
        if m.killed:
            line = f"killed {m.deadline_s + self.grace_s:g} s after its start (deadline + grace)"
        elif not line:
            line = f"ended with exit code {code} and no result (see its log above)"
        run = FleetRun(
            profile=m.name,
            scheduled_at=datetime.fromtimestamp(m.scheduled, UTC),
            started_at=datetime.fromtimestamp(m.started, UTC),
            finished_at=datetime.now(UTC),
            lateness_s=m.started - m.scheduled,
            skipped_ticks=m.skipped,
            exit_code=code,
            killed=m.killed,
            run_id=_text(result, "run_id"),
            status=_text(result, "status"),
            line=line,
        )
        level = logging.INFO if code == 0 else logging.WARNING
        log.log(level, "%s: %s (exit %d)", m.name, line, code)
        m.proc = None
        m.due = _next_tick(m.scheduled, m.every_s)
        self.finished.append(run)
        if self.on_finish is not None:
            self.on_finish(run)

    def _enforce_deadlines(self) -> None:
        for m in self.running:
            assert m.proc is not None
            limit = m.deadline_s + self.grace_s
            if not m.killed and time.monotonic() - m.started_mono > limit:
                log.error(
                    "%s: the run is still going %g s after its start (deadline %g s + %g s "
                    "grace); killing it and its kernel",
                    m.name,
                    limit,
                    m.deadline_s,
                    self.grace_s,
                )
                m.killed = True
                kill_process_tree(m.proc)
                self._finished(m, m.proc.returncode)

    def stop(self) -> None:
        """SIGTERM to every run (its runner records it interrupted), then kill what is left."""
        running = self.running
        if running:
            log.info("stopping: %d run(s) in progress get SIGTERM", len(running))
        for m in running:
            assert m.proc is not None
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(m.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        try:
            while self.running and time.monotonic() < deadline:
                self._reap()
                time.sleep(0.05)
        except KeyboardInterrupt:  # a second Ctrl-C: no more waiting
            pass
        for m in self.running:
            assert m.proc is not None
            log.warning("%s: still running %g s after SIGTERM; killing it", m.name, STOP_GRACE_S)
            kill_process_tree(m.proc)
            self._finished(m, m.proc.returncode)
        self.done = True


def _close_warm_runner(proc: subprocess.Popen[bytes]) -> None:
    """End of file on its stdin: the runner stops its kernel and exits; killed if it lingers."""
    with suppress(OSError):
        if proc.stdin is not None:
            proc.stdin.close()
    try:
        proc.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        kill_process_tree(proc)
