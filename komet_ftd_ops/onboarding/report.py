"""Plain-text reports of a token check and of an onboarding: the CLI prints them, the notebook
prints them too so that a papermill run keeps a readable record (widget state is not saved)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .customers_xlsx import CustomerRow
from .methods import NEEDED_METHODS
from .results import TokenCheck

if TYPE_CHECKING:
    from .session import OnboardingResult


def check_lines(check: TokenCheck) -> list[str]:
    counts = check.counts()
    bound = (
        f"bound to customer {check.bound_customer_id} ({check.bound_customer_name})"
        if check.bound_customer_id
        else "bound customer not found"
    )
    lines = [
        f"Token {check.token_masked}: {check.token_type} token, {bound}",
        f"Methods: {counts['ok']} ok, {counts['denied']} denied, {counts['unchecked']} unchecked",
    ]
    for method in NEEDED_METHODS:
        result = check.methods[method.name]
        optional = " (optional)" if method.optional else ""
        detail = f"  [{result.detail}]" if result.detail else ""
        lines.append(f"  {result.status:<9} {method.name}{optional}{detail}")
    lines.append(
        f"Quota: {check.calls_today} of {check.target.daily_quota} calls used today by this kit, "
        f"{check.quota_left} left{' (SPENT)' if check.quota_spent else ''}; this check made "
        f"{check.calls_made}"
    )
    lines += [f"PROBLEM: {p}" for p in check.problems]
    lines += [f"warning: {w}" for w in check.warnings]
    return lines


def candidate_lines(candidates: list[CustomerRow], bound: str | None, chosen: str) -> list[str]:
    if not candidates:
        return ["FTD candidates: none found"]
    lines = ["FTD candidates:"]
    for row in candidates:
        mark = "*" if row.customer_id == chosen else " "
        extra = "  <- the token is bound to it" if row.customer_id == bound else ""
        lines.append(f"  {mark} {row.label()}  [{row.source}]{extra}")
    return lines


def result_lines(result: OnboardingResult) -> list[str]:
    check = result.check
    lines = [f"Onboarding profile {result.profile!r}"]
    lines += check_lines(check) if check else ["Token: not checked"]
    bound = check.bound_customer_id if check else None
    lines += candidate_lines(result.candidates, bound, result.ftd_customer_id)
    lines += [f"note: {n}" for n in result.notes]
    if result.profile_path:
        lines.append(f"Profile:  {result.profile_path}")
    if result.handoff_path:
        lines.append(f"Hand-off: {result.handoff_path}")
    preflight = result.preflight
    lines.append(f"Preflight: {preflight.status.upper()}")
    lines += [f"  reason: {r}" for r in preflight.reasons]
    if result.kept_preflight:  # the stored one still passes: the profile keeps running
        lines.append(f"Kept: the passing preflight of {result.kept_preflight.checked_at}")
    return lines
