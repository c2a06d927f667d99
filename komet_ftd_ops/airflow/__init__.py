"""Airflow: one DAG per profile of a kit home (the optional extra `komet-ftd-ops[airflow]`).

    plan.py       what each DAG is (id, cadence, timeout, retry rule), from the home's files
                  alone; no Airflow import, so the main test suite and the CLI can use it
    dags.py       the DAG factory and the operator that runs `komet-ftd-ops run sync`
    dag_file.py   the file an Airflow deployment drops into its DAG folder
                  (`komet-ftd-ops airflow dag-file` prints its path)

Nothing here is imported by `import komet_ftd_ops` or by the CLI at start: Airflow is optional
and takes seconds to import. Only dags.py (and so dag_file.py) imports it.
"""
