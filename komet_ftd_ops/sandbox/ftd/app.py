"""The FTD twin: our supplier contract (docs/ftd-api.md) served strictly over real HTTP.

    API     /v1/suppliers/{supplier_id}/...     bearer token, Idempotency-Key on every POST
    control /_sandbox/{info,dump,settings,shop,cancel,faults}    no auth (twin only),
            ?wholesaler=K (default 1) in a twin serving several suppliers (tenants.py)

The twin is strict on purpose: whatever a client gets away with here it would get away with
nowhere else, so every contract rule is checked and every error is the contract's JSON shape.
All state (listing, feeds, orders and their versions, idempotency keys, settings) is in the
shared twin SQLite file, so a restart changes nothing a client could see. The logic lives in
`ftd_feeds` (inventory), `ftd_orders` (orders), `ftd_shop` (simulated florists) and `ftd_http`
(auth, bodies, replay); this module wires routes to it.

Settings (`POST /_sandbox/settings`):
    feed_processing_ms  300   how long a complete feed reports `processing` before `done`
    listing_noise       0.0   0..1: order listings repeat orders and replay older versions

The request body limit (5 MB, FTD's) is a start option instead (`create_app(max_body_bytes=)`,
`sandbox up --ftd-max-body`), shown in `/_sandbox/info`: it is fixed for the life of the process,
as the kit's sandbox profile reads it once from info.json.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import sqlite3
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from ...state.sqlite_file import SQLiteFile as Store
from .. import faults, tenants
from .feeds import get_feed, last_sequence, list_offers, receive_delta, receive_full
from .http import (
    BODY_LIMIT,
    FtdError,
    check_auth,
    error_response,
    fingerprint,
    idempotency_key,
    int_param,
    meta_get,
    meta_put,
    query_params,
    read_json_object,
    remember,
    replay,
)
from .orders import ListingNoise, acknowledge, list_orders, load, order_view, update_status
from .schema import MIGRATIONS
from .shop import cancel, shop

log = logging.getLogger(__name__)

__all__ = ["BODY_LIMIT", "MIGRATIONS", "create_app", "dump", "seed"]

DEFAULT_SETTINGS: dict[str, Any] = {"feed_processing_ms": 300, "listing_noise": 0.0}
ROUTE_NAMES = (
    "inventory.full",
    "inventory.delta",
    "feeds.get",
    "offers.list",
    "orders.list",
    "orders.get",
    "orders.acknowledge",
    "orders.status",
)
OFFERS_LIMIT_DEFAULT, OFFERS_LIMIT_MAX = 500, 1000

Action = Callable[[sqlite3.Connection, dict[str, Any]], dict[str, Any]]


def _now() -> datetime:
    return datetime.now(UTC)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def seed(db: Store, *, seed: int, taken_supplier_ids: Collection[str] = ()) -> dict[str, Any]:
    """The supplier identity, made on first start only (a restart keeps id, token and state).

    `taken_supplier_ids`: the other wholesalers' suppliers in the same twin, never drawn again."""
    with db.atomic() as conn:
        ident = meta_get(conn, "identity")
        if ident is None:
            rng = random.Random(f"ftd-supplier:{seed}")
            token = "ftd_sbx_" + hashlib.sha256(f"ftd-twin-token:{seed}".encode()).hexdigest()
            supplier = f"SUP-{rng.randint(100000, 999999)}"
            while supplier in taken_supplier_ids:
                supplier = f"SUP-{rng.randint(100000, 999999)}"
            ident = {"supplier_id": supplier, "token": token}
            meta_put(conn, "identity", ident)
            meta_put(conn, "seed", seed)
            meta_put(conn, "settings", DEFAULT_SETTINGS)
    return {"supplier_id": ident["supplier_id"], "token": ident["token"]}


def _settings(conn: sqlite3.Connection) -> dict[str, Any]:
    return {**DEFAULT_SETTINGS, **meta_get(conn, "settings", {})}


