"""What one cycle of the order pipeline knows besides the ledger, and how failures park orders.

Nothing here survives a crash, on purpose: everything an order needs to resume is in the ledger.
The cycle only caches what is cheap to read again (the FTD customer's foreign pending web orders,
the carrier) and remembers which service stopped answering, so one outage costs one failed call,
not one per order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ..connect import Clients
from ..errors import (
    ApiError,
    AuthError,
    CustomerNotAllowed,
    DeadlineExceeded,
    KometFtdOpsError,
    MethodNotAllowed,
    QuotaExceeded,
    RateLimited,
    StateError,
    TransportError,
)
from ..settings.profiles import OrderRules, Profile
from ..state.store import iso
from .ledger import OrderLedger

if TYPE_CHECKING:
    from .report import OrdersReport

KOMET, FTD = "komet", "ftd"
CARRIER_KEY = "orders.carrier_id"


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


def classify(exc: KometFtdOpsError, service: str) -> Verdict:
    """The one table from a failure to a parking reason."""
    if isinstance(exc, DeadlineExceeded | StateError):  # the run stops: not one order's fault
        raise exc
    if isinstance(exc, QuotaExceeded):
        return Verdict("quota", retry=True, stop=True)
    if isinstance(exc, AuthError | MethodNotAllowed | CustomerNotAllowed):
        # A person must fix the token; once fixed, parked orders resume without help.
        return Verdict(f"{service}_token_refused", retry=True, stop=True)
    if isinstance(exc, TransportError | RateLimited):
        return Verdict(f"{service}_unavailable", retry=True, stop=True)
    if isinstance(exc, ApiError):
        return Verdict(f"{service}_refused", retry=False, stop=False)
    return Verdict("bad_data", retry=False, stop=False)


@dataclass
class Cycle:
    """One run of the pipeline: profile, ledger, clients, the report, and this cycle's caches."""

    profile: Profile
    ledger: OrderLedger
    clients: Clients
    report: OrdersReport
    now: datetime
    stopped: dict[str, str] = field(default_factory=dict)  # service -> why
    create_blocked: str | None = None  # an earlier create is unresolved: no new creates
    _foreign_pending: set[str] | None = None

    @property
    def rules(self) -> OrderRules:
        return self.profile.orders

    @property
    def customer(self) -> str:
        return self.profile.ftd_customer_id

    def stop(self, service: str, reason: str) -> None:
        self.stopped.setdefault(service, reason)
        self.report.note(f"{service} calls stopped for this cycle: {reason}")

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

    def foreign_pending(self) -> set[str]:
        """Pending web orders of the FTD customer that no ledger order holds (one read a cycle).

        Recorded with each create, so that a create whose answer was lost can be told apart
        from web orders that were there before it.
        """
        if self._foreign_pending is None:
            listed = self.clients.komet.web_order_details_list(self.customer)
            ids = {w.id for w in listed}
            self._foreign_pending = ids - self.ledger.claimed_web_orders()
        return self._foreign_pending

    def carrier(self) -> str:
        """The profile's carrier, else the FTD customer's first carrier in Komet (read once)."""
        if self.profile.carrier_id:
            return self.profile.carrier_id
        store, name = self.ledger.store, self.profile.name
        cached = store.get(name, CARRIER_KEY)
        if cached:
            return str(cached)
        carriers = self.clients.komet.customer_carriers_list(self.customer)
        ids = [c.id for c in carriers if c.id]  # Komet's order
        if not ids:
            raise Parked(
                "no_carrier",
                "the FTD customer has no carrier in Komet; set komet.carrier_id in the profile",
                retry=False,
            )
        store.put(name, CARRIER_KEY, ids[0])
        return ids[0]
