"""The Komet Sales twin: an aiohttp app serving /api/<method> as docs/komet-api.md says.

Strict on purpose, because a client that passes against a lenient twin breaks on the real
service: the token counts only where Komet reads it (headers `authenticationToken` + `X-ACCOUNT`
for `ecommerce/*` and `web-order*`; the `authenticationToken` query parameter for classic GET, a
body field for classic POST), the verb must match, the body stays under 64 KB, and every valid-token
request spends the company's daily quota. Order of checks for one call:

    unknown method       → 404 {"status":"0","message":"Method not found."}
    a write whose client left, under late_writes=never → not applied (no one hears the answer)
    body over 64 KB      → 413 "Request too large."
    GET of a classic POST → 401 "Invalid authentication token." (its token belongs in the body)
    wrong HTTP verb      → 405 "<verb> is required for <method>." (+ Allow header)
    POST body not JSON   → 400 "Request body is not valid JSON."
    token missing/wrong  → 401 "Invalid authentication token."
    quota spent          → 200 "API request limit exceeded."  (refused calls are not counted)
    token's method list  → 200 "Method not allowed for this token." (also a Customer token on
                           customer.shipto.list / web-order.checkout when that switch says no)
    the method itself    → 200 status 1, or status 0 with "<param> is required./invalid." etc.

Every refusal is worded by the `messages` switch (wire.py `worded`), the one place it applies.

server.py imports: MIGRATIONS, seed, create_app, take_offer_stock, dump.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Sequence
from typing import Any

from aiohttp import web

from ...state.sqlite_file import SQLiteFile as Store
from .. import faults, tenants
from . import control as komet_control
from . import db as komet_db
from . import invoices as komet_invoices
from . import methods as komet_methods
from . import orders as komet_orders
from . import shiptos as komet_shiptos
from .db import MIGRATIONS as DB_MIGRATIONS
from .db import dump, take_offer_stock
from .wire import Call, Refusal, refusal_response, respond

__all__ = ["MIGRATIONS", "create_app", "dump", "seed", "take_offer_stock"]

# The ship-tos and carrier days keep their own schema (shiptos.py), run with the twin's.
MIGRATIONS = DB_MIGRATIONS + komet_shiptos.MIGRATIONS


def seed(
    db: Store, *, lines: int, seed: int, taken_company_ids: Collection[str] = ()
) -> dict[str, Any]:
    """Seed the twin (first start only), then its ship-tos and carrier days (once too)."""
    info = komet_db.seed(db, lines=lines, seed=seed, taken_company_ids=taken_company_ids)
    komet_shiptos.seed(db)
    return info


MAX_BODY = 65_536
SALES_CHANNELS = ("WEB_APP", "MOBILE_APP", "K2K", "ECOMMERCE_LITE")

Handler = Callable[[Call], dict[str, Any]]
METHODS: dict[str, tuple[str, Handler]] = {
    "ecommerce/inventory.list": ("GET", komet_methods.inventory_list),
    "ecommerce/inventory.get": ("GET", komet_methods.inventory_get),
    "ecommerce/inventory-available-dates.list": ("GET", komet_methods.available_dates),
    "ecommerce/customer-carriers.list": ("GET", komet_methods.customer_carriers),
    "customer.details.get": ("GET", komet_methods.customer_details),
    "customer.list": ("GET", komet_methods.customer_list),
    "customer.shipto.list": ("GET", komet_methods.ship_to_list),
    "customer.shipto.add": ("POST", komet_methods.ship_to_add),
    "carrier.list": ("GET", komet_methods.carrier_list),
    "web-order.create": ("POST", komet_orders.web_order_create),
    "web-order-item.add": ("POST", komet_orders.web_order_item_add),
    "web-order-item.delete": ("POST", komet_orders.web_order_item_delete),
    "web-order.checkout": ("POST", komet_orders.web_order_checkout),
    "web-order.delete": ("POST", komet_orders.web_order_delete),
    "web-order-details.list": ("GET", komet_orders.web_order_details),
    "invoice.list": ("GET", komet_invoices.invoice_list),
    "invoice.details.list": ("GET", komet_invoices.invoice_details_list),
    "invoice.pdf.get": ("POST", komet_invoices.invoice_pdf),  # [doc] POST, token in the body
    "prebook.list": ("GET", komet_methods.prebook_list),
}
# What a Customer token may be given (spec section 2); customer.list and carrier.list are not.
CUSTOMER_METHODS = (
    "ecommerce/inventory.list",
    "ecommerce/inventory.get",
    "ecommerce/inventory-available-dates.list",
    "ecommerce/customer-carriers.list",
    "customer.details.get",
    "customer.shipto.list",
    "web-order.create",
    "web-order-item.add",
    "web-order-item.delete",
    "web-order.checkout",
    "web-order.delete",
    "web-order-details.list",
    "invoice.list",
    "invoice.details.list",
    "invoice.pdf.get",
    "prebook.list",
)


# Methods a Customer token may call only when a switch says so (komet/switches.py), even if
# ticked: Komet's pages disagree on both.
CUSTOMER_SWITCHED = {
    "customer.shipto.list": "customer_shipto_list",
    "web-order.checkout": "customer_checkout",
}


def writes() -> frozenset[str]:
    """The methods that change Komet (create, add, checkout, delete): the late_writes switch."""
    return frozenset(n for n, (verb, _) in METHODS.items() if verb == "POST") - {"invoice.pdf.get"}


def header_family(method: str) -> bool:
    """E-commerce and web-order methods take the token in headers; classic ones as a parameter."""
    return method.startswith("ecommerce/") or method.startswith("web-order")


def method_allowed(
    token: dict[str, Any], method: str, settings: dict[str, Any] | None = None
) -> bool:
    """A Customer token never reaches beyond the spec's list, whatever its own list says, nor
    beyond what the customer_shipto_list / customer_checkout switches allow."""
    if token["type"] == "customer":
        if method not in CUSTOMER_METHODS:
            return False
        switch = CUSTOMER_SWITCHED.get(method)
        if switch and settings is not None and settings[switch] == "no":
            return False
    return token["methods"] is None or method in token["methods"]


async def _body(request: web.Request) -> bytes:
    """The body, refused past 64 KB whether or not Content-Length says so (chunked uploads).

    `request.read()` (capped by the app's `client_max_size`) keeps the body on the request, so
    a write the fault middleware lets land later can still be read once the client is gone."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise Refusal("Request too large.", http=413)
    try:
        data = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise Refusal("Request too large.", http=413) from None
    if len(data) > MAX_BODY:
        raise Refusal("Request too large.", http=413)
    return data


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def _params(request: web.Request, verb: str, body: bytes) -> dict[str, Any]:
    if verb == "GET":
        return {key: request.query.get(key) for key in request.query}
    try:
        params = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError):
        params = None
    if not isinstance(params, dict):
        raise Refusal("Request body is not valid JSON.", http=400)
    return params


