"""The DAG factory: one DAG per profile of a kit home, each one task running the kit's runner.

    build_dags(home=None)   {dag_id: DAG} for every profile (plan.py says which, and why)
    KitSyncOperator         `komet-ftd-ops run sync --profile P` as a child process

The task is the kit's own runner in a child process (`python -m komet_ftd_ops run sync`), not
`run_sync_notebook` called in the worker: the run index, the secret scan, the exit codes and
the run notebooks stay the kit's, and Airflow's worker stays away from the kernel's process
group and signals. The child gets its own session, so Airflow's signals to the task's process
group reach it only as the SIGTERM this operator forwards; the kit then stops the notebook and
its kernel and records the run as interrupted, even if Airflow SIGKILLs the task meanwhile.

Nothing secret goes into Airflow: the task takes the profile name and the home's path, returns
nothing (no XCom), and logs the runner's output, which holds only paths and one-line reasons
the runner has already masked (runs.secretscan.one_line). Tokens reach the child through the
worker's environment or the home's secrets file, as for any other run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import DAG, BaseOperator, Variable
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowTaskTimeout

from ..errors import KometFtdOpsError
from ..runs.runner import exit_code_for
from ..settings.home import HOME_VARIABLE, Home, environment
from .plan import (
    HOME_AIRFLOW_VARIABLE,
    RETRIES,
    RETRY_DELAY_S,
    DagPlan,
    dag_plans,
    failure_line,
    resolve_home,
    retryable,
)

START_DATE = datetime(2024, 1, 1, tzinfo=UTC)  # any past date: catchup is off
STOP_WAIT_S = 30  # how long a stopped task waits for the kit to record its run as interrupted


class KitSyncOperator(BaseOperator):
    """One recorded sync of a profile: its preflight, then `komet-ftd-ops run sync`.

    Exit 0 (ok, or skipped because another run held the profile) succeeds; exit 75 raises a
    retryable AirflowException; every other code, a failed preflight and a profile that cannot
    load raise AirflowFailException (no retry: a person must look).
    """

    ui_color = "#f0e4ff"

    def __init__(
        self, *, profile: str, home_root: str, problem: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.profile = profile
        self.home_root = home_root
        self.problem = problem
        self._child: subprocess.Popen[str] | None = None

    def execute(self, context: Any) -> None:
        if self.problem:
            raise AirflowFailException(f"profile {self.profile!r}: {self.problem}")
        self._check_preflight()
        code = self._run_sync()
        if code == 0:
            return
        line = failure_line(self.profile, code)
        if retryable(code):
            raise AirflowException(line)
        raise AirflowFailException(line)

    def _check_preflight(self) -> None:
        """The gate `komet-ftd-ops schedule` has: no runs before onboarding passed."""
        from ..onboarding import preflight_passed

        try:
            passed, why = preflight_passed(self.profile, Home.at(self.home_root))
        except KometFtdOpsError as exc:  # the state database cannot be read, say
            code = exit_code_for(exc)
            line = f"preflight of {self.profile!r} unreadable (exit {code}): {exc}"
            raise (AirflowException if retryable(code) else AirflowFailException)(line) from None
        if not passed:
            raise AirflowFailException(f"no runs for {self.profile!r}: {why}")
        self.log.info("%s", why)

    def _run_sync(self) -> int:
        command = [sys.executable, "-m", "komet_ftd_ops", "run", "sync", "--profile", self.profile]
        env = {**environment(), HOME_VARIABLE: self.home_root}
        self.log.info(
            "running: komet-ftd-ops run sync --profile %s (home %s)",
            self.profile,
            env[HOME_VARIABLE],
        )
        child = subprocess.Popen(
            command,
            cwd=self.home_root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._child = child
        try:
            assert child.stdout is not None
            for line in child.stdout:  # paths and masked one-line reasons only
                self.log.info("%s", line.rstrip())
            return child.wait()
        except AirflowTaskTimeout:  # Airflow's backstop: the kit's own deadline did not fire
            self._stop_child()
            raise AirflowFailException(
                f"{self.profile}: the run outlived its deadline plus grace; stopped it "
                "(recorded as interrupted in the run index)"
            ) from None
        except BaseException:  # SIGINT from the supervisor, or any other way out
            self._stop_child()
            raise
        finally:
            self._child = None

    def on_kill(self) -> None:
        """SIGTERM of the task (marked failed, dag run timed out): pass it on to the run."""
        child = self._child
        if child is not None and child.poll() is None:
            self.log.warning("stopping the run of %s (pid %d)", self.profile, child.pid)
            child.send_signal(signal.SIGTERM)

    def _stop_child(self) -> None:
        child = self._child
        if child is None or child.poll() is not None:
            return
        child.send_signal(signal.SIGTERM)  # the kit kills its notebook and records the run
        try:
            child.wait(timeout=STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()


def build_dag(plan: DagPlan, home: Home) -> DAG:
    """One profile's DAG: its cadence, one run at a time, no catch-up, a run timeout."""
    timeout = timedelta(seconds=plan.timeout_s)
    doc = (
        f"Sync of the komet-ftd-ops profile `{plan.profile}` (home `{home.root}`): "
        f"`komet-ftd-ops run sync --profile {plan.profile}` every {plan.every_minutes} min; "
        f"the run notebook and the run index are the kit's (`komet-ftd-ops runs list`)."
    )
    with DAG(
        dag_id=plan.dag_id,
        description=f"komet-ftd-ops sync of {plan.profile}",
        doc_md=doc,
        schedule=plan.schedule,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        max_active_tasks=1,
        dagrun_timeout=timeout,
        tags=["komet-ftd-ops"],
    ) as dag:
        KitSyncOperator(
            task_id="sync",
            profile=plan.profile,
            home_root=str(home.root),
            problem=plan.problem,
            retries=RETRIES,
            retry_delay=timedelta(seconds=RETRY_DELAY_S),
            execution_timeout=timeout,
        )
    return dag


def home_for_dags() -> Home:
    """The Airflow Variable `komet_ftd_ops_home`, else KOMET_FTD_OPS_HOME (plan.resolve_home)."""
    return resolve_home(Variable.get(HOME_AIRFLOW_VARIABLE, default=None))


def build_dags(home: Home | None = None) -> dict[str, DAG]:
    """{dag_id: DAG}, one per profile of the home (plan.dag_plans)."""
    home = home_for_dags() if home is None else home
    return {plan.dag_id: build_dag(plan, home) for plan in dag_plans(home)}
