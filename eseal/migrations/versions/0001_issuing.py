"""The issuing service's tables: agencies, keys, credentials, licenses, seals, stamps.

Revision ID: eseal_0001
Revises:
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "eseal_0001"
down_revision = None
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _col(name: str, type_: Any, **kw: Any) -> sa.Column[Any]:
    """A column, NOT NULL unless told otherwise."""
    kw.setdefault("nullable", False)
    return sa.Column(name, type_, **kw)


def upgrade() -> None:
    op.create_table(
        "agency",
        _col("code", sa.String(18), primary_key=True),
        _col("name", sa.String(200)),
        _col("types", sa.Text()),
        _col("status", sa.String(16)),
        _col("created_at", BIGINT),
    )
    op.create_table(
        "agency_key",
        _col("key_id", sa.String(16), primary_key=True),
        _col("agency_code", sa.String(18), index=True),
        _col("public_key", sa.LargeBinary()),
        _col("statement", sa.LargeBinary()),
        _col("status", sa.String(16)),
        _col("created_at", BIGINT),
        _col("retired_at", BIGINT, nullable=True),
        _col("revoked_at", BIGINT, nullable=True),
        _col("ledger_index", BIGINT),
    )
    op.create_table(
        "api_credential",
        _col("id", sa.String(16), primary_key=True),
        _col("secret_hash", sa.LargeBinary()),
        _col("role", sa.String(16)),
        _col("agency_code", sa.String(18), nullable=True, index=True),
        _col("created_at", BIGINT),
        _col("revoked_at", BIGINT, nullable=True),
    )
    op.create_table(
        "license",
        _col("id", sa.String(128), primary_key=True),
        _col("type_code", sa.String(21), index=True),
        _col("agency_code", sa.String(18), index=True),
        _col("serial", sa.String(20)),
        _col("version", sa.Integer()),
        _col("holder_name", sa.String(200)),
        _col("holder_id_display", sa.String(32), nullable=True),
        _col("fields", sa.Text()),
        _col("status", sa.String(2)),
        _col("issued_at", BIGINT),
        _col("not_before", BIGINT),
        _col("expires", BIGINT, nullable=True),
        _col("key_id", sa.String(16)),
        _col("document", sa.Text()),
        _col("digest", sa.LargeBinary()),
        _col("ledger_index", BIGINT),
        _col("replaces", sa.String(128), nullable=True),
        _col("replaced_by", sa.String(128), nullable=True),
        _col("status_reason", sa.String(256), nullable=True),
        _col("updated_at", BIGINT),
    )
    op.create_table(
        "seal",
        _col("id", sa.String(64), primary_key=True),
        _col("agency_code", sa.String(18), index=True),
        _col("name", sa.String(100)),
        _col("seal_type", sa.String(32)),
        _col("key_id", sa.String(16)),
        _col("public_key", sa.LargeBinary()),
        _col("statement", sa.LargeBinary()),
        _col("image", sa.LargeBinary()),
        _col("status", sa.String(16)),
        _col("created_at", BIGINT),
        _col("valid_until", BIGINT),
        _col("revoked_at", BIGINT, nullable=True),
        _col("ledger_index", BIGINT),
    )
    op.create_table(
        "stamp",
        _col("id", sa.String(64), primary_key=True),
        _col("seal_id", sa.String(64), index=True),
        _col("document_sha256", sa.LargeBinary()),
        _col("document_name", sa.String(200)),
        _col("document_size", BIGINT),
        _col("document", sa.Text()),
        _col("issued_at", BIGINT),
        _col("ledger_index", BIGINT),
    )


def downgrade() -> None:
    for table in ("stamp", "seal", "license", "api_credential", "agency_key", "agency"):
        op.drop_table(table)
