"""Run one notebook as one recorded, bounded, exclusive run.

    run_notebook(kind, profile, ...)
      ├── refuse secret-looking parameters         (ConfigError: papermill writes every
      │                                              parameter into the output notebook)
      ├── the profile's lock (state.lease)         held → a `skipped` row, back at once.
      │     SQLite: flock <home>/locks/<p>.lock      the child and its kernel inherit it;
      │     PostgreSQL: an advisory lock held by     their Store re-checks it before each
      │     this process                             write; both die with their parent
      │                                              (runs.processes)
      ├── a sync: refuse a database older than      StateOutdated, exit 78, nothing recorded
      │   its runs (state.witness)                   (FTD's feed base is asked in the kernel)
      ├── check runs/ is writable and has room      else a failed row (filesystem), exit 74
      ├── insert the `runs` row (status running)   the notebook writes its counters into it
      ├── papermill in a child process, own session, killed with its kernel at the deadline;
      │   under the scheduler that child and its kernel started before the tick (runs.kernel)
      ├── HTML copy (runs.notebook_html), then scan both files for the profile's secrets → redact
      └── finalise the row, rebuild runs/index.html

Exit codes tell the failure classes of `komet_ftd_ops.errors` apart:

    0   ok, or skipped because another run held the lock
    75  upstream: network or service trouble; the next cycle will likely succeed (EX_TEMPFAIL)
    78  needs_person: auth or configuration, a leaked secret, or an unexpected crash (a bug is
        something a person must look at, so it is not retried blindly) (EX_CONFIG)
    65  bad_data (EX_DATAERR)
    74  filesystem: a read-only runs/ or a full disk (EX_IOERR); the row in the state database
        holds the reason, and a notebook the disk cut short is renamed `.partial`
    124 deadline (as `timeout(1)`)
    130 interrupted by Ctrl-C or SIGTERM (the run is recorded as failed, "interrupted")
"""

from __future__ import annotations

import importlib
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import komet_ftd_ops

from .. import errors
from ..errors import ConfigError, KometFtdOpsError
from ..settings.home import Home
from ..settings.profiles import load_profile
from ..state.store import Store, utcnow
from ..state.witness import refuse_if_older
from . import index as runs
from .alerts import alert_on_health_change
from .filesystem import check_room, filesystem_error, is_filesystem_errno, set_aside_partial
from .html import rebuild_index
from .index import FAILED, OK, SKIPPED, TIMED_OUT, RunRecord
from .kernel import CHILD_MODULE, ChildResult, NotebookChild, WarmSlot  # noqa: F401 (CHILD_MODULE)
from .notebook_html import export_html
from .processes import (
    ProfileLock,
    acquire_profile_lock,
    lock_held_reason,
    profile_lock,  # noqa: F401  (re-exported: the tests and tools take the lock from here)
    terminate_as_interrupt,
)
from .remote import copy_to_runs_url
from .secretscan import check_parameters, one_line, profile_secrets, redact_secrets

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_DATAERR = 65
EXIT_IOERR = 74
EXIT_TEMPFAIL = 75
EXIT_CONFIG = 78
EXIT_DEADLINE = 124
EXIT_INTERRUPTED = 130
EXIT_CODES = {
    errors.UPSTREAM: EXIT_TEMPFAIL,
    errors.NEEDS_PERSON: EXIT_CONFIG,
    errors.BAD_DATA: EXIT_DATAERR,
    errors.DEADLINE: EXIT_DEADLINE,
    errors.FILESYSTEM: EXIT_IOERR,
}

LEAK_REASON = "secret leaked into the run notebook (redacted)"
INTERRUPTED_REASON = "interrupted (Ctrl-C or SIGTERM); killed the notebook and its kernel"
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

# The child process is `komet_ftd_ops.runs.child` (`runs.kernel` starts it: CHILD_MODULE).
# jsonschema imports rfc3987_syntax (jupyter's format extras pull it in) only to check IRI
# formats, which notebooks never use; building its grammar costs about 2 s in every fresh
# process. The child marks it absent as its first statement, so jsonschema skips those checks.
SKIP_SLOW_IMPORT = "rfc3987_syntax"


