"""Komet's answers as typed records, whatever typing style the service answered in.

Komet's pages disagree on types (`"status": "1"` and `"webOrderId": "30200"` in current pages,
numbers in older ones; ids in lists sometimes strings). Callers should not care, so the client
parses what the kit acts on once, here, with `http.formats`:

- web orders and their items (`web-order-details.list`), invoices and their lines
  (`invoice.list`, `invoice.details.list`), ship-tos (`customer.shipto.list`) and carriers
  (`ecommerce/customer-carriers.list`) become frozen records (`from_wire`);
- ids become strings (an id is a label, never arithmetic), counts ints, money `Decimal`, dates
  `date`, stamps aware UTC datetimes, status codes the IntEnums below;
- a value that does not parse is never guessed at: the field is `None` and the record notes it
  in `unreadable`, with what came (an unreadable amount is not 0.00); `raw` keeps the record as
  Komet sent it, unknown fields included (Komet adds fields).

Inventory pages stay columnar dicts (`normalise_record`): they go straight into the vectorised
pandas transform, where one record object per line would cost more than it tells. Customers,
prebooks and write answers are normalised dicts too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import IntEnum
from typing import Any, TypeVar

from ..http.formats import (
    FieldReader,
    Unreadable,
    as_day,
    as_decimal,
    as_int,
    as_stamp,
    as_str_id,
    as_text,
    komet_timestamp,
    status_flag,
)

__all__ = [  # the parsers komet/errors.py and komet/transport.py take from here
    "Carrier",
    "CustomerCarriers",
    "InventoryOrigin",
    "Invoice",
    "InvoiceDetail",
    "InvoiceStatus",
    "ShipTo",
    "WebOrder",
    "WebOrderItem",
    "WebOrderStatus",
    "as_int",
    "is_success",
    "komet_ids",
    "komet_timestamp",
    "normalise_envelope",
    "normalise_record",
    "status_flag",
]


class WebOrderStatus(IntEnum):
    """`statusId` of a web order (`web-order-details.list`)."""

    PENDING = 1
    CHECKED_OUT = 2
    DELETED = 3  # never listed by Komet's API; the twin's state dump marks deleted orders so


class InvoiceStatus(IntEnum):
    """`status` of an invoice (`invoice.list`, `invoice.details.list`)."""

    PENDING = 0  # awaiting the sales rep's confirmation
    CONFIRMED = 1
    DRAFT = 2
    VOIDED = 4


class InventoryOrigin(IntEnum):
    """`inventoryOrigin`, as the current `web-order-item.add` page accepts it."""

    OPEN_MARKET = 1  # on hand: the only origin the FTD integration sells
    FUTURE_SALES = 2


E = TypeVar("E", bound=IntEnum)


def _code(enum: type[E]) -> Callable[[Any], E | int | None]:
    """A status code as `enum`; a code the enum does not know is kept as its int (Komet may add
    codes), never mapped to a neighbour."""

    def parse(value: Any) -> E | int | None:
        number = as_int(value)
        if number is None:
            return None
        try:
            return enum(number)
        except ValueError:
            return number

    return parse


def _ids_text(value: Any) -> str:
    """Line ids as Komet's comma-joined text; a list (an older style) is joined the same way."""
    if value is None:
        return ""
    return komet_ids(value) if isinstance(value, list | tuple | int) else str(value)


def _nested(wire: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    rows = wire.get(key)
    return [r for r in rows if isinstance(r, Mapping)] if isinstance(rows, list) else []


@dataclass(frozen=True)
class WebOrderItem:
    id: str | None  # Komet lists both ids; web-order-item.delete takes `web_order_item_id`
    web_order_item_id: str | None
    inventory_ids: str  # as Komet joins them ("428720,428721"); offers.ids reads the identity
    inventory_origin: InventoryOrigin | int | None
    quantity: int | None  # boxes
    units_per_box: int | None
    price: Decimal | None  # unit price
    carrier_id: str | None
    date: date | None  # ship date
    ship_to_id: str | None
    mark_code: str | None
    product_description: str
    unreadable: tuple[Unreadable, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any], where: str = "") -> WebOrderItem:
        read = FieldReader(wire, where)
        return cls(
            id=as_str_id(wire.get("id")),
            web_order_item_id=as_str_id(wire.get("webOrderItemId")),
            inventory_ids=_ids_text(wire.get("inventoryIds")),
            inventory_origin=read(_code(InventoryOrigin), "inventoryOrigin"),
            quantity=read(as_int, "quantity"),
            units_per_box=read(as_int, "unitsPerBox"),
            price=read(as_decimal, "price"),
            carrier_id=as_str_id(wire.get("carrierId")),
            date=read(as_day, "date"),
            ship_to_id=as_str_id(wire.get("shipToId")),
            mark_code=as_text(wire.get("markCode")),
            product_description=str(wire.get("productDescription") or ""),
            unreadable=read.noted(),
            raw=dict(wire),
        )


