"""The deterministic simulation: one seed → one schedule of orders, faults, crashes and people.

A schedule: florists check out on FTD (some buying stock Komet already sold), then a few cycles
of the order pipeline run while the network misbehaves and the process crashes, the sales rep
confirms or voids invoices and buyers ask to cancel; then the network calms down. Time is
virtual: cycles are 5 minutes apart on a `VirtualClock` that both twins read too, and the order
rules are the profile's defaults, so the real settle window (60 s) decides when a lost write may
be re-sent, with no real waiting.

Checked at the end: safety, the invariants of `komet_ftd_ops.testing.invariants`; and liveness:
within `THROUGH_CYCLES` calm cycles every order is through (acknowledged or rejected to FTD, or
held for a person for a reason retrying cannot cure, and none parked for one it can), and once
the sales rep has decided (confirm, or void what a buyer cancelled) every order is final within
`FINAL_CYCLES` more.

A crash is a `SimCrash` raised at a call: the pipeline's objects are dropped and the next cycle
starts from the ledger alone, as a restarted process would. One kind is the runner's parent
killed mid-call: the kernel dies with it (the lock is held by every process of a run,
`runs/processes.py`), and a second run started at that moment must find the profile's lock held.
Each schedule also draws a value for each Komet switch the in-process twin honours
(`komet/switches.py`), and how many orders are in flight at once (`[orders] concurrency`: 1, 2
or 4, `CONCURRENCY`). Everything random comes from `random.Random(seed)`, so a failing seed
replays exactly (`SIM_SEED=123 pytest tests/test_orders_sim.py -s`) when its concurrency is 1;
with 2 or 4 the workers' threads interleave as the OS runs them, so the same draws may meet the
calls in another order (the trace names the concurrency; `run_schedule(..., concurrency=1)`
replays the schedule serially).
"""

from __future__ import annotations

import json
import random
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from komet_ftd_ops.connect import Clients
from komet_ftd_ops.ftd import FtdClient, FtdConfig
from komet_ftd_ops.http.retry import RetryPolicy
from komet_ftd_ops.komet import KometClient, KometConfig
from komet_ftd_ops.komet.switches import SWITCHES
from komet_ftd_ops.orders import OrderLedger, process_orders
from komet_ftd_ops.orders.ledger import ACKNOWLEDGED, CONFIRMING
from komet_ftd_ops.runs.processes import acquire_profile_lock
from komet_ftd_ops.sandbox.ftd import shop as ftd_shop
from komet_ftd_ops.sandbox.ftd.http import meta_put
from komet_ftd_ops.sandbox.komet import db as komet_db
from komet_ftd_ops.settings.home import Home
from komet_ftd_ops.settings.profiles import OrderRules, Profile
from komet_ftd_ops.settings.secrets import Secret
from komet_ftd_ops.state.calls import CallCounter
from komet_ftd_ops.state.store import Store
from komet_ftd_ops.sync import run_cycle
from komet_ftd_ops.testing.clock import CYCLE_SECONDS, VirtualClock, start_of_today
from komet_ftd_ops.testing.invariants import violations

from .inproc import (
    CRASHES,
    FAULTS,
    FTD_BASE,
    KILL_PARENT,
    KOMET_BASE,
    OK,
    CallLog,
    InProcessTwins,
    LateWrites,
    SimCrash,
    SimProcess,
    virtual_time,
)

CENT = Decimal("0.01")
THROUGH_CYCLES = 2  # calm cycles until every order is through to FTD (issue 10, point 3)
FINAL_CYCLES = 2  # once the sales rep has decided, cycles until every order is final
# The switches the in-process twin honours: those in the Komet twin's settings, plus
# `late_writes`, which the in-process transport plays (a hung write lands later).
TRANSPORT_SWITCHES = ("late_writes",)
CONCURRENCY = (1, 2, 4)  # orders in flight at once, one drawn per schedule


def honoured_switches() -> list[str]:
    return [n for n in SWITCHES if n in komet_db.DEFAULT_SETTINGS or n in TRANSPORT_SWITCHES]


def _noop_sleep(seconds: float) -> None:
    return None


def _same(transport: httpx.BaseTransport) -> httpx.BaseTransport:
    return transport


@dataclass
class PostgresState:
    """The kit's state in PostgreSQL for a simulation: the cluster, and the migrated database
    each world copies (then the world's own template, after its first calm cycle)."""

    cluster: Any  # tests/pg.py Cluster
    template: str | None


