"""The Komet half of an order: create the web order, add its lines, check it out (or delete it).

Each step records its state before the call it guards and its result right after. When a write's
answer is lost, the step reads Komet back BY `webOrderId` (the only way Komet documents) before
anything is sent again:

- create: nothing to read back by. A bare header holds no boxes, so the order creates again
  (after the settle window, never twice in one cycle) and the header the lost create may have
  made is recorded for the sales rep (`orphans.OrphanHeaders`);
- item add: `web-order-details.list` of our web order, matched on inventoryIds, quantity and
  price, skipping items other lines already hold;
- checkout: the web order listed as checked out (statusId 2, `WebOrderStatus.CHECKED_OUT`),
  or still pending;
- delete: the web order no longer pending.

One commit for two records: when a write's answer is recorded and the order's next Komet write
is a plain send (the next line's add, or the checkout once every line is decided), that write's
"sent" record rides in the same transaction (`_then`) and it is sent at once, within the same
step: the ledger still holds each write as sent before it goes out, with one transaction fewer
per write (the store has one writer shared by the workers, orders/pipeline.py).

A write still unresolved after its read-back waits for its settle window and the next cycle:
a slow Komet then costs one write and one read-back per order and cycle, never a loop. Komet
has no idempotency key, so these read-backs are the only thing standing between a lost answer
and a doubled order. `webOrderId` is sent on every add: without it Komet merges the line into
any pending order "with identical information".
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from ..errors import (
    ApiError,
    InvalidParameter,
    ItemNotAvailable,
    MethodNotAllowed,
    NotFound,
    RateLimited,
    TransportError,
)
from ..komet.models import InventoryOrigin, WebOrder, WebOrderItem, WebOrderStatus
from ..offers.ids import OfferId, inventory_ids_of
from . import shipping, witnesses
from .checks import check_order
from .cycle import KOMET, OUTCOME_UNKNOWN, Cycle, Parked
from .ftd_steps import OUT_OF_STOCK, ack_body, record_acknowledging
from .ledger import (
    ADDED,
    ADDING,
    CANCEL_DELETING,
    CANCEL_REPORTING,
    CANCEL_REVIEW,
    CHECKING_OUT,
    CREATING,
    DELETING,
    LINE_ADDING,
    PENDING,
    RECEIVED,
    UNDECIDED,
    Line,
    Order,
)
from .orphans import OrphanHeaders

LOST = (TransportError, RateLimited)  # a write's answer that tells nothing about its outcome
Send = Callable[[], "Send | None"]  # a write recorded as sent: sends it, returns the next one
PARTIAL_STOCK = "PARTIAL_STOCK"
HALF_CENT = Decimal("0.005")  # Komet keeps prices to the cent
CHECKOUT_REFUSED = (
    "web-order.checkout: method not allowed for the Customer token; orders are placed once "
    'their items are added for the rest of this cycle (set customer_checkout = "no" in the '
    "profile's [komet.switches] to skip the call)"
)


# -- create ------------------------------------------------------------------------------------


def step_received(cycle: Cycle, order: Order, lines: list[Line]) -> bool:
    check_order(cycle, order, lines)
    if shipping.decide_shipping(cycle, order, lines):
        return True  # every line rejected before Komet (cutoff, window, no address): acknowledged
    create = ("create", order.order_id)
    if order.sent_at and not cycle.may_resend(create, order.sent_at):
        raise _create_unknown()  # an earlier create's answer was lost (`sent_at` kept)
    if witnesses.consult(cycle, order, lines):
        return True  # FTD or Komet already held it: adopted or decided, nothing created
    cycle.ledger.update(order.order_id, cycle.now, state=CREATING, sent=True)
    cycle.sending(create)
    try:
        web_order_id = cycle.clients.komet.web_order_create(
            cycle.customer, cycle.profile.komet_location_id or None
        )
    except LOST:
        cycle.failed(KOMET, "komet_unavailable")
        step_creating(cycle, cycle.ledger.get(order.order_id), lines)
        raise _create_unknown() from None
    except ApiError:
        # Komet said no (quota, token...): nothing was created, nothing to wait for.
        cycle.ledger.update(
            order.order_id, cycle.now, state=RECEIVED, sent_at=None, event="create refused"
        )
        raise
    cycle.answered(KOMET)
    with cycle.ledger.store.atomic():
        _adopt(cycle, order, web_order_id, "created")
        then = _then(cycle, order.order_id)
    return _run(then)


def step_creating(cycle: Cycle, order: Order, lines: list[Line]) -> bool:
    """A create went out and its answer never came (lost, or the run died): create again.

    Komet offers no documented way to find the header without its id, and a bare header holds
    no boxes: it is recorded for the sales rep, and the order goes back to `received`.
    """
    with cycle.ledger.store.atomic():
        record_lost_create(cycle, order)
        cycle.ledger.update(
            order.order_id,
            cycle.now,
            state=RECEIVED,
            event="create answer lost",
            detail="an empty web order may be left in Komet (listed for the sales rep)",
        )
    return True


def _create_unknown() -> Parked:
    return Parked(
        OUTCOME_UNKNOWN,
        "web-order.create sent and its answer lost; the possible empty header is listed "
        "for the sales rep; creating again next cycle",
        retry=True,
    )


def record_lost_create(cycle: Cycle, order: Order) -> None:
    OrphanHeaders(cycle.ledger.store, cycle.profile.name, cycle.ledger.run_id).record(
        order.order_id, order.sent_at, cycle.now
    )


def _adopt(cycle: Cycle, order: Order, web_order_id: str, how: str) -> None:
    cycle.ledger.update(
        order.order_id,
        cycle.now,
        state=ADDING,
        web_order_id=str(web_order_id),
        event="web order",
        detail=f"{web_order_id} {how}",
    )


# -- lines -------------------------------------------------------------------------------------


def step_adding(cycle: Cycle, order: Order, lines: list[Line]) -> bool:
    line = next((x for x in lines if x.state in UNDECIDED), None)
    if line is None:
        if any(x.state == ADDED for x in lines):
            if not cycle.may_checkout():
                return _placed(cycle, order)
            return _checkout(cycle, order)
        return _delete(cycle, order, DELETING)
    if line.state == LINE_ADDING:
        return _resolve_line(cycle, order, lines, line)
    return _send_line(cycle, order, lines, line)


def _run(send: Send | None) -> bool:
    """Send the writes that rode along, one after another (see the module docstring)."""
    while send is not None:
        send = send()
    return True


def _then(cycle: Cycle, order_id: str) -> Send | None:
    """Inside the transaction recording an answer: record the order's next write as sent too,
    when it is a plain send, and return what sends it (None: the next step decides)."""
    if KOMET in cycle.stopped or cycle.cooling_down(KOMET) or cycle.halted.is_set():
        return None
    ledger = cycle.ledger
    order, lines = ledger.get(order_id), ledger.lines(order_id)
    if order.state != ADDING or order.held or order.cancel_asked:
        return None
    line = next((x for x in lines if x.state in UNDECIDED), None)
    if line is not None:
        ships = shipping.shipping_of(cycle, order)
        if line.state != PENDING or ships is None:
            return None  # a read-back first, or the decision made at the first line
        _record_add(cycle, order, line)
        fresh = _same(ledger.lines(order_id), line)
        return lambda: _add(cycle, order, fresh, ships)
    if any(x.state == ADDED for x in lines) and cycle.may_checkout():
        ledger.update(order_id, cycle.now, state=CHECKING_OUT, sent=True)
        fresh_order = ledger.get(order_id)

        def checkout() -> Send | None:
            _do_checkout(cycle, fresh_order)
            return None  # the acknowledgement is FTD's step

        return checkout
    return None


def _record_add(cycle: Cycle, order: Order, line: Line) -> None:
    quantity = line.qty_sent or line.boxes
    cycle.ledger.update_line(
        order.order_id, line.line_id, cycle.now, state=LINE_ADDING, qty_sent=quantity, sent=True
    )


def _send_line(cycle: Cycle, order: Order, lines: list[Line], line: Line) -> bool:
    ships = shipping.shipping_for_lines(cycle, order)  # one ship-to, date, carrier per order
    _record_add(cycle, order, line)
    return _run(_add(cycle, order, _same(cycle.ledger.lines(order.order_id), line), ships))


def _add(cycle: Cycle, order: Order, line: Line, ships: shipping.Shipping) -> Send | None:
    """web-order-item.add of a line recorded as `adding`; the next write when it rode along."""
    ledger, profile = cycle.ledger, cycle.profile
    quantity = line.qty_sent or line.boxes
    cycle.sending(("add", order.order_id, line.line_id))
    try:
        answer = cycle.clients.komet.web_order_item_add(
            cycle.customer,
            str(order.web_order_id),
            inventory_ids_of(line.offer_id),
            InventoryOrigin.OPEN_MARKET,
            line.decimal_price,
            quantity,
            ships.carrier_id,
            ships.ship_date,
            ship_to_id=ships.ship_to_id,
            company_location_id=profile.komet_location_id or None,
        )
    except ItemNotAvailable as exc:
        _not_available(cycle, order, line, quantity, exc.available_boxes)
        return None
    except LOST:
        cycle.failed(KOMET, "komet_unavailable")
        fresh = cycle.ledger.lines(order.order_id)
        _resolve_line(cycle, order, fresh, _same(fresh, line))
        return None
    except ApiError as exc:
        # Komet answered no: nothing was added, so no read-back is needed next time.
        ledger.update_line(order.order_id, line.line_id, cycle.now, state=PENDING)
        if isinstance(exc, InvalidParameter) and exc.param == "webOrderId":
            raise Parked(
                "web_order_gone",
                f"web order {order.web_order_id} is no longer pending in Komet",
                retry=False,
            ) from None
        raise
    answered = str(answer.get("webOrderId") or order.web_order_id)
    if answered != str(order.web_order_id):
        raise Parked(
            "komet_merged",
            f"line {line.line_id} landed in web order {answered}, not "
            f"{order.web_order_id} (item {answer.get('webOrderItemId')})",
            retry=False,
        )
    cycle.answered(KOMET)
    with ledger.store.atomic():
        _added(cycle, order, line, str(answer.get("webOrderItemId") or ""))
        return _then(cycle, order.order_id)


def _same(lines: list[Line], line: Line) -> Line:
    return next(x for x in lines if x.line_id == line.line_id)


def _not_available(cycle: Cycle, order: Order, line: Line, asked: int, left: int) -> None:
    """Komet has fewer boxes than sold on FTD: reject the line (or take what is left)."""
    cycle.report.not_available(line.offer_id, left)
    if cycle.rules.accept_partial and 0 < left < asked:
        cycle.ledger.update_line(
            order.order_id,
            line.line_id,
            cycle.now,
            state=PENDING,
            qty_sent=left,
            reason_code=PARTIAL_STOCK,
            detail=f"{left} of {line.boxes} boxes left",
        )
        return
    cycle.ledger.reject_line(
        order.order_id, line.line_id, cycle.now, OUT_OF_STOCK, f"{left} boxes left in Komet"
    )
    cycle.report.add(lines_rejected=1)


def _added(cycle: Cycle, order: Order, line: Line, item_id: str, how: str = "") -> None:
    cycle.ledger.update_line(
        order.order_id,
        line.line_id,
        cycle.now,
        state=ADDED,
        web_order_item_id=item_id,
        detail=how or None,
    )


def _resolve_line(cycle: Cycle, order: Order, lines: list[Line], line: Line) -> bool:
    """An add may have gone out: read the web order back before sending it again."""
    item = find_item(cycle, order, lines, line)
    if item is not None:
        _added(cycle, order, line, item.web_order_item_id or "", "found in Komet by read-back")
        return True
    if not cycle.may_resend(("add", order.order_id, line.line_id), line.sent_at):
        raise Parked(
            OUTCOME_UNKNOWN,
            f"line {line.line_id}: web-order-item.add sent, its "
            "answer lost and not in Komet yet; read again next cycle",
            retry=True,
        )
    cycle.ledger.update_line(
        order.order_id, line.line_id, cycle.now, state=PENDING, detail="not in Komet: sending again"
    )
    return True


def same_item(item: WebOrderItem, inventory_ids: list[str], quantity: int, price: Decimal) -> bool:
    if item.price is None:  # missing or unreadable: never taken for our line
        return False
    return (
        sorted(OfferId.from_komet(item.inventory_ids).line_ids) == sorted(inventory_ids)
        and (item.quantity or 0) == quantity
        and abs(item.price - price) <= HALF_CENT
    )


def _listed(
    cycle: Cycle, web_order_id: str, status: WebOrderStatus | None = None
) -> list[WebOrder]:
    """A read-back by webOrderId. Its answer is one from Komet: with orders in flight at once,
    the failures "in a row" that stop Komet (cycle.py) end at each answer, not at a step's end."""
    listed = cycle.clients.komet.web_order_details_list(cycle.customer, web_order_id, status)
    cycle.answered(KOMET)
    return listed


