"""A damaged or emptied state database is refused with one line and what to do, through the CLI.

Each case runs the installed `komet-ftd-ops` with a tmp home: exit code, one line on stderr
(or stdout for `health`, a monitoring plugin), no traceback, and the file left as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from cli import kfo, one_line

from komet_ftd_ops.errors import StateDamaged
from komet_ftd_ops.state.store import Store


def a_home_with_history(home: Path) -> bytes:
    """A state database with a run row and enough rows to span many pages, and a run notebook."""
    with Store(home / "state.sqlite3") as store:
        for i in range(2000):
            store.put("acme", f"key{i}", "x" * 200)
    notebook = home / "runs" / "acme" / "2026-12-01" / "110000Z-sync.ipynb"
    notebook.parent.mkdir(parents=True)
    notebook.write_text("{}")
    return (home / "state.sqlite3").read_bytes()


@pytest.mark.parametrize(
    "damage, seen",
    [
        (lambda data: data[: len(data) // 2], "malformed"),  # a copy cut short
        (lambda data: data[:60], "malformed"),  # cut inside the header
        (lambda data: b"\x00garbage\xff" * 500, "not a database"),
        (lambda data: b"PK\x03\x04" + data[4:], "not a database"),  # another file kind
    ],
    ids=["truncated", "truncated-header", "garbage", "not-sqlite"],
)
def test_a_damaged_database_is_refused_with_what_to_do(
    home: Path, damage: Callable[[bytes], bytes], seen: str
) -> None:
    db = home / "state.sqlite3"
    db.write_bytes(damage(a_home_with_history(home)))
    before = db.read_bytes()

    listed = kfo(home, "runs", "list")
    assert listed.returncode == 78
    line = one_line(listed.stderr)
    assert "is damaged" in line and seen in line
    assert "restore it from a backup" in line and "komet-ftd-ops db check" in line

    checked = kfo(home, "db", "check")
    assert checked.returncode == 78 and seen in one_line(checked.stderr)

    health = kfo(home, "health", "--profile", "acme")
    assert health.returncode == 2, health.stderr  # critical, as every failed health check
    assert one_line(health.stdout).startswith("critical: acme: the state database")
    assert health.stderr == ""
    assert db.read_bytes() == before  # refused, never repaired or replaced behind the person's back


@pytest.mark.parametrize("gone", ["emptied", "deleted"])
def test_an_emptied_database_in_a_home_with_runs_is_not_recreated(home: Path, gone: str) -> None:
    a_home_with_history(home)
    db = home / "state.sqlite3"
    db.write_bytes(b"") if gone == "emptied" else db.unlink()
    for side in ("-wal", "-shm"):
        Path(f"{db}{side}").unlink(missing_ok=True)

    listed = kfo(home, "runs", "list")
    assert listed.returncode == 78
    line = one_line(listed.stderr)
    assert "has runs under" in line and "not re-created" in line and "restore" in line
    assert (db.stat().st_size == 0) if gone == "emptied" else not db.exists()

    checked = kfo(home, "db", "check")
    assert checked.returncode == 78 and "has runs under" in one_line(checked.stderr)
    assert kfo(home, "health", "--profile", "acme").returncode == 2


def test_an_empty_database_in_a_fresh_home_is_created(home: Path) -> None:
    (home / "state.sqlite3").write_bytes(b"")
    fresh = kfo(home, "db", "check")
    assert fresh.returncode == 0 and one_line(fresh.stdout).startswith("ok:")

    listed = kfo(home, "runs", "list")
    assert listed.returncode == 0, listed.stderr
    assert "Traceback" not in listed.stderr
    assert (home / "state.sqlite3").stat().st_size > 0  # a new, migrated database
    checked = kfo(home, "db", "check")
    assert checked.returncode == 0 and "passes SQLite's quick_check" in one_line(checked.stdout)


def test_db_check_never_creates_the_file(home: Path) -> None:
    result = kfo(home, "db", "check")
    assert result.returncode == 0 and "does not exist" in one_line(result.stdout)
    assert not (home / "state.sqlite3").exists()


def test_the_store_refuses_the_same_way_in_the_library(tmp_path: Path) -> None:
    db = tmp_path / "state.sqlite3"
    db.write_bytes(b"not a database at all" * 10)
    with pytest.raises(StateDamaged, match="not a database") as caught:
        Store(db)
    assert caught.value.retryable is False and caught.value.failure_class == "needs_person"
    runs = tmp_path / "elsewhere"
    (runs / "p").mkdir(parents=True)
    (runs / "p" / "r.ipynb").write_text("{}")
    db.write_bytes(b"")
    with pytest.raises(StateDamaged, match="has runs under"):
        Store(db, runs_dir=runs)  # the runs folder a home names, not only <db folder>/runs
    Store(db).close()  # no runs next to it: a new database
