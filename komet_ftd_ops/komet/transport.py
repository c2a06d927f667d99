"""How a Komet call goes on the wire: config, token placement, size check, timeouts, retries.

`KometTransport._call` is the one function that sends a call to Komet. Everything that can go
wrong on the way (network errors, HTTP statuses, Komet's status-0 messages) is turned into the
kit's exception tree there, so call sites never wrap calls in `try/except` of their own.

Retries: reads only, through the kit's one `RetryPolicy` (`config.retry`, shared with FTD),
which retries only errors whose class says retrying can help (`retryable`: transport trouble,
429) and honours the server's `Retry-After`. Writes are never retried: Komet has no idempotency
key, and a retried `web-order-item.add` can reserve boxes twice. A write whose answer was lost
raises `OutcomeUnknown`: the caller reads the order back before deciding to send it again.

Counting: Komet's daily quota is spent by every attempt that reaches the wire, so each one is
counted in memory as it is sent and handed to `on_call` (the store's `CallCounter`) once the
call is over, answer or error. A count that cannot be saved is never dropped quietly: it stays
pending for the next call and the call raises `StateError`, so the run fails; one the run's
lease forbids (`LeaseLost`: another machine may hold the profile) stops the run for the next
cycle (exit 75), as every write the lease forbids does.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import httpx

from ..errors import (
    ConfigError,
    ConnectionFailed,
    KometFtdOpsError,
    LeaseLost,
    OutcomeUnknown,
    RequestTimeout,
    RequestTooLarge,
    ServiceUnavailable,
    StateError,
    TransportError,
)
from ..http.retry import RetryPolicy
from ..http.tls import verifying_context
from ..settings.profiles import Profile
from ..settings.secrets import Secret
from .errors import Decode, read_answer
from .models import komet_timestamp

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 65_536  # [doc] request body at most 64 KB
# [assumed] the most rows an inventory.list page serves: Komet documents no cap (default 30).
# The profile's `max_rows` switch (what `probe` observed) sets it; 500 is the hardest reading.
MAX_PAGE_SIZE = 500
SALES_CHANNELS = ("WEB_APP", "MOBILE_APP", "K2K", "ECOMMERCE_LITE")
TOKEN_PARAM = "authenticationToken"
HEADER_FAMILY_PREFIXES = ("ecommerce/", "web-order")  # token in headers; all others: parameter
POST_READS = frozenset({"invoice.pdf.get"})  # [doc] reads sent as POST (token in the JSON body)

Hook = Callable[[str], None]


def uses_token_headers(method: str) -> bool:
    """E-commerce and web-order methods take the token in headers; classic ones as a parameter."""
    return method.startswith(HEADER_FAMILY_PREFIXES)


@dataclass(frozen=True, repr=False)
class KometConfig:
    """Where Komet is and how to talk to it. The token prints as *** in every repr."""

    base_url: str
    company_id: str
    token: Secret
    timeout: float = 20.0
    retry: RetryPolicy = RetryPolicy()  # reads only: writes are sent once
    page_size: int = MAX_PAGE_SIZE
    sales_channel: str | None = None
    read_concurrency: int = 4  # inventory pages read at once

    def __post_init__(self) -> None:
        token = self.token
        if isinstance(token, str):  # accept a plain string, but never keep it unmasked
            token = Secret(token)
        if not isinstance(token, Secret) or not token:
            raise ConfigError("KometConfig.token must be a non-empty Secret.")
        base = str(self.base_url).strip()
        if not base.startswith(("http://", "https://")):
            raise ConfigError(f"Komet base_url must start with http:// or https://, not {base!r}.")
        company = str(self.company_id).strip()
        if not company:
            raise ConfigError("KometConfig.company_id (X-ACCOUNT) is required.")
        if self.timeout <= 0:
            raise ConfigError("KometConfig.timeout must be > 0.")
        if not isinstance(self.retry, RetryPolicy):
            raise ConfigError("KometConfig.retry must be a RetryPolicy.")
        if self.page_size < 1:
            raise ConfigError("page_size must be at least 1.")
        if self.sales_channel is not None and self.sales_channel not in SALES_CHANNELS:
            raise ConfigError(f"sales_channel must be one of {', '.join(SALES_CHANNELS)}.")
        object.__setattr__(self, "token", token)
        object.__setattr__(self, "base_url", base.rstrip("/") + "/")
        object.__setattr__(self, "company_id", company)

    def __repr__(self) -> str:
        return (
            f"KometConfig(base_url={self.base_url!r}, company_id={self.company_id!r}, "
            f"token=Secret('***'), timeout={self.timeout!r}, retry={self.retry!r}, "
            f"page_size={self.page_size!r}, "
            f"sales_channel={self.sales_channel!r})"
        )

    @property
    def rows_per_page(self) -> int:
        return self.page_size

    @classmethod
    def from_profile(cls, profile: Profile, token: Secret, **overrides: Any) -> KometConfig:
        """The config for a profile; the token is resolved by the caller (config.resolve_secret)."""
        values: dict[str, Any] = {
            "base_url": profile.komet_base_url,
            "company_id": profile.komet_company_id,
            "token": token,
            "timeout": profile.timeout_seconds,
            "page_size": profile.komet_page_rows,
        }
        values.update(overrides)
        return cls(**values)


class _RedactQueryToken(logging.Filter):
    """httpx logs every request URL at INFO; classic GET URLs carry the token in the query."""

    pattern = re.compile(r"(authenticationToken=)[^&\s\"'>]*", re.IGNORECASE)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a malformed record is the logger's problem, not ours
            return True
        if TOKEN_PARAM.lower() in text.lower():
            record.msg, record.args = self.pattern.sub(r"\1***", text), ()
        return True


def _install_log_redaction() -> None:
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, _RedactQueryToken) for f in logger.filters):
        logger.addFilter(_RedactQueryToken())


def _query_value(value: Any) -> Any:
    """URL parameter text. Booleans are 1/0, as Komet writes its own flags (`active`)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, datetime):
        return komet_timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)  # shortest repr: Decimal("12.35") goes out as 12.35
    if isinstance(value, datetime):
        return komet_timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot send a {type(value).__name__} to Komet")


