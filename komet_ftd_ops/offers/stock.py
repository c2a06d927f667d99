"""The merged stock view: what the kit knows of every inventory line, and how old it is.

When the quota reads every line every cycle (the common case), a cycle reads everything, as it
always did, and the view is that read. When it cannot, a cycle reads a SLICE of the stock (one
colour: `inventory.list`'s documented `color` filter, never page offsets, which shift as lines
come and go) in rotation, oldest slice first, into the view:

- a slice's read replaces the lines of that slice only: a line its read no longer lists is gone,
  the other slices' lines are kept with their older age; a line that changed colour is found by
  its new slice's read (the fresher copy wins) and dropped from the old one's at its next read;
- the lines FTD just sold are read again at once with `inventory.get` (the offers this cycle's
  orders took, and those sold within `[sync] sold_refresh_minutes`), and Komet's
  `availableBoxes` from "Item is not available" answers are applied without a call;
- a full read at least every `[sync] full_read_every_minutes` finds what no slice asks for
  (a colour first seen, lines with no colour).

Offers are built from the view, so every feed, delta or full, publishes all of it, and each
line carries `refreshed_at`. The view lives in `state.stock`: one row per slice holding that
read's typed frame as an Arrow IPC blob, plus a small table of per-line refreshes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from ..komet.client import KometClient
from ..settings.profiles import Profile
from ..state import stock as rows
from ..state.store import Store, iso
from . import columns
from .ids import OFFER_PREFIX, OfferId
from .inventory import BOTH, read_inventory
from .quota import CycleBudget
from .transform import to_frame

FULL = rows.FULL
GET_IDS_PER_CALL = 100  # line ids in one inventory.get (a GET: the URL stays short)
SLICE_FILTER = "color"  # the documented inventory.list filter a slice is cut by
FRAME_COLUMN = "color"  # ... and the frame column it matches


@dataclass(frozen=True)
class Slice:
    """One slice of the stock as planned: its filter, its lines when last read, its age."""

    key: str
    filters: dict[str, str]
    lines: int
    pages: int
    refreshed_at: str  # the newest read that covered it (UTC ISO)


@dataclass
class StockRefresh:
    """What one cycle read, and the view it left."""

    view: pd.DataFrame | None = None  # the typed frame of every line, with `refreshed_at`
    mode: str = "none"  # full | slices | lines | none
    slices_read: list[str] = field(default_factory=list)
    slice_calls: int = 0
    lines_refreshed: int = 0  # offers read again with inventory.get
    get_calls: int = 0
    komet_answers: int = 0  # offers whose availableBoxes was applied without a call
    notes: list[str] = field(default_factory=list)

    @property
    def read(self) -> bool:
        return self.mode != "none"

    def counters(self) -> dict[str, Any]:
        return {
            "stock_mode": self.mode,
            "stock_slices_read": len(self.slices_read),
            "stock_slice_calls": self.slice_calls,
            "stock_lines_refreshed": self.lines_refreshed,
            "stock_get_calls": self.get_calls,
            "stock_komet_answers": self.komet_answers,
        }


# --- frames <-> blobs -------------------------------------------------------------------------


def to_blob(frame: pd.DataFrame) -> bytes:
    """A frame as an Arrow IPC stream (lz4): a fraction of the rows' size, decoded in ms."""
    import pyarrow as pa

    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression="lz4")
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def from_blob(blob: bytes) -> pd.DataFrame:
    import pyarrow as pa

    return pa.ipc.open_stream(blob).read_all().to_pandas()


