"""The Komet twin's ship-tos and carrier days: who the boxes go to, and who drives on which day.

Ship-tos belong to a customer (here mostly the customer that stands for FTD, one per florist),
in the shape Komet documents for `customer.shipto.list`: `shiptos[]` with `id`, `shipToCode`,
`name`, `address`, `city`, `state`, `zipcode`, `country`, `phone`, `carrierId`, `carrierName`.
A filter is required (`customerId`, `name` or `updatedAsOf`); `customer.shipto.add` (Company
token) creates one and answers `shipToId`. Komet documents no uniqueness of `shipToCode`, so the
twin accepts a second ship-to with the same code: a client that creates twice gets two.

Carriers do not drive every day (`CARRIER_DAYS`), so `ecommerce/customer-carriers.list` needs
the `date` (and the offer's `availableFrom`/`availableTo`) and suggests a carrier that serves
it, and `web-order-item.add` refuses a carrier that does not (`carrier_serves`). A client that
reads the carrier once and keeps it for good ships on the wrong day.

The tables are this module's own (`MIGRATIONS`, registered in `sandbox/server.py`) and are
seeded once from the older `komet_ship_tos` rows plus the florists of `catalogue.FLORISTS`.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from ...state.sqlite_file import SQLiteFile as Store
from .. import catalogue
from . import db as komet_db
from .wire import Call, invalid, required

MIGRATIONS: list[tuple[str, str]] = [
    (
        "komet_shiptos_0001",
        """
        CREATE TABLE komet_shiptos (
            id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, ship_to_code TEXT NOT NULL,
            name TEXT NOT NULL, address TEXT NOT NULL, city TEXT, state TEXT, zipcode TEXT,
            country TEXT, phone TEXT, carrier_id INTEGER, updated_on TEXT NOT NULL
        );
        CREATE INDEX komet_shiptos_customer ON komet_shiptos (customer_id, id);
        CREATE TABLE komet_carrier_days (
            carrier_id INTEGER NOT NULL, weekday INTEGER NOT NULL,  -- 0 Monday .. 6 Sunday
            PRIMARY KEY (carrier_id, weekday)
        )
        """,
    )
]

# Which weekdays each carrier picks up (0 = Monday). FTD's carriers cover every day between
# them, but no one of them does: the suggestion changes with the date.
CARRIER_DAYS = {
    11: (0, 1, 2, 3, 4),  # FedEx: weekdays
    14: (0, 1, 2, 3, 4, 5),  # UPS: Monday to Saturday
    21: (1, 2, 3, 4, 5, 6),  # Armellini: Tuesday to Sunday
    2: (0, 1, 2, 3, 4, 5, 6),  # Customer Pick Up
    25: (0, 1, 2, 3, 4),  # USA Logistics
}
CUBE_RATES = {11: "4.85", 14: "4.40", 21: "3.95", 2: "0.00", 25: "4.10"}
SEEDED_ON = "2024-03-11T15:42:07"


def seed(db: Store) -> None:
    """Once: the older ship-to rows (same ids) and the florists Komet already knows."""
    if db.query("SELECT 1 FROM komet_carrier_days LIMIT 1"):
        return
    ftd = int(komet_db.seed_info(db)["ftd_customer_id"])
    old = db.query("SELECT * FROM komet_ship_tos ORDER BY id")
    rows: list[tuple[Any, ...]] = []
    for n, r in enumerate(old, start=1):
        code = f"DC{n}" if r["customer_id"] == ftd else ""
        rows.append(
            (r["id"], r["customer_id"], code, r["name"], r["address1"], r["city"], r["state"],
             r["zip"], r["country"], "", None, SEEDED_ON)
        )  # fmt: skip
    next_id = max([r[0] for r in rows], default=900) + 1
    for member, shop, street, city, state, zipcode, phone, known in catalogue.FLORISTS:
        if not known:
            continue
        code = member if known == "code" else ""
        address = street if known == "code" else catalogue.komet_spelling(street)
        name = shop if known == "code" else shop.upper()
        rows.append(
            (next_id, ftd, code, name, address, city, state, zipcode, "US", phone, None, SEEDED_ON)
        )
        next_id += 1
    days = [(carrier, day) for carrier, weekdays in CARRIER_DAYS.items() for day in weekdays]
    with db.atomic() as conn:
        conn.executemany(f"INSERT INTO komet_shiptos VALUES ({', '.join('?' * 12)})", rows)
        conn.executemany("INSERT INTO komet_carrier_days VALUES (?, ?)", days)


def carrier_serves(db: Store, carrier_id: int, day: date) -> bool:
    """Does this carrier pick up on that ship date? (web-order-item.add asks.)"""
    return bool(
        db.query(
            "SELECT 1 FROM komet_carrier_days WHERE carrier_id=? AND weekday=?",
            (carrier_id, day.weekday()),
        )
    )


def belongs(db: Store, ship_to_id: int, customer_id: int) -> bool:
    """Is this one of the customer's ship-tos? (web-order-item.add's `shipToId` must be.)"""
    return bool(
        db.query(
            "SELECT 1 FROM komet_shiptos WHERE id=? AND customer_id=?", (ship_to_id, customer_id)
        )
    )


def _json(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "shipToCode": row["ship_to_code"],
        "name": row["name"],
        "address": row["address"],
        "city": row["city"],
        "state": row["state"],
        "zipcode": row["zipcode"],
        "country": row["country"],
        "phone": row["phone"],
        "carrierId": row["carrier_id"] if row["carrier_id"] is not None else "",
        "carrierName": row["carrier_name"] or "",
    }


def ship_to_list(call: Call) -> dict[str, Any]:
    """`shiptos[]` for at least one of `customerId`, `name` (LIKE), `updatedAsOf` (GMT).

    Whether a Customer token may call it at all is the app's permission check (the
    customer_shipto_list switch, `app.method_allowed`)."""
    given = [call.raw(k) is not None for k in ("customerId", "name", "updatedAsOf")]
    if not any(given):
        raise required("customerId")
    where: list[str] = []
    params: list[str | int] = []
    customer = call.customer_filter()
    if customer is not None:
        where.append("s.customer_id = ?")
        params.append(customer)
    name = call.text("name")
    if name is not None:
        where.append("s.name LIKE ?")
        params.append(f"%{name}%")
    since = call.stamp("updatedAsOf")
    if since is not None:
        where.append("s.updated_on >= ?")
        params.append(since)
    rows = call.db.query(
        "SELECT s.*, c.name AS carrier_name FROM komet_shiptos s LEFT JOIN komet_carriers c "
        f"ON c.id = s.carrier_id WHERE {' AND '.join(where)} ORDER BY s.id",
        tuple(params),
    )
    return {"shiptos": [_json(r) for r in rows]}


def ship_to_add(call: Call) -> dict[str, Any]:
    """A new ship-to for a customer (Company token; the app keeps Customer tokens out)."""
    customer = call.customer_id(active_only=True)
    name = call.text("name", need=True)
    address = call.text("address", need=True)
    values = {k: call.text(k) or "" for k in ("shipToCode", "city", "state", "zipcode", "phone")}
    country = call.text("country") or "US"
    carrier = call.integer("carrierId")
    if carrier is not None and not call.db.query(
        "SELECT 1 FROM komet_carriers WHERE id=?", (carrier,)
    ):
        raise invalid("carrierId")
    if len(values["shipToCode"]) > 30:
        raise invalid("shipToCode")
    with call.db.atomic() as conn:
        last = conn.execute("SELECT MAX(id) FROM komet_shiptos").fetchone()[0]
        ship_to = (last or 900) + 1
        conn.execute(
            f"INSERT INTO komet_shiptos VALUES ({', '.join('?' * 12)})",
            (ship_to, customer, values["shipToCode"], name, address, values["city"],
             values["state"], values["zipcode"], country, values["phone"], carrier,
             komet_db.now_stamp()),
        )  # fmt: skip
    return {"shipToId": ship_to}


def customer_carriers(call: Call) -> dict[str, Any]:
    """The customer's carriers that drive on `date`, and the one Komet suggests for it.

    The suggestion rotates with the weekday among those carriers, so it differs from day to
    day: a client must ask per date. A window that ends before it starts is refused.
    """
    customer = call.customer_id()
    day = call.day("date", need=True)
    start = call.day("availableFrom", need=True)
    end = call.day("availableTo", need=True)
    assert day is not None and start is not None and end is not None
    if end < start:
        raise invalid("availableTo")
    rows = call.db.query(
        "SELECT c.* FROM komet_carriers c JOIN komet_customer_carriers cc ON cc.carrier_id = c.id "
        "JOIN komet_carrier_days d ON d.carrier_id = c.id AND d.weekday = ? "
        "WHERE cc.customer_id = ? ORDER BY c.id",
        (day.weekday(), customer),
    )
    carriers = [
        {
            "id": r["id"],
            "name": r["name"],
            "code": r["code"],
            "carrierCubeRate": Decimal(CUBE_RATES.get(r["id"], "4.00")),
        }
        for r in rows
    ]
    if not carriers:
        return {"carrierId": "", "carrierName": "", "carriers": []}
    pick = carriers[day.weekday() % len(carriers)]
    return {
        "carrierId": pick["id"],
        "carrierName": pick["name"],
        "carrierCubeRate": pick["carrierCubeRate"],
        "carriers": carriers,
    }


def dump(db: Store) -> list[dict[str, Any]]:
    """`komet.shiptos[]` of `sandbox dump --json`."""
    return [
        {
            "id": r["id"],
            "customerId": r["customer_id"],
            "shipToCode": r["ship_to_code"],
            "name": r["name"],
            "address": r["address"],
            "city": r["city"],
            "zipcode": r["zipcode"],
        }
        for r in db.query("SELECT * FROM komet_shiptos ORDER BY id")
    ]
