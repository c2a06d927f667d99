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
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import DataError
from ..http.formats import as_stamp, rfc3339
from ..komet.models import InventoryOrigin
from ..settings.profiles import SyncRules
from . import columns
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


TEXT_ROW = pa.struct([(field, pa.string()) for field in KOMET_COLUMNS])


def to_frame(items: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Komet items (as decoded, or normalised) -> a typed frame with the kit's column names.

    Column by column, never row by row (`offers.columns`): each field is taken out of the items
    once and typed as `normalise_record` types its values (ids as text, counts as ints, the
    price as an exact decimal, kept here as its text). Pandas with `string[pyarrow]` columns,
    not polars: reconciliation, the run notebooks and the rest of the kit are pandas, and
    Arrow strings give pandas C++ string kernels. Unknown fields are dropped here.
    """
    rows = items if isinstance(items, list) else list(items)
    page = text_page(rows)
    if isinstance(page, pa.StructArray):
        return _typed_frame(_fields(page))
    for n, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise DataError(
                f"Komet inventory.list: item #{n} is not a record ({type(row).__name__})."
            )
    return _typed_frame(
        {name: [row.get(field) for row in rows] for field, name in KOMET_COLUMNS.items()}
    )


def text_page(items: list[Any] | pa.StructArray) -> pa.StructArray | list[Any]:
    """One page of Komet items in Komet's string style (every field text) as one Arrow struct
    array of the kit's fields (`TEXT_ROW`), in one C++ pass; the items as they came when they
    are not (numbers, or anything else, among them: `to_frame` types those value by value).

    `KometClient.inventory_pages(columns=TEXT_ROW)` runs it as each page arrives, so the
    100,000 decoded dicts of a large inventory are never alive at once; a page it decoded
    straight to columns (`komet.columnar`) is taken as it is."""
    if isinstance(items, pa.StructArray):
        if items.type != TEXT_ROW:
            raise TypeError(f"a page of columns is {items.type}, not the kit's {TEXT_ROW}")
        return items
    try:
        return pa.array(items, type=TEXT_ROW)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return items


def frame_of_pages(pages: Sequence[pa.StructArray | list[Any]]) -> pd.DataFrame:
    """`to_frame` of the items of `text_page`'s pages, in page order."""
    if all(isinstance(page, pa.StructArray) for page in pages):
        whole = pa.concat_arrays(list(pages)) if pages else pa.array([], type=TEXT_ROW)
        return _typed_frame(_fields(whole))
    return to_frame(
        [
            item
            for page in pages
            for item in (page.to_pylist() if isinstance(page, pa.StructArray) else page)
        ]
    )


def _fields(table: pa.StructArray) -> dict[str, Any]:
    return {name: table.field(field) for field, name in KOMET_COLUMNS.items()}


def _typed_frame(raw: Mapping[str, Any]) -> pd.DataFrame:
    """The kit's typed frame from each Komet field's values (Arrow text, or as decoded)."""
    field_of = {name: field for field, name in KOMET_COLUMNS.items()}
    frame = pd.DataFrame(
        {
            "line_ids": columns.ids(raw["line_ids"], "inventoryLineIds"),
            **{name: columns.counts(raw[name], field_of[name]) for name in NUMERIC},
            **{name: columns.text(raw[name]) for name in TEXT},
            "price": columns.text(
                columns.typed(raw["price"], columns.normalised("price", text=True))
            ),
        },
        columns=list(KOMET_COLUMNS.values()),
    )
    frame["box_type"] = frame["box_type"].str.upper()
    frame["offer_id"] = offer_id_for(frame["line_ids"])
    frame["price_e4"] = columns.price_e4(frame["price"])
    return frame


def _cents_text(cents: pd.Series) -> pd.Series:
    cents = cents.astype("int64")
    return (cents // 100).astype(str) + "." + (cents % 100).astype(str).str.zfill(2)


@dataclass
class OfferBuild:
    """What one inventory read turns into."""

    offers: pd.DataFrame  # OFFER_FIELDS (+ updated_at: the line's read), quantity > 0
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


def _boxes_of(offer_ids: pd.Series, boxes: Mapping[str, int]) -> np.ndarray:
    """`boxes[offer_id]` per row as float64, 0 where absent: one Arrow hash lookup (`map` with
    a dict hashed both sides through pandas)."""
    if not boxes:
        return np.zeros(len(offer_ids), dtype="float64")
    keys = pa.array(list(boxes), pa.string())
    values = np.append(np.asarray(list(boxes.values()), dtype="float64"), 0.0)
    at = pc.index_in(pa.array(offer_ids.array, pa.string()), value_set=keys)
    return values[pc.fill_null(at, -1).to_numpy(zero_copy_only=False)]


def _first_reason(frame: pd.DataFrame, checks: list[tuple[str, pd.Series]]) -> pd.Series:
    """The first check each row fails (an unknown answer fails it), NA when none: numbers
    per row, the text once at the end (a string Series per check cost a copy each)."""
    first = np.zeros(len(frame), dtype="int8")  # 0: no reason yet, n: checks[n - 1]
    for n, (_, mask) in enumerate(checks, start=1):
        failed = mask.fillna(True).to_numpy(dtype=bool)
        first[(first == 0) & failed] = n
    names = pa.array([None, *(name for name, _ in checks)], pa.string())
    return pd.Series(pd.array(names.take(first), dtype="string"), index=frame.index)


def build_offers(
    items: Sequence[Mapping[str, Any]] | pd.DataFrame,
    rules: SyncRules,
    *,
    shadow: Mapping[str, int] | None = None,
    today: datetime | None = None,
) -> OfferBuild:
    """Turn Komet inventory items (as the FTD customer sees them) into FTD offers.

    Each row is checked where it stands (row-local checks over the whole read, masked to the
    rows each step concerns) and the kept rows taken once at the end: each `frame[mask]`
    between the steps copied every column of 100,000 rows again (three copies a read)."""
    frame = items if isinstance(items, pd.DataFrame) else to_frame(items)
    lines_read = len(frame)
    market = (frame["origin"] == InventoryOrigin.OPEN_MARKET).to_numpy(dtype=bool)
    open_market = int(market.sum())

    units_expected = np.where(
        frame["unit_type"].str.lower() == "bunch",
        frame["bunches"],
        frame["bunches"] * frame["stems_per_bunch"],
    )
    duplicate = np.zeros(lines_read, dtype=bool)  # an offer twice among the open-market lines
    duplicate[market] = frame["offer_id"][market].duplicated(keep=False).to_numpy(dtype=bool)
    bad = _first_reason(
        frame,
        [
            ("missing_field", (frame["sku"] == "") | (frame["product_name"] == "")),
            ("no_price", frame["price_e4"].isna()),
            ("bad_price", frame["price_e4"] <= 0),
            ("bad_quantity", frame["quantity"].isna() | (frame["quantity"] <= 0)),
            ("unknown_box_type", ~frame["box_type"].isin(BOX_TYPES)),
            ("bad_units_per_box", frame["units_per_box"].isna() | (frame["units_per_box"] <= 0)),
            ("duplicate_line", pd.Series(duplicate, index=frame.index)),
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
    is_bad = bad.notna().to_numpy(dtype=bool)
    refused = market & is_bad
    rejected = frame.loc[refused, ["offer_id", "line_ids", "sku"]].assign(reason=bad[refused])
    good = market & ~is_bad

    today_text = (today or datetime.now(UTC)).date().isoformat()
    rule_reason = _first_reason(
        frame,
        [
            (
                "excluded_category",
                frame["category"].str.lower().isin([c.lower() for c in rules.exclude_categories]),
            ),
            (
                "excluded_color",
                frame["color"].str.lower().isin([c.lower() for c in rules.exclude_colors]),
            ),
            (
                "too_old",
                (frame["aging"] > rules.max_aging_days)
                if rules.max_aging_days is not None
                else pd.Series(False, index=frame.index),
            ),
            ("expired", (frame["available_to"] != "") & (frame["available_to"] < today_text)),
        ],
    )
    shadow_boxes = pd.Series(_boxes_of(frame["offer_id"], shadow or {}), index=frame.index)
    quantity = (frame["quantity"] - rules.safety_buffer_boxes - shadow_boxes).clip(lower=0)
    rule_reason = rule_reason.mask(
        rule_reason.isna() & (quantity < max(1, rules.min_boxes)), "below_min_boxes"
    )
    ruled_out = rule_reason.notna().to_numpy(dtype=bool)
    left_out = good & ruled_out
    excluded = frame.loc[left_out, ["offer_id"]].assign(reason=rule_reason[left_out])
    keep = good & ~ruled_out
    good, quantity = frame[keep], quantity[keep]

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
    )
    if "refreshed_at" in good.columns:  # a stock view: each line's own read time (stock.py)
        offers["updated_at"] = read_stamps(good["refreshed_at"])
    offers = offers.reset_index(drop=True)
    return OfferBuild(
        offers=offers,
        rejected=rejected.reset_index(drop=True),
        excluded=excluded.reset_index(drop=True),
        lines_read=lines_read,
        open_market=open_market,
    )


def read_stamps(refreshed_at: pd.Series) -> pd.Series:
    """Each line's read time (the store's ISO stamps) as FTD's RFC 3339 `updated_at`, to the
    second like the feed's own stamp; None where it cannot be read. Each distinct read time is
    converted once (`columns.each_distinct`)."""

    def convert(distinct: pd.Series) -> list[str | None]:
        out: list[str | None] = []
        for value in distinct:
            try:
                stamp = as_stamp(value)
            except ValueError:
                stamp = None
            out.append(None if stamp is None else rfc3339(stamp))
        return out

    stamps = columns.each_distinct(refreshed_at, convert, None, object)
    return pd.Series(stamps, index=refreshed_at.index, dtype=object)


def offers_as_dicts(offers: pd.DataFrame, updated_at: str) -> list[dict[str, Any]]:
    """Offers as FTD wants them on the wire (plain Python types).

    An offer built from a stock view carries its own `updated_at` (when its Komet line was last
    read: the view's `refreshed_at`); the `updated_at` given here stands for the others.

    Built from whole columns (`tolist()` gives Python ints and strs in C), then zipped: a full
    feed is 100,000 of these; `DataFrame.to_dict` builds each value through pandas."""
    names = [*OFFER_FIELDS, "updated_at"]
    values = [offers[name].tolist() for name in OFFER_FIELDS]
    if "updated_at" in offers.columns:
        own = offers["updated_at"].tolist()
        values.append([at if isinstance(at, str) else updated_at for at in own])
    else:
        values.append([updated_at] * len(offers))
    return [dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)]


def fingerprints(offers: pd.DataFrame) -> pd.Series:
    """A content hash per offer (updated_at excluded), to find what changed since the last feed."""
    hashed = pd.util.hash_pandas_object(offers[OFFER_FIELDS], index=False)
    return pd.Series(hashed.astype("uint64").astype(str).values, index=offers["offer_id"].values)
