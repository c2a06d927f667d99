"""Oversold lines: the kit's defaults against a plain 5-minute full refresh (Komet's own way).

    .venv/bin/python bench/oversell.py [--hours 24] [--seeds 7,8,9] [--lines 5000]
                                       [--orders-per-hour 8] [--only kit|baseline]

A compressed trading day on the twin, on a VIRTUAL clock: cycles 5 virtual minutes apart, no real
waiting between them (each cycle takes what its calls take). The issue's premise, 5,000 lines and
3 paid users so that a full refresh every 5 minutes fits the quota, holds for an account that
serves 5,000-row pages (`max_rows` "5000": one call a read, 288 a day against the kit's 2,400);
at the hardest reading, 500 rows, a full read every cycle costs 2,880 a day and does not fit. So
both twins serve 5,000-row pages and the kit's profile says so ([komet.switches] max_rows), and
the kit reads everything every cycle, like the baseline. A day is 24 virtual hours (288 cycles)
with ~8 FTD orders an hour: about 1,000 order lines, as many as the kit's quota share carries
(an order costs about 10 calls, the reads 289; every day is checked against its share).

One day gives the baseline only a handful of refused lines, too few for "a third of it" to mean
anything, and making other channels wilder would make the day unrealistic; so the bench plays
several days (`--seeds`, default three), the same seeds for both runs (paired), and prints each
day and their sum, with one line stating the sample (the baseline's refusals and how many the
target allows the kit). The kit and the baseline run in two processes at once, each with its
own twin, so the wall is that of one run on a 2-core machine; within a run the days follow
one another. Most of a cycle's time is the kit's own cycle and the twin's answers; the bench's
own work (other channels' draws, florists' purchases in SQL) is a tenth of it.

Between two cycles other channels buy Komet stock (the twin's "another channel bought N boxes
of line L", `POST /_sandbox/stock {"take": ...}`) with a realistic skew: a few lines sell fast
and sell out, some sell steadily, most barely move, each buyer taking 1-3 boxes; and florists buy on FTD what FTD lists at that moment (at most the listed
boxes, as FTD's twin lowers its listing), favouring the same popular lines. Both demands are
drawn from one seeded stream per interval, so the two runs face the same day.

Two runs, each in its own process on a fresh twin seeded alike:
  (a) kit       the normal `run_cycle` with the default profile settings and 3 paid users;
  (b) baseline  what Komet's native integration does: every cycle a full read of the inventory,
                offers with no safety buffer and no shadow stock, a full feed. FTD orders still
                go through the kit's order pipeline, so both runs land orders the same way.

Printed per run: the share of FTD order lines Komet refused for stock (only OUT_OF_STOCK: a line
refused for its window, cutoff or ship-to is listed apart and not counted), why each refused
line was refused (the bench knows Komet's true stock when the florist bought: sold out by other
channels since the read the listing came from, with the listing's age; at its first read, when
the hold-back knew nothing of the line; or with the boxes there, something else), the boxes
Komet took, Komet calls against the quota for the simulated hours (the baseline's inventory reads are
Komet's own in production and spend no API quota; they are counted here for the record), and
the kit's CPU apart from the twin's. Targets: (a)'s refused share at most a third of (b)'s,
(a) selling at least 90% of (b)'s boxes, (a) within the quota. Exit 1 on a miss.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import math
import multiprocessing
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
import psutil

from komet_ftd_ops.connect import Clients, open_clients
from komet_ftd_ops.offers import holdback
from komet_ftd_ops.offers.feed import FeedState, plan_feed, publish_feed
from komet_ftd_ops.offers.inventory import read_inventory
from komet_ftd_ops.offers.quota import kit_share, plan_quota
from komet_ftd_ops.offers.transform import build_offers
from komet_ftd_ops.orders import process_orders
from komet_ftd_ops.sandbox import catalogue, control
from komet_ftd_ops.sandbox.ftd.orders import create_order
from komet_ftd_ops.sandbox.server import open_twin_db
from komet_ftd_ops.settings.home import Home
from komet_ftd_ops.settings.profiles import Profile, load_profile
from komet_ftd_ops.state import holdback as memory
from komet_ftd_ops.state.store import Store
from komet_ftd_ops.sync import run_cycle
from komet_ftd_ops.testing.clock import CYCLE_SECONDS, VirtualClock, start_of_today

PAID_USERS = 3
QUOTA_PER_USER = 1000  # [doc] Komet: 1,000 calls per paid user a day
MAX_ROWS = "5000"  # rows an inventory.list page serves: a full read is one call (module doc)
OUT_OF_STOCK = "OUT_OF_STOCK"  # the reason the kit gives FTD for a line Komet refused for stock

# Other channels: the share of lines in each speed class, and how much of a line's opening
# stock that class sells elsewhere over the simulated day (on average).
SPEEDS = (("fast", 0.06, 2.5), ("steady", 0.24, 0.6), ("slow", 0.70, 0.06))
BUYER_BOXES = (1, 1, 1, 2, 2, 3)  # boxes one buyer of another channel takes at a time
# florists' lines drawn by popularity (else uniformly): what sells elsewhere sells on FTD too.
# At 0.5 the baseline met a line other channels were emptying about once in 300 lines, too few
# for a ratio of refused shares to mean anything.
FTD_POPULAR_SHARE = 0.9
SEEDS = [7, 8, 9]  # days played by default: two gave the baseline 8 refusals (module doc)


@dataclass(frozen=True)
class Line:
    line_id: str
    boxes: int
    rate: float  # boxes per cycle other channels buy, on average


class Day:
    """The seeded day: which lines other channels buy and florists' draws, interval by interval.

    Built from the twin's opening stock (the same for both runs: same seed, same catalogue);
    every interval's randomness is keyed by (seed, interval), so both runs draw alike."""

    def __init__(self, lines: list[tuple[str, int]], cycles: int, seed: int) -> None:
        rng = random.Random(f"oversell:{seed}:speeds")
        self.seed, self.cycles = seed, cycles
        self.lines: dict[str, Line] = {}
        for line_id, boxes in lines:
            sold = rng.choices(SPEEDS, weights=[share for _, share, _ in SPEEDS])[0][2]
            # each line of a class a little faster or slower than its neighbours
            per_day = max(boxes, 4) * sold * rng.lognormvariate(0, 0.4)
            self.lines[line_id] = Line(line_id, boxes, per_day / cycles)
        self.mean_buy = sum(BUYER_BOXES) / len(BUYER_BOXES)

    def other_channels(self, interval: int) -> dict[str, int]:
        """Boxes other channels want of each line in this interval (buyers, Poisson)."""
        rng = random.Random(f"oversell:{self.seed}:other:{interval}")
        wanted: dict[str, int] = {}
        for line in self.lines.values():
            buyers = _poisson(rng, line.rate / self.mean_buy)
            if buyers:
                wanted[line.line_id] = sum(rng.choice(BUYER_BOXES) for _ in range(buyers))
        return wanted

    def popularity(self, offer_id: str) -> float:
        parts = offer_id.partition(":")[2].split("-")
        return sum(self.lines[p].rate for p in parts if p in self.lines)


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method: means here are small (at most a few buyers per interval)."""
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def opening_stock(home: Path) -> list[tuple[str, int]]:
    """Open-market Komet lines with boxes, from the twin's file (the bench's view of the
    warehouse, not the kit's)."""
    db = open_twin_db(home)
    try:
        rows = db.query(
            "SELECT DISTINCT l.line_id, l.boxes FROM komet_lines l "
            "JOIN komet_item_lines il ON il.line_id = l.line_id "
            "JOIN komet_items i ON i.id = il.item_id WHERE i.origin = 1 AND l.boxes > 0 "
            "ORDER BY l.line_id"
        )
        return [(str(r["line_id"]), int(r["boxes"])) for r in rows]
    finally:
        db.close()


