"""`komet-ftd-ops probe`: what a live Komet account does where Komet's pages are silent.

The kit assumes the hardest reading of every switch (`komet/switches.py`) until it is told
otherwise. The probe tells it, for the switches a safe call can show:

    max_rows              ecommerce/inventory.list with rows=5000 (then 500, 30 if refused):
                          how many rows one page serves against `total`
    link_fields           which of customerPo / webOrderId the FTD customer's recent
                          invoice.list items carry (keys present at all)
    fee_on_invoice        a charge line (or additionalCharges) on recent invoices, or totals
                          that are the lines alone
    customer_shipto_list  customer.shipto.list with the Customer token: answered or refused
    messages              the wording of a refusal (web-order-details.list without webOrderId)
                          against the spec's message table
    invoice_exists        --writes only: one test web order, one box of a cheap line added,
                          read back; is there an invoice under its Order # before checkout?
                          (its fee and link fields are read too). The order is then deleted
                          and read back gone. It is never checked out.

Never observed (a safe call cannot show them): merge_invoices (needs two checkouts),
quota_window (needs a day), late_writes (needs a lost write), customer_checkout (needs a
checkout), account_header (needs a call as another company). They stay as the profile has them: the hardest reading unless a person wrote one.

Each switch is reported as observed (this run saw it), unknown (asked, but the answer could
not tell, e.g. no recent invoices), or assumed (not asked); documented rules the probe checks
on the way (web-order-details.list needs webOrderId) are reported as documented when the
account does as documented. Observed values are written to the profile's `[komet.switches]`
table (`record_switches`), nothing else in the file changes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from ..errors import (
    ApiError,
    AuthError,
    KometFtdOpsError,
    MethodNotAllowed,
    QuotaExceeded,
    TransportError,
)
from ..http.formats import as_decimal, as_int, cents
from ..komet.client import KometClient
from ..komet.models import InventoryOrigin, Invoice, WebOrderStatus
from ..komet.switches import SWITCHES
from ..reconcile.sources import is_charge
from ..settings.profiles import Profile
from ..state.store import utcnow

DOCUMENTED, ASSUMED, OBSERVED, UNKNOWN = "documented", "assumed", "observed", "unknown"
NOT_OBSERVABLE = {
    "merge_invoices": "needs two checkouts of one customer: not done on a live account",
    "quota_window": "needs a day of calls: not observable at once",
    "late_writes": "needs a write whose answer is lost: not provoked on a live account",
    "customer_checkout": "needs a checkout: the probe never checks out",
    "account_header": "needs a call as another company: the probe speaks only as its own",
}
PAGE_SIZES = (5000, 500, 30)  # asked largest first; the switch's values
TABLE_REFUSAL = re.compile(r"^[\w.\[\]/-]+ is (required|invalid)\.?$", re.IGNORECASE)
INVOICE_DAYS = 30  # recent invoices: ship dates this many days either side of today
T = TypeVar("T")


@dataclass(frozen=True)
class Row:
    """One line of the probe's table: a switch (or a documented rule) and what was found."""

    name: str
    value: str
    kind: str  # documented / assumed / observed / unknown
    how: str
    switch: bool = True


@dataclass
class ProbeResult:
    profile: str
    rows: list[Row] = field(default_factory=list)
    writes: bool = False
    test_web_order: str | None = None
    problems: list[str] = field(default_factory=list)  # e.g. a test order left behind
    unreachable: KometFtdOpsError | None = None  # why nothing could be asked

    def observed(self) -> dict[str, str]:
        return {r.name: r.value for r in self.rows if r.switch and r.kind == OBSERVED}

    def row(self, name: str) -> Row:
        return next(r for r in self.rows if r.name == name)

    def table(self) -> str:
        """Plain text, one row per switch and rule, for a terminal."""
        head = ("switch", "value", "status", "how")
        lines = [(r.name, r.value, r.kind, r.how) for r in self.rows]
        width = [max(len(x[i]) for x in [head, *lines]) for i in range(3)]
        out = [
            f"{a:<{width[0]}}  {b:<{width[1]}}  {c:<{width[2]}}  {d}"
            for a, b, c, d in [head, *lines]
        ]
        return "\n".join(out)

    def to_json(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "writes": self.writes,
            "rows": [r.__dict__ for r in self.rows],
            "observed": self.observed(),
            "test_web_order": self.test_web_order,
            "problems": self.problems,
        }


class _Stop(Exception):
    """Nothing more can be asked now (quota spent, token refused, Komet unreachable)."""


