"""The merged stock view: one row per inventory slice read, and per-line refreshes.

Revision ID: 0002_stock
Revises: 0001_baseline

`stock_slices` holds, per profile and slice (`*` for a full read, `color=Red` for one filter),
the typed frame of that read as one Arrow IPC blob: a cycle rewrites one row per slice it read,
never 100,000 rows. `stock_lines` holds what is fresher than a slice for a few lines: a quantity
from `inventory.get` or from Komet's `availableBoxes`, and when FTD last sold the offer (the
lines refreshed at once for a while after a sale). Written only by `state.stock`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_stock"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None

T, INT, B = sa.Text, sa.Integer, sa.BigInteger


def col(name: str, kind: type | sa.types.TypeEngine, null: bool = False, **kw: object) -> sa.Column:
    return sa.Column(name, kind, nullable=null, **kw)  # type: ignore[arg-type]


def upgrade() -> None:
    op.create_table(
        "stock_slices",
        col("profile", T),
        col("slice_key", T),  # '*' (everything) or 'color=Red'
        col("filters", T),  # JSON: the inventory.list filters of the read
        col("seq", B),  # order of the reads within the profile: a later read wins
        col("refreshed_at", T),  # when the slice was read (UTC ISO)
        col("lines", INT),
        col("counts", T),  # JSON: lines per colour in this read (the slices are planned on it)
        col("frame", sa.LargeBinary()),  # Arrow IPC stream of the read's typed frame
        sa.PrimaryKeyConstraint("profile", "slice_key"),
    )
    op.create_table(
        "stock_lines",
        col("profile", T),
        col("offer_id", T),
        col("quantity", B, True),  # boxes Komet gave for the offer; NULL: none yet
        col("refreshed_at", T, True),  # when that quantity was read
        col("source", T, True),  # inventory.get | available_boxes
        col("sold_at", T, True),  # when FTD last sold the offer
        sa.PrimaryKeyConstraint("profile", "offer_id"),
    )


def downgrade() -> None:
    op.drop_table("stock_lines")
    op.drop_table("stock_slices")
