"""A throwaway PostgreSQL cluster for the tests: Debian's `postgresql` binaries, a temp folder.

    cluster = start_cluster()                 # initdb + pg_ctl start on a free loopback port
    url = cluster.create_database()           # postgresql+psycopg://postgres@127.0.0.1:P/kit_3
    cluster.stop()                            # pg_ctl stop -m immediate, folder removed

Plain functions, no pytest, so a test run in another virtualenv (the Airflow tests) can use it
too; `tests/conftest.py` wraps it in the `postgres_server`, `postgres_url` and `state_backend`
fixtures (one cluster per pytest process, so one per xdist worker).

Why it is built this way:
- `initdb` and `pg_ctl` refuse to run as root. As root (a container, CI) they run as the
  `postgres` system user that Debian's package creates (`runuser -u postgres --`), in a folder
  of /tmp made for it and chowned to it (pytest's own tmp folders are 0700 root).
- Speed over durability: `fsync=off`, no synchronous commit, no full-page writes, `initdb
  --no-sync`. A crash loses the cluster, which is thrown away anyway.
- Trust authentication on 127.0.0.1 only, no Unix socket: nothing but loopback TCP reaches it,
  and the tests' URLs carry no password.
- pg_ctl starts the server in a session of its own, so it would outlive a killed pytest. A
  small watchdog process (its own session too) stops the cluster and removes the folder when
  the process that started it dies, however it dies; `atexit` covers the ordinary exit.
"""

from __future__ import annotations

import atexit
import glob
import itertools
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

INSTALL_HINT = (
    "the PostgreSQL tests need Debian's postgresql package (initdb under "
    "/usr/lib/postgresql/*/bin): run `make postgres` as root, or `sudo apt-get install postgresql`"
)
SERVER_OPTIONS = (
    "-c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off "
    "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200 "
    "-c shared_buffers=16MB -c max_wal_size=256MB -c checkpoint_timeout=30min "
    "-c log_min_messages=warning"
)
# Stops the cluster once the pid in argv[1] is gone: `pg_ctl stop -m immediate`, then rm -rf.
WATCHDOG = """
import os, shutil, subprocess, sys, time
pid, root, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
while os.getppid() == pid:  # re-parented once the starter is gone (even as a zombie)
    time.sleep(1)
subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
shutil.rmtree(root, ignore_errors=True)
"""


class PostgresMissing(RuntimeError):
    """No PostgreSQL server binaries on this machine (see INSTALL_HINT)."""


def bin_dir() -> Path:
    """The newest `/usr/lib/postgresql/<version>/bin` holding initdb, else initdb on PATH."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    raise PostgresMissing(INSTALL_HINT)


def _as_server_user(argv: list[str]) -> list[str]:
    """As root, the same command as the `postgres` system user (initdb and pg_ctl refuse root)."""
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(argv: list[str], what: str, timeout: float = 120) -> None:
    done = subprocess.run(_as_server_user(argv), capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({done.returncode}): {done.stderr or done.stdout}")


@dataclass
class Cluster:
    """A running throwaway cluster: `url` is its `postgres` database (superuser, no password)."""

    root: Path
    port: int
    bin: Path
    watchdog: subprocess.Popen[bytes] | None = None
    _names: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    stopped: bool = False

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url_of(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    @property
    def url(self) -> str:
        return self.url_of("postgres")

    @property
    def conninfo(self) -> str:
        """The libpq form of `url` (for psycopg.connect)."""
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"

    def create_database(self, name: str | None = None, template: str | None = None) -> str:
        """A fresh empty database (or a copy of `template`); returns its SQLAlchemy URL."""
        import psycopg

        name = name or f"kit_{os.getpid()}_{next(self._names)}"
        sql = f'CREATE DATABASE "{name}"'
        if template:
            # A file copy of a small template is much faster than the WAL-logged default.
            sql += f' TEMPLATE "{template}" STRATEGY FILE_COPY'
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            conn.execute(sql)
        return self.url_of(name)

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')

    def stop(self) -> None:
        """`pg_ctl stop -m immediate` and the folder removed; idempotent."""
        if self.stopped:
            return
        self.stopped = True
        try:
            _run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"],
                 "pg_ctl stop", timeout=60)  # fmt: skip
        finally:
            if self.watchdog is not None:
                self.watchdog.kill()
                self.watchdog.wait()
            shutil.rmtree(self.root, ignore_errors=True)


def start_cluster(directory: Path | str | None = None) -> Cluster:
    """initdb + pg_ctl start in `directory` (default: a new folder in /tmp) on a free loopback
    port; stopped at exit, or by a watchdog if this process dies. As root the folder must be
    reachable by the `postgres` user (the default is)."""
    binaries = bin_dir()
    root = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="komet-ftd-ops-pg-"))
    root.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        os.chmod(root, 0o700)
    data = root / "data"
    _run([str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
          "--no-sync", "--no-instructions", "-E", "UTF8", "--locale=C"], "initdb")  # fmt: skip
    (data / "pg_hba.conf").write_text("host all postgres 127.0.0.1/32 trust\n")
    if os.geteuid() == 0:
        shutil.chown(data / "pg_hba.conf", "postgres", "postgres")
    for attempt in range(5):
        port = _free_port()
        cluster = Cluster(root, port, binaries)
        try:
            _run([str(binaries / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"),
                  "-w", "-t", "60", "-o", f"-p {port} {SERVER_OPTIONS}", "start"],
                 "pg_ctl start")  # fmt: skip
        except RuntimeError:
            if attempt == 4 or "could not bind" not in _log_tail(root):
                raise RuntimeError(f"pg_ctl start failed: {_log_tail(root)}") from None
            continue  # the free port was taken between the probe and the start
        break
    stop_cmd = _as_server_user(
        [str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]
    )
    cluster.watchdog = subprocess.Popen(
        [sys.executable, "-c", WATCHDOG, str(os.getpid()), str(root), *stop_cmd],
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    atexit.register(cluster.stop)
    _wait_ready(cluster)
    return cluster


def _log_tail(root: Path) -> str:
    try:
        return " | ".join((root / "server.log").read_text(errors="replace").splitlines()[-5:])
    except OSError:
        return "no server log"


def _wait_ready(cluster: Cluster, timeout: float = 30) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(cluster.conninfo, connect_timeout=5):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


if __name__ == "__main__":  # a manual check: start, create a database, stop
    started = time.monotonic()
    c = start_cluster()
    print(c.url, c.create_database(), f"{time.monotonic() - started:.2f} s")
    c.stop()
