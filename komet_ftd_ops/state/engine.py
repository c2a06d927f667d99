"""Where the state database is, and the one SQLAlchemy engine per `Store` that reaches it.

A target is a filesystem path (a SQLite file, the embedded default), `sqlite:///<path>`, or a
PostgreSQL URL (`postgresql+psycopg://user:password@host/db`; `postgresql://` and
`postgres://` mean the same, with psycopg 3). The URL holds a password: `redact()` is the only
way it is ever printed, and errors from the driver pass through `scrub()` first.

No pool and no pre-ping: a `Store` holds one connection for its life and never reconnects
behind its owner's back, as the PostgreSQL run lease (a session advisory lock) lives on that
connection. TCP keepalives make a dead server or a cut network show within about a minute.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.engine import URL

# SQLAlchemy is imported where a store is opened, not with this module: the CLI imports the
# store's module for its types, and `--help` must not pay for SQLAlchemy.

SQLITE, POSTGRESQL = "sqlite", "postgresql"
PG_DRIVER = "postgresql+psycopg"
SQLITE_BUSY_TIMEOUT_S = 30  # as before: a writer waits this long for another's transaction
# libpq settings, unless the URL sets them: a dead peer is noticed in ~60 s, not hours.
PG_CONNECT_DEFAULTS: dict[str, Any] = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "application_name": "komet-ftd-ops",
}
HOW = "a path, sqlite:///<path> or postgresql+psycopg://user:password@host:port/database"


def parse_target(target: Path | str | URL) -> URL:
    """The SQLAlchemy URL of a state database target. Bad input: one line, never the value
    (it may hold a password)."""
    from sqlalchemy.engine import URL, make_url
    from sqlalchemy.exc import ArgumentError

    if isinstance(target, URL):
        target = target.render_as_string(hide_password=False)
    if isinstance(target, Path):
        return URL.create("sqlite", database=str(target))
    text = str(target).strip()
    if text == ":memory:":
        return URL.create("sqlite")
    if "://" not in text:
        return URL.create("sqlite", database=text)
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):
        raise ConfigError(f"the state database URL is not a URL SQLAlchemy reads ({HOW})") from None
    backend = url.get_backend_name()
    if backend in ("postgresql", "postgres"):
        return url.set(drivername=PG_DRIVER)
    if backend == SQLITE and url.get_driver_name() in ("pysqlite", ""):
        return url.set(drivername="sqlite")
    raise ConfigError(
        f"the state database URL names {url.drivername!r}: the kit runs on SQLite or on "
        f"PostgreSQL with psycopg 3 ({HOW})"
    )


def backend_of(url: URL) -> str:
    return POSTGRESQL if url.get_backend_name() == POSTGRESQL else SQLITE


def sqlite_path(url: URL) -> Path | None:
    """The file of a SQLite URL; None for an in-memory database (or PostgreSQL)."""
    if backend_of(url) != SQLITE or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)  # type: ignore[arg-type]


def redact(url: URL) -> str:
    """The URL as it may be printed: password as ***."""
    return url.render_as_string(hide_password=True)


def scrub(message: str, url: URL) -> str:
    """A driver's message without the URL's password, should it ever quote it."""
    password = url.password
    if password:
        message = message.replace(str(password), "***")
    return message


def create(url: URL) -> Engine:
    """An engine without a pool: each `Store` opens exactly one connection and keeps it."""
    from sqlalchemy import create_engine, event
    from sqlalchemy.pool import NullPool

    if backend_of(url) == POSTGRESQL:
        query = set(url.query)
        defaults = {k: v for k, v in PG_CONNECT_DEFAULTS.items() if k not in query}
        return create_engine(url, poolclass=NullPool, connect_args=defaults)
    engine = create_engine(
        url,
        poolclass=NullPool,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S},
    )
    # The pysqlite recipe (SQLAlchemy docs, "Serializable isolation / Savepoints"): the driver's
    # own transaction handling off, so the Store emits BEGIN IMMEDIATE itself and SAVEPOINTs
    # work; PRAGMAs are set by the Store after its integrity check.
    event.listen(engine, "connect", _sqlite_autocommit)
    return engine


def _sqlite_autocommit(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
