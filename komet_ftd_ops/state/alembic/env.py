"""Alembic's environment for the state database: always run on the Store's own connection.

`state.alembic_run` hands the connection over in `config.attributes`, inside the Store's open
transaction; there is no offline (SQL script) mode and no URL in a config file.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("the state migrations run through komet-ftd-ops (`db upgrade`) only")
context.configure(
    connection=connection,
    target_metadata=None,
    version_table=context.config.get_main_option("version_table") or "alembic_version",
    transactional_ddl=True,
)
with context.begin_transaction():  # the Store's transaction is open: Alembic joins it
    context.run_migrations()
