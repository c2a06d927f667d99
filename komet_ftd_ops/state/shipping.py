"""Where orders ship: `ship_tos`, `ship_to_adds`, `carrier_choices` and `order_shipping`.

The one module that writes SQL for these tables (migration 0009). The decisions live in
`orders/shipping.py`, `orders/shiptos.py` and `orders/carriers.py`; this module only reads and
writes rows, in portable SQL that runs unchanged on SQLite and PostgreSQL. Rows come back as
plain dicts keyed by column name. Every column here is TEXT, so values are passed as text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .store import Store, Tx

SHIP_TO_COLUMNS = ("id", "code", "name", "address", "city", "state", "zipcode")
ADD_COLUMNS = ("code", "florist", "sent_at", "ship_to_id", "run_id")
CARRIER_COLUMNS = ("carrier_id", "carrier_name", "source")
SHIPPING_COLUMNS = (
    "florist", "member_code", "ship_to_id", "ship_to_how", "requested_ship_date", "ship_date",
    "carrier_id", "carrier_name", "note",
)  # fmt: skip
_CHUNK = 500  # ids bound per statement: well under SQLite's limit on bound values


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _dicts(rows: Iterable[Any], columns: Sequence[str]) -> list[dict[str, Any]]:
    return [{c: row[c] for c in columns} for row in rows]


# -- ship_tos: the kit's copy of the FTD customer's Komet ship-tos -----------------------------


def forget_ship_tos(tx: Tx, profile: str) -> None:
    """Drop the copy (before a full read replaces it)."""
    tx.execute("DELETE FROM ship_tos WHERE profile=:profile", {"profile": profile})


def save_ship_tos(
    tx: Tx, profile: str, ship_tos: Sequence[Mapping[str, Any]], read_at: str
) -> None:
    """Insert or overwrite these ship-tos (each with every `SHIP_TO_COLUMNS`) by id."""
    if not ship_tos:
        return
    tx.executemany(
        "INSERT INTO ship_tos (profile, id, code, name, address, city, state, zipcode, read_at) "
        "VALUES (:profile, :id, :code, :name, :address, :city, :state, :zipcode, :read_at) "
        "ON CONFLICT (profile, id) DO UPDATE SET code=excluded.code, name=excluded.name, "
        "address=excluded.address, city=excluded.city, state=excluded.state, "
        "zipcode=excluded.zipcode, read_at=excluded.read_at",
        [
            {
                "profile": profile,
                **{c: _text(row[c]) for c in SHIP_TO_COLUMNS},
                "read_at": read_at,
            }
            for row in ship_tos
        ],
    )


def ship_to_ids_by_code(store: Store, profile: str, code: str) -> list[str]:
    """Ship-tos whose code is `code` (compared trimmed and upper case), by id."""
    rows = store.query(
        "SELECT id FROM ship_tos WHERE profile=:profile AND code<>'' "
        "AND UPPER(TRIM(code))=:code ORDER BY id",
        {"profile": profile, "code": code.strip().upper()},
    )
    return [str(r["id"]) for r in rows]


def ship_to_addresses(store: Store, profile: str) -> list[dict[str, Any]]:
    """Every ship-to's `id`, `name`, `address`, `city`, `zipcode`, by id."""
    columns = ("id", "name", "address", "city", "zipcode")
    rows = store.query(
        f"SELECT {', '.join(columns)} FROM ship_tos WHERE profile=:profile ORDER BY id",
        {"profile": profile},
    )
    return _dicts(rows, columns)


# -- ship_to_adds: a customer.shipto.add, recorded before it is sent ---------------------------


def ship_to_add(store: Store, profile: str, code: str) -> dict[str, Any] | None:
    rows = store.query(
        f"SELECT {', '.join(ADD_COLUMNS)} FROM ship_to_adds WHERE profile=:profile AND code=:code",
        {"profile": profile, "code": code},
    )
    found = _dicts(rows, ADD_COLUMNS)
    return found[0] if found else None


def add_sending(
    tx: Tx, profile: str, code: str, *, florist: str, sent_at: str, run_id: str | None
) -> None:
    """An add about to go out, its ship-to id not known (a previous record is overwritten)."""
    tx.execute(
        "INSERT INTO ship_to_adds (profile, code, florist, sent_at, ship_to_id, run_id) "
        "VALUES (:profile, :code, :florist, :sent_at, NULL, :run_id) "
        "ON CONFLICT (profile, code) DO UPDATE SET florist=excluded.florist, "
        "sent_at=excluded.sent_at, ship_to_id=NULL, run_id=excluded.run_id",
        {
            "profile": profile,
            "code": code,
            "florist": florist,
            "sent_at": sent_at,
            "run_id": run_id,
        },
    )


def add_answered(tx: Tx, profile: str, code: str, ship_to_id: str) -> None:
    tx.execute(
        "UPDATE ship_to_adds SET ship_to_id=:ship_to_id WHERE profile=:profile AND code=:code",
        {"ship_to_id": str(ship_to_id), "profile": profile, "code": code},
    )