@dataclass(frozen=True)
class WebOrder:
    id: str
    number: str | None
    status: WebOrderStatus | int | None  # `statusId`
    customer_id: str | None
    customer_po: str
    subtotal: Decimal | None
    additional_charges: Decimal | None
    total: Decimal | None
    items: tuple[WebOrderItem, ...]
    unreadable: tuple[Unreadable, ...] = ()  # the order's own fields; items note theirs
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> WebOrder:
        read = FieldReader(wire)
        items = tuple(
            WebOrderItem.from_wire(item, f"items[{n}].")
            for n, item in enumerate(_nested(wire, "items"))
        )
        return cls(
            id=as_str_id(wire.get("id")) or "",
            number=as_str_id(wire.get("number")),
            status=read(_code(WebOrderStatus), "statusId"),
            customer_id=as_str_id(wire.get("customerId")),
            customer_po=as_text(wire.get("customerPo")) or "",
            subtotal=read(as_decimal, "subtotal"),
            additional_charges=read(as_decimal, "additionalCharges"),
            total=read(as_decimal, "total"),
            items=items,
            unreadable=read.noted(),
            raw=dict(wire),
        )

    @property
    def boxes(self) -> int:
        """Boxes in the order's items (an item whose quantity is unreadable counts none)."""
        return sum(item.quantity or 0 for item in self.items)


@dataclass(frozen=True)
class InvoiceDetail:
    """One line of an invoice (`details[]` of invoice.details.list)."""

    detail_id: str | None
    product_description: str
    inventory_ids: str  # as Komet joins them ("428720,428721")
    boxes: int | None
    units: int | None
    price: Decimal | None  # unit price
    total: Decimal | None
    unreadable: tuple[Unreadable, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any], where: str = "") -> InvoiceDetail:
        read = FieldReader(wire, where)
        return cls(
            detail_id=as_str_id(wire.get("detailId")),
            product_description=str(wire.get("productDescription") or ""),
            inventory_ids=_ids_text(wire.get("inventoryIds")),
            boxes=read(as_int, "boxes", required=True),
            units=read(as_int, "units", required=True),
            price=read(as_decimal, "price", required=True),
            total=read(as_decimal, "total", required=True),
            unreadable=read.noted(),
            raw=dict(wire),
        )


@dataclass(frozen=True)
class Invoice:
    """An invoice header (`invoice.list`), with its lines when invoice.details.list gave it."""

    id: str
    number: str
    status: InvoiceStatus | int | None
    ship_date: date | None
    created_on: datetime | None
    updated_on: datetime | None
    total: Decimal | None  # None: missing or unreadable (see `unreadable`), never 0.00
    customer_id: str | None
    customer_po: str  # "" when Komet gave none ([assumed] field, a twin switch)
    web_order_id: str | None  # None when Komet gave none, or 0 ([assumed] field)
    carrier_name: str
    sales_person_name: str
    invoice_notes: str
    details: tuple[InvoiceDetail, ...] | None  # None: the answer had no `details` (invoice.list)
    unreadable: tuple[Unreadable, ...] = ()  # the header's fields; details note theirs
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> Invoice:
        read = FieldReader(wire)
        details = None
        if "details" in wire:
            details = tuple(
                InvoiceDetail.from_wire(d, f"details[{n}].")
                for n, d in enumerate(_nested(wire, "details"))
            )
        web_order = as_str_id(wire.get("webOrderId"))
        return cls(
            id=as_str_id(wire.get("id")) or "",
            number=as_str_id(wire.get("number")) or "",
            status=read(_code(InvoiceStatus), "status", required=True),
            ship_date=read(as_day, "shipDate", required=True),
            created_on=read(as_stamp, "createdOn"),
            updated_on=read(as_stamp, "updatedOn"),
            total=read(as_decimal, "total", required=True),
            customer_id=as_str_id(wire.get("customerId")),
            customer_po=as_text(wire.get("customerPo")) or "",
            web_order_id=None if web_order in (None, "0") else web_order,
            carrier_name=str(wire.get("carrierName") or ""),
            sales_person_name=str(wire.get("salesPersonName") or ""),
            invoice_notes=str(wire.get("invoiceNotes") or ""),
            details=details,
            unreadable=read.noted(),
            raw=dict(wire),
        )

    def all_unreadable(self) -> tuple[Unreadable, ...]:
        """What could not be read, in the header and in every line."""
        lines = [u for d in self.details or () for u in d.unreadable]
        return (*self.unreadable, *lines)


