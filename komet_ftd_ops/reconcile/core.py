"""Reconcile FTD orders against Komet invoices for a range of ship dates.

    reconcile(profile, store, clients, first, last)
      ├── the ledger's orders shipping in the range (ledger_view), widened by `margin_days`
      ├── Komet: invoice.list + invoice.details.list + pending web orders (sources)
      ├── FTD: current status of those orders, and orders the ledger never received
      ├── match: ledger invoice id / webOrderId first, then customerPo = FTD order number
      └── classify each order into one category (categories), orphans → unexpected_invoice

The range is widened by a margin on both sides so an invoice whose ship date moved a day or two
still finds its order (and is reported as a mismatch, not as missing plus unexpected); only
orders and orphan invoices shipping inside the range are reported.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from ..connect import Clients
from ..errors import ConfigError, DataError, KometFtdOpsError
from ..ftd.models import FtdOrder
from ..http.formats import to_date
from ..runs import index as run_index
from ..settings.profiles import Profile
from ..state.store import Store, iso
from . import ledger_view
from .categories import CATEGORIES, PROBLEMS, Finding, classify, unexpected
from .ledger_view import OrderView
from .sources import VOIDED, Invoice, Sources, read_ftd, read_komet

LAST_KEY = "reconcile.last"  # kv key (scope: the profile) of the last result, for health


@dataclass(frozen=True)
class ReconcileRules:
    pending_hours: float = 24.0  # an invoice awaiting confirmation longer than this is a problem
    margin_days: int = 2  # read this many ship days more on each side (moved ship dates)
    ftd_lookback_days: int = 45  # FTD listing starts this long before the first ship date
    ask_ftd: bool = True  # read FTD's current order statuses (False: the ledger's view only)


@dataclass(frozen=True)
class RunRef:
    run_id: str
    status: str
    notebook: str | None


@dataclass
class Reconciliation:
    """The result: one Finding per order or orphan invoice, and what was read to get there."""

    profile: str
    first: date
    last: date
    at: datetime
    rules: ReconcileRules
    findings: list[Finding]
    runs: dict[str, RunRef] = field(default_factory=dict)
    komet_calls: int = 0
    ftd_asked: bool = False
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Findings per category, every category present (zeros included), in a fixed order."""
        counts = dict.fromkeys(CATEGORIES, 0)
        for finding in self.findings:
            counts[finding.category] += 1
        return counts

    @property
    def problems(self) -> int:
        counts = self.counts()
        return sum(counts[c] for c in PROBLEMS)

    def run_of(self, finding: Finding) -> RunRef | None:
        run_id = finding.order.run_id if finding.order else None
        return self.runs.get(run_id) if run_id else None

    def to_json(self) -> dict[str, Any]:
        """The small summary kept in the state DB for `health`, and printed by the CLI."""
        return {
            "profile": self.profile,
            "from": self.first.isoformat(),
            "to": self.last.isoformat(),
            "at": iso(self.at),
            "counts": self.counts(),
            "problems": self.problems,
            "pending_hours": self.rules.pending_hours,
            "komet_calls": self.komet_calls,
            "notes": self.notes,
        }


def _unique(invoices: Iterable[Invoice]) -> list[Invoice]:
    seen: dict[str, Invoice] = {}
    for invoice in invoices:
        seen.setdefault(invoice.id, invoice)
    return list(seen.values())


class _Matcher:
    """Hands each invoice to at most one order: strong keys first, then customerPo."""

    def __init__(self, invoices: list[Invoice]) -> None:
        self.by_id = {i.id: i for i in invoices}
        self.by_web: dict[str, list[Invoice]] = defaultdict(list)
        self.by_po: dict[str, list[Invoice]] = defaultdict(list)
        for invoice in invoices:
            if invoice.web_order_id:
                self.by_web[invoice.web_order_id].append(invoice)
            if invoice.customer_po:
                self.by_po[invoice.customer_po].append(invoice)
        self.claimed: set[str] = set()

    def claim(self, candidates: Iterable[Invoice]) -> Invoice | None:
        free = [i for i in _unique(candidates) if i.id not in self.claimed]
        live = [i for i in free if i.status != VOIDED]
        pick = live[0] if live else (free[0] if free else None)
        if pick is not None:
            self.claimed.add(pick.id)
        return pick

    def strong(self, order: OrderView) -> list[Invoice]:
        found = [self.by_id[order.invoice_id]] if order.invoice_id in self.by_id else []
        return found + (self.by_web.get(order.web_order_id, []) if order.web_order_id else [])

    def by_number(self, order: OrderView) -> list[Invoice]:
        return self.by_po.get(order.order_number, [])


