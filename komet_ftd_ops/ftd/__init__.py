"""FTD marketplace client: inventory feeds out, orders in (contract: docs/ftd-api.md)."""

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
