"""Offers -> FTD feeds: a delta against the last feed FTD accepted, or a full feed when needed.

What FTD accepted is kept in the state database (`published_offers`: one fingerprint per offer,
and the sequence). A feed is recorded as `sending` before it goes out; only once FTD accepts it
does the snapshot move, in one transaction. A crash in between leaves a `sending` feed behind,
and the next cycle sends a full feed, which is always safe because quantities are absolute.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from ..errors import Conflict
from ..ftd import FtdClient
from ..settings.profiles import Profile
from ..state.store import Store, iso
from .transform import fingerprints, offers_as_dicts

FULL_REASONS = ("first_cycle", "after_conflict", "heal", "after_downtime", "unknown_outcome")


@dataclass
class FeedPlan:
    kind: str  # full | delta
    reason: str
    sequence: int
    base_sequence: int | None
    offers: pd.DataFrame  # every current offer
    upserts: pd.DataFrame  # offers to send (all of them for a full feed)
    withdrawals: list[str]
    changes: pd.DataFrame  # offer_id, before, after: quantity changes, largest first


@dataclass
class FeedOutcome:
    kind: str
    reason: str
    feed_id: str | None
    sequence: int | None
    sent: bool
    upserts: int
    withdrawals: int
    bytes_sent: int = 0
    parts: int = 0
    status: str = ""
    accepted: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def counters(self) -> dict[str, Any]:
        return {
            "feed_kind": self.kind,
            "feed_reason": self.reason,
            "feed_sequence": self.sequence,
            "offers_published": self.upserts,
            "offers_withdrawn": self.withdrawals,
            "offers_rejected_by_ftd": len(self.rejected),
            "bytes_sent": self.bytes_sent,
        }


class FeedState:
    """The last feed FTD accepted for one profile."""

    def __init__(self, store: Store, profile: str) -> None:
        self.store = store
        self.profile = profile

    def snapshot(self) -> pd.DataFrame:
        rows = self.store.query(
            "SELECT offer_id, fingerprint, quantity, price FROM published_offers WHERE profile=?",
            (self.profile,),
        )
        frame = pd.DataFrame(
            [dict(r) for r in rows], columns=["offer_id", "fingerprint", "quantity", "price"]
        )
        return frame.set_index("offer_id")

    def last_sequence(self) -> int | None:
        return self.store.get(self.profile, "feed.last_sequence")

    def last_full_at(self) -> datetime | None:
        value = self.store.get(self.profile, "feed.last_full_at")
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None

    def last_success_at(self) -> datetime | None:
        value = self.store.get(self.profile, "feed.last_success_at")
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None

    def unsettled_feed(self) -> str | None:
        rows = self.store.query(
            "SELECT feed_id FROM feeds WHERE profile=? AND status='sending' ORDER BY created_at DESC LIMIT 1",
            (self.profile,),
        )
        return rows[0]["feed_id"] if rows else None


def plan_feed(
    offers: pd.DataFrame, state: FeedState, profile: Profile, now: datetime | None = None
) -> FeedPlan:
    """Decide full or delta, and what changed since the last accepted feed."""
    now = now or datetime.now(UTC)
    rules = profile.sync
    last_seq = state.last_sequence()
    snapshot = state.snapshot()
    prints = fingerprints(offers)
    reason = ""
    if last_seq is None:
        reason = "first_cycle"
    elif state.unsettled_feed():
        reason = "unknown_outcome"
    elif (last := state.last_success_at()) and now - last > timedelta(
        minutes=rules.full_after_downtime_minutes
    ):
        reason = "after_downtime"
    elif (full := state.last_full_at()) is None or now - full >= timedelta(
        minutes=rules.heal_every_minutes
    ):
        reason = "heal"

    before = snapshot["quantity"].reindex(offers["offer_id"]).fillna(0).astype("int64").to_numpy()
    after = offers["quantity_available"].to_numpy()
    changes = pd.DataFrame(
        {"offer_id": offers["offer_id"].to_numpy(), "before": before, "after": after}
    )
    gone = snapshot.index.difference(pd.Index(offers["offer_id"]))
    withdrawn = pd.DataFrame(
        {"offer_id": gone, "before": snapshot.loc[gone, "quantity"].to_numpy(), "after": 0}
    )
    changes = pd.concat([changes, withdrawn], ignore_index=True)
    changes = changes[changes["before"] != changes["after"]]
    changes = changes.reindex(
        (changes["after"] - changes["before"]).abs().sort_values(ascending=False).index
    )

    sequence = (last_seq or 0) + 1
    if reason:
        return FeedPlan("full", reason, sequence, last_seq, offers, offers, [], changes)
    known = snapshot["fingerprint"].reindex(prints.index)
    changed = (known != prints.to_numpy()).to_numpy()
    return FeedPlan(
        "delta", "changes", sequence, last_seq, offers, offers[changed], list(gone), changes
    )


def publish_feed(
    plan: FeedPlan,
    ftd: FtdClient,
    state: FeedState,
    profile: Profile,
    *,
    run_id: str | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
) -> FeedOutcome:
    """Send the planned feed; on a 409 send a full feed instead. Moves the snapshot on success."""
    now = now or datetime.now(UTC)
    if dry_run:
        return FeedOutcome(
            plan.kind,
            plan.reason,
            None,
            plan.sequence,
            False,
            len(plan.upserts),
            len(plan.withdrawals),
        )
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    kind, reason, sequence = plan.kind, plan.reason, plan.sequence
    upserts = plan.upserts
    feed_id = f"{profile.name}-{kind}-{sequence}-{uuid.uuid4().hex[:8]}"
    _record_sending(
        state,
        feed_id,
        kind,
        sequence,
        plan.base_sequence,
        len(upserts),
        len(plan.withdrawals),
        run_id,
    )
    try:
        if kind == "full":
            result = ftd.send_full_feed(
                offers_as_dicts(upserts, stamp),
                sequence=sequence,
                feed_id=feed_id,
                generated_at=stamp,
            )
        else:
            changes = [{"op": "upsert", "offer": o} for o in offers_as_dicts(upserts, stamp)]
            changes += [{"op": "withdraw", "offer_id": oid} for oid in plan.withdrawals]
            result = ftd.send_delta(
                changes, base_sequence=plan.base_sequence or 0, sequence=sequence, feed_id=feed_id
            )
    except Conflict as exc:
        _settle(state, feed_id, "conflict", f"409: FTD expected base {exc.expected_base}")
        kind, reason, upserts = "full", "after_conflict", plan.offers
        sequence = max(sequence, (exc.expected_base or 0) + 1)
        feed_id = f"{profile.name}-full-{sequence}-{uuid.uuid4().hex[:8]}"
        _record_sending(state, feed_id, kind, sequence, plan.base_sequence, len(upserts), 0, run_id)
        result = ftd.send_full_feed(
            offers_as_dicts(upserts, stamp), sequence=sequence, feed_id=feed_id, generated_at=stamp
        )
    withdrawals = [] if kind == "full" else plan.withdrawals
    _accept(
        state, feed_id, kind, sequence, plan.offers, upserts, withdrawals, result.bytes_sent, now
    )

    status = ftd.wait_feed(feed_id, timeout=profile.sync.feed_status_timeout_seconds)
    rejected = list(status.get("rejected") or [])
    with state.store.atomic() as db:
        db.execute(
            "UPDATE feeds SET status=? WHERE feed_id=?", (status.get("status", "done"), feed_id)
        )
        db.executemany(
            "INSERT OR REPLACE INTO feed_rejections VALUES (?, ?, ?, ?)",
            [
                (feed_id, r.get("offer_id", ""), r.get("code", ""), r.get("message", ""))
                for r in rejected
            ],
        )
    return FeedOutcome(
        kind, reason, feed_id, sequence, True, len(upserts), len(withdrawals),
        bytes_sent=result.bytes_sent, parts=result.parts, status=status.get("status", ""),
        accepted=int(status.get("accepted") or 0), rejected=rejected,
    )  # fmt: skip


def _record_sending(
    state: FeedState, feed_id: str, kind: str, sequence: int, base: int | None,
    offers: int, withdrawals: int, run_id: str | None,
) -> None:  # fmt: skip
    with state.store.atomic() as db:
        db.execute(
            "INSERT INTO feeds VALUES (?, ?, ?, ?, ?, ?, ?, 0, 'sending', NULL, ?, ?)",
            (feed_id, state.profile, kind, sequence, base, offers, withdrawals, iso(), run_id),
        )


def _settle(state: FeedState, feed_id: str, status: str, reason: str) -> None:
    with state.store.atomic() as db:
        db.execute("UPDATE feeds SET status=?, reason=? WHERE feed_id=?", (status, reason, feed_id))


def _accept(
    state: FeedState, feed_id: str, kind: str, sequence: int, offers: pd.DataFrame,
    upserts: pd.DataFrame, withdrawals: list[str], bytes_sent: int, now: datetime,
) -> None:  # fmt: skip
    """FTD accepted the feed: move the snapshot and the sequence in one transaction."""
    prints = fingerprints(upserts)
    rows = list(
        zip(
            [state.profile] * len(upserts), upserts["offer_id"], prints.to_numpy(),
            upserts["quantity_available"].astype(int), upserts["price_per_unit"], strict=True,
        )
    )  # fmt: skip
    profile = state.profile
    with state.store.atomic() as db:
        if kind == "full":
            db.execute("DELETE FROM published_offers WHERE profile=?", (profile,))
            db.execute(
                "UPDATE feeds SET status='superseded' WHERE profile=? AND status='sending' AND feed_id<>?",
                (profile, feed_id),
            )
        db.executemany("INSERT OR REPLACE INTO published_offers VALUES (?, ?, ?, ?, ?)", rows)
        db.executemany(
            "INSERT OR REPLACE INTO offer_history VALUES (?, ?, ?, ?)",
            [(profile, r[1], r[4], iso(now)) for r in rows],
        )
        db.executemany(
            "DELETE FROM published_offers WHERE profile=? AND offer_id=?",
            [(profile, o) for o in withdrawals],
        )
        db.execute(
            "UPDATE feeds SET status='accepted', bytes_sent=? WHERE feed_id=?",
            (bytes_sent, feed_id),
        )
        state.store.put(profile, "feed.last_sequence", sequence)
        state.store.put(profile, "feed.last_success_at", iso(now))
        if kind == "full":
            state.store.put(profile, "feed.last_full_at", iso(now))
