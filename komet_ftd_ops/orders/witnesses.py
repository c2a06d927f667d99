"""Know before you create: what FTD and Komet already hold of an order, asked before each create.

A restored older database, or a second home on the same accounts, sees orders as new that were
already placed. Komet has no idempotency key, so before `web-order.create` the kit asks the two
witnesses that could know:

- FTD: the order itself (`GET /orders/{id}`, outside Komet's quota). Anything but NEW means an
  acknowledgement went out that this ledger never recorded. An order this cycle's own listing
  brought in as NEW needs no second read: that listing is FTD's answer of moments ago (a
  restored database re-lists an order it lost at its newer, acknowledged version, and intake
  never takes that in as new), so only orders from earlier cycles are read again. The kit's `supplier_ref` is the web
  order id, and FTD's order view repeats it under `acknowledgement` (docs/ftd-api.md), so FTD
  names the web order to adopt. Invisible to both: a web order created (even checked out) by a
  lost copy of the database that died before acknowledging, when `invoice.list` carries no PO.
- Komet: the FTD customer's invoices for the order's ship date, matched on the FTD order number
  the kit sends as `customerPo`. One `invoice.list` per cycle covers every order about to be
  created (`Cycle.invoices`). Where the account's `invoice.list` items carry no `customerPo`
  (switch `link_fields`: neither or webOrderId, the hardest reading) this witness is blind, and
  the run says so once; a draft invoice (before checkout) or a web order the sales rep confirms
  without a checkout carries no PO either.

Only an unambiguous match is adopted (the web order read back by its id, its items matched to
the order's lines, then the acknowledgement rebuilt from the ledger, which FTD replays if it is
what FTD already holds). Anything less clear is parked for a person, never guessed.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..errors import KometFtdOpsError
from ..ftd.models import CANCELLED as FTD_CANCELLED
from ..ftd.models import NEW, FtdOrder
from ..ftd.models import REJECTED as FTD_REJECTED
from ..komet.models import InvoiceStatus, WebOrderItem, WebOrderStatus
from ..offers.ids import OfferId, inventory_ids_of
from .cycle import FTD, Cycle, Parked, classify
from .ftd_steps import OUT_OF_STOCK, ack_body, record_acknowledging
from .ledger import ACKNOWLEDGED, ADDED, CANCELLED, REJECTED, Line, Order

BLIND = "the Komet witness is blind: invoice.list items carry no customerPo (link_fields={})"
HALF_CENT = Decimal("0.005")  # Komet keeps prices to the cent


def po_visible(cycle: Cycle) -> bool:
    return cycle.switch("link_fields") in ("both", "customerPo")


def consult(cycle: Cycle, order: Order, lines: list[Line]) -> bool:
    """True when a witness settled the order (adopted or decided): then nothing is created."""
    listed = order.order_id in cycle.listed_new and order.ftd_status == NEW
    ftd_order = None if listed else _ftd_order(cycle, order)
    status = ftd_order.status if ftd_order is not None else NEW
    ref = _supplier_ref(ftd_order.raw) if ftd_order is not None else ""
    web_order_id = ref if ref.isdigit() else ""
    if not web_order_id:
        web_order_id = _komet_witness(cycle, order)
    if status == NEW and not web_order_id:
        return False  # neither witness knows the order: create it
    if status == FTD_REJECTED:
        _decided(cycle, order, lines, REJECTED, "FTD already holds its rejection")
        return True
    if status == FTD_CANCELLED:
        _decided(cycle, order, lines, CANCELLED, "FTD already holds it as cancelled")
        return True
    if not web_order_id:
        raise Parked(
            "already_on_ftd",
            f"FTD holds this order as {status}, an answer this database never sent (an older "
            "copy of the database, or a second home?); not creating a second web order: find "
            "its web order in Komet and settle it by hand",
            retry=False,
        )
    _adopt(cycle, order, lines, web_order_id, status)
    return True


def _ftd_order(cycle: Cycle, order: Order) -> FtdOrder | None:
    if FTD in cycle.stopped:
        raise Parked(cycle.stopped[FTD], "FTD's order not read before the create", retry=True)
    try:
        answer = cycle.clients.ftd.get_order(order.order_id)
    except KometFtdOpsError as exc:
        verdict = classify(exc, FTD)  # an FTD failure, even inside a Komet step
        if verdict.failed:
            cycle.failed(FTD, verdict.reason)
        if verdict.stop:
            cycle.stop(FTD, verdict.reason)
        raise Parked(
            verdict.reason, f"FTD's order not read before the create: {exc}", retry=verdict.retry
        ) from None
    cycle.answered(FTD)
    return answer


def _supplier_ref(raw: object) -> str:
    if not isinstance(raw, dict):
        return ""
    ack = raw.get("acknowledgement")
    ref = raw.get("supplier_ref") or (ack.get("supplier_ref") if isinstance(ack, dict) else "")
    return str(ref or "")


def _komet_witness(cycle: Cycle, order: Order) -> str:
    """The web order id of the one live invoice carrying this order's number as its PO."""
    if not po_visible(cycle):
        cycle.report.note(BLIND.format(cycle.switch("link_fields")))
        return ""
    days = cycle.create_days or (order.ship_day(),)
    invoices = cycle.invoices(min(days), max(days))
    found = [
        i
        for i in invoices
        if i.customer_po == order.order_number
        and i.ship_date == order.ship_day()
        and i.status != InvoiceStatus.VOIDED
    ]
    if not found:
        return ""
    numbers = ", ".join(i.number for i in found)
    if len(found) > 1:
        raise Parked(
            "ambiguous_witness",
            f"Komet holds {len(found)} invoices with PO {order.order_number} ({numbers}); "
            "a person must say which is this order's",
            retry=False,
        )
    if not found[0].web_order_id:
        raise Parked(
            "komet_holds_invoice",
            f"Komet already holds invoice {numbers} with PO {order.order_number}, and "
            "invoice.list does not say its web order: not creating a second one",
            retry=False,
        )
    return str(found[0].web_order_id)


