"""The Komet twin's state in the shared twin SQLite file: schema, seeding, settings, quota, stock.

All state lives in `komet_*` tables so a restarted twin serves exactly what it served before;
nothing is kept only in memory. Stock is kept per Komet inventory *line* (`komet_lines.boxes`,
net of reservations), while `komet_items` are the rows `inventory.list` shows: an item lists one
line or a few (`inventoryLineIds` "428720,428721"), and its quantity is the sum of its lines.
"""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, date, datetime
from typing import Any

from ...state.store import Store
from .. import catalogue

MIGRATIONS: list[tuple[str, str]] = [
    (
        "komet_0001",
        """
        CREATE TABLE komet_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE komet_customers (
            id INTEGER PRIMARY KEY, name TEXT, code TEXT, active INTEGER, customer_type TEXT,
            price_level TEXT, price_factor TEXT, credit_limit INTEGER, sales_person TEXT,
            accounting_code TEXT, city TEXT, state TEXT, updated_on TEXT
        );
        CREATE TABLE komet_ship_tos (
            id INTEGER PRIMARY KEY, customer_id INTEGER, name TEXT, address1 TEXT, city TEXT,
            state TEXT, zip TEXT, country TEXT
        );
        CREATE TABLE komet_carriers (id INTEGER PRIMARY KEY, name TEXT, code TEXT);
        CREATE TABLE komet_customer_carriers (
            customer_id INTEGER, carrier_id INTEGER, PRIMARY KEY (customer_id, carrier_id)
        );
        CREATE TABLE komet_tokens (
            token TEXT PRIMARY KEY, type TEXT NOT NULL, customer_id INTEGER,
            methods TEXT, created_at TEXT NOT NULL   -- methods: JSON list, NULL = every method
        );
        CREATE TABLE komet_lines (line_id INTEGER PRIMARY KEY, boxes INTEGER NOT NULL);
        CREATE TABLE komet_items (
            id INTEGER PRIMARY KEY, first_line_id INTEGER, line_ids TEXT, origin INTEGER,
            company_product_id INTEGER, product_code TEXT, description TEXT, category_id INTEGER,
            category TEXT, variety TEXT, color TEXT, grade TEXT, box_type_id INTEGER,
            box_type_code TEXT, unit_type TEXT, units_per_box INTEGER, bunches INTEGER,
            stems_bunch INTEGER, price TEXT, available_from TEXT, available_to TEXT,
            carrier_id INTEGER, aging INTEGER, mark_code TEXT, location_id INTEGER
        );
        CREATE INDEX komet_items_order ON komet_items (first_line_id, id);
        CREATE TABLE komet_item_lines (item_id INTEGER, line_id INTEGER, PRIMARY KEY (item_id, line_id));
        CREATE INDEX komet_item_lines_line ON komet_item_lines (line_id);
        CREATE TABLE komet_web_orders (
            id INTEGER PRIMARY KEY, number TEXT, customer_id INTEGER, location_id INTEGER,
            status_id INTEGER NOT NULL,          -- 1 pending, 2 checked out, 3 deleted (twin)
            customer_po TEXT NOT NULL DEFAULT '', carrier_id INTEGER, ship_date TEXT,
            ship_to_id INTEGER, invoice_id INTEGER, created_at TEXT, updated_at TEXT
        );
        CREATE TABLE komet_web_order_items (
            id INTEGER PRIMARY KEY, web_order_id INTEGER NOT NULL, item_id INTEGER,
            line_ids TEXT, origin INTEGER, quantity INTEGER, price TEXT, units_per_box INTEGER,
            description TEXT, carrier_id INTEGER, ship_date TEXT, ship_to_id INTEGER,
            mark_code TEXT, alloc TEXT NOT NULL,  -- JSON {line_id: boxes} taken from stock
            deleted INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE komet_invoices (
            id INTEGER PRIMARY KEY, number TEXT, customer_id INTEGER, web_order_id INTEGER,
            customer_po TEXT, status INTEGER, created_on TEXT, ship_date TEXT, total TEXT,
            carrier_name TEXT, updated_on TEXT, invoice_notes TEXT, sales_person_name TEXT,
            is_ecommerce INTEGER
        );
        CREATE INDEX komet_invoices_ship ON komet_invoices (ship_date);
        CREATE TABLE komet_invoice_details (
            id INTEGER PRIMARY KEY, invoice_id INTEGER, product_description TEXT,
            inventory_ids TEXT, boxes INTEGER, units INTEGER, price TEXT, total TEXT
        );
        CREATE INDEX komet_invoice_details_invoice ON komet_invoice_details (invoice_id);
        CREATE TABLE komet_calls (day TEXT, method TEXT, calls INTEGER, PRIMARY KEY (day, method))
        """,
    ),
    (
        # What `/_sandbox/tamper` changed behind the kit's back (see komet_tamper.py): each
        # invoice or web order is tampered with at most once, so every tamper has one effect.
        "komet_0002_tamper",
        """
        CREATE TABLE komet_tampered (
            invoice_id INTEGER PRIMARY KEY, kind TEXT NOT NULL, at TEXT NOT NULL,
            web_order_id INTEGER, customer_po TEXT, detail TEXT NOT NULL
        )
        """,
    ),
]

