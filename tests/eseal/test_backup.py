"""``eseal backup``: a consistent copy of a node that may be serving, written whole or not at
all, its key files still sealed; ``eseal backup --check``; restoring a backup."""

from __future__ import annotations

import base64
import errno
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from eseal import backup as backup_module
from eseal.agencies import Principal, rotate_key
from eseal.api.app import create_app
from eseal.backup import check_backup, read_manifest, take_backup
from eseal.licenses import issue, issue_many
from eseal.node import Node
from keys import keyfile
from ledger.audit import audit
from ledger.sql import copy_sqlite, exported_snapshot
from tests.e2e.conftest import (
    assert_clean_error,
    files_state,
    independent_checkpoint,
    raw_entries,
    run_eseal,
    tables_state,
)
from tests.eseal.conftest import (
    MARKET,
    NOW,
    PASSPHRASE,
    Region,
    business_request,
    make_region,
)
from tests.eseal.conftest import run_eseal as run_in_process
from tests.eseal.test_postgres import postgres_node
from tests.postgres import postgres_url, reset_postgres, run_schema

AGENT = Principal("agency", MARKET)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def region(tmp_path: Path) -> Iterator[Region]:
    r = make_region(tmp_path / "node")
    issue_many(r.node, AGENT, MARKET, [business_request() for _ in range(20)], now=NOW)
    yield r
    r.node.close()


def _manifest(path: Path) -> dict[str, object]:
    return read_manifest(path)


def _head_of_copy(path: Path) -> tuple[int, str]:
    """(size, latest checkpoint) of a backup's ledger.db, read with sqlite3 alone."""
    conn = sqlite3.connect(f"file:{path / 'ledger.db'}?mode=ro", uri=True)
    try:
        (size,) = conn.execute("SELECT size FROM ledger_head").fetchone()
        (note,) = conn.execute(
            "SELECT note FROM ledger_checkpoint ORDER BY size DESC LIMIT 1"
        ).fetchone()
    finally:
        conn.close()
    return int(size), str(note)


def test_a_backup_taken_while_the_node_appends_is_one_state_of_it(
    region: Region, tmp_path: Path
) -> None:
    """The node issues (and adds signing keys) in this process while another process backs
    it up: the backup audits clean, its ledger is a prefix of the node's at the manifest's
    size and root, and every signing key it records has its file."""
    node = region.node
    out = tmp_path / "backup"
    stop = threading.Event()
    errors: list[BaseException] = []
    before = node.log.size()

    def write() -> None:
        try:
            n = 0
            while not stop.is_set():
                issue_many(node, AGENT, MARKET, [business_request() for _ in range(5)], now=NOW)
                n += 1
                if n % 25 == 0:  # a new key file now and then, as an agency rotates
                    rotate_key(node, MARKET, now=NOW)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        while node.log.size() < before + 50 and not errors:
            stop.wait(0.01)
        committed = node.log.size()  # acknowledged before the backup starts: in it
        run = run_eseal("--data", node.data_dir, "--json", "backup", out, cwd=tmp_path)
        # Let it run on a little after the copy, so the copy sits between two appends.
        size_after_backup = node.log.size()
        while node.log.size() < size_after_backup + 10 and not errors:
            stop.wait(0.01)
    finally:
        stop.set()
        writer.join(timeout=60)
    assert not errors, errors
    assert run.code == 0, str(run)
    said = json.loads(run.stdout)
    manifest = _manifest(out)
    ledger = manifest["ledger"]
    assert isinstance(ledger, dict)
    assert said["size"] == ledger["size"]
    assert said["root_hash"] == ledger["root_hash"]
    size = ledger["size"]
    assert committed <= size < node.log.size()  # appends before and after it
    # The copy is the node's ledger at that size: the same entries, the same root.
    assert raw_entries(out) == raw_entries(node.data_dir)[:size]
    assert node.log.root_hash(size) == base64.b64decode(ledger["root_hash"])
    copied_size, note = _head_of_copy(out)
    assert (copied_size, note) == (size, ledger["checkpoint"])
    head = independent_checkpoint(note, node.config.log_verifier)
    assert (head.size, base64.b64encode(head.root).decode()) == (size, ledger["root_hash"])
    # No -wal beside the copy: the one file is the whole database.
    assert sorted(p.name for p in out.iterdir()) == [
        "backup.json",
        "keys",
        "ledger.db",
        "node.json",
    ]

    check = run_eseal("backup", "--check", out, cwd=tmp_path)
    assert check.code == 0, str(check)
    assert f"{size} entries" in check.stdout
    report = check_backup(out)
    assert report.ok, report.problems
    assert report.entries_audited == size


