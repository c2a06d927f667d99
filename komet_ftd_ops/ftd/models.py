"""FTD's orders as typed records, parsed once as the client receives them (docs/ftd-api.md).

An order is never dropped for a bad value: the pipeline must record every order and park the
ones it cannot use. So `from_wire` does not raise; a value that does not parse is left `None`
and noted in `unreadable` (with what came), and the order keeps `raw`, the order exactly as FTD
sent it (unknown fields included: the contract lets FTD add fields), which is what the ledger
stores.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from ..http.formats import (
    FieldReader,
    Unreadable,
    as_day,
    as_int,
    as_price,
    as_stamp,
    as_str_id,
    as_text,
    json_int,
)

# Order statuses, as FTD names them.
NEW = "NEW"
ACKNOWLEDGED = "ACKNOWLEDGED"
REJECTED = "REJECTED"
CONFIRMED = "CONFIRMED"
SHIPPED = "SHIPPED"
CANCEL_REQUESTED = "CANCEL_REQUESTED"
CANCELLED = "CANCELLED"


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


@dataclass(frozen=True)
class Buyer:
    member_code: str
    name: str

    @classmethod
    def from_wire(cls, wire: Any) -> Buyer:
        wire = _mapping(wire)
        return cls(str(wire.get("member_code") or ""), str(wire.get("name") or ""))


@dataclass(frozen=True)
class ShipTo:
    """Where the florist wants the boxes (FTD's `ship_to`)."""

    name: str
    address1: str
    city: str
    state: str
    postal_code: str
    country: str
    phone: str

    @classmethod
    def from_wire(cls, wire: Any) -> ShipTo:
        wire = _mapping(wire)
        names = ("name", "address1", "city", "state", "postal_code", "country", "phone")
        return cls(*(str(wire.get(n) or "") for n in names))


@dataclass(frozen=True)
class OrderLine:
    line_id: str  # "" when FTD sent none
    offer_id: str
    sku: str
    boxes: int | None  # None: absent or not a whole number (see `unreadable`)
    box_type: str
    units_per_box: int | None
    price_per_unit: Decimal | None  # None: absent, or not a decimal >= 0
    unreadable: tuple[Unreadable, ...] = ()

    @classmethod
    def from_wire(cls, wire: Any, where: str = "") -> OrderLine:
        wire = _mapping(wire)
        read = FieldReader(wire, where)
        return cls(
            line_id=as_str_id(wire.get("line_id")) or "",
            offer_id=str(wire.get("offer_id") or ""),
            sku=str(wire.get("sku") or ""),
            boxes=read(json_int, "boxes"),
            box_type=str(wire.get("box_type") or ""),
            units_per_box=read(as_int, "units_per_box"),
            price_per_unit=read(as_price, "price_per_unit"),
            unreadable=read.noted(),
        )


@dataclass(frozen=True)
class FtdOrder:
    order_id: str
    order_number: str  # FTD's order number; the order id when FTD sent none
    po_number: str
    status: str
    version: int  # 0 when absent or unreadable
    created_at: datetime | None
    updated_at: datetime | None
    buyer: Buyer
    ship_to: ShipTo
    requested_ship_date: date | None
    lines: tuple[OrderLine, ...]
    lines_listed: bool  # False: `lines` was missing or not a list (the order cannot be used)
    currency: str
    notes: str
    unreadable: tuple[Unreadable, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> FtdOrder:
        read = FieldReader(wire)
        order_id = as_str_id(wire.get("order_id")) or ""
        raw_lines = wire.get("lines")
        listed = isinstance(raw_lines, list)
        lines = tuple(
            OrderLine.from_wire(line, f"lines[{n}].")
            for n, line in enumerate(raw_lines if isinstance(raw_lines, list) else [])
        )
        return cls(
            order_id=order_id,
            order_number=as_str_id(wire.get("order_number")) or order_id,
            po_number=str(wire.get("po_number") or ""),
            status=str(wire.get("status") or ""),
            version=read(as_int, "version") or 0,
            created_at=read(as_stamp, "created_at"),
            updated_at=read(as_stamp, "updated_at"),
            buyer=Buyer.from_wire(wire.get("buyer")),
            ship_to=ShipTo.from_wire(wire.get("ship_to")),
            requested_ship_date=read(as_day, "requested_ship_date"),
            lines=lines,
            lines_listed=listed,
            currency=as_text(wire.get("currency")) or "",
            notes=str(wire.get("notes") or ""),
            unreadable=read.noted(),
            raw=dict(wire),
        )

    def ship_date_text(self) -> str:
        """The ship date as the ledger keeps it: `YYYY-MM-DD`, or "" when FTD sent none."""
        return self.requested_ship_date.isoformat() if self.requested_ship_date else ""


@dataclass(frozen=True)
class OrdersPage:
    """One page of `GET /orders`."""

    orders: tuple[FtdOrder, ...]
    next_cursor: str | None
    high_watermark: str | None  # the server's, kept as text: it goes back to FTD as it came

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> OrdersPage:
        orders = wire.get("orders") or []
        return cls(
            orders=tuple(FtdOrder.from_wire(o) for o in orders if isinstance(o, Mapping)),
            next_cursor=as_text(wire.get("next_cursor")),
            high_watermark=as_text(wire.get("high_watermark")),
        )
