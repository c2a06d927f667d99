"""Keeping tokens out of run notebooks: parameters are checked before a run, files after it.

Papermill writes every parameter into the output notebook (the injected cell and its
metadata), so a secret must never be one; notebooks resolve secrets inside the kernel from the
profile's references. After a run, the notebook and its HTML copy are scanned for the resolved
values (as is, HTML- and JSON-escaped) and redacted on a hit.
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from ..errors import ConfigError
from ..state.engine import reveal
from ..settings.home import Home
from ..settings.profiles import load_profile
from ..settings.secrets import Secret, resolve_secret

SECRET_NAME = re.compile(r"token|secret|passw|key", re.IGNORECASE)
RESERVED_PARAMETERS = ("profile", "run_id")
MIN_SECRET_LEN = 6  # shorter values would redact half the notebook; real tokens are longer


def profile_secrets(profile: str, home: Home) -> list[str]:
    """The profile's resolved secret values; references that cannot be resolved are skipped."""
    loaded = load_profile(profile, home)
    values = []
    for ref in loaded.secret_refs().values():
        try:
            values.append(resolve_secret(ref, home).reveal())
        except ConfigError:
            continue
    for ref in loaded.alerts.targets:  # apprise URLs embed credentials: the URL is a secret
        try:
            url = resolve_secret(ref, home).reveal()
        except ConfigError:
            continue
        values.append(url)
        password = _url_password(url)  # printed alone, as a mail login's password may be
        if len(password) >= MIN_SECRET_LEN:
            values.append(password)
    try:  # the state database URL (`database_url`) holds a password too
        database = reveal(home.database_url())
    except ConfigError:
        database = ""
    password = _url_password(database)
    if len(password) >= MIN_SECRET_LEN:
        values += [database, password]
    return values


def _url_password(url: str) -> str:
    try:
        return unquote(urlsplit(url).password or "")
    except ValueError:  # not a URL urllib can split; the whole value is still scanned
        return ""


def _holds_secret(value: Any, secret_values: list[str]) -> bool:
    if isinstance(value, Secret):
        return True
    if isinstance(value, str):
        return any(value == s or (len(s) >= MIN_SECRET_LEN and s in value) for s in secret_values)
    if isinstance(value, Mapping):
        return any(_holds_secret(x, secret_values) for item in value.items() for x in item)
    if isinstance(value, list | tuple | set):
        return any(_holds_secret(x, secret_values) for x in value)
    return False


def check_parameters(parameters: Mapping[str, Any], secret_values: list[str]) -> None:
    """Refuse parameters that are, or look like, secrets: papermill writes them all down."""
    for name, value in parameters.items():
        if name in RESERVED_PARAMETERS:
            raise ConfigError(f"parameter {name!r} is set by the runner, not by the caller.")
        if SECRET_NAME.search(name):
            raise ConfigError(
                f"parameter {name!r} looks like a secret. Notebooks resolve secrets themselves "
                f"from the profile's references; papermill writes every parameter into the "
                f"output notebook."
            )
        if _holds_secret(value, secret_values):
            raise ConfigError(
                f"parameter {name!r} holds one of the profile's secrets; notebooks resolve "
                f"secrets themselves from the profile's references."
            )
    try:
        json.dumps(dict(parameters))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"notebook parameters must be JSON values: {exc}") from None


def one_line(text: str, secret_values: list[str], limit: int = 300) -> str:
    """A reason for the run index: one line, short, with every secret value masked."""
    for value in sorted(secret_values, key=len, reverse=True):
        text = text.replace(value, "***")
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _secret_forms(value: str) -> list[str]:
    # How a value can appear: as is, HTML-escaped, and JSON-escaped (inside .ipynb strings).
    base = {value, html.escape(value), html.escape(value, quote=False)}
    forms = set(base)
    for b in base:
        forms.add(json.dumps(b)[1:-1])
        forms.add(json.dumps(b, ensure_ascii=False)[1:-1])
    return sorted(forms, key=len, reverse=True)


def redact_secrets(paths: list[Path | None], secret_values: list[str]) -> bool:
    """Replace every secret value in the files with ***; True if any was found.

    A file that still holds a secret after redaction (it should not) is deleted.
    """
    forms = [f for v in secret_values if len(v) >= MIN_SECRET_LEN for f in _secret_forms(v)]
    found = False
    for path in paths:
        if path is None or not path.exists() or not forms:
            continue
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
        if not any(f in text for f in forms):
            continue
        found = True
        for form in forms:
            text = text.replace(form, "***")
        if any(f in text for f in forms):
            path.unlink()
            continue
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text, encoding="utf-8", errors="surrogateescape")
        os.replace(tmp, path)
    return found
