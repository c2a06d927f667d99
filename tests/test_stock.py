"""The merged stock view (offers/stock.py): slices by colour in rotation, the lines that just
sold read again at once, Komet's availableBoxes applied, and the day's budget respected."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import StateBackend, Twin

from komet_ftd_ops.connect import open_clients
from komet_ftd_ops.http.formats import rfc3339
from komet_ftd_ops.offers import stock
from komet_ftd_ops.offers.quota import cycle_budget, kit_share
from komet_ftd_ops.offers.transform import to_frame
from komet_ftd_ops.settings.home import Home
from komet_ftd_ops.settings.profiles import Profile, load_profile
from komet_ftd_ops.state import stock as rows
from komet_ftd_ops.state.store import Store, iso
from komet_ftd_ops.sync import run_cycle

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def item(line: int, colour: str, boxes: int) -> dict[str, Any]:
    return {
        "inventoryOrigin": 1, "inventoryLineIds": str(line), "productCode": f"RS-{line}",
        "productDescription": "Rose", "category": "Roses", "variety": "Freedom",
        "color": colour, "grade": "50cm", "boxTypeCode": "QB", "unitType": "Stem",
        "unitsPerBox": 100, "bunches": 4, "stemsBunch": 25, "quantity": boxes, "price": "0.55",
        "availableFrom": "2026-12-01", "availableTo": "2026-12-09", "aging": 1,
    }  # fmt: skip


def read(key: str, seq: int, at: datetime, items: list[dict[str, Any]]) -> tuple[Any, Any]:
    frame = to_frame(items)
    filters = {} if key == rows.FULL else {"color": key}
    row = rows.SliceRow(
        key=stock.slice_key(filters), filters=filters, seq=seq, refreshed_at=iso(at),
        lines=len(frame), counts=stock.colour_counts(frame),
    )  # fmt: skip
    return row, frame


def boxes(view: Any) -> dict[str, int]:
    return dict(zip(view["offer_id"], view["quantity"].astype(int), strict=True))


# --- merging, on real frames -------------------------------------------------------------------


def test_a_slice_replaces_only_its_own_lines() -> None:
    full = read("*", 1, T0, [item(1, "Red", 5), item(2, "Red", 6), item(3, "White", 7)])
    red = read("Red", 2, T0 + timedelta(minutes=30), [item(1, "Red", 4)])
    view = stock.merge([full, red], [])
    assert boxes(view) == {"om:1": 4, "om:3": 7}  # line 2 is gone from Red; White is kept
    ages = dict(zip(view["offer_id"], view["refreshed_at"], strict=True))
    assert ages == {"om:1": iso(T0 + timedelta(minutes=30)), "om:3": iso(T0)}


def test_a_line_that_changed_colour_is_found_by_its_new_slice_and_kept_once() -> None:
    full = read("*", 1, T0, [item(1, "Red", 5), item(2, "White", 6)])
    white = read("White", 2, T0 + timedelta(minutes=5), [item(1, "White", 3), item(2, "White", 6)])
    view = stock.merge([full, white], [])
    assert boxes(view) == {"om:1": 3, "om:2": 6}
    assert list(view.loc[view["offer_id"] == "om:1", "color"]) == ["White"]
    red = read("Red", 3, T0 + timedelta(minutes=10), [])  # the Red read no longer lists it
    assert boxes(stock.merge([full, white, red], [])) == {"om:1": 3, "om:2": 6}
    # Slice colours match whatever the case Komet spells them in.
    red_upper = read("RED", 4, T0 + timedelta(minutes=15), [])
    assert boxes(stock.merge([read("*", 1, T0, [item(5, "Red", 1)]), red_upper], [])) == {}


def test_a_line_quantity_newer_than_its_slice_wins_and_an_older_one_does_not() -> None:
    full = read("*", 1, T0, [item(1, "Red", 5), item(2, "Red", 6)])
    later = rows.LineRow("om:1", 2, iso(T0 + timedelta(minutes=3)), "inventory.get", None)
    older = rows.LineRow("om:2", 1, iso(T0 - timedelta(minutes=3)), "inventory.get", None)
    view = stock.merge([full], [later, older])
    assert boxes(view) == {"om:1": 2, "om:2": 6}
    age = dict(zip(view["offer_id"], view["refreshed_at"], strict=True))
    assert age["om:1"] == iso(T0 + timedelta(minutes=3)) and age["om:2"] == iso(T0)


def test_duplicate_lines_within_one_read_stay_for_the_transform_to_reject() -> None:
    full = read("*", 1, T0, [item(1, "Red", 5), item(1, "Red", 5), item(2, "Red", 1)])
    assert list(stock.merge([full], [])["offer_id"]) == ["om:1", "om:1", "om:2"]


def test_frames_survive_the_blob_unchanged() -> None:
    frame = to_frame([item(1, "Red", 5), item(2, "", -1), {**item(3, "Pink", 2), "price": ""}])
    back = stock.from_blob(stock.to_blob(frame))
    assert back.equals(frame) and list(back.dtypes) == list(frame.dtypes)


def test_slices_are_planned_oldest_first_from_the_counts_of_earlier_reads() -> None:
    full = read("*", 1, T0, [item(n, c, 1) for n, c in enumerate(["Red"] * 3 + ["White", ""])])[0]
    red = read("Red", 2, T0 + timedelta(minutes=5), [item(1, "Red", 1)])[0]
    gone = rows.SliceRow("color=Pink", {"color": "Pink"}, 3, iso(T0), 0, {})
    planned = stock.plan_slices([full, red, gone], page_rows=2, reads=1)
    assert [(s.key, s.lines, s.pages) for s in planned] == [
        ("color=White", 1, 1),  # read with the full read, the oldest
        ("color=Red", 1, 1),  # its own read found one line
    ]  # Pink's last read found none; the lines with no colour wait for a full read
    assert stock.full_pages([full, red, gone], page_rows=2, reads=1) == 2  # 1 + 1 + 1 blank


def test_the_view_is_kept_in_the_store_one_row_per_slice(
    state_backend: StateBackend, tmp_path: Path
) -> None:
    target = state_backend.url or tmp_path / "state.sqlite3"
    first = read("*", 0, T0, [item(1, "Red", 5), item(2, "White", 6)])
    red = read("Red", 0, T0 + timedelta(minutes=5), [item(1, "Red", 2)])
    with Store(target) as store:
        for row, frame in (first, red):
            with store.atomic() as tx:
                if row.key == rows.FULL:
                    rows.clear_slices(tx, "p")
                rows.put_slice(
                    tx, "p", key=row.key, filters=row.filters, seq=rows.next_seq(tx, "p"),
                    refreshed_at=row.refreshed_at, counts=row.counts, lines=row.lines,
                    frame=stock.to_blob(frame),
                )  # fmt: skip
        with store.atomic() as tx:
            rows.mark_sold(tx, "p", ["om:2"], at=iso(T0 + timedelta(minutes=6)))
            rows.put_quantities(
                tx, "p", {"om:2": 1}, at=iso(T0 + timedelta(minutes=7)), source="inventory.get"
            )
        stored = rows.frames(store, "p")
        assert [(r.key, r.seq, r.lines) for r, _ in stored] == [("*", 1, 2), ("color=Red", 2, 1)]
        view = stock.merge([(r, stock.from_blob(b)) for r, b in stored], rows.lines(store, "p"))
        assert boxes(view) == {"om:1": 2, "om:2": 1}
        assert rows.offers_sold_since(store, "p", iso(T0)) == ["om:2"]
        with store.atomic() as tx:  # a sale out of the window, older than every slice: gone
            rows.purge_lines(
                tx,
                "p",
                older_than=iso(T0 + timedelta(hours=1)),
                sold_before=iso(T0 + timedelta(hours=1)),
            )
        assert rows.lines(store, "p") == []


# --- against the twin ---------------------------------------------------------------------------


@pytest.fixture
def store(twin: Twin, home: Path) -> Iterator[Store]:
    with Store(Home.at(home).state_db) as s:
        yield s


def tight(home: Path, **komet: Any) -> Profile:
    """A cadence the quota cannot read in full every cycle: 30-row pages (10 pages for the
    twin's 300 lines) every minute, 1 paid user."""
    profile = load_profile("sandbox", Home.at(home))
    switches = {**profile.komet_switches, "max_rows": "30"}
    return replace(
        profile, komet_switches=switches, sync=replace(profile.sync, every_minutes=1), **komet
    )


def cycle(profile: Profile, store: Store, home: Path, now: datetime) -> Any:
    with open_clients(profile, store, Home.at(home)) as clients:
        return run_cycle(profile, store, clients, now=now)


def published(store: Store) -> dict[str, int]:
    return {
        r["offer_id"]: int(r["quantity"])
        for r in store.query("SELECT offer_id, quantity FROM published_offers")
    }


def test_a_tight_quota_reads_one_colour_and_withdraws_only_its_lines(
    twin: Twin, home: Path, store: Store
) -> None:
    profile = tight(home)
    # At noon the day's budget left allows about a call a cycle: less than a full read.
    start = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    first = cycle(profile, store, home, start)
    assert first.counters()["stock_mode"] == "full"  # no view yet: everything once
    view = first.stock.view
    open_market = view[view["origin"] == 1]
    before = published(store)
    # Take every box of one published offer in each of two colours (other channels sold them).
    by_colour = {c: g["offer_id"].tolist() for c, g in open_market.groupby("color")}
    planned = stock.plan_slices(rows.slices(store, profile.name), 30, 1)
    first_colour = planned[0].filters["color"]
    other_colour = planned[-1].filters["color"]  # the youngest by name: not read next cycle
    hit = next(o for o in by_colour[first_colour] if o in before)
    missed = next(o for o in by_colour[other_colour] if o in before)
    lines = {o.removeprefix("om:"): 0 for o in (hit, missed)}
    twin.control("komet", "POST", "stock", json={"set": lines})

    second = cycle(profile, store, home, start + timedelta(minutes=1))
    c = second.counters()
    assert c["stock_mode"] == "slices" and c["stock_slices_read"] >= 1
    assert second.stock.slices_read[0] == f"color={first_colour}"
    assert f"color={other_colour}" not in second.stock.slices_read
    assert c["stock_slice_calls"] < 10  # less than a full read
    after = published(store)
    assert hit not in after  # its slice was read: withdrawn
    assert after[missed] == before[missed]  # not read yet: kept at its older count
    assert set(before) - set(after) == {hit}  # nothing else withdrawn
    assert c["offer_staleness_max_min"] == pytest.approx(1.0)
    assert c["offer_staleness_median_min"] in (0.0, 1.0)


def test_a_sold_line_is_read_again_with_inventory_get_and_komet_answers_cost_no_call(
    twin: Twin, home: Path, store: Store
) -> None:
    profile = tight(home)
    start = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    first = cycle(profile, store, home, start)
    offers = first.build.offers["offer_id"].tolist()
    sold, answered = offers[0], offers[1]
    twin.control("komet", "POST", "stock", json={"set": {sold.removeprefix("om:"): 1}})
    with open_clients(profile, store, Home.at(home)) as clients:
        now = start + timedelta(minutes=1)
        spent = clients.calls.today()
        budget = cycle_budget(profile, store, now=now, spent_before=spent, spent=spent)
        budget.credit = 0.0  # no slice this cycle: only the sold line
        before = clients.calls.by_method()
        out = stock.refresh_stock(
            clients.komet, profile, store, budget, now=now, sold={sold: 1},
            komet_available={answered: 2}, spent=clients.calls.today,
        )  # fmt: skip
        made = clients.calls.by_method()
    gets = made.get("ecommerce/inventory.get", 0) - before.get("ecommerce/inventory.get", 0)
    assert (out.mode, out.get_calls, gets, out.lines_refreshed, out.komet_answers) == (
        "lines", 1, 1, 1, 1,
    )  # fmt: skip
    assert made.get("ecommerce/inventory.list") == before.get("ecommerce/inventory.list")
    quantity = boxes(out.view)
    assert quantity[sold] == 1 and quantity[answered] == 2
    age = dict(zip(out.view["offer_id"], out.view["refreshed_at"], strict=True))
    assert age[sold] == age[answered] == iso(now)
    # Within the refresh window the sold line is read again each cycle; after it, no longer.
    later = start + timedelta(minutes=2 + profile.sync.sold_refresh_minutes)
    with open_clients(profile, store, Home.at(home)) as clients:
        spent = clients.calls.today()
        budget = cycle_budget(profile, store, now=later, spent_before=spent, spent=spent)
        budget.credit = 0.0
        again = stock.refresh_stock(
            clients.komet, profile, store, budget, now=later, sold={}, komet_available={},
            spent=clients.calls.today,
        )  # fmt: skip
    assert again.get_calls == 0 and again.mode == "none"


def test_the_budget_is_spent_to_the_share_and_never_past_it_with_every_colour_read(
    twin: Twin, home: Path, store: Store
) -> None:
    profile = tight(home, komet_quota_share_pct=6.0)  # 60 calls a day for the kit
    profile = replace(profile, sync=replace(profile.sync, order_reserve_pct=1.0))
    share = kit_share(profile)
    start = datetime.now(UTC).replace(hour=23, minute=20, second=0, microsecond=0)
    modes = []
    with open_clients(profile, store, Home.at(home)) as clients:
        for minute in range(40):  # the day's last 40 cycles
            report = run_cycle(profile, store, clients, now=start + timedelta(minutes=minute))
            modes.append(report.counters()["stock_mode"])
            assert clients.calls.today() <= share  # never past the kit's share
        spent = clients.calls.today()
    assert spent >= 0.9 * share  # and what was left is used by the day's end
    assert modes.count("slices") >= 5  # read in slices, not only in full
    # Every line was read again since the first cycle (by its slice or a full read).
    planned = stock.plan_slices(rows.slices(store, profile.name), 30, 1)
    assert planned and min(p.refreshed_at for p in planned) > iso(start)
    assert report.counters()["quota_share_used_pct"] == pytest.approx(100 * spent / share, 0.01)


def test_staleness_is_each_offers_first_line_age_and_leaves_out_what_the_view_lacks() -> None:
    """The per-read parse (one date parse per distinct read time) gives each offer the age of
    its first row in the view; offers the view lacks, or read at no known time, are left out."""
    now = T0 + timedelta(minutes=30)
    view = pd.DataFrame(
        {
            "offer_id": pd.Series(["om:1", "om:2", "om:1", "om:3", "om:4"], dtype="string"),
            "refreshed_at": [
                iso(T0), iso(T0 + timedelta(minutes=20)), iso(T0 + timedelta(minutes=25)),
                None, "2026-12-01T10:10:30+00:00",
            ],
        }
    )  # fmt: skip
    offers = pd.Series(["om:4", "om:9", "om:2", "om:1", "om:3"], index=[7, 8, 9, 10, 11])
    ages = stock.staleness_minutes(view, offers, now)
    assert ages.to_dict() == {7: 19.5, 9: 10.0, 10: 30.0}
    assert stock.staleness_minutes(view.iloc[:0], offers, now).empty


def ftd_updated_at(profile: Profile, store: Store, home: Path) -> dict[str, str]:
    """Each offer FTD lists now (GET /offers) with its updated_at."""
    with open_clients(profile, store, Home.at(home)) as clients:
        return {o["offer_id"]: o["updated_at"] for o in clients.ftd.list_offers()}


def test_each_offer_goes_to_ftd_with_the_time_its_line_was_read(
    twin: Twin, home: Path, store: Store
) -> None:
    profile = tight(home)
    start = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    stamp = {n: rfc3339(start + timedelta(minutes=n)) for n in range(3)}
    first = cycle(profile, store, home, start)
    listed = ftd_updated_at(profile, store, home)
    assert listed and set(listed.values()) == {stamp[0]}  # a full read: the read's time

    view = first.stock.view
    colour_of = dict(zip(view["offer_id"], view["color"], strict=False))
    planned = stock.plan_slices(rows.slices(store, profile.name), 30, 1)
    next_colour, last_colour = planned[0].filters["color"], planned[-1].filters["color"]
    in_next = [o for o in listed if colour_of[o] == next_colour]
    changed, same = in_next[0], in_next[1]
    missed = next(o for o in listed if colour_of[o] == last_colour)
    boxes = dict(zip(view["offer_id"], view["quantity"].astype(int), strict=False))
    twin.control(
        "komet", "POST", "stock",
        json={"set": {changed.removeprefix("om:"): boxes[changed] + 3,
                      missed.removeprefix("om:"): boxes[missed] + 3}},
    )  # fmt: skip

    # A delta: only the changed line of the slice read goes out, with this read's time; a line
    # read again unchanged sends nothing (its listing keeps the older time), and a line of a
    # slice not read yet is not sent.
    second = cycle(profile, store, home, start + timedelta(minutes=1))
    assert second.counters()["feed_kind"] == "delta"
    assert f"color={next_colour}" in second.stock.slices_read
    assert f"color={last_colour}" not in second.stock.slices_read
    listed = ftd_updated_at(profile, store, home)
    assert listed[changed] == stamp[1]
    assert listed[same] == stamp[0] and listed[missed] == stamp[0]
    assert second.feed is not None and second.feed.upserts == 1

    # A heal feed publishes the merged view: each line with its own read's time.
    healer = replace(profile, sync=replace(profile.sync, heal_every_minutes=2))
    third = cycle(healer, store, home, start + timedelta(minutes=2))
    assert third.counters()["feed_kind"] == "full"
    read_at = {0: set(), 1: set(second.stock.slices_read), 2: set(third.stock.slices_read)}
    listed = ftd_updated_at(profile, store, home)
    for offer, at in listed.items():
        key = stock.slice_key({"color": colour_of[offer]})
        expected = max((n for n, keys in read_at.items() if key in keys), default=0)
        assert at == stamp[expected], (offer, colour_of[offer])
    assert stamp[0] in listed.values() and stamp[2] in listed.values()
    if f"color={last_colour}" not in third.stock.slices_read:
        assert listed[missed] == stamp[0]  # read 2 minutes ago, and sent as such
