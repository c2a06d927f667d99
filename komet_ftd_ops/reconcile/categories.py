"""The eleven categories and the rules that put each order in exactly one of them.

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
5. The invoice is a draft (Komet files one from the first add on some accounts): the web
   order was never checked out, so it is `missing_invoice`, saying so.
6. The web order now ships to another Komet ship-to than the one the kit chose for the
   florist (read back by webOrderId: invoices name no ship-to): `shipped_elsewhere`.
7. The invoice ships on another date than the kit sent (FTD's requested date, or the later
   date the kit moved the order to and told FTD): `ship_date_differs`. An order the kit moved
   on purpose and that ships on that date is no problem: its detail says it moved.
   Any other difference is named in the detail of these two as well.
8. Boxes, unit price (to the cent), line or invoice total (to the cent) differ from what the
   kit sent for the accepted lines: `mismatch`.
9. The invoice awaits confirmation for longer than the threshold:
   `pending_too_long`.
10. Some lines were refused for lack of stock (the rest invoiced correctly): `rejected_lines`.
11. Otherwise `matched`.

Before the rules: an order whose invoice could only be found by its customer, ship date and
lines, where two invoices fit it (or one invoice fits two orders), is `ambiguous_match`: a
person picks, the kit never guesses.

Komet's transaction fee: when the profile expects it on the invoice (`fee_on_invoice =
"charge"`, the hardest reading), an invoice's total is its lines plus the fee (`fee_pct` of
the lines, to the cent), and that is what "total" compares against; the fee billed is shown.
Web orders that Komet merged into one invoice (`merge_invoices`) are compared together: the
invoice against the lines of all its orders, never called a duplicate.

A Komet invoice of the FTD customer that no order claims, with a ship date in the range and not
voided, is one `unexpected_invoice` row of its own (its unreadable values, if any, are named in
the detail). When several invoices claim one order, the order takes the first live one and the
others are unexpected.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from ..http.formats import cents
from .ledger_view import LineView, OrderView
from .sources import AWAITING_CONFIRMATION, DRAFT, VOIDED, Invoice, PendingWebOrder

MATCHED = "matched"
MISSING_INVOICE = "missing_invoice"
UNEXPECTED_INVOICE = "unexpected_invoice"
MISMATCH = "mismatch"
UNREADABLE = "unreadable"
PENDING_TOO_LONG = "pending_too_long"
VOIDED_CATEGORY = "voided"
REJECTED_LINES = "rejected_lines"
AMBIGUOUS = "ambiguous_match"
SHIPPED_ELSEWHERE = "shipped_elsewhere"
SHIP_DATE_DIFFERS = "ship_date_differs"

CATEGORIES = (
    MATCHED,
    MISSING_INVOICE,
    UNEXPECTED_INVOICE,
    AMBIGUOUS,
    SHIPPED_ELSEWHERE,
    SHIP_DATE_DIFFERS,
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
    AMBIGUOUS,
    SHIPPED_ELSEWHERE,
    SHIP_DATE_DIFFERS,
    MISMATCH,
    UNREADABLE,
    PENDING_TOO_LONG,
    VOIDED_CATEGORY,
)
LABELS = {
    MATCHED: "FTD order and Komet invoice agree",
    MISSING_INVOICE: "FTD order without a Komet invoice",
    UNEXPECTED_INVOICE: "Komet invoice for the FTD customer without an FTD order",
    AMBIGUOUS: "Several Komet invoices fit (by customer, ship date and lines): a person picks",
    SHIPPED_ELSEWHERE: "Komet ships it to another address than the florist's ship-to",
    SHIP_DATE_DIFFERS: "Komet ships it on another date than the kit sent (and FTD was told)",
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
    matched_by: str = ""  # how the invoice was found: invoice id, webOrderId, customerPo, ...
    fee: Decimal | None = None  # the transaction fee the invoice bills (None: none seen)
    shared_with: tuple[str, ...] = ()  # other FTD orders Komet merged into the same invoice
    ships_to: tuple[str, ...] = ()  # the ship-to(s) its web order carries now, when read back


def fee_of(amount: Decimal, fee_pct: float) -> Decimal:
    """Komet's transaction fee on an amount, to the cent."""
    return cents(amount * Decimal(str(fee_pct)) / 100)


