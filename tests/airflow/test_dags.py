"""The kit's DAG file as Airflow parses it (DagBag), and the task's retry rule on real runs."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from kit_profiles import example_profile, pass_preflight

from komet_ftd_ops.airflow.dags import KitSyncOperator, build_dags
from komet_ftd_ops.airflow.plan import AFTER_RUN_GRACE_S, RETRIES, RETRY_DELAY_S
from komet_ftd_ops.runs import index as runs
from komet_ftd_ops.settings.home import Home


def _bag(dags_folder: Path) -> DagBag:
    return DagBag(dag_folder=str(dags_folder))


def test_the_dag_file_parses_into_one_dag_per_profile(home: Path, dags_folder: Path) -> None:
    example_profile(home, "acme", every=10, deadline=200)
    example_profile(home, "east", every=5, deadline=240)
    broken_toml = (home / "profiles" / "acme.toml").read_text().replace("= 10", "= 'often'", 1)
    (home / "profiles" / "broken.toml").write_text(broken_toml)

    bag = _bag(dags_folder)

    assert bag.import_errors == {}
    assert sorted(bag.dags) == ["komet_ftd_acme", "komet_ftd_broken", "komet_ftd_east"]
    acme = bag.dags["komet_ftd_acme"]
    assert acme.schedule == "*/10 * * * *" and bag.dags["komet_ftd_east"].schedule == "*/5 * * * *"
    assert acme.max_active_runs == 1 and acme.max_active_tasks == 1
    assert acme.catchup is False
    assert acme.dagrun_timeout == timedelta(seconds=200 + AFTER_RUN_GRACE_S)
    assert acme.params == {}  # nothing of the profile, least of all a secret, in DAG params
    (task,) = acme.tasks
    assert isinstance(task, KitSyncOperator) and task.profile == "acme"
    assert task.home_root == str(home.resolve())
    assert task.retries == RETRIES and task.retry_delay == timedelta(seconds=RETRY_DELAY_S)
    assert task.execution_timeout == acme.dagrun_timeout
    # a profile that does not load keeps its DAG (its runs fail and say why) at the defaults
    broken = bag.dags["komet_ftd_broken"].tasks[0]
    assert broken.problem and "every_minutes" in broken.problem
    assert bag.dags["komet_ftd_broken"].schedule == "*/5 * * * *"


def test_without_a_home_the_dag_file_says_how_to_name_one(
    dags_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KOMET_FTD_OPS_HOME", raising=False)
    bag = _bag(dags_folder)
    assert bag.dags == {}
    (error,) = bag.import_errors.values()
    assert "set the Airflow Variable komet_ftd_ops_home" in error


def test_the_airflow_variable_names_the_home(
    home: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path_factory.mktemp("other-home")
    example_profile(other, "west", every=15, deadline=100)
    monkeypatch.setenv("AIRFLOW_VAR_KOMET_FTD_OPS_HOME", str(other))  # an Airflow Variable
    dags = build_dags()
    assert list(dags) == ["komet_ftd_west"]
    assert dags["komet_ftd_west"].tasks[0].home_root == str(other.resolve())


def _sync_task(home: Path, name: str) -> KitSyncOperator:
    task = build_dags(Home.at(home))[f"komet_ftd_{name}"].tasks[0]
    assert isinstance(task, KitSyncOperator)
    return task


def test_a_profile_without_a_passing_preflight_fails_unretried(home: Path, profile: str) -> None:
    with pytest.raises(AirflowFailException, match="no preflight for profile 'test'"):
        _sync_task(home, profile).execute({})
    with Home.at(home).open_store() as store:
        assert runs.list_runs(store) == []  # refused before anything ran


def test_upstream_trouble_is_retried_and_a_missing_token_is_not(
    home: Path, profile: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The `test` profile points at 127.0.0.1:9, where nothing listens: a real run of the kit's
    # runner, exit 75, which Airflow may retry.
    pass_preflight(home, profile)
    with pytest.raises(AirflowException) as retried:
        _sync_task(home, profile).execute({})
    assert not isinstance(retried.value, AirflowFailException)
    assert "exited 75 (upstream; retried)" in str(retried.value)

    monkeypatch.delenv("TEST_FTD_TOKEN")  # a secret reference that resolves to nothing: 78
    with pytest.raises(AirflowFailException, match=r"exited 78 \(needs_person; not retried\)"):
        _sync_task(home, profile).execute({})

    with Home.at(home).open_store() as store:
        second, first = runs.list_runs(store)
    assert (first.failure_class, second.failure_class) == ("upstream", "needs_person")


def test_stopping_the_task_stops_the_run_and_records_it_interrupted(
    home: Path, profile: str
) -> None:
    # What Airflow does to a task marked failed or timed out: SIGTERM to the task, on_kill().
    pass_preflight(home, profile)
    task = _sync_task(home, profile)
    raised: list[BaseException] = []

    def execute() -> None:
        try:
            task.execute({})
        except BaseException as exc:
            raised.append(exc)

    worker = threading.Thread(target=execute)
    worker.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not _running(home):  # the run's row is open
        time.sleep(0.2)
    task.on_kill()
    worker.join(timeout=120)

    (exc,) = raised
    assert isinstance(exc, AirflowFailException) and "exited 130 (interrupted" in str(exc)
    with Home.at(home).open_store() as store:
        (record,) = runs.list_runs(store)
    assert record.status == runs.FAILED and record.reason.startswith("interrupted")


def _running(home: Path) -> bool:
    with Home.at(home).open_store() as store:
        return any(r.status == runs.RUNNING for r in runs.list_runs(store))
