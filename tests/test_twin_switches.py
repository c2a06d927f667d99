"""The Komet twin serves what Komet documents, and every value of every switch, over HTTP.

Part 1 pins the documented rules (spec sections 1-3) that the twin was once more lenient about.
Part 2 takes each switch of `komet/switches.py` in turn and shows that each of its values can be
observed from outside, through the API the kit uses. Raw HTTP (httpx), like test_komet_twin.py,
whose in-thread twin and helpers this file shares.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from test_komet_twin import (
    KometTwin,
    add_body,
    inventory,
    ok,
    quantity,
    refused,
    sellable,
    serving,
)

from komet_ftd_ops.errors import (
    AuthError,
    CustomerNotAllowed,
    InvalidParameter,
    ItemNotAvailable,
    MethodNotAllowed,
    QuotaExceeded,
)
from komet_ftd_ops.komet.errors import read_answer
from komet_ftd_ops.komet.switches import SWITCHES, hardest
from komet_ftd_ops.sandbox.komet import db as komet_db


def start(tmp_path: Path, name: str = "twin", lines: int = 300, **switches: Any) -> KometTwin:
    return KometTwin(tmp_path / f"{name}.sqlite3", lines=lines, switches=switches).start()


@pytest.fixture
def twin(tmp_path: Path) -> Iterator[KometTwin]:
    """The twin at its defaults: every switch at its hardest reading."""
    running = start(tmp_path)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Any]:
    """make(**switches) → a running twin with those values (each its own file); all stopped."""
    made: list[KometTwin] = []

    def factory(**switches: Any) -> KometTwin:
        made.append(start(tmp_path, f"twin{len(made)}", **switches))
        return made[-1]

    try:
        yield factory
    finally:
        for running in made:
            running.stop()


def message(response: httpx.Response) -> str:
    return str(response.json()["message"])


def create(twin: KometTwin) -> str:
    return str(ok(twin.post("web-order.create", {"customerId": twin.ftd}))["webOrderId"])


def placed(twin: KometTwin, item: dict[str, Any], boxes: int = 1, **extra: Any) -> str:
    """A web order with one item of `item`; returns its id."""
    order = create(twin)
    ok(twin.post("web-order-item.add", add_body(twin, item, boxes, webOrderId=order, **extra)))
    return order


def checkout(twin: KometTwin, order: str, po: str = "") -> httpx.Response:
    return twin.post("web-order.checkout", {"customerId": twin.ftd, "webOrderId": order,
                                            "customerPo": po})  # fmt: skip


def details(twin: KometTwin, order: str, **params: Any) -> list[dict[str, Any]]:
    body = ok(twin.ecom("web-order-details.list", customerId=twin.ftd, webOrderId=order, **params))
    return list(body["webOrders"])


def dumped_order(twin: KometTwin, order: str) -> dict[str, Any]:
    return next(w for w in twin.control("GET", "dump")["web_orders"] if str(w["id"]) == order)


def dumped_invoice(twin: KometTwin, order: str) -> dict[str, Any] | None:
    invoices = twin.control("GET", "dump")["invoices"]
    return next((i for i in invoices if int(order) in i["webOrderIds"]), None)


def same_day_pair(twin: KometTwin) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two sellable single-line items on sale on one ship date (the first one's)."""
    first = sellable(twin, 3)
    day = first["availableFrom"]
    second = next(
        i for i in inventory(twin)
        if i["inventoryOrigin"] == "1" and "," not in i["inventoryLineIds"]
        and i["inventoryLineIds"] != first["inventoryLineIds"] and int(i["quantity"]) >= 3
        and i["availableFrom"] <= day <= i["availableTo"] and i["price"] not in ("", "0.00")
        and int(i["unitsPerBox"]) > 0 and i["boxTypeCode"] != "XB"
    )  # fmt: skip
    return first, {**second, "availableFrom": day}


# --- 1. documented strictness -----------------------------------------------------------------