def _token_text(request: web.Request, method: str, params: dict[str, Any] | None) -> str:
    """The token where Komet reads it for this method (None: the body is not read yet)."""
    if header_family(method):
        return request.headers.get("authenticationToken", "")
    source = request.query if request.method == "GET" else (params or {})
    value = source.get("authenticationToken")
    return value if isinstance(value, str) else ""


def _token(
    request: web.Request, method: str, params: dict[str, Any], company_id: str, account: str
) -> str:
    """The token where Komet reads it for this method; anywhere else it does not count. A
    header token needs `X-ACCOUNT` [doc]; with another company's (an [assumed] case: switch
    `account_header`) it counts only under `ignored`, where the token alone decides."""
    token = _token_text(request, method, params)
    if header_family(method):
        sent = request.headers.get("X-ACCOUNT")
        if not sent or (sent != company_id and account == "checked"):
            return ""
    return token


def _authorise(
    db: Store,
    request: web.Request,
    method: str,
    params: dict[str, Any],
    company_id: str,
    settings: dict[str, Any],
) -> dict[str, Any]:
    """The caller's token record, after the quota and its method list let this call through.
    `settings`: the company's, read once for the whole call (each read is a query)."""
    text = _token(request, method, params, company_id, settings["account_header"])
    token = komet_db.find_token(db, text) if text else None
    if token is None:
        raise Refusal("Invalid authentication token.", http=401)
    if not komet_db.spend_call(db, method, settings):
        raise Refusal("API request limit exceeded.")
    if not method_allowed(token, method, settings):
        raise Refusal("Method not allowed for this token.")
    channel = request.headers.get("X-SALES-CHANNEL")
    if header_family(method) and channel is not None and channel not in SALES_CHANNELS:
        raise Refusal("X-SALES-CHANNEL is invalid.")
    return token


