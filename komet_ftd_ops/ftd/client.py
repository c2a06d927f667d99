"""The FTD marketplace client: inventory feeds out, orders in (contract: docs/ftd-api.md).

Methods map one-to-one onto the contract's endpoints, plus the few compositions every caller
would otherwise rewrite: splitting a full feed under the body limit, following cursors, waiting
for a feed to be processed. The client only sends: whether a feed goes out full or as a delta,
and the fallback from a refused delta, is decided in `offers.feed`. HTTP, retries and error
translation live in `transport.py`. Feed answers are returned as the service's own dicts;
orders come back as typed records (`ftd.models`), parsed once here, each keeping the order as
FTD sent it (`raw`), so fields this client does not know about are kept.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from ..errors import (
    DataError,
    InvalidParameter,
    RequestTimeout,
    RequestTooLarge,
    ServiceUnavailable,
)
from .models import FtdOrder, OrdersPage
from .transport import FtdConfig, FtdHttp, JsonDict, Sleep, dumps

ORDER_STATUSES = ("CONFIRMED", "SHIPPED", "CANCELLED")  # what a supplier may report


@dataclass(frozen=True)
class FeedResult:
    """What was sent for one feed."""

    kind: str  # "full" | "delta"
    feed_id: str
    sequence: int
    parts: int
    bytes_sent: int  # request body bytes, once per part (retries not counted)
    count: int  # offers (full) or changes (delta) sent
    status: str = ""  # FTD's answer to the last part, usually "processing"
    base_sequence: int | None = None


@dataclass(frozen=True)
class OrdersBatch:
    """All orders from one listing, de-duplicated, and the watermark to resume from.

    `high_watermark` is the server's value; never replace it with the local clock, whose skew
    against FTD's would silently skip orders.
    """

    orders: list[FtdOrder]
    high_watermark: str | None
    pages: int


def _utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _new_feed_id(kind: str, sequence: int) -> str:
    return f"{kind}-{sequence}-{uuid.uuid4().hex[:12]}"


def _check_sequences(base_sequence: int | None, sequence: int) -> None:
    if not isinstance(sequence, int) or sequence < 0:
        raise InvalidParameter(
            f"FTD feed: sequence must be an int >= 0, not {sequence!r}.", param="sequence"
        )
    if base_sequence is not None and sequence <= base_sequence:
        raise InvalidParameter(
            f"FTD delta: sequence {sequence} must be greater than base_sequence {base_sequence}.",
            param="sequence",
        )


def split_offers(
    offers: list[JsonDict], envelope: JsonDict, max_bytes: int
) -> list[list[JsonDict]]:
    """Group offers into parts whose serialised body (envelope + part/parts + offers) fits.

    Splits between offers, never inside one; an offer too big on its own is refused before
    anything is sent. `part`/`parts` are sized for the worst case (one part per offer), so the
    real bodies can only be smaller than measured here.
    """
    worst = max(1, len(offers))
    base = len(dumps({**envelope, "part": worst, "parts": worst, "offers": []}))
    groups: list[list[JsonDict]] = [[]]
    size = base
    for offer in offers:
        one = len(dumps(offer))
        if base + one > max_bytes:
            raise RequestTooLarge(
                f"FTD send_full_feed: offer {offer.get('offer_id')!r} alone is {one} bytes, "
                f"over the {max_bytes}-byte body limit.",
                method="send_full_feed",
            )
        extra = one + (1 if groups[-1] else 0)  # the comma between offers
        if groups[-1] and size + extra > max_bytes:
            groups.append([])
            size, extra = base, one
        groups[-1].append(offer)
        size += extra
    return groups


def _check_offer_ids(offers: list[JsonDict]) -> None:
    """A full feed replaces the listing: each offer must be identifiable and appear once."""
    seen: set[str] = set()
    for i, offer in enumerate(offers):
        offer_id = offer.get("offer_id") if isinstance(offer, dict) else None
        if not offer_id:
            raise DataError(f"FTD send_full_feed: offer #{i} has no offer_id.")
        if offer_id in seen:
            raise DataError(f"FTD send_full_feed: offer_id {offer_id!r} appears twice.")
        seen.add(offer_id)


class FtdClient:
    """FTD supplier API. Use as a context manager, or call `close()`.

    `transport` is an httpx transport (e.g. `ExpectedRequests().transport()` in tests); `sleep`
    and `clock` are injectable so retries and `wait_feed` can be tested without waiting.
    """

    def __init__(
        self,
        config: FtdConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Sleep = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._http = FtdHttp(config, transport=transport, sleep=sleep)
        self._sleep = sleep
        self._clock = clock

    def __repr__(self) -> str:
        return (
            f"FtdClient(base_url={self.config.base_url!r}, supplier_id={self.config.supplier_id!r})"
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> FtdClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- inventory ---------------------------------------------------------------------------

    def send_full_feed(
        self,
        offers: list[JsonDict],
        *,
        sequence: int,
        feed_id: str | None = None,
        generated_at: str | None = None,
        max_bytes: int | None = None,
    ) -> FeedResult:
        """Replace FTD's whole listing with `offers` (anything absent is withdrawn).

        Sent in as many parts as the body limit needs (`max_bytes`, default the config's
        `max_body_bytes`), all sharing one `feed_id` and `sequence`. Each part is its own POST
        with its own Idempotency-Key, so a retried part replays.
        """
        max_bytes = self.config.max_body_bytes if max_bytes is None else max_bytes
        _check_sequences(None, sequence)
        _check_offer_ids(offers)
        envelope: JsonDict = {
            "feed_id": feed_id or _new_feed_id("full", sequence),
            "sequence": sequence,
            "generated_at": generated_at or _utc_now(),
        }
        groups = split_offers(offers, envelope, max_bytes)
        bodies = [
            dumps({**envelope, "part": n, "parts": len(groups), "offers": group})
            for n, group in enumerate(groups, start=1)
        ]
        assert all(len(b) <= max_bytes for b in bodies), "split_offers measured wrong"
        answer: JsonDict = {}
        for body in bodies:
            answer = self._http.call("send_full_feed", "POST", "/inventory/full", content=body)
        return FeedResult(
            kind="full",
            feed_id=envelope["feed_id"],
            sequence=sequence,
            parts=len(bodies),
            bytes_sent=sum(len(b) for b in bodies),
            count=len(offers),
            status=str(answer.get("status", "")),
        )

    def send_delta(
        self,
        changes: list[JsonDict],
        *,
        base_sequence: int,
        sequence: int,
        feed_id: str | None = None,
        max_bytes: int | None = None,
    ) -> FeedResult:
        """Send changes since `base_sequence`. An empty list is a valid heartbeat.

        Raises `Conflict` (with `expected_base`) when FTD's last accepted sequence is not
        `base_sequence`. A delta over `max_bytes` (default the config's `max_body_bytes`) is
        refused with `RequestTooLarge` before sending (deltas are not split: order matters);
        FTD's own 413 raises the same. `offers.feed` answers both with a full feed.
        """
        max_bytes = self.config.max_body_bytes if max_bytes is None else max_bytes
        _check_sequences(base_sequence, sequence)
        for i, change in enumerate(changes):
            op = change.get("op") if isinstance(change, dict) else None
            if op not in ("upsert", "withdraw"):
                raise DataError(f"FTD send_delta: change #{i} has op {op!r}, not upsert|withdraw.")
        body: JsonDict = {
            "feed_id": feed_id or _new_feed_id("delta", sequence),
            "base_sequence": base_sequence,
            "sequence": sequence,
            "changes": changes,
        }
        content = dumps(body)
        if len(content) > max_bytes:
            raise RequestTooLarge(
                f"FTD send_delta: {len(content)} bytes for {len(changes)} changes, over the "
                f"{max_bytes}-byte limit; send a full feed instead.",
                method="send_delta",
            )
        answer = self._http.call("send_delta", "POST", "/inventory/delta", content=content)
        return FeedResult(
            kind="delta",
            feed_id=body["feed_id"],
            sequence=sequence,
            parts=1,
            bytes_sent=len(content),
            count=len(changes),
            status=str(answer.get("status", "")),
            base_sequence=base_sequence,
        )

    def feed_status(self, feed_id: str) -> JsonDict:
        """`{status: processing|done|failed, accepted, rejected: [{offer_id, code, message}]}`."""
        return self._http.call("feed_status", "GET", f"/feeds/{quote(feed_id, safe='')}")

    def wait_feed(
        self, feed_id: str, timeout: float = 30, poll: float = 0.5, first_poll: float = 0.01
    ) -> JsonDict:
        """Poll until the feed is no longer `processing`; `RequestTimeout` if it takes too long.

        Asked at once, then after `first_poll` seconds, the wait doubling up to `poll`: a feed
        FTD settles in a few hundred ms is seen settled within a poll or two of it, and a slow
        one costs no more calls than polling every `poll` seconds."""
        deadline = self._clock() + timeout
        wait = first_poll
        while True:
            status = self.feed_status(feed_id)
            if status.get("status") != "processing":
                return status
            left = deadline - self._clock()
            if left <= 0:
                raise RequestTimeout(
                    f"FTD wait_feed: feed {feed_id!r} still processing after {timeout:g}s.",
                    operation="wait_feed",
                    feed_id=feed_id,
                )
            self._sleep(min(wait, left))
            wait = min(wait * 2, poll)

    def list_offers(self) -> list[JsonDict]:
        """Everything FTD lists now, across all pages (for reconciliation and drift checks)."""
        offers: list[JsonDict] = []
        for page in self._pages("list_offers", "/offers", {}):
            offers.extend(page.get("offers") or [])
        return offers

    # -- orders ------------------------------------------------------------------------------

    def list_orders(
        self,
        *,
        status: str | None = None,
        updated_after: str | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> OrdersPage:
        """One page: its orders, `next_cursor` and `high_watermark`."""
        params = {
            "status": status,
            "updated_after": updated_after,
            "cursor": cursor,
            "limit": limit,
        }
        return OrdersPage.from_wire(self._http.call("list_orders", "GET", "/orders", params=params))

    def fetch_orders(
        self, *, updated_after: str | None = None, status: str | None = None, limit: int = 100
    ) -> OrdersBatch:
        """All pages since `updated_after`, de-duplicated by `order_id` (highest `version` wins).

        An order can show up twice when it changes while we page; the later version is the one
        to act on. The watermark is the server's last one; if FTD sent none (nothing new), the
        given `updated_after` is kept so the caller never moves backwards.
        """
        by_id: dict[str, FtdOrder] = {}
        watermark = updated_after
        pages = 0
        params = {"status": status, "updated_after": updated_after, "limit": limit}
        for wire in self._pages("list_orders", "/orders", params):
            page = OrdersPage.from_wire(wire)
            pages += 1
            for order in page.orders:
                old = by_id.get(order.order_id)
                if old is None or order.version >= old.version:
                    by_id[order.order_id] = order
            if page.high_watermark:
                watermark = page.high_watermark
        return OrdersBatch(orders=list(by_id.values()), high_watermark=watermark, pages=pages)

    def get_order(self, order_id: str) -> FtdOrder:
        return FtdOrder.from_wire(self._http.call("get_order", "GET", self._order_path(order_id)))

    def acknowledge(
        self,
        order_id: str,
        *,
        supplier_ref: str,
        lines: list[JsonDict],
        idempotency_key: str | None = None,
        ship_date: str | None = None,
    ) -> FtdOrder:
        """Per-line ACCEPT/REJECT plus our (Komet) reference; FTD answers with the order.
        Repeating the same content is safe. `ship_date` (YYYY-MM-DD): the order ships on
        another date than FTD's `requested_ship_date` (later, never earlier).

        Pass an `idempotency_key` derived from the order (e.g. `f"ack:{order_id}"`) so that a
        retry after a crash replays instead of acting twice.
        """
        body: JsonDict = {"supplier_ref": supplier_ref, "lines": lines}
        if ship_date:
            body["ship_date"] = ship_date
        answer = self._http.call(
            "acknowledge",
            "POST",
            f"{self._order_path(order_id)}/acknowledge",
            body=body,
            idempotency_key=idempotency_key,
        )
        return FtdOrder.from_wire(answer)

    def update_status(
        self,
        order_id: str,
        *,
        status: str,
        invoice_number: str | None = None,
        idempotency_key: str | None = None,
        **extra: Any,
    ) -> FtdOrder:
        """Report CONFIRMED, SHIPPED or CANCELLED (`extra`: e.g. tracking fields); FTD answers
        with the order."""
        if status not in ORDER_STATUSES:
            raise InvalidParameter(
                f"FTD update_status: status must be one of {', '.join(ORDER_STATUSES)}, "
                f"not {status!r}.",
                param="status",
                method="update_status",
            )
        body: JsonDict = {"status": status, **extra}
        if invoice_number is not None:
            body["invoice_number"] = invoice_number
        answer = self._http.call(
            "update_status",
            "POST",
            f"{self._order_path(order_id)}/status",
            body=body,
            idempotency_key=idempotency_key,
        )
        return FtdOrder.from_wire(answer)

    # -- helpers -----------------------------------------------------------------------------

    @staticmethod
    def _order_path(order_id: str) -> str:
        return f"/orders/{quote(str(order_id), safe='')}"

    def _pages(self, operation: str, path: str, params: JsonDict) -> Iterator[JsonDict]:
        """Follow `next_cursor` to the end; a cursor seen twice would loop forever, so stop."""
        seen: set[str] = set()
        cursor: str | None = None
        while True:
            page = self._http.call(operation, "GET", path, params={**params, "cursor": cursor})
            yield page
            cursor = page.get("next_cursor")
            if not cursor:
                return
            if cursor in seen:
                raise ServiceUnavailable(
                    f"FTD {operation}: the server repeated cursor {cursor!r}; stopping.",
                    operation=operation,
                )
            seen.add(cursor)
