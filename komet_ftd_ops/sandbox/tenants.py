"""Several wholesalers in one twin (`sandbox up --wholesalers N`), the way the real services
hold many: one URL for all, the token says whose data a call reaches.

Each wholesaler is a Komet company (its own inventory, its FTD customer, its tokens) and an FTD
supplier (its own id, token, feeds, orders), kept in a SQLite file of its own: wholesaler 1 in
`sandbox/twin.sqlite3` (the one-wholesaler twin's file, unchanged), wholesaler K in
`sandbox/twin-K.sqlite3`. Separate files make isolation hold by construction: no query of one
wholesaler can reach another's rows, however a handler is written.

- API calls find their wholesaler by token (`TokenIndex`); an unknown token is answered by
  wholesaler 1, which refuses it (401) as the one-wholesaler twin does.
- Control routes (`/_sandbox/...`) take `?wholesaler=K` (default 1).
- Faults are the twin's (one board, in wholesaler 1's file): a flaky network strikes every
  wholesaler alike. Komet's settings and switches are kept per company (`sandbox set` changes
  every wholesaler unless told one), FTD's settings per supplier.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:  # annotations only: the CLI reads MAX_WHOLESALERS without loading aiohttp
    from aiohttp import web

from ..settings.home import Home

T = TypeVar("T")
MAX_WHOLESALERS = 500  # a bound on `--wholesalers`: each is a file and a connection


def db_path(home: Home, number: int) -> Path:
    """Wholesaler `number`'s file (1: the twin's own `twin.sqlite3`)."""
    if number == 1:
        return home.twin_db
    return home.twin_db.with_name(f"twin-{number}.sqlite3")


def seed_of(seed: int, number: int) -> int:
    """Each wholesaler is seeded on its own: the twin's seed for the first, then seed + K - 1."""
    return seed + number - 1


def requested(request: web.Request, count: int) -> int:
    """The wholesaler a control route was asked about (`?wholesaler=K`, default 1); ValueError
    naming the twin's range for anything else."""
    raw = request.query.get("wholesaler", "1")
    if not raw.isdigit() or not 1 <= int(raw) <= count:
        raise ValueError(f"no wholesaler {raw!r}: this twin serves wholesalers 1..{count}")
    return int(raw)


def pick(items: Sequence[T], request: web.Request) -> T:
    """The item (store, FTD twin) of the wholesaler a control route names."""
    return items[requested(request, len(items)) - 1]


class TokenIndex:
    """Which wholesaler (0-based) a token belongs to. A token found is remembered (tokens are
    never deleted); one not found is looked up again next time, as the control routes can add
    tokens to any wholesaler."""

    def __init__(self, count: int, owns: Callable[[int, str], bool]) -> None:
        self.count = count
        self.owns = owns
        self.known: dict[str, int] = {}

    def find(self, token: str) -> int | None:
        if not token:
            return None
        if token in self.known:
            return self.known[token]
        for index in range(self.count):
            if self.owns(index, token):
                self.known[token] = index
                return index
        return None


def profile_name(number: int) -> str:
    """The kit profile for wholesaler `number`: the built-in `sandbox` first, then sandbox-K."""
    return "sandbox" if number == 1 else f"sandbox-{number}"
