"""What the reconcile notebook calls: one reconciliation, its workbook, its record.

`run_reconcile` opens the store and the clients (secrets are resolved here, inside the kernel,
never passed as parameters), reconciles, writes the workbook, keeps the summary for `health`
and writes the counts into the run's row of the run index.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd

from ..connect import open_clients
from ..runs import review as reviews
from ..runs.index import record_counters
from ..settings.home import Home
from ..settings.profiles import load_profile
from . import charts, tables
from .core import ReconcileRules, Reconciliation, reconcile, save_last
from .excel import write_workbook

DEFAULT_DAYS_BACK = 7
DEFAULT_DAYS_AHEAD = 7
SHOW_ROWS = 30  # a run notebook stays small: the workbook has every row


def default_range(today: date | None = None) -> tuple[date, date]:
    """A week of ship dates either side of today: what a daily review looks at."""
    today = today or datetime.now(UTC).date()
    return today - timedelta(days=DEFAULT_DAYS_BACK), today + timedelta(days=DEFAULT_DAYS_AHEAD)


def default_workbook(home: Home, profile: str, first: date | str, last: date | str) -> Path:
    return home.reports_dir(profile) / f"reconcile-{first}-to-{last}.xlsx"


@dataclass
class ReconcileReport:
    """A reconciliation plus what the notebook shows of it."""

    result: Reconciliation
    workbook: Path
    unreviewed: pd.DataFrame

    def headline(self) -> str:
        r = self.result
        counts = ", ".join(f"{k} {v}" for k, v in r.counts().items() if v)
        return (
            f"profile {r.profile}, ship dates {r.first} to {r.last}: {len(r.findings)} rows "
            f"({counts or 'nothing'}); {r.problems} problem(s); {len(self.unreviewed)} failed "
            f"run(s) unreviewed; Komet calls {r.komet_calls}; workbook {self.workbook}"
            f"{self._how()}"
        ) + "".join(f"\nNOTE: {note}" for note in r.notes)

    def _how(self) -> str:
        """Which way invoices were found, and the fee they bill (Komet's 1.5% by default)."""
        r = self.result
        ways = ", ".join(f"{how} {n}" for how, n in r.matched_by().items())
        fee = sum((f.fee for f in r.findings if f.fee), Decimal("0.00"))
        expected = f"{r.fee_pct:g}% expected" if r.fee_pct is not None else "none expected"
        return f"\ninvoices found by: {ways or 'none'}; fee billed {fee} ({expected})"

    def summary_table(self) -> pd.DataFrame:
        return tables.summary_frame(self.result).set_index("category")

    def problems_table(self, limit: int = SHOW_ROWS) -> pd.DataFrame:
        return tables.problems_frame(self.result, limit)

    def per_day_png(self) -> bytes:
        return charts.png(charts.orders_per_day(self.result))

    def pending_png(self) -> bytes:
        return charts.png(charts.pending_ages(self.result))

    def unreviewed_table(self, limit: int = SHOW_ROWS) -> pd.DataFrame:
        return self.unreviewed.head(limit)

    def counters(self) -> dict[str, object]:
        return {
            **self.result.counts(),
            "problems": self.result.problems,
            "komet_calls": self.result.komet_calls,
            "unreviewed_failed_runs": len(self.unreviewed),
        }


def run_reconcile(
    profile_name: str,
    date_from: date | str = "",
    date_to: date | str = "",
    *,
    run_id: str | None = None,
    workbook: Path | str | None = None,
    pending_hours: float = ReconcileRules.pending_hours,
    ask_ftd: bool = True,
    home: Home | None = None,
    now: datetime | None = None,
) -> ReconcileReport:
    """Reconcile, write the workbook, keep the summary for health, record the run's counts.

    Empty dates mean `default_range()`; an empty workbook path means
    `<home>/reports/<profile>/reconcile-<from>-to-<to>.xlsx`. The reconcile notebook is an
    entry point: without `home`, the home comes from the environment.
    """
    home = home if home is not None else Home.from_environment()
    profile = load_profile(profile_name, home)
    default_first, default_last = default_range((now or datetime.now(UTC)).date())
    first, last = date_from or default_first, date_to or default_last
    rules = ReconcileRules(pending_hours=float(pending_hours), ask_ftd=ask_ftd)
    target = Path(workbook) if workbook else default_workbook(home, profile.name, first, last)
    with home.open_store() as store, open_clients(profile, store, home) as clients:
        result = reconcile(profile, store, clients, first, last, rules=rules, now=now)
        unreviewed = reviews.unreviewed_frame(store, profile.name)
        path = write_workbook(result, target, unreviewed)
        save_last(store, result, path)
        report = ReconcileReport(result, path, unreviewed)
        if run_id:
            record_counters(store, run_id, report.counters())
    return report