@dataclass(frozen=True)
class Bought:
    """One FTD order line as the florist made it, with what Komet really had at that moment."""

    order_id: str
    line_id: str
    offer_id: str
    boxes: int
    komet_boxes: int  # the offer's boxes in Komet then, less this interval's earlier FTD lines


def florists_buy(home: Path, day: Day, interval: int, orders: float, today: str) -> list[Bought]:
    """Florists check out on FTD: only offers FTD lists now, at most the listed boxes, for a
    ship date inside the offer's window. Orders are written into FTD's twin as its own shop
    does (its listing goes down at once); returns the order lines made."""
    rng = random.Random(f"oversell:{day.seed}:florists:{interval}")
    count = _poisson(rng, orders)
    ship = (datetime.fromisoformat(today) + timedelta(days=2)).date().isoformat()
    db = open_twin_db(home)
    made: list[Bought] = []
    try:
        with db.atomic() as conn:
            komet = {
                str(r["line_id"]): int(r["boxes"])
                for r in conn.execute("SELECT line_id, boxes FROM komet_lines")
            }
            truth: dict[str, int] = {}
            # the window test and the few fields a line needs in SQL: parsing every listed
            # offer's body in Python each interval was most of the bench's own time
            listed = {
                row["offer_id"]: {
                    "sku": row["sku"],
                    "box_type": row["box_type"],
                    "units_per_box": row["units_per_box"],
                    "price_per_unit": row["price_per_unit"],
                    "_left": int(row["quantity"]),
                }
                for row in conn.execute(
                    "SELECT offer_id, quantity, body ->> '$.sku' AS sku, "
                    "body ->> '$.box_type' AS box_type, "
                    "body ->> '$.units_per_box' AS units_per_box, "
                    "body ->> '$.price_per_unit' AS price_per_unit FROM ftd_offers "
                    "WHERE quantity > 0 AND body ->> '$.available_from' <= :ship "
                    "AND body ->> '$.available_to' >= :ship ORDER BY offer_id",
                    {"ship": ship},
                )
            }
            ids = sorted(listed)
            weights = list(itertools.accumulate(day.popularity(i) for i in ids))
            for n in range(count):
                open_ids = [i for i in ids if listed[i]["_left"] > 0]
                if not open_ids:
                    break
                chosen: dict[str, dict[str, Any]] = {}
                for _ in range(rng.randint(2, 6)):
                    if rng.random() < FTD_POPULAR_SHARE and weights and weights[-1] > 0:
                        pick = rng.choices(ids, cum_weights=weights)[0]
                    else:
                        pick = rng.choice(ids)
                    if listed[pick]["_left"] > 0:
                        chosen[pick] = listed[pick]
                lines = []
                number = str(5_000_000 + interval * 100 + n)
                for k, (offer_id, offer) in enumerate(sorted(chosen.items()), start=1):
                    boxes = min(offer["_left"], rng.choice((1, 1, 2, 2, 3, 4)))
                    offer["_left"] -= boxes
                    parts = offer_id.partition(":")[2].split("-")
                    left = truth.get(offer_id, min(komet.get(p, 0) for p in parts))
                    truth[offer_id] = left - boxes
                    made.append(Bought(f"FTD-{number}", str(k), offer_id, boxes, left))
                    lines.append(
                        {
                            "line_id": str(k),
                            "offer_id": offer_id,
                            "sku": offer["sku"],
                            "boxes": boxes,
                            "box_type": offer["box_type"],
                            "units_per_box": offer["units_per_box"],
                            "price_per_unit": offer["price_per_unit"],
                        }
                    )
                if not lines:
                    continue
                code, shop, street, city, state, zipcode, phone, *_ = catalogue.FLORISTS[
                    (interval + n) % len(catalogue.FLORISTS)
                ]
                create_order(
                    conn,
                    order_number=number,
                    now=datetime.now(UTC),  # FTD's clock: the kit's intake reads by FTD's stamps
                    body={
                        "po_number": f"PO-D{interval}-{n}",
                        "buyer": {"member_code": code, "name": shop},
                        "ship_to": {
                            "name": shop,
                            "address1": street,
                            "city": city,
                            "state": state,
                            "postal_code": zipcode,
                            "country": "US",
                            "phone": phone,
                        },  # fmt: skip
                        "requested_ship_date": ship,
                        "lines": lines,
                        "currency": "USD",
                        "notes": "",
                    },
                )
            conn.executemany(
                "UPDATE ftd_offers SET quantity=? WHERE offer_id=?",
                [(o["_left"], i) for i, o in listed.items()],
            )
    finally:
        db.close()
    return made


