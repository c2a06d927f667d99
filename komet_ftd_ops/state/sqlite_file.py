"""A plain SQLite file with `?` SQL and its own named migrations: the sandbox twin's database.

This is the kit's state store as it was before PostgreSQL (issue 13), kept for the twin, whose
database is SQLite only and never shared: sqlite3 directly, `sqlite3.Row` rows, migrations
given by the caller (`sandbox/server.py` TWIN_MIGRATIONS). The kit's own state lives in
`state.store.Store` (SQLAlchemy, SQLite or PostgreSQL). Production code never uses this class.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from . import integrity
from .migrations import legacy_statements as _statements
from .store import iso


class SQLiteFile:
    """A SQLite file with WAL, its own migrations applied on open, and `atomic()` for every write.

    A damaged file, or one emptied while the home has runs (`runs_dir`, by default the `runs`
    folder next to the file), is refused with `StateDamaged` (see `state.integrity`), never
    opened half-way or re-created empty.
    """

    def __init__(
        self,
        path: Path | str,
        migrations: list[tuple[str, str]],
        *,
        runs_dir: Path | None = None,
    ) -> None:
        self.path = Path(path)
        self.migrations = migrations
        existing = False
        if str(path) != ":memory:":
            found = integrity.before_open(self.path, runs_dir)
            if found is not None and not found.usable:
                raise integrity.refuse(found)
            existing = found is None  # a file with a SQLite header: check it before use
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self.conn = sqlite3.connect(
            str(path), timeout=30, isolation_level=None, check_same_thread=False
        )
        self.conn.row_factory = sqlite3.Row
        self._depth = 0
        try:
            self._open(existing)
        except BaseException:
            self.conn.close()
            raise

    def _open(self, existing: bool) -> None:
        try:
            problem = integrity.quick_check(self.conn) if existing else None
            if problem is None:
                integrity.use_wal(self.conn)
                self.conn.execute("PRAGMA synchronous=FULL")
                self.conn.execute("PRAGMA foreign_keys=ON")
                self.migrate()
        except sqlite3.OperationalError:
            raise  # locked, read-only, I/O: not damage
        except sqlite3.DatabaseError as exc:  # damage quick_check did not reach
            problem = str(exc)
        if problem is not None:
            found = integrity.Finding(integrity.DAMAGED, self.path, problem)
            raise integrity.refuse(found) from None

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> SQLiteFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def atomic(self) -> Iterator[sqlite3.Connection]:
        """One transaction; commits on success, rolls back on error and re-raises.

        A nested call is a SAVEPOINT (sqlite-utils' shape): if the inner block fails, its own
        writes are rolled back and the error re-raised, so a caller that catches it keeps the
        outer transaction without the inner block's partial writes.
        """
        with self._lock:
            if self._depth:
                name = f"sp{self._depth}"
                self.conn.execute(f"SAVEPOINT {name}")
                self._depth += 1
                try:
                    yield self.conn
                except BaseException:
                    self.conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
                    self.conn.execute(f"RELEASE SAVEPOINT {name}")
                    raise
                else:
                    self.conn.execute(f"RELEASE SAVEPOINT {name}")
                finally:
                    self._depth -= 1
                return
            self.conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            else:
                self.conn.execute("COMMIT")
            finally:
                self._depth = 0

    def migrate(self) -> list[str]:
        with self.atomic() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            done = {r[0] for r in db.execute("SELECT name FROM migrations")}
            applied = []
            for name, sql in self.migrations:
                if name in done:
                    continue
                for statement in _statements(sql):
                    db.execute(statement)
                db.execute("INSERT INTO migrations VALUES (?, ?)", (name, iso()))
                applied.append(name)
        return applied

    def query(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self.conn.execute(sql, params).fetchall()

    # --- small key/value state (feed sequence, cursors, last success) ---

    def get(self, scope: str, key: str, default: Any = None) -> Any:
        rows = self.query("SELECT value FROM kv WHERE scope=? AND key=?", (scope, key))
        return json.loads(rows[0][0]) if rows else default

    def put(self, scope: str, key: str, value: Any) -> None:
        with self.atomic() as db:
            db.execute(
                "INSERT INTO kv VALUES (?, ?, ?, ?) ON CONFLICT(scope, key) DO UPDATE "
                "SET value=excluded.value, updated_at=excluded.updated_at",
                (scope, key, json.dumps(value), iso()),
            )
