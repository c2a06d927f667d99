"""Onboarding a wholesaler to the FTD integration, following Komet's three steps.

    1. the token      NEEDED_METHODS (each with why), TOKEN_ROLES, check_token() -> TokenCheck
    2. FTD's ID       customers_xlsx.read_customer_export(), candidates_from_api(), both
                      checked against the customer the token is bound to
    3. hand-off       the profile TOML, `<home>/handoff/<profile>.md`, the stored preflight

`OnboardingSession` holds one onboarding step by step (the notebook's widgets drive it);
`onboard()` runs it all at once (the CLI, papermill). `preflight_passed(profile)` is the gate the
scheduler asks before it starts a profile. All logic is here; widgets and notebooks only call it.
"""

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