def _orders(
    store: Store, profile: Profile, first: date, last: date, ftd: dict[str, FtdOrder] | None
) -> list[OrderView]:
    """The ledger's orders in the range, plus FTD's orders the ledger never received."""
    orders = ledger_view.orders_shipping(store, profile.name, first, last)
    if ftd:
        held = {o.order_id for o in orders}
        unseen = [i for i in ftd if i not in held]
        known = ledger_view.known_order_ids(store, profile.name, unseen)
        orders += [ledger_view.from_ftd(ftd[i]) for i in unseen if i not in known]
    return orders


def reconcile(
    profile: Profile,
    store: Store,
    clients: Clients,
    first: date | str,
    last: date | str,
    *,
    rules: ReconcileRules | None = None,
    now: datetime | None = None,
) -> Reconciliation:
    """FTD orders against Komet invoices for ship dates in [first, last] (see module docstring)."""
    rules = rules or ReconcileRules()
    first, last = to_date(first, "from"), to_date(last, "to")
    if first > last:
        raise DataError(f"from {first} is after to {last}.")
    now = now or datetime.now(UTC)
    margin = timedelta(days=max(0, rules.margin_days))
    wide_first, wide_last = first - margin, last + margin
    sources: Sources = read_komet(clients, profile.ftd_customer_id, wide_first, wide_last)
    notes = []
    if rules.ask_ftd:
        try:
            sources.ftd_orders = read_ftd(clients, wide_first, wide_last, rules.ftd_lookback_days)
        except KometFtdOpsError as exc:
            # FTD's listing only refines statuses; the ledger's view of FTD still reconciles.
            notes.append(f"FTD not read ({type(exc).__name__}: {exc}); using the ledger's view")
    orders = _orders(store, profile, wide_first, wide_last, sources.ftd_orders)

    matcher = _Matcher(sources.invoices)
    chosen: dict[str, Invoice | None] = {
        o.order_id: matcher.claim(matcher.strong(o)) for o in orders
    }
    for order in orders:  # customerPo only for orders no strong key matched
        if chosen[order.order_id] is None:
            chosen[order.order_id] = matcher.claim(matcher.by_number(order))

    findings = []
    for order in orders:
        if order.ship_date is None or not first <= order.ship_date <= last:
            continue
        listed = (sources.ftd_orders or {}).get(order.order_id)
        findings.append(
            classify(
                order,
                chosen[order.order_id],
                ftd_status=(listed.status if listed else "") or order.ftd_status,
                pending_web_order=sources.pending_web_orders.get(order.web_order_id or ""),
                now=now,
                pending_hours=rules.pending_hours,
            )
        )
    for invoice in sources.invoices:
        in_range = invoice.ship_date is not None and first <= invoice.ship_date <= last
        if invoice.id not in matcher.claimed and invoice.status != VOIDED and in_range:
            findings.append(unexpected(invoice, now))
    findings.sort(key=_sort_key)
    return Reconciliation(
        profile=profile.name,
        first=first,
        last=last,
        at=now,
        rules=rules,
        findings=findings,
        runs=_runs(store, findings),
        komet_calls=sources.komet_calls,
        ftd_asked=sources.ftd_orders is not None,
        notes=notes,
    )


def _sort_key(finding: Finding) -> tuple[int, str, str]:
    ship = finding.order.ship_date if finding.order else None
    ship = ship or (finding.invoice.ship_date if finding.invoice else None)
    name = (
        finding.order.order_number
        if finding.order
        else (finding.invoice.number if finding.invoice else "")
    )
    return CATEGORIES.index(finding.category), str(ship or ""), name


def _runs(store: Store, findings: list[Finding]) -> dict[str, RunRef]:
    """The run (and its notebook) that handled each order, from the run index."""
    found: dict[str, RunRef] = {}
    for run_id in sorted({f.order.run_id for f in findings if f.order and f.order.run_id}):
        try:
            record = run_index.get_run(store, run_id)
        except ConfigError:  # a run id from another home, or a run row deleted by hand
            continue
        notebook = record.notebook or record.html
        found[run_id] = RunRef(run_id, record.status, str(notebook) if notebook else None)
    return found


def save_last(store: Store, result: Reconciliation, workbook: Path | None = None) -> None:
    """Keep the result's summary for `health` (the state DB's kv, scope = the profile)."""
    summary = result.to_json()
    summary["workbook"] = str(workbook) if workbook else None
    store.put(result.profile, LAST_KEY, summary)


def last_result(store: Store, profile: str) -> dict[str, Any] | None:
    """The summary `save_last` kept, or None when no reconciliation ran for the profile."""
    value = store.get(profile, LAST_KEY)
    return value if isinstance(value, dict) else None
