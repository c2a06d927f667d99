"""Komet twin read methods: inventory as a customer sees it, customers, carriers, prebooks.

Each handler takes a `Call` and returns the method-specific part of the envelope (`status` and
`message` are added by the app), or raises `Refusal`. Values keep their Python types; the
app's `render` applies the json_style switch.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, cast

import orjson

from . import db as komet_db
from . import shiptos as komet_shiptos
from .wire import CENT, Call, add_months, invalid, money, render

# quantity = the item's lines' boxes, net of reservations (a badly keyed line may be negative)
ITEM_SQL = (
    "SELECT i.*, (SELECT SUM(l.boxes) FROM komet_item_lines il JOIN komet_lines l "
    "ON l.line_id = il.line_id WHERE il.item_id = i.id) AS quantity FROM komet_items i"
)


def price_factor(call: Call, customer: int) -> Decimal:
    row = call.db.query("SELECT price_factor FROM komet_customers WHERE id=?", (customer,))
    return Decimal(row[0]["price_factor"])


def item_json(row: Any, factor: Decimal, quantity: int | None = None) -> dict[str, Any]:
    """One inventory item as Komet lists it; the price is this customer's price per unit."""
    base = money(row["price"])
    price = base if base == "" else (cast(Decimal, base) * factor).quantize(CENT)
    return {
        "inventoryOrigin": row["origin"],
        "inventoryLineIds": row["line_ids"],
        "companyProductId": row["company_product_id"],
        "productCode": row["product_code"],
        "productDescription": row["description"],
        "categoryId": row["category_id"],
        "category": row["category"],
        "variety": row["variety"],
        "color": row["color"],
        "grade": row["grade"],
        "boxTypeId": row["box_type_id"],
        "boxTypeCode": row["box_type_code"],
        "unitType": row["unit_type"],
        "unitsPerBox": row["units_per_box"],
        "bunches": row["bunches"],
        "stemsBunch": row["stems_bunch"],
        "quantity": row["quantity"] if quantity is None else quantity,
        "price": price,
        "availableFrom": row["available_from"],
        "availableTo": row["available_to"],
        "carrierId": row["carrier_id"],
        "aging": row["aging"],
        "markCode": row["mark_code"],
    }


def inventory_list(call: Call) -> dict[str, Any]:
    """Paged, in line-id order so pages never overlap; sold-out lines are listed with 0 boxes.

    [doc] Without `availableDate` the search covers today up to two months ahead: a line whose
    window lies wholly outside is not listed. [doc] `reservedInventory` true lists only the
    lines reserved for this customer; false (the default) only lines reserved for nobody.
    `rows` is capped by the max_rows switch; `total` counts what the same filter lists.
    """
    customer = call.customer_id(active_only=True)
    page = call.integer("page", low=1) or 1
    rows = call.integer("rows", low=1) or 30
    rows = min(rows, int(call.settings["max_rows"]))
    where: list[str] = []
    params: list[str | int] = []
    when = call.day("availableDate")
    if when is not None:
        where.append("i.available_from <= ? AND i.available_to >= ?")
        params += [when.isoformat(), when.isoformat()]
    else:
        today = komet_db.today()
        where.append("i.available_to >= ? AND i.available_from <= ?")
        params += [today.isoformat(), add_months(today, 2).isoformat()]
    if call.flag("reservedInventory"):
        where.append("i.reserved_for = ?")
        params.append(customer)
    else:
        where.append("i.reserved_for IS NULL")
    search = call.text("searchText")
    if search is not None:
        where.append("(i.description LIKE ? OR i.product_code LIKE ? OR i.variety LIKE ?)")
        params += [f"%{search}%"] * 3
    category = call.integer("categoryId")
    if category is not None:
        where.append("i.category_id = ?")
        params.append(category)
    color = call.text("color")
    if color is not None:
        where.append("i.color = ? COLLATE NOCASE")
        params.append(color)
    location = call.company_location()
    if location is not None:
        where.append("i.location_id = ?")
        params.append(location)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    listed = _listing(call, clause, tuple(params), price_factor(call, customer))
    start = (page - 1) * rows
    page_items = b"[" + b",".join(listed[start : start + rows]) + b"]"
    return {"total": len(listed), "inventoryItems": orjson.Fragment(page_items)}


