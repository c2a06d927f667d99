"""`offers.feed` owns full-vs-delta: a delta FTD cannot take goes out as a full feed.

Offline through a scripted FTD (`FakeFtd`, an `httpx.MockTransport` handler that enforces a body
limit and refuses anything it does not know), then against the twin started with a small body
limit: in process, and through the live path (`komet-ftd-ops run sync`, papermill and all).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from conftest import REPO, Twin

from komet_ftd_ops.connect import open_clients
from komet_ftd_ops.errors import Conflict
from komet_ftd_ops.ftd import FtdClient, FtdConfig
from komet_ftd_ops.offers.feed import FeedOutcome, FeedState, plan_feed, publish_feed
from komet_ftd_ops.sandbox import control
from komet_ftd_ops.settings.home import Home
from komet_ftd_ops.settings.profiles import (
    Profile,
    load_profile,
    profile_from_dict,
    sandbox_profile_dict,
)
from komet_ftd_ops.settings.secrets import Secret
from komet_ftd_ops.state.store import Store
from komet_ftd_ops.sync import run_cycle

BASE = "/v1/suppliers/SUP-1"
T0 = datetime(2026, 11, 28, 13, 0, tzinfo=UTC)
TWIN_LIMIT = 20_000


def profile_with(max_body_bytes: int | None = None) -> Profile:
    ftd: dict[str, Any] = {"base_url": "http://ftd.test", "supplier_id": "SUP-1", "token": "env:T"}
    if max_body_bytes is not None:
        ftd["max_body_bytes"] = max_body_bytes
    komet = {"base_url": "http://komet.test/", "company_id": "c1", "ftd_customer_id": "f1"}
    return profile_from_dict("test", {"komet": {**komet, "token": "env:K"}, "ftd": ftd})


def offers_frame(count: int, boxes: int = 5) -> pd.DataFrame:
    """Offers as `build_offers` makes them (the columns `offers_as_dicts` sends)."""
    rows = [
        {
            "offer_id": f"om:{n}", "sku": f"RS-FREEDOM-{n}", "product_name": "Rose Freedom 50cm",
            "category": "Roses", "variety": "Freedom", "color": "Red", "grade": "50cm",
            "box_type": "QB", "unit_type": "STEM", "stems_per_bunch": 25, "bunches_per_box": 4,
            "units_per_box": 100, "quantity_available": boxes, "price_per_unit": "0.42",
            "currency": "USD", "available_from": "2026-11-30", "available_to": "2026-12-05",
        }
        for n in range(count)
    ]  # fmt: skip
    frame = pd.DataFrame(rows)
    frame["quantity_available"] = frame["quantity_available"].astype("int64")
    return frame


class FakeFtd:
    """FTD's feed routes: 413 in FTD's error shape over `limit`, else 202; feeds report done.

    `delta_answers` scripts the answers to the next deltas (e.g. a 409). Every POST is kept in
    `posts` as (route, bytes, body, status); any other request fails the test.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.delta_answers: list[tuple[int, dict[str, Any]]] = []
        self.posts: list[tuple[str, int, dict[str, Any], int]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "GET" and path.startswith(f"{BASE}/feeds/"):
            return httpx.Response(200, json={"status": "done", "accepted": 1, "rejected": []})
        route = path.removeprefix(f"{BASE}/inventory/")
        if request.method != "POST" or route not in ("full", "delta"):
            raise AssertionError(f"unexpected request: {request.method} {path}")
        body = json.loads(request.content)
        if len(request.content) > self.limit:
            status, answer = 413, error("payload_too_large", f"the body is over {self.limit}")
        elif route == "delta" and self.delta_answers:
            status, answer = self.delta_answers.pop(0)
        else:
            status, answer = 202, {"feed_id": body["feed_id"], "status": "processing"}
        self.posts.append((route, len(request.content), body, status))
        return httpx.Response(status, json=answer)

    def accepted(self, route: str) -> list[dict[str, Any]]:
        return [body for r, _, body, status in self.posts if r == route and status == 202]


def error(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}, **extra}


class Kit:
    """One profile's feed state and FTD client (its limit from the profile), cycle by cycle."""

    def __init__(self, path: Path, profile: Profile, fake: FakeFtd) -> None:
        self.profile, self.fake = profile, fake
        self.store = Store(path)
        self.state = FeedState(self.store, profile.name)
        config = FtdConfig.from_profile(profile, Secret("ftd-test-token"))
        self.ftd = FtdClient(config, transport=httpx.MockTransport(fake))

    def cycle(self, offers: pd.DataFrame, minutes: int) -> FeedOutcome:
        now = T0 + timedelta(minutes=minutes)
        plan = plan_feed(offers, self.state, self.profile, now)
        return publish_feed(plan, self.ftd, self.state, self.profile, now=now)

    def feeds(self) -> list[tuple[str, int, str]]:
        rows = self.store.query("SELECT kind, sequence, status FROM feeds ORDER BY rowid")
        return [(r["kind"], r["sequence"], r["status"]) for r in rows]

    def close(self) -> None:
        self.ftd.close()
        self.store.close()


