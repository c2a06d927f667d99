"""The per-offer hold-back (offers/holdback.py) against the running twin: other channels' sales
between two reads are held back from FTD in proportion to their pace; the kit's own FTD orders,
restocks and untouched lines hold nothing back; the memory survives damage and can be off."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from conftest import Twin

from komet_ftd_ops.connect import open_clients
from komet_ftd_ops.offers import holdback
from komet_ftd_ops.offers.feed import FeedState, plan_feed, publish_feed
from komet_ftd_ops.offers.inventory import read_inventory
from komet_ftd_ops.offers.transform import build_offers
from komet_ftd_ops.orders import process_orders
from komet_ftd_ops.sandbox import control
from komet_ftd_ops.settings.home import Home
from komet_ftd_ops.settings.profiles import Profile, load_profile, with_rules
from komet_ftd_ops.state import holdback as memory
from komet_ftd_ops.state.store import Store

T0 = datetime.now(UTC).replace(hour=8, minute=0, second=0, microsecond=0)


@pytest.fixture
def store(twin: Twin, home: Path) -> Iterator[Store]:
    with Home.at(home).open_store() as s:
        yield s


@pytest.fixture
def sandbox(twin: Twin) -> Iterator[control.SandboxControl]:
    ctl = control.SandboxControl(twin.info)
    yield ctl
    ctl.close()


def _profile(home: Path, **rules: Any) -> Profile:
    return (
        with_rules(load_profile("sandbox", Home.at(home)), **rules)
        if rules
        else load_profile("sandbox", Home.at(home))
    )


def _read(store: Store, home: Path, profile: Profile) -> pd.DataFrame:
    with open_clients(profile, store, Home.at(home)) as clients:
        return read_inventory(clients.komet, profile)


def _single_lines(frame: pd.DataFrame, least: int) -> dict[str, int]:
    """offer_id -> boxes of open-market offers made of one Komet line with >= `least` boxes."""
    one = frame[
        (frame["origin"] == 1)
        & ~frame["offer_id"].str.contains("-", regex=False)
        & (frame["quantity"] >= least)
    ]
    return dict(zip(one["offer_id"], one["quantity"].astype(int), strict=True))


def _line(offer_id: str) -> str:
    return offer_id.removeprefix("om:")


def test_other_channels_are_held_back_and_the_kits_own_orders_are_not(
    twin: Twin, home: Path, store: Store, sandbox: control.SandboxControl
) -> None:
    profile = _profile(home)
    first = _read(store, home, profile)
    assert holdback.hold_back(store, profile, first, T0) == {}  # nothing known yet
    # FTD lists the stock, florists buy, the kit adds their lines to Komet web orders
    build = build_offers(first, profile.sync, today=T0)
    state = FeedState(store, profile.name)
    with open_clients(profile, store, Home.at(home)) as clients:
        publish_feed(
            plan_feed(build.offers, state, profile, T0), clients.ftd, state, profile, now=T0
        )
        sandbox.shop(6, seed=3)
        process_orders(
            profile, store, clients, dry_run=False, run_id=None, now=T0 + timedelta(minutes=5)
        )
    bought = {
        str(r["offer_id"])
        for r in store.query("SELECT offer_id FROM order_lines WHERE state = 'added'")
    }
    assert bought, "the florists' lines reached Komet"
    # other channels: 4 boxes of one line, 2 of another, and a restock of a third
    lines = {k: v for k, v in _single_lines(first, 8).items() if k not in bought}
    fast, slow, restocked = sorted(lines)[:3]
    taken = sandbox.sell_elsewhere({_line(fast): 4, _line(slow): 2})
    assert taken == {_line(fast): 4, _line(slow): 2}
    sandbox.call("komet", "POST", "stock", {"set": {_line(restocked): lines[restocked] + 9}})

    t1 = T0 + timedelta(minutes=10)
    held = holdback.hold_back(store, profile, _read(store, home, profile), t1)
    # 4 boxes in 10 minutes (24 an hour): 2 expected before the next cycle, 5 minutes away;
    # P(Poisson(2) > 6) = 0.45%, > 7 = 0.11%: 7 held back (at most what is left). 2 boxes:
    # 1 expected, P(Poisson(1) > 4) = 0.37%, > 5 = 0.06%: 5 held back. (Nothing is known of
    # lots yet: the first drops seen.)
    assert holdback.RISK == 0.002
    assert held == {fast: min(7, lines[fast] - 4), slow: min(5, lines[slow] - 2)}
    assert not bought & held.keys()  # the kit's own sales are not another channel's
    assert restocked not in held

    # a quiet interval: the rate decays with its half-life, it does not vanish at once
    t2 = t1 + timedelta(minutes=10)
    before = memory.load(store, profile.name)
    quiet = holdback.hold_back(store, profile, _read(store, home, profile), t2)
    after = memory.load(store, profile.name)
    assert before is not None and after is not None
    rates = [dict(zip(m.offer_ids.to_pylist(), m.rate, strict=True))[fast] for m in (before, after)]
    assert rates[0] == pytest.approx(24.0) and 0 < rates[1] < rates[0]
    # ... and drops of 4 and 2 boxes followed by none say other channels buy in lots: the
    # surprises (4 - 0)^2 + (2 - 0)^2 over the prior's 20 boxes make the variance twice the
    # mean, so the decayed rates' 1.78 and 0.89 boxes are held back by a negative binomial:
    # 10 and 8, at most what is left
    assert holdback.dispersion(after.lots) == pytest.approx(2.0)
    left = _read(store, home, profile).set_index("offer_id")["quantity"]
    assert quiet[fast] == min(10, int(left[fast])) and quiet[slow] == min(8, int(left[slow]))


def test_off_holds_nothing_back_but_still_learns(
    twin: Twin, home: Path, store: Store, sandbox: control.SandboxControl
) -> None:
    off = _profile(home, holdback_pct=0.0)
    items = _read(store, home, off)
    offer = sorted(_single_lines(items, 6))[0]
    holdback.hold_back(store, off, items, T0)
    sandbox.sell_elsewhere({_line(offer): 3})
    later = _read(store, home, off)
    assert holdback.hold_back(store, off, later, T0 + timedelta(minutes=5)) == {}
    seen = memory.load(store, off.name)
    assert seen is not None
    rate = dict(zip(seen.offer_ids.to_pylist(), seen.rate, strict=True))[offer]
    assert rate == pytest.approx(3 * 12)  # 3 boxes in 5 minutes: 36 an hour
    half = replace(off, sync=replace(off.sync, holdback_pct=50.0))
    again = holdback.hold_back(store, half, later, T0 + timedelta(minutes=10))
    # no new sale in the last 5 minutes: the rate decayed (36 -> 34 an hour), half of it over
    # the next 5 minutes is 1.42 boxes; P(Poisson(1.42) > 4) = 1.5%, > 5 = 0.34%: at a risk
    # of 1% a Poisson holds 5 (6 at RISK). But 3 boxes expected and none sold is a surprise of
    # 9, with no box sold since the rate was known (the prior's 20 boxes alone): variance
    # 29/20 of the mean, and the hold at RISK is 8 (at most the 3 or more boxes left)
    assert rate * (0.5 ** (5 / 60)) / 12 * 0.5 == pytest.approx(1.416, abs=0.001)
    assert holdback.sales_quantile(np.array([1.416]), 0.01).tolist() == [5]
    lumpy = memory.load(store, off.name)
    assert lumpy is not None and holdback.dispersion(lumpy.lots) == pytest.approx(29 / 20)
    assert again.get(offer, 0) == min(8, int(later.set_index("offer_id").loc[offer, "quantity"]))


def test_damaged_memory_is_relearnt_not_a_failed_cycle(
    twin: Twin, home: Path, store: Store
) -> None:
    profile = _profile(home)
    items = _read(store, home, profile)
    store.put(profile.name, memory.KEY, "not what the kit wrote")
    assert holdback.hold_back(store, profile, items, T0) == {}
    assert memory.load(store, profile.name) is not None  # rewritten whole
    # a memory from before lots were learnt keeps its rates, lots not known yet; lots that
    # are not two finite sums are damage like any other
    raw = store.get(profile.name, memory.KEY)
    assert isinstance(raw, dict)  # stored as the document, not a JSON string holding it
    now = memory.load(store, profile.name)
    assert now is not None
    n = len(now)
    # a memory written as one JSON string holding the document (before) reads the same;
    # the writes below keep that form
    store.put(profile.name, memory.KEY, orjson.dumps(raw).decode())
    assert isinstance(store.get(profile.name, memory.KEY), str)
    before = memory.load(store, profile.name)
    assert before is not None and before.offer_ids.equals(now.offer_ids)
    for name in ("quantity", "at", "gap", "rate", "sold", "watched"):
        assert np.array_equal(getattr(before, name), getattr(now, name), equal_nan=True), name
    # a memory written before columns were kept as bytes (JSON lists, -1 for unknown) reads
    # the same
    lists = {
        "quantity": now.quantity.tolist(),
        "at": now.at.tolist(),
        "gap": np.nan_to_num(now.gap, nan=-1.0).tolist(),
        "rate": np.nan_to_num(now.rate, nan=-1.0).tolist(),
        "sold": now.sold.tolist(),
        "watched": now.watched.tolist(),
    }
    store.put(profile.name, memory.KEY, orjson.dumps(raw | lists).decode())
    listed = memory.load(store, profile.name)
    assert listed is not None and listed.offer_ids.equals(now.offer_ids)
    for name in lists:
        assert np.array_equal(getattr(listed, name), getattr(now, name), equal_nan=True), name
    # a memory from before lots were learnt keeps its rates, lots not known yet; lots that
    # are not two finite sums are damage like any other
    store.put(
        profile.name,
        memory.KEY,
        orjson.dumps({k: v for k, v in raw.items() if k != "lots"}).decode(),
    )
    old = memory.load(store, profile.name)
    assert old is not None and old.lots == (0.0, 0.0) and len(old) == n
    for bad in ([1.0], [-1.0, 2.0], "x", [True, 1.0]):
        store.put(profile.name, memory.KEY, orjson.dumps(raw | {"lots": bad}).decode())
        assert memory.load(store, profile.name) is None, bad
    # a memory from before the lines' longer record: read, the record starts empty; a
    # record of the wrong length, negative or not numbers is damage
    store.put(
        profile.name,
        memory.KEY,
        orjson.dumps({k: v for k, v in raw.items() if k not in ("sold", "watched")}).decode(),
    )
    old = memory.load(store, profile.name)
    assert old is not None and len(old.sold) == len(old.watched) == n
    assert not old.sold.any() and not old.watched.any()
    negative = base64.b64encode(np.full(n, -1.0, dtype=memory.COLUMNS["sold"]).tobytes()).decode()
    short = base64.b64encode(np.zeros(n - 1, dtype=memory.COLUMNS["sold"]).tobytes()).decode()
    for bad in (short, raw["sold"][:-4], negative, "x", 7, [None] * n, lists["sold"][:-1]):
        store.put(profile.name, memory.KEY, orjson.dumps(raw | {"sold": bad}).decode())
        assert memory.load(store, profile.name) is None, bad


def test_merge_adds_the_shadow_stock_and_the_holdback() -> None:
    assert holdback.merge({"om:1": 2, "om:2": 0}, {"om:1": 1, "om:3": 4}) == {"om:1": 3, "om:3": 4}


def test_the_hold_is_a_poisson_quantile_never_under_the_average() -> None:
    mean = np.array([0.0, 0.04, 0.25, 1.0, 2.0, 40.0, 900.0, np.nan])
    held = holdback.sales_quantile(mean, 0.05)
    # by hand: P(Poisson(0.25) > 0) = 22% but > 1 = 2.6%; Poisson(1) > 2 = 8%, > 3 = 1.9%;
    # the normal approximation above 30 boxes: 40 + 1.645 x sqrt(40) = 50.4 -> 51
    assert held.tolist() == [0, 0, 1, 3, 5, 51, 950, 0]
    assert (held >= np.floor(np.nan_to_num(mean) + 0.5)).all()
    # sales in lots, variance twice the mean: a negative binomial, r = 2, p = 1/2, where
    # P(N > k) = (k + 3) / 2^(k + 2): > 8 is 1.07%, > 9 is 0.59%; a Poisson(2) stops at 6
    lumpy = holdback.sales_quantile(np.array([2.0, 0.0, 40.0]), 0.01, 2.0)
    assert lumpy.tolist() == [9, 0, 61]  # normal above 30: 40 + 2.326 x sqrt(2 x 40) = 60.8


def test_a_line_likely_gone_by_the_next_listing_is_hidden_and_age_adds_to_the_hold(
    twin: Twin, home: Path, store: Store, sandbox: control.SandboxControl
) -> None:
    """Safety: a line other channels empty fast is hidden from FTD once its last boxes are
    likely gone; liveness: a line of the same pace with plenty of stock stays listed, less
    the hold. An offer whose read is older (a merged view) holds back more."""
    profile = _profile(home)
    lines = _single_lines(_read(store, home, profile), 12)
    high = max(lines, key=lambda offer: (lines[offer], offer))  # plenty of stock
    low, quiet = sorted(set(lines) - {high})[:2]
    sandbox.call("komet", "POST", "stock", {"set": {_line(low): 11}})
    holdback.hold_back(store, profile, _read(store, home, profile), T0)
    # both lose 6 boxes in 10 minutes (36 an hour); `low` is left with 5 boxes
    assert sandbox.sell_elsewhere({_line(low): 6, _line(high): 6}) == {
        _line(low): 6,
        _line(high): 6,
    }
    t1 = T0 + timedelta(minutes=10)
    items = _read(store, home, profile)
    held = holdback.hold_back(store, profile, items, t1)
    # 3 boxes expected before the next cycle (the average would list 2 of the 5 left), but
    # P(Poisson(3) > 5) = 8.4%: hidden
    assert held[low] == 5
    assert 0 < held[high] < lines[high] - 6  # listed, less the hold
    assert quiet not in held
    plain, kept = (
        build_offers(items, profile.sync, shadow=shadow, today=t1).offers for shadow in (None, held)
    )
    before = dict(zip(plain["offer_id"], plain["quantity_available"], strict=True))
    listed = dict(zip(kept["offer_id"], kept["quantity_available"], strict=True))
    assert before[low] > 0 and listed.get(low, 0) == 0
    assert listed[high] == before[high] - held[high] > 0
    # the same read, 20 minutes old: 25 minutes of sales to cover, not 5
    stale = items.assign(refreshed_at=t1.isoformat())
    later = holdback.hold_back(store, profile, stale, t1 + timedelta(minutes=20))
    assert later[high] > held[high]


def test_a_line_among_lumpy_sales_is_held_back_more_than_among_single_boxes(
    twin: Twin, home: Path, store: Store, sandbox: control.SandboxControl
) -> None:
    """Safety: when other channels buy in lots (reads show drops of 3 boxes here, none there),
    the same pace is held back by a wider quantile, since a Poisson count of boxes
    underestimates the tail; liveness: when they buy one box at a time, the hold stays the
    Poisson one and costs FTD nothing more. Two profiles, each its own memory, read the same
    twin; a target line sells 2 boxes every 5 minutes in both."""
    base = _profile(home)
    target, *others = sorted(_single_lines(_read(store, home, base), 1))[:13]
    singles = [{_line(o): 1 for o in others}] * 2  # 12 boxes an interval, a box a line
    lots = [{_line(o): 3 for o in others[:4]}, {_line(o): 3 for o in others[4:8]}]  # 12 too
    held: dict[str, dict[str, int]] = {}
    for name, takes in (("singles", singles), ("lots", lots)):
        profile = replace(base, name=f"sandbox-{name}")
        sandbox.call("komet", "POST", "stock", {"set": {_line(o): 40 for o in [target, *others]}})
        holdback.hold_back(store, profile, _read(store, home, profile), T0)
        for n, take in enumerate(takes, start=1):
            assert sandbox.sell_elsewhere({_line(target): 2, **take}) == {_line(target): 2, **take}
            at = T0 + timedelta(minutes=5 * n)
            held[name] = holdback.hold_back(store, profile, _read(store, home, profile), at)
        seen = memory.load(store, profile.name)
        assert seen is not None
        assert dict(zip(seen.offer_ids.to_pylist(), seen.rate, strict=True))[
            target
        ] == pytest.approx(24.0)
    # the same pace (24 boxes an hour: 2 expected in the next 5 minutes) in both
    lumpy = memory.load(store, "sandbox-lots")
    assert lumpy is not None and holdback.dispersion(lumpy.lots) > 2
    assert held["singles"][target] == 7  # P(Poisson(2) > 7) = 0.11%: no lots, no more
    assert held["lots"][target] > held["singles"][target]
    assert held["lots"][target] < 40 - 4  # still listed: a wider hold, not a hidden line


def test_a_slow_line_quiet_since_its_morning_sale_is_still_held_back(
    twin: Twin, home: Path, store: Store, sandbox: control.SandboxControl
) -> None:
    """Safety: a line watched for hours, that other channels bought 2 boxes of once and then
    left alone for 6 hours, keeps a hold for when it next sells: its last hour's rate has
    decayed to nothing (1.35 boxes an hour at the sale, 1/64 of it 6 hours on) but its day's
    record has not (a refusal on the bench, seed 9). Liveness: a line that never sold
    holds nothing back, and a sale two days old no longer does."""
    profile = _profile(home)
    sold, never = sorted(_single_lines(_read(store, home, profile), 1))[:2]
    sandbox.call("komet", "POST", "stock", {"set": {_line(sold): 5, _line(never): 3}})
    assert holdback.hold_back(store, profile, _read(store, home, profile), T0) == {}
    morning = T0 + timedelta(hours=4)
    assert sold not in holdback.hold_back(store, profile, _read(store, home, profile), morning)
    assert sandbox.sell_elsewhere({_line(sold): 2}) == {_line(sold): 2}
    sale = morning + timedelta(minutes=5)
    # 1.35 boxes an hour, 0.11 in the next 5 minutes: P(Poisson > 1) = 0.56%, > 2 = 0.02%
    assert holdback.hold_back(store, profile, _read(store, home, profile), sale)[sold] == 2
    afternoon = sale + timedelta(hours=6)
    held = holdback.hold_back(store, profile, _read(store, home, profile), afternoon)
    seen = memory.load(store, profile.name)
    assert seen is not None
    row = seen.offer_ids.to_pylist().index(sold)
    # the last hours' rate: 24 boxes an hour observed, weighed 1 - 0.5^(5/60) at the sale,
    # halved every hour since: 0.021 boxes an hour, 0.0018 boxes in the next 5 minutes,
    # P(a sale) under RISK (lots or not): alone it would list all 3 boxes
    assert seen.rate[row] == pytest.approx(24 * (1 - 0.5 ** (5 / 60)) * 0.5**6, rel=1e-6)
    lumpy = holdback.dispersion(seen.lots)
    assert holdback.sales_quantile(np.array([seen.rate[row] / 12]), holdback.RISK)[0] == 0
    assert holdback.sales_quantile(np.array([seen.rate[row] / 12]), holdback.RISK, lumpy)[0] == 0
    # the record: 2 boxes in ~10 hours watched (both decayed with a 12-hour half-life),
    # 0.16 boxes an hour, 0.013 in the next 5 minutes; with the profile's lots (the 6 quiet
    # hours' 8 boxes expected and none sold: variance 4.2 times the mean) P(a sale) 0.6% and
    # P(more than 1 box) 0.28%, both over RISK: 2 boxes held
    watched = (4 * 0.5 ** (5 / 60 / 12) + 5 / 60) * 0.5 ** (6 / 12) + 6
    assert seen.watched[row] == pytest.approx(watched, abs=1e-3)  # stored to 3 decimals
    assert seen.sold[row] == pytest.approx(2 * 0.5 ** (6 / 12), abs=1e-3)
    assert lumpy == pytest.approx((4 / 2 + (24 * (1 - 0.5 ** (5 / 60)) * 6) ** 2 + 20) / 21)
    record = seen.sold[row] / seen.watched[row]
    assert holdback.sales_quantile(np.array([record / 12]), holdback.RISK, lumpy)[0] == 2
    assert held.get(sold) == 2
    assert never not in held
    plain = build_offers(_read(store, home, profile), profile.sync, today=afternoon).offers
    kept = build_offers(
        _read(store, home, profile), profile.sync, shadow=held, today=afternoon
    ).offers
    listed = dict(zip(kept["offer_id"], kept["quantity_available"], strict=True))
    before = dict(zip(plain["offer_id"], plain["quantity_available"], strict=True))
    assert listed[sold] == before[sold] - 2 > 0 and listed[never] == before[never]
    # two quiet days on, the record is down to ~1% of a box an hour: listed in full again
    later = afternoon + timedelta(hours=48)
    assert sold not in holdback.hold_back(store, profile, _read(store, home, profile), later)
