"""Deterministic simulation of the order pipeline against both twins, in-process.

Thousands of seeded schedules of orders, faults (error, hang, reset, drop-after-commit,
rate-limit at any call; a hung Komet write may land later), crashes (before or after any call,
or the runner's parent killed mid-call while a second run tries to start), a value for each
Komet switch the twin honours, and people (the sales rep confirms or voids, buyers cancel,
florists keep buying), on a virtual 5-minute clock with the real settle window. After each: the
order invariants hold, every order is through within two calm cycles, none is parked for a
reason retrying cures, and every order is final once the sales rep has decided.

    pytest tests/test_orders_sim.py                      # SIM_SCHEDULES schedules (10000)
    SIM_SEED=123 pytest tests/test_orders_sim.py -s      # replay one seed, trace printed

The schedules run in two forked processes, one per core (`WORKERS`).
"""

from __future__ import annotations

import gc
import json
import logging
import multiprocessing
import os
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from conftest import KIT_TEMPLATE
from sim.harness import (
    CONCURRENCY,
    FaultSchedule,
    PostgresState,
    SimWorld,
    _cycle,
    honoured_switches,
    run_schedule,
)
from sim.inproc import KINDS, OK, CallLog, virtual_time
from sim.variants import NoWebOrderIdKomet

from komet_ftd_ops.komet import KometClient
from komet_ftd_ops.komet.switches import SWITCHES
from komet_ftd_ops.orders import process_orders
from komet_ftd_ops.sandbox.ftd import shop as ftd_shop
from komet_ftd_ops.sandbox.komet import db as komet_db
from komet_ftd_ops.testing.invariants import violations

SCHEDULES = int(os.environ.get("SIM_SCHEDULES", "10000"))
# The first of the same seeds again with the kit's state in PostgreSQL (a database per schedule).
PG_SCHEDULES = int(os.environ.get("SIM_PG_SCHEDULES", str(min(100, SCHEDULES))))
WORKERS = 2
STEPS = ("web-order.create", "web-order-item.add", "web-order.checkout", "POST orders/acknowledge")

_world: SimWorld | None = None


@pytest.fixture(autouse=True)
def _logging_back_on() -> Iterator[None]:
    """The tests here silence the clients' retry warnings; later tests need them back."""
    yield
    logging.disable(logging.NOTSET)


def _init_worker(postgres: Any = None) -> None:
    global _world
    # A forked worker inherits pytest's whole heap: without this, every full collection walks it.
    gc.freeze()
    logging.disable(logging.WARNING)  # the clients log every retry; thousands of them here
    _world = SimWorld(postgres=None if postgres is None else PostgresState(postgres, KIT_TEMPLATE))


def _run_seeds(seeds: list[int]) -> dict[str, Any]:
    assert _world is not None
    failed, calls, crashes, orders, late = [], Counter(), 0, 0, 0
    drawn: Counter[tuple[str, str]] = Counter()
    for seed in seeds:
        outcome = run_schedule(_world, seed)
        drawn[("concurrency", str(outcome.concurrency))] += 1
        if outcome.concurrency > 1 and outcome.threads > 2:
            drawn[("calls from", "several workers")] += 1
        calls.update(outcome.calls)
        crashes += outcome.crashes
        orders += outcome.orders
        late += outcome.late_writes
        drawn.update(outcome.switches.items())
        if outcome.problems:
            failed.append(outcome.describe())
    return {
        "failed": failed,
        "calls": calls,
        "crashes": crashes,
        "orders": orders,
        "late": late,
        "drawn": drawn,
    }


