"""The order ledger as reconciliation and health see it: the ONE module that reads it.

The order pipeline owns the ledger (`komet_ftd_ops.orders.ledger`) and may still change its
schema; everything the reconciliation needs from it is read here and turned into the small,
stable `OrderView`/`LineView` below, so adapting to a ledger change touches this file only.

What this module assumes about the ledger (check these first when the ledger changes):

- `OrderLedger(store, profile).orders(where, params)` and `.lines(order_id)` and
  `.events(order_id)` return the order and line records of `orders/ledger.py`;
- an order's lines carry `offer_id` ("om:<line>[-<line>...]", from Komet inventory line ids),
  `boxes` (bought on FTD), `qty_sent` (boxes added to Komet), `price` (the unit price the
  florist paid, which is also the price the pipeline sends to Komet) and `state`
  (`rejected` = refused for lack of stock, with `reason_code`);
- the run that handled an order is the `run_id` of its latest ledger event that the kit caused
  (listing updates, `ftd ...` events, are FTD's doing and are skipped);
- the FTD order as received is kept in `body` (its lines carry `units_per_box`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ..orders import ledger as orders_ledger
from ..state.store import Store

# What the ledger's order states mean for reconciliation.
ACKNOWLEDGED_STATES = frozenset(
    {orders_ledger.ACKNOWLEDGED, orders_ledger.CONFIRMING, orders_ledger.CONFIRMED}
)
REJECTED_STATES = frozenset({orders_ledger.REJECTED})
CANCELLED_STATES = frozenset({orders_ledger.CANCELLED})
# FTD still shows these orders NEW: the kit has not acknowledged them yet.
NOT_YET_ACKNOWLEDGED = frozenset(
    {
        orders_ledger.RECEIVED,
        orders_ledger.CREATING,
        orders_ledger.ADDING,
        orders_ledger.CHECKING_OUT,
        orders_ledger.DELETING,
        orders_ledger.ACKNOWLEDGING,
    }
)
NOT_IN_LEDGER = "not_in_ledger"  # state of an FTD order the ledger never received
OFFER_PREFIX = "om:"


@dataclass(frozen=True)
class LineView:
    line_id: str
    inventory_key: str  # Komet inventory line ids, sorted, comma-separated: "428720,428721"
    boxes_ordered: int  # what the florist bought
    boxes_expected: int  # what Komet should hold: boxes added (or ordered, if not yet added)
    price: Decimal  # unit price, as paid on FTD and sent to Komet
    units_per_box: int | None
    rejected: bool  # refused for lack of stock (never substituted)
    reason_code: str | None
    state: str


@dataclass(frozen=True)
class OrderView:
    order_id: str
    order_number: str  # Komet's customerPo
    ship_date: date | None
    state: str  # the ledger's state, or NOT_IN_LEDGER
    ftd_status: str  # as the ledger last saw it (the listing may be fresher)
    web_order_id: str | None
    invoice_id: str | None
    park_reason: str | None
    park_detail: str | None
    cancel_asked: bool
    created_at: datetime | None  # on FTD (the order's created_at), else when the kit received it
    run_id: str | None
    lines: tuple[LineView, ...]

    @property
    def acknowledged(self) -> bool:
        """The kit told FTD it accepts (some of) the order."""
        return self.state in ACKNOWLEDGED_STATES

    @property
    def waiting_for_ack(self) -> bool:
        """FTD still shows the order NEW: the kit has not acknowledged it yet."""
        return self.state in NOT_YET_ACKNOWLEDGED or self.state == NOT_IN_LEDGER

    @property
    def rejected(self) -> bool:
        return self.state in REJECTED_STATES

    @property
    def cancelled(self) -> bool:
        return self.state in CANCELLED_STATES


def inventory_key(ids: Iterable[str]) -> str:
    """One spelling for a set of Komet line ids, whichever side they came from."""
    parts = {str(i).strip() for i in ids if str(i).strip()}
    return ",".join(sorted(parts, key=lambda p: (len(p), p)))


def offer_key(offer_id: str) -> str:
    """'om:428720-428721' → '428720,428721'; anything else is kept as it is."""
    if offer_id.startswith(OFFER_PREFIX):
        return inventory_key(offer_id[len(OFFER_PREFIX) :].split("-"))
    return offer_id


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return Decimal("0")


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def parse_stamp(value: Any) -> datetime | None:
    """RFC 3339 or the kit's ISO stamps → aware UTC; None when absent or unreadable."""
    if not value:
        return None
    try:
        stamp = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _run_id(events: list[dict[str, Any]]) -> str | None:
    """The latest run that acted on the order (FTD's listing updates are not the kit's acts)."""
    own = [
        e["run_id"] for e in events if e.get("run_id") and not str(e["event"]).startswith("ftd ")
    ]
    if own:
        return str(own[-1])
    any_run = [e["run_id"] for e in events if e.get("run_id")]
    return str(any_run[-1]) if any_run else None


