"""One sync cycle against the running twin: full then delta feeds, 409 fallback, bad rows,
FTD's per-offer rejections, dry runs, and the quota."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import Twin

from komet_ftd_ops.connect import open_clients
from komet_ftd_ops.settings.home import Home
from komet_ftd_ops.settings.profiles import load_profile, with_rules
from komet_ftd_ops.state.store import Store
from komet_ftd_ops.sync import run_cycle


@pytest.fixture
def store(twin: Twin, home: Path) -> Iterator[Store]:
    with Store(Home.at(home).state_db) as s:
        yield s


def cycle(store: Store, home: Path, *, profile=None, now=None, dry_run=False):  # noqa: ANN001, ANN201
    profile = profile or load_profile("sandbox", Home.at(home))
    with open_clients(profile, store, Home.at(home)) as clients:
        return run_cycle(profile, store, clients, dry_run=dry_run, now=now)


def test_first_cycle_sends_a_full_feed_then_deltas(twin: Twin, home: Path, store: Store) -> None:
    t0 = datetime.now(UTC)
    first = cycle(store, home, now=t0)
    assert (first.feed.kind, first.feed.reason) == ("full", "first_cycle")
    assert first.build.lines_read > 0 and first.feed.upserts == len(first.build.offers) > 0
    assert (
        first.build.rejected["reason"].notna().all() and len(first.build.rejected) > 0
    )  # the seed has bad rows
    assert twin.control("ftd", "GET", "dump")["offers"] == first.feed.upserts

    heartbeat = cycle(store, home, now=t0 + timedelta(minutes=5))
    assert (heartbeat.feed.kind, heartbeat.feed.upserts, heartbeat.feed.withdrawals) == (
        "delta",
        0,
        0,
    )
    assert heartbeat.feed.sequence == first.feed.sequence + 1

    taken = twin.control("komet", "POST", "stock", json={"sell_elsewhere": 0.5})
    assert taken
    changed = cycle(store, home, now=t0 + timedelta(minutes=10))
    assert changed.feed.kind == "delta" and changed.feed.upserts + changed.feed.withdrawals > 0
    assert changed.feed.upserts < len(changed.build.offers)  # only what changed goes out
    assert not changed.largest_changes().empty
    ftd = twin.control("ftd", "GET", "dump")
    assert ftd["last_sequence"] == changed.feed.sequence
    assert ftd["offers"] == len(changed.build.offers)


def test_a_409_falls_back_to_a_full_feed(twin: Twin, home: Path, store: Store) -> None:
    t0 = datetime.now(UTC)
    cycle(store, home, now=t0)
    twin.control("ftd", "POST", "faults", json={"kind": "sequence-gap", "rate": 1.0})
    report = cycle(store, home, now=t0 + timedelta(minutes=5))
    assert (report.feed.kind, report.feed.reason) == ("full", "after_conflict")
    twin.control("ftd", "DELETE", "faults")
    after = cycle(store, home, now=t0 + timedelta(minutes=10))
    assert after.feed.kind == "delta"
    statuses = [r["status"] for r in store.query("SELECT status FROM feeds ORDER BY created_at")]
    assert "conflict" in statuses


def test_ftd_rejections_are_recorded_per_offer(twin: Twin, home: Path, store: Store) -> None:
    profile = with_rules(load_profile("sandbox", Home.at(home)), currency="DOLLARS")
    report = cycle(store, home, profile=profile)
    assert report.feed.rejected and len(report.feed.rejected) == report.feed.upserts
    rows = store.query(
        "SELECT offer_id, code FROM feed_rejections WHERE feed_id=?", (report.feed.feed_id,)
    )
    assert len(rows) == len(report.feed.rejected)
    assert not report.ftd_rejections().empty


def test_a_dry_run_sends_nothing(twin: Twin, home: Path, store: Store) -> None:
    report = cycle(store, home, dry_run=True)
    assert report.feed.sent is False and report.feed.upserts > 0
    assert twin.control("ftd", "GET", "dump")["last_sequence"] in (None, 0)
    assert store.get("sandbox", "feed.last_sequence") is None


def test_inventory_refresh_waits_when_the_quota_runs_short(
    twin: Twin, home: Path, store: Store
) -> None:
    profile = load_profile("sandbox", Home.at(home))
    profile = replace(
        profile, sync=replace(profile.sync, order_reserve_pct=99.95)
    )  # leaves 0 for inventory at the start of the day
    # The reserve is held for the rest of the day's cycles (offers/quota.py): at 00:00 all of it.
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    report = cycle(store, home, profile=profile, now=midnight)
    assert report.build is None and report.feed is None
    assert any("held for orders" in note for note in report.notes)
    assert report.counters()["inventory_refreshed"] is False
    # In the day's last cycle nothing is owed to later orders: what they left is spent.
    last = cycle(store, home, profile=profile, now=midnight + timedelta(hours=23, minutes=55))
    assert last.build is not None and last.counters()["stock_mode"] == "full"


def test_the_inventory_source_reads_reserved_lines_besides_or_instead_of_the_open_market(
    twin: Twin, home: Path, store: Store
) -> None:
    from komet_ftd_ops.offers.ids import OfferId
    from komet_ftd_ops.offers.inventory import read_inventory
    from komet_ftd_ops.settings.profiles import InventoryRules

    base = load_profile("sandbox", Home.at(home))
    assert base.inventory.source == "open_market"

    def lines(items: list[dict]) -> list[str]:
        return [OfferId.from_komet(i["inventoryLineIds"]).key for i in items]

    with open_clients(base, store, Home.at(home)) as clients:
        market = lines(clients.komet.inventory_list(base.ftd_customer_id))
        reserved = lines(clients.komet.inventory_list(base.ftd_customer_id, reserved=True))
        # The twin seeds a few lines reserved for the FTD customer: Komet hides them from
        # the open-market listing and lists only them with reservedInventory=true.
        assert reserved and market and not set(market) & set(reserved)
        read = {}
        for source in ("open_market", "reserved", "both"):
            profile = replace(base, inventory=InventoryRules(source=source))
            frame = read_inventory(clients.komet, profile)  # to_frame's typed frame
            read[source] = [OfferId.parse(o).key for o in frame["offer_id"]]
    assert sorted(read["open_market"]) == sorted(market)
    assert sorted(read["reserved"]) == sorted(reserved)
    assert sorted(read["both"]) == sorted(market + reserved)  # two reads, nothing twice

    report = cycle(store, home, profile=replace(base, inventory=InventoryRules(source="reserved")))
    assert report.build.lines_read == len(reserved)
    published = {OfferId.parse(o).key for o in report.build.offers["offer_id"]}
    assert published and published <= set(reserved)
