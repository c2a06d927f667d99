"""Is the state database older than its home? Two witnesses outside the file say so.

Restoring an older `state.sqlite3` (the obvious repair of a damaged one), or a second home
working the same FTD supplier, leaves a database that forgets orders it already sent to Komet:
the next run would create them again. Before a run the kit asks:

    the run notebooks   a notebook under runs/<profile>/ newer than the last run this database
                        recorded for that profile: the database missed those runs  -> older
    FTD's feed base     FTD's last accepted feed sequence is not one this database sent: another
                        home (or a restored older copy) fed FTD since               -> feed moved

Either stops the run with one line (`StateOutdated`, exit 78) saying what was found and what to
do. After reconciling, `komet-ftd-ops db accept-restore` records what was seen, so runs go on.

FTD documents no read of its feed sequence; a delta on a base one below ours is the read: FTD
refuses any delta whose base is not its last sequence with 409 and `expected_base`, and changes
nothing (`docs/ftd-api.md`, deltas). Only in the one case where FTD's base is exactly that
older sequence does the empty delta apply, a heartbeat that leaves the listing as it is.

What stays invisible: a home whose database never had a feed accepted is not compared with FTD
until it has one, a second home's first full feed at our very sequence number looks like ours,
and a run notebook deleted by hand (or pruned) witnesses nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from ..errors import Conflict, KometFtdOpsError, StateOutdated
from .store import Store

OK, OLDER, FEED_MOVED, UNKNOWN = "ok", "older than its runs", "feed sequence moved", "unknown"
HOME_SCOPE = "_home"
ACCEPTED_KEY = "witness.accepted"  # {"runs": {profile: iso}, "feed_base": {profile: N}}
WHAT_TO_DO = (
    "reconcile first (`komet-ftd-ops reconcile`; `komet-ftd-ops db check` says what was found), "
    "then accept it deliberately with `komet-ftd-ops db accept-restore`"
)
_STAMP = re.compile(r"^(\d{6})Z-")


class FeedProbe(Protocol):
    """The one call the feed witness needs (an `FtdClient`)."""

    def send_delta(self, changes: list[Any], *, base_sequence: int, sequence: int) -> Any: ...


@dataclass(frozen=True)
class Witness:
    state: str  # OK, OLDER, FEED_MOVED or UNKNOWN (FTD did not answer: nothing known)
    detail: str = ""

    @property
    def refused(self) -> bool:
        return self.state in (OLDER, FEED_MOVED)

    def line(self) -> str:
        if self.state == OK:
            return f"ok: {self.detail}"
        if self.state == UNKNOWN:
            return f"unknown: {self.detail}"
        return f"the state database is {self.state}: {self.detail}; {WHAT_TO_DO}"


# --- the run notebooks ----------------------------------------------------------------------


def _stamp(notebook: Path) -> datetime | None:
    """When a run notebook's run started, from its path: <profile>/<YYYY-MM-DD>/<HHMMSS>Z-..."""
    match = _STAMP.match(notebook.name)
    if match is None:
        return None
    try:
        return datetime.strptime(
            f"{notebook.parent.name} {match.group(1)}", "%Y-%m-%d %H%M%S"
        ).replace(tzinfo=UTC)
    except ValueError:
        return None


def newest_notebooks(runs_dir: Path, skip: Path | None = None) -> dict[str, tuple[datetime, Path]]:
    """Per profile folder, its newest run notebook (by the start in its name)."""
    found: dict[str, tuple[datetime, Path]] = {}
    if not runs_dir.is_dir():
        return found
    skip = skip.resolve() if skip is not None else None
    for profile_dir in runs_dir.iterdir():
        if not profile_dir.is_dir():
            continue
        days = sorted((d for d in profile_dir.iterdir() if d.is_dir()), reverse=True)
        for day in days:
            stamps = [
                (stamp, nb)
                for nb in day.glob("*.ipynb*")  # `.ipynb.partial` too: that run happened
                if (stamp := _stamp(nb)) is not None and nb.resolve() != skip
            ]
            if stamps:
                found[profile_dir.name] = max(stamps)
                break
    return found


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def _accepted(store: Store) -> dict[str, Any]:
    value = store.get(HOME_SCOPE, ACCEPTED_KEY)
    return dict(value) if value else {"runs": {}, "feed_base": {}}


def _last_runs(store: Store, exclude_run: str | None) -> dict[str, datetime]:
    rows = store.query(
        "SELECT profile, MAX(started_at) AS last FROM runs WHERE id <> :exclude GROUP BY profile",
        {"exclude": exclude_run or ""},
    )
    return {str(r["profile"]): _parse(str(r["last"])) for r in rows if r["last"]}