@dataclass
class _Listing:
    """One store's last listing: its key, its items encoded, and each item's encoding by the
    row it came from (for the factor and style of the key), so a rebuild after a stock write
    re-encodes only the rows that changed."""

    key: tuple[Any, ...]
    items: list[bytes]
    by_row: dict[tuple[Any, ...], bytes]


_LISTINGS: weakref.WeakKeyDictionary[Any, _Listing] = weakref.WeakKeyDictionary()


def _listing(call: Call, clause: str, params: tuple[Any, ...], factor: Decimal) -> list[bytes]:
    """Every item the filter lists, in page order, each already rendered and encoded.

    A cycle reads ~200 pages of one listing; building it once makes a page a slice (an OFFSET
    query re-walks every earlier row, and rendering 500 items per page costs more than the
    query). The key holds all the listing depends on: the stock version (bumped by triggers on
    every write to lines and items, whoever writes: orders, `_sandbox/stock`, tamper), the
    filter, this customer's price factor and the json_style switch, so a page is always what
    the uncached query would have served at that moment.
    """
    version = call.db.query("SELECT v FROM komet_stock_version")[0][0]
    style = str(call.settings["json_style"])
    key = (version, clause, params, factor, style)
    cached = _LISTINGS.get(call.db)
    if cached is not None and cached.key == key:
        return cached.items
    # An item's encoding depends only on its row, the factor and the style (item_json, render).
    known = cached.by_row if cached is not None and cached.key[3:] == key[3:] else {}
    by_row: dict[tuple[Any, ...], bytes] = {}
    items = []
    for row in call.db.query(f"{ITEM_SQL}{clause} ORDER BY i.first_line_id, i.id", params):
        values = tuple(row)
        encoded = known.get(values)
        if encoded is None:
            encoded = _encode(item_json(row, factor), style)
        by_row[values] = encoded
        items.append(encoded)
    _LISTINGS[call.db] = _Listing(key, items, by_row)
    return items


def _encode(item: dict[str, Any], style: str) -> bytes:
    # "strings" (the common case) rendered flat: an item holds scalars only
    return orjson.dumps(_strings(item) if style == "strings" else render(item, style))


def _strings(item: dict[str, Any]) -> dict[str, Any]:
    """render(item, "strings") for a flat item (ints and Decimals to text), without recursion."""
    out = {}
    for name, value in item.items():
        kind = type(value)
        if kind is int:
            value = str(value)
        elif kind is Decimal:
            value = format(value.quantize(CENT), "f")
        out[name] = value
    return out


def inventory_get(call: Call) -> dict[str, Any]:
    """The items listing any of the given lines; not available on `date` = quantity 0."""
    customer = call.customer_id(active_only=True)
    text = call.text("inventoryLineIds", need=True)
    assert text is not None
    parts = [p.strip() for p in text.split(",")]
    if not all(p.isdigit() for p in parts):
        raise invalid("inventoryLineIds")
    origin = call.integer("inventoryOrigin")
    if origin is not None and origin not in (1, 2, 3, 4):
        raise invalid("inventoryOrigin")
    carrier = call.integer("carrierId")
    if carrier is not None and not call.db.query(
        "SELECT 1 FROM komet_carriers WHERE id=?", (carrier,)
    ):
        raise invalid("carrierId")
    when, start, end = call.day("date"), call.day("availableFrom"), call.day("availableTo")
    marks = ", ".join("?" * len(parts))
    found = call.db.query(
        f"{ITEM_SQL} WHERE i.id IN (SELECT item_id FROM komet_item_lines WHERE line_id IN ({marks}))"
        " ORDER BY i.first_line_id, i.id",
        tuple(int(p) for p in parts),
    )
    factor = price_factor(call, customer)
    items = []
    for row in found:
        if origin is not None and row["origin"] != origin:
            continue
        first, last = row["available_from"], row["available_to"]
        open_on_date = when is None or first <= when.isoformat() <= last
        overlaps = (start is None or last >= start.isoformat()) and (
            end is None or first <= end.isoformat()
        )
        items.append(item_json(row, factor, None if open_on_date and overlaps else 0))
    return {"inventoryItems": items}


