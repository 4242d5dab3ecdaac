"""The PostgreSQL database of a test run.

``ESEAL_TEST_DATABASE_URL`` names a database; each run (each pytest process) works in a
schema of its own in it, ``eseal_test_`` and random hex, created by the first test that
asks for the URL and dropped when the run ends (``tests/conftest.py``). Two runs sharing
the database never meet, and nothing else in it (its public schema, another run's
schema) is read, emptied or dropped. The URL the tests get selects the schema as an
operator would: libpq's ``options`` in the URL (``?options=-csearch_path%3D…``), which
eseal's engines, Alembic's migrations and plain psycopg connections all honour.
"""

from __future__ import annotations

import os
import secrets
from urllib.parse import parse_qsl, quote, urlencode

import psycopg
from psycopg import sql

ENV = "ESEAL_TEST_DATABASE_URL"
#: The run's schema and URLs, once the first test asked for them: "schema", "base" (the
#: database as given), "url" (in the schema).
_run: dict[str, str] = {}


def with_search_path(url: str, schema: str) -> str:
    """``url`` with ``schema`` as the one schema its connections see and create in, after
    any ``options`` it already sets."""
    head, _, given = url.partition("?")  # not urlsplit: "postgresql:///db" would lose "//"
    query = parse_qsl(given, keep_blank_values=True)
    options = [value for name, value in query if name == "options"]
    query = [(name, value) for name, value in query if name != "options"]
    query.append(("options", " ".join([*options, f"-csearch_path={schema}"])))
    return f"{head}?{urlencode(query, quote_via=quote)}"


def postgres_url() -> str | None:
    """The database URL the PostgreSQL tests use, in the run's own schema (made at the first
    call), or None when ``ESEAL_TEST_DATABASE_URL`` is not set."""
    base = os.environ.get(ENV) or None
    if base is None:
        return None
    if "url" not in _run:
        schema = f"eseal_test_{secrets.token_hex(6)}"
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        _run.update(schema=schema, base=base, url=with_search_path(base, schema))
    return _run["url"]


def reset_postgres(url: str) -> None:
    """Empty the run's schema: every table a node or a ledger made in it is dropped, so a
    test starts from an empty database."""
    if url != _run.get("url"):
        raise ValueError("reset_postgres takes the URL postgres_url() gave, and no other")
    schema = sql.Identifier(_run["schema"])
    with psycopg.connect(_run["base"]) as conn:  # one transaction: dropped and made anew
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(schema))
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(schema))


def run_schema() -> str | None:
    """The run's schema, once a test asked for the database URL."""
    return _run.get("schema")


def drop_run_schema() -> None:
    """Drop the run's schema and all in it, if one was made (at the end of the run)."""
    if "schema" not in _run:
        return
    schema = sql.Identifier(_run.pop("schema"))
    with psycopg.connect(_run["base"], autocommit=True) as conn:
        conn.execute("SET lock_timeout = '30s'")  # a session left open in a transaction
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(schema))
    _run.clear()