def create_app(db: Store | Sequence[Store], board: faults.FaultBoard) -> web.Application:
    """The Komet twin, faults injected in front of every /api/ call.

    `db`: one company's store, or one per wholesaler (sandbox/tenants.py): a call reaches the
    company its token belongs to, at the same URL."""

    stores = [db] if isinstance(db, Store) else list(db)
    tokens = tenants.TokenIndex(
        len(stores), lambda i, text: komet_db.find_token(stores[i], text) is not None
    )
    write_methods = writes()

    def company(request: web.Request, params: dict[str, Any] | None = None) -> Store:
        """The store of the company the call's token belongs to (wholesaler 1's when none does,
        which refuses the token). Before the body is read a classic POST's token is unknown."""
        if len(stores) == 1:
            return stores[0]
        name = request.match_info.get("method", "")
        found = tokens.find(_token_text(request, name, params))
        return stores[0] if found is None else stores[found]

    def rate_limited(request: web.Request) -> web.Response:
        settings = komet_db.settings(company(request))
        refusal = Refusal("API request limit exceeded.")
        return refusal_response(refusal, settings["json_style"], settings["messages"])

    def late_write(request: web.Request) -> float | None:
        """late_writes=later: how long until a write the client gave up on lands anyway."""
        settings = komet_db.settings(company(request))
        if settings["late_writes"] != "later":
            return None
        if request.match_info.get("method") not in write_methods:
            return None
        return float(settings["late_write_delay"])

    async def api(request: web.Request) -> web.Response:
        name = request.match_info["method"]
        db = company(request)
        settings = komet_db.settings(db)
        style, messages = settings["json_style"], settings["messages"]
        if name not in METHODS:
            return refusal_response(Refusal("Method not found.", http=404), style, messages)
        verb, handler = METHODS[name]
        if name in write_methods and settings["late_writes"] == "never" and _client_gone(request):
            # late_writes=never: a write whose client gave up before it ran is not applied
            return web.Response(status=499, text="client gone")
        try:
            body = await _body(request)
            if request.method != verb and verb == "POST" and not header_family(name):
                # a classic POST takes the token in the body: a GET's query token is no token
                raise Refusal("Invalid authentication token.", http=401)
            if request.method != verb:
                refusal = Refusal(f"{verb} is required for {name}.", http=405)
                response = refusal_response(refusal, style, messages)
                response.headers["Allow"] = verb
                return response
            params = _params(request, verb, body)
            if len(stores) > 1 and verb == "POST" and not header_family(name):
                db = company(request, params)  # a classic POST's token is in its body
                settings = komet_db.settings(db)
                style, messages = settings["json_style"], settings["messages"]
            company_id = komet_db.seed_info(db)["company_id"]
            token = _authorise(db, request, name, params, company_id, settings)
            call = Call(db, name, params, token, company_id, settings)
            result = handler(call)
        except Refusal as refusal:
            return refusal_response(refusal, style, messages)
        return respond({"status": 1, "message": "Success", **result}, style)

    app = web.Application(
        middlewares=[
            faults.middleware(board, "komet", rate_limited=rate_limited, late_write=late_write)
        ],
        client_max_size=MAX_BODY,  # request.read() refuses more (see _body)
    )
    app.router.add_route("*", "/api/{method:.+}", api)
    faults.add_control_routes(app, board, "komet")
    komet_control.add_routes(app, stores, CUSTOMER_METHODS, tuple(METHODS))
    return app