class Probe:
    """One run of the probe against one account (see the module docstring)."""

    def __init__(self, komet: KometClient, profile: Profile, today: date | None = None) -> None:
        self.komet, self.profile = komet, profile
        self.customer = profile.ftd_customer_id
        self.today = today or utcnow().date()
        self.found: dict[str, Row] = {}
        self.rules: list[Row] = []
        self.items: list[dict[str, Any]] = []  # page 1 of the inventory, for the test order
        self.result = ProbeResult(profile.name)

    # --- one call, guarded: the probe goes on past a refusal, stops when nothing can be asked

    def ask(self, call: Callable[[], T]) -> T | ApiError:
        try:
            return call()
        except (AuthError, QuotaExceeded) as exc:
            self.result.unreachable = exc
            raise _Stop from None
        except ApiError as exc:
            return exc
        except TransportError as exc:
            self.result.unreachable = exc
            raise _Stop from None

    def saw(self, name: str, value: str | None, how: str) -> None:
        if value is None:
            self.found[name] = Row(name, self.profile.komet_switches[name], UNKNOWN, how)
        else:
            self.found[name] = Row(name, SWITCHES[name].check(value), OBSERVED, how)

    # --- reads ---

    def max_rows(self) -> None:
        upper, refused = None, []
        for rows in PAGE_SIZES:
            answer = self.ask(self._page(rows))
            if isinstance(answer, ApiError):
                refused.append(str(rows))
                upper = rows
                continue
            items = [i for i in answer.get("inventoryItems") or [] if isinstance(i, dict)]
            self.items = items
            try:
                total = as_int(answer.get("total"))
            except ValueError:
                total = None
            n = len(items)
            values = [int(v) for v in SWITCHES["max_rows"].values]
            if n < rows and (total is None or n < total):  # Komet cut the page: n is its cap
                fits = [v for v in values if v <= n][-1:]
            else:  # a full page, or the whole inventory on it: the cap is at least n
                fits = [v for v in values if v >= max(n, 1) and (upper is None or v < upper)]
            said = f"asked rows={rows}, got {n} of total {total}"
            if refused:
                said = f"rows={', '.join(refused)} refused; " + said
            if len(fits) == 1:
                self.saw("max_rows", str(fits[0]), said)
            else:
                self.saw("max_rows", None, said + ": the inventory fits one page either way")
            return
        self.saw("max_rows", None, "every page size was refused")

    def _page(self, rows: int) -> Callable[[], dict[str, Any]]:
        params = {"customerId": self.customer, "page": 1, "rows": rows}
        return lambda: self.komet.read_envelope("ecommerce/inventory.list", params)

    def invoices(self) -> None:
        first, last = (
            self.today - timedelta(days=INVOICE_DAYS),
            self.today + timedelta(days=INVOICE_DAYS),
        )
        listed = self.ask(lambda: self.komet.invoice_list(first, last, customer_id=self.customer))
        if isinstance(listed, ApiError):
            self.saw("link_fields", None, f"invoice.list refused: {_said(listed)}")
            self.saw("fee_on_invoice", None, "invoice.list refused")
            return
        where = f"{len(listed)} invoice(s) of the FTD customer shipping {first}..{last}"
        if not listed:
            self.saw("link_fields", None, f"no invoices shipping {first}..{last} to look at")
            self.saw("fee_on_invoice", None, "no recent invoices to look at")
            return
        self.saw("link_fields", _link_fields(listed), where)
        latest = (
            max(i.ship_date for i in listed if i.ship_date)
            if any(i.ship_date for i in listed)
            else self.today
        )
        details = self.ask(
            lambda: self.komet.invoice_details_list(
                latest - timedelta(days=3), latest, customer_id=self.customer
            )
        )
        if isinstance(details, ApiError):
            self.saw("fee_on_invoice", None, f"invoice.details.list refused: {_said(details)}")
            return
        self.saw(
            "fee_on_invoice",
            _fee_seen(details),
            f"{len(details)} invoice(s) with lines shipping {latest - timedelta(days=3)}..{latest}",
        )

    def ship_tos(self) -> None:
        answer = self.ask(lambda: self.komet.customer_shipto_list(self.customer))
        if isinstance(answer, MethodNotAllowed):
            self.saw(
                "customer_shipto_list",
                "no",
                "customer.shipto.list: method not allowed for the Customer token",
            )
        elif isinstance(answer, ApiError):
            self.saw("customer_shipto_list", None, f"customer.shipto.list: {_said(answer)}")
        else:
            self.saw(
                "customer_shipto_list",
                "yes",
                f"customer.shipto.list answered ({len(answer)} ship-tos)",
            )

    def required_and_wording(self) -> None:
        """web-order-details.list without its required webOrderId: refused, in which words."""
        answer = self.ask(
            lambda: self.komet.read_envelope(
                "web-order-details.list", {"customerId": self.customer}
            )
        )
        rule = "web-order-details.list needs webOrderId"
        if isinstance(answer, MethodNotAllowed):
            self.rules.append(Row(rule, "?", UNKNOWN, "method not allowed for the token", False))
            self.saw("messages", None, "web-order-details.list not allowed for the token")
            return
        if not isinstance(answer, ApiError):
            self.rules.append(
                Row(
                    rule,
                    "not required",
                    OBSERVED,
                    "Komet answered without it: more lenient than documented",
                    False,
                )
            )
            answer = self.ask(
                lambda: self.komet.read_envelope(
                    "invoice.list",
                    {
                        "customerId": self.customer,
                        "orderDateFrom": "not-a-date",
                        "orderDateTo": "not-a-date",
                    },
                )
            )
            if not isinstance(answer, ApiError):
                self.saw("messages", None, "no refusal seen to compare")
                return
        else:
            self.rules.append(
                Row(rule, "required", DOCUMENTED, f"refused without it: {_said(answer)}", False)
            )
        text = _said(answer)
        wording = "table" if TABLE_REFUSAL.match(text) else "other"
        self.saw("messages", wording, f"refusal worded {text!r}")

    # --- one test web order (--writes) ---

    def test_order(self) -> None:
        day = self.today + timedelta(days=1)
        line = _cheap_line(self.items, day)
        if line is None:
            self.saw("invoice_exists", None, f"no open-market line with a box to spare for {day}")
            return
        carriers = self.ask(
            lambda: self.komet.customer_carriers_list(
                self.customer, day, line.get("availableFrom") or day, line.get("availableTo") or day
            )
        )
        if isinstance(carriers, ApiError) or not (
            getattr(carriers, "suggested", None) or len(carriers)
        ):
            carrier = self.profile.carrier_id
        else:
            carrier = (getattr(carriers, "suggested", None) or carriers[0]).id
        if not carrier:
            self.saw("invoice_exists", None, "no carrier for the test order's ship date")
            return
        created = self.ask(
            lambda: self.komet.web_order_create(
                self.customer, self.profile.komet_location_id or None
            )
        )
        if isinstance(created, ApiError):
            self.saw("invoice_exists", None, f"web-order.create refused: {_said(created)}")
            return
        self.result.test_web_order = created
        try:
            self._add_and_look(created, line, carrier, day)
        finally:
            self._delete(created)

    def _add_and_look(self, order: str, line: dict[str, Any], carrier: str, day: date) -> None:
        added = self.ask(
            lambda: self.komet.web_order_item_add(
                self.customer, order, str(line["inventoryLineIds"]), InventoryOrigin.OPEN_MARKET,
                line["price"], 1, carrier, day, ship_to_id=self.profile.ship_to_id or None,
            )
        )  # fmt: skip
        if isinstance(added, ApiError):
            self.saw("invoice_exists", None, f"web-order-item.add refused: {_said(added)}")
            return
        read = self.ask(lambda: self.komet.web_order_details_list(self.customer, order))
        web = read[0] if isinstance(read, list) and read else None
        if web is not None and web.additional_charges is not None and web.subtotal:
            self.rules.append(_fee_rule(order, web.subtotal, web.additional_charges))
        number = web.number if web is not None else None
        if not number:
            self.saw(
                "invoice_exists", "checkout", f"test order {order}: no Order # after the first add"
            )
            return
        invoices = self.ask(
            lambda: self.komet.invoice_list(day, day, customer_id=self.customer, order=number)
        )
        if isinstance(invoices, ApiError) or not invoices:
            self.saw(
                "invoice_exists",
                "checkout",
                f"test order {order}: Order # {number}, no invoice under it before checkout",
            )
            return
        self.saw(
            "invoice_exists",
            "first_add",
            f"test order {order}: invoice {invoices[0].number} before checkout",
        )
        if self.found.get("link_fields", Row("", "", UNKNOWN, "")).kind != OBSERVED:
            self.saw(
                "link_fields",
                _link_fields(invoices),
                f"the test order's invoice {invoices[0].number}",
            )
        if self.found.get("fee_on_invoice", Row("", "", UNKNOWN, "")).kind != OBSERVED:
            lines = self.ask(
                lambda: self.komet.invoice_details_list(
                    day, day, customer_id=self.customer, order=number
                )
            )
            if isinstance(lines, list) and lines:
                self.saw(
                    "fee_on_invoice",
                    _fee_seen(lines),
                    f"the test order's invoice {invoices[0].number}",
                )

    def _delete(self, order: str) -> None:
        """Delete the test order and read it back under both statuses: it must be gone."""
        try:
            self.komet.web_order_delete(self.customer, order)
            left = self.komet.web_order_details_list(self.customer, order)
            left += self.komet.web_order_details_list(
                self.customer, order, status_id=WebOrderStatus.CHECKED_OUT
            )
        except KometFtdOpsError as exc:
            self.result.problems.append(
                f"test web order {order} could not be deleted ({type(exc).__name__}): delete it in "
                "Komet (Sales > Web Orders)."
            )
            return
        if left:
            self.result.problems.append(
                f"test web order {order} is still listed after web-order.delete: delete it in Komet."
            )

    # --- the whole run ---

    def run(self, writes: bool = False) -> ProbeResult:
        self.result.writes = writes
        try:
            self.max_rows()
            self.invoices()
            self.ship_tos()
            self.required_and_wording()
            if writes:
                self.test_order()
        except _Stop:
            pass
        for name in SWITCHES:
            if name in self.found:
                continue
            why = NOT_OBSERVABLE.get(name) or (
                "run with --writes to observe it" if not writes else "not reached"
            )
            if self.result.unreachable is not None and name not in NOT_OBSERVABLE:
                why = f"not asked: {self.result.unreachable.message}"
            self.found[name] = Row(name, self.profile.komet_switches[name], ASSUMED, why)
        self.result.rows = [self.found[n] for n in SWITCHES] + self.rules
        return self.result


