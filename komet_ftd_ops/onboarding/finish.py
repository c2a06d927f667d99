"""The last step of an onboarding: defaults, the preflight's verdict, and the files written.

Kept apart from `session.py` so each stays short; `OnboardingSession.finish()` calls it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, KometFtdOpsError
from ..settings.profiles import profile_from_dict
from ..settings.secrets import Secret, resolve_secret
from ..state.store import iso
from .handoff import FAIL, PASS, Preflight, save_preflight, write_handoff
from .profile import profile_data, write_profile
from .results import TokenCheck
from .token_check import NO_CUSTOMER_ID

if TYPE_CHECKING:
    from .session import OnboardingResult, OnboardingSession


def finish_session(
    session: OnboardingSession, *, check_writes: bool | None, write: bool
) -> OnboardingResult:
    """Check what is stale, decide the preflight, and write what may be written.

    The profile is written only when the Komet side passed (token, customer, carrier): a
    failed onboarding must not replace a working profile with values that do not work. The
    preflight and the hand-off sheet are always written; the sheet says whether it can go to
    FTD (it can when only the kit's own FTD settings are missing).
    """
    from .session import OnboardingResult

    check, komet_reasons = _komet_reasons(session, check_writes)
    data = profile_data(
        session.profile,
        {**session.values, "ftd_customer_id": session.ftd_customer_id},
        session.root,
    )
    reasons = komet_reasons + _profile_reasons(session.profile, data)
    preflight = Preflight(
        profile=session.profile,
        status=FAIL if reasons else PASS,
        reasons=reasons,
        warnings=list(check.warnings) if check else [],
        checked_at=check.checked_at if check else iso(),
        company_id=str(session.values.get("company_id", "")),
        ftd_customer_id=session.ftd_customer_id,
        token_ref=session.token_ref,
        location_id=str(session.values.get("location_id", "")),
        komet_base_url=str(data.get("komet", {}).get("base_url", "")),
        methods=check.statuses() if check else {},
        writes_checked=bool(check and check.writes_checked),
        komet_ready=not komet_reasons,
    )
    result = OnboardingResult(
        profile=session.profile,
        ftd_customer_id=session.ftd_customer_id,
        customer_name=_customer_name(session, check),
        company_id=preflight.company_id,
        candidates=list(session.candidates),
        check=check,
        preflight=preflight,
        token_ref=session.token_ref,
        token_masked=session.token_masked(),
        notes=[
            *session.notes,
            f"FTD customer ID: {session.ftd_customer_id or '-'} ({session.chosen_why})",
        ],
    )
    if write:
        _write(session, result, data)
    return result


def _komet_reasons(
    session: OnboardingSession, check_writes: bool | None
) -> tuple[TokenCheck | None, list[str]]:
    check, check_reasons = _current_check(session, check_writes)
    reasons = list(session.discovery_problems.values())
    if NO_CUSTOMER_ID not in check_reasons:
        reasons += _customer_reasons(session)
    reasons += check_reasons + _default_options(session, check)
    return check, _unique(reasons)


def _profile_reasons(name: str, data: dict[str, Any]) -> list[str]:
    try:
        profile_from_dict(name, data)
    except ConfigError as exc:
        return [f"the profile is incomplete: {exc}"]
    return []


def _write(session: OnboardingSession, result: OnboardingResult, data: dict[str, Any]) -> None:
    preflight = result.preflight
    if preflight.komet_ready:
        result.profile_path = write_profile(
            session.profile, data, session.root, secrets=_secrets(session)
        )
    else:
        result.notes.append("profile not written: fix the problems above, then run this again")
    save_preflight(preflight, session.root)
    result.handoff_path = write_handoff(
        preflight, customer_name=result.customer_name, token_masked=result.token_masked,
        root=session.root,
    )  # fmt: skip


def _current_check(
    session: OnboardingSession, check_writes: bool | None
) -> tuple[TokenCheck | None, list[str]]:
    """The token check for the values as they are now; re-run when something changed."""
    if not session.token_ref:
        return None, ["no token: paste it into the token field, or give --token-ref."]
    previous = session.check
    writes = (
        check_writes if check_writes is not None else bool(previous and previous.writes_checked)
    )
    stale = not session.check_is_current() or (writes and not previous.writes_checked)  # type: ignore[union-attr]
    if stale:
        try:
            session.check_token(check_writes=writes)
        except KometFtdOpsError as exc:
            return None, [f"the token could not be checked: {exc}"]
    check = session.check
    assert check is not None
    return check, list(check.problems)


def _default_options(session: OnboardingSession, check: TokenCheck | None) -> list[str]:
    """Default carrier and ship-to: the analyst's if FTD's record has it, else the first."""
    reasons: list[str] = []
    if check is None:
        return reasons
    for key, rows, what in (
        ("carrier_id", check.carriers, "carrier"),
        ("ship_to_id", check.ship_tos, "ship-to"),
    ):
        ids = [r.id for r in rows if r.id]
        chosen = str(session.values.get(key) or "")
        if not chosen and ids:
            session.values[key] = ids[0]
        elif chosen and ids and chosen not in ids:
            reasons.append(
                f"{what} {chosen} is not one of FTD's {what}s in Komet ({', '.join(ids)})."
            )
    return reasons


def _customer_reasons(session: OnboardingSession) -> list[str]:
    if not session.ftd_customer_id:
        return [
            f"no FTD customer ID ({session.chosen_why}): pick one among the candidates, or give "
            f"it (--ftd-customer-id)."
        ]
    return []


def _customer_name(session: OnboardingSession, check: TokenCheck | None) -> str:
    if check and check.bound_customer_id == session.ftd_customer_id:
        return check.bound_customer_name
    for row in session.candidates:
        if row.customer_id == session.ftd_customer_id:
            return row.name
    return ""


def _secrets(session: OnboardingSession) -> tuple[Secret, ...]:
    """The tokens in play, so that write_profile can refuse to write one."""
    found = []
    for ref in (session.token_ref, session.company_token_ref):
        try:
            found.append(resolve_secret(ref, session.root))
        except ConfigError:
            continue
    return tuple(found)


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))
