"""Peer regions (跨省通办): other regions' nodes whose licenses this node verifies, each with
its pinned root key id and the latest trust bundle and revocation snapshot synced from it.

Revision ID: eseal_0006
Revises: eseal_0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "eseal_0006"
down_revision = "eseal_0005"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "peer",
        sa.Column("region", sa.String(6), primary_key=True, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("root_key_id", sa.String(16), nullable=False),
        sa.Column("bundle", sa.LargeBinary(), nullable=False),
        sa.Column("bundle_issued_at", BIGINT, nullable=False),
        sa.Column("snapshot", sa.LargeBinary(), nullable=True),
        sa.Column("snapshot_as_of", BIGINT, nullable=True),
        sa.Column("changes", BIGINT, nullable=False),
        sa.Column("added_at", BIGINT, nullable=False),
        sa.Column("synced_at", BIGINT, nullable=True),
        sa.Column("tried_at", BIGINT, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("peer")
