"""Profiles: a TOML file under `<home>/profiles/<name>.toml` per Komet account.

A profile names base URLs, ids and defaults, and holds only *references* to secrets (see
`settings.secrets`). The built-in `sandbox` profile needs no file: it points at the running twin.

Every value is checked by type and range on load (pydantic, with the kinds of value in
`settings.values`); a bad one is one `ConfigError` line naming the file and the key. The rules
stay plain frozen dataclasses, so the rest of the kit reads attributes and `dataclasses.replace`
works as before (a replaced value is not re-checked: that is for tests and benchmarks).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, with_config

from ..errors import ConfigError
from .home import Home
from .secrets import check_secret_ref
from .values import (
    Bool,
    Count,
    Currency,
    DeadlineSeconds,
    EveryMinutes,
    HttpUrl,
    Id,
    Name,
    Percent,
    PositiveInt,
    SecretRef,
    TimeoutSeconds,
    describe,
)

SANDBOX = "sandbox"
FTD_MAX_BODY_BYTES = 5_000_000  # FTD's contract: 5 MB per request body
_FORBID = ConfigDict(extra="forbid")  # a misspelt key is refused, never silently ignored


@with_config(_FORBID)
@dataclass(frozen=True)
class SyncRules:
    markup_pct: Percent = 0.0
    min_boxes: Count = 1
    max_aging_days: Count | None = None
    exclude_categories: tuple[Name, ...] = ()
    exclude_colors: tuple[Name, ...] = ()
    safety_buffer_boxes: Count = 0
    heal_every_minutes: Count = 60  # 0: a full feed every cycle
    full_after_downtime_minutes: Count = 30
    every_minutes: EveryMinutes = 5
    deadline_seconds: DeadlineSeconds = 240
    order_reserve_pct: Percent = 25.0  # share of Komet's daily quota held back for orders
    feed_status_timeout_seconds: TimeoutSeconds = 30.0
    currency: Currency = "USD"


@with_config(_FORBID)
@dataclass(frozen=True)
class OrderRules:
    price_tolerance_pct: Percent = 1.0
    accept_partial: Bool = False
    overlap_seconds: Count = 120
    # A Komet write whose answer was lost is re-sent only after this long, so a request still
    # running on Komet's side cannot land after the read-back and add a line twice.
    unknown_settle_seconds: Count = 60
    # How often invoices are read for the sales rep's confirmation; 0 = every cycle, so a
    # confirmation reaches FTD within one cycle (one invoice.list while orders await it).
    confirm_every_minutes: Count = 0
    max_orders_per_cycle: PositiveInt = (
        200  # the rest wait for the next cycle (shadow stock covers them)
    )


@with_config(_FORBID)
@dataclass(frozen=True)
class AlertRules:
    # Apprise URLs embed credentials (a mail password, a Slack token), so a profile lists
    # secret references (`env:NAME`, `file:KEY`) that resolve to them, never the URLs.
    targets: tuple[SecretRef, ...] = ()


@dataclass(frozen=True)
class Profile:
    name: str
    komet_base_url: str
    komet_company_id: str
    ftd_customer_id: str
    komet_token_ref: str
    ftd_base_url: str
    ftd_supplier_id: str
    ftd_token_ref: str
    komet_company_token_ref: str = ""
    ftd_max_body_bytes: int = FTD_MAX_BODY_BYTES  # [ftd] max_body_bytes
    komet_location_id: str = ""
    komet_paid_users: int = 1
    carrier_id: str = ""
    ship_to_id: str = ""
    timeout_seconds: float = 20.0
    sync: SyncRules = field(default_factory=SyncRules)
    orders: OrderRules = field(default_factory=OrderRules)
    alerts: AlertRules = field(default_factory=AlertRules)

    @property
    def daily_quota(self) -> int:
        return 1000 * max(1, self.komet_paid_users)

    def secret_refs(self) -> dict[str, str]:
        refs = {"komet_token": self.komet_token_ref, "ftd_token": self.ftd_token_ref}
        if self.komet_company_token_ref:
            refs["komet_company_token"] = self.komet_company_token_ref
        return refs


# --- the file's shape, as pydantic checks it -------------------------------------------------


class _KometTable(BaseModel):
    model_config = _FORBID
    base_url: HttpUrl
    company_id: Id
    ftd_customer_id: Id
    token: SecretRef
    company_token: SecretRef = ""  # optional: only onboarding uses it (customer.list)
    location_id: Id = ""
    paid_users: PositiveInt = 1
    carrier_id: Id = ""
    ship_to_id: Id = ""
    timeout_seconds: TimeoutSeconds = 20.0


class _FtdTable(BaseModel):
    model_config = _FORBID
    base_url: HttpUrl
    supplier_id: Id
    token: SecretRef
    max_body_bytes: PositiveInt = FTD_MAX_BODY_BYTES


class _ProfileFile(BaseModel):
    model_config = _FORBID
    komet: _KometTable
    ftd: _FtdTable
    sync: SyncRules = SyncRules()
    orders: OrderRules = OrderRules()
    alerts: AlertRules = AlertRules()


def _section(data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: [{key}]: must be a table")
    return value


def _missing(data: Mapping[str, Any], where: str) -> None:
    """Required values absent or empty, all named at once (what onboarding still has to ask)."""
    komet, ftd = _section(data, "komet", where), _section(data, "ftd", where)
    required = {
        "komet.base_url": komet.get("base_url"),
        "komet.company_id": komet.get("company_id"),
        "komet.ftd_customer_id": komet.get("ftd_customer_id"),
        "komet.token": komet.get("token"),
        "ftd.base_url": ftd.get("base_url"),
        "ftd.supplier_id": ftd.get("supplier_id"),
        "ftd.token": ftd.get("token"),
    }
    missing = [k for k, v in required.items() if v is None or v == ""]
    if missing:
        raise ConfigError(f"{where}: lacks {', '.join(missing)}.")


def profile_from_dict(name: str, data: Mapping[str, Any], source: str | None = None) -> Profile:
    """Check the profile's values and build it. `source` (the file) starts every error line."""
    where = source or f"profile {name!r}"
    _missing(data, where)
    try:
        checked = _ProfileFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{where}: {describe(exc)}") from None
    try:
        return _build(name, checked)
    except ConfigError as exc:  # a literal token: the message names the key, never the value
        raise ConfigError(f"{where}: {exc}") from None