class SimWorld:
    """Twins in-process plus a kit store with published offers, both restorable per schedule."""

    def __init__(
        self, lines: int = 120, twin_seed: int = 7, postgres: PostgresState | None = None
    ) -> None:
        self.postgres = postgres  # None: the kit's state in SQLite (in memory)
        self.clock = VirtualClock(start_of_today())
        self.home = Home.at(Path(tempfile.mkdtemp(prefix="sim-home-")))  # the profile's lock
        with virtual_time(self.clock):
            self._build(lines, twin_seed)

    def _build(self, lines: int, twin_seed: int) -> None:
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
            orders=OrderRules(),  # the defaults: the real settle window (60 s)
        )
        self.kit_template = self._new_store()
        with self.twins.db.atomic() as conn:  # feeds are done at once: virtual time stands still
            meta_put(conn, "settings", {"feed_processing_ms": 0, "listing_noise": 0.0})
        # One calm sync cycle lists the inventory on FTD and fills `published_offers`.
        clients = self.clients(self.kit_template, lambda s, n: OK, CallLog())
        run_cycle(self.profile, self.kit_template, clients, now=self.clock.now())
        self.twins.save_template()
        if self.postgres is not None:  # a template database has no connection to it
            self.postgres.template = self.kit_template.url.database
            self.kit_template.close()
        self.kit = self._new_store()  # restored from the template per schedule (no migrations)

    def _new_store(self) -> Store:
        if self.postgres is None:
            return Store(":memory:")
        return Store(self.postgres.cluster.create_database(template=self.postgres.template))

    def clients(
        self,
        store: Store,
        decide: Any,
        log: CallLog,
        komet_class: type[KometClient] = KometClient,
        late: LateWrites | None = None,
        wrap: Callable[[httpx.BaseTransport], httpx.BaseTransport] | None = None,
    ) -> Clients:
        """Fresh client objects: nothing in them survives a simulated crash (one process:
        after a crash at any call, every call of these clients crashes)."""
        info = self.twins.komet_info
        process = SimProcess()
        komet = komet_class(
            KometConfig(
                base_url=KOMET_BASE,
                company_id=info["company_id"],
                token=Secret(info["tokens"]["customer"]),
                retry=RetryPolicy(attempts=3),
            ),
            transport=(wrap or _same)(self.twins.transport("komet", decide, log, late, process)),
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
            transport=self.twins.transport("ftd", decide, log, late, process),
            sleep=_noop_sleep,
        )
        return Clients(komet=komet, ftd=ftd, calls=CallCounter(store, "komet"))

    def fresh_store(self) -> Store:
        """The kit's store as after the first cycle: the template's pages copied over (on
        PostgreSQL: a new database copied from the template, the last one dropped)."""
        if self.postgres is None:
            self.kit_template.backup_to(self.kit)
            return self.kit
        used = self.kit.url.database
        self.kit.close()
        assert used is not None
        self.postgres.cluster.drop_database(used)
        self.kit = self._new_store()
        return self.kit

    def second_run_refused(self) -> bool:
        """A second run of the profile, started now: True when the profile's lock stops it."""
        with acquire_profile_lock(
            self.home, self.profile.name, note="second run", store=self.kit
        ) as lock:
            return lock.held_by is not None


@dataclass
class Outcome:
    seed: int
    problems: list[str]
    trace: list[str] = field(default_factory=list)
    crashes: int = 0
    faults: int = 0
    orders: int = 0
    calls: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # service, name, kind
    late_writes: int = 0  # hung writes that landed on Komet later
    switches: dict[str, str] = field(default_factory=dict)  # the Komet switches drawn
    concurrency: int = 1  # orders in flight at once
    threads: int = 0  # threads that made calls (the workers, and the run's own thread)

    def describe(self) -> str:
        head = (
            f"seed {self.seed}: {self.orders} orders, {self.faults} faults, "
            f"{self.crashes} crashes, {len(self.problems)} problems"
        )
        return "\n".join([head, *self.problems, "-- trace --", *self.trace])


class FaultSchedule:
    """Per call: a fault kind drawn from the seed, while `on`.

    At a `KILL_PARENT` the runner's parent dies while the kernel is inside the call; a second
    run started right then must be refused by the lock (`overlaps` counts those that were not).
    """

    def __init__(
        self,
        rng: random.Random,
        rate: float,
        crash_rate: float,
        second_run_refused: Any = None,
    ) -> None:
        self.rng = rng
        self.rate = rate
        self.crash_rate = crash_rate
        self.on = True
        self.second_run_refused = second_run_refused
        self.overlaps = 0

    def __call__(self, service: str, name: str) -> str:
        if not self.on:
            return OK
        draw = self.rng.random()
        if draw < self.crash_rate:
            kind = self.rng.choice(CRASHES)
            if kind == KILL_PARENT and self.second_run_refused is not None:
                self.overlaps += not self.second_run_refused()
            return kind
        if draw < self.crash_rate + self.rate:
            return self.rng.choice(FAULTS)
        return OK


