"""The kit's profiles for a twin serving several wholesalers (`sandbox up --wholesalers N`).

Wholesaler 1 is the built-in `sandbox` profile (no file needed, as with one wholesaler), so
`make run` and every example keep working. Wholesaler K is `sandbox-K`, a profile file under
`<home>/profiles/` whose secrets are references into the running twin (`sandbox:komet.customer@K`,
`sandbox:komet.company@K`, `sandbox:ftd@K`). The twin picks new ports at each start, so every
start rewrites the twin's values in those files (URLs, ids, token references) and keeps every
other value a person put there.

`onboard(home, info)` is what `make run` does for the one `sandbox` profile, for each: a
headless onboarding (writes checked) of every profile whose preflight has not passed, so that
`schedule` (and `schedule --all`) runs them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..onboarding.profile import read_profile_file, to_toml
from ..settings.home import Home
from . import control, tenants

HEADER = (
    "# Written by `komet-ftd-ops sandbox up --wholesalers N` for wholesaler {number} of the twin;"
    "\n# its [komet] and [ftd] values are rewritten at every start, other values are kept."
)


def refs(number: int) -> dict[str, str]:
    """The secret references of wholesaler `number` (no `@` for the first, as before)."""
    at = "" if number == 1 else f"@{number}"
    return {
        "token": f"sandbox:komet.customer{at}",
        "company_token": f"sandbox:komet.company{at}",
        "ftd_token": f"sandbox:ftd{at}",
    }


def twin_values(info: Mapping[str, Any], number: int) -> dict[str, dict[str, Any]]:
    """The profile tables the twin decides for wholesaler `number` (as sandbox_profile_dict)."""
    entry = control.wholesaler(dict(info), number)
    komet, ftd, ref = entry["komet"], entry["ftd"], refs(number)
    return {
        "komet": {
            "base_url": komet["base_url"],
            "company_id": str(komet["company_id"]),
            "ftd_customer_id": str(komet["ftd_customer_id"]),
            "token": ref["token"],
            "company_token": ref["company_token"],
            "timeout_seconds": 5.0,
        },
        "ftd": {
            "base_url": ftd["base_url"],
            "supplier_id": ftd["supplier_id"],
            "token": ref["ftd_token"],
            "max_body_bytes": ftd["max_body_bytes"],
        },
    }


def write_profiles(home: Home, info: Mapping[str, Any]) -> list[str]:
    """Write (or refresh) `sandbox-2`..`sandbox-N`; returns every profile name, `sandbox` first."""
    names = [tenants.profile_name(1)]
    for number in range(2, control.wholesaler_count(dict(info)) + 1):
        name = tenants.profile_name(number)
        data: dict[str, Any] = {
            k: dict(v) if isinstance(v, Mapping) else v
            for k, v in read_profile_file(name, home).items()
        }
        for section, values in twin_values(info, number).items():
            data[section] = {**data.get(section, {}), **values}
        text = to_toml(data).split("\n", 1)[1]  # our own header instead of onboard's
        path = home.profile_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(HEADER.format(number=number) + "\n" + text)
        os.replace(tmp, path)
        names.append(name)
    return names


def onboard(home: Home, names: list[str]) -> dict[str, str]:
    """Onboard (headless, writes checked) each profile whose preflight has not passed, as
    `make run` does for `sandbox`; returns {profile: "kept" | "pass" | "FAIL: why"}."""
    from ..onboarding import onboard as onboard_profile
    from ..onboarding import preflight_passed

    outcome: dict[str, str] = {}
    for number, name in enumerate(names, start=1):
        if preflight_passed(name, home)[0]:
            outcome[name] = "kept"
            continue
        result = onboard_profile(
            name, home=home, token_ref=refs(number)["token"], check_writes=True
        )
        outcome[name] = "pass" if result.passed else "FAIL: " + "; ".join(result.preflight.reasons)
    return outcome
