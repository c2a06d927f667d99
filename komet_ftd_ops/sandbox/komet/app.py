"""The Komet Sales twin: an aiohttp app serving /api/<method> as docs/komet-api.md says.

Strict on purpose, because a client that passes against a lenient twin breaks on the real
service: the token counts only where Komet reads it (headers `authenticationToken` + `X-ACCOUNT`
for `ecommerce/*` and `web-order*`; the `authenticationToken` query parameter for classic GET, a
body field for classic POST), the verb must match, the body stays under 64 KB, and every valid-token
request spends the company's daily quota. Order of checks for one call:

    unknown method       → 404 {"status":"0","message":"Method not found."}
    body over 64 KB      → 413 "Request too large."
    wrong HTTP verb      → 405 "<verb> is required for <method>." (+ Allow header)
    POST body not JSON   → 400 "Request body is not valid JSON."
    token missing/wrong  → 401 "Invalid authentication token."
    quota spent          → 200 "API request limit exceeded."  (refused calls are not counted)
    token's method list  → 200 "Method not allowed for this token."
    the method itself    → 200 status 1, or status 0 with "<param> is required./invalid." etc.

server.py imports: MIGRATIONS, seed, create_app, take_offer_stock, dump.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ...state.store import Store
from .. import faults
from . import control as komet_control
from . import db as komet_db
from . import invoices as komet_invoices
from . import methods as komet_methods
from . import orders as komet_orders
from .db import MIGRATIONS, dump, seed, take_offer_stock
from .wire import Call, Refusal, refusal_response, respond

__all__ = ["MIGRATIONS", "create_app", "dump", "seed", "take_offer_stock"]

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
    "carrier.list": ("GET", komet_methods.carrier_list),
    "web-order.create": ("POST", komet_orders.web_order_create),
    "web-order-item.add": ("POST", komet_orders.web_order_item_add),
    "web-order-item.delete": ("POST", komet_orders.web_order_item_delete),
    "web-order.checkout": ("POST", komet_orders.web_order_checkout),
    "web-order.delete": ("POST", komet_orders.web_order_delete),
    "web-order-details.list": ("GET", komet_orders.web_order_details),
    "invoice.list": ("GET", komet_invoices.invoice_list),
    "invoice.details.list": ("GET", komet_invoices.invoice_details_list),
    "invoice.pdf.get": ("GET", komet_invoices.invoice_pdf),
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


def header_family(method: str) -> bool:
    """E-commerce and web-order methods take the token in headers; classic ones as a parameter."""
    return method.startswith("ecommerce/") or method.startswith("web-order")


def method_allowed(token: dict[str, Any], method: str) -> bool:
    """A Customer token never reaches beyond the spec's list, whatever its own list says."""
    if token["type"] == "customer" and method not in CUSTOMER_METHODS:
        return False
    return token["methods"] is None or method in token["methods"]


async def _body(request: web.Request) -> bytes:
    """The body, refused past 64 KB whether or not Content-Length says so (chunked uploads)."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise Refusal("Request too large.", http=413)
    data = bytearray()
    while chunk := await request.content.read(MAX_BODY):
        data += chunk
        if len(data) > MAX_BODY:
            raise Refusal("Request too large.", http=413)
    return bytes(data)


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


def _token(request: web.Request, method: str, params: dict[str, Any], company_id: str) -> str:
    """The token where Komet reads it for this method; anywhere else it does not count."""
    if header_family(method):
        token = request.headers.get("authenticationToken", "")
        return token if request.headers.get("X-ACCOUNT") == company_id else ""
    source = request.query if request.method == "GET" else params
    value = source.get("authenticationToken")
    return value if isinstance(value, str) else ""


def _authorise(
    db: Store, request: web.Request, method: str, params: dict[str, Any], company_id: str
) -> dict[str, Any]:
    """The caller's token record, after the quota and its method list let this call through."""
    text = _token(request, method, params, company_id)
    token = komet_db.find_token(db, text) if text else None
    if token is None:
        raise Refusal("Invalid authentication token.", http=401)
    if not komet_db.spend_call(db, method):
        raise Refusal("API request limit exceeded.")
    if not method_allowed(token, method):
        raise Refusal("Method not allowed for this token.")
    channel = request.headers.get("X-SALES-CHANNEL")
    if header_family(method) and channel is not None and channel not in SALES_CHANNELS:
        raise Refusal("X-SALES-CHANNEL is invalid.")
    return token


def create_app(db: Store, board: faults.FaultBoard) -> web.Application:
    """The Komet twin, faults injected in front of every /api/ call."""

    def rate_limited() -> web.Response:
        style = komet_db.settings(db)["json_style"]
        return refusal_response(Refusal("API request limit exceeded."), style)

    async def api(request: web.Request) -> web.Response:
        name = request.match_info["method"]
        settings = komet_db.settings(db)
        style = settings["json_style"]
        if name not in METHODS:
            return respond({"status": 0, "message": "Method not found."}, style, 404)
        verb, handler = METHODS[name]
        try:
            body = await _body(request)
            if request.method != verb:
                response = respond(
                    {"status": 0, "message": f"{verb} is required for {name}."}, style, 405
                )
                response.headers["Allow"] = verb
                return response
            params = _params(request, verb, body)
            company_id = komet_db.seed_info(db)["company_id"]
            token = _authorise(db, request, name, params, company_id)
            call = Call(db, name, params, token, company_id, settings)
            result = handler(call)
        except Refusal as refusal:
            return refusal_response(refusal, style)
        return respond({"status": 1, "message": "Success", **result}, style)

    app = web.Application(
        middlewares=[faults.middleware(board, "komet", rate_limited=rate_limited)]
    )
    app.router.add_route("*", "/api/{method:.+}", api)
    faults.add_control_routes(app, board, "komet")
    komet_control.add_routes(app, db, CUSTOMER_METHODS, tuple(METHODS))
    return app
