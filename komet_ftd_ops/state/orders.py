"""The order ledger's rows: `orders`, `order_lines`, `order_events` and `orphan_headers`.

The one module that writes SQL for these tables (migrations 0004, 0007, 0008). The state
machine lives in `orders/ledger.py` and `orders/orphans.py`; this module only reads and writes
rows, in portable SQL (named parameters, no SQLite functions), so the same statements run on
SQLite and PostgreSQL. Rows come back as plain dicts keyed by column name.

Values are passed in the column's declared type, as SQLite's column affinity stored them
before (an int web order id lands as text in a TEXT column): PostgreSQL compares strictly.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from .store import Store, Tx

ORDER_COLUMNS = (
    "order_id", "order_number", "ship_date", "body", "intake_version", "ftd_version",
    "ftd_status", "state", "web_order_id", "pending_before", "invoice_id", "invoice_number",
    "ack_key", "ack_body", "cancel_version", "park_reason", "park_detail", "park_retry",
    "parked_at", "attempts", "sent_at", "received_at", "updated_at", "web_order_number",
    "invoice_found_by", "fee",
)  # fmt: skip
LINE_COLUMNS = (
    "order_id", "line_id", "offer_id", "boxes", "price", "state", "qty_sent",
    "web_order_item_id", "reason_code", "attempts", "sent_at",
)  # fmt: skip
EVENT_COLUMNS = ("at", "run_id", "event", "detail")
ORPHAN_COLUMNS = ("id", "order_id", "sent_at", "recorded_at", "web_order_id")

_ORDER_INTEGERS = frozenset({"intake_version", "ftd_version", "cancel_version", "park_retry"})
_LINE_INTEGERS = frozenset({"boxes", "qty_sent"})
_CHUNK = 500  # ids bound per statement: well under SQLite's limit on bound values


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _typed(values: Mapping[str, Any], integers: frozenset[str]) -> dict[str, Any]:
    return {k: _int(v) if k in integers else _text(v) for k, v in values.items()}


def _dicts(rows: Iterable[Any], columns: Sequence[str]) -> list[dict[str, Any]]:
    return [{c: row[c] for c in columns} for row in rows]


def _in(prefix: str, values: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    """`(:p0, :p1, ...)` and its parameters, for `col IN ...` (never called with none)."""
    names = {f"{prefix}{i}": v for i, v in enumerate(values)}
    return "(" + ", ".join(f":{n}" for n in names) + ")", names


def _sets(values: Mapping[str, Any], allowed: Collection[str]) -> tuple[str, dict[str, Any]]:
    """`, col=:v_col ...` for an UPDATE; a name not in `allowed` is refused (it is SQL)."""
    unknown = set(values) - set(allowed)
    if unknown:
        raise ValueError(f"not a ledger column: {', '.join(sorted(unknown))}")
    return "".join(f", {k}=:v_{k}" for k in values), {f"v_{k}": v for k, v in values.items()}


# -- orders -----------------------------------------------------------------------------------

_ORDER_SELECT = f"SELECT {', '.join(ORDER_COLUMNS)} FROM orders WHERE profile=:profile"


def order_row(store: Store, profile: str, order_id: str) -> dict[str, Any] | None:
    rows = store.query(
        f"{_ORDER_SELECT} AND order_id=:order_id", {"profile": profile, "order_id": str(order_id)}
    )
    found = _dicts(rows, ORDER_COLUMNS)
    return found[0] if found else None


def order_rows(
    store: Store,
    profile: str,
    *,
    states: Collection[str] | None = None,
    ship_between: tuple[str, str] | None = None,
    parked: bool | None = None,
    with_web_order: bool | None = None,
) -> list[dict[str, Any]]:
    """The profile's orders, oldest received first, filtered by what is given (all must hold):
    `states` (state in these), `ship_between` (FTD's ship date in [first, last], ISO dates),
    `parked` (a park reason set or not), `with_web_order` (a Komet web order id known or not)."""
    where, params = "", {"profile": profile}
    if states is not None:
        if not states:
            return []
        marks, names = _in("s", sorted(states))
        where += f" AND state IN {marks}"
        params.update(names)
    if ship_between is not None:
        where += " AND ship_date BETWEEN :first AND :last"
        params.update(first=ship_between[0], last=ship_between[1])
    if parked is not None:
        where += f" AND park_reason IS {'NOT ' if parked else ''}NULL"
    if with_web_order is not None:
        where += f" AND web_order_id IS {'NOT ' if with_web_order else ''}NULL"
    rows = store.query(f"{_ORDER_SELECT}{where} ORDER BY received_at, order_id", params)
    return _dicts(rows, ORDER_COLUMNS)


def open_order_rows(
    store: Store, profile: str, final: Collection[str], reopened_by_cancel: str
) -> list[dict[str, Any]]:
    """Orders not in a `final` state, or in `reopened_by_cancel` with a cancellation asked."""
    marks, names = _in("f", sorted(final))
    rows = store.query(
        f"{_ORDER_SELECT} AND (state NOT IN {marks} OR (state=:reopened AND "
        "cancel_version IS NOT NULL)) ORDER BY received_at, order_id",
        {"profile": profile, "reopened": reopened_by_cancel, **names},
    )
    return _dicts(rows, ORDER_COLUMNS)


def claimed_web_orders(store: Store) -> set[str]:
    """Every web order id any order of ANY profile holds."""
    rows = store.query("SELECT web_order_id FROM orders WHERE web_order_id IS NOT NULL", {})
    return {str(r["web_order_id"]) for r in rows}


def insert_order(
    tx: Tx,
    profile: str,
    *,
    order_id: str,
    order_number: str,
    ship_date: str,
    body: str,
    version: int,
    ftd_status: str,
    state: str,
    at: str,
) -> None:
    """A new order as FTD first sent it: `version` is both the intake and the highest seen."""
    tx.execute(
        "INSERT INTO orders (profile, order_id, order_number, ship_date, body, intake_version, "
        "ftd_version, ftd_status, state, received_at, updated_at) VALUES (:profile, :order_id, "
        ":order_number, :ship_date, :body, :version, :version, :ftd_status, :state, :at, :at)",
        {
            "profile": profile,
            "order_id": str(order_id),
            "order_number": str(order_number),
            "ship_date": ship_date,
            "body": body,
            "version": int(version),
            "ftd_status": ftd_status,
            "state": state,
            "at": at,
        },
    )


def update_order(
    tx: Tx, profile: str, order_id: str, at: str, sent: int, values: Mapping[str, Any]
) -> int:
    """Set these columns, stamp `updated_at` and add `sent` to `attempts`; rows changed."""
    sets, params = _sets(_typed(values, _ORDER_INTEGERS), ORDER_COLUMNS)
    cursor = tx.execute(
        f"UPDATE orders SET updated_at=:at, attempts=attempts+:sent{sets} "
        "WHERE profile=:profile AND order_id=:order_id",
        {"at": at, "sent": int(sent), "profile": profile, "order_id": str(order_id), **params},
    )
    return int(cursor.rowcount)


# -- lines ------------------------------------------------------------------------------------


def _line_number(line_id: str) -> int:
    """The order SQLite's `CAST(line_id AS INTEGER)` gave: the leading integer, else 0."""
    found = re.match(r"\s*([+-]?\d+)", line_id)
    return int(found.group(1)) if found else 0


def line_rows(store: Store, profile: str, order_id: str) -> list[dict[str, Any]]:
    """An order's lines in line-number order (FTD numbers them; any other id sorts after 0)."""
    rows = store.query(
        f"SELECT {', '.join(LINE_COLUMNS)} FROM order_lines "
        "WHERE profile=:profile AND order_id=:order_id",
        {"profile": profile, "order_id": str(order_id)},
    )
    found = _dicts(rows, LINE_COLUMNS)
    return sorted(found, key=lambda r: (_line_number(r["line_id"]), r["line_id"]))


def insert_lines(
    tx: Tx, profile: str, order_id: str, lines: Sequence[Mapping[str, Any]], state: str
) -> None:
    """An order's lines (`line_id`, `offer_id`, `boxes`, `price` each), all in `state`."""
    if not lines:
        return
    tx.executemany(
        "INSERT INTO order_lines (profile, order_id, line_id, offer_id, boxes, price, state) "
        "VALUES (:profile, :order_id, :line_id, :offer_id, :boxes, :price, :state)",
        [
            {
                "profile": profile,
                "order_id": str(order_id),
                "line_id": str(line["line_id"]),
                "offer_id": str(line["offer_id"]),
                "boxes": int(line["boxes"]),
                "price": str(line["price"]),
                "state": state,
            }
            for line in lines
        ],
    )


def update_line(
    tx: Tx, profile: str, order_id: str, line_id: str, sent: int, values: Mapping[str, Any]
) -> int:
    """Set these columns of one line and add `sent` to its `attempts`; rows changed."""
    sets, params = _sets(_typed(values, _LINE_INTEGERS), LINE_COLUMNS)
    cursor = tx.execute(
        f"UPDATE order_lines SET attempts=attempts+:sent{sets} "
        "WHERE profile=:profile AND order_id=:order_id AND line_id=:line_id",
        {
            "sent": int(sent),
            "profile": profile,
            "order_id": str(order_id),
            "line_id": str(line_id),
            **params,
        },
    )
    return int(cursor.rowcount)


def boxes_open(
    store: Store,
    profile: str,
    *,
    line_states: Collection[str],
    order_states_out: Collection[str],
    ship_from: str,
) -> dict[str, int]:
    """Boxes per offer (sent, else bought) of lines in `line_states`, of orders not in
    `order_states_out`, with no cancellation asked, shipping on or after `ship_from`."""
    lines, line_names = _in("l", sorted(line_states))
    out, out_names = _in("o", sorted(order_states_out))
    rows = store.query(
        "SELECT l.offer_id AS offer_id, SUM(COALESCE(l.qty_sent, l.boxes)) AS boxes "
        "FROM order_lines l JOIN orders o ON o.profile=l.profile AND o.order_id=l.order_id "
        f"WHERE l.profile=:profile AND l.state IN {lines} AND o.state NOT IN {out} "
        "AND o.cancel_version IS NULL AND o.ship_date >= :ship_from GROUP BY l.offer_id "
        "ORDER BY l.offer_id",
        {"profile": profile, "ship_from": ship_from, **line_names, **out_names},
    )
    return {str(r["offer_id"]): int(r["boxes"]) for r in rows if r["boxes"]}


def boxes_sent_since(store: Store, profile: str, since: str) -> list[tuple[str, str, int]]:
    """(offer_id, sent_at, boxes) of lines whose add went to Komet after `since` (an `iso()`
    stamp) and that Komet took or may have taken (`added`, `adding`): the boxes the kit's own
    orders took from Komet's stock since then (offers/holdback.py tells them from the rest)."""
    rows = store.query(
        "SELECT offer_id, sent_at, COALESCE(qty_sent, boxes) AS boxes FROM order_lines "
        "WHERE profile = :profile AND state IN ('added', 'adding') AND sent_at > :since",
        {"profile": profile, "since": since},
    )
    return [(str(r["offer_id"]), str(r["sent_at"]), int(r["boxes"] or 0)) for r in rows]


# -- events -----------------------------------------------------------------------------------


def event_rows(store: Store, profile: str, order_id: str) -> list[dict[str, Any]]:
    """An order's events, oldest first: `at`, `run_id`, `event`, `detail`."""
    rows = store.query(
        "SELECT at, run_id, event, detail FROM order_events "
        "WHERE profile=:profile AND order_id=:order_id ORDER BY id",
        {"profile": profile, "order_id": str(order_id)},
    )
    return _dicts(rows, EVENT_COLUMNS)


def insert_event(
    tx: Tx,
    profile: str,
    order_id: str,
    *,
    at: str,
    run_id: str | None,
    event: str,
    detail: str | None,
) -> None:
    tx.execute(
        "INSERT INTO order_events (profile, order_id, at, run_id, event, detail) "
        "VALUES (:profile, :order_id, :at, :run_id, :event, :detail)",
        {
            "profile": profile,
            "order_id": str(order_id),
            "at": at,
            "run_id": run_id,
            "event": event,
            "detail": detail,
        },
    )


# -- orphan headers ---------------------------------------------------------------------------


def record_orphan(
    tx: Tx, profile: str, order_id: str, *, sent_at: str, recorded_at: str, run_id: str | None
) -> bool:
    """One row per lost create (`order_id`, `sent_at`); False when it was recorded before."""
    key = {"profile": profile, "order_id": str(order_id), "sent_at": sent_at}
    seen = tx.execute(
        "SELECT id FROM orphan_headers WHERE profile=:profile AND order_id=:order_id "
        "AND sent_at=:sent_at",
        key,
    ).fetchone()
    if seen is not None:
        return False
    tx.execute(
        "INSERT INTO orphan_headers (profile, order_id, sent_at, recorded_at, run_id) "
        "VALUES (:profile, :order_id, :sent_at, :recorded_at, :run_id)",
        {**key, "recorded_at": recorded_at, "run_id": run_id},
    )
    return True


def open_orphan_rows(store: Store, profile: str) -> list[dict[str, Any]]:
    """Candidates not deleted in Komet, oldest first."""
    rows = store.query(
        "SELECT id, order_id, sent_at, recorded_at, web_order_id FROM orphan_headers "
        "WHERE profile=:profile AND deleted_at IS NULL ORDER BY id",
        {"profile": profile},
    )
    return _dicts(rows, ORPHAN_COLUMNS)


def orphan_learnt(tx: Tx, profile: str, orphan_id: int, web_order_id: str) -> None:
    tx.execute(
        "UPDATE orphan_headers SET web_order_id=:web_order_id WHERE profile=:profile AND id=:id",
        {"web_order_id": str(web_order_id), "profile": profile, "id": int(orphan_id)},
    )


def orphan_deleted(tx: Tx, profile: str, orphan_id: int, at: str) -> None:
    tx.execute(
        "UPDATE orphan_headers SET deleted_at=:at WHERE profile=:profile AND id=:id",
        {"at": at, "profile": profile, "id": int(orphan_id)},
    )
