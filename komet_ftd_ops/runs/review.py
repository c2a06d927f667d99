"""Run review: a person marks a run as looked at, with a note, in the state database.

A failed run stays "unreviewed" until someone writes what they found (`komet-ftd-ops runs review
RUN --note TEXT`); the reconciliation lists the failed runs nobody has reviewed, so a failure
that healed by itself is still seen once. The note goes into `runs.reviewed` (which `runs list
--json` shows as `reviewed`) and the time into `runs.reviewed_at` (migration 0005).
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from ..errors import DataError
from ..settings.home import Home
from ..state import runs as runs_table
from ..state.store import Store, iso, utcnow
from . import index as run_index
from .html import write_index
from .index import FAILED, TIMED_OUT, RunRecord, _record

MAX_NOTE = 500
UNREVIEWED_COLUMNS = ["id", "kind", "started_at", "status", "failure_class", "reason", "notebook"]


def review_run(
    store: Store, run_id: str, note: str, *, home: Home | None = None, now: datetime | None = None
) -> RunRecord:
    """Mark a run reviewed with a one-line note; reviewing again replaces the note.

    Raises ConfigError for an unknown run, DataError for an empty note. With `home`, its
    runs/index.html page is rebuilt so it shows the review.
    """
    run_index.get_run(store, run_id)  # ConfigError names the run when it does not exist
    text = " ".join(note.split())
    if not text:
        raise DataError("a review needs a note: what was wrong, and what was done about it.")
    if len(text) > MAX_NOTE:
        raise DataError(f"the note is {len(text)} characters; keep it under {MAX_NOTE}.")
    with store.atomic() as tx:
        runs_table.set_review(tx, run_id, text, iso(now or utcnow()))
    if home is not None:
        write_index(store, home)
    return run_index.get_run(store, run_id)


def reviewed_at(store: Store, run_id: str) -> str | None:
    return runs_table.reviewed_at(store, run_id)


def unreviewed_failures(
    store: Store, profile: str | None = None, limit: int = 200
) -> list[RunRecord]:
    """Failed or timed-out runs without a review note, newest first."""
    rows = runs_table.unreviewed(store, (FAILED, TIMED_OUT), profile=profile, limit=limit)
    return [_record(r) for r in rows]


def unreviewed_frame(store: Store, profile: str | None = None) -> pd.DataFrame:
    """The same as a table (the notebook and the workbook show it)."""
    rows = [
        {
            "id": r.id,
            "kind": r.kind,
            "started_at": r.started_at,
            "status": r.status,
            "failure_class": r.failure_class,
            "reason": r.reason,
            "notebook": str(r.notebook or r.html or ""),
        }
        for r in unreviewed_failures(store, profile)
    ]
    return pd.DataFrame(rows, columns=UNREVIEWED_COLUMNS)
