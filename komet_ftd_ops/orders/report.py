"""What one cycle of the order pipeline did, in the shape `sync.py` and the notebook read.

Tables are built when the cycle ends (the store is closed by the time a notebook shows them)
and stay small: the orders this cycle touched, and every order still parked. Each order shows
where it ships, as the kit decided once before its web order (`orders/shipping.py`): the
florist, the Komet ship-to (`ship_to_how`: code | address | created | default), the carrier and
the ship date Komet got (`ships_on`: later than `ship_date`, FTD's, when the order was moved).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import pandas as pd

from ..errors import ServiceUnavailable
from ..ftd.models import FtdOrder
from .ledger import ADDED, LINE_REJECTED, Line, Order, OrderLedger
from .orphans import COLUMNS as ORPHAN_COLUMNS
from .orphans import OrphanHeaders
from .shipping import Shipping, decisions

ORDER_COLUMNS = [
    "order_id",
    "order_number",
    "ship_date",
    "florist",
    "ship_to_id",
    "ship_to_how",
    "carrier",
    "ships_on",
    "state",
    "web_order_id",
    "invoice_number",
    "invoice_found_by",
    "fee",
    "lines",
    "boxes_ordered",
    "boxes_accepted",
    "lines_rejected",
    "parked",
]
PARKED_COLUMNS = ["order_id", "order_number", "state", "reason", "detail", "retries", "since"]


DEFAULT_FEE_PCT = 1.5  # Komet's page: orders placed through web orders carry a 1.5% fee
CENT = Decimal("0.01")


def order_fee(order: Order, lines: Sequence[Line], fee_pct: float) -> Decimal | None:
    """The transaction fee of an order's web order: Komet's `additionalCharges` when read back,
    else the documented rate on the accepted lines; None before anything was accepted."""
    if order.fee is not None:
        return Decimal(order.fee)
    accepted = [x for x in lines if x.state == ADDED]
    if not accepted or not order.web_order_id:
        return None
    units = {
        str(x.get("line_id")): x.get("units_per_box") for x in order.ftd_body().get("lines", [])
    }
    subtotal = sum(
        (
            x.decimal_price * (x.qty_sent or x.boxes) * int(units.get(x.line_id) or 1)
            for x in accepted
        ),
        Decimal("0"),
    )
    return (subtotal * Decimal(str(fee_pct)) / 100).quantize(CENT)


def _where_it_ships(decided: Shipping | None) -> dict[str, Any]:
    """The order table's shipping columns; empty before the kit decided (or for an order
    decided before decisions were recorded)."""
    if decided is None:
        return dict.fromkeys(("florist", "ship_to_id", "ship_to_how", "carrier", "ships_on"))
    return {
        "florist": decided.florist or None,
        "ship_to_id": decided.ship_to_id,
        "ship_to_how": decided.ship_to_how,
        "carrier": decided.carrier_name or decided.carrier_id,
        "ships_on": decided.ship_date,
    }


@dataclass
class OrdersReport:
    profile: str
    dry_run: bool = False
    received: int = 0
    invoiced: int = 0
    acknowledged: int = 0  # acknowledgements FTD took (every-line rejections included)
    rejected: int = 0  # of which every line was rejected
    confirmed: int = 0
    lines_rejected: int = 0
    cancel_requests: int = 0
    cancelled: int = 0
    parked: int = 0  # orders parked now (this cycle or earlier)
    komet_order_calls: int = 0
    orphan_headers: int = 0  # bare Komet headers lost creates may have left (for the sales rep)
    fee_total: Decimal = Decimal("0.00")  # Komet's transaction fee on the orders in the table
    found_by: dict[str, int] = field(default_factory=dict)  # how their invoices were found
    notes: list[str] = field(default_factory=list)
    held_back: dict[str, str] = field(default_factory=dict)  # order -> service failure reason
    troubles: list[str] = field(default_factory=list)  # whole-cycle reads that failed
    _shadow: dict[str, int] = field(default_factory=dict)
    _sold: dict[str, int] = field(default_factory=dict)  # offer -> boxes FTD sold this cycle
    _available: dict[str, int] = field(default_factory=dict)  # offer -> Komet's availableBoxes
    _orders: list[dict[str, Any]] = field(default_factory=list)  # rows, framed when asked
    _parked: list[dict[str, Any]] = field(default_factory=list)
    _orphans: list[dict[str, Any]] = field(default_factory=list)
    # The pipeline's workers report at once: every change during a cycle goes through a method
    # holding this (never held across anything else; see orders/cycle.py).
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        """Add to counters (`report.add(invoiced=1)`): a worker's `+=` could lose another's."""
        with self._lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)

    def note(self, text: str) -> None:
        with self._lock:
            if text not in self.notes:
                self.notes.append(text)

    def hold(self, order_id: str, reason: str) -> None:
        """The order waits for the next cycle because a service failed, not for a person."""
        with self._lock:
            self.held_back[order_id] = reason

    def trouble(self, text: str) -> None:
        with self._lock:
            if text not in self.troubles:
                self.troubles.append(text)

    def raise_if_held_back(self) -> None:
        """Make the run exit 75 (upstream) when a service failure held orders back.

        Called at the very end of a cycle, once the feed is published and counters recorded:
        the cycle did its best, but the scheduler and a person reading exit codes must see
        that it was not a clean one.
        """
        if not self.held_back and not self.troubles:
            return
        reasons = sorted(set(self.held_back.values()))
        parts = [f"{len(self.held_back)} orders held back for the next cycle"] if reasons else []
        if reasons:
            parts[0] += f" ({', '.join(reasons)})"
        parts += self.troubles
        raise ServiceUnavailable("order pipeline: " + "; ".join(parts))

    def counters(self) -> dict[str, Any]:
        return {
            "orders_received": self.received,
            "orders_invoiced": self.invoiced,
            "orders_acknowledged": self.acknowledged,
            "orders_rejected": self.rejected,
            "orders_confirmed": self.confirmed,
            "lines_rejected": self.lines_rejected,
            "orders_cancel_requests": self.cancel_requests,
            "orders_cancelled": self.cancelled,
            "orders_parked": self.parked,
            "komet_order_calls": self.komet_order_calls,
            "orders_held_back": len(self.held_back),
            "orphan_headers": self.orphan_headers,
            "orders_fee_total": float(self.fee_total),
        }

    def sold(self, offer_id: str, boxes: int) -> None:
        """An FTD order this cycle took `boxes` of the offer (intake records each new order)."""
        with self._lock:
            self._sold[offer_id] = self._sold.get(offer_id, 0) + boxes

    def not_available(self, offer_id: str, available_boxes: int) -> None:
        """Komet answered "Item is not available" with `availableBoxes` for the offer; the
        latest answer of the cycle wins (it is the freshest count Komet gave)."""
        self._available[offer_id] = available_boxes

    def sold_offers(self) -> dict[str, int]:
        """Boxes per offer_id the FTD orders received this cycle took: the lines that just
        sold, which the stock refresh reads again at once (sync.py)."""
        with self._lock:
            return dict(self._sold)

    def komet_available(self) -> dict[str, int]:
        """offer_id -> Komet's `availableBoxes` from this cycle's "Item is not available"
        answers: a count fresher than the last snapshot of the offer."""
        with self._lock:
            return dict(self._available)

    def shadow_stock(self) -> dict[str, int]:
        """Boxes sold on FTD not yet in a Komet web order, per offer: the next feed lowers these."""
        return dict(self._shadow)

    def orders_table(self) -> pd.DataFrame:
        """Each FTD order this cycle touched, with its Komet web order, invoice and state."""
        return pd.DataFrame(self._orders, columns=ORDER_COLUMNS)

    def parked_table(self) -> pd.DataFrame:
        """Every order parked now, with its reason and whether later cycles retry it alone."""
        return pd.DataFrame(self._parked, columns=PARKED_COLUMNS)

    def orphans_table(self) -> pd.DataFrame:
        """Empty Komet headers lost creates may have left: the sales rep may delete them."""
        return pd.DataFrame(self._orphans, columns=ORPHAN_COLUMNS)

    def fee_note(self) -> str:
        """One line for the run: the fee the wholesaler pays, and how invoices were found."""
        ways = ", ".join(f"{n} by {how}" for how, n in sorted(self.found_by.items()))
        text = f"Komet transaction fee on these orders: {self.fee_total:.2f}"
        return text + (f"; invoices found {ways}" if ways else "")

    def finish(
        self,
        ledger: OrderLedger,
        order_ids: Iterable[str],
        today: date,
        fee_pct: float = DEFAULT_FEE_PCT,
    ) -> None:
        """Freeze the tables from the ledger at the end of the cycle."""
        rows = []
        self.fee_total, self.found_by = Decimal("0.00"), {}
        wanted = list(dict.fromkeys(order_ids))
        shipping = decisions(ledger.store, ledger.profile, wanted)
        for order_id in wanted:
            order = ledger.order(order_id)
            if order is None:
                continue
            lines = ledger.lines(order_id)
            fee = order_fee(order, lines, fee_pct)
            self.fee_total += fee or 0
            if order.invoice_found_by:
                way = order.invoice_found_by
                self.found_by[way] = self.found_by.get(way, 0) + 1
            rows.append(
                {
                    "order_id": order.order_id,
                    "order_number": order.order_number,
                    "ship_date": order.ship_date,
                    **_where_it_ships(shipping.get(order_id)),
                    "state": order.state,
                    "web_order_id": order.web_order_id,
                    "invoice_number": order.invoice_number,
                    "invoice_found_by": order.invoice_found_by,
                    "fee": fee,
                    "lines": len(lines),
                    "boxes_ordered": sum(x.boxes for x in lines),
                    "boxes_accepted": sum(x.qty_sent or 0 for x in lines if x.state == ADDED),
                    "lines_rejected": sum(x.state == LINE_REJECTED for x in lines),
                    "parked": order.park_reason or "",
                }
            )
        self._orders = rows
        if self.fee_total or self.found_by:
            self.note(self.fee_note())
        self._parked = [
            {
                "order_id": o.order_id,
                "order_number": o.order_number,
                "state": o.state,
                "reason": o.park_reason,
                "detail": o.park_detail,
                "retries": bool(o.park_retry),
                "since": o.parked_at,
            }
            for o in ledger.parked_orders()
        ]
        self.parked = len(self._parked)
        self._shadow = ledger.shadow_stock(today)
        orphans = OrphanHeaders(ledger.store, ledger.profile).open()
        self._orphans = [{c: getattr(h, c) for c in ORPHAN_COLUMNS} for h in orphans]
        self.orphan_headers = len(self._orphans)

    def preview(self, ledger: OrderLedger, new_orders: Sequence[FtdOrder], today: date) -> None:
        """Dry run: the ledger as it is, plus what the new orders would add."""
        self.finish(ledger, [], today)
        for order in new_orders:
            if order.requested_ship_date is None or order.requested_ship_date < today:
                continue
            for line in order.lines:
                offer, boxes = line.offer_id, line.boxes or 0
                self._shadow[offer] = self._shadow.get(offer, 0) + boxes
        for order in new_orders:
            for line in order.lines:
                self.sold(line.offer_id, line.boxes or 0)
        self._orders = [
            {
                "order_id": o.order_id,
                "order_number": o.order_number,
                "ship_date": o.ship_date_text() or None,
                "state": "new (dry run)",
                "lines": len(o.lines),
                "boxes_ordered": sum(x.boxes or 0 for x in o.lines),
            }
            for o in new_orders
        ]
