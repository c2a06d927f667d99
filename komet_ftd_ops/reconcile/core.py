"""Reconcile FTD orders against Komet invoices for a range of ship dates.

    reconcile(profile, store, clients, first, last)
      ├── the ledger's orders shipping in the range (ledger_view), widened by `margin_days`
      ├── Komet: invoice.list + invoice.details.list (sources)
      ├── FTD: current status of those orders, and orders the ledger never received
      ├── match, strongest key first, each order's way recorded (`Finding.matched_by`):
      │     1. the ledger's invoice id, or the invoice's webOrderId      (when Komet gives it)
      │     2. the invoice's customerPo = the FTD order number           (when Komet gives it)
      │     3. the web order's Order # (`number`: the ledger's, else read back by webOrderId)
      │        = the invoice's number, else invoice.list's `order` filter (any ship date)
      │     4. customer, ship date and lines (invoice.details.list): one fit is a match, more
      │        than one (either way round) is `ambiguous_match`, for a person, never a guess
      ├── where it ships: the web order of each invoiced order read back by webOrderId (no
      │     invoice field names a ship-to), against the kit's decision (orders/shipping.py)
      └── classify each order into one category (categories), orphans → unexpected_invoice

`invoice.list` items carry `customerPo`/`webOrderId` only on some accounts (a switch; Komet's
pages show neither), so keys 3 and 4 are what works on every account. Web orders that Komet
merged into one invoice all find it (by their Order #) and are compared together, not called
duplicates. Empty web-order headers that lost creates may have left (orders/orphans.py) are
listed in the notes for the sales rep.

The range is widened by a margin on both sides so an invoice whose ship date moved a day or two
still finds its order (and is reported as a mismatch, not as missing plus unexpected); only
orders and orphan invoices shipping inside the range are reported.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
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
from .categories import CATEGORIES, PROBLEMS, Finding, ambiguous, classify, unexpected
from .ledger_view import OrderView
from .sources import (
    VOIDED,
    Invoice,
    Sources,
    invoices_by_number,
    read_ftd,
    read_komet,
    web_order,
)

LAST_KEY = "reconcile.last"  # kv key (scope: the profile) of the last result, for health


@dataclass(frozen=True)
class ReconcileRules:
    pending_hours: float = 24.0  # an invoice awaiting confirmation longer than this is a problem
    margin_days: int = 2  # read this many ship days more on each side (moved ship dates)
    ftd_lookback_days: int = 45  # FTD listing starts this long before the first ship date
    ask_ftd: bool = True  # read FTD's current order statuses (False: the ledger's view only)
    check_ship_to: bool = True  # read each invoiced order's web order for its ship-to (1 call)


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
    fee_pct: float | None = None  # the fee the invoices were expected to carry (None: none)
    orphan_headers: list[ledger_view.OrphanView] = field(default_factory=list)

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
            "matched_by": self.matched_by(),
            "fee_billed": str(sum((f.fee for f in self.findings if f.fee), Decimal("0.00"))),
            "orphan_headers": len(self.orphan_headers),
        }

    def matched_by(self) -> dict[str, int]:
        """How many orders found their invoice each way (see the module docstring)."""
        counts: dict[str, int] = defaultdict(int)
        for finding in self.findings:
            if finding.order is not None and finding.matched_by:
                counts[finding.matched_by] += 1
        return dict(sorted(counts.items()))


def _unique(invoices: Iterable[Invoice]) -> list[Invoice]:
    seen: dict[str, Invoice] = {}
    for invoice in invoices:
        seen.setdefault(invoice.id, invoice)
    return list(seen.values())


class _Matcher:
    """Hands each invoice to one order, or to several when Komet merged their web orders."""

    def __init__(self, invoices: list[Invoice]) -> None:
        self.by_id: dict[str, Invoice] = {}
        self.by_web: dict[str, list[Invoice]] = defaultdict(list)
        self.by_po: dict[str, list[Invoice]] = defaultdict(list)
        self.by_no: dict[str, list[Invoice]] = defaultdict(list)
        self.claimed: dict[str, list[str]] = {}  # invoice id -> the orders that claimed it
        self.held: set[str] = set()  # invoices an ambiguous match leaves for a person
        self.add(invoices)

    def add(self, invoices: Iterable[Invoice]) -> None:
        for invoice in invoices:
            if invoice.id in self.by_id:
                continue
            self.by_id[invoice.id] = invoice
            if invoice.web_order_id:
                self.by_web[invoice.web_order_id].append(invoice)
            if invoice.customer_po:
                self.by_po[invoice.customer_po].append(invoice)
            if invoice.number:
                self.by_no[invoice.number].append(invoice)

    def claim(
        self, candidates: Iterable[Invoice], order_id: str = "", *, share: bool = False
    ) -> Invoice | None:
        """The first live candidate not yet claimed (`share`: claimed ones too: a web order's
        own Order # names its invoice even when Komet merged another web order into it)."""
        free = [i for i in _unique(candidates) if share or i.id not in self.claimed]
        live = [i for i in free if i.status != VOIDED]
        pick = live[0] if live else (free[0] if free else None)
        if pick is not None:
            self.claimed.setdefault(pick.id, []).append(order_id)
        return pick

    def by_ledger_id(self, order: OrderView) -> list[Invoice]:
        return [self.by_id[order.invoice_id]] if order.invoice_id in self.by_id else []

    def by_web_order(self, order: OrderView) -> list[Invoice]:
        return self.by_web.get(order.web_order_id, []) if order.web_order_id else []

    def strong(self, order: OrderView) -> list[Invoice]:
        return self.by_ledger_id(order) + self.by_web_order(order)

    def by_customer_po(self, order: OrderView) -> list[Invoice]:
        return self.by_po.get(order.order_number, [])

    def by_order_number(self, number: str) -> list[Invoice]:
        return self.by_no.get(number, [])

    def unclaimed(self) -> list[Invoice]:
        return [
            i for i in self.by_id.values() if i.id not in self.claimed and i.id not in self.held
        ]


def _signature(lines: Iterable[tuple[str, int]]) -> tuple[tuple[str, int], ...] | None:
    boxes: dict[str, int] = defaultdict(int)
    for key, count in lines:
        boxes[key] += count
    return tuple(sorted(boxes.items())) or None


def _order_signature(order: OrderView) -> tuple[tuple[str, int], ...] | None:
    return _signature((x.inventory_key, x.boxes_expected) for x in order.lines if not x.rejected)


def _invoice_signature(invoice: Invoice) -> tuple[tuple[str, int], ...] | None:
    if invoice.lines is None or any(x.boxes is None for x in invoice.lines):
        return None
    return _signature((x.inventory_key, x.boxes or 0) for x in invoice.lines)


@dataclass
class _Match:
    invoice: Invoice | None = None
    how: str = ""
    candidates: list[Invoice] = field(default_factory=list)  # ambiguous: every fitting invoice


class _Matching:
    """The four keys of the module docstring, strongest first, for every order at once."""

    def __init__(self, clients: Clients, customer_id: str, sources: Sources) -> None:
        self.clients, self.customer_id, self.sources = clients, customer_id, sources
        self.matcher = _Matcher(sources.invoices)

    def run(self, orders: list[OrderView]) -> dict[str, _Match]:
        m = self.matcher
        found = {o.order_id: _Match() for o in orders}
        for how, key in (("invoice id", m.by_ledger_id), ("webOrderId", m.by_web_order)):
            for o in orders:
                if found[o.order_id].invoice is None:
                    self._take(found[o.order_id], m.claim(key(o), o.order_id), how)
        for o in orders:  # customerPo only for orders no stronger key matched
            if found[o.order_id].invoice is None:
                self._take(
                    found[o.order_id], m.claim(m.by_customer_po(o), o.order_id), "customerPo"
                )
        for o in orders:
            if found[o.order_id].invoice is None:
                self._by_order_number(o, found[o.order_id])
        self._by_lines([o for o in orders if found[o.order_id].invoice is None], found)
        return found

    @staticmethod
    def _take(match: _Match, invoice: Invoice | None, how: str) -> None:
        if invoice is not None:
            match.invoice, match.how = invoice, how

    def web_order(self, order: OrderView, *, invoiced: bool = False) -> None:
        """Read the order's web order back by its id, once (documented: webOrderId given);
        `invoiced`: it has an invoice, so it is most likely checked out (asked first)."""
        wid = order.web_order_id
        if wid and wid not in self.sources.web_orders:
            try:
                read = web_order(self.clients, self.customer_id, wid, checked_out_first=invoiced)
            except KometFtdOpsError:
                return  # what the web order says only refines the detail of a finding
            if read is not None:
                self.sources.web_orders[wid] = read

    def _by_order_number(self, order: OrderView, match: _Match) -> None:
        number = order.web_order_number
        if not number and order.web_order_id:
            self.web_order(order)
            read = self.sources.web_orders.get(order.web_order_id)
            number = read.number if read else None
        if not number:
            return
        candidates = self.matcher.by_order_number(number)
        if not candidates and order.ship_date is not None:
            candidates = invoices_by_number(self.clients, self.customer_id, number, order.ship_date)
            self.matcher.add(candidates)
        self._take(match, self.matcher.claim(candidates, order.order_id, share=True), "Order #")

    def _by_lines(self, orders: list[OrderView], found: dict[str, _Match]) -> None:
        fits: dict[str, list[Invoice]] = {}
        fitted_by: dict[str, list[str]] = defaultdict(list)
        for o in orders:
            signature = _order_signature(o)
            if signature is None or o.ship_date is None:
                continue
            fits[o.order_id] = [
                i
                for i in self.matcher.unclaimed()
                if i.ship_date == o.ship_date and _invoice_signature(i) == signature
            ]
            for invoice in fits[o.order_id]:
                fitted_by[invoice.id].append(o.order_id)
        for order_id, candidates in fits.items():
            if len(candidates) == 1 and fitted_by[candidates[0].id] == [order_id]:
                self._take(found[order_id], self.matcher.claim(candidates, order_id), "lines")
            elif candidates:
                found[order_id].candidates = candidates
                found[order_id].how = "lines (ambiguous)"
        for match in found.values():
            self.matcher.held.update(i.id for i in match.candidates)


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

    matching = _Matching(clients, profile.ftd_customer_id, sources)
    found = matching.run(orders)
    by_invoice: dict[str, list[OrderView]] = defaultdict(list)
    for order in orders:
        if found[order.order_id].invoice is not None:
            by_invoice[found[order.order_id].invoice.id].append(order)  # type: ignore[union-attr]
    fee_pct = _fee_pct(profile)

    findings = []
    for order in orders:
        if order.ship_date is None or not first <= order.ship_date <= last:
            continue
        listed = (sources.ftd_orders or {}).get(order.order_id)
        ftd_status = (listed.status if listed else "") or order.ftd_status
        match = found[order.order_id]
        if match.candidates:
            findings.append(ambiguous(order, match.candidates, ftd_status))
            continue
        invoice = match.invoice
        if invoice is None:
            matching.web_order(order)  # why it has none: pending, checked out, gone
        ships_to = None
        if invoice is not None and invoice.status != VOIDED and order.decided:
            if rules.check_ship_to:
                matching.web_order(order, invoiced=True)  # where it ships now
            read = sources.web_orders.get(order.web_order_id or "")
            ships_to = read.ship_to_ids if read is not None else None
        others = [o for o in by_invoice.get(invoice.id, []) if o is not order] if invoice else []
        findings.append(
            classify(
                order,
                invoice,
                ftd_status=ftd_status,
                pending_web_order=sources.web_orders.get(order.web_order_id or ""),
                now=now,
                pending_hours=rules.pending_hours,
                fee_pct=fee_pct,
                matched_by=match.how,
                shared_with=tuple(others),
                ships_to=ships_to,
            )
        )
    for invoice in matching.matcher.by_id.values():
        in_range = invoice.ship_date is not None and first <= invoice.ship_date <= last
        taken = invoice.id in matching.matcher.claimed or invoice.id in matching.matcher.held
        if not taken and invoice.status != VOIDED and in_range:
            findings.append(unexpected(invoice, now))
    orphans = ledger_view.orphan_headers(store, profile.name)
    if orphans:
        notes.append(_orphan_note(orphans))
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
        fee_pct=fee_pct,
        orphan_headers=orphans,
    )


def _fee_pct(profile: Profile) -> float | None:
    """The fee rate the invoices carry, or None when the profile says Komet bills none."""
    switches = getattr(profile, "komet_switches", {}) or {}
    if switches.get("fee_on_invoice", "charge") != "charge":
        return None
    return float(getattr(profile, "komet_fee_pct", 1.5))


def _orphan_note(orphans: list[ledger_view.OrphanView]) -> str:
    """For the sales rep: empty web-order headers that lost creates may have left in Komet."""
    known = [o for o in orphans if o.web_order_id]
    parts = [f"{o.order_number or o.order_id} (create sent {o.sent_at})" for o in orphans[:10]]
    more = f" and {len(orphans) - 10} more" if len(orphans) > 10 else ""
    ids = (
        f"; known ids, to delete: {', '.join(str(o.web_order_id) for o in known)}" if known else ""
    )
    return (
        f"{len(orphans)} web-order.create answer(s) were lost, so Komet may hold empty pending "
        f"web orders of the FTD customer (no boxes, no PO) for: {', '.join(parts)}{more}{ids}. "
        "A sales rep can delete them in Komet (Sales > Web Orders)."
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
