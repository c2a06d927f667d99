"""The kit's home folder: every path under it, and the one read of the process environment.

`environment()` is the only function that reads the process environment. Each entry point (a
command, the sync notebook, a test) builds one `Home` and hands it down; nothing below it falls
back to an ambient home.
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


def environment() -> Mapping[str, str]:
    """The process environment. The one place the kit reads it."""
    return os.environ


def home(env: Mapping[str, str] | None = None) -> Path:
    """Where the kit keeps runs/, its state database, profiles and secrets."""
    env = environment() if env is None else env
    return Path(env.get("KOMET_FTD_OPS_HOME") or Path.cwd()).resolve()


@dataclass(frozen=True)
class Home:
    """A kit home: where runs, the state database, profiles, secrets and the twin live."""

    root: Path

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> Home:
        """`KOMET_FTD_OPS_HOME`, else the current folder."""
        env = environment() if env is None else env
        return cls(Path(env.get(HOME_VARIABLE) or Path.cwd()).resolve())

    @classmethod
    def at(cls, root: Path | str) -> Home:
        return cls(Path(root).resolve())

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


def state_db_path(root: Path | None = None) -> Path:
    return (root or home()) / "state.sqlite3"


def sandbox_dir(root: Path | None = None) -> Path:
    return (root or home()) / "sandbox"


def sandbox_info_path(root: Path | None = None) -> Path:
    """Written by the running twin: base URLs, ids and sandbox tokens."""
    return sandbox_dir(root) / "info.json"


def read_sandbox_info(root: Path | None = None) -> dict[str, Any]:
    path = sandbox_info_path(root)
    if not path.exists():
        raise ConfigError(
            f"the sandbox twin is not running (no {path}); start it with "
            f"`komet-ftd-ops sandbox up`."
        )
    return json.loads(path.read_text())


def profiles_dir(root: Path | None = None) -> Path:
    return (root or home()) / "profiles"


def profile_path(name: str, root: Path | None = None) -> Path:
    return profiles_dir(root) / f"{name}.toml"


def secrets_file(root: Path | None = None) -> Path:
    return (root or home()) / "secrets.toml"
