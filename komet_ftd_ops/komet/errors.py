"""Komet's answers → the kit's exceptions. The ONE place that reads Komet's failure messages.

Komet reports business failures as HTTP 200 with `status` 0 and a human message; which message
means what is not documented, so the wording is an assumption (spec section 1, [assumed]; the
twin's `messages` switch serves the spec's table or other wording for the same cases). So an
answer is read in this order, most reliable first:

1. the HTTP status (`HTTP_STATUS_TABLE`: 401, 413; 429; 5xx) and the envelope's `status`;
2. structured keys (`STRUCTURED_KEYS`: `availableBoxes` means "not enough boxes" whatever the
   sentence says);
3. the message, in `MESSAGE_TABLE`, which holds every wording known for each case (the spec's
   table and the other wording), in this one place.

When a live account answers otherwise, add its wording to `MESSAGE_TABLE` and nothing else.
Messages match case-insensitively from their start; a trailing period is optional.

Rules that are not in the table, and why:

- 5xx, or a body that is not a JSON object (a proxy's HTML page), is infrastructure trouble:
  `ServiceUnavailable` for reads. For writes it is `OutcomeUnknown`: a 502/504 from a proxy
  can arrive after Komet did the work, so the caller must read back before sending again.
- HTTP 429 is `RateLimited` (not in Komet's pages; any proxy may send it).
- "Orders not found." is an empty result for reads, not an error. For a write (delete,
  checkout) it means the order the caller named does not exist: `NotFound`.
- Any other `status` 0 is `ApiError` carrying Komet's message.

Every exception message names the Komet method and never the URL (classic GET URLs carry the
token) and never the token: messages from Komet pass through the transport's `scrub` first.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import orjson

from ..errors import (
    ApiError,
    AuthError,
    CustomerNotAllowed,
    InvalidParameter,
    ItemNotAvailable,
    KometFtdOpsError,
    MethodNotAllowed,
    NotFound,
    OutcomeUnknown,
    QuotaExceeded,
    RateLimited,
    RequestTooLarge,
    ServiceUnavailable,
)
from ..http.retry import parse_retry_after
from .models import as_int, status_flag

EMPTY_RESULT = None  # marks a message that means "nothing found", not a failure

# Komet's status-0 message (regex, matched from the start) → exception class, or EMPTY_RESULT.
# A named group `param` becomes InvalidParameter.param.
# Each case: the spec's table first, then the other wording (the twin's messages=other).
_PARAM = r"(?P<param>[\w.\[\]/-]+)"
MESSAGE_TABLE: tuple[tuple[str, type[ApiError] | None], ...] = (
    (r"invalid authentication token", AuthError),
    (r"unauthorized", AuthError),
    (r"method not allowed for this token", MethodNotAllowed),
    (r"this token has no permission", MethodNotAllowed),
    (r"customer not allowed for this token", CustomerNotAllowed),
    (r"the customer does not belong to this token", CustomerNotAllowed),
    (r"api request limit exceeded", QuotaExceeded),
    (r"daily request quota reached", QuotaExceeded),
    (r"request too large", RequestTooLarge),
    (r"payload exceeds the maximum size", RequestTooLarge),
    (rf"{_PARAM} is required", InvalidParameter),
    (rf"missing parameter:?\s*{_PARAM}", InvalidParameter),
    (rf"{_PARAM} is invalid", InvalidParameter),
    (rf"invalid value for (?:parameter\s+)?{_PARAM}", InvalidParameter),
    (r"item is not available", ItemNotAvailable),
    (r"requested quantity exceeds available boxes", ItemNotAvailable),
    (r"orders not found", EMPTY_RESULT),
    (r"no records found", EMPTY_RESULT),
)

# Envelope keys that name the case whatever the message says.
STRUCTURED_KEYS: dict[str, type[ApiError]] = {"availableBoxes": ItemNotAvailable}

# HTTP statuses that decide the exception whatever the body says (it may be a proxy's HTML).
HTTP_STATUS_TABLE: dict[int, type[ApiError]] = {
    401: AuthError,
    413: RequestTooLarge,
}

# A success body in a form of its own (komet.columnar), or None: decoded as any other answer.
Decode = Callable[[bytes], dict[str, Any] | None]

_COMPILED = tuple((re.compile(p, re.IGNORECASE), cls) for p, cls in MESSAGE_TABLE)


def _no_scrub(text: str) -> str:
    return text


def json_envelope(content: bytes) -> dict[str, Any] | None:
    """The body as a JSON object, or None. HTML (or anything not starting with `{`) is never parsed."""
    body = content.lstrip()
    if not body.startswith(b"{"):
        return None
    try:
        data = orjson.loads(body)  # C: 200 inventory pages of 250 KB each per full read
    except ValueError:  # orjson.JSONDecodeError is a ValueError (bad UTF-8 too)
        return None
    return data if isinstance(data, dict) else None


def error_for_message(
    method: str, message: str, envelope: Mapping[str, Any], http_status: int = 200
) -> ApiError | None:
    """The exception for a status-0 answer; None when the message means an empty result."""
    text = message.strip()
    head = f"Komet {method}: {text or 'failed (no message)'}"
    for key, keyed in STRUCTURED_KEYS.items():
        if envelope.get(key) is not None and keyed is ItemNotAvailable:
            return _not_available(head, envelope, method, http_status)
    for pattern, cls in _COMPILED:
        match = pattern.match(text)
        if not match:
            continue
        if cls is None:
            return None
        if cls is InvalidParameter:
            return InvalidParameter(
                head, param=match["param"], method=method, http_status=http_status
            )
        if cls is ItemNotAvailable:
            return _not_available(head, envelope, method, http_status)
        return cls(head, method=method, http_status=http_status)
    return ApiError(head, method=method, http_status=http_status)


def _not_available(
    head: str, envelope: Mapping[str, Any], method: str, http_status: int
) -> ItemNotAvailable:
    try:
        boxes = as_int(envelope.get("availableBoxes"), 0) or 0
    except ValueError:
        boxes = 0
    return ItemNotAvailable(
        f"{head} ({boxes} boxes available)",
        available_boxes=boxes,
        method=method,
        http_status=http_status,
    )


def read_answer(
    method: str,
    response: httpx.Response,
    *,
    write: bool,
    scrub: Callable[[str], str] = _no_scrub,
    decode: Decode | None = None,
) -> dict[str, Any]:
    """Komet's envelope for a usable answer (success, or an empty result); raise otherwise.

    `decode` may take a success answer's body in a form of its own (`komet.columnar`); what it
    gives None for is decoded by `json_envelope` and read by the rules below, as always."""
    code = response.status_code
    if code == 429:
        raise RateLimited(
            f"Komet {method}: HTTP 429, asked to slow down",
            retry_after=parse_retry_after(response.headers.get("retry-after")),
            method=method,
        )
    envelope = decode(response.content) if decode is not None and code == 200 else None
    if envelope is not None:
        return envelope
    envelope = json_envelope(response.content)
    lost = OutcomeUnknown if write else ServiceUnavailable
    if code >= 500:
        text = f"Komet {method}: HTTP {code} from the service"
        if write:
            raise OutcomeUnknown(text, method=method, http_status=code)
        wait = parse_retry_after(response.headers.get("retry-after"))
        raise ServiceUnavailable(text, wait, method=method, http_status=code)
    message = scrub(str(envelope.get("message") or "")) if envelope else ""
    if code in HTTP_STATUS_TABLE:
        cls = HTTP_STATUS_TABLE[code]
        raise cls(f"Komet {method}: {message or f'HTTP {code}'}", method=method, http_status=code)
    if envelope is None:
        # A 4xx page from a proxy means the request was refused; a 2xx/3xx one leaves a write's
        # outcome open.
        cls_: type[KometFtdOpsError] = ServiceUnavailable if code >= 400 or not write else lost
        raise cls_(
            f"Komet {method}: HTTP {code} with a body that is not Komet's JSON",
            method=method,
            http_status=code,
        )
    flag = status_flag(envelope.get("status"))
    if flag is True and code < 400:
        return envelope
    if flag is None and code < 400:
        raise lost(
            f"Komet {method}: answer has no usable 'status' field", method=method, http_status=code
        )
    error = error_for_message(method, message, envelope, code)
    if error is None:
        if write:
            raise NotFound(f"Komet {method}: {message}", method=method, http_status=code)
        return envelope
    raise error
