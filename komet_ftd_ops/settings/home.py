"""The kit's home folder: every path under it, and the one read of the process environment.

`environment()` is the only function that reads the process environment.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError


def environment() -> Mapping[str, str]:
    """The process environment. The one place the kit reads it."""
    return os.environ


def home(env: Mapping[str, str] | None = None) -> Path:
    """Where the kit keeps runs/, its state database, profiles and secrets."""
    env = environment() if env is None else env
    return Path(env.get("KOMET_FTD_OPS_HOME") or Path.cwd()).resolve()


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
