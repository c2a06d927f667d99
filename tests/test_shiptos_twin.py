"""The Komet twin's ship-tos and carriers over raw HTTP: Komet's documented shape and rules.

`customer.shipto.list` answers `shiptos[]` and needs a filter; `customer.shipto.add` takes a
Company token and answers `shipToId`; `ecommerce/customer-carriers.list` needs the date and the
window and suggests a carrier that changes with the date; `web-order-item.add` refuses a carrier
that does not pick up on the ship date, and a ship-to of another customer.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from conftest import Twin

from komet_ftd_ops.sandbox import catalogue
from komet_ftd_ops.sandbox.komet.shiptos import CARRIER_DAYS

SHIP_TO_KEYS = [
    "id", "shipToCode", "name", "address", "city", "state", "zipcode", "country", "phone",
    "carrierId", "carrierName",
]  # fmt: skip


class Komet:
    def __init__(self, twin: Twin) -> None:
        self.twin = twin
        self.info = twin.info["komet"]
        self.url = twin.komet_url + "/api/"
        self.ftd = self.info["ftd_customer_id"]
        self.company = self.info["tokens"]["company"]
        self.customer = self.info["tokens"]["customer"]

    def classic(self, method: str, token: str, **params: Any) -> dict[str, Any]:
        answer = httpx.get(
            self.url + method, params={"authenticationToken": token, **params}, timeout=10
        )
        return answer.json()

    def classic_post(self, method: str, token: str, **body: Any) -> dict[str, Any]:
        return httpx.post(
            self.url + method, json={"authenticationToken": token, **body}, timeout=10
        ).json()

    def ecom(self, method: str, verb: str = "GET", **params: Any) -> dict[str, Any]:
        headers = {"authenticationToken": self.customer, "X-ACCOUNT": self.info["company_id"]}
        if verb == "GET":
            return httpx.get(self.url + method, params=params, headers=headers, timeout=10).json()
        return httpx.post(self.url + method, json=params, headers=headers, timeout=10).json()


@pytest.fixture
def komet(twin: Twin) -> Komet:
    # The spec's message table, so a refusal can be told by its words (the kit keys on the
    # envelope and HTTP status; these tests pin down which rule refused).
    twin.control("komet", "POST", "settings", json={"messages": "table"})
    return Komet(twin)


def ok(answer: dict[str, Any]) -> dict[str, Any]:
    assert answer["status"] == "1", answer
    return answer


def refused(answer: dict[str, Any], message: str) -> None:
    assert answer["status"] == "0" and answer["message"] == message, answer


def test_shipto_list_has_the_documented_shape_and_needs_a_filter(komet: Komet) -> None:
    listed = ok(komet.classic("customer.shipto.list", komet.company, customerId=komet.ftd))
    assert "shipTos" not in listed
    ship_tos = listed["shiptos"]
    assert ship_tos and all(list(s) == SHIP_TO_KEYS for s in ship_tos)
    codes = {s["shipToCode"] for s in ship_tos}
    in_komet = {f[0] for f in catalogue.FLORISTS if f[7] == "code"}
    new = {f[0] for f in catalogue.FLORISTS if not f[7]}
    assert in_komet <= codes and not new & codes
    refused(komet.classic("customer.shipto.list", komet.company), "customerId is required.")
    by_name = ok(komet.classic("customer.shipto.list", komet.company, name="blossom"))["shiptos"]
    assert len(by_name) == 2  # the florist's ship-to under FTD, and customer Blossom's own
    both = ok(
        komet.classic("customer.shipto.list", komet.company, name="blossom", customerId=komet.ftd)
    )["shiptos"]
    assert [s["shipToCode"] for s in both] == ["90-1234AA"]
    refused(
        komet.classic("customer.shipto.list", komet.company, updatedAsOf="yesterday"),
        "updatedAsOf is invalid.",
    )


def test_a_customer_token_lists_ship_tos_only_when_the_switch_allows(komet: Komet) -> None:
    refused(
        komet.classic("customer.shipto.list", komet.customer, customerId=komet.ftd),
        "Method not allowed for this token.",
    )
    komet.twin.control("komet", "POST", "settings", json={"customer_shipto_list": "yes"})
    own = ok(komet.classic("customer.shipto.list", komet.customer, customerId=komet.ftd))
    assert own["shiptos"]
    other = next(c["id"] for c in komet.twin.control("komet", "GET", "info")["customers"]
                 if str(c["id"]) != komet.ftd)  # fmt: skip
    refused(
        komet.classic("customer.shipto.list", komet.customer, customerId=other),
        "Customer not allowed for this token.",
    )


def test_shipto_add_takes_a_company_token_and_answers_its_id(komet: Komet) -> None:
    body = {"customerId": komet.ftd, "shipToCode": "91-9978JX", "name": "Posy Place",
            "address": "502 Broadway", "city": "Nashville", "state": "TN", "zipcode": "37203"}  # fmt: skip
    refused(komet.classic_post("customer.shipto.add", komet.customer, **body),
            "Method not allowed for this token.")  # fmt: skip
    refused(
        komet.classic_post("customer.shipto.add", komet.company, customerId=komet.ftd, name="X"),
        "address is required.",
    )
    since = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    first = ok(komet.classic_post("customer.shipto.add", komet.company, **body))["shipToId"]
    second = ok(komet.classic_post("customer.shipto.add", komet.company, **body))["shipToId"]
    assert first != second  # Komet documents no unique code: the client must not add twice
    fresh = ok(komet.classic("customer.shipto.list", komet.company, updatedAsOf=since))["shiptos"]
    assert sorted(s["id"] for s in fresh) == sorted([first, second])
    assert {s["shipToCode"] for s in fresh} == {"91-9978JX"}
    dumped = komet.twin.control("komet", "GET", "dump")["shiptos"]
    mine = next(s for s in dumped if str(s["id"]) == first)
    assert mine == {"id": int(first), "customerId": int(komet.ftd), "shipToCode": "91-9978JX",
                    "name": "Posy Place", "address": "502 Broadway", "city": "Nashville",
                    "zipcode": "37203"}  # fmt: skip


def test_carriers_need_the_date_and_window_and_follow_the_weekday(komet: Komet) -> None:
    today = datetime.now(UTC).date()
    refused(
        komet.ecom("ecommerce/customer-carriers.list", customerId=komet.ftd), "date is required."
    )
    window = {"availableFrom": today.isoformat(), "availableTo": (today + timedelta(7)).isoformat()}
    refused(
        komet.ecom(
            "ecommerce/customer-carriers.list", customerId=komet.ftd, date=today.isoformat()
        ),
        "availableFrom is required.",
    )
    backwards = {"availableFrom": window["availableTo"], "availableTo": window["availableFrom"]}
    refused(
        komet.ecom("ecommerce/customer-carriers.list", customerId=komet.ftd,
                   date=today.isoformat(), **backwards),
        "availableTo is invalid.",
    )  # fmt: skip
    suggestions = {}
    for n in range(7):
        day = today + timedelta(days=n)
        answer = ok(komet.ecom("ecommerce/customer-carriers.list", customerId=komet.ftd,
                               date=day.isoformat(), **window))  # fmt: skip
        ids = [int(c["id"]) for c in answer["carriers"]]
        assert ids and all(day.weekday() in CARRIER_DAYS[i] for i in ids)
        assert (
            int(answer["carrierId"]) in ids and answer["carrierName"] and answer["carrierCubeRate"]
        )
        suggestions[day] = int(answer["carrierId"])
    assert len(set(suggestions.values())) > 1


def _sellable(komet: Komet) -> dict[str, Any]:
    items = ok(komet.ecom("ecommerce/inventory.list", customerId=komet.ftd, rows=200))
    return next(
        i for i in items["inventoryItems"]
        if i["inventoryOrigin"] == "1" and int(i["quantity"]) >= 2
        and i["price"] not in ("", "0.00")
        and (date.fromisoformat(i["availableTo"]) - date.fromisoformat(i["availableFrom"])).days >= 6
    )  # fmt: skip


def test_item_add_refuses_a_carrier_off_its_day_and_anothers_ship_to(komet: Komet) -> None:
    item = _sellable(komet)
    start = date.fromisoformat(item["availableFrom"])
    sunday = next(start + timedelta(n) for n in range(7) if (start + timedelta(n)).weekday() == 6)
    order = ok(komet.ecom("web-order.create", "POST", customerId=komet.ftd))["webOrderId"]
    body = {"customerId": komet.ftd, "webOrderId": order, "inventoryIds": item["inventoryLineIds"],
            "inventoryOrigin": 1, "price": item["price"], "quantity": 1, "date": sunday.isoformat()}  # fmt: skip
    refused(komet.ecom("web-order-item.add", "POST", **body, carrierId=11), "carrierId is invalid.")
    info = komet.twin.control("komet", "GET", "info")
    other = next(c["id"] for c in info["customers"] if str(c["id"]) != komet.ftd)
    theirs = next(s["id"] for s in komet.twin.control("komet", "GET", "dump")["shiptos"]
                  if s["customerId"] == other)  # fmt: skip
    refused(
        komet.ecom("web-order-item.add", "POST", **body, carrierId=21, shipToId=theirs),
        "shipToId is invalid.",
    )
    ours = info["ftd_ship_to_ids"][-1]
    added = ok(komet.ecom("web-order-item.add", "POST", **body, carrierId=21, shipToId=ours))
    assert str(added["webOrderId"]) == str(order)
