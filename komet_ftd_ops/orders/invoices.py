"""Following an order's invoice in Komet, without relying on the fields Komet does not document.

No public Komet page shows `customerPo` or `webOrderId` on `invoice.list` items (switch
`link_fields`; the hardest reading is neither). So an order's invoice is found, in this order:

1. `invoice_id`: the invoice this order was matched to before (the id is Komet's own);
2. `webOrderId` / `customerPo` on the listed invoice, when the account's items carry them;
3. `lines`, when they can only be this order's: the FTD customer's invoices on the order's ship
   date (invoice.details.list, ONE call per ship date and cycle for every order waiting) whose
   lines, less those of orders already following the invoice, hold this order's accepted lines
   (inventory ids, boxes, price): exactly one invoice fits, and no other order of the ledger
   shipping that day that follows no invoice yet could be what it holds instead (with merged
   invoices: the invoice holds all of theirs too). Anything less clear goes on to 4;
4. `number`: the web order's Order # (`number`, read with web-order-details.list by webOrderId,
   one call for this order alone, and kept in the ledger), equal to a listed invoice's `number`,
   else looked up with invoice.list's documented `order` filter (`order_filter`, dates ignored);
5. `lines` again when Komet gives no Order #: more than one fitting invoice is ambiguous, and
   the order is parked for a person, never guessed.

3 before 4 spares the Order # read-back (a call per order) whenever the lines tell; an order
waiting for its voided invoice (a cancellation) goes by 4 first, as the lines of a voided
invoice are not compared.

Which way was taken is kept in the ledger (`invoice_found_by`) and shown in the run report.
Web orders of one customer may merge into one invoice (switch `merge_invoices`): then two
orders follow the same invoice, and neither is a duplicate. The transaction fee Komet adds to
web orders (`additionalCharges`, 1.5% by Komet's page) is kept per order when read back.

One `invoice.list` for the whole ship-date range of the orders waiting, at most every
`confirm_every_minutes` (the daily quota is shared with inventory).
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from ..errors import KometFtdOpsError
from ..komet.models import Invoice, InvoiceStatus, WebOrder, WebOrderStatus
from ..offers.ids import OfferId, inventory_ids_of
from ..state.store import iso
from .cycle import KOMET, Cycle, Parked, not_read
from .ledger import ACKNOWLEDGED, ADDED, CANCEL_REPORTING, CANCEL_REVIEW, CONFIRMING, Order

INVOICES_READ_KEY = "orders.invoices_read_at"
FOUND_BY = ("webOrderId", "customerPo", "number", "order_filter", "lines")

Key = tuple[tuple[str, ...], int, str]  # inventory ids, boxes, price to the cent


def follow_invoices(cycle: Cycle, force: bool = False) -> list[str]:
    """Read invoices for acknowledged orders: confirmed → CONFIRMED to FTD; voided → cancel.

    Returns the orders it moved; an ambiguous match parks its order (retry=False)."""
    ledger, store, name = cycle.ledger, cycle.ledger.store, cycle.profile.name
    waiting = ledger.orders(states=(ACKNOWLEDGED, CANCEL_REVIEW))
    last = store.get(name, INVOICES_READ_KEY)
    every = timedelta(minutes=max(0, cycle.rules.confirm_every_minutes))
    if not waiting or KOMET in cycle.stopped:
        return []
    if not force and last and last > iso(cycle.now - every):
        return []
    days = sorted(o.ship_day() for o in waiting)
    try:
        invoices = cycle.invoices(days[0], days[-1])
    except KometFtdOpsError as exc:
        not_read(cycle, KOMET, exc, "invoices not read")
        return []
    store.put(name, INVOICES_READ_KEY, iso(cycle.now))
    finder = InvoiceFinder(cycle, invoices)
    moved = []
    for order in waiting:
        if KOMET in cycle.stopped:
            break
        try:
            found = finder.find(order)
        except Parked as parked:
            ledger.park(order.order_id, parked.reason, parked.detail, retry=False, now=cycle.now)
            continue
        except KometFtdOpsError as exc:
            not_read(cycle, KOMET, exc, "invoice look-ups not finished")
            break
        if found is not None and _follow(cycle, ledger.get(order.order_id), *found):
            moved.append(order.order_id)
    return moved


class InvoiceFinder:
    """The invoices one cycle has read, and the ways to find an order's among them."""

    def __init__(self, cycle: Cycle, invoices: list[Invoice]) -> None:
        self.cycle = cycle
        self.invoices = invoices
        self.by_id = {i.id: i for i in invoices}
        self.by_web_order = {i.web_order_id: i for i in invoices if i.web_order_id}
        self.by_po: dict[str, list[Invoice]] = {}
        for i in invoices:
            if i.customer_po and i.status != InvoiceStatus.VOIDED:
                self.by_po.setdefault(i.customer_po, []).append(i)
        self.by_number = {i.number: i for i in invoices if i.number}
        self.details: dict[date, list[Invoice]] = {}  # invoice.details.list, per ship date
        self.keys: dict[str, Counter[Key]] = {}  # order -> its accepted lines, read once
        self.day_orders: dict[date, list[Order]] = {}  # orders with a web order, per ship date
        self.linked: dict[str, str] = {}  # order -> invoice found this cycle
        self.invoice_keys: dict[str, Counter[Key]] = {}  # invoice -> its lines as keys

    def find(self, order: Order) -> tuple[Invoice, str] | None:
        found = self._find(order)
        if found is not None:
            self.linked[order.order_id] = found[0].id
        return found

    def _find(self, order: Order) -> tuple[Invoice, str] | None:
        if order.invoice_id and order.invoice_id in self.by_id:
            return self.by_id[order.invoice_id], order.invoice_found_by or "invoice_id"
        if order.web_order_id and order.web_order_id in self.by_web_order:
            return self.by_web_order[order.web_order_id], "webOrderId"
        po = self.by_po.get(order.order_number, [])
        if len(po) == 1:
            return po[0], "customerPo"
        if order.state != CANCEL_REVIEW and not order.web_order_number:
            only = self._by_lines_alone(order)
            if only is not None:
                return only, "lines"
        number = order.web_order_number or self._learn_number(order)
        if number:
            if number in self.by_number:
                return self.by_number[number], "number"
            return self._by_order_filter(order, number)
        return self._by_lines(order)

    def _by_lines_alone(self, order: Order) -> Invoice | None:
        """The one invoice whose lines can only be this order's (module docstring, 3)."""
        mine = self._keys(order)
        if not mine:
            return None
        day = order.ship_day()
        merged = self.cycle.switch("merge_invoices") == "yes"
        others = [o for o in self._day_orders(day) if o.order_id != order.order_id]
        followed: dict[str, Counter[Key]] = {}  # invoice -> lines of the orders following it
        unlinked = []
        for other in others:
            invoice_id = self.linked.get(other.order_id) or other.invoice_id
            if invoice_id:
                followed.setdefault(invoice_id, Counter()).update(self._keys(other))
            else:
                unlinked.append(other)

        def left(invoice: Invoice) -> Counter[Key]:
            return self._invoice_keys(invoice) - followed.get(invoice.id, Counter())

        def fits(keys: Counter[Key], invoice: Invoice) -> bool:
            if merged:
                return bool(keys) and not keys - left(invoice)
            return bool(keys) and invoice.id not in followed and keys == self._invoice_keys(invoice)

        live = [i for i in self._details(day) if i.status != InvoiceStatus.VOIDED]
        fitting = [i for i in live if fits(mine, i)]
        if len(fitting) != 1:
            return None
        invoice = fitting[0]
        rivals = [o for o in unlinked if fits(self._keys(o), invoice)]
        if not merged:
            return None if rivals else invoice
        every = sum((self._keys(o) for o in rivals), Counter(mine))
        return None if every - left(invoice) else invoice

    def _day_orders(self, day: date) -> list[Order]:
        """The ledger's orders with a web order shipping on `day` (FTD's date), read once."""
        if day not in self.day_orders:
            ledger = self.cycle.ledger
            self.day_orders[day] = ledger.orders(ship_between=(day, day), with_web_order=True)
        return self.day_orders[day]

    def _details(self, day: date) -> list[Invoice]:
        if day not in self.details:
            self.details[day] = self.cycle.clients.komet.invoice_details_list(
                day, day, customer_id=self.cycle.customer
            )
        return self.details[day]

    def _learn_number(self, order: Order) -> str | None:
        """The web order's Order # (and its fee), read back once by webOrderId."""
        if not order.web_order_id:
            return None
        web_order = self._web_order(str(order.web_order_id))
        if web_order is None or not web_order.number:
            return None
        record_web_order(self.cycle, order, web_order)
        return web_order.number

    def _web_order(self, web_order_id: str) -> WebOrder | None:
        komet, customer = self.cycle.clients.komet, self.cycle.customer
        # Checked out (statusId 2); a web order placed without checkout may stay pending.
        for status in (WebOrderStatus.CHECKED_OUT, None):
            listed = komet.web_order_details_list(customer, web_order_id, status)
            if listed:
                return listed[0]
        return None

    def _by_order_filter(self, order: Order, number: str) -> tuple[Invoice, str] | None:
        day = order.ship_day()
        rows = self.cycle.clients.komet.invoice_list(
            day, day, customer_id=self.cycle.customer, order=number
        )
        rows = [i for i in rows if i.number == number] or rows
        if len(rows) > 1:
            raise _ambiguous(order, rows, f"Order # {number}")
        return (rows[0], "order_filter") if rows else None

    def _by_lines(self, order: Order) -> tuple[Invoice, str] | None:
        """The one invoice on the order's ship date whose lines hold all the order's lines."""
        mine = self._keys(order)
        if not mine:
            return None
        day = order.ship_day()
        # Merged invoices hold other orders' lines too: ours need only be among them. Else the
        # invoice must hold exactly our lines (a bigger order's invoice is not ours).
        merged = self.cycle.switch("merge_invoices") == "yes"
        fits = [
            i
            for i in self._details(day)
            if i.status != InvoiceStatus.VOIDED
            and (not mine - self._invoice_keys(i) if merged else mine == self._invoice_keys(i))
        ]
        if len(fits) > 1:
            raise _ambiguous(order, fits, "these lines")
        return (fits[0], "lines") if fits else None

    def _invoice_keys(self, invoice: Invoice) -> Counter[Key]:
        """An invoice's lines as keys, worked out once per invoice and cycle."""
        if invoice.id not in self.invoice_keys:
            self.invoice_keys[invoice.id] = _invoice_keys(invoice)
        return self.invoice_keys[invoice.id]

    def _keys(self, order: Order) -> Counter[Key]:
        if order.order_id not in self.keys:
            lines = self.cycle.ledger.lines(order.order_id)
            self.keys[order.order_id] = Counter(
                (
                    tuple(sorted(inventory_ids_of(x.offer_id))),
                    x.qty_sent or x.boxes,
                    _cents(x.price),
                )
                for x in lines
                if x.state == ADDED
            )
        return self.keys[order.order_id]


