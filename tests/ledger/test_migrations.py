"""The Alembic history creates exactly the schema the SQLModel tables declare."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

from ledger.sql import SqlStore, make_engine, sqlite_url


def _ledger_tables_only(name: str | None, type_: str, _parent: object) -> bool:
    if type_ != "table":
        return True
    return bool(name and name.startswith("ledger_") and name != "ledger_alembic_version")


def _ledger_table(diff: object) -> bool:
    table = getattr(diff[1], "name", "") if isinstance(diff, tuple) else ""
    return str(table).startswith("ledger_") or not isinstance(diff, tuple)


def test_migrated_schema_matches_the_models(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    SqlStore(url).close()
    engine = make_engine(url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"include_name": _ledger_tables_only, "compare_type": True}
        )
        diff = compare_metadata(ctx, SQLModel.metadata)
        # Other rooms' tables may share the metadata; the ledger's must all match.
        assert [d for d in diff if _ledger_table(d)] == []
        tables = set(inspect(conn).get_table_names())
    engine.dispose()
    assert {"ledger_entry", "ledger_tile", "ledger_head", "ledger_checkpoint"} <= tables
    assert "ledger_alembic_version" in tables


def test_reopening_does_not_migrate_again(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    for _ in range(3):
        store = SqlStore(url)
        assert store.head().size == 0
        store.close()
