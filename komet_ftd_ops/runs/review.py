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
from ..state.store import Store, iso, utcnow
from . import index as run_index
from .html import write_index
from .index import FAILED, TIMED_OUT, RunRecord

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
    with store.atomic() as db:
        db.execute(
            "UPDATE runs SET reviewed=?, reviewed_at=? WHERE id=?",
            (text, iso(now or utcnow()), run_id),
        )
    if home is not None:
        write_index(store, home)
    return run_index.get_run(store, run_id)


def reviewed_at(store: Store, run_id: str) -> str | None:
    rows = store.query("SELECT reviewed_at FROM runs WHERE id=?", (run_id,))
    return rows[0][0] if rows else None


def unreviewed_failures(
    store: Store, profile: str | None = None, limit: int = 200
) -> list[RunRecord]:
    """Failed or timed-out runs without a review note, newest first."""
    sql = "SELECT id FROM runs WHERE status IN (?, ?) AND (reviewed IS NULL OR reviewed = '')"
    params: list[object] = [FAILED, TIMED_OUT]
    if profile:
        sql += " AND profile=?"
        params.append(profile)
    sql += " ORDER BY started_at DESC, id DESC LIMIT ?"
    params.append(limit)
    return [run_index.get_run(store, r["id"]) for r in store.query(sql, tuple(params))]


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
