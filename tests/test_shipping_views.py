"""Where each order ships, as the run and the reconciliation show it (issue 11, item 6).

The rules on hand-made orders first; then against the twin: the run's order table names each
order's florist, Komet ship-to and carrier as Komet holds them; the reconciliation flags an
invoice whose ship date or ship-to a person changed in Komet, and shows (never flags) an order
the kit moved to a later date on purpose.

No tamper kind of the twin changes a ship date or a ship-to (sandbox/komet/tamper.py), so
`behind_the_kits_back` writes that change into the twin's own database, as a clerk editing the
order in Komet would; the kit only sees it through Komet's API.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
import test_reconcile
from test_reconcile import Market
from test_reconcile_rules import NOW, SHIP, invoice, order

from komet_ftd_ops.reconcile import ReconcileRules, Reconciliation, tables
from komet_ftd_ops.reconcile import categories as c
from komet_ftd_ops.reconcile.ledger_view import OrderView
from komet_ftd_ops.settings.home import Home

market = test_reconcile.market  # the twin-trading fixture, shared

NEXT = SHIP + timedelta(days=1)


def decided(
    ship_to: str | None = "931", how: str = "code", moved_to: date | None = None, **kw: Any
) -> OrderView:
    """An order the kit decided for: florist Blossom & Co, ship-to 931 by member code."""
    values: dict[str, Any] = dict(
        requested_ship_date=SHIP, florist="Blossom & Co, 90-1234AA", ship_to_id=ship_to,
        ship_to_how=how, carrier="Armellini",
    )  # fmt: skip
    if moved_to is not None:
        values.update(ship_date=moved_to, shipping_note="past the cutoff: ships next day")
    values.update(kw)
    return order(**values)


def classify(o: OrderView, ships_to: set[str] | None, **kw: Any) -> c.Finding:
    return c.classify(
        o, invoice(**kw), ftd_status=o.ftd_status, pending_web_order=None, now=NOW,
        pending_hours=24, ships_to=None if ships_to is None else frozenset(ships_to),
    )  # fmt: skip


# -- the rules ---------------------------------------------------------------------------------


def test_an_order_shipping_where_and_when_the_kit_said_is_matched() -> None:
    found = classify(decided(), {"931"})
    assert found.category == c.MATCHED and found.ships_to == ("931",)
    # The customer's default address: the kit sent no shipToId, Komet holds none.
    assert classify(decided(None, "default"), {""}).category == c.MATCHED


def test_a_web_order_moved_to_another_ship_to_is_shipped_elsewhere() -> None:
    found = classify(decided(), {"940"})
    assert found.category == c.SHIPPED_ELSEWHERE and c.SHIPPED_ELSEWHERE in c.PROBLEMS
    assert "Blossom & Co, 90-1234AA" in found.detail and "ship-to 931 (code)" in found.detail
    assert "now ships to ship-to 940" in found.detail
    default = classify(decided(None, "default"), {"940"})
    assert default.category == c.SHIPPED_ELSEWHERE and "default address" in default.detail
    # Also a changed date and box count: one category, every difference in words.
    both = classify(decided(), {"940"}, ship_date=NEXT)
    assert both.category == c.SHIPPED_ELSEWHERE and f"ships {NEXT}" in both.detail


def test_no_ship_to_check_without_a_decision_or_a_read_back() -> None:
    assert classify(order(), {"940"}).category == c.MATCHED  # decided before order_shipping
    assert classify(decided(), None).category == c.MATCHED  # web order not read
    assert classify(decided(), set()).category == c.MATCHED  # nothing to tell by


def test_an_order_moved_on_purpose_is_shown_not_flagged() -> None:
    moved = decided(moved_to=NEXT)
    assert moved.moved and not decided().moved
    found = classify(moved, {"931"}, ship_date=NEXT)
    assert found.category == c.MATCHED
    assert f"FTD asked for {SHIP}, the kit ships it {NEXT}" in found.detail
    assert "past the cutoff" in found.detail
    # Komet shipping it on FTD's first date after all is a problem: FTD was told the later one.
    early = classify(moved, {"931"}, ship_date=SHIP)
    assert early.category == c.SHIP_DATE_DIFFERS
    assert f"moved the order from {SHIP} to {NEXT} and told FTD so" in early.detail


def test_the_findings_table_names_florist_ship_to_and_carriers() -> None:
    found = classify(decided(moved_to=NEXT), {"940"}, ship_date=NEXT, carrier_name="FedEx")
    result = Reconciliation("sandbox", SHIP, NEXT, NOW, ReconcileRules(), [found])
    row = tables.findings_frame(result).iloc[0]
    assert row["florist"] == "Blossom & Co, 90-1234AA"
    assert (row["ship_to"], row["ships_to_now"]) == ("931 (code)", "940")
    assert (row["carrier"], row["invoice_carrier"]) == ("Armellini", "FedEx")
    assert (row["requested_ship_date"], row["ship_date"]) == (SHIP, NEXT)


# -- against the twin --------------------------------------------------------------------------


def behind_the_kits_back(market: Market, sql: str, params: tuple[Any, ...]) -> int:
    """A clerk edits Komet: the change goes into the twin's own state, not through the kit."""
    with closing(sqlite3.connect(Home.at(market.home).twin_db, timeout=30)) as db, db:
        return db.execute(sql, params).rowcount


