"""A new agency or seal key is written before the ledger entry that records it, and its file
is removed after a failed append only when nothing was recorded: an act whose commit is not
known (a wait given up, a COMMIT that got no answer) keeps its key file, since a recorded key
without its file could sign nothing ever again."""

from __future__ import annotations

import functools
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import RootTransaction
from sqlalchemy.exc import OperationalError

from eseal.agencies import OPERATOR, active_key, rotate_key
from eseal.licenses import issue_many
from eseal.node import Node
from eseal.seals import create_seal, list_seals, stamp
from ledger.audit import audit
from ledger.group_commit import CommitPending
from ledger.store import OutcomeUnknown, StoreUnavailable
from tests.eseal.conftest import MARKET, NOW, PASSPHRASE, business_request, make_region


def _audited(data: Path) -> Node:
    node = Node.open(data, passphrase=PASSPHRASE)
    report = audit(node.store, node.log_verifier)
    assert report.ok, report.problems
    return node


def test_a_seal_whose_wait_for_the_ledger_ran_out_keeps_its_key(tmp_path: Path) -> None:
    """The server (group commit) gives up waiting while another process holds the ledger's
    write lock; the seal is recorded once the lock is let go. Its key file was removed on the
    give-up, so the ledger held a seal that could never stamp (key file not found)."""
    region = make_region(tmp_path)
    node = region.node
    node.start_group_commit()
    assert node._committer is not None
    node._committer.append = functools.partial(node._committer.append, timeout=0.2)  # type: ignore[method-assign]
    holder = sqlite3.connect(tmp_path / "ledger.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer (a bulk issue, say) holds the lock
    try:
        with pytest.raises(CommitPending, match="may yet be recorded"):
            create_seal(
                node,
                OPERATOR,
                agency_code=MARKET,
                name="行政审批专用章",
                seal_type="approval",
                image=None,
                now=NOW,
            )
    finally:
        holder.execute("COMMIT")
        holder.close()
    node.close()  # the queued seal is written
    with _audited(tmp_path) as node:
        (seal,) = list_seals(node, MARKET)
        assert node.key_path(bytes.fromhex(seal.key_id)).is_file()
        stamped = stamp(
            node, OPERATOR, seal.id, document=b"%PDF-1.7 notice", document_name="n.pdf", now=NOW
        )
        assert stamped.seal_id == seal.id


def test_a_rotation_whose_commit_got_no_answer_keeps_its_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database commits a rotation and the connection is lost before it says so: the
    append is of unknown outcome (not "nothing written"), and the new key's file stays, so
    the agency (whose active key it now is) still issues."""
    make_region(tmp_path).node.close()
    real_commit = RootTransaction.commit

    def lost_on_the_way(self: RootTransaction) -> None:
        real_commit(self)
        raise OperationalError("COMMIT", {}, Exception("server closed the connection"))

    with Node.open(tmp_path, passphrase=PASSPHRASE) as node:
        monkeypatch.setattr(RootTransaction, "commit", lost_on_the_way)
        with pytest.raises(OutcomeUnknown, match="did not confirm the append's commit"):
            rotate_key(node, MARKET, now=NOW + 1)
        monkeypatch.undo()
    with _audited(tmp_path) as node:
        key = active_key(node, MARKET)
        assert node.key_path(key.key_id).is_file()
        (issued,) = issue_many(node, OPERATOR, MARKET, [business_request()], now=NOW + 2)
        assert issued.ledger_index == node.log.size() - 1


def test_a_refused_append_leaves_no_key_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An append refused (nothing written) still takes its new key's file away with it."""
    make_region(tmp_path).node.close()
    with Node.open(tmp_path, passphrase=PASSPHRASE) as node:
        before = sorted(p.name for p in (tmp_path / "keys").iterdir())

        def refused(*args: Any, **kwargs: Any) -> Any:
            raise StoreUnavailable("append failed, nothing written: database is locked")

        monkeypatch.setattr(node, "append", refused)
        with pytest.raises(StoreUnavailable):
            rotate_key(node, MARKET, now=NOW + 1)
    assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == before