def _build(name: str, checked: _ProfileFile) -> Profile:
    komet, ftd = checked.komet, checked.ftd
    for i, ref in enumerate(checked.alerts.targets):
        check_secret_ref(ref, f"alerts.targets[{i}]")
    return Profile(
        name=name,
        komet_base_url=komet.base_url.rstrip("/") + "/",
        komet_company_id=komet.company_id,
        ftd_customer_id=komet.ftd_customer_id,
        komet_token_ref=check_secret_ref(komet.token, "komet.token"),
        komet_company_token_ref=(
            check_secret_ref(komet.company_token, "komet.company_token")
            if komet.company_token
            else ""
        ),
        komet_location_id=komet.location_id,
        komet_paid_users=komet.paid_users,
        carrier_id=komet.carrier_id,
        ship_to_id=komet.ship_to_id,
        timeout_seconds=komet.timeout_seconds,
        ftd_base_url=ftd.base_url.rstrip("/"),
        ftd_supplier_id=ftd.supplier_id,
        ftd_token_ref=check_secret_ref(ftd.token, "ftd.token"),
        ftd_max_body_bytes=ftd.max_body_bytes,
        sync=checked.sync,
        orders=checked.orders,
        alerts=checked.alerts,
    )


def sandbox_profile_dict(home: Home) -> dict[str, Any]:
    """The built-in profile: whatever twin is running under this home."""
    info = home.read_sandbox_info()
    ftd: dict[str, Any] = {
        "base_url": info["ftd"]["base_url"],
        "supplier_id": info["ftd"]["supplier_id"],
        "token": "sandbox:ftd",
    }
    if "max_body_bytes" in info["ftd"]:  # a twin started with `sandbox up --ftd-max-body`
        ftd["max_body_bytes"] = info["ftd"]["max_body_bytes"]
    return {
        "komet": {
            "base_url": info["komet"]["base_url"],
            "company_id": info["komet"]["company_id"],
            "ftd_customer_id": info["komet"]["ftd_customer_id"],
            "token": "sandbox:komet.customer",
            "company_token": "sandbox:komet.company",
            "timeout_seconds": 5.0,
        },
        "ftd": ftd,
    }


def load_profile(name: str, home: Home) -> Profile:
    """Read `<home>/profiles/<name>.toml`; `sandbox` works without a file."""
    path = home.profile_path(name)
    if path.exists():
        try:
            with path.open("rb") as fh:
                data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from None
        if name == SANDBOX:
            data = _over_twin(sandbox_profile_dict(home), data)
        return profile_from_dict(name, data, source=str(path))
    if name == SANDBOX:
        return profile_from_dict(name, sandbox_profile_dict(home))
    raise ConfigError(
        f"no profile {name!r}: expected {path}. Create it with `komet-ftd-ops onboard --profile "
        f"{name}` or copy profiles/example.toml."
    )


def _over_twin(base: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """The sandbox file's tables laid over the twin's; a value that is not a table is left for
    the checks to name."""
    merged: dict[str, Any] = {**base, **data}
    for key, value in data.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), Mapping):
            merged[key] = {**base[key], **value}
    return merged


def with_rules(profile: Profile, **sync: Any) -> Profile:
    """A copy of the profile with some sync rules changed (tests, benchmarks)."""
    return replace(profile, sync=replace(profile.sync, **sync))
