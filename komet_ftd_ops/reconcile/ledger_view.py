"""The order ledger as reconciliation and health see it: the ONE module that reads it.

The order pipeline owns the ledger (`komet_ftd_ops.orders.ledger`) and may still change its
schema; everything the reconciliation needs from it is read here and turned into the small,
stable `OrderView`/`LineView` below, so adapting to a ledger change touches this file only.

What this module assumes about the ledger (check these first when the ledger changes):

- `OrderLedger(store, profile).orders(states=..., ship_between=...)` and `.lines(order_id)` and
  `.events(order_id)` return the order and line records of `orders/ledger.py`;
- an order's lines carry `offer_id` ("om:<line>[-<line>...]", from Komet inventory line ids),
  `boxes` (bought on FTD), `qty_sent` (boxes added to Komet), `price` (the unit price the
  florist paid, which is also the price the pipeline sends to Komet) and `state`
  (`rejected` = refused for lack of stock, with `reason_code`);
- the run that handled an order is the `run_id` of its latest ledger event that the kit caused
  (listing updates, `ftd ...` events, are FTD's doing and are skipped);
- `web_order_number` is the web order's Order # once the pipeline read it back (or None);
- the FTD order as received is kept in `body` (its lines carry `units_per_box`), read back
  with `Order.ftd_order()`, the same parse the FTD client applies;
- where an order ships (florist, Komet ship-to, carrier, the ship date Komet got) is the
  pipeline's one decision, read with `orders.shipping.decisions` (orders decided before that
  table existed have none: they ship on FTD's date, ship-to unknown).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..ftd.models import CANCEL_REQUESTED, FtdOrder
from ..http.formats import as_day, as_decimal, as_stamp

# inventory_key and offer_key are offers.ids' spelling of the identity; the tests read them
# from here.
from ..offers.ids import inventory_key as inventory_key
from ..offers.ids import offer_key
from ..orders import ledger as orders_ledger
from ..state.store import Store

if TYPE_CHECKING:
    from ..orders.shipping import Shipping

# orders.shipping (and with it the order pipeline and both clients) only where a view reads the
# shipping decisions: the runner's runs page reads this module's state sets after every run,
# and never calls Komet or FTD.

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


@dataclass(frozen=True)
class LineView:
    line_id: str
    inventory_key: str  # Komet inventory line ids, sorted, comma-separated: "428720,428721"
    boxes_ordered: int  # what the florist bought
    boxes_expected: int  # what Komet should hold: boxes added (or ordered, if not yet added)
    price: Decimal | None  # unit price, as paid on FTD and sent to Komet; None: unreadable
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
    unreadable: tuple[str, ...] = ()  # what FTD sent for the lines that cannot be read
    web_order_number: str | None = None  # Komet's Order # of the web order, once read back
    # Where it ships, as the kit decided before its web order (empty: no decision recorded).
    # `ship_date` above is the date Komet got; FTD's own is `requested_ship_date`.
    requested_ship_date: date | None = None
    florist: str = ""  # FTD's buyer: name and member code
    ship_to_id: str | None = None  # the Komet ship-to sent (None: the customer's default)
    ship_to_how: str = ""  # code | address | created | default ("" : no decision recorded)
    carrier: str = ""  # the carrier's name (its id when Komet gave no name)
    shipping_note: str = ""  # why it moved, or why it went to the default ship-to

    @property
    def moved(self) -> bool:
        """The kit shipped it later than FTD asked, on purpose (FTD was told the date)."""
        return bool(self.requested_ship_date and self.ship_date != self.requested_ship_date)

    @property
    def decided(self) -> bool:
        return bool(self.ship_to_how)

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


def _kit_stamp(value: str | None) -> datetime | None:
    """A stamp the kit wrote itself (`received_at`); None if a hand edit made it unreadable."""
    try:
        return as_stamp(value)
    except ValueError:
        return None


def _day(value: str | None) -> date | None:
    try:
        return as_day(value)
    except ValueError:
        return None


def _run_id(events: list[dict[str, Any]]) -> str | None:
    """The latest run that acted on the order (FTD's listing updates are not the kit's acts)."""
    own = [e["run_id"] for e in events if e["run_id"] and not str(e["event"]).startswith("ftd ")]
    if own:
        return str(own[-1])
    any_run = [e["run_id"] for e in events if e["run_id"]]
    return str(any_run[-1]) if any_run else None


def _price(text: str) -> Decimal | None:
    try:
        return as_decimal(text)
    except ValueError:  # the intake checked it; only a hand edit of the ledger gets here
        return None


def _lines(ledger_lines: list[Any], ftd_order: FtdOrder) -> tuple[LineView, ...]:
    units = {x.line_id: x.units_per_box for x in ftd_order.lines}
    views = []
    for line in ledger_lines:
        added = line.state == orders_ledger.ADDED
        views.append(
            LineView(
                line_id=str(line.line_id),
                inventory_key=offer_key(str(line.offer_id)),
                boxes_ordered=int(line.boxes),
                boxes_expected=int(line.qty_sent or line.boxes) if added else int(line.boxes),
                price=_price(line.price),
                units_per_box=units.get(str(line.line_id)),
                rejected=line.state == orders_ledger.LINE_REJECTED,
                reason_code=line.reason_code,
                state=str(line.state),
            )
        )
    return tuple(views)


def _view(
    ledger: orders_ledger.OrderLedger, order: orders_ledger.Order, decided: Shipping | None
) -> OrderView:
    ftd_order = order.ftd_order()
    lines = _lines(ledger.lines(order.order_id), ftd_order)
    requested = _day(order.ship_date)
    where: dict[str, Any] = {"requested_ship_date": requested}
    if decided is not None:
        where.update(
            florist=decided.florist,
            ship_to_id=decided.ship_to_id,
            ship_to_how=decided.ship_to_how,
            carrier=decided.carrier_name or decided.carrier_id,
            shipping_note=decided.note or "",
        )
    return OrderView(
        order_id=str(order.order_id),
        order_number=str(order.order_number),
        ship_date=(_day(decided.ship_date) if decided else None) or requested,
        state=str(order.state),
        ftd_status=str(order.ftd_status),
        web_order_id=str(order.web_order_id) if order.web_order_id else None,
        invoice_id=str(order.invoice_id) if order.invoice_id else None,
        park_reason=order.park_reason,
        park_detail=order.park_detail,
        cancel_asked=order.cancel_version is not None,
        created_at=ftd_order.created_at or _kit_stamp(order.received_at),
        run_id=_run_id(ledger.events(order.order_id)),
        lines=lines,
        unreadable=tuple(f"ledger line {x.line_id}: price" for x in lines if x.price is None),
        # The pipeline records the Order # once it has read the web order back (migration 0008).
        web_order_number=getattr(order, "web_order_number", None) or None,
        **where,
    )


def _views(ledger: orders_ledger.OrderLedger, found: list[orders_ledger.Order]) -> list[OrderView]:
    from ..orders.shipping import decisions

    decided = decisions(ledger.store, ledger.profile, [o.order_id for o in found])
    return [_view(ledger, order, decided.get(order.order_id)) for order in found]


def orders_shipping(store: Store, profile: str, first: date, last: date) -> list[OrderView]:
    """Every ledger order of the profile that FTD asked to ship, or the kit ships, in
    [first, last] (an order moved to a later date on purpose is found by either)."""
    from ..orders.shipping import decisions

    ledger = orders_ledger.OrderLedger(store, profile)
    found = ledger.orders(ship_between=(first, last))
    held = {o.order_id for o in found}
    moved_in = decisions(store, profile, shipping_between=(first, last))
    for order_id in sorted(set(moved_in) - held):
        order = ledger.order(order_id)
        if order is not None:
            found.append(order)
    return _views(ledger, found)


def orders_waiting_for_ack(store: Store, profile: str) -> list[OrderView]:
    """Orders FTD still shows NEW because the kit has not acknowledged them (for health)."""
    ledger = orders_ledger.OrderLedger(store, profile)
    found = ledger.orders(states=NOT_YET_ACKNOWLEDGED)
    return _views(ledger, found)


@dataclass(frozen=True)
class OpenOrder:
    """An order the pipeline has not finished with, as health sees it."""

    order_id: str
    state: str
    park_reason: str | None
    park_detail: str | None
    held: bool  # parked for a person: no later cycle moves it until it is released
    since: datetime | None  # parked since, or (not parked) last changed


def open_orders(store: Store, profile: str) -> list[OpenOrder]:
    """Orders not yet final (`OrderLedger.open_orders`), held and stuck ones among them."""
    ledger = orders_ledger.OrderLedger(store, profile)
    return [
        OpenOrder(
            order_id=str(o.order_id),
            state=str(o.state),
            park_reason=o.park_reason,
            park_detail=o.park_detail,
            held=o.held,
            since=_kit_stamp(o.parked_at if o.parked and o.parked_at else o.updated_at),
        )
        for o in ledger.open_orders()
    ]


def known_order_ids(store: Store, profile: str, ids: Iterable[str]) -> set[str]:
    """Which of these FTD order ids the ledger holds."""
    ledger = orders_ledger.OrderLedger(store, profile)
    return {i for i in ids if ledger.order(i) is not None}


def from_ftd(order: FtdOrder) -> OrderView:
    """An FTD order the ledger never received (intake missed it, or has not run yet)."""
    lines = []
    unreadable = []
    for line in order.lines:
        boxes = line.boxes or 0
        lines.append(
            LineView(
                line_id=line.line_id,
                inventory_key=offer_key(line.offer_id),
                boxes_ordered=boxes,
                boxes_expected=boxes,
                price=line.price_per_unit,
                units_per_box=line.units_per_box,
                rejected=False,
                reason_code=None,
                state=NOT_IN_LEDGER,
            )
        )
        said = {u.field.rsplit(".", 1)[-1]: u.raw for u in line.unreadable}
        if line.price_per_unit is None:
            said.setdefault("price_per_unit", "missing")
        unreadable += [f"FTD line {line.line_id or '?'}: {k} {v}" for k, v in said.items()]
    return OrderView(
        order_id=order.order_id,
        order_number=order.order_number,
        ship_date=order.requested_ship_date,
        requested_ship_date=order.requested_ship_date,
        florist=", ".join(p for p in (order.buyer.name, order.buyer.member_code) if p),
        state=NOT_IN_LEDGER,
        ftd_status=order.status,
        web_order_id=None,
        invoice_id=None,
        park_reason=None,
        park_detail=None,
        cancel_asked=order.status == CANCEL_REQUESTED,
        created_at=order.created_at,
        run_id=None,
        lines=tuple(lines),
        unreadable=tuple(unreadable),
    )


@dataclass(frozen=True)
class OrphanView:
    """A bare Komet web-order header a lost `web-order.create` may have left (orders/orphans.py)."""

    order_id: str
    order_number: str  # "" when the ledger no longer holds the order
    sent_at: str
    web_order_id: str | None  # known only if Komet's answer turned up later


def orphan_headers(store: Store, profile: str) -> list[OrphanView]:
    """The candidate orphan headers not yet deleted, for the sales rep."""
    from ..orders.orphans import OrphanHeaders  # the one owner of that table

    ledger = orders_ledger.OrderLedger(store, profile)
    found = []
    for header in OrphanHeaders(store, profile).open():
        order = ledger.order(header.order_id)
        number = str(order.order_number) if order is not None else ""
        found.append(OrphanView(header.order_id, number, header.sent_at, header.web_order_id))
    return found
