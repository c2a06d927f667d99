"""Profiles: a TOML file under `<home>/profiles/<name>.toml` per Komet account.

A profile names base URLs, ids and defaults, and holds only *references* to secrets (see
`settings.secrets`). The built-in `sandbox` profile needs no file: it points at the running twin.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .home import profile_path, read_sandbox_info
from .secrets import check_secret_ref

SANDBOX = "sandbox"
FTD_MAX_BODY_BYTES = 5_000_000  # FTD's contract: 5 MB per request body


@dataclass(frozen=True)
class SyncRules:
    markup_pct: float = 0.0
    min_boxes: int = 1
    max_aging_days: int | None = None
    exclude_categories: tuple[str, ...] = ()
    exclude_colors: tuple[str, ...] = ()
    safety_buffer_boxes: int = 0
    heal_every_minutes: int = 60
    full_after_downtime_minutes: int = 30
    every_minutes: int = 5
    deadline_seconds: int = 240
    order_reserve_pct: float = 25.0  # share of Komet's daily quota held back for orders
    feed_status_timeout_seconds: float = 30.0
    currency: str = "USD"


@dataclass(frozen=True)
class OrderRules:
    price_tolerance_pct: float = 1.0
    accept_partial: bool = False
    overlap_seconds: int = 120
    # A Komet write whose answer was lost is re-sent only after this long, so a request still
    # running on Komet's side cannot land after the read-back and add a line twice.
    unknown_settle_seconds: int = 60
    confirm_every_minutes: int = 30  # how often invoices are read for the sales rep's confirmation
    max_orders_per_cycle: int = 200  # the rest wait for the next cycle (shadow stock covers them)


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

    @property
    def daily_quota(self) -> int:
        return 1000 * max(1, self.komet_paid_users)

    def secret_refs(self) -> dict[str, str]:
        refs = {"komet_token": self.komet_token_ref, "ftd_token": self.ftd_token_ref}
        if self.komet_company_token_ref:
            refs["komet_company_token"] = self.komet_company_token_ref
        return refs


def _section(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"[{key}] must be a table in the profile.")
    return value


def _rules(cls: type, data: Mapping[str, Any], where: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    unknown = set(data) - set(known)
    if unknown:
        raise ConfigError(f"unknown setting(s) in [{where}]: {', '.join(sorted(unknown))}.")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    return cls(**values)


def profile_from_dict(name: str, data: Mapping[str, Any]) -> Profile:
    komet, ftd = _section(data, "komet"), _section(data, "ftd")
    required = {
        "komet.base_url": komet.get("base_url"),
        "komet.company_id": komet.get("company_id"),
        "komet.ftd_customer_id": komet.get("ftd_customer_id"),
        "komet.token": komet.get("token"),
        "ftd.base_url": ftd.get("base_url"),
        "ftd.supplier_id": ftd.get("supplier_id"),
        "ftd.token": ftd.get("token"),
    }
    missing = [k for k, v in required.items() if v in (None, "")]
    if missing:
        raise ConfigError(f"profile {name!r} lacks {', '.join(missing)}.")
    return Profile(
        name=name,
        komet_base_url=str(komet["base_url"]).rstrip("/") + "/",
        komet_company_id=str(komet["company_id"]),
        ftd_customer_id=str(komet["ftd_customer_id"]),
        komet_token_ref=check_secret_ref(str(komet["token"]), "komet.token"),
        komet_company_token_ref=(
            check_secret_ref(str(komet["company_token"]), "komet.company_token")
            if komet.get("company_token")
            else ""
        ),
        komet_location_id=str(komet.get("location_id", "")),
        komet_paid_users=int(komet.get("paid_users", 1)),
        carrier_id=str(komet.get("carrier_id", "")),
        ship_to_id=str(komet.get("ship_to_id", "")),
        timeout_seconds=float(komet.get("timeout_seconds", 20.0)),
        ftd_base_url=str(ftd["base_url"]).rstrip("/"),
        ftd_supplier_id=str(ftd["supplier_id"]),
        ftd_token_ref=check_secret_ref(str(ftd["token"]), "ftd.token"),
        ftd_max_body_bytes=int(ftd.get("max_body_bytes", FTD_MAX_BODY_BYTES)),
        sync=_rules(SyncRules, _section(data, "sync"), "sync"),
        orders=_rules(OrderRules, _section(data, "orders"), "orders"),
    )


def sandbox_profile_dict(root: Path | None = None) -> dict[str, Any]:
    """The built-in profile: whatever twin is running under this home."""
    info = read_sandbox_info(root)
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


def load_profile(name: str, root: Path | None = None) -> Profile:
    """Read `<home>/profiles/<name>.toml`; `sandbox` works without a file."""
    path = profile_path(name, root)
    if path.exists():
        try:
            with path.open("rb") as fh:
                data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from None
        if name == SANDBOX:
            base = sandbox_profile_dict(root)
            data = {k: {**base.get(k, {}), **v} for k, v in {**base, **data}.items()}
        return profile_from_dict(name, data)
    if name == SANDBOX:
        return profile_from_dict(name, sandbox_profile_dict(root))
    raise ConfigError(
        f"no profile {name!r}: expected {path}. Create it with `komet-ftd-ops onboard --profile "
        f"{name}` or copy profiles/example.toml."
    )


def with_rules(profile: Profile, **sync: Any) -> Profile:
    """A copy of the profile with some sync rules changed (tests, benchmarks)."""
    return replace(profile, sync=replace(profile.sync, **sync))
