"""The state store on PostgreSQL (a throwaway cluster, tests/pg.py), and what both backends share.

On PostgreSQL nothing migrates on open: a database behind the kit is refused with one line
naming `komet-ftd-ops db upgrade`, which migrates it. The URL's password never shows.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from komet_ftd_ops.errors import ConfigError
from komet_ftd_ops.runs.runner import exit_code_for
from komet_ftd_ops.state.calls import CallCounter
from komet_ftd_ops.state.schema import HEAD
from komet_ftd_ops.state.store import Store, Tx, transaction_open_here

CLI = Path(sys.executable).parent / "komet-ftd-ops"
PASSWORD = "Pg-s3cret-in-the-url"  # the test cluster trusts loopback: any password connects


class Boom(Exception):
    pass


def with_password(url: str) -> str:
    return url.replace("postgres@", f"postgres:{PASSWORD}@", 1)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        target = str(tmp_path / "state.sqlite3")
    else:
        target = with_password(request.getfixturevalue("postgres_url"))
    with Store(target) as opened:
        yield opened


def put(tx: Tx, key: str) -> None:
    tx.execute(
        "INSERT INTO kv (scope, key, value, updated_at) VALUES ('t', :key, '1', 'x')", {"key": key}
    )


def keys(store: Store) -> list[str]:
    return [r["key"] for r in store.query("SELECT key FROM kv WHERE scope = 't' ORDER BY key")]


def kfo(home: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KOMET_FTD_OPS_HOME": str(home), "KOMET_FTD_OPS_DATABASE_URL": url}
    return subprocess.run(
        [str(CLI), *args], cwd=home, env=env, capture_output=True, text=True, timeout=120
    )


# --- both backends ------------------------------------------------------------------------


def test_worker_threads_share_one_writer_and_see_only_their_own_transaction(
    store: Store,
) -> None:
    """The order pipeline's workers (orders/pipeline.py): one transaction at a time, whole."""
    inside, tried, done = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, bool] = {}

    def writer() -> None:
        inside.wait(10)
        seen["other_thread_sees_a_transaction"] = store.in_transaction or transaction_open_here()
        tried.set()
        with store.atomic() as tx:  # waits for the first thread's commit
            put(tx, "b")
            seen["a_committed_first"] = keys(store) == ["a1", "a2", "b"]
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    with store.atomic() as tx:
        put(tx, "a1")
        assert store.in_transaction and transaction_open_here()
        inside.set()
        tried.wait(10)
        assert not done.wait(0.3)  # the other thread's block has not run inside ours
        with store.atomic() as nested:  # a savepoint of this thread's transaction
            put(nested, "a2")
    thread.join(10)
    assert done.is_set() and not transaction_open_here() and not store.in_transaction
    assert seen == {"other_thread_sees_a_transaction": False, "a_committed_first": True}
    counter = CallCounter(store, "komet")  # the transport's counts, from four threads at once
    workers = [threading.Thread(target=lambda: [counter("m") for _ in range(25)]) for _ in "abcd"]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert counter.today() == 100


def test_nested_blocks_are_savepoints_and_a_failed_outer_block_leaves_nothing(
    store: Store,
) -> None:
    with store.atomic() as tx:
        put(tx, "1")
        with store.atomic() as second:
            put(second, "2")
            with pytest.raises(Boom), store.atomic() as third:
                put(third, "3")
                raise Boom
            put(second, "2b")
    assert keys(store) == ["1", "2", "2b"]
    with pytest.raises(Boom), store.atomic() as tx:
        put(tx, "4")
        with store.atomic() as inner:
            put(inner, "5")
        raise Boom
    assert keys(store) == ["1", "2", "2b"] and not store.connection_in_transaction()


def test_a_failed_statement_rolls_back_its_savepoint_and_the_outer_goes_on(store: Store) -> None:
    with store.atomic() as tx:
        put(tx, "a")
        with pytest.raises(Exception, match="(?i)unique|duplicate"), store.atomic() as inner:
            put(inner, "a")  # the primary key: on PostgreSQL this aborts all but a savepoint
        put(tx, "b")
    assert keys(store) == ["a", "b"]


def test_the_write_guard_runs_once_per_outermost_transaction(store: Store) -> None:
    calls: list[str] = []

    def guard(tx: Tx) -> None:
        row = tx.execute("SELECT COUNT(*) AS n FROM kv").fetchone()  # it may read, inside
        calls.append(f"{tx.backend}:{row['n'] if row else '?'}")

    store.set_write_guard(guard)
    with store.atomic() as tx:
        put(tx, "a")
        with store.atomic() as inner:
            put(inner, "b")
    store.put("t", "c", 1)
    assert calls == [f"{store.backend}:0", f"{store.backend}:2"]

    def refuse(tx: Tx) -> None:
        raise Boom("lease lost")

    store.set_write_guard(refuse)
    with pytest.raises(Boom):
        store.put("t", "d", 1)
    store.set_write_guard(None)
    assert keys(store) == ["a", "b", "c"]


