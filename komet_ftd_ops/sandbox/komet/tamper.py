"""The Komet twin goes wrong on purpose: people change Komet behind the kit's back.

`POST /_sandbox/tamper {"kind": K, "count": N}` changes up to N invoices of the FTD customer
that the kit created (web-order checkouts), the way a sales rep or a back-office clerk would:

    void-invoice     the rep voids the invoice (boxes go back on the shelf)
    edit-quantity    one detail line's boxes change (+1, or -1 when it had more than one box);
                     units, line total and invoice total follow, as Komet recomputes them
    edit-price       one detail line's unit price goes up by 10 % (at least one cent)
    extra-invoice    a new invoice for the FTD customer that no FTD order asked for
                     (a phone order keyed by hand), on a ship date the kit's invoices use
    delete-invoice   the invoice and its web order disappear (boxes go back); never the
                     newest invoice, so its id is not handed out again
    never-confirm    the rep will never confirm it: `confirm --all` skips it, and its
                     `createdOn` is set `age_hours` back so it already looks old

Each tamper picks invoices no earlier tamper touched (`komet_tampered`), so every changed
invoice has exactly one known defect, which is what the reconciliation tests rely on. Picks are
random but repeatable: seeded by the twin's seed and how many tampers came before.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from ...state.sqlite_file import SQLiteFile as Store
from ..catalogue import INVOICE_NUMBER_OFFSET
from . import billing
from . import db as komet_db
from .wire import CENT

KINDS = (
    "void-invoice",
    "edit-quantity",
    "edit-price",
    "extra-invoice",
    "delete-invoice",
    "never-confirm",
)
DEFAULT_AGE_HOURS = 72.0
PENDING, CONFIRMED, VOIDED = 0, 1, 4
WEB_ORDER_DELETED = 3


def tampered(db: Store) -> list[dict[str, Any]]:
    """Every tamper so far, oldest first."""
    rows = db.query("SELECT * FROM komet_tampered ORDER BY at, invoice_id")
    return [dict(r) for r in rows]


def tamper(
    db: Store, kind: str, count: int, *, age_hours: float = DEFAULT_AGE_HOURS,
    seed: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Apply `count` tampers of one kind; returns what changed (fewer when candidates run out)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of: {', '.join(KINDS)}")
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 1000:
        raise ValueError("count must be a whole number 1..1000")
    if not 0 <= age_hours <= 24 * 365:
        raise ValueError("age_hours must be between 0 and 8760")
    done = len(tampered(db))
    rng = random.Random(
        f"komet-tamper:given:{seed}" if seed is not None
        else f"komet-tamper:{komet_db.stored(db, 'seed', 0)}:{done}"
    )  # fmt: skip
    ftd = int(komet_db.seed_info(db)["ftd_customer_id"])
    changed: list[dict[str, Any]] = []
    with db.atomic() as conn:
        if kind == "extra-invoice":
            for _ in range(count):
                changed.append(_extra_invoice(conn, ftd, rng))
        else:
            statuses = (PENDING,) if kind == "never-confirm" else (PENDING, CONFIRMED)
            candidates = _candidates(conn, ftd, statuses)
            if kind == "delete-invoice":
                # The twin numbers a new invoice after the highest id: deleting the newest one
                # would hand its id out again, which real Komet never does.
                newest = conn.execute("SELECT MAX(id) FROM komet_invoices").fetchone()[0]
                candidates = [row for row in candidates if row["id"] != newest]
            for row in rng.sample(candidates, min(count, len(candidates))):
                changed.append(_ACTIONS[kind](conn, row, rng, age_hours))
        stamp = komet_db.now_stamp()
        conn.executemany(
            "INSERT INTO komet_tampered VALUES (?, ?, ?, ?, ?, ?)",
            [
                (c["invoice_id"], kind, stamp, c["web_order_id"], c["customer_po"], c["detail"])
                for c in changed
            ],
        )
    return {"kind": kind, "asked": count, "changed": sorted(changed, key=lambda c: c["invoice_id"])}


def _candidates(conn: Any, customer: int, statuses: tuple[int, ...]) -> list[Any]:
    """The kit's invoices (they came from a web order) that no tamper has touched."""
    marks = ",".join("?" * len(statuses))
    return conn.execute(
        "SELECT * FROM komet_invoices WHERE customer_id = ? AND web_order_id IS NOT NULL "
        f"AND status IN ({marks}) AND id NOT IN (SELECT invoice_id FROM komet_tampered) "
        "ORDER BY id",
        (customer, *statuses),
    ).fetchall()


def _result(row: Any, detail: str) -> dict[str, Any]:
    return {
        "invoice_id": row["id"],
        "number": row["number"],
        "web_order_id": row["web_order_id"],
        "customer_po": row["customer_po"],
        "ship_date": row["ship_date"],
        "detail": detail,
    }


def _void(conn: Any, row: Any, rng: random.Random, age_hours: float) -> dict[str, Any]:
    komet_db.release_invoice(conn, row["id"])
    conn.execute(
        "UPDATE komet_invoices SET status = ?, updated_on = ? WHERE id = ?",
        (VOIDED, komet_db.now_stamp(), row["id"]),
    )
    return _result(row, f"status {row['status']} -> {VOIDED} (voided)")


