"""Komet's daily request quota (1,000 calls per paid user, shared by all the company's tokens).

The kit spends at most its share of the quota (`[komet] quota_share_pct`, default 80: other
tokens use the rest), holds back a share for orders (`[sync] order_reserve_pct`), and spreads the
rest over the day: each cycle may spend the budget left divided by the cycles left today, less
what this cycle's orders took, so the day ends near the share, not at it by noon. What a cycle
does not spend carries over (`credit`), so a slice of several pages is read once enough has
accrued. Orders come first in every cycle; inventory never spends what the rest of the day's
orders are owed (`held`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from ..settings.profiles import Profile
from ..state.store import Store

CREDIT_KEY = "quota.credit"  # {"day": "YYYY-MM-DD", "credit": calls}: carried between cycles


def kit_share(profile: Profile) -> int:
    """The calls a day this kit may spend: its share of the company's quota."""
    return math.floor(profile.daily_quota * profile.komet_quota_share_pct / 100)


def order_reserve(profile: Profile) -> int:
    """The calls a day held back for orders (never more than the kit's share)."""
    reserve = math.ceil(profile.daily_quota * profile.sync.order_reserve_pct / 100)
    return min(reserve, kit_share(profile))


def cycles_per_day(profile: Profile) -> int:
    return max(1, 1440 // max(1, profile.sync.every_minutes))


@dataclass(frozen=True)
class QuotaPlan:
    """What a day of cycles costs for this inventory size, against the kit's share."""

    daily_quota: int
    share: int  # the kit's share of the quota
    reserve_for_orders: int
    pages_per_refresh: int
    cycles_per_day: int
    every_minutes: int

    @property
    def inventory_budget(self) -> int:
        return max(0, self.share - self.reserve_for_orders)

    @property
    def inventory_calls_per_day(self) -> int:
        """A full read every cycle."""
        return self.pages_per_refresh * self.cycles_per_day

    @property
    def full_every_minutes(self) -> int:
        """How often the budget reads every line once (every cycle when it affords that)."""
        if self.inventory_calls_per_day <= self.inventory_budget:
            return self.every_minutes
        return math.ceil(1440 * self.pages_per_refresh / max(1, self.inventory_budget))

    @property
    def warning(self) -> str | None:
        if self.inventory_calls_per_day <= self.inventory_budget:
            return None
        return (
            f"a full read every cycle would cost {self.inventory_calls_per_day} inventory calls "
            f"a day ({self.pages_per_refresh} pages x {self.cycles_per_day} cycles) but only "
            f"{self.inventory_budget} of the kit's {self.share} (of {self.daily_quota}) are left "
            f"after holding {self.reserve_for_orders} for orders: inventory is read in slices, "
            f"every line about every {self.full_every_minutes} minutes, lines that just sold at "
            f"once. Add paid users (komet.paid_users) or raise sync.every_minutes."
        )

    def describe(self) -> str:
        return (
            f"{self.pages_per_refresh} page(s) per full read x {self.cycles_per_day} cycles = "
            f"{self.inventory_calls_per_day} calls/day; the kit's share {self.share} of "
            f"{self.daily_quota}, {self.reserve_for_orders} held for orders: every line read "
            f"about every {self.full_every_minutes} minutes"
        )


def plan_quota(profile: Profile, inventory_lines: int, page_size: int | None = None) -> QuotaPlan:
    """What a day of cycles costs for this inventory size, page size, cadence and users.

    The page size is the profile's `max_rows` switch (the client pages with it), so an account
    that serves 5,000 rows a page costs a tenth of the hardest reading's calls.
    """
    page_size = page_size or profile.komet_page_rows
    pages = max(1, math.ceil(max(inventory_lines, 1) / page_size))
    return QuotaPlan(
        daily_quota=profile.daily_quota,
        share=kit_share(profile),
        reserve_for_orders=order_reserve(profile),
        pages_per_refresh=pages,
        cycles_per_day=cycles_per_day(profile),
        every_minutes=max(1, profile.sync.every_minutes),
    )


@dataclass
class CycleBudget:
    """What this cycle may spend on inventory, after its orders ran.

    `spent` moves as the cycle spends (`charge`); `credit` is what the even pace allows this
    cycle plus what earlier cycles of the day left unspent, less what was spent since.
    """

    share: int
    reserve: int
    cycles_per_day: int
    cycles_left: int  # this cycle included
    spent_before: int  # Komet calls today when the cycle began
    spent: int  # Komet calls today now
    credit: float

    @property
    def held(self) -> float:
        """The orders' reserve for the rest of the day, this cycle included: inventory never
        spends it. What orders leave of a cycle's part is spent by later cycles."""
        return self.reserve * self.cycles_left / self.cycles_per_day

    @property
    def left(self) -> float:
        """What inventory may still spend today without touching the orders' reserve."""
        return self.share - self.spent - self.held

    def affords(self, calls: int, *, from_credit: bool = True) -> bool:
        """`calls` more fit within the share and the reserve (and the credit, unless a read
        the cycle cannot do without, like the first one, is asked)."""
        fits = calls <= self.left
        return fits and (not from_credit or calls <= self.credit)

    def charge(self, calls: int, *, from_credit: bool = True) -> None:
        self.spent += calls
        if from_credit:
            self.credit -= calls

    @property
    def used_pct(self) -> float:
        """Share of the day's budget (the kit's share) spent so far."""
        return 100.0 * self.spent / max(1, self.share)


def cycle_budget(
    profile: Profile, store: Store, *, now: datetime, spent_before: int, spent: int
) -> CycleBudget:
    """This cycle's allowance: the budget left over the cycles left, less this cycle's orders,
    plus the credit carried from earlier cycles of the same day (at most the budget left)."""
    per_day = cycles_per_day(profile)
    every = max(1, profile.sync.every_minutes)
    left_cycles = max(1, per_day - (now.hour * 60 + now.minute) // every)
    share = kit_share(profile)
    day = now.date().isoformat()
    stored = store.get(profile.name, CREDIT_KEY) or {}
    carried = float(stored.get("credit", 0.0)) if stored.get("day") == day else 0.0
    pace = max(0.0, (share - spent_before) / left_cycles)
    budget = CycleBudget(
        share=share,
        reserve=order_reserve(profile),
        cycles_per_day=per_day,
        cycles_left=left_cycles,
        spent_before=spent_before,
        spent=spent,
        credit=0.0,
    )
    budget.credit = min(max(0.0, budget.left), carried + pace - (spent - spent_before))
    return budget


def save_credit(profile: Profile, store: Store, budget: CycleBudget, now: datetime) -> None:
    store.put(profile.name, CREDIT_KEY, {"day": now.date().isoformat(), "credit": budget.credit})
