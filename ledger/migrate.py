"""Schema migrations (Alembic) run at open time, serialised across processes.

Each room that owns tables keeps its own migration history and version table
(the ledger's is ``ledger_alembic_version``), so the ledger can be used on its own.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Engine

#: Any constant: the PostgreSQL advisory lock key under which migrations run.
_MIGRATION_LOCK = 0x6573_6561_6C00


def upgrade(engine: Engine, script_location: Path, version_table: str) -> None:
    """Bring the schema under ``script_location`` to its head revision, in one transaction
    that holds a lock (SQLite: the write lock; PostgreSQL: an advisory lock)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.attributes["version_table"] = version_table
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # A process starting while another migrates waits for it however long it
            # takes (a migration may rewrite every row), not the engine's lock_timeout.
            conn.execute(text("SET LOCAL lock_timeout = 0"))
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
