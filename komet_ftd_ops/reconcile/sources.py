"""What the reconciliation reads from Komet and FTD, turned into small typed records.

Komet: `invoice.list` (headers and statuses; the client splits the range into windows of at
most six months) and `invoice.details.list` (lines; windows of at most four days), plus
`web-order-details.list` for web orders not checked out yet, which have no invoice. FTD: the
order listing, for the current status of each order and for orders the ledger never received.

Cost: one invoice.list call per 180 days, one invoice.details.list call per four days and one
web-order-details.list call, against Komet's daily quota of 1,000 requests per paid user.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from ..connect import Clients
from .ledger_view import inventory_key, parse_stamp

PENDING, CONFIRMED, DRAFT, VOIDED = 0, 1, 2, 4
STATUS_NAMES = {PENDING: "pending", CONFIRMED: "confirmed", DRAFT: "draft", VOIDED: "voided"}
AWAITING_CONFIRMATION = (PENDING, DRAFT)
CENT = Decimal("0.01")


@dataclass(frozen=True)
class InvoiceLine:
    inventory_key: str
    boxes: int
    units: int
    price: Decimal
    total: Decimal


@dataclass(frozen=True)
class Invoice:
    id: str
    number: str
    status: int
    ship_date: date | None
    created_on: datetime | None
    total: Decimal
    customer_po: str
    web_order_id: str | None
    lines: tuple[InvoiceLine, ...] | None  # None: invoice.details.list did not return it

    @property
    def status_name(self) -> str:
        return STATUS_NAMES.get(self.status, str(self.status))

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
    total: Decimal


@dataclass
class Sources:
    invoices: list[Invoice] = field(default_factory=list)
    pending_web_orders: dict[str, PendingWebOrder] = field(default_factory=dict)
    ftd_orders: dict[str, dict[str, Any]] | None = None  # None: FTD not asked
    komet_calls: int = 0


def _money(value: Any) -> Decimal:
    try:
        return Decimal(str(value)).quantize(CENT)
    except ArithmeticError:
        return Decimal("0.00")


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _created(value: Any) -> datetime | None:
    # Komet stamps are GMT; some pages show "YYYY-MM-DD hh:mm:ss", others an ISO "T".
    return parse_stamp(str(value).replace(" ", "T")) if value else None


def _line(raw: dict[str, Any]) -> InvoiceLine:
    return InvoiceLine(
        inventory_key=inventory_key(str(raw.get("inventoryIds") or "").split(",")),
        boxes=_int(raw.get("boxes")),
        units=_int(raw.get("units")),
        price=_money(raw.get("price")),
        total=_money(raw.get("total")),
    )


def invoice_from(header: dict[str, Any], details: dict[str, Any] | None) -> Invoice:
    lines = None
    if details is not None:
        lines = tuple(_line(d) for d in details.get("details") or [] if isinstance(d, dict))
    web_order = header.get("webOrderId")
    return Invoice(
        id=str(header.get("id")),
        number=str(header.get("number") or ""),
        status=_int(header.get("status"), -1),
        ship_date=_day(header.get("shipDate")),
        created_on=_created(header.get("createdOn")),
        total=_money(header.get("total")),
        customer_po=str(header.get("customerPo") or "").strip(),
        web_order_id=str(web_order) if web_order not in (None, "", 0, "0") else None,
        lines=lines,
    )


def read_komet(clients: Clients, customer_id: str, first: date, last: date) -> Sources:
    """Invoices with ship dates in [first, last] and the pending web orders of the FTD customer."""
    before = clients.calls.today()
    komet = clients.komet
    headers = komet.invoice_list(first, last, customer_id=customer_id)
    details = {
        str(d.get("id")): d
        for d in komet.invoice_details_list(first, last, customer_id=customer_id)
    }
    invoices = [invoice_from(h, details.get(str(h.get("id")))) for h in headers]
    pending = {}
    for web_order in komet.web_order_details_list(customer_id, status_id=1):
        items = web_order.get("items") or []
        pending[str(web_order.get("id"))] = PendingWebOrder(
            id=str(web_order.get("id")),
            customer_po=str(web_order.get("customerPo") or ""),
            boxes=sum(_int(i.get("quantity")) for i in items),
            total=_money(web_order.get("total")),
        )
    return Sources(invoices, pending, None, clients.calls.today() - before)


def read_ftd(clients: Clients, first: date, last: date, lookback_days: int) -> dict[str, Any]:
    """FTD orders shipping in [first, last], current version, from a listing that starts
    `lookback_days` before `first` (FTD cannot filter by ship date; older orders that have not
    changed since are missed, and the ledger covers them)."""
    since = datetime.combine(first - timedelta(days=lookback_days), datetime.min.time(), UTC)
    batch = clients.ftd.fetch_orders(updated_after=since.strftime("%Y-%m-%dT%H:%M:%SZ"))
    wanted = {}
    for order in batch.orders:
        ship = _day(order.get("requested_ship_date"))
        if ship is not None and first <= ship <= last:
            wanted[str(order.get("order_id"))] = order
    return wanted
