"""What a token check found: one result per needed method, and what it means."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..komet.models import Carrier, ShipTo
from .methods import KometTarget

OK, DENIED, UNCHECKED = "ok", "denied", "unchecked"
NOT_TICKED = "not ticked on this token"


@dataclass
class MethodResult:
    method: str
    status: str  # OK | DENIED | UNCHECKED
    how: str = ""  # "called", "probed", "created web order 30200 and deleted it", ...
    detail: str = ""


@dataclass
class TokenCheck:
    """What one check found. `problems` block the preflight; `warnings` do not."""

    target: KometTarget
    token_masked: str
    methods: dict[str, MethodResult]
    customer_id: str = ""  # the customer the method checks ran for
    bound_customer_id: str | None = None
    bound_customer_name: str = ""
    bound_customer_active: bool = True
    token_type: str = "unknown"  # customer | company | unknown
    company_id_ok: bool | None = None
    location_ok: bool | None = None
    writes_checked: bool = False
    quota_spent: bool = False
    calls_made: int = 0
    calls_today: int = 0  # the kit's own count for today (the store), this check included
    carriers: list[Carrier] = field(default_factory=list)
    ship_tos: list[ShipTo] = field(default_factory=list)
    leftover_web_order: str | None = None
    # The network error (TransportError) that stopped the check, "" if none: such a failure says
    # nothing about the token, so onboarding keeps a passing preflight through it.
    network_failure: str = ""
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    checked_at: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def quota_left(self) -> int:
        """Komet does not say; this is the daily quota less the calls the kit counted today.
        Other tokens of the company share the quota, so it is an upper bound."""
        return 0 if self.quota_spent else max(0, self.target.daily_quota - self.calls_today)

    def statuses(self) -> dict[str, str]:
        return {name: result.status for name, result in self.methods.items()}

    def counts(self) -> dict[str, int]:
        values = list(self.statuses().values())
        return {s: values.count(s) for s in (OK, DENIED, UNCHECKED)}

    def as_dict(self) -> dict[str, Any]:
        return {
            "token_masked": self.token_masked,
            "token_type": self.token_type,
            "customer_id": self.customer_id,
            "bound_customer_id": self.bound_customer_id,
            "bound_customer_name": self.bound_customer_name,
            "bound_customer_active": self.bound_customer_active,
            "company_id_ok": self.company_id_ok,
            "location_ok": self.location_ok,
            "writes_checked": self.writes_checked,
            "methods": {
                n: {"status": r.status, "how": r.how, "detail": r.detail}
                for n, r in self.methods.items()
            },
            "quota": {
                "daily": self.target.daily_quota,
                "used_today": self.calls_today,
                "left": self.quota_left,
                "spent": self.quota_spent,
                "calls_made": self.calls_made,
            },
            "leftover_web_order": self.leftover_web_order,
            "network_failure": self.network_failure or None,
            "problems": list(self.problems),
            "warnings": list(self.warnings),
            "checked_at": self.checked_at,
        }