def _decided(cycle: Cycle, order: Order, lines: list[Line], state: str, why: str) -> None:
    with cycle.ledger.store.atomic():
        for line in lines:
            cycle.ledger.reject_line(order.order_id, line.line_id, cycle.now)
        cycle.ledger.update(order.order_id, cycle.now, state=state, event="witness", detail=why)


def _adopt(
    cycle: Cycle, order: Order, lines: list[Line], web_order_id: str, ftd_status: str
) -> None:
    """Take over the web order a witness named: its items must be this order's lines."""
    if web_order_id in cycle.ledger.claimed_web_orders():
        raise _claimed(web_order_id)
    listed = cycle.clients.komet.web_order_details_list(
        cycle.customer, web_order_id, WebOrderStatus.CHECKED_OUT
    )
    items = list(listed[0].items) if listed else []
    taken = _match(items, lines)
    if not listed or taken is None:
        raise Parked(
            "ambiguous_witness",
            f"the witnesses name web order {web_order_id}, but Komet does not list it checked "
            "out with this order's lines; a person must compare them",
            retry=False,
        )
    with cycle.ledger.store.atomic():
        if web_order_id in cycle.ledger.claimed_web_orders():
            raise _claimed(web_order_id)  # another worker's order took it meanwhile
        for line in lines:
            item = taken.get(line.line_id)
            if item is None:
                cycle.ledger.reject_line(order.order_id, line.line_id, cycle.now, OUT_OF_STOCK)
            else:
                cycle.ledger.update_line(
                    order.order_id,
                    line.line_id,
                    cycle.now,
                    state=ADDED,
                    qty_sent=item[1],
                    web_order_item_id=item[0],
                    reason_code="PARTIAL_STOCK" if item[1] < line.boxes else None,
                )
        values: dict[str, Any] = {
            "web_order_id": web_order_id,
            "web_order_number": listed[0].number,
        }
        cycle.ledger.update(
            order.order_id,
            cycle.now,
            event="witness",
            detail=f"adopted web order {web_order_id} (FTD {ftd_status})",
            **values,
        )
        fresh = cycle.ledger.get(order.order_id)
        if ftd_status == NEW:
            body = ack_body(fresh, cycle.ledger.lines(order.order_id))
            record_acknowledging(cycle, fresh, body, event="adopted")
        else:  # FTD holds our answer already: follow the invoice from here
            cycle.ledger.update(order.order_id, cycle.now, state=ACKNOWLEDGED, event="adopted")


def _claimed(web_order_id: str) -> Parked:
    return Parked(
        "ambiguous_witness",
        f"the witnesses name web order {web_order_id}, which another order already holds",
        retry=False,
    )


def _match(items: list[WebOrderItem], lines: list[Line]) -> dict[str, tuple[str, int]] | None:
    """line_id -> (webOrderItemId, boxes) when every item is exactly one of the lines."""
    taken: dict[str, tuple[str, int]] = {}
    for item in items:
        if item.price is None or not item.quantity:
            return None
        ids = sorted(OfferId.from_komet(item.inventory_ids).line_ids)
        fits = [
            x
            for x in lines
            if x.line_id not in taken
            and sorted(inventory_ids_of(x.offer_id)) == ids
            and item.quantity <= x.boxes
            and abs(item.price - x.decimal_price) <= HALF_CENT
        ]
        if len(fits) != 1:
            return None
        taken[fits[0].line_id] = (item.web_order_item_id or "", item.quantity)
    return taken if taken else None


__all__ = ["BLIND", "consult", "po_visible"]