def find_item(cycle: Cycle, order: Order, lines: list[Line], line: Line) -> WebOrderItem | None:
    """Our line among the web order's items, not counting items other lines already hold."""
    listed = _listed(cycle, str(order.web_order_id))
    if not listed:
        raise Parked(
            "web_order_gone",
            f"web order {order.web_order_id} is no longer pending in Komet",
            retry=False,
        )
    held = {x.web_order_item_id for x in lines if x.web_order_item_id and x.line_id != line.line_id}
    ids, quantity = inventory_ids_of(line.offer_id), line.qty_sent or line.boxes
    for item in listed[0].items:
        if item.web_order_item_id in held:
            continue
        if same_item(item, ids, quantity, line.decimal_price):
            return item
    return None


# -- checkout ----------------------------------------------------------------------------------


def _checkout(cycle: Cycle, order: Order) -> bool:
    cycle.ledger.update(order.order_id, cycle.now, state=CHECKING_OUT, sent=True)
    return _do_checkout(cycle, order)


def _do_checkout(cycle: Cycle, order: Order) -> bool:
    """web-order.checkout of a web order recorded as `checking_out`."""
    cycle.sending(("checkout", order.order_id))
    try:
        cycle.clients.komet.web_order_checkout(
            cycle.customer, str(order.web_order_id), order.order_number
        )
    except (*LOST, NotFound) as exc:
        if not isinstance(exc, NotFound):
            cycle.failed(KOMET, "komet_unavailable")
        return _checkout_lost(cycle, order, str(exc))
    except MethodNotAllowed:
        # The Customer token may not check out (switch customer_checkout = no): nothing was
        # done, and the web order with its items is what the sales rep confirms.
        cycle.checkout_refused = True
        cycle.report.note(CHECKOUT_REFUSED)
        return _placed(cycle, cycle.ledger.get(order.order_id))
    except ApiError as exc:
        if isinstance(exc, InvalidParameter) and exc.param == "webOrderId":
            return _checkout_lost(cycle, order, str(exc))  # not pending: done before?
        cycle.ledger.update(order.order_id, cycle.now, state=ADDING, event="checkout refused")
        raise
    cycle.answered(KOMET)
    _checked_out(cycle, order)
    return True


