"""`komet-ftd-ops db check | upgrade | accept-restore`: is the state database usable and as new
as its home; bringing its schema to the kit's; and, after reconciling, accepting an older one
deliberately."""

from __future__ import annotations

import sqlite3
import sys
from typing import TYPE_CHECKING

import click

from .home import kit_home

if TYPE_CHECKING:
    from ..settings.home import Home
    from ..state.witness import Witness

_PROFILE = click.option(
    "--profile",
    default=None,
    help="Also ask FTD whether its feed sequence moved without this database (one FTD call).",
)


@click.group()
def db() -> None:
    """The kit's state database (state.sqlite3 in the kit home, or `database_url`)."""


@db.command()
@_PROFILE
def check(profile: str | None) -> None:
    """Say whether the state database is usable and as new as its home: ok; damaged (with
    SQLite's own message); empty or missing while the home has runs; older than its runs (run
    notebooks newer than its last recorded run); feed sequence moved (with --profile: FTD holds a
    feed this database never sent). Exit 0 when usable, 78 when not, 74 when it cannot be read
    at all. Reads only: never creates or repairs (the FTD question is a delta FTD refuses).

    Example: komet-ftd-ops db check --profile acme
    """
    from ..runs.runner import EXIT_CONFIG, EXIT_IOERR
    from ..state.integrity import OK, examine
    from ..state.schema import HEAD

    home = kit_home()
    path = home.state_file()
    if path is None:  # PostgreSQL: no file to examine; the schema revision instead
        first = f"ok: the state database at {home.database_url()} is at revision {HEAD}"
    else:
        try:
            finding = examine(path, home.runs_dir)
        except (OSError, sqlite3.OperationalError) as exc:
            click.echo(f"cannot read the state database {path}: {exc}", err=True)
            sys.exit(EXIT_IOERR)
        if not finding.usable:
            click.echo(finding.line(), err=True)
            sys.exit(EXIT_CONFIG)
        if finding.state != OK:  # new: nothing in it to be older than anything
            click.echo(finding.line())
            return
        first = finding.line()
    try:
        witnesses = _witnesses(home, profile, check_revision=path is None)
    except (OSError, sqlite3.OperationalError) as exc:
        click.echo(f"cannot read the state database {path}: {exc}", err=True)
        sys.exit(EXIT_IOERR)
    refused = [w for w in witnesses if w.refused]
    if refused:
        click.echo(refused[0].line(), err=True)
        sys.exit(EXIT_CONFIG)
    click.echo(f"{first}; " + "; ".join(w.line().removeprefix("ok: ") for w in witnesses))


def _witnesses(home: Home, profile: str | None, *, check_revision: bool) -> list[Witness]:
    from ..connect import ftd_client
    from ..settings.profiles import load_profile
    from ..state.store import Store
    from ..state.witness import check_feed, check_runs

    # Reads only: no migration, and on SQLite a file of any revision (a restored old backup
    # too) is read as it is; PostgreSQL behind the kit is refused with what to run.
    with Store(
        home.database_url(), runs_dir=home.runs_dir, upgrade=False, check_revision=check_revision
    ) as store:
        found = [check_runs(store, home.runs_dir)]
        if profile is not None:
            ftd = ftd_client(load_profile(profile, home), home=home)
            try:
                found.append(check_feed(store, profile, ftd))
            finally:
                ftd.close()
        return found


@db.command()
def upgrade() -> None:
    """Bring the state database's schema to this kit's (Alembic migrations): needed once per
    kit version on PostgreSQL, where runs never migrate and refuse a database behind the kit
    (exit 78). On SQLite every open migrates already; this does the same explicitly. Safe to
    repeat, and to run from two machines at once (one waits for the other).

    Example: KOMET_FTD_OPS_DATABASE_URL=postgresql+psycopg://kfo:...@db/kfo komet-ftd-ops db upgrade
    """
    from ..state.schema import HEAD

    home = kit_home()
    with home.open_store(upgrade=True) as store:
        applied = store.applied
    if applied:
        click.echo(f"upgraded the state database at {store} to {HEAD} ({', '.join(applied)})")
    else:
        click.echo(f"the state database at {store} is at {HEAD} already")


@db.command("accept-restore")
@_PROFILE
def accept_restore(profile: str | None) -> None:
    """Accept a state database older than its home, deliberately: after restoring an older copy
    (or stopping a second home) and reconciling what Komet and FTD hold, record the run notebooks
    and (with --profile) FTD's feed sequence as known, so runs go on. The next sync then sends a
    full feed past FTD's sequence.

    Example: komet-ftd-ops db accept-restore --profile acme
    """
    from ..connect import ftd_client
    from ..settings.profiles import load_profile
    from ..state.witness import accept

    home = kit_home()
    with home.open_store() as store:
        ftd = ftd_client(load_profile(profile, home), home=home) if profile else None
        try:
            said = accept(store, home.runs_dir, profile=profile, ftd=ftd)
        finally:
            if ftd is not None:
                ftd.close()
    click.echo("accepted: " + ("; ".join(said) if said else "nothing to accept"))
