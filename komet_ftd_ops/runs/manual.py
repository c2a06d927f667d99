"""A notebook run started by hand (papermill or nbval directly, JupyterLab): still exclusive and
still recorded, as a run of kind `manual`.

The runner takes the profile's lock, opens the run's row and passes its id to the notebook as
the `run_id` parameter. Without one, nobody did either, and a hand-started cycle could run
beside a scheduled one and leave no trace in the run index. `manual_run` does both from inside
the kernel. What the runner does after a run (the secret scan of the output notebook, its HTML
copy) cannot be done from inside it, so the notebook's output says so (`NOT_APPLIED`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import komet_ftd_ops

from .. import errors
from ..errors import KometFtdOpsError
from ..settings.home import Home, environment
from ..state.store import utcnow
from . import index as runs
from .html import rebuild_index
from .processes import lock_held_reason, profile_lock
from .secretscan import one_line, profile_secrets

MANUAL = "manual"
NOT_APPLIED = (
    "a manual run (not started by `komet-ftd-ops run sync` or the schedule): the runner's "
    "secret scan of the output notebook and its HTML copy did not apply"
)
# Set by jupyter-server for the kernels it starts: the notebook's path, relative to the
# server's root. papermill sets nothing; its output path is not known inside the kernel.
SESSION_VARIABLE = "JPY_SESSION_NAME"


@dataclass(frozen=True)
class ManualRun:
    """The row of a hand-started run; `skipped` says who held the lock (then nothing runs)."""

    run_id: str
    skipped: str | None = None


def notebook_path(home: Home) -> Path | None:
    """The notebook being run, when the kernel can know it (JupyterLab); else None."""
    name = environment().get(SESSION_VARIABLE, "")
    if not name:
        return None
    path = Path(name)
    return path if path.is_absolute() else home.root / path


@contextmanager
def manual_run(home: Home, profile: str) -> Iterator[ManualRun]:
    """Hold the profile's lock and record the run (kind `manual`) around the body.

    Held by another run: a `skipped` row, and the body is told so (`skipped` set) and must do
    nothing. An exception in the body finishes the row as failed, with its failure class, and
    is re-raised.
    """
    started = utcnow()
    run_id = runs.new_run_id(MANUAL, started)
    note = f"{MANUAL} since {started:%H:%M:%SZ}"
    with profile_lock(home, profile, note=note) as holder, home.open_store() as store:
        if holder is not None:
            runs.create_run(store, run_id=run_id, profile=profile, kind=MANUAL,
                            started_at=started, kit_version=komet_ftd_ops.__version__)  # fmt: skip
            reason = lock_held_reason(profile, holder)
            runs.finish_run(store, run_id, status=runs.SKIPPED, duration_s=0.0, reason=reason)
            rebuild_index(store, home)
            yield ManualRun(run_id, skipped=reason)
            return
        runs.fail_abandoned_runs(store, profile)  # we hold the lock: a `running` row is dead
        runs.create_run(store, run_id=run_id, profile=profile, kind=MANUAL, started_at=started,
                        kit_version=komet_ftd_ops.__version__, notebook=notebook_path(home))  # fmt: skip
        t0 = time.monotonic()
        try:
            yield ManualRun(run_id)
        except BaseException as exc:
            failure_class = (
                exc.failure_class if isinstance(exc, KometFtdOpsError) else errors.NEEDS_PERSON
            )
            reason = one_line(f"{type(exc).__name__}: {exc}", _secrets(profile, home))
            runs.finish_run(store, run_id, status=runs.FAILED, duration_s=time.monotonic() - t0,
                            failure_class=failure_class, reason=reason)  # fmt: skip
            rebuild_index(store, home)
            raise
        runs.finish_run(store, run_id, status=runs.OK, duration_s=time.monotonic() - t0)
        rebuild_index(store, home)


def _secrets(profile: str, home: Home) -> list[str]:
    try:
        return profile_secrets(profile, home)
    except KometFtdOpsError:  # a broken profile: nothing resolvable to mask
        return []
