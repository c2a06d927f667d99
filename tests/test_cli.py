"""The command line end to end, as a user types it: the twin, onboarding, sync runs with
florists shopping through faults, the exactly-once check, and the state dump."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO


def kfo(home: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KOMET_FTD_OPS_HOME": str(home)}
    result = subprocess.run(
        [sys.executable, "-m", "komet_ftd_ops", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if ok:
        assert result.returncode == 0, f"{args}: {result.stdout[-2000:]}{result.stderr[-2000:]}"
    return result


@pytest.mark.slow  # a long one: started early (conftest.py)
def test_the_kit_from_the_command_line(home: Path) -> None:
    try:
        kfo(home, "sandbox", "up", "--lines", "120", "--seed", "11")
        info = json.loads(kfo(home, "sandbox", "info", "--json").stdout)
        assert set(info["komet"]) == {"base_url", "company_id", "ftd_customer_id", "tokens"}
        assert set(info["komet"]["tokens"]) == {"customer", "company"}
        assert set(info["ftd"]) == {"base_url", "supplier_id", "token"}

        refused = kfo(home, "schedule", "--profile", "sandbox", "--max-cycles", "1", ok=False)
        assert refused.returncode == 78 and "preflight" in refused.stderr

        onboard = json.loads(kfo(home, "onboard", "--profile", "sandbox", "--json").stdout)
        assert onboard["preflight"]["status"] == "pass"
        assert onboard["ftd_customer_id"] == info["komet"]["ftd_customer_id"]
        assert info["komet"]["tokens"]["customer"] not in json.dumps(onboard)
        # lost answers are read back at once in this test, not after the production settle time
        with (home / "profiles" / "sandbox.toml").open("a") as fh:
            fh.write("\n[orders]\nunknown_settle_seconds = 0\n")

        first = kfo(home, "run", "sync", "--profile", "sandbox")
        notebook = Path(first.stdout.strip().splitlines()[-1])
        assert notebook.exists() and notebook.with_suffix(".html").exists()
        assert notebook.parent.parent.name == "sandbox" and notebook.name.endswith("Z-sync.ipynb")

        shop = json.loads(
            kfo(home, "sandbox", "shop", "--orders", "6", "--oversell", "0.3", "--seed", "3").stdout
        )
        assert len(shop["orders"]) == 6
        kfo(
            home,
            "sandbox",
            "faults",
            "--service",
            "komet",
            "--kind",
            "drop-after-commit",
            "--rate",
            "0.3",
        )
        kfo(home, "sandbox", "set", "--autoconfirm", "on")
        for _ in range(2):  # a cycle that could not read or write everything says so: 75
            faulted = kfo(home, "run", "sync", "--profile", "sandbox", ok=False)
            assert faulted.returncode in (0, 75), faulted.stderr[-2000:]
        kfo(home, "sandbox", "faults", "--clear")
        kfo(home, "run", "sync", "--profile", "sandbox")

        check = kfo(home, "sandbox", "check", "--final")
        assert "ok: 6 FTD orders" in check.stdout
        dump = json.loads(kfo(home, "sandbox", "dump", "--json").stdout)
        assert {"web_orders", "invoices", "calls_today"} <= set(dump["komet"])
        assert {"orders", "offers", "last_sequence"} <= set(dump["ftd"])
        assert dump["ftd"]["last_sequence"] >= 2  # the first and the last cycle published
        acknowledged = [o for o in dump["ftd"]["orders"] if o["acknowledgement"]]
        assert len(acknowledged) == 6

        runs = json.loads(kfo(home, "runs", "list", "--json").stdout)
        statuses = [r["status"] for r in runs]
        assert statuses[0] == "ok" and statuses[-1] == "ok" and set(statuses) <= {"ok", "failed"}
        assert all(r["failure_class"] == "upstream" for r in runs if r["status"] == "failed")
        assert sum(r["counters"].get("orders_received", 0) for r in runs) == 6
        assert (home / "runs" / "index.html").exists()
        for path in (home / "runs").rglob("*.*"):
            assert info["komet"]["tokens"]["customer"] not in path.read_text(errors="replace")
    finally:
        kfo(home, "sandbox", "down", ok=False)


# Every command, by group. The CLI is built from an explicit list in komet_ftd_ops/cli/__init__.py:
# importing it must give all of them, without main() or any other import registering more.
COMMANDS = {
    "sandbox": {"up", "down", "status", "info", "dump", "shop", "confirm", "tamper", "set",
                "stock", "faults", "check", "export-customers"},
    "demo": set(), "quota": set(), "onboard": set(), "probe": set(),
    "airflow": {"dag-file"},
    "run": {"sync"}, "runs": {"list", "prune", "review"}, "schedule": set(),
    "reconcile": set(), "health": set(), "init": set(), "db": {"check", "accept-restore", "upgrade"},
}  # fmt: skip
# What a command imports only when it runs, so that `--help` and `sandbox status` stay quick.
HEAVY = (
    "pandas", "numpy", "papermill", "nbconvert", "nbformat", "matplotlib", "openpyxl", "sqlalchemy",
    "alembic", "psycopg", "airflow", "httpx", "tenacity",
)  # fmt: skip
PROBE = """
import json, sys
from komet_ftd_ops.cli import cli
print(json.dumps({
    "commands": {n: sorted(getattr(c, "commands", {})) for n, c in cli.commands.items()},
    "heavy": [m for m in sys.argv[1:] if m in sys.modules],
}))
"""
README_COMMAND = re.compile(
    r"(?:^|`|\s)(?:\.venv/bin/)?komet-ftd-ops ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?"
)


def test_importing_the_cli_gives_every_command_and_nothing_heavy() -> None:
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, *HEAVY], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert probe.returncode == 0, probe.stderr
    found = json.loads(probe.stdout)
    assert {name: set(subs) for name, subs in found["commands"].items()} == COMMANDS
    assert found["heavy"] == []


def test_every_command_the_readme_shows_exists() -> None:
    shown = README_COMMAND.findall((REPO / "README.md").read_text())
    assert len(shown) > 20  # the pattern still finds the README's examples
    for command, sub in shown:
        assert command in COMMANDS, f"README shows `komet-ftd-ops {command}`"
        if COMMANDS[command] and sub:
            assert sub in COMMANDS[command], f"README shows `komet-ftd-ops {command} {sub}`"


# What a `run sync` CLI process imports besides its command: the runs page (orders.ledger) and
# the onboard command's constants. The pipeline, pandas and onboarding's session stay out; the
# packages' names still resolve on first use (PEP 562), and a wrong name is an AttributeError.
LAZY_PROBE = """
import json, sys
import komet_ftd_ops.cli, komet_ftd_ops.orders.ledger, komet_ftd_ops.runs.html
left_out = [m for m in sys.argv[1:] if m in sys.modules]
from komet_ftd_ops.orders import OrderLedger, process_orders, release_order
from komet_ftd_ops.onboarding import MethodResult, onboard, preflight_passed
try:
    from komet_ftd_ops.orders import no_such_name
    wrong = "resolved"
