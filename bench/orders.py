"""Benchmark of the order pipeline against the twin, in two modes.

    .venv/bin/python bench/orders.py [--orders 20] [--latency-ms 100] [--fault-rate 0]
    .venv/bin/python bench/orders.py --virtual [--orders 20] [--write-fault-rate 0.2]

Real latency (the default): N FTD orders of 3 lines each go through pipeline runs with 100 ms of
latency on every call (create, three adds, checkout, the acknowledgement to FTD). Printed: orders
per minute, Komet calls per order against the minimum (1 create + 1 add per line + 1 checkout =
5) and their ratio (target <= 1.1 without faults). `--fault-rate` adds the twin's error and
drop-after-commit faults to Komet's writes, to show what the read-backs cost.

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
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from komet_ftd_ops.connect import open_clients
from komet_ftd_ops.orders import OrderLedger, process_orders
from komet_ftd_ops.sandbox import catalogue, control
from komet_ftd_ops.sandbox.ftd.orders import create_order
from komet_ftd_ops.sandbox.server import open_twin_db
from komet_ftd_ops.settings.home import Home
from komet_ftd_ops.settings.profiles import Profile, load_profile
from komet_ftd_ops.state.store import Store
from komet_ftd_ops.sync import run_cycle
from komet_ftd_ops.testing.clock import CYCLE_SECONDS, VirtualClock
from komet_ftd_ops.testing.invariants import violations

LINES = 3
MINIMUM = 1 + LINES + 1  # create, one add per line, checkout
WRITES = ("web-order.create", "web-order-item.add", "web-order.checkout")
THROUGH = ("acknowledged", "rejected")  # FTD has the kit's answer
MAX_VIRTUAL_CYCLES = 48  # four virtual hours


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
            ship = date.today() + timedelta(days=1)
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


def run(count: int, latency_ms: int, fault_rate: float, seed: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-orders-") as tmp:
        home = Path(tmp)
        info = control.up(Home.at(home), seed=seed)
        sandbox = control.SandboxControl(info)
        try:
            base = load_profile("sandbox", Home.at(home))
            profile = replace(base, orders=replace(base.orders, unknown_settle_seconds=0))
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
                    before = clients.calls.today()
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
                    calls = clients.calls.today() - before
                problems = _problems(sandbox, store, profile)
                done = sum(ledger.get(o).state == "acknowledged" for o in orders)
        finally:
            sandbox.close()
            control.down(Home.at(home))
    per_order = calls / count
    return {
        "orders": count,
        "acknowledged": done,
        "cycles": cycles,
        "seconds": seconds,
        "orders_per_minute": done / seconds * 60,
        "komet_calls": calls,
        "komet_calls_per_order": per_order,
        "minimum_per_order": MINIMUM,
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
    parser.add_argument("--orders", type=int, default=20)
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
    figures = run(args.orders, args.latency_ms, args.fault_rate, args.seed)
    print(
        f"{figures['orders']} orders x {LINES} lines, {args.latency_ms} ms latency per call, "
        f"Komet write fault rate {args.fault_rate:g}"
    )
    print(
        f"  acknowledged           {figures['acknowledged']} in {figures['cycles']} cycle(s), "
        f"{figures['seconds']:.1f} s"
    )
    print(f"  orders per minute      {figures['orders_per_minute']:.1f}")
    print(
        f"  Komet calls per order  {figures['komet_calls_per_order']:.2f} "
        f"(minimum {MINIMUM}: create + {LINES} adds + checkout)"
    )
    print(f"  ratio                  {figures['ratio']:.3f} (target <= 1.1 without faults)")
    print(f"  invariant problems     {figures['problems']}")
    if figures["problems"] or (not args.fault_rate and figures["ratio"] > 1.1):
        sys.exit(1)


if __name__ == "__main__":
    main()
