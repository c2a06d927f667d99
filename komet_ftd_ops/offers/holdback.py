"""Boxes held back from FTD per offer, for what other channels sell before the next read.

What FTD lists is only as fresh as the kit's last read of Komet. Between two reads a line's
stock falls for two reasons: the FTD orders the kit itself added to Komet web orders, and
everything else (the wholesaler's phone and counter sales, its web shop, other marketplaces).
A line other channels are emptying stays listed on FTD at its old count until the next read,
and the florists who buy its last boxes get a line Komet refuses ("Item is not available").

So at each read the kit compares every offer with its previous read, takes out the boxes its
own orders added since (the order ledger knows them), and keeps the rest as that offer's
other-channel rate: boxes an hour, an exponentially weighted average with a half-life of
`HALF_LIFE_HOURS` (a new reading weighs more the longer the gap it spans).

What other channels take of the offer before FTD's listing is corrected is then about Poisson
with mean

    expected = rate x (age + every_minutes) x holdback_pct / 100

`age` being how old the offer's read is now (0 when it was read this cycle; older in a merged
view of slices) and `every_minutes` the time until the next cycle publishes again. A florist
is refused when they buy boxes other channels took meanwhile, so the kit holds back the fewest
boxes k with P(other sales > k) <= `RISK`, at least the expected sales rounded, at most the
stock: a line whose last boxes are likely gone by the next listing is hidden. Holding 1 or 2
boxes of a line with 20 costs FTD no sale; the boxes lost are those of nearly empty lines that
other channels would have emptied anyway. Averages alone held nothing back of a line selling
3 boxes an hour (0.25 in 5 minutes, rounded to 0) though its buyers come a few boxes at a time.

A restock (stock rising) counts as no sale. Lines nobody else buys hold nothing back, and a
line's first read holds nothing back (nothing is known yet). `[sync] holdback_pct = 0` turns it
off. The result is merged into the shadow stock `build_offers` subtracts (sync.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from ..settings.profiles import Profile
from ..state import holdback as memory
from ..state import orders as ledger_rows
from ..state.store import Store, iso
from .ids import offer_id_for

HALF_LIFE_HOURS = 1.0  # a line's speed today, not last week's: an hour-old reading weighs half
NORMAL_FROM = 30.0  # boxes per listing above which the normal approximation is used
RISK = 0.01  # the chance, per listing, that other channels take more than is held back


def merge(*holds: Mapping[str, int]) -> dict[str, int]:
    """Boxes per offer summed over several sources (shadow stock, hold-back)."""
    out: dict[str, int] = {}
    for hold in holds:
        for offer_id, boxes in hold.items():
            if boxes:
                out[offer_id] = out.get(offer_id, 0) + int(boxes)
    return out


def current_stock(items: Sequence[Mapping[str, Any]] | pd.DataFrame, now: datetime) -> pd.DataFrame:
    """offer_id -> quantity (boxes, >= 0) and `at` (epoch seconds of the read) of this read.

    Takes what `build_offers` takes: Komet items, or the kit's frame (`offer_id`, `quantity`
    and, for a merged view of reads of different ages, `refreshed_at`). Rows without a usable
    quantity are left out; a duplicated offer keeps its first row, as nothing is learnt from
    lines the transform rejects."""
    stamp = now.timestamp()
    if isinstance(items, pd.DataFrame):
        ids = items["offer_id"].astype(str)
        quantity = pd.to_numeric(items["quantity"], errors="coerce")
        if "refreshed_at" in items.columns:
            at_s = _epoch_seconds(items["refreshed_at"]).fillna(stamp)
        else:
            at_s = pd.Series(stamp, index=items.index, dtype="float64")
        frame = pd.DataFrame({"offer_id": ids, "quantity": quantity, "at": at_s})
    else:
        frame = pd.DataFrame(
            {
                "offer_id": offer_id_for(pd.Series([i.get("inventoryLineIds") for i in items])),
                "quantity": pd.to_numeric(
                    pd.Series([i.get("quantity") for i in items], dtype=object), errors="coerce"
                ),
            }
        )
        frame["at"] = stamp
    frame = frame[frame["quantity"].notna()].drop_duplicates("offer_id")
    frame["quantity"] = frame["quantity"].clip(lower=0).astype("int64")
    return frame.set_index("offer_id")


def _epoch_seconds(stamps: pd.Series) -> pd.Series:
    """ISO stamps -> epoch seconds (float; NaN when unreadable), whatever pandas' time unit."""
    when = pd.to_datetime(stamps, utc=True, errors="coerce")
    return (when - pd.Timestamp(0, tz=UTC)) / pd.Timedelta(seconds=1)


def _own_sales(store: Store, profile: str, prev: pd.DataFrame, now: pd.DataFrame) -> pd.Series:
    """Boxes the kit's own orders took from each offer between its previous read and this one."""
    changed = prev.index.intersection(now.index)
    if changed.empty:
        return pd.Series(dtype="int64")
    since = datetime.fromtimestamp(float(prev.loc[changed, "at"].min()), tz=UTC)
    rows = ledger_rows.boxes_sent_since(store, profile, iso(since))
    if not rows:
        return pd.Series(dtype="int64")
    sent = pd.DataFrame(rows, columns=["offer_id", "sent_at", "boxes"])
    sent = sent[sent["offer_id"].isin(changed)]
    when = _epoch_seconds(sent["sent_at"])
    start = prev["at"].reindex(sent["offer_id"]).to_numpy()
    end = now["at"].reindex(sent["offer_id"]).to_numpy()
    inside = (when.to_numpy() > start) & (when.to_numpy() <= end)
    return sent[inside].groupby("offer_id")["boxes"].sum()


