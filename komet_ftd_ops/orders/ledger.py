"""The order ledger: every FTD order, its lines and its Komet web order, in the state database.

The ledger is the truth the pipeline acts on. Each state is written (in one `Store.atomic()`
transaction) BEFORE the external call it guards, so after a crash at any point the next cycle
knows which call may have gone out and reads it back before sending anything again. The rows
themselves are read and written by `state/orders.py`; this module is the state machine.

Order states (`orders.state`):

    received ──(checks fail)──────────────────────────────────► parked, state unchanged
    received ─► creating ─► adding ─► checking_out ─► acknowledging ─► acknowledged ─► confirming ─► confirmed
                   │           └──(every line rejected)─► deleting ─► acknowledging ─► rejected
                   └── a create's answer lost: back to received (create again after the settle
                       window, never twice in one cycle); the possible empty header is listed
                       in `orphan_headers` for the sales rep (orphans.py)

    received ─(a witness knew it: witnesses.py)─► acknowledging | acknowledged | rejected |
               cancelled, or parked for a person; nothing is created
    adding ─(customer_checkout = no)─► acknowledging  (placed without a checkout)

    cancel asked, not invoiced:  ... ─► cancel_deleting ─► cancel_reporting ─► cancelled
    cancel asked, acknowledged and `delete_on_cancel`: the same (Komet voids the unconfirmed
                                 invoice); refused once confirmed ─► cancel_review
    cancel asked, invoiced:      ... ─► cancel_review (parked for the sales rep)
                                        └─(invoice voided in Komet)─► cancel_reporting ─► cancelled
    foreign: a cancellation for an order this ledger never received (parked for a person)

Line states (`order_lines.state`):

    pending ─► adding ─► added         (`web_order_item_id`, `qty_sent` boxes in Komet)
                  └────► rejected      (`reason_code`, e.g. OUT_OF_STOCK; never substituted)

`adding` means "an add may have been sent": it is read back (web-order-details.list) before
being sent again. Parking is a flag beside the state (`park_reason`), not a state: a parked order
keeps its place in the machine, so releasing it resumes exactly where it stopped.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from ..ftd.models import FtdOrder
from ..state import orders as ledger_rows
from ..state.store import Store, Tx, iso

# Order states, in the order an order moves through them.
RECEIVED = "received"
CREATING = "creating"
ADDING = "adding"
CHECKING_OUT = "checking_out"
DELETING = "deleting"
ACKNOWLEDGING = "acknowledging"
ACKNOWLEDGED = "acknowledged"
CONFIRMING = "confirming"
CONFIRMED = "confirmed"
REJECTED = "rejected"
CANCEL_DELETING = "cancel_deleting"
CANCEL_REPORTING = "cancel_reporting"
CANCEL_REVIEW = "cancel_review"
CANCELLED = "cancelled"
FOREIGN = "foreign"

# Nothing more will happen to these (a confirmed order reopens if the buyer asks to cancel).
FINAL = (REJECTED, CANCELLED, CONFIRMED, CANCEL_REVIEW, FOREIGN)
# Komet holds an invoice for these: a cancellation needs the sales rep.
INVOICED = (ACKNOWLEDGING, ACKNOWLEDGED, CONFIRMING, CONFIRMED)

# Line states.
PENDING = "pending"
LINE_ADDING = "adding"
ADDED = "added"
LINE_REJECTED = "rejected"
UNDECIDED = (PENDING, LINE_ADDING)

_ORDER_FIELDS = (
    "state",
    "web_order_id",
    "pending_before",
    "invoice_id",
    "invoice_number",
    "ack_key",
    "ack_body",
    "cancel_version",
    "ftd_version",
    "ftd_status",
    "park_reason",
    "park_detail",
    "park_retry",
    "parked_at",
    "sent_at",
    "web_order_number",
    "invoice_found_by",
    "fee",
)
_LINE_FIELDS = ("state", "qty_sent", "web_order_item_id", "reason_code", "sent_at")


@dataclass(frozen=True)
class Line:
    order_id: str
    line_id: str
    offer_id: str
    boxes: int
    price: str
    state: str
    qty_sent: int | None
    web_order_item_id: str | None
    reason_code: str | None
    attempts: int
    sent_at: str | None

    @property
    def decimal_price(self) -> Decimal:
        return Decimal(self.price)


@dataclass(frozen=True)
class Order:
    order_id: str
    order_number: str
    ship_date: str
    body: str
    intake_version: int
    ftd_version: int
    ftd_status: str
    state: str
    web_order_id: str | None
    pending_before: str | None
    invoice_id: str | None
    invoice_number: str | None
    ack_key: str | None
    ack_body: str | None
    cancel_version: int | None
    park_reason: str | None
    park_detail: str | None
    park_retry: int
    parked_at: str | None
    attempts: int
    sent_at: str | None
    received_at: str
    updated_at: str
    web_order_number: str | None  # Komet's Order # of the web order, once read back
    invoice_found_by: str | None  # how its invoice was found (see orders/invoices.py)
    fee: str | None  # Komet's transaction fee on the web order (`additionalCharges`), once seen

    @property
    def parked(self) -> bool:
        return self.park_reason is not None

    @property
    def held(self) -> bool:
        """Parked for a person: later cycles leave it alone until it is released."""
        return self.parked and not self.park_retry

    @property
    def cancel_asked(self) -> bool:
        return self.cancel_version is not None

    def ship_day(self) -> date:
        return date.fromisoformat(self.ship_date)

    def ftd_body(self) -> dict[str, Any]:
        return json.loads(self.body)

    def ftd_order(self) -> FtdOrder:
        """The order as FTD sent it, parsed as the FTD client parses it."""
        return FtdOrder.from_wire(self.ftd_body())


def _build(cls: type, row: Mapping[str, Any]) -> Any:
    return cls(**{name: row[name] for name in _names(cls)})


@cache
def _names(cls: type) -> tuple[str, ...]:
    """A record class's field names (`fields()` walks the class each call; the ledger builds
    thousands of records a cycle)."""
    return tuple(f.name for f in fields(cls))


def _check(names: Iterable[str], allowed: tuple[str, ...]) -> None:
    unknown = set(names) - set(allowed)
    if unknown:
        raise ValueError(f"not a ledger field: {', '.join(sorted(unknown))}")


class OrderLedger:
    """One profile's orders in the state database. Every write is one transaction."""

    def __init__(self, store: Store, profile: str, run_id: str | None = None) -> None:
        self.store = store
        self.profile = profile
        self.run_id = run_id
        self.touched: list[str] = []  # orders written through this ledger object, in order

    # -- reads ---------------------------------------------------------------------------------

    def order(self, order_id: str) -> Order | None:
        row = ledger_rows.order_row(self.store, self.profile, order_id)
        return _build(Order, row) if row is not None else None

    def get(self, order_id: str) -> Order:
        order = self.order(order_id)
        if order is None:
            raise KeyError(order_id)
        return order

    def lines(self, order_id: str) -> list[Line]:
        return [_build(Line, r) for r in ledger_rows.line_rows(self.store, self.profile, order_id)]

    def orders(
        self,
        *,
        states: Collection[str] | None = None,
        ship_between: tuple[date, date] | None = None,
        parked: bool | None = None,
        with_web_order: bool | None = None,
    ) -> list[Order]:
        """The profile's orders, oldest first; each filter given must hold (see
        `state.orders.order_rows`)."""
        between = None
        if ship_between is not None:
            between = (ship_between[0].isoformat(), ship_between[1].isoformat())
        found = ledger_rows.order_rows(
            self.store,
            self.profile,
            states=states,
            ship_between=between,
            parked=parked,
            with_web_order=with_web_order,
        )
        return [_build(Order, r) for r in found]

    def open_orders(self) -> list[Order]:
        """Orders the pipeline may still move: not final, or confirmed with a cancel request."""
        found = ledger_rows.open_order_rows(self.store, self.profile, FINAL, CONFIRMED)
        return [_build(Order, r) for r in found]

    def parked_orders(self) -> list[Order]:
        return self.orders(parked=True)

    def claimed_web_orders(self) -> set[str]:
        """Every Komet web order any order of any profile holds: never adopt one of these."""
        return ledger_rows.claimed_web_orders(self.store)

    def shadow_stock(self, today: date) -> dict[str, int]:
        """Boxes sold on FTD and not yet added to a Komet web order, per offer.

        Counted for every order still able to go through (parked ones included: when released
        they will take these boxes), for ship dates not yet past.
        """
        return ledger_rows.boxes_open(
            self.store,
            self.profile,
            line_states=(PENDING, LINE_ADDING),
            order_states_out=(REJECTED, CANCELLED, CANCEL_DELETING, FOREIGN),
            ship_from=today.isoformat(),
        )

    def events(self, order_id: str) -> list[dict[str, Any]]:
        return ledger_rows.event_rows(self.store, self.profile, order_id)

    # -- writes --------------------------------------------------------------------------------

    def _event(self, tx: Tx, order_id: str, event: str, detail: str | None, now: str) -> None:
        ledger_rows.insert_event(
            tx, self.profile, order_id, at=now, run_id=self.run_id, event=event, detail=detail
        )

    def receive(
        self,
        ftd_order: FtdOrder,
        lines: list[dict[str, Any]],
        now: datetime,
        state: str = RECEIVED,
    ) -> None:
        """Record a new FTD order and its lines (call inside the intake's transaction).

        `body` keeps the order exactly as FTD sent it (`raw`), unknown fields included.
        """
        stamp = iso(now)
        order_id = ftd_order.order_id
        with self.store.atomic() as tx:
            ledger_rows.insert_order(
                tx,
                self.profile,
                order_id=order_id,
                order_number=ftd_order.order_number,
                ship_date=ftd_order.ship_date_text(),
                body=json.dumps(ftd_order.raw, sort_keys=True),
                version=ftd_order.version,
                ftd_status=ftd_order.status,
                state=state,
                at=stamp,
            )
            ledger_rows.insert_lines(tx, self.profile, order_id, lines, PENDING)
            self._event(tx, order_id, state, None, stamp)
        self.touched.append(order_id)

    def update(
        self,
        order_id: str,
        now: datetime,
        event: str | None = None,
        detail: str | None = None,
        sent: bool = False,
        **values: Any,
    ) -> None:
        """Change an order's fields in one transaction; `sent=True` counts a write going out."""
        _check(values, _ORDER_FIELDS)
        stamp = iso(now)
        if sent:
            values["sent_at"] = stamp
        with self.store.atomic() as tx:
            if ledger_rows.update_order(tx, self.profile, order_id, stamp, int(sent), values) != 1:
                raise KeyError(order_id)
            if event or "state" in values:
                self._event(tx, order_id, event or values["state"], detail, stamp)
        self.touched.append(order_id)

    def update_line(
        self,
        order_id: str,
        line_id: str,
        now: datetime,
        sent: bool = False,
        detail: str | None = None,
        **values: Any,
    ) -> None:
        """Change a line's fields; also touches its order so the change is visible there."""
        _check(values, _LINE_FIELDS)
        stamp = iso(now)
        if sent:
            values["sent_at"] = stamp
        with self.store.atomic() as tx:
            if ledger_rows.update_line(tx, self.profile, order_id, line_id, int(sent), values) != 1:
                raise KeyError((order_id, line_id))
            ledger_rows.update_order(tx, self.profile, order_id, stamp, int(sent), {})
            if "state" in values:
                self._event(tx, order_id, f"line {line_id} {values['state']}", detail, stamp)
        self.touched.append(order_id)

    def reject_line(
        self,
        order_id: str,
        line_id: str,
        now: datetime,
        reason_code: str | None = None,
        detail: str | None = None,
    ) -> None:
        """The line goes back to FTD rejected: no boxes, with FTD's reason code when given."""
        values: dict[str, Any] = {"state": LINE_REJECTED, "qty_sent": 0}
        if reason_code is not None:
            values["reason_code"] = reason_code
        self.update_line(order_id, line_id, now, detail=detail, **values)

    def park(self, order_id: str, reason: str, detail: str, *, retry: bool, now: datetime) -> None:
        """Stop an order with a reason; `retry` says whether later cycles try again alone."""
        current = self.get(order_id)
        detail = detail[:500]
        if (current.park_reason, current.park_detail, current.park_retry) == (
            reason,
            detail,
            int(retry),
        ):
            return  # parked again for the same reason: nothing new to record
        parked_at = current.parked_at if current.park_reason == reason else iso(now)
        self.update(
            order_id,
            now,
            event=f"parked {reason}",
            detail=detail,
            park_reason=reason,
            park_detail=detail,
            park_retry=int(retry),
            parked_at=parked_at,
        )

    def unpark(self, order_id: str, now: datetime, note: str = "") -> None:
        self.update(
            order_id,
            now,
            event="unparked",
            detail=note or None,
            park_reason=None,
            park_detail=None,
            park_retry=0,
            parked_at=None,
        )
