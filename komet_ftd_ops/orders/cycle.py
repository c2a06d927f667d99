"""What one cycle of the order pipeline knows besides the ledger, and how failures park orders.

Nothing here survives a crash, on purpose: everything an order needs to resume is in the ledger.
The cycle remembers only what must not repeat within it: which writes went out (a write is never
sent twice in one cycle), which orders were read back, and how each service is doing. A failure
stops only what it concerns: one order is parked, and a service is left alone for the rest of
the cycle only after `MAX_FAILURES_IN_A_ROW` failed calls with no answer between them, when a
token is refused, when the daily quota is really spent, or while a rate limit's wait runs.

Orders move in worker threads (`[orders] concurrency`, orders/pipeline.py), so this memory is
shared by them. Two kinds of lock keep it sound, and their order never varies:

- `single(key)`: one worker at a time reads or creates a thing the whole cycle shares (the
  invoice list, a carrier per ship date, the ship-to copy, one florist's ship-to): held across
  that call, so the others wait and reuse its answer instead of spending a call each;
- `_lock`: guards the small fields below; held for a few statements, never across a call, a
  store transaction or another lock (it is always the innermost).

No lock of this module is ever taken inside a store transaction (`Store.atomic()`), and no call
is made inside one: a worker holding a `single` lock may wait for the store, never the reverse.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from ..connect import Clients
from ..errors import (
    ApiError,
    AuthError,
    CustomerNotAllowed,
    DeadlineExceeded,
    KometFtdOpsError,
    LeaseLost,
    MethodNotAllowed,
    QuotaExceeded,
    RateLimited,
    StateError,
    TransportError,
)
from ..komet.models import Invoice
from ..komet.switches import hardest
from ..settings.profiles import OrderRules, Profile
from ..state.store import iso
from .ledger import OrderLedger

if TYPE_CHECKING:
    from .report import OrdersReport

KOMET, FTD = "komet", "ftd"
CARRIER_KEY = "orders.carrier_id"
MAX_FAILURES_IN_A_ROW = 3  # failed calls to one service, no answer between: stop calling it
SHORT_WAIT_SECONDS = 2.0  # a Retry-After this short is waited out within the cycle
OUTCOME_UNKNOWN = "outcome_unknown"


def service_failure(reason: str) -> bool:
    """True for parking reasons that a later cycle cures by itself once the service answers."""
    return reason in (OUTCOME_UNKNOWN, "quota") or reason.endswith(
        ("_unavailable", "_rate_limited")
    )


class Parked(Exception):
    """Raised by a step: stop this order here, with a reason a person can read.

    Not part of the kit's error tree: it never leaves the pipeline.
    """

    def __init__(self, reason: str, detail: str, *, retry: bool) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.retry = retry


@dataclass(frozen=True)
class Verdict:
    """How a failed call parks its order."""

    reason: str
    retry: bool  # later cycles try again on their own
    stop: bool  # no more calls to this service in this cycle
    failed: bool = False  # no answer: counts towards MAX_FAILURES_IN_A_ROW


def classify(exc: KometFtdOpsError, service: str, *, quota_spent: bool = True) -> Verdict:
    """The one table from a failure to a parking reason.

    Komet answers both a spent daily quota and a burst limit with the same "API request limit
    exceeded": `quota_spent` (our own count of today's calls) tells them apart, so one refused
    call with hundreds of calls left is a rate limit for that order, not a day without Komet.
    """
    if isinstance(exc, DeadlineExceeded | StateError | LeaseLost):  # the run stops, not an order
        raise exc
    if isinstance(exc, QuotaExceeded):
        if quota_spent:
            return Verdict("quota", retry=True, stop=True)
        return Verdict(f"{service}_rate_limited", retry=True, stop=False, failed=True)
    if isinstance(exc, AuthError | MethodNotAllowed | CustomerNotAllowed):
        # A person must fix the token; once fixed, parked orders resume without help.
        return Verdict(f"{service}_token_refused", retry=True, stop=True)
    if isinstance(exc, RateLimited):
        return Verdict(f"{service}_rate_limited", retry=True, stop=False, failed=True)
    if isinstance(exc, TransportError):
        return Verdict(f"{service}_unavailable", retry=True, stop=False, failed=True)
    if isinstance(exc, ApiError):
        return Verdict(f"{service}_refused", retry=False, stop=False)
    return Verdict("bad_data", retry=False, stop=False)


@dataclass
class Cycle:
    """One run of the pipeline: profile, ledger, clients, the report, and this cycle's memory."""

    profile: Profile
    ledger: OrderLedger
    clients: Clients
    report: OrdersReport
    now: datetime
    stopped: dict[str, str] = field(default_factory=dict)  # service -> why
    failures: dict[str, int] = field(default_factory=dict)  # service -> failed calls in a row
    cooling: dict[str, float] = field(default_factory=dict)  # service -> monotonic time
    sent: set[tuple[str, ...]] = field(default_factory=set)  # writes sent in this cycle
    read_back: set[tuple[str, ...]] = field(default_factory=set)  # read-backs done this cycle
    sleep: Callable[[float], None] = time.sleep
    checkout_refused: bool = False  # web-order.checkout answered "method not allowed"
    create_days: tuple[date, ...] = ()  # ship dates of the orders this cycle may create
    # Orders this cycle's FTD listing brought in as NEW: FTD's own answer of moments ago, so
    # the FTD witness needs no second read of them (witnesses.py).
    listed_new: frozenset[str] = frozenset()
    invoice_cache: dict[tuple[date, date], list[Invoice]] = field(default_factory=dict)
    # Set when an error stops the run in one worker: the others stop after the step they are in.
    halted: threading.Event = field(default_factory=threading.Event, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _single: dict[Hashable, threading.Lock] = field(default_factory=dict, repr=False)

    @contextmanager
    def single(self, key: Hashable) -> Iterator[None]:
        """One worker at a time for `key` (a shared read or create, see the module docstring)."""
        with self._lock:
            lock = self._single.setdefault(key, threading.Lock())
        with lock:
            yield

    @property
    def rules(self) -> OrderRules:
        return self.profile.orders

    @property
    def customer(self) -> str:
        return self.profile.ftd_customer_id

    def switch(self, name: str) -> str:
        """The profile's `[komet.switches]` value, else the hardest reading (komet/switches.py)."""
        observed = getattr(self.profile, "komet_switches", None) or {}
        return str(observed.get(name) or hardest()[name])

    def may_checkout(self) -> bool:
        """False when the Customer token may not call web-order.checkout: the order is placed
        once its items are added, and the sales rep confirms the web order as it is."""
        return self.switch("customer_checkout") != "no" and not self.checkout_refused

    def invoices(self, first: date, last: date) -> list[Invoice]:
        """invoice.list for the FTD customer over ship dates `first..last`, read once a cycle:
        a range already read that covers it is reused (the witnesses and the invoice follower
        share one call)."""
        with self.single("invoice.list"):
            for (start, stop), rows in list(self.invoice_cache.items()):
                if start <= first and last <= stop:
                    return [i for i in rows if i.ship_date is None or first <= i.ship_date <= last]
            rows = self.clients.komet.invoice_list(first, last, customer_id=self.customer)
            self.invoice_cache[(first, last)] = rows
            return rows

    def forget_invoices(self) -> None:
        """A checkout made an invoice the cycle's earlier invoice.list did not see (waits for a
        list in flight: its answer may predate the checkout)."""
        with self.single("invoice.list"):
            self.invoice_cache.clear()

    def stop(self, service: str, reason: str) -> None:
        with self._lock:
            self.stopped.setdefault(service, reason)
        self.report.note(f"{service} calls stopped for this cycle: {reason}")

    def failed(self, service: str, reason: str) -> None:
        """A call got no usable answer; enough of them in a row stop the service.

        With workers, "in a row" is over the cycle's calls to the service as they end: any
        answer between two failures resets the count, whichever order it belonged to."""
        with self._lock:
            count = self.failures[service] = self.failures.get(service, 0) + 1
        if count >= MAX_FAILURES_IN_A_ROW:
            self.stop(service, reason)

    def answered(self, service: str) -> None:
        with self._lock:
            self.failures[service] = 0

    def cool(self, service: str, seconds: float) -> None:
        """The service asked for a pause: no calls to it until the pause is over."""
        until = time.monotonic() + seconds
        with self._lock:
            self.cooling[service] = max(until, self.cooling.get(service, 0.0))

    def cooling_down(self, service: str) -> bool:
        return self.cooling.get(service, 0.0) > time.monotonic()

    def quota_spent(self) -> bool:
        return self.clients.calls.today() >= self.profile.daily_quota

    def settled(self, sent_at: str | None) -> bool:
        """True once a write whose answer was lost can no longer be in flight.

        A request that timed out on our side may still be running on the server; reading back
        too early and re-sending could then add a line twice. `unknown_settle_seconds` (a cycle
        or so in production) waits that out.
        """
        if not sent_at:
            return True
        wait = timedelta(seconds=max(0, self.rules.unknown_settle_seconds))
        return sent_at <= iso(self.now - wait)

    def may_resend(self, write: tuple[str, ...], sent_at: str | None) -> bool:
        """A lost write goes out again only once settled, and never twice in one cycle."""
        with self._lock:
            return write not in self.sent and self.settled(sent_at)

    def sending(self, write: tuple[str, ...]) -> None:
        with self._lock:
            self.sent.add(write)

    def reading_back(self, what: tuple[str, ...]) -> None:
        with self._lock:
            self.read_back.add(what)

    def carrier(self, ship_date: date) -> str:
        """The carrier for this ship date: Komet's suggestion, else the profile's, cached per
        ship date for a while (orders/carriers.py)."""
        from .carriers import carrier_for  # carriers.py raises this module's Parked

        return carrier_for(self, ship_date)


def not_read(cycle: Cycle, service: str, exc: KometFtdOpsError, what: str) -> None:
    """A read for the whole cycle failed: the orders it would have moved wait a cycle."""
    verdict = classify(exc, service, quota_spent=service == KOMET and cycle.quota_spent())
    if verdict.stop:
        cycle.stop(service, verdict.reason)
    if verdict.failed:
        cycle.failed(service, verdict.reason)
    cycle.report.note(f"{what}: {exc}")
    if verdict.retry and service_failure(verdict.reason):
        cycle.report.trouble(f"{what} ({verdict.reason})")