@pytest.mark.slow
@pytest.mark.timeout(2400)  # see the README's test timings; a busy machine needs more
def test_every_schedule_keeps_every_order_exactly_once() -> None:
    if os.environ.get("SIM_SEED"):
        _init_worker()
        assert _world is not None
        outcome = run_schedule(_world, int(os.environ["SIM_SEED"]))
        print(outcome.describe())
        assert not outcome.problems, outcome.describe()
        return
    seeds = list(range(SCHEDULES))
    chunks = [seeds[i::WORKERS] for i in range(WORKERS)]
    with multiprocessing.get_context("fork").Pool(WORKERS, initializer=_init_worker) as pool:
        results = pool.map(_run_seeds, chunks)
    failed = [text for r in results for text in r["failed"]]
    calls: Counter[tuple[str, str, str]] = sum((r["calls"] for r in results), Counter())
    assert not failed, (
        f"{len(failed)} of {SCHEDULES} schedules broke an invariant; replay one with "
        f"SIM_SEED=<seed> pytest tests/test_orders_sim.py -s\n\n" + "\n\n".join(failed[:3])
    )
    # The schedules really did hit every step with every fault and crash kind.
    for step in STEPS:
        service = "ftd" if step.startswith("POST") else "komet"
        for kind in KINDS:
            assert calls[(service, step, kind)] > 0, f"no {kind} at {step} in {SCHEDULES} schedules"
    assert sum(r["crashes"] for r in results) > SCHEDULES // 2
    assert sum(r["orders"] for r in results) > SCHEDULES
    assert sum(r["late"] for r in results) > 0, "no hung write ever landed later"
    drawn: Counter[tuple[str, str]] = sum((r["drawn"] for r in results), Counter())
    for name in honoured_switches():  # every value of every switch the twin honours, drawn
        for value in SWITCHES[name].values:
            assert drawn[(name, value)] > 0, f"switch {name}={value} never drawn"
    for workers in CONCURRENCY:  # serial, and two or more orders in flight at once
        assert drawn[("concurrency", str(workers))] > 0, f"concurrency {workers} never drawn"
    assert drawn[("calls from", "several workers")] > 0, "no schedule had two workers calling"


@pytest.mark.slow
@pytest.mark.postgres
def test_a_share_of_the_schedules_on_postgresql(postgres_server: Any, _kit_template: str) -> None:
    """The first PG_SCHEDULES seeds with the state (and the profile lock) in PostgreSQL.
    Replay one: SIM_SEED=<seed> pytest tests/test_orders_sim.py -k postgresql -s"""
    if os.environ.get("SIM_SEED"):
        _init_worker(postgres_server)
        assert _world is not None
        outcome = run_schedule(_world, int(os.environ["SIM_SEED"]))
        print(outcome.describe())
        assert not outcome.problems, outcome.describe()
        return
    seeds = list(range(PG_SCHEDULES))
    chunks = [seeds[i::WORKERS] for i in range(WORKERS)]
    context = multiprocessing.get_context("fork")
    with context.Pool(WORKERS, initializer=_init_worker, initargs=(postgres_server,)) as pool:
        results = pool.map(_run_seeds, chunks)
    failed = [text for r in results for text in r["failed"]]
    assert not failed, (
        f"{len(failed)} of {PG_SCHEDULES} schedules on PostgreSQL broke an invariant; replay "
        f"one with SIM_SEED=<seed> pytest tests/test_orders_sim.py -k postgresql -s\n\n"
        + "\n\n".join(failed[:3])
    )
    calls: Counter[tuple[str, str, str]] = sum((r["calls"] for r in results), Counter())
    assert sum(n for (_, _, kind), n in calls.items() if kind == "kill-parent") > 0
    assert sum(r["crashes"] for r in results) > PG_SCHEDULES // 2
    assert sum(r["orders"] for r in results) > PG_SCHEDULES


def test_a_schedule_replays_identically() -> None:
    # Serially: with workers, the OS orders the threads' calls (sim/harness.py).
    logging.disable(logging.WARNING)
    world = SimWorld()
    first, second = run_schedule(world, 4242, 1), run_schedule(world, 4242, 1)
    assert first.trace == second.trace
    assert first.calls == second.calls and first.faults > 0


def _never(service: str, name: str) -> str:
    return OK


def _same_day_pair(world: SimWorld, rng: random.Random) -> list[str]:
    """Florists check out until two orders ship the same day (the merge needs that)."""
    db = world.twins.db
    with db.atomic() as conn:
        made = ftd_shop.shop(
            conn,
            count=12,
            oversell=0.0,
            rng=rng,
            now=world.clock.now(),
            on_oversell=lambda offer: komet_db.take_offer_stock(db, offer),
        )
    by_day: dict[str, list[str]] = {}
    for row in db.query("SELECT order_id, body FROM ftd_orders ORDER BY order_id"):
        day = json.loads(row["body"])["requested_ship_date"]
        by_day.setdefault(day, []).append(row["order_id"])
    pairs = [ids for ids in by_day.values() if len(ids) > 1]
    assert pairs, f"no two orders ship the same day among {made['orders']}"
    return pairs[0]


def _offers(world: SimWorld, order_id: str) -> set[str]:
    body = world.twins.db.query("SELECT body FROM ftd_orders WHERE order_id=?", (order_id,))
    return {line["offer_id"].removeprefix("om:") for line in json.loads(body[0][0])["lines"]}


