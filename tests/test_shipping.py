"""Each order shipped right (issue 11): the florist's ship-to, the carrier of its date, the cutoff.

The date rules are pure functions, tested across the cutoff with explicit clocks. The rest runs
the order pipeline against the real twin: florists bought on FTD (`sandbox shop --florists`),
cycles of `process_orders`, and the twin's dump as the witness of what Komet holds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from conftest import Twin

from komet_ftd_ops.connect import open_clients
from komet_ftd_ops.errors import DataError
from komet_ftd_ops.http.retry import RetryPolicy
from komet_ftd_ops.komet import KometClient, KometConfig
from komet_ftd_ops.orders import OrderLedger, process_orders
from komet_ftd_ops.orders.dates import OUTSIDE_WINDOW, PAST_CUTOFF, decide, earliest_ship_date
from komet_ftd_ops.orders.shiptos import address_key, missing_text
from komet_ftd_ops.sandbox import catalogue
from komet_ftd_ops.sandbox.control import SandboxControl
from komet_ftd_ops.settings.profiles import Profile, ShippingRules, load_profile
from komet_ftd_ops.settings.secrets import Secret
from komet_ftd_ops.sync import run_cycle
from komet_ftd_ops.testing import ExpectedRequests

NY = ShippingRules()  # 14:00 America/New_York, reject
KNOWN = [f[0] for f in catalogue.FLORISTS if f[7]]
NEW = [f[0] for f in catalogue.FLORISTS if not f[7]]


# -- dates: the cutoff and the windows -----------------------------------------------------------


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_the_cutoff_is_two_pm_in_new_york_not_utc() -> None:
    # 18:59 UTC is 13:59 in New York in winter (EST): next day; a minute later: the day after.
    assert earliest_ship_date(at("2026-12-01T18:59:00"), NY) == date(2026, 12, 2)
    assert earliest_ship_date(at("2026-12-01T19:00:00"), NY) == date(2026, 12, 3)
    # In summer (EDT) the same UTC minute is already past 14:00.
    assert earliest_ship_date(at("2026-07-01T18:30:00"), NY) == date(2026, 7, 3)
    # 02:00 UTC on the 2nd is still the evening of the 1st in New York.
    assert earliest_ship_date(at("2026-12-02T02:00:00"), NY) == date(2026, 12, 3)
    utc_noon = ShippingRules(time_zone="UTC", cutoff="12:00")
    assert earliest_ship_date(at("2026-12-01T11:59:00"), utc_noon) == date(2026, 12, 2)


def test_an_order_across_the_cutoff_is_rejected_or_moved_never_shipped_late() -> None:
    lines = {"1": (date(2026, 12, 1), date(2026, 12, 9)), "2": None}
    before = decide(date(2026, 12, 2), at("2026-12-01T18:00:00"), lines, NY)
    assert before.ship_date == date(2026, 12, 2) and not before.rejected and not before.moved
    after = decide(date(2026, 12, 2), at("2026-12-01T20:00:00"), lines, NY)
    assert after.ship_date is None and after.rejected == {"1": PAST_CUTOFF, "2": PAST_CUTOFF}
    assert "cutoff" in after.note
    moved = decide(
        date(2026, 12, 2), at("2026-12-01T20:00:00"), lines, replace(NY, late_rule="next_day")
    )
    assert moved.ship_date == date(2026, 12, 3) and moved.moved and not moved.rejected
    assert "2026-12-03" in moved.note


def test_a_line_outside_its_offer_window() -> None:
    created = at("2026-12-01T15:00:00")  # 10:00 in New York
    lines = {
        "1": (date(2026, 12, 1), date(2026, 12, 9)),
        "2": (date(2026, 12, 5), date(2026, 12, 9)),
    }
    rejected = decide(date(2026, 12, 3), created, lines, NY)
    assert rejected.ship_date == date(2026, 12, 3) and rejected.rejected == {"2": OUTSIDE_WINDOW}
    later = decide(date(2026, 12, 3), created, lines, replace(NY, late_rule="next_day"))
    assert later.ship_date == date(2026, 12, 5) and later.moved and not later.rejected
    apart = {
        "1": (date(2026, 12, 2), date(2026, 12, 3)),
        "2": (date(2026, 12, 5), date(2026, 12, 9)),
    }
    split = decide(date(2026, 12, 3), created, apart, replace(NY, late_rule="next_day"))
    assert split.ship_date == date(2026, 12, 3) and split.rejected == {"2": OUTSIDE_WINDOW}


def test_addresses_compare_as_a_person_reads_them() -> None:
    assert address_key("Twig & Petal", "1200 Main St", "Houston", "77002") == address_key(
        "TWIG & PETAL", catalogue.komet_spelling("1200 Main St"), "HOUSTON ", "77002-1234"
    )
    assert address_key("Twig & Petal", "1200 Main St", "Houston", "77002") != address_key(
        "Twig & Petal", "1210 Main St", "Houston", "77002"
    )


# -- the client, offline ---------------------------------------------------------------------------


def offline_client(fake: ExpectedRequests) -> KometClient:
    config = KometConfig(
        base_url="http://komet.test/api/", company_id="C42", token=Secret("tok-0123456789"),
        retry=RetryPolicy(attempts=1), timeout=5,
    )  # fmt: skip
    return KometClient(config, transport=fake.transport())


def test_the_client_reads_komets_documented_shapes() -> None:
    fake = ExpectedRequests()
    sent: list[dict[str, str]] = []
    fake.expect(
        "GET", "/api/ecommerce/customer-carriers.list",
        json={"status": "1", "carrierId": "21", "carrierName": "Armellini",
              "carrierCubeRate": "3.95", "carriers": [{"id": "11", "name": "FedEx"},
                                                       {"id": "21", "name": "Armellini"}]},
        check=lambda r: sent.append(dict(r.url.params)),
    )  # fmt: skip
    fake.expect(
        "GET", "/api/customer.shipto.list",
        json={"status": "1", "shiptos": [{"id": "931", "shipToCode": "90-1234AA",
              "name": "Blossom & Co", "address": "1420 Orange Ave", "zipcode": "32803"}]},
        check=lambda r: sent.append(dict(r.url.params)),
    )  # fmt: skip
    fake.expect(
        "POST", "/api/customer.shipto.add", json={"status": "1", "shipToId": "950"},
        check=lambda r: sent.append(json.loads(r.content)),
    )  # fmt: skip
    client = offline_client(fake)
    day = date(2026, 12, 5)
    answer = client.customer_carriers_list("5150", day, date(2026, 12, 1), date(2026, 12, 9))
    assert answer.suggested is not None and (answer.suggested.id, answer.suggested.name) == (
        "21", "Armellini",
    )  # fmt: skip
    assert [c.id for c in answer] == ["11", "21"]
    assert sent[0] == {"customerId": "5150", "date": "2026-12-05",
                       "availableFrom": "2026-12-01", "availableTo": "2026-12-09"}  # fmt: skip
    [ship_to] = client.customer_shipto_list("5150", updated_as_of=datetime(2026, 12, 1, 9, 30))
    assert (ship_to.code, ship_to.address, ship_to.zipcode) == (
        "90-1234AA",
        "1420 Orange Ave",
        "32803",
    )
    assert sent[1]["updatedAsOf"] == "2026-12-01 09:30:00"
    assert (
        client.customer_shipto_add(
            "5150", name="Posy Place", address="502 Broadway", ship_to_code="91-9978JX"
        )
        == "950"
    )
    assert sent[2]["shipToCode"] == "91-9978JX" and "city" not in sent[2]
    fake.assert_done()
    with pytest.raises(DataError):
        client.customer_shipto_list()  # Komet needs a filter: refused before any call


# -- against the twin -----------------------------------------------------------------------------


class Shop:
    """A twin, the sandbox profile (changed per test), one kit store, and cycles."""

    def __init__(self, twin: Twin) -> None:
        self.twin = twin
        self.home = twin.kit
        self.control = SandboxControl(twin.info)
        base = load_profile("sandbox", self.home)
        self.profile: Profile = replace(base, orders=replace(base.orders, unknown_settle_seconds=0))
        self.store = self.home.open_store()
        with open_clients(self.profile, self.store, self.home) as clients:
            run_cycle(self.profile, self.store, clients)  # list the inventory on FTD

    def buy(self, florists: list[str], seed: int, **shares: float) -> list[str]:
        made = self.control.shop(len(florists), seed=seed, florists=florists, **shares)
        return list(made["orders"])

    def cycles(self, n: int = 3) -> None:
        for _ in range(n):
            with open_clients(self.profile, self.store, self.home) as clients:
                process_orders(
                    self.profile, self.store, clients, dry_run=False, run_id=None,
                    now=datetime.now(UTC),
                )  # fmt: skip

    def dump(self) -> dict[str, Any]:
        return self.control.dump()

    def ledger(self) -> OrderLedger:
        return OrderLedger(self.store, self.profile.name)

    def set(self, **settings: Any) -> None:
        self.twin.control("komet", "POST", "settings", json=settings)


@pytest.fixture
def shop(twin: Twin) -> Iterator[Shop]:
    world = Shop(twin)
    try:
        yield world
    finally:
        world.store.close()


def florist_of(order: dict[str, Any]) -> tuple[str, str]:
    return order["buyer"]["member_code"], order["ship_to"]["address1"]


def check_every_web_order(shop: Shop) -> dict[str, dict[str, Any]]:
    """Each FTD order's web order carries its own florist's ship-to and a carrier of its date."""
    dump = shop.dump()
    ship_tos = {s["id"]: s for s in dump["komet"]["shiptos"]}
    web_orders = {str(w["id"]): w for w in dump["komet"]["web_orders"]}
    ftd = {o["order_id"]: o for o in dump["ftd"]["orders"]}
    checked: dict[str, dict[str, Any]] = {}
    for order in shop.ledger().orders(with_web_order=True):
        web = web_orders[str(order.web_order_id)]
        bought = ftd[order.order_id]
        member, street = florist_of(bought)
        ship_to = ship_tos[int(web["shipToId"])]
        assert ship_to["customerId"] == int(shop.profile.ftd_customer_id)
        assert ship_to["shipToCode"] == member or address_key(
            ship_to["name"], ship_to["address"], ship_to["city"], ship_to["zipcode"]
        ) == address_key(bought["buyer"]["name"], street, bought["ship_to"]["city"],
                         bought["ship_to"]["postal_code"]), (order.order_id, ship_to)  # fmt: skip
        day = web["items"][0]["date"]
        carriers = {i["carrierId"] for i in web["items"]} | {web.get("carrierId")} - {None}
        assert len(carriers) == 1 and len({i["date"] for i in web["items"]}) == 1
        assert serves(shop, carriers.pop(), day), (order.order_id, day)
        checked[order.order_id] = web
    return checked


def serves(shop: Shop, carrier: Any, day: str) -> bool:
    """Ask the twin itself which carriers pick up on that day (Company token, raw HTTP)."""
    info = shop.twin.info["komet"]
    answer = httpx.get(
        f"{shop.twin.komet_url}/api/ecommerce/customer-carriers.list",
        params={"customerId": info["ftd_customer_id"], "date": day,
                "availableFrom": day, "availableTo": day},
        headers={"authenticationToken": info["tokens"]["company"], "X-ACCOUNT": info["company_id"]},
        timeout=10,
    ).json()  # fmt: skip
    return str(carrier) in {str(c["id"]) for c in answer["carriers"]}


def dated_out(shop: Shop, order_id: str) -> bool:
    """Rejected to FTD before Komet for its date (a window ending tomorrow can be past the
    cutoff, depending on the hour the test runs): never in a web order."""
    ack = {o["order_id"]: o for o in shop.dump()["ftd"]["orders"]}[order_id]["acknowledgement"]
    codes = {d["reason_code"] for d in (ack or {}).get("lines", [])}
    return bool(ack) and codes <= {PAST_CUTOFF, OUTSIDE_WINDOW}


def test_ten_florists_three_new_with_a_company_token(shop: Shop) -> None:
    florists = KNOWN[:7] + NEW[:3]
    ids = shop.buy(florists + NEW[:3], seed=41)  # the new ones buy twice
    shop.cycles()
    checked = check_every_web_order(shop)
    assert len(checked) >= 8
    assert all(dated_out(shop, i) for i in set(ids) - set(checked))
    ftd = {o["order_id"]: o for o in shop.dump()["ftd"]["orders"]}
    shipped = {ftd[i]["buyer"]["member_code"] for i in checked}
    created = [s for s in shop.dump()["komet"]["shiptos"] if s["shipToCode"] in NEW[:3]]
    expected = sorted(set(NEW[:3]) & shipped)
    assert sorted(s["shipToCode"] for s in created) == expected  # one each, not two
    rows = shop.store.query("SELECT member_code, ship_to_how FROM order_shipping")
    for member in expected:  # created by its first order, found by code for the next
        assert [r["ship_to_how"] for r in rows if r["member_code"] == member].count("created") == 1
    how = {r["member_code"]: r["ship_to_how"] for r in rows}
    by_address = [f[0] for f in catalogue.FLORISTS if f[7] == "address"]
    assert {how[m] for m in shipped if m in by_address} <= {"address"}
    assert {how[m] for m in shipped if m in KNOWN and m not in by_address} == {"code"}


def test_without_a_company_token_the_profile_decides(shop: Shop) -> None:
    shop.set(customer_shipto_list="yes")  # the Customer token may list, not create
    shop.profile = replace(
        shop.profile,
        komet_company_token_ref="",
        komet_switches={**shop.profile.komet_switches, "customer_shipto_list": "yes"},
        shipping=replace(shop.profile.shipping, missing_ship_to="park"),
    )
    known, new = shop.buy([KNOWN[0], NEW[3]], seed=42)
    shop.cycles(2)
    ledger = shop.ledger()
    parked = ledger.get(new)
    assert parked.park_reason == "no_ship_to" and parked.web_order_id is None
    name = next(f[1] for f in catalogue.FLORISTS if f[0] == NEW[3])
    assert parked.park_detail == missing_text_for(name, NEW[3])
    assert "Setup > Customers > FTD > Ship To" in (parked.park_detail or "")
    assert ledger.get(known).web_order_id  # its florist is in Komet: it went through
    assert not [s for s in shop.dump()["komet"]["shiptos"] if s["shipToCode"] == NEW[3]]
    # The rule changed to "default": the parked order goes to the profile's default ship-to.
    default = str(shop.twin.control("komet", "GET", "info")["ftd_ship_to_ids"][0])
    shop.profile = replace(
        shop.profile,
        ship_to_id=default,
        shipping=replace(shop.profile.shipping, missing_ship_to="default"),
    )
    shop.cycles(2)
    moved = ledger.get(new)
    assert moved.web_order_id and not moved.parked
    web = next(w for w in shop.dump()["komet"]["web_orders"] if str(w["id"]) == moved.web_order_id)
    assert str(web["shipToId"]) == default
    note = shop.store.query("SELECT note FROM order_shipping WHERE order_id=?", (new,))[0]["note"]
    assert NEW[3] in note and "has no ship-to in Komet" in note


def missing_text_for(name: str, member: str) -> str:
    from komet_ftd_ops.orders.shiptos import Florist

    return missing_text(Florist(member, name, "", "", "", "", "", ""))


def test_a_lost_ship_to_add_answer_creates_one_ship_to_not_two(shop: Shop) -> None:
    shop.control.add_fault("komet", "drop-after-commit", "customer.shipto.add", 1.0, 0)
    try:
        (order_id,) = shop.buy([NEW[0]], seed=43)
        shop.cycles(1)
    finally:
        shop.control.call("komet", "DELETE", "faults")
    shop.cycles(2)
    made = [s for s in shop.dump()["komet"]["shiptos"] if s["shipToCode"] == NEW[0]]
    assert len(made) == 1
    add = shop.store.query("SELECT ship_to_id FROM ship_to_adds WHERE code=?", (NEW[0],))
    assert [r["ship_to_id"] for r in add] == [str(made[0]["id"])]
    assert shop.ledger().get(order_id).web_order_id
    check_every_web_order(shop)


def test_orders_across_the_cutoff(shop: Shop) -> None:
    late = shop.control.shop(6, seed=44, late=1.0)["late_orders"]
    assert late
    shop.cycles(2)
    ftd = {o["order_id"]: o for o in shop.dump()["ftd"]["orders"]}
    for order_id in late:
        ack = ftd[order_id]["acknowledgement"]
        assert ftd[order_id]["status"] == "REJECTED"
        assert {d["reason_code"] for d in ack["lines"]} == {PAST_CUTOFF}
        assert shop.ledger().get(order_id).web_order_id is None  # Komet never saw it
    shop.profile = replace(shop.profile, shipping=replace(NY, late_rule="next_day"))
    moved = shop.control.shop(4, seed=45, late=1.0)["late_orders"]
    shop.cycles(2)
    ftd = {o["order_id"]: o for o in shop.dump()["ftd"]["orders"]}
    webs = check_every_web_order(shop)
    today = datetime.now(UTC).date()
    for order_id in moved:
        ack = ftd[order_id]["acknowledgement"]
        assert ack["ship_date"] > today.isoformat()
        assert webs[order_id]["items"][0]["date"] == ack["ship_date"]  # told FTD what ships


def test_twenty_orders_from_the_shop_each_ship_right(shop: Shop) -> None:
    shop.control.shop(20, seed=46, outside_window=0.2)
    shop.cycles(3)
    checked = check_every_web_order(shop)
    assert len(checked) >= 15
    days = {w["items"][0]["date"] for w in checked.values()}
    cached = shop.store.query("SELECT DISTINCT ship_date FROM carrier_choices")
    assert {r["ship_date"] for r in cached} >= days  # asked per ship date, not once for ever
    assert len(days) < 2 or len({r["ship_date"] for r in cached}) > 1


def test_the_carrier_is_asked_per_date_and_window(shop: Shop) -> None:
    day = datetime.now(UTC).date() + timedelta(days=3)
    with open_clients(shop.profile, shop.store, shop.home) as clients:
        komet = clients.komet
        answers = {
            (day + timedelta(days=n)).weekday(): komet.customer_carriers_list(
                shop.profile.ftd_customer_id, day + timedelta(days=n), day, day + timedelta(days=7)
            )
            for n in range(7)
        }
    suggested = {d: a.suggested.id for d, a in answers.items() if a.suggested}
    assert len(set(suggested.values())) > 1  # it depends on the date
    for answer in answers.values():
        assert answer.suggested is not None and answer.suggested.id in [c.id for c in answer]
