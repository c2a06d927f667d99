"""The state database's schema before Alembic: named SQLite migrations 0001..0010, FROZEN.

The schema now evolves in Alembic revisions (`state/alembic/versions/`; the baseline is these
ten, written portably). This list stays only to bring a SQLite home made by an older kit up to
0010 before it is stamped at the baseline (`state.schema`), and for tests that build such a
home. Never edit it, never append to it.
"""

from __future__ import annotations

import sqlite3


def legacy_statements(script: str) -> list[str]:
    """Split a migration into statements; a ';' inside a comment or a string is not an end."""
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer)
            buffer = ""
    if buffer.strip() and not all(
        part.strip().startswith("--") or not part.strip() for part in buffer.splitlines()
    ):
        statements.append(buffer)  # a last statement without ';'
    return statements


LEGACY_MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_quota_and_kv",
        """
        CREATE TABLE api_calls (
            day TEXT NOT NULL,              -- UTC date: Komet's quota day
            service TEXT NOT NULL,          -- 'komet' or 'ftd'
            method TEXT NOT NULL,
            calls INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (day, service, method)
        );
        CREATE TABLE kv (
            scope TEXT NOT NULL,            -- usually the profile name
            key TEXT NOT NULL,
            value TEXT NOT NULL,            -- JSON
            updated_at TEXT NOT NULL,
            PRIMARY KEY (scope, key)
        );
        """,
    ),
    (
        "0002_feeds",
        """
        CREATE TABLE published_offers (
            profile TEXT NOT NULL,
            offer_id TEXT NOT NULL,
            fingerprint TEXT NOT NULL,      -- hash of the offer's content, updated_at excluded
            quantity INTEGER NOT NULL,
            price TEXT NOT NULL,
            PRIMARY KEY (profile, offer_id)
        );
        CREATE TABLE feeds (
            feed_id TEXT PRIMARY KEY,
            profile TEXT NOT NULL,
            kind TEXT NOT NULL,             -- full | delta
            sequence INTEGER NOT NULL,
            base_sequence INTEGER,
            offers INTEGER NOT NULL,
            withdrawals INTEGER NOT NULL,
            bytes_sent INTEGER NOT NULL,
            status TEXT NOT NULL,           -- sending | accepted | done | failed | conflict
            reason TEXT,
            created_at TEXT NOT NULL,
            run_id TEXT
        );
        CREATE TABLE feed_rejections (
            feed_id TEXT NOT NULL,
            offer_id TEXT NOT NULL,
            code TEXT NOT NULL,
            message TEXT NOT NULL,
            PRIMARY KEY (feed_id, offer_id)
        );
        """,
    ),
    (
        "0003_runs",
        """
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,            -- <YYYYmmddTHHMMSSZ>-<kind>-<6 hex>, sortable by start
            profile TEXT NOT NULL,
            kind TEXT NOT NULL,             -- the notebook: sync, reconcile, ...
            scheduled_at TEXT,              -- the scheduler's tick (UTC ISO), NULL when started by hand
            started_at TEXT NOT NULL,       -- actual start (UTC ISO)
            finished_at TEXT,
            duration_s REAL,
            status TEXT NOT NULL,           -- running | ok | failed | timed_out | skipped
            failure_class TEXT,             -- upstream | needs_person | bad_data | deadline
            reason TEXT,                    -- one line, never a secret
            counters TEXT NOT NULL DEFAULT '{}',  -- JSON, written by the notebook
            notebook TEXT,                  -- executed .ipynb (NULL once pruned or skipped)
            html TEXT,                      -- its HTML copy (NULL once pruned or skipped)
            kit_version TEXT NOT NULL,
            reviewed TEXT,                  -- a person's note (`runs review`, later)
            pruned_at TEXT                  -- when `runs prune` deleted its files
        );
        CREATE INDEX runs_by_profile_start ON runs (profile, started_at);
        CREATE INDEX runs_by_start ON runs (started_at)
        """,
    ),
    (
        "0004_orders",
        """
        CREATE TABLE orders (
            profile TEXT NOT NULL,
            order_id TEXT NOT NULL,         -- FTD order_id
            order_number TEXT NOT NULL,     -- goes to Komet as customerPo
            ship_date TEXT NOT NULL,        -- FTD requested_ship_date (YYYY-MM-DD)
            body TEXT NOT NULL,             -- the FTD order as first received (JSON)
            intake_version INTEGER NOT NULL,  -- the version acted on (the ack key derives from it)
            ftd_version INTEGER NOT NULL,   -- highest version seen in listings
            ftd_status TEXT NOT NULL,       -- FTD status in that version
            state TEXT NOT NULL,            -- see komet_ftd_ops/orders/ledger.py
            web_order_id TEXT,              -- Komet webOrderId, recorded the moment it is known
            pending_before TEXT,            -- JSON: pending web-order ids seen before create
            invoice_id TEXT,
            invoice_number TEXT,
            ack_key TEXT,                   -- Idempotency-Key of the acknowledgement
            ack_body TEXT,                  -- the acknowledgement, recorded before it is sent
            cancel_version INTEGER,         -- FTD version that asked to cancel
            park_reason TEXT,               -- NULL unless parked
            park_detail TEXT,
            park_retry INTEGER NOT NULL DEFAULT 0,  -- 1: later cycles retry on their own
            parked_at TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,    -- writes sent to Komet or FTD for it
            sent_at TEXT,                   -- when the write in flight (create, checkout) went out
            received_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (profile, order_id)
        );
        CREATE INDEX orders_by_state ON orders (profile, state);
        CREATE UNIQUE INDEX orders_web_order ON orders (profile, web_order_id);
        CREATE TABLE order_lines (
            profile TEXT NOT NULL,
            order_id TEXT NOT NULL,
            line_id TEXT NOT NULL,
            offer_id TEXT NOT NULL,
            boxes INTEGER NOT NULL,         -- boxes the florist bought
            price TEXT NOT NULL,            -- price per unit the florist paid (decimal string)
            state TEXT NOT NULL,            -- pending | adding | added | rejected
            qty_sent INTEGER,               -- boxes in the add in flight (or added)
            web_order_item_id TEXT,
            reason_code TEXT,               -- why not all boxes were accepted
            attempts INTEGER NOT NULL DEFAULT 0,
            sent_at TEXT,                   -- when the add in flight went out
            PRIMARY KEY (profile, order_id, line_id),
            FOREIGN KEY (profile, order_id) REFERENCES orders (profile, order_id)
        );
        CREATE TABLE order_events (
            id INTEGER PRIMARY KEY,
            profile TEXT NOT NULL,
            order_id TEXT NOT NULL,
            at TEXT NOT NULL,
            run_id TEXT,
            event TEXT NOT NULL,            -- the state entered, or what happened
            detail TEXT
        );
        CREATE INDEX order_events_by_order ON order_events (profile, order_id, id)
        """,
    ),
    (
        "0005_run_reviews",
        # `runs.reviewed` (from 0003) holds the reviewer's note; this adds when it was written.
        """
        ALTER TABLE runs ADD COLUMN reviewed_at TEXT
        """,
    ),
    (
        "0006_offer_history",
        # Every offer we ever published, with its last price, kept after it is withdrawn: an
        # order for an offer withdrawn between a florist's checkout and our intake is still ours.
        """
        CREATE TABLE offer_history (
            profile TEXT NOT NULL,
            offer_id TEXT NOT NULL,
            price TEXT NOT NULL,
            last_published_at TEXT NOT NULL,
            PRIMARY KEY (profile, offer_id)
        );
        INSERT INTO offer_history SELECT profile, offer_id, price, '' FROM published_offers
        """,
    ),
    (
        "0007_orphan_headers",
        # A web-order.create whose answer was lost may have left a bare header in Komet (no
        # boxes, so harmless to stock). The kit creates again and lists each such candidate
        # here for the sales rep; `web_order_id` is filled if the header's id is ever learnt.
        """
        CREATE TABLE orphan_headers (
            id INTEGER PRIMARY KEY,
            profile TEXT NOT NULL,
            order_id TEXT NOT NULL,         -- the FTD order whose create answer was lost
            sent_at TEXT NOT NULL,          -- when that create went out
            recorded_at TEXT NOT NULL,
            run_id TEXT,
            web_order_id TEXT,              -- NULL: Komet never told us its id
            deleted_at TEXT                 -- set once deleted in Komet
        );
        CREATE INDEX orphan_headers_by_profile ON orphan_headers (profile, deleted_at)
        """,
    ),
    (
        "0008_order_invoice_links",
        # Komet documents neither `customerPo` nor `webOrderId` on invoice.list items, so the
        # kit finds an order's invoice by the web order's `number` (its Order #, read back once
        # with web-order-details.list) or by its lines; it records which way it was found, and
        # the transaction fee Komet showed on the web order (`additionalCharges`).
        """
        ALTER TABLE orders ADD COLUMN web_order_number TEXT;
        ALTER TABLE orders ADD COLUMN invoice_found_by TEXT;
        ALTER TABLE orders ADD COLUMN fee TEXT
        """,
    ),
    (
        "0009_shipping",
        # Issue 11: each order ships to its own florist, with the carrier of its ship date.
        # `ship_tos` is the kit's copy of the FTD customer's Komet ship-tos, kept fresh with
        # `updatedAsOf`; `ship_to_adds` records a customer.shipto.add BEFORE it is sent, so a
        # lost answer is read back by code and never creates a second one; `carrier_choices`
        # caches Komet's suggested carrier per ship date and offer window; `order_shipping`
        # is each order's decision (ship-to, ship date, carrier), made once, before Komet.
        """
        CREATE TABLE ship_tos (
            profile TEXT NOT NULL,
            id TEXT NOT NULL,               -- Komet shipToId
            code TEXT NOT NULL,             -- shipToCode ('' when Komet has none)
            name TEXT NOT NULL,
            address TEXT NOT NULL,
            city TEXT NOT NULL,
            state TEXT NOT NULL,
            zipcode TEXT NOT NULL,
            read_at TEXT NOT NULL,
            PRIMARY KEY (profile, id)
        );
        CREATE TABLE ship_to_adds (
            profile TEXT NOT NULL,
            code TEXT NOT NULL,             -- the shipToCode sent: FTD's member code
            florist TEXT NOT NULL,
            sent_at TEXT NOT NULL,          -- recorded before the call goes out
            ship_to_id TEXT,                -- NULL until Komet's answer (or a read-back) gives it
            run_id TEXT,
            PRIMARY KEY (profile, code)
        );
        CREATE TABLE carrier_choices (
            profile TEXT NOT NULL,
            ship_date TEXT NOT NULL,
            available_from TEXT NOT NULL,
            available_to TEXT NOT NULL,
            carrier_id TEXT NOT NULL,
            carrier_name TEXT NOT NULL,
            source TEXT NOT NULL,           -- komet (its suggestion) | profile
            read_at TEXT NOT NULL,
            PRIMARY KEY (profile, ship_date, available_from, available_to)
        );
        CREATE TABLE order_shipping (
            profile TEXT NOT NULL,
            order_id TEXT NOT NULL,
            florist TEXT NOT NULL,          -- FTD buyer name and member code, for people
            member_code TEXT NOT NULL,
            ship_to_id TEXT,                -- NULL: Komet's default for the customer
            ship_to_how TEXT NOT NULL,      -- code | address | created | default
            requested_ship_date TEXT NOT NULL,
            ship_date TEXT NOT NULL,        -- what goes to Komet (later when moved)
            carrier_id TEXT NOT NULL,
            carrier_name TEXT NOT NULL,
            note TEXT,
            decided_at TEXT NOT NULL,
            PRIMARY KEY (profile, order_id)
        )
        """,
    ),
    (
        "0010_offer_windows",
        # The window (availableFrom..availableTo) each offer was published with: an order's
        # ship date is checked against what the florist bought, without a Komet call per order.
        """
        ALTER TABLE offer_history ADD COLUMN available_from TEXT NOT NULL DEFAULT '';
        ALTER TABLE offer_history ADD COLUMN available_to TEXT NOT NULL DEFAULT ''
        """,
    ),
]
