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

An hour's memory follows a line that sells fast now, and forgets one that sells a few times a
day: a line that sold 2 boxes at 15:00 is "never sells" by 20:00 (its rate halved every hour)
and listed in full when its next buyer takes its last boxes (bench/oversell.py, seed 9: a line
of 4 boxes, 2 sold elsewhere at 15:10, the other 2 at 21:55 as a florist bought one). So each
offer also keeps a record: the boxes other channels took and the hours it was watched with
stock to sell, both decayed with `RECORD_HALF_LIFE_HOURS` (a day's trade, not a week's); their
ratio is the line's pace over the day, and the hold takes the higher of that and the rate. A
line that sells less than about once a day still holds nothing (its chance of a sale before
the next listing stays under `RISK`), nor does one that never sold; a sold-out line's silence
is not counted as slowness (nothing to sell), and a restock counts as no sale.

What no memory of a line can hold back is its first sale. Replaying the bench's days, 5 of the
kit's 7 refusals at RISK 0.4% on five days (seeds 7, 8, 9, 11, 12) were on a line of 1 to 4 boxes whose
first buyer elsewhere that day came in the 5 minutes before a florist bought its last boxes;
the other two had a known pace and met a lot wider than the hold (the case above, 1 box held
where 2 went; a buyer of 3 taking a line's last 3). Measured with the record, paired 24-hour
days: at RISK 0.4%, seeds 7, 8, 9 refused 6 of 2,477 lines against the baseline's 11 of 2,476
(4 of 2,471 without the record: the same within the noise of so few), 99.0% of its boxes;
seeds 11, 12: 1 of 1,458 against 6 of 1,464. The lines with a known pace that still met a
wider lot are what `RISK` decides, and with the record a stricter one costs little: at 0.2%,
paired with the baseline, 3 of 2,476 (0.27 of the baseline) for 99.2% of its boxes (kit-only
runs gave 2 of 2,476), and 0 of 1,463 on seeds 11, 12 for 100.2%.

What other channels take of the offer before FTD's listing is corrected has mean

    expected = pace x (age + every_minutes) x holdback_pct / 100

`age` being how old the offer's read is now (0 when it was read this cycle; older in a merged
view of slices) and `every_minutes` the time until the next cycle publishes again. A florist
is refused when they buy boxes other channels took meanwhile, so the kit holds back the fewest
boxes k with P(other sales > k) <= `RISK`, at least the expected sales rounded, at most the
stock: a line whose last boxes are likely gone by the next listing is hidden. Holding 1 or 2
boxes of a line with 20 costs FTD no sale; the boxes lost are those of nearly empty lines that
other channels would have emptied anyway. Averages alone held nothing back of a line selling
3 boxes an hour (0.25 in 5 minutes, rounded to 0) though its buyers come a few boxes at a time.

Buyers take boxes in lots (a shop takes 1 to 3 boxes of a line at once), and a Poisson count
of BOXES then underestimates the tail: with lots the variance of the sales is the mean times
E[lot^2]/E[lot] (2 for lots of 1-3 boxes), and the refusals sit exactly in that tail (a line
with 2 boxes left, a buyer of 3). A read sees a drop, not its buyers, but the drops' spread
tells the lots apart: per profile the kit sums (drop - expected drop)^2 and the drops over the
offers it reads again (a sold-out line or a restock says nothing and is left out), decayed with
`LOT_HALF_LIFE_HOURS` (who buys changes slowly), and their ratio is the variance over the mean.
Per profile rather than per offer, because most offers sell a few times a day and a ratio from
a handful of drops would be noise; `LOT_PRIOR_BOXES` keeps it near 1 (Poisson, the old hold)
until enough boxes were seen, `LOT_MAX` bounds it. The sales are then negative binomial with
that mean and variance (Poisson at 1) and the hold is its quantile at `RISK`. A profile whose
other channels sell single boxes steadily keeps the Poisson hold and loses no boxes.