@dataclass(frozen=True)
class ShipTo:
    """One of a customer's ship-to addresses (`customer.shipto.list`: `shiptos[]`, with
    `shipToCode`, `address`, `zipcode`; the older `address1`/`zipCode` spelling is read too)."""

    id: str
    code: str  # `shipToCode`
    name: str
    address: str
    city: str
    state: str
    zipcode: str
    country: str
    phone: str
    carrier_id: str | None
    carrier_name: str
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> ShipTo:
        def text(*keys: str) -> str:  # Komet's pages spell some of these two ways
            return next((str(wire[k]).strip() for k in keys if wire.get(k) is not None), "")

        return cls(
            id=as_str_id(wire.get("id")) or "",
            code=text("shipToCode"),
            name=text("name"),
            address=text("address", "address1"),
            city=text("city"),
            state=text("state"),
            zipcode=text("zipcode", "zipCode"),
            country=text("country"),
            phone=text("phone"),
            carrier_id=as_str_id(wire.get("carrierId")),
            carrier_name=text("carrierName"),
            raw=dict(wire),
        )


@dataclass(frozen=True)
class Carrier:
    """A carrier the customer may ship with (`carriers[]` of customer-carriers.list)."""

    id: str
    name: str
    code: str
    cube_rate: Decimal | None  # `carrierCubeRate`, when Komet gives it
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> Carrier:
        read = FieldReader(wire)
        return cls(
            id=as_str_id(wire.get("carrierId")) or as_str_id(wire.get("id")) or "",
            name=str(wire.get("carrierName") or wire.get("name") or ""),
            code=str(wire.get("code") or ""),
            cube_rate=read(as_decimal, "carrierCubeRate"),
            raw=dict(wire),
        )


@dataclass(frozen=True)
class CustomerCarriers(Sequence[Carrier]):
    """`ecommerce/customer-carriers.list` for one ship date and window: Komet's suggestion
    (`carrierId`/`carrierName`/`carrierCubeRate` at the top level) and `carriers[]`.

    It reads as the sequence of carriers (Komet's order), so a caller that only wants the
    list keeps working; `suggested` is None when Komet suggests none for that date.
    """

    suggested: Carrier | None
    carriers: tuple[Carrier, ...]

    @classmethod
    def from_envelope(
        cls, envelope: Mapping[str, Any], carriers: Sequence[Carrier]
    ) -> CustomerCarriers:
        top = {k: envelope.get(k) for k in ("carrierId", "carrierName", "carrierCubeRate")}
        suggested = Carrier.from_wire(top) if as_str_id(top["carrierId"]) else None
        return cls(suggested, tuple(carriers))

    def __getitem__(self, index: Any) -> Any:
        return self.carriers[index]

    def __len__(self) -> int:
        return len(self.carriers)


# --- untyped answers: inventory pages, customers, prebooks, write envelopes ---

# Fields that are counts or enums. `statusId` and `status` end like ids but are enums.
INT_FIELDS = frozenset(
    {
        "status",
        "statusId",
        "quantity",
        "availableBoxes",
        "unitsPerBox",
        "bunches",
        "stemsBunch",
        "aging",
        "inventoryOrigin",
        "active",
        "boxes",
        "units",
        "isEcommerce",
    }
)
# Money and other exact decimals.
DECIMAL_FIELDS = frozenset(
    {"price", "subtotal", "additionalCharges", "total", "defaultPrice", "creditLimit", "unitPrice"}
)


def is_success(envelope: Mapping[str, Any]) -> bool:
    """True when Komet's envelope says status 1 (in any of its typing styles)."""
    return status_flag(envelope.get("status")) is True


def is_id_field(key: str) -> bool:
    return key not in INT_FIELDS and (key == "id" or key.endswith("Id") or key.endswith("Ids"))


def _normalise_value(key: str, value: Any) -> Any:
    if isinstance(value, Mapping):
        return normalise_record(value)
    if isinstance(value, list):
        return [_normalise_value(key, v) for v in value]
    try:
        if is_id_field(key):
            return as_str_id(value)
        if key in INT_FIELDS:
            return as_int(value)
        if key in DECIMAL_FIELDS:
            return as_decimal(value)
    except ValueError:
        # Kept as it came: the inventory transform drops lines it cannot price, and a
        # person reading a customer record sees what Komet sent.
        return value
    return value


def normalise_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of an untyped Komet record with ids, counts and money typed; unknown keys kept."""
    return {str(k): _normalise_value(str(k), v) for k, v in record.items()}


def normalise_envelope(envelope: Mapping[str, Any]) -> dict[str, Any]:
    """Like `normalise_record`, but the envelope's `total` is a row count, not money."""
    out = normalise_record({k: v for k, v in envelope.items() if k != "total"})
    if "total" in envelope:
        try:
            out["total"] = as_int(envelope["total"])
        except ValueError:
            out["total"] = envelope["total"]
    return out


# --- values we send ---


def komet_ids(value: str | int | Sequence[str | int]) -> str:
    """Line ids as Komet gives them in `inventoryLineIds`: one comma-separated string."""
    if isinstance(value, str | int):
        return str(value)
    return ",".join(str(v) for v in value)
