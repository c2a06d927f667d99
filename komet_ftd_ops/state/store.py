"""The kit's state database: SQLite (embedded, the default) or PostgreSQL, one transaction
primitive, Alembic migrations.

Every state change that must survive a crash happens inside `Store.atomic()`, and is recorded
before the external call it guards. SQL here and in the accessor modules of `state/` is
portable (named `:placeholders`, rows read by column name): it runs unchanged on both backends.

A `Store` holds one connection for its life and never reconnects on its own: a lost connection
is an error its owner sees (the PostgreSQL run lease lives on that connection).

Threads (the order pipeline's workers, orders/pipeline.py): one writer at a time. The Store's
lock is held for the whole outermost `atomic()` block and every `query`, so a transaction, its
nested SAVEPOINTs and its reads are one thread's, and another thread's statements wait for its
commit. That is sound only while transactions stay short: no HTTP call is ever made while one
is open (`transaction_open_here()` says whether this thread holds one, in any store; the test
transports assert it on every call). The connection is used from whichever thread holds the
lock: sqlite3 is opened with check_same_thread=False, psycopg 3 connections may be shared.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import ConnectionFailed
from . import engine as engines
from . import integrity, schema

if TYPE_CHECKING:  # SQLAlchemy is imported for PostgreSQL only (see state.engine)
    from sqlalchemy import Connection, CursorResult, Engine, RowMapping
    from sqlalchemy.engine import URL


_here = threading.local()  # transactions this thread has open, over every Store


def transaction_open_here() -> bool:
    """True while the calling thread is inside a `Store.atomic()` block (of any store): no HTTP
    call may be made then (it would hold every other worker's writes for its latency)."""
    return getattr(_here, "depth", 0) > 0


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(ts: datetime | None = None) -> str:
    return (ts or utcnow()).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Rows(Protocol):
    """A statement's result: rows as read-only mappings (`row["status"]`), and `rowcount`."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class _ResultRows:
    """`Rows` of a SQLAlchemy result (PostgreSQL): `RowMapping`s."""

    def __init__(self, result: CursorResult[Any]) -> None:
        self.rowcount: int = result.rowcount
        self._rows = result.mappings() if result.returns_rows else None

    def fetchone(self) -> RowMapping | None:
        return None if self._rows is None else self._rows.fetchone()

    def fetchall(self) -> list[RowMapping]:
        return [] if self._rows is None else list(self._rows.fetchall())

    def __iter__(self) -> Iterator[RowMapping]:
        return iter(()) if self._rows is None else iter(self._rows)


def _dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
    """SQLite rows as dicts: by column name only, as PostgreSQL's `RowMapping`s read."""
    return dict(zip([column[0] for column in cursor.description], row, strict=True))


class _JoinedSqlite:
    """A Store's sqlite3 connection as SQLAlchemy is handed it for Alembic (a migration): every
    statement goes to it, inside the Store's open transaction, and commit, rollback and close
    do nothing, so the Store's `atomic()` alone ends the transaction and the connection."""

    def __init__(self, raw: sqlite3.Connection) -> None:
        self._raw = raw

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        pass

    def close(self) -> None:
        pass


class Tx(Protocol):
    """What `Store.atomic()` yields: statements run inside its transaction (or savepoint)."""

    backend: str  # "sqlite" or "postgresql"

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> Rows: ...

    def executemany(self, sql: str, params: Sequence[Mapping[str, Any]]) -> Rows: ...

    def copy_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """PostgreSQL only: rows into `table` with COPY (bulk writes: offers/feed.py)."""


WriteGuard = Callable[[Tx], None]


class _Tx:
    """The one `Tx` of a Store: the same object at every nesting depth.

    On SQLite a statement goes straight to the Store's sqlite3 connection (SQLAlchemy's
    execution layer costs several times what SQLite spends on a ledger statement, and an order
    takes hundreds of them); on PostgreSQL through SQLAlchemy's connection. The SQL is the same
    portable text on both backends; sqlite3 reads `:name` placeholders natively. SQLite's
    errors are raised as SQLAlchemy's (`IntegrityError`, `OperationalError`...), as
    PostgreSQL's are.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self.backend = store.backend
        self._sqlite: sqlite3.Connection | None = store.sqlite
        if self._sqlite is None:
            from sqlalchemy import text

            self._text = text
            self._conn: Connection = store.pg

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> Rows:
        if params is not None and not isinstance(params, Mapping):
            raise TypeError("tx.execute takes named :placeholders with a dict of parameters")
        if self._sqlite is not None:
            return self._on_sqlite(sql, dict(params or {}), many=False)
        with self._store.translating():
            return _ResultRows(self._conn.execute(self._text(sql), dict(params or {})))

    def executemany(self, sql: str, params: Sequence[Mapping[str, Any]]) -> Rows:
        rows = [dict(p) for p in params]
        if self._sqlite is not None:
            return self._on_sqlite(sql, rows, many=True)
        with self._store.translating():
            if not rows:  # SQLAlchemy would run the statement once without parameters
                return _ResultRows(self._conn.execute(self._text("SELECT 1 AS n WHERE 1 = 0")))
            return _ResultRows(self._conn.execute(self._text(sql), rows))

    def copy_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """PostgreSQL: psycopg's `cursor.copy` on this transaction's connection, several times
        faster than `executemany` for 100,000 rows (state/feeds.py writes a feed's snapshot)."""
        if self._sqlite is not None:
            raise TypeError("copy_rows is PostgreSQL's; SQLite takes one executemany")
        import psycopg
        from sqlalchemy.exc import DBAPIError

        driver = self._conn.connection.driver_connection
        sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        try:
            with driver.cursor() as cursor, cursor.copy(sql) as copy:  # type: ignore[union-attr]
                for row in rows:
                    copy.write_row(row)
        except psycopg.Error as exc:  # raised as SQLAlchemy's, as every other statement's
            raise DBAPIError.instance(sql, None, exc, psycopg.Error) from exc

    def _on_sqlite(self, sql: str, params: Any, *, many: bool) -> Rows:
        assert self._sqlite is not None
        cursor = self._sqlite.cursor()
        cursor.row_factory = _dict_row
        try:
            if many:
                cursor.executemany(sql, params)
            else:
                cursor.execute(sql, params)
        except sqlite3.Error as exc:
            raise as_sqlalchemy_error(sql, params, exc) from exc
        return cursor


def as_sqlalchemy_error(sql: str, params: Any, exc: sqlite3.Error) -> Exception:
    """A sqlite3 error as SQLAlchemy's exception for it (`IntegrityError`...), as PostgreSQL's
    errors are raised: one family of database errors for the kit on either backend."""
    from sqlalchemy.exc import DBAPIError

    return DBAPIError.instance(sql, params, exc, sqlite3.Error)


def named(sql: str, params: Sequence[Any] | Mapping[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """Old-style `?` + tuple (tests' ad-hoc reads) as `:p0, :p1...` + dict; a dict passes as is.

    A `?` inside a quoted string or identifier is left alone."""
    if params is None or isinstance(params, Mapping):
        return sql, dict(params or {})
    values = list(params)
    parts, n = [], 0
    for i, piece in enumerate(re.split(r"('(?:[^']|'')*'|\"[^\"]*\")", sql)):
        if i % 2:  # a quoted literal
            parts.append(piece)
            continue
        while "?" in piece:
            head, _, piece = piece.partition("?")
            parts.append(f"{head}:p{n}")
            n += 1
        parts.append(piece)
    if n != len(values):
        raise TypeError(f"{n} placeholders but {len(values)} parameters")
    return "".join(parts), {f"p{i}": v for i, v in enumerate(values)}


class Store:
    """The state database of a home: `Store(path)` (SQLite) or `Store(url)`.

    SQLite: WAL, synchronous=FULL, foreign keys on, BEGIN IMMEDIATE for each outermost
    transaction, migrated on open. A damaged file, or one emptied while the home has runs
    (`runs_dir`, by default the `runs` folder next to the file), is refused with `StateDamaged`
    (see `state.integrity`), never opened half-way or re-created empty.

    PostgreSQL: never migrated on open (`komet-ftd-ops db upgrade` does it); a database behind
    the code is refused with one line (`ConfigError`, exit 78). `upgrade=True` migrates on
    either backend, `upgrade=False` only checks on either (`check_revision=False`: not even
    that, for `db check`, which reads what the witnesses need from a file of any age).
    """

    def __init__(
        self,
        target: Path | str | engines.Target,
        *,
        runs_dir: Path | None = None,
        upgrade: bool | None = None,
        check_revision: bool = True,
    ) -> None:
        self.url = engines.parse_target(target)
        self.backend = engines.backend_of(self.url)
        self.path = engines.sqlite_path(self.url)
        existing = False
        if self.path is not None:
            found = integrity.before_open(self.path, runs_dir)
            if found is not None and not found.usable:
                raise integrity.refuse(found)
            existing = found is None  # a file with a SQLite header: check it before use
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()  # one writer: held for a whole transaction
        self._depth = 0
        self._owner: int | None = None  # the thread whose transaction is open
        self._guard: WriteGuard | None = None
        self.applied: list[str] = []  # revisions this open migrated (or stamped)
        # One connection: sqlite3's own on SQLite, SQLAlchemy's on PostgreSQL.
        self.sqlite: sqlite3.Connection | None = None
        self.engine: Engine | None = None
        self.connection: Connection | None = None
        if isinstance(self.url, engines.SqliteFile):
            self.sqlite = self._connect_sqlite(self.url)
        else:
            self.engine, self.connection = self._connect_pg(self.url)
        self._tx = _Tx(self)
        try:
            if self.sqlite is not None:
                self._open_sqlite(self.sqlite, existing)
            auto = self.backend == engines.SQLITE if upgrade is None else upgrade
            if auto:
                self.applied = self.migrate()
            elif check_revision:
                schema.refuse_if_behind(self._tx_read, self.backend, str(self))
        except BaseException as exc:
            self.close()
            orig = getattr(exc, "orig", None)  # SQLAlchemy's DBAPIError: the driver's error
            if type(orig) is sqlite3.DatabaseError:  # damage quick_check did not reach
                found = integrity.Finding(integrity.DAMAGED, self.path or Path(), str(orig))
                raise integrity.refuse(found) from None
            raise

    def _connect_sqlite(self, target: engines.SqliteFile) -> sqlite3.Connection:
        try:
            return engines.connect_sqlite(target.path)
        except sqlite3.Error as exc:
            raise ConnectionFailed(
                f"cannot connect to the state database at {self}: {str(exc).strip()}"
            ) from None

    def _connect_pg(self, url: URL) -> tuple[Engine, Connection]:
        from sqlalchemy import event
        from sqlalchemy.exc import DBAPIError

        engine = engines.create(url)
        self._connects = 0
        event.listen(engine, "connect", self._only_once)
        try:
            return engine, engine.connect()
        except DBAPIError as exc:
            engine.dispose()
            raise ConnectionFailed(
                f"cannot connect to the state database at {self}: "
                f"{engines.scrub(str(exc.orig).strip().splitlines()[0], url)}"
            ) from None

    @property
    def pg(self) -> Connection:
        """PostgreSQL's SQLAlchemy connection (a SQLite store has none)."""
        if self.connection is None:
            raise TypeError(f"{self} is SQLite: it has no SQLAlchemy connection")
        return self.connection

    def connection_in_transaction(self) -> bool:
        """Whether the connection itself has a transaction open: none may outlive `atomic()`
        or a read (a check for tests)."""
        if self.sqlite is not None:
            return self.sqlite.in_transaction
        return self.pg.in_transaction()

    @contextmanager
    def sqlalchemy_connection(self) -> Iterator[Connection]:
        """A SQLAlchemy connection on this store's, inside its open transaction if any: for
        Alembic (a migration) and schema inspection. PostgreSQL's own; on SQLite one over the
        store's sqlite3 connection, whose commit, rollback and close stay the Store's."""
        if self.sqlite is None:
            yield self.pg
            return
        from sqlalchemy import create_engine
        from sqlalchemy.pool import StaticPool

        joined = _JoinedSqlite(self.sqlite)
        engine = create_engine("sqlite://", creator=lambda: joined, poolclass=StaticPool)
        try:
            with engine.connect() as connection:
                yield connection
        finally:
            engine.dispose()

    def _only_once(self, dbapi_connection: Any, _record: Any) -> None:
        """No silent reconnect: SQLAlchemy would open a new connection after losing one, and
        whatever lived on the old one (a session lock, a transaction) would be gone unseen."""
        self._connects += 1
        if self._connects > 1:
            dbapi_connection.close()
            raise ConnectionFailed(self._lost_line())

    def _lost_line(self) -> str:
        return (
            f"the connection to the state database at {self} was lost; a store never "
            f"reconnects on its own (the next run opens a new one)"
        )

    @contextmanager
    def translating(self) -> Iterator[None]:
        """A lost connection becomes `ConnectionFailed` (exit 75), at this one boundary."""
        from sqlalchemy.exc import DBAPIError

        try:
            yield
        except DBAPIError as exc:
            if exc.connection_invalidated or self.pg.invalidated:
                raise ConnectionFailed(self._lost_line()) from exc
            raise

    def __repr__(self) -> str:
        return f"Store({str(self)!r})"

    def __str__(self) -> str:
        return str(self.path) if self.path is not None else engines.redact(self.url)

    # --- SQLite on open ---------------------------------------------------------------------

    def _open_sqlite(self, raw: sqlite3.Connection, existing: bool) -> None:
        try:
            problem = integrity.quick_check(raw) if existing else None
            if problem is None:
                integrity.use_wal(raw)
                raw.execute("PRAGMA synchronous=FULL")
                raw.execute("PRAGMA foreign_keys=ON")
        except sqlite3.OperationalError:
            raise  # locked, read-only, I/O: not damage
        except sqlite3.DatabaseError as exc:  # damage quick_check did not reach
            problem = str(exc)
        if problem is not None:
            found = integrity.Finding(integrity.DAMAGED, self.path or Path(":memory:"), problem)
            raise integrity.refuse(found) from None

    def backup_to(self, other: Store) -> None:
        """Copy this SQLite database over `other`'s (SQLite's online backup): test harnesses."""
        if self.sqlite is None or other.sqlite is None:
            raise TypeError("backup_to copies SQLite databases only")
        with self._lock, other._lock:
            self.sqlite.backup(other.sqlite)

    # --- life -------------------------------------------------------------------------------

    def close(self) -> None:
        if self.sqlite is not None:
            self.sqlite.close()
            return
        try:
            if self.connection is not None:
                self.connection.close()
        finally:
            if self.engine is not None:
                self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def set_write_guard(self, guard: WriteGuard | None) -> None:
        """`guard(tx)` runs at the start of every outermost transaction, inside it (the run
        lease re-checks itself there); what it raises rolls the transaction back."""
        self._guard = guard

    # --- transactions -----------------------------------------------------------------------

    @property
    def in_transaction(self) -> bool:
        """True while THIS thread is inside `atomic()` (another thread's transaction only makes
        this one's statements wait)."""
        return self._depth > 0 and self._owner == threading.get_ident()

    @contextmanager
    def atomic(self, *, durable: bool = True) -> Iterator[Tx]:
        """One transaction; commits on success, rolls back on error and re-raises.

        A nested call is a SAVEPOINT (sqlite-utils' shape): if the inner block fails, its own
        writes are rolled back and the error re-raised, so a caller that catches it keeps the
        outer transaction without the inner block's partial writes.

        `durable=False` (an outermost block only; the Komet call counts, state/calls.py): the
        commit is as atomic and ordered as any, and survives the process dying, but reaches the
        disk with the next durable commit instead of waiting for its own fsync (SQLite WAL with
        synchronous=NORMAL for it; PostgreSQL synchronous_commit off): only a power cut between
        the two could lose it.
        """
        with self._lock:
            _here.depth = getattr(_here, "depth", 0) + 1
            try:
                with self._transaction(durable or self._depth > 0) as tx:
                    yield tx
            finally:
                _here.depth -= 1

    @contextmanager
    def _transaction(self, durable: bool) -> Iterator[Tx]:
        """`atomic()` under the lock: a SAVEPOINT when nested, else BEGIN ... COMMIT."""
        if self.sqlite is not None:
            with self._sqlite_transaction(self.sqlite, durable):
                yield self._tx
            return
        if self._depth:
            savepoint = self.pg.begin_nested()
            self._depth += 1
            try:
                yield self._tx
            except BaseException:
                savepoint.rollback()
                raise
            else:
                savepoint.commit()
            finally:
                self._depth -= 1
            return
        self._end_read()
        transaction = self.pg.begin()
        self._depth, self._owner = 1, threading.get_ident()
        try:
            if not durable:
                self.pg.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
            if self._guard is not None:
                self._guard(self._tx)
            yield self._tx
        except BaseException:
            self._rollback(transaction)
            raise
        else:
            with self.translating():
                transaction.commit()
        finally:
            self._depth, self._owner = 0, None

    @contextmanager
    def _sqlite_transaction(self, raw: sqlite3.Connection, durable: bool) -> Iterator[None]:
        """SQLite's `atomic()`: BEGIN IMMEDIATE ... COMMIT, or a SAVEPOINT when nested, on the
        sqlite3 connection (autocommit mode: nothing is begun or committed behind the Store)."""
        if self._depth:
            with self._sqlite_savepoint(raw):
                yield
            return
        if not durable:
            raw.execute("PRAGMA synchronous=NORMAL")  # outside any transaction
        self._depth, self._owner = 1, threading.get_ident()
        try:
            # the write lock now, not at the first write: no deadlock between readers turning
            # writers, and a busy file waits here (timeout) instead of failing
            self._sqlite_statement(raw, "BEGIN IMMEDIATE")
            try:
                if self._guard is not None:
                    self._guard(self._tx)
                yield
            except BaseException:
                with suppress(sqlite3.OperationalError):  # the original error is the story
                    raw.rollback()  # nothing when SQLite rolled back on its own already
                raise
            # a transaction SQLite rolled back on its own, behind a caught error, fails here:
            # its writes are gone and the caller must know
            self._sqlite_statement(raw, "COMMIT")
        finally:
            self._depth, self._owner = 0, None
            if not durable:
                raw.execute("PRAGMA synchronous=FULL")

    @contextmanager
    def _sqlite_savepoint(self, raw: sqlite3.Connection) -> Iterator[None]:
        """A nested `atomic()` on SQLite: SAVEPOINT ... RELEASE, ROLLBACK TO on failure."""
        name = f"kfo_sp{self._depth}"
        self._sqlite_statement(raw, f"SAVEPOINT {name}")
        self._depth += 1
        try:
            yield
        except BaseException:
            if raw.in_transaction:  # else SQLite rolled it all back already
                self._sqlite_statement(raw, f"ROLLBACK TO {name}")
                self._sqlite_statement(raw, f"RELEASE {name}")
            raise
        else:
            self._sqlite_statement(raw, f"RELEASE {name}")
        finally:
            self._depth -= 1

    @staticmethod
    def _sqlite_statement(raw: sqlite3.Connection, sql: str) -> None:
        """A transaction-control statement on SQLite, its error as SQLAlchemy's."""
        try:
            raw.execute(sql)
        except sqlite3.Error as exc:
            raise as_sqlalchemy_error(sql, None, exc) from exc

    def _rollback(self, transaction: Any) -> None:
        if self.pg.invalidated:
            return  # nothing to roll back on a lost connection: the server did it
        transaction.rollback()  # a lost PostgreSQL connection: the original error is the story

    def _end_read(self) -> None:
        """End the implicit transaction a read outside `atomic()` began (SQLAlchemy autobegin,
        PostgreSQL; SQLite in autocommit mode ends a read with its statement)."""
        if self.sqlite is not None:
            return
        if self.pg.invalidated:
            raise ConnectionFailed(self._lost_line())
        if self.pg.in_transaction():
            self.pg.rollback()

    def _tx_read(self, sql: str, params: Mapping[str, Any] | None = None) -> list[RowMapping]:
        return self.query(sql, params)

    def query(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None
    ) -> list[RowMapping]:
        """Rows of a read, each a mapping by column name. Inside `atomic()` it reads in that
        transaction; outside it, in its own short one."""
        sql, values = named(sql, params)
        with self._lock:
            if self._depth:
                return self._tx.execute(sql, values).fetchall()
            try:
                return self._tx.execute(sql, values).fetchall()
            finally:
                self._end_read()

    def migrate(self) -> list[str]:
        """Bring the schema to the kit's head revision; the revisions applied (or stamped)."""
        with self.atomic() as tx:
            return schema.upgrade(self, tx)

    # --- small key/value state (feed sequence, cursors, last success) ---

    def get(self, scope: str, key: str, default: Any = None) -> Any:
        text = self.get_text(scope, key)
        return json.loads(text) if text is not None else default

    def put(self, scope: str, key: str, value: Any) -> None:
        self.put_text(scope, key, json.dumps(value))

    def get_text(self, scope: str, key: str) -> str | None:
        """The value's JSON text as stored, not decoded (None: no such key): the owner of a
        large value decodes it faster itself (state/holdback.py, with orjson)."""
        rows = self.query(
            "SELECT value FROM kv WHERE scope = :scope AND key = :key", {"scope": scope, "key": key}
        )
        return str(rows[0]["value"]) if rows else None

    def put_text(self, scope: str, key: str, document: str) -> None:
        """Store a value already encoded as JSON text, as it is (`put` encodes a value; given
        the text, it would encode it again as one JSON string, quotes escaped)."""
        with self.atomic() as tx:
            tx.execute(
                "INSERT INTO kv (scope, key, value, updated_at) "
                "VALUES (:scope, :key, :value, :updated_at) ON CONFLICT (scope, key) DO UPDATE "
                "SET value = excluded.value, updated_at = excluded.updated_at",
                {"scope": scope, "key": key, "value": document, "updated_at": iso()},
            )
