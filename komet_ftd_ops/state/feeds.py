"""The feed tables: `feeds`, `feed_rejections`, `published_offers` (what FTD accepted) and
`offer_history` (every offer ever published, kept after it is withdrawn).

The one place that spells their SQL. `offers/feed.py` decides what to write and when (each
write inside the caller's transaction, so the boundaries stay where the logic needs them);
these functions only write and read. The snapshot is written in bulk: one `executemany` per
table, whatever the number of offers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

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


def published_snapshot(store: Store, profile: str) -> list[dict[str, Any]]:
    """Every offer of the last accepted feed: offer_id, fingerprint, quantity, price."""
    rows = store.query(
        "SELECT offer_id, fingerprint, quantity, price FROM published_offers "
        "WHERE profile = :profile",
        {"profile": profile},
    )
    return [{c: r[c] for c in SNAPSHOT_COLUMNS} for r in rows]


def clear_published(tx: Tx, profile: str) -> None:
    """Before a full feed's snapshot: it replaces the whole of the last one."""
    tx.execute("DELETE FROM published_offers WHERE profile = :profile", {"profile": profile})


def upsert_published(tx: Tx, rows: Sequence[dict[str, Any]]) -> None:
    """Rows of profile, offer_id, fingerprint, quantity (int), price (text): one bulk write."""
    tx.executemany(
        "INSERT INTO published_offers (profile, offer_id, fingerprint, quantity, price) "
        "VALUES (:profile, :offer_id, :fingerprint, :quantity, :price) "
        "ON CONFLICT (profile, offer_id) DO UPDATE SET fingerprint = excluded.fingerprint, "
        "quantity = excluded.quantity, price = excluded.price",
        rows,
    )


def withdraw_published(tx: Tx, profile: str, offer_ids: Iterable[str]) -> None:
    tx.executemany(
        "DELETE FROM published_offers WHERE profile = :profile AND offer_id = :offer_id",
        [{"profile": profile, "offer_id": o} for o in offer_ids],
    )


# --- offer_history: every offer ever published, with its last price and window ---------------


def upsert_history(tx: Tx, rows: Sequence[dict[str, Any]]) -> None:
    """Rows of profile, offer_id, price, last_published_at, available_from, available_to."""
    tx.executemany(
        "INSERT INTO offer_history (profile, offer_id, price, last_published_at, "
        "available_from, available_to) VALUES (:profile, :offer_id, :price, "
        ":last_published_at, :available_from, :available_to) "
        "ON CONFLICT (profile, offer_id) DO UPDATE SET price = excluded.price, "
        "last_published_at = excluded.last_published_at, "
        "available_from = excluded.available_from, available_to = excluded.available_to",
        rows,
    )


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
