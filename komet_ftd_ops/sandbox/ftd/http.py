"""Plumbing shared by the FTD twin's handlers: errors, auth, bodies, idempotency, clock, cursors.

The order of the checks on a write is part of what the twin enforces, so it lives in one place:
auth (401/403) -> `Idempotency-Key` present (400) -> body size (413) -> JSON object (400/415) ->
replay or key reuse (first answer / 409) -> the action. Only answers the action itself gave are
remembered for a key: a request refused before that attempted nothing, so there is nothing to
replay.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import sqlite3
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
from aiohttp import web

# bytes; "5 MB" in the contract, the kit's default `[ftd] max_body_bytes`. The default only:
# `create_app(max_body_bytes=)` (`sandbox up --ftd-max-body`) sets the limit a twin enforces.
BODY_LIMIT = 5_000_000
MAX_KEY_LENGTH = 255

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Every byte to b"0" if an ASCII digit, else b" ": a digit run is then a plain substring search.
_DIGITS_ONLY = bytes(48 if 48 <= b <= 57 else 32 for b in range(256))


class FtdError(Exception):
    """A contract error, answered as `{"error": {"code", "message"}}` plus any `extra` fields.

    `extra` goes next to `error`, not inside it (e.g. `expected_base` on a refused delta), as
    the contract shows.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.extra = extra

    def payload(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}, **self.extra}

    def response(self) -> web.Response:
        return web.json_response(self.payload(), status=self.status, headers=self.headers)


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    return FtdError(status, code, message, headers=headers).response()


def canonical(data: Any) -> str:
    """One spelling per JSON value, so a replay with re-ordered keys is still 'the same body'."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# -- small persistent state --------------------------------------------------------------------


def meta_get(conn: sqlite3.Connection, key: str, default: Any = None) -> Any:
    row = conn.execute("SELECT value FROM ftd_meta WHERE key=?", (key,)).fetchone()
    return json.loads(row[0]) if row else default


def meta_put(conn: sqlite3.Connection, key: str, value: Any) -> None:
    conn.execute(
        "INSERT INTO ftd_meta (key, value) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
        (key, json.dumps(value)),
    )


# -- time --------------------------------------------------------------------------------------


def stamp(ts: datetime) -> str:
    """RFC 3339 UTC with microseconds: fixed width, so string order is time order."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_rfc3339(value: Any) -> datetime | None:
    """A timezone-aware datetime, or None if `value` is not an RFC 3339 timestamp.

    Fractions beyond microseconds are truncated (Python keeps no more).
    """
    if not isinstance(value, str) or not _RFC3339.match(value):
        return None
    text = value.upper().replace("Z", "+00:00")
    head, sep, tail = text.partition(".")
    if sep:
        digits = re.match(r"\d+", tail)
        assert digits is not None
        frac = digits.group(0)
        text = f"{head}.{frac[:6].ljust(6, '0')}{tail[len(frac) :]}"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def parse_date(value: Any) -> datetime | None:
    if not isinstance(value, str) or not _DATE.match(value):
        return None
    try:
        if value.isascii() and len(value) == 10:  # strptime's answer, ~20x cheaper
            return datetime.combine(date.fromisoformat(value), datetime.min.time())
        return datetime.strptime(value, "%Y-%m-%d")  # other digits \d takes; a trailing \n
    except ValueError:
        return None


def loads(raw: bytes | str) -> Any:
    """JSON as json.loads reads it, through orjson when orjson can (a 100,000-offer feed).

    What orjson refuses and json takes (NaN, lone surrogates) or both refuse goes to json.loads,
    so the value and the refusal's message stay json's; so does any run of 19+ digits, since
    orjson reads an integer beyond 64 bits as a float where json keeps it exact."""
    data = raw.encode() if isinstance(raw, str) else raw
    if b"0" * 19 not in data.translate(_DIGITS_ONLY):  # ~20x faster than a regex search
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(data.decode("utf-8"))


