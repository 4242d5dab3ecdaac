"""Idempotency keys of issuing requests (``Idempotency-Key``, see eseal/idempotency.py).

Revision ID: eseal_0003
Revises: eseal_0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "eseal_0003"
down_revision = "eseal_0002"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "idempotency_key",
        sa.Column("principal", sa.String(32), primary_key=True, nullable=False),
        sa.Column("operation", sa.String(32), primary_key=True, nullable=False),
        sa.Column("idem_key", sa.String(128), primary_key=True, nullable=False),
        sa.Column("fingerprint", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("ledger_last", BIGINT, nullable=False),
        sa.Column("created_at", BIGINT, nullable=False),
        sa.Column("expires_at", BIGINT, nullable=False, index=True),
    )


def downgrade() -> None:
    op.drop_table("idempotency_key")
