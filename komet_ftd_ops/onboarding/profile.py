"""The profile the onboarding writes: `<home>/profiles/<name>.toml`, secrets by reference only.

Values come, in this order of preference, from what the analyst gives, the existing profile
file, and (for the `sandbox` profile) the running twin. The `sandbox` file keeps only what
differs from the twin: the twin picks new ports at each start, so a base URL written there
would point at a dead port tomorrow.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..settings.home import Home
from ..settings.profiles import SANDBOX, sandbox_profile_dict
from ..settings.secrets import Secret, check_secret_ref
from .methods import KOMET_BASE_URL

# Flat value name (notebook parameter, CLI option) → place in the profile file.
VALUE_KEYS: dict[str, tuple[str, str]] = {
    "komet_base_url": ("komet", "base_url"),
    "company_id": ("komet", "company_id"),
    "ftd_customer_id": ("komet", "ftd_customer_id"),
    "token_ref": ("komet", "token"),
    "company_token_ref": ("komet", "company_token"),
    "location_id": ("komet", "location_id"),
    "paid_users": ("komet", "paid_users"),
    "carrier_id": ("komet", "carrier_id"),
    "ship_to_id": ("komet", "ship_to_id"),
    "missing_ship_to": ("shipping", "missing_ship_to"),
    "ftd_base_url": ("ftd", "base_url"),
    "ftd_supplier_id": ("ftd", "supplier_id"),
    "ftd_token_ref": ("ftd", "token"),
}
SECRET_REFS = ("token_ref", "company_token_ref", "ftd_token_ref")


def read_profile_file(name: str, home: Home) -> dict[str, Any]:
    """The profile file as it is on disk ({} when there is none)."""
    path = home.profile_path(name)
    if not path.exists():
        return {}
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}); fix or remove it.") from None


def _twin_values(name: str, home: Home) -> dict[str, Any]:
    if name != SANDBOX:
        return {}
    try:
        return sandbox_profile_dict(home)
    except ConfigError:
        return {}  # no twin running: the sandbox profile then needs its values given


def flat(data: Mapping[str, Any]) -> dict[str, Any]:
    """Nested profile data → the flat value names of VALUE_KEYS (missing ones left out)."""
    values = {}
    for key, (section, field) in VALUE_KEYS.items():
        value = data.get(section, {}).get(field)
        if value not in (None, ""):
            values[key] = value
    return values


def default_values(name: str, home: Home) -> dict[str, Any]:
    """What the onboarding starts from: the twin (sandbox), then the profile file on top."""
    values: dict[str, Any] = {"komet_base_url": KOMET_BASE_URL, "paid_users": 1}
    values.update(flat(_twin_values(name, home)))
    values.update(flat(read_profile_file(name, home)))
    return values


def profile_data(name: str, values: Mapping[str, Any], home: Home) -> dict[str, Any]:
    """The nested profile (other sections of the existing file kept) from flat values."""
    data = {
        k: dict(v) if isinstance(v, Mapping) else v
        for k, v in read_profile_file(name, home).items()
    }
    for key, value in values.items():
        if key not in VALUE_KEYS or value in (None, ""):
            continue
        if key in SECRET_REFS:
            check_secret_ref(str(value), key)
        section, field = VALUE_KEYS[key]
        data.setdefault(section, {})[field] = int(value) if key == "paid_users" else str(value)
    return data


def _without_twin_values(name: str, data: dict[str, Any], home: Home) -> dict[str, Any]:
    twin = _twin_values(name, home)
    kept: dict[str, Any] = {}
    for section, table in data.items():
        if not isinstance(table, Mapping):
            kept[section] = table
            continue
        same = twin.get(section, {})
        rest = {k: v for k, v in table.items() if same.get(k) != v}
        if rest:
            kept[section] = rest
    return kept


def to_toml(data: Mapping[str, Any]) -> str:
    """The small TOML subset profiles use: tables of strings, numbers, booleans, lists."""
    lines = ["# Written by `komet-ftd-ops onboard`. Secrets appear only as references."]
    for section, table in data.items():
        if not isinstance(table, Mapping):
            raise ConfigError(f"profile key {section!r} must be a table")
        lines += ["", f"[{section}]"]
        lines += [f"{key} = {_toml_value(value)}" for key, value in table.items()]
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a TOML basic string


def write_profile(
    name: str,
    data: Mapping[str, Any],
    home: Home,
    *,
    secrets: tuple[Secret, ...] = (),
) -> Path:
    """Write the profile atomically. Refuses if any of `secrets` would end up in the file."""
    if name == SANDBOX:
        data = _without_twin_values(name, dict(data), home)
    text = to_toml(data)
    if any(s and s.reveal() in text for s in secrets):
        raise ConfigError("refusing to write a token into the profile: give a secret reference.")
    path = home.profile_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path
