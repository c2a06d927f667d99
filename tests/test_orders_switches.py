"""The order path under every value of every Komet switch that touches orders (komet/switches.py).

Each case: one FTD order of two lines goes create → add → checkout → the sales rep confirms →
CONFIRMED on FTD, with the answer of one add and of the checkout lost on the way; the profile's
`[komet.switches]` says what the twin was set to, as `komet-ftd-ops probe` would have recorded.
Exactly once is checked with `komet_ftd_ops.testing.invariants` over everything the twin holds.
Then the cases the switches make possible: late writes against the settle window, invoices found
without link fields, merged invoices, the fee, placing without checkout, cancellations after
checkout, and the witnesses asked before a create.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from conftest import start_twin
from sim.twin_world import TwinWorld

from komet_ftd_ops.komet import KometClient
from komet_ftd_ops.komet.models import WebOrder
from komet_ftd_ops.komet.switches import SWITCHES, hardest
from komet_ftd_ops.orders import OrderLedger, OrdersReport
from komet_ftd_ops.orders.intake import fetch, record
from komet_ftd_ops.state.store import Store

ORDER_SWITCHES = (
    "invoice_exists",
    "link_fields",
    "merge_invoices",
    "late_writes",
    "fee_on_invoice",
    "messages",
    "customer_checkout",
)
CASES = [(name, value) for name in ORDER_SWITCHES for value in SWITCHES[name].values]
LATE_DELAY = 2.0  # the twin lands a write this long after it came in: after the 1 s timeout
LATE_SETTLE = 3  # seconds: the settle window, longer than LATE_DELAY
CENT = Decimal("0.01")


class SwitchWorld(TwinWorld):
    """The twin world with the twin's switches and the profile's `[komet.switches]` in step."""

    def switches(self, settle: float = 0, **values: str) -> dict[str, str]:
        chosen = {**hardest(), **values}
        self.control.settings("komet", late_write_delay=LATE_DELAY, **chosen)
        self.profile = replace(
            self.profile,
            komet_switches=chosen,
            orders=replace(self.profile.orders, unknown_settle_seconds=settle),
        )
        return chosen

    def rules(self, **values: Any) -> None:
        self.profile = replace(self.profile, orders=replace(self.profile.orders, **values))

    def drive(self, order_id: str, want: str, cycles: int = 8, pause: float = 0) -> OrdersReport:
        """Cycles (`pause` seconds apart) until FTD shows `want` for the order."""
        report = self.cycle()
        for _ in range(cycles):
            if self.order(order_id)["status"] == want:
                return report
            time.sleep(pause)
            report = self.cycle()
        got = self.order(order_id)
        assert got["status"] == want, (got.get("acknowledgement"), self.ledger().events(order_id))
        return report

    def ledger(self) -> OrderLedger:
        return OrderLedger(self.store, self.profile.name)

    def new_order(self, lines: int, seed: int) -> dict[str, Any]:
        """A NEW order of `lines` lines shipping two days out or later: before any cutoff."""
        soon = (datetime.now(UTC).date() + timedelta(days=2)).isoformat()
        for attempt in range(20):
            order = super().new_order(lines, seed * 20 + attempt)
            if order["requested_ship_date"] >= soon:
                return order
        raise AssertionError(f"no {lines}-line order shipping after {soon}")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SwitchWorld]:
    home = tmp_path_factory.mktemp("orders-switches")
    twin = start_twin(home)
    try:
        world = SwitchWorld(home, twin.info)
        yield world
        world.close()
    finally:
        twin.stop()


@pytest.fixture
def own_world(tmp_path: Any) -> Iterator[SwitchWorld]:
    """A world of its own: for orders placed without checkout (no customerPo, by design), which
    the invariants accept only while the twin says customer_checkout=no."""
    twin = start_twin(tmp_path)
    try:
        world = SwitchWorld(tmp_path, twin.info)
        yield world
        world.close()
    finally:
        twin.stop()


def expected_fee(ftd_order: dict[str, Any], pct: Decimal = Decimal("1.5")) -> Decimal:
    lines = sum(
        Decimal(x["price_per_unit"]) * x["boxes"] * x["units_per_box"] for x in ftd_order["lines"]
    )
    return (lines * pct / 100).quantize(CENT)


def order_path(world: SwitchWorld, chosen: dict[str, str], seed: int) -> OrdersReport:
    """create → add (answer lost) → add → checkout (answer lost) → confirm → CONFIRMED."""
    late = chosen["late_writes"] == "later" or "late_writes" not in chosen
    kind = "hang" if late else "drop-after-commit"
    order = world.new_order(lines=2, seed=seed)
    lost_add = world.aim_at_step("add1", kind, order)
    lost_checkout = world.aim_at_step("checkout", kind, order)
    pause = LATE_SETTLE + 0.2 if kind == "hang" else 0
    world.drive(order["order_id"], "ACKNOWLEDGED", pause=pause)
    assert lost_add.fired
    assert lost_checkout.fired == (chosen["customer_checkout"] == "yes")
    world.aims.clear()
    assert world.violations(final=False) == []
    world.control.confirm()
    report = world.drive(order["order_id"], "CONFIRMED")
    assert world.violations() == []
    done = world.ledger().get(order["order_id"])
    assert done.state == "confirmed" and not done.parked
    row = report.orders_table().set_index("order_id").loc[order["order_id"]]
    assert Decimal(str(row["fee"])) == expected_fee(order)  # the fee the wholesaler pays
    link = chosen["link_fields"]
    ways = {"both": {"webOrderId"}, "webOrderId": {"webOrderId"}, "customerPo": {"customerPo"}}
    # Without link fields: by the lines when they can only be this order's (one read per ship
    # date for all), else by the web order's Order # (orders/invoices.py).
    blind = {"lines", "number", "order_filter"}
    if chosen["customer_checkout"] == "no":  # no checkout, so no customerPo on the invoice
        ways["customerPo"] = ways["neither"] = blind
    assert done.invoice_found_by in ways.get(link, blind)
    return report


@pytest.mark.parametrize(("name", "value"), CASES, ids=[f"{n}={v}" for n, v in CASES])
def test_the_order_path_under_each_switch_value(
    request: pytest.FixtureRequest, name: str, value: str
) -> None:
    placed = (name, value) == ("customer_checkout", "no")
    world = request.getfixturevalue("own_world" if placed else "world")
    # Every other switch at its easiest reading, so this one alone makes the difference.
    easy = {"invoice_exists": "checkout", "link_fields": "both", "merge_invoices": "no"}
    easy |= {"late_writes": "never", "fee_on_invoice": "none", "messages": "table"}
    easy |= {"customer_checkout": "yes", name: value}
    settle = LATE_SETTLE if easy["late_writes"] == "later" else 0
    chosen = world.switches(settle=settle, **easy)
    order_path(world, chosen, seed=CASES.index((name, value)) + 1)


def test_the_order_path_with_every_switch_at_its_hardest(world: SwitchWorld) -> None:
    chosen = world.switches(settle=LATE_SETTLE)
    assert chosen == hardest()
    order_path(world, chosen, seed=99)


def test_the_settle_window_keeps_a_late_add_from_doubling_its_line(world: SwitchWorld) -> None:
    """late_writes=later: an add whose answer was lost lands after the client gave up."""
    world.switches(settle=LATE_SETTLE)
    order = world.new_order(lines=1, seed=120)
    world.aim_at_step("add1", "hang", order)
    world.cycle()  # the add hangs: its answer is lost, the read-back finds nothing yet
    world.aims.clear()
    world.cycle()  # not in Komet yet, and inside the settle window: nothing is sent again
    adds = world.ledger().lines(order["order_id"])[0].attempts
    assert adds == 1, f"the add went out {adds} times inside its settle window"
    time.sleep(LATE_SETTLE + 0.2)  # the add lands meanwhile; the read-back now finds it
    world.drive(order["order_id"], "ACKNOWLEDGED")
    assert world.ledger().lines(order["order_id"])[0].attempts == 1
    assert world.violations(final=False) == []
    web = _web_order(world, world.ledger().get(order["order_id"]).web_order_id)
    assert len(web["items"]) == 1


def test_without_a_settle_window_the_late_add_doubles_and_the_check_fails(
    world: SwitchWorld,
) -> None:
    """The control: what the settle window prevents really happens without it."""
    world.switches(settle=0)
    order = world.new_order(lines=1, seed=130)
    world.aim_at_step("add1", "hang", order)
    world.cycle()
    world.aims.clear()
    world.aim_at_step("checkout", "error", order)  # keeps the web order pending a while
    world.cycle()  # settled at once: not in Komet yet, so the add goes out again
    world.aims.clear()
    time.sleep(LATE_DELAY + 0.5)  # and then the first one lands
    web_order_id = world.ledger().get(order["order_id"]).web_order_id
    web = _web_order(world, web_order_id)
    assert len(web["items"]) == 2, web  # the line twice: the settle window is what stops this
    world.settle()
    assert any("holds" in p for p in world.violations(final=False))
    # Out of the way of the next cases: the buyer cancels, the sales rep voids the invoice.
    world.control.call("ftd", "POST", "cancel", {"order_id": order["order_id"]})
    world.settle()
    for invoice in world.control.dump()["komet"]["invoices"]:
        if int(web_order_id or 0) in invoice["webOrderIds"] and invoice["status"] != 4:
            world.control.call("komet", "POST", "void", {"invoice_id": invoice["id"]})
    world.settle()


def _web_order(world: SwitchWorld, web_order_id: str | None) -> dict[str, Any]:
    webs = world.control.dump()["komet"]["web_orders"]
    return next(w for w in webs if str(w["id"]) == str(web_order_id))


class NoNumberKomet(KometClient):
    """A Komet whose web-order-details.list gives no Order #: only the lines can tell."""

    def web_order_details_list(self, *args: Any, **kwargs: Any) -> list[WebOrder]:
        return [replace(w, number=None) for w in super().web_order_details_list(*args, **kwargs)]