# --- exit codes ----------------------------------------------------------------------------


def failure_class_for(ename: str) -> str:
    """The failure class of an exception raised in a notebook, by its class name.

    An exception that is not one of the kit's own is an unexpected crash: a bug, which a
    person has to look at (needs_person).
    """
    cls = _kit_error(ename)
    return cls.failure_class if cls is not None else errors.NEEDS_PERSON


def _kit_error(ename: str) -> type[KometFtdOpsError] | None:
    cls = getattr(errors, ename, None)
    if isinstance(cls, type) and issubclass(cls, KometFtdOpsError):
        return cls
    return None


def exit_code_for(exc: BaseException) -> int:
    """The process exit code for an exception (see the module docstring)."""
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(exc, KometFtdOpsError):
        return EXIT_CODES.get(exc.failure_class, EXIT_CONFIG)
    ename = getattr(exc, "ename", None)  # papermill.PapermillExecutionError
    if isinstance(ename, str):
        return EXIT_CODES[failure_class_for(ename)]
    return EXIT_CONFIG  # an unexpected crash is a bug: a person must look


def exit_code_for_run(record: RunRecord) -> int:
    if record.status in (OK, SKIPPED):
        return EXIT_OK
    if record.status == TIMED_OUT:
        return EXIT_DEADLINE
    return EXIT_CODES.get(record.failure_class or "", EXIT_CONFIG)


def secret_leaked(record: RunRecord) -> bool:
    return record.reason == LEAK_REASON


# --- guards --------------------------------------------------------------------------------


def notebooks_dir() -> Path:
    """The kit's notebooks/ folder, next to the package."""
    return Path(komet_ftd_ops.__file__).parents[1] / "notebooks"


def _check_name(value: str, what: str) -> str:
    if not SAFE_NAME.match(value):
        raise ConfigError(f"{what} {value!r} must be letters, digits, '_', '-' or '.'.")
    return value


# --- the child process ---------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    status: str
    failure_class: str | None = None
    reason: str | None = None


def _run_child(
    child: NotebookChild,
    output: Path,
    parameters: dict[str, Any],
    deadline_s: float,
    lock_fd: int | None = None,
    lock_env: Mapping[str, str] | None = None,
) -> Outcome:
    spec = {
        "input": str(child.source),
        "output": str(output),
        "parameters": parameters,
        "cwd": str(child.source.parent),
        "env": dict(lock_env or {}),  # PostgreSQL: the lease the kernel's store re-checks
    }
    ended = child.run(spec, deadline_s, lock_fd)  # the caller closes the child
    if ended.timed_out:
        return Outcome(
            TIMED_OUT,
            errors.DEADLINE,
            f"deadline of {deadline_s:g} s passed; killed the notebook and its kernel",
        )
    return _read_outcome(ended)


def _read_outcome(ended: ChildResult) -> Outcome:
    data = ended.result
    if data is None:
        return Outcome(
            FAILED,
            errors.NEEDS_PERSON,
            f"papermill exited with code {ended.returncode}: {ended.log_tail}",
        )
    if data["ok"]:
        return Outcome(OK)
    ename, evalue = data["ename"], data["evalue"]
    if not data["in_notebook"] and is_filesystem_errno(data.get("errno")):
        return Outcome(
            FAILED,
            errors.FILESYSTEM,
            f"the run notebook could not be written ({evalue}); cells may have run before "
            "(the state database holds what they did)",
        )
    if not data["in_notebook"]:
        return Outcome(
            FAILED, errors.NEEDS_PERSON, f"papermill could not run the notebook: {ename}: {evalue}"
        )
    failure_class = failure_class_for(ename)
    if _kit_error(ename) is not None:
        reason = f"{ename}: {evalue}"
    else:
        reason = f"unexpected {ename} (a bug; see the notebook): {evalue}"
    status = TIMED_OUT if failure_class == errors.DEADLINE else FAILED
    return Outcome(status, failure_class, reason)


