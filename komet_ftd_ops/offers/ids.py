"""One identity: an FTD offer id <-> the Komet inventory line ids behind it.

This module is the only place the identity is spelled. An open-market offer is `om:` followed
by its Komet inventory line ids joined with `-`; Komet itself joins the same ids with `,`
(`inventoryLineIds` in `inventory.list`, `inventoryIds` in `web-order-item.add` and in the
items of a web order or invoice):

    Komet '428720,428721'  <->  OfferId(('428720', '428721'))  <->  FTD 'om:428720-428721'

`OfferId.key` is the order-free spelling reconciliation compares both sides with.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only offer_id_for takes a Series; orders and reconcile need no pandas
    import pandas as pd

OFFER_PREFIX = "om:"  # open market: the only kind of offer the kit publishes
OFFER_SEPARATOR = "-"  # between line ids in an FTD offer id
KOMET_SEPARATOR = ","  # between line ids in Komet's inventoryLineIds / inventoryIds


@dataclass(frozen=True)
class OfferId:
    """The Komet inventory line ids behind one FTD offer, in Komet's order."""

    line_ids: tuple[str, ...]

    @classmethod
    def parse(cls, offer_id: str) -> OfferId:
        """'om:428720-428721' -> OfferId(('428720', '428721')); ValueError if not open market."""
        if not offer_id.startswith(OFFER_PREFIX):
            raise ValueError(f"not an open-market offer id: {offer_id!r}")
        rest = offer_id[len(OFFER_PREFIX) :]
        return cls(tuple(part for part in rest.split(OFFER_SEPARATOR) if part))

    @classmethod
    def from_komet(cls, inventory_ids: str) -> OfferId:
        """Komet's comma-joined line ids ('428720, 428721') -> OfferId(('428720', '428721'))."""
        parts = ("".join(part.split()) for part in inventory_ids.split(KOMET_SEPARATOR))
        return cls(tuple(part for part in parts if part))

    def __str__(self) -> str:
        """The FTD offer id: 'om:428720-428721'."""
        return OFFER_PREFIX + OFFER_SEPARATOR.join(self.line_ids)

    @property
    def komet(self) -> str:
        """The line ids as Komet joins them: '428720,428721'."""
        return KOMET_SEPARATOR.join(self.line_ids)

    @property
    def key(self) -> str:
        """The same ids whatever their order or side: `inventory_key(self.line_ids)`."""
        return inventory_key(self.line_ids)


# Python's `str.isspace()` characters as an RE2 class (Arrow's regex engine): `\s` alone is
# ASCII there, and OfferId.from_komet drops every whitespace `str.split()` knows.
SPACE_CLASS = r"[\s\x0b\x1c-\x1f\x85\pZ]"


def offer_id_for(line_ids: pd.Series) -> pd.Series:
    """`str(OfferId.from_komet(x))` for a column of Komet line ids, vectorised in Arrow (C++):
    '428720,428721' -> 'om:428720-428721'; a missing id gives 'om:'."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.array(line_ids.astype("string").fillna("").array, pa.string())
    cleaned = pc.replace_substring_regex(text, SPACE_CLASS, "")
    joined = pc.replace_substring(cleaned, KOMET_SEPARATOR, OFFER_SEPARATOR)
    offer_ids = pc.binary_join_element_wise(OFFER_PREFIX, joined, "")
    return pd.Series(pd.array(offer_ids, dtype="str"), index=line_ids.index)


def inventory_ids_of(offer_id: str) -> list[str]:
    """The Komet inventory line ids behind an offer id (for web-order-item.add)."""
    return list(OfferId.parse(offer_id).line_ids)


def inventory_key(ids: Iterable[str]) -> str:
    """One spelling for a set of Komet line ids, whichever side they came from:
    sorted (numerically, for numeric ids), de-duplicated, comma-joined."""
    parts = {str(i).strip() for i in ids if str(i).strip()}
    return KOMET_SEPARATOR.join(sorted(parts, key=lambda p: (len(p), p)))


def offer_key(offer_id: str) -> str:
    """'om:428721-428720' -> '428720,428721'; anything else is kept as it is."""
    try:
        return OfferId.parse(offer_id).key
    except ValueError:
        return offer_id
