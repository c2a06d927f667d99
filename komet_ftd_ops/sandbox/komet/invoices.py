"""Komet twin invoice methods: invoice.list, invoice.details.list, invoice.pdf.get.

Komet bounds these reads (six months of ship dates for the list, four days and 10,000 boxes for
details) so a client has to page by date; the twin enforces the same bounds.

Two switches shape what an invoice shows: `link_fields` (which of `customerPo`, `webOrderId`
the items carry: no public page shows either) and `fee_on_invoice` (`charge`: `subtotal`,
`additionalCharges` and a charge line marked `isCharge`; `none`: the lines alone). The
`order`/`orderId` filters find an invoice under every value.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from .wire import Call, Refusal, add_months, invalid, required

STATUSES = (0, 1, 2, 4)  # pending, confirmed, draft, voided


def _filters(call: Call, max_days: int | None) -> tuple[str, list[Any]]:
    """The WHERE clause both list methods share. `max_days` None means six calendar months."""
    where: list[str] = []
    params: list[Any] = []
    customer = call.customer_filter()
    if customer is not None:  # a Customer token is always limited to its own customer
        where.append("customer_id = ?")
        params.append(customer)
    order_id, number = call.integer("orderId"), call.text("order")
    if order_id is not None or number is not None:  # then the dates are ignored
        if order_id is not None:
            where.append("id = ?")
            params.append(order_id)
        if number is not None:
            where.append("number = ?")
            params.append(number)
    else:
        first, last = call.day("orderDateFrom"), call.day("orderDateTo")
        if first is None:
            raise required("orderDateFrom")
        if last is None:
            raise required("orderDateTo")
        limit = add_months(first, 6) if max_days is None else first + timedelta(days=max_days)
        if last < first or last > limit:
            raise invalid("orderDateTo")
        where.append("ship_date BETWEEN ? AND ?")
        params += [first.isoformat(), last.isoformat()]
    status = call.integer("status")
    if status is not None:
        if status not in STATUSES:
            raise invalid("status")
        where.append("status = ?")
        params.append(status)
    ecommerce = call.flag("isEcommerce")
    if ecommerce is not None:
        where.append("is_ecommerce = ?")
        params.append(int(ecommerce))
    since = call.stamp("updatedAsOf")
    if since is not None:
        where.append("updated_on >= ?")
        params.append(since)
    return " AND ".join(where) or "1", params


def _invoices(call: Call, max_days: int | None) -> list[Any]:
    clause, params = _filters(call, max_days)
    rows = call.db.query(
        f"SELECT * FROM komet_invoices WHERE {clause} ORDER BY ship_date, id", tuple(params)
    )
    if not rows:
        raise Refusal("Orders not found.")
    return rows


LINK_FIELDS = {
    "both": ("customerPo", "webOrderId"),
    "customerPo": ("customerPo",),
    "webOrderId": ("webOrderId",),
    "neither": (),
}


def _charges(call: Call, invoice: int) -> Decimal:
    rows = call.db.query(
        "SELECT total FROM komet_invoice_details WHERE invoice_id=? AND kind='charge'", (invoice,)
    )
    return sum((Decimal(r[0]) for r in rows), Decimal("0.00"))


def _invoice_json(call: Call, row: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row["id"],
        "number": row["number"],
        "createdOn": row["created_on"],
        "shipDate": row["ship_date"],
        "status": row["status"],
        "total": Decimal(row["total"]),
        "carrierName": row["carrier_name"],
        "updatedOn": row["updated_on"],
        "invoiceNotes": row["invoice_notes"],
        "salesPersonName": row["sales_person_name"],
        "customerId": row["customer_id"],
    }
    links = {"customerPo": row["customer_po"], "webOrderId": row["web_order_id"]}
    for name in LINK_FIELDS[call.settings["link_fields"]]:
        out[name] = links[name]
    if call.settings["fee_on_invoice"] == "charge":
        charges = _charges(call, row["id"])
        out["subtotal"] = Decimal(row["total"]) - charges
        out["additionalCharges"] = charges
    return out


def invoice_list(call: Call) -> dict[str, Any]:
    return {"invoices": [_invoice_json(call, r) for r in _invoices(call, None)]}


def invoice_details_list(call: Call) -> dict[str, Any]:
    """At most 4 days of ship dates and `detail_box_limit` boxes per call."""
    invoices = _invoices(call, 4)
    out, boxes = [], 0
    limit = call.settings["detail_box_limit"]
    for row in invoices:
        details = call.db.query(
            "SELECT * FROM komet_invoice_details WHERE invoice_id=? ORDER BY id", (row["id"],)
        )
        boxes += sum(d["boxes"] for d in details)
        if boxes > limit:
            raise Refusal(f"Too many boxes: at most {limit} boxes per call.")
        charge = call.settings["fee_on_invoice"] == "charge"
        out.append({**_invoice_json(call, row), "details": [_detail(d, charge) for d in details]})
    return {"invoices": out}


def _detail(row: Any, charge: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "detailId": row["id"],
        "productDescription": row["product_description"],
        "inventoryIds": row["inventory_ids"],
        "boxes": row["boxes"],
        "units": row["units"],
        "price": Decimal(row["price"]),
        "total": Decimal(row["total"]),
    }
    if charge:  # the account shows the fee as an additional charge: lines say which is which
        out["isCharge"] = row["kind"] == "charge"
    return out


def invoice_pdf(call: Call) -> dict[str, Any]:
    """[doc] A POST with the token in the body; answers `file`: the PDF's bytes as
    comma-separated signed bytes ("37,80,68,70,..."), as a Java byte[] prints. Here a small,
    valid one-page PDF naming the invoice."""
    invoice = call.integer("invoiceId", need=True)
    customer = call.customer_filter()
    sql, params = "SELECT * FROM komet_invoices WHERE id=?", [invoice]
    if customer is not None:
        sql += " AND customer_id=?"
        params.append(customer)
    rows = call.db.query(sql, tuple(params))
    if not rows:
        raise invalid("invoiceId")
    row = rows[0]
    data = _pdf(f"Invoice {row['number']} total {row['total']}")
    return {
        "invoiceId": row["id"],
        "fileName": f"Invoice_{row['number']}.pdf",
        "file": ",".join(str(b - 256 if b > 127 else b) for b in data),
    }


def _pdf(text: str) -> bytes:
    stream = f"BT /F1 14 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)
