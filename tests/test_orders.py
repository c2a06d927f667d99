"""The order pipeline, case by case, against both twins in-process (fast, no sockets).

The fault matrix against the real twin process is in test_orders_twin.py, kills in
test_orders_kill.py, the seeded simulation in test_orders_sim.py.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sim.harness import SimWorld
from sim.inproc import DROP, ERROR, OK, RATE_LIMIT, RESET, CallInTransaction, CallLog

from komet_ftd_ops.errors import OutcomeUnknown, QuotaExceeded, RateLimited, ServiceUnavailable
from komet_ftd_ops.ftd.models import FtdOrder
from komet_ftd_ops.orders import OrderLedger, OrdersReport, process_orders, release_order
from komet_ftd_ops.orders.cycle import classify
from komet_ftd_ops.orders.intake import listing_start, order_lines
from komet_ftd_ops.sandbox.ftd import shop as ftd_shop
from komet_ftd_ops.sandbox.komet import db as komet_db
from komet_ftd_ops.settings.profiles import Profile
from komet_ftd_ops.state.store import Store
from komet_ftd_ops.testing.invariants import violations


@pytest.fixture(scope="module")
def sim() -> Iterator[SimWorld]:
    logging.disable(logging.WARNING)
    world = SimWorld()
    yield world
    world.twins.close()
    logging.disable(logging.NOTSET)


class Case:
    """One scenario: a fresh twin state and a fresh kit store."""

    def __init__(self, world: SimWorld) -> None:
        world.twins.restore()
        self.world = world
        self.store: Store = world.fresh_store()
        # Settle window 0 and invoices read every cycle: these cases run cycles back to back
        # (the simulation uses the real 60 s window on its virtual clock).
        self.profile: Profile = replace(
            world.profile,
            orders=replace(world.profile.orders, unknown_settle_seconds=0, confirm_every_minutes=0),
        )
        self.log = CallLog()
        self.waits: list[float] = []

    def rules(self, **values: Any) -> Case:
        self.profile = replace(self.profile, orders=replace(self.profile.orders, **values))
        return self

    def shop(self, count: int, seed: int = 1, oversell: float = 0.0) -> dict[str, Any]:
        db = self.world.twins.db
        with db.atomic() as conn:
            return ftd_shop.shop(
                conn,
                count=count,
                oversell=oversell,
                rng=random.Random(seed),
                now=datetime.now(UTC),
                on_oversell=lambda o: komet_db.take_offer_stock(db, o),
            )

    def cycle(
        self,
        decide: Any = None,
        *,
        now: datetime | None = None,
        dry_run: bool = False,
        wrap: Any = None,
    ) -> OrdersReport:
        clients = self.world.clients(self.store, decide or (lambda s, n: OK), self.log, wrap=wrap)
        return process_orders(
            self.profile,
            self.store,
            clients,
            dry_run=dry_run,
            run_id="t",
            now=now or datetime.now(UTC),
            sleep=self.waits.append,  # waits recorded, not waited
        )

    def ledger(self) -> OrderLedger:
        return OrderLedger(self.store, self.profile.name)

    def dump(self) -> dict[str, Any]:
        return self.world.twins.dump()

    def ftd(self, order_id: str) -> dict[str, Any]:
        return next(o for o in self.dump()["ftd"]["orders"] if o["order_id"] == order_id)

    def edit(self, order_id: str, change: Any) -> None:
        db = self.world.twins.db
        body = json.loads(
            db.query("SELECT body FROM ftd_orders WHERE order_id=?", (order_id,))[0][0]
        )
        change(body)
        with db.atomic() as conn:
            conn.execute(
                "UPDATE ftd_orders SET body=? WHERE order_id=?", (json.dumps(body), order_id)
            )

    def problems(self, final: bool = True) -> list[str]:
        dump = self.dump()
        return violations(
            self.store,
            self.profile.name,
            dump["komet"],
            dump["ftd"],
            self.profile.ftd_customer_id,
            final=final,
        )


def at(name: str, kind: str, times: int = 1) -> Any:
    """A fault of `kind` on the first `times` calls named `name`."""
    left = {"n": times}

    def decide(service: str, call: str) -> str:
        if call == name and left["n"] > 0:
            left["n"] -= 1
            return kind
        return OK

    return decide


# -- pure pieces -------------------------------------------------------------------------------


def test_listing_restarts_an_overlap_before_the_server_watermark() -> None:
    assert listing_start(None, 120) is None
    assert listing_start("2026-11-28T10:02:00.5Z", 120) == "2026-11-28T10:00:00.500000Z"


def test_an_order_line_must_say_its_boxes_and_price() -> None:
    good = {"lines": [{"line_id": "1", "offer_id": "om:1", "boxes": 2, "price_per_unit": "0.42"}]}
    assert order_lines(FtdOrder.from_wire(good))[0] == {
        "line_id": "1",
        "offer_id": "om:1",
        "boxes": 2,
        "price": "0.42",
    }
    for bad, words in (
        ({"lines": []}, "no lines"),
        ({"lines": "1 box"}, "no lines"),
        ({"lines": [{"line_id": "1", "boxes": 0, "price_per_unit": "1"}]}, "boxes 0"),
        ({"lines": [{"line_id": "1", "boxes": "2", "price_per_unit": "1"}]}, "boxes '2'"),
        ({"lines": [{"line_id": "1", "boxes": 1, "price_per_unit": "x"}]}, "not a price: 'x'"),
        ({"lines": [{"line_id": "1", "boxes": 1, "price_per_unit": "-1"}]}, "not a price"),
        ({"lines": [{"line_id": "1", "boxes": 1}]}, "not a price: missing"),
    ):
        with pytest.raises(ValueError, match=words):
            order_lines(FtdOrder.from_wire(bad))


def test_failures_map_to_parking_reasons_in_one_table() -> None:
    assert classify(QuotaExceeded("q"), "komet").reason == "quota"
    # One lost answer stops only its own order; only several in a row stop the service.
    lost = classify(OutcomeUnknown("x"), "komet")
    assert (lost.reason, lost.retry, lost.stop, lost.failed) == (
        "komet_unavailable",
        True,
        False,
        True,
    )
    assert classify(ServiceUnavailable("x"), "ftd").reason == "ftd_unavailable"
    # Komet's "limit exceeded" with calls left is a rate limit, not a spent day.
    burst = classify(QuotaExceeded("q"), "komet", quota_spent=False)
    assert (burst.reason, burst.retry, burst.stop) == ("komet_rate_limited", True, False)
    limited = classify(RateLimited("slow down", retry_after=30), "ftd")
    assert (limited.reason, limited.stop) == ("ftd_rate_limited", False)


# -- against the twins ---------------------------------------------------------------------------


def test_orders_enter_the_ledger_once_and_the_watermark_is_the_servers(sim: SimWorld) -> None:
    case = Case(sim)
    made = case.shop(3)["orders"]
    first = case.cycle()
    assert first.counters()["orders_received"] == 3 == first.counters()["orders_acknowledged"]
    again = case.cycle()
    assert again.counters()["orders_received"] == 0
    assert sorted(o.order_id for o in case.ledger().orders()) == sorted(made)
    assert case.store.get(case.profile.name, "orders.high_watermark").endswith("Z")
    assert case.problems() == []


def test_noisy_listings_with_repeats_and_old_versions_change_nothing(sim: SimWorld) -> None:
    case = Case(sim)
    with sim.twins.db.atomic() as conn:
        conn.execute(
            "UPDATE ftd_meta SET value=? WHERE key='settings'",
            (json.dumps({"feed_processing_ms": 0, "listing_noise": 1.0}),),
        )
    case.shop(4)
    for _ in range(3):
        case.cycle()
    assert len(case.ledger().orders()) == 4
    assert case.problems() == []


def test_a_dry_run_reads_ftd_and_writes_nothing(sim: SimWorld) -> None:
    case = Case(sim)
    made = case.shop(2)["orders"]
    before = case.dump()
    report = case.cycle(dry_run=True)
    assert report.received == 2 and set(report.orders_table()["order_id"]) == set(made)
    assert sum(report.shadow_stock().values()) == sum(
        line["boxes"] for o in before["ftd"]["orders"] for line in o["lines"]
    )
    assert case.ledger().orders() == []
    assert case.store.get(case.profile.name, "orders.high_watermark") is None
    assert case.dump() == before
    assert [s for s, _, _ in case.log.calls] == ["ftd"]


def test_orders_that_cannot_go_through_are_parked_with_a_reason(sim: SimWorld) -> None:
    case = Case(sim)
    pricey, past, unknown = case.shop(3, seed=3)["orders"]

    def overpriced(body: dict) -> None:
        body["lines"][0]["price_per_unit"] = str(Decimal(body["lines"][0]["price_per_unit"]) * 2)

    def yesterday(body: dict) -> None:
        body["requested_ship_date"] = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()

    def not_ours(body: dict) -> None:
        body["lines"][0]["offer_id"] = "om:999999999"

    for order_id, change in ((pricey, overpriced), (past, yesterday), (unknown, not_ours)):
        case.edit(order_id, change)
    report = case.cycle()
    reasons = dict(
        zip(report.parked_table()["order_id"], report.parked_table()["reason"], strict=True)
    )
    assert reasons == {pricey: "price_mismatch", past: "ship_date_past", unknown: "unknown_offer"}
    assert not report.parked_table()["retries"].any()
    assert report.counters()["orders_parked"] == 3
    assert case.dump()["komet"]["web_orders"] == []  # nothing reached Komet
    assert {case.ftd(o)["status"] for o in (pricey, past, unknown)} == {"NEW"}
    assert case.cycle().counters()["komet_order_calls"] == 0  # held: not retried alone
    assert case.problems() == []


def test_an_order_with_unreadable_values_is_kept_and_parked_not_dropped(sim: SimWorld) -> None:
    case = Case(sim)
    boxes, when, fine = case.shop(3, seed=4)["orders"]
    case.edit(boxes, lambda body: body["lines"][0].update(boxes="two"))
    case.edit(when, lambda body: body.update(requested_ship_date="soon"))
    report = case.cycle()
    parked = report.parked_table().set_index("order_id")
    assert set(parked.index) == {boxes, when} and set(parked["reason"]) == {"bad_order"}
    assert "boxes 'two'" in parked.loc[boxes, "detail"]
    assert "requested_ship_date 'soon'" in parked.loc[when, "detail"]
    stored = case.ledger().get(when)
    assert stored.ftd_body()["requested_ship_date"] == "soon"  # kept as FTD sent it
    assert case.ftd(fine)["status"] == "ACKNOWLEDGED"  # the others go on
    assert case.problems() == []


def _spend_quota(case: Case) -> None:
    """Today's Komet calls recorded up to the daily quota (as a busy day would leave them)."""
    day = datetime.now(UTC).date().isoformat()
    with case.store.atomic() as db:
        db.execute(
            "INSERT INTO api_calls (day, service, method, calls) "
            "VALUES (:day, 'komet', 'inventory.list', :calls)",
            {"day": day, "calls": case.profile.daily_quota},
        )