def test_web_order_details_needs_the_web_order_id_and_lists_by_status(make: Any) -> None:
    twin = make(messages="table")
    order = placed(twin, sellable(twin, 2))
    refused(twin.ecom("web-order-details.list", customerId=twin.ftd), "webOrderId is required.")
    refused(twin.ecom("web-order-details.list", webOrderId=order), "customerId is required.")
    assert [w["id"] for w in details(twin, order)] == [order]  # omitted statusId = pending
    assert details(twin, order, statusId=2) == []
    ok(checkout(twin, order, "77"))
    assert details(twin, order) == [] and details(twin, order, statusId=1) == []
    assert details(twin, order, statusId=2)[0]["statusId"] == "2"
    refused(
        twin.ecom("web-order-details.list", customerId=twin.ftd, webOrderId=order, statusId=3),
        "statusId is invalid.",
    )


def test_multi_location_companies_must_name_the_location(make: Any) -> None:
    twin = make(messages="table", multi_location=True)
    refused(twin.post("web-order.create", {"customerId": twin.ftd}), "companyLocationId is required.")  # fmt: skip
    location = twin.control("GET", "info")["location_ids"][0]
    body = {"customerId": twin.ftd, "companyLocationId": location}
    order = ok(twin.post("web-order.create", body))["webOrderId"]
    refused(
        twin.ecom("web-order-details.list", customerId=twin.ftd, webOrderId=order),
        "companyLocationId is required.",
    )
    params = {"customerId": twin.ftd, "webOrderId": order, "companyLocationId": location}
    assert ok(twin.ecom("web-order-details.list", **params))["webOrders"][0]["id"] == order
    plain = make(messages="table")  # off (the default): no location needed
    ok(plain.post("web-order.create", {"customerId": plain.ftd}))


def test_delete_voids_a_checked_out_order_until_the_rep_confirms(make: Any) -> None:
    twin = make(messages="table", merge_invoices="no")
    item = sellable(twin, 4)
    before = quantity(twin, item)
    order = placed(twin, item, 2)
    ok(checkout(twin, order, "PO-1"))
    assert quantity(twin, item) == before - 2
    ok(twin.post("web-order.delete", {"customerId": twin.ftd, "webOrderId": order}))
    assert quantity(twin, item) == before  # boxes back on the shelf
    invoice = dumped_invoice(twin, order)
    assert invoice is not None and invoice["status"] == 4  # voided
    assert dumped_order(twin, order)["status"] == 3
    confirmed = placed(twin, item, 1)
    ok(checkout(twin, confirmed, "PO-2"))
    invoice = dumped_invoice(twin, confirmed)
    assert invoice is not None
    twin.control("POST", "confirm", {"invoice_id": invoice["id"]})
    refused(
        twin.post("web-order.delete", {"customerId": twin.ftd, "webOrderId": confirmed}),
        "webOrderId is invalid.",
    )
    assert quantity(twin, item) == before - 1


def test_delete_of_a_merged_order_removes_only_its_own_lines(make: Any) -> None:
    twin = make(messages="table", merge_invoices="yes", fee_on_invoice="charge")
    first, second = same_day_pair(twin)
    carrier = serving(first["availableFrom"], first["carrierId"])
    a = placed(twin, first, 1, carrierId=carrier)
    b = placed(twin, second, 1, carrierId=carrier)
    ok(checkout(twin, a, "PO-A"))
    ok(checkout(twin, b, "PO-B"))
    merged = dumped_invoice(twin, a)
    assert merged is not None and merged["webOrderIds"] == [int(a), int(b)]
    ok(twin.post("web-order.delete", {"customerId": twin.ftd, "webOrderId": b}))
    after = dumped_invoice(twin, a)
    assert after is not None and after["id"] == merged["id"]
    assert after["status"] == 0 and after["webOrderIds"] == [int(a)]  # not voided
    assert {line["webOrderId"] for line in after["lines"]} == {int(a)}
    assert float(after["total"]) < float(merged["total"])


def test_the_header_locks_after_the_first_item(make: Any) -> None:
    twin = make(messages="table")
    first, second = same_day_pair(twin)
    day = first["availableFrom"]
    order = placed(twin, first, 1)
    carrier = serving(day, first["carrierId"])
    later = (date.fromisoformat(second["availableTo"])).isoformat()
    other_carrier = next((c for c in (11, 14, 21) if c != carrier and serving(day, c) == c), None)
    ship_to = twin.control("GET", "info")["ftd_ship_to_ids"][0]
    base = add_body(twin, second, 1, webOrderId=order, carrierId=carrier, date=day)
    if later != day:
        refused(
            twin.post("web-order-item.add", {**base, "date": later, "carrierId": serving(later)}),
            "date is invalid.",
        )
    if other_carrier is not None:  # on a Sunday only one FTD carrier drives
        refused(
            twin.post("web-order-item.add", {**base, "carrierId": other_carrier}),
            "carrierId is invalid.",
        )
    refused(twin.post("web-order-item.add", {**base, "shipToId": ship_to}), "shipToId is invalid.")
    ok(twin.post("web-order-item.add", base))  # the same header is fine


