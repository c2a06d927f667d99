"""Offers -> FTD feeds: a delta against the last feed FTD accepted, or a full feed when needed.

What FTD accepted is kept in the state database (`published_offers`: one fingerprint per offer,
and the sequence). A feed is recorded as `sending` before it goes out; only once FTD accepts it
does the snapshot move, in one transaction. A crash in between leaves a `sending` feed behind,
and the next cycle sends a full feed, which is always safe because quantities are absolute.

This module alone decides full or delta, including the fallback from a delta FTD cannot take
(wrong base, or over the body limit) to a full feed; the FTD client only sends.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import Conflict, RequestTooLarge
from ..ftd import FeedResult, FtdClient
from ..settings.profiles import Profile
from ..state import feeds
from ..state.store import Store, iso
from .transform import fingerprints, offers_as_dicts

log = logging.getLogger(__name__)

FULL_REASONS = (
    "first_cycle", "after_conflict", "delta_too_large", "heal", "after_downtime", "unknown_outcome",
)  # fmt: skip
FALLBACKS = ("after_conflict", "delta_too_large")  # a planned delta that went out full
MIN_PART_BYTES = 1_000  # a few offers; FTD refusing smaller bodies is not a size problem


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
    fallback: str = ""  # one of FALLBACKS when the planned delta went out as a full feed

    def counters(self) -> dict[str, Any]:
        return {
            "feed_kind": self.kind,
            "feed_reason": self.reason,
            "feed_sequence": self.sequence,
            "offers_published": self.upserts,
            "offers_withdrawn": self.withdrawals,
            "offers_rejected_by_ftd": len(self.rejected),
            "bytes_sent": self.bytes_sent,
            "feed_parts": self.parts,
            "feed_fallback": self.fallback or None,
        }


def _text(values: list[Any]) -> Any:
    """A list of str as pandas' `str` column, built in Arrow (half the time of pd.array)."""
    return pd.array(pa.array(values, pa.string()), dtype="str")


