"""Fixtures for ledger tests: a log key, stores and logs over them, entry drafts."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from ledger.checkpoint import NoteVerifier, parse_verifier_key, verifier_key
from ledger.entries import Entry
from ledger.log import Log
from ledger.sql import SqlStore, sqlite_url
from ledger.store import LedgerStore, MemoryStore
from tests.postgres import postgres_url, reset_postgres

ORIGIN = "eseal.test/500000"
LOG_SEED = hashlib.sha256(b"eseal test log key").digest()


def log_key() -> SigningKey:
    return SigningKey(LOG_SEED)


def log_verifier() -> NoteVerifier:
    return parse_verifier_key(verifier_key(ORIGIN, bytes(log_key().verify_key)))


def draft(i: int, kind: str = "license.issue") -> Entry:
    return Entry(
        kind=kind,
        time=1_790_000_000 + i,
        region="500000",
        subject=f"subject-{i}",
        digest=hashlib.sha256(i.to_bytes(8, "big")).digest(),
        key_id=bytes(8),
    )


def make_log(store: LedgerStore) -> Log:
    return Log(store, origin=ORIGIN, verifier=log_verifier(), signing_key=log_key())


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqlStore]:
    store = SqlStore(sqlite_url(tmp_path))
    yield store
    store.close()


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LedgerStore]:
    """The same suite over every backend; PostgreSQL when ESEAL_TEST_DATABASE_URL is set
    (CI always sets it)."""
    if request.param == "memory":
        yield MemoryStore()
        return
    if request.param == "sqlite":
        url = sqlite_url(tmp_path)
    else:
        pg = postgres_url()
        if pg is None:
            pytest.skip("ESEAL_TEST_DATABASE_URL is not set")
        reset_postgres(pg)
        url = pg
    s = SqlStore(url)
    yield s
    s.close()
