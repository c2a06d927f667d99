"""Benchmark of stock freshness under Komet's quota (not a test): issue 14, item 5.

A twin of 100,000 inventory lines served in 500-row pages, 3 paid users (3,000 calls a day, the
kit's share 80% of them), 5-minute cycles on a virtual clock from 00:00 UTC for 4 virtual hours
(`--hours`). Florists buy on FTD what it lists (`--orders` orders of 1 to 2 lines every
`--order-every` cycles, written into the FTD twin as bench/orders.py does) and other channels
sell a little of every line every cycle (`sell_elsewhere`). A full read is about 200 calls, so
the kit reads the stock in slices.

An order costs its create, adds and checkout plus the cycle's ship-to and invoice reads: about
7 calls. One every cycle is about 1,900 of the kit's 2,400 calls a day, and leaves no room for
a slice at all (measured: 0 slices in 4 hours); the default is one order every 4 cycles.

Printed: the age of the lines sold in the last hour (max over every cycle), the offers' 95th
percentile age (the worst cycle) against the full-snapshot interval, the share of the kit's
budget used, and the orders parked for quota. The full-snapshot interval is how long the calls
the kit spent on inventory.list take to read every line once (1440 min x 200 pages / those
calls a day); the issue's ~96 min is the whole company quota with no orders and no sold-line
reads, which the kit's 80% share cannot reach (printed for reference). Targets: sold lines
<= 10 min old, p95 <= the full-snapshot interval, >= 95% of the budget used, 0 parked for
quota. Exits 1 on a miss. CPU and wall are printed for the kit (this process) and the twin.

    .venv/bin/python bench/freshness.py [--hours 4] [--orders 1] [--order-every 4] [--lines N]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from komet_ftd_ops.connect import open_clients  # noqa: E402
from komet_ftd_ops.offers.quota import kit_share  # noqa: E402
from komet_ftd_ops.orders.dates import earliest_ship_date  # noqa: E402
from komet_ftd_ops.sandbox import catalogue, control  # noqa: E402
from komet_ftd_ops.sandbox.ftd.orders import create_order  # noqa: E402
from komet_ftd_ops.sandbox.server import open_twin_db  # noqa: E402
from komet_ftd_ops.settings.home import Home  # noqa: E402
from komet_ftd_ops.settings.profiles import ShippingRules, load_profile  # noqa: E402
from komet_ftd_ops.sync import run_cycle  # noqa: E402
from komet_ftd_ops.testing.clock import CYCLE_SECONDS, VirtualClock  # noqa: E402

PAID_USERS = 3
SOLD_MAX_MIN = 10.0
USED_MIN_PCT = 95.0
SOLD_WINDOW = timedelta(hours=1)
OTHER_CHANNELS_SHARE = 0.002  # of every open-market line's boxes, each cycle


def make_home(base: Path) -> Home:
    root = base / "home"
    (root / "sandbox").mkdir(parents=True)
    (root / "profiles").mkdir()
    (root / "profiles" / "sandbox.toml").write_text(
        # A full feed of 100,000 offers takes the FTD twin more than the sandbox's 5 s.
        f"[komet]\npaid_users = {PAID_USERS}\ntimeout_seconds = 60\n\n"
        '[komet.switches]\nmax_rows = "500"\n'
    )
    return Home.at(root)


def florists_buy(home: Path, count: int, n0: int, now: datetime, rng: random.Random) -> set[str]:
    """`count` NEW FTD orders of 1-2 lines, 1 box each, of offers FTD lists now."""
    db = open_twin_db(home)
    sold: set[str] = set()
    # FTD stamps the order with real time, and the cutoff is checked against that stamp.
    ship = earliest_ship_date(datetime.now(UTC), ShippingRules()).isoformat()
    with db.atomic() as conn:
        offers = [
            json.loads(r[0])
            for r in conn.execute(
                "SELECT body FROM ftd_offers WHERE quantity > 1 ORDER BY offer_id"
            )
        ]
        fits = [o for o in offers if o["available_from"] <= ship <= o["available_to"]]
        for n in range(n0, n0 + count):
            code, shop, street, city, state, zipcode, phone, *_ = catalogue.FLORISTS[
                n % len(catalogue.FLORISTS)
            ]
            chosen = rng.sample(fits, rng.choice((1, 2)))
            lines = [
                {"line_id": str(i), "offer_id": o["offer_id"], "sku": o["sku"], "boxes": 1,
                 "box_type": o["box_type"], "units_per_box": o["units_per_box"],
                 "price_per_unit": o["price_per_unit"]}
                for i, o in enumerate(chosen, start=1)
            ]  # fmt: skip
            create_order(
                conn,
                order_number=str(9_100_000 + n),
                now=datetime.now(UTC),  # the FTD twin's watermark is real time
                body={
                    "po_number": f"PO-F{n}", "buyer": {"member_code": code, "name": shop},
                    "ship_to": {"name": shop, "address1": street, "city": city, "state": state,
                                "postal_code": zipcode, "country": "US", "phone": phone},
                    "requested_ship_date": ship, "lines": lines, "currency": "USD", "notes": "",
                },
            )  # fmt: skip
            sold.update(o["offer_id"] for o in chosen)
    db.close()
    return sold


def run(hours: float, orders: int, every: int, lines: int) -> dict[str, Any]:
    rng = random.Random(14)
    cycles = int(hours * 3600 // CYCLE_SECONDS)
    # The kit counts Komet calls per real UTC day: the virtual day is today's, from 00:00.
    clock = VirtualClock(datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0))
    sold_at: dict[str, datetime] = {}
    sold_age_max, p95_max, parked_quota = 0.0, 0.0, set()
    list_calls_after_first = 0
    with tempfile.TemporaryDirectory(prefix="bench-freshness-") as tmp:
        home = make_home(Path(tmp))
        info = control.up(home, lines=lines, seed=7, timeout=300)
        sandbox = control.SandboxControl(info)
        twin = psutil.Process(int(info["pid"]))
        try:
            sandbox.settings(quota=1000 * PAID_USERS, autoconfirm=True)
            profile = load_profile("sandbox", home)
            share = kit_share(profile)
            cpu, wall = time.process_time(), time.perf_counter()
            twin_cpu0 = sum(twin.cpu_times()[:2])
            with home.open_store() as store, open_clients(profile, store, home) as clients:
                for k in range(cycles):
                    now = clock.now()
                    if k and k % every == 0:  # the first cycle lists the stock on FTD
                        for offer in florists_buy(home.root, orders, k * orders, now, rng):
                            sold_at[offer] = now
                    if k:
                        sandbox.stock(sell_elsewhere=OTHER_CHANNELS_SHARE)
                    before = clients.calls.by_method().get("ecommerce/inventory.list", 0)
                    report = run_cycle(profile, store, clients, now=now)
                    after = clients.calls.by_method().get("ecommerce/inventory.list", 0)
                    if k:
                        list_calls_after_first += after - before
                    else:
                        spent_first = clients.calls.today()
                    view = report.stock.view if report.stock else None
                    if view is not None:
                        ages = view.drop_duplicates("offer_id").set_index("offer_id")
                        recent = [o for o, t in sold_at.items() if now - t <= SOLD_WINDOW]
                        stamps = pd.to_datetime(
                            ages["refreshed_at"].reindex(recent).dropna(), utc=True,
                            format="ISO8601",
                        )  # fmt: skip
                        if len(stamps):
                            oldest = (pd.Timestamp(now) - stamps).dt.total_seconds().max() / 60
                            sold_age_max = max(sold_age_max, float(oldest))
                    if report.staleness:
                        p95_max = max(p95_max, report.staleness["p95"])
                    parked_quota |= {
                        r["order_id"]
                        for r in store.query(
                            "SELECT order_id FROM orders WHERE park_reason = 'quota'"
                        )
                    }
                    clock.advance(CYCLE_SECONDS)
                spent = clients.calls.today()
                by_method = clients.calls.by_method()
                last = report.counters()
            kit_cpu, seconds = time.process_time() - cpu, time.perf_counter() - wall
            twin_cpu = sum(twin.cpu_times()[:2]) - twin_cpu0
        finally:
            sandbox.close()
            control.down(home)
    per_day = 1440 // profile.sync.every_minutes
    full_pages = math.ceil(lines / profile.komet_page_rows)
    # After the first cycle's full read the day had (share - spent_first) left for the
    # per_day - 1 cycles to come: the share of that pro-rata budget the run used.
    budget = (share - spent_first) * (cycles - 1) / (per_day - 1)
    used_pct = 100.0 * (spent - spent_first) / budget
    list_per_day = list_calls_after_first / ((cycles - 1) * CYCLE_SECONDS / 60) * 1440
    interval = 1440 * full_pages / list_per_day if list_per_day else math.inf
    return {
        "cycles": cycles, "share": share, "spent": spent, "used_pct": used_pct,
        "sold_age_max": sold_age_max, "p95_max": p95_max, "p95_last": last.get(
            "offer_staleness_p95_min"), "median_last": last.get("offer_staleness_median_min"),
        "max_last": last.get("offer_staleness_max_min"), "interval": interval,
        "nominal": 1440 * full_pages / (1000 * PAID_USERS), "parked_quota": len(parked_quota),
        "slice_calls": list_calls_after_first,
        "by_method": by_method, "kit_cpu": kit_cpu, "twin_cpu": twin_cpu, "seconds": seconds,
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hours", type=float, default=4.0)
    parser.add_argument("--orders", type=int, default=1, help="FTD orders at a time")
    parser.add_argument("--order-every", type=int, default=4, help="cycles between orders")
    parser.add_argument("--lines", type=int, default=100_000)
    args = parser.parse_args()
    r = run(args.hours, args.orders, max(1, args.order_every), args.lines)
    print(
        f"freshness: {args.lines:,} lines, 500-row pages, {PAID_USERS} paid users (kit's share "
        f"{r['share']} calls a day), {r['cycles']} cycles of 5 virtual min, {args.orders} "
        f"FTD order(s) every {args.order_every} cycle(s)"
    )
    print(f"  Komet calls by method: {r['by_method']}")
    print(
        f"  offer age at the last cycle: median {r['median_last']} min, p95 {r['p95_last']} "
        f"min, max {r['max_last']} min"
    )
    print(
        f"  full-snapshot interval at the kit's inventory.list calls: {r['interval']:.0f} min "
        f"(the whole quota, no orders: {r['nominal']:.0f} min)"
    )
    print(
        f"  kit CPU {r['kit_cpu']:.1f} s, twin CPU {r['twin_cpu']:.1f} s, wall {r['seconds']:.0f} s"
        " (wall under the shared machine's load)"
    )
    checks = [
        ("lines sold in the last hour, max age", r["sold_age_max"] <= SOLD_MAX_MIN,
         f"{r['sold_age_max']:.1f} min (target <= {SOLD_MAX_MIN:.0f})"),
        ("offers' p95 age, worst cycle", r["slice_calls"] > 0 and r["p95_max"] <= r["interval"],
         f"{r['p95_max']:.1f} min (target <= {r['interval']:.0f}, the full-snapshot interval)"),
        ("kit's budget used", r["used_pct"] >= USED_MIN_PCT,
         f"{r['used_pct']:.1f}% (target >= {USED_MIN_PCT:.0f}%; {r['spent']} calls)"),
        ("orders parked for quota", r["parked_quota"] == 0, f"{r['parked_quota']} (target 0)"),
    ]  # fmt: skip
    for name, ok, text in checks:
        print(f"  {'PASS' if ok else 'FAIL'} {name}: {text}")
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
