"""Build the two API clients for a profile: secrets resolved here, at the last moment.

The clients are shared by the order pipeline's worker threads (orders/pipeline.py): httpx
clients are thread-safe, the Komet transport counts each worker's calls under its own lock, and
the Company token's client is built once however many workers ask for it at the same time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .settings.home import Home
from .settings.profiles import Profile
from .settings.secrets import resolve_secret
from .state.calls import CallCounter
from .state.store import Store

if TYPE_CHECKING:
    import httpx

    from .ftd import FtdClient
    from .komet import KometClient

# The clients (httpx, tenacity) are imported where they are built: the order modules import
# `Clients` for its type, and the runner's process reads some of them (the runs page) without
# ever calling Komet or FTD.


@dataclass
class Clients:
    komet: KometClient
    ftd: FtdClient
    calls: CallCounter
    # The Company token's Komet client, built on first use (ship-tos: list and create them,
    # orders/shiptos.py); None when the profile names no Company token.
    company: Callable[[], KometClient] | None = None


def komet_client(
    profile: Profile,
    store: Store | None,
    *,
    home: Home,
    token_ref: str | None = None,
    transport: httpx.BaseTransport | None = None,
) -> KometClient:
    from .komet import KometClient, KometConfig

    token = resolve_secret(token_ref or profile.komet_token_ref, home)
    config = KometConfig.from_profile(profile, token)  # the same retry policy as FTD's
    counter = CallCounter(store, "komet") if store is not None else None
    return KometClient(config, transport=transport, on_call=counter)


def ftd_client(
    profile: Profile, *, home: Home, transport: httpx.BaseTransport | None = None
) -> FtdClient:
    from .ftd import FtdClient, FtdConfig

    token = resolve_secret(profile.ftd_token_ref, home)
    config = FtdConfig.from_profile(profile, token, timeout=profile.timeout_seconds)
    return FtdClient(config, transport=transport)


@contextmanager
def open_clients(profile: Profile, store: Store, home: Home) -> Iterator[Clients]:
    komet = komet_client(profile, store, home=home)
    ftd = ftd_client(profile, home=home)
    built: list[KometClient] = []
    building = threading.Lock()

    def company() -> KometClient:
        with building:
            if not built:
                ref = profile.komet_company_token_ref
                built.append(komet_client(profile, store, home=home, token_ref=ref))
            return built[0]

    try:
        yield Clients(
            komet=komet,
            ftd=ftd,
            calls=CallCounter(store, "komet"),
            company=company if profile.komet_company_token_ref else None,
        )
    finally:
        komet.close()
        ftd.close()
        for client in built:
            client.close()
