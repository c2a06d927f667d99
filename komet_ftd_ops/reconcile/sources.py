"""What the reconciliation reads from Komet and FTD, turned into small typed records.

Komet: `invoice.list` (headers and statuses; the client splits the range into windows of at
most six months) and `invoice.details.list` (lines; windows of at most four days). Web orders
are read one by one, by the `webOrderId` the ledger (or the orphan-header record) holds, with
`web-order-details.list`: Komet documents that call only with a `webOrderId`, so nothing here
lists a customer's web orders. An invoice named by a web order's `number` (its Order #) but
shipping outside the range is read with `invoice.list`'s `order` filter. FTD: the order
listing, for the current status of each order and for orders the ledger never received.

Komet's transaction fee (1.5% on orders placed through web orders) may show on an invoice as
an additional charge: a line without inventory ids that Komet marks as a charge, or the
header's `additionalCharges`. It is kept apart as `Invoice.fee`, never as a product line.

The clients parsed every value already (`komet.models`, `ftd.models`); what they could not
read stays unread here: an invoice keeps the list of its unreadable values, with what Komet
sent, and the amounts stay `None`, never 0.00, so bad data lands in its own category
(`unreadable`) instead of posing as a price mismatch.

Where an invoice ships to: no Komet page names a ship-to on `invoice.list` or
`invoice.details.list` (they give `shipDate` and `carrierName`), so the ship-to an invoice
ships to is read from its web order: `web-order-details.list` by the `webOrderId` the ledger
holds, whose items carry `shipToId` ([assumed] item field; a header `shipToId` is read too when
Komet gives one). Only for orders the kit decided a ship-to for and whose invoice was found.

Cost: one invoice.list call per 180 days, one invoice.details.list call per four days, and
for orders no link field matched and whose Order # the ledger does not hold, one or two
web-order-details.list calls each (pending, then checked out) and two calls per Order # whose
invoice is outside the range; the ship-to check reads each invoiced order's web order (one
call, checked out first; `ReconcileRules.check_ship_to = False` skips it), against Komet's daily
quota of 1,000 requests per paid user.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from ..connect import Clients
from ..ftd.models import FtdOrder
from ..http.formats import Unreadable, as_decimal, cents, rfc3339
from ..komet.models import Invoice as KometInvoice
from ..komet.models import InvoiceDetail, InvoiceStatus, WebOrderStatus
from ..offers.ids import OfferId

PENDING, CONFIRMED, DRAFT, VOIDED = (
    InvoiceStatus.PENDING,
    InvoiceStatus.CONFIRMED,
    InvoiceStatus.DRAFT,
    InvoiceStatus.VOIDED,
)
AWAITING_CONFIRMATION = (PENDING, DRAFT)


@dataclass(frozen=True)
class InvoiceLine:
    inventory_key: str
    boxes: int | None  # None: unreadable (the invoice lists it in `unreadable`)
    units: int | None
    price: Decimal | None
    total: Decimal | None


@dataclass(frozen=True)
class Invoice:
    id: str
    number: str
    status: InvoiceStatus | int | None  # an int: a code Komet added; None: unreadable
    ship_date: date | None
    created_on: datetime | None
    total: Decimal | None  # None: unreadable or missing, never 0.00
    customer_po: str
    web_order_id: str | None
    lines: tuple[InvoiceLine, ...] | None  # None: invoice.details.list did not return it
    unreadable: tuple[str, ...] = ()  # what Komet sent that cannot be read, raw values shown
    fee: Decimal | None = None  # an additional charge Komet shows (the transaction fee)
    carrier_name: str = ""  # `carrierName` ([doc] on invoice.list): who carries it

    @property
    def status_name(self) -> str:
        if isinstance(self.status, InvoiceStatus):
            return self.status.name.lower()
        return "unreadable" if self.status is None else str(self.status)

    def age_hours(self, now: datetime) -> float | None:
        if self.created_on is None:
            return None
        return (now - self.created_on).total_seconds() / 3600


@dataclass(frozen=True)
class PendingWebOrder:
    """A Komet web order read back by its id (`web-order-details.list`)."""

    id: str
    customer_po: str
    boxes: int
    total: Decimal | None
    number: str | None = None  # its Order #: the key to its invoice through `order`
    checked_out: bool = False
    fee: Decimal | None = None  # `additionalCharges`: the transaction fee Komet shows
    # The ship-tos its items (and header, when given) carry now, "" for none (the customer's
    # default); empty when it holds no items.
    ship_to_ids: frozenset[str] = frozenset()

    @property
    def pending(self) -> bool:
        return not self.checked_out


@dataclass
class Sources:
    invoices: list[Invoice] = field(default_factory=list)
    web_orders: dict[str, PendingWebOrder] = field(default_factory=dict)  # read back by id
    ftd_orders: dict[str, FtdOrder] | None = None  # None: FTD not asked
    komet_calls: int = 0

    @property
    def pending_web_orders(self) -> dict[str, PendingWebOrder]:
        return {k: w for k, w in self.web_orders.items() if w.pending}


def _cents(value: Decimal | None) -> Decimal | None:
    return None if value is None else cents(value)


def _line(detail: InvoiceDetail) -> InvoiceLine:
    return InvoiceLine(
        inventory_key=OfferId.from_komet(detail.inventory_ids).key,
        boxes=detail.boxes,
        units=detail.units,
        price=_cents(detail.price),
        total=_cents(detail.total),
    )


def _said(line: InvoiceLine, value: Unreadable) -> str:
    name = value.field.rsplit(".", 1)[-1]
    return f"line {line.inventory_key or '?'}: {name} {value.raw}"


CHARGE_MARKS = ("isCharge", "isAdditionalCharge", "additionalCharge", "charge")


def is_charge(detail: InvoiceDetail) -> bool:
    """An additional charge (Komet's transaction fee), not a product line: marked so by Komet,
    or a line that names no inventory at all."""
    raw = detail.raw
    marked = any(str(raw.get(k, "")).lower() in ("1", "true", "yes") for k in CHARGE_MARKS)
    kind = str(raw.get("type") or raw.get("lineType") or "").lower()
    bare = not detail.inventory_ids and not detail.boxes  # no product, no boxes: a charge
    return marked or kind in ("charge", "fee", "additional_charge") or bare


def _fee(records: list[KometInvoice], charges: list[InvoiceDetail]) -> Decimal | None:
    if charges:
        return cents(sum((c.total or Decimal("0") for c in charges), Decimal("0")))
    for record in records:
        try:
            extra = as_decimal(record.raw.get("additionalCharges"))
        except ValueError:
            continue
        if extra is not None:
            return cents(extra)
    return None


def invoice_from(header: KometInvoice, details: KometInvoice | None) -> Invoice:
    """One invoice: the header from invoice.list, its lines from invoice.details.list."""
    lines = None
    unreadable = [str(u) for u in header.unreadable]
    charges: list[InvoiceDetail] = []
    if details is not None:
        products = [d for d in details.details or () if not is_charge(d)]
        charges = [d for d in details.details or () if is_charge(d)]
        lines = tuple(_line(d) for d in products)
        for line, detail in zip(lines, products, strict=True):
            unreadable += [_said(line, u) for u in detail.unreadable]
    return Invoice(
        id=header.id,
        number=header.number,
        status=header.status,
        ship_date=header.ship_date,
        created_on=header.created_on,
        total=_cents(header.total),
        customer_po=header.customer_po,
        web_order_id=header.web_order_id,
        lines=lines,
        unreadable=tuple(unreadable),
        fee=_fee([header, *([details] if details is not None else [])], charges),
        carrier_name=header.carrier_name,
    )


def read_komet(clients: Clients, customer_id: str, first: date, last: date) -> Sources:
    """Invoices of the FTD customer with ship dates in [first, last] (web orders: `web_order`)."""
    before = clients.calls.today()
    komet = clients.komet
    headers = komet.invoice_list(first, last, customer_id=customer_id)
    details = {d.id: d for d in komet.invoice_details_list(first, last, customer_id=customer_id)}
    invoices = [invoice_from(h, details.get(h.id)) for h in headers]
    return Sources(invoices, {}, None, clients.calls.today() - before)


def web_order(
    clients: Clients, customer_id: str, web_order_id: str, *, checked_out_first: bool = False
) -> PendingWebOrder | None:
    """One web order by its id: pending (Komet's default), else checked out (the other way
    round with `checked_out_first`: an invoiced order's, one call); None when Komet lists it
    under neither (deleted, or never created)."""
    komet = clients.komet
    order: list[WebOrderStatus | None] = [None, WebOrderStatus.CHECKED_OUT]
    if checked_out_first:
        order.reverse()
    found, checked_out = [], False
    for status in order:
        found = komet.web_order_details_list(customer_id, web_order_id, status_id=status)
        if found:
            checked_out = status == WebOrderStatus.CHECKED_OUT
            break
    mine = [w for w in found if w.id == str(web_order_id)] or found[:1]
    if not mine:
        return None
    w = mine[0]
    ship_tos = {str(i.ship_to_id or "") for i in w.items}
    if w.items and w.raw.get("shipToId") is not None:
        ship_tos.add(str(w.raw.get("shipToId") or ""))
    return PendingWebOrder(
        id=w.id,
        customer_po=w.customer_po,
        boxes=w.boxes,
        total=_cents(w.total),
        number=w.number,
        checked_out=checked_out or w.status == WebOrderStatus.CHECKED_OUT,
        fee=_cents(w.additional_charges),
        ship_to_ids=frozenset(ship_tos),
    )


def invoices_by_number(clients: Clients, customer_id: str, number: str, day: date) -> list[Invoice]:
    """The invoices Komet files under one Order # (`order`: Komet then ignores the dates)."""
    komet = clients.komet
    headers = komet.invoice_list(day, day, customer_id=customer_id, order=number)
    if not headers:
        return []
    details = {
        d.id: d for d in komet.invoice_details_list(day, day, customer_id=customer_id, order=number)
    }
    return [invoice_from(h, details.get(h.id)) for h in headers]


def read_ftd(clients: Clients, first: date, last: date, lookback_days: int) -> dict[str, FtdOrder]:
    """FTD orders shipping in [first, last], current version, from a listing that starts
    `lookback_days` before `first` (FTD cannot filter by ship date; older orders that have not
    changed since are missed, and the ledger covers them)."""
    since = datetime.combine(first - timedelta(days=lookback_days), datetime.min.time(), UTC)
    batch = clients.ftd.fetch_orders(updated_after=rfc3339(since))
    wanted = {}
    for order in batch.orders:
        ship = order.requested_ship_date
        if ship is not None and first <= ship <= last:
            wanted[order.order_id] = order
    return wanted
