"""Named, ordered schema migrations for the state database. Append only; never edit one that shipped."""

from __future__ import annotations

MIGRATIONS: list[tuple[str, str]] = [
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
]
