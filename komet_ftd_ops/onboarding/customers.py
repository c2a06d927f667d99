"""FTD's customer ID (Komet's step 2): from the customer export, or from customer.list.

A Customer token cannot call `customer.list`, so Komet's own instructions have the company
export its customers to Excel and copy the Id. With a Company token the kit can ask Komet
directly. Either way the candidates are only suggestions: the ID that goes to FTD is the one the
token is bound to (`customer.details.get`), which the token check establishes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import httpx

from ..http.retry import RetryPolicy
from ..komet import KometClient, KometConfig
from ..settings.home import Home
from ..settings.profiles import Profile
from ..settings.secrets import Secret
from ..state.calls import CallCounter
from ..state.store import Store
from .customers_xlsx import (
    MAX_EXPORT_MB,
    MAX_EXPORT_ROWS,
    CustomerRow,
    ftd_candidates,
    read_customer_export,
)
from .methods import KometTarget, as_target


def candidates_from_export(
    source: Path | str | bytes | IO[bytes],
    *,
    max_mb: float = MAX_EXPORT_MB,
    max_rows: int = MAX_EXPORT_ROWS,
) -> tuple[list[CustomerRow], str]:
    """FTD rows of Komet's customer export, and a one-line note of what was read.

    Raises DataError (with what to do) for a file that is not a usable export, or one over the
    caps (`max_mb`, `max_rows`).
    """
    export = read_customer_export(source, max_mb=max_mb, max_rows=max_rows)
    rows = export.ftd_rows()
    sheets = ", ".join(export.sheets_read)
    note = (
        f"{export.name}: {len(export.rows)} customer(s) on sheet(s) {sheets}; {len(rows)} named FTD"
    )
    if export.sheets_skipped:
        note += f" (sheets without a customer table: {', '.join(export.sheets_skipped)})"
    return rows, note


def _active(value: Any) -> bool | None:
    if value is None or value == "":
        return None
    return str(value).strip().lower() not in ("0", "false", "no", "inactive")


def candidates_from_api(
    profile_or_params: Profile | KometTarget | Mapping[str, Any],
    company_token: Secret,
    *,
    store: Store | None = None,
    home: Home,
    transport: httpx.BaseTransport | None = None,
) -> list[CustomerRow]:
    """FTD customers by `customer.list` (needs a Company token), inactive ones included."""
    target = as_target(profile_or_params)
    config = KometConfig(
        base_url=target.base_url,
        company_id=target.company_id,
        token=company_token,
        timeout=target.timeout_seconds,
        # Retried like every read (a refusal is never retried, so no quota is spent on one):
        # one attempt let a dropped connection fail the onboarding.
        retry=RetryPolicy(),
    )
    own = store is None
    store = store if store is not None else home.open_store()
    try:
        with KometClient(config, transport=transport, on_call=CallCounter(store)) as komet:
            found = komet.customer_list(name="FTD", include_inactive=True)
    finally:
        if own:
            store.close()
    rows = [
        CustomerRow(
            customer_id=str(r.get("id", "")),
            name=str(r.get("name", "")),
            active=_active(r.get("active")),
            code=str(r.get("code") or ""),
            source="customer.list",
        )
        for r in found
        if r.get("id")
    ]
    return ftd_candidates(rows)


def merge_candidates(*groups: Iterable[CustomerRow]) -> list[CustomerRow]:
    """One row per customer id, the first source kept; the same order rule as the export."""
    return ftd_candidates(row for group in groups for row in group)


def choose_customer(
    candidates: Sequence[CustomerRow], *, explicit: str = "", bound: str | None = None
) -> tuple[str, str]:
    """The FTD customer ID to use, and why. "" when the analyst has to pick."""
    if explicit:
        return explicit, "given"
    by_id = {c.customer_id: c for c in candidates}
    if bound and bound in by_id:
        return bound, f"the token is bound to it ({by_id[bound].name})"
    if bound and not candidates:
        return bound, "the token is bound to it"
    active = [c for c in candidates if c.active is not False]
    if len(active) == 1:
        return active[0].customer_id, f"the only active FTD customer ({active[0].name})"
    if not candidates:
        return "", "no customer named FTD was found"
    return "", f"{len(active)} active customers are named FTD: pick one"
