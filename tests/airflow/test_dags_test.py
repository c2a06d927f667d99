"""`airflow dags test komet_ftd_sandbox`: one real cycle against the twin, state in PostgreSQL.

As a deployment would run it: the twin started with `komet-ftd-ops sandbox up` in a fresh home,
the sandbox profile onboarded, the kit's state in a database of the throwaway PostgreSQL
cluster (tests/pg.py, through KOMET_FTD_OPS_DATABASE_URL), Airflow's own metadata in SQLite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from komet_ftd_ops.runs.secretscan import profile_secrets
from komet_ftd_ops.settings.home import Home

KIT = [sys.executable, "-m", "komet_ftd_ops"]
AIRFLOW = str(Path(sys.executable).parent / "airflow")


def _run(argv: list[str], env: dict[str, str], timeout: float = 300) -> str:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{argv}: {done.stdout[-3000:]}{done.stderr[-3000:]}"
    return done.stdout


@pytest.mark.postgres
def test_airflow_dags_test_runs_one_real_cycle_with_state_in_postgresql(
    home: Path, postgres_url: str, airflow_db: None
) -> None:
    env = {
        **os.environ,
        "KOMET_FTD_OPS_HOME": str(home),
        "KOMET_FTD_OPS_DATABASE_URL": postgres_url,
    }
    _run([*KIT, "sandbox", "up"], env)
    try:
        _run(
            [*KIT, "onboard", "--profile", "sandbox", "--token-ref", "sandbox:komet.customer"], env
        )
        tokens = profile_secrets("sandbox", Home.at(home))  # while the twin can say them
        done = subprocess.run(
            [AIRFLOW, "dags", "test", "komet_ftd_sandbox"],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        _run([*KIT, "sandbox", "down"], env)
    said = done.stdout + done.stderr
    assert done.returncode == 0, said[-5000:]
    assert "dag_id=komet_ftd_sandbox" in said and "state=success" in said

    (row,) = json.loads(_run([*KIT, "runs", "list", "--profile", "sandbox", "--json"], env))
    assert (row["kind"], row["status"]) == ("sync", "ok")
    notebook = Path(row["notebook"])
    assert notebook.is_file() and notebook.is_relative_to(home / "runs" / "sandbox")
    assert notebook.with_suffix(".html").is_file()
    assert str(notebook) in said  # the task's log names the run notebook
    # The run index row is in PostgreSQL, and no SQLite state file was made on the side.
    with sa.create_engine(postgres_url).connect() as conn:
        status = conn.execute(sa.text("SELECT status FROM runs WHERE id = :id"), {"id": row["id"]})
        assert status.scalar_one() == "ok"
    assert not (home / "state.sqlite3").exists()
    # Nothing secret in what Airflow logged.
    assert len(tokens) >= 2 and all(len(t) >= 8 for t in tokens)
    assert not [t for t in tokens if t in said]