def _cents(value: Any) -> str:
    return str(Decimal(str(value)).quantize(Decimal("0.01")))


def _invoice_keys(invoice: Invoice) -> Counter[Key]:
    keys: Counter[Key] = Counter()
    for d in invoice.details or ():
        if not d.inventory_ids or d.boxes is None or d.price is None:
            continue  # a charge line (the transaction fee) or one that cannot be read
        ids = tuple(sorted(OfferId.from_komet(d.inventory_ids).line_ids))
        keys[(ids, d.boxes, _cents(d.price))] += 1
    return keys


def _ambiguous(order: Order, invoices: list[Invoice], by: str) -> Parked:
    numbers = ", ".join(sorted(i.number for i in invoices))
    return Parked(
        "invoice_ambiguous",
        f"{len(invoices)} Komet invoices match {by} of order {order.order_number} "
        f"({numbers}); a person must say which is its invoice",
        retry=False,
    )


def record_web_order(cycle: Cycle, order: Order, web_order: WebOrder) -> None:
    """Keep the web order's Order # and fee the first time (or when they change)."""
    values: dict[str, Any] = {}
    if web_order.number and web_order.number != order.web_order_number:
        values["web_order_number"] = web_order.number
    if web_order.additional_charges is not None:
        fee = str(web_order.additional_charges)
        if fee != order.fee:
            values["fee"] = fee
    if values:
        detail = ", ".join(f"{k} {v}" for k, v in values.items())
        cycle.ledger.update(
            order.order_id, cycle.now, event="web order read", detail=detail, **values
        )