def test_key_files_are_copied_after_the_database(
    region: Region, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key added just before the database is copied (its file written, then recorded) has
    its file in the backup: the key files are copied after the database, so the copy
    records no key whose file the backup lacks."""
    node = region.node
    copy = copy_sqlite
    added: list[str] = []

    def copy_after_a_rotation(source: Path, target: Path) -> None:
        added.append(rotate_key(node, MARKET, now=NOW).key_id.hex())
        copy(source, target)

    monkeypatch.setattr(backup_module, "copy_sqlite", copy_after_a_rotation)
    made = take_backup(node.data_dir, tmp_path / "b", database_url=None, now=NOW)
    assert f"keys/{added[0]}.key" in made.manifest["files"]
    report = check_backup(tmp_path / "b")
    assert report.ok, report.problems

    # And --check finds a key file missing.
    (tmp_path / "b" / "keys" / f"{added[0]}.key").unlink()
    report = check_backup(tmp_path / "b")
    assert f"keys/{added[0]}.key is missing" in report.problems


def test_the_key_files_in_a_backup_are_the_nodes_still_sealed(
    region: Region, tmp_path: Path
) -> None:
    node = region.node
    out = tmp_path / "b"
    take_backup(node.data_dir, out, database_url=None, now=NOW)
    originals = sorted(p.name for p in (node.data_dir / "keys").glob("*.key"))
    assert sorted(p.name for p in (out / "keys").iterdir()) == originals
    assert len(originals) == 5  # root, log, the two agencies', the witness key
    seeds = [bytes(node.require_root_key()), bytes(node.require_log_key())]
    seeds += [bytes(node.signing_key(bytes.fromhex(Path(n).stem))) for n in originals[:3]]
    for name in originals:
        copied = (out / "keys" / name).read_bytes()
        assert copied == (node.data_dir / "keys" / name).read_bytes()
        assert (out / "keys" / name).stat().st_mode & 0o777 == 0o600
        # It opens with the passphrase, and holds no seed in clear (nor does any file).
        assert keyfile.read_key_file(out / "keys" / name, PASSPHRASE)
    for path in out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for seed in seeds:
                for form in (seed, seed.hex().encode(), base64.b64encode(seed)):
                    assert form not in data, path
    assert out.stat().st_mode & 0o777 == 0o700
    assert (out / "ledger.db").stat().st_mode & 0o777 == 0o600


def _leftovers(parent: Path, name: str) -> list[Path]:
    return sorted(parent.glob(f"{name}.incomplete-*"))


def test_a_backup_onto_a_directory_that_is_not_empty_is_refused(
    region: Region,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    node = region.node
    first = tmp_path / "b"
    take_backup(node.data_dir, first, database_url=None, now=NOW)
    issue(node, AGENT, MARKET, business_request(), now=NOW)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    a_file = tmp_path / "file"
    a_file.write_text("mine")
    node_before = (tables_state(node.data_dir), files_state(node.data_dir))
    for target in (first, other, a_file):
        before = files_state(target) if target.is_dir() else target.read_bytes()
        args = ["--data", str(node.data_dir), "backup", str(target)]
        code, said, err = run_in_process(args, capsys, monkeypatch)
        assert code == 2, err
        assert said == ""
        assert "is not an empty directory" in err
        assert (files_state(target) if target.is_dir() else target.read_bytes()) == before
        assert _leftovers(tmp_path, target.name) == []
    assert (tables_state(node.data_dir), files_state(node.data_dir)) == node_before
    assert check_backup(first).ok  # the backup there is the first one still

    # Inside the node's own directory: refused too.
    args = ["--data", str(node.data_dir), "backup", str(node.data_dir / "keys" / "b")]
    code, _, err = run_in_process(args, capsys, monkeypatch)
    assert code == 2
    assert "inside the node's data directory" in err
    assert not (node.data_dir / "keys" / "b").exists()

    # An empty directory is taken.
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run_in_process(
        ["--data", str(node.data_dir), "backup", str(empty)], capsys, monkeypatch
    )
    assert code == 0, err
    assert check_backup(empty).ok


def test_a_backup_onto_a_mount_point_is_refused_before_anything_is_written(
    region: Region,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The backup is written beside DIR and renamed to it: onto an empty mount point (a disk
    mounted for backups) the rename cannot be made, and the copy would have been written on
    the filesystem the mount point is in. Refused up front, naming what to do; and a rename
    refused all the same (a bind mount of the same filesystem, which looks like no mount
    point) is named for what it is, not as a directory written in meanwhile."""
    node = region.node
    mounted = tmp_path / "mnt"
    mounted.mkdir()
    is_mount = os.path.ismount
    monkeypatch.setattr(os.path, "ismount", lambda p: Path(p) == mounted or is_mount(p))
    code, said, err = run_in_process(
        ["--data", str(node.data_dir), "backup", str(mounted)], capsys, monkeypatch
    )
    assert (code, said) == (2, ""), err
    assert f"{mounted} is a mount point" in err
    assert f"name a new directory in it, e.g. {mounted / 'eseal-backup'}" in err
    assert list(mounted.iterdir()) == []
    assert _leftovers(tmp_path, "mnt") == []

    monkeypatch.setattr(os.path, "ismount", is_mount)
    rename = os.rename

    def busy(src: str | Path, dst: str | Path) -> None:
        if Path(dst) == mounted:
            raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), str(dst))
        rename(src, dst)

    monkeypatch.setattr(os, "rename", busy)
    code, said, err = run_in_process(
        ["--data", str(node.data_dir), "backup", str(mounted)], capsys, monkeypatch
    )
    assert (code, said) == (2, ""), err
    assert f"{mounted} cannot be replaced by the backup (Device or resource busy)" in err
    assert "while the backup ran" not in err
    assert list(mounted.iterdir()) == []
    assert _leftovers(tmp_path, "mnt") == []


