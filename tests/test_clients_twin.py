"""Both clients against the running twin over loopback: Komet's error table, paging, both JSON
typing styles, and every fault kind; FTD's conflicts, rate limits and idempotent retries."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from conftest import Twin

from komet_ftd_ops.errors import (
    AuthError,
    Conflict,
    CustomerNotAllowed,
    InvalidParameter,
    ItemNotAvailable,
    MethodNotAllowed,
    OutcomeUnknown,
    QuotaExceeded,
    RateLimited,
    RequestTimeout,
    RequestTooLarge,
    ServiceUnavailable,
)
from komet_ftd_ops.ftd import FtdClient, FtdConfig
from komet_ftd_ops.http.retry import RetryPolicy
from komet_ftd_ops.komet import KometClient, KometConfig
from komet_ftd_ops.settings.secrets import Secret


def komet(twin: Twin, token: str | None = None, attempts: int = 4, **config: Any) -> KometClient:
    info = twin.info["komet"]
    settings = {"timeout": 5.0, "retry": RetryPolicy(attempts, backoff_base=0.01), **config}
    cfg = KometConfig(
        info["base_url"],
        info["company_id"],
        Secret(token or info["tokens"]["customer"]),
        **settings,
    )
    return KometClient(cfg)


def ftd(twin: Twin, token: str | None = None, attempts: int = 3, **config: Any) -> FtdClient:
    info = twin.info["ftd"]
    settings = {"timeout": 5.0, "retry": RetryPolicy(attempts, backoff_base=0.01), **config}
    return FtdClient(
        FtdConfig(info["base_url"], info["supplier_id"], Secret(token or info["token"]), **settings)
    )


def fault(
    twin: Twin, service: str, kind: str, method: str | None = None, rate: float = 1.0, ms: int = 0
) -> None:
    twin.control(
        service, "POST", "faults", json={"kind": kind, "method": method, "rate": rate, "ms": ms}
    )


def open_line(client: KometClient, customer: str) -> dict:
    """An open-market line with boxes, a price and an available window (for item adds)."""
    for item in client.inventory_list(customer):
        if (
            str(item["inventoryOrigin"]) == "1"
            and int(item["quantity"]) >= 3
            and item["price"] not in ("", "0.00")
        ):
            return item
    raise AssertionError("the seed has no usable open-market line")


def add_line(
    client: KometClient, customer: str, web_order_id: str, item: dict, boxes: int, carrier: str
) -> dict:
    return client.web_order_item_add(
        customer, web_order_id, item["inventoryLineIds"], 1, item["price"], boxes, carrier,
        item["availableFrom"],
    )  # fmt: skip


def carrier_of(client: KometClient, customer: str, item: dict | None = None) -> str:
    """A carrier that drives on the item's first ship date (today without an item)."""
    if item is None:
        return client.customer_carriers_list(customer)[0].id
    day = item["availableFrom"]
    return client.customer_carriers_list(customer, day, day, item["availableTo"])[0].id


# --- Komet: the error table -------------------------------------------------------------------


def test_each_row_of_komets_error_table(twin: Twin) -> None:
    info = twin.info["komet"]
    customer = info["ftd_customer_id"]
    with pytest.raises(AuthError):
        komet(twin, token="x" * 50).customer_details_get(customer)
    narrow = twin.control(
        "komet", "POST", "tokens", json={"type": "customer", "methods": ["customer.details.get"]}
    )
    with pytest.raises(MethodNotAllowed):
        komet(twin, token=narrow["token"]).inventory_list(customer)
    other = next(
        c["id"]
        for c in twin.control("komet", "GET", "info")["customers"]
        if str(c["id"]) != customer
    )
    with pytest.raises(CustomerNotAllowed):
        komet(twin).customer_details_get(str(other))

    client = komet(twin)
    assert client.customer_details_get(customer)["name"]
    far = date.today() + timedelta(days=300)
    assert (
        client.invoice_list(far, far + timedelta(days=3), customer_id=customer) == []
    )  # "Orders not found."
    web_order = client.web_order_create(customer)
    with pytest.raises(InvalidParameter) as bad:
        client.web_order_item_add(
            customer,
            web_order,
            "999999999",
            1,
            "0.50",
            1,
            carrier_of(client, customer),
            date.today(),
        )
    assert bad.value.param
    item = open_line(client, customer)
    with pytest.raises(ItemNotAvailable) as short:
        add_line(
            client,
            customer,
            web_order,
            item,
            int(item["quantity"]) + 50,
            carrier_of(client, customer, item),
        )
    assert short.value.available_boxes == int(item["quantity"])
    with pytest.raises(RequestTooLarge):
        client.web_order_checkout(customer, web_order, "PO" * 40_000)  # refused before sending
    client.web_order_delete(customer, web_order)

    twin.control(
        "komet",
        "POST",
        "settings",
        json={"quota": twin.control("komet", "GET", "dump")["calls_today"]},
    )
    with pytest.raises(QuotaExceeded):
        client.customer_details_get(customer)


