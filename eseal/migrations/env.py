"""Alembic environment for the issuing service's tables: runs on the connection it is handed."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import eseal.models

ISSUING_TABLES = {t.__tablename__ for t in eseal.models.ESEAL_TABLES}
connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    version_table=context.config.attributes["version_table"],
    include_name=lambda name, type_, _parent: type_ != "table" or str(name) in ISSUING_TABLES,
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
