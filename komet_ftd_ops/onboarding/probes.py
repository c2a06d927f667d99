"""The calls a token check makes, and how each answer is read (see token_check.py for why).

`Checker` spends as few of Komet's daily calls as it can: one row of inventory, a week of
invoices, one customer.details.get per candidate until the bound customer answers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from typing import Any

from ..errors import (
    ApiError,
    AuthError,
    CustomerNotAllowed,
    InvalidParameter,
    KometFtdOpsError,
    MethodNotAllowed,
    QuotaExceeded,
)
from ..komet import KometClient
from ..komet.transport import uses_token_headers
from ..state.store import utcnow
from .customers_xlsx import CustomerRow
from .methods import KometTarget
from .results import DENIED, NOT_TICKED, OK, UNCHECKED, MethodResult, TokenCheck

MAX_BIND_TRIES = 12  # customer.details.get calls spent looking for the bound customer


class StopChecks(Exception):
    """Nothing more can be learnt with this token now (unknown token, quota spent)."""


class Checker:
    """One run of the checks; keeps the client, the results and what went wrong."""

    def __init__(self, target: KometTarget, client: KometClient, result: TokenCheck) -> None:
        self.target, self.komet, self.result = target, client, result
        self.auth_refused: set[str] = set()  # methods Komet answered 401 for
        self.answered: set[str] = set()  # methods that got past authentication
        self.unreachable = ""  # why Komet could not be reached, if it could not
        self.unreachable_error: KometFtdOpsError | None = None  # ... and the error that said so

    # --- one call, classified ---

    def attempt(self, method: str, call: Callable[[], Any], how: str = "called") -> Any:
        """Run `call`; record OK/DENIED/UNCHECKED for `method`; return its value (or the
        ApiError that shows the method was reached), None when it was not."""
        try:
            value = call()
        except KometFtdOpsError as exc:
            return self.fail(method, exc, how)
        self.answered.add(method)
        self.record(method, OK, how)
        return value

    def fail(self, method: str, exc: KometFtdOpsError, how: str) -> ApiError | None:
        if isinstance(exc, MethodNotAllowed):
            self.record(method, DENIED, how, NOT_TICKED)
        elif isinstance(exc, CustomerNotAllowed):
            self.record(method, DENIED, how, "the token is bound to another customer")
        elif isinstance(exc, AuthError):
            self.auth_refused.add(method)
            self.record(
                method, DENIED, how, "Komet refused the token (Invalid authentication token)"
            )
        elif isinstance(exc, QuotaExceeded):
            self.result.quota_spent = True
            self.record(method, UNCHECKED, how, "Komet's daily request limit is spent")
            raise StopChecks
        elif isinstance(exc, ApiError):  # refused a parameter: the method itself is allowed
            self.answered.add(method)
            answer = exc.message.split(": ", 1)[-1]  # drop the "Komet <method>: " prefix
            self.record(method, OK, how, f"reached (Komet answered: {answer})")
            return exc
        else:  # transport trouble, or an answer that could not be used
            self.record(method, UNCHECKED, how, f"no usable answer: {exc}")
            self.unreachable, self.unreachable_error = str(exc), exc
            raise StopChecks
        return None

    def record(self, method: str, status: str, how: str, detail: str = "") -> None:
        if method in self.result.methods:
            self.result.methods[method] = MethodResult(method, status, how, detail)

    # --- the checks ---

    def bind(self, candidates: Sequence[CustomerRow]) -> None:
        """Which customer the token is bound to: customer.details.get for the expected id, then
        for each candidate until one answers (a Customer token may only name its own)."""
        ids = _unique([self.target.customer_id, *(c.customer_id for c in candidates)])
        reached = False
        for customer_id in ids[:MAX_BIND_TRIES]:
            try:
                record = self.komet.customer_details_get(customer_id)
            except CustomerNotAllowed:
                reached = True
                continue
            except InvalidParameter:  # no such customer (or inactive): try the next
                reached = True
                continue
            except KometFtdOpsError as exc:
                self.fail("customer.details.get", exc, "called")
                return
            self.answered.add("customer.details.get")
            self.result.bound_customer_id = customer_id
            self.result.bound_customer_name = str(record.get("name", ""))
            self.result.bound_customer_active = str(record.get("active", "1")) not in ("0", "")
            self.record("customer.details.get", OK, "called", f"bound to {customer_id}")
            return
        if reached:
            self.answered.add("customer.details.get")
            self.record("customer.details.get", OK, "called", "bound to none of the ids tried")

    def token_type(self, customer_id: str) -> None:
        """A Company token can call customer.list; a Customer token cannot. FTD needs the latter."""
        try:
            self.komet.customer_list(id=customer_id)
        except MethodNotAllowed:
            self.result.token_type = "customer"
        except QuotaExceeded:
            self.result.quota_spent = True
            raise StopChecks from None
        except KometFtdOpsError:
            return
        else:
            self.result.token_type = "company"

    def reads(self, customer_id: str) -> None:
        today = utcnow().date()
        komet, loc = self.komet, self.target.location_id
        answer = self.attempt(
            "ecommerce/inventory.list",
            lambda: next(komet.iter_inventory_pages(customer_id, **_location(loc)), []),
        )
        if loc:
            bad = isinstance(answer, InvalidParameter) and answer.param == "companyLocationId"
            self.result.location_ok = False if bad else answer is not None
        carriers = self.attempt(
            "ecommerce/customer-carriers.list", lambda: komet.customer_carriers_list(customer_id)
        )
        self.result.carriers = list(carriers) if isinstance(carriers, Sequence) else []
        ship_tos = self.attempt(
            "customer.shipto.list", lambda: komet.customer_shipto_list(customer_id)
        )
        self.result.ship_tos = ship_tos if isinstance(ship_tos, list) else []
        # Komet documents this call only with a webOrderId (required); web order 0 exists on
        # no account, so an empty list (or an "invalid" answer) shows the method is allowed.
        self.attempt(
            "web-order-details.list",
            lambda: komet.web_order_details_list(customer_id, "0"),
            "probed (web order 0)",
        )
        self.attempt(
            "invoice.list",
            lambda: komet.invoice_list(today - timedelta(days=7), today, customer_id=customer_id),
        )
        self.attempt(
            "invoice.details.list",
            lambda: komet.invoice_details_list(today, today, customer_id=customer_id),
        )

    def writes(self, customer_id: str) -> None:
        """A real test web order, created and deleted; the other writes probed on it."""
        komet = self.komet
        self.attempt("web-order.delete", lambda: komet.web_order_delete(customer_id, "0"), "probed")
        if self.result.methods["web-order.delete"].status != OK:
            self.record(
                "web-order.create", UNCHECKED, "not tried",
                "a test web order could not be deleted again with this token",
            )  # fmt: skip
            self._probe_rest(customer_id, "0")
            return
        order = self.attempt("web-order.create", lambda: komet.web_order_create(customer_id, _none(self.target.location_id)), "created a test web order")  # fmt: skip
        if not isinstance(order, str):
            self._probe_rest(customer_id, "0")
            return
        try:
            self._probe_rest(customer_id, order)
        finally:
            self._delete_test_order(customer_id, order)

    def _probe_rest(self, customer_id: str, order: str) -> None:
        komet = self.komet
        carrier = (self.result.carriers[0].id or "0") if self.result.carriers else "0"
        today = utcnow().date()
        self.attempt(
            "web-order-item.add",
            lambda: komet.web_order_item_add(customer_id, order, "0", 1, "0.01", 1, carrier, today),
            "probed (inventory line 0)",
        )
        self.attempt(
            "web-order-item.delete",
            lambda: komet.web_order_item_delete(customer_id, order, "0"),
            "probed (web order item 0)",
        )
        self.attempt(
            "web-order.checkout",
            lambda: komet.web_order_checkout(customer_id, "0", "ONBOARDING-PROBE"),
            "probed (web order 0)",
        )

    def _delete_test_order(self, customer_id: str, order: str) -> None:
        """Delete the test order, then read it back: it must not be pending any more."""
        try:
            self.komet.web_order_delete(customer_id, order)
            left = self.komet.web_order_details_list(customer_id, order)
        except KometFtdOpsError as exc:
            self.result.leftover_web_order = order
            self.result.problems.append(
                f"the check created test web order {order} and could not delete it "
                f"({type(exc).__name__}): delete it in Komet (Sales > Web Orders)."
            )
            return
        if left:
            self.result.leftover_web_order = order
            self.result.problems.append(
                f"test web order {order} is still pending after web-order.delete: delete it in Komet."
            )
            return
        self.record("web-order.create", OK, f"created test web order {order}, deleted it")
        self.record("web-order.delete", OK, f"deleted test web order {order}, read back: gone")

    # --- what it means ---

    def company_id_verdict(self) -> None:
        header = {m for m in self.answered | self.auth_refused if uses_token_headers(m)}
        classic_ok = any(not uses_token_headers(m) for m in self.answered)
        if header & self.answered:
            self.result.company_id_ok = True
        elif header and classic_ok:
            self.result.company_id_ok = False


def _none(text: str) -> str | None:
    return text or None


def _location(location_id: str) -> dict[str, str]:
    return {"company_location_id": location_id} if location_id else {}


def _unique(values: Iterable[str]) -> list[str]:
    seen: list[str] = []
    for value in values:
        if value and value not in seen:
            seen.append(value)
    return seen
