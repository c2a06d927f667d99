"""Offline tests of the FTD client through scripted `ExpectedRequests` (no network, no sleeping)."""

from __future__ import annotations

import email.utils
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from komet_ftd_ops.errors import (
    ApiError,
    AuthError,
    ConfigError,
    Conflict,
    ConnectionFailed,
    DataError,
    InvalidParameter,
    KometFtdOpsError,
    NotFound,
    OutcomeUnknown,
    RateLimited,
    RequestTimeout,
    RequestTooLarge,
    ServiceUnavailable,
)
from komet_ftd_ops.ftd import FtdClient, FtdConfig
from komet_ftd_ops.http.retry import RetryPolicy
from komet_ftd_ops.settings.secrets import Secret
from komet_ftd_ops.testing import ExpectedRequests

TOKEN = "ftd-s3cr3t-token-9f8e7d6c5b4a"
BASE = "/v1/suppliers/SUP-1"


class FakeClock:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def config() -> FtdConfig:
    return FtdConfig(base_url="http://127.0.0.1:8872/", supplier_id="SUP-1", token=Secret(TOKEN))


@pytest.fixture
def fake() -> ExpectedRequests:
    return ExpectedRequests()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(config: FtdConfig, fake: ExpectedRequests, clock: FakeClock) -> Iterator[FtdClient]:
    with FtdClient(config, transport=fake.transport(), sleep=clock.sleep, clock=clock) as c:
        yield c
    fake.assert_done()


def retrying(config: FtdConfig, **policy: Any) -> FtdConfig:
    """`config` with its own retry policy (the same `RetryPolicy` as Komet's)."""
    return FtdConfig(config.base_url, config.supplier_id, config.token, retry=RetryPolicy(**policy))


def assert_backoff(sleeps: list[float], base: float = 0.2) -> None:
    """Exponential from `base`, each wait stretched by 0..25% of jitter."""
    for n, slept in enumerate(sleeps):
        assert base * 2**n <= slept <= base * 2**n * 1.25, (n, slept)


def body(request: httpx.Request) -> Any:
    return json.loads(request.content)


def offer(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "offer_id": f"om:{n}",
        "sku": f"RS-FREEDOM-{n}",
        "product_name": "Rose Freedom 50cm",
        "quantity_available": n % 9 + 1,
        "price_per_unit": "0.42",
        "currency": "USD",
        **extra,
    }


def error(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}, **extra}


def assert_no_token(*things: object) -> None:
    for thing in things:
        assert TOKEN not in repr(thing)
        assert TOKEN not in str(thing)
        if isinstance(thing, KometFtdOpsError):
            assert TOKEN not in repr(thing.details)
            assert TOKEN not in repr(vars(thing))


# -- config, headers, paths ----------------------------------------------------------------------


def test_bearer_header_and_supplier_path_on_get(client: FtdClient, fake: ExpectedRequests) -> None:
    def check(request: httpx.Request) -> None:
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert request.url.host == "127.0.0.1" and request.url.port == 8872
        assert "Idempotency-Key" not in request.headers  # GETs need none

    order = {"order_id": "FTD-1", "status": "NEW", "brand_new_field": {"x": 1}}
    fake.expect("GET", f"{BASE}/orders/FTD-1", json=order, check=check)
    got = client.get_order("FTD-1")
    assert (got.order_id, got.status) == ("FTD-1", "NEW")
    assert got.raw == order  # unknown fields are kept


def test_order_ids_are_quoted_into_the_path(client: FtdClient, fake: ExpectedRequests) -> None:
    def check(request: httpx.Request) -> None:
        assert request.url.raw_path.endswith(b"/orders/A%2FB")  # one segment, not two

    fake.expect("GET", f"{BASE}/orders/A/B", json={"order_id": "A/B"}, check=check)
    assert client.get_order("A/B").order_id == "A/B"