def forget_add(tx: Tx, profile: str, code: str) -> None:
    """Komet refused the add: nothing was created."""
    tx.execute(
        "DELETE FROM ship_to_adds WHERE profile=:profile AND code=:code",
        {"profile": profile, "code": code},
    )


# -- carrier_choices: Komet's suggestion per ship date and offer window ------------------------


def _window(profile: str, ship_date: str, available_from: str, available_to: str) -> dict[str, str]:
    return {
        "profile": profile,
        "ship_date": ship_date,
        "available_from": available_from,
        "available_to": available_to,
    }


def cached_carrier(
    store: Store,
    profile: str,
    ship_date: str,
    available_from: str,
    available_to: str,
    *,
    read_since: str,
) -> dict[str, Any] | None:
    """The carrier kept for this date and window if read at or after `read_since`."""
    rows = store.query(
        "SELECT carrier_id, carrier_name, source FROM carrier_choices WHERE profile=:profile "
        "AND ship_date=:ship_date AND available_from=:available_from "
        "AND available_to=:available_to AND read_at>=:read_since",
        {**_window(profile, ship_date, available_from, available_to), "read_since": read_since},
    )
    found = _dicts(rows, CARRIER_COLUMNS)
    return found[0] if found else None


def save_carrier(
    tx: Tx,
    profile: str,
    ship_date: str,
    available_from: str,
    available_to: str,
    *,
    carrier_id: str,
    carrier_name: str,
    source: str,
    read_at: str,
) -> None:
    tx.execute(
        "INSERT INTO carrier_choices (profile, ship_date, available_from, available_to, "
        "carrier_id, carrier_name, source, read_at) VALUES (:profile, :ship_date, "
        ":available_from, :available_to, :carrier_id, :carrier_name, :source, :read_at) "
        "ON CONFLICT (profile, ship_date, available_from, available_to) DO UPDATE SET "
        "carrier_id=excluded.carrier_id, carrier_name=excluded.carrier_name, "
        "source=excluded.source, read_at=excluded.read_at",
        {
            **_window(profile, ship_date, available_from, available_to),
            "carrier_id": str(carrier_id),
            "carrier_name": str(carrier_name),
            "source": source,
            "read_at": read_at,
        },
    )


# -- order_shipping: each order's one decision -------------------------------------------------

_SHIPPING_SELECT = (
    f"SELECT order_id, {', '.join(SHIPPING_COLUMNS)} FROM order_shipping WHERE profile=:profile"
)


def shipping_row(store: Store, profile: str, order_id: str) -> dict[str, Any] | None:
    """The order's decision (`SHIPPING_COLUMNS`), None when none is recorded."""
    found = shipping_rows(store, profile, [order_id])
    return found.get(str(order_id))


def shipping_rows(
    store: Store, profile: str, order_ids: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """The decisions of these orders, by order id (orders without one are left out)."""
    wanted = list(dict.fromkeys(str(i) for i in order_ids))
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(wanted), _CHUNK):
        names = {f"o{i}": v for i, v in enumerate(wanted[start : start + _CHUNK])}
        marks = ", ".join(f":{n}" for n in names)
        rows = store.query(
            f"{_SHIPPING_SELECT} AND order_id IN ({marks})", {"profile": profile, **names}
        )
        found.update({str(r["order_id"]): {c: r[c] for c in SHIPPING_COLUMNS} for r in rows})
    return found


def shipping_between(
    store: Store, profile: str, first: str, last: str
) -> dict[str, dict[str, Any]]:
    """The decisions whose decided ship date lies in [first, last] (ISO dates), by order id."""
    rows = store.query(
        f"{_SHIPPING_SELECT} AND ship_date BETWEEN :first AND :last",
        {"profile": profile, "first": first, "last": last},
    )
    return {str(r["order_id"]): {c: r[c] for c in SHIPPING_COLUMNS} for r in rows}


def save_shipping(
    tx: Tx,
    profile: str,
    order_id: str,
    decision: Mapping[str, Any],
    decided_at: str,
    *,
    keep_existing: bool = False,
) -> None:
    """Record an order's decision (every `SHIPPING_COLUMNS`). A second decision for the same
    order is refused (the store's integrity error), or with `keep_existing` left unchanged."""
    values = {c: _text(decision[c]) for c in SHIPPING_COLUMNS}
    columns = ("profile", "order_id", *SHIPPING_COLUMNS, "decided_at")
    tx.execute(
        f"INSERT INTO order_shipping ({', '.join(columns)}) "
        f"VALUES ({', '.join(':' + c for c in columns)})"
        + (" ON CONFLICT (profile, order_id) DO NOTHING" if keep_existing else ""),
        {"profile": profile, "order_id": str(order_id), **values, "decided_at": decided_at},
    )
