"""The komet-ftd-ops DAG file: one Airflow DAG per profile of the kit home (`komet_ftd_<profile>`).

Copy or symlink this file into the DAG folder of an Airflow deployment whose workers have the
kit installed (`pip install 'komet-ftd-ops[airflow]'`); `komet-ftd-ops airflow dag-file` prints
its path. The kit home comes from the Airflow Variable `komet_ftd_ops_home`, else the
environment variable KOMET_FTD_OPS_HOME. (Airflow's safe mode parses only files that mention
both "airflow" and "dag": this docstring does.)
"""

from komet_ftd_ops.airflow.dags import build_dags

globals().update(build_dags())
