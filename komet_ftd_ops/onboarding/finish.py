"""The last step of an onboarding: defaults, the preflight's verdict, and the files written.

Kept apart from `session.py` so each stays short; `OnboardingSession.finish()` calls it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, KometFtdOpsError, TransportError
from ..settings.profiles import SANDBOX, profile_from_dict
from ..settings.secrets import Secret, resolve_secret
from ..state.store import iso
from .handoff import (
    FAIL,
    PASS,
    Preflight,
    load_preflight,
    same_values,
    save_preflight,
    write_handoff,
)
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
    preflight and the hand-off sheet are written too, except when a check that only the network
    failed would replace a passing preflight for the same values (see `_passing_to_keep`).
    The sheet says whether it can go to FTD (it can when only the kit's own FTD settings are
    missing).
    """
    from .session import OnboardingResult

    check, komet_reasons, check_network = _komet_reasons(session, check_writes)
    data = profile_data(
        session.profile,
        {**session.values, "ftd_customer_id": session.ftd_customer_id},
        session.home,
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
    network = [e for e in (check_network, *session.network_errors.values()) if e]
    result.kept_preflight = _passing_to_keep(session, preflight, network)
    if result.kept_preflight is not None:
        _say_kept(session, result, network)
    elif write:
        _write(session, result, data)
    return result


def _passing_to_keep(
    session: OnboardingSession, preflight: Preflight, network: list[str]
) -> Preflight | None:
    """The stored passing preflight that this failed one must not replace, or None.

    A dropped connection says nothing about the token: replacing a passing preflight (and its
    hand-off sheet) with it would stop the scheduler over a blip. So it is kept when every
    reason for this failure is one of the network errors, and it was made for the same values.
    Anything else the check found is news, and replaces it as before.
    """
    if not network or preflight.passed:
        return None
    if not all(_is_network(reason, network) for reason in preflight.reasons):
        return None
    kept = load_preflight(session.profile, session.home)
    if kept is None or not kept.passed or not same_values(kept, preflight):
        return None
    return kept


def _is_network(reason: str, network: list[str]) -> bool:
    return any(error in reason for error in network)


def _say_kept(session: OnboardingSession, result: OnboardingResult, network: list[str]) -> None:
    """Say what was kept and why, in place of the network error's "check the base URL"."""
    kept = result.kept_preflight
    assert kept is not None
    why = (
        f"connection dropped: kept the passing preflight of {kept.checked_at} and its hand-off "
        f"sheet ({network[0]}). Run the onboarding again when Komet answers."
    )
    if session.profile == SANDBOX:
        why += (
            " The sandbox twin keeps injected faults across restarts: "
            "`komet-ftd-ops sandbox faults --clear` removes them."
        )
    result.preflight.reasons = [why]
    if result.check is not None:
        problems = result.check.problems
        result.check.problems = [why if _is_network(p, network) else p for p in problems]
    path = session.home.handoff_path(session.profile)
    result.handoff_path = path if path.exists() else None
    result.notes.append(
        "nothing written: the profile, its preflight and hand-off sheet are as they were"
    )


def _komet_reasons(
    session: OnboardingSession, check_writes: bool | None
) -> tuple[TokenCheck | None, list[str], str]:
    """The reasons the Komet side fails, and the network error behind them ("" if none)."""
    check, check_reasons, network = _current_check(session, check_writes)
    reasons = list(session.discovery_problems.values())
    if NO_CUSTOMER_ID not in check_reasons:
        reasons += _customer_reasons(session)
    reasons += check_reasons + _default_options(session, check)
    return check, _unique(reasons), network


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
            session.profile, data, session.home, secrets=_secrets(session)
        )
    else:
        result.notes.append("profile not written: fix the problems above, then run this again")
    save_preflight(preflight, session.home)
    result.handoff_path = write_handoff(
        preflight, customer_name=result.customer_name, token_masked=result.token_masked,
        home=session.home,
    )  # fmt: skip


def _current_check(
    session: OnboardingSession, check_writes: bool | None
) -> tuple[TokenCheck | None, list[str], str]:
    """The token check for the values as they are now; re-run when something changed. Also
    the network error that stopped it ("" if none)."""
    if not session.token_ref:
        return None, ["no token: paste it into the token field, or give --token-ref."], ""
    previous = session.check
    writes = (
        check_writes if check_writes is not None else bool(previous and previous.writes_checked)
    )
    stale = not session.check_is_current() or (writes and not previous.writes_checked)  # type: ignore[union-attr]
    if stale:
        try:
            session.check_token(check_writes=writes)
        except KometFtdOpsError as exc:
            network = str(exc) if isinstance(exc, TransportError) else ""
            return None, [f"the token could not be checked: {exc}"], network
    check = session.check
    assert check is not None
    return check, list(check.problems), check.network_failure


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
            found.append(resolve_secret(ref, session.home))
        except ConfigError:
            continue
    return tuple(found)


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))
