"""Komet open-market inventory -> FTD offers, vectorised with pandas.

One row of `ecommerce/inventory.list` becomes at most one FTD offer. Rows are checked column by
column (never row by row): a bad row is kept out with its reason and the good rows still go out.
Quantities sent to FTD are absolute boxes, net of a safety buffer and of boxes already sold on
FTD but not yet in Komet (shadow stock), never below zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from ..komet.models import InventoryOrigin
from ..settings.profiles import SyncRules
from .ids import offer_id_for

BOX_TYPES = ("QB", "HB", "FB", "EB")

# Komet item field -> column name used in the frame.
KOMET_COLUMNS = {
    "inventoryOrigin": "origin",
    "inventoryLineIds": "line_ids",
    "productCode": "sku",
    "productDescription": "product_name",
    "category": "category",
    "variety": "variety",
    "color": "color",
    "grade": "grade",
    "boxTypeCode": "box_type",
    "unitType": "unit_type",
    "unitsPerBox": "units_per_box",
    "bunches": "bunches",
    "stemsBunch": "stems_per_bunch",
    "quantity": "quantity",
    "price": "price",
    "availableFrom": "available_from",
    "availableTo": "available_to",
    "aging": "aging",
}
NUMERIC = ("origin", "units_per_box", "bunches", "stems_per_bunch", "quantity", "aging")
TEXT = (
    "sku", "product_name", "category", "variety", "color", "grade", "box_type", "unit_type",
    "available_from", "available_to",
)  # fmt: skip

OFFER_FIELDS = [
    "offer_id", "sku", "product_name", "category", "variety", "color", "grade", "box_type",
    "unit_type", "stems_per_bunch", "bunches_per_box", "units_per_box", "quantity_available",
    "price_per_unit", "currency", "available_from", "available_to",
]  # fmt: skip

# Reasons a row is not published. Bad data first (shown as rejections), then business rules.
BAD_REASONS = (
    "missing_field", "no_price", "bad_price", "bad_quantity", "unknown_box_type", "bad_units_per_box",
    "duplicate_line", "contradictory_fields",
)  # fmt: skip


def to_frame(items: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Komet items -> a typed frame with the kit's column names (unknown fields dropped here)."""
    frame = pd.DataFrame.from_records(list(items), columns=list(KOMET_COLUMNS))
    frame = frame.rename(columns=KOMET_COLUMNS)
    for column in NUMERIC:
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    for column in TEXT:
        frame[column] = frame[column].astype("string").fillna("").str.strip()
    frame["box_type"] = frame["box_type"].str.upper()
    frame["offer_id"] = offer_id_for(frame["line_ids"])
    frame["price_e4"] = _price_e4(frame["price"])
    return frame


def _price_e4(price: pd.Series) -> pd.Series:
    """Decimal price strings -> exact integer ten-thousandths (NA when missing or unparsable)."""
    text = price.astype("string").str.strip()
    parts = text.str.extract(r"^(-?)(\d+)(?:\.(\d{1,4}))?$").astype("string")
    whole = pd.to_numeric(parts[1], errors="coerce")
    frac = pd.to_numeric(parts[2].fillna("").str.ljust(4, "0"), errors="coerce")
    sign = np.where((parts[0] == "-").fillna(False).to_numpy(dtype=bool), -1, 1)
    return (whole * 10_000 + frac) * sign