def baseline_cycle(profile: Profile, store: Store, clients: Clients, now: datetime) -> pd.Series:
    """Komet's native integration: orders (through the kit's pipeline, as in run (a)), then a
    full read, offers with no safety buffer and no shadow stock, and a full feed. Returns
    when each listed offer was read (all of them now)."""
    process_orders(profile, store, clients, dry_run=False, run_id=None, now=now)
    items = read_inventory(clients.komet, profile)
    plain = replace(profile.sync, safety_buffer_boxes=0, heal_every_minutes=0)
    build = build_offers(items, plain, shadow=None, today=now)
    state = FeedState(store, profile.name)
    plan = plan_feed(build.offers, state, replace(profile, sync=plain), now)
    publish_feed(plan, clients.ftd, state, profile, now=now)
    return pd.Series(now.timestamp(), index=pd.Index(build.offers["offer_id"].astype(str)))


def kit_cycle(
    profile: Profile, store: Store, clients: Clients, now: datetime, modes: Counter[str]
) -> pd.Series:
    """The kit's cycle as `run sync` runs it; returns when each listed offer's line was read
    (and counts how it read: full, slices, lines, none)."""
    report = run_cycle(profile, store, clients, now=now)
    modes[report.stock.mode if report.stock is not None else "none"] += 1
    if report.build is None or report.stock is None or report.stock.view is None:
        return pd.Series(dtype="float64")
    view = report.stock.view.drop_duplicates("offer_id").set_index("offer_id")["refreshed_at"]
    listed = view.reindex(report.build.offers["offer_id"].astype(str)).dropna()
    at = pd.to_datetime(listed, utc=True, format="ISO8601")
    return (at - pd.Timestamp(0, tz=UTC)) / pd.Timedelta(seconds=1)


