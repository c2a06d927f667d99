"""The Airflow DAG plans and `airflow dag-file`, in the main venv (no Airflow installed here).

The DAGs themselves, and a real `airflow dags test`, are tests/airflow/ (`make airflow`).
"""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import Twin
from kit_profiles import example_profile

from komet_ftd_ops.airflow import plan
from komet_ftd_ops.cli import cli
from komet_ftd_ops.errors import ConfigError
from komet_ftd_ops.runs.runner import EXIT_CODES, EXIT_CONFIG, EXIT_DATAERR, EXIT_TEMPFAIL
from komet_ftd_ops.settings.home import Home


def test_one_plan_per_profile_file_with_its_cadence_and_deadline(tmp_path: Path) -> None:
    example_profile(tmp_path, "acme", every=10, deadline=200)
    example_profile(tmp_path, "slow", every=7, deadline=400)
    example_profile(tmp_path, "hourly", every=120)
    (tmp_path / "profiles" / "broken.toml").write_text("[komet]\nbase_url = 5\n")
    plans = {p.profile: p for p in plan.dag_plans(Home.at(tmp_path))}

    assert sorted(plans) == ["acme", "broken", "hourly", "slow"]  # no twin: no sandbox DAG
    acme = plans["acme"]
    assert (acme.dag_id, acme.schedule, acme.deadline_s) == ("komet_ftd_acme", "*/10 * * * *", 200)
    assert acme.timeout_s == 200 + plan.AFTER_RUN_GRACE_S and acme.problem is None
    assert plans["slow"].schedule == timedelta(minutes=7)  # 7 does not divide the hour
    assert plans["hourly"].schedule == "0 */2 * * *"
    broken = plans["broken"]  # still a DAG, so its failure shows; the kit's defaults
    assert broken.problem and "broken.toml" in broken.problem
    assert (broken.every_minutes, broken.deadline_s) == (5, 240)


def test_the_sandbox_gets_a_dag_while_its_twin_runs_under_the_home(twin: Twin) -> None:
    (sandbox,) = plan.dag_plans(twin.kit)
    assert (sandbox.profile, sandbox.dag_id, sandbox.problem) == (
        "sandbox",
        "komet_ftd_sandbox",
        None,
    )
    assert (sandbox.schedule, sandbox.deadline_s) == ("*/5 * * * *", 240)
    twin.stop()
    assert plan.dag_plans(twin.kit) == []


def test_dag_ids_keep_only_what_airflow_allows(tmp_path: Path) -> None:
    assert plan.dag_id_for("acme-east.2") == "komet_ftd_acme-east.2"
    assert plan.dag_id_for("acme east/1") == "komet_ftd_acme_east_1"
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "acme east.toml").write_text("")
    (odd,) = plan.dag_plans(Home.at(tmp_path))
    assert odd.dag_id == "komet_ftd_acme_east" and "must be letters" in (odd.problem or "")


def test_only_upstream_trouble_is_retried() -> None:
    assert plan.retryable(EXIT_CODES["upstream"]) and EXIT_CODES["upstream"] == EXIT_TEMPFAIL
    for code in (0, EXIT_CONFIG, EXIT_DATAERR, *EXIT_CODES.values()):
        if code != EXIT_TEMPFAIL:
            assert not plan.retryable(code)
    assert "exited 78 (needs_person; not retried)" in plan.failure_line("acme", EXIT_CONFIG)
    assert "exited 75 (upstream; retried)" in plan.failure_line("acme", EXIT_TEMPFAIL)


def test_the_home_comes_from_the_variable_else_the_environment(tmp_path: Path) -> None:
    other = tmp_path / "other"
    env = {"KOMET_FTD_OPS_HOME": str(tmp_path)}
    assert plan.resolve_home(None, env).root == tmp_path.resolve()
    assert plan.resolve_home(str(other), env).root == other.resolve()
    with pytest.raises(ConfigError, match="komet_ftd_ops_home"):
        plan.resolve_home(None, {})


def test_dag_file_prints_the_installed_dag_file() -> None:
    result = CliRunner().invoke(cli, ["airflow", "dag-file"])
    assert result.exit_code == 0, result.output
    path = Path(result.output.strip())
    assert path.is_absolute() and path.is_file() and path.name == "dag_file.py"
    assert "build_dags" in path.read_text()
    import komet_ftd_ops

    assert path.parent == Path(komet_ftd_ops.__file__).parent / "airflow"


def test_neither_the_package_nor_the_cli_imports_airflow() -> None:
    # Airflow is an optional extra, and seconds to import: nothing but dags.py may import it.
    probe = (
        "import sys, komet_ftd_ops, komet_ftd_ops.cli, komet_ftd_ops.airflow.plan\n"
        "print(sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd="/"
    )
    assert out.stdout.strip() == "[]"