# --- the run -------------------------------------------------------------------------------


def output_path(home: Home, profile: str, kind: str, started: datetime) -> Path:
    """`<home>/runs/<profile>/<YYYY-MM-DD>/<HHMMSS>Z-<kind>.ipynb` (UTC); `-2`... if taken."""
    folder = home.runs_dir / profile / f"{started:%Y-%m-%d}"
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{started:%H%M%S}Z-{kind}"
    path, n = folder / f"{stem}.ipynb", 2
    while path.exists() or path.with_suffix(".html").exists():
        path, n = folder / f"{stem}-{n}.ipynb", n + 1
    return path


def run_notebook(
    kind: str,
    profile: str,
    *,
    parameters: dict[str, Any],
    home: Home,
    deadline_s: float,
    scheduled_at: datetime | None = None,
    notebook: Path | None = None,
    warm: WarmSlot | None = None,
) -> RunRecord:
    """Run `notebooks/<kind>.ipynb` (or `notebook`) once for a profile and record it.

    Returns the finished record: ok, failed, timed_out, or skipped when another run of the
    profile holds the lock. Raises ConfigError before anything runs when a parameter looks
    secret or the notebook or profile is missing. Ctrl-C/SIGTERM kill the child and its
    kernel, record the run as failed ("interrupted") and re-raise KeyboardInterrupt.

    `deadline_s` bounds the papermill child (kernel start and every cell); the HTML copy and
    the secret scan that follow take a moment more and are not counted against it. `warm`
    (the scheduler's) may hold a child whose kernel started before the tick: the run then
    starts there, and the deadline counts from the handover.
    """
    _check_name(kind, "run kind")
    _check_name(profile, "profile name")
    source = (
        Path(notebook) if notebook is not None else notebooks_dir() / f"{kind}.ipynb"
    ).resolve()
    if not source.is_file():
        raise ConfigError(f"no notebook {source} for runs of kind {kind!r}.")
    secret_values = profile_secrets(profile, home)
    check_parameters(parameters, secret_values)
    job = _Job(
        home, kind, profile, source, parameters, deadline_s, scheduled_at, secret_values, warm
    )
    home.write_settings()  # the first run marks the folder as a home (komet-ftd-ops.toml)
    store = home.open_store()
    try:
        note = f"{kind} since {utcnow():%H:%M:%SZ}"
        with acquire_profile_lock(home, profile, note=note, store=store) as lock:
            if lock.held_by is not None:
                return _record_skipped(store, job, lock.held_by)
            if kind == "sync":  # nothing of the run exists yet; FTD is asked in the kernel
                refuse_if_older(store, home.runs_dir)
            return _execute(store, job, lock)
    finally:
        store.close()


@dataclass(frozen=True)
class _Job:
    """One run's inputs, checked."""

    home: Home
    kind: str
    profile: str
    source: Path
    parameters: dict[str, Any]
    deadline_s: float
    scheduled_at: datetime | None
    secret_values: list[str]
    warm: WarmSlot | None = None


def _open_row(store: Store, job: _Job, started: datetime, output: Path | None = None) -> str:
    """Insert the run's row (status running) and return its id."""
    run_id = runs.new_run_id(job.kind, started)
    runs.create_run(
        store,
        run_id=run_id,
        profile=job.profile,
        kind=job.kind,
        started_at=started,
        kit_version=komet_ftd_ops.__version__,
        scheduled_at=job.scheduled_at,
        notebook=output,
        html_path=output.with_suffix(".html") if output is not None else None,
    )
    return run_id


def _record_skipped(store: Store, job: _Job, holder: str) -> RunRecord:
    run_id = _open_row(store, job, utcnow())
    reason = lock_held_reason(job.profile, holder)
    record = runs.finish_run(store, run_id, status=SKIPPED, duration_s=0.0, reason=reason)
    log.warning("%s run for %s skipped: %s", job.kind, job.profile, reason)
    rebuild_index(store, job.home)
    return record


