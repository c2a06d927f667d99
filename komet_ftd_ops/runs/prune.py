"""Pruning: delete the files of old successful runs; the rows (their counters) stay, marked pruned."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from ..settings.home import Home
from ..state import runs as runs_table
from ..state.store import Store, iso, utcnow
from .html import write_index
from .index import OK, PROBLEMS, SKIPPED, RunRecord, _record


def prune_candidates(
    store: Store, *, older_than_days: float = 7, now: datetime | None = None
) -> list[RunRecord]:
    """Successful runs older than the cut-off whose files can go.

    Kept: every failed or timed-out run and the run either side of it (by start time, per
    profile, skipped runs not counted since they have no files), every run still running, and
    everything newer than the cut-off.
    """
    cutoff = iso((now or utcnow()) - timedelta(days=older_than_days))
    rows = [_record(r) for r in runs_table.by_profile_and_start(store, except_status=SKIPPED)]
    keep: set[str] = set()
    by_profile: dict[str, list[RunRecord]] = {}
    for record in rows:
        by_profile.setdefault(record.profile, []).append(record)
    for runs in by_profile.values():
        for i, record in enumerate(runs):
            if record.status in PROBLEMS:
                keep.update(r.id for r in runs[max(0, i - 1) : i + 2])
    return [
        r
        for r in rows
        if r.status == OK
        and r.pruned_at is None
        and iso(r.started_at) < cutoff
        and r.id not in keep
    ]


def prune(
    store: Store,
    home: Home,
    *,
    older_than_days: float = 7,
    dry_run: bool = False,
    now: datetime | None = None,
) -> list[RunRecord]:
    """Delete the files of old successful runs and mark their rows pruned; returns those runs.

    With `dry_run`, nothing changes and the runs that would be pruned are returned.
    """
    candidates = prune_candidates(store, older_than_days=older_than_days, now=now)
    if dry_run:
        return candidates
    for record in candidates:
        for path in (record.notebook, record.html):
            if path is not None:
                path.unlink(missing_ok=True)
                _remove_empty_parents(path.parent, home.runs_dir)
        with store.atomic() as tx:
            runs_table.mark_pruned(tx, record.id, iso())
    if candidates:
        write_index(store, home)
    return candidates


def _remove_empty_parents(folder: Path, stop: Path) -> None:
    # The date and profile folders go once their last run is pruned.
    while folder != stop and stop in folder.parents:
        try:
            folder.rmdir()
        except OSError:  # not empty (or already gone): stop climbing
            return
        folder = folder.parent
