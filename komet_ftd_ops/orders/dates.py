"""Which date an FTD order can ship on: the wholesaler's cutoff and the offers' windows.

FTD's wholesale store ships next day for orders placed before 2 pm Eastern. So an order placed
at `created_at` can ship, at the earliest, on the next day (local date, in the profile's time
zone) when it was placed before the cutoff, else on the day after. An order whose requested ship
date is earlier than that is past the cutoff; a line whose offer is not available on that date
(Komet's `availableFrom`..`availableTo`) is outside its window.

The profile's `[shipping] late_rule` decides what happens then, never silently:

- `reject`: those lines go back to FTD rejected, `PAST_CUTOFF` (every line, the order is late)
  or `OUTSIDE_WINDOW` (that line); the other lines ship on the requested date;
- `next_day`: the WHOLE order ships on the first date from the earliest possible one that every
  line's window holds, and the acknowledgement says so (`ship_date`). When no date fits every
  line, the lines that cannot ship on the earliest possible date are rejected OUTSIDE_WINDOW.

Pure functions of their arguments: no clock is read here, so tests can cross the cutoff.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ..settings.profiles import ShippingRules

PAST_CUTOFF = "PAST_CUTOFF"
OUTSIDE_WINDOW = "OUTSIDE_WINDOW"

Window = tuple[date, date]  # an offer's availableFrom..availableTo, both days included


@dataclass(frozen=True)
class DateDecision:
    ship_date: date | None  # what goes to Komet; None when no line ships
    rejected: dict[str, str] = field(default_factory=dict)  # line_id -> reason code
    moved: bool = False  # the whole order ships later than FTD asked
    note: str = ""  # one line for the run, empty when nothing was decided

    def reason(self, line_id: str) -> str | None:
        return self.rejected.get(line_id)


def cutoff_time(rules: ShippingRules) -> time:
    hours, minutes = rules.cutoff.split(":")
    return time(int(hours), int(minutes))


def earliest_ship_date(created_at: datetime, rules: ShippingRules) -> date:
    """The first date an order placed at `created_at` (aware) can ship on."""
    local = created_at.astimezone(ZoneInfo(rules.time_zone))
    days = 1 if local.time() < cutoff_time(rules) else 2
    return local.date() + timedelta(days=days)


def _fits(window: Window | None, day: date) -> bool:
    return window is None or window[0] <= day <= window[1]


def decide(
    requested: date,
    created_at: datetime,
    windows: Mapping[str, Window | None],
    rules: ShippingRules,
) -> DateDecision:
    """The ship date for an order, per line id (`windows`: None = no window known)."""
    earliest = earliest_ship_date(created_at, rules)
    late = requested < earliest
    outside = [line for line, window in windows.items() if not _fits(window, requested)]
    if not late and not outside:
        return DateDecision(requested)
    placed = created_at.astimezone(ZoneInfo(rules.time_zone))
    why = (
        f"placed {placed:%Y-%m-%d %H:%M} {rules.time_zone} (cutoff {rules.cutoff}), so the "
        f"earliest ship date is {earliest}, not {requested}"
        if late
        else f"offer of line(s) {', '.join(outside)} not available on {requested}"
    )
    if rules.late_rule == "next_day":
        return _next_day(requested, max(requested, earliest), windows, why)
    if late:
        every = {line: PAST_CUTOFF for line in windows}
        return DateDecision(None, every, note=f"rejected: {why}")
    rejected = {line: OUTSIDE_WINDOW for line in outside}
    ships = requested if len(rejected) < len(windows) else None
    return DateDecision(ships, rejected, note=f"rejected: {why}")


def _next_day(
    requested: date, start: date, windows: Mapping[str, Window | None], why: str
) -> DateDecision:
    known = [w for w in windows.values() if w is not None]
    first = max([start, *(w[0] for w in known)])
    last = min((w[1] for w in known), default=first)
    if first <= last:
        moved = first != requested
        note = f"ships {first} instead of {requested}: {why}" if moved else ""
        return DateDecision(first, moved=moved, note=note)
    # No one date holds every line: ship what can go on the earliest date, reject the rest.
    rejected = {line: OUTSIDE_WINDOW for line, w in windows.items() if not _fits(w, start)}
    if len(rejected) == len(windows):
        return DateDecision(None, rejected, note=f"rejected: no date fits ({why})")
    note = f"ships {start} instead of {requested}, rejected {', '.join(rejected)}: {why}"
    return DateDecision(start, rejected, moved=start != requested, note=note)
