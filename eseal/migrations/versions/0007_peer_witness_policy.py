"""A peer's witness policy: the Sigsum-format policy file (its text) whose quorum must have
cosigned the checkpoint of each snapshot synced from that peer, or none.

Revision ID: eseal_0007
Revises: eseal_0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "eseal_0007"
down_revision = "eseal_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("peer") as batch:
        batch.add_column(sa.Column("witness_policy", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("peer") as batch:
        batch.drop_column("witness_policy")
