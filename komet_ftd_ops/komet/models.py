"""Normalising Komet's answers: one set of types whatever style the service answered in.

Komet's pages disagree on types (`"status": "1"` and `"webOrderId": "30200"` in current pages,
numbers in older ones; ids in lists sometimes strings). Callers should not care, so every record
the client returns goes through `normalise_record`:

- ids (`id`, `*Id`, `*Ids`) become strings: an id is a label, never arithmetic;
- counts (`quantity`, `statusId`, ...) become ints;
- money (`price`, `total`, ...) becomes `Decimal`, never float;
- every other key is kept as it came: Komet adds fields, and dropping them would hide data.

A value that does not parse is kept as it came rather than dropped or guessed at.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ..errors import DataError

# Envelope `status` values meaning success / failure, in every style Komet has used.
_TRUE = {"1", "true"}
_FALSE = {"0", "false"}

# Fields that are counts or enums. `statusId` and `status` end like ids but are enums.
INT_FIELDS = frozenset(
    {
        "status",
        "statusId",
        "quantity",
        "availableBoxes",
        "unitsPerBox",
        "bunches",
        "stemsBunch",
        "aging",
        "inventoryOrigin",
        "active",
        "boxes",
        "units",
        "isEcommerce",
    }
)
# Money and other exact decimals.
DECIMAL_FIELDS = frozenset(
    {"price", "subtotal", "additionalCharges", "total", "defaultPrice", "creditLimit", "unitPrice"}
)


def status_flag(value: Any) -> bool | None:
    """An envelope `status` as a bool: 1/"1"/True → True, 0/"0"/False → False, else None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return True if value == 1 else False if value == 0 else None
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    return None


def is_success(envelope: Mapping[str, Any]) -> bool:
    """True when Komet's envelope says status 1 (in any of its typing styles)."""
    return status_flag(envelope.get("status")) is True


def as_int(value: Any, default: int | None = None) -> int | None:
    """An int from 3, "3", "3.0" or 3.0; `default` for None/""; ValueError for anything else."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    number = as_decimal(value)
    if number is None or number != number.to_integral_value():
        raise ValueError(f"not an integer: {value!r}")
    return int(number)


def as_decimal(value: Any) -> Decimal | None:
    """A Decimal from "12.50", 12.5 or 12; None for None/""; ValueError for anything else."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    if isinstance(value, Decimal):
        return value
    try:
        # str() first: Decimal(0.1) would carry the float's binary noise.
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return number


def as_str_id(value: Any) -> str | None:
    """An id as a string: 30200, 30200.0 and "30200" all give "30200"; None for None/""."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    text = str(value).strip()
    return text or None


def is_id_field(key: str) -> bool:
    return key not in INT_FIELDS and (key == "id" or key.endswith("Id") or key.endswith("Ids"))


def _normalise_value(key: str, value: Any) -> Any:
    if isinstance(value, Mapping):
        return normalise_record(value)
    if isinstance(value, list):
        return [_normalise_value(key, v) for v in value]
    try:
        if is_id_field(key):
            return as_str_id(value)
        if key in INT_FIELDS:
            return as_int(value)
        if key in DECIMAL_FIELDS:
            return as_decimal(value)
    except ValueError:
        return value  # keep what Komet sent; the caller decides whether it matters
    return value


def normalise_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a Komet record with ids, counts and money typed; unknown keys kept."""
    return {str(k): _normalise_value(str(k), v) for k, v in record.items()}


def normalise_envelope(envelope: Mapping[str, Any]) -> dict[str, Any]:
    """Like `normalise_record`, but the envelope's `total` is a row count, not money."""
    out = normalise_record({k: v for k, v in envelope.items() if k != "total"})
    if "total" in envelope:
        try:
            out["total"] = as_int(envelope["total"])
        except ValueError:
            out["total"] = envelope["total"]
    return out


# --- values we send ---


def komet_date(value: date | str, what: str = "date") -> str:
    """`YYYY-MM-DD` from a date, a datetime (its date) or a string already in that form."""
    return to_date(value, what).isoformat()


def to_date(value: date | str, what: str = "date") -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise DataError(f"{what} must be a date or 'YYYY-MM-DD', not {value!r}.") from None


def komet_timestamp(value: datetime | str) -> str:
    """`YYYY-MM-DD hh:mm:ss` in GMT, as `updatedAsOf` expects. Naive datetimes are taken as GMT."""
    if isinstance(value, str):
        return value
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S")


def komet_ids(value: str | int | Sequence[str | int]) -> str:
    """Line ids as Komet gives them in `inventoryLineIds`: one comma-separated string."""
    if isinstance(value, str | int):
        return str(value)
    return ",".join(str(v) for v in value)