_KILLED_AT = """
import os, signal, sys
import eseal.backup as b
from eseal.cli import main
point = sys.argv[1]
original = getattr(b, point)
def die(*args, **kwargs):
    if point != "_copy_private" or "keys" in str(args[0]):
        os.kill(os.getpid(), signal.SIGKILL)
    return original(*args, **kwargs)
setattr(b, point, die)
sys.argv = ["eseal", *sys.argv[2:]]
main()
"""


@pytest.mark.parametrize("point", ["_copy_private", "_write_manifest", "_publish"])
def test_a_backup_killed_midway_leaves_no_directory_that_looks_complete(
    region: Region, tmp_path: Path, point: str
) -> None:
    """Killed (SIGKILL) as it copies the first key file, before it writes the manifest, or
    before the rename: no directory is named as the backup, and what is left is named
    incomplete; the next backup into the same name is made whole."""
    node = region.node
    out = tmp_path / "b"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ESEAL_")}
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_AT, point, "--data", str(node.data_dir), "backup", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not out.exists()
    left = _leftovers(tmp_path, "b")
    assert len(left) == 1
    assert left[0].stat().st_mode & 0o777 == 0o700
    if point != "_publish":  # cut short before its manifest: it says so
        assert not (left[0] / "backup.json").exists()
        run = run_eseal("backup", "--check", left[0], cwd=tmp_path)
        assert "no complete eseal backup (a backup cut short: remove it)" in assert_clean_error(run)
    again = run_eseal("--data", node.data_dir, "backup", out, cwd=tmp_path)
    assert again.code == 0, str(again)
    assert check_backup(out).ok