DEFAULT_SETTINGS: dict[str, Any] = {
    "autoconfirm": False,  # Komet's "Autoconfirm Orders Upon Checkout"
    "json_style": "strings",  # "strings" (current pages) | "numbers" (older pages)
    "quota": 1000,  # requests per UTC day for the company (1,000 per paid user)
    "max_rows": 500,  # inventory.list page size cap
    "detail_box_limit": 10000,  # invoice.details.list boxes per call
}
FIRST_WEB_ORDER_ID = 30200
FIRST_WEB_ORDER_ITEM_ID = 700100


def now_stamp() -> str:
    """Komet's `updatedOn` shape, UTC."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def today() -> date:
    return datetime.now(UTC).date()


def stored(db: Store, key: str, default: Any = None) -> Any:
    """A value kept in komet_settings (settings, seed info, counters), JSON-decoded."""
    rows = db.query("SELECT value FROM komet_settings WHERE key=?", (key,))
    return json.loads(rows[0][0]) if rows else default


def _put(conn: Any, key: str, value: Any) -> None:
    conn.execute(
        "INSERT INTO komet_settings VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
        (key, json.dumps(value)),
    )


def settings(db: Store) -> dict[str, Any]:
    """The twin's switches (see DEFAULT_SETTINGS), as stored; read on every call, so one query."""
    marks = _marks(len(DEFAULT_SETTINGS))
    rows = db.query(
        f"SELECT key, value FROM komet_settings WHERE key IN ({marks})", tuple(DEFAULT_SETTINGS)
    )
    return {**DEFAULT_SETTINGS, **{r["key"]: json.loads(r["value"]) for r in rows}}


def _valid_setting(key: str, value: Any) -> bool:
    if key == "autoconfirm":
        return isinstance(value, bool)
    if key == "json_style":
        return value in ("strings", "numbers")
    return key in DEFAULT_SETTINGS and type(value) is int and value >= 0


def update_settings(db: Store, changes: dict[str, Any]) -> dict[str, Any]:
    """Validate and store; raises ValueError naming the bad key so the control route can say so."""
    for key, value in changes.items():
        if not _valid_setting(key, value):
            raise ValueError(f"bad setting {key}={value!r}; known: {', '.join(DEFAULT_SETTINGS)}")
    with db.atomic() as conn:
        for key, value in changes.items():
            _put(conn, key, value)
    return settings(db)