def test_a_spent_quota_parks_orders_stops_komet_and_the_next_cycle_resumes(sim: SimWorld) -> None:
    case = Case(sim).rules(concurrency=1)  # one at a time: exactly one call before the stop
    case.shop(3)
    _spend_quota(case)
    report = case.cycle(at("web-order.create", RATE_LIMIT))
    assert report.counters()["orders_parked"] == 3
    assert set(report.parked_table()["reason"]) == {"quota"}
    assert report.parked_table()["retries"].all()
    assert sum(1 for s, n, _ in case.log.calls if n == "web-order.create") == 1  # stopped at once
    assert sum(report.shadow_stock().values()) > 0  # sold on FTD, not yet in Komet
    assert report.counters()["orders_held_back"] == 3
    with pytest.raises(ServiceUnavailable, match="3 orders held back"):
        report.raise_if_held_back()
    resumed = case.cycle()
    assert (
        resumed.counters()["orders_acknowledged"] == 3 and resumed.counters()["orders_parked"] == 0
    )
    assert resumed.shadow_stock() == {}
    resumed.raise_if_held_back()  # a clean cycle: exit 0
    assert case.problems() == []


def test_a_limit_message_with_calls_left_parks_one_order_not_the_queue(sim: SimWorld) -> None:
    case = Case(sim)
    case.shop(3)
    report = case.cycle(at("web-order.create", RATE_LIMIT))
    assert report.counters()["orders_acknowledged"] == 2  # the others went on
    assert list(report.parked_table()["reason"]) == ["komet_rate_limited"]
    assert report.counters()["orders_held_back"] == 1
    resumed = case.cycle()
    assert (
        resumed.counters()["orders_acknowledged"] == 1 and resumed.counters()["orders_parked"] == 0
    )
    assert case.problems() == []


