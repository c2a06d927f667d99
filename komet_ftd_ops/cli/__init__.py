"""`komet-ftd-ops`: a thin command line over the library. Each command is one library call."""

from __future__ import annotations

import sys

import click

from ..errors import KometFtdOpsError
from .sandbox import sandbox


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="komet-ftd-ops")
def cli() -> None:
    """Run a flower wholesaler's Komet Sales <-> FTD integration.

    \b
    Start here:
      komet-ftd-ops sandbox up       # the twin of Komet and FTD on loopback
      komet-ftd-ops demo             # what `make run` does
    """


cli.add_command(sandbox)


def _register() -> None:
    # Commands that grow with later issues live in their own modules.
    from . import jobs

    for command in jobs.COMMANDS:
        cli.add_command(command)


def main() -> None:
    _register()
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
