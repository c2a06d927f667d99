"""Alerts: one message when a profile's health changes (ok -> critical, critical -> ok).

    alert_on_health_change(store, home, profile, health=None)
      ├── the profile's [alerts] targets: secret references, each resolved to an apprise URL
      │   (`json://host/path`, `mailto://user:pass@host?to=...`, `slack://...`); none → done
      ├── health: runs.health.check_health, or the result `komet-ftd-ops health` computed
      ├── per target, the state it last heard (kv scope "alerts", written here only); a target
      │   that heard another state gets one message: a title and the health line, secrets masked
      └── a delivered message records the new state; a failed one is logged and sent again by
          the next check (the next run, or the next `health`), and never fails the caller

Keeping the state per target, not per profile, means a target that was down when the kit went
critical still hears it, and one that was up does not hear it twice. A target that has never
heard anything is taken to know "ok": the first critical is announced, a healthy start is not.

Checks run from the runner (under the profile's lock) and from `health` (under any scheduler,
without it), so the send itself holds a small lock of its own: two checks at the same moment
send one message, not two.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..settings.home import Home
from ..settings.profiles import load_profile
from ..settings.secrets import resolve_secret
from .health import Health, check_health
from .processes import profile_lock
from .secretscan import one_line, profile_secrets

if TYPE_CHECKING:
    from ..state.store import Store

log = logging.getLogger(__name__)

SCOPE = "alerts"  # kv: key = profile, value = {target reference: the state it last heard}
OK, CRITICAL = "ok", "critical"
ASSUMED_KNOWN = OK  # what a target that has never heard anything is taken to know
MESSAGE_LIMIT = 2000  # characters of the health line in one message


@dataclass(frozen=True)
class Delivery:
    """One target's part in a check: which state it was told, and whether that worked."""

    target: str  # the secret reference (`env:NAME`), never the URL it resolves to
    state: str
    sent: bool
    why: str = ""


# --- the state each target last heard (this module is its only writer) -------------------


def heard(store: Store, profile: str) -> dict[str, str]:
    """{target reference: the state it last heard} for one profile."""
    value = store.get(SCOPE, profile, {})
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _record_heard(store: Store, profile: str, target: str, state: str) -> None:
    with store.atomic():  # read and write in one transaction: other targets' states stay
        known = heard(store, profile)
        known[target] = state
        store.put(SCOPE, profile, known)


# --- the message ---------------------------------------------------------------------------


def message(health: Health, secret_values: list[str]) -> tuple[str, str]:
    """(title, body) for a transition to `health`'s state; every secret value masked."""
    if health.ok:
        title = f"komet-ftd-ops {health.profile}: ok again"
    else:
        title = f"komet-ftd-ops {health.profile}: critical"
    body = one_line(health.line(), secret_values, limit=MESSAGE_LIMIT)
    return one_line(title, secret_values), body


def _send(url: str, title: str, body: str, critical: bool) -> tuple[bool, str]:
    """Send one message to one apprise URL: (delivered, why not). Never raises."""
    import apprise  # only when a message is due: most checks send nothing

    sender = apprise.Apprise()
    if not sender.add(url):
        return False, "apprise does not understand the target URL"
    kind = apprise.NotifyType.FAILURE if critical else apprise.NotifyType.SUCCESS
    try:
        delivered = bool(sender.notify(body=body, title=title, notify_type=kind))
    except Exception as exc:  # apprise catches its plugins' errors; this is the last guard
        return False, f"{type(exc).__name__} while sending"
    return delivered, "" if delivered else "the target did not accept the message"


# --- the check -----------------------------------------------------------------------------


def alert_on_health_change(
    store: Store, home: Home, profile: str, *, health: Health | None = None
) -> list[Delivery]:
    """Tell every target of the profile that heard another state than the current one.

    Returns one Delivery per message attempted (none while the state stays the same). Never
    raises: an alert that cannot go out is logged and tried again by the next check.
    """
    try:
        return _alert(store, home, profile, health)
    except Exception as exc:  # an alert must never fail a run or `health` itself
        log.warning("alerts for %s not checked: %s", profile, type(exc).__name__)
        return []


def _alert(store: Store, home: Home, profile: str, health: Health | None) -> list[Delivery]:
    try:
        targets = load_profile(profile, home).alerts.targets
    except ConfigError as exc:
        log.warning("alerts for %s not checked: %s", profile, exc)
        return []
    if not targets:
        return []
    health = health or check_health(store, profile)
    state = OK if health.ok else CRITICAL
    known = heard(store, profile)
    due = [t for t in targets if known.get(t, ASSUMED_KNOWN) != state]
    if not due:
        return []
    # "@" is not allowed in a profile name, so this lock is never a profile's run lock
    with profile_lock(home, f"alerts@{profile}", note="sending alerts") as holder:
        if holder is not None:  # another check is sending these very messages right now
            log.info("alerts for %s left to the other check (%s)", profile, holder)
            return []
        known = heard(store, profile)  # the other check may have just delivered some
        due = [t for t in due if known.get(t, ASSUMED_KNOWN) != state]
        secret_values = profile_secrets(profile, home)
        title, body = message(health, secret_values)
        return [_deliver(store, home, profile, t, state, title, body) for t in due]


def _deliver(
    store: Store, home: Home, profile: str, target: str, state: str, title: str, body: str
) -> Delivery:
    try:
        url = resolve_secret(target, home).reveal()
    except ConfigError as exc:  # the message names the reference, never a value
        return _failed(profile, target, state, str(exc))
    sent, why = _send(url, title, body, critical=state == CRITICAL)
    if not sent:
        return _failed(profile, target, state, why)
    _record_heard(store, profile, target, state)
    log.info("alert sent to %s: %s is %s", target, profile, state)
    return Delivery(target, state, True)


def _failed(profile: str, target: str, state: str, why: str) -> Delivery:
    log.warning(
        "alert to %s (%s is %s) not sent, next check retries: %s", target, profile, state, why
    )
    return Delivery(target, state, False, why)
