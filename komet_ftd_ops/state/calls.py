"""Komet calls spent per UTC day, per service and method: the one owner of `api_calls`.

Komet's daily request limit is shared by every run of the day, so the count lives in the store
and survives restarts. The Komet transport counts each attempt in memory as it is sent and hands
the counts here once the call is over; if they cannot be saved it fails the run (`StateError`)
rather than let the quota check believe fewer calls were made. A count is committed without
waiting for its own fsync (`Store.atomic(durable=False)`): the durable commit that records the
call's answer in the ledger, right after, takes it to the disk too.
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
        with self.store.atomic(durable=False) as tx:
            tx.execute(
                "INSERT INTO api_calls (day, service, method, calls) "
                "VALUES (:day, :service, :method, 1) ON CONFLICT (day, service, method) "
                "DO UPDATE SET calls = api_calls.calls + 1",
                {"day": utcnow().date().isoformat(), "service": self.service, "method": method},
            )

    def today(self, day: str | None = None) -> int:
        rows = self.store.query(
            "SELECT COALESCE(SUM(calls), 0) AS n FROM api_calls "
            "WHERE day = :day AND service = :service",
            {"day": day or utcnow().date().isoformat(), "service": self.service},
        )
        return int(rows[0]["n"])

    def by_method(self, day: str | None = None) -> dict[str, int]:
        rows = self.store.query(
            "SELECT method, calls FROM api_calls WHERE day = :day AND service = :service "
            "ORDER BY method",
            {"day": day or utcnow().date().isoformat(), "service": self.service},
        )
        return {str(r["method"]): int(r["calls"]) for r in rows}