def _checkout_lost(cycle: Cycle, order: Order, lost: str) -> bool:
    if ("checkout", order.order_id) in cycle.read_back:
        # Read back already this cycle (just before this checkout): the next cycle reads again.
        raise _checkout_unknown(lost)
    return step_checking_out(cycle, cycle.ledger.get(order.order_id), [], lost=lost)


def _checkout_unknown(lost: str) -> Parked:
    return Parked(
        OUTCOME_UNKNOWN,
        f"web-order.checkout sent, its answer lost ({lost or 'the run stopped'}) and the "
        "web order still pending; read again next cycle",
        retry=True,
    )


def step_checking_out(cycle: Cycle, order: Order, lines: list[Line], lost: str = "") -> bool:
    """A checkout may have gone out: is the web order checked out, or still pending?"""
    web_order_id = str(order.web_order_id)
    cycle.reading_back(("checkout", order.order_id))
    if _listed(cycle, web_order_id, WebOrderStatus.CHECKED_OUT):
        _checked_out(cycle, order)
        return True
    if _listed(cycle, web_order_id):
        # Still pending. A slow checkout may still be running on Komet's side: re-sending it
        # at once is what loops. Wait for the settle window and the next cycle.
        if not cycle.may_resend(("checkout", order.order_id), order.sent_at):
            raise _checkout_unknown(lost)
        cycle.ledger.update(
            order.order_id, cycle.now, state=ADDING, event="checkout not done", detail=lost or None
        )
        return True
    raise Parked(
        "web_order_gone",
        f"web order {web_order_id} is neither pending nor checked out in Komet",
        retry=False,
    )


