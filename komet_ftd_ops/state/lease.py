"""One run per profile at a time, on one machine or many: the run lease.

    hold_lease(home, profile, note, url)
      ├── SQLite (url None)   an OS flock on <home>/locks/<profile>.lock; `fd` is handed to the
      │                       run's child and kernel, so the lock lives while any of them does
      └── PostgreSQL          a session advisory lock, pg_try_advisory_lock(key of the profile),
                              on a connection of its own held by the runner for the whole run;
                              `env` (KOMET_FTD_OPS_LEASE=<key>:<backend pid>) goes to the run's
                              processes, whose Store re-checks it before every write

Why the runner holds the PostgreSQL lease and the kernel only checks it. A session advisory
lock belongs to one database connection, and a connection cannot be inherited across exec as
the flock's descriptor is. The runner is the process that outlives the run's work: the papermill
child and the kernel die with it (`runs.processes.die_with_parent`, a parent-death signal), and
when the runner dies its connection closes and the server frees the lock at once. When the
runner's machine vanishes instead (power, network), nothing closes the connection: the server
notices through TCP keepalives and a TCP user timeout set on both ends (`LEASE_CONNECT`), within
about a minute, and frees it. Meanwhile the kernel might still reach the database on its own
connection (a cut between the runner and the server only, or a person's pg_terminate_backend):
so the kernel's Store runs `check_lease` at the start of every write transaction, inside it
(`Store.set_write_guard`), and a lease no longer held by the runner's backend raises `LeaseLost`
(upstream, exit 75) before anything is written. A second machine that has taken the lease in the
meantime is then the only writer.

The SQLite flock, and what it means for a killed process, is explained at `flock_lease`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import LeaseLost

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

    from ..settings.home import Home
    from .engine import Target
    from .store import Store, Tx

LEASE_VARIABLE = "KOMET_FTD_OPS_LEASE"  # "<key>:<backend pid>" in the run's processes
# The lease connection: the server drops a silent peer after ~10 + 3*5 s of keepalives (or 30 s
# of unacknowledged data), and no statement on it may hang the runner.
LEASE_CONNECT: dict[str, Any] = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 30000,
}
SERVER_SETTINGS = (  # the server's end of the same socket, and timeouts for this session
    "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3 "
    "-c tcp_user_timeout=30000 -c statement_timeout=10000 -c lock_timeout=5000"
)
HELD_BY = (
    "SELECT a.pid AS pid, a.application_name AS name, a.client_addr AS addr "
    "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = {classid} "
    "AND l.objid = {objid} AND l.objsubid = 1 "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


@dataclass(frozen=True)
class Lease:
    """The outcome of trying a profile's lease: held (`held_by` None) or not (who has it).

    `fd` (SQLite) is the locked descriptor to hand to every process of the run; `env`
    (PostgreSQL) the variables those processes need to re-check the lease."""

    fd: int | None
    held_by: str | None
    env: Mapping[str, str] = field(default_factory=dict)
    backend_pid: int | None = None


def lease_key(profile: str) -> int:
    """A stable signed 64-bit key for the profile (pg_try_advisory_lock(bigint))."""
    digest = hashlib.blake2b(f"komet-ftd-ops run {profile}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _lock_ids(key: int) -> dict[str, int]:
    """How pg_locks shows a bigint advisory key: high and low 32 bits (objsubid 1)."""
    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
    return {"classid": unsigned >> 32, "objid": unsigned & 0xFFFF_FFFF}


@contextmanager
def hold_lease(home: Home, profile: str, note: str = "", url: URL | None = None) -> Iterator[Lease]:
    """Try the profile's lease, non-blocking; `url` None (SQLite) means the OS flock, a
    PostgreSQL URL the advisory lock. Released (our share of it) on leaving."""
    if url is None:
        with flock_lease(home, profile, note) as lease:
            yield lease
    else:
        with advisory_lease(url, profile, note) as lease:
            yield lease


@contextmanager
def flock_lease(home: Home, profile: str, note: str = "") -> Iterator[Lease]:
    """The profile's OS lock on one machine, non-blocking.

    An flock belongs to the open file, not to the process: every process that inherits the
    descriptor holds the same lock, and it is released only when the last of them has closed
    it or died. The runner hands `fd` to its child and the child to the kernel, so the lock
    lasts exactly as long as anything of the run is still alive, whichever process is killed.
    That is also why there is no explicit LOCK_UN here: unlocking would release the lock for
    the run's surviving processes too.
    """
    path = home.lock_path(profile)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield Lease(None, path.read_text(errors="replace").strip() or "another process")
            return
        # Over the last holder's note, cut to length only when that note was longer: ext4
        # makes a truncation to zero wait for the journal, 8 ms a run on a busy disk.
        text = f"pid {os.getpid()} {note}\n".encode()
        os.pwrite(fd, text, 0)
        if os.fstat(fd).st_size > len(text):
            os.ftruncate(fd, len(text))
        yield Lease(fd, None)
    finally:
        os.close(fd)


def holder_name(note: str) -> str:
    """Who we are, as other machines read it (application_name: at most 63 bytes)."""
    return f"komet-ftd-ops pid {os.getpid()}@{socket.gethostname()} {note}".strip()[:63]


@contextmanager
def advisory_lease(url: URL, profile: str, note: str = "") -> Iterator[Lease]:
    """The profile's advisory lock on PostgreSQL, on a connection of its own, non-blocking."""
    import psycopg  # only for PostgreSQL homes

    key = lease_key(profile)
    params = _conninfo(url)
    options = f"{params.pop('options', '')} {SERVER_SETTINGS}".strip()
    try:
        conn = psycopg.connect(
            **{**params, **LEASE_CONNECT},  # ours win over the URL's: the bound must hold
            application_name=holder_name(note),
            options=options,
            autocommit=True,
        )
    except psycopg.Error as exc:
        raise LeaseLost(_cannot("take", profile, exc, url)) from None
    try:
        try:
            got = conn.execute("SELECT pg_try_advisory_lock(%s) AS got", (key,)).fetchone()
            held_by = None if got is not None and got[0] else _describe_holder(conn, key)
        except psycopg.Error as exc:
            raise LeaseLost(_cannot("take", profile, exc, url)) from None
        if held_by is not None:
            yield Lease(None, held_by)
            return
        pid = conn.info.backend_pid
        try:
            yield Lease(None, None, {LEASE_VARIABLE: f"{key}:{pid}"}, pid)
        finally:
            _unlock(conn, key)
    finally:
        conn.close()


