"""One exception tree for the whole kit.

    KometFtdOpsError                 root; every error the kit raises on purpose
    ├── ConfigError                  profile, secret or setup problem: a person must act
    ├── DataError                    input that cannot be used as it is (bad file, bad rows)
    ├── StateError                   the kit's state database could not record something it must
    │                                (a Komet call's count): the run stops rather than forget
    │   ├── StateDamaged             the state database is damaged, or emptied while the home
    │   │                            has runs: refused on open; restore it (`db check` says more)
    │   └── StateOutdated            the state database is older than its home (newer run
    │                                notebooks, or FTD's feed sequence moved): refused before a
    │                                run; reconcile, then `db accept-restore`
    ├── TransportError               the call did not get a usable answer; retrying can help
    │   ├── ServiceUnavailable       5xx, an HTML error page from a proxy, a body that is not JSON
    │   │                            (`retry_after` when a 503 said how long to wait)
    │   ├── RequestTimeout           no answer in time
    │   ├── ConnectionFailed         could not connect: the request was never sent
    │   └── OutcomeUnknown           a write was sent but its answer was lost (timeout, reset,
    │                                dropped connection): read back before sending it again
    ├── RateLimited                  the service asked us to slow down (`retry_after` seconds,
    │                                None when it did not say how long)
    ├── LeaseLost                    the run's lease on the PostgreSQL state database is gone
    │                                (or could not be reached): nothing written; the next cycle
    │                                tries again (`state.lease`)
    ├── DeadlineExceeded             the whole run took longer than its deadline
    ├── FilesystemError              the kit's files could not be written (read-only runs/, full
    │                                disk): a person must make room or fix the mount
    └── ApiError                     the service understood the call and said no
        ├── AuthError                token missing, unknown or sent the wrong way
        ├── MethodNotAllowed         the token's method list lacks this method
        ├── CustomerNotAllowed       a Customer token used for another customer
        ├── QuotaExceeded            Komet's daily request limit is spent
        ├── RequestTooLarge          body over the service's limit (checked before sending)
        ├── InvalidParameter         a parameter is missing or invalid (`param`)
        ├── ItemNotAvailable         not enough boxes (`available_boxes`)
        ├── NotFound                 the resource does not exist
        └── Conflict                 FTD 409: idempotency key reuse, or a delta on the wrong base

Each class says whether retrying can help (`retryable`) and which failure class it belongs to
(`failure_class`), which the runner turns into an exit code.
"""

from __future__ import annotations

# Failure classes, one exit code each (see komet_ftd_ops.runs.runner).
UPSTREAM = "upstream"  # network or service trouble; the next cycle will likely succeed
NEEDS_PERSON = "needs_person"  # auth or configuration; retrying will not help
BAD_DATA = "bad_data"  # input data that cannot be used
DEADLINE = "deadline"  # the run took too long
FILESYSTEM = "filesystem"  # a file could not be written: read-only folder, full disk


class KometFtdOpsError(Exception):
    """Root of every error the kit raises on purpose."""

    retryable: bool = False
    failure_class: str = NEEDS_PERSON

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message


class ConfigError(KometFtdOpsError):
    """A profile, secret or setup problem that a person has to fix."""


class DataError(KometFtdOpsError):
    """Input that cannot be used as it is."""

    failure_class = BAD_DATA


class StateError(KometFtdOpsError):
    """The state database could not record something the kit must not forget. Not retryable:
    the run stops, so a person sees it, instead of going on with a wrong count or ledger."""


class StateDamaged(StateError):
    """The state database is not usable: not a SQLite file, truncated, failing SQLite's own
    check, or empty (or gone) while the home has runs. Never retryable and never re-created
    silently: a new database would forget the run history and the order ledger."""


class StateOutdated(StateError):
    """The state database is older than its home: run notebooks newer than its last recorded
    run, or FTD's feed sequence moved without it (a restored older copy, or a second home).
    Never retryable: a run on it could create orders in Komet a second time."""


class TransportError(KometFtdOpsError):
    """The call did not get a usable answer. Retrying can help."""

    retryable = True
    failure_class = UPSTREAM


class ServiceUnavailable(TransportError):
    """5xx, an HTML error page, or a body that is not the service's JSON.

    `retry_after`: the seconds a `Retry-After` header asked for, or None (no hint given).
    """

    def __init__(self, message: str, retry_after: float | None = None, **details: object) -> None:
        super().__init__(message, **details)
        self.retry_after = retry_after


class RequestTimeout(TransportError):
    """No answer in time."""


class ConnectionFailed(TransportError):
    """The connection could not be made: the request was never sent."""


class OutcomeUnknown(TransportError):
    """A write was sent and its answer was lost. Read back before sending it again."""


class RateLimited(KometFtdOpsError):
    """The service asked us to slow down; `retry_after` is its wait in seconds, or None."""

    retryable = True
    failure_class = UPSTREAM

    def __init__(self, message: str, retry_after: float | None = None, **details: object) -> None:
        super().__init__(message, **details)
        self.retry_after = retry_after


class LeaseLost(KometFtdOpsError):
    """The run's lease on the PostgreSQL state database is no longer held by its runner, or the
    database could not be reached to take it: the write it guards did not happen. Retryable: the
    next cycle takes the lease afresh (or finds another machine's run holding it)."""

    retryable = True
    failure_class = UPSTREAM


class DeadlineExceeded(KometFtdOpsError):
    """The whole run took longer than its deadline."""

    failure_class = DEADLINE


class FilesystemError(KometFtdOpsError):
    """A file the kit must write could not be written (read-only, no space left, no
    permission). Not retryable: the next cycle would fail the same way until a person acts."""

    failure_class = FILESYSTEM


class ApiError(KometFtdOpsError):
    """The service understood the call and refused it."""

    def __init__(self, message: str, *, method: str = "", **details: object) -> None:
        super().__init__(message, **details)
        self.method = method


class AuthError(ApiError):
    """Token missing, unknown, or sent the wrong way; or X-ACCOUNT wrong."""


class MethodNotAllowed(ApiError):
    """The token's method list does not allow this method."""


class CustomerNotAllowed(ApiError):
    """A Customer token used with another customer's id."""


class QuotaExceeded(ApiError):
    """Komet's daily request limit is spent. Calls work again tomorrow (GMT)."""

    failure_class = UPSTREAM


class RequestTooLarge(ApiError):
    """The body is over the service's limit; refused before sending."""

    failure_class = BAD_DATA


class InvalidParameter(ApiError):
    """A parameter is missing or invalid."""

    failure_class = BAD_DATA

    def __init__(
        self, message: str, *, param: str = "", method: str = "", **details: object
    ) -> None:
        super().__init__(message, method=method, **details)
        self.param = param


class ItemNotAvailable(ApiError):
    """Komet has fewer boxes than asked for."""

    failure_class = BAD_DATA

    def __init__(
        self, message: str, *, available_boxes: int = 0, method: str = "", **details: object
    ) -> None:
        super().__init__(message, method=method, **details)
        self.available_boxes = available_boxes


class NotFound(ApiError):
    """The resource does not exist."""

    failure_class = BAD_DATA


class Conflict(ApiError):
    """FTD 409: an idempotency key reused with another body, or a delta on the wrong base."""

    failure_class = UPSTREAM

    def __init__(
        self, message: str, *, expected_base: int | None = None, method: str = "", **details: object
    ) -> None:
        super().__init__(message, method=method, **details)
        self.expected_base = expected_base