def test_config_normalises_and_refuses_bad_values() -> None:
    cfg = FtdConfig(base_url="http://h:1///", supplier_id="S", token=TOKEN)  # type: ignore[arg-type]
    assert cfg.base_url == "http://h:1" and isinstance(cfg.token, Secret)
    for kwargs in (
        {"base_url": "h:1", "supplier_id": "S", "token": Secret(TOKEN)},
        {"base_url": "http://h", "supplier_id": "", "token": Secret(TOKEN)},
        {"base_url": "http://h", "supplier_id": "S", "token": Secret("")},
        {"base_url": "http://h", "supplier_id": "S", "token": Secret(TOKEN), "retry": 3},
    ):
        with pytest.raises(ConfigError) as info:
            FtdConfig(**kwargs)  # type: ignore[arg-type]
        assert_no_token(info.value)


def test_token_absent_from_config_and_client_reprs(config: FtdConfig, client: FtdClient) -> None:
    assert_no_token(config, client, client._http)
    assert "***" in repr(config)
    assert f"{config}".count("***") == 1


# -- idempotency and retries ---------------------------------------------------------------------


def test_post_key_identical_across_retries_and_new_per_logical_call(
    client: FtdClient, fake: ExpectedRequests, clock: FakeClock
) -> None:
    fake.expect("POST", f"{BASE}/inventory/delta", status=503, json=error("unavailable", "busy"))
    fake.expect("POST", f"{BASE}/inventory/delta", status=202, json={"status": "processing"})
    fake.expect("POST", f"{BASE}/inventory/delta", status=202, json={"status": "processing"})
    first = client.send_delta([], base_sequence=1, sequence=2)
    second = client.send_delta([], base_sequence=2, sequence=3)

    keys = [r.headers.get("Idempotency-Key") for r in fake.seen]
    assert all(keys)
    assert keys[0] == keys[1]  # the retry of one call replays its key
    assert keys[2] != keys[0]  # a new logical call gets a new key
    assert body(fake.seen[0]) == body(fake.seen[1])  # and the same body
    assert len(clock.sleeps) == 1
    assert_backoff(clock.sleeps)
    assert first.status == "processing" and first.kind == "delta" and second.sequence == 3


def test_caller_supplied_key_is_used_unchanged(client: FtdClient, fake: ExpectedRequests) -> None:
    lines = [{"line_id": "1", "decision": "ACCEPT", "boxes_accepted": 2, "reason_code": None}]

    def check(request: httpx.Request) -> None:
        assert request.headers["Idempotency-Key"] == "ack:FTD-7"
        assert request.headers["Content-Type"] == "application/json"
        assert body(request) == {"supplier_ref": "INV-55", "lines": lines}

    fake.expect("POST", f"{BASE}/orders/FTD-7/acknowledge", status=504, text="gateway", check=check)
    fake.expect(
        "POST", f"{BASE}/orders/FTD-7/acknowledge", json={"status": "ACKNOWLEDGED"}, check=check
    )
    answer = client.acknowledge(
        "FTD-7", supplier_ref="INV-55", lines=lines, idempotency_key="ack:FTD-7"
    )
    assert answer.status == "ACKNOWLEDGED"


def test_update_status_body_and_local_validation(client: FtdClient, fake: ExpectedRequests) -> None:
    def check(request: httpx.Request) -> None:
        assert request.headers["Idempotency-Key"]
        assert body(request) == {"status": "SHIPPED", "invoice_number": "9001", "tracking": "1Z"}

    fake.expect("POST", f"{BASE}/orders/FTD-7/status", json={"status": "SHIPPED"}, check=check)
    client.update_status("FTD-7", status="SHIPPED", invoice_number="9001", tracking="1Z")
    with pytest.raises(InvalidParameter) as info:
        client.update_status("FTD-7", status="LOST")
    assert info.value.param == "status"


def test_429_honours_retry_after(
    client: FtdClient, fake: ExpectedRequests, clock: FakeClock
) -> None:
    limited = error("rate_limited", "slow down")
    fake.expect("GET", f"{BASE}/feeds/F1", status=429, json=limited, headers={"Retry-After": "7"})
    fake.expect("GET", f"{BASE}/feeds/F1", json={"status": "done", "accepted": 3, "rejected": []})
    assert client.feed_status("F1")["status"] == "done"
    assert clock.sleeps == [7.0]


