"""One twin serving several wholesalers (`sandbox up --wholesalers N`, sandbox/tenants.py): one
URL per service, the token says whose data a call reaches, and no token reaches another
wholesaler's data; each profile's sync publishes its own inventory and lands its own orders."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import REPO
from test_ftd_twin import offer as ftd_offer

from komet_ftd_ops.onboarding import preflight_passed
from komet_ftd_ops.sandbox import control, tenants
from komet_ftd_ops.sandbox import profiles as twin_profiles
from komet_ftd_ops.settings.home import Home
from komet_ftd_ops.settings.profiles import load_profile
from komet_ftd_ops.settings.secrets import resolve_secret
from komet_ftd_ops.sync import run_sync
from komet_ftd_ops.testing.invariants import violations

LINES = 60


@pytest.fixture
def three(home: Path) -> Iterator[dict[str, Any]]:
    """A twin serving three wholesalers (seeds 7, 8, 9; 60 lines each); its info.json."""
    info = control.up(Home.at(home), lines=LINES, seed=7, wholesalers=3, timeout=60)
    ctl = control.SandboxControl(info)
    for number in (1, 2, 3):  # the spec's wording, so refusals can be named
        ctl.settings("komet", wholesaler=number, messages="table")
    ctl.close()
    try:
        yield info
    finally:
        control.down(Home.at(home))


def each(info: dict[str, Any]) -> list[dict[str, Any]]:
    return [control.wholesaler(info, n) for n in (1, 2, 3)]


def komet_headers(w: dict[str, Any], token: str = "customer", account: str | None = None) -> dict:
    return {
        "authenticationToken": w["komet"]["tokens"][token],
        "X-ACCOUNT": account or w["komet"]["company_id"],
    }


def ftd_headers(w: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {w['ftd']['token']}"}


def control_get(info: dict[str, Any], service: str, path: str, wholesaler: int) -> Any:
    base = info["komet"]["root_url"] if service == "komet" else info["ftd"]["base_url"]
    response = httpx.get(f"{base}/_sandbox/{path}", params={"wholesaler": wholesaler}, timeout=30)
    response.raise_for_status()
    return response.json()


# --- the twin's shape -------------------------------------------------------------------------


def test_one_wholesaler_keeps_the_info_shape_and_one_file(home: Path) -> None:
    kit = Home.at(home)
    info = control.up(kit, lines=LINES, timeout=60)
    try:
        assert "wholesalers" not in info and control.wholesaler_count(info) == 1
        assert set(info) == {"komet", "ftd", "pid", "seed"}
        assert sorted(p.name for p in kit.sandbox_dir.glob("twin*.sqlite3")) == ["twin.sqlite3"]
        assert twin_profiles.write_profiles(kit, info) == ["sandbox"]
        assert not kit.profiles_dir.exists() or not list(kit.profiles_dir.glob("*.toml"))
        with pytest.raises(Exception, match="already runs with 1 wholesaler"):
            control.up(kit, wholesalers=2)
    finally:
        control.down(kit)


def test_three_wholesalers_share_the_urls_and_nothing_else(home: Path, three: dict) -> None:
    kit = Home.at(home)
    ws = each(three)
    assert three["komet"] == ws[0]["komet"] and three["ftd"] == ws[0]["ftd"]
    assert {w["komet"]["base_url"] for w in ws} == {three["komet"]["base_url"]}
    assert {w["ftd"]["base_url"] for w in ws} == {three["ftd"]["base_url"]}
    for key in ("company_id", "ftd_customer_id"):
        assert len({w["komet"][key] for w in ws}) == 3, key
    assert len({w["ftd"]["supplier_id"] for w in ws}) == 3
    tokens = [t for w in ws for t in (*w["komet"]["tokens"].values(), w["ftd"]["token"])]
    assert len(set(tokens)) == 9
    assert {p.name for p in kit.sandbox_dir.glob("twin*.sqlite3")} == {
        "twin.sqlite3",
        "twin-2.sqlite3",
        "twin-3.sqlite3",
    }
    # each company seeded on its own: its own lines, not a copy of another's
    items = [control_get(three, "komet", "info", n)["items"] for n in (1, 2, 3)]
    assert all(n > 0 for n in items)
    for n, w in enumerate(ws, start=1):
        seeded = control_get(three, "komet", "info", n)
        assert seeded["company_id"] == w["komet"]["company_id"]
        assert control_get(three, "ftd", "info", n)["supplier_id"] == w["ftd"]["supplier_id"]
    gone = httpx.get(f"{three['ftd']['base_url']}/_sandbox/dump", params={"wholesaler": 4})
    assert gone.status_code == 404 and "wholesalers 1..3" in gone.json()["error"]["message"]
    gone = httpx.get(f"{three['komet']['root_url']}/_sandbox/dump", params={"wholesaler": "x"})
    assert gone.status_code == 404 and "wholesalers 1..3" in gone.json()["error"]["message"]


def test_profiles_and_secret_references_name_the_wholesaler(home: Path, three: dict) -> None:
    kit = Home.at(home)
    names = twin_profiles.write_profiles(kit, three)
    assert names == ["sandbox", "sandbox-2", "sandbox-3"]
    ws = each(three)
    for name, w in zip(names, ws, strict=True):
        profile = load_profile(name, kit)
        assert profile.komet_company_id == w["komet"]["company_id"]
        assert profile.ftd_supplier_id == w["ftd"]["supplier_id"]
        assert profile.komet_base_url == three["komet"]["base_url"]
        assert (
            resolve_secret(profile.komet_token_ref, kit).reveal()
            == w["komet"]["tokens"]["customer"]
        )
        assert resolve_secret(profile.ftd_token_ref, kit).reveal() == w["ftd"]["token"]
    assert (
        resolve_secret("sandbox:komet.company@3", kit).reveal()
        == ws[2]["komet"]["tokens"]["company"]
    )
    assert resolve_secret("sandbox:ftd@1", kit) == resolve_secret("sandbox:ftd", kit)
    with pytest.raises(Exception, match="serves wholesalers 1..3, not '4'") as caught:
        resolve_secret("sandbox:ftd@4", kit)
    assert ws[0]["ftd"]["token"] not in str(caught.value)
    text = kit.profile_path("sandbox-2").read_text()
    assert "sandbox:komet.customer@2" in text and ws[1]["komet"]["tokens"]["customer"] not in text
    # a person's own value in the file survives the next start's rewrite
    kit.profile_path("sandbox-2").write_text(text + "\n[sync]\nmarkup_pct = 7.0\n")
    twin_profiles.write_profiles(kit, three)
    assert load_profile("sandbox-2", kit).sync.markup_pct == 7.0


# --- isolation: Komet ------------------------------------------------------------------------


def test_a_komet_token_reaches_its_own_company_only(three: dict) -> None:
    w1, w2, w3 = each(three)
    api = three["komet"]["base_url"]
    with httpx.Client(timeout=30) as http:
        # [assumed] docs/komet-api.md: X-ACCOUNT wrong for the token -> 401
        crossed = http.get(
            f"{api}ecommerce/inventory.list",
            headers=komet_headers(w2, account=w3["komet"]["company_id"]),
        )
        assert crossed.status_code == 401
        assert crossed.json()["message"] == "Invalid authentication token."

        def inventory(w: dict[str, Any]) -> list[tuple[str, str, str]]:
            got = http.get(
                f"{api}ecommerce/inventory.list",
                params={"customerId": w["komet"]["ftd_customer_id"]},
                headers=komet_headers(w),
            ).json()
            assert got["status"] == "1", got
            rows = got["inventoryItems"]
            return [(r["inventoryLineIds"], r["productCode"], r["quantity"]) for r in rows]

        assert inventory(w2) != inventory(w3) and inventory(w2) != inventory(w1)
        assert inventory(w2) == inventory(w2)  # the same company, the same answer

        # a classic GET: the token is a query parameter, and it scopes customer.list
        def customers(w: dict[str, Any]) -> set[str]:
            token = w["komet"]["tokens"]["company"]
            got = http.get(f"{api}customer.list", params={"authenticationToken": token}).json()
            assert got["status"] == "1", got
            return {str(c["id"]) for c in got["customers"]}

        assert w2["komet"]["ftd_customer_id"] in customers(w2)
        assert w3["komet"]["ftd_customer_id"] not in customers(w2)

        # a write lands in the token's company, and another company's customer is refused
        created = http.post(
            f"{api}web-order.create",
            json={"customerId": w2["komet"]["ftd_customer_id"]},
            headers=komet_headers(w2),
        ).json()
        assert created["status"] == "1", created
        other = http.post(
            f"{api}web-order.create",
            json={"customerId": w3["komet"]["ftd_customer_id"]},
            headers=komet_headers(w2),
        ).json()
        assert other["status"] == "0"
        orders = [control_get(three, "komet", "dump", n)["web_orders"] for n in (1, 2, 3)]
        assert [len(o) for o in orders] == [0, 1, 0]
        assert str(orders[1][0]["id"]) == str(created["webOrderId"])

        # a classic POST: the token is in the body, and finds its company there
        invoice = control_get(three, "komet", "dump", 2)["invoices"][0]
        body = {"authenticationToken": w2["komet"]["tokens"]["company"], "invoiceId": invoice["id"]}
        pdf = http.post(f"{api}invoice.pdf.get", json=body).json()
        assert pdf["status"] == "1" and pdf["fileName"] == f"Invoice_{invoice['number']}.pdf"

        # quota is the company's: spending wholesaler 3's leaves wholesaler 2 answering
        limit = {"quota": 0}
        r = httpx.post(
            f"{three['komet']['root_url']}/_sandbox/settings",
            params={"wholesaler": 3},
            json=limit,
        )
        r.raise_for_status()
        spent = http.get(
            f"{api}ecommerce/inventory.list",
            params={"customerId": w3["komet"]["ftd_customer_id"]},
            headers=komet_headers(w3),
        ).json()
        assert spent["message"] == "API request limit exceeded."
        assert inventory(w2)


# --- isolation: FTD --------------------------------------------------------------------------


def test_an_ftd_token_reaches_its_own_supplier_only(three: dict) -> None:
    w1, w2, w3 = each(three)
    base = three["ftd"]["base_url"]
    path = "/v1/suppliers/{}/orders"
    with httpx.Client(timeout=30) as http:
        own = http.get(base + path.format(w2["ftd"]["supplier_id"]), headers=ftd_headers(w2))
        assert own.status_code == 200 and own.json()["orders"] == []
        # docs/ftd-api.md: 403 `forbidden` for another supplier's path
        other = http.get(base + path.format(w3["ftd"]["supplier_id"]), headers=ftd_headers(w2))
        assert other.status_code == 403 and other.json()["error"]["code"] == "forbidden"
        wrong = http.get(
            base + path.format(w3["ftd"]["supplier_id"]), headers={"Authorization": "Bearer x"}
        )
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_token"
        # a feed sent by supplier 2 lists with supplier 2 alone (settings are per supplier)
        quick = httpx.post(
            f"{base}/_sandbox/settings", params={"wholesaler": 2}, json={"feed_processing_ms": 0}
        )
        assert quick.status_code == 200
        assert control_get(three, "ftd", "settings", 1)["feed_processing_ms"] == 300
        offer = ftd_offer(20, available_from="2020-01-01", available_to="2099-12-31")
        feed = http.post(
            f"{base}/v1/suppliers/{w2['ftd']['supplier_id']}/inventory/full",
            json={
                "feed_id": "w2-full-1",
                "sequence": 1,
                "generated_at": "2026-01-01T00:00:00Z",
                "offers": [offer],
            },
            headers={**ftd_headers(w2), "Idempotency-Key": "w2-feed-1"},
        )
        assert feed.status_code == 202, feed.text
        status = http.get(
            f"{base}/v1/suppliers/{w2['ftd']['supplier_id']}/feeds/w2-full-1",
            headers=ftd_headers(w2),
        )
        assert status.json()["status"] == "done", status.text
        assert status.json()["accepted"] == 1, status.text
    dumps = [control_get(three, "ftd", "dump", n) for n in (1, 2, 3)]
    assert [d["offers_total"] for d in dumps] == [0, 1, 0]
    assert [d["last_sequence"] for d in dumps] == [None, 1, None]


# --- the kit: profiles 1 and 3 of a three-wholesaler twin, side by side ----------------------


def company_offers(home: Path, number: int) -> set[tuple[str, str]]:
    """(offer_id, sku) of every item wholesaler `number`'s Komet company lists, read from its
    own file: what its feed may hold."""
    path = tenants.db_path(Home.at(home), number)
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT line_ids, product_code FROM komet_items").fetchall()
    return {("om:" + ids.replace(",", "-"), code) for ids, code in rows}


def ftd_offers(w: dict[str, Any]) -> set[tuple[str, str]]:
    url = f"{w['ftd']['base_url']}/v1/suppliers/{w['ftd']['supplier_id']}/offers"
    got = httpx.get(url, params={"limit": 1000}, headers=ftd_headers(w), timeout=30).json()
    return {(o["offer_id"], o["sku"]) for o in got["offers"]}


def test_profiles_one_and_three_sync_their_own_wholesaler(home: Path, three: dict) -> None:
    kit = Home.at(home)
    twin_profiles.write_profiles(kit, three)
    w1, w2, w3 = each(three)
    ctl = control.SandboxControl(three)
    try:
        run_sync("sandbox", home=kit)
        run_sync("sandbox-3", home=kit)
        first, third = ftd_offers(w1), ftd_offers(w3)
        assert first and third and first != third
        assert first <= company_offers(home, 1) and third <= company_offers(home, 3)
        assert not first <= company_offers(home, 3)
        assert ftd_offers(w2) == set()

        bought_1 = ctl.shop(3, seed=5)["orders"]
        bought_3 = ctl.shop(2, seed=6, wholesaler=3)["orders"]
        assert len(bought_1) == 3 and len(bought_3) == 2
        run_sync("sandbox", home=kit)
        run_sync("sandbox-3", home=kit)

        for number, name, w, bought in ((1, "sandbox", w1, 3), (3, "sandbox-3", w3, 2)):
            state = ctl.dump(number)
            assert len(state["ftd"]["orders"]) == bought
            web = state["komet"]["web_orders"]
            assert len(web) == bought, name
            assert {str(o["customerId"]) for o in web} == {w["komet"]["ftd_customer_id"]}
            with kit.open_store() as store:
                broken = violations(
                    store,
                    name,
                    state["komet"],
                    state["ftd"],
                    w["komet"]["ftd_customer_id"],
                    final=True,
                )
            assert broken == [], (name, broken)
        untouched = ctl.dump(2)
        assert untouched["komet"]["web_orders"] == [] and untouched["ftd"]["orders"] == []
    finally:
        ctl.close()


@pytest.mark.slow  # a long one: started early (conftest.py)
def test_the_cli_starts_wholesalers_and_steers_one(home: Path) -> None:
    env = {**os.environ, "KOMET_FTD_OPS_HOME": str(home)}

    def kfo(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "komet_ftd_ops", "sandbox", *args],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    try:
        up = kfo("up", "--wholesalers", "2", "--lines", str(LINES), "--onboard")
        assert up.returncode == 0, up.stderr
        assert "wholesalers: 2 (profiles sandbox, sandbox-2)" in up.stdout
        assert "onboarding of sandbox: pass" in up.stdout
        assert "onboarding of sandbox-2: pass" in up.stdout
        # as `make run` leaves `sandbox`: each profile may run under `schedule`
        assert preflight_passed("sandbox-2", Home.at(home))[0]
        assert preflight_passed("sandbox", Home.at(home))[0]
        again = kfo("up", "--wholesalers", "2", "--onboard")
        assert "onboarding of sandbox-2: kept" in again.stdout
        other = kfo("up", "--wholesalers", "3")
        assert other.returncode != 0 and "already runs with 2 wholesaler(s)" in other.stderr
        changed = kfo("set", "--wholesaler", "2", "--quota", "77", "--json")
        assert changed.returncode == 0, changed.stderr
        info = control.read_info(Home.at(home))
        assert info is not None
        assert control_get(info, "komet", "settings", 2)["quota"] == 77
        assert control_get(info, "komet", "settings", 1)["quota"] != 77
        every = kfo("set", "--autoconfirm", "on")
        assert every.returncode == 0, every.stderr
        assert all(control_get(info, "komet", "settings", n)["autoconfirm"] for n in (1, 2))
        beyond = kfo("info", "--wholesaler", "3")
        assert beyond.returncode == 2
        assert "serves wholesalers 1..2, not 3" in beyond.stderr
        assert "Traceback" not in beyond.stderr
        dumped = kfo("dump", "--wholesaler", "5")
        assert dumped.returncode != 0 and "wholesalers 1..2" in dumped.stderr
        assert "Traceback" not in dumped.stderr
    finally:
        kfo("down")
