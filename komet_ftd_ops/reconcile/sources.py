"""What the reconciliation reads from Komet and FTD, turned into small typed records.

Komet: `invoice.list` (headers and statuses; the client splits the range into windows of at
most six months) and `invoice.details.list` (lines; windows of at most four days), plus
`web-order-details.list` for web orders not checked out yet, which have no invoice. FTD: the
order listing, for the current status of each order and for orders the ledger never received.

The clients parsed every value already (`komet.models`, `ftd.models`); what they could not
read stays unread here: an invoice keeps the list of its unreadable values, with what Komet
sent, and the amounts stay `None`, never 0.00, so bad data lands in its own category
(`unreadable`) instead of posing as a price mismatch.

Cost: one invoice.list call per 180 days, one invoice.details.list call per four days and one
web-order-details.list call, against Komet's daily quota of 1,000 requests per paid user.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from ..connect import Clients
from ..ftd.models import FtdOrder
from ..http.formats import Unreadable, cents, rfc3339
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
    """A Komet web order not checked out: it has no invoice yet."""

    id: str
    customer_po: str
    boxes: int
    total: Decimal | None


@dataclass
class Sources:
    invoices: list[Invoice] = field(default_factory=list)
    pending_web_orders: dict[str, PendingWebOrder] = field(default_factory=dict)
    ftd_orders: dict[str, FtdOrder] | None = None  # None: FTD not asked
    komet_calls: int = 0


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


def invoice_from(header: KometInvoice, details: KometInvoice | None) -> Invoice:
    """One invoice: the header from invoice.list, its lines from invoice.details.list."""
    lines = None
    unreadable = [str(u) for u in header.unreadable]
    if details is not None:
        lines = tuple(_line(d) for d in details.details or ())
        for line, detail in zip(lines, details.details or (), strict=True):
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
    )


def read_komet(clients: Clients, customer_id: str, first: date, last: date) -> Sources:
    """Invoices with ship dates in [first, last] and the pending web orders of the FTD customer."""
    before = clients.calls.today()
    komet = clients.komet
    headers = komet.invoice_list(first, last, customer_id=customer_id)
    details = {d.id: d for d in komet.invoice_details_list(first, last, customer_id=customer_id)}
    invoices = [invoice_from(h, details.get(h.id)) for h in headers]
    pending = {}
    for web_order in komet.web_order_details_list(customer_id, status_id=WebOrderStatus.PENDING):
        pending[web_order.id] = PendingWebOrder(
            id=web_order.id,
            customer_po=web_order.customer_po,
            boxes=web_order.boxes,
            total=_cents(web_order.total),
        )
    return Sources(invoices, pending, None, clients.calls.today() - before)


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
