"""The time and money formats of both services, read and written in this one place.

Komet's pages disagree on types (`"status": "1"` and `"webOrderId": "30200"` in current pages,
numbers in older ones; dates `YYYY-MM-DD`, stamps `YYYY-MM-DD hh:mm:ss` in GMT or with a `T`).
FTD's contract sends money as decimal strings, counts as JSON integers and stamps as RFC 3339.
The records the clients return (`komet.models`, `ftd.models`) are parsed with these functions
once, at the client boundary; nothing downstream parses a wire value again.

The rules, the same for every parser here:

- absent (`None`, `""`) reads as `None`: whether that matters is the record's business;
- a value that does not parse raises `ValueError`, never a guess. Above all an amount that
  cannot be read is never 0.00: a zero travels on and shows up as a price mismatch, where the
  truth is bad data;
- money is `Decimal`, never float (`str()` first, so 0.1 does not carry binary noise).

`FieldReader` applies a parser to each field of one wire record and notes what it could not
read (`Unreadable`: the field and what came) instead of raising, so one bad value marks its
record, with the raw value kept for a person to see, rather than losing the whole answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from ..errors import DataError

T = TypeVar("T")
CENT = Decimal("0.01")

# Envelope `status` values meaning success / failure, in every style Komet has used.
_TRUE = {"1", "true"}
_FALSE = {"0", "false"}


def _absent(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


# --- numbers, ids, flags ---


def status_flag(value: Any) -> bool | None:
    """An envelope `status` as a bool: 1/"1"/True -> True, 0/"0"/False -> False, else None."""
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


def as_decimal(value: Any) -> Decimal | None:
    """Money or another exact decimal from "12.50", 12.5 or 12; None when absent."""
    if _absent(value):
        return None
    if isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    if isinstance(value, Decimal):
        number = value
    else:
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError(f"not a number: {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return number


def as_price(value: Any) -> Decimal | None:
    """A unit price: a decimal >= 0; None when absent."""
    number = as_decimal(value)
    if number is not None and number < 0:
        raise ValueError(f"not a price: {value!r}")
    return number


def cents(value: Decimal) -> Decimal:
    """An amount to the cent, as both services bill."""
    return value.quantize(CENT)


def as_int(value: Any, default: int | None = None) -> int | None:
    """An int from 3, "3", "3.0" or 3.0; `default` when absent."""
    if _absent(value):
        return default
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    number = as_decimal(value)
    if number is None or number != number.to_integral_value():
        raise ValueError(f"not an integer: {value!r}")
    return int(number)


def json_int(value: Any) -> int | None:
    """A JSON integer as FTD's contract sends counts; None when absent. "2", 2.0 and true are
    refused: a marketplace that types its counts loosely is sending something else."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"not a whole number: {value!r}")
    return value


def as_str_id(value: Any) -> str | None:
    """An id as text: 30200, 30200.0 and "30200" all give "30200"; None when absent."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    text = str(value).strip()
    return text or None


def as_text(value: Any) -> str | None:
    """Free text, stripped; None when absent."""
    return None if _absent(value) else str(value).strip()


# --- dates and times ---


def as_day(value: Any) -> date | None:
    """A date from `YYYY-MM-DD` (a time after it, `T...` or ` ...`, is dropped); None when
    absent."""
    if _absent(value):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    if len(text) > 10 and text[10] in "T ":
        text = text[:10]
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a date: {value!r}") from None


def as_stamp(value: Any) -> datetime | None:
    """An aware UTC datetime from Komet's `YYYY-MM-DD hh:mm:ss` (GMT), its `...Thh:mm:ss`, or
    RFC 3339 (`...Z`, an offset); a stamp without a zone is GMT, as Komet writes them."""
    if _absent(value):
        return None
    if isinstance(value, datetime):
        stamp = value
    else:
        try:
            stamp = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"not a timestamp: {value!r}") from None
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


def rfc3339(value: datetime, *, micro: bool = False) -> str:
    """`2026-11-28T13:05:00Z` (UTC; naive datetimes are taken as UTC), as FTD takes stamps."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if micro else "%Y-%m-%dT%H:%M:%SZ")


def to_date(value: date | str, what: str = "date") -> date:
    """A date argument for a call we make: a date, a datetime (its date) or `YYYY-MM-DD`."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise DataError(f"{what} must be a date or 'YYYY-MM-DD', not {value!r}.") from None


def komet_date(value: date | str, what: str = "date") -> str:
    """`YYYY-MM-DD` from a date, a datetime (its date) or a string already in that form."""
    return to_date(value, what).isoformat()


def komet_timestamp(value: datetime | str) -> str:
    """`YYYY-MM-DD hh:mm:ss` in GMT, as `updatedAsOf` expects. Naive datetimes are taken as GMT."""
    if isinstance(value, str):
        return value
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S")


# --- one record at a time ---


@dataclass(frozen=True)
class Unreadable:
    """A field a service sent that does not parse (or is missing but needed), and what came."""

    field: str
    raw: str  # repr() of what came, or "missing"

    def __str__(self) -> str:
        return f"{self.field} {self.raw}"


class FieldReader:
    """Reads the fields of one wire record; what does not parse is noted, not raised."""

    def __init__(self, record: Mapping[str, Any], where: str = "") -> None:
        self.record = record
        self.where = where  # prefix for nested records: "details[2]."
        self.unreadable: list[Unreadable] = []

    def __call__(
        self, parse: Callable[[Any], T | None], *keys: str, required: bool = False
    ) -> T | None:
        """The first of `keys` present, parsed; None (and noted) when it does not parse, or
        when `required` and none is present."""
        key, value = keys[0], None
        for name in keys:
            if not _absent(self.record.get(name)):
                key, value = name, self.record[name]
                break
        try:
            parsed = parse(value)
        except ValueError:
            self.unreadable.append(Unreadable(self.where + key, repr(value)))
            return None
        if parsed is None and required:
            self.unreadable.append(Unreadable(self.where + key, "missing"))
        return parsed

    def noted(self, *more: Unreadable) -> tuple[Unreadable, ...]:
        return (*self.unreadable, *more)