def test_without_link_fields_or_order_number_the_invoice_is_found_by_its_lines(
    world: SwitchWorld,
) -> None:
    world.switches(merge_invoices="no")
    order = world.new_order(lines=2, seed=140)
    for _ in range(3):  # placed, then followed: never an Order # to go by
        world.cycle(komet_class=NoNumberKomet)
    assert world.order(order["order_id"])["status"] == "ACKNOWLEDGED"
    world.control.confirm()
    world.cycle(komet_class=NoNumberKomet)
    done = world.ledger().get(order["order_id"])
    assert done.invoice_found_by == "lines", world.ledger().events(order["order_id"])
    assert world.order(order["order_id"])["status"] == "CONFIRMED"
    assert world.violations() == []


def test_two_orders_merged_into_one_invoice_both_follow_it(world: SwitchWorld) -> None:
    world.switches(merge_invoices="yes")
    world.settle()
    ftd = world.clients().ftd
    days: dict[Any, list[str]] = {}
    for order_id in world.shop(8, seed=150):
        days.setdefault(ftd.get_order(order_id).requested_ship_date, []).append(order_id)
    world.settle()
    pair = next(ids[:2] for ids in days.values() if len(ids) > 1)
    world.control.confirm()
    world.settle()
    ledger = world.ledger()
    first, second = (ledger.get(o) for o in pair)
    assert first.invoice_id == second.invoice_id  # one invoice, two orders following it
    assert first.web_order_id != second.web_order_id
    numbers = {world.order(o)["status_updates"][-1]["invoice_number"] for o in pair}
    assert numbers == {first.invoice_number}
    assert world.violations() == []  # neither is a duplicate


