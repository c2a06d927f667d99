"""Running Alembic on a Store's own connection, configured in code (no alembic.ini at run time).

Imported only when a migration must run (see `state.schema`): Alembic's import is not free and
every cycle opens the store.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

from .schema import SCRIPT_LOCATION, VERSION_TABLE


def config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    cfg.set_main_option("version_table", VERSION_TABLE)
    cfg.attributes["connection"] = connection
    return cfg


def run_alembic(connection: Connection, what: str, revision: str) -> None:
    """`upgrade` or `stamp` to `revision`, inside the connection's open transaction (the
    Store's `atomic()`), which commits or rolls back the whole of it."""
    cfg = config(connection)
    if what == "stamp":
        command.stamp(cfg, revision)
    else:
        command.upgrade(cfg, revision)
