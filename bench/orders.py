"""Benchmark of the order pipeline against the twin, in two modes.

    .venv/bin/python bench/orders.py [--orders 60] [--latency-ms 100] [--fault-rate 0]
    .venv/bin/python bench/orders.py --virtual [--orders 20] [--write-fault-rate 0.2]

Real latency (the default): a burst of N FTD orders of 3 lines each goes through pipeline runs
with 100 ms of latency on every call (Komet's and FTD's), once with `[orders] concurrency = 1`
(one order at a time) and once with 4 in flight, each on a twin of its own. The burst fits the
bench's quota: the sandbox profile has 1 paid user, 1,000 Komet calls a day, and a burst of 60
orders spends about 310 of them. Printed for each: orders per minute (wall, on a shared
machine), the kit's CPU per order (psutil: this process apart from the twin's), Komet calls
per order against the minimum (1 create + 1 add per line + 1 checkout = 5) and their ratio,
and apart from them the per-cycle calls: reads made once a cycle (or once per ship date) for
every order at once (`PER_CYCLE`: the witnesses' and invoice follower's invoice.list, the
invoice lines of a ship date, one carrier per ship date, the ship-to list refresh). Every other
Komet call is made for one order (a florist's new ship-to included). PASS needs, without
faults, >= 300 orders a minute with 4 in flight and a per-order ratio <= 1.05 in both runs;
exit 1 on a miss. `--fault-rate` adds the twin's error and drop-after-commit faults to Komet's
writes, to show what the read-backs cost (no targets then).

`--virtual`: the same orders on a virtual clock, cycles 5 minutes apart as in production, with
the profile's default settle window (60 s: a write whose answer was lost is read back and
re-sent only a cycle later). No latency and no real waiting. Printed, once calm and once under a
steady write-fault rate (default 20%: error and drop-after-commit, half each, on every Komet
write, never switched off): the cycles until every order is through (acknowledged or rejected to
FTD), the longest wait of any order, and the Komet calls per order.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from komet_ftd_ops.connect import open_clients
from komet_ftd_ops.orders import OrderLedger, process_orders
from komet_ftd_ops.orders.dates import earliest_ship_date
from komet_ftd_ops.sandbox import catalogue, control
from komet_ftd_ops.sandbox.ftd.orders import create_order
from komet_ftd_ops.sandbox.server import open_twin_db
from komet_ftd_ops.settings.home import Home
from komet_ftd_ops.settings.profiles import Profile, ShippingRules, load_profile
from komet_ftd_ops.state.store import Store
from komet_ftd_ops.sync import run_cycle
from komet_ftd_ops.testing.clock import CYCLE_SECONDS, VirtualClock
from komet_ftd_ops.testing.invariants import violations

LINES = 3
MINIMUM = 1 + LINES + 1  # create, one add per line, checkout
WRITES = ("web-order.create", "web-order-item.add", "web-order.checkout")
THROUGH = ("acknowledged", "rejected")  # FTD has the kit's answer
MAX_VIRTUAL_CYCLES = 48  # four virtual hours
# Komet reads made once a cycle (or once per ship date) for all the orders of the cycle.
PER_CYCLE = (
    "invoice.list",
    "invoice.details.list",
    "ecommerce/customer-carriers.list",
    "customer.shipto.list",
)
TARGET_PER_MINUTE = 300.0
TARGET_RATIO = 1.05
CONCURRENCY = (1, 4)


def _problems(sandbox: Any, store: Store, profile: Profile) -> list[str]:
    """Faults off, then the exactly-once invariants over both twins' state."""
    sandbox.clear_faults()
    dump = sandbox.dump()
    return violations(
        store, profile.name, dump["komet"], dump["ftd"], profile.ftd_customer_id, final=False
    )


def make_orders(home: Path, count: int, seed: int) -> list[str]:
    """`count` NEW orders of exactly 3 lines, 1 box each, written into the twin's own database.

    (The twin's shop makes 1 to 3 lines at random; the benchmark needs exactly 3.)
    """
    rng = random.Random(seed)
    db = open_twin_db(home)
    made = []
    with db.atomic() as conn:
        offers = [
            json.loads(r[0]) | {"_left": r[1]}
            for r in conn.execute(
                "SELECT body, quantity FROM ftd_offers WHERE quantity > 0 ORDER BY offer_id"
            )
        ]
        for n in range(count):
            # The first date the wholesaler's cutoff allows now (next day before 2 pm Eastern).
            ship = earliest_ship_date(datetime.now(UTC), ShippingRules())
            fits = [
                o
                for o in offers
                if o["_left"] > 0 and o["available_from"] <= ship.isoformat() <= o["available_to"]
            ]
            chosen = rng.sample(fits, LINES)
            # A regular florist of the twin's catalogue: Komet knows its ship-to.
            code, shop, street, city, state, zipcode, phone, *_ = catalogue.FLORISTS[
                n % len(catalogue.FLORISTS)
            ]
            lines = []
            for i, offer in enumerate(chosen, start=1):
                offer["_left"] -= 1
                lines.append(
                    {
                        "line_id": str(i),
                        "offer_id": offer["offer_id"],
                        "sku": offer["sku"],
                        "boxes": 1,
                        "box_type": offer["box_type"],
                        "units_per_box": offer["units_per_box"],
                        "price_per_unit": offer["price_per_unit"],
                    }
                )
            order = create_order(
                conn,
                order_number=str(8_000_000 + seed * 1000 + n),
                now=datetime.now(UTC),
                body={
                    "po_number": f"PO-B{n}",
                    "buyer": {"member_code": code, "name": shop},
                    "ship_to": {
                        "name": shop,
                        "address1": street,
                        "city": city,
                        "state": state,
                        "postal_code": zipcode,
                        "country": "US",
                        "phone": phone,
                    },
                    "requested_ship_date": ship.isoformat(),
                    "lines": lines,
                    "currency": "USD",
                    "notes": "",
                },
            )
            made.append(order["order_id"])
    db.close()
    return made


