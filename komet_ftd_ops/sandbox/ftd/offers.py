"""What FTD accepts as an offer: the contract's Offer shape, checked field by field.

An offer that fails is refused on its own with a stable `code` (the client maps codes to fixes:
`invalid_price`, `unknown_box_type`, `invalid_quantity`, `units_mismatch`, `missing_field`, ...),
so one bad inventory line never blocks the rest of a feed. Only the contract's fields are kept:
whatever else a client sends is not listed.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from .http import parse_date, parse_rfc3339

BOX_TYPES = ("QB", "HB", "FB", "EB")
UNIT_TYPES = ("STEM", "BUNCH")
OFFER_FIELDS = (
    "offer_id",
    "sku",
    "product_name",
    "category",
    "variety",
    "color",
    "grade",
    "box_type",
    "unit_type",
    "stems_per_bunch",
    "bunches_per_box",
    "units_per_box",
    "quantity_available",
    "price_per_unit",
    "currency",
    "available_from",
    "available_to",
    "updated_at",
)
TEXT_FIELDS = ("sku", "product_name", "category", "variety", "color", "grade")
PACK_FIELDS = ("stems_per_bunch", "bunches_per_box", "units_per_box")
MAX_QUANTITY = 100_000
# Active ISO 4217 codes: a made-up or retired currency must not slip into a listing.
_ISO_4217 = """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP
    BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP
    GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR
    KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK
    MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR
    SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS
    UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWL
"""
CURRENCIES = frozenset(_ISO_4217.split())
_PRICE = re.compile(r"^\d{1,7}(\.\d{1,4})?$")


class Rejection(Exception):
    """One offer (or delta change) refused; the rest of the feed goes on."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def check_offer(raw: Any) -> dict[str, Any]:
    """The offer with exactly the contract's fields, or `Rejection` with the first problem."""
    if not isinstance(raw, dict):
        raise Rejection("invalid_offer", "an offer must be a JSON object.")
    missing = [f for f in OFFER_FIELDS if raw.get(f) is None or raw.get(f) == ""]
    if missing:
        raise Rejection("missing_field", f"missing field(s): {', '.join(missing)}.")
    offer_id = raw["offer_id"]
    if not isinstance(offer_id, str) or len(offer_id) > 128 or offer_id != offer_id.strip():
        raise Rejection("invalid_offer_id", "offer_id must be a trimmed string of 1..128 chars.")
    for name in TEXT_FIELDS:
        if not isinstance(raw[name], str) or len(raw[name]) > 200:
            raise Rejection("invalid_field", f"{name} must be a string of 1..200 chars.")
    if raw["box_type"] not in BOX_TYPES:
        raise Rejection(
            "unknown_box_type",
            f"box_type {raw['box_type']!r} is not one of {', '.join(BOX_TYPES)}.",
        )
    if raw["unit_type"] not in UNIT_TYPES:
        raise Rejection(
            "unknown_unit_type",
            f"unit_type {raw['unit_type']!r} is not one of {', '.join(UNIT_TYPES)}.",
        )
    for name in PACK_FIELDS:
        if not _positive_int(raw[name]):
            raise Rejection("invalid_pack", f"{name} must be a positive integer.")
    per_unit = raw["stems_per_bunch"] if raw["unit_type"] == "STEM" else 1
    if raw["units_per_box"] != per_unit * raw["bunches_per_box"]:
        raise Rejection(
            "units_mismatch",
            f"units_per_box {raw['units_per_box']} != "
            + (
                f"stems_per_bunch {raw['stems_per_bunch']} x bunches_per_box "
                f"{raw['bunches_per_box']}"
                if raw["unit_type"] == "STEM"
                else f"bunches_per_box {raw['bunches_per_box']} (unit_type BUNCH)"
            )
            + ".",
        )
    quantity = raw["quantity_available"]
    if (
        not isinstance(quantity, int)
        or isinstance(quantity, bool)
        or not 0 <= quantity <= MAX_QUANTITY
    ):
        raise Rejection(
            "invalid_quantity",
            f"quantity_available must be an integer 0..{MAX_QUANTITY} (boxes), not {quantity!r}.",
        )
    price = raw["price_per_unit"]
    if not isinstance(price, str) or not _PRICE.match(price):
        raise Rejection(
            "invalid_price",
            f'price_per_unit must be a decimal string like "0.42", not {price!r}.',
        )
    try:
        positive = Decimal(price) > 0
    except InvalidOperation:
        positive = False
    if not positive:
        raise Rejection("invalid_price", f"price_per_unit must be greater than 0, not {price!r}.")
    if raw["currency"] not in CURRENCIES:
        raise Rejection(
            "invalid_currency", f"currency {raw['currency']!r} is not an ISO 4217 code."
        )
    start, end = parse_date(raw["available_from"]), parse_date(raw["available_to"])
    if start is None or end is None:
        raise Rejection("invalid_date", "available_from/available_to must be YYYY-MM-DD dates.")
    if start > end:
        raise Rejection("invalid_date_range", "available_from is after available_to.")
    if parse_rfc3339(raw["updated_at"]) is None:
        raise Rejection("invalid_timestamp", "updated_at must be an RFC 3339 timestamp.")
    return {name: raw[name] for name in OFFER_FIELDS}
