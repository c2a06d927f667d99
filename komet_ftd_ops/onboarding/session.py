"""One onboarding, step by step: what the notebook's widgets drive and `onboard()` runs at once.

    session = OnboardingSession("acme", token_ref="env:KOMET_FTD_TOKEN")
    session.read_export("customers.xlsx")      # step 2a: FTD candidates from the export
    session.check_token(check_writes=True)     # step 1, verified: methods, bound customer, quota
    session.choose_customer("5066")            # the analyst's pick, checked against the binding
    result = session.finish()                  # step 3: profile, hand-off sheet, preflight

Each step raises the kit's errors (the widgets show them); it also records discovery problems
so that `finish()` can fail the preflight with them. `onboard()` is the headless run.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from ..errors import ConfigError, KometFtdOpsError, TransportError
from ..settings.home import Home
from ..settings.profiles import SANDBOX, sandbox_profile_dict
from ..settings.secrets import check_secret_ref, resolve_secret, write_secret
from .customers import (
    candidates_from_api,
    candidates_from_export,
    choose_customer,
    merge_candidates,
)
from .customers_xlsx import MAX_EXPORT_MB, MAX_EXPORT_ROWS, CustomerRow
from .handoff import Preflight
from .methods import METHOD_NAMES, KometTarget, as_target
from .profile import SECRET_REFS, VALUE_KEYS, default_values
from .results import UNCHECKED, TokenCheck
from .token_check import check_token


@dataclass
class OnboardingResult:
    """The outcome of `finish()`: what `onboard --json` prints and the notebook shows."""

    profile: str
    ftd_customer_id: str
    customer_name: str
    company_id: str
    candidates: list[CustomerRow]
    check: TokenCheck | None
    preflight: Preflight
    token_ref: str
    token_masked: str
    notes: list[str] = field(default_factory=list)
    profile_path: Path | None = None
    handoff_path: Path | None = None
    # The passing preflight a check that only the network failed left in place (finish.py)
    kept_preflight: Preflight | None = None

    @property
    def passed(self) -> bool:
        return self.preflight.passed

    def token_check(self) -> dict[str, str]:
        if self.check is None:
            return dict.fromkeys(METHOD_NAMES, UNCHECKED)
        return self.check.statuses()

    def as_dict(self) -> dict[str, Any]:
        bound = self.check.bound_customer_id if self.check else None
        return {
            "profile": self.profile,
            "ftd_customer_id": self.ftd_customer_id or None,
            "ftd_customer_name": self.customer_name,
            "company_id": self.company_id,
            "candidates": [
                {**c.as_dict(), "bound": c.customer_id == bound} for c in self.candidates
            ],
            "token_check": self.token_check(),
            "token": {"ref": self.token_ref, "masked": self.token_masked},
            "check": self.check.as_dict() if self.check else None,
            "notes": self.notes,
            "profile_path": str(self.profile_path) if self.profile_path else None,
            "handoff_path": str(self.handoff_path) if self.handoff_path else None,
            "preflight": self.preflight.summary(),
            "kept_preflight": self.kept_preflight.checked_at if self.kept_preflight else None,
        }


class OnboardingSession:
    """One analyst onboarding one profile. Holds values and results; secrets only by reference."""

    def __init__(
        self,
        profile: str,
        *,
        home: Home | None = None,
        token_ref: str = "",
        company_token_ref: str = "",
        values: Mapping[str, Any] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", profile):
            raise ConfigError(f"profile name {profile!r}: use letters, digits, '.', '_', '-'.")
        self.profile, self.transport = profile, transport
        # An entry point (the onboarding notebook builds a session): the home from the
        # environment unless given, then handed down to every step.
        self.home = home if home is not None else Home.from_environment()
        given = {k: v for k, v in (values or {}).items() if v not in (None, "")}
        unknown = set(given) - set(VALUE_KEYS)
        if unknown:
            raise ConfigError(f"unknown onboarding value(s): {', '.join(sorted(unknown))}.")
        given.update(
            {
                k: v
                for k, v in (("token_ref", token_ref), ("company_token_ref", company_token_ref))
                if v
            }
        )
        for key in SECRET_REFS:  # a reference, never the token itself (the error hides it)
            if key in given:
                check_secret_ref(str(given[key]), key)
        self.values: dict[str, Any] = {**default_values(profile, self.home), **given}
        self.explicit_customer = str(given.get("ftd_customer_id", ""))
        self.candidates: list[CustomerRow] = []
        self.notes: list[str] = []
        self.discovery_problems: dict[str, str] = {}  # source → what went wrong
        # source → the network error behind its problem: says nothing about the values, so
        # it must not replace a passing preflight (finish.py)
        self.network_errors: dict[str, str] = {}
        self.check: TokenCheck | None = None
        self._checked_with: tuple[Any, ...] | None = None
        self.chosen, self.chosen_why = "", ""
        if profile == SANDBOX:
            try:
                sandbox_profile_dict(self.home)
            except ConfigError as exc:  # say so first: every other problem follows from it
                self.discovery_problems["sandbox"] = str(exc)
        self._choose()

    # --- values ---

    @property
    def token_ref(self) -> str:
        return str(self.values.get("token_ref", ""))

    @property
    def company_token_ref(self) -> str:
        return str(self.values.get("company_token_ref", ""))

    @property
    def ftd_customer_id(self) -> str:
        return self.chosen or str(self.values.get("ftd_customer_id", ""))

    def set_values(self, **values: Any) -> None:
        """Change non-secret values (company_id, location_id, carrier_id, ...)."""
        unknown = set(values) - set(VALUE_KEYS)
        if unknown:
            raise ConfigError(f"unknown onboarding value(s): {', '.join(sorted(unknown))}.")
        for key, value in values.items():
            if key in SECRET_REFS and value:
                check_secret_ref(str(value), key)
            self.values[key] = "" if value is None else value
        if "ftd_customer_id" in values:
            self.explicit_customer = str(values["ftd_customer_id"] or "")
            self._choose()

    def target(self) -> KometTarget:
        if self.profile == SANDBOX and not self.values.get("company_id"):
            sandbox_profile_dict(self.home)  # raises "the sandbox twin is not running ..."
        return as_target(
            {
                "base_url": self.values.get("komet_base_url"),
                "company_id": self.values.get("company_id"),
                "customer_id": self.ftd_customer_id,
                "location_id": self.values.get("location_id"),
                "paid_users": int(self.values.get("paid_users") or 1),
            }
        )

    # --- step 1: the token ---

    def save_token(self, value: str) -> str:
        """Keep a pasted token in `<home>/secrets.toml` (mode 0600); returns its reference."""
        value = value.strip()
        if not value:
            raise ConfigError("the token field is empty: paste the token Komet showed.")
        ref = write_secret(f"komet_customer_token_{self.profile}", value, self.home)
        self.values["token_ref"] = ref
        return ref

    def token_masked(self) -> str:
        if not self.token_ref:
            return ""
        try:
            return resolve_secret(self.token_ref, self.home).masked()
        except ConfigError:
            return ""

    def check_token(self, check_writes: bool = False) -> TokenCheck:
        """Step 1 verified: which needed methods the token can call, its customer, the quota."""
        if not self.token_ref:
            raise ConfigError(
                "no token yet: paste it into the token field, or give a reference such as "
                "env:KOMET_FTD_TOKEN (--token-ref)."
            )
        target = self.target()
        token = resolve_secret(self.token_ref, self.home)
        self.check = check_token(
            target, token, candidates=self.candidates, check_writes=check_writes,
            home=self.home, transport=self.transport,
        )  # fmt: skip
        self._checked_with = self._check_key(target)
        self._choose()
        return self.check

    def _check_key(self, target: KometTarget) -> tuple[Any, ...]:
        return (target, self.token_ref, tuple(c.customer_id for c in self.candidates))

    def check_is_current(self) -> bool:
        """False when the check ran for other values (customer, company, token), or when new
        candidates came in while the bound customer was still unknown."""
        if self.check is None or self._checked_with is None:
            return False
        now = self._check_key(self.target())
        if self.check.bound_customer_id == self.ftd_customer_id:
            return self._checked_with[:2] == now[:2]  # new candidates change nothing
        return self._checked_with == now

    def _same_token_checked(self) -> bool:
        """The last check used this token, company and URL: its bound customer still holds."""
        if self.check is None or self._checked_with is None:
            return False
        then, now = self._checked_with[0], self.target()
        return (then.base_url, then.company_id, self._checked_with[1]) == (
            now.base_url, now.company_id, self.token_ref,
        )  # fmt: skip

    # --- step 2: FTD's customer ID ---

    def read_export(
        self,
        source: Path | str | bytes | IO[bytes],
        *,
        max_mb: float = MAX_EXPORT_MB,
        max_rows: int = MAX_EXPORT_ROWS,
    ) -> list[CustomerRow]:
        """FTD candidates from Komet's customer export (.xlsx path, bytes or file object);
        a file over `max_mb` or `max_rows` is refused (DataError)."""
        try:
            rows, note = candidates_from_export(source, max_mb=max_mb, max_rows=max_rows)
        except KometFtdOpsError as exc:
            self.discovery_problems["export"] = f"customer export: {exc}"
            raise
        self.discovery_problems.pop("export", None)
        self.notes.append(note)
        self.candidates = merge_candidates(self.candidates, rows)
        self._choose()
        return rows

    def list_from_api(self) -> list[CustomerRow]:
        """FTD candidates from customer.list (needs a Company token reference)."""
        if not self.company_token_ref:
            raise ConfigError("customer.list needs a Company token: give its reference first.")
        try:
            token = resolve_secret(self.company_token_ref, self.home)
            target = self.target()
            rows = candidates_from_api(target, token, home=self.home, transport=self.transport)
        except KometFtdOpsError as exc:
            self.discovery_problems["customer.list"] = (
                f"customer.list with the Company token: {exc}"
            )
            if isinstance(exc, TransportError):
                self.network_errors["customer.list"] = str(exc)
            raise
        self.discovery_problems.pop("customer.list", None)
        self.network_errors.pop("customer.list", None)
        self.notes.append(f"customer.list: {len(rows)} customer(s) named FTD")
        self.candidates = merge_candidates(self.candidates, rows)
        self._choose()
        return rows

    def choose_customer(self, customer_id: str) -> str:
        """The analyst's pick; says whether the token is bound to it (as far as known)."""
        self.explicit_customer = str(customer_id).strip()
        self._choose()
        return self.binding_note()

    def binding_note(self) -> str:
        return self.binding()[1]

    def binding(self) -> tuple[bool | None, str]:
        """Is the token bound to the chosen FTD customer: True, False, or None (not known)."""
        chosen, check = self.ftd_customer_id, self.check
        if not chosen:
            return None, "no FTD customer chosen yet"
        if check is None or not self._same_token_checked():
            return None, f"{chosen}: not checked against the token yet (run the token check)"
        if check.bound_customer_id == chosen:
            return True, f"{chosen}: ok, the token is bound to it ({check.bound_customer_name})"
        if check.bound_customer_id:
            return False, f"{chosen}: the token is bound to {check.bound_customer_id}, not to it"
        return False, f"{chosen}: the token is not bound to it"

    def _choose(self) -> None:
        bound = self.check.bound_customer_id if self.check else None
        chosen, why = choose_customer(self.candidates, explicit=self.explicit_customer, bound=bound)
        if not chosen and not self.candidates and self.values.get("ftd_customer_id"):
            chosen, why = str(self.values["ftd_customer_id"]), "from the profile"
        self.chosen, self.chosen_why = chosen, why

    # --- step 3: profile, hand-off, preflight ---

    def finish(self, *, check_writes: bool | None = None, write: bool = True) -> OnboardingResult:
        """Write the profile, the hand-off sheet and the preflight (re-checking if stale)."""
        from .finish import finish_session  # the writing half lives in its own module

        return finish_session(self, check_writes=check_writes, write=write)


def onboard(
    profile: str,
    *,
    home: Home | None = None,
    token_ref: str = "",
    company_token_ref: str = "",
    customers_xlsx: Path | str | None = None,
    check_writes: bool = False,
    values: Mapping[str, Any] | None = None,
    write: bool = True,
    transport: httpx.BaseTransport | None = None,
    max_export_mb: float = MAX_EXPORT_MB,
    max_export_rows: int = MAX_EXPORT_ROWS,
) -> OnboardingResult:
    """The whole onboarding, headless; problems end up in the preflight, not as exceptions.

    `max_export_mb`/`max_export_rows`: the caps on the customer export (`customers_xlsx`).
    """
    session = OnboardingSession(
        profile, home=home, token_ref=token_ref, company_token_ref=company_token_ref,
        values=values, transport=transport,
    )  # fmt: skip
    with contextlib.suppress(KometFtdOpsError):  # recorded in discovery_problems
        if customers_xlsx:
            session.read_export(customers_xlsx, max_mb=max_export_mb, max_rows=max_export_rows)
    with contextlib.suppress(KometFtdOpsError):
        if session.company_token_ref:
            session.list_from_api()
    return session.finish(check_writes=check_writes, write=write)
