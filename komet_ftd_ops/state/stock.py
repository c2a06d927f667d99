"""The merged stock view's tables: `stock_slices` (one row per slice read, its frame as an Arrow
IPC blob) and `stock_lines` (per-line quantities fresher than their slice, and recent sales).

The one place that spells their SQL. `offers/stock.py` decides what to read and how the rows
merge; these functions only read and write, each write inside the caller's transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .store import Store, Tx

if TYPE_CHECKING:
    from sqlalchemy import RowMapping

FULL = "*"  # the slice key of a read without filters


@dataclass(frozen=True)
class SliceRow:
    """One stored read: what it asked, when, and how many lines per colour it found."""

    key: str
    filters: dict[str, Any]
    seq: int
    refreshed_at: str
    lines: int
    counts: dict[str, int]


@dataclass(frozen=True)
class LineRow:
    offer_id: str
    quantity: int | None
    refreshed_at: str | None
    source: str | None
    sold_at: str | None


_COLUMNS = "slice_key, filters, seq, refreshed_at, lines, counts"


def _slice_row(r: RowMapping) -> SliceRow:
    return SliceRow(
        key=str(r["slice_key"]),
        filters=json.loads(r["filters"]),
        seq=int(r["seq"]),
        refreshed_at=str(r["refreshed_at"]),
        lines=int(r["lines"]),
        counts={str(k): int(v) for k, v in json.loads(r["counts"]).items()},
    )


def slices(store: Store, profile: str) -> list[SliceRow]:
    """Every stored read of the profile, oldest first (without the frames: planning needs none)."""
    rows = store.query(
        f"SELECT {_COLUMNS} FROM stock_slices WHERE profile = :profile ORDER BY seq",
        {"profile": profile},
    )
    return [_slice_row(r) for r in rows]


def frames(store: Store, profile: str) -> list[tuple[SliceRow, bytes]]:
    """Every stored read with its frame blob, oldest first."""
    rows = store.query(
        f"SELECT {_COLUMNS}, frame FROM stock_slices WHERE profile = :profile ORDER BY seq",
        {"profile": profile},
    )
    return [(_slice_row(r), bytes(r["frame"])) for r in rows]


def next_seq(tx: Tx, profile: str) -> int:
    row = tx.execute(
        "SELECT COALESCE(MAX(seq), 0) AS n FROM stock_slices WHERE profile = :profile",
        {"profile": profile},
    ).fetchone()
    return int(row["n"]) + 1


def clear_slices(tx: Tx, profile: str) -> None:
    """Before a full read's row: it replaces every slice of the profile."""
    tx.execute("DELETE FROM stock_slices WHERE profile = :profile", {"profile": profile})


def put_slice(
    tx: Tx,
    profile: str,
    *,
    key: str,
    filters: Mapping[str, Any],
    seq: int,
    refreshed_at: str,
    counts: Mapping[str, int],
    lines: int,
    frame: bytes,
) -> None:
    """One slice's read replaces that slice's row (one row per slice, whatever its lines)."""
    tx.execute(
        "INSERT INTO stock_slices (profile, slice_key, filters, seq, refreshed_at, lines, counts, "
        "frame) VALUES (:profile, :key, :filters, :seq, :at, :lines, :counts, :frame) "
        "ON CONFLICT (profile, slice_key) DO UPDATE SET filters = excluded.filters, "
        "seq = excluded.seq, refreshed_at = excluded.refreshed_at, lines = excluded.lines, "
        "counts = excluded.counts, frame = excluded.frame",
        {
            "profile": profile,
            "key": key,
            "filters": json.dumps(dict(filters), sort_keys=True),
            "seq": int(seq),
            "at": refreshed_at,
            "lines": int(lines),
            "counts": json.dumps({str(k): int(v) for k, v in counts.items()}, sort_keys=True),
            "frame": frame,
        },
    )


def lines(store: Store, profile: str) -> list[LineRow]:
    rows = store.query(
        "SELECT offer_id, quantity, refreshed_at, source, sold_at FROM stock_lines "
        "WHERE profile = :profile",
        {"profile": profile},
    )
    return [
        LineRow(
            offer_id=str(r["offer_id"]),
            quantity=None if r["quantity"] is None else int(r["quantity"]),
            refreshed_at=r["refreshed_at"],
            source=r["source"],
            sold_at=r["sold_at"],
        )
        for r in rows
    ]


def put_quantities(
    tx: Tx, profile: str, quantities: Mapping[str, int], *, at: str, source: str
) -> None:
    """Fresh box counts for a few offers (inventory.get, or Komet's availableBoxes)."""
    tx.executemany(
        "INSERT INTO stock_lines (profile, offer_id, quantity, refreshed_at, source, sold_at) "
        "VALUES (:profile, :offer_id, :quantity, :at, :source, NULL) "
        "ON CONFLICT (profile, offer_id) DO UPDATE SET quantity = excluded.quantity, "
        "refreshed_at = excluded.refreshed_at, source = excluded.source",
        [
            {"profile": profile, "offer_id": o, "quantity": int(q), "at": at, "source": source}
            for o, q in quantities.items()
        ],
    )


def mark_sold(tx: Tx, profile: str, offer_ids: Iterable[str], *, at: str) -> None:
    """FTD sold these offers at `at`: they are refreshed at once for a while."""
    tx.executemany(
        "INSERT INTO stock_lines (profile, offer_id, quantity, refreshed_at, source, sold_at) "
        "VALUES (:profile, :offer_id, NULL, NULL, NULL, :at) "
        "ON CONFLICT (profile, offer_id) DO UPDATE SET sold_at = excluded.sold_at",
        [{"profile": profile, "offer_id": o, "at": at} for o in offer_ids],
    )


def purge_lines(tx: Tx, profile: str, *, older_than: str, sold_before: str) -> None:
    """Drop line rows no slice can be older than (`older_than`: the oldest slice's read) and
    whose sale is out of the refresh window: they can no longer change the merged view."""
    tx.execute(
        "DELETE FROM stock_lines WHERE profile = :profile "
        "AND (refreshed_at IS NULL OR refreshed_at < :older) "
        "AND (sold_at IS NULL OR sold_at < :sold)",
        {"profile": profile, "older": older_than, "sold": sold_before},
    )


def offers_sold_since(store: Store, profile: str, since: str) -> list[str]:
    rows = store.query(
        "SELECT offer_id FROM stock_lines WHERE profile = :profile AND sold_at >= :since "
        "ORDER BY offer_id",
        {"profile": profile, "since": since},
    )
    return [str(r["offer_id"]) for r in rows]