def test_a_checkout_the_token_may_not_make_places_the_order_and_says_so_once(
    own_world: SwitchWorld,
) -> None:
    """The profile believes checkout is allowed, Komet says no: placed without it."""
    world = own_world
    world.switches(customer_checkout="no")
    world.profile = replace(world.profile, komet_switches=hardest() | {"customer_checkout": "yes"})
    world.settle()
    orders = world.shop(3, seed=160)
    report = world.cycle()
    refused = [n for n in report.notes if "method not allowed" in n]
    assert len(refused) == 1, report.notes
    for order_id in orders:
        assert world.order(order_id)["status"] in ("ACKNOWLEDGED", "REJECTED")
    world.control.confirm()
    world.settle()
    assert {world.order(o)["status"] for o in orders} <= {"CONFIRMED", "REJECTED"}
    assert world.violations() == []


@pytest.mark.parametrize("delete_on_cancel", [True, False])
def test_a_cancellation_before_the_rep_confirms(world: SwitchWorld, delete_on_cancel: bool) -> None:
    world.switches()
    world.rules(delete_on_cancel=delete_on_cancel)
    try:
        order = world.new_order(lines=2, seed=170 + delete_on_cancel)
        world.settle()
        world.control.call("ftd", "POST", "cancel", {"order_id": order["order_id"]})
        world.cycle()
        held = world.ledger().get(order["order_id"])
        if delete_on_cancel:  # web-order.delete voided it in Komet: the buyer hears at once
            assert world.order(order["order_id"])["status"] == "CANCELLED"
            assert held.state == "cancelled"
        else:  # the sales rep decides, as today
            assert (held.state, held.park_reason) == ("cancel_review", "cancel_after_invoice")
            invoice = held.invoice_id or _invoice_of(world, held.web_order_id)
            world.control.call("komet", "POST", "void", {"invoice_id": invoice})
            world.cycle()
            assert world.order(order["order_id"])["status"] == "CANCELLED"
        assert world.violations() == []
    finally:
        world.rules(delete_on_cancel=False)


