"""Komet calls spent per UTC day, per service and method: the one owner of `api_calls`.

Komet's daily request limit is shared by every run of the day, so the count lives in the store
and survives restarts. The Komet transport counts each attempt in memory as it is sent and hands
the counts here once the call is over; if they cannot be saved it fails the run (`StateError`)
rather than let the quota check believe fewer calls were made.
"""

from __future__ import annotations

from .store import Store, utcnow


class CallCounter:
    """Calls spent per UTC day, per service and method; survives restarts (it is in the store).

    An instance is the transport's `on_call` hook: `counter(method)` saves one call.
    """

    def __init__(self, store: Store, service: str = "komet") -> None:
        self.store = store
        self.service = service

    def __call__(self, method: str) -> None:
        with self.store.atomic() as db:
            db.execute(
                "INSERT INTO api_calls VALUES (?, ?, ?, 1) ON CONFLICT(day, service, method) "
                "DO UPDATE SET calls = calls + 1",
                (utcnow().date().isoformat(), self.service, method),
            )

    def today(self, day: str | None = None) -> int:
        rows = self.store.query(
            "SELECT COALESCE(SUM(calls), 0) FROM api_calls WHERE day=? AND service=?",
            (day or utcnow().date().isoformat(), self.service),
        )
        return int(rows[0][0])

    def by_method(self, day: str | None = None) -> dict[str, int]:
        rows = self.store.query(
            "SELECT method, calls FROM api_calls WHERE day=? AND service=? ORDER BY method",
            (day or utcnow().date().isoformat(), self.service),
        )
        return {r["method"]: r["calls"] for r in rows}
