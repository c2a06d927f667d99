"""One cycle of the order pipeline: intake, then every open order as far as it can go.

Each order is moved one step at a time by `advance`, which re-reads the order from the ledger
before every step (the ledger, not memory, is the truth) and is the ONE place where a failed
call becomes a parked order (`cycle.classify`). No order waits on another: a failed call parks
its own order, and a service is left alone for the rest of the cycle only once it has clearly
stopped answering (see `cycle.py`). Orders held back that way are counted in the report, and
the run exits 75 for them (`OrdersReport.raise_if_held_back`).

Orders in parallel: up to `[orders] concurrency` orders (default 4) are in flight at once, each
moved by one worker thread from its first step to where it stops this cycle; workers take the
open orders oldest first, so the oldest start first. With 1, every order moves in the run's own
thread, one after the other, as before. Each order is still recorded in the ledger before each
of its calls: the workers share one store with ONE writer (state/store.py: its lock is held for
a whole transaction, nested blocks are savepoints of the same thread), and no step makes a call
while a transaction is open, so a transaction never waits on the network and lasts
milliseconds. What the cycle shares besides the ledger (stopped services, caches, the report)
is guarded in cycle.py and report.py. An error that stops the run (`DeadlineExceeded`,
`StateError`, an interrupt) lets the workers finish the step they are in, starts no other
order, and is raised once all have stopped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime

from ..connect import Clients
from ..errors import KometFtdOpsError, RateLimited
from ..settings.profiles import OrderRules, Profile
from ..state.store import Store
from . import intake
from .cycle import (
    FTD,
    KOMET,
    SHORT_WAIT_SECONDS,
    Cycle,
    Parked,
    classify,
    not_read,
    service_failure,
)
from .ftd_steps import step_acknowledging, step_cancel_reporting, step_confirming
from .invoices import follow_invoices
from .komet_steps import (
    record_lost_create,
    step_adding,
    step_cancel_delete,
    step_checking_out,
    step_creating,
    step_deleting,
    step_received,
)
from .ledger import (
    ACKNOWLEDGED,
    ACKNOWLEDGING,
    ADDING,
    CANCEL_DELETING,
    CANCEL_REPORTING,
    CANCEL_REVIEW,
    CHECKING_OUT,
    CONFIRMED,
    CONFIRMING,
    CREATING,
    DELETING,
    RECEIVED,
    Line,
    Order,
    OrderLedger,
)
from .orphans import OrphanHeaders
from .report import OrdersReport

Step = Callable[[Cycle, Order, list[Line]], bool]
MAX_STEPS = 32  # per order per cycle (plus 4 a line): a guard against a loop, never reached


def _to_review(cycle: Cycle, order: Order, lines: list[Line]) -> bool:
    cycle.ledger.update(order.order_id, cycle.now, state=CANCEL_REVIEW)
    raise Parked(
        "cancel_after_invoice",
        f"the buyer asked to cancel; Komet holds invoice of web "
        f"order {order.web_order_id}: the sales rep must void it",
        retry=False,
    )


def _cancel_untouched(cycle: Cycle, order: Order, lines: list[Line]) -> bool:
    cycle.ledger.update(
        order.order_id, cycle.now, state=CANCEL_REPORTING, event="cancel before Komet"
    )
    return True


def _cancel_creating(cycle: Cycle, order: Order, lines: list[Line]) -> bool:
    # A header the lost create may have made holds no boxes: list it for the sales rep and
    # report the cancellation (a create landing later is one more empty header, nothing more).
    with cycle.ledger.store.atomic():
        record_lost_create(cycle, order)
        return _cancel_untouched(cycle, order, lines)


def _cancel_checking_out(cycle: Cycle, order: Order, lines: list[Line]) -> bool:
    # Resolve the checkout first: invoiced goes to the sales rep, pending is deleted.
    return step_checking_out(cycle, order, lines)


STEPS: dict[str, tuple[str, Step]] = {
    RECEIVED: (KOMET, step_received),
    CREATING: (KOMET, step_creating),
    ADDING: (KOMET, step_adding),
    CHECKING_OUT: (KOMET, step_checking_out),
    DELETING: (KOMET, step_deleting),
    CANCEL_DELETING: (KOMET, step_deleting),
    ACKNOWLEDGING: (FTD, step_acknowledging),
    CONFIRMING: (FTD, step_confirming),
    CANCEL_REPORTING: (FTD, step_cancel_reporting),
}
# When the buyer asked to cancel. ACKNOWLEDGING finishes first: FTD only lets buyers cancel
# acknowledged orders, so the acknowledgement went out and only its answer is missing.
CANCEL_STEPS: dict[str, tuple[str, Step]] = {
    RECEIVED: (FTD, _cancel_untouched),
    CREATING: (KOMET, _cancel_creating),
    ADDING: (KOMET, step_cancel_delete),
    DELETING: (KOMET, step_cancel_delete),
    CHECKING_OUT: (KOMET, _cancel_checking_out),
    ACKNOWLEDGED: (FTD, _to_review),
    CONFIRMING: (FTD, _to_review),
    CONFIRMED: (FTD, _to_review),
}


def choose(order: Order, delete_on_cancel: bool = False) -> tuple[str, Step] | None:
    if order.cancel_asked and order.state in CANCEL_STEPS:
        if order.state == ACKNOWLEDGED and delete_on_cancel:
            # Checked out, not confirmed by the sales rep as far as we know: Komet voids it.
            return KOMET, step_cancel_delete
        return CANCEL_STEPS[order.state]
    return STEPS.get(order.state)


def next_step(order: Order, rules: OrderRules) -> tuple[str, Step] | None:
    """The step the pipeline takes for `order` now; None when it has none (final, waiting for
    the sales rep, or held for a person)."""
    return None if order.held else choose(order, rules.delete_on_cancel)


def advance(cycle: Cycle, order_id: str) -> None:
    """Move one order as far as it goes this cycle; the one boundary where failures park it."""
    ledger = cycle.ledger
    limit = MAX_STEPS + 4 * len(ledger.lines(order_id))
    waited = False
    for _ in range(limit):
        if cycle.halted.is_set():
            return  # another worker's error stops the run: this order resumes next cycle
        order = ledger.get(order_id)
        step = next_step(order, cycle.rules)
        if step is None:
            return
        service, run = step
        if service in cycle.stopped or cycle.cooling_down(service):
            reason = cycle.stopped.get(service) or f"{service}_rate_limited"
            _park(cycle, order_id, reason, "waiting for the next cycle", retry=True)
            return
        try:
            moved = run(cycle, order, ledger.lines(order_id))
        except Parked as parked:
            _park(cycle, order_id, parked.reason, parked.detail, retry=parked.retry)
            return
        except KometFtdOpsError as exc:
            wait = exc.retry_after if isinstance(exc, RateLimited) else None
            if wait is not None and wait <= SHORT_WAIT_SECONDS and not waited:
                waited = True  # a short pause asked for: wait it out once, then try again
                cycle.sleep(wait)
                continue
            _failed(cycle, order_id, service, exc, wait)
            return
        cycle.answered(service)
        if not moved:
            return
        if ledger.get(order_id).parked:
            ledger.unpark(order_id, cycle.now, "moving again")
    _park(cycle, order_id, "stuck", f"over {limit} steps in one cycle", retry=True)


def advance_all(cycle: Cycle, order_ids: Sequence[str]) -> None:
    """`advance` each order, up to `concurrency` at once, oldest first (module docstring)."""
    workers = min(max(1, cycle.rules.concurrency), len(order_ids))
    if workers <= 1:
        for order_id in order_ids:
            advance(cycle, order_id)
        return
    queue, lock = iter(order_ids), threading.Lock()
    errors: list[BaseException] = []

    def work() -> None:
        while True:
            with lock:
                order_id = None if errors else next(queue, None)
            if order_id is None:
                return
            try:
                advance(cycle, order_id)
            except BaseException as exc:  # the run stops: no worker takes another step
                with lock:
                    errors.append(exc)
                cycle.halted.set()
                return

    threads = [
        threading.Thread(target=work, name=f"orders-{n}", daemon=True) for n in range(workers)
    ]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except BaseException as exc:  # an interrupt in the run's thread: stop taking steps
        with lock:
            errors.append(exc)
        cycle.halted.set()
        for thread in threads:
            thread.join()  # each finishes the step it is in (its state is recorded)
        raise
    if errors:
        raise errors[0]


def _failed(
    cycle: Cycle, order_id: str, service: str, exc: KometFtdOpsError, wait: float | None
) -> None:
    quota_spent = service == KOMET and cycle.quota_spent()
    verdict = classify(exc, service, quota_spent=quota_spent)
    if wait is not None:
        cycle.cool(service, wait)  # longer than we wait within a cycle: defer, do not hammer
    if verdict.stop:
        cycle.stop(service, verdict.reason)
    if verdict.failed:
        cycle.failed(service, verdict.reason)
    _park(cycle, order_id, verdict.reason, str(exc), retry=verdict.retry)


def _park(cycle: Cycle, order_id: str, reason: str, detail: str, *, retry: bool) -> None:
    cycle.ledger.park(order_id, reason, detail, retry=retry, now=cycle.now)
    if retry and service_failure(reason):
        cycle.report.hold(order_id, reason)


def _intake(cycle: Cycle) -> None:
    try:
        batch = intake.fetch(
            cycle.clients.ftd, cycle.ledger.store, cycle.profile.name, cycle.rules.overlap_seconds
        )
    except KometFtdOpsError as exc:
        not_read(cycle, FTD, exc, "FTD orders not read")
        return
    got = intake.record(cycle.ledger, batch, cycle.now)
    cycle.report.received += len(got.received) + len(got.malformed)
    cycle.report.cancel_requests += len(got.cancel_requests)
    cycle.listed_new = frozenset(got.received)
    for order_id in got.received:  # what just sold: the stock refresh reads these offers first
        for line in cycle.ledger.lines(order_id):
            cycle.report.sold(line.offer_id, line.boxes)


def process_orders(
    profile: Profile,
    store: Store,
    clients: Clients,
    *,
    dry_run: bool,
    run_id: str | None,
    now: datetime,
    sleep: Callable[[float], None] = time.sleep,
) -> OrdersReport:
    """One cycle: FTD orders into the ledger, then each open order through Komet and back.

    `sleep` waits out a short Retry-After (tests and the simulation pass one that records).
    """
    ledger = OrderLedger(store, profile.name, run_id)
    report = OrdersReport(profile.name, dry_run=dry_run)
    if dry_run:
        return _dry_run(profile, ledger, clients, report, now)
    calls_before = clients.calls.today()
    cycle = Cycle(profile, ledger, clients, report, now, sleep=sleep)
    _intake(cycle)
    # Oldest first; none waits on another's outcome. The limit counts only orders with a step
    # to take: checked-out orders waiting for the sales rep (followed by `follow_invoices`) and
    # orders held for a person would otherwise fill it on a busy day, and no new order would
    # ever reach Komet while the rep is away.
    work = [o for o in ledger.open_orders() if next_step(o, profile.orders)]
    limit = max(0, profile.orders.max_orders_per_cycle)
    if len(work) > limit:
        report.note(f"{len(work) - limit} open orders wait for the next cycle")
    work = work[:limit]
    # The witnesses read Komet's invoices once for every ship date this cycle may create for.
    days = {o.ship_day() for o in work if o.state == RECEIVED and o.ship_date and not o.held}
    cycle.create_days = tuple(sorted(days))
    advance_all(cycle, [order.order_id for order in work])
    advance_all(cycle, follow_invoices(cycle))
    if KOMET not in cycle.stopped:
        OrphanHeaders(store, profile.name, run_id).delete_learnt(
            clients.komet, profile.ftd_customer_id, now
        )
    report.komet_order_calls = clients.calls.today() - calls_before
    report.finish(ledger, ledger.touched, now.date(), getattr(profile, "komet_fee_pct", 1.5))
    return report


def _dry_run(
    profile: Profile, ledger: OrderLedger, clients: Clients, report: OrdersReport, now: datetime
) -> OrdersReport:
    """Read FTD's orders and say what would happen; write nothing anywhere."""
    try:
        batch = intake.fetch(
            clients.ftd, ledger.store, profile.name, profile.orders.overlap_seconds
        )
    except KometFtdOpsError as exc:
        report.note(f"FTD orders not read: {exc}")
        report.finish(ledger, [], now.date())
        return report
    got = intake.preview(ledger, batch)
    report.received = len(got.received)
    report.cancel_requests = len(got.cancel_requests)
    report.preview(ledger, got.new_orders, now.date())
    return report


__all__ = ["advance", "advance_all", "choose", "follow_invoices", "process_orders"]