def test_inventory_pages_and_both_typing_styles(twin: Twin) -> None:
    customer = twin.info["komet"]["ftd_customer_id"]
    # what one 500-row page lists (reserved and out-of-window lines are not listed)
    total = len(komet(twin, page_size=500, read_concurrency=1).inventory_list(customer))
    for style in ("strings", "numbers"):
        twin.control("komet", "POST", "settings", json={"json_style": style})
        sequential = komet(twin, page_size=100, read_concurrency=1).inventory_list(customer)
        concurrent = komet(twin, page_size=100, read_concurrency=4).inventory_list(customer)
        assert len(sequential) == total > 200  # several pages
        assert [i["inventoryLineIds"] for i in concurrent] == [
            i["inventoryLineIds"] for i in sequential
        ]
        client = komet(twin)
        web_order = client.web_order_create(customer)
        assert isinstance(web_order, str) and web_order.isdigit()
        listed = client.web_order_details_list(customer, web_order)
        assert [w.id for w in listed] == [web_order]
        client.web_order_delete(customer, web_order)


@pytest.mark.parametrize("served", ["30", "500", "5000"])
def test_every_line_is_read_whatever_page_size_komet_serves(twin: Twin, served: str) -> None:
    """The max_rows switch: a kit that asks more rows than the account serves reads on at the
    served size (a short first page with more to come is a cap, not the end)."""
    customer = twin.info["komet"]["ftd_customer_id"]
    everything = komet(twin, page_size=100, read_concurrency=1).inventory_list(customer)
    twin.control("komet", "POST", "settings", json={"max_rows": served})
    for asked in (30, 500, 5000):
        for concurrency in (1, 4):
            client = komet(twin, page_size=asked, read_concurrency=concurrency)
            read = client.inventory_list(customer)
            assert [i["inventoryLineIds"] for i in read] == [
                i["inventoryLineIds"] for i in everything
            ], (asked, concurrency)


# --- Komet: fault kinds -----------------------------------------------------------------------


def test_komet_fault_kinds_become_the_right_errors(twin: Twin) -> None:
    customer = twin.info["komet"]["ftd_customer_id"]
    client = komet(twin, timeout=1.0, attempts=2)

    fault(twin, "komet", "latency", "customer.details.get", ms=200)
    assert client.customer_details_get(customer)
    twin.control("komet", "DELETE", "faults")

    for kind, error in (
        ("error", ServiceUnavailable),
        ("hang", RequestTimeout),
        ("reset", ServiceUnavailable),
    ):
        fault(twin, "komet", kind, "customer.details.get", ms=3000)
        with pytest.raises(error) as caught:
            client.customer_details_get(customer)
        assert caught.value.retryable
        twin.control("komet", "DELETE", "faults")

    fault(twin, "komet", "error", "customer.details.get", rate=0.5)
    patient = komet(twin, attempts=9)
    assert all(patient.customer_details_get(customer) for _ in range(3))  # reads are retried
    twin.control("komet", "DELETE", "faults")

    fault(twin, "komet", "rate-limit", "customer.details.get")
    with pytest.raises(QuotaExceeded):
        client.customer_details_get(customer)
    twin.control("komet", "DELETE", "faults")


