"""Where the state database is, and how the kit reaches it.

A target is a filesystem path (a SQLite file, the embedded default), `sqlite:///<path>`, or a
PostgreSQL URL (`postgresql+psycopg://user:password@host/db`; `postgresql://` and
`postgres://` mean the same, with psycopg 3). `parse_target` makes it a `Target`: a
`SqliteFile`, or SQLAlchemy's `URL` for PostgreSQL. The URL holds a password: `redact()` is
the only way it is ever printed, and errors from the driver pass through `scrub()` first.

SQLite is reached with the standard library's sqlite3 alone (state.store): a cycle opens the
store in two processes (the runner and the kernel) and SQLAlchemy's import is a quarter of a
second in each. SQLAlchemy is imported for PostgreSQL (its one engine per `Store`, below), for
a target given as URL text, for Alembic when a migration runs, and to raise a SQLite error as
SQLAlchemy's exception class, as PostgreSQL's are.

No pool and no pre-ping: a `Store` holds one connection for its life and never reconnects
behind its owner's back, as the PostgreSQL run lease (a session advisory lock) lives on that
connection. TCP keepalives make a dead server or a cut network show within about a minute.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from ..errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.engine import URL

SQLITE, POSTGRESQL = "sqlite", "postgresql"
PG_DRIVER = "postgresql+psycopg"
SQLITE_BUSY_TIMEOUT_S = 30  # as before: a writer waits this long for another's transaction
MEMORY = ":memory:"
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


@dataclass(frozen=True)
class SqliteFile:
    """A SQLite state database: its file, or `path` None for one in memory (tests)."""

    path: Path | None

    def __str__(self) -> str:
        return MEMORY if self.path is None else str(self.path)


Target: TypeAlias = "SqliteFile | URL"  # URL: PostgreSQL with psycopg 3


def parse_target(target: Path | str | Target) -> Target:
    """A state database target, checked. Bad input: one line, never the value (it may hold a
    password). Only URL text imports SQLAlchemy (to read it): a path never does."""
    if isinstance(target, SqliteFile):
        return target
    if isinstance(target, Path):
        return SqliteFile(target)
    if not isinstance(target, str):  # SQLAlchemy's URL
        target = target.render_as_string(hide_password=False)
    text = target.strip()
    if text == MEMORY:
        return SqliteFile(None)
    if "://" not in text:
        return SqliteFile(Path(text))
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(text)
    except (ArgumentError, ValueError):
        raise ConfigError(f"the state database URL is not a URL SQLAlchemy reads ({HOW})") from None
    backend = url.get_backend_name()
    if backend in ("postgresql", "postgres"):
        return url.set(drivername=PG_DRIVER)
    if backend == SQLITE and url.get_driver_name() in ("pysqlite", ""):
        if url.query:
            raise ConfigError(
                "the state database URL sets SQLite options (?...), which the kit sets itself: "
                "give sqlite:///<path> alone"
            )
        return SqliteFile(Path(url.database) if url.database not in (None, "", MEMORY) else None)
    raise ConfigError(
        f"the state database URL names {url.drivername!r}: the kit runs on SQLite or on "
        f"PostgreSQL with psycopg 3 ({HOW})"
    )


def backend_of(target: Target) -> str:
    return SQLITE if isinstance(target, SqliteFile) else POSTGRESQL


def sqlite_path(target: Target) -> Path | None:
    """The file of a SQLite target; None for an in-memory database (or PostgreSQL)."""
    return target.path if isinstance(target, SqliteFile) else None


def redact(target: Target) -> str:
    """The target as it may be printed: a URL's password as ***."""
    if isinstance(target, SqliteFile):
        return str(target)
    return target.render_as_string(hide_password=True)


def reveal(target: Target) -> str:
    """The target as text with its password (the secret scan looks for it); "" for SQLite."""
    return "" if isinstance(target, SqliteFile) else target.render_as_string(hide_password=False)


def scrub(message: str, target: Target) -> str:
    """A driver's message without the URL's password, should it ever quote it."""
    password = None if isinstance(target, SqliteFile) else target.password
    if password:
        message = message.replace(str(password), "***")
    return message


def create(url: URL) -> Engine:
    """PostgreSQL's engine, without a pool: each `Store` opens exactly one connection and keeps
    it."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    query = set(url.query)
    defaults = {k: v for k, v in PG_CONNECT_DEFAULTS.items() if k not in query}
    return create_engine(url, poolclass=NullPool, connect_args=defaults)


def connect_sqlite(path: Path | None) -> sqlite3.Connection:
    """The sqlite3 connection of a SQLite store, in autocommit mode (`isolation_level=None`):
    the Store emits BEGIN IMMEDIATE, SAVEPOINT and COMMIT itself. PRAGMAs are set by the Store
    after its integrity check. Shared by the order pipeline's threads under the Store's lock."""
    return sqlite3.connect(
        MEMORY if path is None else path,
        isolation_level=None,
        check_same_thread=False,
        timeout=SQLITE_BUSY_TIMEOUT_S,
    )