def _limited_acks(times: int) -> Any:
    """FTD answers 429 (Retry-After: 1) to the first `times` acknowledgements."""
    left = {"n": times}

    def decide(service: str, call: str) -> str:
        if call.endswith("/acknowledge") and left["n"] > 0:
            left["n"] -= 1
            return RATE_LIMIT
        return OK

    return decide


def test_komet_is_left_alone_only_after_three_failures_in_a_row(sim: SimWorld) -> None:
    case = Case(sim).rules(concurrency=1)  # one at a time: the count is exact
    case.shop(5, seed=8)
    report = case.cycle(at("web-order.create", RESET, times=3))
    creates = [k for s, n, k in case.log.calls if n == "web-order.create"]
    assert creates == [RESET] * 3  # then stopped: two orders wait without a call
    assert sorted(report.held_back.values()) == ["komet_unavailable"] * 2 + ["outcome_unknown"] * 3
    resumed = case.cycle()
    assert resumed.counters()["orders_acknowledged"] == 5 and resumed.held_back == {}
    assert case.problems() == []


def test_with_workers_a_stopped_komet_costs_no_more_than_the_calls_in_flight(
    sim: SimWorld,
) -> None:
    # Four orders in flight: when Komet stops (three failures in a row, or the quota), only
    # the calls already on their way go out, never one per order. Every create fails here:
    # with workers, "in a row" counts calls as they end, so an order's read answered between
    # two failed creates starts the count again, and where the third failure in a row falls
    # depends on how the threads interleave; that it falls, and stops Komet, does not.
    workers = 4
    case = Case(sim).rules(concurrency=workers)
    case.shop(12, seed=8)
    report = case.cycle(at("web-order.create", RESET, times=12))
    creates = [k for s, n, k in case.log.calls if n == "web-order.create"]
    assert set(creates) == {RESET} and 3 <= len(creates) < 12, creates
    assert any(n.startswith("komet calls stopped") for n in report.notes), report.notes
    assert "komet_unavailable" in report.held_back.values(), report.held_back
    resumed = case.cycle()
    assert resumed.held_back == {}
    assert (
        report.counters()["orders_acknowledged"] + resumed.counters()["orders_acknowledged"] == 12
    )
    spent = Case(sim).rules(concurrency=workers)
    spent.shop(8, seed=9)
    _spend_quota(spent)
    # A Komet whose quota is spent refuses every create, not just the first: with one refusal
    # only, a create already on its way when it came back got through, and its order was
    # invoiced before its worker saw the stop (a race of the test's making, not a call after it)
    parked = spent.cycle(at("web-order.create", RATE_LIMIT, times=8))
    assert set(parked.parked_table()["reason"]) == {"quota"}
    assert parked.counters()["orders_parked"] == 8, (
        parked.counters(),
        parked.notes,
        parked.held_back,
    )
    assert sum(1 for s, n, _ in spent.log.calls if n == "web-order.create") <= workers
    assert case.problems() == [] and spent.problems(final=False) == []