def _run_calm(world: SimWorld, komet_class: type[KometClient]) -> tuple[list[str], list[str]]:
    """Two same-day orders through three calm cycles; the broken invariants and the pair."""
    world.clock.reset()
    with virtual_time(world.clock):
        world.twins.restore()
        store = world.fresh_store()
        pair = _same_day_pair(world, random.Random(5))
        log = CallLog()
        for _ in range(3):
            clients = world.clients(store, _never, log, komet_class)
            process_orders(
                world.profile, store, clients, dry_run=False, run_id=None, now=world.clock.now()
            )
            world.clock.advance(300)
        dump = world.twins.dump()
    customer = world.profile.ftd_customer_id
    return violations(store, "sim", dump["komet"], dump["ftd"], customer), pair


def test_without_web_order_id_komet_merges_orders_and_the_check_catches_it() -> None:
    """The test that fails if webOrderId were not sent: the twin merges two FTD orders."""
    logging.disable(logging.WARNING)
    world = SimWorld()
    assert _run_calm(world, KometClient)[0] == []
    problems, (first, second) = _run_calm(world, NoWebOrderIdKomet)
    assert any("belongs to no FTD order" in p for p in problems), problems
    # The merge itself: one Komet web order holds lines of both FTD orders.
    a, b = _offers(world, first), _offers(world, second)
    merged = [
        w
        for w in world.twins.dump()["komet"]["web_orders"]
        if {i["inventoryIds"] for i in w["items"]} & a
        and {i["inventoryIds"] for i in w["items"]} & b
    ]
    assert merged, f"no web order holds lines of both {first} and {second}"


def test_cycle_helper_survives_a_crash() -> None:
    """A crash mid-cycle leaves nothing half-written: the next cycle finishes the order."""
    logging.disable(logging.WARNING)
    world = SimWorld()
    world.clock.reset()
    with virtual_time(world.clock):
        world.twins.restore()
        store = world.fresh_store()
        with world.twins.db.atomic() as conn:
            ftd_shop.shop(
                conn,
                count=2,
                oversell=0.0,
                rng=random.Random(1),
                now=world.clock.now(),
                on_oversell=lambda offer: None,
            )
        calls = iter(["ok", "ok", "ok", "crash-after"])

        def crash_on_fourth(service: str, name: str) -> str:
            return next(calls, OK)

        log, trace = CallLog(), []
        assert _cycle(world, store, world.profile, crash_on_fourth, log, trace) is False
        for _ in range(3):  # 5 virtual minutes apart: past the 60 s settle window each time
            assert _cycle(world, store, world.profile, _never, log, trace)
        dump = world.twins.dump()
    assert violations(store, "sim", dump["komet"], dump["ftd"], world.profile.ftd_customer_id) == []
    assert {o["status"] for o in dump["ftd"]["orders"]} == {"ACKNOWLEDGED"}


def test_the_liveness_check_catches_an_order_that_never_drains() -> None:
    """With a settle window longer than the calm cycles, a lost write is never re-sent in
    time: the schedule must report the stalled order, not pass it as 'safe'."""
    logging.disable(logging.WARNING)
    world = SimWorld()
    day = 24 * 3600
    world.profile = replace(
        world.profile, orders=replace(world.profile.orders, unknown_settle_seconds=day)
    )
    stalled = [run_schedule(world, seed) for seed in range(40)]
    stuck = [o for o in stalled if any("not through" in p for p in o.problems)]
    assert stuck, "no schedule with a day-long settle window was reported as stalled"


def test_a_second_run_is_refused_only_while_a_cycle_holds_the_lock() -> None:
    """The overlap detector bites: outside a cycle nothing holds the lock, so a second run
    would start (counted as an overlap); inside, the lock refuses it."""
    logging.disable(logging.WARNING)
    world = SimWorld()
    idle = FaultSchedule(random.Random(3), rate=0.0, crash_rate=1.0)
    idle.second_run_refused = world.second_run_refused
    kinds = [idle("komet", "web-order.create") for _ in range(60)]
    assert "kill-parent" in kinds and idle.overlaps == kinds.count("kill-parent")
    outcomes = [run_schedule(world, seed) for seed in range(30)]
    kills = sum(n for o in outcomes for (_, _, kind), n in o.calls.items() if kind == "kill-parent")
    assert kills > 0
    assert not [p for o in outcomes for p in o.problems if "second run" in p]
