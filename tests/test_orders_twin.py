"""The order pipeline against the real twin process: every fault kind at every step.

One twin and one kit store serve the whole module (starting a twin per case would triple the
run time); after each case the invariants are checked over EVERYTHING the twin holds, so a case
that leaves damage behind cannot hide it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from conftest import Twin, start_twin
from sim.twin_world import TwinWorld
from sim.variants import NoWebOrderIdKomet

from komet_ftd_ops.orders import OrderLedger

KINDS = ("error", "hang", "reset", "drop-after-commit", "rate-limit")
STEPS = ("create", "add1", "add2", "add3", "checkout", "acknowledge")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwinWorld]:
    home = tmp_path_factory.mktemp("orders-twin")
    twin = start_twin(home)
    try:
        world = TwinWorld(home, twin.info)
        yield world
        world.close()
    finally:
        twin.stop()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("step", STEPS)
def test_a_fault_at_any_step_still_gives_exactly_one_invoice(
    world: TwinWorld, step: str, kind: str
) -> None:
    seed = STEPS.index(step) * 10 + KINDS.index(kind)
    order = world.new_order(lines=3, seed=seed)
    aim = world.aim_at_step(step, kind, order)
    world.cycle()
    assert aim.fired, f"the {kind} at {step} never went out"
    world.settle()
    world.control.confirm()
    world.cycle()
    assert world.violations() == []
    done = world.order(order["order_id"])
    assert done["status"] == "CONFIRMED", done
    accepted = [d for d in done["acknowledgement"]["lines"] if d["decision"] == "ACCEPT"]
    assert len(accepted) == 3
    ledger = OrderLedger(world.store, world.profile.name).get(order["order_id"])
    assert ledger.state == "confirmed" and not ledger.parked


def test_oversold_lines_are_rejected_never_substituted(world: TwinWorld) -> None:
    world.settle()
    made = world.control.shop(6, oversell=0.5, seed=901)
    world.settle()
    oversold = {(x["order_id"], x["line_id"]) for x in made["oversold_lines"]}
    assert oversold
    for order_id, line_id in oversold:
        ack = world.order(order_id)["acknowledgement"]
        decision = next(d for d in ack["lines"] if d["line_id"] == line_id)
        assert decision["decision"] == "REJECT" and decision["reason_code"] == "OUT_OF_STOCK"
    assert world.violations() == []


def test_a_cancellation_waits_for_the_sales_rep_then_reaches_ftd(world: TwinWorld) -> None:
    order = world.new_order(lines=2, seed=77)
    world.settle()
    world.control.call("ftd", "POST", "cancel", {"order_id": order["order_id"]})
    world.cycle()
    ledger = OrderLedger(world.store, world.profile.name)
    held = ledger.get(order["order_id"])
    assert held.state == "cancel_review" and held.park_reason == "cancel_after_invoice"
    invoice = next(
        i
        for i in world.control.dump()["komet"]["invoices"]
        # merge_invoices=yes: an invoice may hold several web orders (`webOrderIds`)
        if held.web_order_id in {str(w) for w in i.get("webOrderIds", [i["webOrderId"]])}
    )
    world.control.call("komet", "POST", "void", {"invoice_id": invoice["id"]})
    world.cycle()
    assert world.order(order["order_id"])["status"] == "CANCELLED"
    assert ledger.get(order["order_id"]).state == "cancelled"
    assert world.violations() == []


def test_without_web_order_id_two_orders_merge_and_the_check_fails(twin: Twin, home: Path) -> None:
    """Fails if webOrderId were not sent: same-day orders land in one Komet web order.

    Its own twin: the merge leaves damage behind on purpose.
    """
    world = TwinWorld(home, twin.info)
    ftd = world.clients().ftd
    days: dict[date | None, list[str]] = {}
    for order_id in world.shop(8, seed=500):
        days.setdefault(ftd.get_order(order_id).requested_ship_date, []).append(order_id)
    pair = next(ids[:2] for ids in days.values() if len(ids) > 1)
    for _ in range(3):
        world.cycle(komet_class=NoWebOrderIdKomet)
    problems = world.violations()
    assert any("belongs to no FTD order" in p for p in problems), problems
    offers = [
        {line["offer_id"].removeprefix("om:") for line in world.order(o)["lines"]} for o in pair
    ]
    merged = [
        w
        for w in world.control.dump()["komet"]["web_orders"]
        if all({i["inventoryIds"] for i in w["items"]} & mine for mine in offers)
    ]
    assert merged, f"no web order holds lines of both {pair}"
    parked = OrderLedger(world.store, world.profile.name).parked_orders()
    assert any(o.park_reason == "komet_merged" for o in parked)
    world.close()


def test_orders_waiting_for_the_sales_rep_leave_the_cycle_limit_to_new_ones(
    world: TwinWorld,
) -> None:
    """`max_orders_per_cycle` counts orders with a step to take: a day of checked-out orders
    the rep has not confirmed yet (and orders held for a person) never keep a new order from
    Komet. With the old count, the limit's worth of unconfirmed orders stopped every new one."""
    world.settle()
    world.control.confirm()  # what earlier cases left for the rep
    world.cycle()
    base = world.profile
    world.profile = replace(base, orders=replace(base.orders, max_orders_per_cycle=2))
    try:
        waiting = world.shop(3, seed=6101)
        world.settle()
        ledger = OrderLedger(world.store, world.profile.name)
        assert {ledger.get(o).state for o in waiting} == {"acknowledged"}  # the rep is away
        (new,) = world.shop(1, seed=6102)
        world.cycle()
        assert ledger.get(new).state == "acknowledged", ledger.get(new)
        assert world.order(new)["status"] != "NEW"
    finally:
        world.profile = base
    world.control.confirm()
    world.cycle()
    assert world.violations() == []
