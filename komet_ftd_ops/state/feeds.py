"""The feed tables: `feeds`, `feed_rejections`, `published_offers` (what FTD accepted) and
`offer_history` (every offer ever published, kept after it is withdrawn).

The one place that spells their SQL. `offers/feed.py` decides what to write and when (each
write inside the caller's transaction, so the boundaries stay where the logic needs them);
these functions only write and read. The snapshot is written in bulk whatever the number of
offers: one `executemany` per table on SQLite, COPY on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from .engine import SQLITE
from .store import Store, Tx, iso

SENDING = "sending"  # a feed recorded before it went out, not yet settled
ACCEPTED = "accepted"
SUPERSEDED = "superseded"  # a `sending` feed a later full feed made moot

SNAPSHOT_COLUMNS = ("offer_id", "fingerprint", "quantity", "price")


# --- feeds ---------------------------------------------------------------------------------


def record_sending(
    tx: Tx,
    *,
    feed_id: str,
    profile: str,
    kind: str,
    sequence: int,
    base_sequence: int | None,
    offers: int,
    withdrawals: int,
    run_id: str | None,
) -> None:
    """A feed about to go out, recorded before the call (status `sending`)."""
    tx.execute(
        "INSERT INTO feeds (feed_id, profile, kind, sequence, base_sequence, offers, "
        "withdrawals, bytes_sent, status, reason, created_at, run_id) VALUES (:feed_id, "
        ":profile, :kind, :sequence, :base_sequence, :offers, :withdrawals, 0, :status, NULL, "
        ":created_at, :run_id)",
        {
            "feed_id": feed_id,
            "profile": profile,
            "kind": kind,
            "sequence": int(sequence),
            "base_sequence": None if base_sequence is None else int(base_sequence),
            "offers": int(offers),
            "withdrawals": int(withdrawals),
            "status": SENDING,
            "created_at": iso(),
            "run_id": run_id,
        },
    )


def set_status(tx: Tx, feed_id: str, status: str, reason: str | None = None) -> None:
    """Settle a feed: `conflict`/`too_large` with a reason, or FTD's final status."""
    if reason is None:
        tx.execute(
            "UPDATE feeds SET status = :status WHERE feed_id = :feed_id",
            {"status": status, "feed_id": feed_id},
        )
        return
    tx.execute(
        "UPDATE feeds SET status = :status, reason = :reason WHERE feed_id = :feed_id",
        {"status": status, "reason": reason, "feed_id": feed_id},
    )


def mark_accepted(tx: Tx, feed_id: str, bytes_sent: int) -> None:
    tx.execute(
        "UPDATE feeds SET status = :status, bytes_sent = :bytes_sent WHERE feed_id = :feed_id",
        {"status": ACCEPTED, "bytes_sent": int(bytes_sent), "feed_id": feed_id},
    )


def supersede_sending(tx: Tx, profile: str, *, except_feed: str) -> None:
    """A full feed was accepted: every other feed still `sending` no longer matters."""
    tx.execute(
        "UPDATE feeds SET status = :superseded WHERE profile = :profile AND status = :sending "
        "AND feed_id <> :feed_id",
        {"superseded": SUPERSEDED, "sending": SENDING, "profile": profile, "feed_id": except_feed},
    )


def unsettled_feed(store: Store, profile: str) -> str | None:
    """The newest feed still `sending` (its outcome unknown), if any."""
    rows = store.query(
        "SELECT feed_id FROM feeds WHERE profile = :profile AND status = :sending "
        "ORDER BY created_at DESC LIMIT 1",
        {"profile": profile, "sending": SENDING},
    )
    return str(rows[0]["feed_id"]) if rows else None


def record_rejections(tx: Tx, feed_id: str, rejected: Iterable[dict[str, Any]]) -> None:
    """FTD's per-offer rejections of a feed; a second report of one offer replaces the first."""
    tx.executemany(
        "INSERT INTO feed_rejections (feed_id, offer_id, code, message) "
        "VALUES (:feed_id, :offer_id, :code, :message) ON CONFLICT (feed_id, offer_id) "
        "DO UPDATE SET code = excluded.code, message = excluded.message",
        [
            {
                "feed_id": feed_id,
                "offer_id": str(r.get("offer_id", "")),
                "code": str(r.get("code", "")),
                "message": str(r.get("message", "")),
            }
            for r in rejected
        ],
    )


# --- published_offers: the snapshot of what FTD accepted ------------------------------------


