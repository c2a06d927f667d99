"""The run index: one row per notebook run in the `runs` table, and a static `runs/index.html`.

The runner creates a row (status `running`) before it starts the notebook, so the notebook can
write its counters into it with `record_counters`; the runner then finalises status and
duration. `runs/index.html` is rebuilt from the table after every run and every prune.

Pruning keeps the rows (their counters are the history) and deletes only the files: a pruned
row has `pruned_at` set and `notebook`/`html` cleared.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..state import runs as runs_table
from ..state.store import Store, iso, utcnow

RUNNING = "running"
OK = "ok"
FAILED = "failed"
TIMED_OUT = "timed_out"
SKIPPED = "skipped"
STATUSES = (RUNNING, OK, FAILED, TIMED_OUT, SKIPPED)
PROBLEMS = (FAILED, TIMED_OUT)  # what prune always keeps, with a neighbour on each side

INDEX_ROWS = 1000  # newest runs shown in index.html; `runs list` reaches the rest


@dataclass(frozen=True)
class RunRecord:
    """One row of the `runs` table."""

    id: str
    profile: str
    kind: str
    status: str
    started_at: datetime
    kit_version: str
    scheduled_at: datetime | None = None
    finished_at: datetime | None = None
    duration_s: float | None = None
    failure_class: str | None = None
    reason: str | None = None
    counters: dict[str, Any] = field(default_factory=dict)
    notebook: Path | None = None
    html: Path | None = None
    reviewed: str | None = None
    pruned_at: datetime | None = None

    @property
    def lateness_s(self) -> float | None:
        """How long after its scheduled tick the run started (None when started by hand)."""
        if self.scheduled_at is None:
            return None
        return (self.started_at - self.scheduled_at).total_seconds()

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, datetime):
                data[key] = iso(value)
            elif isinstance(value, Path):
                data[key] = str(value)
        data["lateness_s"] = self.lateness_s
        return data


def _parse_ts(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


def _record(row: Mapping[str, Any]) -> RunRecord:
    started = _parse_ts(row["started_at"])
    assert started is not None
    return RunRecord(
        id=row["id"],
        profile=row["profile"],
        kind=row["kind"],
        status=row["status"],
        started_at=started,
        kit_version=row["kit_version"],
        scheduled_at=_parse_ts(row["scheduled_at"]),
        finished_at=_parse_ts(row["finished_at"]),
        duration_s=row["duration_s"],
        failure_class=row["failure_class"],
        reason=row["reason"],
        counters=json.loads(row["counters"] or "{}"),
        notebook=_path(row["notebook"]),
        html=_path(row["html"]),
        reviewed=row["reviewed"],
        pruned_at=_parse_ts(row["pruned_at"]),
    )


def utc(ts: datetime) -> datetime:
    """Naive datetimes are taken as UTC."""
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def new_run_id(kind: str, started: datetime) -> str:
    """`20261201T120000Z-sync-a1b2c3`: sortable by start, unique, the kind readable."""
    return f"{started:%Y%m%dT%H%M%SZ}-{kind}-{secrets.token_hex(3)}"


def create_run(
    store: Store,
    *,
    run_id: str,
    profile: str,
    kind: str,
    started_at: datetime,
    kit_version: str,
    status: str = RUNNING,
    scheduled_at: datetime | None = None,
    notebook: Path | None = None,
    html_path: Path | None = None,
    reason: str | None = None,
) -> RunRecord:
    """Insert a run row; the runner does this before it starts the notebook."""
    if status not in STATUSES:
        raise ValueError(f"unknown run status {status!r}")
    with store.atomic() as tx:
        runs_table.insert(
            tx,
            run_id=run_id,
            profile=profile,
            kind=kind,
            scheduled_at=iso(utc(scheduled_at)) if scheduled_at else None,
            started_at=iso(utc(started_at)),
            status=status,
            reason=reason,
            notebook=str(notebook) if notebook else None,
            html=str(html_path) if html_path else None,
            kit_version=kit_version,
        )
    return get_run(store, run_id)


def finish_run(
    store: Store,
    run_id: str,
    *,
    status: str,
    duration_s: float,
    failure_class: str | None = None,
    reason: str | None = None,
    html_path: Path | None = None,
    finished_at: datetime | None = None,
) -> RunRecord:
    """Record how a run ended. Counters written by the notebook are left as they are."""
    if status not in STATUSES or status == RUNNING:
        raise ValueError(f"a run cannot finish as {status!r}")
    with store.atomic() as tx:
        runs_table.finish(
            tx,
            run_id,
            status=status,
            duration_s=round(duration_s, 3),
            failure_class=failure_class,
            reason=reason,
            html=str(html_path) if html_path else None,
            finished_at=iso(finished_at or utcnow()),
        )
    return get_run(store, run_id)


def set_notebook(store: Store, run_id: str, notebook: Path | None) -> None:
    """Point a run's row at where its notebook now is (renamed `.partial`), or at none."""
    with store.atomic() as tx:
        runs_table.set_notebook(tx, run_id, str(notebook) if notebook else None)


def record_counters(store: Store, run_id: str, counters: dict[str, Any]) -> bool:
    """Merge a cycle's counters into its run row (called from inside the notebook).

    Later calls add to or overwrite keys of earlier ones, so the inventory and order steps can
    each write their own. An empty `run_id` (a notebook opened by hand, not by the runner) is a
    no-op and returns False; an unknown one is an error.
    """
    if not run_id:
        return False
    encoded = json.dumps(counters, sort_keys=True, default=str)  # fail before the transaction
    with store.atomic() as tx:
        known = runs_table.counters_json(tx, run_id)
        if known is None:
            raise ConfigError(f"no run {run_id!r} in the run index of {store}.")
        merged = {**json.loads(known), **json.loads(encoded)}
        runs_table.set_counters_json(tx, run_id, json.dumps(merged))
    return True


def get_run(store: Store, run_id: str) -> RunRecord:
    row = runs_table.get(store, run_id)
    if row is None:
        raise ConfigError(f"no run {run_id!r} in the run index.")
    return _record(row)


def list_runs(
    store: Store, *, profile: str | None = None, limit: int | None = None
) -> list[RunRecord]:
    """Runs, newest first."""
    return [_record(r) for r in runs_table.newest(store, profile=profile, limit=limit)]


def fail_abandoned_runs(store: Store, profile: str) -> list[str]:
    """Rows left `running` by a runner that died. Call only while holding the profile's lock."""
    with store.atomic() as tx:
        ids = runs_table.ids_with_status(tx, profile, RUNNING)
        runs_table.fail(
            tx,
            ids,
            status=FAILED,
            failure_class="needs_person",
            reason="the runner died before finishing this run (found at the next start)",
            at=iso(),
        )
    return ids
