"""One identity: an FTD offer id <-> the Komet inventory line ids behind it.

An open-market offer is `om:` followed by its Komet inventory line ids joined with `-`
(`'428720,428721'` -> `'om:428720-428721'`); `web-order-item.add` takes the ids back.
"""

from __future__ import annotations

import pandas as pd

OFFER_PREFIX = "om:"


def offer_id_for(line_ids: pd.Series) -> pd.Series:
    """Stable offer id from Komet's inventory line id(s): '428720,428721' -> 'om:428720-428721'."""
    cleaned = line_ids.fillna("").astype(str).str.replace(r"\s+", "", regex=True)
    return OFFER_PREFIX + cleaned.str.replace(",", "-", regex=False)


def inventory_ids_of(offer_id: str) -> list[str]:
    """The Komet inventory line ids behind an offer id (for web-order-item.add)."""
    if not offer_id.startswith(OFFER_PREFIX):
        raise ValueError(f"not an open-market offer id: {offer_id!r}")
    return [part for part in offer_id[len(OFFER_PREFIX) :].split("-") if part]
