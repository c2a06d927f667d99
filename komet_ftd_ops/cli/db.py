"""`komet-ftd-ops db check`: is the state database usable, and if not, what is wrong with it."""

from __future__ import annotations

import sqlite3
import sys

import click

from .home import kit_home


@click.group()
def db() -> None:
    """The kit's state database (state.sqlite3 in the kit home)."""


@db.command()
def check() -> None:
    """Say whether the state database is usable: ok, damaged (with SQLite's own message), or
    empty or missing while the home has runs. Exit 0 when usable, 78 when not (restore the file
    from a backup), 74 when it cannot be read at all. Reads only: never creates or repairs.

    Example: komet-ftd-ops db check
    """
    from ..runs.runner import EXIT_CONFIG, EXIT_IOERR
    from ..state.integrity import examine

    home = kit_home()
    try:
        finding = examine(home.state_db, home.runs_dir)
    except (OSError, sqlite3.OperationalError) as exc:
        click.echo(f"cannot read the state database {home.state_db}: {exc}", err=True)
        sys.exit(EXIT_IOERR)
    if finding.usable:
        click.echo(finding.line())
        return
    click.echo(finding.line(), err=True)
    sys.exit(EXIT_CONFIG)