def _people(world: SimWorld, rng: random.Random, trace: list[str]) -> None:
    """Between cycles: the sales rep and the buyers act (or not)."""
    db, now = world.twins.db, world.clock.now()
    roll = rng.random()
    if roll < 0.3:
        trace.append(f"rep confirms {komet_db.confirm_invoices(db, None)}")
    elif roll < 0.45:
        with db.atomic() as conn:
            asked = ftd_shop.cancel(conn, order_id=None, count=1, rng=rng, now=now)
        trace.append(f"buyer asks to cancel {asked['orders']}")
    elif roll < 0.55:
        # The sales rep voids only what a buyer asked to cancel (the pipeline parks those).
        cancelled = _voidable(db)
        if cancelled:
            invoice = rng.choice(cancelled)
            komet_db.void_invoice(db, invoice)
            trace.append(f"rep voids invoice {invoice}")
    elif roll < 0.65:
        _shop(world, rng, trace, rng.randint(1, 2))


def _voidable(db: Store) -> list[int]:
    """Open invoices holding only orders whose buyer asked to cancel. A merged invoice that
    also holds a live order is not voided whole (that would void the other order too): the
    sales rep takes the cancelled lines off it by hand, and the order stays with them."""
    answered = {}
    for row in db.query("SELECT status, acknowledgement FROM ftd_orders"):
        ack = json.loads(row["acknowledgement"] or "null") or {}
        if ack.get("supplier_ref"):
            answered[str(ack["supplier_ref"])] = row["status"]
    holds: dict[int, set[str]] = {}
    for row in db.query(
        "SELECT i.id, COALESCE(io.web_order_id, i.web_order_id) AS web_order FROM komet_invoices i "
        "LEFT JOIN komet_invoice_orders io ON io.invoice_id = i.id WHERE i.status IN (0, 1)"
    ):
        holds.setdefault(int(row["id"]), set()).add(str(row["web_order"]))
    return sorted(
        invoice
        for invoice, web_orders in holds.items()
        if all(answered.get(w) == "CANCEL_REQUESTED" for w in web_orders)
    )


