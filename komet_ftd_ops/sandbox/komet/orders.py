"""Komet twin write path: web orders (create, add, delete, checkout) and the invoices they become.

Boxes are reserved when an item is added (taken from the lines' `boxes`, recorded per line in the
item's `alloc`) and given back when the item or its web order is deleted, or its invoice voided.
Each handler does its work in one transaction, so a dropped answer (commit-then-drop fault) still
leaves a consistent order behind, which is exactly what the client must read back. When and how
the invoice appears (the invoice_exists, merge_invoices and fee_on_invoice switches) is
`billing.py`'s business; the handlers tell it what happened.

Documented rules served here: `inventoryOrigin` 1 or 2 only; the header (ship date, carrier,
ship-to) locks with the first item; `web-order.delete` voids an order also after checkout while
its invoice is unconfirmed; `web-order-details.list` needs `webOrderId` (and
`companyLocationId` when the company is multi-location); every web order carries the 1.5 % fee.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from . import billing
from . import db as komet_db
from . import shiptos as komet_shiptos
from .wire import Call, Refusal, invalid, required

PENDING, CHECKED_OUT, DELETED = 1, 2, 3


def _line_ids(call: Call) -> list[int]:
    """`inventoryIds`: "428720,428721", a list, or one number."""
    value = call.raw("inventoryIds")
    if value is None:
        raise required("inventoryIds")
    parts = value if isinstance(value, list) else str(value).split(",")
    text = [str(p).strip() for p in parts]
    if not text or not all(t.isdigit() for t in text):
        raise invalid("inventoryIds")
    return [int(t) for t in text]


def _pending_order(conn: Any, call: Call, customer: int, *, need: bool = True) -> int | None:
    order = call.integer("webOrderId", need=need)
    if order is None:
        return None
    row = conn.execute(
        "SELECT 1 FROM komet_web_orders WHERE id=? AND customer_id=? AND status_id=?",
        (order, customer, PENDING),
    ).fetchone()
    if row is None:
        raise invalid("webOrderId")
    return order


def _new_order(conn: Any, customer: int, location: int | None) -> int:
    last = conn.execute("SELECT MAX(id) FROM komet_web_orders").fetchone()[0]
    order = (last or komet_db.FIRST_WEB_ORDER_ID - 1) + 1
    stamp = komet_db.now_stamp()
    conn.execute(
        "INSERT INTO komet_web_orders (id, number, customer_id, location_id, status_id, created_at,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (order, "", customer, location, PENDING, stamp, stamp),  # no Order # before an invoice
    )
    return order


def _location(call: Call) -> int | None:
    """`companyLocationId`: required when the company is multi-location (twin setting)."""
    location = call.company_location()
    if location is None and call.settings["multi_location"]:
        raise required("companyLocationId")
    return location


def _header_locked(
    conn: Any, order: int, carrier: int, ship_date: str, ship_to: int | None
) -> None:
    """Once the first item is in, a line with another date, carrier or ship-to is refused."""
    header = conn.execute(
        "SELECT carrier_id, ship_date, ship_to_id FROM komet_web_orders WHERE id=?", (order,)
    ).fetchone()
    if header["carrier_id"] is None:
        return  # a bare header: the first item sets it
    if header["ship_date"] != ship_date:
        raise invalid("date")
    if header["carrier_id"] != carrier:
        raise invalid("carrierId")
    if header["ship_to_id"] != ship_to:
        raise invalid("shipToId")


def web_order_create(call: Call) -> dict[str, Any]:
    """The header only; items come with web-order-item.add."""
    customer = call.customer_id(active_only=True)
    company = call.text("companyId")
    if company is not None and company != call.company_id:
        raise invalid("companyId")
    location = _location(call)
    with call.db.atomic() as conn:
        order = _new_order(conn, customer, location)
    return {"webOrderId": order}


def web_order_item_add(call: Call) -> dict[str, Any]:
    """Reserve boxes on a web order. Without `webOrderId`: Komet's merge into a matching order."""
    customer = call.customer_id(active_only=True)
    ids = _line_ids(call)
    origin = call.integer("inventoryOrigin", need=True)
    if origin not in (1, 2):  # the current page: 1 on hand / open market, 2 future sales
        raise invalid("inventoryOrigin")
    price = call.decimal("price", need=True)
    quantity = call.integer("quantity", need=True, low=1)
    carrier = call.integer("carrierId", need=True)
    ship_date = call.day("date", need=True)
    assert price is not None and quantity is not None and ship_date is not None
    assert origin is not None and carrier is not None  # required: refused above when missing
    ship_to = call.integer("shipToId")
    mark = call.text("markCode") or ""
    location = call.company_location()
    db = call.db
    if not db.query(
        "SELECT 1 FROM komet_customer_carriers WHERE customer_id=? AND carrier_id=?",
        (customer, carrier),
    ):
        raise invalid("carrierId")
    if not komet_shiptos.carrier_serves(db, carrier, ship_date):  # no pick-up that weekday
        raise invalid("carrierId")
    if ship_to is not None and not komet_shiptos.belongs(db, ship_to, customer):
        raise invalid("shipToId")
    item = _find_item(call, ids)
    if item["origin"] != origin:
        raise invalid("inventoryOrigin")
    if item["reserved_for"] is not None and item["reserved_for"] != customer:
        raise invalid("inventoryIds")  # reserved for another customer: not this one's to buy
    with db.atomic() as conn:
        order = _pending_order(conn, call, customer, need=False)
        if order is not None:
            _header_locked(conn, order, carrier, ship_date.isoformat(), ship_to)
        lines = conn.execute(
            "SELECT l.line_id, l.boxes FROM komet_item_lines il JOIN komet_lines l "
            "ON l.line_id = il.line_id WHERE il.item_id = ? ORDER BY l.line_id",
            (item["id"],),
        ).fetchall()
        available = sum(max(0, r["boxes"]) for r in lines)
        if not item["available_from"] <= ship_date.isoformat() <= item["available_to"]:
            available = 0  # nothing to ship on that date
        if quantity > available:
            raise Refusal("Item is not available", availableBoxes=available)
        if order is None:  # THE TRAP: "a Pending web order ... with identical information"
            match = conn.execute(
                "SELECT id FROM komet_web_orders WHERE customer_id=? AND status_id=? AND "
                "carrier_id=? AND ship_date=? AND ship_to_id IS ? AND location_id IS ? "
                "ORDER BY id DESC LIMIT 1",
                (customer, PENDING, carrier, ship_date.isoformat(), ship_to, location),
            ).fetchone()
            order = match["id"] if match else _new_order(conn, customer, location)
        alloc, left = {}, quantity
        for row in lines:
            take = min(left, max(0, row["boxes"]))
            if take:
                alloc[str(row["line_id"])] = take
                left -= take
        conn.executemany(
            "UPDATE komet_lines SET boxes = boxes - ? WHERE line_id = ?",
            [(n, int(line)) for line, n in alloc.items()],
        )
        last = conn.execute("SELECT MAX(id) FROM komet_web_order_items").fetchone()[0]
        item_id = (last or komet_db.FIRST_WEB_ORDER_ITEM_ID - 1) + 1
        conn.execute(
            "INSERT INTO komet_web_order_items (id, web_order_id, item_id, line_ids, origin, "
            "quantity, price, units_per_box, description, carrier_id, ship_date, ship_to_id, "
            "mark_code, alloc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                item_id,
                order,
                item["id"],
                item["line_ids"],
                origin,
                quantity,
                str(price.quantize(billing.CENT)),
                item["units_per_box"],
                item["description"],
                carrier,
                ship_date.isoformat(),
                ship_to,
                mark,
                json.dumps(alloc),
            ),
        )
        # the order's "information" is that of its first item; a bare header has none
        conn.execute(
            "UPDATE komet_web_orders SET carrier_id = COALESCE(carrier_id, ?), "
            "ship_date = COALESCE(ship_date, ?), ship_to_id = CASE WHEN carrier_id IS NULL "
            "THEN ? ELSE ship_to_id END, updated_at = ? WHERE id = ?",
            (carrier, ship_date.isoformat(), ship_to, komet_db.now_stamp(), order),
        )
        billing.items_changed(conn, order, call.settings)
    return {"webOrderId": order, "webOrderItemId": item_id}


