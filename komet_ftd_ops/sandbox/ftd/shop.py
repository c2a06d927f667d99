"""Simulated florists for the FTD twin: checkouts against the listing, and cancellation requests.

The buyers are a set of repeat florists (`catalogue.FLORISTS`: some already have a ship-to in
Komet under the FTD customer, by member code or by a hand-keyed address, some are new), plus now
and then a one-off shop. Ship dates are at least two days out when the offers allow, so an
ordinary order is inside FTD's cutoff whatever the time of day; `late` makes a share of orders
ask to ship today (always past the 2 pm cutoff: it was placed today), and `outside_window`
gives a share of orders one more line whose offer is not available on the ship date.

Florists buy only what FTD lists with boxes left, at the listed price, for a ship date inside the
offer's availability and not in the past; each purchase lowers FTD's listed quantity (Komet hears
of it only through the order). `oversell` makes a share of orders hit an offer FTD still lists
while Komet has already sold it elsewhere: the public Komet/FTD integration warns of exactly
that window between inventory pushes. The twin creates that situation through `on_oversell`,
which zeroes the Komet stock, so the kit's order pipeline must reject the line, never substitute.
"""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from .. import catalogue
from .http import FtdError
from .orders import CANCELLABLE, create_order, request_cancel

SHOPS = (
    "Blossom & Co",
    "Petal Pushers",
    "The Flower Cart",
    "Bloom Room",
    "Stems of Mayfair",
    "Rose & Thistle Florist",
    "Daisy Chain Flowers",
    "Twig & Petal",
    "Fleur de Lis Florals",
    "The Wild Bunch",
    "Garden Gate Florist",
    "Posy Place",
    "Lily Lane Flowers",
    "Sunflower Studio",
    "Hollyhock House",
    "Peony Parlor",
    "Main Street Florist",
    "Bouquet Boutique",
    "Orchid & Ivy",
    "Magnolia Flower Market",
)
CITIES = (  # city, state, ZIP prefix, area code
    ("Miami", "FL", "331", "305"),
    ("Orlando", "FL", "328", "407"),
    ("Tampa", "FL", "336", "813"),
    ("Atlanta", "GA", "303", "404"),
    ("Charlotte", "NC", "282", "704"),
    ("Nashville", "TN", "372", "615"),
    ("Dallas", "TX", "752", "214"),
    ("Houston", "TX", "770", "713"),
    ("Chicago", "IL", "606", "312"),
    ("Columbus", "OH", "432", "614"),
    ("Denver", "CO", "802", "303"),
    ("Phoenix", "AZ", "850", "602"),
    ("Boston", "MA", "021", "617"),
    ("Philadelphia", "PA", "191", "215"),
    ("Newark", "NJ", "071", "973"),
)
STREETS = (
    "Main St",
    "Oak Ave",
    "Market St",
    "Elm St",
    "Park Blvd",
    "2nd Ave",
    "Maple Dr",
    "Commerce Way",
    "Church St",
    "Lake Rd",
)
NOTES = (
    "",
    "",
    "",
    "Deliver before 9 am",
    "Call on arrival",
    "Wedding order: keep cool",
    "Back door delivery",
    "Funeral work, ship on time please",
    "Same florist as last week",
)


ONE_OFF_SHARE = 0.1  # orders from a shop outside the regular florists


def _florist(member: str) -> tuple[dict[str, str], dict[str, str]]:
    """A regular florist of `catalogue.FLORISTS`, by member code."""
    row = next((f for f in catalogue.FLORISTS if f[0] == member), None)
    if row is None:
        known = ", ".join(f[0] for f in catalogue.FLORISTS)
        raise FtdError(400, "invalid_request", f"no florist {member!r}; known: {known}.")
    code, shop, street, city, state, zipcode, phone, _komet = row
    ship_to = {"name": shop, "address1": street, "city": city, "state": state,
               "postal_code": zipcode, "country": "US", "phone": phone}  # fmt: skip
    return {"member_code": code, "name": shop}, ship_to


