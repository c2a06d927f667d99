"""`komet-ftd-ops run ...`, `runs ...` and `schedule`: notebook runs, their index, the clock."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from ..runs import index as run_index
from ..runs import runner
from ..runs.headline import headline
from ..runs.prune import prune as prune_runs
from ..runs.scheduler import parse_every
from ..runs.scheduler import schedule as run_schedule
from ..settings.profiles import load_profile
from .home import kit_home

_NOTEBOOK = click.option(
    "--notebook",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Run this notebook instead of the kit's notebooks/<kind>.ipynb (trying a change).",
)
_PROFILE = click.option("--profile", required=True, help="Profile name (profiles/<name>.toml).")


def _report(record: run_index.RunRecord) -> None:
    """Print the run notebook's path, say on stderr what went wrong, exit with the class's code."""
    if record.notebook is not None:
        click.echo(str(record.notebook))
    if runner.secret_leaked(record):
        click.secho(
            f"\n!!! A SECRET LEAKED into {record.notebook} (and its HTML copy).\n"
            f"!!! Both files were redacted (***). Find the cell that prints or returns a "
            f"token and fix the notebook; consider rotating the token.\n",
            err=True,
            fg="red",
            bold=True,
        )
    elif record.status == run_index.SKIPPED:
        click.echo(f"skipped: {record.reason}", err=True)
    elif record.status != run_index.OK:
        click.echo(
            f"run {record.id} {record.status} ({record.failure_class or 'no class'}): "
            f"{record.reason}",
            err=True,
        )
    code = runner.exit_code_for_run(record)
    if code:
        sys.exit(code)


def run_kind_command(
    kind: str, profile: str, parameters: dict[str, Any], notebook: Path | None
) -> None:
    """What every `run <kind>` command does: one run, its path printed, its exit code."""
    _report(
        runner.run_kind(kind, profile, home=kit_home(), parameters=parameters, notebook=notebook)
    )


@click.group()
def run() -> None:
    """Run one notebook now, recorded in runs/ and the run index.

    \b
    Example:
      komet-ftd-ops run sync --profile sandbox --dry-run
    """


@run.command()
@_PROFILE
@click.option("--dry-run", is_flag=True, help="Compute the feed but send nothing to FTD.")
@_NOTEBOOK
def sync(profile: str, dry_run: bool, notebook: Path | None) -> None:
    """One sync cycle: notebooks/sync.ipynb into runs/<profile>/<date>/<HHMMSS>Z-sync.ipynb.

    Prints the run notebook's path (the last line); with --dry-run first the plan: the orders
    it would take and the feed it would send. Exit codes: 0 ok or skipped (another run holds the
    profile's lock), 75 upstream trouble worth retrying, 78 needs a person (auth, config,
    a leaked secret, an unexpected crash), 65 bad data, 74 a filesystem error
    (read-only runs/, full disk), 124 deadline.

    Example: komet-ftd-ops run sync --profile sandbox --dry-run
    """
    record = runner.run_kind(
        "sync", profile, home=kit_home(), parameters={"dry_run": dry_run}, notebook=notebook
    )
    if dry_run and record.status == run_index.OK:
        plan = headline(record.counters) or "the notebook recorded no counters"
        click.echo(f"plan (dry run, nothing was sent): {plan}")
    _report(record)


@click.group()
def runs() -> None:
    """The run index: what ran, how it ended, where its notebook is.

    \b
    Example:
      komet-ftd-ops runs list --profile sandbox --limit 20
      komet-ftd-ops runs prune --older-than-days 7 --dry-run
    """


def _line(record: run_index.RunRecord) -> str:
    counters = " ".join(f"{k}={v}" for k, v in sorted(record.counters.items()))
    duration = "" if record.duration_s is None else f"{record.duration_s:.1f}s"
    failure = f" [{record.failure_class}] {record.reason}" if record.failure_class else ""
    if record.reviewed:
        failure += f" (reviewed: {record.reviewed})"
    return (
        f"{record.id}  {record.started_at:%Y-%m-%d %H:%M:%S}Z  "
        f"{record.profile:<10} {record.kind:<9} "
        f"{record.status:<9} {duration:>7}  {counters}{failure}  {record.notebook or ''}"
    ).rstrip()


@runs.command("list")
@click.option("--profile", default=None, help="Only this profile's runs.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON array, for scripts.")
def list_(profile: str | None, limit: int, as_json: bool) -> None:
    """Recent runs, newest first.

    Example: komet-ftd-ops runs list --profile sandbox --limit 5 --json
    """
    with kit_home().open_store() as store:
        records = run_index.list_runs(store, profile=profile, limit=limit)
    if as_json:
        click.echo(json.dumps([r.to_json() for r in records], indent=2))
    else:
        for record in records:
            click.echo(_line(record))


@runs.command()
@click.option("--older-than-days", type=click.FloatRange(min=0), default=7, show_default=True)
@click.option("--dry-run", is_flag=True, help="Only say what would be removed.")
def prune(older_than_days: float, dry_run: bool) -> None:
    """Delete the notebooks of old successful runs; keep every failure and its neighbours.

    Successful runs older than the cut-off lose their .ipynb and .html files; their rows stay
    (marked pruned) so counters and history remain. Failed and timed-out runs, and the run
    either side of each (per profile), are always kept.

    Example: komet-ftd-ops runs prune --older-than-days 7 --dry-run
    """
    home = kit_home()
    with home.open_store() as store:
        pruned = prune_runs(store, home, older_than_days=older_than_days, dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    for record in pruned:
        click.echo(f"{verb} {record.id}: {record.notebook or ''} {record.html or ''}".rstrip())
    click.echo(f"{verb} the files of {len(pruned)} run(s)", err=True)


@runs.command()
@click.argument("run_id")
@click.option("--note", required=True, help="What was wrong and what was done about it.")
def review(run_id: str, note: str) -> None:
    """Mark a run reviewed, with a note (kept in the state database).

    Failed runs nobody reviewed are listed by the reconciliation notebook and workbook; a
    review takes the run off that list. Reviewing again replaces the note.

    Example: komet-ftd-ops runs review 20261130T101500Z-sync-a1b2c3 --note "FTD outage, healed"
    """
    from ..runs.review import review_run

    home = kit_home()
    with home.open_store() as store:
        record = review_run(store, run_id, note, home=home)
    click.echo(f"reviewed {record.id} ({record.status}): {record.reviewed}")


@click.command()
@click.option("--profile", default=None, help="Profile name (profiles/<name>.toml).")
@click.option(
    "--all", "all_profiles", is_flag=True, help="Every profile of the home whose preflight passes."
)
@click.option(
    "--every",
    default=None,
    help="Interval such as 30s, 5m, 1h  [default: the profile's sync.every_minutes].",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="With --all: runs at once  [default: the number of cores].",
)
@click.option(
    "--max-cycles",
    "max_ticks",
    type=click.IntRange(min=1),
    default=None,
    help="Stop after N runs (with --all: N in all).",
)
@click.option("--dry-run", is_flag=True, help="Every run computes its feed but sends nothing.")
@_NOTEBOOK
def schedule(
    profile: str | None,
    all_profiles: bool,
    every: str | None,
    jobs: int | None,
    max_ticks: int | None,
    dry_run: bool,
    notebook: Path | None,
) -> None:
    """Run sync on the clock until Ctrl-C or SIGTERM; never two at once, no catch-up burst.

    Cycles start at wall-clock multiples of the interval (the first one at once). A run that
    overruns, or a pause of the machine, leads to one late run, never a burst. Each cycle's
    lateness is logged. Stopping kills the current run and records it as interrupted.

    With --all, every profile under the home whose onboarding preflight passes runs on its own
    interval, at most --jobs at once, oldest-due first (none starves); a profile that fails its
    preflight is named once and checked again at its next tick, so one onboarded later joins
    without a restart. Each run is its own process, stopped at the profile's deadline.

    \b
    Example:
      komet-ftd-ops schedule --profile sandbox --every 5m
      komet-ftd-ops schedule --all --jobs 4
    """
    if all_profiles == (profile is not None):
        raise click.UsageError("give either --profile NAME or --all.")
    if jobs is not None and not all_profiles:
        raise click.UsageError("--jobs goes with --all.")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    home = kit_home()
    if profile is None:
        from ..runs.fleet import schedule_all

        every_all = parse_every(every) if every else None
        schedule_all(home, every_s=every_all, jobs=jobs, max_runs=max_ticks, dry_run=dry_run,
                     notebook=notebook)  # fmt: skip
        return
    every_s = parse_every(every) if every else 60.0 * load_profile(profile, home).sync.every_minutes
    run_schedule(profile, every_s, home, max_ticks=max_ticks, dry_run=dry_run, notebook=notebook)