def _delete(conn: Any, row: Any, rng: random.Random, age_hours: float) -> dict[str, Any]:
    komet_db.release_invoice(conn, row["id"])
    held = billing.web_orders_of(conn, row["id"]) or [row["web_order_id"]]
    conn.execute("DELETE FROM komet_invoice_details WHERE invoice_id = ?", (row["id"],))
    conn.execute("DELETE FROM komet_invoice_orders WHERE invoice_id = ?", (row["id"],))
    conn.execute("DELETE FROM komet_invoices WHERE id = ?", (row["id"],))
    conn.executemany(
        "UPDATE komet_web_orders SET status_id = ?, invoice_id = NULL, updated_at = ? WHERE id = ?",
        [(WEB_ORDER_DELETED, komet_db.now_stamp(), web_order) for web_order in held],
    )
    return _result(row, "invoice and its web order deleted")


def _edit_line(conn: Any, row: Any, rng: random.Random, field: str) -> dict[str, Any]:
    details = conn.execute(
        "SELECT * FROM komet_invoice_details WHERE invoice_id = ? AND kind = 'product' ORDER BY id",
        (row["id"],),
    ).fetchall()
    line = rng.choice(details)
    boxes, price = line["boxes"], Decimal(line["price"])
    units_per_box = line["units"] // line["boxes"] if line["boxes"] else 0
    if field == "boxes":
        boxes = boxes - 1 if boxes > 1 else boxes + 1
        detail = f"detail {line['id']}: boxes {line['boxes']} -> {boxes}"
    else:
        price = max(price + CENT, (price * Decimal("1.10")).quantize(CENT))
        detail = f"detail {line['id']}: price {line['price']} -> {price}"
    units = boxes * units_per_box
    conn.execute(
        "UPDATE komet_invoice_details SET boxes = ?, units = ?, price = ?, total = ? WHERE id = ?",
        (boxes, units, str(price), str((price * units).quantize(CENT)), line["id"]),
    )
    billing.retotal(conn, row["id"])  # a charge line keeps its amount: the fee was charged
    return _result(row, detail)


def _never_confirm(conn: Any, row: Any, rng: random.Random, age_hours: float) -> dict[str, Any]:
    # The twin cannot wait days, so the invoice is made to look as old as a forgotten one.
    created = datetime.now(UTC) - timedelta(hours=age_hours)
    stamp = created.strftime("%Y-%m-%dT%H:%M:%S")
    conn.execute("UPDATE komet_invoices SET created_on = ? WHERE id = ?", (stamp, row["id"]))
    return _result(row, f"never confirmed; createdOn {row['created_on']} -> {stamp}")


def _extra_invoice(conn: Any, customer: int, rng: random.Random) -> dict[str, Any]:
    """A phone order keyed by hand for the FTD customer: no web order, no FTD order number."""
    ships = [
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT ship_date FROM komet_invoices WHERE customer_id = ? AND "
            "web_order_id IS NOT NULL ORDER BY ship_date",
            (customer,),
        )
    ]
    ship = rng.choice(ships) if ships else (date.today() + timedelta(days=1)).isoformat()
    items = conn.execute(
        "SELECT * FROM komet_items WHERE origin = 1 AND price != '' AND units_per_box > 0 "
        "ORDER BY id"
    ).fetchall()
    item = rng.choice(items)
    invoice = billing.next_invoice_id(conn)
    detail_id = (
        conn.execute("SELECT COALESCE(MAX(id), 9100000) FROM komet_invoice_details").fetchone()[0]
        + 1
    )
    boxes = rng.randint(1, 3)
    units = boxes * item["units_per_box"]
    price = Decimal(item["price"]).quantize(CENT)
    total = (price * units).quantize(CENT)
    conn.execute(
        "INSERT INTO komet_invoice_details (id, invoice_id, product_description, inventory_ids, "
        "boxes, units, price, total) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (detail_id, invoice, item["description"], item["line_ids"], boxes, units, str(price),
         str(total)),
    )  # fmt: skip
    who = conn.execute("SELECT sales_person FROM komet_customers WHERE id = ?", (customer,))
    carrier = conn.execute(
        "SELECT c.name FROM komet_carriers c JOIN komet_customer_carriers cc ON cc.carrier_id = "
        "c.id WHERE cc.customer_id = ? ORDER BY c.id LIMIT 1",
        (customer,),
    ).fetchone()
    stamp = komet_db.now_stamp()
    po = f"PHONE-{rng.randint(1000, 9999)}"
    conn.execute(
        f"INSERT INTO komet_invoices VALUES ({', '.join('?' * 14)})",
        (invoice, str(invoice - INVOICE_NUMBER_OFFSET), customer, None, po, PENDING, stamp, ship,
         str(total), carrier["name"] if carrier else "", stamp, "phone order",
         who.fetchone()["sales_person"], 0),
    )  # fmt: skip
    return {
        "invoice_id": invoice,
        "number": str(invoice - INVOICE_NUMBER_OFFSET),
        "web_order_id": None,
        "customer_po": po,
        "ship_date": ship,
        "detail": json.dumps({"item": item["id"], "boxes": boxes, "price": str(price)}),
    }


_ACTIONS = {
    "void-invoice": _void,
    "delete-invoice": _delete,
    "edit-quantity": lambda conn, row, rng, age: _edit_line(conn, row, rng, "boxes"),
    "edit-price": lambda conn, row, rng, age: _edit_line(conn, row, rng, "price"),
    "never-confirm": _never_confirm,
}