def test_inventory_origin_is_required_and_one_or_two(make: Any) -> None:
    twin = make(messages="table")
    item = sellable(twin)
    body = add_body(twin, item)
    del body["inventoryOrigin"]
    refused(twin.post("web-order-item.add", body), "inventoryOrigin is required.")
    for origin in (3, 4, 0):
        refused(
            twin.post("web-order-item.add", {**body, "inventoryOrigin": origin}),
            "inventoryOrigin is invalid.",
        )
    vendor = next(i for i in inventory(twin) if i["inventoryOrigin"] == "3")
    refused(twin.post("web-order-item.add", add_body(twin, vendor)), "inventoryOrigin is invalid.")


def test_inventory_covers_two_months_and_hides_reserved_lines(twin: KometTwin) -> None:
    company = twin.info["tokens"]["company"]
    listed = inventory(twin)
    total = int(ok(twin.ecom("ecommerce/inventory.list", customerId=twin.ftd, rows=1))["total"])
    assert total == len(listed)  # total counts what the filter lists
    today = date.today()
    horizon = (today + timedelta(days=62)).isoformat()
    assert all(i["availableTo"] >= today.isoformat() for i in listed)
    assert all(i["availableFrom"] <= horizon for i in listed)
    rows = twin.db.query("SELECT COUNT(*) FROM komet_items")[0][0]
    assert total < rows
    far = twin.db.query("SELECT available_from FROM komet_items WHERE available_from > ?",
                        (horizon,))  # fmt: skip
    assert far, "the catalogue seeds lines past the two months"
    on_that_day = inventory(twin, availableDate=far[0][0])
    assert on_that_day and all(i["availableFrom"] > horizon for i in on_that_day)
    past = twin.db.query("SELECT COUNT(*) FROM komet_items WHERE available_to < ?",
                         (today.isoformat(),))[0][0]  # fmt: skip
    assert past > 0

    reserved = inventory(twin, reservedInventory="true")
    assert reserved and all(i["inventoryOrigin"] == "1" for i in reserved)
    ids = {i["inventoryLineIds"] for i in reserved}
    assert not ids & {i["inventoryLineIds"] for i in listed}  # hidden without the flag
    mine = twin.db.query(
        "SELECT line_ids FROM komet_items WHERE reserved_for = ? AND available_to >= ? "
        "AND available_from <= ?",
        (int(twin.ftd), today.isoformat(), horizon),
    )
    assert ids == {r[0] for r in mine}  # only the lines reserved for FTD
    flagged = ok(twin.ecom("ecommerce/inventory.list", customerId=twin.ftd, rows=1,
                           reservedInventory=1))  # fmt: skip
    assert int(flagged["total"]) == len(reserved)
    other = twin.db.query(
        "SELECT reserved_for, line_ids FROM komet_items WHERE reserved_for IS NOT NULL AND "
        "reserved_for != ? LIMIT 1",
        (int(twin.ftd),),
    )
    assert other, "a few lines are reserved for another customer"
    theirs = ok(twin.ecom("ecommerce/inventory.list", company, customerId=other[0][0],
                          rows=500, reservedInventory="true"))["inventoryItems"]  # fmt: skip
    assert other[0][1] in {i["inventoryLineIds"] for i in theirs}
    assert other[0][1] not in ids
    refused_item = next(i for i in theirs if i["inventoryLineIds"] == other[0][1])
    # FTD may not buy a line reserved for another customer (default wording: messages=other)
    assert message(twin.post("web-order-item.add", add_body(twin, refused_item))) == (
        "Invalid value for parameter inventoryIds"
    )


def test_invoice_pdf_is_a_post_answering_signed_bytes(twin: KometTwin) -> None:
    company = twin.info["tokens"]["company"]
    invoice = twin.control("GET", "dump")["invoices"][0]["id"]
    body = ok(twin.http.post("/api/invoice.pdf.get",
                             json={"authenticationToken": company, "invoiceId": invoice}))  # fmt: skip
    signed = [int(b) for b in body["file"].split(",")]
    assert signed[:5] == list(b"%PDF-") and min(signed) >= -128 and max(signed) <= 127
    response = twin.classic("invoice.pdf.get", company, invoiceId=invoice)
    assert response.status_code == 401  # like a token sent the wrong way