def _placed(cycle: Cycle, order: Order) -> bool:
    """No checkout (customer_checkout = no): the order is placed once its items are added."""
    _checked_out(cycle, order, event="placed without checkout")
    return True


def _checked_out(cycle: Cycle, order: Order, event: str = "checked out") -> None:
    fresh = cycle.ledger.get(order.order_id)
    lines = cycle.ledger.lines(order.order_id)
    record_acknowledging(cycle, fresh, ack_body(fresh, lines), event=event)
    cycle.report.add(invoiced=1)
    cycle.forget_invoices()


# -- delete (every line rejected, or a cancellation) -------------------------------------------


def _delete(cycle: Cycle, order: Order, state: str) -> bool:
    """Delete the web order. A refusal (quota, token) leaves `state` set: the next cycle reads
    back before deleting again, one read that is always safe.

    Komet's `web-order.delete` also voids a checked-out web order while its invoice is not
    confirmed; the kit uses that only for a buyer's cancellation, behind `[orders]
    delete_on_cancel` (otherwise the sales rep voids it)."""
    if not order.web_order_id:
        return _deleted(cycle, order, state)
    cycle.ledger.update(order.order_id, cycle.now, state=state, sent=True)
    cycle.sending(("delete", order.order_id))
    try:
        cycle.clients.komet.web_order_delete(cycle.customer, str(order.web_order_id))
    except (*LOST, NotFound, InvalidParameter) as exc:
        lost = isinstance(exc, LOST)
        if lost:
            cycle.failed(KOMET, "komet_unavailable")
        return step_deleting(cycle, cycle.ledger.get(order.order_id), [], lost=lost)
    cycle.answered(KOMET)
    return _deleted(cycle, order, state)


