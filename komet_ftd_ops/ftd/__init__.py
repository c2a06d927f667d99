"""FTD marketplace client: inventory feeds out, orders in (contract: docs/ftd-api.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_names

if TYPE_CHECKING:
    from .client import FeedResult, FtdClient, OrdersBatch
    from .models import FtdOrder, OrderLine, OrdersPage
    from .transport import FtdConfig

__all__ = [
    "FeedResult",
    "FtdClient",
    "FtdConfig",
    "FtdOrder",
    "OrderLine",
    "OrdersBatch",
    "OrdersPage",
]

# Loaded on first use, not with the package: the runner's runs page and health checks read
# `ftd.models` (through the order ledger), and Python runs this file for that too, so they
# would pay for the client, httpx and tenacity (about 0.2 s of CPU) in every run.
_WHERE = {
    "FeedResult": "client",
    "FtdClient": "client",
    "OrdersBatch": "client",
    "FtdOrder": "models",
    "OrderLine": "models",
    "OrdersPage": "models",
    "FtdConfig": "transport",
}

__getattr__ = lazy_names(__name__, _WHERE)
