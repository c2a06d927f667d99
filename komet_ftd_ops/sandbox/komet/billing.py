"""How the Komet twin turns web orders into invoices, under the switches nobody can settle yet.

Three switches of `komet/switches.py` meet here, so they are read in this one module:

- `invoice_exists`: `first_add` = the invoice (and its Order # `number`) exists from the first
  `web-order-item.add`, as a draft (status 2) until checkout; `checkout` = it appears at checkout.
  Under `customer_checkout=no` nobody with the Customer token can check out, so the invoice is
  born pending (status 0) at the first add, without a customerPo, for the sales rep to confirm.
- `merge_invoices`: `yes` = when a web order's invoice would become pending (status 0) while the
  customer already has a pending invoice for the same ship date, carrier and ship-to, its lines
  join that invoice instead (which keeps the first customerPo); `no` = one invoice per web order.
- `fee_on_invoice`: `charge` = each web order's 1.5 % transaction fee is a charge line
  (`kind` 'charge') on its invoice; `none` = the invoice totals its product lines only.

Which web orders an invoice holds is kept in `komet_invoice_orders`; every detail line names
its web order, so deleting one web order removes its lines alone. Invoice ids come from a
counter, never `MAX(id) + 1`, so an id that was dropped (a merged draft) is never handed out
again, as real Komet never reuses one.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..catalogue import FIRST_INVOICE_ID, INVOICE_NUMBER_OFFSET
from . import db as komet_db
from .wire import CENT

FEE_RATE = Decimal("0.015")  # Komet's page: orders created through web orders carry 1.5 %
FEE_DESCRIPTION = "Transaction fee 1.5%"
PENDING, CONFIRMED, DRAFT, VOIDED = 0, 1, 2, 4
FIRST_DETAIL_ID = 9_100_000


def fee(subtotal: Decimal) -> Decimal:
    return (subtotal * FEE_RATE).quantize(CENT)


def _line_total(item: Any) -> Decimal:
    return (Decimal(item["price"]) * item["quantity"] * item["units_per_box"]).quantize(CENT)


def items_of(conn: Any, web_order_id: int) -> list[Any]:
    return conn.execute(
        "SELECT * FROM komet_web_order_items WHERE web_order_id=? AND deleted=0 ORDER BY id",
        (web_order_id,),
    ).fetchall()


def subtotal(conn: Any, web_order_id: int) -> Decimal:
    return sum((_line_total(i) for i in items_of(conn, web_order_id)), Decimal("0.00"))


def next_invoice_id(conn: Any) -> int:
    """One past every id handed out so far (the counter survives deleted invoices)."""
    last = conn.execute("SELECT MAX(id) FROM komet_invoices").fetchone()[0]
    row = conn.execute("SELECT value FROM komet_settings WHERE key='last_invoice_id'").fetchone()
    given = int(row[0]) if row else 0
    invoice = max(last or FIRST_INVOICE_ID - 1, given) + 1
    komet_db.put(conn, "last_invoice_id", invoice)
    return invoice


def _next_detail_id(conn: Any) -> int:
    last = conn.execute("SELECT MAX(id) FROM komet_invoice_details").fetchone()[0]
    return max(last or 0, FIRST_DETAIL_ID) + 1


def _matching_pending(conn: Any, order: Any, exclude: int | None) -> int | None:
    """The customer's pending invoice for this web order's ship date, carrier and ship-to."""
    row = conn.execute(
        "SELECT i.id FROM komet_invoices i WHERE i.customer_id=? AND i.status=? AND "
        "i.ship_date=? AND i.id IS NOT ? AND EXISTS (SELECT 1 FROM komet_invoice_orders io "
        "JOIN komet_web_orders w ON w.id = io.web_order_id WHERE io.invoice_id = i.id AND "
        "w.carrier_id IS ? AND w.ship_to_id IS ?) ORDER BY i.id LIMIT 1",
        (order["customer_id"], PENDING, order["ship_date"], exclude, order["carrier_id"],
         order["ship_to_id"]),
    ).fetchone()  # fmt: skip
    return row[0] if row else None


def _new_invoice(conn: Any, order: Any, status: int, po: str) -> int:
    invoice = next_invoice_id(conn)
    who = conn.execute(
        "SELECT sales_person FROM komet_customers WHERE id=?", (order["customer_id"],)
    ).fetchone()
    carrier = conn.execute(
        "SELECT name FROM komet_carriers WHERE id=?", (order["carrier_id"],)
    ).fetchone()
    stamp = komet_db.now_stamp()
    conn.execute(
        f"INSERT INTO komet_invoices VALUES ({', '.join('?' * 14)})",
        (invoice, str(invoice - INVOICE_NUMBER_OFFSET), order["customer_id"], order["id"], po,
         status, stamp, order["ship_date"], "0.00", carrier["name"] if carrier else "", stamp,
         "", who["sales_person"] if who else "", 1),
    )  # fmt: skip
    return invoice


def _attach(conn: Any, invoice: int, order_id: int, settings: dict[str, Any]) -> None:
    """The web order's lines (and fee) now live on `invoice`; its Order # is the invoice's."""
    conn.execute("INSERT OR IGNORE INTO komet_invoice_orders VALUES (?, ?)", (invoice, order_id))
    number = conn.execute("SELECT number FROM komet_invoices WHERE id=?", (invoice,)).fetchone()[0]
    conn.execute(
        "UPDATE komet_web_orders SET invoice_id=?, number=? WHERE id=?", (invoice, number, order_id)
    )
    write_lines(conn, invoice, order_id, settings)


def write_lines(conn: Any, invoice: int, order_id: int, settings: dict[str, Any]) -> None:
    """Replace this web order's lines on the invoice by its current items, then retotal."""
    conn.execute(
        "DELETE FROM komet_invoice_details WHERE invoice_id=? AND web_order_id=?",
        (invoice, order_id),
    )
    detail = _next_detail_id(conn)
    items = items_of(conn, order_id)
    rows = []
    for n, item in enumerate(items):
        units = item["quantity"] * item["units_per_box"]
        rows.append(
            (detail + n, invoice, item["description"], item["line_ids"], item["quantity"], units,
             item["price"], str(_line_total(item)), order_id, "product")
        )  # fmt: skip
    charge = fee(sum((_line_total(i) for i in items), Decimal("0.00")))
    if settings["fee_on_invoice"] == "charge" and charge > 0:
        rows.append(
            (detail + len(rows), invoice, FEE_DESCRIPTION, "", 0, 0, str(charge), str(charge),
             order_id, "charge")
        )  # fmt: skip
    conn.executemany(
        "INSERT INTO komet_invoice_details (id, invoice_id, product_description, inventory_ids, "
        "boxes, units, price, total, web_order_id, kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    retotal(conn, invoice)


def retotal(conn: Any, invoice: int) -> None:
    """The invoice total is the sum of its lines, charge lines included (as Komet recomputes)."""
    totals = conn.execute(
        "SELECT total FROM komet_invoice_details WHERE invoice_id=?", (invoice,)
    ).fetchall()
    total = sum((Decimal(t[0]) for t in totals), Decimal("0.00"))
    conn.execute(
        "UPDATE komet_invoices SET total=?, updated_on=? WHERE id=?",
        (str(total.quantize(CENT)), komet_db.now_stamp(), invoice),
    )


def _header(conn: Any, order_id: int) -> Any:
    return conn.execute("SELECT * FROM komet_web_orders WHERE id=?", (order_id,)).fetchone()


def _becomes_pending(conn: Any, order: Any, settings: dict[str, Any], po: str) -> None:
    """An invoice for a web order that has none, born pending (0): merged when the switch says."""
    target = _matching_pending(conn, order, None) if settings["merge_invoices"] == "yes" else None
    _attach(conn, target or _new_invoice(conn, order, PENDING, po), order["id"], settings)


def items_changed(conn: Any, order_id: int, settings: dict[str, Any]) -> None:
    """After an item was added to or removed from a pending web order."""
    order = _header(conn, order_id)
    if order["invoice_id"] is not None:
        write_lines(conn, order["invoice_id"], order_id, settings)
        return
    if not items_of(conn, order_id):
        return
    if settings["customer_checkout"] == "no":
        _becomes_pending(conn, order, settings, "")
    elif settings["invoice_exists"] == "first_add":
        _attach(conn, _new_invoice(conn, order, DRAFT, ""), order_id, settings)


def checked_out(conn: Any, order_id: int, po: str, settings: dict[str, Any]) -> int:
    """The web order was checked out: its invoice is pending (0), or confirmed on autoconfirm."""
    order = _header(conn, order_id)
    status = CONFIRMED if settings["autoconfirm"] else PENDING
    invoice = order["invoice_id"]
    if invoice is None:
        if status == PENDING:
            _becomes_pending(conn, order, settings, po)
        else:
            _attach(conn, _new_invoice(conn, order, status, po), order_id, settings)
        return int(_header(conn, order_id)["invoice_id"])
    row = conn.execute("SELECT * FROM komet_invoices WHERE id=?", (invoice,)).fetchone()
    if row["status"] == DRAFT and status == PENDING and settings["merge_invoices"] == "yes":
        target = _matching_pending(conn, order, invoice)
        if target is not None:  # the draft's lines join the pending invoice; the draft is gone
            _drop_invoice(conn, invoice)
            _attach(conn, target, order_id, settings)
            return target
    conn.execute(
        "UPDATE komet_invoices SET status=?, customer_po=CASE WHEN customer_po='' THEN ? "
        "ELSE customer_po END, updated_on=? WHERE id=?",
        (status if row["status"] in (DRAFT, PENDING) else row["status"], po,
         komet_db.now_stamp(), invoice),
    )  # fmt: skip
    return int(invoice)


def _drop_invoice(conn: Any, invoice: int) -> None:
    conn.execute("DELETE FROM komet_invoice_details WHERE invoice_id=?", (invoice,))
    conn.execute("DELETE FROM komet_invoice_orders WHERE invoice_id=?", (invoice,))
    conn.execute("DELETE FROM komet_invoices WHERE id=?", (invoice,))


def invoice_status(conn: Any, order_id: int) -> int | None:
    row = conn.execute(
        "SELECT i.status FROM komet_invoices i JOIN komet_web_orders w ON w.invoice_id = i.id "
        "WHERE w.id=?",
        (order_id,),
    ).fetchone()
    return None if row is None else int(row[0])


def remove_order(conn: Any, order_id: int) -> None:
    """`web-order.delete` on an order whose invoice is unconfirmed: when the invoice holds only
    this web order it is voided (its lines stay, as on a voided invoice); otherwise only this
    web order's lines leave it and it is retotalled."""
    invoice = _header(conn, order_id)["invoice_id"]
    if invoice is None:
        return
    others = conn.execute(
        "SELECT COUNT(*) FROM komet_invoice_orders WHERE invoice_id=? AND web_order_id != ?",
        (invoice, order_id),
    ).fetchone()[0]
    if not others:
        conn.execute(
            "UPDATE komet_invoices SET status=?, updated_on=? WHERE id=?",
            (VOIDED, komet_db.now_stamp(), invoice),
        )
        return
    conn.execute(
        "DELETE FROM komet_invoice_details WHERE invoice_id=? AND web_order_id=?",
        (invoice, order_id),
    )
    conn.execute(
        "DELETE FROM komet_invoice_orders WHERE invoice_id=? AND web_order_id=?",
        (invoice, order_id),
    )
    if (
        conn.execute("SELECT web_order_id FROM komet_invoices WHERE id=?", (invoice,)).fetchone()[0]
        == order_id
    ):  # the invoice names a web order it still holds
        first = conn.execute(
            "SELECT MIN(web_order_id) FROM komet_invoice_orders WHERE invoice_id=?", (invoice,)
        ).fetchone()[0]
        conn.execute("UPDATE komet_invoices SET web_order_id=? WHERE id=?", (first, invoice))
    retotal(conn, invoice)


def web_orders_of(conn: Any, invoice: int) -> list[int]:
    rows = conn.execute(
        "SELECT web_order_id FROM komet_invoice_orders WHERE invoice_id=? ORDER BY web_order_id",
        (invoice,),
    ).fetchall()
    return [r[0] for r in rows]
