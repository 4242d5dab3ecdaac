"""The cosignatures each witness of this node's log gave (its latest ones, bounded), beside
the latest one ``log_witness`` keeps: an older checkpoint is then served with the lines of
every witness that cosigned it, after they drifted apart. Filled in from each witness's
latest cosignature.

Revision ID: eseal_0008
Revises: eseal_0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "eseal_0008"
down_revision = "eseal_0007"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "log_witness_cosignature",
        sa.Column("name", sa.String(256), primary_key=True, nullable=False),
        sa.Column("size", BIGINT, primary_key=True, nullable=False, autoincrement=False),
        sa.Column("root_hash", sa.LargeBinary(), nullable=False),
        sa.Column("cosignature", sa.Text(), nullable=False),
        sa.Column("cosigned_at", BIGINT, nullable=False),
    )
    op.execute(
        "INSERT INTO log_witness_cosignature (name, size, root_hash, cosignature, cosigned_at) "
        "SELECT name, size, root_hash, cosignature, cosigned_at FROM log_witness "
        "WHERE cosignature IS NOT NULL AND root_hash IS NOT NULL AND cosigned_at IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_table("log_witness_cosignature")
