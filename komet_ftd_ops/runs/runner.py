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
      ├── papermill in a child process, own session, killed with its kernel at the deadline
      ├── HTML copy (nbconvert), then scan both files for the profile's secrets → redact
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

import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import komet_ftd_ops

from .. import errors
from ..errors import ConfigError, KometFtdOpsError
from ..settings.home import HOME_VARIABLE, Home, environment
from ..settings.profiles import load_profile
from ..state.store import Store, utcnow
from ..state.witness import refuse_if_older
from . import index as runs
from .alerts import alert_on_health_change
from .filesystem import check_room, filesystem_error, is_filesystem_errno, set_aside_partial
from .html import rebuild_index
from .index import FAILED, OK, SKIPPED, TIMED_OUT, RunRecord
from .processes import (
    ProfileLock,
    acquire_profile_lock,
    kill_process_tree,
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

# The child process is `komet_ftd_ops.runs.child` (papermill only; protocol in its docstring).
CHILD_MODULE = "komet_ftd_ops.runs.child"
# jsonschema imports rfc3987_syntax (jupyter's format extras pull it in) only to check IRI
# formats, which notebooks never use; building its grammar costs about 2 s in every fresh
# process. Marking it absent makes jsonschema skip those checks: papermill and nbconvert load in
# well under a second instead of three. The child does the same as its first statement.
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
    source: Path,
    output: Path,
    parameters: dict[str, Any],
    home: Home,
    deadline_s: float,
    lock_fd: int | None = None,
    lock_env: Mapping[str, str] | None = None,
) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="komet-ftd-ops-run-") as tmp:
        result = Path(tmp) / "result.json"
        child_log = Path(tmp) / "child.log"
        spec = {
            "input": str(source),
            "output": str(output),
            "parameters": parameters,
            "cwd": str(source.parent),
            "result": str(result),
            "lock_fd": lock_fd,
            "parent_pid": os.getpid(),
        }
        env = {
            **environment(),
            HOME_VARIABLE: str(home.root),
            "JUPYTER_RUNTIME_DIR": str(Path(tmp) / "runtime"),  # connection files go with tmp
            **(lock_env or {}),  # PostgreSQL: the lease the kernel's store re-checks
        }
        with child_log.open("wb") as log_fh:
            proc = subprocess.Popen(
                [sys.executable, "-m", CHILD_MODULE],
                stdin=subprocess.PIPE,
                stdout=log_fh,
                stderr=subprocess.STDOUT,
                cwd=home.root,
                env=env,
                start_new_session=True,
                # the child holds the profile lock too, and hands it to the kernel
                pass_fds=(lock_fd,) if lock_fd is not None else (),
            )
        try:
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(spec).encode())
            proc.stdin.close()
            proc.wait(timeout=deadline_s)
        except subprocess.TimeoutExpired:
            kill_process_tree(proc)
            return Outcome(
                TIMED_OUT,
                errors.DEADLINE,
                f"deadline of {deadline_s:g} s passed; killed the notebook and its kernel",
            )
        except BaseException:
            kill_process_tree(proc)
            raise
        return _read_outcome(result, child_log, proc.returncode)


def _read_outcome(result: Path, child_log: Path, returncode: int) -> Outcome:
    if not result.exists():
        lines = [x for x in child_log.read_text(errors="replace").splitlines() if x.strip()]
        tail = lines[-1] if lines else "no output"
        return Outcome(
            FAILED, errors.NEEDS_PERSON, f"papermill exited with code {returncode}: {tail}"
        )
    data = json.loads(result.read_text())
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


# --- after the run: HTML copy and the secret scan -------------------------------------------


def export_html(notebook: Path, target: Path) -> Path | None:
    """The notebook's HTML copy without code cells (nbconvert, inline CSS); None if there is
    nothing to convert."""
    if not notebook.exists():
        return None
    # see SKIP_SLOW_IMPORT; a None entry marks a module absent (a CPython idiom typeshed omits)
    sys.modules.setdefault(SKIP_SLOW_IMPORT, None)  # type: ignore[arg-type]
    from nbconvert import HTMLExporter  # slow import: only when a run has finished

    try:
        # The copy is for reading what a cycle did: outputs only. The .ipynb keeps the code.
        exporter = HTMLExporter(
            exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True
        )
        body, _ = exporter.from_filename(str(notebook))
    except Exception as exc:  # a notebook cut short by the deadline may not be valid JSON
        log.warning("no HTML copy of %s: %s", notebook, exc)
        return None
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(body, encoding="utf-8")
    os.replace(tmp, target)
    return target


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
) -> RunRecord:
    """Run `notebooks/<kind>.ipynb` (or `notebook`) once for a profile and record it.

    Returns the finished record: ok, failed, timed_out, or skipped when another run of the
    profile holds the lock. Raises ConfigError before anything runs when a parameter looks
    secret or the notebook or profile is missing. Ctrl-C/SIGTERM kill the child and its
    kernel, record the run as failed ("interrupted") and re-raise KeyboardInterrupt.

    `deadline_s` bounds the papermill child (kernel start and every cell); the HTML copy and
    the secret scan that follow take a few seconds more and are not counted against it.
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
    job = _Job(home, kind, profile, source, parameters, deadline_s, scheduled_at, secret_values)
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
    try:
        with terminate_as_interrupt():
            outcome = _run_child(
                job.source, output, params, job.home, job.deadline_s, lock.fd, lock.env
            )
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


def run_kind(
    kind: str,
    profile: str,
    *,
    home: Home,
    parameters: dict[str, Any] | None = None,
    scheduled_at: datetime | None = None,
    notebook: Path | None = None,
    deadline_s: float | None = None,
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
    )


def run_sync_notebook(
    profile: str,
    *,
    home: Home,
    dry_run: bool = False,
    scheduled_at: datetime | None = None,
    notebook: Path | None = None,
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
    )
