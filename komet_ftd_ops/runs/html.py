"""`runs/index.html`: a static page of the newest runs, rebuilt after every run and prune."""

from __future__ import annotations

import html
import logging
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from ..settings.home import Home
from ..settings.profiles import profile_names
from ..state.fleet import ProfileOverview, profile_overview
from ..state.store import Store, iso, utcnow
from .chart import day_chart
from .filesystem import filesystem_error, is_filesystem_errno
from .headline import headline, problems
from .index import INDEX_ROWS, PROBLEMS, RunRecord, list_runs
from .remote import remote_target

log = logging.getLogger(__name__)

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
tr.problem td { background: #fff4f2; }
tr.problem td:first-child { border-left: 4px solid #dc2626; }
.problems { color: #b91c1c; font-weight: 600; }
details.counters summary { cursor: pointer; color: #666; }
h2 { font-size: 1.1em; margin-top: 1.5em; }
"""

NEEDS_A_LOOK = 20  # problem runs listed above the table: the newest ones nobody reviewed


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


def _link(record: RunRecord, home: Home) -> str:
    if record.html is None or not record.html.exists():
        return '<span class="muted">pruned</span>' if record.pruned_at else ""
    # a remote runs_url holds the copy the index links to
    local = Path(os.path.relpath(record.html, home.runs_dir)).as_posix()
    href = remote_target(home, record.html) or local
    return f'<a href="{html.escape(href)}">{html.escape(record.html.name)}</a>'


def run_problems(record: RunRecord) -> list[str]:
    """Why a run needs a person: its failure, or what an ok cycle left behind (parked orders)."""
    found = [record.status.replace("_", " ")] if record.status in PROBLEMS else []
    return found + problems(record.counters)


def _row(r: RunRecord, home: Home) -> str:
    failure = " ".join(x for x in (r.failure_class or "", r.reason or "") if x)
    if r.reviewed:
        failure += f" (reviewed: {r.reviewed})"
    found = run_problems(r)
    said = headline(r.counters)
    cell = f'<span class="problems">{html.escape(", ".join(found))}</span> ' if found else ""
    cell += html.escape(said) if said else '<span class="muted">no cycle counters</span>'
    if r.counters:
        cell += (
            '<details class="counters"><summary>counters</summary>'
            f"{html.escape(_fmt_counters(r.counters))}</details>"
        )
    return (
        f'<tr class="{"problem" if found else "routine"}">'
        f"<td>{r.started_at:%Y-%m-%d %H:%M:%S}</td>"
        f"<td>{html.escape(r.profile)}</td><td>{html.escape(r.kind)}</td>"
        f'<td><span class="status {html.escape(r.status)}">{html.escape(r.status)}</span></td>'
        f'<td class="num">{_fmt_seconds(r.duration_s)}</td>'
        f'<td class="num">{_fmt_seconds(r.lateness_s)}</td>'
        f'<td class="headline">{cell}</td>'
        f'<td class="reason">{html.escape(failure)}</td>'
        f"<td>{_link(r, home)}</td>"
        "</tr>"
    )


def _table(records: list[RunRecord], home: Home, css_id: str) -> str:
    head = (
        "<th>started (UTC)</th><th>profile</th><th>kind</th><th>status</th>"
        "<th>duration s</th><th>late s</th><th>headline</th><th>failure</th><th>notebook</th>"
    )
    rows = "\n".join(_row(r, home) for r in records)
    return f'<table id="{css_id}"><thead><tr>{head}</tr></thead><tbody>\n{rows}\n</tbody></table>'


def _ago(ts: datetime | None, now: datetime) -> str:
    if ts is None:
        return '<span class="muted">never</span>'
    minutes = max(0.0, (now - ts).total_seconds() / 60)
    said = f"{minutes:.0f} min ago" if minutes < 120 else f"{minutes / 60:.1f} h ago"
    return f'<span title="{iso(ts)}">{said}</span>'


def _profiles_table(profiles: list[ProfileOverview], now: datetime) -> str:
    """One row per profile, the failing ones first (most failures, then most parked)."""
    rows = []
    for p in sorted(profiles, key=lambda p: (not p.needs_look, -p.failing, -p.parked, p.profile)):
        last = ""
        if p.last_status:
            last = f'<span class="status {html.escape(p.last_status)}">'
            last += f"{html.escape(p.last_status)}</span> {html.escape(p.last_reason or '')}"
        rows.append(
            f'<tr class="{"problem" if p.needs_look else "routine"}">'
            f"<td>{html.escape(p.profile)}</td><td>{_ago(p.last_ok_at, now)}</td>"
            f'<td class="num">{p.waiting}</td><td class="num">{p.parked}</td>'
            f'<td class="num">{p.failing}</td><td class="reason">{last}</td></tr>'
        )
    head = (
        "<th>profile</th><th>last success</th><th>orders waiting</th><th>parked orders</th>"
        "<th>failing runs</th><th>last sync</th>"
    )
    body = "\n".join(rows)
    return f'<table id="profiles"><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>'


def overview(store: Store, home: Home) -> list[ProfileOverview]:
    """Every profile in the database or under the home (one query, however many profiles)."""
    from ..orders.ledger import FINAL
    from ..reconcile.ledger_view import NOT_YET_ACKNOWLEDGED

    found = profile_overview(store, waiting_states=NOT_YET_ACKNOWLEDGED, final_states=FINAL)
    known = {p.profile for p in found}
    fresh = [
        ProfileOverview(name, None, None, None, 0, 0, 0)
        for name in profile_names(home)
        if name not in known
    ]
    return found + fresh


def render_index(
    records: list[RunRecord],
    home: Home,
    now: datetime | None = None,
    profiles: list[ProfileOverview] | None = None,
) -> str:
    """The static index page: every profile (failing ones first), a chart of the last day,
    the runs that need a look (problems first, newest first, unreviewed), then every run
    newest first. Inline CSS and SVG, no script; links relative to runs/."""
    now = now or utcnow()
    table = _profiles_table(profiles, now) if profiles else '<p class="muted">none yet</p>'
    look = [r for r in records if run_problems(r) and not r.reviewed][:NEEDS_A_LOOK]
    needs = _table(look, home, "problems") if look else '<p class="muted">none</p>'
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>komet-ftd-ops runs</title>"
        f"<style>{_CSS}</style></head><body>"
        f'<h1>komet-ftd-ops runs</h1><p class="muted">{len(records)} newest runs; '
        f"written {iso(now)}</p>"
        f"<h2>Profiles</h2>{table}"
        f"<h2>Last 24 hours</h2>{day_chart(records, now)}"
        f"<h2>Needs a look</h2>{needs}"
        f"<h2>All runs</h2>{_table(records, home, 'runs')}"
        "</body></html>\n"
    )


def write_index(store: Store, home: Home) -> Path:
    """Rebuild runs/index.html from the table (temp file + rename: readers never see half)."""
    target = home.runs_index
    target.parent.mkdir(parents=True, exist_ok=True)
    page = render_index(list_runs(store, limit=INDEX_ROWS), home, profiles=overview(store, home))
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


def rebuild_index(store: Store, home: Home, *, disk_known_bad: bool = False) -> None:
    """`write_index` after a run: a disk that cannot take the page now loses nothing (it is
    rebuilt from the table after every run) and must not turn the run's outcome into a crash.
    When the run's own line already says the disk is the trouble, a second line would only
    repeat it."""
    try:
        write_index(store, home)
    except OSError as exc:
        if not is_filesystem_errno(exc.errno):
            raise
        level = logging.INFO if disk_known_bad else logging.WARNING
        log.log(level, "runs/index.html not rebuilt: %s", filesystem_error(exc, "write failed"))
