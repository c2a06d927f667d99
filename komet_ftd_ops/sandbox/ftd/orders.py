"""The FTD twin's order side: the order record, its state machine, and the incremental listing.

Statuses and who moves them:

    NEW --ack--> ACKNOWLEDGED --CONFIRMED--> CONFIRMED --SHIPPED--> SHIPPED      (supplier)
    NEW --ack, every line REJECT--> REJECTED                                     (supplier)
    ACKNOWLEDGED | CONFIRMED --buyer asks--> CANCEL_REQUESTED                     (florist)
    CANCEL_REQUESTED --CANCELLED--> CANCELLED                                    (supplier agrees)
    CANCEL_REQUESTED --previous status--> ACKNOWLEDGED | CONFIRMED               (supplier declines)

Declining a cancellation of an ACKNOWLEDGED order may also go straight to CONFIRMED (the invoice
was confirmed in Komet meanwhile). Anything else is `409 invalid_transition`, including posting
the status an order already has: retries are made safe by `Idempotency-Key`, not by leniency.

Every change bumps `version` and gives a new `updated_at` from `ftd_http.next_stamp`, which is
unique and increasing across all orders. That is the tie-break the listing relies on: ordered by
(updated_at, order_id), filtered strictly after `updated_after`, and `high_watermark` is the
`updated_at` of the last order on the page, so resuming from any page's watermark skips nothing.
"""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
from collections import deque
from datetime import date, datetime
from typing import Any, cast

from .http import FtdError, decode_cursor, encode_cursor, next_stamp, parse_rfc3339, stamp

STATUSES = (
    "NEW",
    "ACKNOWLEDGED",
    "REJECTED",
    "CONFIRMED",
    "SHIPPED",
    "CANCEL_REQUESTED",
    "CANCELLED",
)
DECISIONS = ("ACCEPT", "REJECT")
# Why a line is not accepted in full (docs/ftd-api.md); any other code is refused.
REASON_CODES = ("OUT_OF_STOCK", "PARTIAL_STOCK", "PAST_CUTOFF", "OUTSIDE_WINDOW", "NO_SHIP_TO")
POSTABLE = ("CONFIRMED", "SHIPPED", "CANCELLED", "ACKNOWLEDGED")  # ACKNOWLEDGED: decline only
CANCELLABLE = ("ACKNOWLEDGED", "CONFIRMED")
LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX = 100, 500


