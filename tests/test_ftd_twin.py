"""The FTD twin against its contract (docs/ftd-api.md), over real HTTP with raw httpx.

These test the twin, not the kit's FTD client: every request is spelled out by hand. Most tests
run the FTD app alone (`ftd` fixture: AppRunner on a free loopback port in a background thread,
with a recording oversell hook); the last ones run the whole `twin` server process.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from komet_ftd_ops.sandbox import faults
from komet_ftd_ops.sandbox.ftd import app as ftd_app
from komet_ftd_ops.state.sqlite_file import SQLiteFile as Store


def today() -> date:
    """The UTC day now, as the twin reads it: a module constant went stale when the suite ran
    past midnight (the shop's late orders were for the new day)."""
    return datetime.now(UTC).date()


ORDER_KEYS = [
    "order_id", "order_number", "po_number", "status", "version", "created_at", "updated_at",
    "buyer", "ship_to", "requested_ship_date", "lines", "currency", "notes", "acknowledgement",
]  # fmt: skip
LINE_KEYS = [
    "line_id", "offer_id", "sku", "boxes", "box_type", "units_per_box", "price_per_unit",
]  # fmt: skip


class LocalFtd:
    """The FTD app alone on 127.0.0.1:<free port>, its loop in a thread so tests stay plain sync.

    `oversold` records every `on_oversell(offer_id)` call, standing in for the Komet twin.
    """

    def __init__(self, path: Path, seed: int = 7, max_body_bytes: int | None = None) -> None:
        self.path = path
        self.seed = seed
        self.oversold: list[str] = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.db = Store(path, migrations=faults.MIGRATIONS + ftd_app.MIGRATIONS)
        ident = ftd_app.seed(self.db, seed=seed)
        self.supplier_id, self.token = ident["supplier_id"], ident["token"]
        limit = {} if max_body_bytes is None else {"max_body_bytes": max_body_bytes}
        app = ftd_app.create_app(
            self.db,
            faults.FaultBoard(self.db, seed=seed),
            on_oversell=self.oversold.append,
            **limit,
        )
        self.runner = web.AppRunner(app, access_log=None)
        self.url = self._run(self._start())
        self.api = f"{self.url}/v1/suppliers/{self.supplier_id}"
        self.http = httpx.Client(
            headers={"Authorization": f"Bearer {self.token}"}, timeout=10, trust_env=False
        )

    async def _start(self) -> str:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{port}"

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def stop(self) -> None:
        self.http.close()
        self._run(self.runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
        self.db.close()

    # -- HTTP helpers ----------------------------------------------------------------------

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get(f"{self.api}{path}", params=params)

    def post(self, path: str, body: Any, key: str | None = None) -> httpx.Response:
        headers = {"Idempotency-Key": key or str(uuid.uuid4())}
        return self.http.post(f"{self.api}{path}", json=body, headers=headers)

    def control(self, method: str, path: str, body: Any = None) -> Any:
        response = httpx.request(
            method, f"{self.url}/_sandbox/{path}", json=body, timeout=30, trust_env=False
        )
        assert response.status_code == 200, response.text
        return response.json()

    # -- contract compositions the tests repeat ---------------------------------------------

    def full_feed(self, offers: list[dict[str, Any]], sequence: int, **extra: Any) -> str:
        feed_id = f"full-{sequence}-{uuid.uuid4().hex[:8]}"
        body = {"feed_id": feed_id, "sequence": sequence, "generated_at": _ts(), **extra}
        response = self.post("/inventory/full", {**body, "offers": offers})
        assert response.status_code == 202, response.text
        return feed_id

    def delta(self, base: int, sequence: int, changes: list[dict[str, Any]]) -> httpx.Response:
        body = {
            "feed_id": f"delta-{sequence}-{uuid.uuid4().hex[:8]}",
            "base_sequence": base,
            "sequence": sequence,
            "changes": changes,
        }
        return self.post("/inventory/delta", body)

    def wait_feed(self, feed_id: str, timeout: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            status = self.get(f"/feeds/{feed_id}").json()
            if status["status"] != "processing" or time.monotonic() > deadline:
                return status
            time.sleep(0.05)

    def all_orders(self, **params: Any) -> tuple[list[dict[str, Any]], str | None, int]:
        """Every page of GET /orders: (orders in the order served, last watermark, pages)."""
        orders: list[dict[str, Any]] = []
        cursor, watermark, pages = None, None, 0
        while True:
            query = {**params, **({"cursor": cursor} if cursor else {})}
            page = self.get("/orders", **query)
            assert page.status_code == 200, page.text
            data = page.json()
            pages += 1
            orders += data["orders"]
            watermark = data["high_watermark"] or watermark
            cursor = data["next_cursor"]
            if not cursor:
                return orders, watermark, pages

    def ack_all(self, order: dict[str, Any]) -> httpx.Response:
        return self.post(f"/orders/{order['order_id']}/acknowledge", _accept_all(order))


def _ts() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def offer(n: int, **overrides: Any) -> dict[str, Any]:
    """A valid offer in the contract's shape (a rose, 25 stems x 4 bunches per QB)."""
    return {
        "offer_id": f"om:{428700 + n}",
        "sku": f"RS-FREEDOM-{n}",
        "product_name": "Rose Freedom 50cm",
        "category": "Roses",
        "variety": "Freedom",
        "color": "Red",
        "grade": "50cm",
        "box_type": "QB",
        "unit_type": "STEM",
        "stems_per_bunch": 25,
        "bunches_per_box": 4,
        "units_per_box": 100,
        "quantity_available": 7,
        "price_per_unit": "0.42",
        "currency": "USD",
        "available_from": today().isoformat(),
        "available_to": (today() + timedelta(days=5)).isoformat(),
        "updated_at": _ts(),
        **overrides,
    }


def error_code(response: httpx.Response) -> str:
    body = response.json()
    assert set(body["error"]) >= {"code", "message"} and body["error"]["message"]
    return body["error"]["code"]


@pytest.fixture
def ftd(tmp_path: Path) -> Iterator[LocalFtd]:
    twin = LocalFtd(tmp_path / "t.sqlite3")
    twin.control("POST", "settings", {"feed_processing_ms": 0})
    try:
        yield twin
    finally:
        twin.stop()


@pytest.fixture
def stocked(ftd: LocalFtd) -> LocalFtd:
    """Ten offers listed by full feed sequence 1, forty boxes each."""
    ftd.full_feed([offer(n, quantity_available=40) for n in range(10)], sequence=1)
    return ftd


# -- auth, errors, idempotency -------------------------------------------------------------


def test_auth_and_error_shape(ftd: LocalFtd) -> None:
    no_token = httpx.get(f"{ftd.api}/orders", trust_env=False)
    assert no_token.status_code == 401 and error_code(no_token) == "unauthorized"
    wrong = httpx.get(
        f"{ftd.api}/orders", headers={"Authorization": "Bearer nope"}, trust_env=False
    )
    assert wrong.status_code == 401 and error_code(wrong) == "invalid_token"
    other = ftd.http.get(f"{ftd.url}/v1/suppliers/SUP-000000/orders")
    assert other.status_code == 403 and error_code(other) == "forbidden"
    missing = ftd.get("/nowhere")
    assert missing.status_code == 404 and error_code(missing) == "not_found"
    assert error_code(ftd.get("/orders", colour="red")) == "unknown_parameter"
    assert error_code(ftd.get("/orders/FTD-0000000")) == "order_not_found"


def test_seed_is_deterministic_and_first_start_only(tmp_path: Path) -> None:
    one = Store(tmp_path / "a.sqlite3", migrations=faults.MIGRATIONS + ftd_app.MIGRATIONS)
    two = Store(tmp_path / "b.sqlite3", migrations=faults.MIGRATIONS + ftd_app.MIGRATIONS)
    first = ftd_app.seed(one, seed=7)
    assert len(first["token"]) >= 40
    assert ftd_app.seed(one, seed=99) == first  # already seeded: unchanged
    assert ftd_app.seed(two, seed=7) == first
    three = Store(tmp_path / "c.sqlite3", migrations=faults.MIGRATIONS + ftd_app.MIGRATIONS)
    assert ftd_app.seed(three, seed=8)["token"] != first["token"]


def test_post_needs_idempotency_key_and_json(ftd: LocalFtd) -> None:
    body = {"feed_id": "f1", "sequence": 1, "generated_at": _ts(), "offers": []}
    no_key = ftd.http.post(f"{ftd.api}/inventory/full", json=body)
    assert no_key.status_code == 400 and error_code(no_key) == "missing_idempotency_key"
    text = ftd.http.post(
        f"{ftd.api}/inventory/full",
        content=b"{}",
        headers={"Idempotency-Key": "k", "Content-Type": "text/plain"},
    )
    assert text.status_code == 415
    broken = ftd.http.post(
        f"{ftd.api}/inventory/full",
        content=b"{not json",
        headers={"Idempotency-Key": "k", "Content-Type": "application/json"},
    )
    assert broken.status_code == 400 and error_code(broken) == "invalid_json"
    assert ftd.control("GET", "dump")["feeds"] == 0


def test_replay_returns_first_answer_and_key_reuse_is_409(ftd: LocalFtd) -> None:
    body = {"feed_id": "full-a", "sequence": 1, "generated_at": _ts(), "offers": [offer(1)]}
    first = ftd.post("/inventory/full", body, key="key-1")
    again = ftd.post("/inventory/full", dict(reversed(body.items())), key="key-1")
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    reused = ftd.post("/inventory/full", {**body, "sequence": 2}, key="key-1")
    assert reused.status_code == 409 and error_code(reused) == "idempotency_key_reused"
    # A refusal is a first answer too: replaying it does not run the request again.
    delta = {"feed_id": "d-x", "base_sequence": 5, "sequence": 6, "changes": []}
    refused = ftd.post("/inventory/delta", delta, key="key-2")
    assert refused.status_code == 409
    assert ftd.post("/inventory/delta", delta, key="key-2").json() == refused.json()
    assert ftd.control("GET", "dump")["feeds"] == 1


# -- inventory ------------------------------------------------------------------------------


def test_full_feed_in_parts_takes_effect_when_complete(ftd: LocalFtd) -> None:
    ftd.full_feed([offer(n) for n in range(4)], sequence=1)
    envelope = {"feed_id": "full-parts", "sequence": 2, "generated_at": _ts(), "parts": 3}
    parts = [[offer(10), offer(11)], [offer(12)], [offer(1, quantity_available=2)]]
    assert (
        ftd.post("/inventory/full", {**envelope, "part": 1, "offers": parts[0]}).status_code == 202
    )
    second = ftd.post("/inventory/full", {**envelope, "part": 3, "offers": parts[2]})
    assert second.json() == {
        "feed_id": "full-parts",
        "status": "processing",
        "parts": 3,
        "parts_received": 2,
    }
    # Not complete: the old listing and sequence stand.
    assert {o["offer_id"] for o in ftd.get("/offers").json()["offers"]} == {
        offer(n)["offer_id"] for n in range(4)
    }
    assert ftd.control("GET", "dump")["last_sequence"] == 1
    clash = ftd.post("/inventory/full", {**envelope, "part": 1, "offers": parts[1]})
    assert clash.status_code == 409 and error_code(clash) == "part_conflict"
    mismatch = ftd.post(
        "/inventory/full", {**envelope, "sequence": 9, "part": 2, "offers": parts[1]}
    )
    assert mismatch.status_code == 409 and error_code(mismatch) == "feed_mismatch"
    assert (
        ftd.post("/inventory/full", {**envelope, "part": 2, "offers": parts[1]}).status_code == 202
    )
    listed = {o["offer_id"]: o for o in ftd.get("/offers").json()["offers"]}
    assert set(listed) == {offer(n)["offer_id"] for n in (1, 10, 11, 12)}  # 0, 2, 3 withdrawn
    assert listed[offer(1)["offer_id"]]["quantity_available"] == 2
    status = ftd.wait_feed("full-parts")
    assert status["status"] == "done" and status["accepted"] == 4 and status["rejected"] == []
    assert ftd.control("GET", "dump")["last_sequence"] == 2


def test_body_over_5mb_is_413(ftd: LocalFtd) -> None:
    offers = [offer(n) for n in range(15_000)]
    big = {"feed_id": "huge", "sequence": 1, "generated_at": _ts(), "offers": offers}
    assert len(json.dumps(big)) > 5_000_000
    response = ftd.post("/inventory/full", big)
    assert response.status_code == 413 and error_code(response) == "payload_too_large"
    assert ftd.control("GET", "dump")["feeds"] == 0
    assert ftd.control("GET", "info")["max_body_bytes"] == 5_000_000


def test_the_body_limit_is_a_start_option(tmp_path: Path) -> None:
    small = LocalFtd(tmp_path / "small.sqlite3", max_body_bytes=4_000)
    try:
        assert small.control("GET", "info")["max_body_bytes"] == 4_000
        fits = {"feed_id": "f1", "sequence": 1, "generated_at": _ts(), "offers": [offer(1)]}
        assert len(json.dumps(fits)) < 4_000
        assert small.post("/inventory/full", fits).status_code == 202
        changes = [{"op": "upsert", "offer": offer(n)} for n in range(12)]
        delta = {"feed_id": "d2", "base_sequence": 1, "sequence": 2, "changes": changes}
        assert len(json.dumps(delta)) > 4_000
        refused = small.post("/inventory/delta", delta)
        assert refused.status_code == 413 and error_code(refused) == "payload_too_large"
        assert "4000 bytes" in refused.json()["error"]["message"]
        assert small.control("GET", "dump")["last_sequence"] == 1  # nothing of it applied
        # the control routes are not held to a small API limit
        assert small.control("POST", "settings", {"listing_noise": 0.0})["listing_noise"] == 0.0
    finally:
        small.stop()
    db = Store(tmp_path / "small.sqlite3", migrations=faults.MIGRATIONS + ftd_app.MIGRATIONS)
    with db, pytest.raises(ValueError):
        ftd_app.create_app(db, faults.FaultBoard(db), on_oversell=print, max_body_bytes=0)


def test_delta_needs_the_last_accepted_base(ftd: LocalFtd) -> None:
    before = ftd.delta(0, 1, [])
    assert before.status_code == 409 and error_code(before) == "no_full_feed"
    assert before.json()["expected_base"] is None
    ftd.full_feed([offer(1)], sequence=5)
    wrong = ftd.delta(4, 6, [])
    assert wrong.status_code == 409 and error_code(wrong) == "base_mismatch"
    assert wrong.json()["expected_base"] == 5
    backwards = ftd.delta(5, 5, [])
    assert backwards.status_code == 422 and error_code(backwards) == "invalid_sequence"


def test_heartbeat_and_absolute_quantities(stocked: LocalFtd) -> None:
    beat = stocked.delta(1, 2, [])
    assert beat.status_code == 202
    assert stocked.control("GET", "dump")["last_sequence"] == 2
    changes = [
        {"op": "upsert", "offer": offer(0, quantity_available=3)},
        {"op": "upsert", "offer": offer(0, quantity_available=4)},  # absolute: 4, not 7
        {"op": "withdraw", "offer_id": offer(1)["offer_id"]},
        {"op": "withdraw", "offer_id": "om:never-listed"},
        {"op": "upsert", "offer": offer(20, quantity_available=0)},
    ]
    assert stocked.delta(2, 3, changes).status_code == 202
    listed = {o["offer_id"]: o for o in stocked.get("/offers").json()["offers"]}
    assert listed[offer(0)["offer_id"]]["quantity_available"] == 4
    assert offer(1)["offer_id"] not in listed
    dump = stocked.control("GET", "dump")
    assert (dump["last_sequence"], dump["offers_total"], dump["offers"]) == (3, 10, 9)


def test_sequence_gap_fault_refuses_a_good_delta(stocked: LocalFtd) -> None:
    stocked.control("POST", "faults", {"kind": "sequence-gap", "method": "inventory.delta"})
    refused = stocked.delta(1, 2, [])
    assert refused.status_code == 409 and error_code(refused) == "sequence_gap"
    assert refused.json()["expected_base"] == 1
    stocked.control("DELETE", "faults")
    assert stocked.delta(1, 2, []).status_code == 202


def test_bad_offers_are_rejected_one_by_one_after_processing(ftd: LocalFtd) -> None:
    ftd.control("POST", "settings", {"feed_processing_ms": 400})
    missing = offer(6)
    del missing["currency"]
    bad = {
        offer(1, price_per_unit=0.42)["offer_id"]: "invalid_price",
        offer(2, price_per_unit="0.00")["offer_id"]: "invalid_price",
        offer(3, box_type="XB")["offer_id"]: "unknown_box_type",
        offer(4, quantity_available=-1)["offer_id"]: "invalid_quantity",
        offer(5, units_per_box=90)["offer_id"]: "units_mismatch",
        missing["offer_id"]: "missing_field",
        offer(7, currency="XYZ")["offer_id"]: "invalid_currency",
    }
    offers = [
        offer(0),
        offer(1, price_per_unit=0.42),
        offer(2, price_per_unit="0.00"),
        offer(3, box_type="XB"),
        offer(4, quantity_available=-1),
        offer(5, units_per_box=90),
        missing,
        offer(7, currency="XYZ"),
        offer(8, box_type="HB", unit_type="BUNCH", bunches_per_box=10, units_per_box=10),
    ]
    feed_id = ftd.full_feed(offers, sequence=1)
    early = ftd.get(f"/feeds/{feed_id}").json()
    assert early["status"] == "processing"  # clients must poll
    status = ftd.wait_feed(feed_id)
    assert status["status"] == "done" and status["accepted"] == 2
    assert {r["offer_id"]: r["code"] for r in status["rejected"]} == bad
    assert all(r["message"] for r in status["rejected"])
    assert {o["offer_id"] for o in ftd.get("/offers").json()["offers"]} == {
        "om:428700",
        "om:428708",
    }
    assert ftd.get("/feeds/unknown").status_code == 404


def test_offers_paging(ftd: LocalFtd) -> None:
    ftd.full_feed([offer(n) for n in range(25)], sequence=1)
    seen, cursor, pages = [], None, 0
    while True:
        page = ftd.get("/offers", limit=10, **({"cursor": cursor} if cursor else {})).json()
        pages += 1
        seen += [o["offer_id"] for o in page["offers"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert pages == 3 and len(seen) == len(set(seen)) == 25
    assert len(ftd.get("/offers").json()["offers"]) == 25  # default page size 500
    assert error_code(ftd.get("/offers", cursor="garbage")) == "invalid_cursor"
    assert ftd.get("/offers", limit=0).status_code == 400


# -- simulated florists ---------------------------------------------------------------------


def test_shop_buys_only_listed_stock_and_lowers_it(ftd: LocalFtd) -> None:
    expired = offer(3, available_from="2020-01-01", available_to="2020-01-02")
    ftd.full_feed(
        [
            offer(0, quantity_available=40),
            offer(1, price_per_unit="1.15", quantity_available=40),
            offer(2, quantity_available=0),
            expired,
        ],
        sequence=1,
    )
    before = {o["offer_id"]: o for o in ftd.get("/offers").json()["offers"]}
    result = ftd.control("POST", "shop", {"orders": 5})
    assert len(result["orders"]) == 5 and result["oversold_offers"] == []
    after = {o["offer_id"]: o for o in ftd.get("/offers").json()["offers"]}
    bought: dict[str, int] = {}
    for order_id in result["orders"]:
        order = ftd.get(f"/orders/{order_id}").json()
        assert list(order) == ORDER_KEYS
        assert (
            re.fullmatch(r"FTD-\d{7}", order["order_id"])
            and order["order_id"] == f"FTD-{order['order_number']}"
        )
        assert order["status"] == "NEW" and order["version"] == 1
        assert re.fullmatch(r"\d{2}-\d{4}[A-Z]{2}", order["buyer"]["member_code"])
        assert order["ship_to"]["country"] == "US" and order["ship_to"]["state"]
        assert 1 <= len(order["lines"]) <= 3
        ship = date.fromisoformat(order["requested_ship_date"])
        assert ship >= today()
        for line in order["lines"]:
            assert list(line) == LINE_KEYS
            listed = before[line["offer_id"]]
            assert line["offer_id"] in (offer(0)["offer_id"], offer(1)["offer_id"])
            assert line["price_per_unit"] == listed["price_per_unit"] and 1 <= line["boxes"] <= 3
            assert (
                date.fromisoformat(listed["available_from"])
                <= ship
                <= date.fromisoformat(listed["available_to"])
            )
            bought[line["offer_id"]] = bought.get(line["offer_id"], 0) + line["boxes"]
    for offer_id, boxes in bought.items():
        assert (
            after[offer_id]["quantity_available"] == before[offer_id]["quantity_available"] - boxes
        )
    assert ftd.oversold == []


def test_shop_stops_when_stock_runs_out_and_409_when_nothing_listed(ftd: LocalFtd) -> None:
    nothing = httpx.post(f"{ftd.url}/_sandbox/shop", json={"orders": 1}, trust_env=False)
    assert nothing.status_code == 409 and error_code(nothing) == "nothing_listed"
    ftd.full_feed([offer(0, quantity_available=4)], sequence=1)
    result = ftd.control("POST", "shop", {"orders": 10})
    assert 2 <= len(result["orders"]) <= 4
    assert ftd.control("GET", "dump")["offers"] == 0


def test_oversell_calls_the_hook(stocked: LocalFtd) -> None:
    result = stocked.control("POST", "shop", {"orders": 10, "oversell": 0.3, "seed": 1})
    assert len(result["oversold_offers"]) == 3
    assert stocked.oversold == result["oversold_offers"]
    for line in result["oversold_lines"]:
        order = stocked.get(f"/orders/{line['order_id']}").json()
        assert order["lines"][0]["offer_id"] == line["offer_id"]


# -- orders ---------------------------------------------------------------------------------


def test_listing_pages_and_watermark_skip_nothing(stocked: LocalFtd) -> None:
    created = stocked.control("POST", "shop", {"orders": 40})["orders"]  # one instant, one batch
    orders, watermark, pages = stocked.all_orders(limit=7)
    assert pages == 6 and [o["order_id"] for o in orders] == created
    stamps = [o["updated_at"] for o in orders]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)  # the tie-break
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", watermark or "")
    assert watermark == stamps[-1]
    # Resuming from the watermark of any page, even mid-batch, gives exactly the rest.
    first_page = stocked.get("/orders", limit=7).json()
    rest, _, _ = stocked.all_orders(updated_after=first_page["high_watermark"], limit=7)
    assert [o["order_id"] for o in rest] == created[7:]
    # Changes and new orders after the watermark, and nothing else.
    stocked.ack_all(orders[3])
    more = stocked.control("POST", "shop", {"orders": 3})["orders"]
    newer, watermark2, _ = stocked.all_orders(updated_after=watermark)
    assert [o["order_id"] for o in newer] == [orders[3]["order_id"], *more]
    assert newer[0]["version"] == 2 and watermark2 > watermark
    empty = stocked.get("/orders", updated_after=watermark2).json()
    assert empty == {"orders": [], "next_cursor": None, "high_watermark": watermark2}
    new_only, _, _ = stocked.all_orders(status="NEW")
    assert orders[3]["order_id"] not in {o["order_id"] for o in new_only}
    other = stocked.get("/orders", status="ACKNOWLEDGED", cursor=first_page["next_cursor"])
    assert other.status_code == 400 and error_code(other) == "invalid_cursor"
    assert stocked.get("/orders", updated_after="yesterday").status_code == 400


def test_listing_noise_repeats_and_replays_old_versions(stocked: LocalFtd) -> None:
    for order_id in stocked.control("POST", "shop", {"orders": 12})["orders"]:
        stocked.ack_all(stocked.get(f"/orders/{order_id}").json())
    truth = {o["order_id"]: o["version"] for o in stocked.all_orders()[0]}
    assert set(truth.values()) == {2}
    stocked.control("POST", "settings", {"listing_noise": 1.0})
    seen: list[dict[str, Any]] = []
    for _ in range(2):
        seen += stocked.all_orders(limit=5)[0]
    ids = [o["order_id"] for o in seen]
    assert len(ids) > 2 * len(truth)  # duplicates
    assert any(o["version"] < truth[o["order_id"]] for o in seen)  # older versions
    best: dict[str, int] = {}
    for o in seen:
        best[o["order_id"]] = max(best.get(o["order_id"], 0), o["version"])
    assert best == truth  # de-duplicating by highest version recovers the truth
    assert stocked.control("POST", "settings", {"listing_noise": 0})["listing_noise"] == 0


def test_acknowledge_transitions_and_conflicts(stocked: LocalFtd) -> None:
    ids = stocked.control("POST", "shop", {"orders": 3, "seed": 4})["orders"]
    order = stocked.get(f"/orders/{ids[0]}").json()
    path = f"/orders/{ids[0]}/acknowledge"
    lines = [
        {"line_id": ln["line_id"], "decision": "ACCEPT", "boxes_accepted": ln["boxes"]}
        for ln in order["lines"]
    ]
    unknown = stocked.post(
        path,
        {
            "supplier_ref": "K-1",
            "lines": [*lines, {"line_id": "99", "decision": "ACCEPT", "boxes_accepted": 1}],
        },
    )
    assert unknown.status_code == 422 and error_code(unknown) == "unknown_line"
    if len(lines) > 1:
        partial = stocked.post(path, {"supplier_ref": "K-1", "lines": lines[:1]})
        assert partial.status_code == 422 and error_code(partial) == "missing_lines"
    no_reason = stocked.post(
        path,
        {
            "supplier_ref": "K-1",
            "lines": [{**lines[0], "decision": "REJECT", "boxes_accepted": 0}, *lines[1:]],
        },
    )
    assert no_reason.status_code == 422 and error_code(no_reason) == "missing_reason"
    done = stocked.post(path, {"supplier_ref": "K-1", "lines": lines})
    assert done.status_code == 200
    assert done.json()["status"] == "ACKNOWLEDGED" and done.json()["version"] == 2
    same = stocked.post(path, {"supplier_ref": "K-1", "lines": list(reversed(lines))})
    assert same.status_code == 200 and same.json()["version"] == 2
    other = stocked.post(path, {"supplier_ref": "K-2", "lines": lines})
    assert other.status_code == 409 and error_code(other) == "already_acknowledged"

    rejected = stocked.get(f"/orders/{ids[1]}").json()
    all_no = [
        {"line_id": ln["line_id"], "decision": "REJECT", "reason_code": "OUT_OF_STOCK"}
        for ln in rejected["lines"]
    ]
    answer = stocked.post(f"/orders/{ids[1]}/acknowledge", {"supplier_ref": "K-3", "lines": all_no})
    assert answer.status_code == 200 and answer.json()["status"] == "REJECTED"
    dump = {o["order_id"]: o for o in stocked.control("GET", "dump")["orders"]}
    assert dump[ids[0]]["acknowledgement"]["supplier_ref"] == "K-1"
    assert dump[ids[2]]["acknowledgement"] is None and dump[ids[2]]["status"] == "NEW"


def test_status_transitions_and_cancellation(stocked: LocalFtd) -> None:
    ids = stocked.control("POST", "shop", {"orders": 4})["orders"]
    orders = [stocked.get(f"/orders/{i}").json() for i in ids]

    def status(order_id: str, body: dict[str, Any]) -> httpx.Response:
        return stocked.post(f"/orders/{order_id}/status", body)

    early = status(ids[0], {"status": "CONFIRMED", "invoice_number": "INV-1"})
    assert early.status_code == 409 and error_code(early) == "invalid_transition"
    for order in orders:
        assert stocked.ack_all(order).status_code == 200
    assert error_code(status(ids[0], {"status": "CONFIRMED"})) == "missing_field"
    assert error_code(status(ids[0], {"status": "LOST"})) == "invalid_status"
    confirmed = status(ids[0], {"status": "CONFIRMED", "invoice_number": "INV-1"})
    assert confirmed.json()["status"] == "CONFIRMED" and confirmed.json()["version"] == 3
    assert (
        error_code(status(ids[0], {"status": "CONFIRMED", "invoice_number": "INV-1"}))
        == "invalid_transition"
    )
    shipped = status(
        ids[0], {"status": "SHIPPED", "invoice_number": "INV-1", "tracking_number": "1Z999"}
    )
    assert shipped.json()["status"] == "SHIPPED"
    assert error_code(status(ids[0], {"status": "CANCELLED"})) == "invalid_transition"

    # Buyer asks to cancel an ACKNOWLEDGED order; the supplier agrees.
    watermark = stocked.get("/orders").json()["high_watermark"]
    assert stocked.control("POST", "cancel", {"order_id": ids[1]})["orders"] == [ids[1]]
    asked = stocked.get("/orders", updated_after=watermark).json()["orders"]
    assert [(o["order_id"], o["status"], o["version"]) for o in asked] == [
        (ids[1], "CANCEL_REQUESTED", 3)
    ]
    assert status(ids[1], {"status": "CANCELLED"}).json()["status"] == "CANCELLED"
    # A CONFIRMED order: the supplier declines, back to CONFIRMED.
    status(ids[2], {"status": "CONFIRMED", "invoice_number": "INV-2"})
    stocked.control("POST", "cancel", {"order_id": ids[2]})
    assert error_code(status(ids[2], {"status": "SHIPPED"})) == "invalid_transition"
    back = status(ids[2], {"status": "CONFIRMED", "invoice_number": "INV-2"})
    assert back.json()["status"] == "CONFIRMED" and back.json()["version"] == 5
    # Shipped or cancelled orders cannot be asked to cancel; count picks eligible ones only.
    refused = httpx.post(
        f"{stocked.url}/_sandbox/cancel", json={"order_id": ids[0]}, trust_env=False
    )
    assert refused.status_code == 409
    picked = stocked.control("POST", "cancel", {"count": 10})["orders"]
    assert sorted(picked) == sorted([ids[2], ids[3]])
    dump = {o["order_id"]: o for o in stocked.control("GET", "dump")["orders"]}
    assert [u["status"] for u in dump[ids[0]]["status_updates"]] == ["CONFIRMED", "SHIPPED"]
    assert dump[ids[0]]["status_updates"][1]["tracking_number"] == "1Z999"


def test_rate_limit_fault_is_429_with_retry_after(ftd: LocalFtd) -> None:
    ftd.control("POST", "faults", {"kind": "rate-limit", "method": "orders.list"})
    limited = ftd.get("/orders")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
    assert error_code(limited) == "rate_limited"
    assert ftd.get("/offers").status_code == 200  # other routes unaffected
    ftd.control("DELETE", "faults")
    assert ftd.get("/orders").status_code == 200


def test_settings_are_validated(ftd: LocalFtd) -> None:
    assert ftd.control("GET", "info")["supplier_id"] == ftd.supplier_id
    for body in ({"colour": 1}, {"listing_noise": 2}, {"feed_processing_ms": -1}):
        response = httpx.post(f"{ftd.url}/_sandbox/settings", json=body, trust_env=False)
        assert response.status_code == 400, body
    assert ftd.control("POST", "settings", {"feed_processing_ms": 50})["feed_processing_ms"] == 50


def test_state_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite3"
    first = LocalFtd(path)
    try:
        first.control("POST", "settings", {"feed_processing_ms": 0, "listing_noise": 0.5})
        feed_id = first.full_feed([offer(n) for n in range(5)], sequence=3)
        ids = first.control("POST", "shop", {"orders": 3})["orders"]
        ack = first.ack_all(first.get(f"/orders/{ids[0]}").json())
        ack_body = {
            "supplier_ref": "KOMET-1",
            "lines": [
                {"line_id": ln["line_id"], "decision": "ACCEPT", "boxes_accepted": ln["boxes"]}
                for ln in first.get(f"/orders/{ids[1]}").json()["lines"]
            ],
        }
        replayable = first.post(f"/orders/{ids[1]}/acknowledge", ack_body, key="ack:1")
        before = first.control("GET", "dump")
    finally:
        first.stop()
    second = LocalFtd(path, seed=123)  # a different seed must not re-seed
    try:
        assert (second.supplier_id, second.token) == (first.supplier_id, first.token)
        assert second.control("GET", "dump") == before
        assert second.control("GET", "settings")["listing_noise"] == 0.5
        assert second.wait_feed(feed_id)["status"] == "done"
        again = second.post(f"/orders/{ids[1]}/acknowledge", ack_body, key="ack:1")
        assert again.json() == replayable.json() and again.headers["Idempotent-Replayed"] == "true"
        assert second.delta(3, 4, []).status_code == 202
        assert ack.status_code == 200
    finally:
        second.stop()


# -- the whole twin process (needs the Komet twin, written separately) ---------------------


@pytest.fixture
def full_twin(request: pytest.FixtureRequest) -> Any:
    pytest.importorskip("komet_ftd_ops.sandbox.komet.app")
    return request.getfixturevalue("twin")


def test_full_twin_serves_the_ftd_contract(full_twin: Any) -> None:
    info = full_twin.info["ftd"]
    api = f"{full_twin.ftd_url}/v1/suppliers/{info['supplier_id']}"
    headers = {"Authorization": f"Bearer {info['token']}"}
    assert full_twin.control("ftd", "GET", "info")["supplier_id"] == info["supplier_id"]
    assert httpx.get(f"{api}/orders", trust_env=False).status_code == 401
    listing = httpx.get(f"{api}/orders", headers=headers, trust_env=False)
    assert listing.status_code == 200 and set(listing.json()) == {
        "orders",
        "next_cursor",
        "high_watermark",
    }
    body = {"feed_id": "twin-full", "sequence": 1, "generated_at": _ts(), "offers": [offer(1)]}
    sent = httpx.post(
        f"{api}/inventory/full",
        json=body,
        headers={**headers, "Idempotency-Key": "t1"},
        trust_env=False,
    )
    assert sent.status_code == 202
    assert full_twin.control("ftd", "GET", "dump")["last_sequence"] == 1
    # the limit the twin enforces is published for the kit's sandbox profile
    assert info["max_body_bytes"] == full_twin.control("ftd", "GET", "info")["max_body_bytes"]


def test_full_twin_keeps_ftd_state_across_restart(full_twin: Any) -> None:
    from conftest import start_twin

    info = full_twin.info["ftd"]
    api = f"{full_twin.ftd_url}/v1/suppliers/{info['supplier_id']}"
    headers = {"Authorization": f"Bearer {info['token']}", "Idempotency-Key": "t2"}
    body = {
        "feed_id": "twin-full-2",
        "sequence": 4,
        "generated_at": _ts(),
        "offers": [offer(1), offer(2)],
    }
    assert (
        httpx.post(f"{api}/inventory/full", json=body, headers=headers, trust_env=False).status_code
        == 202
    )
    before = full_twin.control("ftd", "GET", "dump")
    full_twin.stop()
    again = start_twin(full_twin.home)
    try:
        assert again.info["ftd"]["supplier_id"] == info["supplier_id"]
        assert again.control("ftd", "GET", "dump") == before
    finally:
        again.stop()


def test_full_twin_oversell_zeroes_komet_stock(full_twin: Any) -> None:
    import sqlite3

    twin_db = full_twin.home / "sandbox" / "twin.sqlite3"
    with sqlite3.connect(f"file:{twin_db}?mode=ro", uri=True) as conn:
        line_id, boxes = conn.execute(
            "SELECT line_id, boxes FROM komet_lines WHERE boxes > 0 ORDER BY line_id LIMIT 1"
        ).fetchone()
    info = full_twin.info["ftd"]
    api = f"{full_twin.ftd_url}/v1/suppliers/{info['supplier_id']}"
    headers = {"Authorization": f"Bearer {info['token']}", "Idempotency-Key": "t3"}
    body = {
        "feed_id": "twin-oversell",
        "sequence": 1,
        "generated_at": _ts(),
        "offers": [offer(0, offer_id=f"om:{line_id}", quantity_available=boxes)],
    }
    assert (
        httpx.post(f"{api}/inventory/full", json=body, headers=headers, trust_env=False).status_code
        == 202
    )
    sold = full_twin.control("ftd", "POST", "shop", json={"orders": 1, "oversell": 1})
    assert sold["oversold_offers"] == [f"om:{line_id}"]
    with sqlite3.connect(f"file:{twin_db}?mode=ro", uri=True) as conn:
        left = conn.execute("SELECT boxes FROM komet_lines WHERE line_id=?", (line_id,)).fetchone()
    assert left == (0,)


def test_drop_after_commit_then_replay_acts_once(stocked: LocalFtd) -> None:
    order = stocked.get(
        f"/orders/{stocked.control('POST', 'shop', {'orders': 1})['orders'][0]}"
    ).json()
    stocked.control("POST", "faults", {"kind": "drop-after-commit", "method": "orders.acknowledge"})
    with pytest.raises(httpx.TransportError):
        stocked.post(f"/orders/{order['order_id']}/acknowledge", _accept_all(order), key="ack-drop")
    stocked.control("DELETE", "faults")
    replayed = stocked.post(
        f"/orders/{order['order_id']}/acknowledge", _accept_all(order), key="ack-drop"
    )
    assert replayed.status_code == 200 and replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.json()["status"] == "ACKNOWLEDGED" and replayed.json()["version"] == 2
    assert stocked.get(f"/orders/{order['order_id']}").json()["version"] == 2


def _accept_all(order: dict[str, Any]) -> dict[str, Any]:
    lines = [
        {"line_id": ln["line_id"], "decision": "ACCEPT", "boxes_accepted": ln["boxes"]}
        for ln in order["lines"]
    ]
    return {"supplier_ref": "KOMET-1", "lines": lines}


# -- issue 11: reason codes, the acknowledgement's ship_date, florists --------------------------


def test_reason_codes_are_the_contracts_and_nothing_else(stocked: LocalFtd) -> None:
    (order_id,) = stocked.control("POST", "shop", {"orders": 1, "seed": 11})["orders"]
    order = stocked.get(f"/orders/{order_id}").json()
    path = f"/orders/{order_id}/acknowledge"

    def reject_all(code: str) -> httpx.Response:
        lines = [
            {"line_id": ln["line_id"], "decision": "REJECT", "reason_code": code}
            for ln in order["lines"]
        ]
        return stocked.post(path, {"supplier_ref": "K-1", "lines": lines})

    made_up = reject_all("SOLD_ELSEWHERE")
    assert made_up.status_code == 422 and error_code(made_up) == "invalid_reason"
    assert "PAST_CUTOFF" in made_up.json()["error"]["message"]
    assert reject_all("PAST_CUTOFF").json()["status"] == "REJECTED"
    for code in ("OUT_OF_STOCK", "PARTIAL_STOCK", "OUTSIDE_WINDOW", "NO_SHIP_TO"):
        (other,) = stocked.control("POST", "shop", {"orders": 1})["orders"]
        lines = stocked.get(f"/orders/{other}").json()["lines"]
        body = [
            {"line_id": ln["line_id"], "decision": "REJECT", "reason_code": code} for ln in lines
        ]
        answer = stocked.post(f"/orders/{other}/acknowledge", {"supplier_ref": "K", "lines": body})
        assert answer.status_code == 200, (code, answer.text)


def test_ship_date_is_optional_later_and_only_with_an_accepted_line(stocked: LocalFtd) -> None:
    ids = stocked.control("POST", "shop", {"orders": 2, "seed": 12})["orders"]
    order = stocked.get(f"/orders/{ids[0]}").json()
    requested = date.fromisoformat(order["requested_ship_date"])
    path = f"/orders/{ids[0]}/acknowledge"
    accept = _accept_all(order)
    for bad in ("tomorrow", (requested - timedelta(days=1)).isoformat(), 20261201):
        answer = stocked.post(path, {**accept, "ship_date": bad})
        assert answer.status_code == 422 and error_code(answer) == "invalid_ship_date", bad
    later = (requested + timedelta(days=1)).isoformat()
    assert stocked.post(path, {**accept, "ship_date": later}).status_code == 200
    again = stocked.post(path, {**accept, "ship_date": later})
    assert again.status_code == 200 and again.json()["version"] == 2  # same content: a no-op
    other = stocked.post(path, accept)  # without the date is other content
    assert other.status_code == 409 and error_code(other) == "already_acknowledged"
    dump = {o["order_id"]: o for o in stocked.control("GET", "dump")["orders"]}
    assert dump[ids[0]]["acknowledgement"]["ship_date"] == later
    second = stocked.get(f"/orders/{ids[1]}").json()
    rejects = [
        {"line_id": ln["line_id"], "decision": "REJECT", "reason_code": "PAST_CUTOFF"}
        for ln in second["lines"]
    ]
    nothing = stocked.post(
        f"/orders/{ids[1]}/acknowledge",
        {"supplier_ref": "K", "lines": rejects, "ship_date": later},
    )
    assert nothing.status_code == 422 and error_code(nothing) == "invalid_ship_date"


def test_shop_buys_as_repeat_florists_late_and_outside_windows(ftd: LocalFtd) -> None:
    from komet_ftd_ops.sandbox import catalogue

    short = offer(20, quantity_available=60, available_to=(today() + timedelta(days=2)).isoformat())
    later = offer(21, quantity_available=60,
                  available_from=(today() + timedelta(days=4)).isoformat(),
                  available_to=(today() + timedelta(days=9)).isoformat())  # fmt: skip
    ftd.full_feed([offer(n, quantity_available=60) for n in range(6)] + [short, later], 1)
    made = ftd.control(
        "POST", "shop", {"orders": 30, "seed": 3, "late": 0.2, "outside_window": 0.2}
    )
    dump = {o["order_id"]: o for o in ftd.control("GET", "dump")["orders"]}
    regulars = {f[0] for f in catalogue.FLORISTS}
    codes = [dump[i]["buyer"]["member_code"] for i in made["orders"]]
    assert sum(c in regulars for c in codes) >= 20  # mostly the regular florists...
    assert len(set(codes)) < len(codes)  # ...who come back
    assert all(dump[i]["ship_to"]["postal_code"] for i in made["orders"])
    assert len(made["late_orders"]) >= 6
    for order_id in made["late_orders"]:
        assert dump[order_id]["requested_ship_date"] == today().isoformat()
    regular = [i for i in made["orders"] if i not in made["late_orders"]]
    assert all(dump[i]["requested_ship_date"] >= (today() + timedelta(days=1)).isoformat()
               for i in regular)  # fmt: skip
    assert made["outside_window_lines"]
    bodies = {o["offer_id"]: o for o in [offer(n) for n in range(6)] + [short, later]}
    for line in made["outside_window_lines"]:
        bought = dump[line["order_id"]]
        listed = bodies[line["offer_id"]]
        day = bought["requested_ship_date"]
        assert not listed["available_from"] <= day <= listed["available_to"]
    chosen = ftd.control("POST", "shop", {"orders": 3, "florists": ["91-9978JX", "90-1234AA"]})
    after = {o["order_id"]: o for o in ftd.control("GET", "dump")["orders"]}
    assert [after[i]["buyer"]["member_code"] for i in chosen["orders"]] == [
        "91-9978JX", "90-1234AA", "91-9978JX",
    ]  # fmt: skip
    unknown = httpx.post(
        f"{ftd.url}/_sandbox/shop", json={"orders": 1, "florists": ["00-0000XX"]}, trust_env=False
    )
    assert unknown.status_code == 400