def _buyer(rng: random.Random) -> tuple[dict[str, str], dict[str, str]]:
    """Mostly a regular florist; now and then a one-off shop (member code stable per shop and
    city)."""
    if rng.random() >= ONE_OFF_SHARE:
        return _florist(rng.choice(catalogue.FLORISTS)[0])
    shop = rng.choice(SHOPS)
    city, state, zip3, area = rng.choice(CITIES)
    digest = hashlib.sha256(f"{shop}|{city}".encode()).digest()
    letters = "".join(chr(ord("A") + b % 26) for b in digest[2:4])
    member = f"{90 + digest[0] % 3}-{int.from_bytes(digest[4:6], 'big') % 9000 + 1000}{letters}"
    ship_to = {
        "name": shop,
        "address1": f"{rng.randint(10, 9899)} {rng.choice(STREETS)}",
        "city": city,
        "state": state,
        "postal_code": f"{zip3}{rng.randint(0, 99):02d}",
        "country": "US",
        "phone": f"+1-{area}-555-01{rng.randint(0, 99):02d}",  # 555-01xx: reserved fictional
    }
    return {"member_code": member, "name": shop}, ship_to


def _open_offers(conn: sqlite3.Connection, today: date) -> dict[str, dict[str, Any]]:
    """Listed offers a florist can buy now: boxes left and availability not over."""
    offers = {}
    for row in conn.execute("SELECT * FROM ftd_offers WHERE quantity > 0 ORDER BY offer_id"):
        offer = json.loads(row["body"])
        offer["quantity_available"] = row["quantity"]
        start = date.fromisoformat(offer["available_from"])
        end = date.fromisoformat(offer["available_to"])
        if end >= today:
            offer["_window"] = (max(start, today), end)
            offers[offer["offer_id"]] = offer
    return offers


def _new_order_number(conn: sqlite3.Connection, rng: random.Random) -> str:
    while True:
        number = str(rng.randint(1_000_000, 9_999_999))
        if (
            conn.execute("SELECT 1 FROM ftd_orders WHERE order_number=?", (number,)).fetchone()
            is None
        ):
            return number


def _ship_day(window: tuple[date, date], today: date, rng: random.Random, late: bool) -> date:
    """Today for a late order; else a day of the window two days out or later when it can be."""
    low, high = window
    if late:
        return low if low == today else high if high < today else today
    for ahead in (2, 1, 0):
        first = max(low, today + timedelta(days=ahead))
        if first <= high:
            return first + timedelta(days=rng.randrange((high - first).days + 1))
    return low


def _pool(offers: dict[str, dict[str, Any]], open_ids: list[str], today: date,
          late: bool) -> list[str]:  # fmt: skip
    """The offers an order starts from: for a late order, one on sale today; else one that
    can ship two days out (inside the cutoff at any hour), else one day out, else any."""
    if late:
        return [i for i in open_ids if offers[i]["_window"][0] <= today] or open_ids
    for ahead in (2, 1):
        last = today + timedelta(days=ahead)
        pool = [i for i in open_ids if offers[i]["_window"][1] >= last]
        if pool:
            return pool
    return open_ids


def _outside(offers: dict[str, dict[str, Any]], open_ids: list[str], first: dict[str, Any],
             ship: date, rng: random.Random) -> dict[str, Any] | None:  # fmt: skip
    """An offer the florist adds although it is not available on the ship date."""
    misfits = [
        i
        for i in open_ids
        if i != first["offer_id"]
        and offers[i]["currency"] == first["currency"]
        and not date.fromisoformat(offers[i]["available_from"])
        <= ship
        <= date.fromisoformat(offers[i]["available_to"])
    ]
    return offers[rng.choice(misfits)] if misfits else None


