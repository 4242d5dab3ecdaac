"""A new agency or seal key is written before the ledger entry that records it, and its file
is removed after a failed append only when nothing was recorded: an act whose commit is not
known (a wait given up, a COMMIT that got no answer) keeps its key file, since a recorded key
without its file could sign nothing ever again."""

from __future__ import annotations

import functools
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import RootTransaction
from sqlalchemy.exc import OperationalError

from eseal.agencies import OPERATOR, active_key, authenticate, rotate_key
from eseal.licenses import issue_many
from eseal.node import Node
from eseal.seals import create_seal, list_seals, stamp
from ledger.audit import audit
from ledger.group_commit import CommitPending
from ledger.store import OutcomeUnknown, StoreUnavailable
from tests.eseal.conftest import (
    MARKET,
    NOW,
    PASSPHRASE,
    WORKER,
    business_request,
    make_region,
)


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


_ADD_KILLED_AFTER_COMMIT = """
import os, signal, sys
from eseal.cli import main
from ledger.sql import SqlStore
real = SqlStore.append
def append_then_die(self, *args, **kwargs):
    real(self, *args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)
SqlStore.append = append_then_die
sys.argv = ["eseal", *sys.argv[1:]]
main()
"""


BUREAU = "11500000MB1613522A"


def _eseal(data: Path, *args: str, code: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ESEAL_")}
    command = ["-c", code] if code else ["-c", "from eseal.cli import main; main()"]
    return subprocess.run(
        [sys.executable, *command, "--data", str(data), *args],
        env=env | {"ESEAL_PASSPHRASE": PASSPHRASE.decode()},
        capture_output=True,
        text=True,
        check=False,
    )


def test_an_agency_add_killed_after_its_commit_says_how_to_get_a_credential(
    tmp_path: Path,
) -> None:
    """``agency add`` dies once the agency is recorded, before it prints the credential
    (shown once): the operator's second ``agency add`` is told the agency is registered
    and which command gives it a credential, and that command works."""
    make_region(tmp_path).node.close()
    add = ("agency", "add", "--code", BUREAU, "--name", "住建委", "--types", WORKER)
    died = _eseal(tmp_path, *add, code=_ADD_KILLED_AFTER_COMMIT)
    assert died.returncode == -signal.SIGKILL
    assert "esk_" not in died.stdout
    again = _eseal(tmp_path, *add)
    assert again.returncode == 2
    assert again.stderr == (
        f"error: agency {BUREAU} is already registered (another API credential for it: "
        f"eseal agency credential {BUREAU})\n"
    )
    given = _eseal(tmp_path, "agency", "credential", BUREAU)
    assert given.returncode == 0, given.stderr
    with _audited(tmp_path) as node:
        assert authenticate(node, given.stdout.strip()).may_act_for(BUREAU)
