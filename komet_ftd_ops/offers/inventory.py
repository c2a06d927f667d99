"""Which Komet inventory lines the offers are built from: the profile's `[inventory] source`.

Komet hides the lines it reserves for a customer from that customer's open-market listing and
shows them only with `reservedInventory=true` (and then only those). Komet's own advice against
stale stock on a marketplace is to reserve inventory for the marketplace's customer, so a
wholesaler may publish the open market (the default), the lines reserved for the FTD customer,
or both. Both is two reads; a line that somehow comes back in both is offered once, the
reserved copy first (it is the stock set aside for FTD, at FTD's price).
"""

from __future__ import annotations

from typing import Any

from ..komet.client import KometClient
from ..settings.profiles import Profile
from .ids import OfferId

OPEN_MARKET, RESERVED, BOTH = "open_market", "reserved", "both"


def _key(item: dict[str, Any]) -> str:
    return OfferId.from_komet(str(item.get("inventoryLineIds") or "")).key


def read_inventory(komet: KometClient, profile: Profile) -> list[dict[str, Any]]:
    """The inventory items the profile's source names, each line once."""
    customer = profile.ftd_customer_id
    source = profile.inventory.source
    if source == OPEN_MARKET:
        return komet.inventory_list(customer)
    reserved = komet.inventory_list(customer, reserved=True)
    if source == RESERVED:
        return reserved
    seen = {_key(item) for item in reserved}
    market = [item for item in komet.inventory_list(customer) if _key(item) not in seen]
    return reserved + market
