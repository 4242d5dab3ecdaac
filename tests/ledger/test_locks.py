"""A lock held by another database session (a long transaction, VACUUM FULL, LOCK TABLE):
reads and appends give up in bounded time, with nothing written, and work again after;
migrations at startup still wait for each other as long as it takes."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import psycopg
import pytest

from ledger import sql
from ledger.audit import audit
from ledger.entries import Entry
from ledger.group_commit import GroupCommitter
from ledger.migrate import _MIGRATION_LOCK
from ledger.sql import SqlStore
from ledger.store import AlsoInTransaction, Appended, StoreBusy, StoreUnavailable
from tests.ledger.conftest import draft, log_verifier, make_log
from tests.postgres import postgres_url, reset_postgres

#: How long the lock holder's session lives idle in its transaction before PostgreSQL
#: ends it (releasing its locks): without the lock timeout, what waits on it would wait
#: this long and then succeed, and the test fails instead of hanging.
HOLDER_LIFETIME = "8s"


@pytest.fixture
def pg(monkeypatch: pytest.MonkeyPatch) -> str:
    url = postgres_url()
    if url is None:
        pytest.skip("ESEAL_TEST_DATABASE_URL is not set")
    monkeypatch.setattr(sql, "LOCK_TIMEOUT_MS", 300)
    reset_postgres(url)
    return url


def hold(url: str, *statements: str) -> psycopg.Connection[tuple[object, ...]]:
    """Another session, holding what ``statements`` lock until it is closed (or ended by
    PostgreSQL after :data:`HOLDER_LIFETIME` idle)."""
    holder = psycopg.connect(url)
    holder.execute(f"SET idle_in_transaction_session_timeout = '{HOLDER_LIFETIME}'")
    for statement in statements:
        holder.execute(statement)  # in one transaction, left open
    return holder


@pytest.mark.postgres
def test_a_read_of_a_table_locked_elsewhere_fails_in_time_and_works_after(pg: str) -> None:
    store = SqlStore(pg)
    try:
        make_log(store).append([draft(0)])
        holder = hold(pg, "LOCK TABLE ledger_head IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(StoreUnavailable, match="another database session holds a lock"):
            store.head()
        holder.close()
        assert store.head().size == 1
    finally:
        store.close()


@pytest.mark.postgres
def test_an_append_behind_a_head_locked_elsewhere_is_busy_and_writes_nothing(pg: str) -> None:
    store = SqlStore(pg)
    try:
        log = make_log(store)
        log.append([draft(0)])
        holder = hold(pg, "SELECT * FROM ledger_head FOR UPDATE")
        with pytest.raises(StoreBusy, match="nothing written"):
            log.append([draft(1)])
        holder.close()
        assert store.head().size == 1
        assert log.append([draft(1)]).first_index == 1
        assert audit(store, log_verifier()).ok
    finally:
        store.close()


@pytest.mark.postgres
def test_opening_waits_for_another_process_migrating_past_the_lock_timeout(pg: str) -> None:
    """A worker starting while another migrates (which may take minutes) waits for it."""
    holder = hold(pg, f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
    try:
        store = SqlStore(pg)  # opened once the holder's session is ended
        store.close()
    finally:
        holder.close()


def test_a_batch_refused_for_a_lock_held_elsewhere_fails_every_caller_at_once() -> None:
    """Each caller's retry alone would wait for the same lock again (the last callers of a
    batch of n past their wait): the lock is everyone's failure, not one caller's."""
    writing, gate = threading.Event(), threading.Event()
    calls: list[int] = []

    def busy(drafts: Sequence[Entry], *, also: AlsoInTransaction | None = None) -> Appended:
        writing.set()
        gate.wait(5)  # hold the writer so that the next callers queue up into one batch
        calls.append(len(drafts))
        raise StoreBusy("append failed, nothing written: locked elsewhere")

    committer = GroupCommitter(busy)
    futures = [committer.submit([draft(0)])]
    assert writing.wait(5)
    futures += [committer.submit([draft(i)]) for i in range(1, 4)]
    gate.set()
    for future in futures:
        with pytest.raises(StoreBusy):
            future.result(10)
    committer.close()
    assert calls == [1, 3]


@pytest.mark.postgres
def test_a_lock_timeout_the_database_sets_is_kept_even_zero(pg: str) -> None:
    """The operator's own lock_timeout stands, as README says: 0 too (wait as long as it
    takes), which the node took for 'not set' and replaced with its own."""
    database = psycopg.conninfo.conninfo_to_dict(pg)["dbname"]
    admin = psycopg.connect(pg, autocommit=True)
    try:
        for setting, expected in (("0", "0"), ("'2s'", "2s"), ("DEFAULT", "300ms")):
            admin.execute(f'ALTER DATABASE "{database}" SET lock_timeout = {setting}')
            engine = sql.make_engine(pg)
            try:
                with engine.connect() as conn:
                    shown = conn.exec_driver_sql("SHOW lock_timeout").scalar()
            finally:
                engine.dispose()
            assert shown == expected, setting
    finally:
        admin.execute(f'ALTER DATABASE "{database}" RESET lock_timeout')
        admin.close()