def test_a_call_inside_a_state_transaction_is_caught(sim: SimWorld) -> None:
    # Every call of these tests and the simulation goes through this check (sim/inproc.py):
    # no step may hold the store (every other worker's writes) for a call's latency.
    case = Case(sim)
    clients = sim.clients(case.store, lambda s, n: OK, case.log)
    with pytest.raises(CallInTransaction), case.store.atomic():
        clients.komet.customer_carriers_list(
            case.profile.ftd_customer_id, date.today(), date.today(), date.today()
        )
    assert case.log.calls == []  # it never went out


class Gate(httpx.BaseTransport):
    """Holds each of the first `parties` creates until that many are on their way at once
    (a barrier): orders moved one at a time never get there, and the barrier breaks."""

    def __init__(self, inner: httpx.BaseTransport, parties: int) -> None:
        self.inner = inner
        self.barrier = threading.Barrier(parties, timeout=10)
        self.left = parties
        self.lock = threading.Lock()
        self.held: list[int] = []  # the web orders Komet made for the creates held

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        wait = False
        if request.url.path.endswith("/web-order.create"):
            with self.lock:
                wait, self.left = self.left > 0, self.left - 1
            if wait:
                self.barrier.wait()  # BrokenBarrierError: not that many in flight
        response = self.inner.handle_request(request)
        if wait:
            response.read()
            with self.lock:
                self.held.append(int(json.loads(response.content)["webOrderId"]))
        return response


