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
from collections.abc import Collection
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ...komet.switches import SWITCHES
from ...state.sqlite_file import SQLiteFile as Store
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
    (
        # The switches (komet/switches.py): lines reserved for a customer, invoices that hold
        # several web orders (merge) and charge lines (the fee), and a call log with times so
        # every quota window can be served (a UTC-day counter cannot serve a rolling 24 h).
        "komet_0003_switches",
        """
        ALTER TABLE komet_items ADD COLUMN reserved_for INTEGER;
        ALTER TABLE komet_invoice_details ADD COLUMN web_order_id INTEGER;
        ALTER TABLE komet_invoice_details ADD COLUMN kind TEXT NOT NULL DEFAULT 'product';
        CREATE TABLE komet_invoice_orders (
            invoice_id INTEGER NOT NULL, web_order_id INTEGER NOT NULL,
            PRIMARY KEY (invoice_id, web_order_id)
        );
        CREATE INDEX komet_invoice_orders_web_order ON komet_invoice_orders (web_order_id);
        INSERT INTO komet_invoice_orders
            SELECT id, web_order_id FROM komet_invoices WHERE web_order_id IS NOT NULL;
        UPDATE komet_invoice_details SET web_order_id =
            (SELECT web_order_id FROM komet_invoices i WHERE i.id = invoice_id);
        CREATE TABLE komet_call_log (id INTEGER PRIMARY KEY, at REAL NOT NULL, method TEXT NOT NULL);
        CREATE INDEX komet_call_log_at ON komet_call_log (at)
        """,
    ),
    (
        # A counter every write to the listed stock bumps (triggers, so no writer can forget):
        # inventory.list keeps the sorted listing while the counter stands (methods.py).
        "komet_0004_stock_version",
        """
        CREATE TABLE komet_stock_version (v INTEGER NOT NULL);
        INSERT INTO komet_stock_version VALUES (0);
        CREATE TRIGGER komet_stock_lines_i AFTER INSERT ON komet_lines
            BEGIN UPDATE komet_stock_version SET v = v + 1; END;
        CREATE TRIGGER komet_stock_lines_u AFTER UPDATE ON komet_lines
            BEGIN UPDATE komet_stock_version SET v = v + 1; END;
        CREATE TRIGGER komet_stock_lines_d AFTER DELETE ON komet_lines
            BEGIN UPDATE komet_stock_version SET v = v + 1; END;
        CREATE TRIGGER komet_stock_items_i AFTER INSERT ON komet_items
            BEGIN UPDATE komet_stock_version SET v = v + 1; END;
        CREATE TRIGGER komet_stock_items_u AFTER UPDATE ON komet_items
            BEGIN UPDATE komet_stock_version SET v = v + 1; END;
        CREATE TRIGGER komet_stock_items_d AFTER DELETE ON komet_items
            BEGIN UPDATE komet_stock_version SET v = v + 1; END;
        CREATE TRIGGER komet_stock_item_lines_i AFTER INSERT ON komet_item_lines
            BEGIN UPDATE komet_stock_version SET v = v + 1; END;
        CREATE TRIGGER komet_stock_item_lines_u AFTER UPDATE ON komet_item_lines
            BEGIN UPDATE komet_stock_version SET v = v + 1; END;
        CREATE TRIGGER komet_stock_item_lines_d AFTER DELETE ON komet_item_lines
            BEGIN UPDATE komet_stock_version SET v = v + 1; END;
        """,
    ),
]

