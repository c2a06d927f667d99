"""Komet Sales API client: `KometClient(KometConfig(...))`. See komet/client.py for assumptions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_names

if TYPE_CHECKING:
    from .client import KometClient
    from .transport import KometConfig, KometTransport

__all__ = ["KometClient", "KometConfig", "KometTransport"]

# Loaded on first use, not with the package: every profile reads `komet.switches`, and Python
# runs this file for that too, so the runner of `run sync` (which never calls Komet) would pay
# for the client, httpx and tenacity (about 0.2 s of CPU) in every run.
_WHERE = {"KometClient": "client", "KometConfig": "transport", "KometTransport": "transport"}

__getattr__ = lazy_names(__name__, _WHERE)