@pytest.mark.parametrize("workers", [2, 4])
def test_orders_are_in_flight_at_once_and_each_is_recorded_before_its_calls(
    sim: SimWorld, workers: int
) -> None:
    case = Case(sim).rules(concurrency=workers)
    made = case.shop(8, seed=3)["orders"]
    gates: list[Gate] = []

    def gate(inner: httpx.BaseTransport) -> httpx.BaseTransport:
        gates.append(Gate(inner, workers))
        return gates[-1]

    report = case.cycle(wrap=gate)
    assert not gates[0].barrier.broken  # `workers` creates were in flight together
    assert report.counters()["orders_acknowledged"] == len(made)
    assert case.problems(final=False) == []
    # Oldest first to start: the creates held at the barrier are the oldest orders'. (Not the
    # lowest web order ids: once released, a worker may finish its order and create the next
    # one before another held create reaches Komet.)
    queue = case.ledger().orders()  # the pipeline's order: oldest received first
    webs = [int(o.web_order_id or 0) for o in queue]
    assert len(gates[0].held) == workers
    assert set(webs[:workers]) == set(gates[0].held)


def test_one_order_at_a_time_stays_in_the_runs_own_thread(sim: SimWorld) -> None:
    case = Case(sim).rules(concurrency=1)
    case.shop(3, seed=4)
    assert case.cycle().counters()["orders_acknowledged"] == 3
    assert case.log.threads == {threading.get_ident()}  # every call from the run's own thread


def test_one_failure_stops_only_its_own_order(sim: SimWorld) -> None:
    case = Case(sim)
    case.shop(5, seed=8)
    report = case.cycle(at("web-order.create", RESET, times=2))
    assert report.counters()["orders_acknowledged"] == 3  # two lost creates, three through
    assert sorted(report.held_back.values()) == ["outcome_unknown"] * 2
    assert case.problems(final=False) == []


def test_a_short_rate_limit_is_waited_out_within_the_cycle(sim: SimWorld) -> None:
    case = Case(sim).rules(concurrency=1)  # the exact calls of one order after another
    case.shop(2, seed=6)
    report = case.cycle(_limited_acks(3))  # the client's 3 attempts all refused
    assert case.waits == [1.0]  # FTD's Retry-After, waited out once
    assert report.counters()["orders_acknowledged"] == 2 and report.held_back == {}
    assert case.problems() == []