@pytest.fixture
def kit(tmp_path: Path) -> Iterator[Any]:
    made: list[Kit] = []

    def make(profile: Profile, fake: FakeFtd) -> Kit:
        made.append(Kit(tmp_path / "state.sqlite3", profile, fake))
        return made[-1]

    yield make
    for one in made:
        one.close()


def changed(offers: pd.DataFrame, count: int) -> pd.DataFrame:
    out = offers.copy()
    out.loc[: count - 1, "quantity_available"] = 1
    return out


def full_feed_parts(fake: FakeFtd, sequence: int) -> list[dict[str, Any]]:
    parts = [b for b in fake.accepted("full") if b["sequence"] == sequence]
    assert len({p["feed_id"] for p in parts}) == 1
    return parts


# -- offline ---------------------------------------------------------------------------------


def test_a_delta_over_the_limit_goes_out_as_a_full_feed_in_parts(kit: Any) -> None:
    k = kit(profile_with(3_000), FakeFtd(limit=3_000))
    assert k.ftd.config.max_body_bytes == 3_000  # from [ftd] max_body_bytes
    offers = offers_frame(20)
    first = k.cycle(offers, 0)
    assert (first.kind, first.reason, first.fallback) == ("full", "first_cycle", "")
    assert first.parts > 1

    later = changed(offers, 10)
    posts_before = len(k.fake.posts)
    outcome = k.cycle(later, 5)

    assert (outcome.kind, outcome.reason, outcome.fallback) == (
        "full",
        "delta_too_large",
        "delta_too_large",
    )
    sent = k.fake.posts[posts_before:]
    assert [route for route, *_ in sent] == ["full"] * outcome.parts  # the delta never went out
    parts = full_feed_parts(k.fake, 2)
    assert outcome.parts == len(parts) > 1 and outcome.sequence == 2
    assert [p["part"] for p in parts] == list(range(1, len(parts) + 1))
    assert {p["parts"] for p in parts} == {len(parts)}
    assert all(size <= 3_000 for _, size, *_ in sent)
    listed = {o["offer_id"]: o["quantity_available"] for p in parts for o in p["offers"]}
    assert listed == dict(zip(later["offer_id"], later["quantity_available"], strict=True))

    assert k.feeds()[-2:] == [("delta", 2, "too_large"), ("full", 2, "done")]
    snapshot = k.state.snapshot()["quantity"].to_dict()
    assert snapshot == listed and k.state.last_sequence() == 2
    counters = outcome.counters()
    assert counters["feed_fallback"] == "delta_too_large" and counters["feed_parts"] > 1
    assert k.cycle(later, 10).kind == "delta"  # settled: nothing left to heal


def test_ftds_own_413_on_a_delta_goes_out_as_a_full_feed_in_smaller_parts(kit: Any) -> None:
    # The kit believes FTD takes 100 kB; FTD takes 3 kB.
    k = kit(profile_with(100_000), FakeFtd(limit=3_000))
    offers = offers_frame(20)
    first = k.cycle(offers, 0)
    assert first.kind == "full" and first.parts > 1
    later = changed(offers, 10)
    posts_before = len(k.fake.posts)
    outcome = k.cycle(later, 5)

    sent = k.fake.posts[posts_before:]
    assert sent[0][0] == "delta" and sent[0][3] == 413  # FTD itself refused the delta
    assert (outcome.kind, outcome.reason, outcome.fallback) == ("full", *["delta_too_large"] * 2)
    parts = full_feed_parts(k.fake, 2)
    assert outcome.parts == len(parts) > 1
    assert all(size <= 3_000 for _, size, _, status in sent if status == 202)
    listed = {o["offer_id"]: o["quantity_available"] for p in parts for o in p["offers"]}
    assert k.state.snapshot()["quantity"].to_dict() == listed
    rows = k.store.query("SELECT kind, status, reason FROM feeds WHERE sequence=2 ORDER BY rowid")
    assert (rows[0]["kind"], rows[0]["status"]) == ("delta", "too_large")
    assert "413" in rows[0]["reason"]
    assert [r["status"] for r in rows[1:-1]] == ["too_large"] * (len(rows) - 2) != []
    assert rows[-1]["status"] == "done"


