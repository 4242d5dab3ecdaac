"""Where each license's and seal's latest status change sits in the ledger.

A status answer proves that entry, so that a node cannot call a license revoked (or a
seal) without the ledger saying so. Rows changed before this revision are filled in by
reading the ledger backwards from its end until every changed row has its entry.

Revision ID: eseal_0002
Revises: eseal_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ledger.entries import decode_entry

revision = "eseal_0002"
down_revision = "eseal_0001"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
#: Ledger entries read per query while filling in.
_CHUNK = 10_000
#: The entry kinds that change a status, per table.
_KINDS = {
    "license": {
        "license.reinstate",
        "license.suspend",
        "license.withdraw",
        "license.cancel",
        "license.lapse",
        "license.transfer",
        "license.revoke",
    },
    "seal": {"seal.revoke"},
}


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
    found = _latest_status_entries(conn, wanted)
    for table, indexes in found.items():
        for subject, index in indexes.items():
            conn.execute(
                sa.text(f"UPDATE {table} SET status_index = :i WHERE id = :id"),  # noqa: S608
                {"i": index, "id": subject},
            )


def _latest_status_entries(
    conn: sa.Connection, wanted: dict[str, set[str]]
) -> dict[str, dict[str, int]]:
    """table → subject → index of its latest status entry, reading the ledger from the end
    back until every wanted subject is found (or the ledger's start)."""
    found: dict[str, dict[str, int]] = {table: {} for table in wanted}
    left = {table: set(ids) for table, ids in wanted.items()}
    end = conn.execute(sa.text("SELECT COALESCE(MAX(idx) + 1, 0) FROM ledger_entry")).scalar_one()
    while end > 0 and any(left.values()):
        start = max(0, end - _CHUNK)
        rows = conn.execute(
            sa.text("SELECT idx, data FROM ledger_entry WHERE idx >= :s AND idx < :e"),
            {"s": start, "e": end},
        ).all()
        for idx, data in sorted(rows, reverse=True):
            entry = decode_entry(bytes(data))
            for table, kinds in _KINDS.items():
                if entry.kind in kinds and entry.subject in left[table]:
                    left[table].discard(entry.subject)
                    found[table][entry.subject] = idx
        end = start
    return found


def downgrade() -> None:
    for table in ("license", "seal"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("status_index")
