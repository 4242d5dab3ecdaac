"""The node as a witness of other regions' logs (C2SP tlog-witness): its witness key, the
logs it witnesses with the checkpoint it holds of each, and the forks it refused.

Revision ID: eseal_0004
Revises: eseal_0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "eseal_0004"
down_revision = "eseal_0003"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "witness_key",
        sa.Column("name", sa.String(256), primary_key=True, nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("statement", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", BIGINT, nullable=False),
        sa.Column("ledger_index", BIGINT, nullable=False),
    )
    op.create_table(
        "witnessed_log",
        sa.Column("origin", sa.String(256), primary_key=True, nullable=False),
        sa.Column("verifier_key", sa.Text(), nullable=False),
        sa.Column("size", BIGINT, nullable=False),
        sa.Column("root_hash", sa.LargeBinary(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("added_at", BIGINT, nullable=False),
        sa.Column("updated_at", BIGINT, nullable=False),
    )
    op.create_table(
        "witness_evidence",
        sa.Column("id", sa.Integer(), primary_key=True, nullable=False),
        sa.Column("origin", sa.String(256), nullable=False, index=True),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("held_note", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("note_sha256", sa.LargeBinary(), nullable=False, unique=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("seen_at", BIGINT, nullable=False),
    )


def downgrade() -> None:
    for table in ("witness_evidence", "witnessed_log", "witness_key"):
        op.drop_table(table)