def test_429_retry_after_is_capped_and_posts_keep_their_key(
    config: FtdConfig, fake: ExpectedRequests, clock: FakeClock
) -> None:
    cfg = retrying(config, retry_after_cap=5)
    limited = error("rate_limited", "slow down")
    path = f"{BASE}/orders/FTD-2/status"
    fake.expect("POST", path, status=429, json=limited, headers={"Retry-After": "120"})
    fake.expect("POST", path, json={"status": "CONFIRMED"})
    with FtdClient(cfg, transport=fake.transport(), sleep=clock.sleep) as client:
        client.update_status("FTD-2", status="CONFIRMED", invoice_number="1")
    assert clock.sleeps == [5]
    assert fake.seen[0].headers["Idempotency-Key"] == fake.seen[1].headers["Idempotency-Key"]


def test_503_with_an_http_date_retry_after_goes_through_the_shared_policy(
    config: FtdConfig, fake: ExpectedRequests, clock: FakeClock
) -> None:
    # A date 12 s ahead: waited as such (less the second already begun), not the 0.2 s backoff.
    later = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=12), usegmt=True)
    busy = {"Retry-After": later}
    path = f"{BASE}/inventory/delta"
    fake.expect("POST", path, status=503, json=error("unavailable", "busy"), headers=busy)
    fake.expect("POST", path, status=202, json={"status": "processing"})
    cfg = retrying(config, retry_after_cap=60)
    with FtdClient(cfg, transport=fake.transport(), sleep=clock.sleep) as client:
        assert client.send_delta([], base_sequence=1, sequence=2).status == "processing"
    assert len(clock.sleeps) == 1 and 10.0 <= clock.sleeps[0] <= 12.0
    assert fake.seen[0].headers["Idempotency-Key"] == fake.seen[1].headers["Idempotency-Key"]


def test_429_without_retry_after_backs_off(
    client: FtdClient, fake: ExpectedRequests, clock: FakeClock
) -> None:
    fake.expect("GET", f"{BASE}/offers", status=429, json=error("rate_limited", "slow down"))
    fake.expect("GET", f"{BASE}/offers", json={"offers": []})
    client.list_offers()
    assert len(clock.sleeps) == 1
    assert_backoff(clock.sleeps)


def test_429_exhausted_raises_rate_limited(
    config: FtdConfig, fake: ExpectedRequests, clock: FakeClock
) -> None:
    cfg = retrying(config, attempts=2)
    for _ in range(2):
        fake.expect(
            "GET",
            f"{BASE}/offers",
            status=429,
            json=error("rate_limited", "no"),
            headers={"Retry-After": "3"},
        )
    with (
        FtdClient(cfg, transport=fake.transport(), sleep=clock.sleep) as client,
        pytest.raises(RateLimited) as info,
    ):
        client.list_offers()
    assert info.value.retry_after == 3.0
    assert "list_offers" in str(info.value)
    assert clock.sleeps == [3.0]
    assert_no_token(info.value)


def test_5xx_backs_off_exponentially_then_gives_up(
    client: FtdClient, fake: ExpectedRequests, clock: FakeClock
) -> None:
    for _ in range(RetryPolicy().attempts):  # the default policy: 4 attempts in all
        fake.expect("GET", f"{BASE}/orders/FTD-1", status=500, json=error("internal", "boom"))
    with pytest.raises(ServiceUnavailable) as info:
        client.get_order("FTD-1")
    assert len(clock.sleeps) == 3
    assert_backoff(clock.sleeps)
    assert "get_order" in str(info.value) and info.value.details["status"] == 500
    assert_no_token(info.value)


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (httpx.ReadTimeout("timed out"), RequestTimeout),
        (httpx.ConnectTimeout("timed out"), RequestTimeout),
        (httpx.ConnectError("refused"), ConnectionFailed),
        (httpx.RemoteProtocolError("reset"), ServiceUnavailable),
    ],
)
def test_network_failures_on_get(
    config: FtdConfig, fake: ExpectedRequests, clock: FakeClock, raised: Exception, expected: type
) -> None:
    cfg = retrying(config, attempts=3)
    for _ in range(3):
        fake.expect("GET", f"{BASE}/feeds/F9", raises=raised)
    with (
        FtdClient(cfg, transport=fake.transport(), sleep=clock.sleep) as client,
        pytest.raises(expected) as info,
    ):
        client.feed_status("F9")
    assert "feed_status" in str(info.value)
    assert len(clock.sleeps) == 2
    assert_backoff(clock.sleeps)
    assert_no_token(info.value)