`RISK` is per listing, and the bar it must clear is the baseline's: a plain 5-minute refresh
(Komet's own integration) sees under 1% of FTD lines refused, most of them on slow lines with
a few boxes that one buyer's lot empties. A hold at 1% per listing is no better than that
there (bench/oversell.py: the kit refused as often as the baseline); at 0.2% the lines that
are likely to meet a lot lose one or two boxes more (figures above).

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
import pyarrow as pa
import pyarrow.compute as pc

from ..settings.profiles import Profile
from ..state import holdback as memory
from ..state import orders as ledger_rows
from ..state.store import Store, iso
from . import columns
from .ids import offer_id_for

HALF_LIFE_HOURS = 1.0  # a line's speed today, not last week's: an hour-old reading weighs half
RECORD_HALF_LIFE_HOURS = 12.0  # a slow line's pace: the day's sales, not the last hour's
NORMAL_FROM = 30.0  # boxes per listing above which the normal approximation is used
RISK = 0.002  # the chance, per listing, that other channels take more than is held back
LOT_HALF_LIFE_HOURS = 6.0  # lumpiness changes slowly (who buys, not how fast): a longer memory
LOT_PRIOR_BOXES = 20.0  # boxes' worth of belief in one-box sales before lots are measured
LOT_MAX = 10.0  # variance over mean at most this (one wild reading cannot hide everything)


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
    frame = frame[frame["quantity"].notna().to_numpy()].drop_duplicates("offer_id")
    frame["quantity"] = frame["quantity"].clip(lower=0).astype("int64")
    return frame.set_index("offer_id")


def _epoch_seconds(stamps: pd.Series) -> pd.Series:
    """ISO stamps -> epoch seconds (float; NaN when unreadable), whatever pandas' time unit.

    Each distinct stamp is parsed once (the format pandas infers from the first stamp is the
    same either way)."""

    def parse(distinct: pd.Series) -> np.ndarray:
        when = pd.to_datetime(distinct, utc=True, errors="coerce")
        return ((when - pd.Timestamp(0, tz=UTC)) / pd.Timedelta(seconds=1)).to_numpy("float64")

    seconds = columns.each_distinct(stamps, parse, np.nan, "float64")
    return pd.Series(seconds, index=stamps.index, name=stamps.name)


def _own_sales(store: Store, profile: str, prev: pd.DataFrame, now: pd.DataFrame) -> pd.Series:
    """Boxes the kit's own orders took from each offer between its previous read and this one."""
    if prev.index.equals(now.index):  # as `learn` calls it: no hash of 100,000 ids twice
        changed, earliest = prev.index, prev["at"].min()
    else:
        changed = prev.index.intersection(now.index)
        earliest = prev.loc[changed, "at"].min()
    if changed.empty:
        return pd.Series(dtype="int64")
    since = datetime.fromtimestamp(float(earliest), tz=UTC)
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
    new = current.assign(gap=np.nan, rate=np.nan, sold=0.0, watched=0.0)
    ids = pa.array(new.index.array, pa.string())  # this read's offer ids, as the memory keeps them
    lots = seen.lots if seen is not None else (0.0, 0.0)
    if seen is not None and len(seen):
        # Each current offer's row in the memory (-1: first read; an id written twice: its
        # first row), looked up once with one Arrow hash lookup on the ids as stored; positions
        # from there on, where each label lookup hashed 100,000 ids again.
        found = pc.index_in(ids, value_set=seen.offer_ids)
        row = np.asarray(pc.fill_null(found, -1).to_numpy(zero_copy_only=False), dtype="int64")
        mine = np.flatnonzero(row >= 0)
        both = new.index[mine]
        at = row[mine]
        old = pd.DataFrame(
            {
                "quantity": seen.quantity[at], "at": seen.at[at], "gap": seen.gap[at],
                "rate": seen.rate[at], "sold": seen.sold[at], "watched": seen.watched[at],
            },
            index=both,
        )  # fmt: skip
        cur = new.iloc[mine]
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
        lots = _lot_sums(lots, old["quantity"].to_numpy(), drop, before * hours, fresh, hours)
        # the longer record counts only hours with boxes to sell (a sold-out line's silence
        # says nothing of its pace); decaying both sums alike keeps their ratio, the pace
        stocked = fresh & (old["quantity"].to_numpy() > 0)
        stocked_hours = np.where(stocked, hours, 0.0)
        keep = 0.5 ** (stocked_hours / RECORD_HALF_LIFE_HOURS)
        learnt = {
            "rate": np.where(fresh, rate, before),
            "sold": old["sold"].to_numpy() * keep + np.where(stocked, np.clip(drop, 0, None), 0.0),
            "watched": old["watched"].to_numpy() * keep + stocked_hours,
            "gap": np.where(fresh, dt, old["gap"].to_numpy()),
            # an offer not read again keeps its last read (a merged view may carry it unchanged)
            # (numpy arrays: numpy probing a Series for its protocols hashes the Series' index)
            "quantity": np.where(fresh, cur["quantity"].to_numpy(), old["quantity"].to_numpy()),
            "at": np.where(fresh, cur["at"].to_numpy(), old["at"].to_numpy()),
        }
        for name, values in learnt.items():
            column = new[name].to_numpy(copy=True)
            column[mine] = values
            new[name] = column
    memory.save(
        store,
        profile.name,
        memory.Seen(
            ids,
            new["quantity"].to_numpy(),
            new["at"].to_numpy(dtype="float64"),
            new["gap"].to_numpy(dtype="float64"),
            new["rate"].to_numpy(dtype="float64"),
            new["sold"].to_numpy(dtype="float64"),
            new["watched"].to_numpy(dtype="float64"),
            lots,
        ),
    )
    new.attrs["lots"] = lots  # the profile's lumpiness, for `hold_back`
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
    expected = pace(learnt) * horizon_h * pct / 100
    quantity = learnt["quantity"].to_numpy()
    lumpy = dispersion(learnt.attrs.get("lots", (0.0, 0.0)))
    boxes = np.minimum(sales_quantile(expected, RISK, lumpy), quantity).astype("int64")
    some = np.flatnonzero(boxes > 0)  # by position: a mask Series would hash the index
    return dict(zip(learnt.index[some].astype(str).tolist(), boxes[some].tolist(), strict=True))


def pace(learnt: pd.DataFrame) -> np.ndarray:
    """Other channels' boxes an hour per offer: the last hours' rate, or the line's longer
    record when that is higher (a slow line quiet since its morning sale); 0 when unknown."""
    watched = learnt["watched"].to_numpy(dtype="float64")
    sold = learnt["sold"].to_numpy(dtype="float64")
    record = np.divide(sold, watched, out=np.zeros_like(sold), where=watched > 0)
    return np.fmax(np.nan_to_num(learnt["rate"].to_numpy(dtype="float64"), nan=0.0), record)


def _lot_sums(
    lots: tuple[float, float],
    before: np.ndarray,
    drop: np.ndarray,
    expected: np.ndarray,
    fresh: np.ndarray,
    hours: np.ndarray,
) -> tuple[float, float]:
    """The profile's decayed sums of squared surprises and of boxes, with this read's offers.

    Counted: offers read again with a known rate (`expected` drop) that had boxes at the
    previous read (a sold-out line selling nothing says nothing of lots) and did not rise (a
    restock hides the sales under it)."""
    ok = fresh & (before > 0) & (drop >= 0) & ~np.isnan(expected)
    if not ok.any():
        return lots
    decay = 0.5 ** (float(np.median(hours[ok])) / LOT_HALF_LIFE_HOURS)
    surprise = float(np.sum((drop[ok] - expected[ok]) ** 2))
    return lots[0] * decay + surprise, lots[1] * decay + float(np.sum(drop[ok]))


def dispersion(lots: tuple[float, float]) -> float:
    """Variance over mean of other channels' sales (1: one box at a time, Poisson), from the
    profile's sums, pulled towards 1 by `LOT_PRIOR_BOXES` while few boxes were seen."""
    surprise, boxes = lots
    return float(np.clip((surprise + LOT_PRIOR_BOXES) / (boxes + LOT_PRIOR_BOXES), 1, LOT_MAX))


def sales_quantile(mean: np.ndarray, risk: float, lumpy: float = 1.0) -> np.ndarray:
    """Per entry, the fewest k >= round(mean) with P(sales > k) <= risk (0 for mean 0).

    Sales are Poisson when `lumpy` (variance over mean) is 1, else negative binomial with that
    variance: r = mean / (lumpy - 1) sale events' worth, p = 1 / lumpy. Means are mostly small
    (a few boxes per listing), so a walk up the distribution, all entries at once, ends after
    a handful of steps; above `NORMAL_FROM` the normal approximation answers (and the first
    term would underflow)."""
    mean = np.clip(np.nan_to_num(np.asarray(mean, dtype="float64"), nan=0.0), 0, None)
    lumpy = max(1.0, float(lumpy))
    big = mean > NORMAL_FROM
    z = NormalDist().inv_cdf(1 - risk)
    k = np.where(big, np.ceil(mean + z * np.sqrt(lumpy * mean)), 0).astype("int64")
    small = np.where(big, 0.0, mean)
    nb = lumpy > 1 + 1e-9  # else Poisson, the limit as lumpy -> 1
    r, q = small / max(lumpy - 1, 1e-9), 1 - 1 / lumpy
    pmf = lumpy**-r if nb else np.exp(-small)  # P(N = 0)
    # Only the entries still open take the next step: most close after a step or two, and
    # the walk of a mean near NORMAL_FROM takes some 60 steps.
    open_ = np.flatnonzero((1 - pmf > risk) & (small > 0))
    pmf, cdf = pmf[open_], pmf[open_]
    grow = ((r * q) if nb else small)[open_]  # P(N = n + 1) = P(N = n) * (grow + n q) / (n + 1)
    step = 0
    while open_.size:
        pmf = pmf * (grow + step * q if nb else grow) / (step + 1)  # P(N = step + 1)
        step += 1
        cdf = cdf + pmf
        k[open_] = step
        still = 1 - cdf > risk
        open_, pmf, cdf, grow = open_[still], pmf[still], cdf[still], grow[still]
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