def probe(
    komet: KometClient, profile: Profile, *, writes: bool = False, today: date | None = None
) -> ProbeResult:
    """Observe what can be observed safely on the account (see the module docstring)."""
    return Probe(komet, profile, today).run(writes)


def record_switches(path: Path, observed: dict[str, str]) -> bool:
    """Write `observed` into the profile file's [komet.switches] table (created if missing);
    every other byte of the file stays as it was. False when there was nothing to write."""
    import tomlkit  # a style-preserving TOML writer: the rest of the file must not change

    if not observed:
        return False
    text = path.read_text() if path.exists() else ""
    doc = tomlkit.parse(text)
    komet = doc.get("komet")
    if komet is None:
        komet = tomlkit.table(is_super_table=True)
        doc["komet"] = komet
    found = komet.get("switches")
    new = found is None
    table: Any = tomlkit.table() if new else found
    if new:
        table.add(
            tomlkit.comment(
                "observed by `komet-ftd-ops probe`; a switch not named here is taken at its hardest"
            )
        )
    for name, value in observed.items():
        table[name] = value
    if new:
        table.add(tomlkit.nl())
        komet["switches"] = table
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(tomlkit.dumps(doc))
    tmp.replace(path)
    return True


# --- reading what came back ---


def _fee_rule(order: str, subtotal: Decimal, charged: Decimal) -> Row:
    """Komet's page: web orders carry a 1.5% transaction fee (to the cent)."""
    documented = cents(subtotal * Decimal("0.015"))
    how = f"test order {order}: subtotal {subtotal}, additionalCharges {charged}"
    if charged == documented:
        return Row("transaction fee on web orders", "1.5%", DOCUMENTED, how, False)
    return Row(
        "transaction fee on web orders", f"{charged * 100 / subtotal:.2f}%", OBSERVED, how, False
    )