def test_a_cancellation_after_the_rep_confirmed_goes_to_the_rep(world: SwitchWorld) -> None:
    world.switches()
    world.rules(delete_on_cancel=True)
    try:
        order = world.new_order(lines=1, seed=180)
        world.settle()
        world.control.confirm()
        world.control.call("ftd", "POST", "cancel", {"order_id": order["order_id"]})
        world.cycle()
        held = world.ledger().get(order["order_id"])
        assert (held.state, held.park_reason) == ("cancel_review", "cancel_after_invoice")
        assert world.violations(final=False) == []
    finally:
        world.rules(delete_on_cancel=False)


def _invoice_of(world: SwitchWorld, web_order_id: str | None) -> Any:
    for invoice in world.control.dump()["komet"]["invoices"]:
        if str(web_order_id) in {str(w) for w in invoice.get("webOrderIds", [])} | {
            str(invoice.get("webOrderId"))
        }:
            return invoice["id"]
    raise AssertionError(f"no invoice for web order {web_order_id}")


# -- know before you create ---------------------------------------------------------------------


def _older_copy(world: SwitchWorld, path: Any) -> Store:
    """The kit's database as it is now, to be put back later (a restore)."""
    with Store(path) as copy:
        world.store.backup_to(copy)
    return Store(path)


def _swap(world: SwitchWorld, store: Store) -> Store:
    kept, world.store = world.store, store
    return kept


@pytest.mark.parametrize("link_fields", ["both", "neither"])
def test_a_restored_older_database_creates_nothing_twice(
    world: SwitchWorld, tmp_path: Any, link_fields: str
) -> None:
    world.switches(link_fields=link_fields)
    world.settle()
    soon = (datetime.now(UTC).date() + timedelta(days=2)).isoformat()
    for seed in range(200 + len(link_fields) * 50, 240 + len(link_fields) * 50):
        (order_id,) = world.shop(1, seed=seed)
        if world.order(order_id)["requested_ship_date"] >= soon:
            break
        world.settle()
    ledger = world.ledger()
    clients = world.clients()
    record(ledger, fetch(clients.ftd, world.store, world.profile.name, 120), datetime.now(UTC))
    assert ledger.get(order_id).state == "received"
    older = _older_copy(world, tmp_path / "older.sqlite3")
    world.settle()  # this database places the order and FTD holds the acknowledgement
    assert world.order(order_id)["status"] == "ACKNOWLEDGED"
    webs_before = len(world.control.dump()["komet"]["web_orders"])
    current = _swap(world, older)
    try:
        world.cycle()  # the older copy sees the order as new: the witnesses say otherwise
        assert len(world.control.dump()["komet"]["web_orders"]) == webs_before  # nothing created
        again = world.ledger().get(order_id)
        # FTD's acknowledgement names the web order (`supplier_ref`), whatever Komet's invoices
        # show: the order is adopted, not created again.
        assert again.state == "acknowledged" and again.web_order_id
        world.control.confirm()
        world.settle()
        assert world.order(order_id)["status"] == "CONFIRMED"
        assert world.violations() == []
    finally:
        world.store.close()
        _swap(world, current)
        shutil.rmtree(tmp_path, ignore_errors=True)
    world.control.confirm()
    world.settle()