def available_dates(call: Call) -> dict[str, Any]:
    """Ship dates in the next 30 days on which at least one item has boxes."""
    call.customer_id(active_only=True)
    first, last = komet_db.today(), komet_db.today() + timedelta(days=30)
    windows = call.db.query(
        f"SELECT DISTINCT available_from, available_to FROM ({ITEM_SQL}) WHERE quantity > 0"
    )
    dates: set[str] = set()
    for w in windows:
        day = max(first, date.fromisoformat(w["available_from"]))
        end = min(last, date.fromisoformat(w["available_to"]))
        while day <= end:
            dates.add(day.isoformat())
            day += timedelta(days=1)
    return {"availableDates": sorted(dates)}


def carrier_json(row: Any) -> dict[str, Any]:
    return {"id": row["id"], "name": row["name"], "code": row["code"]}


def customer_carriers(call: Call) -> dict[str, Any]:
    """`date`, `availableFrom`, `availableTo` required; a suggestion per date (see shiptos.py)."""
    return komet_shiptos.customer_carriers(call)


def carrier_list(call: Call) -> dict[str, Any]:
    rows = call.db.query("SELECT * FROM komet_carriers ORDER BY id")
    return {"carriers": [carrier_json(r) for r in rows]}


def customer_details(call: Call) -> dict[str, Any]:
    customer = call.customer_id()
    row = call.db.query("SELECT * FROM komet_customers WHERE id=?", (customer,))[0]
    return {
        "customer": {
            "id": row["id"],
            "name": row["name"],
            "code": row["code"],
            "customerType": row["customer_type"],
            "active": row["active"],
            "salesPerson": row["sales_person"],
            "defaultPrice": row["price_level"],
            "creditLimit": Decimal(row["credit_limit"]),
            "accountingCode": row["accounting_code"],
            "billAddress1": "100 Main St",
            "billCity": row["city"],
            "billState": row["state"],
            "billZipCode": "00000",
            "billCountry": "US",
            "shipAddress1": "100 Main St",
            "shipCity": row["city"],
            "shipState": row["state"],
            "shipZipCode": "00000",
            "shipCountry": "US",
            "updatedOn": row["updated_on"],
        }
    }


def customer_list(call: Call) -> dict[str, Any]:
    """Company tokens only (the app's permission check keeps Customer tokens out)."""
    where: list[str] = []
    params: list[str | int] = []
    ident = call.integer("id")
    if ident is not None:
        where.append("id = ?")
        params.append(ident)
    code = call.text("code")
    if code is not None:
        where.append("code = ?")
        params.append(code)
    name = call.text("name")
    if name is not None:
        where.append("name LIKE ?")
        params.append(f"%{name}%")
    if not call.flag("includeInactive"):
        where.append("active = 1")
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    rows = call.db.query(f"SELECT * FROM komet_customers{clause} ORDER BY name", tuple(params))
    return {
        "customers": [
            {
                "id": r["id"],
                "name": r["name"],
                "code": r["code"],
                "active": r["active"],
                "customerType": r["customer_type"],
                "salesPerson": r["sales_person"],
                "updatedOn": r["updated_on"],
                "accountingCode": r["accounting_code"],
            }
            for r in rows
        ]
    }


def ship_to_list(call: Call) -> dict[str, Any]:
    """`shiptos[]` in Komet's documented shape; a filter is required (see shiptos.py)."""
    return komet_shiptos.ship_to_list(call)


def ship_to_add(call: Call) -> dict[str, Any]:
    """customer.shipto.add (Company token): answers `shipToId`."""
    return komet_shiptos.ship_to_add(call)


def prebook_list(call: Call) -> dict[str, Any]:
    """The twin keeps no prebooks: the FTD flow never makes them. An empty list, not an error."""
    call.customer_filter()
    call.day("dateFrom")
    call.day("dateTo")
    return {"prebooks": []}
