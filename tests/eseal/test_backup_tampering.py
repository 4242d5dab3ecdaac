"""``eseal backup --check`` against backups changed after they were taken: what a restore
would bring into the node must be what the manifest lists, and what the check reports of the
ledger must be what the node signed."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from eseal.agencies import Principal
from eseal.backup import check_backup, take_backup
from eseal.licenses import issue_many
from tests.e2e.conftest import files_state, run_eseal
from tests.eseal.conftest import MARKET, NOW, business_request, make_region

AGENT = Principal("agency", MARKET)


@pytest.fixture
def backup(tmp_path: Path) -> Path:
    region = make_region(tmp_path / "node")
    issue_many(region.node, AGENT, MARKET, [business_request() for _ in range(3)], now=NOW)
    out = tmp_path / "b"
    take_backup(region.node.data_dir, out, database_url=None, now=NOW)
    region.node.close()
    return out


def _foreign_wal(backup: Path, scratch: Path) -> bytes:
    """A SQLite -wal that, beside the backup's ledger.db, empties its checkpoints: written by
    a connection to a copy of it in WAL mode and taken before that connection checkpoints it
    back (as a -wal left by a node opened on the backup, or planted)."""
    scratch.mkdir()
    shutil.copy(backup / "ledger.db", scratch / "ledger.db")
    conn = sqlite3.connect(scratch / "ledger.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("DELETE FROM ledger_checkpoint")
    wal = (scratch / "ledger.db-wal").read_bytes()
    conn.close()
    return wal


def test_a_file_the_manifest_does_not_list_fails_the_check(backup: Path, tmp_path: Path) -> None:
    """A -wal beside the backup's ledger.db is read by SQLite when the restored node opens it
    (whatever the database's journal mode): the node would serve another ledger than the one
    the check audited. Every file in the backup that its manifest does not list is named."""
    wal = _foreign_wal(backup, tmp_path / "scratch")
    assert check_backup(backup).ok
    (backup / "ledger.db-wal").write_bytes(wal)
    (backup / "keys" / "notes.txt").write_text("mine")
    kept = files_state(backup), (backup / "ledger.db-wal").read_bytes()

    run = run_eseal("backup", "--check", backup, cwd=tmp_path)
    assert run.code == 1, str(run)
    assert "ledger.db-wal is not in the manifest" in run.stderr
    assert "keys/notes.txt is not in the manifest" in run.stderr
    assert (files_state(backup), (backup / "ledger.db-wal").read_bytes()) == kept

    # What the check would have let through: restored as the README says, the node reads the
    # -wal, and its ledger is not the backup's (its checkpoints are gone).
    restored = tmp_path / "restored"
    shutil.copytree(backup, restored)
    conn = sqlite3.connect(f"file:{restored / 'ledger.db'}?mode=ro", uri=True)
    assert conn.execute("SELECT count(*) FROM ledger_checkpoint").fetchone() == (0,)
    conn.close()

    (backup / "ledger.db-wal").unlink()
    (backup / "keys" / "notes.txt").unlink()
    assert check_backup(backup).ok


def test_a_listed_file_replaced_by_a_symbolic_link_fails_the_check(
    backup: Path, tmp_path: Path
) -> None:
    """A restore (cp -a) copies a link as a link: the node would read its key from wherever
    it points, which the backup does not hold."""
    elsewhere = tmp_path / "elsewhere.key"
    os.replace(backup / "keys" / "root.key", elsewhere)
    (backup / "keys" / "root.key").symlink_to(elsewhere)
    report = check_backup(backup)
    assert "keys/root.key is a symbolic link, not a file of the backup" in report.problems

    # The keys folder a link to another folder holding the same files: named too.
    os.replace(elsewhere, backup / "keys" / "root.key")
    assert check_backup(backup).ok
    os.replace(backup / "keys", tmp_path / "keys")
    (backup / "keys").symlink_to(tmp_path / "keys")
    report = check_backup(backup)
    assert "keys is a symbolic link, not a folder of the backup" in report.problems


def test_the_ledger_the_check_reports_is_the_one_its_checkpoint_signs(
    backup: Path, tmp_path: Path
) -> None:
    """The manifest's size and root hash, which the check prints and a restore is compared
    with, must be those of its checkpoint, signed by the node's log key."""
    manifest_file = backup / "backup.json"
    good = json.loads(manifest_file.read_text())
    forged = json.loads(manifest_file.read_text())
    forged["ledger"]["root_hash"] = "A" * 43 + "="
    manifest_file.write_text(json.dumps(forged))
    run = run_eseal("backup", "--check", backup, cwd=tmp_path)
    assert run.code == 1, str(run)
    assert "the manifest's ledger size or root hash is not its checkpoint's" in run.stderr
    assert "A" * 43 not in run.stdout

    forged = json.loads(json.dumps(good))
    forged["ledger"]["checkpoint"] = good["ledger"]["checkpoint"].replace("\n\n", "\n\n\n", 1)
    manifest_file.write_text(json.dumps(forged))
    report = check_backup(backup)
    assert any(p.startswith("the manifest's checkpoint is not") for p in report.problems)

    manifest_file.write_text(json.dumps(good))
    assert check_backup(backup).ok