def lines_total(order: OrderView, invoice: Invoice | None) -> Decimal | None:
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


def expected_total(
    order: OrderView, invoice: Invoice | None, fee_pct: float | None = None
) -> Decimal | None:
    """The lines, plus Komet's fee when the invoice is expected to carry it (`fee_pct`)."""
    total = lines_total(order, invoice)
    if total is None or fee_pct is None:
        return total
    return total + fee_of(total, fee_pct)


def billed_fee(invoice: Invoice | None) -> Decimal | None:
    """The fee an invoice bills: its charge line, else what its total holds over its lines."""
    if invoice is None:
        return None
    if invoice.fee is not None:
        return invoice.fee
    if invoice.total is None or not invoice.lines or any(x.total is None for x in invoice.lines):
        return None
    extra = invoice.total - sum((x.total or Decimal("0")) for x in invoice.lines)
    return extra if extra > 0 else None


def together(order: OrderView, others: tuple[OrderView, ...]) -> OrderView:
    """One view of several orders billed on one merged invoice: all their lines."""
    if not others:
        return order
    lines = tuple(x for o in (order, *others) for x in o.lines)
    return replace(
        order, lines=lines, unreadable=tuple(u for o in (order, *others) for u in o.unreadable)
    )


def _units_per_box(invoice: Invoice | None) -> dict[str, int]:
    if invoice is None or not invoice.lines:
        return {}
    return {
        x.inventory_key: x.units // x.boxes
        for x in invoice.lines
        if x.boxes and x.units is not None
    }


def differences(
    order: OrderView,
    invoice: Invoice,
    fee_pct: float | None = None,
    parts: tuple[OrderView, ...] = (),
) -> list[str]:
    """What differs between the lines the kit sent and the invoice, in words; [] when none.
    `fee_pct`: the invoice is expected to carry Komet's fee on top of the lines; `parts`: the
    orders a merged invoice bills (`order` is then all of them together): Komet charges the
    fee per web order, so each part's fee is rounded to the cent on its own."""
    found = []
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
    expected = expected_total(order, invoice, fee_pct)
    lines = lines_total(order, invoice)
    fee = fee_of(lines, fee_pct) if fee_pct and lines is not None else None
    if parts and fee_pct:
        each = [expected_total(o, invoice, fee_pct) for o in parts]
        if expected is not None and None not in each:
            expected = sum((e for e in each if e is not None), Decimal("0.00"))
            fee = expected - (lines or Decimal("0.00"))
    if expected != invoice.total:
        how = f" (lines {lines} + fee {fee})" if fee is not None else ""
        found.append(f"total: expected {expected}{how}, billed {invoice.total}")
        if fee_pct and lines is not None and invoice.total == lines:
            found.append(
                'no fee billed: if Komet never bills it, set [komet.switches] fee_on_invoice = "none"'
            )
    return found


def classify(
    order: OrderView,
    invoice: Invoice | None,
    *,
    ftd_status: str,
    pending_web_order: PendingWebOrder | None,
    now: datetime,
    pending_hours: float,
    fee_pct: float | None = None,
    matched_by: str = "",
    shared_with: tuple[OrderView, ...] = (),
    ships_to: frozenset[str] | None = None,
) -> Finding:
    """Put one FTD order in its category (see the module docstring for the rules).

    `fee_pct`: the invoice should carry Komet's fee at this rate; `shared_with`: the other
    orders Komet merged into the same invoice (compared together with this one); `ships_to`:
    the ship-tos its web order carries now ("" the customer's default; None: not read)."""
    shared = tuple(o.order_number for o in shared_with)

    def found(category: str, detail: str) -> Finding:
        total = expected_total(order, invoice, fee_pct) if order.lines else None
        age = invoice.age_hours(now) if invoice is not None else None
        if shared:
            detail += f"; one invoice with FTD order(s) {', '.join(shared)} (merged by Komet)"
        if order.moved and category != SHIP_DATE_DIFFERS:
            detail += "; " + moved_text(order)
        return Finding(category, detail, order, invoice, ftd_status, total, age,
                       matched_by, billed_fee(invoice), shared,
                       tuple(sorted(ships_to or ())))  # fmt: skip

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
    if invoice.status == DRAFT and not cancel_asked:
        # Komet files an Order # from the first add (a switch): a draft is a web order that was
        # never checked out, so the sales rep has nothing to confirm yet.
        web = f"web order {order.web_order_id} " if order.web_order_id else ""
        return found(
            MISSING_INVOICE,
            f"{web}pending, not checked out: invoice {invoice.number} is a draft; "
            f"ledger state {order.state}",
        )
    unreadable = (*invoice.unreadable, *order.unreadable)
    if unreadable:
        return found(UNREADABLE, f"invoice {invoice.number}: cannot read " + "; ".join(unreadable))
    parts = (order, *shared_with) if shared_with else ()
    diffs = differences(together(order, shared_with), invoice, fee_pct, parts)
    elsewhere = shipped_elsewhere_text(order, ships_to)
    other_day = ship_date_text(order, invoice)
    if elsewhere:
        return found(SHIPPED_ELSEWHERE, "; ".join([elsewhere, *filter(None, [other_day]), *diffs]))
    if other_day:
        return found(SHIP_DATE_DIFFERS, "; ".join([other_day, *diffs]))
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