def _find_item(call: Call, ids: list[int]) -> Any:
    """The listed item whose inventoryLineIds are exactly these lines."""
    wanted = ",".join(map(str, sorted(ids)))
    rows = call.db.query(
        "SELECT * FROM komet_items WHERE first_line_id = ? ORDER BY id", (min(ids),)
    )
    for row in rows:
        if ",".join(sorted(row["line_ids"].split(","), key=int)) == wanted:
            return row
    raise invalid("inventoryIds")


def web_order_item_delete(call: Call) -> dict[str, Any]:
    customer = call.customer_id(active_only=True)
    with call.db.atomic() as conn:
        order = _pending_order(conn, call, customer)
        assert order is not None  # required
        item_id = call.integer("webOrderItemId", need=True)
        row = conn.execute(
            "SELECT alloc FROM komet_web_order_items WHERE id=? AND web_order_id=? AND deleted=0",
            (item_id, order),
        ).fetchone()
        if row is None:
            raise invalid("webOrderItemId")
        komet_db.release(conn, row["alloc"])
        conn.execute("UPDATE komet_web_order_items SET deleted=1 WHERE id=?", (item_id,))
        billing.items_changed(conn, order, call.settings)
    return {"webOrderId": order, "webOrderItemId": item_id}


def web_order_delete(call: Call) -> dict[str, Any]:
    """Cancel a web order and put its boxes back: pending, or checked out while its invoice is
    unconfirmed (Komet voids it then). Once the sales rep confirmed (or voided) the invoice it
    is refused. An invoice that also holds other web orders (merge) loses only this one's lines.
    """
    customer = call.customer_id(active_only=True)
    order = call.integer("webOrderId", need=True)
    assert order is not None  # required
    with call.db.atomic() as conn:
        row = conn.execute(
            "SELECT status_id FROM komet_web_orders WHERE id=? AND customer_id=?",
            (order, customer),
        ).fetchone()
        if row is None or row["status_id"] not in (PENDING, CHECKED_OUT):
            raise invalid("webOrderId")
        if billing.invoice_status(conn, order) in (billing.CONFIRMED, billing.VOIDED):
            raise invalid("webOrderId")
        for item in billing.items_of(conn, order):
            komet_db.release(conn, item["alloc"])
        billing.remove_order(conn, order)
        conn.execute(
            "UPDATE komet_web_orders SET status_id=?, updated_at=? WHERE id=?",
            (DELETED, komet_db.now_stamp(), order),
        )
    return {"webOrderId": order}