DEFAULT_SETTINGS: dict[str, Any] = {
    "autoconfirm": False,  # Komet's "Autoconfirm Orders Upon Checkout"
    "json_style": "strings",  # "strings" (current pages) | "numbers" (older pages)
    "quota": 1000,  # requests per quota window for the company (1,000 per paid user a day)
    "detail_box_limit": 10000,  # invoice.details.list boxes per call
    "multi_location": False,  # a multi-location company: companyLocationId becomes required
    "company_tz": "America/New_York",  # the company's time zone (quota_window company_tz)
    "late_write_delay": 2.0,  # seconds after which a write the client gave up on lands
    # the unknowns, named once in komet/switches.py; each defaults to its hardest reading
    **{name: switch.default for name, switch in SWITCHES.items()},
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


def put(conn: Any, key: str, value: Any) -> None:
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
    values = {**DEFAULT_SETTINGS, **{r["key"]: json.loads(r["value"]) for r in rows}}
    values["max_rows"] = str(values["max_rows"])  # stored as an int before it was a switch
    return values


def switch(db: Store, name: str) -> str:
    """One switch's current value (a name of komet/switches.py), for handlers that need one."""
    if name not in SWITCHES:
        raise KeyError(f"no switch {name!r}; known: {', '.join(SWITCHES)}")
    return str(settings(db)[name])


def _normalised(key: str, value: Any) -> Any:
    """The value to store, or ValueError saying what the key accepts."""
    if key in SWITCHES:
        if key == "max_rows" and type(value) is int:  # the old integer setting, still accepted
            value = str(value)
        if not isinstance(value, str):
            raise ValueError(f"{key} must be one of {', '.join(SWITCHES[key].values)}")
        return SWITCHES[key].check(value)
    if key in ("autoconfirm", "multi_location"):
        if not isinstance(value, bool):
            raise ValueError(f"{key} must be true or false")
        return value
    if key == "json_style":
        if value not in ("strings", "numbers"):
            raise ValueError("json_style must be strings or numbers")
        return value
    if key == "company_tz":
        try:
            ZoneInfo(str(value))
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"company_tz {value!r} is not a time zone name") from None
        return str(value)
    if key == "late_write_delay":
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError("late_write_delay must be a number of seconds >= 0")
        return float(value)
    if key in ("quota", "detail_box_limit"):
        if type(value) is not int or value < 0:
            raise ValueError(f"{key} must be a whole number >= 0")
        return value
    raise ValueError(f"unknown setting {key!r}; known: {', '.join(DEFAULT_SETTINGS)}")


def update_settings(db: Store, changes: dict[str, Any]) -> dict[str, Any]:
    """Validate and store; raises ValueError naming the bad key so the control route can say so."""
    try:
        clean = {key: _normalised(key, value) for key, value in changes.items()}
    except ValueError as exc:
        raise ValueError(f"bad setting: {exc}") from None
    with db.atomic() as conn:
        for key, value in clean.items():
            put(conn, key, value)
    return settings(db)


def seed(
    db: Store, *, lines: int, seed: int, taken_company_ids: Collection[str] = ()
) -> dict[str, Any]:
    """Seed on first start only; later starts return what was stored (state survives restarts).

    `taken_company_ids`: the other wholesalers' companies in the same twin; a seed that draws
    one of them moves to the next free id, as every company's Company ID is its own."""
    previous = stored(db, "seed_info")
    if previous is not None:
        return previous
    started = time.perf_counter()
    cat = catalogue.generate(seed, lines, today())
    while cat.company_id in taken_company_ids:
        cat.company_id = str(1000 + (int(cat.company_id) - 999) % 9000)
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
            "INSERT INTO komet_invoice_details (id, invoice_id, product_description, "
            f"inventory_ids, boxes, units, price, total) VALUES ({_marks(8)})",
            cat.invoice_details,
        )
        conn.execute(
            "INSERT INTO komet_tokens VALUES (?, 'customer', ?, NULL, ?)",
            (cat.tokens["customer"], cat.ftd_customer_id, stamp),
        )
        conn.execute(
            "INSERT INTO komet_tokens VALUES (?, 'company', NULL, NULL, ?)",
            (cat.tokens["company"], stamp),
        )
        put(conn, "seed", seed)
        put(conn, "problems", cat.problems)
        put(conn, "seconds_to_seed", round(time.perf_counter() - started, 3))
        put(conn, "seed_info", info)
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


