"""The state store's one transaction primitive: `atomic()`, nesting with SAVEPOINTs."""

from __future__ import annotations

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