def _follow(cycle: Cycle, order: Order, invoice: Invoice, how: str) -> bool:
    ledger, status = cycle.ledger, invoice.status
    ids: dict[str, Any] = {  # ledger fields, passed to `update` as **values
        "invoice_id": invoice.id,
        "invoice_number": invoice.number,
        "invoice_found_by": how,
    }
    if order.state == CANCEL_REVIEW:
        if status != InvoiceStatus.VOIDED:
            return False
        ledger.update(
            order.order_id,
            cycle.now,
            state=CANCEL_REPORTING,
            park_reason=None,
            park_detail=None,
            park_retry=0,
            parked_at=None,
            event="invoice voided",
            detail=f"found by {how}",
            **ids,
        )
        return True
    if order.cancel_asked:
        return False  # the cancellation decides, not the confirmation
    if status == InvoiceStatus.CONFIRMED:
        ledger.update(
            order.order_id,
            cycle.now,
            state=CONFIRMING,
            event="invoice confirmed",
            detail=f"found by {how}",
            **ids,
        )
        return True
    if status == InvoiceStatus.VOIDED:
        ledger.park(
            order.order_id,
            "invoice_voided",
            f"invoice {ids['invoice_number']} was "
            "voided in Komet but FTD holds the order as accepted",
            retry=False,
            now=cycle.now,
        )
    elif order.invoice_id != invoice.id:
        ledger.update(order.order_id, cycle.now, event="invoice", detail=f"found by {how}", **ids)
    return False


__all__ = ["FOUND_BY", "INVOICES_READ_KEY", "InvoiceFinder", "follow_invoices", "record_web_order"]