def shop(
    conn: sqlite3.Connection,
    *,
    count: int,
    oversell: float,
    rng: random.Random,
    on_oversell: Callable[[str], None],
    now: datetime,
    late: float = 0.0,
    outside_window: float = 0.0,
    florists: list[str] | None = None,
) -> dict[str, Any]:
    """Up to `count` NEW orders (fewer if stock runs out); `round(count * oversell)` oversold,
    `round(count * late)` for today, `round(count * outside_window)` with a line outside its
    offer's window. `florists`: member codes to buy as, in turn (else drawn)."""
    today = now.date()
    offers = _open_offers(conn, today)
    if not offers:
        raise FtdError(
            409,
            "nothing_listed",
            "FTD lists no offer with quantity_available > 0 that is still available; "
            "send a full feed with stock before simulating shoppers.",
        )
    oversold_orders = set(rng.sample(range(count), round(count * oversell)))
    late_orders = set(rng.sample(range(count), round(count * late)))
    misfit_orders = set(rng.sample(range(count), round(count * outside_window)))
    created: list[str] = []
    oversold: list[dict[str, str]] = []
    late_made: list[str] = []
    misfit_lines: list[dict[str, str]] = []
    for index in range(count):
        # An offer oversold in this call is left alone by the rest of it, so each oversold
        # line is reported exactly once (later calls may still buy it, as real florists would).
        taken = {line["offer_id"] for line in oversold}
        open_ids = [i for i, o in offers.items() if o["quantity_available"] > 0 and i not in taken]
        if not open_ids:
            break
        is_late = index in late_orders
        first = offers[rng.choice(_pool(offers, open_ids, today, is_late))]
        ship = _ship_day(first["_window"], today, rng, is_late)
        fits = [
            i
            for i in open_ids
            if i != first["offer_id"]
            and offers[i]["currency"] == first["currency"]
            and offers[i]["_window"][0] <= ship <= offers[i]["_window"][1]
        ]
        chosen = [first] + [offers[i] for i in rng.sample(fits, min(len(fits), rng.randint(0, 2)))]
        misfit = _outside(offers, open_ids, first, ship, rng) if index in misfit_orders else None
        if misfit is not None:
            chosen.append(misfit)
        lines = []
        for n, offer in enumerate(chosen, start=1):
            boxes = rng.randint(1, min(3, offer["quantity_available"]))
            offer["quantity_available"] -= boxes
            lines.append(
                {
                    "line_id": str(n),
                    "offer_id": offer["offer_id"],
                    "sku": offer["sku"],
                    "boxes": boxes,
                    "box_type": offer["box_type"],
                    "units_per_box": offer["units_per_box"],
                    "price_per_unit": offer["price_per_unit"],
                }
            )
        buyer, ship_to = _florist(florists[index % len(florists)]) if florists else _buyer(rng)
        order = create_order(
            conn,
            order_number=_new_order_number(conn, rng),
            body={
                "po_number": f"PO-{rng.randint(1000, 99999)}",
                "buyer": buyer,
                "ship_to": ship_to,
                "requested_ship_date": ship.isoformat(),
                "lines": lines,
                "currency": first["currency"],
                "notes": rng.choice(NOTES),
            },
            now=now,
        )
        created.append(order["order_id"])
        if ship == today:
            late_made.append(order["order_id"])
        if misfit is not None:
            line = {"order_id": order["order_id"], "line_id": str(len(chosen))}
            misfit_lines.append({**line, "offer_id": misfit["offer_id"]})
        if index in oversold_orders:
            # Komet sold these boxes elsewhere since the last push; FTD does not know yet.
            on_oversell(first["offer_id"])
            oversold.append(
                {"order_id": order["order_id"], "line_id": "1", "offer_id": first["offer_id"]}
            )
    conn.executemany(
        "UPDATE ftd_offers SET quantity=? WHERE offer_id=?",
        [(o["quantity_available"], i) for i, o in offers.items()],
    )
    return {
        "orders": created,
        "oversold_offers": [line["offer_id"] for line in oversold],
        "oversold_lines": oversold,
        "late_orders": late_made,
        "outside_window_lines": misfit_lines,
    }


def cancel(
    conn: sqlite3.Connection,
    *,
    order_id: str | None,
    count: int | None,
    rng: random.Random,
    now: datetime,
) -> dict[str, Any]:
    """Buyers ask to cancel one given order, or `count` random ACKNOWLEDGED/CONFIRMED ones."""
    if order_id is not None:
        return {"orders": [request_cancel(conn, order_id, now)["order_id"]]}
    marks = ",".join("?" * len(CANCELLABLE))
    eligible = [
        r[0]
        for r in conn.execute(
            f"SELECT order_id FROM ftd_orders WHERE status IN ({marks}) ORDER BY order_id",
            CANCELLABLE,
        )
    ]
    picked = rng.sample(eligible, min(count or 0, len(eligible)))
    return {"orders": [request_cancel(conn, oid, now)["order_id"] for oid in sorted(picked)]}
