"""Which schema revision a state database is at, and bringing it to the kit's (Alembic).

The revisions live in `state/alembic/versions/` (a baseline: the schema of the old named
migrations 0001..0010, written portably; then one file per later change). Opening a database
only reads `alembic_version` and compares it with `HEAD`, without importing Alembic: that is
every cycle's open, and the cycle's CPU matters. Alembic is imported only when a migration must run.

A SQLite home made before Alembic has a `migrations` table listing the old names: its missing
old migrations are applied from the frozen SQL (`state/migrations.py`), then it is stamped at
the baseline, its data kept and no DDL re-run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from .migrations import LEGACY_MIGRATIONS, legacy_statements

if TYPE_CHECKING:
    from .store import Store, Tx

BASELINE = "0001_baseline"
REVISIONS = (BASELINE, "0002_stock")  # oldest first; kept in step with versions/ by a test
HEAD = REVISIONS[-1]
SCRIPT_LOCATION = Path(__file__).with_name("alembic")
VERSION_TABLE = "alembic_version"
LEGACY_TABLE = "migrations"
PG_MIGRATION_LOCK = 0x4B46_0001  # pg_advisory_xact_lock key: one `db upgrade` at a time
UPGRADE = "run `komet-ftd-ops db upgrade`"

Read = Callable[[str, Mapping[str, Any] | None], list[Any]]


def has_table(read: Read, backend: str, name: str) -> bool:
    if backend == "postgresql":
        rows = read("SELECT to_regclass(:name) IS NOT NULL AS found", {"name": name})
        return bool(rows[0]["found"])
    rows = read(
        "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = :name",
        {"name": name},
    )
    return int(rows[0]["n"]) > 0


def current(read: Read, backend: str) -> str | None:
    """The database's revision; None when Alembic never ran on it."""
    if not has_table(read, backend, VERSION_TABLE):
        return None
    rows = read(f"SELECT version_num FROM {VERSION_TABLE}", None)
    return str(rows[0]["version_num"]) if rows else None


def behind_line(where: str, revision: str | None) -> str:
    at = revision if revision is not None else "none (no kit schema yet)"
    return f"the state database at {where} is at revision {at}, the kit needs {HEAD}: {UPGRADE}"


def check_known(where: str, revision: str | None) -> None:
    if revision is not None and revision not in REVISIONS:
        raise ConfigError(
            f"the state database at {where} is at revision {revision}, which this kit does not "
            f"know (a newer kit migrated it): upgrade komet-ftd-ops (the kit needs {HEAD})",
            revision=revision,
            head=HEAD,
        )


def refuse_if_behind(read: Read, backend: str, where: str) -> None:
    """Raise `ConfigError` (exit 78) with one line unless the database is at `HEAD`."""
    revision = current(read, backend)
    check_known(where, revision)
    if revision != HEAD:
        raise ConfigError(behind_line(where, revision), revision=revision, head=HEAD)


def upgrade(store: Store, tx: Tx) -> list[str]:
    """Inside `tx` (the store's outermost transaction): stamp a legacy SQLite home, then run
    Alembic up to `HEAD`. The revisions newly recorded; [] when it was at `HEAD` already."""
    read: Read = lambda sql, params: tx.execute(sql, params).fetchall()  # noqa: E731
    if store.backend == "postgresql":
        tx.execute("SELECT pg_advisory_xact_lock(:key)", {"key": PG_MIGRATION_LOCK})
    revision = current(read, store.backend)
    check_known(str(store), revision)
    if revision == HEAD:
        return []
    from .alembic_run import run_alembic  # the slow import, only when there is work

    stamped = revision is None and _bring_legacy_to_baseline(store, tx, read)
    before = BASELINE if stamped else revision
    with store.sqlalchemy_connection() as connection:
        if stamped:  # a legacy file is at the baseline's schema: stamp it, then go on from there
            run_alembic(connection, "stamp", BASELINE)
        run_alembic(connection, "upgrade", HEAD)
    start = 0 if before is None else REVISIONS.index(before) + 1
    return ([BASELINE] if stamped else []) + list(REVISIONS[start:])


def _bring_legacy_to_baseline(store: Store, tx: Tx, read: Read) -> bool:
    """A SQLite file made by the kit before Alembic: apply its missing old migrations from the
    frozen SQL; True when there was one (it is then at the baseline's schema)."""
    if store.backend != "sqlite" or not has_table(read, "sqlite", LEGACY_TABLE):
        return False
    done = {str(r["name"]) for r in read(f"SELECT name FROM {LEGACY_TABLE}", None)}
    known = {name for name, _ in LEGACY_MIGRATIONS}
    if done - known:
        raise ConfigError(
            f"the state database {store} lists migrations this kit does not know "
            f"({', '.join(sorted(done - known))}): upgrade komet-ftd-ops"
        )
    from .store import iso

    for name, sql in LEGACY_MIGRATIONS:
        if name in done:
            continue
        for statement in legacy_statements(sql):  # as written then: no bound parameters
            tx.execute(statement)
        tx.execute(
            f"INSERT INTO {LEGACY_TABLE} (name, applied_at) VALUES (:name, :at)",
            {"name": name, "at": iso()},
        )
    return True