def step_deleting(cycle: Cycle, order: Order, lines: list[Line], lost: bool = False) -> bool:
    """A delete may have gone out: is the web order still pending (or still checked out)?"""
    web_order_id = str(order.web_order_id)
    write = ("delete", order.order_id)
    if _listed(cycle, web_order_id):
        if not cycle.may_resend(write, order.sent_at):
            raise _delete_unknown("pending")
        return _delete(cycle, order, order.state)  # still there: the delete did not happen
    if _listed(cycle, web_order_id, WebOrderStatus.CHECKED_OUT):
        refused = write in cycle.sent and not lost  # Komet said no: its invoice is confirmed
        if order.state == CANCEL_DELETING and cycle.rules.delete_on_cancel and not refused:
            if cycle.may_resend(write, order.sent_at):
                return _delete(cycle, order, CANCEL_DELETING)  # voids it while unconfirmed
            raise _delete_unknown("checked out")
        # Checked out and not deleted: an invoice exists, the sales rep has to void it.
        cycle.ledger.update(order.order_id, cycle.now, state=CANCEL_REVIEW)
        raise Parked(
            "cancel_after_invoice",
            f"web order {web_order_id} is invoiced; the sales rep must void the invoice",
            retry=False,
        )
    return _deleted(cycle, order, order.state)


def _delete_unknown(still: str) -> Parked:
    return Parked(
        OUTCOME_UNKNOWN,
        f"web-order.delete sent, its answer lost and the web order still {still}; "
        "read again next cycle",
        retry=True,
    )


def _deleted(cycle: Cycle, order: Order, state: str) -> bool:
    if state == DELETING:
        fresh = cycle.ledger.get(order.order_id)
        lines = cycle.ledger.lines(order.order_id)
        record_acknowledging(cycle, fresh, ack_body(fresh, lines), event="web order deleted")
    else:
        cycle.ledger.update(
            order.order_id, cycle.now, state=CANCEL_REPORTING, event="web order deleted"
        )
    return True


def step_cancel_delete(cycle: Cycle, order: Order, lines: list[Line]) -> bool:
    """A buyer's cancellation: delete the web order (its boxes go back on the shelf). After
    checkout only under `delete_on_cancel`: Komet then voids the unconfirmed invoice, and
    refuses once the sales rep confirmed it (then the sales rep decides)."""
    return _delete(cycle, order, CANCEL_DELETING)


__all__ = [
    "record_lost_create",
    "find_item",
    "same_item",
    "step_adding",
    "step_cancel_delete",
    "step_checking_out",
    "step_creating",
    "step_deleting",
    "step_received",
]
