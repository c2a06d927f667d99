"""Komet's daily request quota (1,000 calls per paid user, shared by all tokens).

The kit states what a day of cycles costs, warns when that exceeds the quota, and holds back a
share of the quota for orders: when the budget runs short it refreshes inventory less often
rather than ever running out of calls for orders.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from ..settings.profiles import Profile


@dataclass(frozen=True)
class QuotaPlan:
    daily_quota: int
    reserve_for_orders: int
    pages_per_refresh: int
    cycles_per_day: int
    refresh_every_cycles: int  # 1 = every cycle; 3 = every third cycle

    @property
    def inventory_calls_per_day(self) -> int:
        return self.pages_per_refresh * self.cycles_per_day

    @property
    def inventory_budget(self) -> int:
        return self.daily_quota - self.reserve_for_orders

    @property
    def warning(self) -> str | None:
        if self.inventory_calls_per_day <= self.inventory_budget:
            return None
        minutes = self.refresh_every_cycles * (1440 // self.cycles_per_day)
        return (
            f"a day of cycles would cost {self.inventory_calls_per_day} inventory calls "
            f"({self.pages_per_refresh} pages x {self.cycles_per_day} cycles) but only "
            f"{self.inventory_budget} of the {self.daily_quota} daily calls are left after "
            f"holding {self.reserve_for_orders} for orders: inventory will refresh every "
            f"{minutes} minutes instead. Add paid users (komet.paid_users) or raise sync.every_minutes."
        )

    def describe(self) -> str:
        return (
            f"{self.pages_per_refresh} page(s) per refresh x {self.cycles_per_day} cycles = "
            f"{self.inventory_calls_per_day} calls/day for inventory; quota {self.daily_quota}, "
            f"{self.reserve_for_orders} held for orders"
        )


def plan_quota(profile: Profile, inventory_lines: int, page_size: int | None = None) -> QuotaPlan:
    """What a day of cycles costs for this inventory size, page size, cadence and users.

    The page size is the profile's `max_rows` switch (the client pages with it), so an account
    that serves 5,000 rows a page costs a tenth of the hardest reading's calls.
    """
    page_size = page_size or profile.komet_page_rows
    quota = profile.daily_quota
    reserve = math.ceil(quota * profile.sync.order_reserve_pct / 100)
    pages = max(1, math.ceil(max(inventory_lines, 1) / page_size))
    cycles = max(1, 1440 // max(1, profile.sync.every_minutes))
    budget = max(1, quota - reserve)
    every = max(1, math.ceil(pages * cycles / budget))
    return QuotaPlan(quota, reserve, pages, cycles, every)


@dataclass(frozen=True)
class RefreshDecision:
    refresh: bool
    reason: str


def decide_refresh(
    plan: QuotaPlan, spent_today: int, now: datetime | None = None
) -> RefreshDecision:
    """Refresh inventory this cycle, or skip it to keep calls for orders."""
    now = now or datetime.now(UTC)
    left_for_inventory = plan.inventory_budget - spent_today
    if left_for_inventory < plan.pages_per_refresh:
        return RefreshDecision(
            False,
            f"inventory not refreshed: {spent_today} of {plan.daily_quota} Komet calls spent today "
            f"and {plan.reserve_for_orders} are held for orders",
        )
    minute_of_day = now.hour * 60 + now.minute
    cycle_index = minute_of_day // max(1, 1440 // plan.cycles_per_day)
    if plan.refresh_every_cycles > 1 and cycle_index % plan.refresh_every_cycles:
        return RefreshDecision(
            False,
            f"inventory refreshed every {plan.refresh_every_cycles} cycles to stay within the "
            f"daily quota; not this one",
        )
    return RefreshDecision(True, "")
