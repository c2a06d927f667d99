"""Baseline: the schema of the kit's named migrations 0001..0010, written portably.

Revision ID: 0001_baseline
Revises: (none)

Table, column, index and key names are exactly those of the SQLite schema before Alembic, so a
home made then is stamped at this revision as it is (`state.schema`). Types chosen for both
backends: TEXT for strings and ISO timestamps, BIGINT where a count or a sequence may pass
2^31 (PostgreSQL's INTEGER is 32 bit), double precision for REAL. The integer ids are SQLite
rowid aliases and PostgreSQL BIGSERIALs.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None

T, INT, B = sa.Text, sa.Integer, sa.BigInteger
ROWID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ZERO, EMPTY = sa.text("0"), sa.text("''")


def col(name: str, kind: type | sa.types.TypeEngine, null: bool = False, **kw: object) -> sa.Column:
    return sa.Column(name, kind, nullable=null, **kw)  # type: ignore[arg-type]


def upgrade() -> None:
    op.create_table(
        "api_calls",
        col("day", T),  # UTC date: Komet's quota day
        col("service", T),  # 'komet' or 'ftd'
        col("method", T),
        col("calls", B, server_default=ZERO),
        sa.PrimaryKeyConstraint("day", "service", "method"),
    )
    op.create_table(
        "kv",
        col("scope", T),  # usually the profile name
        col("key", T),
        col("value", T),  # JSON
        col("updated_at", T),
        sa.PrimaryKeyConstraint("scope", "key"),
    )
    op.create_table(
        "published_offers",
        col("profile", T),
        col("offer_id", T),
        col("fingerprint", T),  # hash of the offer's content, updated_at excluded
        col("quantity", INT),
        col("price", T),
        sa.PrimaryKeyConstraint("profile", "offer_id"),
    )
    op.create_table(
        "feeds",
        col("feed_id", T, primary_key=True),
        col("profile", T),
        col("kind", T),  # full | delta
        col("sequence", B),
        col("base_sequence", B, True),
        col("offers", INT),
        col("withdrawals", INT),
        col("bytes_sent", B),
        col("status", T),  # sending | accepted | done | failed | conflict
        col("reason", T, True),
        col("created_at", T),
        col("run_id", T, True),
    )
    op.create_table(
        "feed_rejections",
        col("feed_id", T),
        col("offer_id", T),
        col("code", T),
        col("message", T),
        sa.PrimaryKeyConstraint("feed_id", "offer_id"),
    )
    op.create_table(
        "runs",
        col("id", T, primary_key=True),  # <YYYYmmddTHHMMSSZ>-<kind>-<6 hex>, sortable by start
        col("profile", T),
        col("kind", T),  # the notebook: sync, reconcile, ...
        col("scheduled_at", T, True),  # the scheduler's tick (UTC ISO), NULL when by hand
        col("started_at", T),
        col("finished_at", T, True),
        col("duration_s", sa.Float(53), True),
        col("status", T),  # running | ok | failed | timed_out | skipped
        col("failure_class", T, True),  # upstream | needs_person | bad_data | deadline
        col("reason", T, True),  # one line, never a secret
        col("counters", T, server_default=sa.text("'{}'")),  # JSON, written by the notebook
        col("notebook", T, True),  # executed .ipynb (NULL once pruned or skipped)
        col("html", T, True),
        col("kit_version", T),
        col("reviewed", T, True),  # a person's note (`runs review`)
        col("pruned_at", T, True),
        col("reviewed_at", T, True),
    )
    op.create_index("runs_by_profile_start", "runs", ["profile", "started_at"])
    op.create_index("runs_by_start", "runs", ["started_at"])
    op.create_table(
        "orders",
        col("profile", T),
        col("order_id", T),  # FTD order_id
        col("order_number", T),  # goes to Komet as customerPo
        col("ship_date", T),  # FTD requested_ship_date (YYYY-MM-DD)
        col("body", T),  # the FTD order as first received (JSON)
        col("intake_version", INT),  # the version acted on (the ack key derives from it)
        col("ftd_version", INT),  # highest version seen in listings
        col("ftd_status", T),
        col("state", T),  # see komet_ftd_ops/orders/ledger.py
        col("web_order_id", T, True),  # Komet webOrderId, recorded the moment it is known
        col("pending_before", T, True),  # JSON: pending web-order ids seen before create
        col("invoice_id", T, True),
        col("invoice_number", T, True),
        col("ack_key", T, True),  # Idempotency-Key of the acknowledgement
        col("ack_body", T, True),  # the acknowledgement, recorded before it is sent
        col("cancel_version", INT, True),  # FTD version that asked to cancel
        col("park_reason", T, True),  # NULL unless parked
        col("park_detail", T, True),
        col("park_retry", INT, server_default=ZERO),  # 1: later cycles retry on their own
        col("parked_at", T, True),
        col("attempts", INT, server_default=ZERO),  # writes sent to Komet or FTD for it
        col("sent_at", T, True),  # when the write in flight (create, checkout) went out
        col("received_at", T),
        col("updated_at", T),
        col("web_order_number", T, True),
        col("invoice_found_by", T, True),
        col("fee", T, True),
        sa.PrimaryKeyConstraint("profile", "order_id"),
    )
    op.create_index("orders_by_state", "orders", ["profile", "state"])
    op.create_index("orders_web_order", "orders", ["profile", "web_order_id"], unique=True)
    op.create_table(
        "order_lines",
        col("profile", T),
        col("order_id", T),
        col("line_id", T),
        col("offer_id", T),
        col("boxes", INT),  # boxes the florist bought
        col("price", T),  # price per unit the florist paid (decimal string)
        col("state", T),  # pending | adding | added | rejected
        col("qty_sent", INT, True),  # boxes in the add in flight (or added)
        col("web_order_item_id", T, True),
        col("reason_code", T, True),  # why not all boxes were accepted
        col("attempts", INT, server_default=ZERO),
        col("sent_at", T, True),  # when the add in flight went out
        sa.PrimaryKeyConstraint("profile", "order_id", "line_id"),
        sa.ForeignKeyConstraint(["profile", "order_id"], ["orders.profile", "orders.order_id"]),
    )
    op.create_table(
        "order_events",
        col("id", ROWID, primary_key=True, autoincrement=True),
        col("profile", T),
        col("order_id", T),
        col("at", T),
        col("run_id", T, True),
        col("event", T),  # the state entered, or what happened
        col("detail", T, True),
    )
    op.create_index("order_events_by_order", "order_events", ["profile", "order_id", "id"])
    op.create_table(
        "offer_history",  # every offer ever published, kept after it is withdrawn
        col("profile", T),
        col("offer_id", T),
        col("price", T),
        col("last_published_at", T),
        col("available_from", T, server_default=EMPTY),
        col("available_to", T, server_default=EMPTY),
        sa.PrimaryKeyConstraint("profile", "offer_id"),
    )
    op.create_table(
        "orphan_headers",  # a lost web-order.create's possible bare header, for the sales rep
        col("id", ROWID, primary_key=True, autoincrement=True),
        col("profile", T),
        col("order_id", T),  # the FTD order whose create answer was lost
        col("sent_at", T),  # when that create went out
        col("recorded_at", T),
        col("run_id", T, True),
        col("web_order_id", T, True),  # NULL: Komet never told us its id
        col("deleted_at", T, True),  # set once deleted in Komet
    )
    op.create_index("orphan_headers_by_profile", "orphan_headers", ["profile", "deleted_at"])
    op.create_table(
        "ship_tos",  # the kit's copy of the FTD customer's Komet ship-tos
        col("profile", T),
        col("id", T),  # Komet shipToId
        col("code", T),  # shipToCode ('' when Komet has none)
        col("name", T),
        col("address", T),
        col("city", T),
        col("state", T),
        col("zipcode", T),
        col("read_at", T),
        sa.PrimaryKeyConstraint("profile", "id"),
    )
    op.create_table(
        "ship_to_adds",  # a customer.shipto.add, recorded BEFORE it is sent
        col("profile", T),
        col("code", T),  # the shipToCode sent: FTD's member code
        col("florist", T),
        col("sent_at", T),
        col("ship_to_id", T, True),  # NULL until Komet's answer (or a read-back) gives it
        col("run_id", T, True),
        sa.PrimaryKeyConstraint("profile", "code"),
    )
    op.create_table(
        "carrier_choices",  # Komet's suggested carrier per ship date and offer window
        col("profile", T),
        col("ship_date", T),
        col("available_from", T),
        col("available_to", T),
        col("carrier_id", T),
        col("carrier_name", T),
        col("source", T),  # komet (its suggestion) | profile
        col("read_at", T),
        sa.PrimaryKeyConstraint("profile", "ship_date", "available_from", "available_to"),
    )
    op.create_table(
        "order_shipping",  # each order's ship-to, ship date and carrier, decided once
        col("profile", T),
        col("order_id", T),
        col("florist", T),  # FTD buyer name and member code, for people
        col("member_code", T),
        col("ship_to_id", T, True),  # NULL: Komet's default for the customer
        col("ship_to_how", T),  # code | address | created | default
        col("requested_ship_date", T),
        col("ship_date", T),  # what goes to Komet (later when moved)
        col("carrier_id", T),
        col("carrier_name", T),
        col("note", T, True),
        col("decided_at", T),
        sa.PrimaryKeyConstraint("profile", "order_id"),
    )


def downgrade() -> None:
    raise NotImplementedError("the baseline is not downgraded: restore a backup instead")
