"""The run lease (state/lease.py): the OS flock on SQLite, an advisory lock on PostgreSQL, and
the write guard that stops a run whose lease is gone before it writes anything."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from conftest import REPO

from komet_ftd_ops.errors import LeaseLost
from komet_ftd_ops.runs.processes import acquire_profile_lock
from komet_ftd_ops.runs.runner import exit_code_for
from komet_ftd_ops.settings.home import Home
from komet_ftd_ops.state.engine import parse_target
from komet_ftd_ops.state.lease import (
    LEASE_VARIABLE,
    advisory_lease,
    guard_store,
    lease_key,
)
from komet_ftd_ops.state.store import Store


def terminate_backend(url: str, pid: int) -> None:
    """A person (or a network cut the server noticed) ends the lease's database session."""
    conninfo = parse_target(url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute("SELECT pg_terminate_backend(%s, 10000)", (pid,)).fetchone()
        assert row is not None and row[0], f"backend {pid} was not there to terminate"


def test_the_key_of_a_profile_never_changes() -> None:
    # Two kit versions running side by side must compute the same key, or both would run.
    assert lease_key("sandbox") == -2814187461084993548
    assert lease_key("sandbox") != lease_key("sandbox2")
    assert -(2**63) <= lease_key("x" * 200) < 2**63


def test_on_sqlite_the_lock_is_the_os_flock(kit: Home) -> None:
    with acquire_profile_lock(kit, "p", note="first") as first:
        assert first.fd is not None and first.held_by is None and dict(first.env) == {}
        with acquire_profile_lock(kit, "p") as second:
            assert second.fd is None and second.held_by is not None and "first" in second.held_by


def test_a_database_out_of_reach_is_an_upstream_error_without_the_password(kit: Home) -> None:
    url = parse_target("postgresql+psycopg://kit:s3cret-pw@127.0.0.1:9/state")
    with pytest.raises(LeaseLost) as caught, advisory_lease(url, "p"):
        pass
    assert "s3cret-pw" not in str(caught.value) and "run lease" in str(caught.value)
    assert exit_code_for(caught.value) == 75


def test_without_a_lease_or_on_sqlite_no_guard_is_set(tmp_path: Path) -> None:
    with Store(tmp_path / "state.sqlite3") as store:
        assert guard_store(store, {LEASE_VARIABLE: "1:2"}) is False
        store.put("t", "k", 1)  # unguarded: written


@pytest.mark.postgres
def test_one_lease_per_profile_and_the_refusal_names_the_holder(postgres_url: str) -> None:
    url = parse_target(postgres_url)
    with advisory_lease(url, "p", note="sync since 10:00:00Z") as first:
        assert first.held_by is None and first.fd is None
        assert first.env[LEASE_VARIABLE] == f"{lease_key('p')}:{first.backend_pid}"
        with advisory_lease(url, "p") as second:
            assert second.held_by is not None and not second.env
            assert f"pid {os.getpid()}@" in second.held_by
            assert "sync since 10:00:00Z" in second.held_by
            assert f"backend {first.backend_pid}" in second.held_by
        with advisory_lease(url, "other") as other:
            assert other.held_by is None  # another profile: its own lease
    with advisory_lease(url, "p") as again:
        assert again.held_by is None  # leaving released it


@pytest.mark.postgres
def test_the_home_setting_picks_the_lease(
    kit: Home, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KOMET_FTD_OPS_DATABASE_URL", postgres_url)
    with acquire_profile_lock(kit, "p") as lease:
        assert lease.fd is None and lease.held_by is None and LEASE_VARIABLE in lease.env
        with acquire_profile_lock(kit, "p") as second:
            assert second.held_by is not None
    assert not (kit.root / "locks").exists()  # no flock file: the database is the lock


@pytest.mark.postgres
def test_a_write_after_the_lease_was_lost_raises_and_writes_nothing(postgres_url: str) -> None:
    url = parse_target(postgres_url)
    with advisory_lease(url, "p") as lease, Store(postgres_url) as store:
        assert lease.backend_pid is not None
        assert guard_store(store, lease.env)
        store.put("t", "k", 1)  # held: written
        terminate_backend(postgres_url, lease.backend_pid)
        with pytest.raises(LeaseLost) as caught:
            store.put("t", "k", 2)
        assert exit_code_for(caught.value) == 75
        with pytest.raises(LeaseLost), store.atomic() as tx:
            tx.execute("DELETE FROM kv")
        assert store.get("t", "k") == 1  # neither write happened
        with advisory_lease(url, "p") as other:  # another machine may take it now
            assert other.held_by is None


HOLDER = """
import sys, time
from komet_ftd_ops.state.engine import parse_target
from komet_ftd_ops.state.lease import advisory_lease
with advisory_lease(parse_target(sys.argv[1]), "p", note="holder") as lease:
    print(lease.backend_pid, flush=True)
    time.sleep(120)
"""


@pytest.mark.postgres
def test_a_killed_holder_frees_the_lease_at_once(postgres_url: str) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, postgres_url], stdout=subprocess.PIPE, cwd=REPO
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip().isdigit()
        url = parse_target(postgres_url)
        with advisory_lease(url, "p") as second:
            assert second.held_by is not None and "holder" in second.held_by
        holder.kill()
        holder.wait(10)
        t0 = time.monotonic()
        while True:
            with advisory_lease(url, "p") as after:
                if after.held_by is None:
                    break
            assert time.monotonic() - t0 < 10, "a killed holder's lease was not freed"
            time.sleep(0.05)
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
