"""The ledger tables: entries, tiles, head and checkpoints.

Revision ID: ledger_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "ledger_0001"
down_revision = None
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ledger_entry",
        sa.Column("idx", BIGINT, primary_key=True, autoincrement=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "ledger_tile",
        sa.Column("level", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("idx", BIGINT, primary_key=True, autoincrement=False),
        sa.Column("hashes", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "ledger_head",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("size", BIGINT, nullable=False),
        sa.Column("last_hash", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "ledger_checkpoint",
        sa.Column("size", BIGINT, primary_key=True, autoincrement=False),
        sa.Column("note", sa.String(), nullable=False),
    )


def downgrade() -> None:
    for table in ("ledger_checkpoint", "ledger_head", "ledger_tile", "ledger_entry"):
        op.drop_table(table)