def test_reset_after_sending_a_post_is_outcome_unknown_and_replays_the_key(
    config: FtdConfig, fake: ExpectedRequests, clock: FakeClock
) -> None:
    cfg = retrying(config, attempts=2)
    fake.expect("POST", f"{BASE}/inventory/delta", raises=httpx.ReadError("connection reset"))
    fake.expect("POST", f"{BASE}/inventory/delta", raises=httpx.ReadError("connection reset"))
    with (
        FtdClient(cfg, transport=fake.transport(), sleep=clock.sleep) as client,
        pytest.raises(OutcomeUnknown) as info,
    ):
        client.send_delta([], base_sequence=4, sequence=5)
    key = fake.seen[0].headers["Idempotency-Key"]
    assert fake.seen[1].headers["Idempotency-Key"] == key
    assert info.value.details["idempotency_key"] == key  # so the caller can replay later


def test_timeout_then_success_on_post(
    client: FtdClient, fake: ExpectedRequests, clock: FakeClock
) -> None:
    fake.expect("POST", f"{BASE}/inventory/full", raises=httpx.ReadTimeout("slow"))
    fake.expect("POST", f"{BASE}/inventory/full", status=202, json={"status": "processing"})
    result = client.send_full_feed([offer(1)], sequence=9)
    assert result.parts == 1 and result.status == "processing"
    assert fake.seen[0].headers["Idempotency-Key"] == fake.seen[1].headers["Idempotency-Key"]
    assert fake.seen[0].content == fake.seen[1].content


# -- error mapping -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, InvalidParameter),
        (401, AuthError),
        (403, AuthError),
        (404, NotFound),
        (409, Conflict),
        (413, RequestTooLarge),
        (418, ApiError),
        (422, InvalidParameter),
    ],
)
def test_error_json_maps_to_the_tree_without_retrying(
    client: FtdClient, fake: ExpectedRequests, clock: FakeClock, status: int, expected: type
) -> None:
    fake.expect(
        "POST",
        f"{BASE}/orders/FTD-3/acknowledge",
        status=status,
        json=error("some_code", "explained", param="lines"),
    )
    with pytest.raises(expected) as info:
        client.acknowledge("FTD-3", supplier_ref="R", lines=[])
    exc = info.value
    assert isinstance(exc, ApiError) and exc.method == "acknowledge"
    assert "FTD acknowledge" in str(exc) and "some_code" in str(exc) and "explained" in str(exc)
    assert exc.details["code"] == "some_code" and exc.details["status"] == status
    assert not exc.retryable and clock.sleeps == []
    assert_no_token(exc)


def test_invalid_parameter_keeps_param(client: FtdClient, fake: ExpectedRequests) -> None:
    bad = {"error": {"code": "invalid", "message": "bad limit", "param": "limit"}}
    fake.expect("GET", f"{BASE}/orders", status=422, json=bad)
    with pytest.raises(InvalidParameter) as info:
        client.list_orders(limit=100000)
    assert info.value.param == "limit"