def test_every_web_order_carries_the_fee(twin: KometTwin) -> None:
    item = sellable(twin, 2)
    order = placed(twin, item, 2)
    wo = details(twin, order)[0]
    subtotal = float(wo["subtotal"])
    assert subtotal > 0 and float(wo["additionalCharges"]) == pytest.approx(
        round(subtotal * 0.015, 2), abs=0.011
    )
    assert float(wo["total"]) == pytest.approx(subtotal + float(wo["additionalCharges"]))


# --- 2. every switch, each value observable ------------------------------------------------------


def test_defaults_are_the_hardest_and_every_switch_is_settable(twin: KometTwin) -> None:
    current = twin.control("GET", "settings")
    assert {k: current[k] for k in SWITCHES} == hardest()
    info = twin.control("GET", "info")["settings"]
    dump = twin.control("GET", "dump")["settings"]
    assert {k: info[k] for k in SWITCHES} == {k: dump[k] for k in SWITCHES} == hardest()
    for name, switch in SWITCHES.items():
        for value in switch.values:
            assert twin.control("POST", "settings", {name: value})[name] == value
        bad = twin.http.post("/_sandbox/settings", json={name: "maybe"})
        assert bad.status_code == 400 and name in bad.text
    assert twin.control("POST", "settings", {"max_rows": 30})["max_rows"] == "30"  # old int form


@pytest.mark.parametrize("value", SWITCHES["invoice_exists"].values)
def test_invoice_exists(make: Any, value: str) -> None:
    twin = make(invoice_exists=value)
    order = placed(twin, sellable(twin, 2), 1)
    invoice = dumped_invoice(twin, order)
    number = details(twin, order)[0]["number"]
    if value == "first_add":
        assert invoice is not None and invoice["status"] == 2 and number == invoice["number"]
        listed = ok(twin.classic("invoice.list", order=number))["invoices"]
        assert [i["id"] for i in listed] == [str(invoice["id"])]
    else:
        assert invoice is None and number == ""
    ok(checkout(twin, order, "PO"))
    after = dumped_invoice(twin, order)
    assert after is not None and after["status"] == 0
    if invoice is not None:
        assert after["id"] == invoice["id"]  # the same Order #, now pending
    assert details(twin, order, statusId=2)[0]["number"] == after["number"]


@pytest.mark.parametrize("value", SWITCHES["link_fields"].values)
def test_link_fields(make: Any, value: str) -> None:
    twin = make(link_fields=value)
    item = sellable(twin, 2)
    order = placed(twin, item, 1)
    ok(checkout(twin, order, "PO-LINK"))
    invoice = dumped_invoice(twin, order)
    assert invoice is not None
    day = item["availableFrom"]
    expected = {"both": {"customerPo", "webOrderId"}, "neither": set()}.get(value, {value})
    for method in ("invoice.list", "invoice.details.list"):
        found = ok(twin.classic(method, orderDateFrom=day, orderDateTo=day))["invoices"]
        row = next(i for i in found if i["id"] == str(invoice["id"]))
        assert {"customerPo", "webOrderId"} & set(row) == expected
        if "customerPo" in expected:
            assert row["customerPo"] == "PO-LINK"
        if "webOrderId" in expected:
            assert row["webOrderId"] == order
        # order / orderId find it under every value, the dates then ignored
        by_number = ok(twin.classic(method, order=invoice["number"], orderDateFrom="2001-01-01",
                                    orderDateTo="2001-01-02"))["invoices"]  # fmt: skip
        by_id = ok(twin.classic(method, orderId=invoice["id"]))["invoices"]
        assert [i["id"] for i in by_number] == [i["id"] for i in by_id] == [str(invoice["id"])]