def window_start(
    db: Store, now: float | None = None, values: dict[str, Any] | None = None
) -> float:
    """When the current quota window began (epoch seconds), as the quota_window switch says.
    `values`: the settings the caller read already for this request (else read here)."""
    now = time.time() if now is None else now
    values = settings(db) if values is None else values
    window = values["quota_window"]
    if window == "rolling_24h":
        return now - 86_400
    zone = UTC if window == "utc_day" else ZoneInfo(values["company_tz"])
    local = datetime.fromtimestamp(now, zone)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def spend_call(db: Store, method: str, values: dict[str, Any] | None = None) -> bool:
    """Count one request against the current quota window; False when the quota is spent.
    `values`: the settings the caller read already for this request (else read here)."""
    now = time.time()
    values = settings(db) if values is None else values
    start, quota = window_start(db, now, values), values["quota"]
    with db.atomic() as conn:
        used = conn.execute("SELECT COUNT(*) FROM komet_call_log WHERE at >= ?", (start,))
        if used.fetchone()[0] >= quota:
            return False
        conn.execute("INSERT INTO komet_call_log (at, method) VALUES (?, ?)", (now, method))
        # no window reaches back two days: keep the log small
        conn.execute("DELETE FROM komet_call_log WHERE at < ?", (now - 3 * 86_400,))
    return True


def calls_today(db: Store) -> int:
    """Calls counted in the current quota window (the name predates the window switch)."""
    rows = db.query("SELECT COUNT(*) FROM komet_call_log WHERE at >= ?", (window_start(db),))
    return int(rows[0][0])


def reset_quota(db: Store) -> int:
    """Forget the calls of the current window; returns how many there were."""
    start = window_start(db)
    with db.atomic() as conn:
        return conn.execute("DELETE FROM komet_call_log WHERE at >= ?", (start,)).rowcount


def backdate_calls(db: Store, count: int, age_hours: float, method: str = "backdated") -> int:
    """Record `count` calls made `age_hours` ago, so a test can place calls on either side of a
    window's edge without waiting a day; returns the calls in the current window."""
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 100_000:
        raise ValueError("count must be a whole number 0..100000")
    if isinstance(age_hours, bool) or not isinstance(age_hours, int | float):
        raise ValueError("age_hours must be a number")
    if not 0 <= age_hours <= 48:
        raise ValueError("age_hours must be between 0 and 48")
    at = time.time() - float(age_hours) * 3600
    with db.atomic() as conn:
        conn.executemany(
            "INSERT INTO komet_call_log (at, method) VALUES (?, ?)", [(at, method)] * count
        )
    return calls_today(db)


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
        put(conn, "stock_rounds", rounds + 1)
    return {"lines_changed": len(changes), "boxes_taken": sum(t for t, _ in changes)}