def dump(db: Store) -> dict[str, Any]:
    """Everything a test wants to assert on, in one read."""
    with db.atomic() as conn:
        orders = []
        for row in conn.execute("SELECT * FROM ftd_orders ORDER BY created_at, order_id"):
            view = order_view(row)
            orders.append(
                {
                    "order_id": view["order_id"],
                    "order_number": view["order_number"],
                    "status": view["status"],
                    "version": view["version"],
                    "created_at": view["created_at"],
                    "requested_ship_date": view["requested_ship_date"],
                    "buyer": view["buyer"],
                    "ship_to": view["ship_to"],
                    "lines": view["lines"],
                    "acknowledgement": json.loads(row["acknowledgement"] or "null"),
                    "status_updates": json.loads(row["status_updates"]),
                }
            )
        count = conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(quantity > 0), 0) FROM ftd_offers"
        ).fetchone()
        feeds = conn.execute("SELECT COUNT(*) FROM ftd_feeds").fetchone()[0]
        return {
            "orders": orders,
            "offers": count[1],
            "offers_total": count[0],
            "last_sequence": last_sequence(conn),
            "feeds": feeds,
        }


async def _control_body(request: web.Request) -> dict[str, Any]:
    """Control routes take a JSON object, or no body at all for the defaults."""
    if not request.can_read_body:
        return {}
    return await read_json_object(request)


def _rate_limited(request: web.Request) -> web.Response:
    return error_response(
        429, "rate_limited", "too many requests; retry after 1 second.", {"Retry-After": "1"}
    )


