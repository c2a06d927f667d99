"""Komet Sales API client: `KometClient(KometConfig(...))`. See komet/client.py for assumptions."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .client import KometClient
    from .transport import KometConfig, KometTransport

__all__ = ["KometClient", "KometConfig", "KometTransport"]

# Loaded on first use, not with the package: every profile reads `komet.switches`, and Python
# runs this file for that too, so the runner of `run sync` (which never calls Komet) would pay
# for the client, httpx and tenacity (about 0.2 s of CPU) in every run.
_WHERE = {"KometClient": ".client", "KometConfig": ".transport", "KometTransport": ".transport"}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name], __name__), name)