def test_a_node_restored_from_a_backup_serves_what_was_issued_before_it(
    region: Region, tmp_path: Path
) -> None:
    node = region.node
    before = issue(node, AGENT, MARKET, business_request(holder="备份前的公司"), now=NOW)
    out = tmp_path / "b"
    made = take_backup(node.data_dir, out, database_url=None, now=NOW)
    after = issue(node, AGENT, MARKET, business_request(holder="备份后的公司"), now=NOW)
    lost = node.data_dir
    node.close()
    shutil.rmtree(lost)

    restored = tmp_path / "restored"
    shutil.copytree(out, restored)  # as `cp -a BACKUP DATA` does
    size = made.manifest["ledger"]["size"]
    verify = run_eseal("--data", restored, "--json", "ledger", "verify", cwd=tmp_path)
    assert verify.code == 0, str(verify)
    assert json.loads(verify.stdout)["size"] == size
    checkpoint = run_eseal("--data", restored, "--json", "ledger", "checkpoint", cwd=tmp_path)
    assert json.loads(checkpoint.stdout)["root_hash"] == made.manifest["ledger"]["root_hash"]

    with Node.open(restored, passphrase=PASSPHRASE) as back, TestClient(create_app(back)) as c:
        answer = c.get(f"/v1/licenses/{before.id}/status")
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "01"
        verdict = c.post("/v1/verify", json={"text": before.qr_text})
        assert verdict.status_code == 200, verdict.text
        assert verdict.json()["status"] == "VALID"
        assert verdict.json()["freshness"]["ledger_included"] is True
        # Issued after the backup: not in the restored ledger.
        assert c.get(f"/v1/licenses/{after.id}/status").status_code == 404
        # The restored keys sign: it issues again, and the ledger still audits.
        issue(back, AGENT, MARKET, business_request(), now=NOW)
        assert audit(back.store, back.log_verifier).ok


def test_a_check_finds_a_backup_changed_since_and_changes_nothing(
    region: Region, tmp_path: Path
) -> None:
    out = tmp_path / "b"
    take_backup(region.node.data_dir, out, database_url=None, now=NOW)
    kept = files_state(out), (out / "ledger.db").read_bytes()
    run = run_eseal("--json", "backup", "--check", out, cwd=tmp_path)
    assert run.code == 0, str(run)
    assert json.loads(run.stdout)["ok"] is True
    assert (files_state(out), (out / "ledger.db").read_bytes()) == kept
    assert sorted(p.name for p in out.iterdir()) == [
        "backup.json",
        "keys",
        "ledger.db",
        "node.json",
    ]

    # A key file altered: named, exit 1.
    key = next((out / "keys").glob("root.key"))
    key.write_bytes(key.read_bytes().replace(b"a", b"b", 1))
    run = run_eseal("backup", "--check", out, cwd=tmp_path)
    assert run.code == 1, str(run)
    assert "keys/root.key is not the file backed up" in run.stderr
    shutil.rmtree(out)

    # A ledger entry altered, and the manifest's hash of the file made to match: the audit
    # finds it.
    take_backup(region.node.data_dir, out, database_url=None, now=NOW)
    conn = sqlite3.connect(out / "ledger.db")
    with conn:
        (data,) = conn.execute("SELECT data FROM ledger_entry WHERE idx = 5").fetchone()
        changed = bytes(data[:-1]) + bytes([data[-1] ^ 1])
        conn.execute("UPDATE ledger_entry SET data = ? WHERE idx = 5", (changed,))
    conn.close()
    manifest = json.loads((out / "backup.json").read_text())
    manifest["files"]["ledger.db"] = backup_module._sha256_of(out / "ledger.db").to_json()
    (out / "backup.json").write_text(json.dumps(manifest))
    run = run_eseal("backup", "--check", out, cwd=tmp_path)
    assert run.code == 1, str(run)
    assert "backup FAILED" in run.stderr

    # Not a backup at all.
    run = run_eseal("backup", "--check", tmp_path, cwd=tmp_path)
    assert "holds no backup.json" in assert_clean_error(run)


