"""The state store on SQLite: `atomic()` nesting with SAVEPOINTs, rows by name, the write
guard, and Alembic migrations (a home made before them stamped). PostgreSQL: test_state_postgres."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from komet_ftd_ops.errors import ConfigError
from komet_ftd_ops.state.schema import BASELINE, HEAD, REVISIONS
from komet_ftd_ops.state.store import Store, Tx


class Boom(Exception):
    pass


def _values(store: Store) -> list[str]:
    return [r["key"] for r in store.query("SELECT key FROM kv WHERE scope='t' ORDER BY key")]


def _put(tx: Tx, key: str) -> None:
    tx.execute(
        "INSERT INTO kv (scope, key, value, updated_at) "
        "VALUES ('t', :key, '1', '2026-01-01T00:00:00Z')",
        {"key": key},
    )


def test_a_failed_nested_block_rolls_back_to_its_savepoint_and_the_outer_commits(
    tmp_path: Path,
) -> None:
    with Store(tmp_path / "state.sqlite3") as store:
        with store.atomic() as db:
            _put(db, "outer-before")
            with pytest.raises(Boom), store.atomic() as inner:
                _put(inner, "inner")
                raise Boom
            _put(db, "outer-after")
        assert _values(store) == ["outer-after", "outer-before"]
    with Store(tmp_path / "state.sqlite3") as reopened:  # committed, not just visible
        assert _values(reopened) == ["outer-after", "outer-before"]


def test_a_successful_nested_block_commits_with_the_outer_and_rolls_back_with_it(
    tmp_path: Path,
) -> None:
    with Store(tmp_path / "state.sqlite3") as store:
        with store.atomic() as db:
            _put(db, "a")
            with store.atomic() as inner:
                _put(inner, "b")
        assert _values(store) == ["a", "b"]
        with pytest.raises(Boom), store.atomic() as db:
            _put(db, "c")
            with store.atomic() as inner:
                _put(inner, "d")
            raise Boom
        assert _values(store) == ["a", "b"]


def test_savepoints_nest_more_than_one_level(tmp_path: Path) -> None:
    with Store(tmp_path / "state.sqlite3") as store:
        with store.atomic() as db:
            _put(db, "1")
            with store.atomic() as second:
                _put(second, "2")
                with pytest.raises(Boom), store.atomic() as third:
                    _put(third, "3")
                    raise Boom
                _put(second, "2b")
        assert _values(store) == ["1", "2", "2b"]
        assert not store.in_transaction and not store.connection_in_transaction()


def test_opening_a_second_store_keeps_the_first_ones_locks(tmp_path: Path) -> None:
    """Closing any descriptor of a SQLite file drops the process's POSIX locks on it: the
    integrity check on open must leave a Store already open on the file (and other processes
    writing to it, as a run's kernel does) working."""
    path = tmp_path / "state.sqlite3"
    writer = (
        "import sys; from komet_ftd_ops.state.store import Store\n"
        "with Store(sys.argv[1]) as s: s.put('t', sys.argv[2], 1)"
    )
    with Store(path) as first:
        first.put("t", "a", 1)
        for n in range(3):
            with Store(path) as again:
                again.put("t", f"again-{n}", n)
            subprocess.run([sys.executable, "-c", writer, str(path), f"kernel-{n}"], check=True)
            with first.atomic() as db:
                _put(db, f"first-{n}")
            assert first.get("t", f"kernel-{n}") == 1
        with Store(path) as last:
            assert last.query("PRAGMA quick_check")[0]["quick_check"] == "ok"


# --- the store's face: rows by name, the old `?` form for tests, the write guard -------------


def test_rows_are_read_by_name_and_tests_may_still_use_question_marks(tmp_path: Path) -> None:
    with Store(tmp_path / "state.sqlite3") as store:
        with store.atomic() as tx:
            rows = tx.executemany(
                "INSERT INTO kv (scope, key, value, updated_at) VALUES ('t', :k, '1', 'x')",
                [{"k": "a"}, {"k": "b?"}],
            )
            assert rows.rowcount == 2
            changed = tx.execute("UPDATE kv SET value = '2' WHERE scope = 't'")
            assert changed.rowcount == 2 and changed.fetchall() == []
            with pytest.raises(TypeError, match="named :placeholders"):
                tx.execute("SELECT * FROM kv WHERE key = ?", ("a",))  # type: ignore[arg-type]
        found = store.query("SELECT key, '?' AS q FROM kv WHERE key = ? AND scope = ?", ("b?", "t"))
        assert [dict(r) for r in found] == [{"key": "b?", "q": "?"}]
        with pytest.raises(TypeError, match="2 placeholders but 1"):
            store.query("SELECT ? AS a, ? AS b", (1,))


def test_the_write_guard_runs_once_per_outermost_transaction_and_can_stop_it(
    tmp_path: Path,
) -> None:
    seen: list[object] = []
    with Store(tmp_path / "state.sqlite3") as store:
        store.set_write_guard(seen.append)
        with store.atomic() as tx:
            _put(tx, "a")
            with store.atomic() as inner:
                _put(inner, "b")
        store.put("t", "c", 1)
        store.query("SELECT key FROM kv")  # a read outside atomic() is no write
        assert len(seen) == 2 and seen[0] is tx

        def lost(tx: Tx) -> None:
            raise Boom("lease lost")

        store.set_write_guard(lost)
        with pytest.raises(Boom), store.atomic() as tx:
            _put(tx, "never")
        store.set_write_guard(None)
        assert _values(store) == ["a", "b", "c"]


# --- migrations: Alembic, a legacy home stamped ----------------------------------------------


def legacy_home(path: Path, upto: int = 10) -> None:
    """A state file exactly as the kit before Alembic made it: its named migrations."""
    from komet_ftd_ops.state.migrations import LEGACY_MIGRATIONS, legacy_statements

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("BEGIN")
    conn.execute("CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    for name, sql in LEGACY_MIGRATIONS[:upto]:
        for statement in legacy_statements(sql):
            conn.execute(statement)
        conn.execute("INSERT INTO migrations VALUES (?, ?)", (name, "2026-01-01T00:00:00Z"))
    conn.execute("INSERT INTO kv VALUES ('acme', 'feed.last_sequence', '41', 'x')")
    conn.execute(
        "INSERT INTO order_events (profile, order_id, at, event) VALUES ('acme', 'o1', 'x', 'new')"
    )
    conn.execute("COMMIT")
    conn.close()


# Tables of the revisions after the baseline (not in a legacy home; created on upgrade).
LATER_TABLES = ("stock_slices", "stock_lines")


def schema_of(path: Path) -> dict[str, str]:
    conn = sqlite3.connect(path)
    try:
        return dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL"))
    finally:
        conn.close()


def test_a_home_made_before_alembic_is_stamped_with_its_data_and_schema_kept(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.sqlite3"
    legacy_home(path)
    before = schema_of(path)
    with Store(path) as store:
        assert store.applied == [BASELINE, *REVISIONS[1:]]  # stamped at the baseline, then up
        assert store.query("SELECT version_num FROM alembic_version")[0]["version_num"] == HEAD
        assert store.get("acme", "feed.last_sequence") == 41
        with store.atomic() as tx:
            row = tx.execute(
                "INSERT INTO order_events (profile, order_id, at, event) "
                "VALUES ('acme', 'o1', 'y', 'created') RETURNING id"
            ).fetchone()
        assert row is not None and row["id"] == 2  # the rowid sequence goes on
    after = schema_of(path)
    kept = {k: v for k, v in after.items() if "alembic" not in k and k not in LATER_TABLES}
    assert kept == before  # no DDL re-run
    with Store(path) as again:
        assert again.applied == []


def test_an_older_legacy_home_gets_its_missing_old_migrations_then_the_stamp(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.sqlite3"
    legacy_home(path, upto=7)
    with Store(path) as store:
        assert store.applied == list(REVISIONS)
        names = [r["name"] for r in store.query("SELECT name FROM migrations ORDER BY name")]
        assert names[-1] == "0010_offer_windows" and len(names) == 10
        cols = {r["name"] for r in store.query("SELECT name FROM pragma_table_info('orders')")}
        assert {"web_order_number", "invoice_found_by", "fee"} <= cols


def test_the_baseline_is_the_legacy_schema_table_for_table_column_for_column(
    tmp_path: Path,
) -> None:
    legacy, fresh = tmp_path / "legacy.sqlite3", tmp_path / "fresh.sqlite3"
    legacy_home(legacy)
    Store(fresh).close()

    def shape(path: Path) -> dict[str, object]:
        conn = sqlite3.connect(path)
        try:
            tables = [
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            ]
            found: dict[str, object] = {}
            for t in tables:
                if t in ("migrations", "alembic_version", *LATER_TABLES):
                    continue
                # a key column is NOT NULL in the baseline (SQLite's TEXT PRIMARY KEY is not)
                cols = conn.execute(
                    f"SELECT name, \"notnull\" OR pk > 0, pk, dflt_value FROM pragma_table_info('{t}')"
                )
                found[t] = sorted(cols)
                found[f"{t} indexes"] = sorted(
                    (r[1], r[2])
                    for r in conn.execute(f"PRAGMA index_list('{t}')")
                    if not r[1].startswith("sqlite_autoindex")
                )
                found[f"{t} keys"] = sorted(
                    tuple(r[2:5]) for r in conn.execute(f"PRAGMA foreign_key_list('{t}')")
                )
            return found
        finally:
            conn.close()

    assert shape(fresh) == shape(legacy)


def test_a_database_migrated_by_a_newer_kit_or_listing_unknown_migrations_is_refused(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.sqlite3"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE alembic_version SET version_num = '0099_future'")
    conn.commit()
    conn.close()
    with pytest.raises(ConfigError, match="0099_future, which this kit does not know"):
        Store(path)
    legacy = tmp_path / "legacy.sqlite3"
    legacy_home(legacy)
    conn = sqlite3.connect(legacy)
    conn.execute("INSERT INTO migrations VALUES ('0011_from_a_branch', 'x')")
    conn.commit()
    conn.close()
    with pytest.raises(ConfigError, match="0011_from_a_branch"):
        Store(legacy)


def test_head_is_alembics_head_and_an_up_to_date_open_does_not_import_alembic(
    tmp_path: Path,
) -> None:
    from alembic.script import ScriptDirectory

    from komet_ftd_ops.state.alembic_run import config

    scripts = ScriptDirectory.from_config(config())
    assert scripts.get_heads() == [HEAD]
    walked = [s.revision for s in scripts.walk_revisions()]  # newest first
    assert tuple(reversed(walked)) == REVISIONS
    path = tmp_path / "state.sqlite3"
    Store(path).close()
    code = (
        "import sys; from komet_ftd_ops.state.store import Store\n"
        "Store(sys.argv[1]).close(); print('alembic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


def test_a_sqlite_store_runs_without_sqlalchemy_and_still_raises_its_errors(
    tmp_path: Path,
) -> None:
    """Every cycle opens the store in the runner and in the kernel: on SQLite neither imports
    SQLAlchemy (a quarter of a second each), yet a failed statement is SQLAlchemy's class."""
    (tmp_path / "komet-ftd-ops.toml").write_text("")
    Store(tmp_path / "state.sqlite3").close()  # migrated: Alembic (and SQLAlchemy) ran here
    code = """
import sys
from komet_ftd_ops.settings.home import Home
home = Home.at(sys.argv[1])
store = home.open_store()
store.put("s", "k", {"n": 1})
with store.atomic() as tx:
    with store.atomic() as inner:
        inner.execute("UPDATE kv SET value = :v WHERE scope = 's'", {"v": "2"})
    rows = tx.execute("SELECT value FROM kv WHERE scope = 's'").fetchall()
print(store.get("s", "k"), [r["value"] for r in rows], store.connection_in_transaction())
print(sorted({m.split(".")[0] for m in sys.modules} & {"sqlalchemy", "alembic"}))
try:
    with store.atomic() as tx:
        tx.execute("INSERT INTO kv (scope, key, value, updated_at) VALUES ('s', 'k', '1', '')")
except Exception as exc:
    print(type(exc).__module__, type(exc).__name__, type(exc.orig).__name__)
print(store.get("s", "k"))
"""
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "2 ['2'] False",
        "[]",
        "sqlalchemy.exc IntegrityError IntegrityError",
        "2",
    ]


def test_db_upgrade_on_sqlite_says_what_it_did(home: Path) -> None:
    cli = Path(sys.executable).parent / "komet-ftd-ops"
    env = {**os.environ, "KOMET_FTD_OPS_HOME": str(home)}
    env.pop("KOMET_FTD_OPS_DATABASE_URL", None)
    first = subprocess.run([str(cli), "db", "upgrade"], env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert f"to {HEAD} ({', '.join(REVISIONS)})" in first.stdout
    again = subprocess.run([str(cli), "db", "upgrade"], env=env, capture_output=True, text=True)
    assert again.returncode == 0 and "already" in again.stdout