def order_view(row: sqlite3.Row) -> dict[str, Any]:
    """The order exactly in the contract's shape (field order as in the spec)."""
    body = json.loads(row["body"])
    return {
        "order_id": row["order_id"],
        "order_number": row["order_number"],
        "po_number": body["po_number"],
        "status": row["status"],
        "version": row["version"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "buyer": body["buyer"],
        "ship_to": body["ship_to"],
        "requested_ship_date": body["requested_ship_date"],
        "lines": body["lines"],
        "currency": body["currency"],
        "notes": body["notes"],
        # What the supplier answered, so a supplier that lost its own records can tell which
        # Komet web order it made (`supplier_ref`); null until acknowledged.
        "acknowledgement": _acknowledgement(row),
    }


def _acknowledgement(row: sqlite3.Row) -> dict[str, Any] | None:
    if row["acknowledgement"] is None:
        return None
    first = json.loads(row["acknowledgement"])
    keys = ("supplier_ref", "ship_date", "acknowledged_at")
    return {k: first[k] for k in keys if k in first}


def load(conn: sqlite3.Connection, order_id: str) -> sqlite3.Row:
    row = conn.execute("SELECT * FROM ftd_orders WHERE order_id=?", (order_id,)).fetchone()
    if row is None:
        raise FtdError(404, "order_not_found", f"no order {order_id!r}.")
    return row


def _snapshot(conn: sqlite3.Connection, order_id: str) -> dict[str, Any]:
    """Keep every version: the listing noise replays old ones, as a lagging replica would."""
    view = order_view(load(conn, order_id))
    conn.execute(
        "INSERT INTO ftd_order_versions (order_id, version, snapshot) VALUES (?, ?, ?)",
        (order_id, view["version"], json.dumps(view)),
    )
    return view


def create_order(
    conn: sqlite3.Connection, *, order_number: str, body: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """A NEW order at version 1; `body` holds the contract fields not kept in columns."""
    order_id = f"FTD-{order_number}"
    ts = next_stamp(conn, now)
    conn.execute(
        "INSERT INTO ftd_orders (order_id, order_number, status, version, created_at, "
        "updated_at, body) VALUES (?, ?, 'NEW', 1, ?, ?, ?)",
        (order_id, order_number, ts, ts, json.dumps(body)),
    )
    return _snapshot(conn, order_id)


def _change(
    conn: sqlite3.Connection, row: sqlite3.Row, now: datetime, **columns: Any
) -> dict[str, Any]:
    sets = ", ".join(f"{name}=?" for name in columns)
    conn.execute(
        f"UPDATE ftd_orders SET {sets}, version=version+1, updated_at=? WHERE order_id=?",
        (*columns.values(), next_stamp(conn, now), row["order_id"]),
    )
    return _snapshot(conn, row["order_id"])


# -- acknowledge -------------------------------------------------------------------------------


def _ack_lines(body: dict[str, Any], order_lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Normalised per-line decisions (sorted by line_id), or 422 with what is wrong."""
    raw = body.get("lines")
    if not isinstance(raw, list) or not raw:
        raise FtdError(422, "missing_lines", "lines must list a decision for every order line.")
    by_id = {line["line_id"]: line for line in order_lines}
    decided: dict[str, dict[str, Any]] = {}
    for item in raw:
        if not isinstance(item, dict):
            raise FtdError(422, "invalid_request", "each line must be a JSON object.")
        line_id = item.get("line_id")
        if line_id not in by_id:
            raise FtdError(422, "unknown_line", f"the order has no line_id {line_id!r}.")
        if line_id in decided:
            raise FtdError(422, "duplicate_line", f"line_id {line_id!r} is decided twice.")
        decision = item.get("decision")
        if decision not in DECISIONS:
            raise FtdError(
                422, "invalid_decision", f"line {line_id}: decision must be ACCEPT or REJECT."
            )
        boxes = item.get("boxes_accepted", 0 if decision == "REJECT" else None)
        reason = item.get("reason_code")
        ordered = by_id[line_id]["boxes"]
        if decision == "ACCEPT":
            valid = isinstance(boxes, int) and not isinstance(boxes, bool) and 1 <= boxes <= ordered
            if not valid:
                raise FtdError(
                    422,
                    "invalid_boxes",
                    f"line {line_id}: boxes_accepted must be an integer 1..{ordered}.",
                )
        elif boxes not in (0, None):
            raise FtdError(422, "invalid_boxes", f"line {line_id}: a REJECT accepts 0 boxes.")
        short = decision == "REJECT" or boxes < ordered
        if short and (not isinstance(reason, str) or not reason.strip()):
            raise FtdError(
                422,
                "missing_reason",
                f"line {line_id}: reason_code is required when not all boxes are accepted.",
            )
        if reason is not None and (not isinstance(reason, str) or len(reason) > 64):
            raise FtdError(422, "invalid_request", f"line {line_id}: reason_code is a string.")
        if reason is not None and reason not in REASON_CODES:
            raise FtdError(
                422,
                "invalid_reason",
                f"line {line_id}: reason_code must be one of {', '.join(REASON_CODES)}.",
            )
        decided[cast(str, line_id)] = {  # a key of by_id: checked above
            "line_id": line_id,
            "decision": decision,
            "boxes_accepted": boxes if decision == "ACCEPT" else 0,
            "reason_code": reason,
        }
    missing = sorted(set(by_id) - set(decided))
    if missing:
        raise FtdError(422, "missing_lines", f"no decision for line(s) {', '.join(missing)}.")
    return [decided[k] for k in sorted(decided)]


def acknowledge(
    conn: sqlite3.Connection, order_id: str, body: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """NEW -> ACKNOWLEDGED/REJECTED; the same content again is a 200 no-op, other content 409."""
    row = load(conn, order_id)
    ref = body.get("supplier_ref")
    if not isinstance(ref, str) or not ref.strip() or len(ref) > 100:
        raise FtdError(422, "invalid_request", "supplier_ref must be a string of 1..100 chars.")
    order = json.loads(row["body"])
    lines = _ack_lines(body, order["lines"])
    content: dict[str, Any] = {"supplier_ref": ref, "lines": lines}
    ship_date = _ship_date(body, order["requested_ship_date"], lines)
    if ship_date is not None:
        content["ship_date"] = ship_date
    if row["status"] == "NEW":
        every_reject = all(line["decision"] == "REJECT" for line in lines)
        record = {**content, "acknowledged_at": stamp(now)}
        return _change(
            conn,
            row,
            now,
            status="REJECTED" if every_reject else "ACKNOWLEDGED",
            acknowledgement=json.dumps(record),
        )
    if row["acknowledgement"] is not None:
        first = json.loads(row["acknowledgement"])
        kept = {k: first[k] for k in ("supplier_ref", "lines", "ship_date") if k in first}
        if kept == content:
            return order_view(row)
        raise FtdError(
            409,
            "already_acknowledged",
            f"order {order_id} was acknowledged with other content; an acknowledgement is final.",
        )
    raise FtdError(
        409, "invalid_transition", f"order {order_id} is {row['status']}; only NEW is acknowledged."
    )


def _ship_date(body: dict[str, Any], requested: str, lines: list[dict[str, Any]]) -> str | None:
    """The optional `ship_date`: a date, not before the requested one, with a line accepted."""
    value = body.get("ship_date")
    if value is None:
        return None
    try:
        valid = isinstance(value, str) and date.fromisoformat(value).isoformat() == value
    except ValueError:
        valid = False
    if not valid:
        raise FtdError(422, "invalid_ship_date", "ship_date must be a date YYYY-MM-DD.")
    if value < requested:
        raise FtdError(
            422,
            "invalid_ship_date",
            f"ship_date {value} is before the requested_ship_date {requested}.",
        )
    if not any(line["decision"] == "ACCEPT" for line in lines):
        raise FtdError(422, "invalid_ship_date", "ship_date needs at least one accepted line.")
    return value


# -- status ------------------------------------------------------------------------------------


def _allowed(status: str, prev: str | None, target: str) -> bool:
    if status == "CANCEL_REQUESTED":
        if target == "CANCELLED" or target == prev:
            return True
        return prev == "ACKNOWLEDGED" and target == "CONFIRMED"
    return (status, target) in {("ACKNOWLEDGED", "CONFIRMED"), ("CONFIRMED", "SHIPPED")}


def update_status(
    conn: sqlite3.Connection, order_id: str, body: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """A supplier-reported status (CONFIRMED needs `invoice_number`); extra fields are kept."""
    row = load(conn, order_id)
    target = body.get("status")
    if target not in POSTABLE:
        raise FtdError(422, "invalid_status", "status must be CONFIRMED, SHIPPED or CANCELLED.")
    invoice = body.get("invoice_number")
    if invoice is not None and (not isinstance(invoice, str) or not 0 < len(invoice) <= 64):
        raise FtdError(422, "invalid_request", "invoice_number must be a string of 1..64 chars.")
    if target == "CONFIRMED" and invoice is None:
        raise FtdError(422, "missing_field", "CONFIRMED needs the invoice_number.")
    if not _allowed(row["status"], row["prev_status"], target):
        raise FtdError(
            409,
            "invalid_transition",
            f"order {order_id} is {row['status']}; it cannot become {target}.",
        )
    updates = json.loads(row["status_updates"])
    updates.append(
        {**body, "from_status": row["status"], "version": row["version"] + 1, "at": stamp(now)}
    )
    # prev_status is only read while CANCEL_REQUESTED, so it is left as the cancel set it.
    return _change(conn, row, now, status=target, status_updates=json.dumps(updates))


def request_cancel(conn: sqlite3.Connection, order_id: str, now: datetime) -> dict[str, Any]:
    """The buyer's side: ACKNOWLEDGED|CONFIRMED -> CANCEL_REQUESTED, remembering where it was."""
    row = load(conn, order_id)
    if row["status"] not in CANCELLABLE:
        raise FtdError(
            409,
            "invalid_transition",
            f"order {order_id} is {row['status']}; buyers can ask to cancel only "
            f"{' or '.join(CANCELLABLE)} orders.",
        )
    return _change(conn, row, now, status="CANCEL_REQUESTED", prev_status=row["status"])


# -- listing -----------------------------------------------------------------------------------


class ListingNoise:
    """Duplicates and stale versions in order listings, as an eventually consistent API gives.

    At rate `p` per order on a page, an older version of that order follows it (out of order);
    at rate `p` per page, an order already returned by an earlier page or call is repeated.
    Noise entries never move cursors or the watermark, and may push a page past `limit`.
    """

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(f"ftd-listing-noise:{seed}")
        self.recent: deque[dict[str, Any]] = deque(maxlen=200)

    def apply(
        self, conn: sqlite3.Connection, page: list[dict[str, Any]], rate: float
    ) -> list[dict[str, Any]]:
        if rate <= 0:
            self.recent.extend(page)
            return page
        out: list[dict[str, Any]] = []
        for order in page:
            out.append(order)
            if order["version"] > 1 and self.rng.random() < rate:
                version = self.rng.randrange(1, order["version"])
                old = conn.execute(
                    "SELECT snapshot FROM ftd_order_versions WHERE order_id=? AND version=?",
                    (order["order_id"], version),
                ).fetchone()
                if old is not None:
                    out.append(json.loads(old[0]))
        if self.recent and self.rng.random() < rate:
            out.insert(self.rng.randrange(len(out) + 1), dict(self.rng.choice(self.recent)))
        self.recent.extend(page)
        return out


def list_orders(
    conn: sqlite3.Connection, params: dict[str, str], noise: ListingNoise, noise_rate: float
) -> dict[str, Any]:
    """One page of `GET /orders`: `{orders, next_cursor, high_watermark}`."""
    status = params.get("status")
    if status is not None and status not in STATUSES:
        raise FtdError(400, "invalid_parameter", f"status must be one of {', '.join(STATUSES)}.")
    after: str | None = None
    if "updated_after" in params:
        parsed = parse_rfc3339(params["updated_after"])
        if parsed is None:
            raise FtdError(400, "invalid_parameter", "updated_after must be an RFC 3339 timestamp.")
        after = stamp(parsed)
    limit_raw = params.get("limit")
    limit = LIST_LIMIT_DEFAULT
    if limit_raw is not None:
        if not limit_raw.isdigit() or not 1 <= int(limit_raw) <= LIST_LIMIT_MAX:
            raise FtdError(
                400, "invalid_parameter", f"limit must be an integer 1..{LIST_LIMIT_MAX}."
            )
        limit = int(limit_raw)
    # A cursor is bound to its filter: reusing it with another filter would skip or repeat.
    filter_id = hashlib.sha256(f"{status}|{after}".encode()).hexdigest()[:16]
    where, args = ["1=1"], []
    if status is not None:
        where.append("status=?")
        args.append(status)
    if after is not None:
        where.append("updated_at>?")
        args.append(after)
    if "cursor" in params:
        position = decode_cursor(params["cursor"], ("u", "o", "f"))
        if position["f"] != filter_id:
            raise FtdError(
                400, "invalid_cursor", "this cursor belongs to a listing with other filters."
            )
        where.append("(updated_at, order_id) > (?, ?)")
        args += [position["u"], position["o"]]
    rows = conn.execute(
        f"SELECT * FROM ftd_orders WHERE {' AND '.join(where)} "
        "ORDER BY updated_at, order_id LIMIT ?",
        (*args, limit + 1),
    ).fetchall()
    page = [order_view(r) for r in rows[:limit]]
    more = len(rows) > limit
    last = page[-1] if page else None
    return {
        "orders": noise.apply(conn, page, noise_rate),
        "next_cursor": (
            encode_cursor({"u": last["updated_at"], "o": last["order_id"], "f": filter_id})
            if more and last
            else None
        ),
        "high_watermark": last["updated_at"] if last else after,
    }
