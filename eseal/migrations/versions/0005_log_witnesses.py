"""The witnesses of this node's own log (C2SP tlog-witness, the log's side): each one's
add-checkpoint URL, its cosignature/v1 verifier key, and the latest cosignature it gave.

Revision ID: eseal_0005
Revises: eseal_0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "eseal_0005"
down_revision = "eseal_0004"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "log_witness",
        sa.Column("name", sa.String(256), primary_key=True, nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("verifier_key", sa.Text(), nullable=False),
        sa.Column("size", BIGINT, nullable=False),
        sa.Column("root_hash", sa.LargeBinary(), nullable=True),
        sa.Column("cosignature", sa.Text(), nullable=True),
        sa.Column("cosigned_at", BIGINT, nullable=True),
        sa.Column("added_at", BIGINT, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("log_witness")