def every_order_table(reports: list[Any]) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for report in reports:
        for row in report.orders.orders_table().to_dict("records"):
            rows[row["order_id"]] = row  # the latest cycle's view of each order
    return rows


def test_the_runs_order_table_shows_where_each_order_ships(market: Market) -> None:
    market.shop(8, seed=21)
    table = every_order_table([market.cycle(), market.cycle()])
    dump = market.control.dump()
    web_orders = {str(w["id"]): w for w in dump["komet"]["web_orders"]}
    ftd = {o["order_id"]: o for o in dump["ftd"]["orders"]}
    carriers = {
        str(x["id"]): x["name"] for x in market.twin.control("komet", "GET", "info")["carriers"]
    }
    shown = 0
    for order_id, row in table.items():
        if not row["web_order_id"]:
            continue
        web, buyer = web_orders[str(row["web_order_id"])], ftd[order_id]["buyer"]
        assert row["florist"] == f"{buyer['name']}, {buyer['member_code']}"
        assert str(row["ship_to_id"]) == str(web["shipToId"]) and row["ship_to_how"]
        assert row["carrier"] == carriers[str(web["carrierId"])]
        assert row["ships_on"] == web["date"]
        shown += 1
    assert shown >= 5


@pytest.mark.switches(merge_invoices="no")  # one invoice per order: one defect per order
def test_reconciliation_flags_a_ship_date_or_ship_to_changed_in_komet(market: Market) -> None:
    market.trade(10, oversell=0.0, seed=22)
    market.control.confirm()
    market.cycle()
    dump = market.control.dump()["komet"]
    invoiced = [i for i in dump["invoices"] if i["webOrderId"] and i["status"] == 1]
    assert len(invoiced) >= 3
    dated, moved = invoiced[0], invoiced[1]
    later = (date.fromisoformat(dated["shipDate"]) + timedelta(days=1)).isoformat()
    assert behind_the_kits_back(
        market, "UPDATE komet_invoices SET ship_date=? WHERE id=?", (later, dated["id"])
    )
    web = next(w for w in dump["web_orders"] if w["id"] == moved["webOrderId"])
    ship_tos = market.twin.control("komet", "GET", "info")["ftd_ship_to_ids"]
    other = next(s for s in ship_tos if s != web["shipToId"])
    for table, key in (("komet_web_orders", "id"), ("komet_web_order_items", "web_order_id")):
        behind_the_kits_back(
            market, f"UPDATE {table} SET ship_to_id=? WHERE {key}=?", (other, web["id"])
        )

    result = market.reconcile()
    got = {f.order.order_number: f for f in result.findings if f.order}
    assert got[dated["customerPo"]].category == c.SHIP_DATE_DIFFERS
    assert f"ships {later}" in got[dated["customerPo"]].detail
    elsewhere = got[moved["customerPo"]]
    assert elsewhere.category == c.SHIPPED_ELSEWHERE and f"ship-to {other}" in elsewhere.detail
    assert elsewhere.order is not None and elsewhere.order.florist in elsewhere.detail
    assert result.problems == 2, [(f.category, f.detail) for f in result.findings]
    frame = tables.findings_frame(result).set_index("order_number")
    assert frame.loc[moved["customerPo"], "ships_to_now"] == str(other)
    kit = frame[frame["web_order_id"].notna()]
    assert kit["florist"].notna().all() and kit["ship_to"].notna().all()
    assert kit["carrier"].notna().all() and kit["invoice_carrier"].notna().all()
    # Without reading the web orders back nobody can tell the ship-to: only the date is flagged.
    blind = market.reconcile(check_ship_to=False)
    assert {f.category for f in blind.findings} & set(c.PROBLEMS) == {c.SHIP_DATE_DIFFERS}


def test_an_order_the_kit_moved_on_purpose_reconciles(market: Market) -> None:
    shipping = market.profile.shipping
    market.profile = replace(market.profile, shipping=replace(shipping, late_rule="next_day"))
    late = market.control.shop(4, seed=45, late=1.0)["late_orders"]
    assert late
    market.cycle()
    market.cycle()
    market.control.confirm()
    market.cycle()
    result = market.reconcile()
    got = {f.order.order_id: f for f in result.findings if f.order}
    moved = [got[i] for i in late if i in got and got[i].order.moved]  # type: ignore[union-attr]
    assert moved, {i: got[i].detail for i in late if i in got}
    for finding in moved:
        assert finding.category in (c.MATCHED, c.REJECTED_LINES), finding.detail
        assert "moved on purpose" in finding.detail
        assert finding.invoice is not None and finding.invoice.ship_date == finding.order.ship_date
    frame = tables.findings_frame(result).set_index("order_id")
    for finding in moved:
        row = frame.loc[finding.order.order_id]  # type: ignore[union-attr]
        assert row["requested_ship_date"] < row["ship_date"]
    assert result.problems == 0, [(f.category, f.detail) for f in result.findings]