def learn(store: Store, profile: Profile, current: pd.DataFrame) -> pd.DataFrame:
    """Update each offer's rate from this read; store and return the new memory as a frame
    (index offer_id; quantity, at, gap, rate)."""
    seen = memory.load(store, profile.name)
    new = current.assign(gap=np.nan, rate=np.nan)
    if seen is not None and len(seen):
        prev = pd.DataFrame(
            {"quantity": seen.quantity, "at": seen.at, "gap": seen.gap, "rate": seen.rate},
            index=pd.Index(seen.offer_ids, name="offer_id"),
        )
        prev = prev[~prev.index.duplicated()]
        both = new.index.intersection(prev.index)
        old = prev.loc[both]
        cur = new.loc[both]
        dt = (cur["at"] - old["at"]).to_numpy()
        fresh = dt > 0  # read again since: something to learn; else the old memory stands
        own = _own_sales(store, profile.name, old[fresh], cur[fresh])
        hours = dt / 3600
        drop = (old["quantity"] - cur["quantity"]).to_numpy() - own.reindex(both).fillna(
            0
        ).to_numpy()
        observed = np.where(fresh, np.clip(drop, 0, None) / np.where(fresh, hours, 1), np.nan)
        weight = 1 - 0.5 ** (np.where(fresh, hours, 0) / HALF_LIFE_HOURS)
        before = old["rate"].to_numpy()
        rate = np.where(np.isnan(before), observed, before + weight * (observed - before))
        new.loc[both, "rate"] = np.where(fresh, rate, before)
        new.loc[both, "gap"] = np.where(fresh, dt, old["gap"].to_numpy())
        # an offer not read again keeps its last read (a merged view may carry it unchanged)
        new.loc[both, "quantity"] = np.where(fresh, cur["quantity"], old["quantity"])
        new.loc[both, "at"] = np.where(fresh, cur["at"], old["at"])
    memory.save(
        store,
        profile.name,
        memory.Seen(
            new.index.tolist(),
            new["quantity"].to_numpy(),
            new["at"].to_numpy(dtype="float64"),
            new["gap"].to_numpy(dtype="float64"),
            new["rate"].to_numpy(dtype="float64"),
        ),
    )
    return new


def hold_back(
    store: Store,
    profile: Profile,
    items: Sequence[Mapping[str, Any]] | pd.DataFrame,
    now: datetime,
) -> dict[str, int]:
    """Learn from this read, then the boxes to hold back per offer_id (only offers with some)."""
    pct = profile.sync.holdback_pct
    current = current_stock(items, now)
    learnt = learn(store, profile, current)
    if not pct:
        return {}
    age = np.clip(now.timestamp() - learnt["at"].to_numpy(dtype="float64"), 0, None)
    horizon_h = (age + 60 * max(1, profile.sync.every_minutes)) / 3600
    expected = learnt["rate"].fillna(0).to_numpy() * horizon_h * pct / 100
    quantity = learnt["quantity"].to_numpy()
    boxes = np.minimum(poisson_quantile(expected, RISK), quantity)
    held = pd.Series(boxes, index=learnt.index)
    held = held[held > 0].astype("int64")
    return {str(k): int(v) for k, v in held.items()}


def poisson_quantile(mean: np.ndarray, risk: float) -> np.ndarray:
    """Per entry, the fewest k >= round(mean) with P(Poisson(mean) > k) <= risk (0 for mean 0).

    Means are mostly small (a few boxes per listing), so a walk up the distribution, all
    entries at once, ends after a handful of steps; above `NORMAL_FROM` the normal
    approximation answers (and e^-mean would underflow)."""
    mean = np.clip(np.nan_to_num(np.asarray(mean, dtype="float64"), nan=0.0), 0, None)
    big = mean > NORMAL_FROM
    z = NormalDist().inv_cdf(1 - risk)
    k = np.where(big, np.ceil(mean + z * np.sqrt(mean)), 0).astype("int64")
    small = np.where(big, 0.0, mean)
    pmf = np.exp(-small)  # P(N = k)
    cdf = pmf.copy()
    open_ = (1 - cdf > risk) & (small > 0)
    step = 0
    while open_.any():
        step += 1
        pmf = pmf * small / step
        cdf = cdf + pmf
        k = np.where(open_, step, k)
        open_ &= 1 - cdf > risk
    return np.maximum(k, np.floor(mean + 0.5).astype("int64"))


def with_holdback(
    shadow: Mapping[str, int],
    store: Store,
    profile: Profile,
    items: Sequence[Mapping[str, Any]] | pd.DataFrame,
    now: datetime,
) -> dict[str, int]:
    """The shadow stock plus this read's hold-back: what sync.py hands `build_offers`."""
    return merge(shadow, hold_back(store, profile, items, now))
