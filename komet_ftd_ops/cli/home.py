"""The kit home of a command (`kit_home`, the one place the CLI builds it) and `init`."""

from __future__ import annotations

from pathlib import Path

import click

from ..settings.home import SETTINGS_FILE, Home

_META_KEY = "komet_ftd_ops.home"


def kit_home() -> Home:
    """This command's home, built once per invocation from the environment and handed down.

    `KOMET_FTD_OPS_HOME`, else the nearest folder at or above the current one holding
    `komet-ftd-ops.toml`, else the current folder (`Home.from_environment`).
    """
    meta = click.get_current_context().find_root().meta
    if _META_KEY not in meta:
        meta[_META_KEY] = Home.from_environment()
    home: Home = meta[_META_KEY]
    return home


@click.command()
@click.argument(
    "folder", required=False, type=click.Path(file_okay=False, path_type=Path), default=None
)
@click.option("--print-home", is_flag=True, help="Print only the home's path (for scripts).")
def init(folder: Path | None, print_home: bool) -> None:
    """Make a folder a kit home: write its settings file, komet-ftd-ops.toml, if missing.

    Without FOLDER: the home the kit would use here (KOMET_FTD_OPS_HOME, else the nearest
    folder above holding komet-ftd-ops.toml, else this folder). From then on every command and
    notebook run in the folder or below it (notebooks/ too) finds this home. The first run
    writes the file as well; an existing one is never changed.

    \b
    Example:
      komet-ftd-ops init ~/komet-ops
      cd ~/komet-ops/notebooks && komet-ftd-ops runs list   # the same home
    """
    home = Home.at(folder) if folder is not None else kit_home()
    written = home.write_settings()
    if print_home:
        click.echo(str(home.root))
        return
    state = "wrote" if written else "kept the existing"
    click.echo(f"kit home: {home.root} ({state} {SETTINGS_FILE})")
