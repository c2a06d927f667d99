"""The FTD twin's inventory side: offer validation, full feeds in parts, deltas, the listing.

Rules the twin enforces (and why):

- A full feed takes effect only once all its `parts` arrived, all at once: FTD cannot withdraw
  "everything not in the feed" before it has seen the whole feed.
- An offer that fails validation is rejected on its own (`rejected` in the feed status) and the
  rest is accepted. In a full feed a rejected offer counts as absent, so it is withdrawn: FTD
  never keeps listing data the supplier no longer vouches for.
- A delta applies only on top of the last accepted sequence; anything else is `409` with
  `expected_base` (null while no full feed was ever accepted). A full feed is the way back in
  sync and always becomes the new base, even at a lower sequence, so a client that lost its
  counter can recover.
- Quantities are absolute boxes; florists' purchases lower the listed quantity until the next
  feed sets it again (that window is where oversell lives).
- Feed effects are applied at once, but the feed reports `processing` until `ready_at_ms`
  (setting `feed_processing_ms`) so clients must poll `GET /feeds/{id}` for the verdict.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import datetime
from typing import Any

from .http import (
    FtdError,
    canonical,
    decode_cursor,
    dumps,
    encode_cursor,
    loads,
    meta_get,
    meta_put,
    parse_rfc3339,
    stamp,
)
from .offers import Rejection, check_offer

MAX_PARTS = 1000


def _rejection(offer_id: Any, exc: Rejection) -> dict[str, Any]:
    return {
        "offer_id": offer_id if isinstance(offer_id, str) else None,
        "code": exc.code,
        "message": exc.message,
    }


def last_sequence(conn: sqlite3.Connection) -> int | None:
    return meta_get(conn, "last_sequence")


UPSERT_OFFER = (
    "INSERT INTO ftd_offers (offer_id, body, quantity, listed_at, feed_id) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT(offer_id) DO UPDATE SET body=excluded.body, "
    "quantity=excluded.quantity, listed_at=excluded.listed_at, feed_id=excluded.feed_id"
)


def _offer_row(offer: dict[str, Any], feed_id: str, now: str) -> tuple[Any, ...]:
    return (offer["offer_id"], dumps(offer), offer["quantity_available"], now, feed_id)


def _upsert_offer(conn: sqlite3.Connection, offer: dict[str, Any], feed_id: str, now: str) -> None:
    conn.execute(UPSERT_OFFER, _offer_row(offer, feed_id, now))


# -- feed status -------------------------------------------------------------------------------


def feed_view(row: sqlite3.Row, now_ms: int) -> dict[str, Any]:
    """What `GET /feeds/{id}` shows: counts only once the feed is `done`."""
    if row["state"] == "failed":
        status = "failed"
    elif row["state"] == "applied" and now_ms >= row["ready_at_ms"]:
        status = "done"
    else:
        status = "processing"
    view: dict[str, Any] = {
        "feed_id": row["feed_id"],
        "kind": row["kind"],
        "status": status,
        "sequence": row["sequence"],
        "accepted": row["accepted"] if status == "done" else 0,
        "rejected": json.loads(row["rejected"]) if status == "done" else [],
    }
    if row["kind"] == "full":
        received = row["parts_received"]
        view.update(parts=row["parts"], parts_received=received)
    if status == "failed":
        view["error"] = json.loads(row["error"])
    return view


def get_feed(conn: sqlite3.Connection, feed_id: str, now_ms: int) -> dict[str, Any]:
    row = _feed_row(conn, feed_id)
    if row is None:
        raise FtdError(404, "feed_not_found", f"no feed {feed_id!r}.")
    return feed_view(row, now_ms)


def _feed_row(conn: sqlite3.Connection, feed_id: str) -> sqlite3.Row | None:
    return conn.execute(
        "SELECT f.*, (SELECT COUNT(*) FROM ftd_feed_parts p WHERE p.feed_id=f.feed_id) "
        "AS parts_received FROM ftd_feeds f WHERE f.feed_id=?",
        (feed_id,),
    ).fetchone()


# -- full feeds --------------------------------------------------------------------------------


def _int_field(body: dict[str, Any], name: str, low: int = 0) -> int:
    value = body.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise FtdError(422, "invalid_request", f"{name} must be an integer >= {low}.")
    return value


def _feed_id(body: dict[str, Any]) -> str:
    feed_id = body.get("feed_id")
    if not isinstance(feed_id, str) or not feed_id.strip() or len(feed_id) > 128:
        raise FtdError(422, "invalid_request", "feed_id must be a string of 1..128 chars.")
    return feed_id


def receive_full(
    conn: sqlite3.Connection,
    body: dict[str, Any],
    *,
    now: datetime,
    now_ms: int,
    processing_ms: int,
) -> dict[str, Any]:
    """Store one part of a full feed; apply the feed when its last part arrives."""
    feed_id = _feed_id(body)
    sequence = _int_field(body, "sequence")
    if parse_rfc3339(body.get("generated_at")) is None:
        raise FtdError(422, "invalid_request", "generated_at must be an RFC 3339 timestamp.")
    if not isinstance(body.get("offers"), list):
        raise FtdError(422, "invalid_request", "offers must be a list.")
    if ("part" in body) != ("parts" in body):
        raise FtdError(422, "invalid_request", "part and parts come together.")
    part = _int_field(body, "part", 1) if "part" in body else 1
    parts = _int_field(body, "parts", 1) if "parts" in body else 1
    if part > parts or parts > MAX_PARTS:
        raise FtdError(
            422,
            "invalid_request",
            f"part {part} of {parts}: need 1 <= part <= parts <= {MAX_PARTS}.",
        )
    envelope = {"sequence": sequence, "generated_at": body["generated_at"], "parts": parts}
    offers_text = canonical(body["offers"])  # digested, and stored as the part's offers
    digest = hashlib.sha256(offers_text.encode()).hexdigest()

    row = _feed_row(conn, feed_id)
    if row is None:
        conn.execute(
            "INSERT INTO ftd_feeds (feed_id, kind, sequence, parts, envelope, state, received_at) "
            "VALUES (?, 'full', ?, ?, ?, 'receiving', ?)",
            (feed_id, sequence, parts, canonical(envelope), stamp(now)),
        )
    elif row["kind"] != "full":
        raise FtdError(409, "feed_id_reused", f"feed_id {feed_id!r} is a {row['kind']} feed.")
    elif row["envelope"] != canonical(envelope):
        raise FtdError(
            409,
            "feed_mismatch",
            f"part {part} of feed {feed_id!r} disagrees with earlier parts on sequence, "
            "generated_at or parts.",
        )
    seen = conn.execute(
        "SELECT digest FROM ftd_feed_parts WHERE feed_id=? AND part=?", (feed_id, part)
    ).fetchone()
    if seen is not None:
        if seen["digest"] != digest:
            raise FtdError(
                409, "part_conflict", f"part {part} of feed {feed_id!r} arrived with other offers."
            )
    elif row is not None and row["state"] == "failed":
        raise FtdError(409, "feed_closed", f"feed {feed_id!r} failed; send a new full feed.")
    else:
        conn.execute(
            "INSERT INTO ftd_feed_parts (feed_id, part, digest, offers) VALUES (?, ?, ?, ?)",
            (feed_id, part, digest, offers_text),
        )
        received = conn.execute(
            "SELECT COUNT(*) FROM ftd_feed_parts WHERE feed_id=?", (feed_id,)
        ).fetchone()[0]
        if received == parts:
            _apply_full(conn, feed_id, sequence, now=now, ready_at_ms=now_ms + processing_ms)
    final = _feed_row(conn, feed_id)
    assert final is not None
    view = feed_view(final, now_ms)
    return {
        "feed_id": feed_id,
        "status": view["status"],
        "parts": parts,
        "parts_received": view["parts_received"],
    }


def _apply_full(
    conn: sqlite3.Connection, feed_id: str, sequence: int, *, now: datetime, ready_at_ms: int
) -> None:
    accepted: dict[str, dict[str, Any]] = {}
    rejected: list[dict[str, Any]] = []
    for part in conn.execute(
        "SELECT offers FROM ftd_feed_parts WHERE feed_id=? ORDER BY part", (feed_id,)
    ).fetchall():
        for raw in loads(part["offers"]):
            offer_id = raw.get("offer_id") if isinstance(raw, dict) else None
            try:
                offer = check_offer(raw)
                if offer["offer_id"] in accepted:
                    raise Rejection(
                        "duplicate_offer", "this offer_id appears more than once in the feed."
                    )
            except Rejection as exc:
                rejected.append(_rejection(offer_id, exc))
                continue
            accepted[offer["offer_id"]] = offer
    listed = {r[0] for r in conn.execute("SELECT offer_id FROM ftd_offers")}
    conn.executemany(
        "DELETE FROM ftd_offers WHERE offer_id=?", [(i,) for i in listed - accepted.keys()]
    )
    when = stamp(now)
    conn.executemany(UPSERT_OFFER, [_offer_row(o, feed_id, when) for o in accepted.values()])
    # Another full feed still waiting for parts can never take effect after this one.
    conn.execute(
        "UPDATE ftd_feeds SET state='failed', error=? WHERE kind='full' AND state='receiving' "
        "AND feed_id<>?",
        (
            json.dumps(
                {"code": "superseded", "message": f"full feed {feed_id!r} completed first."}
            ),
            feed_id,
        ),
    )
    _mark_applied(conn, feed_id, len(accepted), rejected, ready_at_ms)
    meta_put(conn, "last_sequence", sequence)


def _mark_applied(
    conn: sqlite3.Connection,
    feed_id: str,
    accepted: int,
    rejected: list[dict[str, Any]],
    ready_at_ms: int,
) -> None:
    conn.execute(
        "UPDATE ftd_feeds SET state='applied', accepted=?, rejected=?, ready_at_ms=? "
        "WHERE feed_id=?",
        (accepted, json.dumps(rejected), ready_at_ms, feed_id),
    )


# -- deltas ------------------------------------------------------------------------------------


def receive_delta(
    conn: sqlite3.Connection,
    body: dict[str, Any],
    *,
    gap: bool,
    now: datetime,
    now_ms: int,
    processing_ms: int,
) -> dict[str, Any]:
    """Apply a delta on top of the last accepted sequence, or refuse it with `expected_base`."""
    feed_id = _feed_id(body)
    base = _int_field(body, "base_sequence")
    sequence = _int_field(body, "sequence")
    if sequence <= base:
        raise FtdError(
            422, "invalid_sequence", f"sequence {sequence} must be greater than base {base}."
        )
    changes = body.get("changes")
    if not isinstance(changes, list):
        raise FtdError(422, "invalid_request", "changes must be a list (empty for a heartbeat).")
    envelope = canonical({"base_sequence": base, "sequence": sequence, "changes": changes})
    row = _feed_row(conn, feed_id)
    if row is not None:
        if row["kind"] == "delta" and row["envelope"] == envelope:
            return {"feed_id": feed_id, "status": feed_view(row, now_ms)["status"]}
        raise FtdError(409, "feed_id_reused", f"feed_id {feed_id!r} was already used.")

    last = last_sequence(conn)
    if last is None:
        raise FtdError(
            409,
            "no_full_feed",
            "FTD has accepted no full feed yet; send a full feed first.",
            expected_base=None,
        )
    if gap:
        raise FtdError(
            409,
            "sequence_gap",
            f"FTD detected a gap before sequence {sequence} (a feed was lost); send a full feed.",
            expected_base=last,
        )
    if base != last:
        raise FtdError(
            409,
            "base_mismatch",
            f"base_sequence {base} is not the last accepted sequence {last}; send a full feed.",
            expected_base=last,
        )
    conn.execute(
        "INSERT INTO ftd_feeds (feed_id, kind, sequence, base_sequence, parts, envelope, state, "
        "received_at) VALUES (?, 'delta', ?, ?, 1, ?, 'receiving', ?)",
        (feed_id, sequence, base, envelope, stamp(now)),
    )
    accepted, rejected = 0, []
    for index, change in enumerate(changes):
        try:
            _apply_change(conn, change, index, feed_id, stamp(now))
            accepted += 1
        except Rejection as exc:
            offer_id = None
            if isinstance(change, dict):
                offer = change.get("offer")
                offer_id = offer.get("offer_id") if isinstance(offer, dict) else None
                offer_id = offer_id or change.get("offer_id")
            rejected.append(_rejection(offer_id, exc))
    _mark_applied(conn, feed_id, accepted, rejected, now_ms + processing_ms)
    meta_put(conn, "last_sequence", sequence)
    row = _feed_row(conn, feed_id)
    assert row is not None
    return {"feed_id": feed_id, "status": feed_view(row, now_ms)["status"]}


def _apply_change(
    conn: sqlite3.Connection, change: Any, index: int, feed_id: str, now: str
) -> None:
    op = change.get("op") if isinstance(change, dict) else None
    if op == "upsert":
        if "offer" not in change:
            raise Rejection("missing_field", f"change #{index}: upsert without offer.")
        _upsert_offer(conn, check_offer(change["offer"]), feed_id, now)
    elif op == "withdraw":
        offer_id = change.get("offer_id")
        if not isinstance(offer_id, str) or not offer_id:
            raise Rejection("missing_field", f"change #{index}: withdraw without offer_id.")
        # Withdrawing what is not listed is a no-op, so a repeated withdraw is harmless.
        conn.execute("DELETE FROM ftd_offers WHERE offer_id=?", (offer_id,))
    else:
        raise Rejection("invalid_change", f"change #{index}: op must be upsert or withdraw.")


# -- listing -----------------------------------------------------------------------------------


def offer_view(row: sqlite3.Row) -> dict[str, Any]:
    """The offer as accepted, with the boxes FTD lists now (after florists' purchases)."""
    offer = loads(row["body"])
    offer["quantity_available"] = row["quantity"]
    return offer


def list_offers(conn: sqlite3.Connection, cursor: str | None, limit: int) -> dict[str, Any]:
    after = decode_cursor(cursor, ("o",))["o"] if cursor else ""
    rows = conn.execute(
        "SELECT * FROM ftd_offers WHERE offer_id > ? ORDER BY offer_id LIMIT ?",
        (after, limit + 1),
    ).fetchall()
    page = rows[:limit]
    more = len(rows) > limit
    return {
        "offers": [offer_view(r) for r in page],
        "next_cursor": encode_cursor({"o": page[-1]["offer_id"]}) if more else None,
    }