def test_a_longer_rate_limit_defers_orders_without_hammering(sim: SimWorld) -> None:
    case = Case(sim).rules(concurrency=1)  # the exact calls of one order after another
    case.shop(2, seed=6)
    report = case.cycle(_limited_acks(6))  # still refused after the wait
    assert set(report.held_back.values()) == {"ftd_rate_limited"}
    acks = [n for s, n, _ in case.log.calls if n.endswith("/acknowledge")]
    assert len(acks) == 6  # the other order waited out the pause without a call
    assert report.parked_table()["retries"].all()
    resumed = case.cycle()
    assert resumed.counters()["orders_acknowledged"] == 2 and resumed.held_back == {}
    assert case.problems() == []


def test_a_lost_create_is_created_again_and_its_empty_header_listed(sim: SimWorld) -> None:
    case = Case(sim)
    (order_id,) = case.shop(1)["orders"]
    first = case.cycle(at("web-order.create", DROP))
    creates = [k for s, n, k in case.log.calls if n == "web-order.create"]
    assert creates == [DROP]  # never twice in one cycle
    assert list(first.parked_table()["reason"]) == ["outcome_unknown"]
    assert first.counters()["orphan_headers"] == 1
    assert list(first.orphans_table()["order_id"]) == [order_id]
    # Never a listing of web orders without a webOrderId (Komet documents it as required).
    lists = [k for s, n, k in case.log.calls if n == "web-order-details.list"]
    assert lists == []
    case.cycle()
    assert case.ftd(order_id)["status"] == "ACKNOWLEDGED"
    web = case.dump()["komet"]["web_orders"]
    assert len(web) == 2 and sum(1 for w in web if not w["items"]) == 1  # the orphan, bare
    assert case.problems() == []  # accounted for by the recorded lost create


def test_an_unsettled_create_waits_for_its_own_window_and_blocks_no_one(sim: SimWorld) -> None:
    case = Case(sim).rules(unknown_settle_seconds=60)
    first, second = case.shop(2, seed=4)["orders"]
    t0 = datetime.now(UTC)
    report = case.cycle(at("web-order.create", ERROR), now=t0)
    assert list(report.parked_table()["reason"]) == ["outcome_unknown"]
    assert report.counters()["orders_acknowledged"] == 1  # the other order went on
    assert sum(1 for s, n, _ in case.log.calls if n == "web-order.create") == 2
    soon = case.cycle(now=t0 + timedelta(seconds=30))  # inside the window: no create again
    assert sum(1 for s, n, _ in case.log.calls if n == "web-order.create") == 2
    assert soon.counters()["orders_held_back"] == 1
    later = case.cycle(now=t0 + timedelta(seconds=61))
    assert later.counters()["orders_acknowledged"] == 1
    assert case.problems() == []


def test_a_line_whose_answer_was_lost_is_read_back_not_sent_twice(sim: SimWorld) -> None:
    case = Case(sim)
    (order_id,) = case.shop(1, seed=2)["orders"]
    case.cycle(at("web-order-item.add", DROP))
    adds = [k for s, n, k in case.log.calls if n == "web-order-item.add"]
    assert adds.count(DROP) == 1 and len(adds) == len(case.ftd(order_id)["lines"])
    assert case.problems() == []


def test_oversold_lines_are_rejected_and_an_empty_web_order_deleted(sim: SimWorld) -> None:
    case = Case(sim)
    (order_id,) = case.shop(1, seed=6)["orders"]
    for line in case.ftd(order_id)["lines"]:
        komet_db.take_offer_stock(sim.twins.db, line["offer_id"])
    report = case.cycle()
    assert report.counters()["orders_rejected"] == 1
    ftd = case.ftd(order_id)
    assert ftd["status"] == "REJECTED"
    assert {d["reason_code"] for d in ftd["acknowledgement"]["lines"]} == {"OUT_OF_STOCK"}
    assert [w["status"] for w in case.dump()["komet"]["web_orders"]] == [3]  # deleted
    assert case.problems() == []