def run(
    count: int, latency_ms: int, fault_rate: float, seed: int, concurrency: int
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-orders-") as tmp:
        home = Path(tmp)
        info = control.up(Home.at(home), seed=seed)
        sandbox = control.SandboxControl(info)
        twin = psutil.Process(int(info["pid"]))
        try:
            base = load_profile("sandbox", Home.at(home))
            rules = replace(base.orders, unknown_settle_seconds=0, concurrency=concurrency)
            profile = replace(base, orders=rules)
            with Home.at(home).open_store() as store:
                with open_clients(profile, store, Home.at(home)) as clients:
                    run_cycle(profile, store, clients)  # list the inventory on FTD
                orders = make_orders(home, count, seed)
                for service in ("komet", "ftd"):
                    sandbox.add_fault(service, "latency", None, 1.0, latency_ms)
                for method in WRITES if fault_rate else ():
                    for kind in ("error", "drop-after-commit"):
                        sandbox.add_fault("komet", kind, method, fault_rate / 2, 0)
                with open_clients(profile, store, Home.at(home)) as clients:
                    before = Counter(clients.calls.by_method())
                    cpu, twin_cpu = time.process_time(), sum(twin.cpu_times()[:2])
                    started = time.perf_counter()
                    cycles = 0
                    ledger = OrderLedger(store, profile.name)
                    while cycles < 10:
                        cycles += 1
                        process_orders(
                            profile,
                            store,
                            clients,
                            dry_run=False,
                            run_id=None,
                            now=datetime.now(UTC),
                        )
                        if all(ledger.get(o).state == "acknowledged" for o in orders):
                            break
                    seconds = time.perf_counter() - started
                    cpu = time.process_time() - cpu
                    twin_cpu = sum(twin.cpu_times()[:2]) - twin_cpu
                    spent = Counter(clients.calls.by_method()) - before
                    quota = profile.daily_quota
                problems = _problems(sandbox, store, profile)
                done = sum(ledger.get(o).state == "acknowledged" for o in orders)
        finally:
            sandbox.close()
            control.down(Home.at(home))
    per_cycle = {m: n for m, n in spent.items() if m in PER_CYCLE}
    per_order = (sum(spent.values()) - sum(per_cycle.values())) / count
    return {
        "concurrency": concurrency,
        "orders": count,
        "acknowledged": done,
        "cycles": cycles,
        "seconds": seconds,
        "orders_per_minute": done / seconds * 60,
        "cpu_per_order_ms": cpu / count * 1000,
        "twin_cpu_s": twin_cpu,
        "komet_calls": sum(spent.values()),
        "quota": quota,
        "per_order": per_order,
        "per_cycle": per_cycle,
        "by_method": dict(spent),
        "ratio": per_order / MINIMUM,
        "problems": len(problems),
    }


def run_virtual(count: int, fault_rate: float, seed: int) -> dict[str, float]:
    """Cycles 5 virtual minutes apart, the default settle window, a steady write-fault rate."""
    clock = VirtualClock(datetime.now(UTC).replace(microsecond=0))
    with tempfile.TemporaryDirectory(prefix="bench-orders-virtual-") as tmp:
        home = Path(tmp)
        info = control.up(Home.at(home), seed=seed)
        sandbox = control.SandboxControl(info)
        try:
            profile = load_profile("sandbox", Home.at(home))  # default order rules
            with Home.at(home).open_store() as store:
                with open_clients(profile, store, Home.at(home)) as clients:
                    run_cycle(profile, store, clients, now=clock.now())  # list the inventory
                orders = make_orders(home, count, seed)
                for method in WRITES if fault_rate else ():
                    for kind in ("error", "drop-after-commit"):
                        sandbox.add_fault("komet", kind, method, fault_rate / 2, 0)
                ledger = OrderLedger(store, profile.name)
                through_in: dict[str, int] = {}
                with open_clients(profile, store, Home.at(home)) as clients:
                    before = clients.calls.today()
                    cycles = 0
                    while cycles < MAX_VIRTUAL_CYCLES and len(through_in) < len(orders):
                        cycles += 1
                        process_orders(
                            profile,
                            store,
                            clients,
                            dry_run=False,
                            run_id=None,
                            now=clock.now(),
                            sleep=clock.sleep,
                        )
                        for order_id in orders:
                            if ledger.get(order_id).state in THROUGH:
                                through_in.setdefault(order_id, cycles)
                        clock.advance(CYCLE_SECONDS)
                    calls = clients.calls.today() - before
                problems = _problems(sandbox, store, profile)
        finally:
            sandbox.close()
            control.down(Home.at(home))
    # An order placed just after a cycle waits one interval for the next: through in cycle k
    # means it waited up to k intervals.
    longest = max(through_in.values(), default=0)
    return {
        "orders": count,
        "through": len(through_in),
        "cycles": cycles if len(through_in) == count else float("nan"),
        "longest_wait_min": longest * CYCLE_SECONDS / 60,
        "komet_calls_per_order": calls / count,
        "problems": len(problems),
    }


def _print_virtual(label: str, figures: dict[str, float]) -> None:
    done = f"{figures['through']}/{figures['orders']:g} through"
    if figures["through"] == figures["orders"]:
        done += f" after {figures['cycles']:g} cycle(s)"
    else:
        done += f" after {MAX_VIRTUAL_CYCLES} cycles (stopped)"
    print(f"  {label:<22} {done}")
    print(f"  {'':<22} longest wait {figures['longest_wait_min']:.0f} virtual min")
    print(f"  {'':<22} Komet calls per order {figures['komet_calls_per_order']:.2f}")
    print(f"  {'':<22} invariant problems {figures['problems']}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=60)
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--virtual", action="store_true", help="cycles on a virtual 5-minute clock (see above)"
    )
    parser.add_argument("--write-fault-rate", type=float, default=0.2, help="with --virtual")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)
    if args.virtual:
        print(
            f"{args.orders} orders x {LINES} lines, cycles {CYCLE_SECONDS / 60:g} virtual min "
            f"apart, settle window 60 s (the default)"
        )
        calm = run_virtual(args.orders, 0.0, args.seed)
        _print_virtual("no faults", calm)
        faulty = run_virtual(args.orders, args.write_fault_rate, args.seed)
        _print_virtual(f"{args.write_fault_rate:.0%} write faults", faulty)
        if calm["problems"] or faulty["problems"] or calm["through"] < args.orders:
            sys.exit(1)
        return
    print(
        f"a burst of {args.orders} orders x {LINES} lines, {args.latency_ms} ms latency per call, "
        f"Komet write fault rate {args.fault_rate:g}; wall figures on a shared machine"
    )
    missed = []
    for concurrency in CONCURRENCY:
        figures = run(args.orders, args.latency_ms, args.fault_rate, args.seed, concurrency)
        _print_real(figures)
        if figures["problems"] or figures["acknowledged"] < args.orders:
            missed.append(f"concurrency {concurrency}: not every order through, or a problem")
        if args.fault_rate:
            continue
        if figures["ratio"] > TARGET_RATIO:
            missed.append(f"concurrency {concurrency}: ratio {figures['ratio']:.3f}")
        if concurrency > 1 and figures["orders_per_minute"] < TARGET_PER_MINUTE:
            missed.append(f"concurrency {concurrency}: {figures['orders_per_minute']:.0f}/min")
    if not args.fault_rate:
        print(
            f"  targets: >= {TARGET_PER_MINUTE:g} orders/min with {max(CONCURRENCY)} in flight, "
            f"per-order ratio <= {TARGET_RATIO} -> {'FAIL: ' + '; '.join(missed) if missed else 'PASS'}"
        )
    if missed:
        sys.exit(1)


def _print_real(f: dict[str, Any]) -> None:
    cycle = ", ".join(f"{m} {n}" for m, n in sorted(f["per_cycle"].items())) or "none"
    print(f"  concurrency {f['concurrency']}")
    print(
        f"    acknowledged         {f['acknowledged']}/{f['orders']} in {f['cycles']} cycle(s), "
        f"{f['seconds']:.1f} s"
    )
    print(f"    orders per minute    {f['orders_per_minute']:.1f}")
    print(
        f"    kit CPU per order    {f['cpu_per_order_ms']:.1f} ms "
        f"(twin's CPU apart: {f['twin_cpu_s']:.1f} s)"
    )
    print(
        f"    per-order calls      {f['per_order']:.2f} "
        f"(minimum {MINIMUM}: create + {LINES} adds + checkout), ratio {f['ratio']:.3f}"
    )
    print(f"    per-cycle calls      {sum(f['per_cycle'].values())} ({cycle})")
    print(f"    Komet calls spent    {f['komet_calls']} of the day's {f['quota']}")
    print(f"    invariant problems   {f['problems']}")


if __name__ == "__main__":
    main()