def ambiguous(order: OrderView, candidates: list[Invoice], ftd_status: str) -> Finding:
    """An order that more than one invoice fits by customer, ship date and lines (or whose one
    fitting invoice fits another order as well): a person picks."""
    numbers = ", ".join(i.number or i.id for i in candidates)
    detail = (
        f"invoices {numbers} all fit by customer, ship date and lines; Komet gave no link field"
        " to tell them apart: match by hand"
    )
    return Finding(AMBIGUOUS, detail, order, None, ftd_status, None, None, "lines (ambiguous)")


def unexpected(invoice: Invoice, now: datetime) -> Finding:
    """A live Komet invoice of the FTD customer that no FTD order claims."""
    po = f"customerPo {invoice.customer_po!r}" if invoice.customer_po else "no customerPo"
    web = f", web order {invoice.web_order_id}" if invoice.web_order_id else ""
    detail = f"no FTD order for this invoice ({po}{web})"
    if invoice.unreadable:
        detail += "; cannot read " + "; ".join(invoice.unreadable)
    return Finding(UNEXPECTED_INVOICE, detail, None, invoice, pending_hours=invoice.age_hours(now))


def _florist(order: OrderView) -> str:
    return f"florist {order.florist}" if order.florist else f"FTD order {order.order_number}"


def moved_text(order: OrderView) -> str:
    """An order the kit moved on purpose: no problem, but a person sees it."""
    why = f" ({order.shipping_note})" if order.shipping_note else ""
    return (
        f"moved on purpose: FTD asked for {order.requested_ship_date}, the kit ships it "
        f"{order.ship_date} and told FTD so{why}"
    )


def shipped_elsewhere_text(order: OrderView, ships_to: frozenset[str] | None) -> str:
    """ "" when the web order still ships where the kit sent it (or nobody could tell)."""
    if not order.decided or not ships_to:
        return ""
    sent = order.ship_to_id or ""
    if ships_to == {sent}:
        return ""
    now = ", ".join(
        f"ship-to {x}" if x else "the customer's default address" for x in sorted(ships_to)
    )
    kit = f"ship-to {sent} ({order.ship_to_how})" if sent else "the customer's default address"
    return (
        f"{_florist(order)}: the kit sent {kit}, Komet's web order {order.web_order_id} now "
        f"ships to {now}: someone changed it in Komet; check the address before the boxes leave"
    )


def ship_date_text(order: OrderView, invoice: Invoice) -> str:
    """ "" when the invoice ships on the date the kit sent to Komet (and told FTD)."""
    if not order.ship_date or not invoice.ship_date or order.ship_date == invoice.ship_date:
        return ""
    if order.moved:
        told = (
            f"the kit moved the order from {order.requested_ship_date} to {order.ship_date} "
            "and told FTD so"
        )
    else:
        told = f"FTD asked for {order.ship_date} and the kit sent that date"
    return (
        f"invoice {invoice.number or invoice.id} ships {invoice.ship_date}, but {told}: the date "
        "was changed in Komet; tell FTD the new date or change it back"
    )


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