def test_a_write_whose_answer_is_lost_is_not_retried_and_did_happen(twin: Twin) -> None:
    customer = twin.info["komet"]["ftd_customer_id"]
    client = komet(twin)

    def web_orders() -> set[int]:  # Komet lists none without its id: the twin's dump does
        return {w["id"] for w in twin.control("komet", "GET", "dump")["web_orders"]}

    before = web_orders()
    fault(twin, "komet", "drop-after-commit", "web-order.create")
    with pytest.raises(OutcomeUnknown):
        client.web_order_create(customer)
    twin.control("komet", "DELETE", "faults")
    after = web_orders()
    assert len(after - before) == 1  # created once: the client did not resend it
    (created,) = after - before
    assert [w.id for w in client.web_order_details_list(customer, str(created))] == [str(created)]

    fault(twin, "komet", "reset", "web-order.create")
    with pytest.raises(OutcomeUnknown):
        client.web_order_create(customer)
    twin.control("komet", "DELETE", "faults")
    assert web_orders() == after  # reset before the work


# --- FTD --------------------------------------------------------------------------------------


def offer(offer_id: str, boxes: int = 5) -> dict:
    return {
        "offer_id": offer_id, "sku": "RS-FREEDOM-50", "product_name": "Rose Freedom 50cm",
        "category": "Roses", "variety": "Freedom", "color": "Red", "grade": "50cm", "box_type": "QB",
        "unit_type": "STEM", "stems_per_bunch": 25, "bunches_per_box": 4, "units_per_box": 100,
        "quantity_available": boxes, "price_per_unit": "0.42", "currency": "USD",
        "available_from": date.today().isoformat(),
        "available_to": (date.today() + timedelta(days=5)).isoformat(),
        "updated_at": "2026-11-28T13:05:00Z",
    }  # fmt: skip


def test_ftd_feeds_conflicts_and_offers(twin: Twin) -> None:
    with pytest.raises(AuthError):
        ftd(twin, token="t" * 40).list_offers()
    client = ftd(twin)
    full = client.send_full_feed([offer("om:1"), offer("om:2")], sequence=1)
    assert client.wait_feed(full.feed_id)["status"] == "done"
    with pytest.raises(Conflict) as conflict:
        client.send_delta([], base_sequence=7, sequence=8)
    assert conflict.value.expected_base == 1
    delta = client.send_delta([{"op": "withdraw", "offer_id": "om:2"}], base_sequence=1, sequence=2)
    assert delta.kind == "delta" and client.wait_feed(delta.feed_id)["status"] == "done"
    fault(twin, "ftd", "sequence-gap")
    with pytest.raises(Conflict) as gap:  # offers.feed answers this with a full feed
        client.send_delta([], base_sequence=2, sequence=3)
    twin.control("ftd", "DELETE", "faults")
    assert gap.value.expected_base == 2
    healed = client.send_full_feed([offer("om:1", 9)], sequence=3)
    assert client.wait_feed(healed.feed_id)["status"] == "done"
    assert [(o["offer_id"], o["quantity_available"]) for o in client.list_offers()] == [("om:1", 9)]


def test_ftd_fault_kinds(twin: Twin) -> None:
    client = ftd(twin, timeout=1.0, attempts=2)
    client.send_full_feed([offer("om:1")], sequence=1)

    fault(twin, "ftd", "rate-limit", "offers.list")
    with pytest.raises(RateLimited) as limited:
        client.list_offers()
    assert limited.value.retry_after == 1
    twin.control("ftd", "DELETE", "faults")

    for kind, error in (
        ("error", ServiceUnavailable),
        ("hang", RequestTimeout),
        ("reset", ServiceUnavailable),
    ):
        fault(twin, "ftd", kind, "offers.list", ms=3000)
        with pytest.raises(error):
            client.list_offers()
        twin.control("ftd", "DELETE", "faults")

    # A POST whose answer is dropped after FTD applied it is retried with the same
    # Idempotency-Key, and FTD answers the first result instead of applying it twice.
    fault(twin, "ftd", "drop-after-commit", "inventory.delta", rate=0.5)
    patient, sequence = ftd(twin, attempts=9), 1
    for _ in range(6):
        result = patient.send_delta([], base_sequence=sequence, sequence=sequence + 1)
        sequence = result.sequence
    twin.control("ftd", "DELETE", "faults")
    assert twin.control("ftd", "GET", "dump")["last_sequence"] == sequence == 7
