"""How the Komet twin speaks: the envelope, the JSON typing style, refusals and parameters.

`render` is the one place the `json_style` switch applies, and `worded` the one place the
`messages` switch does: `table` = the spec's message table, `other` = different wording for the
same cases (same HTTP status, same envelope keys, `availableBoxes` still given), so a client
that keys on the exact sentence breaks in tests, not on a live account.

Handlers build payloads with Python types that say what a value *is* (int for ids, counts and flags, Decimal for money, str for
text) and `render` turns them into Komet's current style (every number a string, `"status":"1"`)
or its older one (JSON numbers). Nothing else converts types, so both styles stay consistent.
"""

from __future__ import annotations

import re
from calendar import monthrange
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from aiohttp import web

from ...state.sqlite_file import SQLiteFile as Store
from ..catalogue import LOCATION_IDS

CENT = Decimal("0.01")


class Refusal(Exception):
    """Komet said no: an envelope with status 0, a message and maybe extra keys."""

    def __init__(self, message: str, *, http: int = 200, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.http = http
        self.extra = extra


def required(param: str) -> Refusal:
    return Refusal(f"{param} is required.")


def invalid(param: str) -> Refusal:
    return Refusal(f"{param} is invalid.")


def render(value: Any, style: str) -> Any:
    """The single serialisation of the json_style switch (see module docstring)."""
    if isinstance(value, dict):
        return {k: render(v, style) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [render(v, style) for v in value]
    if isinstance(value, bool):
        return value
    if isinstance(value, Decimal):
        cents = value.quantize(CENT)
        return format(cents, "f") if style == "strings" else float(cents)
    if isinstance(value, int):
        return str(value) if style == "strings" else value
    return value


def respond(payload: dict[str, Any], style: str, http: int = 200) -> web.Response:
    # orjson: compact UTF-8 like json.dumps(separators=(",", ":"), ensure_ascii=False), several
    # times faster on 500-item pages; an orjson.Fragment (a pre-rendered listing) goes as is.
    body = orjson.dumps(render(payload, style), option=orjson.OPT_NON_STR_KEYS)
    return web.Response(status=http, body=body, content_type="application/json", charset="utf-8")


# The spec's table (what Refusal carries) → the `other` wording of the same case.
OTHER_WORDING: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), text)
    for pattern, text in (
        (r"Invalid authentication token\.", "Unauthorized: the token is not valid for this account."),
        (r"Method not allowed for this token\.", "This token has no permission for the requested method."),
        (r"Customer not allowed for this token\.", "The customer does not belong to this token."),
        (r"API request limit exceeded\.", "Daily request quota reached."),
        (r"Request too large\.", "Payload exceeds the maximum size."),
        (r"(?P<p>\S+) is required\.", "Missing parameter: {p}"),
        (r"(?P<p>\S+) is invalid\.", "Invalid value for parameter {p}"),
        (r"Orders not found\.", "No records found."),
        (r"Item is not available", "Requested quantity exceeds available boxes."),
        (r"Method not found\.", "Unknown API method."),
        (r"Request body is not valid JSON\.", "Malformed request body."),
        (r"Too many boxes: at most (?P<n>\d+) boxes per call\.", "Box limit exceeded: {n} per call."),
        (r"(?P<v>GET|POST) is required for (?P<m>\S+)\.", "Use {v} for {m}."),
    )
)  # fmt: skip


def worded(message: str, messages: str) -> str:
    """The message as the `messages` switch words it (see the module docstring)."""
    if messages != "other":
        return message
    for pattern, text in OTHER_WORDING:
        match = pattern.fullmatch(message)
        if match:
            return text.format(**match.groupdict())
    return message


def refusal_response(refusal: Refusal, style: str, messages: str = "table") -> web.Response:
    payload = {"status": 0, "message": worded(refusal.message, messages), **refusal.extra}
    return respond(payload, style, refusal.http)


def money(text: str) -> Decimal | str:
    """A stored price as Decimal; an empty (badly keyed) price stays the empty string."""
    return Decimal(text) if text != "" else ""


def add_months(day: date, months: int) -> date:
    """Calendar months later, clamped to the month's last day (Aug 31 + 6 months = Feb 28/29)."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return day.replace(year=year, month=month, day=min(day.day, monthrange(year, month)[1]))


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


@dataclass
class Call:
    """One authenticated API call: its parameters (query for GET, JSON body for POST) and token."""

    db: Store
    method: str
    params: dict[str, Any]
    token: dict[str, Any]
    company_id: str
    settings: dict[str, Any]

    def raw(self, name: str) -> Any:
        value = self.params.get(name)
        return None if value is None or value == "" else value

    def text(self, name: str, *, need: bool = False) -> str | None:
        value = self.raw(name)
        if value is None:
            if need:
                raise required(name)
            return None
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise invalid(name)
        return str(value)

    def integer(self, name: str, *, need: bool = False, low: int | None = None) -> int | None:
        """An int sent as a JSON number or a digit string (Komet's pages show both)."""
        value = self.raw(name)
        if value is None:
            if need:
                raise required(name)
            return None
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise invalid(name)
        text = str(value).strip()
        if not re.fullmatch(r"-?\d{1,12}", text):
            raise invalid(name)
        number = int(text)
        if low is not None and number < low:
            raise invalid(name)
        return number

    def day(self, name: str, *, need: bool = False) -> date | None:
        value = self.text(name, need=need)
        if value is None:
            return None
        if not _DATE.match(value):
            raise invalid(name)
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise invalid(name) from None

    def stamp(self, name: str) -> str | None:
        """`updatedAsOf` is `YYYY-MM-DD hh:mm:ss` GMT; returned in `updatedOn` shape to compare."""
        value = self.text(name)
        if value is None:
            return None
        if not _STAMP.match(value):
            raise invalid(name)
        return value.replace(" ", "T")

    def decimal(self, name: str, *, need: bool = False) -> Decimal | None:
        value = self.raw(name)
        if value is None:
            if need:
                raise required(name)
            return None
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise invalid(name)
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise invalid(name) from None
        if not number.is_finite() or number <= 0:
            raise invalid(name)
        return number

    def flag(self, name: str) -> bool | None:
        value = self.raw(name)
        if value is None:
            return None
        text = str(value).lower()
        if text in ("1", "true"):
            return True
        if text in ("0", "false"):
            return False
        raise invalid(name)

    def customer_id(self, *, active_only: bool = False) -> int:
        """The required `customerId`, checked against the token (see `customer_filter`)."""
        if self.raw("customerId") is None:
            raise required("customerId")
        customer = self.customer_filter(active_only=active_only)
        assert customer is not None  # present, so checked and returned as given
        return customer

    def customer_filter(self, *, active_only: bool = False) -> int | None:
        """An optional `customerId`: a Customer token may name only its own customer, and
        without one it still sees only its own; a Company token without one sees all (None)."""
        customer = self.integer("customerId")
        if customer is None:
            return self.token["customer_id"] if self.token["type"] == "customer" else None
        if self.token["type"] == "customer" and customer != self.token["customer_id"]:
            raise Refusal("Customer not allowed for this token.")
        rows = self.db.query("SELECT active FROM komet_customers WHERE id=?", (customer,))
        if not rows or (active_only and not rows[0]["active"]):
            raise invalid("customerId")
        return customer

    def company_location(self) -> int | None:
        location = self.integer("companyLocationId")
        if location is not None and location not in LOCATION_IDS:
            raise invalid("companyLocationId")
        return location
