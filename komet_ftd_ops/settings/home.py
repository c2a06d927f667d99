"""The kit's home folder: every path under it, and the one read of the process environment.

`environment()` is the only function that reads the process environment. Each entry point (a
command, the sync notebook, the onboarding session, a test) builds one `Home` and hands it
down; nothing below it falls back to an ambient home.

Where the home is (`Home.from_environment`): `KOMET_FTD_OPS_HOME`, else the nearest folder at
or above the current one that holds the settings file `komet-ftd-ops.toml`, else the current
folder. So a notebook opened in `<home>/notebooks/` (JupyterLab's working folder is the
notebook's own) still finds the home above it.

Where the state database is (`Home.database_url`): `KOMET_FTD_OPS_DATABASE_URL`, else
`database_url` in `komet-ftd-ops.toml`, else the SQLite file `<home>/state.sqlite3`. Either may
be a secret reference (`env:NAME`, `file:key` of secrets.toml) as the URL holds a password.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..state.engine import Target
    from ..state.store import Store

HOME_VARIABLE = "KOMET_FTD_OPS_HOME"
DATABASE_URL_VARIABLE = "KOMET_FTD_OPS_DATABASE_URL"
SETTINGS_FILE = "komet-ftd-ops.toml"
SETTINGS_TEXT = """\
# komet-ftd-ops: this folder is a kit home (runs/, profiles/, secrets.toml, state.sqlite3).
# The kit finds it from any folder below (notebooks/ too) by looking for this file upwards;
# KOMET_FTD_OPS_HOME overrides the search.
#
# Home-wide settings go here.
#
# database_url: where the kit's state is. Default: the SQLite file state.sqlite3 here.
# For a shared deployment, PostgreSQL (then run `komet-ftd-ops db upgrade` once per kit
# version). The URL holds a password: give a secret reference, as for tokens, e.g.
#   database_url = "env:KOMET_FTD_DB_URL"     (or "file:database_url" of secrets.toml)
# with the value postgresql+psycopg://user:password@host:5432/dbname.
# KOMET_FTD_OPS_DATABASE_URL overrides this setting.
# database_url = "sqlite:///state.sqlite3"
"""


def environment() -> Mapping[str, str]:
    """The process environment. The one place the kit reads it."""
    return os.environ


def find_home(start: Path) -> Path | None:
    """The nearest folder at or above `start` holding `komet-ftd-ops.toml`, or None."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / SETTINGS_FILE).is_file():
            return folder
    return None


