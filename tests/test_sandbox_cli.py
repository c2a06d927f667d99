"""`komet-ftd-ops sandbox ...` says clearly what it did not do: faults the twin would never fire,
faults left switched on, nothing to confirm; the twin's files are the owner's alone; and git
ignores everything the kit writes under a home."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from conftest import REPO, Twin, start_twin

from komet_ftd_ops.cli.sandbox import sandbox
from komet_ftd_ops.komet.switches import SWITCHES
from komet_ftd_ops.reconcile.job import default_workbook
from komet_ftd_ops.runs.runner import output_path
from komet_ftd_ops.sandbox import faults
from komet_ftd_ops.sandbox.ftd import app as ftd_app
from komet_ftd_ops.sandbox.komet import app as komet_app
from komet_ftd_ops.sandbox.server import TWIN_MIGRATIONS, open_twin_db
from komet_ftd_ops.settings.home import SETTINGS_FILE, Home
from komet_ftd_ops.state.sqlite_file import SQLiteFile as Store


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(sandbox, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def board() -> Iterator[faults.FaultBoard]:
    db = Store(":memory:", migrations=TWIN_MIGRATIONS)
    try:
        yield faults.FaultBoard(db, seed=1)
    finally:
        db.close()


# --- 1. a fault the twin would never fire is refused ----------------------------------------


def test_the_board_refuses_faults_that_never_strike(board: faults.FaultBoard) -> None:
    with pytest.raises(ValueError, match=r"'acknowledge' \(did you mean orders.acknowledge\?\)"):
        board.add(faults.Fault("ftd", "error", "acknowledge"))
    with pytest.raises(ValueError, match="no method 'orders.list'.*web-order.create"):
        board.add(faults.Fault("komet", "error", "orders.list"))  # an FTD name on Komet
    with pytest.raises(ValueError, match="sequence-gap is for the ftd twin only"):
        board.add(faults.Fault("komet", "sequence-gap"))
    with pytest.raises(ValueError, match="sequence-gap strikes only inventory.delta"):
        board.add(faults.Fault("ftd", "sequence-gap", "orders.list"))
    with pytest.raises(ValueError, match="unknown service 'shop'"):
        board.add(faults.Fault("shop", "error"))
    with pytest.raises(ValueError, match="unknown fault kind 'slow'"):
        board.add(faults.Fault("ftd", "slow"))
    assert board.list() == []
    board.add(faults.Fault("ftd", "error", "orders.acknowledge"))
    board.add(faults.Fault("komet", "latency", "ecommerce/inventory.list", ms=50))
    board.add(faults.Fault("ftd", "sequence-gap"))
    assert [f.method for f in board.list()] == [
        "orders.acknowledge",
        "ecommerce/inventory.list",
        None,
    ]


def test_the_names_a_fault_may_use_are_the_twins_own_routes(board: faults.FaultBoard) -> None:
    ftd_app.seed(board.db, seed=1)
    app = ftd_app.create_app(board.db, board, on_oversell=lambda offer_id: None)
    named = {route.name for route in app.router.routes() if route.name}
    served = faults.served_calls()
    assert set(served["ftd"]) == named  # every route a fault can match, and no other name
    assert served["komet"] == tuple(komet_app.METHODS)


def test_the_cli_refuses_an_unknown_method_with_the_valid_names(twin: Twin) -> None:
    code, out, err = invoke(
        "faults", "--service", "ftd", "--kind", "error", "--method", "acknowledge"
    )
    assert code == 2 and out == ""
    (error,) = [line for line in err.splitlines() if line.startswith("Error:")]
    assert "'acknowledge'" in error and "orders.acknowledge" in error and "orders.status" in error
    code, _, err = invoke("faults", "--service", "ftd", "--method", "orders.list")
    assert code == 2 and "give both --service and --kind" in err
    assert twin.control("ftd", "GET", "faults")["faults"] == []
    # the twin's own route refuses it too, for callers that skip the command line
    refused = httpx.post(
        f"{twin.ftd_url}/_sandbox/faults", json={"kind": "error", "method": "acknowledge"}
    )
    assert refused.status_code == 400 and "orders.acknowledge" in refused.text
    code, out, _ = invoke(
        "faults", "--service", "ftd", "--kind", "error", "--method", "orders.acknowledge"
    )
    assert code == 0 and json.loads(out)["added"]["method"] == "orders.acknowledge"


# --- 2. the twin's files are the owner's alone -------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_twin_state_and_info_files_are_mode_0600(home: Path) -> None:
    old = os.umask(0o022)  # a usual umask: files would be 0644 unless we say otherwise
    try:
        running = start_twin(home)
    finally:
        os.umask(old)
    try:
        db = home / "sandbox" / "twin.sqlite3"
        siblings = [db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
        assert all(p.exists() for p in siblings)  # the twin has them open (WAL)
        for path in (db, *siblings, Home.at(home).sandbox_info):
            assert _mode(path) == 0o600, path
    finally:
        running.stop()


def test_an_older_state_file_is_tightened(tmp_path: Path) -> None:
    db = tmp_path / "sandbox" / "twin.sqlite3"
    db.parent.mkdir()
    db.touch(mode=0o644)
    db.chmod(0o644)
    open_twin_db(tmp_path).close()
    assert _mode(db) == 0o600


# --- 3. up and status name the faults left switched on ---------------------------------------


def test_up_and_status_show_active_faults_and_how_to_clear(twin: Twin) -> None:
    code, out, err = invoke("status")
    assert code == 0 and out.startswith("running") and err == ""
    twin.control("komet", "POST", "faults", json={"kind": "drop-after-commit", "method": "web-order-item.add", "rate": 0.2})  # fmt: skip
    _, _, err = invoke("status")
    assert "active faults: komet drop-after-commit on web-order-item.add, rate 0.2" in err
    assert "komet-ftd-ops sandbox faults --clear" in err
    twin.stop()  # faults live in the twin's file: a restart keeps them, and `up` says so
    code, out, err = invoke("up")
    assert code == 0 and out.startswith("komet twin: http://127.0.0.1:")
    assert "komet drop-after-commit on web-order-item.add" in err and "--clear" in err
    assert invoke("faults", "--clear")[:2] == (0, "faults cleared\n")
    assert invoke("status")[2] == ""


# --- 4. confirm says why nothing was confirmed -------------------------------------------------


def test_confirm_says_why_there_was_nothing_to_confirm(twin: Twin) -> None:
    # Komet has no invoice until the kit's sync checks web orders out, whatever FTD holds
    code, out, err = invoke("confirm", "--all")
    assert code == 0 and json.loads(out) == {"confirmed": []}
    assert err.startswith("no unconfirmed invoice yet") and err.count("\n") == 1
    assert "komet-ftd-ops run sync --profile sandbox" in err
    made = twin.control("komet", "POST", "tamper", json={"kind": "extra-invoice", "count": 2})
    ids = [c["invoice_id"] for c in made["changed"]]
    code, out, err = invoke("confirm", "--all")
    assert json.loads(out) == {"confirmed": ids} and err == ""
    code, out, err = invoke("confirm", "--all")
    assert (
        json.loads(out) == {"confirmed": []}
        and err == "no unconfirmed invoice: the FTD customer's invoices are 2 confirmed\n"
    )
    code, out, err = invoke("confirm", "--invoice", str(ids[0]))
    assert json.loads(out) == {"confirmed": []}
    assert err == f"invoice {ids[0]} is confirmed, not pending: nothing to confirm\n"


# --- 5. git ignores what the kit writes under a home -------------------------------------------


def test_git_ignores_every_artefact_a_home_holds(tmp_path: Path) -> None:
    home = Home.at(tmp_path / "home")
    root = home.root
    written = [
        home.state_db,
        home.state_db.with_name("state.sqlite3-wal"),
        home.sandbox_info,
        home.twin_db,
        root / "sandbox" / "twin.log",
        output_path(home, "sandbox", "sync", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        home.runs_index,
        home.lock_path("sandbox"),
        home.handoff_path("sandbox"),
        default_workbook(home, "sandbox", "2026-01-01", "2026-01-31"),
        home.profile_path("sandbox"),
        home.profile_path("sandbox").with_suffix(".tmp"),
        home.secrets_file,
        home.secrets_file.with_suffix(".tmp"),
        REPO / "test-output" / "onboarding.png",
    ]
    paths = [
        str(p.relative_to(root) if p.is_relative_to(root) else p.relative_to(REPO)) for p in written
    ]
    # the checkout is a home too: its settings file is kept, so notebooks/ finds the home
    kept = ["runs/.gitkeep", "profiles/example.toml", "komet_ftd_ops/runs/runner.py", SETTINGS_FILE]
    check = subprocess.run(
        ["git", "check-ignore", "--no-index", "--verbose", "--non-matching", *paths, *kept],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    verdict = {line.split("\t")[1]: line.split("\t")[0] for line in check.stdout.splitlines()}
    assert [p for p in paths if verdict[p].startswith("::")] == []  # "::" = no pattern matched
    assert all(verdict[p].startswith("::") or ":!" in verdict[p] for p in kept), verdict


# --- 6. `sandbox set` shows and changes every setting and switch --------------------------------


def test_set_without_options_shows_every_setting_and_switch(twin: Twin) -> None:
    code, out, _ = invoke("set")
    assert code == 0
    shown = dict(line.split(None, 1) for line in out.splitlines())
    for name, switch in SWITCHES.items():
        assert shown[name.replace("_", "-")] == switch.default  # the hardest, by default
    for setting in ("autoconfirm", "json-style", "quota", "detail-box-limit", "company-tz",
                    "late-write-delay", "multi-location"):  # fmt: skip
        assert setting in shown
    assert shown["autoconfirm"] == "false"


def test_set_changes_switches_and_info_and_dump_show_them(twin: Twin) -> None:
    code, out, _ = invoke(
        "set", "--invoice-exists", "checkout", "--link-fields", "both", "--max-rows", "5000",
        "--late-writes", "never", "--autoconfirm", "on", "--company-tz", "Europe/Madrid", "--json",
    )  # fmt: skip
    assert code == 0
    changed = json.loads(out)
    assert (changed["invoice_exists"], changed["link_fields"], changed["max_rows"]) == (
        "checkout", "both", "5000",
    )  # fmt: skip
    assert changed["late_writes"] == "never" and changed["autoconfirm"] is True
    for route in ("info", "dump"):
        settings = twin.control("komet", "GET", route)["settings"]
        assert (
            settings["invoice_exists"] == "checkout" and settings["company_tz"] == "Europe/Madrid"
        )
        assert settings["merge_invoices"] == SWITCHES["merge_invoices"].default  # untouched
    code, _, err = invoke("set", "--link-fields", "some")
    assert code == 2 and "neither" in err  # click lists the switch's values
    code, _, err = invoke("set", "--company-tz", "Mars/Olympus")
    assert code == 2 and "not a time zone name" in err and "Traceback" not in err
    assert twin.control("komet", "GET", "settings")["company_tz"] == "Europe/Madrid"


@pytest.mark.switches(invoice_exists="checkout", link_fields="both")
def test_the_twin_fixture_takes_switches_from_a_marker(twin: Twin) -> None:
    settings = twin.control("komet", "GET", "settings")
    assert (settings["invoice_exists"], settings["link_fields"]) == ("checkout", "both")
    assert settings["messages"] == SWITCHES["messages"].default