@pytest.mark.parametrize("value", SWITCHES["merge_invoices"].values)
def test_merge_invoices(make: Any, value: str) -> None:
    twin = make(merge_invoices=value)
    first, second = same_day_pair(twin)
    carrier = serving(first["availableFrom"], first["carrierId"])
    a = placed(twin, first, 1, carrierId=carrier)
    b = placed(twin, second, 1, carrierId=carrier)
    ok(checkout(twin, a, "PO-A"))
    ok(checkout(twin, b, "PO-B"))
    ia, ib = dumped_invoice(twin, a), dumped_invoice(twin, b)
    assert ia is not None and ib is not None
    if value == "yes":
        assert ia["id"] == ib["id"] and ia["webOrderIds"] == [int(a), int(b)]
        assert ia["customerPo"] == "PO-A"  # the first PO stays
        assert details(twin, b, statusId=2)[0]["number"] == ia["number"]
        assert {line["webOrderId"] for line in ia["lines"]} == {int(a), int(b)}
    else:
        assert ia["id"] != ib["id"] and ib["customerPo"] == "PO-B"
    # another ship-to never merges
    ship_to = twin.control("GET", "info")["ftd_ship_to_ids"][0]
    c = placed(twin, first, 1, carrierId=carrier, shipToId=ship_to)
    ok(checkout(twin, c, "PO-C"))
    ic = dumped_invoice(twin, c)
    assert ic is not None and ic["id"] not in (ia["id"], ib["id"])


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KometTwin]:
    running = KometTwin(tmp_path_factory.mktemp("big") / "big.sqlite3", lines=1200).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.mark.parametrize("value", SWITCHES["max_rows"].values)
def test_max_rows(big: KometTwin, value: str) -> None:
    big.control("POST", "settings", {"max_rows": value})
    body = ok(big.ecom("ecommerce/inventory.list", customerId=big.ftd, rows=5000))
    total = int(body["total"])
    assert total > 1000
    assert len(body["inventoryItems"]) == min(int(value), total)
    default = ok(big.ecom("ecommerce/inventory.list", customerId=big.ftd))
    assert len(default["inventoryItems"]) == 30  # Komet's documented default


def hours_into_window(window: str, zone: str) -> float:
    """How long ago the current quota window began."""
    if window == "rolling_24h":
        return 24.0
    now = datetime.now(UTC if window == "utc_day" else ZoneInfo(zone))
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return (now - midnight).total_seconds() / 3600


@pytest.mark.parametrize("value", SWITCHES["quota_window"].values)
def test_quota_window(make: Any, value: str) -> None:
    zone = "Pacific/Auckland"  # far from UTC, so company_tz and utc_day differ
    twin = make(quota_window=value, company_tz=zone, quota=3, messages="table")
    since = hours_into_window(value, zone)
    if since < 0.02:
        pytest.skip("the window began this very minute")
    outside = twin.control("POST", "calls", {"count": 5, "age_hours": since + 0.01})
    assert outside["calls_in_window"] == 0
    inside = twin.control("POST", "calls", {"count": 3, "age_hours": since - 0.01})
    assert inside["calls_in_window"] == 3
    refused(twin.classic("customer.details.get", customerId=twin.ftd), "API request limit exceeded.")  # fmt: skip
    twin.control("POST", "settings", {"quota": 4})
    ok(twin.classic("customer.details.get", customerId=twin.ftd))
    assert twin.control("GET", "dump")["calls_today"] == 4
    # the windows really differ: one day's edge is not another's
    starts = {w: komet_db.window_start(twin.db) for w in (value,)}
    for other in SWITCHES["quota_window"].values:
        twin.control("POST", "settings", {"quota_window": other})
        starts[other] = komet_db.window_start(twin.db)
    assert len(set(starts.values())) == 3