@web.middleware
async def _json_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Every error in the contract's shape, including aiohttp's own 404/405/413 and twin bugs."""
    try:
        return await handler(request)
    except FtdError as exc:
        return exc.response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        codes = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return error_response(
            exc.status,
            codes.get(exc.status, "http_error"),
            f"{exc.reason}: {request.method} {request.path}",
            headers,
        )
    except Exception as exc:  # a twin bug: say so in the contract's shape, and log it
        log.exception("FTD twin: %s %s failed", request.method, request.path)
        return error_response(500, "internal_error", f"twin error: {type(exc).__name__}: {exc}")


class FtdTwin:
    """Route handlers around one twin database; the only in-memory state is listing noise."""

    def __init__(
        self, db: Store, on_oversell: Callable[[str], None], max_body_bytes: int = BODY_LIMIT
    ) -> None:
        self.db = db
        self.on_oversell = on_oversell
        self.max_body_bytes = max_body_bytes
        with db.atomic() as conn:
            ident = meta_get(conn, "identity")
            twin_seed = int(meta_get(conn, "seed", 0))
        if ident is None:
            raise RuntimeError("FTD twin not seeded: call ftd_app.seed(db, seed=...) first")
        self.supplier_id: str = ident["supplier_id"]
        self.token: str = ident["token"]
        self.seed = twin_seed
        self.noise = ListingNoise(twin_seed)

    # -- API ---------------------------------------------------------------------------------

    async def _post(self, request: web.Request, action: Action) -> web.Response:
        """Auth, key, body, then replay the first answer or run `action` and remember its answer.

        The action, its writes and the remembered answer share one transaction, so a
        commit-then-drop leaves a replayable answer; an action's refusal rolls back its own
        writes (savepoint) but is remembered, since it is that request's first answer.
        """
        check_auth(request, self.supplier_id, self.token)
        key = idempotency_key(request)
        body = await read_json_object(request, self.max_body_bytes)
        digest = fingerprint(request, body)
        headers: dict[str, str] = {}
        with self.db.atomic() as conn:
            first = replay(conn, key, digest)
            if first is not None:
                status, payload = first
                headers["Idempotent-Replayed"] = "true"
            else:
                conn.execute("SAVEPOINT ftd_action")
                try:
                    payload = action(conn, body)
                    status = int(payload.pop("_status", 200))
                    conn.execute("RELEASE ftd_action")
                except FtdError as exc:
                    conn.execute("ROLLBACK TO ftd_action")
                    conn.execute("RELEASE ftd_action")
                    status, payload = exc.status, exc.payload()
                remember(conn, key, digest, status, payload, _now())
        return web.json_response(payload, status=status, headers=headers)

    def _read(
        self,
        request: web.Request,
        allowed: tuple[str, ...],
        read: Callable[[sqlite3.Connection, dict[str, str]], dict[str, Any]],
    ) -> web.Response:
        """A GET: auth, then the query string (unknown names refused), then one consistent read."""
        check_auth(request, self.supplier_id, self.token)
        params = query_params(request, allowed)
        with self.db.atomic() as conn:
            return web.json_response(read(conn, params))

    async def inventory_full(self, request: web.Request) -> web.Response:
        def action(conn: sqlite3.Connection, body: dict[str, Any]) -> dict[str, Any]:
            ms = int(_settings(conn)["feed_processing_ms"])
            answer = receive_full(conn, body, now=_now(), now_ms=_now_ms(), processing_ms=ms)
            return {**answer, "_status": 202}

        return await self._post(request, action)

    async def inventory_delta(self, request: web.Request) -> web.Response:
        gap = bool(request.get(faults.SEQUENCE_GAP))

        def action(conn: sqlite3.Connection, body: dict[str, Any]) -> dict[str, Any]:
            ms = int(_settings(conn)["feed_processing_ms"])
            answer = receive_delta(
                conn, body, gap=gap, now=_now(), now_ms=_now_ms(), processing_ms=ms
            )
            return {**answer, "_status": 202}

        return await self._post(request, action)

    async def feeds_get(self, request: web.Request) -> web.Response:
        feed_id = request.match_info["feed_id"]
        return self._read(request, (), lambda conn, _: get_feed(conn, feed_id, _now_ms()))

    async def offers_list(self, request: web.Request) -> web.Response:
        def read(conn: sqlite3.Connection, params: dict[str, str]) -> dict[str, Any]:
            limit = int_param(params, "limit", OFFERS_LIMIT_DEFAULT, 1, OFFERS_LIMIT_MAX)
            return list_offers(conn, params.get("cursor"), limit)

        return self._read(request, ("cursor", "limit"), read)

    async def orders_list(self, request: web.Request) -> web.Response:
        def read(conn: sqlite3.Connection, params: dict[str, str]) -> dict[str, Any]:
            rate = float(_settings(conn)["listing_noise"])
            return list_orders(conn, params, self.noise, rate)

        return self._read(request, ("status", "updated_after", "cursor", "limit"), read)

    async def orders_get(self, request: web.Request) -> web.Response:
        order_id = request.match_info["order_id"]
        return self._read(request, (), lambda conn, _: order_view(load(conn, order_id)))

    async def orders_acknowledge(self, request: web.Request) -> web.Response:
        order_id = request.match_info["order_id"]
        return await self._post(
            request, lambda conn, body: acknowledge(conn, order_id, body, _now())
        )

    async def orders_status(self, request: web.Request) -> web.Response:
        order_id = request.match_info["order_id"]
        return await self._post(
            request, lambda conn, body: update_status(conn, order_id, body, _now())
        )

    # -- /_sandbox/ --------------------------------------------------------------------------

    async def info(self, request: web.Request) -> web.Response:
        with self.db.atomic() as conn:
            settings, sequence = _settings(conn), last_sequence(conn)
        return web.json_response(
            {
                "service": "ftd",
                "supplier_id": self.supplier_id,
                "token": self.token,
                "api_base": f"/v1/suppliers/{self.supplier_id}",
                "routes": list(ROUTE_NAMES),
                "settings": settings,
                "last_sequence": sequence,
                "seed": self.seed,
                "max_body_bytes": self.max_body_bytes,
            }
        )

    async def dump(self, request: web.Request) -> web.Response:
        return web.json_response(dump(self.db))

    async def get_settings(self, request: web.Request) -> web.Response:
        with self.db.atomic() as conn:
            return web.json_response(_settings(conn))

    async def post_settings(self, request: web.Request) -> web.Response:
        body = await _control_body(request)
        unknown = sorted(set(body) - set(DEFAULT_SETTINGS))
        if unknown:
            raise FtdError(400, "unknown_setting", f"unknown setting(s): {', '.join(unknown)}.")
        if "feed_processing_ms" in body:
            ms = body["feed_processing_ms"]
            if not isinstance(ms, int) or isinstance(ms, bool) or not 0 <= ms <= 600_000:
                raise FtdError(400, "invalid_setting", "feed_processing_ms: integer 0..600000.")
        if "listing_noise" in body:
            noise = body["listing_noise"]
            if not isinstance(noise, int | float) or isinstance(noise, bool) or not 0 <= noise <= 1:
                raise FtdError(400, "invalid_setting", "listing_noise: a number 0..1.")
            body["listing_noise"] = float(noise)
        with self.db.atomic() as conn:
            settings = {**_settings(conn), **body}
            meta_put(conn, "settings", settings)
        return web.json_response(settings)

    def _rng(self, conn: sqlite3.Connection, kind: str, given: Any) -> random.Random:
        """Seeded per call: the twin's seed and a persisted call counter, or the caller's seed."""
        if given is not None:
            return random.Random(f"ftd-{kind}:given:{given}")
        calls = int(meta_get(conn, f"{kind}_calls", 0)) + 1
        meta_put(conn, f"{kind}_calls", calls)
        return random.Random(f"ftd-{kind}:{self.seed}:{calls}")

    async def shop(self, request: web.Request) -> web.Response:
        body = await _control_body(request)
        count, rate = body.get("orders", 1), body.get("oversell", 0)
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 1000:
            raise FtdError(400, "invalid_request", "orders: an integer 1..1000.")
        shares = {k: body.get(k, 0) for k in ("oversell", "late", "outside_window")}
        for name, share in shares.items():
            if not isinstance(share, int | float) or isinstance(share, bool) or not 0 <= share <= 1:
                raise FtdError(400, "invalid_request", f"{name}: a number 0..1.")
        florists = body.get("florists")
        if florists is not None and (
            not isinstance(florists, list)
            or not florists
            or not all(isinstance(f, str) for f in florists)
        ):
            raise FtdError(400, "invalid_request", "florists: a list of member codes.")
        with self.db.atomic() as conn:
            rng = self._rng(conn, "shop", body.get("seed"))
            result = shop(
                conn,
                count=count,
                oversell=float(rate),
                rng=rng,
                on_oversell=self.on_oversell,
                now=_now(),
                late=float(shares["late"]),
                outside_window=float(shares["outside_window"]),
                florists=florists,
            )
        return web.json_response(result)

    async def cancel(self, request: web.Request) -> web.Response:
        body = await _control_body(request)
        order_id, count = body.get("order_id"), body.get("count")
        if (order_id is None) == (count is None):
            raise FtdError(400, "invalid_request", "give either order_id or count.")
        if order_id is not None and not isinstance(order_id, str):
            raise FtdError(400, "invalid_request", "order_id: a string.")
        if count is not None and (
            not isinstance(count, int) or isinstance(count, bool) or count < 1
        ):
            raise FtdError(400, "invalid_request", "count: an integer >= 1.")
        with self.db.atomic() as conn:
            rng = self._rng(conn, "cancel", body.get("seed"))
            result = cancel(conn, order_id=order_id, count=count, rng=rng, now=_now())
        return web.json_response(result)


def create_app(
    db: Store | Sequence[Store],
    board: faults.FaultBoard,
    *,
    on_oversell: Callable[[str], None] | Sequence[Callable[[str], None]],
    max_body_bytes: int = BODY_LIMIT,
) -> web.Application:
    """The FTD twin app; `seed(db, ...)` must have run. `on_oversell(offer_id)` zeroes Komet stock.

    `db` and `on_oversell`: one supplier's, or one per wholesaler (sandbox/tenants.py): a call
    reaches the supplier its bearer token belongs to, at the same URL (another supplier's path
    is then a 403, as for one supplier); control routes take `?wholesaler=K`.

    `max_body_bytes` is the API's request body limit (413 `payload_too_large` above it). The
    fault middleware is outermost, so a 429/5xx/reset happens before auth, like a gateway in
    front of the service; `_json_errors` sits inside it.
    """
    if not isinstance(max_body_bytes, int) or max_body_bytes < 1:
        raise ValueError(f"max_body_bytes must be a positive integer, not {max_body_bytes!r}")
    stores = [db] if isinstance(db, Store) else list(db)
    oversold = [on_oversell] if callable(on_oversell) else list(on_oversell)
    if len(oversold) != len(stores):
        raise ValueError("give one on_oversell per wholesaler store")
    twins = [FtdTwin(d, o, max_body_bytes) for d, o in zip(stores, oversold, strict=True)]
    tokens = tenants.TokenIndex(len(twins), lambda i, text: twins[i].token == text)

    def by_token(request: web.Request) -> FtdTwin:
        """The supplier whose token the call bears (the first, which refuses it, if none)."""
        if len(twins) == 1:
            return twins[0]
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        found = tokens.find(given.strip()) if scheme.lower() == "bearer" else None
        return twins[0] if found is None else twins[found]

    def by_query(request: web.Request) -> FtdTwin:
        try:
            return tenants.pick(twins, request)
        except ValueError as exc:
            raise FtdError(404, "not_found", str(exc)) from None

    Route = Callable[[FtdTwin, web.Request], Awaitable[web.StreamResponse]]

    def to(handler: Route, find: Callable[[web.Request], FtdTwin] = by_token) -> Any:
        async def handle(request: web.Request) -> web.StreamResponse:
            return await handler(find(request), request)

        return handle

    app = web.Application(
        middlewares=[faults.middleware(board, "ftd", rate_limited=_rate_limited), _json_errors],
        # aiohttp's own cap only backs up `read_json_object`, which answers the API's 413; the
        # control routes keep at least the contract's room under a small API limit.
        client_max_size=max(max_body_bytes, BODY_LIMIT),
    )
    base = "/v1/suppliers/{supplier_id}"
    router = app.router
    api = FtdTwin
    router.add_post(f"{base}/inventory/full", to(api.inventory_full), name="inventory.full")
    router.add_post(f"{base}/inventory/delta", to(api.inventory_delta), name="inventory.delta")
    router.add_get(f"{base}/feeds/{{feed_id}}", to(api.feeds_get), name="feeds.get")
    router.add_get(f"{base}/offers", to(api.offers_list), name="offers.list")
    router.add_get(f"{base}/orders", to(api.orders_list), name="orders.list")
    router.add_get(f"{base}/orders/{{order_id}}", to(api.orders_get), name="orders.get")
    router.add_post(
        f"{base}/orders/{{order_id}}/acknowledge",
        to(api.orders_acknowledge),
        name="orders.acknowledge",
    )
    router.add_post(
        f"{base}/orders/{{order_id}}/status", to(api.orders_status), name="orders.status"
    )
    router.add_get("/_sandbox/info", to(api.info, by_query))
    router.add_get("/_sandbox/dump", to(api.dump, by_query))
    router.add_get("/_sandbox/settings", to(api.get_settings, by_query))
    router.add_post("/_sandbox/settings", to(api.post_settings, by_query))
    router.add_post("/_sandbox/shop", to(api.shop, by_query))
    router.add_post("/_sandbox/cancel", to(api.cancel, by_query))
    faults.add_control_routes(app, board, "ftd")
    return app
