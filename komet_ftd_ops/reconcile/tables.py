"""The reconciliation as tables: what the notebook shows and the workbook holds.

Money stays `Decimal` in these frames (object columns): the workbook writes it as numbers with a
money format, and nothing here rounds through float.
"""

from __future__ import annotations

from decimal import Decimal

import pandas as pd

from .categories import CATEGORIES, LABELS, PROBLEMS, Finding
from .core import Reconciliation
from .sources import AWAITING_CONFIRMATION

# The columns of a findings table, in order, with the header a person reads.
COLUMNS = {
    "category": "Category",
    "order_id": "FTD order id",
    "order_number": "FTD order no. (customerPo)",
    "ship_date": "Ship date",
    "requested_ship_date": "FTD asked to ship",
    "florist": "Florist",
    "ship_to": "Komet ship-to (kit's choice)",
    "ships_to_now": "Komet ship-to now",
    "carrier": "Carrier (kit's choice)",
    "invoice_carrier": "Invoice carrier",
    "ftd_status": "FTD status",
    "ledger_state": "Ledger state",
    "web_order_id": "Komet web order",
    "invoice_number": "Komet invoice",
    "invoice_status": "Invoice status",
    "matched_by": "Matched by",
    "boxes_ordered": "Boxes ordered",
    "boxes_accepted": "Boxes accepted",
    "boxes_invoiced": "Boxes invoiced",
    "expected_total": "Expected total",
    "invoice_total": "Invoice total",
    "fee": "Fee billed",
    "difference": "Difference",
    "pending_hours": "Pending (h)",
    "park_reason": "Parked",
    "detail": "What is wrong",
    "run_id": "Run",
    "run_notebook": "Run notebook",
}
MONEY_COLUMNS = ("expected_total", "invoice_total", "fee", "difference")


def _row(result: Reconciliation, f: Finding) -> dict[str, object]:
    order, invoice = f.order, f.invoice
    accepted = sum(x.boxes_expected for x in order.lines if not x.rejected) if order else None
    billed = None
    if invoice and invoice.lines is not None and all(x.boxes is not None for x in invoice.lines):
        billed = sum(x.boxes or 0 for x in invoice.lines)
    invoice_total = invoice.total if invoice else None
    expected = f.expected_total
    difference = None
    # An amount that could not be read leaves the difference empty: it is not a 0.00.
    unread = (invoice is not None and invoice_total is None) or (order and order.unreadable)
    # A merged invoice bills several orders: its total is compared with all of them (detail).
    if not unread and not f.shared_with and (expected is not None or invoice_total is not None):
        difference = (invoice_total or Decimal("0.00")) - (expected or Decimal("0.00"))
    run = result.run_of(f)
    ship_to = None
    if order is not None and order.decided:
        ship_to = f"{order.ship_to_id or 'default'} ({order.ship_to_how})"
    return {
        "category": f.category,
        "order_id": order.order_id if order else None,
        "order_number": order.order_number if order else (invoice.customer_po if invoice else None),
        "ship_date": (order.ship_date if order else None)
        or (invoice.ship_date if invoice else None),
        "requested_ship_date": order.requested_ship_date if order else None,
        "florist": (order.florist if order else "") or None,
        "ship_to": ship_to,
        "ships_to_now": ", ".join(x or "default" for x in f.ships_to) or None,
        "carrier": (order.carrier if order else "") or None,
        "invoice_carrier": (invoice.carrier_name if invoice else "") or None,
        "ftd_status": f.ftd_status or None,
        "ledger_state": order.state if order else None,
        "web_order_id": (order.web_order_id if order else None)
        or (invoice.web_order_id if invoice else None),
        "invoice_number": invoice.number if invoice else None,
        "invoice_status": invoice.status_name if invoice else None,
        "matched_by": f.matched_by or None,
        "boxes_ordered": sum(x.boxes_ordered for x in order.lines) if order else None,
        "boxes_accepted": accepted,
        "boxes_invoiced": billed,
        "expected_total": expected,
        "invoice_total": invoice_total,
        "fee": f.fee,
        "difference": difference,
        "pending_hours": round(f.pending_hours, 1)
        if f.pending_hours is not None and invoice and invoice.status in AWAITING_CONFIRMATION
        else None,
        "park_reason": order.park_reason if order else None,
        "detail": f.detail,
        "run_id": order.run_id if order else None,
        "run_notebook": run.notebook if run else None,
    }


def findings_frame(result: Reconciliation, category: str | None = None) -> pd.DataFrame:
    """One row per order (or orphan invoice); only one category's rows when given."""
    rows = [_row(result, f) for f in result.findings if category in (None, f.category)]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def summary_frame(result: Reconciliation) -> pd.DataFrame:
    """Per category: what it means, how many, whether it is a problem, and the money involved."""
    counts = result.counts()
    rows = []
    for category in CATEGORIES:
        found = [f for f in result.findings if f.category == category]
        rows.append(
            {
                "category": category,
                "meaning": LABELS[category],
                "orders": counts[category],
                "problem": category in PROBLEMS,
                "expected_total": sum(
                    (f.expected_total for f in found if f.expected_total is not None),
                    Decimal("0.00"),
                ),
                "invoice_total": sum(
                    (f.invoice.total for f in found if f.invoice and f.invoice.total is not None),
                    Decimal("0.00"),
                ),
            }
        )
    return pd.DataFrame(rows)


def per_day_frame(result: Reconciliation) -> pd.DataFrame:
    """Orders per ship date (rows) and category (columns, every one of them)."""
    frame = findings_frame(result)[["ship_date", "category"]]
    if frame.empty:
        return pd.DataFrame(columns=list(CATEGORIES))
    table = pd.crosstab(frame["ship_date"], frame["category"])
    return table.reindex(columns=list(CATEGORIES), fill_value=0).sort_index()


def pending_frame(result: Reconciliation) -> pd.DataFrame:
    """Invoices still awaiting the sales rep's confirmation, oldest first."""
    rows = [
        {
            "invoice_number": f.invoice.number,
            "order_number": f.order.order_number if f.order else f.invoice.customer_po,
            "ship_date": f.invoice.ship_date,
            "status": f.invoice.status_name,
            "age_hours": round(f.pending_hours, 1),
            "category": f.category,
        }
        for f in result.findings
        if f.invoice is not None
        and f.invoice.status in AWAITING_CONFIRMATION
        and f.pending_hours is not None
    ]
    frame = pd.DataFrame(
        rows,
        columns=["invoice_number", "order_number", "ship_date", "status", "age_hours", "category"],
    )
    return frame.sort_values("age_hours", ascending=False, ignore_index=True)


def problems_frame(result: Reconciliation, limit: int = 30) -> pd.DataFrame:
    """The first problems, for the notebook (the workbook has them all)."""
    frame = findings_frame(result)
    keep = ["category", "order_number", "ship_date", "florist", "invoice_number", "detail",
            "run_notebook"]  # fmt: skip
    return frame[frame["category"].isin(PROBLEMS)][keep].head(limit).reset_index(drop=True)


def orphans_frame(result: Reconciliation) -> pd.DataFrame:
    """Empty web-order headers lost creates may have left in Komet, for the sales rep."""
    rows = [
        {
            "order_number": o.order_number or None,
            "order_id": o.order_id,
            "create_sent_at": o.sent_at,
            "web_order_id": o.web_order_id,
        }
        for o in result.orphan_headers
    ]
    return pd.DataFrame(
        rows, columns=["order_number", "order_id", "create_sent_at", "web_order_id"]
    )
