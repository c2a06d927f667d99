"""The state store's one transaction primitive: `atomic()`, nesting with SAVEPOINTs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from komet_ftd_ops.state.store import Store


class Boom(Exception):
    pass


def _values(store: Store) -> list[str]:
    return [r["key"] for r in store.query("SELECT key FROM kv WHERE scope='t' ORDER BY key")]


def _put(db: object, key: str) -> None:
    db.execute(  # type: ignore[attr-defined]
        "INSERT INTO kv VALUES ('t', ?, '1', '2026-01-01T00:00:00Z')", (key,)
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
        assert not store.conn.in_transaction


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
            assert last.query("PRAGMA quick_check")[0][0] == "ok"
