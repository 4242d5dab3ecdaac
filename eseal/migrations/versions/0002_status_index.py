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

from eseal.status_index import StatusTable, latest_status_entries

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
    # suspension (updated after it was issued); a revoked seal. With the index of each
    # one's creation: no status change of them is older than the oldest of those.
    def created(query: str) -> dict[str, int]:
        return {r[0]: r[1] for r in conn.execute(sa.text(query))}

    changed: dict[StatusTable, dict[str, int]] = {
        "license": created(
            "SELECT id, ledger_index FROM license WHERE status <> '01' OR updated_at <> issued_at"
        ),
        "seal": created("SELECT id, ledger_index FROM seal WHERE status <> 'active'"),
    }
    if not changed["license"] and not changed["seal"]:
        return
    floor = min(i for rows in changed.values() for i in rows.values()) + 1
    end = conn.execute(sa.text("SELECT COALESCE(MAX(idx) + 1, 0) FROM ledger_entry")).scalar_one()

    def read(start: int, stop: int) -> list[bytes]:
        rows = conn.execute(
            sa.text("SELECT data FROM ledger_entry WHERE idx >= :s AND idx < :e ORDER BY idx"),
            {"s": start, "e": stop},
        ).all()
        if len(rows) != stop - start:
            raise RuntimeError(
                f"ledger entries {start}..{stop} are not all stored: run `eseal ledger audit`"
            )
        return [bytes(r[0]) for r in rows]

    found = latest_status_entries(
        read,
        end=end,
        floor=floor,
        wanted={"license": changed["license"].keys(), "seal": changed["seal"].keys()},
    )
    for table, indexes in found.items():
        if indexes:
            conn.execute(
                sa.text(f"UPDATE {table} SET status_index = :i WHERE id = :id"),  # noqa: S608
                [{"i": index, "id": subject} for subject, index in indexes.items()],
            )
    # A license valid again may have no entry to find (nothing to prove); a row in another
    # status without one cannot be proved, and the operator should know. (A status answer
    # looks for it again, see eseal.status_index.)
    not_valid = {r[0] for r in conn.execute(sa.text("SELECT id FROM license WHERE status <> '01'"))}
    unproved = sorted(
        (not_valid - found["license"].keys()) | (changed["seal"].keys() - found["seal"].keys())
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
