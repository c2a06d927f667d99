"""One 5-minute sync cycle: Komet open-market inventory -> FTD offers (and, later, FTD orders ->
Komet invoices). The sync notebook calls `run_sync`; benchmarks and tests call `run_cycle`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from .connect import Clients, open_clients
from .komet.transport import MAX_PAGE_SIZE
from .offers.feed import FeedOutcome, FeedState, plan_feed, publish_feed
from .offers.holdback import with_holdback
from .offers.quota import CycleBudget, QuotaPlan, cycle_budget, plan_quota, save_credit
from .offers.stock import StockRefresh, refresh_stock, staleness_minutes
from .offers.transform import OfferBuild, build_offers
from .runs.headline import calls_part, feed_part, orders_part, staleness_part
from .settings.home import Home
from .settings.profiles import Profile, load_profile
from .state.store import Store

SHOW_ROWS = 15  # a run notebook stays small: no full tables


@dataclass
class CycleReport:
    profile: str
    started_at: datetime
    dry_run: bool
    build: OfferBuild | None = None
    feed: FeedOutcome | None = None
    changes: pd.DataFrame = field(default_factory=pd.DataFrame)
    quota: QuotaPlan | None = None
    budget: CycleBudget | None = None
    stock: StockRefresh | None = None
    staleness: dict[str, float] = field(default_factory=dict)  # offer age, minutes
    komet_calls_cycle: int = 0
    komet_calls_today: int = 0
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    orders: Any = None  # filled by the order pipeline

    def counters(self) -> dict[str, Any]:
        out: dict[str, Any] = {"dry_run": self.dry_run, "seconds": round(self.seconds, 2)}
        if self.build is not None:
            out.update(self.build.summary())
        if self.feed is not None:
            out.update(self.feed.counters())
        out["komet_calls_cycle"] = self.komet_calls_cycle
        out["komet_calls_today"] = self.komet_calls_today
        if self.quota is not None:
            out["komet_daily_quota"] = self.quota.daily_quota
            out["komet_quota_share"] = self.quota.share
            out["quota_share_used_pct"] = round(
                100.0 * self.komet_calls_today / max(1, self.quota.share), 1
            )
        if self.stock is not None:
            out.update(self.stock.counters())
        out.update({f"offer_staleness_{k}_min": round(v, 1) for k, v in self.staleness.items()})
        if self.orders is not None:
            out.update(self.orders.counters())
        out["inventory_refreshed"] = self.build is not None
        return out

    # Small tables for the notebook: a person reads these in the run record.

    def summary_table(self) -> pd.DataFrame:
        rows = [(k, v) for k, v in self.counters().items()]
        return pd.DataFrame(rows, columns=["what", "value"]).set_index("what")

    def rejected_reasons(self) -> pd.DataFrame:
        if self.build is None or self.build.rejected.empty:
            return pd.DataFrame(columns=["reason", "lines"])
        counts = self.build.rejected["reason"].value_counts().rename_axis("reason")
        return counts.rename("lines").reset_index()

    def rejected_sample(self, n: int = SHOW_ROWS) -> pd.DataFrame:
        if self.build is None:
            return pd.DataFrame()
        return self.build.rejected.groupby("reason", group_keys=False).head(3).head(n)

    def ftd_rejections(self, n: int = SHOW_ROWS) -> pd.DataFrame:
        rejected = self.feed.rejected if self.feed else []
        return pd.DataFrame(rejected, columns=["offer_id", "code", "message"]).head(n)

    def excluded_reasons(self) -> pd.DataFrame:
        if self.build is None or self.build.excluded.empty:
            return pd.DataFrame(columns=["reason", "lines"])
        counts = self.build.excluded["reason"].value_counts().rename_axis("reason")
        return counts.rename("lines").reset_index()

    def largest_changes(self, n: int = SHOW_ROWS) -> pd.DataFrame:
        return self.changes.head(n).reset_index(drop=True)

    def quota_table(self) -> pd.DataFrame:
        q = self.quota
        stock, age = self.stock, self.staleness
        rows = [
            ("Komet calls this cycle", self.komet_calls_cycle),
            ("Komet calls today (UTC)", self.komet_calls_today),
            ("daily quota", q.daily_quota if q else None),
            ("the kit's share of it", q.share if q else None),
            ("share of the day's budget used, %", self.counters().get("quota_share_used_pct")),
            ("held back for orders", q.reserve_for_orders if q else None),
            ("a full read every cycle costs a day", q.inventory_calls_per_day if q else None),
            ("every line read about every N minutes", q.full_every_minutes if q else None),
            ("read this cycle", stock.mode if stock else None),
            ("slices read (calls)",
             f"{len(stock.slices_read)} ({stock.slice_calls})" if stock else None),
            ("sold lines read again (calls)",
             f"{stock.lines_refreshed} ({stock.get_calls})" if stock else None),
            ("offer age, minutes: median / p95 / max",
             f"{age['median']:.0f} / {age['p95']:.0f} / {age['max']:.0f}" if age else None),
        ]  # fmt: skip
        return pd.DataFrame(rows, columns=["quota", "value"]).set_index("quota")

    def headline(self) -> str:
        """The run's first line: orders, inventory, feed and Komet calls (see runs.headline)."""
        c = self.counters()
        inventory = ""
        if self.build is not None:
            inventory = f"{c['lines_read']} lines read, {c['offers']} offers built, {c['rejected']} bad rows"
        parts = [
            f"profile {self.profile}",
            "DRY RUN" if self.dry_run else "",
            orders_part(c),
            inventory,
            feed_part(c),
            staleness_part(c),
            calls_part(c),
        ]
        return " | ".join(p for p in parts if p)