def test_accept_partial_takes_the_boxes_komet_still_has(sim: SimWorld) -> None:
    case = Case(sim).rules(accept_partial=True)
    made = case.shop(6, seed=8)["orders"]
    order_id, line = next((o, ln) for o in made for ln in case.ftd(o)["lines"] if ln["boxes"] >= 2)
    komet_db.set_boxes(sim.twins.db, {line["offer_id"].removeprefix("om:"): 1})
    case.cycle()
    decision = next(
        d for d in case.ftd(order_id)["acknowledgement"]["lines"] if d["line_id"] == line["line_id"]
    )
    assert (decision["decision"], decision["boxes_accepted"]) == ("ACCEPT", 1)
    assert decision["reason_code"] == "PARTIAL_STOCK"
    assert case.problems() == []


def test_the_report_says_what_sold_and_what_komet_said_it_has_left(sim: SimWorld) -> None:
    # H4's stock freshness reads these: the offers FTD just sold, and Komet's availableBoxes.
    case = Case(sim)
    made = case.shop(4, seed=8)["orders"]
    lines = [ln for o in made for ln in case.ftd(o)["lines"]]
    sold: dict[str, int] = {}
    for ln in lines:
        sold[ln["offer_id"]] = sold.get(ln["offer_id"], 0) + ln["boxes"]
    short = lines[0]["offer_id"]
    komet_db.take_offer_stock(sim.twins.db, short)
    report = case.cycle()
    assert report.sold_offers() == sold
    assert report.komet_available() == {short: 0}
    again = case.cycle()  # nothing new sold, nothing refused: both empty
    assert again.sold_offers() == {} and again.komet_available() == {}
    assert case.problems() == []


def test_confirmed_invoices_are_reported_to_ftd_with_their_number(sim: SimWorld) -> None:
    case = Case(sim)
    (order_id,) = case.shop(1)["orders"]
    case.cycle()
    assert komet_db.confirm_invoices(sim.twins.db, None)
    report = case.cycle()
    assert report.counters()["orders_confirmed"] == 1
    invoice = case.dump()["komet"]["invoices"][-1]
    update = case.ftd(order_id)["status_updates"][-1]
    assert (update["status"], update["invoice_number"]) == ("CONFIRMED", invoice["number"])
    table = report.orders_table()
    assert table.loc[0, "invoice_number"] == invoice["number"]


def test_a_refused_token_parks_and_a_released_order_moves_again(sim: SimWorld) -> None:
    case = Case(sim)
    (order_id,) = case.shop(1)["orders"]
    tokens = sim.twins.komet_info["tokens"]
    good = tokens["customer"]
    tokens["customer"] = komet_db.add_token(
        sim.twins.db,
        "customer",
        int(sim.twins.komet_info["ftd_customer_id"]),
        ["web-order-details.list", "ecommerce/customer-carriers.list"],
    )
    try:
        report = case.cycle()
    finally:
        tokens["customer"] = good
    assert list(report.parked_table()["reason"]) == ["komet_token_refused"]
    release_order(case.store, case.profile.name, order_id, "token fixed")
    assert case.cycle().counters()["orders_acknowledged"] == 1
    assert case.problems() == []


def test_a_cancel_asked_while_confirming_is_not_overruled(sim: SimWorld) -> None:
    """FTD reads CONFIRMED on a CANCEL_REQUESTED order as declining the cancellation."""
    case = Case(sim)
    (order_id,) = case.shop(1)["orders"]
    case.cycle()
    komet_db.confirm_invoices(sim.twins.db, None)

    def buyer_cancels_meanwhile(service: str, name: str) -> str:
        if name == "invoice.list":  # after this cycle's listing, before the CONFIRMED
            with sim.twins.db.atomic() as conn:
                ftd_shop.cancel(
                    conn, order_id=order_id, count=None, rng=random.Random(0), now=datetime.now(UTC)
                )
        return OK

    report = case.cycle(buyer_cancels_meanwhile)
    assert case.ftd(order_id)["status"] == "CANCEL_REQUESTED"
    assert list(report.parked_table()["reason"]) == ["cancel_after_invoice"]
    assert case.ledger().get(order_id).state == "cancel_review"
    assert case.problems() == []