class FeedState:
    """The last feed FTD accepted for one profile."""

    def __init__(self, store: Store, profile: str) -> None:
        self.store = store
        self.profile = profile

    def snapshot(self) -> pd.DataFrame:
        """offer_id -> fingerprint, quantity, price of the last accepted feed (from columns)."""
        columns = feeds.published_snapshot(self.store, self.profile)
        frame = pd.DataFrame(
            {
                "fingerprint": _text(columns["fingerprint"]),
                "quantity": np.asarray(columns["quantity"], dtype="int64"),
                "price": _text(columns["price"]),
            },
            index=pd.Index(_text(columns["offer_id"]), name="offer_id"),
        )
        return frame

    def last_sequence(self) -> int | None:
        return self.store.get(self.profile, "feed.last_sequence")

    def last_full_at(self) -> datetime | None:
        value = self.store.get(self.profile, "feed.last_full_at")
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None

    def last_success_at(self) -> datetime | None:
        value = self.store.get(self.profile, "feed.last_success_at")
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None

    def unsettled_feed(self) -> str | None:
        return feeds.unsettled_feed(self.store, self.profile)


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

    # Each offer's row in the snapshot (-1: new), found once with one Arrow hash lookup (a
    # fifth of pandas' get_indexer on 100,000 ids), reused for the quantities, the withdrawn
    # offers and the fingerprints. The snapshot's ids are unique (its primary key). Arrow is
    # handed `.array`, never a Series: probing a Series for Arrow's protocols hashes its index.
    at = pc.index_in(
        pa.array(offers["offer_id"].array, pa.string()),
        value_set=pa.array(snapshot.index.array, pa.string()),
    )
    found, at = at, pc.fill_null(at, -1).to_numpy(zero_copy_only=False)
    listed = at >= 0
    before = np.append(snapshot["quantity"].to_numpy(dtype="int64"), 0)[at]  # -1: the 0
    after = offers["quantity_available"].to_numpy()
    changes = pd.DataFrame(
        {"offer_id": offers["offer_id"].to_numpy(), "before": before, "after": after}
    )
    still = np.zeros(len(snapshot), dtype=bool)
    still[at[listed]] = True
    gone_rows = np.flatnonzero(~still)  # by position: no hash of the snapshot's ids
    if len(offers):  # the order Index.difference gave: sorted, except against no offers
        gone_rows = gone_rows[snapshot.index[gone_rows].argsort()]
    gone = snapshot.index[gone_rows]
    withdrawn = pd.DataFrame(
        {"offer_id": gone, "before": snapshot["quantity"].to_numpy()[gone_rows], "after": 0}
    )
    changes = pd.concat([changes, withdrawn], ignore_index=True)
    changes = changes[changes["before"] != changes["after"]]
    changes = changes.reindex(
        (changes["after"] - changes["before"]).abs().sort_values(ascending=False).index
    )

    sequence = (last_seq or 0) + 1
    if reason:
        return FeedPlan("full", reason, sequence, last_seq, offers, offers, [], changes)
    # Compared in Arrow: a new offer's fingerprint is null, so it counts as changed.
    known = pc.take(pa.array(snapshot["fingerprint"].array, pa.string()), found)
    changed = pc.fill_null(pc.not_equal(known, pa.array(prints.array, pa.string())), True)
    changed = changed.to_numpy(zero_copy_only=False)
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
    """Send the planned feed, falling back to a full feed when FTD cannot take the delta.

    This is the one place that decides between full and delta (the FTD client only sends):
    a delta on the wrong base (409 with `expected_base`) goes out as a full feed with a
    sequence past FTD's; a delta over the body limit (refused before sending, or FTD's 413)
    goes out as a full feed in parts. Either way the refused delta is settled in `feeds` first.
    Moves the snapshot once FTD accepted the feed.
    """
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
    kind, reason, sequence, upserts = plan.kind, plan.reason, plan.sequence, plan.upserts
    fallback = ""
    if kind == "full":
        feed_id, result = _send_full(plan, ftd, state, profile, sequence, stamp, run_id)
    else:
        feed_id = _new_feed_id(profile, kind, sequence)
        _record_sending(
            state, feed_id, kind, sequence, plan.base_sequence, len(upserts),
            len(plan.withdrawals), run_id,
        )  # fmt: skip
        try:
            result = _send_delta(plan, ftd, feed_id, stamp)
        except Conflict as exc:
            if exc.expected_base is None:
                raise  # not a base mismatch (e.g. an Idempotency-Key clash): not ours to heal
            _settle(state, feed_id, "conflict", f"409: FTD expected base {exc.expected_base}")
            fallback = "after_conflict"
            sequence = max(sequence, exc.expected_base + 1)
        except RequestTooLarge as exc:
            # Deltas are not split (order matters); a full feed in parts says the same thing.
            _settle(state, feed_id, "too_large", str(exc))
            fallback = "delta_too_large"
        if fallback:
            kind, reason, upserts = "full", fallback, plan.offers
            feed_id, result = _send_full(plan, ftd, state, profile, sequence, stamp, run_id)
    withdrawals = [] if kind == "full" else plan.withdrawals
    _accept(
        state, feed_id, kind, sequence, plan.offers, upserts, withdrawals, result.bytes_sent, now
    )

    status = ftd.wait_feed(feed_id, timeout=profile.sync.feed_status_timeout_seconds)
    rejected = list(status.get("rejected") or [])
    with state.store.atomic() as tx:
        feeds.set_status(tx, feed_id, status.get("status", "done"))
        feeds.record_rejections(tx, feed_id, rejected)
    return FeedOutcome(
        kind, reason, feed_id, sequence, True, len(upserts), len(withdrawals),
        bytes_sent=result.bytes_sent, parts=result.parts, status=status.get("status", ""),
        accepted=int(status.get("accepted") or 0), rejected=rejected, fallback=fallback,
    )  # fmt: skip


def _new_feed_id(profile: Profile, kind: str, sequence: int) -> str:
    return f"{profile.name}-{kind}-{sequence}-{uuid.uuid4().hex[:8]}"


def _send_delta(plan: FeedPlan, ftd: FtdClient, feed_id: str, stamp: str) -> FeedResult:
    changes = [{"op": "upsert", "offer": o} for o in offers_as_dicts(plan.upserts, stamp)]
    changes += [{"op": "withdraw", "offer_id": oid} for oid in plan.withdrawals]
    return ftd.send_delta(
        changes, base_sequence=plan.base_sequence or 0, sequence=plan.sequence, feed_id=feed_id
    )


