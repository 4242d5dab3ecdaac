"""Schema migrations (Alembic) run at open time, serialised across processes.

Each room that owns tables keeps its own migration history and version table
(the ledger's is ``ledger_alembic_version``), so the ledger can be used on its own.

A database an older eseal made is brought up to this eseal's head revision as it is
opened; one a newer eseal migrated (at a revision this one does not know) is refused, with
nothing changed (:class:`SchemaTooNew`): this eseal's code does not know its tables.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from keys.errors import InvalidInput

_log = logging.getLogger(__name__)

#: Any constant: the PostgreSQL advisory lock key under which migrations run.
_MIGRATION_LOCK = 0x6573_6561_6C00


class SchemaTooNew(InvalidInput):
    """The database's schema is at a revision this eseal does not know (a newer one's)."""

    code = "schema-too-new"


class SchemaNotCurrent(InvalidInput):
    """The database's schema is older than this eseal's, and may not be migrated here."""

    code = "schema-not-current"


def _config(script_location: Path, version_table: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.attributes["version_table"] = version_table
    return cfg


def current_revisions(conn: Connection, version_table: str) -> tuple[str, ...]:
    """The revisions ``version_table`` records (none where the table is not there yet)."""
    context = MigrationContext.configure(conn, opts={"version_table": version_table})
    return tuple(sorted(context.get_current_heads()))


def head_revisions(script_location: Path) -> tuple[str, ...]:
    """The head revisions of the history under ``script_location``: what this eseal makes."""
    return tuple(sorted(ScriptDirectory(str(script_location)).get_heads()))


def require_known(conn: Connection, script_location: Path, version_table: str) -> bool:
    """Whether the schema ``version_table`` records is at the head of the history under
    ``script_location`` (False: older, to be migrated); :class:`SchemaTooNew` where it
    records a revision the history does not hold."""
    script = ScriptDirectory(str(script_location))
    known = {s.revision for s in script.walk_revisions()}
    current = current_revisions(conn, version_table)
    unknown = [r for r in current if r not in known]
    if unknown:
        heads = ", ".join(sorted(script.get_heads()))
        raise SchemaTooNew(
            f"the database's schema is at revision {', '.join(unknown)}, which this eseal "
            f"does not know (its newest is {heads}): a newer eseal has upgraded it. Run that "
            "eseal, or a newer one; to go back to this version, restore the backup taken "
            "before the upgrade (eseal backup)"
        )
    return current == tuple(sorted(script.get_heads()))


def require_current(conn: Connection, script_location: Path, version_table: str) -> None:
    """Refuse (:class:`SchemaTooNew`, :class:`SchemaNotCurrent`) a schema that is not at the
    head of the history under ``script_location``, for a reader that may not migrate."""
    if not require_known(conn, script_location, version_table):
        current = ", ".join(current_revisions(conn, version_table)) or "none"
        heads = ", ".join(head_revisions(script_location))
        raise SchemaNotCurrent(
            f"the database's schema ({version_table}) is at revision {current}, older than "
            f"this eseal's {heads}, and is read here without being changed: restore it into "
            "a node's data directory, where the node's commands migrate it as they open it"
        )


def upgrade(engine: Engine, script_location: Path, version_table: str) -> None:
    """Bring the schema under ``script_location`` to its head revision, in one transaction
    that holds a lock (SQLite: the write lock; PostgreSQL: an advisory lock). A schema at a
    revision the history does not hold is refused (:class:`SchemaTooNew`), unchanged."""
    cfg = _config(script_location, version_table)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # A process starting while another migrates waits for it however long it
            # takes (a migration may rewrite every row), not the engine's lock_timeout.
            conn.execute(text("SET LOCAL lock_timeout = 0"))
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
        if require_known(conn, script_location, version_table):
            return  # at the head already: nothing to run
        before = current_revisions(conn, version_table)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        if before:  # an existing database moved on (a new one is made, not migrated)
            _log.warning(
                "migrated the database's schema (%s) from revision %s to %s",
                version_table,
                ", ".join(before),
                ", ".join(current_revisions(conn, version_table)),
            )