def seed(db: Store, *, lines: int, seed: int) -> dict[str, Any]:
    """Seed on first start only; later starts return what was stored (state survives restarts)."""
    previous = stored(db, "seed_info")
    if previous is not None:
        return previous
    started = time.perf_counter()
    cat = catalogue.generate(seed, lines, today())
    info = {
        "company_id": cat.company_id,
        "ftd_customer_id": str(cat.ftd_customer_id),
        "tokens": dict(cat.tokens),
        "lines": len(cat.lines),
    }
    stamp = now_stamp()
    with db.atomic() as conn:
        conn.executemany(f"INSERT INTO komet_customers VALUES ({_marks(13)})", cat.customers)
        conn.executemany(f"INSERT INTO komet_ship_tos VALUES ({_marks(8)})", cat.ship_tos)
        conn.executemany("INSERT INTO komet_carriers VALUES (?, ?, ?)", cat.carriers)
        conn.executemany("INSERT INTO komet_customer_carriers VALUES (?, ?)", cat.customer_carriers)
        conn.executemany("INSERT INTO komet_lines VALUES (?, ?)", cat.lines)
        if cat.items:
            columns = list(cat.items[0])
            conn.executemany(
                f"INSERT INTO komet_items ({', '.join(columns)}) "
                f"VALUES ({', '.join(':' + c for c in columns)})",
                cat.items,
            )
        conn.executemany("INSERT INTO komet_item_lines VALUES (?, ?)", cat.item_lines)
        conn.executemany(f"INSERT INTO komet_invoices VALUES ({_marks(14)})", cat.invoices)
        conn.executemany(
            f"INSERT INTO komet_invoice_details VALUES ({_marks(8)})", cat.invoice_details
        )
        conn.execute(
            "INSERT INTO komet_tokens VALUES (?, 'customer', ?, NULL, ?)",
            (cat.tokens["customer"], cat.ftd_customer_id, stamp),
        )
        conn.execute(
            "INSERT INTO komet_tokens VALUES (?, 'company', NULL, NULL, ?)",
            (cat.tokens["company"], stamp),
        )
        _put(conn, "seed", seed)
        _put(conn, "problems", cat.problems)
        _put(conn, "seconds_to_seed", round(time.perf_counter() - started, 3))
        _put(conn, "seed_info", info)
    return info


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def seed_info(db: Store) -> dict[str, Any]:
    return stored(db, "seed_info", {})


# --- tokens and quota ------------------------------------------------------------------------


def find_token(db: Store, token: str) -> dict[str, Any] | None:
    rows = db.query("SELECT type, customer_id, methods FROM komet_tokens WHERE token=?", (token,))
    if not rows:
        return None
    row = rows[0]
    methods = json.loads(row["methods"]) if row["methods"] else None
    return {"type": row["type"], "customer_id": row["customer_id"], "methods": methods}


def add_token(db: Store, kind: str, customer_id: int | None, methods: list[str] | None) -> str:
    """A new token, deterministic from the seed and how many tokens exist already."""
    with db.atomic() as conn:
        count = conn.execute("SELECT COUNT(*) FROM komet_tokens").fetchone()[0]
        token = catalogue.make_token(stored(db, "seed", 0), count)
        conn.execute(
            "INSERT INTO komet_tokens VALUES (?, ?, ?, ?, ?)",
            (
                token,
                kind,
                customer_id,
                json.dumps(methods) if methods is not None else None,
                now_stamp(),
            ),
        )
    return token


def spend_call(db: Store, method: str) -> bool:
    """Count one request against today's quota (UTC day); False when the quota is spent."""
    day = today().isoformat()
    quota = settings(db)["quota"]
    with db.atomic() as conn:
        used = conn.execute("SELECT COALESCE(SUM(calls), 0) FROM komet_calls WHERE day=?", (day,))
        if used.fetchone()[0] >= quota:
            return False
        conn.execute(
            "INSERT INTO komet_calls VALUES (?, ?, 1) ON CONFLICT(day, method) "
            "DO UPDATE SET calls = calls + 1",
            (day, method),
        )
    return True


def calls_today(db: Store) -> int:
    rows = db.query(
        "SELECT COALESCE(SUM(calls), 0) FROM komet_calls WHERE day=?", (today().isoformat(),)
    )
    return int(rows[0][0])


def reset_quota(db: Store) -> int:
    """Forget today's calls; returns how many there were."""
    spent = calls_today(db)
    with db.atomic() as conn:
        conn.execute("DELETE FROM komet_calls WHERE day=?", (today().isoformat(),))
    return spent