except ImportError:
    wrong = "ImportError"
print(json.dumps({"loaded_early": left_out, "wrong_name": wrong,
                  "resolved": [f.__module__ for f in (OrderLedger, process_orders, onboard)]}))
"""
LAZY = ("pandas", "komet_ftd_ops.orders.pipeline", "komet_ftd_ops.onboarding.session")


def test_the_cli_and_the_runs_page_leave_the_pipeline_and_onboarding_unimported() -> None:
    probe = subprocess.run([sys.executable, "-c", LAZY_PROBE, *LAZY], cwd=REPO,
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    found = json.loads(probe.stdout)
    assert found["loaded_early"] == []
    assert found["wrong_name"] == "ImportError"
    assert found["resolved"] == [
        "komet_ftd_ops.orders.ledger",
        "komet_ftd_ops.orders.pipeline",
        "komet_ftd_ops.onboarding.session",
    ]


# What the runner of `run sync` does after the notebook, in its own process: the runs page and
# the modules of the health checks behind alerts. Neither calls Komet or FTD, so the clients
# (httpx, tenacity) and the order pipeline stay unimported; the client packages' names still
# resolve on first use, and a wrong name is an ImportError.
AFTER_RUN_PROBE = """
import json, sys
from komet_ftd_ops.runs.html import write_index
from komet_ftd_ops.settings.home import Home
home = Home.at(sys.argv[1])
with home.open_store() as store:
    write_index(store, home)
import komet_ftd_ops.runs.alerts, komet_ftd_ops.runs.health, komet_ftd_ops.reconcile.ledger_view
left_out = [m for m in sys.argv[2:] if m in sys.modules]
from komet_ftd_ops.komet import KometClient, KometConfig, KometTransport
from komet_ftd_ops.ftd import FtdClient, FtdConfig, FtdOrder, OrdersBatch
wrong = []
for package in ("komet_ftd_ops.komet", "komet_ftd_ops.ftd"):
    try:
        exec(f"from {package} import no_such_name")
    except ImportError:
        wrong.append("ImportError")
print(json.dumps({"loaded_early": left_out, "wrong_name": wrong, "resolved": [
    c.__module__ for c in (KometClient, KometConfig, KometTransport, FtdClient, FtdConfig,
                           FtdOrder, OrdersBatch)]}))
"""
CLIENTS = ("httpx", "tenacity", "komet_ftd_ops.komet.client", "komet_ftd_ops.ftd.client",
           "komet_ftd_ops.connect", "komet_ftd_ops.orders.shipping", "pandas")  # fmt: skip


def test_the_runs_page_and_health_modules_leave_the_clients_unimported(tmp_path: Path) -> None:
    probe = subprocess.run([sys.executable, "-c", AFTER_RUN_PROBE, str(tmp_path), *CLIENTS],
                           cwd=REPO, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    found = json.loads(probe.stdout)
    assert found["loaded_early"] == []
    assert (tmp_path / "runs" / "index.html").exists()  # the page was written
    assert found["wrong_name"] == ["ImportError", "ImportError"]
    assert found["resolved"] == [
        "komet_ftd_ops.komet.client",
        "komet_ftd_ops.komet.transport",
        "komet_ftd_ops.komet.transport",
        "komet_ftd_ops.ftd.client",
        "komet_ftd_ops.ftd.transport",
        "komet_ftd_ops.ftd.models",
        "komet_ftd_ops.ftd.client",
    ]