def test_a_damaged_manifest_is_named_with_what_to_do_and_changes_nothing(
    region: Region,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """backup.json cut short, edited into JSON Python's reader takes but others read another
    way (a key twice: json.loads kept the last, and the check passed), or swollen past its
    bound is refused, exit 2, in one line naming the file, its flaw and what to do."""
    out = tmp_path / "b"
    take_backup(region.node.data_dir, out, database_url=None, now=NOW)
    manifest = out / "backup.json"
    good = manifest.read_bytes()
    assert good.startswith(b"{\n")
    damaged = {
        "is not JSON (Unterminated string": good[: len(good) // 2],
        "is not JSON (duplicate key 'region')": b'{"region": "110000",' + good[1:],
        f"is larger than {backup_module.MAX_MANIFEST:,} bytes": good
        + b" " * backup_module.MAX_MANIFEST,
    }
    for said, text in damaged.items():
        manifest.write_bytes(text)
        kept = files_state(out)
        code, out_text, err = run_in_process(["backup", "--check", str(out)], capsys, monkeypatch)
        assert (code, out_text) == (2, ""), err
        assert err.startswith(f"error: {manifest} {said}"), err
        assert err.endswith(
            "; the backup cannot be checked without it: use another backup, or take a new one\n"
        ), err
        assert err.count("\n") == 1, err
        assert files_state(out) == kept
    manifest.write_bytes(good)
    assert check_backup(out).ok


def test_a_damaged_node_json_in_a_backup_is_not_sent_to_a_backup_of_it(
    region: Region,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A backup's node.json refused (the manifest's hash of it made to match, as a backup
    altered whole would): exit 2, in one line naming the file and its flaw, and what to do
    with a damaged backup, not what a node's own node.json is told, to copy it back from a
    backup (this one)."""
    out = tmp_path / "b"
    take_backup(region.node.data_dir, out, database_url=None, now=NOW)
    node_file = out / "node.json"
    good = node_file.read_bytes()
    damaged = {
        "is damaged: its region is 500000, not text": good.replace(
            b'"region": "500000"', b'"region": 500000'
        ),
        "is not JSON (Unterminated string": good[: len(good) // 2],
    }
    for said, text in damaged.items():
        assert text != good
        node_file.write_bytes(text)
        manifest = json.loads((out / "backup.json").read_text())
        manifest["files"]["node.json"] = backup_module._sha256_of(node_file).to_json()
        (out / "backup.json").write_text(json.dumps(manifest))
        kept = files_state(out)
        code, out_text, err = run_in_process(["backup", "--check", str(out)], capsys, monkeypatch)
        assert (code, out_text) == (2, ""), err
        assert err.startswith(f"error: {node_file} {said}"), err
        assert err.endswith("; use another backup of the node, or take a new one\n"), err
        assert "copy it back" not in err
        assert files_state(out) == kept


def test_a_passphrase_change_does_not_run_beside_a_backup(
    region: Region, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The backup holds the keys lock shared: a passphrase change (which takes it
    exclusively) cannot rewrite the key files as they are copied."""
    from eseal.passphrase import NodeInUse, change_passphrase

    node = region.node
    node.close()  # the node's own hold on the lock
    refused: list[BaseException] = []
    copy = copy_sqlite

    def change_meanwhile(source: Path, target: Path) -> None:
        try:
            change_passphrase(node.data_dir, PASSPHRASE, b"another passphrase")
        except NodeInUse as e:
            refused.append(e)
        copy(source, target)

    monkeypatch.setattr(backup_module, "copy_sqlite", change_meanwhile)
    take_backup(node.data_dir, tmp_path / "b", database_url=None, now=NOW)
    assert len(refused) == 1
    assert keyfile.read_key_file(tmp_path / "b" / "keys" / "root.key", PASSPHRASE)


def _postgres_url_and_tools() -> str:
    url = postgres_url()
    if url is None:
        pytest.skip("ESEAL_TEST_DATABASE_URL is not set")
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        pytest.skip("pg_dump and pg_restore are not installed")
    return url


def _restore_postgres(url: str, backup: Path, into: Path) -> None:
    """Restore ``backup`` as README says: its dump into the emptied schema (pg_restore), its
    files into the data directory ``into``."""
    reset_postgres(url)  # the database lost: an empty schema
    restored = subprocess.run(
        ["pg_restore", "--clean", "--if-exists", f"--dbname={url}", str(backup / "ledger.pgdump")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert restored.returncode == 0, restored.stderr
    shutil.copytree(backup, into)


def _recorded_keys(url: str) -> set[str]:
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT key_id FROM agency_key UNION SELECT key_id FROM seal")
        return {str(k) for (k,) in rows}


@pytest.mark.postgres
def test_a_postgres_backup_taken_while_the_node_acts_restores_whole(tmp_path: Path) -> None:
    """A PostgreSQL node issues and adds signing keys in this process while another process
    backs it up: the backup holds the dump, taken in the snapshot the manifest's size and
    root were read in, and, restored (pg_restore into an emptied schema), is a node whose
    ledger ends at the manifest's size and root, audits clean, and has the file of every
    signing key it records."""
    url = _postgres_url_and_tools()
    node = postgres_node(tmp_path / "node", url)
    out = tmp_path / "b"
    stop = threading.Event()
    errors: list[BaseException] = []
    issue_many(node, AGENT, MARKET, [business_request() for _ in range(20)], now=NOW)
    before = node.log.size()

    def write() -> None:
        try:
            n = 0
            while not stop.is_set():
                issue_many(node, AGENT, MARKET, [business_request() for _ in range(3)], now=NOW)
                n += 1
                if n % 3 == 0:  # a new key file now and then, as an agency rotates
                    rotate_key(node, MARKET, now=NOW)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        while node.log.size() < before + 30 and not errors:
            stop.wait(0.01)
        committed = node.log.size()
        run = run_eseal("--data", node.data_dir, "--json", "backup", out, cwd=tmp_path)
        size_after_backup = node.log.size()
        while node.log.size() < size_after_backup + 10 and not errors:
            stop.wait(0.01)
    finally:
        stop.set()
        writer.join(timeout=60)
    assert not errors, errors
    assert run.code == 0, str(run)
    node_size = node.log.size()
    node.close()
    said = json.loads(run.stdout)
    manifest = read_manifest(out)
    ledger = manifest["ledger"]
    assert manifest["database"] == "postgresql"
    assert (said["size"], said["root_hash"]) == (ledger["size"], ledger["root_hash"])
    assert committed <= ledger["size"] < node_size  # appends before and after it
    assert sorted(p.name for p in out.iterdir()) == [
        "backup.json",
        "keys",
        "ledger.pgdump",
        "node.json",
    ]
    dump = out / "ledger.pgdump"
    assert manifest["files"]["ledger.pgdump"] == {
        "bytes": dump.stat().st_size,
        "sha256": backup_module._sha256_of(dump).sha256,
    }
    assert dump.stat().st_mode & 0o777 == 0o600
    assert manifest["dump"]["schema"] == run_schema()
    check = run_eseal("backup", "--check", out, cwd=tmp_path)
    assert check.code == 0, str(check)
    assert "PostgreSQL" in check.stdout

    shutil.rmtree(tmp_path / "node")
    _restore_postgres(url, out, tmp_path / "restored")
    recorded = _recorded_keys(url)
    assert len(recorded) >= 2  # the agency's first key and a rotation at least
    assert {f"keys/{k}.key" for k in recorded} <= set(manifest["files"])
    with Node.open(tmp_path / "restored", passphrase=PASSPHRASE) as back:
        assert back.log.size() == ledger["size"]  # the dump is the snapshot, no more
        assert back.log.checkpoint() == ledger["checkpoint"]
        assert back.log.root_hash(ledger["size"]) == base64.b64decode(ledger["root_hash"])
        assert audit(back.store, back.log_verifier).ok
        for key in recorded:  # each opens with the passphrase
            assert back.signing_key(bytes.fromhex(key))
        issue(back, AGENT, MARKET, business_request(), now=NOW)  # it acts again


@pytest.mark.postgres
def test_a_postgres_backup_dumps_the_snapshot_it_copies_the_keys_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key added just before the snapshot is in the dump and has its file; one added while
    pg_dump runs is not in the dump (the snapshot is older), its file an extra."""
    url = _postgres_url_and_tools()
    node = postgres_node(tmp_path / "node", url)
    added: dict[str, str] = {}
    snapshot, dump = exported_snapshot, backup_module._dump_database

    def rotate_then_snapshot(*args: Any, **kwargs: Any) -> Any:
        added["before"] = rotate_key(node, MARKET, now=NOW).key_id.hex()
        return snapshot(*args, **kwargs)

    def rotate_then_dump(*args: Any, **kwargs: Any) -> Any:
        added["during"] = rotate_key(node, MARKET, now=NOW).key_id.hex()
        return dump(*args, **kwargs)

    monkeypatch.setattr(backup_module, "exported_snapshot", rotate_then_snapshot)
    monkeypatch.setattr(backup_module, "_dump_database", rotate_then_dump)
    made = take_backup(node.data_dir, tmp_path / "b", database_url=None, now=NOW)
    size = node.log.size()
    node.close()
    assert made.manifest["ledger"]["size"] < size  # the rotation during the dump is not in it
    assert check_backup(tmp_path / "b").ok
    _restore_postgres(url, tmp_path / "b", tmp_path / "restored")
    recorded = _recorded_keys(url)
    assert added["before"] in recorded
    assert added["during"] not in recorded
    assert {f"keys/{k}.key" for k in recorded} <= set(made.manifest["files"])

    # --check finds the dump changed since.
    archive = tmp_path / "b" / "ledger.pgdump"
    data = bytearray(archive.read_bytes())
    data[-1] ^= 1
    archive.write_bytes(bytes(data))
    assert check_backup(tmp_path / "b").problems == [
        "ledger.pgdump is not the file backed up (its size or SHA-256)"
    ]


def _fake_pg_dump(bin_dir: Path, log: Path, version: str | None = None) -> None:
    """A pg_dump in ``bin_dir`` that logs its arguments and PGPASSWORD into ``log``, then
    says ``version`` or runs the real one."""
    real = shutil.which("pg_dump")
    assert real is not None
    bin_dir.mkdir()
    then = f"echo 'pg_dump (PostgreSQL) {version}'" if version else f'exec {real} "$@"'
    script = bin_dir / "pg_dump"
    script.write_text(
        "#!/bin/sh\n"
        f'printf "argv %s\\n" "$*" >> {log}\n'
        f'printf "PGPASSWORD=%s\\n" "${{PGPASSWORD-}}" >> {log}\n'
        f"{then}\n"
    )
    script.chmod(0o755)


@pytest.mark.postgres
def test_a_postgres_backup_without_a_fit_pg_dump_is_refused_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = _postgres_url_and_tools()
    node = postgres_node(tmp_path / "node", url)
    node.close()
    state = (files_state(tmp_path / "node"), _recorded_keys(url))
    _fake_pg_dump(tmp_path / "old-bin", tmp_path / "log", version="9.6.24")
    out = tmp_path / "b"
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no pg_dump on it
    args = ["--data", str(tmp_path / "node"), "backup", str(out)]
    code, said, err = run_in_process(args, capsys, monkeypatch)
    assert code == 2, err
    assert said == ""
    assert "pg_dump is not installed" in err
    assert "postgresql-client" in err
    assert not out.exists()
    assert _leftovers(tmp_path, "b") == []

    # One older than the server: refused the same way.
    monkeypatch.setenv("PATH", str(tmp_path / "old-bin"))
    code, said, err = run_in_process(args, capsys, monkeypatch)
    assert code == 2, err
    assert "is pg_dump 9.6.24, older than the database server" in err
    assert "postgresql-client" in err
    assert not out.exists()
    assert _leftovers(tmp_path, "b") == []
    assert (files_state(tmp_path / "node"), _recorded_keys(url)) == state


@pytest.mark.postgres
def test_the_database_password_reaches_pg_dump_by_its_environment_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = _postgres_url_and_tools()
    password = "S3cret-pw-4-backup"
    scheme, _, rest = url.partition("://")
    userinfo, _, host = rest.rpartition("@")
    if not userinfo or ":" in userinfo:
        pytest.skip("the test database URL names no user, or a password already")
    with_password = f"{scheme}://{userinfo}:{password}@{host}"
    node = postgres_node(tmp_path / "node", url)  # the server asks none: any password does
    node.close()
    log = tmp_path / "log"
    _fake_pg_dump(tmp_path / "bin", log)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    out = tmp_path / "b"
    for as_json in ([], ["--json"]):
        shutil.rmtree(out, ignore_errors=True)
        args = ["--data", str(tmp_path / "node"), "--database-url", with_password, *as_json]
        code, said, err = run_in_process([*args, "backup", str(out)], capsys, monkeypatch)
        assert code == 0, err
        assert password not in said + err
        assert "ledger.pgdump" in said
    logged = log.read_text()
    assert f"PGPASSWORD={password}" in logged  # pg_dump was given it, in its environment
    argv = [line for line in logged.splitlines() if line.startswith("argv ")]
    assert any("--snapshot=" in line for line in argv)
    assert not any(password in line for line in argv)  # and not on its command line
    for path in out.rglob("*"):
        if path.is_file():
            assert password.encode() not in path.read_bytes(), path
    assert check_backup(out).ok