def test_html_502_is_service_unavailable(
    config: FtdConfig, fake: ExpectedRequests, clock: FakeClock
) -> None:
    cfg = retrying(config, attempts=2)
    html = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    for _ in range(2):
        fake.expect(
            "GET", f"{BASE}/orders", status=502, text=html, headers={"Content-Type": "text/html"}
        )
    with (
        FtdClient(cfg, transport=fake.transport(), sleep=clock.sleep) as client,
        pytest.raises(ServiceUnavailable) as info,
    ):
        client.list_orders()
    assert "non-JSON" in str(info.value) and "text/html" in str(info.value)
    assert info.value.retryable
    assert_no_token(info.value)


def test_success_with_a_non_json_body_is_service_unavailable(
    config: FtdConfig, fake: ExpectedRequests, clock: FakeClock
) -> None:
    cfg = retrying(config, attempts=1)
    fake.expect("GET", f"{BASE}/orders/FTD-1", status=200, text="OK")
    with (
        FtdClient(cfg, transport=fake.transport(), sleep=clock.sleep) as client,
        pytest.raises(ServiceUnavailable),
    ):
        client.get_order("FTD-1")


def test_delta_conflict_carries_expected_base(client: FtdClient, fake: ExpectedRequests) -> None:
    fake.expect(
        "POST",
        f"{BASE}/inventory/delta",
        status=409,
        json=error("base_mismatch", "last accepted is 40", expected_base=40),
    )
    with pytest.raises(Conflict) as info:
        client.send_delta([{"op": "withdraw", "offer_id": "om:1"}], base_sequence=41, sequence=42)
    assert info.value.expected_base == 40


# -- inventory -----------------------------------------------------------------------------------


def test_full_feed_is_split_into_parts_under_max_bytes(
    client: FtdClient, fake: ExpectedRequests
) -> None:
    offers = [offer(n, notes="x" * (n % 7) * 10) for n in range(1, 41)]
    max_bytes = 1500
    for _ in range(40):  # more than enough; the unused ones are dropped below
        fake.expect("POST", f"{BASE}/inventory/full", status=202, json={"status": "processing"})
    result = client.send_full_feed(offers, sequence=77, feed_id="full-77", max_bytes=max_bytes)
    fake.expectations.clear()

    sent = [body(r) for r in fake.seen]
    assert result.parts == len(sent) > 2
    assert {s["feed_id"] for s in sent} == {"full-77"}
    assert [s["part"] for s in sent] == list(range(1, result.parts + 1))
    assert {s["parts"] for s in sent} == {result.parts}
    assert {s["sequence"] for s in sent} == {77}
    assert len({s["generated_at"] for s in sent}) == 1
    assert all(len(r.content) <= max_bytes for r in fake.seen)
    assert [o for s in sent for o in s["offers"]] == offers  # each offer once, in order
    assert result.bytes_sent == sum(len(r.content) for r in fake.seen)
    assert len({r.headers["Idempotency-Key"] for r in fake.seen}) == result.parts
    assert result.count == 40 and result.feed_id == "full-77"


def test_full_feed_fits_in_one_part_by_default(client: FtdClient, fake: ExpectedRequests) -> None:
    fake.expect("POST", f"{BASE}/inventory/full", status=202, json={"status": "processing"})
    result = client.send_full_feed([offer(n) for n in range(200)], sequence=1)
    assert result.parts == 1 and result.feed_id.startswith("full-1-")


def test_the_body_limit_comes_from_the_config(
    config: FtdConfig, fake: ExpectedRequests, clock: FakeClock
) -> None:
    cfg = FtdConfig(config.base_url, config.supplier_id, config.token, max_body_bytes=1500)
    client = FtdClient(cfg, transport=fake.transport(), sleep=clock.sleep, clock=clock)
    offers = [offer(n) for n in range(1, 21)]
    for _ in range(20):
        fake.expect("POST", f"{BASE}/inventory/full", status=202, json={"status": "processing"})
    result = client.send_full_feed(offers, sequence=3)
    fake.expectations.clear()
    assert result.parts == len(fake.seen) > 1
    assert all(len(r.content) <= 1500 for r in fake.seen)

    sent = len(fake.seen)
    changes = [{"op": "upsert", "offer": o} for o in offers]
    with pytest.raises(RequestTooLarge) as info:
        client.send_delta(changes, base_sequence=3, sequence=4)
    assert "1500-byte limit" in str(info.value) and len(fake.seen) == sent  # nothing sent
    with pytest.raises(ConfigError):
        FtdConfig(config.base_url, config.supplier_id, config.token, max_body_bytes=0)
    assert FtdConfig(config.base_url, config.supplier_id, config.token).max_body_bytes == 5_000_000


