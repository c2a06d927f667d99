"""The FTD twin's tables, in the shared twin SQLite file (names prefixed `ftd_`).

Append only: a twin file from an earlier run must still open. Statements are split on ';' by
`Store.migrate`, so none may contain one.
"""

from __future__ import annotations

MIGRATIONS: list[tuple[str, str]] = [
    (
        "ftd_0001_twin",
        """
        CREATE TABLE ftd_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE ftd_offers (
            offer_id TEXT PRIMARY KEY,
            body TEXT NOT NULL,              -- the offer as accepted (JSON)
            quantity INTEGER NOT NULL,       -- boxes listed now: the feed's, less florists' buys
            listed_at TEXT NOT NULL,
            feed_id TEXT NOT NULL
        );
        CREATE TABLE ftd_feeds (
            feed_id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,              -- full | delta
            sequence INTEGER NOT NULL,
            base_sequence INTEGER,
            parts INTEGER NOT NULL,
            envelope TEXT NOT NULL,          -- what every part (or a retry) must repeat
            state TEXT NOT NULL,             -- receiving | applied | failed
            accepted INTEGER NOT NULL DEFAULT 0,
            rejected TEXT NOT NULL DEFAULT '[]',
            error TEXT,
            received_at TEXT NOT NULL,
            ready_at_ms INTEGER              -- epoch ms from which the feed reports done
        );
        CREATE TABLE ftd_feed_parts (
            feed_id TEXT NOT NULL,
            part INTEGER NOT NULL,
            digest TEXT NOT NULL,
            offers TEXT NOT NULL,
            PRIMARY KEY (feed_id, part)
        );
        CREATE TABLE ftd_idempotency (
            key TEXT PRIMARY KEY,
            fingerprint TEXT NOT NULL,       -- method, path and canonical body
            status INTEGER NOT NULL,
            body TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE TABLE ftd_orders (
            order_id TEXT PRIMARY KEY,
            order_number TEXT NOT NULL UNIQUE,
            status TEXT NOT NULL,
            prev_status TEXT,                -- where a CANCEL_REQUESTED order came from
            version INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL UNIQUE, -- unique by construction: the listing tie-break
            body TEXT NOT NULL,
            acknowledgement TEXT,
            status_updates TEXT NOT NULL DEFAULT '[]'
        );
        CREATE INDEX ftd_orders_listing ON ftd_orders (updated_at, order_id);
        CREATE TABLE ftd_order_versions (
            order_id TEXT NOT NULL,
            version INTEGER NOT NULL,
            snapshot TEXT NOT NULL,
            PRIMARY KEY (order_id, version)
        )
        """,
    )
]
