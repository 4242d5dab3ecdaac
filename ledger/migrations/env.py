"""Alembic environment for the ledger tables: runs on the connection it is handed."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import ledger.sql  # noqa: F401  (registers the ledger tables on the metadata)

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    version_table=context.config.attributes["version_table"],
    include_name=lambda name, type_, _parent: type_ != "table" or str(name).startswith("ledger_"),
    # (the version table itself is also named ledger_…, and Alembic manages it)
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
