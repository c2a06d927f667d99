"""`komet-ftd-ops airflow dag-file`: where the DAG file for an Airflow deployment is.

Airflow itself is never imported here (it is an optional extra and takes seconds to load).
"""

from __future__ import annotations

from pathlib import Path

import click

# The module path Airflow loads; found without importing it (importing it imports Airflow).
DAG_FILE = Path(__file__).resolve().parents[1] / "airflow" / "dag_file.py"


@click.group()
def airflow() -> None:
    """Run the kit's syncs on Airflow: one DAG per profile, `komet_ftd_<profile>`.

    \b
    Example:
      ln -s "$(komet-ftd-ops airflow dag-file)" "$AIRFLOW_HOME/dags/komet_ftd_ops_dags.py"
    """


@airflow.command("dag-file")
def dag_file() -> None:
    """Print the absolute path of the DAG file to copy or symlink into Airflow's DAG folder.

    The workers need the kit with its extra (`pip install 'komet-ftd-ops[airflow]'`) and the
    kit home in the Airflow Variable komet_ftd_ops_home or in KOMET_FTD_OPS_HOME.

    Example: cp "$(komet-ftd-ops airflow dag-file)" "$AIRFLOW_HOME/dags/komet_ftd_ops_dags.py"
    """
    click.echo(str(DAG_FILE))