# --- stock moved by other channels -----------------------------------------------------------


def take_offer_stock(db: Store, offer_id: str) -> None:
    """FTD oversold an offer ("om:428720" or "om:428720-428721"): another channel sold its lines.

    Parts that are not line ids are ignored: FTD's twin calls this for any offer it sold, and an
    offer the Komet twin never listed has no stock to take.
    """
    prefix, _, rest = offer_id.partition(":")
    if prefix != "om":
        return
    ids = [(int(part),) for part in rest.split("-") if part.isdigit()]
    with db.atomic() as conn:
        conn.executemany("UPDATE komet_lines SET boxes = 0 WHERE line_id = ? AND boxes > 0", ids)


def sell_elsewhere(db: Store, share: float) -> dict[str, int]:
    """Other channels take `share` of every open-market line's boxes (stochastic rounding).

    The random stream is keyed by the seed and a stored counter, so a replayed run takes the
    same boxes even across restarts.
    """
    if not 0 <= share <= 1:
        raise ValueError("sell_elsewhere must be between 0 and 1")
    rounds = stored(db, "stock_rounds", 0)
    rng = random.Random(f"komet-stock:{stored(db, 'seed', 0)}:{rounds}")
    rows = db.query(
        "SELECT DISTINCT l.line_id, l.boxes FROM komet_lines l "
        "JOIN komet_item_lines il ON il.line_id = l.line_id "
        "JOIN komet_items i ON i.id = il.item_id WHERE i.origin = 1 AND l.boxes > 0 "
        "ORDER BY l.line_id"
    )
    changes = []
    for row in rows:
        take = min(row["boxes"], int(row["boxes"] * share + rng.random()))
        if take:
            changes.append((take, row["line_id"]))
    with db.atomic() as conn:
        conn.executemany("UPDATE komet_lines SET boxes = boxes - ? WHERE line_id = ?", changes)
        _put(conn, "stock_rounds", rounds + 1)
    return {"lines_changed": len(changes), "boxes_taken": sum(t for t, _ in changes)}


def set_boxes(db: Store, boxes: dict[str, int]) -> dict[str, int]:
    """Set lines' on-hand boxes outright (a receiving clerk or a stock count); unknown ids ignored."""
    pairs = [(int(n), int(line_id)) for line_id, n in boxes.items()]
    with db.atomic() as conn:
        changed = sum(
            conn.execute("UPDATE komet_lines SET boxes=? WHERE line_id=?", pair).rowcount
            for pair in pairs
        )
    return {"lines_changed": changed}


# --- the sales rep's side --------------------------------------------------------------------


def confirm_invoices(db: Store, invoice_id: int | None) -> list[int]:
    """Pending (0) invoices become confirmed (1): one, or all when `invoice_id` is None.

    "All" skips the invoices a never-confirm tamper marked: that sales rep never gets to them.
    """
    where, params = (
        (
            "status = 0 AND id NOT IN "
            "(SELECT invoice_id FROM komet_tampered WHERE kind = 'never-confirm')",
            (),
        )
        if invoice_id is None
        else ("status = 0 AND id = ?", (invoice_id,))
    )
    with db.atomic() as conn:
        ids = [r[0] for r in conn.execute(f"SELECT id FROM komet_invoices WHERE {where}", params)]
        conn.executemany(
            "UPDATE komet_invoices SET status = 1, updated_on = ? WHERE id = ?",
            [(now_stamp(), i) for i in ids],
        )
    return ids


INVOICE_STATUS_NAMES = {0: "pending", 1: "confirmed", 2: "draft", 4: "voided"}


