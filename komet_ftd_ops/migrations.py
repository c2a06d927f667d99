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
]
