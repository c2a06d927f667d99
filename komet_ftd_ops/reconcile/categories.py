"""The eight categories and the rules that put each order in exactly one of them.

Rules, checked in this order for an FTD order (first match wins):

1. The order is CANCELLED (on FTD or in the ledger): no invoice, or a voided one, is `matched`;
   a live invoice is `unexpected_invoice` (Komet bills an order that no longer exists).
2. No invoice: `matched` when the buyer asked to cancel; `rejected_lines` when every line was refused for lack of stock, else
   `missing_invoice` (a pending web order, a parked order or an order the ledger never got says
   why in `detail`).
3. The invoice is voided: `voided` when FTD believes the order accepted (ACKNOWLEDGED,
   CONFIRMED, SHIPPED, or the kit has acknowledged it); `matched` when the buyer asked to
   cancel (that void is the cancellation under way); `rejected_lines` when every line was
   refused; otherwise `missing_invoice` (voided before FTD was told).
4. A value the comparison needs cannot be read (an amount, a count, the status or the ship
   date of the invoice, or a price of the FTD order): `unreadable`, with what was sent. Never
   read as 0.00, which would pose as a price mismatch.
5. Boxes, unit price (to the cent), line or invoice total (to the cent) or ship date differ
   from what the kit sent for the accepted lines: `mismatch`.
6. The invoice awaits confirmation (pending or draft) for longer than the threshold:
   `pending_too_long`.
7. Some lines were refused for lack of stock (the rest invoiced correctly): `rejected_lines`.
8. Otherwise `matched`.

A Komet invoice of the FTD customer that no order claims, with a ship date in the range and not
voided, is one `unexpected_invoice` row of its own (its unreadable values, if any, are named in
the detail). When several invoices claim one order, the order takes the first live one and the
others are unexpected.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from ..http.formats import cents
from .ledger_view import LineView, OrderView
from .sources import AWAITING_CONFIRMATION, VOIDED, Invoice, PendingWebOrder

MATCHED = "matched"
MISSING_INVOICE = "missing_invoice"
UNEXPECTED_INVOICE = "unexpected_invoice"
MISMATCH = "mismatch"
UNREADABLE = "unreadable"
PENDING_TOO_LONG = "pending_too_long"
VOIDED_CATEGORY = "voided"
REJECTED_LINES = "rejected_lines"

CATEGORIES = (
    MATCHED,
    MISSING_INVOICE,
    UNEXPECTED_INVOICE,
    MISMATCH,
    UNREADABLE,
    PENDING_TOO_LONG,
    VOIDED_CATEGORY,
    REJECTED_LINES,
)
# What a person has to act on. Rejected lines are the kit doing its job (never substitute),
# shown for review but not counted as problems.
PROBLEMS = (
    MISSING_INVOICE,
    UNEXPECTED_INVOICE,
    MISMATCH,
    UNREADABLE,
    PENDING_TOO_LONG,
    VOIDED_CATEGORY,
)
LABELS = {
    MATCHED: "FTD order and Komet invoice agree",
    MISSING_INVOICE: "FTD order without a Komet invoice",
    UNEXPECTED_INVOICE: "Komet invoice for the FTD customer without an FTD order",
    MISMATCH: "Boxes, price or total differ",
    UNREADABLE: "An amount, count or date that was sent cannot be read",
    PENDING_TOO_LONG: "Invoice pending confirmation too long",
    VOIDED_CATEGORY: "Invoice voided for an order FTD believes accepted",
    REJECTED_LINES: "Lines rejected for lack of stock",
}
FTD_ACCEPTED = frozenset({"ACKNOWLEDGED", "CONFIRMED", "SHIPPED"})


@dataclass(frozen=True)
class Finding:
    """One row of the reconciliation: an order (or an orphan invoice) and its category."""

    category: str
    detail: str
    order: OrderView | None
    invoice: Invoice | None
    ftd_status: str = ""
    expected_total: Decimal | None = None
    pending_hours: float | None = None


def expected_total(order: OrderView, invoice: Invoice | None) -> Decimal | None:
    """What Komet should bill for the accepted lines, line by line to the cent as Komet does;
    None when a price of the order cannot be read."""
    units_from_invoice = _units_per_box(invoice)
    total = Decimal("0.00")
    for line in order.lines:
        if line.rejected:
            continue
        if line.price is None:
            return None
        per_box = line.units_per_box or units_from_invoice.get(line.inventory_key) or 0
        total += cents(line.price * line.boxes_expected * per_box)
    return total


def _units_per_box(invoice: Invoice | None) -> dict[str, int]:
    if invoice is None or not invoice.lines:
        return {}
    return {
        x.inventory_key: x.units // x.boxes
        for x in invoice.lines
        if x.boxes and x.units is not None
    }


def differences(order: OrderView, invoice: Invoice) -> list[str]:
    """What differs between the lines the kit sent and the invoice, in words; [] when none."""
    found = []
    if order.ship_date and invoice.ship_date and order.ship_date != invoice.ship_date:
        found.append(f"ship date {order.ship_date} vs {invoice.ship_date}")
    if invoice.lines is not None:
        sent_boxes: dict[str, int] = defaultdict(int)
        sent_price: dict[str, Decimal] = {}
        for line in order.lines:
            if not line.rejected:
                sent_boxes[line.inventory_key] += line.boxes_expected
                if line.price is not None:
                    sent_price[line.inventory_key] = cents(line.price)
        billed_boxes: dict[str, int] = defaultdict(int)
        billed_price: dict[str, set[Decimal]] = defaultdict(set)
        for x in invoice.lines:
            # Unreadable values never get here (rule 4); `or 0` and the guard are for the types.
            billed_boxes[x.inventory_key] += x.boxes or 0
            if x.price is None or x.units is None:
                continue
            billed_price[x.inventory_key].add(x.price)
            if cents(x.price * x.units) != x.total:
                found.append(f"line {x.inventory_key}: total {x.total} is not price x units")
        for key in sorted(set(sent_boxes) | set(billed_boxes)):
            if sent_boxes.get(key, 0) != billed_boxes.get(key, 0):
                found.append(
                    f"boxes {key}: sent {sent_boxes.get(key, 0)}, billed {billed_boxes.get(key, 0)}"
                )
            prices = billed_price.get(key, set())
            if key in sent_price and prices and prices != {sent_price[key]}:
                billed = ", ".join(str(p) for p in sorted(prices))
                found.append(f"price {key}: sent {sent_price[key]}, billed {billed}")
    expected = expected_total(order, invoice)
    if expected != invoice.total:
        found.append(f"total: expected {expected}, billed {invoice.total}")
    return found


def classify(
    order: OrderView,
    invoice: Invoice | None,
    *,
    ftd_status: str,
    pending_web_order: PendingWebOrder | None,
    now: datetime,
    pending_hours: float,
) -> Finding:
    """Put one FTD order in its category (see the module docstring for the rules)."""

    def found(category: str, detail: str) -> Finding:
        total = expected_total(order, invoice) if order.lines else None
        age = invoice.age_hours(now) if invoice is not None else None
        return Finding(category, detail, order, invoice, ftd_status, total, age)

    cancelled = ftd_status == "CANCELLED" or order.cancelled
    cancel_asked = ftd_status == "CANCEL_REQUESTED" or order.cancel_asked
    refused = [line for line in order.lines if line.rejected]
    all_refused = bool(order.lines) and len(refused) == len(order.lines)
    all_refused = all_refused or ftd_status == "REJECTED" or order.rejected
    accepted = ftd_status in FTD_ACCEPTED or order.acknowledged

    if cancelled:
        if invoice is not None and invoice.status != VOIDED:
            return found(
                UNEXPECTED_INVOICE, f"FTD cancelled the order; invoice is {invoice.status_name}"
            )
        return found(MATCHED, "cancelled on FTD; nothing billed")
    if invoice is None:
        if cancel_asked:
            return found(MATCHED, "buyer asked to cancel; nothing billed (cancellation under way)")
        if all_refused:
            return found(REJECTED_LINES, _refused_text(refused) or "FTD order rejected")
        return found(MISSING_INVOICE, _why_missing(order, pending_web_order))
    if invoice.status == VOIDED:
        if cancel_asked:
            return found(MATCHED, "buyer asked to cancel; invoice voided (cancellation under way)")
        if all_refused:
            return found(REJECTED_LINES, _refused_text(refused) or "FTD order rejected")
        if accepted:
            return found(
                VOIDED_CATEGORY, f"invoice {invoice.number} voided; FTD status {ftd_status}"
            )
        return found(MISSING_INVOICE, f"invoice {invoice.number} voided before FTD was told")
    unreadable = (*invoice.unreadable, *order.unreadable)
    if unreadable:
        return found(UNREADABLE, f"invoice {invoice.number}: cannot read " + "; ".join(unreadable))
    diffs = differences(order, invoice)
    if diffs:
        return found(MISMATCH, "; ".join(diffs))
    age = invoice.age_hours(now)
    if invoice.status in AWAITING_CONFIRMATION and age is not None and age > pending_hours:
        return found(
            PENDING_TOO_LONG,
            f"{invoice.status_name} for {age:.0f} h (threshold {pending_hours:g} h)",
        )
    if refused:
        return found(REJECTED_LINES, _refused_text(refused))
    return found(MATCHED, f"invoice {invoice.number} {invoice.status_name}")


def unexpected(invoice: Invoice, now: datetime) -> Finding:
    """A live Komet invoice of the FTD customer that no FTD order claims."""
    po = f"customerPo {invoice.customer_po!r}" if invoice.customer_po else "no customerPo"
    web = f", web order {invoice.web_order_id}" if invoice.web_order_id else ""
    detail = f"no FTD order for this invoice ({po}{web})"
    if invoice.unreadable:
        detail += "; cannot read " + "; ".join(invoice.unreadable)
    return Finding(UNEXPECTED_INVOICE, detail, None, invoice, pending_hours=invoice.age_hours(now))


def _refused_text(refused: list[LineView]) -> str:
    parts = [
        f"line {line.line_id} ({line.boxes_ordered} boxes): {line.reason_code or 'OUT_OF_STOCK'}"
        for line in refused
    ]
    return "; ".join(parts)


def _why_missing(order: OrderView, pending: PendingWebOrder | None) -> str:
    if order.state == "not_in_ledger":
        return f"FTD order {order.ftd_status or ''} never reached the ledger".replace("  ", " ")
    parts = [f"ledger state {order.state}"]
    if pending is not None:
        parts.append(f"web order {pending.id} pending, not checked out ({pending.boxes} boxes)")
    elif order.web_order_id:
        parts.append(f"web order {order.web_order_id} has no invoice")
    if order.park_reason:
        parts.append(f"parked: {order.park_reason} ({order.park_detail or ''})".replace(" ()", ""))
    return "; ".join(parts)
