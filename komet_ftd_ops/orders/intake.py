"""FTD orders into the ledger: the listing since the stored high watermark, minus an overlap.

The watermark is the server's (`high_watermark`), never the local clock, and it is stored in the
same transaction that records the orders it covers: a crash before that commit re-reads them,
and re-reading is harmless because orders are keyed by `order_id` and versions only go up.
Listings may repeat orders and replay older versions (FTD is eventually consistent); anything
not newer than what the ledger holds is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ..ftd import FtdClient, OrdersBatch
from ..ftd.models import CANCEL_REQUESTED, NEW, FtdOrder, OrderLine
from ..http.formats import as_stamp, rfc3339
from ..state.store import Store
from .ledger import (
    ACKNOWLEDGED,
    CANCEL_REVIEW,
    CANCELLED,
    CONFIRMED,
    FOREIGN,
    RECEIVED,
    REJECTED,
    OrderLedger,
)

WATERMARK_KEY = "orders.high_watermark"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class Intake:
    """What one listing brought in."""

    received: list[str] = field(default_factory=list)  # new orders recorded
    cancel_requests: list[str] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)  # recorded and parked: unusable lines
    ignored: int = 0  # duplicates, stale versions, other suppliers' history
    listed: int = 0
    new_orders: list[FtdOrder] = field(default_factory=list)  # dry run: what would enter
    high_watermark: str | None = None


def listing_start(watermark: str | None, overlap_seconds: int) -> str | None:
    """Where to re-read from: the watermark minus the overlap (None: from the beginning)."""
    start = as_stamp(watermark)
    if start is None:
        return None
    return rfc3339(start - timedelta(seconds=max(0, overlap_seconds)), micro=True)


def _came(line: OrderLine, name: str) -> str:
    """What FTD sent for a field the record could not read."""
    return next((u.raw for u in line.unreadable if u.field.endswith(name)), "missing")


def order_lines(order: FtdOrder) -> list[dict[str, Any]]:
    """The lines the ledger keeps; ValueError when a line cannot be used as it is."""
    if not order.lines:
        raise ValueError("the order has no lines")
    lines, seen = [], set()
    for line in order.lines:
        line_id = line.line_id
        if not line_id or line_id in seen:
            raise ValueError(f"line id {line_id!r} is missing or repeated")
        if line.boxes is None or line.boxes < 1:
            boxes = _came(line, "boxes") if line.boxes is None else line.boxes
            raise ValueError(f"line {line_id}: boxes {boxes} is not a whole number >= 1")
        if line.price_per_unit is None:
            raise ValueError(f"line {line_id}: not a price: {_came(line, 'price_per_unit')}")
        seen.add(line_id)
        lines.append(
            {
                "line_id": line_id,
                "offer_id": line.offer_id,
                "boxes": line.boxes,
                "price": str(line.price_per_unit),  # the exact decimal FTD sent ("0.42")
            }
        )
    return lines


def _usable_lines(order: FtdOrder) -> list[dict[str, Any]]:
    """`order_lines`, for an order that also says when it ships."""
    if order.requested_ship_date is None:
        came = next(
            (u.raw for u in order.unreadable if u.field == "requested_ship_date"), "missing"
        )
        raise ValueError(f"requested_ship_date {came} is not a date")
    return order_lines(order)


def _record_one(ledger: OrderLedger, order: FtdOrder, now: datetime, out: Intake) -> None:
    order_id, status, version = order.order_id, order.status, order.version
    known = ledger.order(order_id)
    if known is None:
        if status == NEW:
            try:
                lines = _usable_lines(order)
            except ValueError as exc:
                # Keep it (never drop an order) with no lines, parked for a person.
                ledger.receive(order, [], now)
                ledger.park(order_id, "bad_order", str(exc), retry=False, now=now)
                out.malformed.append(order_id)
                return
            ledger.receive(order, lines, now)
            out.received.append(order_id)
        elif status == CANCEL_REQUESTED:
            ledger.receive(order, [], now, state=FOREIGN)
            ledger.park(
                order_id,
                "unknown_order",
                "a cancellation for an order this ledger never received",
                retry=False,
                now=now,
            )
            out.cancel_requests.append(order_id)
        else:
            out.ignored += 1  # history from before this ledger, or not ours to act on
        return
    if version <= known.ftd_version:
        out.ignored += 1  # a repeat or an older version replayed by the listing
        return
    values: dict[str, Any] = {"ftd_version": version, "ftd_status": status}
    event = f"ftd {status} v{version}"
    if status == CANCEL_REQUESTED and known.state not in (REJECTED, CANCELLED):
        values["cancel_version"] = version
        event = "cancel requested"
        out.cancel_requests.append(order_id)
    elif known.cancel_asked and status in ("ACKNOWLEDGED", "CONFIRMED"):
        # The cancellation was declined on FTD's side: back to following the invoice.
        values["cancel_version"] = None
        event = f"cancel withdrawn ({status})"
        if known.state == CANCEL_REVIEW:
            values.update(state=ACKNOWLEDGED if status == "ACKNOWLEDGED" else CONFIRMED)
            values.update(park_reason=None, park_detail=None, park_retry=0, parked_at=None)
    ledger.update(order_id, now, event=event, **values)


def fetch(ftd: FtdClient, store: Store, profile: str, overlap_seconds: int) -> OrdersBatch:
    """One listing (all pages) from the stored watermark minus the overlap."""
    watermark = store.get(profile, WATERMARK_KEY)
    return ftd.fetch_orders(updated_after=listing_start(watermark, overlap_seconds))


def _sorted(orders: list[FtdOrder]) -> list[FtdOrder]:
    return sorted(orders, key=lambda o: (o.updated_at or EPOCH, o.order_id))


def record(ledger: OrderLedger, batch: OrdersBatch, now: datetime) -> Intake:
    """Record a listing's orders and its watermark in ONE transaction."""
    out = Intake(listed=len(batch.orders), high_watermark=batch.high_watermark)
    with ledger.store.atomic():
        for order in _sorted(batch.orders):
            _record_one(ledger, order, now, out)
        if batch.high_watermark:
            ledger.store.put(ledger.profile, WATERMARK_KEY, batch.high_watermark)
    return out


def preview(ledger: OrderLedger, batch: OrdersBatch) -> Intake:
    """Dry run: what `record` would do, writing nothing."""
    out = Intake(listed=len(batch.orders), high_watermark=batch.high_watermark)
    for order in _sorted(batch.orders):
        known = ledger.order(order.order_id)
        if known is None and order.status == NEW:
            out.received.append(order.order_id)
            out.new_orders.append(order)
        elif order.status == CANCEL_REQUESTED and (
            known is None or order.version > known.ftd_version
        ):
            out.cancel_requests.append(order.order_id)
        else:
            out.ignored += 1
    return out


__all__ = ["RECEIVED", "Intake", "fetch", "listing_start", "order_lines", "preview", "record"]