def test_portable_sql_returning_upserts_big_counts_and_percent_signs(store: Store) -> None:
    with store.atomic() as tx:
        first = tx.execute(
            "INSERT INTO order_events (profile, order_id, at, event) "
            "VALUES ('p', 'o', 'x', 'new') RETURNING id"
        ).fetchone()
        tx.execute(
            "INSERT INTO feeds (feed_id, profile, kind, sequence, offers, withdrawals, "
            "bytes_sent, status, created_at) VALUES ('f', 'p', 'full', :seq, 1, 0, :bytes, "
            "'done', 'x')",
            {"seq": 2**40, "bytes": 3 * 2**31},
        )
    assert first is not None and first["id"] == 1
    counter = CallCounter(store)
    for _ in range(3):
        counter("ecommerce/inventory.list")
    assert counter.today() == 3 and counter.by_method() == {"ecommerce/inventory.list": 3}
    feed = store.query("SELECT sequence, bytes_sent FROM feeds WHERE feed_id LIKE 'f%'")
    assert dict(feed[0]) == {"sequence": 2**40, "bytes_sent": 3 * 2**31}
    assert store.query("SELECT ? AS a, '?' AS b", ("x",))[0]["a"] == "x"  # tests' old form


# --- PostgreSQL only ----------------------------------------------------------------------


@pytest.mark.postgres
def test_postgres_never_migrates_on_open_and_db_upgrade_does(
    postgres_empty_url: str, tmp_path: Path
) -> None:
    url = with_password(postgres_empty_url)
    with pytest.raises(ConfigError) as caught:
        Store(url)
    line = str(caught.value)
    assert line.startswith("the state database at postgresql+psycopg://postgres:***@")
    assert f"is at revision none (no kit schema yet), the kit needs {HEAD}" in line
    assert line.endswith("run `komet-ftd-ops db upgrade`") and PASSWORD not in line
    assert exit_code_for(caught.value) == 78

    listed = kfo(tmp_path, url, "runs", "list")  # any command that opens the store
    assert listed.returncode == 78
    assert listed.stderr.strip() == f"error: {line}"  # one line, the CLI's usual prefix
    assert PASSWORD not in listed.stdout + listed.stderr

    upgraded = kfo(tmp_path, url, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"to {HEAD}" in upgraded.stdout and PASSWORD not in upgraded.stdout
    again = kfo(tmp_path, url, "db", "upgrade")
    assert again.returncode == 0 and "already" in again.stdout
    with Store(url) as store:
        assert store.applied == []
        assert store.query("SELECT version_num FROM alembic_version")[0]["version_num"] == HEAD
    checked = kfo(tmp_path, url, "db", "check")
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("ok: the state database at postgresql+psycopg://postgres:***@")


@pytest.mark.postgres
def test_the_same_tables_and_columns_on_both_backends(postgres_url: str, tmp_path: Path) -> None:
    from sqlalchemy import inspect

    def shape(store: Store) -> dict[str, list[tuple[str, bool]]]:
        with store.sqlalchemy_connection() as connection:
            seen = inspect(connection)
            return {
                t: sorted((c["name"], bool(c["nullable"])) for c in seen.get_columns(t))
                for t in seen.get_table_names()
            } | {
                f"{t} indexes": sorted(str(i["name"]) for i in seen.get_indexes(t))
                for t in seen.get_table_names()
            }

    with Store(postgres_url) as pg, Store(tmp_path / "state.sqlite3") as lite:
        assert shape(pg) == shape(lite)


@pytest.mark.postgres
def test_the_password_is_in_no_str_repr_or_error(postgres_url: str) -> None:
    url = with_password(postgres_url)
    with Store(url) as store:
        assert store.backend == "postgresql"
        shown = [str(store), repr(store), str(store.url), repr(store.url)]
        assert all(PASSWORD not in s for s in shown) and "***" in str(store)
        with pytest.raises(Exception) as caught, store.atomic() as tx:
            tx.execute("SELECT * FROM no_such_table")
        assert PASSWORD not in str(caught.value)


@pytest.mark.postgres
def test_a_lost_connection_is_an_error_every_time_never_a_silent_reconnect(
    postgres_url: str,
) -> None:
    import psycopg

    from komet_ftd_ops.errors import ConnectionFailed

    with Store(postgres_url) as store:
        backend = store.query("SELECT pg_backend_pid() AS pid")[0]["pid"]
        plain = postgres_url.replace("postgresql+psycopg://", "postgresql://", 1)
        with psycopg.connect(plain, autocommit=True) as admin:  # as a failover or a DBA would
            admin.execute("SELECT pg_terminate_backend(%s)", (backend,))
            for attempt in range(2):  # the first write finds it lost, and so does the next
                with pytest.raises(ConnectionFailed, match="was lost") as caught:
                    store.put("t", f"after-{attempt}", 1)
                assert exit_code_for(caught.value) == 75
            with pytest.raises(ConnectionFailed):
                store.query("SELECT 1 AS one")
            opened = admin.execute(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            ).fetchone()
            assert opened == (0,)  # no second connection was opened behind the owner's back
