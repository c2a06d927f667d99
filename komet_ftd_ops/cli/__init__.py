"""`komet-ftd-ops`: a thin command line over the library. Each command is one library call.

The command list below is the whole CLI: `cli` is complete as soon as this module is imported
(nothing is registered later, or by importing something else). One module per command group:

    sandbox.py     sandbox up|down|status|info|dump|shop|confirm|tamper|set|stock|faults|check
    home.py        init, and kit_home(): the one place a command builds its Home
    jobs.py        demo, quota
    runs.py        run sync, runs list|prune|review, schedule
    onboard.py     onboard
    probe.py       probe (the conformance probe of a live Komet account)
    reconcile.py   reconcile, health
    db.py          db check|accept-restore
    airflow.py     airflow dag-file (the DAG file for an Airflow deployment)

The command modules import only light things at the top; pandas, papermill and the like are
imported inside the command functions that need them, so `--help` stays quick.
"""

from __future__ import annotations

import sys

import click

from ..errors import KometFtdOpsError
from . import airflow, db, home, jobs, onboard, probe, reconcile, runs, sandbox

COMMANDS: tuple[click.Command, ...] = (
    home.init,
    sandbox.sandbox,
    jobs.demo,
    jobs.quota,
    onboard.onboard,
    probe.probe,
    runs.run,
    runs.runs,
    runs.schedule,
    reconcile.reconcile,
    reconcile.health,
    db.db,
    airflow.airflow,
)


@click.group(commands=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="komet-ftd-ops")
def cli() -> None:
    """Run a flower wholesaler's Komet Sales <-> FTD integration.

    \b
    Start here:
      komet-ftd-ops sandbox up       # the twin of Komet and FTD on loopback
      komet-ftd-ops demo             # what `make run` does
    """


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KometFtdOpsError as exc:
        click.echo(f"error: {exc}", err=True)
        from ..runs.runner import exit_code_for

        sys.exit(exit_code_for(exc))
    except SystemExit:
        raise
