"""What the hold-back remembers of each offer between reads: the one owner of `holdback.seen`.

Per offer: the boxes Komet showed at the last read, when that read was (epoch seconds), the
gap before it (seconds between the two reads before), the other channels' sales rate
(boxes an hour; NaN until a second read), and the line's longer record: the boxes other
channels took and the hours it was watched with stock, both decayed (`sold`, `watched`; 0 and
0 until a second read). Per profile, two decayed sums that measure how lumpy
other channels' sales are (`lots`: squared surprises and boxes). `offers/holdback.py` decides
what these mean.

Stored as one key-value row per profile (no table of its own): a cycle rewrites it whole, once,
as the JSON document itself (`Store.put_text`; before, one JSON string holding the document,
which is still read: escaping and unescaping 6 MB of text cost about 20 ms a cycle).
At 100,000 offers JSON lists of numbers cost 40-50 ms a cycle to read back (half a million
Python floats built, then copied into arrays), so each column is kept as its bytes in base64
(`COLUMNS` gives the types: the record's sums as float32, a thousandth of a box or an hour
being plenty), read back with `np.frombuffer` in a few milliseconds. A memory written as JSON
lists (before this format) is still read. The offer ids are one space-separated string,
split and joined by Arrow (a Python list of 100,000 strings costs more than all the columns).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from .store import Store

KEY = "holdback.seen"
# Each column's type on disk (little-endian); in memory quantity is int64, the others float64.
COLUMNS = {
    "quantity": "<i4", "at": "<f8", "gap": "<f8", "rate": "<f8", "sold": "<f4", "watched": "<f4",
}  # fmt: skip


@dataclass(frozen=True)
class Seen:
    """Parallel columns, one entry per offer."""

    offer_ids: pa.StringArray  # each offer's id (offer ids never hold spaces)
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
    raw = store.get_text(profile, KEY)
    if raw is None:
        return None
    try:
        data = orjson.loads(raw)
        if isinstance(data, str):  # written before as one JSON string holding the document
            data = orjson.loads(data)
        ids = _split(data["ids"])
        # a memory written before the longer record was kept: none yet, learnt from now on
        record = {k: np.zeros(len(ids)) for k in ("sold", "watched") if k not in data}
        columns = {k: _column(data[k], k) for k in COLUMNS if k not in record} | record
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return None  # advisory memory: a damaged value is relearnt, never a failed cycle
    if any(len(c) != len(ids) for c in columns.values()):
        return None
    if not all(
        bool(np.all((columns[k] >= 0) & (columns[k] < np.inf))) for k in ("sold", "watched")
    ):
        return None
    lots = data.get("lots", [0.0, 0.0])  # a memory written before lots were learnt: none yet
    if not (isinstance(lots, list) and len(lots) == 2 and all(_finite(x) for x in lots)):
        return None
    unknown = np.nan  # -1 on disk (see `save`)
    return Seen(
        ids,
        columns["quantity"].astype("int64"),
        columns["at"],
        np.where(columns["gap"] < 0, unknown, columns["gap"]),
        np.where(columns["rate"] < 0, unknown, columns["rate"]),
        columns["sold"],
        columns["watched"],
        (float(lots[0]), float(lots[1])),
    )


def _split(joined: object) -> pa.StringArray:
    if not isinstance(joined, str):
        raise TypeError(f"ids: {type(joined).__name__}")
    if not joined:
        return pa.array([], pa.string())
    return pc.split_pattern(pa.array([joined], pa.string()), " ").flatten()


def _joined(ids: pa.StringArray) -> str:
    if not len(ids):
        return ""
    ids = pc.fill_null(ids, "")  # (none expected) its place kept, as the columns' are
    whole = pa.ListArray.from_arrays(pa.array([0, len(ids)], pa.int32()), ids)
    return str(pc.binary_join(whole, " ")[0].as_py())


def _column(value: object, key: str) -> np.ndarray:
    """One column as float64, from its base64 bytes (`COLUMNS[key]`) or a JSON list of numbers
    (the format before); ValueError or TypeError when it is neither."""
    if isinstance(value, str):
        try:
            raw = base64.b64decode(value, validate=True)
        except binascii.Error as exc:
            raise ValueError(str(exc)) from None
        return np.frombuffer(raw, dtype=COLUMNS[key]).astype("float64")  # ValueError: length
    if not isinstance(value, list):
        raise TypeError(f"{key}: {type(value).__name__}")
    return np.asarray(value, dtype="float64")


def _finite(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and 0 <= x < float("inf")


def save(store: Store, profile: str, seen: Seen) -> None:
    """Replace the memory (one row write). Offer ids never hold spaces (offers/ids.py)."""
    on_disk = {
        "quantity": seen.quantity,
        "at": seen.at,
        # -1 stands for "unknown" on disk, as in the JSON lists before
        "gap": np.nan_to_num(np.asarray(seen.gap, dtype="float64"), nan=-1.0),
        "rate": np.nan_to_num(np.asarray(seen.rate, dtype="float64"), nan=-1.0),
        "sold": seen.sold,
        "watched": seen.watched,
    }
    payload = {
        "ids": _joined(seen.offer_ids),
        **{
            key: base64.b64encode(np.asarray(on_disk[key]).astype(kind).tobytes()).decode()
            for key, kind in COLUMNS.items()
        },
        "lots": [float(seen.lots[0]), float(seen.lots[1])],
    }
    store.put_text(profile, KEY, orjson.dumps(payload).decode())