def take_boxes(db: Store, boxes: dict[str, int]) -> dict[str, int]:
    """Another channel bought `boxes[line_id]` boxes of each line: a line gives what it has
    (never below zero, so a buyer asking for more than is left takes the rest); unknown ids
    take nothing. Returns the boxes each line actually gave."""
    wanted = [(int(line_id), int(n)) for line_id, n in boxes.items()]
    if any(n < 0 for _, n in wanted):
        raise ValueError("take counts boxes bought: none may be negative")
    taken: dict[str, int] = {}
    with db.atomic() as conn:
        for line_id, n in wanted:
            row = conn.execute("SELECT boxes FROM komet_lines WHERE line_id=?", (line_id,))
            have = row.fetchone()
            give = min(n, max(0, have["boxes"])) if have is not None else 0
            if give:
                conn.execute(
                    "UPDATE komet_lines SET boxes = boxes - ? WHERE line_id = ?", (give, line_id)
                )
                taken[str(line_id)] = give
    return taken


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
        # A web order the Customer token could not check out (customer_checkout=no) is
        # processed once the rep confirms its invoice: it is no longer pending.
        conn.executemany(
            "UPDATE komet_web_orders SET status_id = 2, updated_at = ? WHERE status_id = 1 AND "
            "id IN (SELECT web_order_id FROM komet_invoice_orders WHERE invoice_id = ?)",
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
    """Void (status 4) and put the boxes of its web orders (several, when merged) back."""
    with db.atomic() as conn:
        row = conn.execute("SELECT status FROM komet_invoices WHERE id=?", (invoice_id,)).fetchone()
        if row is None:
            return False
        if row["status"] != 4:
            release_invoice(conn, invoice_id)
        conn.execute(
            "UPDATE komet_invoices SET status = 4, updated_on = ? WHERE id = ?",
            (now_stamp(), invoice_id),
        )
    return True


def release_invoice(conn: Any, invoice_id: int) -> None:
    """Give back the boxes of every live item of the web orders the invoice holds."""
    items = conn.execute(
        "SELECT alloc FROM komet_web_order_items WHERE deleted = 0 AND web_order_id IN "
        "(SELECT web_order_id FROM komet_invoice_orders WHERE invoice_id = ?)",
        (invoice_id,),
    ).fetchall()
    for item in items:
        release(conn, item["alloc"])


def release(conn: Any, alloc: str) -> None:
    """Give back the boxes a web-order item took (alloc is its JSON {line_id: boxes})."""
    conn.executemany(
        "UPDATE komet_lines SET boxes = boxes + ? WHERE line_id = ?",
        [(n, int(line_id)) for line_id, n in json.loads(alloc).items()],
    )


def dump(db: Store) -> dict[str, Any]:
    """The Komet part of the twin's state, for tests and checks (plain JSON types).

    Documented field by field in docs/komet-api.md ("The twin's state dump")."""
    orders = []
    for wo in db.query("SELECT * FROM komet_web_orders ORDER BY id"):
        items = db.query(
            "SELECT id, line_ids, quantity, price, carrier_id, ship_date, ship_to_id "
            "FROM komet_web_order_items WHERE web_order_id=? AND deleted=0 ORDER BY id",
            (wo["id"],),
        )
        orders.append(
            {
                "id": wo["id"],
                "number": wo["number"],
                "status": wo["status_id"],
                "customerId": wo["customer_id"],
                "customerPo": wo["customer_po"],
                "shipToId": wo["ship_to_id"],
                "carrierId": wo["carrier_id"],
                "date": wo["ship_date"],
                "invoiceId": wo["invoice_id"],
                "items": [
                    {
                        "id": i["id"],
                        "inventoryIds": i["line_ids"],
                        "quantity": i["quantity"],
                        "price": i["price"],
                        "carrierId": i["carrier_id"],
                        "date": i["ship_date"],
                        "shipToId": i["ship_to_id"],
                    }
                    for i in items
                ],
            }
        )
    invoices = []
    for r in db.query("SELECT * FROM komet_invoices ORDER BY id"):
        held = db.query(
            "SELECT web_order_id FROM komet_invoice_orders WHERE invoice_id=? ORDER BY web_order_id",
            (r["id"],),
        )
        lines = db.query(
            "SELECT * FROM komet_invoice_details WHERE invoice_id=? ORDER BY id", (r["id"],)
        )
        invoices.append(
            {
                "id": r["id"],
                "number": r["number"],
                "status": r["status"],
                "customerPo": r["customer_po"],
                "webOrderId": r["web_order_id"],
                "webOrderIds": [h[0] for h in held],
                "customerId": r["customer_id"],
                "total": r["total"],
                "shipDate": r["ship_date"],
                "lines": [
                    {
                        "detailId": d["id"],
                        "kind": d["kind"],
                        "webOrderId": d["web_order_id"],
                        "inventoryIds": d["inventory_ids"],
                        "boxes": d["boxes"],
                        "units": d["units"],
                        "price": d["price"],
                        "total": d["total"],
                    }
                    for d in lines
                ],
            }
        )
    return {
        "web_orders": orders,
        "invoices": invoices,
        "calls_today": calls_today(db),
        "settings": settings(db),
    }