def dumps(value: Any) -> str:
    """Compact JSON text for the twin's own tables; json.dumps where orjson cannot (see loads)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"))


def next_stamp(conn: sqlite3.Connection, now: datetime) -> str:
    """The `updated_at` for one order change: the server clock, made unique and increasing.

    If the clock has not moved past the last stamp handed out (same microsecond, or the clock
    stepped back), the stamp is the last one plus 1 microsecond. Stamps are issued inside the
    write transaction, so a change committed later always carries a later stamp: a client that
    resumes with `updated_after=<high_watermark>` can never skip an order.
    """
    last = meta_get(conn, "last_stamp")
    candidate = now.astimezone(UTC)
    if last is not None:
        floor = parse_rfc3339(last)
        assert floor is not None
        if candidate <= floor:
            candidate = floor + timedelta(microseconds=1)
    value = stamp(candidate)
    meta_put(conn, "last_stamp", value)
    return value


# -- cursors -----------------------------------------------------------------------------------


def encode_cursor(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str, required: tuple[str, ...]) -> dict[str, Any]:
    """The position a cursor holds; 400 `invalid_cursor` for anything this twin did not issue."""
    try:
        padded = value + "=" * (-len(value) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict) or any(k not in data for k in required):
        raise FtdError(400, "invalid_cursor", f"cursor {value!r} was not issued by this listing.")
    return data


def query_params(request: web.Request, allowed: tuple[str, ...]) -> dict[str, str]:
    """The query string, refusing unknown or repeated names (a typo would silently filter)."""
    unknown = sorted(set(request.query) - set(allowed))
    if unknown:
        raise FtdError(
            400,
            "unknown_parameter",
            f"unknown query parameter(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}.",
        )
    params: dict[str, str] = {}
    for name in allowed:
        values = request.query.getall(name, [])
        if len(values) > 1:
            raise FtdError(400, "invalid_parameter", f"query parameter {name} given twice.")
        if values and values[0] != "":
            params[name] = values[0]
    return params


def int_param(params: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"\d+", raw) or not low <= int(raw) <= high:
        raise FtdError(
            400, "invalid_parameter", f"{name} must be an integer {low}..{high}, not {raw!r}."
        )
    return int(raw)


# -- requests ----------------------------------------------------------------------------------


def check_auth(request: web.Request, supplier_id: str, token: str) -> None:
    """401 without a valid bearer token; 403 when the token is fine but the supplier is not ours."""
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    challenge = {"WWW-Authenticate": 'Bearer realm="ftd"'}
    if scheme.lower() != "bearer" or not given.strip():
        raise FtdError(
            401, "unauthorized", "missing 'Authorization: Bearer <token>'.", headers=challenge
        )
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise FtdError(401, "invalid_token", "the bearer token is not valid.", headers=challenge)
    if request.match_info.get("supplier_id") != supplier_id:
        raise FtdError(
            403,
            "forbidden",
            f"this token is not valid for supplier {request.match_info.get('supplier_id')!r}.",
        )


def idempotency_key(request: web.Request) -> str:
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        raise FtdError(
            400, "missing_idempotency_key", "every POST needs an Idempotency-Key header."
        )
    if len(key) > MAX_KEY_LENGTH:
        raise FtdError(
            400,
            "invalid_idempotency_key",
            f"Idempotency-Key is {len(key)} characters; at most {MAX_KEY_LENGTH}.",
        )
    return key


async def read_json_object(request: web.Request, limit: int = BODY_LIMIT) -> dict[str, Any]:
    """The body as a JSON object; 413 over `limit` bytes, 415 if not JSON, 400 if unparsable."""
    too_big = FtdError(
        413, "payload_too_large", f"the body is over {limit} bytes; split a full feed into parts."
    )
    if request.content_length is not None and request.content_length > limit:
        raise too_big
    if request.content_type != "application/json":
        raise FtdError(
            415,
            "unsupported_media_type",
            f"Content-Type must be application/json, not {request.content_type!r}.",
        )
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise too_big from None
    if len(raw) > limit:
        raise too_big
    try:
        data = loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise FtdError(400, "invalid_json", f"the body is not UTF-8 JSON: {exc}") from None
    if not isinstance(data, dict):
        raise FtdError(400, "invalid_json", "the body must be a JSON object.")
    return data


def fingerprint(request: web.Request, body: dict[str, Any]) -> str:
    """What 'the same request' means for a replay: method, path and the body's JSON value."""
    text = f"{request.method} {request.path}\n{canonical(body)}"
    return hashlib.sha256(text.encode()).hexdigest()


def replay(conn: sqlite3.Connection, key: str, digest: str) -> tuple[int, dict[str, Any]] | None:
    """The first answer given under `key`, or None if the key is new; 409 if reused elsewhere."""
    row = conn.execute(
        "SELECT fingerprint, status, body FROM ftd_idempotency WHERE key=?", (key,)
    ).fetchone()
    if row is None:
        return None
    if row["fingerprint"] != digest:
        raise FtdError(
            409,
            "idempotency_key_reused",
            f"Idempotency-Key {key!r} was already used for a different request; "
            "use a new key for a new request.",
        )
    return int(row["status"]), json.loads(row["body"])


def remember(
    conn: sqlite3.Connection,
    key: str,
    digest: str,
    status: int,
    body: dict[str, Any],
    now: datetime,
) -> None:
    conn.execute(
        "INSERT INTO ftd_idempotency (key, fingerprint, status, body, created_at) "
        "VALUES (?, ?, ?, ?, ?)",
        (key, digest, status, json.dumps(body), stamp(now)),
    )
