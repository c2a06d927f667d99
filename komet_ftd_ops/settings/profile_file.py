"""A profile file's shape, as pydantic checks it: the tables and their kinds of value.

Imported only when a profile is checked (`settings.profiles.profile_from_dict`), never for a
profile the kit has checked before: this is where pydantic is imported and its schemas built.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import ConfigError
from .profiles import (
    FORBID,
    FTD_MAX_BODY_BYTES,
    AlertRules,
    InventoryRules,
    OrderRules,
    ShippingRules,
    SyncRules,
)
from .values import HttpUrl, Id, Percent, PositiveInt, SecretRef, TimeoutSeconds, describe

_FORBID = ConfigDict(**FORBID)  # type: ignore[typeddict-item]


class KometTable(BaseModel):
    model_config = _FORBID
    base_url: HttpUrl
    company_id: Id
    ftd_customer_id: Id
    token: SecretRef
    company_token: SecretRef = ""  # optional: only onboarding uses it (customer.list)
    location_id: Id = ""
    paid_users: PositiveInt = 1
    # The kit's share of the company's daily quota; the company's other tokens use the rest.
    quota_share_pct: Percent = 80.0
    carrier_id: Id = ""
    ship_to_id: Id = ""
    timeout_seconds: TimeoutSeconds = 20.0
    transaction_fee_pct: Percent = 1.5
    switches: dict[str, Any] = {}  # checked against komet/switches.py by profiles._switches


class FtdTable(BaseModel):
    model_config = _FORBID
    base_url: HttpUrl
    supplier_id: Id
    token: SecretRef
    max_body_bytes: PositiveInt = FTD_MAX_BODY_BYTES


class ProfileFile(BaseModel):
    model_config = _FORBID
    komet: KometTable
    ftd: FtdTable
    sync: SyncRules = SyncRules()
    orders: OrderRules = OrderRules()
    alerts: AlertRules = AlertRules()
    inventory: InventoryRules = InventoryRules()
    shipping: ShippingRules = ShippingRules()


def check_file(data: Mapping[str, Any], where: str) -> ProfileFile:
    """The file's tables checked; every bad value named on one `ConfigError` line."""
    try:
        return ProfileFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{where}: {describe(exc)}") from None
