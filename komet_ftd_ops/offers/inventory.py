"""Which Komet inventory lines the offers are built from: the profile's `[inventory] source`.

Komet hides the lines it reserves for a customer from that customer's open-market listing and
shows them only with `reservedInventory=true` (and then only those). Komet's own advice against
stale stock on a marketplace is to reserve inventory for the marketplace's customer, so a
wholesaler may publish the open market (the default), the lines reserved for the FTD customer,
or both. Both is two reads; a line that somehow comes back in both is offered once, the
reserved copy first (it is the stock set aside for FTD, at FTD's price).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..komet.client import KometClient
from ..settings.profiles import Profile
from .ids import SPACE_CLASS, OfferId
from .transform import TEXT_ROW, frame_of_pages, text_page

OPEN_MARKET, RESERVED, BOTH = "open_market", "reserved", "both"


def line_keys(frame: pd.DataFrame) -> pd.Series:
    """`OfferId.from_komet(line_ids).key` per row: the same lines whatever their order. Most
    rows hold one line id, its key itself (whitespace dropped); only multi-line rows are
    keyed one by one."""
    text = frame["line_ids"].fillna("").astype("string")
    cleaned = pc.replace_substring_regex(pa.array(text.array, pa.string()), SPACE_CLASS, "")
    keys = pd.Series(pd.array(cleaned, dtype="string"), index=frame.index)
    several = keys.str.contains(",", regex=False).to_numpy(dtype=bool)
    keys[several] = [OfferId.from_komet(str(ids)).key for ids in text[several]]
    return keys


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Pause Python's cycle collector while Komet's pages are decoded: 100,000 dicts of strs
    (no cycles to find) are allocated, and every 700 allocations it would walk the young
    objects, every so often all of them."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def read_inventory(komet: KometClient, profile: Profile, **filters: Any) -> pd.DataFrame:
    """The inventory the profile's source names, each line once, as `to_frame`'s typed frame.

    `filters` are inventory.list's documented filters (`color="Red"`: one slice of the stock,
    offers/stock.py), applied to each read of the source."""
    with _no_cycle_collection():
        return _read(komet, profile, filters)


def _read(komet: KometClient, profile: Profile, filters: dict[str, Any]) -> pd.DataFrame:
    customer = profile.ftd_customer_id
    source = profile.inventory.source

    def frame(reserved: bool) -> pd.DataFrame:
        pages = komet.inventory_pages(
            customer, reserved, each_page=text_page, columns=TEXT_ROW, **filters
        )
        return frame_of_pages(pages)

    if source == OPEN_MARKET:
        return frame(reserved=False)
    reserved = frame(reserved=True)
    if source == RESERVED:
        return reserved
    market = frame(reserved=False)
    market = market[~line_keys(market).isin(line_keys(reserved)).to_numpy(dtype=bool)]
    return pd.concat([reserved, market], ignore_index=True)