def published_snapshot(store: Store, profile: str) -> dict[str, list[Any]]:
    """Every offer of the last accepted feed, column by column: offer_id, fingerprint,
    quantity and price lists, aligned by position.

    Read as ONE row of one JSON array per column, aggregated by the database (C on both sides,
    orjson here), instead of handing 100,000 rows one by one to the driver and the row mapper.
    The aggregates of one SELECT see the rows in one order (PostgreSQL: ordered explicitly).
    """
    if store.backend == SQLITE:
        arrays = ", ".join(f"json_group_array({c}) AS {c}" for c in SNAPSHOT_COLUMNS)
    else:
        arrays = ", ".join(
            f"COALESCE(json_agg({c} ORDER BY offer_id), '[]')::text AS {c}"
            for c in SNAPSHOT_COLUMNS
        )
    (row,) = store.query(
        f"SELECT {arrays} FROM published_offers WHERE profile = :profile", {"profile": profile}
    )
    return {c: orjson.loads(row[c]) for c in SNAPSHOT_COLUMNS}


def clear_published(tx: Tx, profile: str) -> None:
    """Before a full feed's snapshot: it replaces the whole of the last one."""
    tx.execute("DELETE FROM published_offers WHERE profile = :profile", {"profile": profile})


PUBLISHED_COLUMNS = ("profile", "offer_id", "fingerprint", "quantity", "price")
HISTORY_COLUMNS = (
    "profile", "offer_id", "price", "last_published_at", "available_from", "available_to",
)  # fmt: skip


def upsert_published(tx: Tx, rows: Sequence[dict[str, Any]]) -> None:
    """Rows of profile, offer_id, fingerprint, quantity (int), price (text): one bulk write."""
    _bulk_upsert(
        tx, "published_offers", PUBLISHED_COLUMNS, rows,
        "fingerprint = excluded.fingerprint, quantity = excluded.quantity, price = excluded.price",
    )  # fmt: skip


def _bulk_upsert(
    tx: Tx, table: str, columns: Sequence[str], rows: Sequence[dict[str, Any]], update: str
) -> None:
    """Insert-or-update `rows` keyed on (profile, offer_id), in bulk, in the caller's transaction.

    SQLite: one `executemany` (the sqlite3 driver loops in C). PostgreSQL: COPY into a
    temporary table, then one INSERT ... SELECT: a full feed's 100,000 rows through
    `executemany` took 14 s there, one statement per row (state/store.py `copy_rows`)."""
    names = ", ".join(columns)
    upsert = f"ON CONFLICT (profile, offer_id) DO UPDATE SET {update}"
    if tx.backend == SQLITE:
        marks = ", ".join(f":{c}" for c in columns)
        tx.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks}) {upsert}", rows)
        return
    if not rows:
        return
    staged = f"staged_{table}"
    tx.execute(f"CREATE TEMP TABLE IF NOT EXISTS {staged} (LIKE {table}) ON COMMIT DROP")
    tx.execute(f"DELETE FROM {staged}")  # a second write in the same transaction
    tx.copy_rows(staged, columns, ([row[c] for c in columns] for row in rows))
    tx.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {staged} {upsert}")


def withdraw_published(tx: Tx, profile: str, offer_ids: Iterable[str]) -> None:
    tx.executemany(
        "DELETE FROM published_offers WHERE profile = :profile AND offer_id = :offer_id",
        [{"profile": profile, "offer_id": o} for o in offer_ids],
    )


# --- offer_history: every offer ever published, with its last price and window ---------------


def upsert_history(tx: Tx, rows: Sequence[dict[str, Any]]) -> None:
    """Rows of profile, offer_id, price, last_published_at, available_from, available_to."""
    _bulk_upsert(
        tx, "offer_history", HISTORY_COLUMNS, rows,
        "price = excluded.price, last_published_at = excluded.last_published_at, "
        "available_from = excluded.available_from, available_to = excluded.available_to",
    )  # fmt: skip


def offer_history(
    store: Store, profile: str, offer_ids: Iterable[str]
) -> dict[str, dict[str, str]]:
    """offer_id -> {price, available_from, available_to} for the ids ever published (orders
    read these: a price check, a ship-date window)."""
    wanted = sorted(set(offer_ids))
    found: dict[str, dict[str, str]] = {}
    for start in range(0, len(wanted), 500):  # SQLite's default limit on host parameters
        chunk = wanted[start : start + 500]
        params: dict[str, Any] = {f"o{i}": oid for i, oid in enumerate(chunk)}
        marks = ", ".join(f":{k}" for k in params)
        params["profile"] = profile
        for r in store.query(
            "SELECT offer_id, price, available_from, available_to FROM offer_history "
            f"WHERE profile = :profile AND offer_id IN ({marks})",
            params,
        ):
            found[r["offer_id"]] = {
                "price": r["price"],
                "available_from": r["available_from"],
                "available_to": r["available_to"],
            }
    return found
