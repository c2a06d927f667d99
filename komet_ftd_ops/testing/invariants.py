"""The order invariants, checked over the ledger and the twin's state dumps (`/_sandbox/dump`).

Every FTD order ends in exactly one of these ways, and the check says which rule broke:

- accepted (ACKNOWLEDGED, CONFIRMED, CANCEL_REQUESTED...): exactly one Komet web order, checked
  out with `customerPo` = the FTD order number, holding exactly the accepted lines (inventory
  ids, boxes accepted, price), and FTD's acknowledgement names that web order;
- rejected (every line): no live Komet web order holds it;
- cancelled: nothing live in Komet (deleted, or its invoice voided);
- still NEW: parked in the ledger with a reason (or, mid-run, on its way);
- and no live Komet web order of the FTD customer belongs to no order (none lost, none doubled),
  except empty pending headers, as many as the lost creates recorded (`orders.orphans`).

Used by the fault tests, the simulation and the benchmark; `violations` returns readable lines,
empty when all is well. `held_or_stuck` lists what no rule above catches and still is not well:
orders parked for a person, or stuck (health's `held` check, the same lines), which
`sandbox check` reports instead of "ok".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ..komet.models import InvoiceStatus, WebOrderStatus
from ..offers.ids import OfferId
from ..orders.ledger import Order, OrderLedger
from ..orders.orphans import OrphanHeaders
from ..state.store import Store

LIVE = (WebOrderStatus.PENDING, WebOrderStatus.CHECKED_OUT)  # not DELETED (3 in the dump)
ACCEPTED = ("ACKNOWLEDGED", "CONFIRMED", "SHIPPED", "CANCEL_REQUESTED")
CENT = Decimal("0.01")

Item = tuple[tuple[str, ...], int, Decimal]


def _item(ids: Any, quantity: Any, price: Any) -> Item:
    parts = tuple(sorted(p.strip() for p in str(ids).split(",") if p.strip()))
    return parts, int(quantity), Decimal(str(price)).quantize(CENT)


def _accepted_items(order: Mapping[str, Any]) -> Counter[Item]:
    lines = {str(line["line_id"]): line for line in order["lines"]}
    wanted: Counter[Item] = Counter()
    for decision in (order.get("acknowledgement") or {}).get("lines", []):
        if decision["decision"] != "ACCEPT":
            continue
        line = lines[str(decision["line_id"])]
        ids = OfferId.parse(str(line["offer_id"])).komet
        wanted[_item(ids, decision["boxes_accepted"], line["price_per_unit"])] += 1
    return wanted


def _ack_problems(order: Mapping[str, Any]) -> list[str]:
    ack, out = order.get("acknowledgement") or {}, []
    ordered = {str(line["line_id"]): line["boxes"] for line in order["lines"]}
    for decision in ack.get("lines", []):
        boxes = decision.get("boxes_accepted") or 0
        if boxes > ordered.get(str(decision["line_id"]), 0):
            out.append(f"line {decision['line_id']} accepts {boxes} boxes, more than ordered")
        if (
            decision["decision"] == "REJECT" or boxes < ordered.get(str(decision["line_id"]), 0)
        ) and not decision.get("reason_code"):
            out.append(f"line {decision['line_id']} is short without a reason_code")
    return out


def violations(
    store: Store,
    profile: str,
    komet_dump: Mapping[str, Any],
    ftd_dump: Mapping[str, Any],
    customer_id: str,
    *,
    final: bool = True,
) -> list[str]:
    """Broken invariants, one line each. `final`: the run is over, nothing may be on its way."""
    ledger = OrderLedger(store, profile)
    orders = {o.order_id: o for o in ledger.orders()}
    web = {str(w["id"]): w for w in komet_dump["web_orders"]}
    invoices = {str(i["id"]): i for i in komet_dump.get("invoices", [])}
    problems: list[str] = []
    claimed = Counter(o.web_order_id for o in orders.values() if o.web_order_id)
    for web_order_id, count in claimed.items():
        if count > 1:
            problems.append(f"web order {web_order_id} is held by {count} FTD orders")
    ours = [w for w in web.values() if str(w["customerId"]) == str(customer_id)]
    # A lost create may leave an empty pending header: fine while a recorded lost create
    # accounts for it (listed for the sales rep), never beyond that count.
    orphans = len(OrphanHeaders(store, profile).open())
    for w in ours:
        if w["status"] in LIVE and str(w["id"]) not in claimed:
            bare = w["status"] == WebOrderStatus.PENDING and not w["items"]
            if bare and orphans > 0:
                orphans -= 1
                continue
            problems.append(
                f"web order {w['id']} ({len(w['items'])} items, status {w['status']}) "
                "belongs to no FTD order"
            )
    # customer_checkout=no: the web order is never checked out and carries no customerPo; its
    # invoice (from the first add) is what the sales rep confirms.
    placed = (komet_dump.get("settings") or {}).get("customer_checkout") == "no"
    by_po = Counter(
        str(w["customerPo"]) for w in web.values() if w["status"] in LIVE and w["customerPo"]
    )
    for ftd_order in ftd_dump["orders"]:
        found = _check_order(
            ftd_order, orders.get(ftd_order["order_id"]), web, invoices, by_po, final, placed
        )
        problems += [f"{ftd_order['order_id']}: {text}" for text in found]
    return problems


def held_or_stuck(
    store: Store, profile: str, *, now: datetime | None = None, max_stuck_min: float = 60.0
) -> list[str]:
    """Orders held for a person or stuck, one line each (see `runs.health.held_and_stuck`)."""
    from ..reconcile.ledger_view import open_orders
    from ..runs.health import held_and_stuck

    return held_and_stuck(open_orders(store, profile), now or datetime.now(UTC), max_stuck_min)


def _check_order(
    ftd_order: Mapping[str, Any],
    order: Order | None,
    web: Mapping[str, Mapping[str, Any]],
    invoices: Mapping[str, Mapping[str, Any]],
    by_po: Counter[str],
    final: bool,
    placed: bool = False,
) -> list[str]:
    status, number = ftd_order["status"], str(ftd_order["order_number"])
    if order is None:
        return ["never reached the ledger (lost)"] if final or status != "NEW" else []
    w = web.get(str(order.web_order_id)) if order.web_order_id else None
    live = w is not None and w["status"] in LIVE
    out = _ack_problems(ftd_order)
    if status in ACCEPTED:
        ack = ftd_order.get("acknowledgement") or {}
        if ack.get("supplier_ref") != order.web_order_id:
            out.append(
                f"acknowledged with ref {ack.get('supplier_ref')!r}, ledger holds web "
                f"order {order.web_order_id}"
            )
        unchecked = placed and w is not None and w["status"] in LIVE and w.get("invoiceId")
        if w is None or (w["status"] != WebOrderStatus.CHECKED_OUT and not unchecked):
            return out + [f"accepted on FTD but web order {order.web_order_id} is not checked out"]
        if str(w["customerPo"]) != number and not (placed and not w["customerPo"]):
            out.append(f"web order {w['id']} has customerPo {w['customerPo']!r}")
        have = Counter(_item(i["inventoryIds"], i["quantity"], i["price"]) for i in w["items"])
        if have != _accepted_items(ftd_order):
            out.append(
                f"web order {w['id']} holds {sorted(have.elements())}, FTD accepted "
                f"{sorted(_accepted_items(ftd_order).elements())}"
            )
        if by_po[number] > 1:
            out.append(f"{by_po[number]} live web orders carry customerPo {number}")
        out += _status_problems(ftd_order, w, invoices)
    elif status == "REJECTED":
        if live or by_po[number]:
            out.append("rejected on FTD but a live Komet web order holds it")
    elif status == "CANCELLED":
        invoice = invoices.get(str(w["invoiceId"])) if w and w.get("invoiceId") else None
        voided = invoice is not None and invoice["status"] == InvoiceStatus.VOIDED
        # A pending web order whose invoice is voided (placed without a checkout, then voided by
        # the sales rep) holds nothing any more.
        pending = live and w is not None and w["status"] == WebOrderStatus.PENDING and not voided
        if pending or (invoice and not voided):
            out.append("cancelled on FTD but Komet still holds it")
    elif status == "NEW" and final and not order.parked:
        out.append(f"still NEW on FTD and not parked (ledger state {order.state})")
    return out


def _status_problems(
    ftd_order: Mapping[str, Any], w: Mapping[str, Any], invoices: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    """CONFIRMED on FTD only for a confirmed Komet invoice, with its number."""
    confirmed = [u for u in ftd_order.get("status_updates", []) if u["status"] == "CONFIRMED"]
    if not confirmed:
        return []
    invoice = invoices.get(str(w.get("invoiceId")))
    if invoice is None or invoice["status"] != InvoiceStatus.CONFIRMED:
        return ["CONFIRMED on FTD but the Komet invoice is not confirmed"]
    if confirmed[-1].get("invoice_number") != str(invoice["number"]):
        return [
            f"CONFIRMED with invoice {confirmed[-1].get('invoice_number')!r}, Komet has "
            f"{invoice['number']!r}"
        ]
    return []
