"""The one retry policy and the one Retry-After parser, on their own (no network, no sleeping)."""

from __future__ import annotations

import email.utils
import logging
from datetime import UTC, datetime, timedelta

import pytest

from komet_ftd_ops.errors import (
    AuthError,
    ConfigError,
    ConnectionFailed,
    KometFtdOpsError,
    QuotaExceeded,
    RateLimited,
    RequestTimeout,
    ServiceUnavailable,
)
from komet_ftd_ops.http.retry import RetryPolicy, parse_retry_after

NOW = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)


class Flaky:
    """Raises the given errors in turn, then answers "ok"; counts its calls."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


# -- parse_retry_after ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("7", 7.0), (" 2.5 ", 2.5), ("0", 0.0), ("-3", 0.0)],
)
def test_delta_seconds(header: str, seconds: float) -> None:
    assert parse_retry_after(header) == seconds


def test_http_date_is_seconds_from_now() -> None:
    header = email.utils.format_datetime(NOW + timedelta(seconds=90), usegmt=True)
    assert header.endswith("GMT")
    assert parse_retry_after(header, now=NOW) == 90.0
    assert parse_retry_after("Mon, 02 Mar 2026 10:00:45 GMT", now=NOW) == 45.0


def test_http_date_in_the_past_is_zero() -> None:
    assert parse_retry_after("Mon, 02 Mar 2026 09:00:00 GMT", now=NOW) == 0.0


@pytest.mark.parametrize("header", [None, "", "   ", "soon", "nan", "Mon, 99 Foo 2026"])
def test_absent_or_unreadable_is_none(header: str | None) -> None:
    assert parse_retry_after(header, now=NOW) is None


# -- waits -------------------------------------------------------------------------------------


def test_backoff_is_exponential_with_jitter_within_bounds() -> None:
    policy = RetryPolicy(backoff_base=0.5, backoff_cap=100.0)
    for retry in (1, 2, 3, 4):
        low = 0.5 * 2 ** (retry - 1)
        waits = [policy.delay(retry, ServiceUnavailable("x")) for _ in range(200)]
        assert all(low <= w <= low * 1.25 for w in waits), (retry, min(waits), max(waits))
        assert len(set(waits)) > 1  # jittered, so parallel readers do not retry in step


def test_backoff_is_capped() -> None:
    policy = RetryPolicy(backoff_base=1.0, backoff_cap=3.0)
    assert [policy.delay(n) for n in (3, 4, 10)] == [3.0, 3.0, 3.0]


def test_a_server_wait_replaces_the_backoff_and_is_capped() -> None:
    policy = RetryPolicy(backoff_base=1.0, retry_after_cap=30.0)
    assert policy.delay(3, RateLimited("slow", 0.5)) == 0.5  # shorter than the backoff: still
    assert policy.delay(1, ServiceUnavailable("busy", 12.0)) == 12.0
    assert policy.delay(1, RateLimited("slow", 3600.0)) == 30.0
    # No hint from the server: our own backoff.
    assert 1.0 <= policy.delay(1, RateLimited("slow")) <= 1.25


def test_an_http_date_retry_after_is_honoured_through_call() -> None:
    header = email.utils.format_datetime(NOW + timedelta(seconds=20), usegmt=True)
    busy = ServiceUnavailable("FTD: HTTP 503", parse_retry_after(header, now=NOW))
    sleeps: list[float] = []
    fn = Flaky(busy, RateLimited("FTD: HTTP 429", parse_retry_after("120")))
    assert RetryPolicy(retry_after_cap=60.0).call(fn, sleep=sleeps.append) == "ok"
    assert sleeps == [20.0, 60.0] and fn.calls == 3


# -- what is retried, and how often ------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [AuthError("no"), QuotaExceeded("spent"), KometFtdOpsError("plain"), ValueError("a bug")],
)
def test_non_retryable_errors_are_raised_at_once(error: Exception) -> None:
    sleeps: list[float] = []
    fn = Flaky(error)
    with pytest.raises(type(error)) as info:
        RetryPolicy(attempts=5).call(fn, sleep=sleeps.append)
    assert info.value is error and fn.calls == 1 and sleeps == []


def test_attempts_are_bounded_and_the_last_error_is_raised_unwrapped() -> None:
    sleeps: list[float] = []
    errors = [RequestTimeout(f"timeout {n}") for n in range(10)]
    fn = Flaky(*errors)
    with pytest.raises(RequestTimeout) as info:
        RetryPolicy(attempts=3, backoff_base=0).call(fn, sleep=sleeps.append)
    assert fn.calls == 3 and len(sleeps) == 2
    assert info.value is errors[2]


def test_one_attempt_means_no_retry() -> None:
    fn = Flaky(ConnectionFailed("refused"))
    with pytest.raises(ConnectionFailed):
        RetryPolicy(attempts=1).call(fn, sleep=lambda s: None)
    assert fn.calls == 1


def test_retries_then_succeeds_with_one_warning_per_retry(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fn = Flaky(ServiceUnavailable("Komet customer.list: HTTP 502"), RequestTimeout("slow"))
    with caplog.at_level(logging.WARNING, logger="komet_ftd_ops.http.retry"):
        assert RetryPolicy(backoff_base=0).call(fn, sleep=lambda s: None) == "ok"
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "Komet customer.list: HTTP 502; retry 1 of 3 in 0.00s",
        "slow; retry 2 of 3 in 0.00s",
    ]


@pytest.mark.parametrize(
    "settings",
    [{"attempts": 0}, {"backoff_base": -1}, {"backoff_cap": -0.1}, {"retry_after_cap": -5}],
)
def test_bad_settings_are_config_errors(settings: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        RetryPolicy(**settings)  # type: ignore[arg-type]
