"""Where, when and how an FTD order ships, decided once before its web order exists.

Komet locks a web order's header (ship date, carrier, ship-to) with its first item, so the kit
makes one decision per order, before `web-order.create`, and records it (`order_shipping`):

1. the ship date (orders/dates.py): the cutoff and each line's offer window, read with one
   `ecommerce/inventory.get` for the order's lines; lines that cannot ship are rejected to FTD
   with a reason (`PAST_CUTOFF`, `OUTSIDE_WINDOW`), or the whole order moves to the next
   possible date (the acknowledgement then carries `ship_date`), as the profile says;
2. the florist's ship-to (orders/shiptos.py): found, created, parked or the default;
3. the carrier for that date and window (orders/carriers.py).

Every line is then sent with that one decision (`shipping_of`): never split into a second web
order. An order whose every line is rejected here is acknowledged without touching Komet's
web orders at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from ..komet.models import InventoryOrigin
from ..offers.ids import OfferId, inventory_ids_of
from ..state import feeds
from ..state import shipping as shipping_rows
from ..state.store import Store, iso
from . import dates
from .carriers import choose
from .cycle import Cycle
from .ftd_steps import NO_SHIP_TO, ack_body, record_acknowledging
from .ledger import UNDECIDED, Line, Order
from .shiptos import Florist, find_ship_to


@dataclass(frozen=True)
class Shipping:
    """One order's decision, as `order_shipping` holds it."""

    florist: str
    member_code: str
    ship_to_id: str | None
    ship_to_how: str
    requested_ship_date: str
    ship_date: str
    carrier_id: str
    carrier_name: str
    note: str | None

    @property
    def moved(self) -> bool:
        return self.ship_date != self.requested_ship_date


def _shipping(row: dict[str, Any]) -> Shipping:
    return Shipping(**{c: row[c] for c in shipping_rows.SHIPPING_COLUMNS})


def shipping_of(cycle: Cycle, order: Order) -> Shipping | None:
    row = shipping_rows.shipping_row(cycle.ledger.store, cycle.profile.name, order.order_id)
    return _shipping(row) if row is not None else None


def decisions(
    store: Store,
    profile: str,
    order_ids: Iterable[str] = (),
    shipping_between: tuple[date, date] | None = None,
) -> dict[str, Shipping]:
    """The recorded decisions of these orders, and of every order whose decided ship date lies
    in `shipping_between`: what the run's table and the reconciliation read (never the table
    itself), by order id; an order decided before `order_shipping` existed has none."""
    found = shipping_rows.shipping_rows(store, profile, order_ids)
    if shipping_between is not None:
        first, last = shipping_between
        found.update(
            shipping_rows.shipping_between(store, profile, first.isoformat(), last.isoformat())
        )
    return {order_id: _shipping(row) for order_id, row in found.items()}


def moved_ship_date(cycle: Cycle, order: Order) -> str | None:
    """The ship date FTD must hear of: set only when the order ships later than it asked."""
    decided = shipping_of(cycle, order)
    return decided.ship_date if decided is not None and decided.moved else None


def line_windows(cycle: Cycle, order: Order, lines: list[Line]) -> dict[str, dates.Window | None]:
    """Each line's offer window (availableFrom..availableTo): as the kit published the offer
    (what the florist bought; no Komet call), else from one inventory.get for the rest."""
    published = _published_windows(cycle, [line.offer_id for line in lines])
    windows: dict[str, dates.Window | None] = {
        line.line_id: published[line.offer_id] for line in lines if line.offer_id in published
    }
    rest = [line for line in lines if line.line_id not in windows]
    if rest:
        windows.update(_komet_windows(cycle, order, rest))
    return {line.line_id: windows.get(line.line_id) for line in lines}


def _published_windows(cycle: Cycle, offer_ids: list[str]) -> dict[str, dates.Window]:
    published = feeds.offer_history(cycle.ledger.store, cycle.profile.name, offer_ids)
    found = {}
    for offer_id, row in published.items():
        window = _window(
            {"availableFrom": row["available_from"], "availableTo": row["available_to"]}
        )
        if window is not None:
            found[offer_id] = window
    return found


def _komet_windows(cycle: Cycle, order: Order, lines: list[Line]) -> dict[str, dates.Window | None]:
    ids = {line.line_id: sorted(inventory_ids_of(line.offer_id)) for line in lines}
    every = sorted({i for line_ids in ids.values() for i in line_ids}, key=int)
    items = cycle.clients.komet.inventory_get(
        cycle.customer, every, InventoryOrigin.OPEN_MARKET, order.ship_day()
    )
    found: dict[tuple[str, ...], dates.Window] = {}
    for item in items:
        window = _window(item)
        try:
            line_ids = OfferId.from_komet(str(item.get("inventoryLineIds") or "")).line_ids
        except ValueError:
            continue  # an item without line ids is none of ours
        if window is not None:
            found[tuple(sorted(line_ids))] = window
    return {line_id: found.get(tuple(ids[line_id])) for line_id in ids}