def read_inventory_count(store: Store, profile: Profile) -> int:
    return int(store.get(profile.name, "inventory.last_total", MAX_PAGE_SIZE) or MAX_PAGE_SIZE)


def staleness_summary(minutes: pd.Series) -> dict[str, float]:
    """Median, 95th percentile and max of the offers' ages (minutes); {} without offers."""
    if minutes.empty:
        return {}
    return {
        "median": float(minutes.median()),
        "p95": float(minutes.quantile(0.95)),
        "max": float(minutes.max()),
    }


def run_cycle(
    profile: Profile,
    store: Store,
    clients: Clients,
    *,
    dry_run: bool = False,
    run_id: str | None = None,
    now: datetime | None = None,
    record: Callable[[dict[str, Any]], object] | None = None,
) -> CycleReport:
    """One cycle: orders first (they come first in the quota), then inventory to FTD.

    `record` receives the cycle's counters at its end, also when the inventory half raised."""
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    report = CycleReport(profile.name, now, dry_run)
    calls_before = clients.calls.today()

    from .orders import process_orders  # the order pipeline (issue "Orders")

    report.orders = process_orders(profile, store, clients, dry_run=dry_run, run_id=run_id, now=now)

    plan = plan_quota(profile, read_inventory_count(store, profile))
    report.quota = plan
    if plan.warning:
        report.notes.append(plan.warning)
    try:
        orders = report.orders
        budget = cycle_budget(
            profile, store, now=now, spent_before=calls_before, spent=clients.calls.today()
        )
        report.budget = budget
        # Everything when the quota allows it, else a slice (offers/stock.py); either way the
        # view of every line, each with its age. The lines FTD just sold are read first.
        stock = refresh_stock(
            clients.komet, profile, store, budget, now=now,
            sold=orders.sold_offers() if orders is not None else {},
            komet_available=orders.komet_available() if orders is not None else {},
            spent=clients.calls.today,
        )  # fmt: skip
        report.stock = stock
        report.notes.extend(stock.notes)
        save_credit(profile, store, budget, now)
        if stock.view is not None:
            items = stock.view  # [inventory] source, every line with its `refreshed_at`
            store.put(profile.name, "inventory.last_total", len(items))
            shadow = orders.shadow_stock() if orders is not None else {}
            report.build = build_offers(
                items,
                profile.sync,
                shadow=with_holdback(shadow, store, profile, items, now),
                today=now,
            )
            ages = staleness_minutes(items, report.build.offers["offer_id"], now)
            report.staleness = staleness_summary(ages)
            state = FeedState(store, profile.name)
            feed_plan = plan_feed(report.build.offers, state, profile, now)
            report.changes = feed_plan.changes
            report.feed = publish_feed(
                feed_plan, clients.ftd, state, profile, run_id=run_id, dry_run=dry_run, now=now
            )

        report.komet_calls_today = clients.calls.today()
        report.komet_calls_cycle = report.komet_calls_today - calls_before
        report.seconds = time.perf_counter() - started
    finally:
        # Recorded even when the inventory half fails: the orders of this cycle happened.
        if record is not None:
            record(report.counters())
    return report


def run_sync(
    profile_name: str, *, dry_run: bool = False, run_id: str | None = None, home: Home | None = None
) -> CycleReport:
    """What the sync notebook calls: open the store and clients (secrets resolved here, inside the
    kernel), run one cycle, record its counters against the run.

    The notebook is an entry point: without `home`, the home comes from the environment (a
    notebook opened in `<home>/notebooks/` finds it). Without `run_id` the notebook was not
    started by the runner, so the cycle runs under the profile's lock here and is recorded as
    a `manual` run (`runs.manual`); when another run holds the lock, nothing runs.
    """
    home = home if home is not None else Home.from_environment()
    if run_id:
        return _sync(home, profile_name, dry_run, run_id)
    from .runs.manual import NOT_APPLIED, manual_run

    with manual_run(home, profile_name) as run:
        if run.skipped is not None:
            report = CycleReport(profile_name, datetime.now(UTC), dry_run)
            report.notes.append(f"skipped, nothing ran: {run.skipped}")
            return report
        report = _sync(home, profile_name, dry_run, run.run_id)
    report.notes.append(NOT_APPLIED)
    return report


def _sync(home: Home, profile_name: str, dry_run: bool, run_id: str) -> CycleReport:
    from .runs.index import record_counters
    from .state.witness import refuse_if_older

    profile = load_profile(profile_name, home)
    with home.open_store() as store, open_clients(profile, store, home) as clients:
        # Before anything reaches Komet: is this database older than its home? (exit 78)
        refuse_if_older(
            store,
            home.runs_dir,
            profile=profile.name,
            ftd=None if dry_run else clients.ftd,
            exclude_run=run_id,
        )
        report = run_cycle(
            profile,
            store,
            clients,
            dry_run=dry_run,
            run_id=run_id,
            record=lambda counters: record_counters(store, run_id, counters),
        )
    if report.orders is not None:
        # Last, after the feed went out and the counters were recorded: orders held back by
        # a failing service make the run exit 75, so the scheduler and a reader both see it.
        report.orders.raise_if_held_back()
    return report
