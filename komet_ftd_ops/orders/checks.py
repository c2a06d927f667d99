"""Checks before an order goes to Komet (no external call): what it bought must be what we sell.

An order is parked, never rejected on FTD by these: its lines must be offers we publish, at the
price we publish (within `price_tolerance_pct`), for a ship date not yet past. A person decides
what happens to it; the boxes stay counted in the shadow stock meanwhile.
"""

from __future__ import annotations

from decimal import Decimal

from ..offers.ids import inventory_ids_of
from ..state import feeds
from .cycle import Cycle, Parked
from .ledger import Line, Order


def published_prices(cycle: Cycle, offer_ids: list[str]) -> dict[str, Decimal]:
    published = feeds.offer_history(cycle.ledger.store, cycle.profile.name, offer_ids)
    return {offer_id: Decimal(str(row["price"])) for offer_id, row in published.items()}


def check_order(cycle: Cycle, order: Order, lines: list[Line]) -> None:
    """Park an order that must not go to Komet as it is (no external call)."""
    if not lines:
        raise Parked("bad_order", "the order has no usable lines", retry=False)
    if order.ship_day() < cycle.now.date():
        raise Parked("ship_date_past", f"ship date {order.ship_date} is past", retry=False)
    prices = published_prices(cycle, sorted({line.offer_id for line in lines}))
    tolerance = Decimal(str(cycle.rules.price_tolerance_pct))
    for line in lines:
        try:
            inventory_ids_of(line.offer_id)
        except ValueError:
            raise Parked(
                "unknown_offer",
                f"line {line.line_id}: offer {line.offer_id!r} is not an open-market offer of ours",
                retry=False,
            ) from None
        published = prices.get(line.offer_id)
        if published is None:
            raise Parked(
                "unknown_offer",
                f"line {line.line_id}: offer {line.offer_id} is not in what we publish",
                retry=False,
            )
        paid = line.decimal_price
        off = abs(paid - published) * 100 / published if published else (paid != 0) * 100
        if off > tolerance:
            raise Parked(
                "price_mismatch",
                f"line {line.line_id}: paid {paid}, we publish {published} "
                f"({off:.2f}% > {tolerance}%)",
                retry=False,
            )
