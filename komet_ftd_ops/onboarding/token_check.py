"""Check a Komet token against what the FTD integration needs (Komet's step 1, verified).

    check_token(target, token)      which needed methods the token can call, which customer it
                                    is bound to, whether the company ID is right, quota left

How each method is checked:

- read methods are called for real, with the smallest request that exercises them (one row of
  inventory, a week of invoices): `MethodNotAllowed` means the method is not ticked.
- write methods only with `check_writes=True`: `web-order.create` and `web-order.delete` for
  real (a test web order is created and deleted again, and read back to prove it is gone), the
  others *probed*: sent with an id that names nothing (web order 0, inventory line 0), so Komet
  refuses the parameter, which it only does after the token passed its method check
  ([assumed]: the twin checks in that order; if live Komet checked parameters first, a probe
  would say "ok" for an unticked method. `web-order.create`/`delete` are never probed.)
- `web-order.delete` is probed *before* the test order is created: a token that could create
  an order but not delete it would otherwise leave one behind.

The token goes into the client's `KometConfig` as a `Secret` and nowhere else: not into a
result, a message or a log line.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from ..errors import ConfigError, ConnectionFailed, TransportError
from ..http.retry import RetryPolicy
from ..komet import KometClient, KometConfig
from ..settings.home import Home
from ..settings.profiles import Profile
from ..settings.secrets import Secret, resolve_secret
from ..state.calls import CallCounter
from ..state.store import Store, iso
from .customers_xlsx import CustomerRow
from .methods import METHOD_NAMES, NEEDED_METHODS, WRITE, KometTarget, as_target, needed
from .probes import Checker, StopChecks
from .results import DENIED, NOT_TICKED, OK, UNCHECKED, MethodResult, TokenCheck

NO_CUSTOMER_ID = (
    "No FTD customer ID to check the token against: give it, or the customer export (.xlsx), "
    "or a Company token so customer.list can find FTD."
)
EDIT_TOKEN = "Edit the token in Komet (Setup > Settings > Tokens) and tick"
READ_RETRY = RetryPolicy()  # the same policy as the kit's clients (connect.komet_client)


def _client(
    target: KometTarget, token: Secret, store: Store, counter: list[int], transport: Any
) -> KometClient:
    calls = CallCounter(store, "komet")

    def on_call(method: str) -> None:
        counter[0] += 1
        calls(method)

    # Reads are retried like every read of the kit (KometConfig's default RetryPolicy): only
    # transport trouble and 429 are retried, never a refusal, so a denied method still costs one
    # call, while a dropped connection no longer fails the check. (It used to be one attempt,
    # to spare the quota; a blip then failed a passing preflight with the wrong advice.)
    # Writes are sent once whatever the policy (the transport never retries them).
    config = KometConfig(
        base_url=target.base_url, company_id=target.company_id, token=token,
        timeout=target.timeout_seconds, retry=READ_RETRY, page_size=1,
    )  # fmt: skip
    return KometClient(config, transport=transport, on_call=on_call)


def as_secret(token: Secret | str, home: Home) -> Secret:
    """A token: a `Secret`, a secret reference (`env:`, `file:`, `sandbox:`), or the value."""
    if isinstance(token, Secret):
        return token
    scheme, sep, _ = token.partition(":")
    if sep and scheme in ("env", "file", "sandbox"):
        return resolve_secret(token, home)
    return Secret(token.strip())


# --- the public function ---------------------------------------------------------------------


def check_token(
    profile_or_params: Profile | KometTarget | Mapping[str, Any],
    token: Secret | str,
    *,
    candidates: Sequence[CustomerRow] = (),
    check_writes: bool = False,
    store: Store | None = None,
    home: Home,
    transport: httpx.BaseTransport | None = None,
) -> TokenCheck:
    """Which needed methods `token` can call, which customer it is bound to, the quota left.

    `profile_or_params`: a Profile, a KometTarget, or a mapping with base_url, company_id and
    (optionally) customer_id, location_id, paid_users. `token`: a Secret, a secret reference
    (`env:VAR`, `file:key`, `sandbox:komet.customer`) or the pasted value. `candidates`: FTD
    rows from the export or customer.list, tried when the token is not bound to `customer_id`.
    Every call is counted in the state store like the kit's other Komet calls.
    """
    target = as_target(profile_or_params)
    secret = as_secret(token, home)
    if not secret:
        raise ConfigError("the token is empty: paste the token Komet showed when it was created.")
    result = TokenCheck(
        target=target,
        token_masked=secret.masked(),
        methods={m: MethodResult(m, UNCHECKED, "not checked") for m in METHOD_NAMES},
        checked_at=iso(),
    )
    own_store = store is None
    store = store if store is not None else home.open_store()
    counter = [0]
    try:
        with _client(target, secret, store, counter, transport) as komet:
            checker = Checker(target, komet, result)
            with contextlib.suppress(StopChecks):  # StopChecks: the checks that ran say why
                _run(checker, candidates, check_writes)
            checker.company_id_verdict()
        result.calls_made = counter[0]
        result.calls_today = CallCounter(store, "komet").today()
    finally:
        if own_store:
            store.close()
    _verdict(result, checker, check_writes)
    return result


def _run(checker: Checker, candidates: Sequence[CustomerRow], check_writes: bool) -> None:
    result, target = checker.result, checker.target
    checker.bind(candidates)
    if "customer.details.get" in checker.auth_refused:
        raise StopChecks  # Komet does not know the token: every other call would say the same
    customer_id = result.bound_customer_id or target.customer_id
    if not customer_id or (result.bound_customer_id is None and _bound_elsewhere(result)):
        raise StopChecks  # nothing to check against, or every call would be CustomerNotAllowed
    result.customer_id = customer_id
    if result.bound_customer_id:
        checker.token_type(customer_id)
    checker.reads(customer_id)
    if check_writes:
        result.writes_checked = True
        checker.writes(customer_id)


def _bound_elsewhere(result: TokenCheck) -> bool:
    details = result.methods["customer.details.get"]
    return details.status == OK and result.bound_customer_id is None


def _verdict(result: TokenCheck, checker: Checker, check_writes: bool) -> None:
    """Turn what the checks saw into problems (block the preflight) and warnings."""
    problems, warnings, target = result.problems, result.warnings, result.target
    if result.quota_spent:
        problems.append(
            f"Komet's daily request limit is spent (API request limit exceeded): the check "
            f"stopped after {result.calls_made} call(s). Calls work again after midnight GMT; "
            f"the limit is 1,000 calls per paid user, shared by all the company's tokens."
        )
    if checker.unreachable:
        problems.append(_unreachable(result, checker))
    if "customer.details.get" in checker.auth_refused:
        problems.append(
            "Komet does not know this token (Invalid authentication token). Copy it again from "
            "Setup > Settings > Tokens, and check the base URL."
        )
    if result.company_id_ok is False:
        problems.append(
            f"Komet accepts the token for classic methods but refuses it for e-commerce and "
            f"web-order methods with company ID {target.company_id} (sent as X-ACCOUNT): the "
            f"company ID is wrong. Use the Company ID Komet gave your company."
        )
    _binding_problems(result)
    if result.token_type == "company":
        problems.append(
            "This is a Company token (it can call customer.list). FTD needs a Customer token: "
            "create one with Token Type = Customer, bound to FTD's customer record."
        )
    _method_problems(result)
    if result.location_ok is False:
        problems.append(
            f"Komet does not know company location {target.location_id} (companyLocationId). "
            f"Leave the location empty unless your company has several locations."
        )
    carriers = result.methods["ecommerce/customer-carriers.list"]
    if carriers.status == OK and not carriers.detail and not result.carriers:
        problems.append(
            "FTD's customer has no carriers in Komet (ecommerce/customer-carriers.list is "
            "empty): assign carriers to FTD's customer record; every order line needs one."
        )
    if not check_writes:  # asked for but not reached: the problems above say why
        warnings.append(
            "write methods (web-order.*) were not checked: tick 'check writes' "
            "(--check-writes) to create a test web order and delete it again."
        )
    elif not result.writes_checked:
        warnings.append("write methods were not checked: the check stopped before them.")


def _unreachable(result: TokenCheck, checker: Checker) -> str:
    """Why the check got no usable answer, with the advice that fits.

    The base URL is suspect only when nothing ever connected, or when something answered
    with a page that is not Komet's (HTML from a wrong address). A connection that dropped
    (reset, timeout) through the retries, or a 5xx, is the network or the service: trying
    again later helps, editing the URL does not.
    """
    error, detail = checker.unreachable_error, checker.unreachable
    if isinstance(error, TransportError):
        result.network_failure = detail
    status = error.details.get("http_status") if error is not None else None
    dropped = isinstance(error, TransportError) and status is None
    if dropped and not (isinstance(error, ConnectionFailed) and not checker.answered):
        answered = len(checker.answered)
        before = f" after {answered} method(s) had answered" if answered else ""
        return (
            f"the connection to Komet dropped during the check{before} and stayed down "
            f"through the retries ({detail}): a network or service problem, not the token's. "
            f"Try again in a moment."
        )
    if isinstance(status, int) and status >= 500:
        return (
            f"Komet answered with a server error through the retries ({detail}): the service, "
            f"or a proxy in front of it, is down. Try again later."
        )
    return (
        f"Komet gave no usable answer ({detail}); check the base URL "
        f"{result.target.base_url} and try again."
    )


def _binding_problems(result: TokenCheck) -> None:
    expected, bound = result.target.customer_id, result.bound_customer_id
    if bound and expected and bound != expected:
        result.problems.append(
            f"The token is bound to customer {bound} ({result.bound_customer_name}), not to "
            f"{expected}. Create the token again with FTD's customer selected, or pick "
            f"{bound} as FTD's customer ID if that is FTD."
        )
    elif bound is None and _bound_elsewhere(result):
        tried = expected or "any of the FTD candidates"
        result.problems.append(
            f"The token is not bound to {tried} (Komet: Customer not allowed for this token): "
            f"it is bound to another customer, or {tried} is not FTD's customer ID. Check the "
            f"ID, or create the token again with FTD's customer selected."
        )
    if bound and not result.bound_customer_active:
        result.problems.append(
            f"Customer {bound} ({result.bound_customer_name}) is inactive in Komet: the token "
            f"must be bound to FTD's active customer record."
        )
    elif not bound and not expected and result.methods["customer.details.get"].status != DENIED:
        result.problems.append(NO_CUSTOMER_ID)


def _method_problems(result: TokenCheck) -> None:
    missing = [n for n, r in result.methods.items() if r.detail == NOT_TICKED]
    required = [n for n in missing if not needed(n).optional]
    optional = [n for n in missing if needed(n).optional]
    if required:
        result.problems.append(f"The token cannot call {', '.join(required)}. {EDIT_TOKEN} them.")
    if optional:
        result.warnings.append(
            f"The token cannot call {', '.join(optional)} (optional: the kit works without, "
            f"with less). {EDIT_TOKEN} them if you can."
        )
    writes = [m.name for m in NEEDED_METHODS if m.kind == WRITE]
    if result.writes_checked and all(result.methods[w].status == UNCHECKED for w in writes):
        result.warnings.append("write methods could not be checked (see above).")
