"""Is the integration healthy? One answer a monitoring system can act on.

Five checks, all from the state database (no Komet call, so health never spends quota):

    silence     no sync run succeeded in the last `max_silence_min` minutes (or none ever did)
    failures    the last `max_failures` sync runs all failed or timed out (skipped runs, which
                only mean another run held the lock, do not break or extend the streak)
    new_orders  FTD orders still NEW (not yet acknowledged by the kit) for longer than
                `max_new_min` minutes, from the ledger (parked orders too: FTD waits on them
                as well, so they stay red until a person acts); with `ftd_new` also the orders
                FTD lists as NEW that the ledger never received (intake not running at all)
    held        orders parked for a person (no later cycle moves them: `web_order_gone`,
                `komet_merged`, a voided invoice...), and orders stuck: past FTD's NEW and not
                waiting for the sales rep (`confirming`, a cancellation on its way), parked for
                retry or unchanged for longer than `max_stuck_min` minutes
    reconcile   the last reconciliation found more than `max_problems` problems

`check_health` returns every check; `Health.line()` is the one line to print: "ok: ..." or
"critical: <every failing check>".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..state.store import Store
from .index import FAILED, OK, RUNNING, SKIPPED, TIMED_OUT, RunRecord

if TYPE_CHECKING:  # FTD's records only as a type: health needs no HTTP client
    from ..ftd.models import FtdOrder
    from ..reconcile.ledger_view import OpenOrder

SYNC = "sync"
EXIT_CRITICAL = 2  # as a Nagios/Icinga plugin: 0 OK, 2 CRITICAL


@dataclass(frozen=True)
class HealthRules:
    max_silence_min: float = 30.0
    max_failures: int = 3
    max_new_min: float = 30.0
    max_problems: int = 0
    max_stuck_min: float = 60.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    text: str


@dataclass(frozen=True)
class Health:
    profile: str
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def line(self) -> str:
        """One line: what is wrong (every failing check), or a short all-clear."""
        failing = [c.text for c in self.checks if not c.ok]
        if failing:
            return f"critical: {self.profile}: " + "; ".join(failing)
        return f"ok: {self.profile}: " + "; ".join(c.text for c in self.checks)

    def full_line(self) -> str:
        """Every check on one line, failing ones first: a profile's line in `health --all`
        (its last success, orders waiting, orders held, failures in a row, reconciliation)."""
        checks = sorted(self.checks, key=lambda c: c.ok)
        return f"{'ok' if self.ok else 'critical'}: {self.profile}: " + "; ".join(
            c.text for c in checks
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "ok": self.ok,
            "line": self.line(),
            "checks": [{"name": c.name, "ok": c.ok, "text": c.text} for c in self.checks],
        }


def _sync_runs(store: Store, profile: str, limit: int = 200) -> list[RunRecord]:
    from .index import list_runs

    return [r for r in list_runs(store, profile=profile, limit=limit) if r.kind == SYNC]


def _minutes(delta: timedelta) -> float:
    return delta.total_seconds() / 60


def check_silence(runs: list[RunRecord], now: datetime, max_min: float) -> Check:
    good = [r for r in runs if r.status == OK]
    if not good:
        return Check("silence", False, "no sync has ever succeeded")
    last = good[0].finished_at or good[0].started_at
    age = _minutes(now - last)
    if age > max_min:
        return Check(
            "silence", False, f"no sync succeeded in {age:.0f} min (limit {max_min:g} min)"
        )
    return Check("silence", True, f"last sync ok {age:.0f} min ago")


def check_failures(runs: list[RunRecord], max_failures: int) -> Check:
    streak: list[RunRecord] = []
    for run in runs:  # newest first
        if run.status in (SKIPPED, RUNNING):
            continue
        if run.status not in (FAILED, TIMED_OUT):
            break
        streak.append(run)
    if max_failures > 0 and len(streak) >= max_failures:
        why = streak[0].reason or streak[0].status
        return Check("failures", False, f"{len(streak)} sync cycles failed in a row (last: {why})")
    return Check("failures", True, f"{len(streak)} failed in a row")


def check_new_orders(
    waiting: Iterable[tuple[str, datetime | None]], now: datetime, max_min: float
) -> Check:
    """`waiting`: (order id, created on FTD) of every order FTD still shows NEW."""
    ages = sorted(
        ((_minutes(now - created), order_id) for order_id, created in waiting if created),
        reverse=True,
    )
    late = [(age, order_id) for age, order_id in ages if age > max_min]
    if late:
        oldest_age, oldest = late[0]
        return Check(
            "new_orders",
            False,
            f"{len(late)} FTD order(s) NEW for over {max_min:g} min "
            f"(oldest {oldest}, {oldest_age:.0f} min)",
        )
    return Check("new_orders", True, f"{len(ages)} order(s) NEW, none late")


def check_reconciliation(last: dict[str, Any] | None, max_problems: int) -> Check:
    if not last:
        return Check("reconcile", True, "no reconciliation yet")
    problems = int(last.get("problems") or 0)
    span = f"{last.get('from')}..{last.get('to')}"
    if problems > max_problems:
        from ..reconcile.categories import PROBLEMS

        counts = last.get("counts") or {}
        parts = ", ".join(f"{counts[c]} {c}" for c in PROBLEMS if counts.get(c))
        return Check(
            "reconcile", False, f"last reconciliation ({span}) found {problems} problem(s): {parts}"
        )
    return Check("reconcile", True, f"last reconciliation ({span}) clean")


def held_and_stuck(orders: Iterable[OpenOrder], now: datetime, max_stuck_min: float) -> list[str]:
    """One line per order held for a person or stuck (see the module docstring), oldest first."""
    from ..orders.ledger import ACKNOWLEDGED
    from ..reconcile.ledger_view import NOT_YET_ACKNOWLEDGED

    # Not stuck, only waiting: FTD's NEW orders are the `new_orders` check's, and an
    # acknowledged order waits for the sales rep to confirm its invoice.
    waiting = NOT_YET_ACKNOWLEDGED | {ACKNOWLEDGED}
    found = []
    for order in orders:
        age = _minutes(now - order.since) if order.since else 0.0
        why = f"{order.park_reason}: {order.park_detail}" if order.park_reason else "no change"
        if order.held:
            found.append((age, f"{order.order_id} held in {order.state} ({why})"))
        elif order.state not in waiting and age > max_stuck_min:
            found.append((age, f"{order.order_id} stuck in {order.state} ({why})"))
    return [f"{line}, {age:.0f} min" for age, line in sorted(found, reverse=True)]


def check_held(orders: Iterable[OpenOrder], now: datetime, max_stuck_min: float) -> Check:
    lines = held_and_stuck(orders, now, max_stuck_min)
    if lines:
        return Check(
            "held", False, f"{len(lines)} order(s) held or stuck (a person must act): {lines[0]}"
        )
    return Check("held", True, "no order held or stuck")


def state_damaged(profile: str, exc: Exception) -> Health:
    """Health when the state database is refused (`StateDamaged`): critical, as any failed check,
    so a monitoring system sees exit 2 and the line saying what to do, not a crash."""
    return Health(profile, [Check("state", False, str(exc))])


def check_health(
    store: Store,
    profile: str,
    *,
    rules: HealthRules | None = None,
    now: datetime | None = None,
    ftd_new: list[FtdOrder] | None = None,
) -> Health:
    """Every check for one profile (see the module docstring)."""
    from ..reconcile.core import last_result
    from ..reconcile.ledger_view import open_orders, orders_waiting_for_ack

    rules = rules or HealthRules()
    now = now or datetime.now(UTC)
    runs = _sync_runs(store, profile)
    waiting = {o.order_id: o.created_at for o in orders_waiting_for_ack(store, profile)}
    for order in ftd_new or []:  # FTD's own view: also orders the ledger never received
        waiting.setdefault(order.order_id, order.created_at)
    return Health(
        profile,
        [
            check_silence(runs, now, rules.max_silence_min),
            check_failures(runs, rules.max_failures),
            check_new_orders(waiting.items(), now, rules.max_new_min),
            check_held(open_orders(store, profile), now, rules.max_stuck_min),
            check_reconciliation(last_result(store, profile), rules.max_problems),
        ],
    )


def check_all(
    store: Store,
    profiles: Iterable[str],
    *,
    rules: HealthRules | None = None,
    now: datetime | None = None,
    ftd_new: Mapping[str, list[FtdOrder]] | None = None,
) -> list[Health]:
    """`check_health` for each profile, failing ones first, then by name (`health --all`)."""
    now = now or datetime.now(UTC)
    found = [
        check_health(store, p, rules=rules, now=now, ftd_new=(ftd_new or {}).get(p))
        for p in profiles
    ]
    return sorted(found, key=lambda h: (h.ok, h.profile))
