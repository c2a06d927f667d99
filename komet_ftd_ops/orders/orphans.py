"""Bare Komet web-order headers that a lost `web-order.create` may have left behind.

Komet documents no way to find a web order without its `webOrderId`, so a create whose answer
was lost cannot be read back. It does not need to be: a bare header holds no boxes, so the order
simply creates again, and the header that may exist is recorded here, one row per lost create,
for the sales rep (the run report and reconciliation list them). If the header's id is ever
learnt, `learnt` records it and `delete_learnt` removes it from Komet.

This module owns the `orphan_headers` table (migration 0007); its rows are read and written
by `state/orders.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..errors import ApiError, InvalidParameter, NotFound, RateLimited, TransportError
from ..komet.client import KometClient
from ..state import orders as ledger_rows
from ..state.store import Store, iso

COLUMNS = ["order_id", "sent_at", "recorded_at", "web_order_id"]


@dataclass(frozen=True)
class OrphanHeader:
    id: int
    order_id: str
    sent_at: str
    recorded_at: str
    web_order_id: str | None


class OrphanHeaders:
    """One profile's candidate orphan headers in the state database."""

    def __init__(self, store: Store, profile: str, run_id: str | None = None) -> None:
        self.store = store
        self.profile = profile
        self.run_id = run_id

    def record(self, order_id: str, sent_at: str | None, now: datetime) -> None:
        """A create of `order_id` sent at `sent_at` got no answer: its header may exist."""
        stamp = iso(now)
        with self.store.atomic() as tx:  # the same lost create is recorded once, however often
            ledger_rows.record_orphan(
                tx,
                self.profile,
                order_id,
                sent_at=sent_at or stamp,
                recorded_at=stamp,
                run_id=self.run_id,
            )

    def open(self) -> list[OrphanHeader]:
        """Candidates not deleted in Komet: what the sales rep may find as empty web orders."""
        return [OrphanHeader(**r) for r in ledger_rows.open_orphan_rows(self.store, self.profile)]

    def learnt(self, candidate_id: int, web_order_id: str) -> None:
        with self.store.atomic() as tx:
            ledger_rows.orphan_learnt(tx, self.profile, candidate_id, web_order_id)

    def delete_learnt(self, komet: KometClient, customer_id: str, now: datetime) -> list[str]:
        """Delete every candidate whose id is known (`web-order.delete`); the ids deleted.

        A failure leaves the row for the next cycle: deleting a bare header twice is harmless.
        """
        deleted = []
        for header in self.open():
            if not header.web_order_id:
                continue
            try:
                komet.web_order_delete(customer_id, header.web_order_id)
            except (NotFound, InvalidParameter):
                pass  # not pending any more: nothing left to delete
            except (TransportError, RateLimited, ApiError):
                continue
            with self.store.atomic() as tx:
                ledger_rows.orphan_deleted(tx, self.profile, header.id, iso(now))
            deleted.append(header.web_order_id)
        return deleted