def test_a_413_from_ftd_is_request_too_large(client: FtdClient, fake: ExpectedRequests) -> None:
    fake.expect(
        "POST",
        f"{BASE}/inventory/delta",
        status=413,
        json=error("payload_too_large", "the body is over 20000 bytes"),
    )
    with pytest.raises(RequestTooLarge) as info:
        client.send_delta([], base_sequence=1, sequence=2)
    assert info.value.details["status"] == 413
    assert_no_token(info.value)


def test_full_feed_refuses_an_offer_too_big_alone_before_sending(client: FtdClient) -> None:
    with pytest.raises(RequestTooLarge) as info:
        client.send_full_feed([offer(1), offer(2, notes="x" * 5000)], sequence=1, max_bytes=1000)
    assert "om:2" in str(info.value)


def test_full_feed_refuses_duplicate_offer_ids(client: FtdClient) -> None:
    with pytest.raises(DataError):
        client.send_full_feed([offer(1), offer(1)], sequence=1)


def test_delta_refuses_unknown_ops_and_backward_sequences(client: FtdClient) -> None:
    with pytest.raises(DataError):
        client.send_delta([{"op": "delete", "offer_id": "om:1"}], base_sequence=1, sequence=2)
    with pytest.raises(InvalidParameter):
        client.send_delta([], base_sequence=5, sequence=5)


def test_wait_feed_polls_until_done(
    client: FtdClient, fake: ExpectedRequests, clock: FakeClock
) -> None:
    fake.expect("GET", f"{BASE}/feeds/F1", json={"status": "processing"})
    fake.expect("GET", f"{BASE}/feeds/F1", json={"status": "processing"})
    done = {"status": "failed", "accepted": 1, "rejected": [{"offer_id": "om:2", "code": "price"}]}
    fake.expect("GET", f"{BASE}/feeds/F1", json=done)
    assert client.wait_feed("F1", timeout=30, poll=0.5) == done
    assert clock.sleeps == [0.01, 0.02]  # asked at once, then after a backoff from 10 ms


def test_wait_feed_times_out(client: FtdClient, fake: ExpectedRequests, clock: FakeClock) -> None:
    for _ in range(4):
        fake.expect("GET", f"{BASE}/feeds/F1", json={"status": "processing"})
    with pytest.raises(RequestTimeout):
        client.wait_feed("F1", timeout=1, poll=0.5, first_poll=0.25)
    assert clock.sleeps == [0.25, 0.5, 0.25]  # doubling up to `poll`, never past the deadline


def test_list_offers_follows_cursors(client: FtdClient, fake: ExpectedRequests) -> None:
    def cursor_is(value: str | None):
        def check(request: httpx.Request) -> None:
            assert request.url.params.get("cursor") == value

        return check

    fake.expect(
        "GET",
        f"{BASE}/offers",
        json={"offers": [offer(1)], "next_cursor": "c2"},
        check=cursor_is(None),
    )
    fake.expect(
        "GET",
        f"{BASE}/offers",
        json={"offers": [offer(2)], "next_cursor": "c3"},
        check=cursor_is("c2"),
    )
    fake.expect(
        "GET", f"{BASE}/offers", json={"offers": [], "next_cursor": None}, check=cursor_is("c3")
    )
    assert client.list_offers() == [offer(1), offer(2)]


def test_list_offers_stops_on_a_repeated_cursor(client: FtdClient, fake: ExpectedRequests) -> None:
    for _ in range(2):
        fake.expect("GET", f"{BASE}/offers", json={"offers": [], "next_cursor": "same"})
    with pytest.raises(ServiceUnavailable):
        client.list_offers()


