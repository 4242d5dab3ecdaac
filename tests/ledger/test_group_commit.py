"""Group commit: concurrent callers share transactions and each gets its own indexes."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from keys.errors import ExternalFailure
from ledger.audit import audit
from ledger.entries import Entry, decode_entry
from ledger.group_commit import CommitterClosed, GroupCommitter
from ledger.sql import SqlStore
from ledger.store import AlsoInTransaction, Appended, OutcomeUnknown
from tests.ledger.conftest import draft, log_verifier, make_log


def test_concurrent_callers_are_batched_and_answered_with_their_own_indexes(
    sqlite_store: SqlStore,
) -> None:
    log = make_log(sqlite_store)
    calls: list[int] = []

    def append(drafts: Sequence[Entry], *, also: AlsoInTransaction | None = None) -> Appended:
        calls.append(len(drafts))
        return log.append(drafts, also=also)

    committer = GroupCommitter(append, max_batch=64)
    with ThreadPoolExecutor(16) as pool:
        receipts = list(
            pool.map(lambda i: committer.append([draft(i), draft(i + 10_000)]), range(400))
        )
    committer.close()
    assert sum(calls) == 800
    assert len(calls) < 400, "callers were not grouped"
    seen: set[int] = set()
    for i, receipt in enumerate(receipts):
        assert len(receipt.entries) == 2
        first = decode_entry(log.entry(receipt.first_index))
        second = decode_entry(log.entry(receipt.first_index + 1))
        assert (first.subject, second.subject) == (draft(i).subject, draft(i + 10_000).subject)
        seen.update({receipt.first_index, receipt.first_index + 1})
    assert seen == set(range(800))
    assert audit(sqlite_store, log_verifier()).ok


def test_a_failed_batch_fails_every_caller_and_writes_nothing(sqlite_store: SqlStore) -> None:
    log = make_log(sqlite_store)

    def failing(drafts: Sequence[Entry], *, also: AlsoInTransaction | None = None) -> Appended:
        raise ExternalFailure("disk full")

    committer = GroupCommitter(failing)
    with pytest.raises(ExternalFailure, match="disk full"):
        committer.append([draft(0)])
    committer.close()
    assert log.size() == 0


def test_closed_committer_refuses_work(sqlite_store: SqlStore) -> None:
    committer = GroupCommitter(make_log(sqlite_store).append)
    committer.close()
    with pytest.raises(CommitterClosed):
        committer.append([draft(0)])


def test_one_callers_failure_is_not_the_batchs(sqlite_store: SqlStore) -> None:
    log = make_log(sqlite_store)
    gate = threading.Event()

    def slow_append(drafts: Sequence[Entry], *, also: AlsoInTransaction | None = None) -> Appended:
        gate.wait(5)  # hold the writer so that the next callers queue up into one batch
        return log.append(drafts, also=also)

    def refuse(_conn: object, _first: int) -> None:
        raise ExternalFailure("this caller's row changed meanwhile")

    committer = GroupCommitter(slow_append)
    first = committer.submit([draft(0)])
    good = committer.submit([draft(1)])
    bad = committer.submit([draft(2)], also=refuse)
    later = committer.submit([draft(3)])
    gate.set()
    assert first.result(10).first_index == 0
    with pytest.raises(ExternalFailure, match="changed meanwhile"):
        bad.result(10)
    assert {good.result(10).first_index, later.result(10).first_index} == {1, 2}
    committer.close()
    assert log.size() == 3
    assert audit(sqlite_store, log_verifier()).ok


def test_a_batch_whose_commit_is_unknown_is_not_appended_again(sqlite_store: SqlStore) -> None:
    # A COMMIT without an answer may have recorded the batch: retrying its callers alone
    # (as after a refusal, which writes nothing) would record their entries twice.
    log = make_log(sqlite_store)
    writing, gate = threading.Event(), threading.Event()
    calls: list[int] = []

    def append(drafts: Sequence[Entry], *, also: AlsoInTransaction | None = None) -> Appended:
        calls.append(len(drafts))
        if len(calls) == 1:
            writing.set()
            gate.wait(5)  # hold the writer so that the next callers queue up into one batch
        appended = log.append(drafts, also=also)
        if len(calls) == 2:
            raise OutcomeUnknown("the database did not confirm the append's commit")
        return appended

    committer = GroupCommitter(append)
    first = committer.submit([draft(0)])
    assert writing.wait(5)
    second = committer.submit([draft(1)])
    third = committer.submit([draft(2)])
    gate.set()
    assert first.result(10).first_index == 0
    for future in (second, third):
        with pytest.raises(OutcomeUnknown):
            future.result(10)
    committer.close()
    assert calls == [1, 2]
    assert log.size() == 3, "the batch was recorded twice"
    assert audit(sqlite_store, log_verifier()).ok