def _said(exc: ApiError) -> str:
    return exc.message.split(": ", 1)[-1]  # drop the "Komet <method>: " prefix


def _link_fields(invoices: list[Invoice]) -> str:
    po = any("customerPo" in i.raw for i in invoices)
    web = any("webOrderId" in i.raw for i in invoices)
    return {(True, True): "both", (True, False): "customerPo", (False, True): "webOrderId"}.get(
        (po, web), "neither"
    )


def _fee_seen(invoices: list[Invoice]) -> str | None:
    """charge: some invoice bills an additional charge; none: totals are the lines alone."""
    plain = False
    for invoice in invoices:
        details = invoice.details or ()
        try:
            extra = as_decimal(invoice.raw.get("additionalCharges"))
        except ValueError:
            extra = None
        if any(is_charge(d) for d in details) or (extra is not None and extra > 0):
            return "charge"
        totals = [d.total for d in details if not is_charge(d)]
        products = [t for t in totals if t is not None]
        if products and len(products) == len(totals) and invoice.total == sum(products):
            plain = True
    return "none" if plain else None


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _cheap_line(items: list[dict[str, Any]], day: date) -> dict[str, Any] | None:
    """The cheapest open-market line with a box to spare that ships on `day`: one box of it is
    the test order."""
    best, cost = None, None
    for item in items:
        start, end = _day(item.get("availableFrom")), _day(item.get("availableTo"))
        if (start and start > day) or (end and end < day):
            continue
        try:
            boxes = as_int(item.get("quantity")) or 0
            price = as_decimal(item.get("price"))
            units = as_int(item.get("unitsPerBox")) or 0
        except ValueError:
            continue
        origin = (
            as_int(item.get("inventoryOrigin")) if item.get("inventoryOrigin") is not None else 1
        )
        if (
            boxes < 2
            or price is None
            or price <= 0
            or not units
            or origin != 1
            or not item.get("inventoryLineIds")
        ):
            continue
        if cost is None or price * units < cost:
            best, cost = item, price * units
    return best
