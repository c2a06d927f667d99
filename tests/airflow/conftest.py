"""The Airflow tests' own Airflow: run in .venv-airflow (`make airflow`), never in .venv.

Airflow reads its configuration from the environment when it is first imported, so the
session's Airflow home is set up in `pytest_configure`, before any test imports Airflow: a temp
folder holding Airflow's metadata database (SQLite), no example DAGs, and a DAG folder with a
symlink to the kit's DAG file, as a deployment would have it. The subprocesses a test starts
(`airflow dags test`, `komet-ftd-ops ...`) inherit it.

No `__init__.py` here: with one, this folder would be a package named `airflow`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from komet_ftd_ops.cli.airflow import DAG_FILE

AIRFLOW = str(Path(sys.executable).parent / "airflow")  # this venv's
_ROOT: list[Path] = []
_MIGRATE: list[subprocess.Popen[bytes]] = []


def pytest_configure(config: pytest.Config) -> None:
    root = Path(tempfile.mkdtemp(prefix="komet-ftd-airflow-"))
    _ROOT.append(root)
    dags = root / "dags"
    dags.mkdir()
    (dags / "komet_ftd_ops_dags.py").symlink_to(DAG_FILE)
    os.environ.update(
        {
            "AIRFLOW_HOME": str(root / "airflow"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{root / 'airflow.db'}",
        }
    )
    # Migrating Airflow's database takes half a minute: started now, in the background, so it
    # overlaps the tests that need no database; `airflow_db` waits for it.
    log = (root / "db-migrate.log").open("w")
    _MIGRATE.append(
        subprocess.Popen([AIRFLOW, "db", "migrate"], stdout=log, stderr=subprocess.STDOUT)
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    for proc in _MIGRATE:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for root in _ROOT:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def dags_folder() -> Path:
    return Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Airflow's metadata database, migrated once per session (`airflow dags test` needs it)."""
    (proc,) = _MIGRATE
    code = proc.wait(timeout=300)
    log = (_ROOT[0] / "db-migrate.log").read_text(errors="replace")
    assert code == 0, f"airflow db migrate exited {code}: {log[-3000:]}"