def as_frame(items: Sequence[Mapping[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    return items if isinstance(items, pd.DataFrame) else to_frame(items)


# --- planning ---------------------------------------------------------------------------------


def slice_key(filters: Mapping[str, str]) -> str:
    if not filters:
        return FULL
    return "&".join(f"{k}={v}" for k, v in sorted(filters.items()))


def colour_counts(frame: pd.DataFrame) -> dict[str, int]:
    """Lines per colour as spelled in the read ('' for lines with none)."""
    counts = frame[FRAME_COLUMN].fillna("").astype(str).value_counts()
    return {str(k): int(v) for k, v in counts.items()}


def plan_slices(stored: Sequence[rows.SliceRow], page_rows: int, reads: int) -> list[Slice]:
    """The slices the kit knows, oldest first: each colour seen, with its line count in the
    newest read that covered it (the full read or its own). A colour whose last read found no
    line is not planned; a full read would bring it back."""
    newest: dict[str, tuple[int, str, str, int]] = {}  # colour.lower() -> seq, spelling, at, n
    for row in stored:  # oldest first: later reads overwrite
        for colour, n in row.counts.items():
            if colour and (row.key == FULL or row.filters.get(SLICE_FILTER) == colour):
                newest[colour.lower()] = (row.seq, colour, row.refreshed_at, n)
        if row.key != FULL and not row.counts and SLICE_FILTER in row.filters:
            colour = row.filters[SLICE_FILTER]
            newest[colour.lower()] = (row.seq, colour, row.refreshed_at, 0)
    planned = [
        Slice(
            key=slice_key({SLICE_FILTER: spelling}),
            filters={SLICE_FILTER: spelling},
            lines=n,
            pages=reads * max(1, math.ceil(n / page_rows)),
            refreshed_at=at,
        )
        for _, spelling, at, n in newest.values()
        if n > 0
    ]
    return sorted(planned, key=lambda s: (s.refreshed_at, s.key))


def full_pages(stored: Sequence[rows.SliceRow], page_rows: int, reads: int) -> int:
    planned = plan_slices(stored, page_rows, reads)
    blank = next((r.counts.get("", 0) for r in reversed(stored) if r.key == FULL), 0)
    lines = sum(s.lines for s in planned) + blank
    return reads * max(1, math.ceil(lines / page_rows))


def last_full_at(stored: Sequence[rows.SliceRow]) -> str | None:
    return max((r.refreshed_at for r in stored if r.key == FULL), default=None)


# --- merging ----------------------------------------------------------------------------------


def merge(
    stored: Sequence[tuple[rows.SliceRow, pd.DataFrame]], lines: Sequence[rows.LineRow]
) -> pd.DataFrame:
    """The view: each line from the newest read that covers it, then per-line quantities newer
    than that read. A read covers the lines of its filter (all lines for the full read) and
    every line it listed, so a slice withdraws only lines of its own slice, and a line listed
    by two reads (it changed colour) is taken from the newer one."""
    if not stored:
        return pd.DataFrame()
    parts = [frame.assign(_seq=row.seq, refreshed_at=row.refreshed_at) for row, frame in stored]
    view = pd.concat(parts, ignore_index=True)
    full = max((row.seq for row, _ in stored if row.key == FULL), default=0)
    by_colour = {
        row.filters[SLICE_FILTER].lower(): row.seq
        for row, _ in stored
        if row.key != FULL and SLICE_FILTER in row.filters
    }
    colour = view[FRAME_COLUMN].fillna("").astype(str).str.lower()
    cover = colour.map(by_colour).fillna(0).astype("int64").clip(lower=full)
    listed = view.groupby("offer_id", sort=False)["_seq"].transform("max")
    keep = (view["_seq"] >= cover) & (view["_seq"] >= listed)
    view = view[keep.to_numpy()].drop(columns="_seq").reset_index(drop=True)
    fresher = {
        r.offer_id: (r.quantity, r.refreshed_at)
        for r in lines
        if r.quantity is not None and r.refreshed_at is not None
    }
    if fresher:
        quantity = view["offer_id"].map({k: v[0] for k, v in fresher.items()})
        at = view["offer_id"].map({k: v[1] for k, v in fresher.items()})
        newer = (at.fillna("").astype(str) > view["refreshed_at"].astype(str)).to_numpy()
        if newer.any():
            view.loc[newer, "quantity"] = quantity[newer].astype("int64").to_numpy()
            view.loc[newer, "refreshed_at"] = at[newer].to_numpy()
    return view


def staleness_minutes(view: pd.DataFrame, offer_ids: pd.Series, now: datetime) -> pd.Series:
    """Minutes since each offer's line was read (offers not in the view are left out; a line
    the view lists twice has its first row's age).

    Each distinct read time is parsed once (`columns.each_distinct`): 100,000 date parses were
    most of the cost. The offers are found in the view with one Arrow hash lookup (first
    occurrence)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def minutes_since(distinct: pd.Series) -> np.ndarray:
        stamps = pd.to_datetime(distinct, utc=True, format="ISO8601")
        return ((pd.Timestamp(now) - stamps).dt.total_seconds() / 60.0).to_numpy()

    per_row = columns.each_distinct(view["refreshed_at"], minutes_since, np.nan, "float64")
    listed = pa.array(view["offer_id"].array, pa.string())  # .array: see offers/feed.py
    row = pc.index_in(pa.array(offer_ids.array, pa.string()), value_set=listed)
    row = pc.fill_null(row, -1).to_numpy(zero_copy_only=False)  # -1: not in the view
    age = np.append(per_row, np.nan)[row]  # NaN: not in the view, or read at no known time
    found = ~np.isnan(age)
    return pd.Series(age[found], index=offer_ids.index[found], name=offer_ids.name)


# --- inventory.get for the lines that just sold ------------------------------------------------


def _get_dates(windows: Mapping[str, tuple[str, str]], today: date) -> dict[str, list[str]]:
    """Ship dates for inventory.get (one date a call) covering every offer's window: the date
    open for the most offers first (open-market windows overlap, so one or two dates do)."""
    open_on: dict[str, tuple[str, str]] = {}
    for offer, (first, last) in windows.items():
        if last and last < today.isoformat():
            continue  # expired: nothing to refresh
        open_on[offer] = (max(first or today.isoformat(), today.isoformat()), last or "9999")
    groups: dict[str, list[str]] = {}
    left = dict(open_on)
    while left:
        candidates = sorted({first for first, _ in left.values()})
        best = max(
            candidates, key=lambda d: sum(f <= d <= t for f, t in left.values())
        )  # fewest calls: the date open for most of the offers left
        chosen = sorted(o for o, (f, t) in left.items() if f <= best <= t)
        groups[best] = chosen
        for offer in chosen:
            del left[offer]
    return groups


def get_calls_needed(windows: Mapping[str, tuple[str, str]], today: date) -> int:
    return sum(
        math.ceil(len(offers) / GET_IDS_PER_CALL) for offers in _get_dates(windows, today).values()
    )


def read_lines(
    komet: KometClient, profile: Profile, windows: Mapping[str, tuple[str, str]], today: date
) -> tuple[dict[str, int], int]:
    """Current boxes of the given open-market offers (inventory.get); an offer Komet no
    longer lists has 0. Returns the quantities and the calls made."""
    found: dict[str, int] = {}
    calls = 0
    for day, offers in _get_dates(windows, today).items():
        for start in range(0, len(offers), GET_IDS_PER_CALL):
            chunk = offers[start : start + GET_IDS_PER_CALL]
            ids = [line for offer in chunk for line in OfferId.parse(offer).line_ids]
            items = komet.inventory_get(profile.ftd_customer_id, ids, 1, day)
            calls += 1
            frame = as_frame(items)
            listed = dict(zip(frame["offer_id"], frame["quantity"], strict=True))
            for offer in chunk:
                boxes = listed.get(offer)
                found[offer] = 0 if boxes is None or pd.isna(boxes) else max(0, int(boxes))
    return found, calls


# --- one cycle ---------------------------------------------------------------------------------


def refresh_stock(
    komet: KometClient,
    profile: Profile,
    store: Store,
    budget: CycleBudget,
    *,
    now: datetime,
    sold: Mapping[str, int],
    komet_available: Mapping[str, int],
    spent: Any,
) -> StockRefresh:
    """Read what this cycle's budget allows into the view, persist it, return the view.

    `spent()` is the Komet calls counted today (the transport counts each call): the budget is
    charged what the reads really cost, not what was planned."""
    out = StockRefresh()
    at = iso(now)
    reads = 2 if profile.inventory.source == BOTH else 1
    page_rows = profile.komet_page_rows
    stored = rows.slices(store, profile.name)
    with store.atomic() as tx:  # no call: what FTD sold and what Komet said about it
        rows.mark_sold(tx, profile.name, [o for o in sold if o.startswith(OFFER_PREFIX)], at=at)
        if komet_available:
            rows.put_quantities(tx, profile.name, komet_available, at=at, source="available_boxes")
    out.komet_answers = len(komet_available)

    pages = full_pages(stored, page_rows, reads) if stored else reads
    full_due = (last := last_full_at(stored)) is None or (
        now - datetime.fromisoformat(last.replace("Z", "+00:00"))
        >= timedelta(minutes=profile.sync.full_read_every_minutes)
    )
    # A full read every cycle fits the day (the common case): read everything, as always.
    every_cycle = pages * budget.cycles_per_day <= budget.share - budget.reserve
    wanted = not stored or every_cycle or full_due
    if budget.affords(pages) or (wanted and budget.affords(pages, from_credit=False)):
        _read_full(komet, profile, store, budget, out, at=at, spent=spent)
        return _finish(profile, store, out, now)
    if not stored:
        out.notes.append(_short_note(budget, pages))
        return out

    loaded = {row.key: (row, from_blob(blob)) for row, blob in rows.frames(store, profile.name)}
    view = merge(_by_seq(loaded), rows.lines(store, profile.name))
    planned = plan_slices(stored, page_rows, reads)
    chosen: list[Slice] = []
    room = budget.credit
    for candidate in planned:  # oldest first; a slice too big now waits, the younger ones too
        if candidate.pages > room or not budget.affords(
            sum(s.pages for s in chosen) + candidate.pages, from_credit=False
        ):
            break
        chosen.append(candidate)
        room -= candidate.pages
    _refresh_sold(
        komet, profile, store, budget, out, view, chosen, set(komet_available), now=now,
        spent=spent,
    )  # fmt: skip
    for piece in chosen:
        if not budget.affords(piece.pages, from_credit=False):
            break  # the sold lines' reads took what this slice needed
        before = spent()
        frame = as_frame(read_inventory(komet, profile, **piece.filters))
        calls = spent() - before
        budget.charge(calls)
        out.slice_calls += calls
        out.slices_read.append(piece.key)
        row = rows.SliceRow(
            key=piece.key, filters=piece.filters, seq=0, refreshed_at=at, lines=len(frame),
            counts={piece.filters[SLICE_FILTER]: len(frame)} if len(frame) else {},
        )  # fmt: skip
        with store.atomic() as tx:
            seq = rows.next_seq(tx, profile.name)
            rows.put_slice(
                tx, profile.name, key=row.key, filters=row.filters, seq=seq, refreshed_at=at,
                counts=row.counts, lines=row.lines, frame=to_blob(frame),
            )  # fmt: skip
        loaded[row.key] = (replace(row, seq=seq), frame)
    if out.slices_read:
        out.mode = "slices"
    elif out.lines_refreshed:
        out.mode = "lines"
    if not out.read and not komet_available:
        out.notes.append(_short_note(budget, planned[0].pages if planned else pages))
    if out.read or komet_available:
        view = merge(_by_seq(loaded), rows.lines(store, profile.name))
    out.view = view
    return _finish(profile, store, out, now)


def _by_seq(
    loaded: Mapping[str, tuple[rows.SliceRow, pd.DataFrame]],
) -> list[tuple[rows.SliceRow, pd.DataFrame]]:
    return sorted(loaded.values(), key=lambda pair: pair[0].seq)


def _read_full(
    komet: KometClient, profile: Profile, store: Store, budget: CycleBudget, out: StockRefresh,
    *, at: str, spent: Any,
) -> None:  # fmt: skip
    """Every line, as a cycle always read it: the view is this read."""
    before = spent()
    frame = as_frame(read_inventory(komet, profile))
    calls = spent() - before
    budget.charge(calls, from_credit=budget.credit >= calls)
    out.mode, out.slice_calls, out.slices_read = "full", calls, [FULL]
    with store.atomic() as tx:
        rows.clear_slices(tx, profile.name)
        rows.put_slice(
            tx, profile.name, key=FULL, filters={}, seq=rows.next_seq(tx, profile.name),
            refreshed_at=at, counts=colour_counts(frame), lines=len(frame), frame=to_blob(frame),
        )  # fmt: skip
    out.view = frame.assign(refreshed_at=at)


def _refresh_sold(
    komet: KometClient, profile: Profile, store: Store, budget: CycleBudget, out: StockRefresh,
    view: pd.DataFrame, chosen: Sequence[Slice], answered: set[str], *, now: datetime,
    spent: Any,
) -> None:  # fmt: skip
    """inventory.get for the offers sold within the refresh window, except those a slice read
    this cycle lists anyway and those Komet just told the boxes of."""
    since = iso(now - timedelta(minutes=profile.sync.sold_refresh_minutes))
    hot = set(rows.offers_sold_since(store, profile.name, since))
    taken = {s.filters[SLICE_FILTER].lower() for s in chosen}
    if not hot or view.empty:
        return
    known = view.drop_duplicates("offer_id").set_index("offer_id")
    known = known[known.index.isin(hot - answered)]
    known = known[~known[FRAME_COLUMN].fillna("").astype(str).str.lower().isin(taken)]
    windows = {
        str(o): (str(f), str(t))
        for o, f, t in zip(known.index, known["available_from"], known["available_to"], strict=True)
    }
    if not windows:
        return
    needed = get_calls_needed(windows, now.date())
    if not budget.affords(needed, from_credit=False):
        out.notes.append(f"sold lines not read again: {needed} calls would pass the budget left")
        return
    before = spent()
    found, _ = read_lines(komet, profile, windows, now.date())
    calls = spent() - before
    budget.charge(calls)
    out.get_calls += calls
    out.lines_refreshed += len(found)
    with store.atomic() as tx:
        rows.put_quantities(tx, profile.name, found, at=iso(now), source="inventory.get")


def _finish(profile: Profile, store: Store, out: StockRefresh, now: datetime) -> StockRefresh:
    """Purge the line rows that can no longer change the view."""
    stored = rows.slices(store, profile.name)
    oldest = min((r.refreshed_at for r in stored), default=iso(now))
    sold_before = iso(now - timedelta(minutes=profile.sync.sold_refresh_minutes))
    with store.atomic() as tx:
        rows.purge_lines(tx, profile.name, older_than=oldest, sold_before=sold_before)
    return out


def _short_note(budget: CycleBudget, pages: int) -> str:
    return (
        f"inventory not read this cycle: the next read needs {pages} call(s), "
        f"{budget.spent} of the kit's {budget.share} Komet calls are spent today, "
        f"{budget.held:.0f} are held for orders and {budget.credit:.1f} accrued"
    )