def web_order_checkout(call: Call) -> dict[str, Any]:
    """Pending web order with items → invoice: status 0 for the sales rep, or 1 on autoconfirm
    (see billing.py for when the invoice already exists, and for merging)."""
    customer = call.customer_id(active_only=True)
    po = call.text("customerPo") or ""
    if len(po) > 50:
        raise invalid("customerPo")
    with call.db.atomic() as conn:
        order = _pending_order(conn, call, customer)
        assert order is not None  # required
        if not billing.items_of(conn, order):
            raise invalid("webOrderId")
        billing.checked_out(conn, order, po, call.settings)
        conn.execute(
            "UPDATE komet_web_orders SET status_id=?, customer_po=?, updated_at=? WHERE id=?",
            (CHECKED_OUT, po, komet_db.now_stamp(), order),
        )
    return {"webOrderId": order}


def web_order_details(call: Call) -> dict[str, Any]:
    """One web order by its required `webOrderId`; `statusId` 1 or 2, omitted = pending only
    (a checked-out order is then not listed). Totals carry Komet's 1.5 % transaction fee."""
    customer = call.customer_id()
    order = call.integer("webOrderId", need=True)
    _location(call)
    status = call.integer("statusId")
    if status is not None and status not in (PENDING, CHECKED_OUT):
        raise invalid("statusId")
    rows = call.db.query(
        "SELECT * FROM komet_web_orders WHERE customer_id=? AND status_id=? AND id=?",
        (customer, status or PENDING, order),
    )
    orders = []
    for wo in rows:
        items = call.db.query(
            "SELECT * FROM komet_web_order_items WHERE web_order_id=? AND deleted=0 ORDER BY id",
            (wo["id"],),
        )
        subtotal = sum(
            (Decimal(i["price"]) * i["quantity"] * i["units_per_box"] for i in items), Decimal("0")
        ).quantize(billing.CENT)
        charges = billing.fee(subtotal)
        orders.append(
            {
                "id": wo["id"],
                "number": wo["number"],
                "statusId": wo["status_id"],
                "customerId": wo["customer_id"],
                "customerPo": wo["customer_po"],
                "subtotal": subtotal,
                "additionalCharges": charges,
                "total": subtotal + charges,
                "items": [_order_item(i) for i in items],
            }
        )
    return {"webOrders": orders}


def _order_item(row: Any) -> dict[str, Any]:
    # `id` differs from `webOrderItemId` on purpose: Komet lists both, and a client that sends
    # the wrong one to web-order-item.delete must fail here, not only in production.
    return {
        "id": row["id"] + 180000,
        "webOrderItemId": row["id"],
        "inventoryIds": row["line_ids"],
        "inventoryOrigin": row["origin"],
        "productDescription": row["description"],
        "quantity": row["quantity"],
        "unitsPerBox": row["units_per_box"],
        "price": Decimal(row["price"]),
        "carrierId": row["carrier_id"],
        "date": row["ship_date"],
        "shipToId": row["ship_to_id"],
        "markCode": row["mark_code"],
    }