def _cents_text(cents: pd.Series) -> pd.Series:
    cents = cents.astype("int64")
    return (cents // 100).astype(str) + "." + (cents % 100).astype(str).str.zfill(2)


@dataclass
class OfferBuild:
    """What one inventory read turns into."""

    offers: pd.DataFrame  # OFFER_FIELDS, one row per published offer, quantity > 0
    rejected: pd.DataFrame  # offer_id, line_ids, sku, reason: bad rows
    excluded: pd.DataFrame  # offer_id, reason: rows kept out by the profile's rules
    lines_read: int
    open_market: int

    def summary(self) -> dict[str, int]:
        return {
            "lines_read": self.lines_read,
            "open_market": self.open_market,
            "offers": len(self.offers),
            "rejected": len(self.rejected),
            "excluded": len(self.excluded),
        }


def _first_reason(frame: pd.DataFrame, checks: list[tuple[str, pd.Series]]) -> pd.Series:
    reason = pd.Series(pd.NA, index=frame.index, dtype="string")
    for name, mask in checks:
        reason = reason.mask(reason.isna() & mask.fillna(True).astype(bool), name)
    return reason


def build_offers(
    items: Sequence[Mapping[str, Any]] | pd.DataFrame,
    rules: SyncRules,
    *,
    shadow: Mapping[str, int] | None = None,
    today: datetime | None = None,
) -> OfferBuild:
    """Turn Komet inventory items (as the FTD customer sees them) into FTD offers."""
    frame = items if isinstance(items, pd.DataFrame) else to_frame(items)
    lines_read = len(frame)
    frame = frame[frame["origin"] == InventoryOrigin.OPEN_MARKET]
    open_market = len(frame)

    units_expected = np.where(
        frame["unit_type"].str.lower() == "bunch",
        frame["bunches"],
        frame["bunches"] * frame["stems_per_bunch"],
    )
    bad = _first_reason(
        frame,
        [
            ("missing_field", (frame["sku"] == "") | (frame["product_name"] == "")),
            ("no_price", frame["price_e4"].isna()),
            ("bad_price", frame["price_e4"] <= 0),
            ("bad_quantity", frame["quantity"].isna() | (frame["quantity"] <= 0)),
            ("unknown_box_type", ~frame["box_type"].isin(BOX_TYPES)),
            ("bad_units_per_box", frame["units_per_box"].isna() | (frame["units_per_box"] <= 0)),
            ("duplicate_line", frame["offer_id"].duplicated(keep=False)),
            (
                "contradictory_fields",
                (frame["units_per_box"] != units_expected)
                | ~frame["unit_type"].str.lower().isin(("stem", "bunch"))
                | (
                    (frame["available_to"] != "")
                    & (frame["available_to"] < frame["available_from"])
                ),
            ),
        ],
    )
    rejected = frame.loc[bad.notna(), ["offer_id", "line_ids", "sku"]].assign(
        reason=bad[bad.notna()]
    )
    good = frame[bad.isna()]

    today_text = (today or datetime.now(UTC)).date().isoformat()
    rule_reason = _first_reason(
        good,
        [
            (
                "excluded_category",
                good["category"].str.lower().isin([c.lower() for c in rules.exclude_categories]),
            ),
            (
                "excluded_color",
                good["color"].str.lower().isin([c.lower() for c in rules.exclude_colors]),
            ),
            (
                "too_old",
                (good["aging"] > rules.max_aging_days)
                if rules.max_aging_days is not None
                else pd.Series(False, index=good.index),
            ),
            ("expired", (good["available_to"] != "") & (good["available_to"] < today_text)),
        ],
    )
    shadow_boxes = good["offer_id"].map(shadow or {}).fillna(0)
    quantity = (good["quantity"] - rules.safety_buffer_boxes - shadow_boxes).clip(lower=0)
    rule_reason = rule_reason.mask(
        rule_reason.isna() & (quantity < max(1, rules.min_boxes)), "below_min_boxes"
    )
    excluded = good.loc[rule_reason.notna(), ["offer_id"]].assign(
        reason=rule_reason[rule_reason.notna()]
    )
    keep = rule_reason.isna()
    good, quantity = good[keep], quantity[keep]

    markup_bp = round(rules.markup_pct * 100)
    cents = (good["price_e4"].astype("int64") * (10_000 + markup_bp) + 500_000) // 1_000_000
    offers = pd.DataFrame(
        {
            "offer_id": good["offer_id"],
            "sku": good["sku"],
            "product_name": good["product_name"],
            "category": good["category"],
            "variety": good["variety"],
            "color": good["color"],
            "grade": good["grade"],
            "box_type": good["box_type"],
            "unit_type": good["unit_type"].str.upper(),
            "stems_per_bunch": good["stems_per_bunch"].astype("int64"),
            "bunches_per_box": good["bunches"].astype("int64"),
            "units_per_box": good["units_per_box"].astype("int64"),
            "quantity_available": quantity.astype("int64"),
            "price_per_unit": _cents_text(cents),
            "currency": rules.currency,
            "available_from": good["available_from"],
            "available_to": good["available_to"],
        }
    ).reset_index(drop=True)
    return OfferBuild(
        offers=offers,
        rejected=rejected.reset_index(drop=True),
        excluded=excluded.reset_index(drop=True),
        lines_read=lines_read,
        open_market=open_market,
    )


def offers_as_dicts(offers: pd.DataFrame, updated_at: str) -> list[dict[str, Any]]:
    """Offers as FTD wants them on the wire (plain Python types)."""
    records = offers[OFFER_FIELDS].to_dict(orient="records")
    for record in records:
        record["updated_at"] = updated_at
    return records


def fingerprints(offers: pd.DataFrame) -> pd.Series:
    """A content hash per offer (updated_at excluded), to find what changed since the last feed."""
    hashed = pd.util.hash_pandas_object(offers[OFFER_FIELDS], index=False)
    return pd.Series(hashed.astype("uint64").astype(str).values, index=offers["offer_id"].values)
