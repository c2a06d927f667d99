"""Alembic's script directory for the state database (env.py, versions/); see `state.schema`."""