def wait_for(check: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return bool(check())


def web_order_count(twin: KometTwin) -> int:
    return len(twin.control("GET", "dump")["web_orders"])


@pytest.mark.parametrize("value", SWITCHES["late_writes"].values)
@pytest.mark.parametrize("fault", ["hang", "latency"])
def test_late_writes(make: Any, value: str, fault: str) -> None:
    """A write whose client gave up (a hang, or a timeout during latency) lands later or never."""
    twin = make(late_writes=value, late_write_delay=0.3)
    twin.control("POST", "faults", {"kind": fault, "method": "web-order.create", "ms": 1200})
    with pytest.raises(httpx.TimeoutException):
        twin.http.post("/api/web-order.create", json={"customerId": twin.ftd},
                       headers=twin.headers(), timeout=0.15)  # fmt: skip
    if value == "later":
        assert wait_for(lambda: web_order_count(twin) == 1, 4.0)
    else:
        time.sleep(2.0)  # past the fault's 1.2 s (+20 % jitter) and the delay
        assert web_order_count(twin) == 0
    twin.control("DELETE", "faults")
    ok(twin.post("web-order.create", {"customerId": twin.ftd}))  # an answered write always lands
    assert web_order_count(twin) == (2 if value == "later" else 1)


@pytest.mark.parametrize("value", SWITCHES["customer_shipto_list"].values)
def test_customer_shipto_list(make: Any, value: str) -> None:
    twin = make(customer_shipto_list=value, messages="table")
    response = twin.classic("customer.shipto.list", customerId=twin.ftd)
    if value == "yes":
        assert ok(response)["shiptos"]
    else:
        refused(response, "Method not allowed for this token.")
    company = twin.info["tokens"]["company"]
    assert ok(twin.classic("customer.shipto.list", company, customerId=twin.ftd))["shiptos"]


@pytest.mark.parametrize("value", SWITCHES["fee_on_invoice"].values)
def test_fee_on_invoice(make: Any, value: str) -> None:
    twin = make(fee_on_invoice=value, merge_invoices="no")
    item = sellable(twin, 2)
    order = placed(twin, item, 2)
    ok(checkout(twin, order, "PO-FEE"))
    wo = details(twin, order, statusId=2)[0]
    subtotal, fee = float(wo["subtotal"]), float(wo["additionalCharges"])
    assert fee > 0  # the web order carries the fee either way
    invoice = dumped_invoice(twin, order)
    assert invoice is not None
    day = item["availableFrom"]
    row = next(i for i in ok(twin.classic("invoice.details.list", orderDateFrom=day,
                                          orderDateTo=day))["invoices"]
               if i["id"] == str(invoice["id"]))  # fmt: skip
    if value == "charge":
        assert float(row["total"]) == pytest.approx(subtotal + fee)
        assert float(row["additionalCharges"]) == pytest.approx(fee)
        assert float(row["subtotal"]) == pytest.approx(subtotal)
        charges = [d for d in row["details"] if d["isCharge"]]
        assert len(charges) == 1 and float(charges[0]["total"]) == pytest.approx(fee)
    else:
        assert float(row["total"]) == pytest.approx(subtotal)
        assert "additionalCharges" not in row and len(row["details"]) == 1


CASES = {  # a refusal per case: the spec's wording, and what the kit must read it as
    "auth": ("Invalid authentication token.", AuthError),
    "method": ("Method not allowed for this token.", MethodNotAllowed),
    "customer": ("Customer not allowed for this token.", CustomerNotAllowed),
    "required": ("customerId is required.", InvalidParameter),
    "invalid": ("page is invalid.", InvalidParameter),
    "boxes": ("Item is not available", ItemNotAvailable),
    "quota": ("API request limit exceeded.", QuotaExceeded),
}


def provoke(twin: KometTwin, case: str) -> tuple[str, httpx.Response]:
    blossom = next(c for c in twin.control("GET", "info")["customers"] if c["code"] == "BLOSSOM")
    item = sellable(twin, 1)
    calls = {
        "auth": lambda: ("customer.details.get", twin.classic("customer.details.get", "x" * 50,
                                                              customerId=twin.ftd)),
        "method": lambda: ("customer.list", twin.classic("customer.list")),
        "customer": lambda: ("customer.details.get",
                             twin.classic("customer.details.get", customerId=blossom["id"])),
        "required": lambda: ("ecommerce/inventory.list", twin.ecom("ecommerce/inventory.list")),
        "invalid": lambda: ("ecommerce/inventory.list",
                            twin.ecom("ecommerce/inventory.list", customerId=twin.ftd, page=0)),
        "boxes": lambda: ("web-order-item.add",
                          twin.post("web-order-item.add", add_body(twin, item, 10_000))),
    }  # fmt: skip
    if case == "quota":
        twin.control("POST", "settings", {"quota": 0})
        return "customer.details.get", twin.classic("customer.details.get", customerId=twin.ftd)
    return calls[case]()


@pytest.mark.parametrize("value", SWITCHES["messages"].values)
def test_messages(make: Any, value: str) -> None:
    """Other wording, same HTTP status and envelope; the kit reads both the same way."""
    twin = make(messages=value)
    for case, (wording, error) in CASES.items():
        method, response = provoke(twin, case)
        body = response.json()
        assert body["status"] == "0"
        assert (body["message"] == wording) is (value == "table"), body
        if case == "boxes":
            assert "availableBoxes" in body
        assert response.status_code == (401 if case == "auth" else 200)
        with pytest.raises(error) as raised:
            read_answer(method, response, write=method == "web-order-item.add")
        if error is InvalidParameter:
            assert isinstance(raised.value, InvalidParameter)
            assert raised.value.param == wording.split()[0]
    twin.control("POST", "settings", {"quota": 1000})
    empty = twin.classic("invoice.list", orderDateFrom="2001-01-01", orderDateTo="2001-01-02")
    assert empty.json()["status"] == "0"
    assert (empty.json()["message"] == "Orders not found.") is (value == "table")
    assert read_answer("invoice.list", empty, write=False)["status"] == "0"  # read as empty


@pytest.mark.parametrize("value", SWITCHES["customer_checkout"].values)
def test_customer_checkout(make: Any, value: str) -> None:
    twin = make(customer_checkout=value, messages="table", invoice_exists="checkout")
    order = placed(twin, sellable(twin, 2), 1)
    invoice = dumped_invoice(twin, order)
    if value == "yes":
        assert invoice is None  # appears at checkout (invoice_exists=checkout)
        ok(checkout(twin, order, "PO-CC"))
        invoice = dumped_invoice(twin, order)
        assert invoice is not None and invoice["customerPo"] == "PO-CC"
    else:
        refused(checkout(twin, order, "PO-CC"), "Method not allowed for this token.")
        # the web order with its items is the order the sales rep confirms
        assert invoice is not None and invoice["status"] == 0 and invoice["customerPo"] == ""
        assert details(twin, order)[0]["number"] == invoice["number"]
    assert twin.control("POST", "confirm", {"all": True})["confirmed"] == [invoice["id"]]
    assert details(twin, order, statusId=2)[0]["statusId"] == "2"
    assert dumped_order(twin, order)["status"] == 2


# --- 3. the dump ---------------------------------------------------------------------------------


def test_dump_shows_headers_invoices_and_their_lines(twin: KometTwin) -> None:
    item = sellable(twin, 2)
    ship_to = twin.control("GET", "info")["ftd_ship_to_ids"][1]
    order = placed(twin, item, 2, shipToId=ship_to)
    ok(checkout(twin, order, "PO-DUMP"))
    wo = dumped_order(twin, order)
    assert {"id", "status", "customerPo", "items", "shipToId", "carrierId", "date"} <= set(wo)
    assert wo["shipToId"] == ship_to and wo["date"] == item["availableFrom"]
    assert wo["carrierId"] == serving(item["availableFrom"], item["carrierId"])
    assert wo["customerPo"] == "PO-DUMP" and wo["status"] == 2
    (line,) = wo["items"]
    assert (line["inventoryIds"], line["quantity"], line["price"]) == (
        item["inventoryLineIds"], 2, item["price"],
    )  # fmt: skip
    invoice = dumped_invoice(twin, order)
    assert invoice is not None and invoice["webOrderIds"] == [int(order)]
    kinds = [x["kind"] for x in invoice["lines"]]
    assert kinds == ["product", "charge"]  # fee_on_invoice=charge, the default
    assert sum(float(x["total"]) for x in invoice["lines"]) == pytest.approx(
        float(invoice["total"])
    )


@pytest.mark.parametrize("value", SWITCHES["account_header"].values)
def test_account_header(make: Any, value: str) -> None:
    twin = make(account_header=value, messages="table")
    token, company = twin.info["tokens"]["customer"], twin.info["company_id"]
    path, params = "/api/ecommerce/inventory.list", {"customerId": twin.ftd}

    def listed(account: str | None) -> httpx.Response:
        headers = {"authenticationToken": token}
        if account is not None:
            headers["X-ACCOUNT"] = account
        return twin.http.get(path, params=params, headers=headers)

    assert ok(listed(company))["inventoryItems"]  # the kit's own company: always served
    refused(listed(None), "Invalid authentication token.", 401)  # [doc]: X-ACCOUNT required
    other = listed(company + "0")  # another company's id
    if value == "checked":
        refused(other, "Invalid authentication token.", 401)
    else:  # the token alone decides: the same company's inventory
        assert ok(other)["inventoryItems"] == ok(listed(company))["inventoryItems"]
