"""The kit's home folder: every path under it, and the one read of the process environment.

`environment()` is the only function that reads the process environment. Each entry point (a
command, the sync notebook, the onboarding session, a test) builds one `Home` and hands it
down; nothing below it falls back to an ambient home.

Where the home is (`Home.from_environment`): `KOMET_FTD_OPS_HOME`, else the nearest folder at
or above the current one that holds the settings file `komet-ftd-ops.toml`, else the current
folder. So a notebook opened in `<home>/notebooks/` (JupyterLab's working folder is the
notebook's own) still finds the home above it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..state.store import Store

HOME_VARIABLE = "KOMET_FTD_OPS_HOME"
SETTINGS_FILE = "komet-ftd-ops.toml"
SETTINGS_TEXT = """\
# komet-ftd-ops: this folder is a kit home (runs/, profiles/, secrets.toml, state.sqlite3).
# The kit finds it from any folder below (notebooks/ too) by looking for this file upwards;
# KOMET_FTD_OPS_HOME overrides the search.
#
# Home-wide settings go here; none is needed yet. Planned, for example:
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

    @property
    def state_db(self) -> Path:
        return self.root / "state.sqlite3"

    @property
    def profiles_dir(self) -> Path:
        return self.root / "profiles"

    def profile_path(self, name: str) -> Path:
        return self.profiles_dir / f"{name}.toml"

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

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

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

    def open_store(self) -> Store:
        """The state database of this home, migrations applied: the one place a store is opened."""
        from ..state.store import Store

        return Store(self.state_db)