def test_a_409_on_another_base_sends_a_full_feed_past_ftds_sequence(kit: Any) -> None:
    k = kit(profile_with(), FakeFtd(limit=5_000_000))
    offers = offers_frame(5)
    k.cycle(offers, 0)
    k.fake.delta_answers.append((409, error("base_mismatch", "expected 7", expected_base=7)))
    outcome = k.cycle(changed(offers, 2), 5)
    assert (outcome.kind, outcome.reason, outcome.fallback) == ("full", *["after_conflict"] * 2)
    assert outcome.sequence == 8 and full_feed_parts(k.fake, 8)
    assert k.feeds()[-2:] == [("delta", 2, "conflict"), ("full", 8, "done")]


def test_a_409_without_expected_base_is_raised_and_healed_next_cycle(kit: Any) -> None:
    k = kit(profile_with(), FakeFtd(limit=5_000_000))
    offers = offers_frame(5)
    k.cycle(offers, 0)
    k.fake.delta_answers.append((409, error("idempotency_key_reused", "different body")))
    with pytest.raises(Conflict) as info:
        k.cycle(changed(offers, 2), 5)
    assert info.value.expected_base is None
    assert k.fake.posts[-1][0] == "delta"  # no full feed for a clash that is not a base mismatch
    assert k.feeds()[-1] == ("delta", 2, "sending")
    again = plan_feed(changed(offers, 2), k.state, k.profile, T0 + timedelta(minutes=10))
    assert (again.kind, again.reason) == ("full", "unknown_outcome")


def test_an_accepted_delta_is_all_that_is_sent(kit: Any) -> None:
    k = kit(profile_with(), FakeFtd(limit=5_000_000))
    offers = offers_frame(5)
    k.cycle(offers, 0)
    outcome = k.cycle(changed(offers, 2), 5)
    assert (outcome.kind, outcome.fallback, outcome.upserts) == ("delta", "", 2)
    assert [route for route, *_ in k.fake.posts] == ["full", "delta"]
    assert outcome.counters()["feed_fallback"] is None


def test_the_body_limit_is_a_profile_setting(home: Path) -> None:
    assert profile_with().ftd_max_body_bytes == 5_000_000
    assert FtdConfig.from_profile(profile_with(), Secret("t")).max_body_bytes == 5_000_000
    assert FtdConfig.from_profile(profile_with(12_345), Secret("t")).max_body_bytes == 12_345
    path = Home.at(home).sandbox_info
    path.parent.mkdir(parents=True)
    info = {
        "komet": {"base_url": "http://k/", "company_id": "c", "ftd_customer_id": "f"},
        "ftd": {"base_url": "http://f", "supplier_id": "S"},
    }
    path.write_text(json.dumps(info))
    assert (
        "max_body_bytes" not in sandbox_profile_dict(Home.at(home))["ftd"]
    )  # an older twin: default
    assert load_profile("sandbox", Home.at(home)).ftd_max_body_bytes == 5_000_000
    info["ftd"]["max_body_bytes"] = 20_000
    path.write_text(json.dumps(info))
    assert load_profile("sandbox", Home.at(home)).ftd_max_body_bytes == 20_000


# -- against the twin ------------------------------------------------------------------------


@pytest.fixture
def small_twin(home: Path) -> Iterator[Twin]:
    """The twin with a 20 kB FTD body limit: 300 lines make a full feed of several parts."""
    running = Twin(home, control.up(Home.at(home), ftd_max_body=TWIN_LIMIT, timeout=30))
    try:
        yield running
    finally:
        running.stop()


def assert_ftd_lists_the_snapshot(twin: Twin, home: Path, feed_id: str, sequence: int) -> int:
    """FTD got feed `feed_id` as a full feed in parts at `sequence`, and lists what the kit
    thinks it lists; returns the number of parts."""
    profile = load_profile("sandbox", Home.at(home))
    with (
        Store(Home.at(home).state_db) as store,
        open_clients(profile, store, Home.at(home)) as clients,
    ):
        status = clients.ftd.feed_status(feed_id)
        listed = {o["offer_id"]: o["quantity_available"] for o in clients.ftd.list_offers()}
        snapshot = FeedState(store, "sandbox").snapshot()["quantity"].to_dict()
    assert (status["kind"], status["sequence"], status["status"]) == ("full", sequence, "done")
    assert status["parts_received"] == status["parts"] > 1
    assert listed == snapshot and listed
    assert twin.control("ftd", "GET", "dump")["last_sequence"] == sequence
    return int(status["parts"])


