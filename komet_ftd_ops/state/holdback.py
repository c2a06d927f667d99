"""What the hold-back remembers of each offer between reads: the one owner of `holdback.seen`.

Per offer: the boxes Komet showed at the last read, when that read was (epoch seconds), the
gap before it (seconds between the two reads before), the other channels' sales rate
(boxes an hour; NaN until a second read), and the line's longer record: the boxes other
channels took and the hours it was watched with stock, both decayed (`sold`, `watched`; 0 and
0 until a second read). Per profile, two decayed sums that measure how lumpy
other channels' sales are (`lots`: squared surprises and boxes). `offers/holdback.py` decides
what these mean.

Stored as one key-value row per profile (no table of its own): a cycle rewrites it whole, once.
At 100,000 offers plain JSON lists cost a quarter of a second each way, so the columns are
encoded by orjson from numpy arrays (about 30 ms) and kept as one JSON string.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import orjson

from .store import Store

KEY = "holdback.seen"


@dataclass(frozen=True)
class Seen:
    """Parallel columns, one entry per offer."""

    offer_ids: list[str]
    quantity: np.ndarray  # boxes (int64)
    at: np.ndarray  # epoch seconds of the read (float64)
    gap: np.ndarray  # seconds between that read and the one before (float64; NaN: first)
    rate: np.ndarray  # other channels' boxes an hour (float64; NaN: not known yet)
    sold: np.ndarray  # boxes other channels took, decayed (float64; 0: none seen)
    watched: np.ndarray  # hours the line was watched with stock, decayed alike (float64)
    # per profile: decayed sums of (drop - expected drop)^2 and of drops, in boxes (0, 0: none)
    lots: tuple[float, float] = (0.0, 0.0)

    def __len__(self) -> int:
        return len(self.offer_ids)


def load(store: Store, profile: str) -> Seen | None:
    """The last cycle's memory, or None (first cycle, or a value this version cannot read)."""
    raw = store.get(profile, KEY)
    if not isinstance(raw, str):
        return None
    try:
        data = orjson.loads(raw)
        ids = data["ids"].split(" ") if data["ids"] else []
        columns = [np.asarray(data[k], dtype="float64") for k in ("quantity", "at", "gap", "rate")]
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return None  # advisory memory: a damaged value is relearnt, never a failed cycle
    if any(len(c) != len(ids) for c in columns):
        return None
    quantity, at, gap, rate = columns
    lots = data.get("lots", [0.0, 0.0])  # a memory written before lots were learnt: none yet
    if not (isinstance(lots, list) and len(lots) == 2 and all(_finite(x) for x in lots)):
        return None
    # a memory written before the longer record was kept: none yet, learnt from this read on
    try:
        record = [
            np.asarray(data[k], dtype="float64") if k in data else np.zeros(len(ids))
            for k in ("sold", "watched")
        ]
    except (TypeError, ValueError):
        return None
    if any(len(c) != len(ids) or not bool(np.all((c >= 0) & (c < np.inf))) for c in record):
        return None
    unknown = np.nan  # -1 on disk (see `save`)
    return Seen(
        ids, quantity.astype("int64"), at, np.where(gap < 0, unknown, gap),
        np.where(rate < 0, unknown, rate), record[0], record[1], (float(lots[0]), float(lots[1])),
    )  # fmt: skip


def _finite(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and 0 <= x < float("inf")


def save(store: Store, profile: str, seen: Seen) -> None:
    """Replace the memory (one row write). Offer ids never hold spaces (offers/ids.py)."""
    payload = {
        "ids": " ".join(seen.offer_ids),
        "quantity": np.asarray(seen.quantity, dtype="int64"),
        "at": np.asarray(seen.at, dtype="float64"),
        # JSON has no NaN: -1 stands for "unknown" on disk
        "gap": np.nan_to_num(np.asarray(seen.gap, dtype="float64"), nan=-1.0),
        "rate": np.nan_to_num(np.asarray(seen.rate, dtype="float64"), nan=-1.0),
        # a thousandth of a box or an hour is plenty: 3 decimals write a third of the text
        "sold": np.round(np.asarray(seen.sold, dtype="float64"), 3),
        "watched": np.round(np.asarray(seen.watched, dtype="float64"), 3),
        "lots": [float(seen.lots[0]), float(seen.lots[1])],
    }
    text = orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY).decode()
    store.put(profile, KEY, text)
