"""The FTD half of an order: the acknowledgement, then CONFIRMED or CANCELLED.

Every FTD write carries an Idempotency-Key derived from the order (`ack:<order_id>:v<version>`,
`status:<order_id>:<STATUS>`), and its body is rebuilt from the ledger, so a retry after a
restart replays the first answer instead of acting twice. A 409 means FTD already holds another
decision for the order: the order is read back and, unless it already says what we meant, parked
for a person.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import Conflict
from ..ftd.models import CANCEL_REQUESTED, FtdOrder
from ..ftd.models import CONFIRMED as FTD_CONFIRMED
from ..ftd.models import SHIPPED as FTD_SHIPPED
from .cycle import Cycle, Parked
from .ledger import (
    ACKNOWLEDGED,
    ACKNOWLEDGING,
    ADDED,
    CANCEL_REVIEW,
    CANCELLED,
    CONFIRMED,
    LINE_REJECTED,
    REJECTED,
    Line,
    Order,
)

# The acknowledgement's reason codes (docs/ftd-api.md); FTD refuses any other.
OUT_OF_STOCK = "OUT_OF_STOCK"  # Komet has no boxes left for the line
PARTIAL_STOCK = "PARTIAL_STOCK"  # fewer boxes accepted than bought
PAST_CUTOFF = "PAST_CUTOFF"  # placed after the cutoff for its ship date
OUTSIDE_WINDOW = "OUTSIDE_WINDOW"  # the offer is not available on the ship date
NO_SHIP_TO = "NO_SHIP_TO"  # nowhere to ship the order to
REASON_CODES = (OUT_OF_STOCK, PARTIAL_STOCK, PAST_CUTOFF, OUTSIDE_WINDOW, NO_SHIP_TO)


def supplier_ref(order: Order) -> str:
    """Our reference on FTD: the Komet web order id (the invoice number follows on CONFIRMED)."""
    return str(order.web_order_id) if order.web_order_id else f"no-web-order-{order.order_number}"


def ack_body(order: Order, lines: list[Line], ship_date: str | None = None) -> dict[str, Any]:
    """Per-line decisions from the ledger; the same ledger always gives the same body.

    `ship_date`: the date the order ships on when it is not the one FTD asked for (the
    profile's late_rule moved it); sent only when a line is accepted."""
    decisions = []
    for line in lines:
        if line.state == ADDED:
            boxes = line.qty_sent or line.boxes
            decision = {"line_id": line.line_id, "decision": "ACCEPT", "boxes_accepted": boxes}
            if boxes < line.boxes:
                decision["reason_code"] = line.reason_code or PARTIAL_STOCK
            decisions.append(decision)
        elif line.state == LINE_REJECTED:
            decisions.append(
                {
                    "line_id": line.line_id,
                    "decision": "REJECT",
                    "boxes_accepted": 0,
                    "reason_code": line.reason_code or OUT_OF_STOCK,
                }
            )
        else:
            raise ValueError(f"line {line.line_id} of {order.order_id} is still {line.state}")
    body: dict[str, Any] = {"supplier_ref": supplier_ref(order), "lines": decisions}
    if ship_date and any(d["decision"] == "ACCEPT" for d in decisions):
        body["ship_date"] = ship_date
    return body


def ack_key(order: Order) -> str:
    return f"ack:{order.order_id}:v{order.intake_version}"


def record_acknowledging(cycle: Cycle, order: Order, body: dict[str, Any], event: str) -> None:
    """Record the acknowledgement exactly as it will be sent, before it is sent."""
    from .shipping import moved_ship_date  # shipping.py acknowledges through this module

    moved = moved_ship_date(cycle, order)
    if moved and "ship_date" not in body and any(d["decision"] == "ACCEPT" for d in body["lines"]):
        body = {**body, "ship_date": moved}  # the order ships later than FTD asked: say so
    cycle.ledger.update(
        order.order_id,
        cycle.now,
        state=ACKNOWLEDGING,
        ack_key=ack_key(order),
        ack_body=json.dumps(body, sort_keys=True),
        event=event,
        detail=f"web order {order.web_order_id}",
    )


def _version(order: Order, answer: FtdOrder) -> int:
    return max(order.ftd_version, answer.version)


def step_acknowledging(cycle: Cycle, order: Order, lines: list[Line]) -> bool:
    body = json.loads(order.ack_body or "{}")
    try:
        answer = cycle.clients.ftd.acknowledge(
            order.order_id,
            supplier_ref=body["supplier_ref"],
            lines=body["lines"],
            idempotency_key=order.ack_key,
            ship_date=body.get("ship_date"),
        )
    except Conflict as exc:
        raise Parked("ftd_refused", f"acknowledgement refused: {exc}", retry=False) from None
    every_reject = all(d["decision"] == "REJECT" for d in body["lines"])
    cycle.ledger.update(
        order.order_id,
        cycle.now,
        state=REJECTED if every_reject else ACKNOWLEDGED,
        sent=True,
        ftd_status=answer.status,
        ftd_version=_version(order, answer),
    )
    cycle.report.add(acknowledged=1, rejected=int(every_reject))
    return True


def _report_status(cycle: Cycle, order: Order, status: str, key: str, **extra: Any) -> FtdOrder:
    """POST a status; on 409 read the order back: already there counts as done."""
    ftd = cycle.clients.ftd
    try:
        return ftd.update_status(order.order_id, status=status, idempotency_key=key, **extra)
    except Conflict as exc:
        current = ftd.get_order(order.order_id)
        if current.status == status or (status == FTD_CONFIRMED and current.status == FTD_SHIPPED):
            return current
        if status == FTD_CONFIRMED and current.status == CANCEL_REQUESTED:
            _cancel_came_first(cycle, order, current)
        raise Parked("ftd_refused", f"{status} refused: {exc}", retry=False) from None


def _cancel_came_first(cycle: Cycle, order: Order, current: FtdOrder) -> None:
    """The buyer asked to cancel before our CONFIRMED went out: the cancellation decides."""
    cycle.ledger.update(
        order.order_id,
        cycle.now,
        state=CANCEL_REVIEW,
        cancel_version=current.version or order.ftd_version,
        event="cancel requested",
    )
    raise Parked(
        "cancel_after_invoice",
        f"the buyer asked to cancel; invoice {order.invoice_number} is confirmed in Komet: "
        "the sales rep must void it",
        retry=False,
    )


def step_confirming(cycle: Cycle, order: Order, lines: list[Line]) -> bool:
    """The sales rep confirmed the invoice in Komet: tell FTD, with the invoice number.

    FTD reads the order first (a cheap call, outside Komet's quota): FTD takes CONFIRMED on a
    CANCEL_REQUESTED order as declining the cancellation, so a request that came in since the
    listing must win. (A request landing between this read and the POST still loses: the
    contract has no conditional update. The window is one round trip.)
    """
    current = cycle.clients.ftd.get_order(order.order_id)
    if current.status == CANCEL_REQUESTED:
        _cancel_came_first(cycle, order, current)
    if current.status in (FTD_CONFIRMED, FTD_SHIPPED):
        answer = current  # an earlier CONFIRMED went through and its answer was lost
    else:
        answer = _report_status(
            cycle,
            order,
            FTD_CONFIRMED,
            f"status:{order.order_id}:CONFIRMED",
            invoice_number=order.invoice_number or str(order.invoice_id),
        )
    cycle.ledger.update(
        order.order_id,
        cycle.now,
        state=CONFIRMED,
        sent=True,
        ftd_status=answer.status,
        ftd_version=_version(order, answer),
    )
    cycle.report.add(confirmed=1)
    return True


def step_cancel_reporting(cycle: Cycle, order: Order, lines: list[Line]) -> bool:
    """Komet holds nothing for the order any more: tell FTD it is cancelled."""
    answer = _report_status(
        cycle, order, "CANCELLED", f"status:{order.order_id}:CANCELLED:v{order.cancel_version}"
    )
    cycle.ledger.update(
        order.order_id,
        cycle.now,
        state=CANCELLED,
        sent=True,
        ftd_status=answer.status,
        ftd_version=_version(order, answer),
        park_reason=None,
        park_detail=None,
        park_retry=0,
        parked_at=None,
    )
    cycle.report.add(cancelled=1)
    return True