def test_publish_feed_answers_the_twins_413_with_a_full_feed(small_twin: Twin, home: Path) -> None:
    profile = load_profile("sandbox", Home.at(home))
    assert profile.ftd_max_body_bytes == TWIN_LIMIT  # taken from the twin's info.json
    with Store(Home.at(home).state_db) as store:
        with open_clients(profile, store, Home.at(home)) as clients:
            first = run_cycle(profile, store, clients, now=T0)
        assert (first.feed.kind, first.feed.sequence) == ("full", 1) and first.feed.parts > 1

        small_twin.control("komet", "POST", "stock", json={"sell_elsewhere": 0.5})
        # The kit's limit is too big. No hold-back: it would hide most of the lines other
        # channels just half emptied, and this test needs their new quantities in the delta.
        trusting = replace(
            profile, ftd_max_body_bytes=5_000_000, sync=replace(profile.sync, holdback_pct=0)
        )
        with open_clients(trusting, store, Home.at(home)) as clients:
            report = run_cycle(trusting, store, clients, now=T0 + timedelta(minutes=5))
        rows = store.query("SELECT kind, status, reason FROM feeds WHERE sequence=2 ORDER BY rowid")
    feed = report.feed
    assert (feed.kind, feed.reason, feed.fallback) == ("full", *["delta_too_large"] * 2)
    assert (rows[0]["kind"], rows[0]["status"]) == ("delta", "too_large")
    assert "413" in rows[0]["reason"] and "payload_too_large" in rows[0]["reason"]
    assert assert_ftd_lists_the_snapshot(small_twin, home, feed.feed_id, 2) == feed.parts


def kfo(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KOMET_FTD_OPS_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "komet_ftd_ops", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_run_sync_sends_a_too_large_delta_as_a_full_feed_in_parts(
    small_twin: Twin, home: Path
) -> None:
    # No hold-back: it would hide most of the lines half sold, and the delta must carry them.
    (home / "profiles").mkdir(exist_ok=True)
    (home / "profiles" / "sandbox.toml").write_text("[sync]\nholdback_pct = 0\n")
    for step in ("first", "second"):
        if step == "second":  # enough stock sold elsewhere that the delta is over 20 kB
            small_twin.control("komet", "POST", "stock", json={"sell_elsewhere": 0.5})
        done = kfo(home, "run", "sync", "--profile", "sandbox")
        assert done.returncode == 0, f"{step}: {done.stdout[-2000:]}{done.stderr[-2000:]}"

    runs = json.loads(kfo(home, "runs", "list", "--json").stdout)
    counters = sorted((r["counters"] for r in runs), key=lambda c: c["feed_sequence"])
    assert [(c["feed_kind"], c["feed_reason"]) for c in counters] == [
        ("full", "first_cycle"),
        ("full", "delta_too_large"),
    ]
    assert counters[1]["feed_fallback"] == "delta_too_large" and counters[1]["feed_parts"] > 1
    with Store(Home.at(home).state_db) as store:
        rows = store.query(
            "SELECT feed_id, kind, status FROM feeds WHERE sequence=2 ORDER BY rowid"
        )
    assert [(r["kind"], r["status"]) for r in rows] == [("delta", "too_large"), ("full", "done")]
    parts = assert_ftd_lists_the_snapshot(small_twin, home, rows[1]["feed_id"], 2)
    assert parts == counters[1]["feed_parts"]


def test_a_delta_plan_sends_the_changed_and_new_offers_and_withdraws_the_gone_in_order(
    kit: Any,
) -> None:
    """`plan_feed` finds each offer in the last accepted snapshot once: the quantities before,
    the fingerprints and the withdrawals all come from that one lookup."""
    k = kit(profile_with(), FakeFtd(limit=5_000_000))
    offers = offers_frame(12)
    assert k.cycle(offers, 0).kind == "full"
    now = offers[~offers["offer_id"].isin(["om:2", "om:10", "om:11"])].copy()
    now.loc[now["offer_id"] == "om:4", "quantity_available"] = 9
    now.loc[now["offer_id"] == "om:7", "price_per_unit"] = "0.50"  # same boxes, new content
    new = offers_frame(13).iloc[[12]]  # om:12, never published
    now = pd.concat([now, new], ignore_index=True)
    plan = plan_feed(now, k.state, k.profile, T0 + timedelta(minutes=5))
    assert (plan.kind, plan.reason) == ("delta", "changes")
    assert plan.upserts["offer_id"].tolist() == ["om:4", "om:7", "om:12"]
    assert plan.withdrawals == ["om:10", "om:11", "om:2"]  # sorted, as text
    moved = {r.offer_id: (r.before, r.after) for r in plan.changes.itertuples()}
    assert moved == {"om:4": (5, 9), "om:12": (0, 5), **{o: (5, 0) for o in plan.withdrawals}}
    nothing = plan_feed(now.iloc[:0], k.state, k.profile, T0 + timedelta(minutes=5))
    assert sorted(nothing.withdrawals) == sorted(offers["offer_id"])
    assert nothing.upserts.empty