def why_nothing_to_confirm(db: Store, invoice_id: int | None) -> str:
    """One line for the sales rep who confirmed nothing: why there was nothing to confirm.

    The FTD customer's invoices exist only once the kit's sync has checked web orders out
    (`web-order.checkout`), so straight after `sandbox shop` there is none: the usual case, and
    named first. (The seeded past invoices of other customers are never pending.)
    """
    if invoice_id is not None:
        row = db.query("SELECT status FROM komet_invoices WHERE id=?", (invoice_id,))
        status = INVOICE_STATUS_NAMES.get(row[0][0], str(row[0][0])) if row else "gone"
        return f"invoice {invoice_id} is {status}, not pending: nothing to confirm"
    customer = int(seed_info(db)["ftd_customer_id"])
    rows = db.query(
        "SELECT status, COUNT(*) FROM komet_invoices WHERE customer_id=? GROUP BY status",
        (customer,),
    )
    counts = {INVOICE_STATUS_NAMES.get(r[0], str(r[0])): r[1] for r in rows}
    if not counts:
        return (
            "no unconfirmed invoice yet: invoices appear once the kit's sync has checked "
            "the FTD orders out in Komet (run `komet-ftd-ops run sync --profile sandbox`)"
        )
    held = counts.pop("pending", 0)  # confirm --all skipped them: never-confirm tampers
    parts = [f"{n} {name}" for name, n in sorted(counts.items())]
    if held:
        parts.append(f"{held} pending but marked never-confirm (confirm one with --invoice ID)")
    if settings(db)["autoconfirm"]:
        parts.append("autoconfirm is on, so new invoices are born confirmed")
    return f"no unconfirmed invoice: the FTD customer's invoices are {', '.join(parts)}"


def void_invoice(db: Store, invoice_id: int) -> bool:
    """Void (status 4) and put the boxes of its web order back on the shelf."""
    with db.atomic() as conn:
        row = conn.execute(
            "SELECT status, web_order_id FROM komet_invoices WHERE id=?", (invoice_id,)
        ).fetchone()
        if row is None:
            return False
        if row["status"] != 4 and row["web_order_id"] is not None:
            items = conn.execute(
                "SELECT alloc FROM komet_web_order_items WHERE web_order_id=? AND deleted=0",
                (row["web_order_id"],),
            ).fetchall()
            for item in items:
                release(conn, item["alloc"])
        conn.execute(
            "UPDATE komet_invoices SET status = 4, updated_on = ? WHERE id = ?",
            (now_stamp(), invoice_id),
        )
    return True


def release(conn: Any, alloc: str) -> None:
    """Give back the boxes a web-order item took (alloc is its JSON {line_id: boxes})."""
    conn.executemany(
        "UPDATE komet_lines SET boxes = boxes + ? WHERE line_id = ?",
        [(n, int(line_id)) for line_id, n in json.loads(alloc).items()],
    )


def dump(db: Store) -> dict[str, Any]:
    """The Komet part of the twin's state, for tests and checks (plain JSON types)."""
    orders = []
    for wo in db.query("SELECT * FROM komet_web_orders ORDER BY id"):
        items = db.query(
            "SELECT id, line_ids, quantity, price, carrier_id, ship_date FROM komet_web_order_items "
            "WHERE web_order_id=? AND deleted=0 ORDER BY id",
            (wo["id"],),
        )
        orders.append(
            {
                "id": wo["id"],
                "status": wo["status_id"],
                "customerId": wo["customer_id"],
                "customerPo": wo["customer_po"],
                "invoiceId": wo["invoice_id"],
                "items": [
                    {
                        "id": i["id"],
                        "inventoryIds": i["line_ids"],
                        "quantity": i["quantity"],
                        "price": i["price"],
                        "carrierId": i["carrier_id"],
                        "date": i["ship_date"],
                    }
                    for i in items
                ],
            }
        )
    invoices = [
        {
            "id": r["id"],
            "number": r["number"],
            "status": r["status"],
            "customerPo": r["customer_po"],
            "webOrderId": r["web_order_id"],
            "customerId": r["customer_id"],
            "total": r["total"],
            "shipDate": r["ship_date"],
        }
        for r in db.query("SELECT * FROM komet_invoices ORDER BY id")
    ]
    return {
        "web_orders": orders,
        "invoices": invoices,
        "calls_today": calls_today(db),
        "settings": settings(db),
    }
