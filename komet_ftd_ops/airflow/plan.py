"""What each profile's DAG is, from the home's files alone (no Airflow import here).

Which profiles get a DAG: every `profiles/<name>.toml` of the home, plus the built-in `sandbox`
profile while its twin runs under the home (`sandbox/info.json`). Not only those whose
preflight passes: Airflow parses a DAG file every half minute or so, and the preflight lives in
the state database, which a parse must not open (Airflow's advice: no database or network at
the top level of a DAG file). The preflight is the task's first step instead (dags.py): a
profile whose preflight has not passed has a DAG whose runs fail at once with the line that
says what to do, and are not retried; visible in the Airflow UI, unlike a DAG left out.

A profile that cannot be loaded (a bad value, a twin that is not running) still gets its DAG,
with the kit's default cadence and deadline; its runs fail with the profile's one-line error.

The retry rule is the kit's exit-code table (runs/runner.py EXIT_CODES), used, never copied:
only exit 75 (upstream trouble, EX_TEMPFAIL) is worth retrying.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from ..errors import ConfigError
from ..runs.runner import EXIT_CODES, EXIT_INTERRUPTED, EXIT_TEMPFAIL, SAFE_NAME
from ..settings.home import HOME_VARIABLE, Home, environment
from ..settings.profiles import SyncRules, load_profile, profile_names

DAG_PREFIX = "komet_ftd_"
# The Airflow Variable naming the kit home; unset, the env KOMET_FTD_OPS_HOME of the process
# that parses the DAG file (the DAG processor) is used.
HOME_AIRFLOW_VARIABLE = "komet_ftd_ops_home"
# The runner's deadline bounds the notebook; the HTML copy and the secret scan come after it
# and take a few seconds. Airflow's timeouts sit this far past the deadline so they never cut
# a run short during its secret scan (the kit's own deadline fires first, exit 124).
AFTER_RUN_GRACE_S = 60
RETRIES = 2  # exit 75 only; the next scheduled cycle retries anyway
RETRY_DELAY_S = 30
_NOT_A_KEY = re.compile(r"[^A-Za-z0-9_.-]")  # Airflow's dag ids: letters, digits, _ . -


@dataclass(frozen=True)
class DagPlan:
    """One profile's DAG, as the factory will build it."""

    profile: str
    dag_id: str
    every_minutes: int
    deadline_s: int
    # Why runs of this profile cannot start (its profile does not load, or its name is not
    # one the kit runs): every run fails with this line, unretried.
    problem: str | None = None

    @property
    def schedule(self) -> str | timedelta:
        """A cron line when the cadence divides the hour or the day (runs at :00, :05, ...,
        as the kit's own scheduler aligns them), else a plain interval."""
        n = self.every_minutes
        if n < 60 and 60 % n == 0:
            return f"*/{n} * * * *" if n > 1 else "* * * * *"
        if n % 60 == 0 and 24 % (n // 60) == 0:
            hours = n // 60
            return f"0 */{hours} * * *" if hours < 24 else "0 0 * * *"
        return timedelta(minutes=n)

    @property
    def timeout_s(self) -> int:
        """Airflow's run timeout: the profile's deadline plus the runner's after-run grace."""
        return self.deadline_s + AFTER_RUN_GRACE_S


def dag_id_for(profile: str) -> str:
    """`komet_ftd_<profile>`, any character Airflow refuses in an id replaced by `_`."""
    return DAG_PREFIX + _NOT_A_KEY.sub("_", profile)


def plan_for(profile: str, home: Home) -> DagPlan:
    """The DAG of one profile; its cadence and deadline from the profile's [sync] table."""
    defaults = SyncRules()
    dag_id = dag_id_for(profile)
    if not SAFE_NAME.match(profile):
        problem = f"profile name {profile!r} must be letters, digits, '_', '-' or '.'"
        return DagPlan(profile, dag_id, defaults.every_minutes, defaults.deadline_seconds, problem)
    try:
        rules = load_profile(profile, home).sync
    except ConfigError as exc:  # the one-line error, never a value of a secret
        return DagPlan(profile, dag_id, defaults.every_minutes, defaults.deadline_seconds, str(exc))
    return DagPlan(profile, dag_id, rules.every_minutes, rules.deadline_seconds)


def dag_plans(home: Home) -> list[DagPlan]:
    """One plan per profile; two names that map to one dag id keep the first, the second's
    runs say why they cannot start."""
    plans: dict[str, DagPlan] = {}
    for name in profile_names(home):
        plan = plan_for(name, home)
        if plan.dag_id in plans:
            clash = f"its dag id {plan.dag_id} is taken by profile {plans[plan.dag_id].profile!r}"
            plan = DagPlan(name, f"{plan.dag_id}_2", plan.every_minutes, plan.deadline_s, clash)
        plans[plan.dag_id] = plan
    return list(plans.values())


def resolve_home(variable: str | None, env: Mapping[str, str] | None = None) -> Home:
    """The kit home of the DAGs: the Airflow Variable's value, else KOMET_FTD_OPS_HOME.

    Neither set is a ConfigError: Airflow shows it as the DAG file's import error. (The kit's
    own fallback, the current folder, means nothing in a DAG processor.)
    """
    env = environment() if env is None else env
    root = variable or env.get(HOME_VARIABLE)
    if not root:
        raise ConfigError(
            f"no kit home for the komet-ftd-ops DAGs: set the Airflow Variable "
            f"{HOME_AIRFLOW_VARIABLE} or the environment variable {HOME_VARIABLE} of the DAG "
            f"processor and the workers to the home folder."
        )
    return Home.at(root)


# --- what a run's exit code means to Airflow ----------------------------------------------


def retryable(exit_code: int) -> bool:
    """Only upstream trouble (exit 75) is worth another attempt; 78, 65, 74, 124... are not."""
    return exit_code == EXIT_TEMPFAIL


def failure_line(profile: str, exit_code: int) -> str:
    """One line for the task's failure: the exit code and its failure class."""
    classes = {code: name for name, code in EXIT_CODES.items()}
    classes[EXIT_INTERRUPTED] = "interrupted"
    what = classes.get(exit_code, "unexpected exit code")
    again = "retried" if retryable(exit_code) else "not retried"
    return (
        f"komet-ftd-ops run sync --profile {profile} exited {exit_code} ({what}; {again}); "
        f"the run index and the run notebook say more: komet-ftd-ops runs list --profile {profile}"
    )