def _execute(store: Store, job: _Job, lock: ProfileLock) -> RunRecord:
    # Safe only because we hold the lock and every process of a run holds it too (the child
    # and the kernel inherit it) or, on PostgreSQL, dies with the runner that held the lease
    # and re-checks it before writing: a `running` row found now has no process left to write.
    abandoned = runs.fail_abandoned_runs(store, job.profile)
    if abandoned:
        log.warning("marked %d abandoned run(s) of %s as failed", len(abandoned), job.profile)
    started, t0 = utcnow(), time.monotonic()
    try:
        output = output_path(job.home, job.profile, job.kind, started)
        check_room(output.parent)
    except (OSError, errors.FilesystemError) as exc:
        return _record_unwritable(store, job, started, exc)
    run_id = _open_row(store, job, started, output)
    log.info("%s run %s for %s started: %s", job.kind, run_id, job.profile, output)
    params = {"profile": job.profile, "run_id": run_id, **job.parameters}
    started_child: list[NotebookChild] = []
    try:
        return _run_and_finish(store, job, lock, run_id, output, params, t0, started_child)
    finally:
        # The child stops its kernel while the run's files are written; the run is over (and
        # the lock may go) only once both are gone.
        for child in started_child:
            child.close()


def _run_and_finish(
    store: Store,
    job: _Job,
    lock: ProfileLock,
    run_id: str,
    output: Path,
    params: dict[str, Any],
    t0: float,
    started_child: list[NotebookChild],
) -> RunRecord:
    try:
        with terminate_as_interrupt():
            child = job.warm.take(job.source) if job.warm is not None else None
            if child is None:
                child = NotebookChild.start(job.home, job.source)
            started_child.append(child)
            outcome = _run_child(child, output, params, job.deadline_s, lock.fd, lock.env)
    except KeyboardInterrupt:
        _finish(store, job, run_id, output, Outcome(FAILED, None, INTERRUPTED_REASON), t0)
        raise
    except OSError as exc:
        if not is_filesystem_errno(exc.errno):
            reason = f"runner error: {type(exc).__name__}: {exc}"
            _finish(store, job, run_id, output, Outcome(FAILED, errors.NEEDS_PERSON, reason), t0)
            raise
        outcome = Outcome(FAILED, errors.FILESYSTEM, str(filesystem_error(exc, "the run failed")))
    except Exception as exc:  # a runner bug: record it, then let it surface
        reason = f"runner error: {type(exc).__name__}: {exc}"
        _finish(store, job, run_id, output, Outcome(FAILED, errors.NEEDS_PERSON, reason), t0)
        raise
    return _finish(store, job, run_id, output, outcome, t0)


def _record_unwritable(
    store: Store, job: _Job, started: datetime, exc: OSError | errors.FilesystemError
) -> RunRecord:
    """runs/ cannot take the run's notebook: the row alone records the refusal."""
    if isinstance(exc, OSError):
        if not is_filesystem_errno(exc.errno):
            raise exc
        exc = filesystem_error(exc, "the run's folder cannot be written")
    run_id = _open_row(store, job, started)
    record = runs.finish_run(
        store,
        run_id,
        status=FAILED,
        duration_s=0.0,
        failure_class=errors.FILESYSTEM,
        reason=one_line(f"not started: {exc}", job.secret_values),
    )
    log.info("%s run %s for %s not started: %s", job.kind, run_id, job.profile, exc)
    rebuild_index(store, job.home, disk_known_bad=True)
    alert_on_health_change(store, job.home, job.profile)  # a full disk is worth an alert
    return record


def _after_run_files(output: Path, job: _Job, outcome: Outcome) -> tuple[Path | None, Outcome]:
    """The HTML copy and the secret scan; a filesystem error fails the run (class filesystem)
    and sets a cut-short notebook aside as `.partial`."""
    html_path: Path | None = None
    try:
        html_path = export_html(output, output.with_suffix(".html"))
        if redact_secrets([output, html_path], job.secret_values):
            log.error("SECRET LEAKED into %s; the files were redacted", output)
            outcome = Outcome(FAILED, errors.NEEDS_PERSON, LEAK_REASON)
    except OSError as exc:
        if not is_filesystem_errno(exc.errno):
            raise
        if outcome.failure_class != errors.FILESYSTEM:
            why = filesystem_error(exc, "the run's files could not be written")
            outcome = Outcome(
                FAILED, errors.FILESYSTEM, f"{why} (the run itself: {outcome.status})"
            )
    if html_path is not None and not html_path.exists():
        html_path = None
    return html_path, outcome