# -- orders --------------------------------------------------------------------------------------


def test_list_orders_sends_only_given_params(client: FtdClient, fake: ExpectedRequests) -> None:
    def check(request: httpx.Request) -> None:
        assert dict(request.url.params) == {"status": "NEW", "limit": "50"}

    page = {"orders": [], "next_cursor": None, "high_watermark": "2026-11-28T13:05:00Z", "x": 1}
    fake.expect("GET", f"{BASE}/orders", json=page, check=check)
    got = client.list_orders(status="NEW", limit=50)
    assert (got.orders, got.next_cursor, got.high_watermark) == ((), None, page["high_watermark"])


def test_fetch_orders_pages_and_keeps_the_servers_watermark(
    client: FtdClient, fake: ExpectedRequests
) -> None:
    since = "2026-11-28T12:00:00Z"

    def params_are(expected: dict[str, str]):
        def check(request: httpx.Request) -> None:
            assert dict(request.url.params) == expected

        return check

    first = {"updated_after": since, "limit": "100"}
    fake.expect(
        "GET",
        f"{BASE}/orders",
        check=params_are(first),
        json={
            "orders": [{"order_id": "A", "version": 1}, {"order_id": "B", "version": 1}],
            "next_cursor": "p2",
            "high_watermark": "2026-11-28T12:30:00Z",
        },
    )
    fake.expect(
        "GET",
        f"{BASE}/orders",
        check=params_are({**first, "cursor": "p2"}),
        json={
            "orders": [{"order_id": "A", "version": 2, "status": "CANCEL_REQUESTED"}],
            "next_cursor": None,
            "high_watermark": "2026-11-28T12:31:07.250Z",
        },
    )
    batch = client.fetch_orders(updated_after=since)
    assert batch.high_watermark == "2026-11-28T12:31:07.250Z"
    assert batch.pages == 2
    assert {o.order_id: o.version for o in batch.orders} == {"A": 2, "B": 1}


def test_fetch_orders_without_news_keeps_the_given_watermark(
    client: FtdClient, fake: ExpectedRequests
) -> None:
    fake.expect("GET", f"{BASE}/orders", json={"orders": [], "next_cursor": None})
    batch = client.fetch_orders(updated_after="2026-11-28T12:00:00Z", status="NEW")
    assert batch.orders == [] and batch.high_watermark == "2026-11-28T12:00:00Z"


def test_client_closes_its_http_session(config: FtdConfig, fake: ExpectedRequests) -> None:
    with FtdClient(config, transport=fake.transport()) as client:
        pass
    assert client._http._client.is_closed


def test_an_order_parses_once_and_keeps_what_it_cannot_read(
    client: FtdClient, fake: ExpectedRequests
) -> None:
    order = {
        "order_id": "FTD-9", "order_number": 8842317, "status": "NEW", "version": "3",
        "created_at": "2026-11-28T13:05:00Z", "requested_ship_date": "2026-11-30",
        "buyer": {"member_code": "90-1234AA", "name": "Blossom & Co"},
        "lines": [{"line_id": 1, "offer_id": "om:428720", "boxes": 2, "price_per_unit": "0.42"},
                  {"line_id": "2", "offer_id": "om:428721", "boxes": "2", "price_per_unit": "x"}],
    }  # fmt: skip
    fake.expect("GET", f"{BASE}/orders/FTD-9", json=order)
    got = client.get_order("FTD-9")
    assert (got.order_number, got.version, got.buyer.name) == ("8842317", 3, "Blossom & Co")
    assert got.created_at is not None and got.created_at.tzinfo is not None
    good, bad = got.lines
    assert (good.line_id, good.boxes, good.price_per_unit) == ("1", 2, Decimal("0.42"))
    assert (bad.boxes, bad.price_per_unit) == (None, None)  # a string of boxes is not a count
    assert [str(u) for u in bad.unreadable] == ["lines[1].boxes '2'", "lines[1].price_per_unit 'x'"]
