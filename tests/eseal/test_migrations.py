"""The issuing service's Alembic history creates exactly the schema its models declare."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from eseal.models import ESEAL_TABLES
from eseal.node import ISSUING_MIGRATIONS
from ledger.migrate import upgrade
from ledger.sql import make_engine, sqlite_url

NAMES = {t.__tablename__ for t in ESEAL_TABLES}


def test_issuing_migrations_match_the_models(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    upgrade(make_engine(url, immediate=True), ISSUING_MIGRATIONS, "eseal_alembic_version")
    engine = make_engine(url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, SQLModel.metadata)
    engine.dispose()
    ours = [
        d
        for d in diff
        if (isinstance(d, tuple) and getattr(d[1], "name", None) in NAMES)
        or (isinstance(d, list) and d and d[0][2] in NAMES)  # column changes: (op, schema, table…)
    ]
    assert ours == []
    created = {getattr(d[1], "name", None) for d in diff if d[0] == "add_table"}
    assert not created & NAMES