def _lines(ledger_lines: list[Any], body: dict[str, Any]) -> tuple[LineView, ...]:
    units = {str(x.get("line_id")): _int(x.get("units_per_box")) for x in body.get("lines") or []}
    views = []
    for line in ledger_lines:
        added = line.state == orders_ledger.ADDED
        views.append(
            LineView(
                line_id=str(line.line_id),
                inventory_key=offer_key(str(line.offer_id)),
                boxes_ordered=int(line.boxes),
                boxes_expected=int(line.qty_sent or line.boxes) if added else int(line.boxes),
                price=_decimal(line.price),
                units_per_box=units.get(str(line.line_id)),
                rejected=line.state == orders_ledger.LINE_REJECTED,
                reason_code=line.reason_code,
                state=str(line.state),
            )
        )
    return tuple(views)


def _view(ledger: orders_ledger.OrderLedger, order: Any) -> OrderView:
    body = order.ftd_body()
    return OrderView(
        order_id=str(order.order_id),
        order_number=str(order.order_number),
        ship_date=_day(order.ship_date),
        state=str(order.state),
        ftd_status=str(order.ftd_status),
        web_order_id=str(order.web_order_id) if order.web_order_id else None,
        invoice_id=str(order.invoice_id) if order.invoice_id else None,
        park_reason=order.park_reason,
        park_detail=order.park_detail,
        cancel_asked=order.cancel_version is not None,
        created_at=parse_stamp(body.get("created_at")) or parse_stamp(order.received_at),
        run_id=_run_id(ledger.events(order.order_id)),
        lines=_lines(ledger.lines(order.order_id), body),
    )


def orders_shipping(store: Store, profile: str, first: date, last: date) -> list[OrderView]:
    """Every ledger order of the profile with a ship date in [first, last]."""
    ledger = orders_ledger.OrderLedger(store, profile)
    found = ledger.orders("ship_date BETWEEN ? AND ?", (first.isoformat(), last.isoformat()))
    return [_view(ledger, order) for order in found]


def orders_waiting_for_ack(store: Store, profile: str) -> list[OrderView]:
    """Orders FTD still shows NEW because the kit has not acknowledged them (for health)."""
    ledger = orders_ledger.OrderLedger(store, profile)
    marks = ",".join("?" * len(NOT_YET_ACKNOWLEDGED))
    found = ledger.orders(f"state IN ({marks})", tuple(sorted(NOT_YET_ACKNOWLEDGED)))
    return [_view(ledger, order) for order in found]


def known_order_ids(store: Store, profile: str, ids: Iterable[str]) -> set[str]:
    """Which of these FTD order ids the ledger holds."""
    ledger = orders_ledger.OrderLedger(store, profile)
    return {i for i in ids if ledger.order(i) is not None}


def from_ftd(order: dict[str, Any]) -> OrderView:
    """An FTD order the ledger never received (intake missed it, or has not run yet)."""
    lines = []
    for raw in order.get("lines") or []:
        boxes = _int(raw.get("boxes")) or 0
        lines.append(
            LineView(
                line_id=str(raw.get("line_id")),
                inventory_key=offer_key(str(raw.get("offer_id") or "")),
                boxes_ordered=boxes,
                boxes_expected=boxes,
                price=_decimal(raw.get("price_per_unit")),
                units_per_box=_int(raw.get("units_per_box")),
                rejected=False,
                reason_code=None,
                state="not_in_ledger",
            )
        )
    return OrderView(
        order_id=str(order.get("order_id")),
        order_number=str(order.get("order_number") or order.get("order_id")),
        ship_date=_day(order.get("requested_ship_date")),
        state=NOT_IN_LEDGER,
        ftd_status=str(order.get("status") or ""),
        web_order_id=None,
        invoice_id=None,
        park_reason=None,
        park_detail=None,
        cancel_asked=order.get("status") == "CANCEL_REQUESTED",
        created_at=parse_stamp(order.get("created_at")),
        run_id=None,
        lines=tuple(lines),
    )
