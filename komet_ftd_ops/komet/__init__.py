"""Komet Sales API client: `KometClient(KometConfig(...))`. See komet/client.py for assumptions."""

from .client import KometClient
from .transport import KometConfig, KometTransport

__all__ = ["KometClient", "KometConfig", "KometTransport"]
