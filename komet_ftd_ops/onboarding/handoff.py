"""Komet's step 3, and the gate for the scheduler: the hand-off sheet and the preflight.

- The hand-off sheet `<home>/handoff/<profile>.md` is what the analyst sends FTD: the customer
  ID, the company ID, the token *masked*, and where the real token is kept (so it is sent
  separately, through a channel fit for a password).
- The preflight is stored in the state database, key/value table, scope = profile name, key
  `preflight` (`Store.put(profile, "preflight", {...})`). `preflight_passed(profile)` reads it:
  the scheduler refuses to start a profile whose last preflight failed, is missing, or was
  made for other values than the profile now holds (company, FTD customer, token reference,
  location, and the Komet URL outside the sandbox).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import ConfigError
from ..settings.home import Home
from ..settings.profiles import SANDBOX, Profile, load_profile

PASS, FAIL = "pass", "fail"
PREFLIGHT_KEY = "preflight"


@dataclass
class Preflight:
    profile: str
    status: str  # PASS | FAIL
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    checked_at: str = ""
    company_id: str = ""
    ftd_customer_id: str = ""
    token_ref: str = ""
    location_id: str = ""
    komet_base_url: str = ""
    methods: dict[str, str] = field(default_factory=dict)
    writes_checked: bool = False
    komet_ready: bool = False  # the Komet side passed: the hand-off sheet can go to FTD
    kit_version: str = __version__

    @property
    def passed(self) -> bool:
        return self.status == PASS

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> dict[str, Any]:
        """What `onboard --json` prints under `preflight`."""
        return {"status": self.status, "reasons": self.reasons, "warnings": self.warnings}


def save_preflight(preflight: Preflight, home: Home) -> None:
    with home.open_store() as store:
        store.put(preflight.profile, PREFLIGHT_KEY, preflight.as_dict())


def load_preflight(profile_name: str, home: Home) -> Preflight | None:
    with home.open_store() as store:
        data = store.get(profile_name, PREFLIGHT_KEY)
    if not isinstance(data, dict):
        return None
    known = set(Preflight.__dataclass_fields__)
    return Preflight(**{k: v for k, v in data.items() if k in known})


def _changed(preflight: Preflight, profile: Profile) -> list[str]:
    now = {
        "company_id": profile.komet_company_id,
        "ftd_customer_id": profile.ftd_customer_id,
        "token_ref": profile.komet_token_ref,
        "location_id": profile.komet_location_id,
    }
    if profile.name != SANDBOX:  # the twin's port changes at every start
        now["komet_base_url"] = profile.komet_base_url
    return [k for k, v in now.items() if str(getattr(preflight, k)) != str(v)]


def same_values(old: Preflight, new: Preflight) -> bool:
    """Were both preflights made for the same profile values (as `_changed` compares them)?"""
    keys = ["company_id", "ftd_customer_id", "token_ref", "location_id"]
    if new.profile != SANDBOX:  # the twin's port changes at every start
        keys.append("komet_base_url")
    return old.profile == new.profile and all(
        str(getattr(old, k)) == str(getattr(new, k)) for k in keys
    )


def preflight_passed(profile_name: str, home: Home) -> tuple[bool, str]:
    """(True, what passed) when the profile may run; (False, why not and what to do)."""
    redo = f"run `komet-ftd-ops onboard --profile {profile_name}`"
    preflight = load_preflight(profile_name, home)
    if preflight is None:
        return False, f"no preflight for profile {profile_name!r}: {redo}."
    if not preflight.passed:
        why = "; ".join(preflight.reasons) or "no reason recorded"
        return False, f"the preflight of {preflight.checked_at} failed: {why}. Fix it and {redo}."
    try:
        profile = load_profile(profile_name, home)
    except ConfigError as exc:
        return False, f"profile {profile_name!r} cannot be loaded: {exc}"
    changed = _changed(preflight, profile)
    if changed:
        return False, (
            f"profile {profile_name!r} changed since its preflight ({', '.join(changed)}): {redo}."
        )
    return True, (
        f"preflight passed {preflight.checked_at}: FTD customer {preflight.ftd_customer_id}, "
        f"company {preflight.company_id}"
    )


# --- the hand-off sheet ----------------------------------------------------------------------


def handoff_path(profile_name: str, home: Home) -> Path:
    return home.handoff_path(profile_name)


def where_kept(ref: str, home: Home) -> str:
    """Where a secret reference points, in words for the sheet."""
    scheme, _, name = ref.partition(":")
    if scheme == "env":
        return f"environment variable `{name}` on the machine that runs the kit"
    if scheme == "file":
        return f"key `{name}` in `{home.secrets_file}` (readable by its owner only, mode 0600)"
    if scheme == "sandbox":
        return "the sandbox twin (a test token; it guards nothing real)"
    return "nowhere yet: save the token first"


def handoff_text(preflight: Preflight, *, customer_name: str, token_masked: str, home: Home) -> str:
    if preflight.passed:
        status = "ready to send; preflight passed"
    elif preflight.komet_ready:
        status = "ready to send; the kit's own FTD settings are still missing (see below)"
    else:
        status = "NOT READY: fix the problems below first"
    lines = [
        f"# Komet → FTD hand-off: {preflight.profile}",
        "",
        f"Status: **{status}** (checked {preflight.checked_at}).",
        "",
        "Send FTD the two values below (Komet's step 3: *Send the information to FTD*).",
        "",
        "| What FTD needs | Value |",
        "| --- | --- |",
        f"| Customer ID (FTD's customer in our Komet account) | {preflight.ftd_customer_id}"
        f"{f' ({customer_name})' if customer_name else ''} |",
        f"| Company ID (Komet's X-ACCOUNT) | {preflight.company_id} |",
        f"| Customer token | `{token_masked}` (masked) |",
        "",
        f"The real token is kept in {where_kept(preflight.token_ref, home)}. Send it separately, "
        "through a channel fit for a password (not in this file, not in plain email).",
        "",
        "## Methods the token can call",
        "",
        *[f"- `{method}`: {status_}" for method, status_ in preflight.methods.items()],
    ]
    if preflight.reasons:
        lines += ["", "## Preflight: failed", "", *[f"- {r}" for r in preflight.reasons]]
    if preflight.warnings:
        lines += ["", "## Warnings", "", *[f"- {w}" for w in preflight.warnings]]
    return "\n".join(lines) + "\n"


def write_handoff(
    preflight: Preflight, *, customer_name: str, token_masked: str, home: Home
) -> Path:
    path = home.handoff_path(preflight.profile)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        handoff_text(preflight, customer_name=customer_name, token_masked=token_masked, home=home)
    )
    return path
