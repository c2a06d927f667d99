"""One line per cycle, read at a glance: from the counters a cycle records in its run row.

The same words in the run notebook's first output, the schedule's log line, `run sync --dry-run`
and the runs page, so an operator learns them once:

    orders: 5 received, 4 invoiced, 4 acknowledged, 2 confirmed, 0 rejected, 1 parked | delta
    feed: 12 published, 3 withdrawn, 0 rejected by FTD | offer age, min: median 4, p95 88, max
    117 | Komet calls 9 this cycle, 310 today, 41% of the kit's share

It works from the plain counters dict (not `CycleReport`), so the scheduler and the runs page,
which only have the run index, need neither pandas nor the cycle's objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The order counts in the order an order moves through them; parked last, where the eye lands.
ORDER_COUNTS = (
    ("orders_received", "received"),
    ("orders_invoiced", "invoiced"),
    ("orders_acknowledged", "acknowledged"),
    ("orders_confirmed", "confirmed"),
    ("orders_rejected", "rejected"),
    ("orders_parked", "parked"),
)


def _n(counters: Mapping[str, Any], key: str) -> int:
    value = counters.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def orders_part(counters: Mapping[str, Any]) -> str:
    """'orders: 5 received, ... 1 parked' (every count, zeros too: a zero is information)."""
    if not any(key in counters for key, _ in ORDER_COUNTS):
        return ""
    text = "orders: " + ", ".join(f"{_n(counters, key)} {word}" for key, word in ORDER_COUNTS)
    extra = [
        (_n(counters, "lines_rejected"), "lines rejected"),
        (_n(counters, "orders_cancelled"), "cancelled"),
    ]
    return text + "".join(f", {n} {word}" for n, word in extra if n)


def feed_part(counters: Mapping[str, Any]) -> str:
    """'delta feed: 12 published, ...'; in a dry run what it would publish."""
    kind = counters.get("feed_kind")
    if not kind:
        if counters.get("inventory_refreshed") is False:
            return "feed: none (inventory not refreshed this cycle)"
        return ""
    verb = "would publish" if counters.get("dry_run") is True else "published"
    withdrawn = "to withdraw" if counters.get("dry_run") is True else "withdrawn"
    reason = f" ({counters['feed_reason']})" if counters.get("feed_reason") else ""
    return (
        f"{kind} feed{reason}: {_n(counters, 'offers_published')} {verb}, "
        f"{_n(counters, 'offers_withdrawn')} {withdrawn}, "
        f"{_n(counters, 'offers_rejected_by_ftd')} rejected by FTD"
    )


def staleness_part(counters: Mapping[str, Any]) -> str:
    """'offer age, min: median 4, p95 88, max 117': how old the Komet reads behind what FTD
    lists are (with slices in rotation some are older than the cycle); '' without offers."""
    ages = [counters.get(f"offer_staleness_{k}_min") for k in ("median", "p95", "max")]
    if not all(isinstance(a, int | float) and not isinstance(a, bool) for a in ages):
        return ""
    median, p95, most = (round(float(a)) for a in ages)  # type: ignore[arg-type]
    return f"offer age, min: median {median}, p95 {p95}, max {most}"


def calls_part(counters: Mapping[str, Any]) -> str:
    """'Komet calls 9 this cycle, 310 today, 41% of the kit's share' (the share: when known)."""
    if "komet_calls_cycle" not in counters:
        return ""
    text = (
        f"Komet calls {_n(counters, 'komet_calls_cycle')} this cycle, "
        f"{_n(counters, 'komet_calls_today')} today"
    )
    used = counters.get("quota_share_used_pct")
    if isinstance(used, int | float) and not isinstance(used, bool):
        text += f", {used:.0f}% of the kit's share"
    return text


def headline(counters: Mapping[str, Any]) -> str:
    """The whole line; '' when the counters hold nothing a cycle writes (a notebook of its own)."""
    parts = [
        orders_part(counters),
        feed_part(counters),
        staleness_part(counters),
        calls_part(counters),
    ]
    text = " | ".join(p for p in parts if p)
    return f"DRY RUN | {text}" if text and counters.get("dry_run") is True else text


def problems(counters: Mapping[str, Any]) -> list[str]:
    """What in a finished cycle needs a person even though the run itself succeeded."""
    found = []
    if parked := _n(counters, "orders_parked"):
        found.append(f"{parked} order(s) parked")
    if rejected := _n(counters, "offers_rejected_by_ftd"):
        found.append(f"{rejected} offer(s) rejected by FTD")
    return found