@dataclass
class Listings:
    """What the bench knows of the listings florists buy from: when each offer's line was last
    read, and how many reads of it the kit had made by then (1: its first read)."""

    read_at: pd.Series = field(default_factory=lambda: pd.Series(dtype="float64"))
    reads: pd.Series = field(default_factory=lambda: pd.Series(dtype="int64"))

    def update(self, read_at: pd.Series) -> None:
        before = self.read_at.reindex(read_at.index)
        fresh = read_at.index[~(before >= read_at)]  # read again (or first) this cycle
        self.reads = self.reads.add(pd.Series(1, index=fresh), fill_value=0).astype("int64")
        self.read_at = read_at.combine_first(self.read_at)

    def at_purchase(self, offer_id: str, when: float) -> tuple[float, int]:
        """(minutes since the listing's read, reads so far) for a line bought at `when`."""
        at = self.read_at.get(offer_id)
        age = (when - float(at)) / 60 if at is not None else float("nan")
        return age, int(self.reads.get(offer_id, 0))


def outcome(
    store: Store, profile: str, bought: dict[tuple[str, str], tuple[Bought, float, int]]
) -> dict[str, Any]:
    """FTD order lines the kit took in, what Komet made of them (from the kit's ledger), and
    why each line refused for stock was refused (from what the bench saw at the purchase)."""
    # every line once; for a line still open, its order's state, park reason, arrival (virtual
    # time), ship date and last event too
    rows = store.query(
        "SELECT l.order_id, l.line_id, l.state, l.reason_code, l.qty_sent, l.boxes, "
        "o.state AS order_state, o.park_reason, o.received_at, o.ship_date, "
        "CASE WHEN l.state NOT IN ('added', 'rejected') THEN "
        " (SELECT e.event || ': ' || COALESCE(e.detail, '') FROM order_events e "
        "  WHERE e.profile = o.profile AND e.order_id = o.order_id ORDER BY e.id DESC LIMIT 1) "
        "END AS event FROM order_lines l "
        "JOIN orders o ON o.profile = l.profile AND o.order_id = l.order_id "
        "WHERE l.profile = :profile",
        {"profile": profile},
    )
    refused = [r for r in rows if r["state"] == "rejected" and r["reason_code"] == OUT_OF_STOCK]
    # refused for its window, cutoff, ship-to...: not a stock refusal, listed apart
    other = Counter(
        str(r["reason_code"])
        for r in rows
        if r["state"] == "rejected" and r["reason_code"] != OUT_OF_STOCK
    )
    added = [r for r in rows if r["state"] == "added"]
    # lines neither added nor refused, by what holds them
    still = Counter(
        f"{r['state']}/{r['order_state']}"
        + (f" ({r['park_reason']})" if r["park_reason"] else "")
        + f" in {str(r['received_at'])[:13]}h ship {r['ship_date']} last {r['event']}"
        for r in rows
        if r["state"] not in ("added", "rejected")
    )
    causes: Counter[str] = Counter()
    stale_ages: list[float] = []
    examples: list[str] = []
    seen = memory.load(store, profile)
    rates: dict[str, float] = {}
    if seen is not None:
        learnt = pd.DataFrame({"rate": seen.rate, "sold": seen.sold, "watched": seen.watched})
        rates = dict(zip(seen.offer_ids, holdback.pace(learnt), strict=True))
    for r in refused:
        made = bought.get((str(r["order_id"]), str(r["line_id"])))
        if made is None:
            causes["unknown line"] += 1
            continue
        line, age, reads = made
        if line.komet_boxes >= line.boxes:
            causes["other: Komet had the boxes when bought"] += 1
        elif reads <= 1:
            causes["first read: sold out elsewhere, the hold-back knew nothing yet"] += 1
        else:
            causes["stale: sold out elsewhere since the listing's read"] += 1
            stale_ages.append(age)
            pace = rates.get(line.offer_id, math.nan)  # the kit's memory; none in (b)
            examples.append(
                f"{line.order_id}/{line.line_id} {line.offer_id}: bought {line.boxes}, Komet "
                f"had {line.komet_boxes}"
                + (
                    f", other channels' pace learnt {pace:.2f} boxes/h (at the end: the "
                    "higher of the last hours' rate and the day's record)"
                    if pace >= 0
                    else ""
                )
            )
    return {
        "lines": len(rows),
        "refused": len(refused),
        "added": len(added),
        "boxes_sold": sum(int(r["qty_sent"] or r["boxes"]) for r in added),
        "boxes_refused": sum(int(r["boxes"]) for r in refused),
        "open": sum(r["state"] not in ("added", "rejected") for r in rows),
        "open_states": dict(still),
        "refused_other": dict(other),
        "causes": dict(causes),
        "stale_ages": stale_ages,
        "examples": examples,
        "matched": sum((str(r["order_id"]), str(r["line_id"])) in bought for r in rows),
    }


