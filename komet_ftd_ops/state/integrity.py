"""Is the state database usable? Checked before `Store` opens it, and by `komet-ftd-ops db check`.

The state file holds the run history and the order ledger. SQLite creates a missing or empty file
afresh without a word, so a file emptied by a full disk or a bad copy would come back as a new,
empty database: the history gone and the ledger's orders reappearing as unknown. So:

    missing or 0 bytes, no run under <home>/runs    new     a fresh home: create it
    missing or 0 bytes, runs present                emptied refused: restore the file
    not a SQLite file, truncated, failing
    `PRAGMA quick_check`                            damaged refused: restore the file

A run is any run notebook under the runs folder (`<db folder>/runs` unless told otherwise).

These are checks of a SQLite file, and apply to SQLite only: `Store` skips them for PostgreSQL
(the server keeps its own files whole), and `db check` checks its schema revision instead.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import StateDamaged

OK, NEW, EMPTIED, DAMAGED = "ok", "new", "emptied", "damaged"
QUICK_CHECK_ROWS = 3  # sqlite's first few complaints are enough to say what is wrong
WHAT_TO_DO = "restore it from a backup, or run `komet-ftd-ops db check` to see what is wrong"


@dataclass(frozen=True)
class Finding:
    state: str  # OK, NEW, EMPTIED or DAMAGED
    path: Path
    detail: str = ""  # sqlite's message, or what was seen instead of a database

    @property
    def usable(self) -> bool:
        return self.state in (OK, NEW)

    def line(self) -> str:
        if self.state == OK:
            return f"ok: {self.path} passes SQLite's quick_check"
        if self.state == NEW:
            return f"ok: {self.path} {self.detail}; it is created on first use"
        if self.state == EMPTIED:
            return (
                f"the state database {self.path} {self.detail}; it is not re-created, as a new "
                f"one would forget the run history and the order ledger: restore it from a "
                f"backup (`komet-ftd-ops db check` checks it), or move the runs folder aside to "
                f"start afresh"
            )
        return f"the state database {self.path} is damaged ({self.detail}): {WHAT_TO_DO}"


def runs_folder(db: Path, runs_dir: Path | None = None) -> Path:
    return db.parent / "runs" if runs_dir is None else runs_dir


def has_runs(runs_dir: Path) -> bool:
    """True when any run notebook lies under `runs_dir` (the first one found is enough)."""
    return runs_dir.is_dir() and next(runs_dir.rglob("*.ipynb"), None) is not None


def before_open(db: Path, runs_dir: Path | None = None) -> Finding | None:
    """What can be seen without SQLite: a missing or empty file, or one that is not SQLite's.

    None when the file has content (SQLite's open and `quick_check` then have the last word)."""
    try:
        size = db.stat().st_size
    except FileNotFoundError:
        size = -1
    if size <= 0:
        what = "does not exist" if size < 0 else "is empty (0 bytes)"
        runs = runs_folder(db, runs_dir)
        if has_runs(runs):
            return Finding(EMPTIED, db, f"{what} but this home has runs under {runs}")
        return Finding(NEW, db, what)
    # Never open the file ourselves here: closing any descriptor of a SQLite file drops every
    # POSIX lock this process holds on it, including those of a Store already open on it (SQLite
    # then fails with "disk I/O error", or worse, two writers). SQLite reads the header itself.
    return None


def quick_check(conn: sqlite3.Connection) -> str | None:
    """SQLite's own structural check; None when it says ok, else its first complaints.

    A lock or an I/O error (OperationalError) is not damage and is raised as it is."""
    try:
        rows = [str(r[0]) for r in conn.execute(f"PRAGMA quick_check({QUICK_CHECK_ROWS})")]
    except sqlite3.OperationalError:
        raise
    except sqlite3.DatabaseError as exc:  # "file is not a database", "disk image is malformed"
        return str(exc)
    return None if rows == ["ok"] else "; ".join(rows)


def refuse(finding: Finding) -> StateDamaged:
    return StateDamaged(finding.line(), path=str(finding.path), state=finding.state)


def examine(db: Path, runs_dir: Path | None = None) -> Finding:
    """The whole check, for `komet-ftd-ops db check`: never creates or changes the file."""
    early = before_open(db, runs_dir)
    if early is not None:
        return early
    # mode=rw: open an existing file only (never create one); quick_check only reads.
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=rw", uri=True, timeout=30)
    try:
        problem = quick_check(conn)
    finally:
        conn.close()
    return Finding(OK, db) if problem is None else Finding(DAMAGED, db, problem)


def use_wal(conn: sqlite3.Connection, wait_s: float = 30.0) -> None:
    """WAL lets readers (notebooks, `runs list`) work while a run writes. The switch needs
    an exclusive lock and SQLite does not wait for it as it does for writes, so a process
    opening the file while another creates it retries here; once set, WAL stays in the file.
    """
    deadline = time.monotonic() + wait_s
    while conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
            continue
        if mode != "wal":  # an in-memory database keeps its own mode
            return
