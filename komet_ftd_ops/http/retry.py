"""The one retry policy for both clients, and the one `Retry-After` parser.

Why tenacity rather than a loop per client: it already does the three things we need and
nothing else — a custom wait strategy (so the server's `Retry-After` wins over our backoff),
stop after N attempts, and an injectable `sleep` — and it is small, typed and well kept (the
retry helper of many HTTP clients, dlt's among them). What is ours is the policy: which errors
are worth another attempt, and how long to wait before it.

What is retried: only the kit's own exceptions whose class says retrying can help
(`KometFtdOpsError.retryable`: transport trouble, 429). Anything else — an `ApiError`, a bug —
goes up at once. Whether a call may be retried at all is the transport's decision, not the
policy's: Komet writes never come here (no idempotency key), FTD POSTs do (one
Idempotency-Key for every attempt of a call).

How long between attempts: when the error carries a wait the server asked for (`retry_after`,
from `Retry-After` on a 429 or a 503), that wait, capped at `retry_after_cap`; otherwise
exponential backoff from `backoff_base`, jittered upwards by up to 25% so that parallel
readers do not retry in step, capped at `backoff_cap`.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from ..errors import ConfigError, KometFtdOpsError

log = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], None]

JITTER = 0.25  # a backoff wait is stretched by a random 0..25%


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP date (RFC 9110).

    None when the header is absent or unreadable, so callers can tell "the server gave no
    hint" from "wait 0 seconds". A date in the past is 0. `now` is for tests.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds else None  # NaN is unreadable
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # HTTP dates are always GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _worth_retrying(exc: BaseException) -> bool:
    return isinstance(exc, KometFtdOpsError) and exc.retryable


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently one logical call is tried. The same names in both clients.

    `attempts` counts every try, the first included: 1 means never retry.
    """

    attempts: int = 4
    backoff_base: float = 0.2  # seconds before the first retry; doubles each time
    backoff_cap: float = 5.0  # our own backoff never waits longer than this
    retry_after_cap: float = 30.0  # nor do we wait longer than this, whatever the server asks

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ConfigError("RetryPolicy.attempts must be at least 1 (1 = no retries).")
        if min(self.backoff_base, self.backoff_cap, self.retry_after_cap) < 0:
            raise ConfigError("RetryPolicy waits (backoff_base, caps) must be >= 0.")

    def delay(self, retry: int, exc: BaseException | None = None) -> float:
        """Seconds to wait before retry number `retry` (1 = the first retry) after `exc`."""
        server = getattr(exc, "retry_after", None)
        if isinstance(server, int | float):
            return min(max(0.0, float(server)), self.retry_after_cap)
        backoff = self.backoff_base * 2 ** (retry - 1) * random.uniform(1.0, 1.0 + JITTER)
        return min(backoff, self.backoff_cap)

    def call(self, fn: Callable[[], T], *, sleep: Sleep = time.sleep) -> T:
        """`fn()`, tried up to `attempts` times while it raises a retryable kit error.

        The last error is raised as it is (not wrapped), so callers see the kit's tree.
        """
        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=self._wait,
            retry=retry_if_exception(_worth_retrying),
            sleep=sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        return retrying(fn)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        return self.delay(state.attempt_number, exc)

    def _log_retry(self, state: RetryCallState) -> None:
        # Only kit exceptions get here (see _worth_retrying); their messages are already
        # scrubbed of tokens and name the method, never a URL.
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "%s; retry %d of %d in %.2fs", exc, state.attempt_number, self.attempts - 1, wait
        )
