"""How the kit talks HTTP to FTD: config, retries, and the one place failures are translated.

Every request goes through `FtdHttp.call`, which retries through the kit's one `RetryPolicy`
(`config.retry`, shared with Komet: retryable errors only, the server's `Retry-After` honoured),
and `FtdHttp._send`, which makes a single attempt and turns whatever happened (httpx exception, status code, unusable body) into the
kit's one error tree (`komet_ftd_ops.errors`). Nothing else in `ftd/` catches httpx errors.

Why GET *and* POST are retried: every POST carries an `Idempotency-Key`, chosen once per logical
call and reused unchanged on every retry of that call, and FTD answers a replayed key with the
first answer. A retry after a lost answer therefore cannot create a second order acknowledgement
or feed. Callers who need the same guarantee across a process restart pass their own key (for
example one derived from the order id).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from ..errors import (
    ApiError,
    AuthError,
    ConfigError,
    Conflict,
    ConnectionFailed,
    InvalidParameter,
    NotFound,
    OutcomeUnknown,
    RateLimited,
    RequestTimeout,
    RequestTooLarge,
    ServiceUnavailable,
)
from ..http.retry import RetryPolicy, parse_retry_after
from ..http.tls import verifying_context
from ..settings.profiles import FTD_MAX_BODY_BYTES, Profile
from ..settings.secrets import Secret

log = logging.getLogger(__name__)

USER_AGENT = "komet-ftd-ops/0.1 (+ftd-client)"
JsonDict = dict[str, Any]
Sleep = Callable[[float], None]


@dataclass(frozen=True)
class FtdConfig:
    """Where FTD is and who we are there. The token is a `Secret`, so the repr shows `***`.

    `retry` is the one retry policy (the same setting names as Komet's); POSTs are retried
    too, safely, because every attempt of a call carries the same Idempotency-Key.
    `max_body_bytes` is FTD's request body limit: full feeds are split under it and a delta
    over it is refused before sending.
    """

    base_url: str
    supplier_id: str
    token: Secret
    timeout: float = 20.0
    retry: RetryPolicy = RetryPolicy()
    max_body_bytes: int = FTD_MAX_BODY_BYTES

    def __post_init__(self) -> None:
        # A plain string would print in tracebacks and reprs; wrap it rather than trust callers.
        if isinstance(self.token, str):
            object.__setattr__(self, "token", Secret(self.token))
        if not isinstance(self.token, Secret) or not self.token:
            raise ConfigError("FTD config: token must be a non-empty Secret.")
        base = str(self.base_url).strip().rstrip("/")
        if not base.startswith(("http://", "https://")):
            raise ConfigError(
                f"FTD config: base_url must start with http:// or https://, not {base!r}."
            )
        object.__setattr__(self, "base_url", base)
        if not str(self.supplier_id).strip():
            raise ConfigError("FTD config: supplier_id is empty.")
        if self.timeout <= 0:
            raise ConfigError("FTD config: timeout must be > 0.")
        if not isinstance(self.retry, RetryPolicy):
            raise ConfigError("FTD config: retry must be a RetryPolicy.")
        if not isinstance(self.max_body_bytes, int) or self.max_body_bytes < 1:
            raise ConfigError(
                f"FTD config: max_body_bytes must be a positive integer, not {self.max_body_bytes!r}."
            )

    @classmethod
    def from_profile(cls, profile: Profile, token: Secret, **overrides: Any) -> FtdConfig:
        """Build from a loaded profile and its already-resolved FTD token."""
        settings: dict[str, Any] = {"max_body_bytes": profile.ftd_max_body_bytes, **overrides}
        return cls(
            base_url=profile.ftd_base_url,
            supplier_id=profile.ftd_supplier_id,
            token=token,
            **settings,
        )

    @property
    def supplier_url(self) -> str:
        return f"{self.base_url}/v1/suppliers/{quote(self.supplier_id, safe='')}"


def dumps(body: Any) -> bytes:
    """The exact bytes sent: compact UTF-8 JSON, so size checks measure what goes on the wire.

    orjson (C): a full feed of 100,000 offers is measured offer by offer (`split_offers`), then
    serialised whole. Offers hold only ints and text (no float, so no NaN to refuse)."""
    return orjson.dumps(body)


def new_idempotency_key() -> str:
    return str(uuid.uuid4())


def _error_body(response: httpx.Response) -> tuple[JsonDict | None, str, str]:
    """(parsed JSON or None, error code, error message) from an error response."""
    try:
        data = response.json()
    except ValueError:
        return None, "", ""
    if not isinstance(data, dict):
        return None, "", ""
    err = data.get("error")
    if isinstance(err, dict):
        return data, str(err.get("code") or ""), str(err.get("message") or "")
    return data, "", ""


def _expected_base(data: JsonDict | None) -> int | None:
    """The spec puts `expected_base` next to `error`; accept it inside `error` too."""
    if not data:
        return None
    err = data.get("error")
    raw = data.get("expected_base")
    if raw is None and isinstance(err, dict):
        raw = err.get("expected_base")
    try:
        return None if raw is None else int(raw)
    except (TypeError, ValueError):
        return None


class FtdHttp:
    """One FTD HTTP session: auth header, JSON in and out, retries with backoff.

    `sleep` is injectable so tests can record waits instead of waiting.
    """

    def __init__(
        self,
        config: FtdConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.config = config
        self._sleep = sleep
        # The token is added per request in `_send`, not stored in the client's default headers.
        self._client = httpx.Client(
            base_url=config.supplier_url,
            transport=transport,
            timeout=config.timeout,
            headers={"Accept": "application/json", "User-Agent": USER_AGENT},
            verify=verifying_context(),
        )

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return (
            f"FtdHttp(base_url={self.config.base_url!r}, supplier_id={self.config.supplier_id!r})"
        )

    def call(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        content: bytes | None = None,
        idempotency_key: str | None = None,
    ) -> JsonDict:
        """One logical call: retried on retryable failures, with one Idempotency-Key throughout.

        `content` lets a caller send bytes it already serialised (and measured) with `dumps`.
        """
        method = method.upper()
        if method == "POST":
            if content is None:
                content = dumps({} if body is None else body)
            idempotency_key = idempotency_key or new_idempotency_key()
        elif body is not None or content is not None:
            raise ValueError(f"{method} requests carry no body")
        clean_params = {k: v for k, v in (params or {}).items() if v is not None}

        def attempt() -> JsonDict:
            return self._send(operation, method, path, clean_params, content, idempotency_key)

        return self.config.retry.call(attempt, sleep=self._sleep)

    def _send(
        self,
        operation: str,
        method: str,
        path: str,
        params: Mapping[str, Any],
        content: bytes | None,
        idempotency_key: str | None,
    ) -> JsonDict:
        """Make exactly one request; return its JSON object or raise from the kit's error tree.

        The only function in `ftd/` that touches httpx errors and status codes.
        """
        where = f"FTD {operation} ({method} {path})"
        headers = {"Authorization": f"Bearer {self.config.token.reveal()}"}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        if content is not None:
            headers["Content-Type"] = "application/json"
        details: dict[str, Any] = {"operation": operation}
        if idempotency_key is not None:
            details["idempotency_key"] = idempotency_key
        try:
            response = self._client.request(
                method, path, params=params or None, content=content, headers=headers
            )
        except httpx.TimeoutException as exc:
            hint = "; replay with the same Idempotency-Key" if method == "POST" else ""
            raise RequestTimeout(
                f"{where}: no answer within {self.config.timeout:g}s ({type(exc).__name__}){hint}.",
                **details,
            ) from None
        except httpx.ConnectError as exc:
            raise ConnectionFailed(
                f"{where}: could not connect to {self.config.base_url} ({type(exc).__name__}).",
                **details,
            ) from None
        except httpx.TransportError as exc:
            # Reset or dropped after sending: for a write the outcome is unknown.
            if method == "POST":
                raise OutcomeUnknown(
                    f"{where}: connection lost after sending ({type(exc).__name__}); the write "
                    f"may have happened; replay with the same Idempotency-Key.",
                    **details,
                ) from None
            raise ServiceUnavailable(
                f"{where}: connection lost ({type(exc).__name__}).", **details
            ) from None
        return self._translate(where, operation, response, details)

    def _translate(
        self, where: str, operation: str, response: httpx.Response, details: dict[str, Any]
    ) -> JsonDict:
        status = response.status_code
        details["status"] = status
        if 200 <= status < 300:
            if status == 204 or not response.content:
                return {}
            try:
                data = response.json()
            except ValueError:
                data = None
            if not isinstance(data, dict):
                ctype = response.headers.get("content-type", "?")
                raise ServiceUnavailable(
                    f"{where}: HTTP {status} but the body is not a JSON object ({ctype}).",
                    **details,
                )
            return data

        data, code, message = _error_body(response)
        if data is None:
            ctype = response.headers.get("content-type", "?").split(";")[0]
            said = f"HTTP {status} with a non-JSON body ({ctype})"
        else:
            said = f"HTTP {status} {code or 'error'}: {message or response.reason_phrase}"
        text = f"{where}: {said}"
        if code:
            details["code"] = code

        wait = parse_retry_after(response.headers.get("Retry-After"))
        if status >= 500 or (data is None and status not in (401, 403, 404, 413, 429)):
            raise ServiceUnavailable(text, wait, **details)
        if status == 429:
            said_wait = "no Retry-After" if wait is None else f"Retry-After {wait:g}s"
            raise RateLimited(f"{text} ({said_wait})", wait, **details)
        if status in (401, 403):
            raise AuthError(
                f"{text}. Check the FTD token and supplier id.", method=operation, **details
            )
        if status == 404:
            raise NotFound(text, method=operation, **details)
        if status == 409:
            raise Conflict(text, expected_base=_expected_base(data), method=operation, **details)
        if status == 413:
            raise RequestTooLarge(text, method=operation, **details)
        if status in (400, 422):
            err = (data or {}).get("error")
            param = str(err.get("param") or "") if isinstance(err, dict) else ""
            raise InvalidParameter(text, param=param, method=operation, **details)
        raise ApiError(text, method=operation, **details)