def _unlock(conn: Any, key: int) -> None:
    """Let go before closing: the server frees a closed session's locks only once its backend
    has exited, a moment after the close, and the profile's next run may start in that moment.
    When the connection is already gone, so is the lock."""
    import psycopg

    with contextlib.suppress(psycopg.Error):
        conn.execute("SELECT pg_advisory_unlock(%s)", (key,))


def _conninfo(url: URL) -> dict[str, Any]:
    params: dict[str, Any] = {k: v for k, v in url.query.items() if isinstance(v, str)}
    for name, value in (
        ("host", url.host),
        ("port", url.port),
        ("user", url.username),
        ("password", url.password),
        ("dbname", url.database),
    ):
        if value is not None:
            params[name] = value
    return params


def _cannot(what: str, profile: str, exc: Exception, url: URL) -> str:
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if url.password:
        first = first.replace(str(url.password), "***")
    return f"cannot {what} the run lease of profile {profile!r} on the state database: {first}"


def _describe_holder(conn: Any, key: int) -> str:
    sql = HELD_BY.format(classid="%(classid)s", objid="%(objid)s")
    rows = conn.execute(sql, _lock_ids(key)).fetchall()
    if not rows:
        return "another process (it has just let go)"
    pid, name, addr = rows[0]
    where = f", from {addr}" if addr else ""
    return f"{name or 'another process'}; database backend {pid}{where}"


# --- the run's processes: re-check the lease before every write ------------------------------


def check_lease(tx: Tx, key: int, backend_pid: int) -> None:
    """Raise LeaseLost unless the runner's backend still holds the profile's advisory lock."""
    row = tx.execute(
        HELD_BY.format(classid=":classid", objid=":objid") + " AND l.pid = :pid",
        {**_lock_ids(key), "pid": backend_pid},
    ).fetchone()
    if row is None:
        raise LeaseLost(
            f"the run lease is no longer held (database backend {backend_pid} lost it): "
            "stopped before writing; the next cycle starts afresh"
        )


def guard_store(store: Store, env: Mapping[str, str]) -> bool:
    """In a run's process: make `store` re-check the runner's lease before each write, when
    the run holds a PostgreSQL lease (`LEASE_VARIABLE` set). True if a guard was set."""
    value = env.get(LEASE_VARIABLE, "")
    if not value or store.backend != "postgresql":
        return False
    try:
        key_text, pid_text = value.split(":")
        key, pid = int(key_text), int(pid_text)
    except ValueError:
        raise LeaseLost(f"{LEASE_VARIABLE} is not <key>:<backend pid>") from None
    store.set_write_guard(lambda tx: check_lease(tx, key, pid))
    return True


def home_url(home: Home) -> URL | None:
    """The URL of the home's state database when it is PostgreSQL; None on SQLite."""
    return _postgres(home.database_url())


def store_url(store: Store) -> URL | None:
    """The URL a lease for this store's database uses: None on SQLite (the OS flock)."""
    return _postgres(store.url)


def _postgres(target: Target) -> URL | None:
    from .engine import SqliteFile

    return None if isinstance(target, SqliteFile) else target