def run(kind: str, args: argparse.Namespace, cycles: int, seed: int) -> dict[str, Any]:
    clock = VirtualClock(start_of_today(hour=0))  # the quota for H hours is H/24 of the day's
    with tempfile.TemporaryDirectory(prefix=f"bench-oversell-{kind}-") as tmp:
        home = Path(tmp)
        info = control.up(Home.at(home), lines=args.lines, seed=seed)
        sandbox = control.SandboxControl(info)
        twin = psutil.Process(int(info["pid"]))
        try:
            base = load_profile("sandbox", Home.at(home))
            base = replace(base, komet_switches=base.komet_switches | {"max_rows": MAX_ROWS})
            kit_profile = replace(base, komet_paid_users=PAID_USERS)
            if kind == "kit":
                profile = kit_profile
                sandbox.settings(quota=PAID_USERS * QUOTA_PER_USER, max_rows=MAX_ROWS)
            else:  # Komet's own reads spend no API quota: nothing parks the baseline for it
                profile = replace(base, komet_paid_users=1000)
                sandbox.settings(quota=10_000_000, max_rows=MAX_ROWS)
            day = Day(opening_stock(home), cycles, seed)
            orders_per_cycle = args.orders_per_hour * CYCLE_SECONDS / 3600
            taken_elsewhere = wanted_elsewhere = made = 0
            listings = Listings()
            bought: dict[tuple[str, str], tuple[Bought, float, int]] = {}
            modes: Counter[str] = Counter()
            cycle = partial(kit_cycle, modes=modes) if kind == "kit" else baseline_cycle
            cpu, twin_cpu, started = time.process_time(), _cpu(twin), time.perf_counter()
            with Home.at(home).open_store() as store, open_clients(profile, store, Home.at(home)) as clients:  # fmt: skip
                calls_before = clients.calls.today()
                for interval in range(cycles + 1):  # the last cycle lands the last orders
                    now = clock.now()
                    read_at = cycle(profile, store, clients, now)
                    if interval == cycles:
                        break
                    cpu_bench = time.process_time()
                    listings.update(read_at)
                    wanted = day.other_channels(interval)
                    taken = sandbox.sell_elsewhere(wanted)
                    lines = florists_buy(
                        home, day, interval, orders_per_cycle, now.date().isoformat()
                    )
                    when = now.timestamp() + CYCLE_SECONDS  # bought just before the next read
                    for line in lines:
                        age, reads = listings.at_purchase(line.offer_id, when)
                        bought[(line.order_id, line.line_id)] = (line, age, reads)
                    made += len(lines)
                    cpu -= time.process_time() - cpu_bench  # the bench's own work is not the kit's
                    wanted_elsewhere += sum(wanted.values())
                    taken_elsewhere += sum(taken.values())
                    clock.advance(CYCLE_SECONDS)
                calls = clients.calls.today() - calls_before
                figures = outcome(store, profile.name, bought)
            wall = time.perf_counter() - started
            figures.update(
                kind=kind,
                seed=seed,
                calls=calls,
                # the kit's share (80% by default: other tokens use the rest) for these hours
                quota=round(kit_share(kit_profile) * cycles * CYCLE_SECONDS / 86_400),
                boxes_elsewhere=taken_elsewhere,
                wanted_elsewhere=wanted_elsewhere,
                lines_made=made,
                cpu=time.process_time() - cpu,
                reads=dict(modes) if kind == "kit" else {"full": cycles + 1},
                plan=plan_quota(kit_profile, len(day.lines)).describe(),
                twin_cpu=_cpu(twin) - twin_cpu,
                wall=wall,
            )
        finally:
            sandbox.close()
            control.down(Home.at(home))
    return figures


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def run_days(kind: str, args: argparse.Namespace, cycles: int) -> list[dict[str, Any]]:
    """One run's days, seed after seed (the body of one worker process)."""
    logging.disable(logging.WARNING)
    return [run(kind, args, cycles, seed) for seed in args.seeds]


