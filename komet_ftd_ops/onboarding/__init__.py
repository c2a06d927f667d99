"""Onboarding a wholesaler to the FTD integration, following Komet's three steps.

    1. the token      NEEDED_METHODS (each with why), TOKEN_ROLES, check_token() -> TokenCheck
    2. FTD's ID       customers_xlsx.read_customer_export(), candidates_from_api(), both
                      checked against the customer the token is bound to
    3. hand-off       the profile TOML, `<home>/handoff/<profile>.md`, the stored preflight

`OnboardingSession` holds one onboarding step by step (the notebook's widgets drive it);
`onboard()` runs it all at once (the CLI, papermill). `preflight_passed(profile)` is the gate the
scheduler asks before it starts a profile. All logic is here; widgets and notebooks only call it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_names

if TYPE_CHECKING:
    from .customers import candidates_from_api, candidates_from_export, choose_customer
    from .handoff import (
        FAIL,
        PASS,
        Preflight,
        handoff_path,
        load_preflight,
        preflight_passed,
        save_preflight,
    )
    from .methods import (
        NEEDED_METHODS,
        NOT_NEEDED,
        TOKEN_ROLES,
        KometTarget,
        NeededMethod,
        as_target,
        methods_table,
    )
    from .report import check_lines, result_lines
    from .results import DENIED, OK, UNCHECKED, MethodResult, TokenCheck
    from .session import OnboardingResult, OnboardingSession, onboard
    from .token_check import check_token

# Names are imported on first use (PEP 562): `run sync` reaches `preflight_passed` and the CLI
# two constants of `customers_xlsx` without paying for the token check's client and openpyxl.
_WHERE = {
    "candidates_from_api": "customers",
    "candidates_from_export": "customers",
    "choose_customer": "customers",
    "FAIL": "handoff",
    "PASS": "handoff",
    "Preflight": "handoff",
    "handoff_path": "handoff",
    "load_preflight": "handoff",
    "preflight_passed": "handoff",
    "save_preflight": "handoff",
    "NEEDED_METHODS": "methods",
    "NOT_NEEDED": "methods",
    "TOKEN_ROLES": "methods",
    "KometTarget": "methods",
    "NeededMethod": "methods",
    "as_target": "methods",
    "methods_table": "methods",
    "check_lines": "report",
    "result_lines": "report",
    "DENIED": "results",
    "OK": "results",
    "UNCHECKED": "results",
    "MethodResult": "results",
    "TokenCheck": "results",
    "OnboardingResult": "session",
    "OnboardingSession": "session",
    "onboard": "session",
    "check_token": "token_check",
}

__getattr__ = lazy_names(__name__, _WHERE)


__all__ = [
    "DENIED",
    "FAIL",
    "NEEDED_METHODS",
    "NOT_NEEDED",
    "OK",
    "PASS",
    "TOKEN_ROLES",
    "UNCHECKED",
    "KometTarget",
    "MethodResult",
    "NeededMethod",
    "OnboardingResult",
    "OnboardingSession",
    "Preflight",
    "TokenCheck",
    "as_target",
    "candidates_from_api",
    "candidates_from_export",
    "check_lines",
    "check_token",
    "choose_customer",
    "handoff_path",
    "load_preflight",
    "methods_table",
    "onboard",
    "preflight_passed",
    "result_lines",
    "save_preflight",
]
