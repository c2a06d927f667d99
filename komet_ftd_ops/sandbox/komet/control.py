"""The Komet twin's /_sandbox/ routes: what tests and demos steer, never production code.

    GET  /_sandbox/info          ids, tokens, customers, carriers, ship-tos, settings, data problems
    GET  /_sandbox/customers     every customer, all columns (`sandbox export-customers`)
    GET  /_sandbox/dump          web orders, invoices, calls in the quota window, settings
    GET  /_sandbox/settings      every setting and switch with its value
    POST /_sandbox/settings      {"autoconfirm": bool, "json_style": "strings"|"numbers",
                                  "quota": int, "detail_box_limit": int, "multi_location": bool,
                                  "company_tz": "America/New_York", "late_write_delay": 2.0,
                                  and every switch of komet/switches.py by its name, e.g.
                                  "invoice_exists": "checkout", "max_rows": "5000"}
    POST /_sandbox/calls         {"count": N, "age_hours": H}: record N calls made H hours ago,
                                 so each quota window can be tested without waiting
    POST /_sandbox/confirm       {"all": true} | {"invoice_id": ID}: the sales rep confirms;
                                 confirming nothing adds a `note` saying why
    POST /_sandbox/void          {"invoice_id": ID}: the sales rep voids; boxes go back
    POST /_sandbox/stock         {"sell_elsewhere": R} and/or {"set": {"428720": 3}} and/or
                                 {"take": {"428720": 2}}: another channel bought 2 boxes of
                                 line 428720 (at most what it has); answers what each gave
    POST /_sandbox/tokens        {"type": "customer"|"company", "customer_id": ID, "methods": [...]}
    POST /_sandbox/reset-quota   forget today's calls
    POST /_sandbox/tamper        {"kind": K, "count": N, "age_hours": H}: change Komet behind the
                                 kit's back (see komet_tamper.py)
    GET  /_sandbox/tampered      every tamper so far

Every route takes `?wholesaler=K` (default 1): the company it acts on, in a twin serving
several (`sandbox up --wholesalers N`, tenants.py); a K the twin does not serve is a 404.

Errors answer 400/404 with {"error": {"code", "message"}} like the fault routes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

from aiohttp import web

from ...state.sqlite_file import SQLiteFile as Store
from .. import catalogue, tenants
from . import db as komet_db
from . import shiptos as komet_shiptos
from . import tamper as komet_tamper


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


async def _json(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    body = await request.json()
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    return body


def _invoice_id(body: dict[str, Any]) -> int:
    value = body.get("invoice_id")
    if isinstance(value, bool) or not str(value).isdigit():
        raise ValueError("invoice_id must be an invoice id")
    return int(cast("str | int", value))  # a JSON value whose str() is all digits


def info(db: Store) -> dict[str, Any]:
    seeded = komet_db.seed_info(db)
    ftd = int(seeded["ftd_customer_id"])
    return {
        "service": "komet",
        **seeded,
        "items": db.query("SELECT COUNT(*) FROM komet_items")[0][0],
        "customers": [
            dict(r)
            for r in db.query(
                "SELECT id, name, code, active, customer_type AS customerType FROM komet_customers ORDER BY id"
            )
        ],
        "carriers": [
            dict(r) for r in db.query("SELECT id, name, code FROM komet_carriers ORDER BY id")
        ],
        "ftd_carrier_ids": [
            r[0]
            for r in db.query(
                "SELECT carrier_id FROM komet_customer_carriers WHERE customer_id=? ORDER BY carrier_id",
                (ftd,),
            )
        ],
        "ftd_ship_to_ids": [
            r[0]
            for r in db.query(
                "SELECT id FROM komet_shiptos WHERE customer_id=? ORDER BY id", (ftd,)
            )
        ],
        "location_ids": list(catalogue.LOCATION_IDS),
        "problems": komet_db.stored(db, "problems", {}),
        "seconds_to_seed": komet_db.stored(db, "seconds_to_seed"),
        "settings": komet_db.settings(db),
        "calls_today": komet_db.calls_today(db),
    }


def customers(db: Store) -> list[dict[str, Any]]:
    """Every customer with the columns Komet's own customer export shows (customer.list's
    fields, plus price level, credit limit and city), for `sandbox export-customers`."""
    rows = db.query(
        "SELECT id, code, name, customer_type, sales_person, price_level, credit_limit,"
        " accounting_code, city, state, active, updated_on FROM komet_customers ORDER BY id"
    )
    return [dict(r) for r in rows]


def add_routes(
    app: web.Application,
    stores: Sequence[Store],
    customer_methods: tuple[str, ...],
    all_methods: tuple[str, ...],
) -> None:
    """Mount the control routes; `*_methods` bound what a sandbox-made token may be given.

    Every route acts on one company: `?wholesaler=K` (default 1) of `stores` (tenants.py)."""

    Route = Callable[[Store, dict[str, Any]], Any]

    def post(path: str, action: Route) -> None:
        async def handle(request: web.Request) -> web.Response:
            try:
                db = tenants.pick(stores, request)
            except ValueError as exc:
                return _error(404, "not_found", str(exc))
            try:
                body = await _json(request)
                result = action(db, body)
            except ValueError as exc:
                return _error(400, "bad_request", str(exc))
            except LookupError as exc:
                return _error(404, "not_found", str(exc.args[0]))
            return web.json_response(result)

        app.router.add_post(f"/_sandbox/{path}", handle)

    def get(path: str, action: Callable[[Store], Any]) -> None:
        async def handle(request: web.Request) -> web.Response:
            try:
                db = tenants.pick(stores, request)
            except ValueError as exc:
                return _error(404, "not_found", str(exc))
            return web.json_response(action(db))

        app.router.add_get(f"/_sandbox/{path}", handle)

    def confirm(db: Store, body: dict[str, Any]) -> dict[str, Any]:
        invoice = None if body.get("all") is True else _invoice_id(body)
        if invoice is not None and not db.query(
            "SELECT 1 FROM komet_invoices WHERE id=?", (invoice,)
        ):
            raise LookupError(f"no invoice {invoice}")
        confirmed = komet_db.confirm_invoices(db, invoice)
        if confirmed:
            return {"confirmed": confirmed}
        return {"confirmed": [], "note": komet_db.why_nothing_to_confirm(db, invoice)}

    def void(db: Store, body: dict[str, Any]) -> dict[str, Any]:
        invoice = _invoice_id(body)
        if not komet_db.void_invoice(db, invoice):
            raise LookupError(f"no invoice {invoice}")
        return {"voided": invoice}

    def stock(db: Store, body: dict[str, Any]) -> dict[str, Any]:
        if not {"sell_elsewhere", "set", "take"} & body.keys():
            raise ValueError(
                "give sell_elsewhere (a share 0..1), set ({line_id: boxes}) and/or take "
                "({line_id: boxes bought elsewhere})"
            )
        result: dict[str, Any] = {}
        if "take" in body:
            if not isinstance(body["take"], dict):
                raise ValueError("take must map line ids to boxes bought")
            result["taken"] = komet_db.take_boxes(db, body["take"])
        if "set" in body:
            if not isinstance(body["set"], dict):
                raise ValueError("set must map line ids to boxes")
            result["set"] = komet_db.set_boxes(db, body["set"])
        if "sell_elsewhere" in body:
            result.update(komet_db.sell_elsewhere(db, float(body["sell_elsewhere"])))
        return result

    def tokens(db: Store, body: dict[str, Any]) -> dict[str, Any]:
        kind = body.get("type", "customer")
        methods = body.get("methods")
        if kind not in ("customer", "company"):
            raise ValueError("type must be customer or company")
        allowed = customer_methods if kind == "customer" else all_methods
        if methods is not None and (not isinstance(methods, list) or set(methods) - set(allowed)):
            raise ValueError(f"methods must be a list drawn from: {', '.join(allowed)}")
        customer = None
        if kind == "customer":
            customer = int(body.get("customer_id") or komet_db.seed_info(db)["ftd_customer_id"])
            if not db.query("SELECT 1 FROM komet_customers WHERE id=?", (customer,)):
                raise LookupError(f"no customer {customer}")
            methods = list(customer_methods) if methods is None else methods
        return {
            "token": komet_db.add_token(db, kind, customer, methods),
            "type": kind,
            "customer_id": customer,
            "methods": methods,
        }

    def tamper(db: Store, body: dict[str, Any]) -> dict[str, Any]:
        seed = body.get("seed")
        return komet_tamper.tamper(
            db,
            str(body.get("kind")),
            body.get("count", 1),
            age_hours=float(body.get("age_hours", komet_tamper.DEFAULT_AGE_HOURS)),
            seed=int(seed) if seed is not None else None,
        )

    get("info", info)
    get("customers", customers)
    get("tampered", komet_tamper.tampered)
    post("tamper", tamper)
    get("dump", lambda db: {**komet_db.dump(db), "shiptos": komet_shiptos.dump(db)})
    post("settings", komet_db.update_settings)
    get("settings", komet_db.settings)
    post(
        "calls",
        lambda db, body: {
            "calls_in_window": komet_db.backdate_calls(
                db, body.get("count", 1), body.get("age_hours", 0)
            )
        },
    )
    post("confirm", confirm)
    post("void", void)
    post("stock", stock)
    post("tokens", tokens)
    post("reset-quota", lambda db, body: {"reset": komet_db.reset_quota(db)})
