"""Every profile at a glance, in one query: the top of `runs/index.html`.

The page is rebuilt after every run; with 50 profiles that is a rebuild every few seconds, so
the overview is one statement of correlated subqueries (each a short walk of an index:
`runs_by_profile_start`, `orders_by_state`), never a query per profile.

The order states are the caller's (the ledger owns their meaning); the run statuses are those
of `runs.index`, spelled here as the column values they are.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from .store import Store

_SYNC, _OK, _FAILED, _TIMED_OUT, _SKIPPED, _RUNNING = (
    "sync", "ok", "failed", "timed_out", "skipped", "running",
)  # fmt: skip


@dataclass(frozen=True)
class ProfileOverview:
    """One profile's line: its last success, what waits, and its failing streak."""

    profile: str
    last_ok_at: datetime | None  # when the last ok sync finished (None: never)
    last_status: str | None  # the newest sync run that ran (skipped ones left out)
    last_reason: str | None
    failing: int  # sync runs failed or timed out since the last ok one
    waiting: int  # orders FTD still shows NEW: not yet acknowledged by the kit
    parked: int  # open orders parked (for a person, or for a later retry)

    @property
    def needs_look(self) -> bool:
        return self.failing > 0 or self.parked > 0


def _ts(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _marks(prefix: str, values: Iterable[str]) -> tuple[str, dict[str, str]]:
    """`:w0, :w1, ...` and their params: IN lists with named placeholders on both backends."""
    params = {f"{prefix}{i}": v for i, v in enumerate(sorted(set(values)))}
    return ", ".join(f":{k}" for k in params) or "NULL", params


def profile_overview(
    store: Store, *, waiting_states: Iterable[str], final_states: Iterable[str]
) -> list[ProfileOverview]:
    """Every profile with a run or an order in the database, by name."""
    waiting, waiting_params = _marks("w", waiting_states)
    final, final_params = _marks("f", final_states)
    last_ok = (
        "SELECT {col} FROM runs s WHERE s.profile = p.profile AND s.kind = :sync "
        "AND s.status = :ok ORDER BY s.started_at DESC LIMIT 1"
    )
    newest = (
        "SELECT {col} FROM runs n WHERE n.profile = p.profile AND n.kind = :sync "
        "AND n.status NOT IN (:skipped, :running) ORDER BY n.started_at DESC LIMIT 1"
    )
    sql = f"""
        SELECT p.profile AS profile,
            ({last_ok.format(col="s.finished_at")}) AS last_ok_at,
            ({newest.format(col="n.status")}) AS last_status,
            ({newest.format(col="n.reason")}) AS last_reason,
            (SELECT COUNT(*) FROM runs r WHERE r.profile = p.profile AND r.kind = :sync
                AND r.status IN (:failed, :timed_out)
                AND r.started_at > COALESCE(({last_ok.format(col="s.started_at")}), '')
            ) AS failing,
            (SELECT COUNT(*) FROM orders o WHERE o.profile = p.profile
                AND o.state IN ({waiting})) AS waiting,
            (SELECT COUNT(*) FROM orders o WHERE o.profile = p.profile
                AND o.park_reason IS NOT NULL AND o.state NOT IN ({final})) AS parked
        FROM (SELECT profile FROM runs UNION SELECT profile FROM orders) AS p
        ORDER BY p.profile
    """
    params = {
        "sync": _SYNC, "ok": _OK, "failed": _FAILED, "timed_out": _TIMED_OUT,
        "skipped": _SKIPPED, "running": _RUNNING, **waiting_params, **final_params,
    }  # fmt: skip
    return [
        ProfileOverview(
            profile=row["profile"],
            last_ok_at=_ts(row["last_ok_at"]),
            last_status=row["last_status"],
            last_reason=row["last_reason"],
            failing=int(row["failing"]),
            waiting=int(row["waiting"]),
            parked=int(row["parked"]),
        )
        for row in store.query(sql, params)
    ]
