"""Where each license's and seal's latest status change sits in the ledger.

A status answer proves that entry, so that a node cannot call a license revoked (or a
seal) without the ledger saying so. Rows changed before this revision are filled in by
reading the ledger backwards from its end until every changed row has its entry
(:func:`eseal.status_index.latest_status_entries`).

Revision ID: eseal_0002
Revises: eseal_0001
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

from eseal.status_index import latest_status_entries

revision = "eseal_0002"
down_revision = "eseal_0001"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
log = logging.getLogger("alembic.runtime.migration")


def upgrade() -> None:
    for table in ("license", "seal"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("status_index", BIGINT, nullable=True))
    conn = op.get_bind()
    # Rows whose status changed: a license that is not valid, or valid again after a
    # suspension (updated after it was issued); a revoked seal.
    wanted = {
        "license": {
            r[0]
            for r in conn.execute(
                sa.text("SELECT id FROM license WHERE status <> '01' OR updated_at <> issued_at")
            )
        },
        "seal": {
            r[0] for r in conn.execute(sa.text("SELECT id FROM seal WHERE status <> 'active'"))
        },
    }
    if not wanted["license"] and not wanted["seal"]:
        return
    found = latest_status_entries(conn, wanted)
    for table, indexes in found.items():
        if indexes:
            conn.execute(
                sa.text(f"UPDATE {table} SET status_index = :i WHERE id = :id"),  # noqa: S608
                [{"i": index, "id": subject} for subject, index in indexes.items()],
            )
    # A license valid after a change may have no entry to find (nothing to prove); a row
    # in another status with none cannot be proved, and the operator should know.
    not_valid = {r[0] for r in conn.execute(sa.text("SELECT id FROM license WHERE status <> '01'"))}
    unproved = sorted(
        (not_valid - found["license"].keys()) | (wanted["seal"] - found["seal"].keys())
    )
    if unproved:
        log.warning(
            "no ledger entry records the status of %d rows (%s): their status answers "
            "cannot be proved",
            len(unproved),
            ", ".join(unproved[:3]) + (", …" if len(unproved) > 3 else ""),
        )


def downgrade() -> None:
    for table in ("license", "seal"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("status_index")
