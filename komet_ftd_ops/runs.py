"""The run index: one row per notebook run in the `runs` table, and a static `runs/index.html`.

The runner creates a row (status `running`) before it starts the notebook, so the notebook can
write its counters into it with `record_counters`; the runner then finalises status and
duration. `runs/index.html` is rebuilt from the table after every run and every prune.

Pruning keeps the rows (their counters are the history) and deletes only the files: a pruned
row has `pruned_at` set and `notebook`/`html` cleared.
"""

from __future__ import annotations

import html
import json
import os
import sqlite3
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .config import state_db_path
from .errors import ConfigError
from .store import Store, iso, utcnow

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


def runs_dir(root: Path) -> Path:
    return root / "runs"


def index_path(root: Path) -> Path:
    return runs_dir(root) / "index.html"


def open_store(root: Path) -> Store:
    """The state database of a kit home (migrations applied)."""
    return Store(state_db_path(root))


def _parse_ts(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


def _record(row: sqlite3.Row) -> RunRecord:
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
    with store.atomic() as db:
        db.execute(
            "INSERT INTO runs (id, profile, kind, scheduled_at, started_at, status, reason, "
            "notebook, html, kit_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run_id,
                profile,
                kind,
                iso(utc(scheduled_at)) if scheduled_at else None,
                iso(utc(started_at)),
                status,
                reason,
                str(notebook) if notebook else None,
                str(html_path) if html_path else None,
                kit_version,
            ),
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
    with store.atomic() as db:
        db.execute(
            "UPDATE runs SET status=?, duration_s=?, failure_class=?, reason=?, html=?, "
            "finished_at=? WHERE id=?",
            (
                status,
                round(duration_s, 3),
                failure_class,
                reason,
                str(html_path) if html_path else None,
                iso(finished_at or utcnow()),
                run_id,
            ),
        )
    return get_run(store, run_id)


def record_counters(store: Store, run_id: str, counters: dict[str, Any]) -> bool:
    """Merge a cycle's counters into its run row (called from inside the notebook).

    Later calls add to or overwrite keys of earlier ones, so the inventory and order steps can
    each write their own. An empty `run_id` (a notebook opened by hand, not by the runner) is a
    no-op and returns False; an unknown one is an error.
    """
    if not run_id:
        return False
    encoded = json.dumps(counters, sort_keys=True, default=str)  # fail before the transaction
    with store.atomic() as db:
        row = db.execute("SELECT counters FROM runs WHERE id=?", (run_id,)).fetchone()
        if row is None:
            raise ConfigError(f"no run {run_id!r} in the run index of {store.path}.")
        merged = {**json.loads(row["counters"] or "{}"), **json.loads(encoded)}
        db.execute("UPDATE runs SET counters=? WHERE id=?", (json.dumps(merged), run_id))
    return True


def get_run(store: Store, run_id: str) -> RunRecord:
    rows = store.query("SELECT * FROM runs WHERE id=?", (run_id,))
    if not rows:
        raise ConfigError(f"no run {run_id!r} in the run index.")
    return _record(rows[0])


def list_runs(
    store: Store, *, profile: str | None = None, limit: int | None = None
) -> list[RunRecord]:
    """Runs, newest first."""
    sql = "SELECT * FROM runs"
    params: list[Any] = []
    if profile:
        sql += " WHERE profile=?"
        params.append(profile)
    sql += " ORDER BY started_at DESC, id DESC"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return [_record(r) for r in store.query(sql, tuple(params))]


def fail_abandoned_runs(store: Store, profile: str) -> list[str]:
    """Rows left `running` by a runner that died. Call only while holding the profile's lock."""
    with store.atomic() as db:
        ids = [
            r["id"]
            for r in db.execute(
                "SELECT id FROM runs WHERE profile=? AND status=?", (profile, RUNNING)
            )
        ]
        for run_id in ids:
            db.execute(
                "UPDATE runs SET status=?, failure_class=?, reason=?, finished_at=? WHERE id=?",
                (
                    FAILED,
                    "needs_person",
                    "the runner died before finishing this run (found at the next start)",
                    iso(),
                    run_id,
                ),
            )
    return ids


# --- pruning -----------------------------------------------------------------------------


def prune_candidates(
    store: Store, *, older_than_days: float = 7, now: datetime | None = None
) -> list[RunRecord]:
    """Successful runs older than the cut-off whose files can go.

    Kept: every failed or timed-out run and the run either side of it (by start time, per
    profile, skipped runs not counted since they have no files), every run still running, and
    everything newer than the cut-off.
    """
    cutoff = iso((now or utcnow()) - timedelta(days=older_than_days))
    rows = [
        _record(r)
        for r in store.query(
            "SELECT * FROM runs WHERE status != ? ORDER BY profile, started_at, id", (SKIPPED,)
        )
    ]
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
    root: Path,
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
                _remove_empty_parents(path.parent, runs_dir(root))
        with store.atomic() as db:
            db.execute(
                "UPDATE runs SET notebook=NULL, html=NULL, pruned_at=? WHERE id=?",
                (iso(), record.id),
            )
    if candidates:
        write_index(store, root)
    return candidates


def _remove_empty_parents(folder: Path, stop: Path) -> None:
    # The date and profile folders go once their last run is pruned.
    while folder != stop and stop in folder.parents:
        try:
            folder.rmdir()
        except OSError:  # not empty (or already gone): stop climbing
            return
        folder = folder.parent


# --- runs/index.html ---------------------------------------------------------------------

_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #ddd; vertical-align: top; }
th { background: #f4f4f4; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.status { font-weight: 600; padding: 1px 6px; border-radius: 3px; }
.ok { background: #d7f5dd; color: #14532d; }
.failed { background: #fde2e1; color: #7f1d1d; }
.timed_out { background: #fde9c8; color: #7c2d12; }
.skipped { background: #eee; color: #555; }
.running { background: #dbeafe; color: #1e3a8a; }
.counters, .reason { font-size: 0.9em; color: #444; }
.muted { color: #999; }
"""


# What a reviewer scans for first; the run notebook has every counter.
KEY_COUNTERS = (
    "feed_kind", "lines_read", "offers_published", "offers_withdrawn", "rejected",
    "offers_rejected_by_ftd", "orders_received", "orders_invoiced", "lines_rejected",
    "orders_parked", "komet_calls_cycle",
)  # fmt: skip
QUIET_COUNTERS = {"seconds", "komet_daily_quota", "komet_calls_today", "open_market"}


def _routine(value: Any) -> bool:
    return isinstance(value, bool) or value in (0, None, "")


def _fmt_counters(counters: dict[str, Any]) -> str:
    """Key counters first, then any other that is not zero, empty or routine."""
    key = [(k, counters[k]) for k in KEY_COUNTERS if counters.get(k) not in (None, "")]
    rest = sorted(
        (k, v)
        for k, v in counters.items()
        if k not in KEY_COUNTERS and k not in QUIET_COUNTERS and not _routine(v)
    )
    text = " · ".join(f"{k}={v}" for k, v in key + rest)
    return f"DRY RUN · {text}" if counters.get("dry_run") is True else text


def _fmt_seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _link(record: RunRecord, root: Path) -> str:
    if record.html is None or not record.html.exists():
        return '<span class="muted">pruned</span>' if record.pruned_at else ""
    href = Path(os.path.relpath(record.html, runs_dir(root))).as_posix()
    return f'<a href="{html.escape(href)}">{html.escape(record.html.name)}</a>'


def render_index(records: list[RunRecord], root: Path) -> str:
    """The static index page: newest first, inline CSS, links relative to runs/."""
    head = (
        "<th>started (UTC)</th><th>profile</th><th>kind</th><th>status</th>"
        "<th>duration s</th><th>late s</th><th>counters</th><th>failure</th><th>notebook</th>"
    )
    rows = []
    for r in records:
        failure = " ".join(x for x in (r.failure_class or "", r.reason or "") if x)
        if r.reviewed:
            failure += f" (reviewed: {r.reviewed})"
        rows.append(
            "<tr>"
            f"<td>{r.started_at:%Y-%m-%d %H:%M:%S}</td>"
            f"<td>{html.escape(r.profile)}</td><td>{html.escape(r.kind)}</td>"
            f'<td><span class="status {html.escape(r.status)}">{html.escape(r.status)}</span></td>'
            f'<td class="num">{_fmt_seconds(r.duration_s)}</td>'
            f'<td class="num">{_fmt_seconds(r.lateness_s)}</td>'
            f'<td class="counters">{html.escape(_fmt_counters(r.counters))}</td>'
            f'<td class="reason">{html.escape(failure)}</td>'
            f"<td>{_link(r, root)}</td>"
            "</tr>"
        )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>komet-ftd-ops runs</title>"
        f"<style>{_CSS}</style></head><body>"
        f'<h1>komet-ftd-ops runs</h1><p class="muted">{len(records)} newest runs; '
        f"written {iso()}</p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>\n"
        + "\n".join(rows)
        + "\n</tbody></table></body></html>\n"
    )


def write_index(store: Store, root: Path) -> Path:
    """Rebuild runs/index.html from the table (temp file + rename: readers never see half)."""
    target = index_path(root)
    target.parent.mkdir(parents=True, exist_ok=True)
    page = render_index(list_runs(store, limit=INDEX_ROWS), root)
    fd, tmp = tempfile.mkstemp(prefix=".index-", suffix=".html", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(page)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