def _window(item: dict[str, Any]) -> dates.Window | None:
    try:
        start = date.fromisoformat(str(item.get("availableFrom"))[:10])
        end = date.fromisoformat(str(item.get("availableTo"))[:10])
    except ValueError:
        return None  # unreadable: Komet's own add decides for that line
    return (start, end) if start <= end else None


def _reject(cycle: Cycle, order: Order, rejected: dict[str, str], note: str) -> None:
    for line_id, reason in rejected.items():
        cycle.ledger.reject_line(order.order_id, line_id, cycle.now, reason, note or reason)
        cycle.report.add(lines_rejected=1)


def _acknowledge_rejected(cycle: Cycle, order: Order, rejected: dict[str, str], note: str) -> bool:
    with cycle.ledger.store.atomic():
        _reject(cycle, order, rejected, note)
        fresh = cycle.ledger.get(order.order_id)
        lines = cycle.ledger.lines(order.order_id)
        record_acknowledging(cycle, fresh, ack_body(fresh, lines), event="rejected before Komet")
    cycle.report.note(f"{order.order_id}: {note}")
    return True


def decide_shipping(cycle: Cycle, order: Order, lines: list[Line]) -> bool:
    """Decide (once) how the order ships; True when every line was rejected and the order is
    acknowledged already, so nothing is to be created in Komet."""
    if shipping_of(cycle, order) is not None:
        return False
    open_lines = [line for line in lines if line.state in UNDECIDED]
    if not open_lines:
        return False  # decided by someone before this module existed: leave it be
    ftd = order.ftd_order()
    florist = Florist.of(ftd)
    if not florist.addressed:
        every = {line.line_id: NO_SHIP_TO for line in open_lines}
        return _acknowledge_rejected(cycle, order, every, "FTD sent no buyer and no address")
    windows = line_windows(cycle, order, open_lines)
    created = ftd.created_at or cycle.now
    when = dates.decide(order.ship_day(), created, windows, cycle.profile.shipping)
    if when.ship_date is None:
        return _acknowledge_rejected(cycle, order, when.rejected, when.note)
    found = find_ship_to(cycle, florist)
    carrier = choose(cycle, when.ship_date)
    note = "; ".join(n for n in (when.note, found.note) if n) or None
    with cycle.ledger.store.atomic() as tx:
        _reject(cycle, order, when.rejected, when.note)
        decision = Shipping(
            florist=florist.label,
            member_code=florist.member_code,
            ship_to_id=found.ship_to_id,
            ship_to_how=found.how,
            requested_ship_date=order.ship_date,
            ship_date=when.ship_date.isoformat(),
            carrier_id=carrier.id,
            carrier_name=carrier.name,
            note=note,
        )
        shipping_rows.save_shipping(
            tx, cycle.profile.name, order.order_id, asdict(decision), iso(cycle.now)
        )
        cycle.ledger.update(
            order.order_id,
            cycle.now,
            event="shipping",
            detail=f"{florist.label}: ship-to {found.ship_to_id or 'default'} ({found.how}), "
            f"{when.ship_date}, carrier {carrier.name or carrier.id}",
        )
    if note:
        cycle.report.note(f"{order.order_id}: {note}")
    return False


def shipping_for_lines(cycle: Cycle, order: Order) -> Shipping:
    """The decision every line of the order is sent with (made now for an order that was past
    its first step before decisions were recorded: its requested date, the profile's ship-to)."""
    decided = shipping_of(cycle, order)
    if decided is not None:
        return decided
    day = order.ship_day()
    carrier = choose(cycle, day)
    ship_to = cycle.profile.ship_to_id or None
    decision = Shipping(
        florist="",
        member_code="",
        ship_to_id=ship_to,
        ship_to_how="default",
        requested_ship_date=order.ship_date,
        ship_date=order.ship_date,
        carrier_id=carrier.id,
        carrier_name=carrier.name,
        note="decided at the first line",
    )
    with cycle.ledger.store.atomic() as tx:
        shipping_rows.save_shipping(
            tx,
            cycle.profile.name,
            order.order_id,
            asdict(decision),
            iso(cycle.now),
            keep_existing=True,
        )
    result = shipping_of(cycle, order)
    assert result is not None
    return result
