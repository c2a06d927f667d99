"""A state database older than its home is refused before anything reaches Komet (issue 10, 5).

Two witnesses outside the file: run notebooks under runs/ newer than the database's last
recorded run, and FTD's feed sequence moved past what the database sent. Each case runs the
real twin; the first through the installed CLI as a person would, end to end.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from cli import kfo, one_line
from conftest import Twin

from komet_ftd_ops.errors import StateOutdated
from komet_ftd_ops.sandbox.control import SandboxControl
from komet_ftd_ops.settings.home import Home
from komet_ftd_ops.state import witness
from komet_ftd_ops.sync import run_sync


def copy_db(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite file, as a backup tool makes it."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


def restore_db(copy: Path, db: Path) -> None:
    for side in ("-wal", "-shm"):
        Path(f"{db}{side}").unlink(missing_ok=True)
    shutil.copyfile(copy, db)


def komet_orders(twin: Twin) -> list[dict[str, Any]]:
    return list(SandboxControl(twin.info).call("komet", "GET", "dump")["web_orders"])


@pytest.mark.slow  # a long one: started early (conftest.py)
def test_a_restored_older_database_is_refused_until_accepted(home: Path, twin: Twin) -> None:
    db = home / "state.sqlite3"
    first = kfo(home, "run", "sync", "--profile", "sandbox")
    assert first.returncode == 0, first.stderr
    copy_db(db, home / "backup.sqlite3")  # the backup a person will restore
    second = kfo(home, "run", "sync", "--profile", "sandbox")
    assert second.returncode == 0, second.stderr
    newest = Path(second.stdout.strip().splitlines()[-1])
    shop = SandboxControl(twin.info).shop(3, seed=5)["orders"]
    assert shop
    restore_db(home / "backup.sqlite3", db)
    notebooks = sorted((home / "runs").rglob("*.ipynb"))

    refused = kfo(home, "run", "sync", "--profile", "sandbox")
    assert refused.returncode == 78, refused.stderr
    line = one_line(refused.stderr)
    assert "older than its runs" in line and newest.name in line
    assert "komet-ftd-ops db check" in line and "db accept-restore" in line
    assert komet_orders(twin) == []  # nothing was created in Komet
    assert sorted((home / "runs").rglob("*.ipynb")) == notebooks  # no run notebook either

    checked = kfo(home, "db", "check")
    assert checked.returncode == 78 and "older than its runs" in one_line(checked.stderr)
    assert kfo(home, "run", "sync", "--profile", "sandbox").returncode == 78  # it stays refused

    accepted = kfo(home, "db", "accept-restore", "--profile", "sandbox")
    assert accepted.returncode == 0, accepted.stderr
    said = one_line(accepted.stdout)
    assert "runs of sandbox" in said and "FTD's feed sequence 2" in said
    assert kfo(home, "db", "check", "--profile", "sandbox").returncode == 0

    after = kfo(home, "run", "sync", "--profile", "sandbox")
    assert after.returncode in (0, 75), after.stderr
    assert {str(w["customerPo"]) for w in komet_orders(twin)}  # orders went on to Komet
    ok = kfo(home, "db", "check", "--profile", "sandbox")
    assert ok.returncode == 0 and one_line(ok.stdout).startswith("ok:")


def test_a_second_home_on_the_same_ftd_supplier_is_seen(
    home: Path, twin: Twin, tmp_path_factory: pytest.TempPathFactory
) -> None:
    first = Home.at(home)
    run_sync("sandbox", home=first)  # this home's first feed: sequence 1
    other = tmp_path_factory.mktemp("second-home")
    shutil.copytree(home / "sandbox", other / "sandbox")  # the same twin, the same accounts
    copy_db(first.state_db, other / "state.sqlite3")  # a cloned machine
    run_sync("sandbox", home=Home.at(other))  # the clone feeds FTD: sequence 2

    made = len(komet_orders(twin))
    assert SandboxControl(twin.info).shop(2, seed=9)["orders"]
    with pytest.raises(StateOutdated, match="feed sequence moved") as caught:
        run_sync("sandbox", home=first)
    assert "is 2, which moved past the last feed this database sent (1)" in str(caught.value)
    assert len(komet_orders(twin)) == made  # the new orders were not created in Komet

    checked = kfo(home, "db", "check", "--profile", "sandbox")
    assert checked.returncode == 78 and "feed sequence moved" in one_line(checked.stderr)
    plain = kfo(home, "db", "check")  # without a profile FTD is not asked: the runs agree
    assert plain.returncode == 0, plain.stderr


def test_the_feed_witness_reads_ftds_base_without_changing_it(home: Path, twin: Twin) -> None:
    kit = Home.at(home)
    run_sync("sandbox", home=kit)
    control = SandboxControl(twin.info)
    before = control.call("ftd", "GET", "dump")["last_sequence"]
    from komet_ftd_ops.connect import ftd_client
    from komet_ftd_ops.settings.profiles import load_profile

    ftd = ftd_client(load_profile("sandbox", kit), home=kit)
    try:
        assert witness.ftd_base(ftd, before) == before
        assert witness.ftd_base(ftd, before + 5) == before  # a stale base: 409, told the truth
    finally:
        ftd.close()
    assert control.call("ftd", "GET", "dump")["last_sequence"] == before


def test_notebook_stamps_and_a_home_without_rows(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    day = runs / "acme" / "2026-12-01"
    day.mkdir(parents=True)
    (day / "110000Z-sync.ipynb").write_text("{}")
    (day / "120500Z-sync-2.ipynb.partial").write_text("{")
    (day / "notes.ipynb").write_text("{}")  # not a run notebook: no start in its name
    stamp, notebook = witness.newest_notebooks(runs)["acme"]
    assert notebook.name == "120500Z-sync-2.ipynb.partial" and stamp.hour == 12
    from komet_ftd_ops.state.store import Store

    with Store(tmp_path / "state.sqlite3", runs_dir=tmp_path / "elsewhere") as store:
        found = witness.check_runs(store, runs)
        assert found.refused and "last recorded run: none" in found.line()
        witness.accept(store, runs)
        assert not witness.check_runs(store, runs).refused
        (day / "130000Z-sync.ipynb").write_text("{}")  # a run after the acceptance
        assert witness.check_runs(store, runs).refused
