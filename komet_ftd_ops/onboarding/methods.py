"""What the FTD token must be allowed to do, and where the checks point (Komet's step 1).

The list is the least the kit needs: Komet lets a Customer token be given more methods
(spec section 2), but a token FTD holds should not be able to do more than the integration does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from ..errors import ConfigError
from ..settings.profiles import Profile

READ, WRITE = "read", "write"
TOKEN_ROLES = ("Admin", "Setup")  # Komet roles that may create tokens [doc]
KOMET_BASE_URL = "https://api.kometsales.com/api/"  # [doc] production entry point


@dataclass(frozen=True)
class NeededMethod:
    name: str
    kind: str  # READ: called for real by the check; WRITE: only with check_writes
    optional: bool  # the kit works without it (with less); a denied one is a warning
    why: str


NEEDED_METHODS: tuple[NeededMethod, ...] = (
    NeededMethod(
        "ecommerce/inventory.list", READ, False,
        "Reads the open-market inventory as FTD's customer record sees it (its prices, boxes "
        "available); every 5-minute cycle sends it to FTD.",
    ),
    NeededMethod(
        "customer.details.get", READ, False,
        "Confirms which customer the token is bound to, at onboarding and in every preflight.",
    ),
    NeededMethod(
        "ecommerce/customer-carriers.list", READ, False,
        "The carriers FTD's customer record may ship with; every order line names one.",
    ),
    NeededMethod(
        "customer.shipto.list", READ, True,
        "FTD's ship-to addresses, for a default ship-to on order lines. Optional: lines can go "
        "without one.",
    ),
    NeededMethod(
        "web-order.create", WRITE, False,
        "Creates the Komet web order (the header) for each FTD order.",
    ),
    NeededMethod(
        "web-order-item.add", WRITE, False,
        "Adds each FTD order line (in boxes) to that web order, which reserves the boxes.",
    ),
    NeededMethod(
        "web-order-item.delete", WRITE, True,
        "Takes a line back out when FTD cancels it or Komet cannot fill it. Optional: without "
        "it the whole web order is cancelled instead.",
    ),
    NeededMethod(
        "web-order.checkout", WRITE, False,
        "Turns the web order into an invoice for your sales rep, with FTD's order number as "
        "the customer PO.",
    ),
    NeededMethod(
        "web-order.delete", WRITE, False,
        "Cancels a web order that could not be completed, so no boxes stay reserved. The "
        "onboarding write check needs it too (it deletes its test order).",
    ),
    NeededMethod(
        "web-order-details.list", READ, False,
        "Reads an order back after a lost answer before anything is sent again (Komet has no "
        "idempotency key, so a blind retry could reserve boxes twice).",
    ),
    NeededMethod(
        "invoice.list", READ, False,
        "Follows the invoices FTD orders became (pending, confirmed, voided) to tell FTD and to "
        "reconcile.",
    ),
    NeededMethod(
        "invoice.details.list", READ, True,
        "Invoice lines for the reconciliation report. Optional: statuses alone come from "
        "invoice.list.",
    ),
)  # fmt: skip

# Methods a Customer token can be given that the kit never calls: leave them unticked.
NOT_NEEDED = (
    "ecommerce/inventory.get",
    "ecommerce/inventory-available-dates.list",
    "invoice.pdf.get",
    "prebook.list",
)
METHOD_NAMES = tuple(m.name for m in NEEDED_METHODS)


def needed(name: str) -> NeededMethod:
    for method in NEEDED_METHODS:
        if method.name == name:
            return method
    raise KeyError(name)


def methods_table() -> list[dict[str, str]]:
    """The list as rows, for a notebook table or a hand-off sheet."""
    return [
        {
            "method": m.name,
            "kind": m.kind,
            "required": "optional" if m.optional else "required",
            "why": m.why,
        }
        for m in NEEDED_METHODS
    ]


@dataclass(frozen=True)
class KometTarget:
    """Where the token is checked: Komet's URL, the company (X-ACCOUNT) and FTD's customer."""

    base_url: str
    company_id: str
    customer_id: str = ""  # FTD's customer id, as far as the analyst knows; "" = find it
    location_id: str = ""  # companyLocationId, multi-location companies only
    paid_users: int = 1
    timeout_seconds: float = 20.0

    @property
    def daily_quota(self) -> int:
        return 1000 * max(1, self.paid_users)  # [doc] 1,000 requests per paid user per day


_ALIASES = {
    "komet_base_url": "base_url",
    "komet_company_id": "company_id",
    "ftd_customer_id": "customer_id",
    "komet_location_id": "location_id",
    "komet_paid_users": "paid_users",
}


def as_target(profile_or_params: Profile | KometTarget | Mapping[str, Any]) -> KometTarget:
    """A `KometTarget` from a profile, a target, or a mapping of its fields (profile names work)."""
    if isinstance(profile_or_params, KometTarget):
        return profile_or_params
    if isinstance(profile_or_params, Profile):
        p = profile_or_params
        return KometTarget(
            p.komet_base_url, p.komet_company_id, p.ftd_customer_id, p.komet_location_id,
            p.komet_paid_users, p.timeout_seconds,
        )  # fmt: skip
    known = {f.name for f in fields(KometTarget)}
    values = {_ALIASES.get(k, k): v for k, v in profile_or_params.items()}
    values = {k: v for k, v in values.items() if k in known and v not in (None, "")}
    missing = [k for k in ("base_url", "company_id") if k not in values]
    if missing:
        raise ConfigError(
            f"the token check needs {' and '.join(missing)}: the company ID is Komet's "
            f"X-ACCOUNT, the number Komet gives your company (ask Komet support if unsure)."
        )
    for key in ("base_url", "company_id", "customer_id", "location_id"):
        if key in values:
            values[key] = str(values[key]).strip()
    return KometTarget(**values)
