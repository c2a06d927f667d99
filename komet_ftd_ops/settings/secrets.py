"""Secrets: values that print as ***, and the references a profile holds instead of them.

env:KOMET_FTD_TOKEN        an environment variable
file:komet_customer_token  a key in `<home>/secrets.toml`, which must be mode 0600
sandbox:komet.customer     a token of the running sandbox twin (`sandbox:ftd` for FTD)
sandbox:komet.customer@2   the same, of wholesaler 2 (`sandbox up --wholesalers N`; no @ = 1)
"""

from __future__ import annotations

import json
import os
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .home import Home, environment

SECRET_SCHEMES = ("env", "file", "sandbox")


class Secret:
    """A secret value that prints as *** everywhere: repr, str, f-strings, logs, tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def masked(self, keep: int = 4) -> str:
        """For hand-off sheets: the last few characters only."""
        tail = self._value[-keep:] if len(self._value) > keep * 3 else ""
        return "***" + tail

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __format__(self, spec: str) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> Any:  # never pickled into a file by accident
        raise TypeError("a Secret cannot be pickled")


def check_secret_ref(ref: str, what: str) -> str:
    """A secret reference must name where the secret is, never hold it."""
    scheme, _, name = ref.partition(":")
    if scheme not in SECRET_SCHEMES or not name:
        raise ConfigError(
            f"{what} must be a secret reference such as 'env:KOMET_FTD_TOKEN', "
            f"'file:komet_customer_token' or 'sandbox:komet.customer', not a literal value. "
            f"Put the token in an environment variable or in secrets.toml (mode 0600)."
        )
    return ref


def read_secrets_file(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(
            f"{path} is readable by others (mode {mode:04o}); run `chmod 600 {path}` and retry."
        )
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    return {str(k): str(v) for k, v in data.items()}


def write_secret(key: str, value: str, home: Home) -> str:
    """Store a secret in secrets.toml (created 0600) and return its reference."""
    path = home.secrets_file
    existing = read_secrets_file(path)
    existing[key] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        for k, v in sorted(existing.items()):
            fh.write(f"{json.dumps(k)} = {json.dumps(v)}\n")
    os.replace(path.with_suffix(".tmp"), path)
    os.chmod(path, 0o600)
    return f"file:{key}"


def resolve_secret(ref: str, home: Home, env: Mapping[str, str] | None = None) -> Secret:
    """Turn a secret reference into the secret. Errors name the reference, never the value."""
    check_secret_ref(ref, "a secret reference")
    scheme, _, name = ref.partition(":")
    env = environment() if env is None else env
    if scheme == "env":
        value = env.get(name, "")
        if not value:
            raise ConfigError(f"environment variable {name} (from {ref!r}) is not set or empty.")
        return Secret(value)
    if scheme == "file":
        path = home.secrets_file
        values = read_secrets_file(path)
        if name not in values:
            raise ConfigError(f"no key {name!r} in {path} (from {ref!r}).")
        return Secret(values[name])
    info = home.read_sandbox_info()
    name, _, number = name.partition("@")  # `@K`: wholesaler K of a twin serving several
    if number:
        served = info.get("wholesalers") or [info]
        if not number.isdigit() or not 1 <= int(number) <= len(served):
            raise ConfigError(
                f"the sandbox twin serves wholesalers 1..{len(served)}, not {number!r} "
                f"(from {ref!r}); start it with `komet-ftd-ops sandbox up --wholesalers N`."
            )
        info = served[int(number) - 1]
    if name == "ftd":
        return Secret(info["ftd"]["token"])
    service, _, kind = name.partition(".")
    try:
        return Secret(info[service]["tokens"][kind])
    except KeyError:
        raise ConfigError(f"the sandbox has no token {name!r} (from {ref!r}).") from None