def _finish(
    store: Store, job: _Job, run_id: str, output: Path, outcome: Outcome, t0: float
) -> RunRecord:
    html_path, outcome = _after_run_files(output, job, outcome)
    if outcome.failure_class == errors.FILESYSTEM:
        kept = set_aside_partial(output)
        if kept != output:
            runs.set_notebook(store, run_id, kept)
        html_path = html_path if kept == output else None
    not_copied = copy_to_runs_url(job.home, [output, html_path])  # a remote runs_url
    if not_copied is not None and outcome.status == OK:
        outcome = Outcome(FAILED, errors.UPSTREAM, not_copied)
    record = runs.finish_run(
        store,
        run_id,
        status=outcome.status,
        duration_s=time.monotonic() - t0,
        failure_class=outcome.failure_class,
        reason=one_line(outcome.reason, job.secret_values) if outcome.reason else None,
        html_path=html_path,
    )
    rebuild_index(store, job.home, disk_known_bad=outcome.failure_class == errors.FILESYSTEM)
    log.info("run %s %s%s", run_id, record.status, f": {record.reason}" if record.reason else "")
    # Every finished run may change the profile's health; a failed alert never fails the run.
    alert_on_health_change(store, job.home, job.profile)
    return record


# What the runner's process imports only after a notebook (the runs page, the health check
# behind alerts); the scheduler loads them between ticks.
AFTER_RUN_MODULES = (
    "mistune",  # the HTML copy's markdown
    "komet_ftd_ops.orders.ledger",
    "komet_ftd_ops.orders.shipping",  # the health checks' open orders (alerts)
    "komet_ftd_ops.reconcile.categories",
    "komet_ftd_ops.reconcile.core",
    "komet_ftd_ops.reconcile.ledger_view",
)


def prepare_runner(home: Home) -> None:
    """Load ahead what a run costs this process besides its notebook: the state database's
    modules (by opening it once) and AFTER_RUN_MODULES. The scheduler calls it between ticks,
    with the warm kernel; a cold `run sync` pays them in the run."""
    for name in AFTER_RUN_MODULES:
        importlib.import_module(name)
    home.open_store().close()


def run_kind(
    kind: str,
    profile: str,
    *,
    home: Home,
    parameters: dict[str, Any] | None = None,
    scheduled_at: datetime | None = None,
    notebook: Path | None = None,
    deadline_s: float | None = None,
    warm: WarmSlot | None = None,
) -> RunRecord:
    """`run_notebook` with the kit's defaults: the deadline from the profile's
    `sync.deadline_seconds`."""
    if deadline_s is None:
        deadline_s = float(load_profile(profile, home).sync.deadline_seconds)
    return run_notebook(
        kind,
        profile,
        parameters=dict(parameters or {}),
        home=home,
        deadline_s=deadline_s,
        scheduled_at=scheduled_at,
        notebook=notebook,
        warm=warm,
    )


def run_sync_notebook(
    profile: str,
    *,
    home: Home,
    dry_run: bool = False,
    scheduled_at: datetime | None = None,
    notebook: Path | None = None,
    warm: WarmSlot | None = None,
) -> RunRecord:
    """One recorded sync run: `notebooks/sync.ipynb` with `dry_run`, in a child process.

    Not `komet_ftd_ops.sync.run_sync`, which is what that notebook calls inside its kernel.
    """
    return run_kind(
        "sync",
        profile,
        home=home,
        parameters={"dry_run": dry_run},
        scheduled_at=scheduled_at,
        notebook=notebook,
        warm=warm,
    )