def _send_full(
    plan: FeedPlan, ftd: FtdClient, state: FeedState, profile: Profile, sequence: int,
    stamp: str, run_id: str | None,
) -> tuple[str, FeedResult]:  # fmt: skip
    """Every current offer as one full feed, in parts under the body limit.

    A 413 from FTD on a part the config's limit allowed means FTD's real limit is lower than
    `[ftd] max_body_bytes`: the parts are halved and the feed sent again under a new feed_id (the
    parts already taken are dropped by FTD once a later full feed completes). This ends: the
    client refuses before sending once a part could no longer hold one offer, and the parts
    never shrink below `MIN_PART_BYTES`.
    """
    offers = offers_as_dicts(plan.offers, stamp)
    part_bytes = ftd.config.max_body_bytes
    while True:
        feed_id = _new_feed_id(profile, "full", sequence)
        _record_sending(
            state, feed_id, "full", sequence, plan.base_sequence, len(offers), 0, run_id
        )
        try:
            result = ftd.send_full_feed(
                offers, sequence=sequence, feed_id=feed_id, generated_at=stamp,
                max_bytes=part_bytes,
            )  # fmt: skip
        except RequestTooLarge as exc:
            _settle(state, feed_id, "too_large", str(exc))
            if exc.details.get("status") != 413 or part_bytes // 2 < MIN_PART_BYTES:
                raise  # refused before sending (one offer alone is over the limit), or hopeless
            log.warning(
                "FTD refused a full-feed part under %d bytes (413): its body limit is lower than "
                "[ftd] max_body_bytes=%d; sending parts of at most %d bytes",
                part_bytes, ftd.config.max_body_bytes, part_bytes // 2,
            )  # fmt: skip
            part_bytes //= 2
            continue
        return feed_id, result


def _record_sending(
    state: FeedState, feed_id: str, kind: str, sequence: int, base: int | None,
    offers: int, withdrawals: int, run_id: str | None,
) -> None:  # fmt: skip
    with state.store.atomic() as tx:
        feeds.record_sending(
            tx, feed_id=feed_id, profile=state.profile, kind=kind, sequence=sequence,
            base_sequence=base, offers=offers, withdrawals=withdrawals, run_id=run_id,
        )  # fmt: skip


def _settle(state: FeedState, feed_id: str, status: str, reason: str) -> None:
    with state.store.atomic() as tx:
        feeds.set_status(tx, feed_id, status, reason)


def _accept(
    state: FeedState, feed_id: str, kind: str, sequence: int, offers: pd.DataFrame,
    upserts: pd.DataFrame, withdrawals: list[str], bytes_sent: int, now: datetime,
) -> None:  # fmt: skip
    """FTD accepted the feed: move the snapshot and the sequence in one transaction.

    The rows are built column-wise (`tolist()`: plain Python values, the column types of the
    schema) and written with one bulk statement per table."""
    profile = state.profile
    offer_ids = upserts["offer_id"].astype(str).tolist()
    prices = upserts["price_per_unit"].tolist()
    published = [
        {"profile": profile, "offer_id": o, "fingerprint": f, "quantity": q, "price": p}
        for o, f, q, p in zip(
            offer_ids, fingerprints(upserts).tolist(),
            upserts["quantity_available"].astype(int).tolist(), prices, strict=True,
        )
    ]  # fmt: skip
    at = iso(now)
    history = [
        {"profile": profile, "offer_id": o, "price": p, "last_published_at": at,
         "available_from": start, "available_to": end}
        for o, p, start, end in zip(
            offer_ids, prices, upserts["available_from"].tolist(),
            upserts["available_to"].tolist(), strict=True,
        )
    ]  # fmt: skip
    with state.store.atomic() as tx:
        if kind == "full":
            feeds.clear_published(tx, profile)
            feeds.supersede_sending(tx, profile, except_feed=feed_id)
        feeds.upsert_published(tx, published)
        feeds.upsert_history(tx, history)
        feeds.withdraw_published(tx, profile, withdrawals)
        feeds.mark_accepted(tx, feed_id, bytes_sent)
        state.store.put(profile, "feed.last_sequence", sequence)
        state.store.put(profile, "feed.last_success_at", iso(now))
        if kind == "full":
            state.store.put(profile, "feed.last_full_at", iso(now))
