"""The carrier of a web order: the one Komet suggests for its ship date and window.

Carriers do not pick up every day, so `ecommerce/customer-carriers.list` takes the ship date and
an `availableFrom`/`availableTo` window (all three required) and suggests a carrier for them.
The kit asks once per ship date, with the window of that day alone (`availableFrom` =
`availableTo` = the ship date: every line of an order shipping that day is available on it,
whatever its wider window), and keeps the answer in the state database (`carrier_choices`) for
`CACHE_HOURS`: not once for ever, as a carrier read on a Monday is no answer for a Sunday. One
call per ship date, however many orders and offer windows ship on it (it was one per date and
window, most of a call per order); workers of one cycle wait for each other's read of a date
(`Cycle.single`). When Komet suggests none, the profile's `komet.carrier_id` is used; with
neither, the order is parked (`no_carrier`) for a person.

One carrier and one ship date per web order: Komet locks the header after the first item, so
the choice is made once, before the web order exists (orders/shipping.py), and every line is
sent with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from ..state import shipping as shipping_rows
from ..state.store import iso

if TYPE_CHECKING:
    from .cycle import Cycle

CACHE_HOURS = 12  # a suggestion is read again after this long (Komet's schedules change)


@dataclass(frozen=True)
class CarrierChoice:
    id: str
    name: str
    source: str  # "komet" (its suggestion) | "profile"


def _cached(cycle: Cycle, key: tuple[str, str, str]) -> CarrierChoice | None:
    fresh = iso(cycle.now - timedelta(hours=CACHE_HOURS))
    row = shipping_rows.cached_carrier(
        cycle.ledger.store, cycle.profile.name, *key, read_since=fresh
    )
    if row is None:
        return None
    return CarrierChoice(str(row["carrier_id"]), str(row["carrier_name"]), str(row["source"]))


def carrier_for(cycle: Cycle, ship_date: date) -> str:
    """The carrier id for this ship date (see the module docstring)."""
    return choose(cycle, ship_date).id


def choose(cycle: Cycle, ship_date: date) -> CarrierChoice:
    with cycle.single(("carrier", ship_date)):
        return _choose(cycle, ship_date)


def _choose(cycle: Cycle, ship_date: date) -> CarrierChoice:
    from .cycle import Parked  # cycle.py calls into this module

    day = ship_date.isoformat()
    key = (day, day, day)  # the (date, window) key of `carrier_choices`: the day's own window
    cached = _cached(cycle, key)
    if cached is not None:
        return cached
    answer = cycle.clients.komet.customer_carriers_list(
        cycle.customer, ship_date, ship_date, ship_date
    )
    if answer.suggested is not None:
        choice = CarrierChoice(answer.suggested.id, answer.suggested.name, "komet")
    elif cycle.profile.carrier_id:
        name = next((c.name for c in answer if c.id == cycle.profile.carrier_id), "")
        choice = CarrierChoice(cycle.profile.carrier_id, name, "profile")
    else:
        raise Parked(
            "no_carrier",
            f"Komet suggests no carrier for the FTD customer on {ship_date} and the profile "
            "names none: assign the FTD customer a carrier for that day, or set "
            "komet.carrier_id",
            retry=True,
        )
    with cycle.ledger.store.atomic() as tx:
        shipping_rows.save_carrier(
            tx,
            cycle.profile.name,
            *key,
            carrier_id=choice.id,
            carrier_name=choice.name,
            source=choice.source,
            read_at=iso(cycle.now),
        )
    return choice