def _shop(world: SimWorld, rng: random.Random, trace: list[str], count: int) -> None:
    db = world.twins.db
    oversell = rng.choice((0.0, 0.0, 0.5))
    with db.atomic() as conn:
        made = ftd_shop.shop(
            conn,
            count=count,
            oversell=oversell,
            rng=rng,
            now=world.clock.now(),
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
        body["requested_ship_date"] = (world.clock.now().date() - timedelta(days=1)).isoformat()
        trace.append(f"{order_id} ship date moved to {body['requested_ship_date']}")
    with db.atomic() as conn:
        conn.execute("UPDATE ftd_orders SET body=? WHERE order_id=?", (json.dumps(body), order_id))


def _cycle(
    world: SimWorld,
    store: Store,
    profile: Profile,
    faults: Any,
    log: CallLog,
    trace: list[str],
    late: LateWrites | None = None,
) -> bool:
    """One cycle with fresh objects, under the profile's lock, then 5 virtual minutes pass.

    False when the process 'died' in it. Writes held back by a slow Komet land before the next
    cycle, whatever happened to this one."""
    clients = world.clients(store, faults, log, late=late)
    before = len(log.calls)
    try:
        with acquire_profile_lock(world.home, profile.name, note="sim cycle", store=store) as lock:
            assert lock.held_by is None, f"the profile lock is held by {lock.held_by}"
            report = process_orders(
                profile,
                store,
                clients,
                dry_run=False,
                run_id=None,
                now=world.clock.now(),
                sleep=_noop_sleep,  # a short Retry-After is waited out: not in real time here
            )
    except SimCrash as crash:
        trace.append(f"  CRASH {crash} after {len(log.calls) - before} calls")
        return False
    finally:
        clients.komet.close()
        clients.ftd.close()
        if late is not None:
            late.flush(world.twins)
        world.clock.advance(CYCLE_SECONDS)
    counters = {k: v for k, v in report.counters().items() if v}
    trace.append(f"  cycle: {counters} calls={log.calls[before:]}")
    return True


def _moving(store: Store, profile: Profile) -> list[str]:
    """Orders not yet through to FTD and not held for a person: `id state` each."""
    ledger = OrderLedger(store, profile.name)
    waiting = (ACKNOWLEDGED, CONFIRMING)  # through: FTD has our answer; the rep decides next
    return [
        f"{o.order_id} {o.state}"
        for o in ledger.open_orders()
        if not o.held and o.state not in waiting
    ]


def _open(store: Store, profile: Profile) -> list[str]:
    """Orders not final and not held for a person."""
    ledger = OrderLedger(store, profile.name)
    return [f"{o.order_id} {o.state}" for o in ledger.open_orders() if not o.held]


def _curable(store: Store, profile: Profile) -> list[str]:
    """Orders parked for a reason a later cycle cures by itself (after the faults stopped)."""
    return [
        f"{o.order_id} parked as {o.park_reason} ({o.park_detail})"
        for o in OrderLedger(store, profile.name).orders()
        if o.parked and o.park_retry
    ]


def _draw_switches(world: SimWorld, rng: random.Random) -> dict[str, str]:
    """A value for each switch the in-process twin honours, written to the Komet twin."""
    drawn = {name: rng.choice(SWITCHES[name].values) for name in honoured_switches()}
    settings: dict[str, Any] = {}
    for name, value in drawn.items():
        if name not in komet_db.DEFAULT_SETTINGS:
            continue
        default = komet_db.DEFAULT_SETTINGS[name]
        settings[name] = int(value) if isinstance(default, int) else value
    if settings:
        komet_db.update_settings(world.twins.db, settings)
    return drawn


def _rep_decides(world: SimWorld, trace: list[str]) -> None:
    """The sales rep's last word: void what buyers cancelled, confirm everything else."""
    db = world.twins.db
    voided = _voidable(db)
    for invoice in voided:
        komet_db.void_invoice(db, invoice)
    trace.append(f"rep voids {voided}, confirms {komet_db.confirm_invoices(db, None)}")


def run_schedule(world: SimWorld, seed: int, concurrency: int | None = None) -> Outcome:
    """One schedule; `concurrency` overrides the one the seed draws (the draw still happens,
    so every other draw stays the seed's)."""
    world.clock.reset()
    with virtual_time(world.clock):
        return _schedule(world, seed, concurrency)


def _schedule(world: SimWorld, seed: int, concurrency: int | None) -> Outcome:
    rng = random.Random(seed)
    world.twins.restore()
    store = world.fresh_store()
    accept_partial = rng.random() < 0.3
    drawn = rng.choice(CONCURRENCY)
    profile = replace(
        world.profile,
        orders=replace(
            world.profile.orders,
            accept_partial=accept_partial,
            concurrency=concurrency or drawn,
        ),
    )
    trace: list[str] = [
        f"accept_partial={profile.orders.accept_partial} concurrency={profile.orders.concurrency}"
    ]
    with world.twins.db.atomic() as conn:
        meta_put(
            conn,
            "settings",
            {"feed_processing_ms": 0, "listing_noise": rng.choice((0.0, 0.0, 0.3))},
        )
    switches = _draw_switches(world, rng)
    trace.append(f"switches {switches}")
    if rng.random() < 0.2:
        komet_db.update_settings(world.twins.db, {"autoconfirm": True})
    _shop(world, rng, trace, rng.randint(1, 4))
    faults = FaultSchedule(
        rng,
        rate=rng.choice((0.1, 0.25, 0.5)),
        crash_rate=rng.choice((0.0, 0.05, 0.15)),
        second_run_refused=world.second_run_refused,
    )
    late = LateWrites(random.Random(rng.random()), on=switches.get("late_writes") == "later")
    log, crashes = CallLog(), 0
    for n in range(rng.randint(2, 5)):
        trace.append(f"faulty cycle {n} (rate {faults.rate}, crash {faults.crash_rate})")
        crashes += not _cycle(world, store, profile, faults, log, trace, late)
        _people(world, rng, trace)
    faults.on = False
    problems: list[str] = []
    if faults.overlaps:
        problems.append(f"{faults.overlaps} second run(s) started beside a killed runner's kernel")
    for n in range(THROUGH_CYCLES):
        trace.append(f"calm cycle {n}")
        _cycle(world, store, profile, faults, log, trace)
        if not _moving(store, profile):
            break
    problems += [
        f"not through {THROUGH_CYCLES} calm cycles after the faults: {o}"
        for o in _moving(store, profile)
    ]
    problems += [f"after the faults: {text}" for text in _curable(store, profile)]
    _rep_decides(world, trace)
    for n in range(FINAL_CYCLES):
        trace.append(f"final cycle {n}")
        _cycle(world, store, profile, faults, log, trace)
        if not _open(store, profile):
            break
    problems += [f"not final after the rep decided: {o}" for o in _open(store, profile)]
    dump = world.twins.dump()
    problems += violations(store, profile.name, dump["komet"], dump["ftd"], profile.ftd_customer_id)
    outcome = Outcome(
        seed,
        problems,
        trace,
        crashes,
        sum(k != OK for _, _, k in log.calls),
        len(dump["ftd"]["orders"]),
        Counter(log.calls),
        late.landed,
        switches,
        profile.orders.concurrency,
        len(log.threads),
    )
    return outcome