@dataclass(frozen=True)
class Home:
    """A kit home: where runs, the state database, profiles, secrets and the twin live."""

    root: Path

    @classmethod
    def from_environment(
        cls, env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> Home:
        """`KOMET_FTD_OPS_HOME`, else the nearest folder holding `komet-ftd-ops.toml` at or
        above the current one, else the current folder."""
        env = environment() if env is None else env
        if env.get(HOME_VARIABLE):
            return cls.at(env[HOME_VARIABLE])
        here = Path.cwd() if cwd is None else cwd
        return cls.at(find_home(here) or here)

    @classmethod
    def at(cls, root: Path | str) -> Home:
        return cls(Path(root).resolve())

    @property
    def settings_file(self) -> Path:
        return self.root / SETTINGS_FILE

    def write_settings(self) -> bool:
        """Write `komet-ftd-ops.toml` if it is missing (never overwritten); True if written."""
        path = self.settings_file
        if path.exists():
            return False
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            with path.open("x", encoding="utf-8") as fh:  # "x": a concurrent first run wins once
                fh.write(SETTINGS_TEXT)
        except FileExistsError:
            return False
        return True

    def settings(self) -> dict[str, Any]:
        """The settings file's top-level keys ({} when there is none)."""
        path = self.settings_file
        try:
            with path.open("rb") as fh:
                return dict(tomllib.load(fh))
        except FileNotFoundError:
            return {}
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from None

    @property
    def state_db(self) -> Path:
        """The default state database: a SQLite file in the home (see `database_url`)."""
        return self.root / "state.sqlite3"

    def database_url(self, env: Mapping[str, str] | None = None) -> Target:
        """Where the state database is: a SQLite file, or a PostgreSQL URL (SQLAlchemy's: its
        str and repr hide the password). A secret reference is resolved here; a relative
        SQLite path is the home's."""
        from ..state.engine import SqliteFile, parse_target, sqlite_path

        env = environment() if env is None else env
        value = env.get(DATABASE_URL_VARIABLE) or self.settings().get("database_url")
        if value is None or value == "":
            return parse_target(self.state_db)
        if not isinstance(value, str):
            raise ConfigError(f"database_url in {self.settings_file} must be a string")
        scheme = value.partition(":")[0]
        if "://" not in value and scheme in ("env", "file"):
            from .secrets import resolve_secret

            value = resolve_secret(value, self, env).reveal()
        target = parse_target(value)
        path = sqlite_path(target)
        if path is not None and not path.is_absolute():
            return SqliteFile(self.root / path)
        return target

    def state_file(self, env: Mapping[str, str] | None = None) -> Path | None:
        """The state database's SQLite file (usually `state_db`); None on PostgreSQL."""
        from ..state.engine import sqlite_path

        return sqlite_path(self.database_url(env))

    @property
    def profiles_dir(self) -> Path:
        return self.root / "profiles"

    def profile_path(self, name: str) -> Path:
        return self.profiles_dir / f"{name}.toml"

    def checked_profile_path(self, name: str) -> Path:
        """The profile as last checked (settings.profiles): derived, safe to delete."""
        return self.root / "cache" / "profiles" / f"{name}.json"

    @property
    def secrets_file(self) -> Path:
        return self.root / "secrets.toml"

    @property
    def sandbox_dir(self) -> Path:
        return self.root / "sandbox"

    @property
    def sandbox_info(self) -> Path:
        """Written by the running twin: base URLs, ids and sandbox tokens."""
        return self.sandbox_dir / "info.json"

    @property
    def twin_db(self) -> Path:
        """The twin's own database (the twin's state, not the kit's)."""
        return self.sandbox_dir / "twin.sqlite3"

    def runs_url(self) -> str:
        """Where run notebooks go: `runs_url` in komet-ftd-ops.toml, default `runs/` here. A
        folder (relative to the home, or a shared mount) or any URL papermill writes (s3://,
        gs://, abs://...)."""
        value = self.settings().get("runs_url") or "runs/"
        if not isinstance(value, str):
            raise ConfigError(f"runs_url in {self.settings_file} must be a string")
        return value

    def runs_remote(self) -> str | None:
        """`runs_url` when it is a remote URL (a run is written to `runs_dir` first, then
        copied there), else None. No trailing slash."""
        value = self.runs_url()
        scheme, sep, rest = value.partition("://")
        if not sep or scheme == "file":
            return None
        return value.rstrip("/")

    @property
    def runs_dir(self) -> Path:
        """The local runs folder: `runs_url` when it is a folder, else `<home>/runs` (the run's
        own copy, which the HTML export and the secret scan need)."""
        value = self.runs_url()
        if self.runs_remote() is not None:
            return self.root / "runs"
        path = Path(value.removeprefix("file://")).expanduser()
        return path if path.is_absolute() else self.root / path

    @property
    def runs_index(self) -> Path:
        return self.runs_dir / "index.html"

    def lock_path(self, profile: str) -> Path:
        return self.root / "locks" / f"{profile}.lock"

    def handoff_path(self, profile: str) -> Path:
        return self.root / "handoff" / f"{profile}.md"

    def reports_dir(self, profile: str) -> Path:
        return self.root / "reports" / profile

    def read_sandbox_info(self) -> dict[str, Any]:
        path = self.sandbox_info
        if not path.exists():
            raise ConfigError(
                f"the sandbox twin is not running (no {path}); start it with "
                f"`komet-ftd-ops sandbox up`."
            )
        return dict(json.loads(path.read_text()))

    def open_store(self, upgrade: bool | None = None) -> Store:
        """The state database of this home: the one place a store is opened. SQLite is
        migrated on open; PostgreSQL is checked (`upgrade=True` migrates, for `db upgrade`).
        In a run's process holding a PostgreSQL lease, every write re-checks it first."""
        from ..state.lease import guard_store
        from ..state.store import Store

        store = Store(self.database_url(), runs_dir=self.runs_dir, upgrade=upgrade)
        try:
            guard_store(store, environment())
        except BaseException:
            store.close()
            raise
        return store