SUMMED = ("lines", "refused", "added", "boxes_sold", "boxes_refused", "open", "calls", "quota",
          "boxes_elsewhere", "wanted_elsewhere", "lines_made", "cpu", "twin_cpu", "wall")  # fmt: skip


def summed(days: list[dict[str, Any]]) -> dict[str, Any]:
    """The days of one run added up (paired: the other run played the same seeds)."""
    total: dict[str, Any] = {k: sum(d[k] for d in days) for k in SUMMED}
    for key in ("causes", "refused_other", "reads", "open_states"):
        total[key] = dict(sum((Counter(d[key]) for d in days), Counter()))
    total.update(
        kind=days[0]["kind"],
        seed="+".join(str(d["seed"]) for d in days),
        stale_ages=[a for d in days for a in d["stale_ages"]],
        examples=[e for d in days for e in d["examples"]],
    )
    return total


def _share(f: dict[str, Any]) -> float:
    return f["refused"] / f["lines"] if f["lines"] else 0.0


def _show(f: dict[str, Any]) -> None:
    share = _share(f)
    label = {"kit": "(a) kit defaults", "baseline": "(b) baseline"}[f["kind"]]
    print(f"  {label}, seed {f['seed']}")
    print(
        f"    FTD order lines {f['lines']}: {f['refused']} refused for stock ({share:.1%}), "
        f"{f['added']} taken, {f['open']} still open"
    )
    if f["open_states"]:
        print(f"      still open, line/order state: {f['open_states']}")
    for cause, n in sorted(f["causes"].items()):
        print(f"      {n:4d} {cause}")
    if f["stale_ages"]:
        ages = sorted(f["stale_ages"])
        print(
            f"      the stale listings' age at purchase, minutes: median "
            f"{statistics.median(ages):.0f}, max {ages[-1]:.0f}"
        )
    for example in f["examples"][:8]:
        print(f"        {example}")
    if f["refused_other"]:
        print(f"    refused for other reasons (not counted): {f['refused_other']}")
    print(f"    boxes sold on FTD {f['boxes_sold']} (refused {f['boxes_refused']})")
    print(
        f"    boxes other channels bought {f['boxes_elsewhere']} (of {f['wanted_elsewhere']} "
        f"wanted)"
    )
    print(f"    inventory reads by kind: {f['reads']}")
    print(
        f"    Komet calls {f['calls']} (the kit's share of the quota for these hours {f['quota']})"
    )
    print(
        f"    CPU: kit {f['cpu']:.1f} s, twin {f['twin_cpu']:.1f} s; wall {f['wall']:.0f} s "
        f"(under the machine's load)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0, help="virtual trading hours a day")
    parser.add_argument("--lines", type=int, default=5000)
    parser.add_argument("--orders-per-hour", type=float, default=8.0)
    parser.add_argument(
        "--seeds", type=lambda t: [int(x) for x in t.split(",")], default=SEEDS,
        help="days to play, one seed each, the same for both runs (comma-separated)",
    )  # fmt: skip
    parser.add_argument("--only", choices=("kit", "baseline"), help="one run (no verdict)")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)
    cycles = round(args.hours * 3600 / CYCLE_SECONDS)
    print(
        f"{args.lines} lines, {PAID_USERS} paid users, {cycles} cycles of 5 virtual minutes "
        f"({args.hours:g} h) a day, ~{args.orders_per_hour:g} FTD orders an hour, "
        f"seeds {','.join(map(str, args.seeds))}"
    )
    kinds = [args.only] if args.only else ["kit", "baseline"]
    if len(kinds) == 1:
        results = {kinds[0]: run_days(kinds[0], args, cycles)}
    else:  # one process per run, each its own twin: two cores play both days at once
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(len(kinds), mp_context=spawn) as pool:
            futures = {kind: pool.submit(run_days, kind, args, cycles) for kind in kinds}
            results = {kind: future.result() for kind, future in futures.items()}
    print(f"  the kit's quota plan: {next(iter(results.values()))[0]['plan']}")
    for days in results.values():
        for figures in days:
            _show(figures)
    if args.only:
        return
    kit_days, base_days = results["kit"], results["baseline"]
    kit, base = summed(kit_days), summed(base_days)
    if len(args.seeds) > 1:
        print(f"  all {len(args.seeds)} days summed")
        _show(kit)
        _show(base)
    for k_day, b_day in zip(kit_days, base_days, strict=True):
        print(
            f"  seed {k_day['seed']}: refused kit {k_day['refused']}/{k_day['lines']}, "
            f"baseline {b_day['refused']}/{b_day['lines']}; boxes kit {k_day['boxes_sold']}, "
            f"baseline {b_day['boxes_sold']}"
        )
    kit_share, base_share = _share(kit), _share(base)
    print(
        f"  sample: {len(args.seeds)} day(s), baseline refusals {base['refused']} of "
        f"{base['lines']} lines; the target allows the kit at most "
        f"{base_share / 3 * kit['lines']:.1f} of its {kit['lines']}"
    )
    checks = [
        (
            f"refused share {kit_share:.2%} <= a third of the baseline's {base_share:.2%}",
            base_share > 0 and kit_share <= base_share / 3,
        ),
        (
            f"boxes sold {kit['boxes_sold']} >= 90% of the baseline's {base['boxes_sold']} "
            f"({kit['boxes_sold'] / max(1, base['boxes_sold']):.0%})",
            kit["boxes_sold"] >= 0.9 * base["boxes_sold"],
        ),
        (
            "Komet calls within the quota every day: "
            + ", ".join(f"{d['calls']}/{d['quota']}" for d in kit_days),
            all(d["calls"] <= d["quota"] for d in kit_days),
        ),
    ]
    for text, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'} {text}")
    if not all(ok for _, ok in checks):
        sys.exit(1)


if __name__ == "__main__":
    main()
