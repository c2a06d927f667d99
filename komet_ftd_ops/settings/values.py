"""The kinds of value a profile holds, checked by pydantic, and the one line that names a bad one.

A profile is hand-written TOML, so a wrong value must be caught on load with the key named
(`[sync] deadline_seconds = -5: must be > 0`), not found later as a traceback or as every run
timing out. Numbers are strict: TOML already gives ints and floats, so a string such as "five"
is a mistake, not something to coerce; an int is fine where a float is expected.

This module imports none of pydantic: each kind is a type with a `Rule`, which hands pydantic
its checks through `__get_pydantic_core_schema__`, pydantic's documented hook for a custom type,
when a model is built (`settings.profile_file`). So a profile the kit has already checked
(`settings.profiles`' cache) loads without pydantic's import and schema build, about 0.1 s of
CPU in each of a run's processes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from pydantic import GetCoreSchemaHandler, ValidationError
    from pydantic_core import CoreSchema


class Rule:
    """A value's checks besides its type: pydantic-core constraints on the type's own schema
    (`strict`, `ge`, `le`, `gt`, `min_length`, `allow_inf_nan`), then `after(value)`; or
    `plain(value)` in place of the type's check. A ValueError from either is the error line."""

    def __init__(
        self,
        *,
        after: Callable[[Any], Any] | None = None,
        plain: Callable[[Any], Any] | None = None,
        **constraints: Any,
    ) -> None:
        self.after, self.plain, self.constraints = after, plain, constraints

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        from pydantic_core import core_schema

        if self.plain is not None:
            return core_schema.no_info_plain_validator_function(self.plain)
        schema: Any = {**handler(source), **self.constraints}
        if self.after is not None:
            return core_schema.no_info_after_validator_function(self.after, schema)
        return schema  # type: ignore[no-any-return]


Bool = Annotated[bool, Rule(strict=True)]
# boxes, days, orders, minutes where 0 means "always"
Count = Annotated[int, Rule(strict=True, ge=0)]
PositiveInt = Annotated[int, Rule(strict=True, ge=1)]
Percent = Annotated[float, Rule(strict=True, ge=0, le=100, allow_inf_nan=False)]
# A request's own timeout: an answer slower than ten minutes is no answer.
TimeoutSeconds = Annotated[float, Rule(strict=True, gt=0, le=600, allow_inf_nan=False)]
# A whole sync run: a cycle that needs more than an hour is stuck, and the next ones queue up.
DeadlineSeconds = Annotated[int, Rule(strict=True, gt=0, le=3600)]
EveryMinutes = Annotated[int, Rule(strict=True, ge=1, le=1440)]


def _http_url(value: str) -> str:
    try:
        parts = urlsplit(value)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. an unclosed "[" in the host
        ok = False
    if not ok:
        raise ValueError("must be an http(s) URL such as https://api.example.com/")
    return value


def _id(value: object) -> str:
    # Ids are text; a bare TOML integer (company_id = 1207) is what people write, so it is kept.
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError('must be a string such as "1207"')
    return str(value).strip()


def _currency(value: str) -> str:
    if len(value) != 3 or not value.isalpha() or not value.isupper():
        raise ValueError('must be a 3-letter currency code such as "USD"')
    return value


HttpUrl = Annotated[str, Rule(strict=True, after=_http_url)]
Id = Annotated[str, Rule(plain=_id)]
Name = Annotated[str, Rule(strict=True, min_length=1)]
Currency = Annotated[str, Rule(strict=True, after=_currency)]
# Secret references; their form is checked by settings.secrets.check_secret_ref afterwards.
SecretRef = Annotated[str, Rule(strict=True)]
SECRET_KEYS = frozenset({"token", "company_token", "targets"})  # never echoed in an error

SECTIONS = ("komet", "ftd", "sync", "orders", "alerts", "inventory", "shipping")
_COMPARE = {
    "greater_than": ">",
    "greater_than_equal": ">=",
    "less_than": "<",
    "less_than_equal": "<=",
}
_REASONS = {
    "int_type": "must be a whole number",
    "float_type": "must be a number",
    "finite_number": "must be a finite number",
    "bool_type": "must be true or false",
    "string_type": "must be a string (in quotes)",
    "string_too_short": "must not be empty",
    "tuple_type": 'must be a list such as ["a", "b"]',
    "list_type": 'must be a list such as ["a", "b"]',
    "model_type": "must be a table",
    "dataclass_type": "must be a table",
    "dict_type": "must be a table",
    "extra_forbidden": "unknown setting (see profiles/example.toml)",
    "unexpected_keyword_argument": "unknown setting (see profiles/example.toml)",
    "missing": "missing",
}


def _where(loc: Sequence[int | str]) -> str:
    """('sync', 'exclude_colors', 0) -> '[sync] exclude_colors[0]'."""
    head, rest = str(loc[0]) if loc else "", list(loc[1:])
    text = f"[{head}]" if head in SECTIONS else head
    for i, part in enumerate(rest):
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += (" " if i == 0 and head in SECTIONS else ".") + part
    return text


def _shown(value: Any) -> str:
    """A value as TOML would spell it, short."""
    if isinstance(value, bool | int | float | str):
        # repr keeps 5.0 apart from 5 (the difference an int setting refuses); nan stays nan
        text = repr(value) if isinstance(value, float) else json.dumps(value, ensure_ascii=False)
        return text if len(text) <= 40 else text[:37] + "..."
    if isinstance(value, list | tuple):
        return "[...]"
    return "{...}" if isinstance(value, dict) else type(value).__name__


def _reason(error: Any) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in _COMPARE:
        limit = next(iter(ctx.values()))
        limit = f"{limit:g}" if isinstance(limit, float) else str(limit)
        return f"must be {_COMPARE[kind]} {limit}"
    if kind == "literal_error" and "expected" in ctx:
        return f"must be one of {ctx['expected']}"
    if kind == "value_error" and "error" in ctx:
        return str(ctx["error"])
    return _REASONS.get(kind, str(error["msg"]).lower())


def describe(exc: ValidationError) -> str:
    """Every error of a profile, on one line: `[sync] deadline_seconds = -5: must be > 0`."""
    parts = []
    for error in exc.errors():
        loc = error["loc"]
        where = _where(loc)
        secret = any(part in SECRET_KEYS for part in loc)
        shown = error["type"] not in ("missing", "model_type", "dataclass_type", "dict_type")
        if shown and not secret and "input" in error:
            where += f" = {_shown(error['input'])}"
        parts.append(f"{where}: {_reason(error)}")
    return "; ".join(parts)
