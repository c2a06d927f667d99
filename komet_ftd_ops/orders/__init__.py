"""The order pipeline: every FTD checkout becomes exactly one Komet invoice.

    intake.py       FTD listing (cursor, server watermark, overlap) → the ledger
    ledger.py       the orders, their lines and Komet web orders in the state database; the
                    state machine is drawn there
    checks.py       before Komet: offer published, price within tolerance, ship date ahead
    witnesses.py    before a create: what FTD and Komet already hold of the order
    komet_steps.py  create, add lines, check out (or place without), delete; lost answers read back
    orphans.py      empty Komet headers a lost create may have left, listed for the sales rep
    ftd_steps.py    acknowledgement, CONFIRMED, CANCELLED with idempotency keys
    pipeline.py     one cycle: intake, each open order step by step, invoices followed
    invoices.py     each order's invoice found (link fields, Order #, lines) and followed
    cycle.py        what one cycle remembers, and the table from a failure to a parking reason
    report.py       counters and small tables for the sync notebook
    check.py        invariants over the ledger and the twin's dumps (tests, demos)

`sync.run_cycle` calls `process_orders` before the inventory refresh, so orders come first in
Komet's daily quota and the boxes they take lower the next feed (`OrdersReport.shadow_stock`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ..lazy import lazy_names

if TYPE_CHECKING:
    from ..state.store import Store
    from .invoices import follow_invoices
    from .ledger import Line, Order, OrderLedger
    from .pipeline import advance, process_orders
    from .report import OrdersReport

# Names are imported on first use (PEP 562): the runs page and the health check reach the
# ledger (`orders.ledger`) without paying for the pipeline and pandas, which only a cycle needs.
_WHERE = {
    "Line": "ledger",
    "Order": "ledger",
    "OrderLedger": "ledger",
    "OrdersReport": "report",
    "advance": "pipeline",
    "follow_invoices": "invoices",
    "process_orders": "pipeline",
}

__getattr__ = lazy_names(__name__, _WHERE)


def release_order(store: Store, profile: str, order_id: str, note: str = "") -> None:
    """A person has dealt with a parked order: let the next cycle take it up again."""
    from .ledger import OrderLedger

    ledger = OrderLedger(store, profile)
    ledger.unpark(order_id, datetime.now(UTC), note or "released by hand")


__all__ = [
    "Line",
    "Order",
    "OrderLedger",
    "OrdersReport",
    "advance",
    "follow_invoices",
    "process_orders",
    "release_order",
]
