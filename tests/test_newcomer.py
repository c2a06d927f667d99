"""A newcomer's first steps: rehearse onboarding with the twin's customer export, and see the
faults left switched on when `make run` starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from conftest import REPO, Twin, start_twin

from komet_ftd_ops.cli import onboard as cli_onboard
from komet_ftd_ops.cli import sandbox as cli_sandbox
from komet_ftd_ops.onboarding.customers_xlsx import read_customer_export
from komet_ftd_ops.sandbox import control


def test_the_twins_customer_export_finds_ftd_for_onboarding(twin: Twin, home: Path) -> None:
    exported = CliRunner().invoke(cli_sandbox.sandbox, ["export-customers"])
    assert exported.exit_code == 0, exported.output
    path = Path(exported.output.strip())
    assert path == home / "sandbox" / "customers.xlsx" and path.is_file()

    export = read_customer_export(path)
    ftd_id = twin.info["komet"]["ftd_customer_id"]
    customers = twin.control("komet", "GET", "info")["customers"]
    assert sorted(r.customer_id for r in export.rows) == sorted(str(c["id"]) for c in customers)
    assert len(customers) > 3  # FTD among others, as in a real export
    assert export.ftd_rows()[0].customer_id == ftd_id
    assert export.ftd_rows()[0].name == "FTD Inc"

    # What the README tells a newcomer to try: onboard a profile of their own with the file.
    komet, ftd = twin.info["komet"], twin.info["ftd"]
    args = [
        "--profile", "trial", "--customers-xlsx", str(path), "--json",
        "--token-ref", "sandbox:komet.customer", "--company-id", komet["company_id"],
        "--komet-base-url", komet["base_url"], "--ftd-base-url", ftd["base_url"],
        "--ftd-supplier-id", ftd["supplier_id"], "--ftd-token-ref", "sandbox:ftd",
    ]  # fmt: skip
    result = CliRunner().invoke(cli_onboard.onboard, args)
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.output)
    assert outcome["ftd_customer_id"] == ftd_id and outcome["preflight"]["status"] == "pass"
    # The FTD candidates were read from the exported file (a cell of its Customers sheet).
    first = outcome["candidates"][0]
    assert (first["id"], first["bound"]) == (ftd_id, True)
    assert first["source"].startswith("Customers!A")
    assert komet["tokens"]["customer"] not in result.output


def test_export_customers_writes_where_told(twin: Twin, tmp_path: Path) -> None:
    out = tmp_path / "elsewhere" / "Customers.xlsx"
    exported = CliRunner().invoke(cli_sandbox.sandbox, ["export-customers", "--out", str(out)])
    assert exported.exit_code == 0, exported.output
    assert Path(exported.output.strip()) == out
    assert (
        read_customer_export(out).ftd_rows()[0].customer_id
        == (twin.info["komet"]["ftd_customer_id"])
    )


def test_export_customers_without_a_twin_says_to_start_it(home: Path) -> None:
    result = CliRunner().invoke(cli_sandbox.sandbox, ["export-customers"])
    assert result.exit_code != 0
    assert "sandbox up" in str(result.exception)
    assert not (home / "sandbox" / "customers.xlsx").exists()


def test_make_run_prints_the_active_faults_and_how_to_clear_them(home: Path) -> None:
    twin = start_twin(home, lines=60)
    try:
        twin.control("komet", "POST", "faults", json={"kind": "latency", "rate": 1.0, "ms": 1})
        env = {**os.environ, "KOMET_FTD_OPS_HOME": str(home)}
        demo = subprocess.run(
            [sys.executable, "-m", "komet_ftd_ops", "demo", "--lines", "60", "--max-cycles", "1"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    finally:
        twin.stop()
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    assert "active faults: komet latency on every call, rate 1, 1 ms" in demo.stderr
    assert "clear them with: komet-ftd-ops sandbox faults --clear" in demo.stderr
    assert control.read_info(twin.kit) is None  # the demo stopped the twin it found


def test_no_fault_no_warning(twin: Twin) -> None:
    assert control.active_faults_warning(twin.info) == []
    twin.control("ftd", "POST", "faults", json={"kind": "error", "method": "orders.acknowledge"})
    lines = control.active_faults_warning(twin.info)
    assert lines[0] == "active faults: ftd error on orders.acknowledge, rate 1"
    assert lines[1].endswith("komet-ftd-ops sandbox faults --clear")
