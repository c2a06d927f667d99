"""The `runs` table: one row per notebook run (see `runs/index.py` for what a row means).

The one place that spells its SQL. `runs/index.py` (RunRecord, the rules), `runs/review.py`
and `runs/prune.py` call these; a write takes the caller's `tx`, so each caller keeps its own
transaction. Rows come back as plain dicts of the table's columns; timestamps are ISO text.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .store import Store, Tx

COLUMNS = (
    "id", "profile", "kind", "scheduled_at", "started_at", "finished_at", "duration_s", "status",
    "failure_class", "reason", "counters", "notebook", "html", "kit_version", "reviewed",
    "pruned_at", "reviewed_at",
)  # fmt: skip
_SELECT = "SELECT " + ", ".join(COLUMNS) + " FROM runs"


def _row(row: Any) -> dict[str, Any]:
    return {c: row[c] for c in COLUMNS}


def _marks(prefix: str, values: Iterable[str]) -> tuple[str, dict[str, str]]:
    params = {f"{prefix}{i}": v for i, v in enumerate(values)}
    return ", ".join(f":{k}" for k in params), params


# --- writes -----------------------------------------------------------------------------------


def insert(
    tx: Tx,
    *,
    run_id: str,
    profile: str,
    kind: str,
    scheduled_at: str | None,
    started_at: str,
    status: str,
    reason: str | None,
    notebook: str | None,
    html: str | None,
    kit_version: str,
) -> None:
    tx.execute(
        "INSERT INTO runs (id, profile, kind, scheduled_at, started_at, status, reason, "
        "notebook, html, kit_version) VALUES (:id, :profile, :kind, :scheduled_at, "
        ":started_at, :status, :reason, :notebook, :html, :kit_version)",
        {
            "id": run_id,
            "profile": profile,
            "kind": kind,
            "scheduled_at": scheduled_at,
            "started_at": started_at,
            "status": status,
            "reason": reason,
            "notebook": notebook,
            "html": html,
            "kit_version": kit_version,
        },
    )


def finish(
    tx: Tx,
    run_id: str,
    *,
    status: str,
    duration_s: float,
    failure_class: str | None,
    reason: str | None,
    html: str | None,
    finished_at: str,
) -> None:
    tx.execute(
        "UPDATE runs SET status = :status, duration_s = :duration_s, "
        "failure_class = :failure_class, reason = :reason, html = :html, "
        "finished_at = :finished_at WHERE id = :id",
        {
            "status": status,
            "duration_s": float(duration_s),
            "failure_class": failure_class,
            "reason": reason,
            "html": html,
            "finished_at": finished_at,
            "id": run_id,
        },
    )


def fail(
    tx: Tx, run_ids: Iterable[str], *, status: str, failure_class: str, reason: str, at: str
) -> None:
    """End rows that will never finish on their own (a runner died holding them)."""
    tx.executemany(
        "UPDATE runs SET status = :status, failure_class = :failure_class, reason = :reason, "
        "finished_at = :finished_at WHERE id = :id",
        [
            {
                "status": status,
                "failure_class": failure_class,
                "reason": reason,
                "finished_at": at,
                "id": run_id,
            }
            for run_id in run_ids
        ],
    )


def set_notebook(tx: Tx, run_id: str, notebook: str | None) -> None:
    tx.execute(
        "UPDATE runs SET notebook = :notebook WHERE id = :id", {"notebook": notebook, "id": run_id}
    )


def counters_json(tx: Tx, run_id: str) -> str | None:
    """The row's counters (JSON text) read inside `tx`, to merge into; None: no such run."""
    row = tx.execute("SELECT counters FROM runs WHERE id = :id", {"id": run_id}).fetchone()
    return None if row is None else str(row["counters"] or "{}")


def set_counters_json(tx: Tx, run_id: str, counters: str) -> None:
    tx.execute(
        "UPDATE runs SET counters = :counters WHERE id = :id", {"counters": counters, "id": run_id}
    )


def set_review(tx: Tx, run_id: str, note: str, at: str) -> None:
    tx.execute(
        "UPDATE runs SET reviewed = :note, reviewed_at = :at WHERE id = :id",
        {"note": note, "at": at, "id": run_id},
    )


def mark_pruned(tx: Tx, run_id: str, at: str) -> None:
    """The run's files are gone: its row stays (the counters are history), pointing at none."""
    tx.execute(
        "UPDATE runs SET notebook = NULL, html = NULL, pruned_at = :at WHERE id = :id",
        {"at": at, "id": run_id},
    )


# --- reads ------------------------------------------------------------------------------------


def get(store: Store, run_id: str) -> dict[str, Any] | None:
    rows = store.query(f"{_SELECT} WHERE id = :id", {"id": run_id})
    return _row(rows[0]) if rows else None


def newest(
    store: Store, *, profile: str | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """Rows newest first, of one profile or all."""
    sql = _SELECT
    params: dict[str, Any] = {}
    if profile:
        sql += " WHERE profile = :profile"
        params["profile"] = profile
    sql += " ORDER BY started_at DESC, id DESC"
    if limit is not None:
        sql += " LIMIT :limit"
        params["limit"] = int(limit)
    return [_row(r) for r in store.query(sql, params)]


def ids_with_status(tx: Tx, profile: str, status: str) -> list[str]:
    """Read inside `tx`: the caller changes these rows in the same transaction."""
    rows = tx.execute(
        "SELECT id FROM runs WHERE profile = :profile AND status = :status ORDER BY id",
        {"profile": profile, "status": status},
    )
    return [str(r["id"]) for r in rows]


def reviewed_at(store: Store, run_id: str) -> str | None:
    rows = store.query("SELECT reviewed_at FROM runs WHERE id = :id", {"id": run_id})
    return rows[0]["reviewed_at"] if rows else None


def unreviewed(
    store: Store, statuses: Iterable[str], *, profile: str | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    """Rows of the given statuses without a review note, newest first."""
    marks, params = _marks("s", statuses)
    sql = f"{_SELECT} WHERE status IN ({marks}) AND (reviewed IS NULL OR reviewed = '')"
    if profile:
        sql += " AND profile = :profile"
        params["profile"] = profile
    sql += " ORDER BY started_at DESC, id DESC LIMIT :limit"
    return [_row(r) for r in store.query(sql, {**params, "limit": int(limit)})]


def by_profile_and_start(store: Store, *, except_status: str) -> list[dict[str, Any]]:
    """Every row but those of one status, oldest first within each profile (pruning's walk)."""
    rows = store.query(
        f"{_SELECT} WHERE status <> :status ORDER BY profile, started_at, id",
        {"status": except_status},
    )
    return [_row(r) for r in rows]