def _never_sent(exc: httpx.RequestError) -> bool:
    """Failures that happen before any byte of the request reaches the server."""
    return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


def _network_error(
    method: str, exc: httpx.RequestError, *, write: bool, timeout: float
) -> TransportError:
    """An httpx failure as the kit's exception. Only the class name of the httpx error is kept:
    its text and its request can carry the URL, and classic GET URLs carry the token."""
    kind = type(exc).__name__
    if _never_sent(exc) or isinstance(exc, httpx.ProxyError):
        return ConnectionFailed(
            f"Komet {method}: could not connect ({kind}); the request was not sent", method=method
        )
    if write:
        return OutcomeUnknown(
            f"Komet {method}: the request was sent but its answer was lost ({kind}); "
            f"read the order back before sending it again",
            method=method,
        )
    if isinstance(exc, httpx.TimeoutException):
        return RequestTimeout(
            f"Komet {method}: no answer within {timeout:g}s ({kind})", method=method
        )
    return ServiceUnavailable(
        f"Komet {method}: the connection failed mid-call ({kind})", method=method
    )


class KometTransport:
    """One `httpx.Client`, and the one function that sends a Komet call (`_call`)."""

    def __init__(
        self,
        config: KometConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        on_call: Hook | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self._on_call = on_call
        self._sleep = sleep
        # Attempts sent but not yet saved by `on_call`; shared by the inventory reader threads.
        self._uncounted: list[str] = []
        self._uncounted_lock = threading.Lock()
        self._http = httpx.Client(
            base_url=config.base_url,
            timeout=httpx.Timeout(config.timeout),
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": "komet-ftd-ops"},
            follow_redirects=False,
            verify=verifying_context(),
        )
        _install_log_redaction()

    def __repr__(self) -> str:
        return f"KometTransport(base_url={self.config.base_url!r}, company_id={self.config.company_id!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> KometTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _scrub(self, text: str) -> str:
        """Komet's own messages could echo a parameter back; never let the token through."""
        return text.replace(self.config.token.reveal(), "***")

    def _request(self, method: str, params: Mapping[str, Any], *, write: bool) -> httpx.Request:
        payload = {k: v for k, v in params.items() if v is not None}
        headers: dict[str, str] = {}
        token = self.config.token.reveal()
        if uses_token_headers(method):
            headers[TOKEN_PARAM] = token
            headers["X-ACCOUNT"] = self.config.company_id
            if self.config.sales_channel:
                headers["X-SALES-CHANNEL"] = self.config.sales_channel
        else:
            payload[TOKEN_PARAM] = token
        if not write and method not in POST_READS:
            query = {k: _query_value(v) for k, v in payload.items()}
            return self._http.build_request("GET", method, params=query, headers=headers)
        body = json.dumps(payload, default=_json_default, separators=(",", ":"), ensure_ascii=False)
        content = body.encode("utf-8")
        if len(content) > MAX_BODY_BYTES:
            raise RequestTooLarge(
                f"Komet {method}: the body is {len(content):,} bytes, over Komet's limit of "
                f"{MAX_BODY_BYTES:,}; nothing was sent",
                method=method,
                size=len(content),
            )
        headers["Content-Type"] = "application/json"
        return self._http.build_request("POST", method, content=content, headers=headers)

    def _count(self, method: str) -> None:
        """Note one attempt that reached Komet; saved by `_save_counts` when the call is over."""
        if self._on_call is not None:
            with self._uncounted_lock:
                self._uncounted.append(method)

    def _save_counts(
        self,
        method: str,
        failure: KometFtdOpsError | None = None,
        answer: dict[str, Any] | None = None,
    ) -> None:
        """Hand every pending count to `on_call`. One that cannot be saved stays pending (the
        next call tries again) and fails this call loudly: a quota check that believes fewer
        calls were made could spend calls the day does not have. The StateError keeps Komet's
        `answer` (details["answer"]) so a caller can still see what Komet did."""
        if self._on_call is None:
            return
        with self._uncounted_lock:
            try:
                while self._uncounted:
                    self._on_call(self._uncounted[0])
                    self._uncounted.pop(0)
            except LeaseLost as exc:
                # Not a store that forgets: another machine may hold the profile now, so this
                # run stops as its write guard says (exit 75) and the calls in flight (one per
                # thread at most) go uncounted with it, inside the kit's share of the quota.
                raise LeaseLost(
                    f"Komet {method}: {exc}; {len(self._uncounted)} Komet call(s) made but "
                    "not counted",
                    method=method,
                    uncounted=len(self._uncounted),
                    answer=answer,
                ) from exc
            except Exception as exc:
                after = "" if failure is None else f"; the call itself failed: {failure}"
                raise StateError(
                    f"Komet {method}: the call was made but {len(self._uncounted)} Komet "
                    f"call(s) could not be counted ({type(exc).__name__}: "
                    f"{self._scrub(str(exc))}); stopping so the daily quota is not overspent"
                    f"{after}",
                    method=method,
                    uncounted=len(self._uncounted),
                    answer=answer,
                ) from exc

    def _attempt(
        self, method: str, request: httpx.Request, *, write: bool, decode: Decode | None
    ) -> dict[str, Any]:
        """Send the request once; Komet's envelope, or the kit's exception for what went wrong.

        An attempt is counted once it reached the wire (a failure to connect is not: Komet
        never saw it)."""
        try:
            response = self._http.send(request)
        except httpx.RequestError as exc:
            if not _never_sent(exc):
                self._count(method)
            timeout = self.config.timeout
            raise _network_error(method, exc, write=write, timeout=timeout) from None
        self._count(method)
        return read_answer(method, response, write=write, scrub=self._scrub, decode=decode)

    def _call(
        self, method: str, params: Mapping[str, Any], *, write: bool, decode: Decode | None = None
    ) -> dict[str, Any]:
        """Send one Komet call: GET for reads, POST JSON for writes. Returns Komet's envelope
        (a success body `decode` takes in its own form: `read_answer`).

        Reads go through `config.retry`; writes are sent exactly once. The counts are saved
        after the call, whatever its outcome, and before its answer or error is handed back.
        """
        request = self._request(method, params, write=write)  # may raise RequestTooLarge

        def attempt() -> dict[str, Any]:
            return self._attempt(method, request, write=write, decode=decode)

        try:
            envelope = attempt() if write else self.config.retry.call(attempt, sleep=self._sleep)
        except KometFtdOpsError as exc:
            self._save_counts(method, exc)
            raise
        except BaseException:
            # Ctrl-C during a Retry-After wait, or a bug: those calls were still spent. Save
            # them, but never let a counting failure hide the interrupt or the bug itself.
            try:
                self._save_counts(method)
            except StateError:
                log.exception("Komet %s: calls not counted while stopping", method)
            raise
        self._save_counts(method, answer=envelope)
        return envelope
