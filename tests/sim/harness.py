"""The deterministic simulation: one seed → one schedule of orders, faults, crashes and people.

A schedule: florists check out on FTD (some buying stock Komet already sold), then a few cycles
of the order pipeline run while the network misbehaves and the process crashes, the sales rep
confirms or voids invoices and buyers ask to cancel; then the network calms down and cycles run
until nothing is left to do. The invariants (`komet_ftd_ops.testing.invariants`) must hold at the end.

A crash is a `SimCrash` raised at a call: the pipeline's objects are dropped and the next cycle
starts from the ledger alone, as a restarted process would. Everything random comes from
`random.Random(seed)`, so a failing seed replays exactly: `SIM_SEED=123 pytest
tests/test_orders_sim.py`.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from komet_ftd_ops.connect import Clients
from komet_ftd_ops.ftd import FtdClient, FtdConfig
from komet_ftd_ops.http.retry import RetryPolicy
from komet_ftd_ops.komet import KometClient, KometConfig
from komet_ftd_ops.orders import OrderLedger, process_orders
from komet_ftd_ops.sandbox.ftd import shop as ftd_shop
from komet_ftd_ops.sandbox.ftd.http import meta_put
from komet_ftd_ops.sandbox.komet import db as komet_db
from komet_ftd_ops.settings.profiles import OrderRules, Profile
from komet_ftd_ops.settings.secrets import Secret
from komet_ftd_ops.state.calls import CallCounter
from komet_ftd_ops.state.store import Store
from komet_ftd_ops.sync import run_cycle
from komet_ftd_ops.testing.invariants import violations

from .inproc import FTD_BASE, KINDS, KOMET_BASE, OK, CallLog, InProcessTwins, SimCrash

CENT = Decimal("0.01")
CALM_CYCLES = 12  # after the faults stop, cycles until every order must have settled


def _noop_sleep(seconds: float) -> None:
    return None


class SimWorld:
    """Twins in-process plus a kit store with published offers, both restorable per schedule."""

    def __init__(self, lines: int = 300, twin_seed: int = 7) -> None:
        self.twins = InProcessTwins(lines=lines, seed=twin_seed)
        info = self.twins.komet_info
        self.profile = Profile(
            name="sim",
            komet_base_url=KOMET_BASE,
            komet_company_id=info["company_id"],
            ftd_customer_id=info["ftd_customer_id"],
            komet_token_ref="env:UNUSED",
            ftd_base_url=FTD_BASE,
            ftd_supplier_id=self.twins.ftd_info["supplier_id"],
            ftd_token_ref="env:UNUSED",
            orders=OrderRules(unknown_settle_seconds=0, confirm_every_minutes=0),
        )
        self.kit_template = Store(":memory:")
        # One calm sync cycle lists the inventory on FTD and fills `published_offers`.
        clients = self.clients(self.kit_template, lambda s, n: OK, CallLog())
        run_cycle(self.profile, self.kit_template, clients)
        self.twins.save_template()

    def clients(
        self, store: Store, decide: Any, log: CallLog, komet_class: type[KometClient] = KometClient
    ) -> Clients:
        """Fresh client objects: nothing in them survives a simulated crash."""
        info = self.twins.komet_info
        komet = komet_class(
            KometConfig(
                base_url=KOMET_BASE,
                company_id=info["company_id"],
                token=Secret(info["tokens"]["customer"]),
                retry=RetryPolicy(attempts=3),
            ),
            transport=self.twins.transport("komet", decide, log),
            on_call=CallCounter(store, "komet"),
            sleep=_noop_sleep,
        )
        ftd = FtdClient(
            FtdConfig(
                base_url=FTD_BASE,
                supplier_id=self.twins.ftd_info["supplier_id"],
                token=Secret(self.twins.ftd_info["token"]),
                retry=RetryPolicy(attempts=3),
            ),
            transport=self.twins.transport("ftd", decide, log),
            sleep=_noop_sleep,
        )
        return Clients(komet=komet, ftd=ftd, calls=CallCounter(store, "komet"))

    def fresh_store(self) -> Store:
        store = Store(":memory:")
        self.kit_template.conn.backup(store.conn)
        return store


@dataclass
class Outcome:
    seed: int
    problems: list[str]
    trace: list[str] = field(default_factory=list)
    crashes: int = 0
    faults: int = 0
    orders: int = 0
    calls: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # service, name, kind

    def describe(self) -> str:
        head = (
            f"seed {self.seed}: {self.orders} orders, {self.faults} faults, "
            f"{self.crashes} crashes, {len(self.problems)} problems"
        )
        return "\n".join([head, *self.problems, "-- trace --", *self.trace])


class FaultSchedule:
    """Per call: a fault kind drawn from the seed, while `on`."""

    def __init__(self, rng: random.Random, rate: float, crash_rate: float) -> None:
        self.rng = rng
        self.rate = rate
        self.crash_rate = crash_rate
        self.on = True

    def __call__(self, service: str, name: str) -> str:
        if not self.on:
            return OK
        draw = self.rng.random()
        if draw < self.crash_rate:
            return self.rng.choice(KINDS[-2:])
        if draw < self.crash_rate + self.rate:
            return self.rng.choice(KINDS[:-2])
        return OK


def _people(world: SimWorld, rng: random.Random, trace: list[str]) -> None:
    """Between cycles: the sales rep and the buyers act (or not)."""
    db, now = world.twins.db, datetime.now(UTC)
    roll = rng.random()
    if roll < 0.3:
        trace.append(f"rep confirms {komet_db.confirm_invoices(db, None)}")
    elif roll < 0.45:
        with db.atomic() as conn:
            asked = ftd_shop.cancel(conn, order_id=None, count=1, rng=rng, now=now)
        trace.append(f"buyer asks to cancel {asked['orders']}")
    elif roll < 0.55:
        # The sales rep voids only what a buyer asked to cancel (the pipeline parks those).
        rows = db.query(
            "SELECT i.id FROM komet_invoices i JOIN ftd_orders f ON f.order_number = i.customer_po "
            "WHERE i.status IN (0, 1) AND f.status = 'CANCEL_REQUESTED' ORDER BY i.id"
        )
        if rows:
            invoice = rng.choice(rows)[0]
            komet_db.void_invoice(db, invoice)
            trace.append(f"rep voids invoice {invoice}")
    elif roll < 0.65:
        _shop(world, rng, trace, rng.randint(1, 2))


def _shop(world: SimWorld, rng: random.Random, trace: list[str], count: int) -> None:
    db = world.twins.db
    oversell = rng.choice((0.0, 0.0, 0.5))
    with db.atomic() as conn:
        made = ftd_shop.shop(
            conn,
            count=count,
            oversell=oversell,
            rng=rng,
            now=datetime.now(UTC),
            on_oversell=lambda offer: komet_db.take_offer_stock(db, offer),
        )
    trace.append(f"florists check out {made['orders']} (oversold {made['oversold_offers']})")
    if made["orders"] and rng.random() < 0.15:
        _tamper(world, rng.choice(made["orders"]), rng, trace)


def _tamper(world: SimWorld, order_id: str, rng: random.Random, trace: list[str]) -> None:
    """An order that must be parked: a price we never published, or a ship date already past."""
    db = world.twins.db
    body = json.loads(db.query("SELECT body FROM ftd_orders WHERE order_id=?", (order_id,))[0][0])
    if rng.random() < 0.5:
        line = body["lines"][-1]
        line["price_per_unit"] = str((Decimal(line["price_per_unit"]) * 3 / 2).quantize(CENT))
        trace.append(f"{order_id} line {line['line_id']} paid {line['price_per_unit']}")
    else:
        body["requested_ship_date"] = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
        trace.append(f"{order_id} ship date moved to {body['requested_ship_date']}")
    with db.atomic() as conn:
        conn.execute("UPDATE ftd_orders SET body=? WHERE order_id=?", (json.dumps(body), order_id))


def _cycle(
    world: SimWorld,
    store: Store,
    profile: Profile,
    faults: FaultSchedule,
    log: CallLog,
    trace: list[str],
) -> bool:
    """One cycle with fresh objects; False when the process 'died' in it."""
    clients = world.clients(store, faults, log)
    before = len(log.calls)
    try:
        report = process_orders(
            profile,
            store,
            clients,
            dry_run=False,
            run_id=None,
            now=datetime.now(UTC),
            sleep=_noop_sleep,  # a short Retry-After is waited out: not in real time here
        )
    except SimCrash as crash:
        trace.append(f"  CRASH {crash} after {len(log.calls) - before} calls")
        return False
    finally:
        clients.komet.close()
        clients.ftd.close()
    counters = {k: v for k, v in report.counters().items() if v}
    trace.append(f"  cycle: {counters} calls={log.calls[before:]}")
    return True


def _settled(store: Store, profile: Profile) -> bool:
    ledger = OrderLedger(store, profile.name)
    return not [o for o in ledger.open_orders() if not o.held and o.state != "acknowledged"]


def run_schedule(world: SimWorld, seed: int) -> Outcome:
    rng = random.Random(seed)
    world.twins.restore()
    store = world.fresh_store()
    profile = replace(
        world.profile,
        orders=replace(world.profile.orders, accept_partial=rng.random() < 0.3),
    )
    trace: list[str] = [f"accept_partial={profile.orders.accept_partial}"]
    with world.twins.db.atomic() as conn:
        meta_put(
            conn,
            "settings",
            {"feed_processing_ms": 0, "listing_noise": rng.choice((0.0, 0.0, 0.3))},
        )
    if rng.random() < 0.2:
        komet_db.update_settings(world.twins.db, {"autoconfirm": True})
    _shop(world, rng, trace, rng.randint(1, 4))
    faults = FaultSchedule(
        rng, rate=rng.choice((0.1, 0.25, 0.5)), crash_rate=rng.choice((0.0, 0.05, 0.15))
    )
    log, crashes = CallLog(), 0
    for n in range(rng.randint(2, 5)):
        trace.append(f"faulty cycle {n} (rate {faults.rate}, crash {faults.crash_rate})")
        crashes += not _cycle(world, store, profile, faults, log, trace)
        _people(world, rng, trace)
    faults.on = False
    for n in range(CALM_CYCLES):
        trace.append(f"calm cycle {n}")
        _cycle(world, store, profile, faults, log, trace)
        if _settled(store, profile):
            if rng.random() < 0.5:
                trace.append(f"rep confirms {komet_db.confirm_invoices(world.twins.db, None)}")
                _cycle(world, store, profile, faults, log, trace)
            break
    dump = world.twins.dump()
    problems = violations(store, profile.name, dump["komet"], dump["ftd"], profile.ftd_customer_id)
    if not _settled(store, profile):
        problems.append("orders still moving after the calm cycles")
    outcome = Outcome(
        seed,
        problems,
        trace,
        crashes,
        sum(k != OK for _, _, k in log.calls),
        len(dump["ftd"]["orders"]),
        Counter(log.calls),
    )
    store.close()
    return outcome