def check_runs(store: Store, runs_dir: Path, *, exclude_run: str | None = None) -> Witness:
    """Run notebooks newer than the last run this database recorded, per profile.

    `exclude_run`: the run now starting (its row and notebook exist already)."""
    skip = None
    if exclude_run:
        rows = store.query("SELECT notebook FROM runs WHERE id = :id", {"id": exclude_run})
        skip = Path(rows[0]["notebook"]) if rows and rows[0]["notebook"] else None
    last = _last_runs(store, exclude_run)
    accepted = _accepted(store).get("runs", {})
    newer = []
    for profile, (stamp, notebook) in sorted(newest_notebooks(runs_dir, skip).items()):
        known = [t for t in (last.get(profile), _opt(accepted.get(profile))) if t is not None]
        seen = max(known).replace(microsecond=0) if known else None
        if seen is None or stamp > seen:
            since = f"{seen:%Y-%m-%d %H:%M:%S}Z" if seen else "none"
            newer.append(f"{notebook} ({profile}; its last recorded run: {since})")
    if newer:
        return Witness(OLDER, "run notebooks newer than its last recorded run: " + ", ".join(newer))
    return Witness(OK, f"no run notebook under {runs_dir} is newer than the runs it recorded")


def _opt(value: Any) -> datetime | None:
    return _parse(str(value)) if value else None


# --- FTD's feed base ------------------------------------------------------------------------


def _feed_memory(store: Store, profile: str) -> tuple[int | None, set[int]]:
    """The last sequence FTD accepted from this database, and every sequence FTD may hold
    from it: that one, feeds still `sending` (their answer may have been lost), an accepted base."""
    value = store.get(profile, "feed.last_sequence")
    last = int(value) if value is not None else None
    sending = {
        int(r["sequence"])
        for r in store.query(
            "SELECT sequence FROM feeds WHERE profile = :profile AND status = 'sending'",
            {"profile": profile},
        )
    }
    explained = sending | ({last} if last is not None else set())
    base = _accepted(store).get("feed_base", {}).get(profile)
    if base is not None:
        explained.add(int(base))
    return last, explained


def ftd_base(ftd: FeedProbe, last: int) -> int | None:
    """FTD's last accepted sequence, read with a delta on base `last - 1` (see the module)."""
    try:
        ftd.send_delta([], base_sequence=last - 1, sequence=last)
    except Conflict as exc:
        return exc.expected_base
    return last  # FTD's base was last - 1: the heartbeat applied, FTD now holds `last`


def check_feed(store: Store, profile: str, ftd: FeedProbe) -> Witness:
    last, explained = _feed_memory(store, profile)
    if last is None or last < 1:
        return Witness(OK, f"{profile}: this database has no accepted feed to compare with FTD")
    try:
        base = ftd_base(ftd, last)
    except KometFtdOpsError as exc:
        return Witness(UNKNOWN, f"{profile}: FTD's feed sequence could not be read ({exc})")
    if base is None or base in explained:
        return Witness(OK, f"{profile}: FTD's feed base {base} is this database's last feed")
    how = "moved past" if base > last else "is behind"
    return Witness(
        FEED_MOVED,
        f"{profile}: FTD's feed sequence is {base}, which {how} the last feed this database "
        f"sent ({last}): another home, or a newer copy of this one, fed FTD since",
    )


# --- before a run, and accepting ------------------------------------------------------------


def refuse_if_older(
    store: Store,
    runs_dir: Path,
    *,
    profile: str | None = None,
    ftd: FeedProbe | None = None,
    exclude_run: str | None = None,
) -> list[Witness]:
    """Raise `StateOutdated` (exit 78) when a witness says the database is older than its home.

    Returns what was found otherwise (an `UNKNOWN` when FTD did not answer: the run goes on,
    the order pipeline's own read-backs still guard it)."""
    found = [check_runs(store, runs_dir, exclude_run=exclude_run)]
    if profile is not None and ftd is not None and not found[0].refused:
        found.append(check_feed(store, profile, ftd))
    for witness in found:
        if witness.refused:
            raise StateOutdated(witness.line(), state=witness.state)
    return found


def accept(
    store: Store, runs_dir: Path, *, profile: str | None = None, ftd: FeedProbe | None = None
) -> list[str]:
    """Record what the witnesses see now as known to this database; say what was accepted."""
    accepted = _accepted(store)
    said = []
    for name, (stamp, notebook) in sorted(newest_notebooks(runs_dir).items()):
        accepted.setdefault("runs", {})[name] = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
        said.append(f"runs of {name} up to {notebook.name}")
    if profile is not None and ftd is not None:
        last, _ = _feed_memory(store, profile)
        if last is not None and last >= 1:
            base = ftd_base(ftd, last)
            if base is not None:
                accepted.setdefault("feed_base", {})[profile] = base
                said.append(f"FTD's feed sequence {base} for {profile}")
    store.put(HOME_SCOPE, ACCEPTED_KEY, accepted)
    return said
