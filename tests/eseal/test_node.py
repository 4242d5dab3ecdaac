"""The node on disk keeps no secret in clear: key files are sealed, and a database
password never reaches node.json; a node opens only its own ledger."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from eseal.agencies import add_agency
from eseal.ids import InvalidRegionCode
from eseal.node import (
    MAX_NODE_FILE,
    NODE_FILE,
    RESTORE_NODE_FILE,
    AlreadyInitialised,
    LedgerMissing,
    Node,
    _without_password,
    init_node,
)
from eseal.passphrase import change_passphrase, key_files
from eseal.witness import witness_key
from keys import keyfile
from keys.errors import EsealError, InvalidInput
from ledger.audit import audit
from ledger.entries import decode_entry
from ledger.sql import SqlStore
from tests.eseal.conftest import BUSINESS, MARKET, NOW, PASSPHRASE, run_eseal

ROOT = Path(__file__).resolve().parents[2]


def test_database_password_is_not_kept(tmp_path: Path) -> None:
    assert _without_password("postgresql://eseal:s3cret@db/eseal") == (
        "postgresql://eseal:***@db/eseal"
    )
    assert _without_password("postgresql://eseal@db/eseal") == "postgresql://eseal@db/eseal"
    init_node(tmp_path, region="500000", name="重庆市", passphrase=PASSPHRASE, now=NOW).close()
    config = json.loads((tmp_path / NODE_FILE).read_text(encoding="utf-8"))
    config["database_url"] = "postgresql://eseal:***@127.0.0.1:1/eseal"
    (tmp_path / NODE_FILE).write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(InvalidInput, match="password"):
        Node.open(tmp_path)


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        (
            "postgresql://eseal@db/eseal?password=s3cret&sslmode=require",
            "postgresql://eseal@db/eseal?password=***&sslmode=require",
        ),
        (
            "postgresql://eseal@db/eseal?sslpassword=s3cret",
            "postgresql://eseal@db/eseal?sslpassword=***",
        ),
        (
            "postgresql://eseal:s3cret@db/eseal?password=s3cret",
            "postgresql://eseal:***@db/eseal?password=***",
        ),
    ],
)
def test_a_database_password_in_the_query_is_not_kept_either(
    tmp_path: Path, given: str, kept: str
) -> None:
    """libpq takes ``?password=`` as the password (SQLAlchemy hands psycopg the query):
    node.json keeps it hidden too, and a node so recorded asks for the URL again."""
    assert _without_password(given) == kept
    init_node(tmp_path, region="500000", name="重庆市", passphrase=PASSPHRASE, now=NOW).close()
    config = json.loads((tmp_path / NODE_FILE).read_text(encoding="utf-8"))
    config["database_url"] = kept.replace("@db/", "@127.0.0.1:1/")
    (tmp_path / NODE_FILE).write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(InvalidInput, match="password"):
        Node.open(tmp_path)


@pytest.mark.filterwarnings("ignore:Query string argument")  # sqlite takes no password
def test_a_message_naming_a_database_shows_no_password(tmp_path: Path) -> None:
    """Refusing a database that is not the node's names it, without its password."""
    first = tmp_path / "first"
    init_node(first, region="500000", name="重庆市", passphrase=PASSPHRASE, now=NOW).close()
    url = f"sqlite:///{first / 'ledger.db'}?password=s3cret"
    with pytest.raises(EsealError) as refused:
        init_node(
            tmp_path / "second",
            region="500000",
            name="重庆市",
            passphrase=PASSPHRASE,
            now=NOW,
            database_url=url,
        )
    assert "s3cret" not in str(refused.value)
    assert "password=***" in str(refused.value)


def test_the_sqlite_ledger_is_readable_by_its_owner_alone(tmp_path: Path) -> None:
    """The ledger database holds every license's holder and fields: under the usual umask
    (022) it was made 0644, readable by every local user, with its -wal and -shm files."""
    old = os.umask(0o022)
    try:
        node = init_node(tmp_path, region="500000", name="重庆市", passphrase=PASSPHRASE, now=NOW)
        add_agency(node, code=MARKET, name="重庆市市场监督管理局", types=[BUSINESS], now=NOW)
        files = sorted(tmp_path.glob("ledger.db*"))
        modes = {p.name: p.stat().st_mode & 0o777 for p in files}
        node.close()
    finally:
        os.umask(old)
    assert "ledger.db" in modes
    assert modes == dict.fromkeys(modes, 0o600)


def test_no_private_key_in_clear_in_the_data_directory(tmp_path: Path) -> None:
    node = init_node(tmp_path, region="500000", name="重庆市", passphrase=PASSPHRASE, now=NOW)
    seeds = [bytes(k._seed) for k in (node.root_key, node.log_key) if k is not None]
    node.close()
    assert len(seeds) == 2
    for path in tmp_path.rglob("*"):
        if path.is_file():
            raw = path.read_bytes()
            assert not any(seed in raw or seed.hex().encode() in raw for seed in seeds), path


def test_a_node_opens_no_ledger_but_its_own(tmp_path: Path) -> None:
    """A lost ledger.db, an empty database or another node's ledger is refused when the node
    opens, before anything is appended: the node would otherwise start a second history
    under its origin and log key (a fork), its audit saying OK."""
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    init_node(ours, region="500000", name="重庆市", passphrase=PASSPHRASE, now=NOW).close()
    init_node(theirs, region="110000", name="北京市", passphrase=PASSPHRASE, now=NOW).close()
    lost = tmp_path / "lost"
    shutil.copytree(ours, lost)
    for db in lost.glob("ledger.db*"):
        db.unlink()
    with pytest.raises(LedgerMissing, match="has no ledger at"):
        Node.open(lost, passphrase=PASSPHRASE)
    assert not (lost / "ledger.db").exists()  # not made empty on the way
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    with pytest.raises(LedgerMissing, match="holds no ledger"):
        Node.open(ours, passphrase=PASSPHRASE, database_url=f"sqlite:///{empty}")
    assert empty.stat().st_size == 0  # refused as it was: no tables made in it, no WAL mode
    SqlStore(f"sqlite:///{tmp_path / 'tables.db'}").close()  # a ledger's tables, no entry
    with pytest.raises(LedgerMissing, match="is empty"):
        Node.open(ours, database_url=f"sqlite:///{tmp_path / 'tables.db'}")
    with pytest.raises(LedgerMissing, match="not the one of this node"):
        Node.open(ours, database_url=f"sqlite:///{theirs / 'ledger.db'}")
    with Node.open(ours) as node:
        assert node.log.size() == 3


def test_a_data_directory_that_cannot_be_written_is_named_as_such(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite in WAL mode writes beside its file even to read it: a node whose directory the
    user may not write says so, not SQLite's "unable to open database file". (The test runs
    as root, whom no mode bit stops, so the access check itself is made to say no.)"""
    data = tmp_path / "node"
    init_node(data, region="500000", name="重庆市", passphrase=PASSPHRASE, now=NOW).close()
    real = os.access

    def no_writing_there(path: Any, mode: int, **kwargs: Any) -> bool:
        return False if Path(path) == data and mode == os.W_OK else real(path, mode, **kwargs)

    monkeypatch.setattr(os, "access", no_writing_there)
    with pytest.raises(InvalidInput, match=f"cannot write in {data}: SQLite"):
        Node.open(data)
    # Where the files SQLite keeps beside the ledger are there (and writable), it opens.
    for suffix in ("-wal", "-shm"):
        (data / f"ledger.db{suffix}").touch()
    with Node.open(data) as node:
        assert node.log.size() == 3


def test_a_failed_init_leaves_no_directory_it_made(tmp_path: Path) -> None:
    """An init that fails (here, a database that cannot be reached) removes the data
    directory and the parents it made for it, not only the data directory."""
    data = tmp_path / "a" / "b" / "node"
    with pytest.raises(EsealError):
        init_node(
            data,
            region="500000",
            name="重庆市",
            passphrase=PASSPHRASE,
            now=NOW,
            database_url="postgresql://nobody@127.0.0.1:1/none",
        )
    assert not (tmp_path / "a").exists()
    assert tmp_path.exists()


def test_node_json_is_written_durably_rename_and_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """node.json is renamed into place and then its directory is fsynced, so that the
    rename survives a power cut: the directory is synced after node.json is there."""
    synced: list[tuple[Path, bool]] = []
    real = keyfile.fsync_directory

    def spy(directory: Path) -> None:
        synced.append((directory, (directory / NODE_FILE).exists()))
        real(directory)

    monkeypatch.setattr(keyfile, "fsync_directory", spy)
    data = tmp_path / "node"
    init_node(data, region="500000", name="重庆市", passphrase=PASSPHRASE, now=NOW)
    assert (data, True) in synced
    assert json.loads((data / NODE_FILE).read_text(encoding="utf-8"))["region"] == "500000"


@pytest.mark.parametrize(
    ("origin", "says"),
    [("eseal 500000", "contains a space or a plus"), ("eseal+1", "a plus"), ("é" * 200, "bytes")],
)
def test_a_bad_origin_is_refused_before_anything_is_made(
    tmp_path: Path, origin: str, says: str
) -> None:
    """An origin that cannot name the log (its checkpoints' first line) is refused as an
    origin, before the data directory or its parents are made (it was refused as a 'key
    name' once the keys were written, and the parents stayed)."""
    data = tmp_path / "a" / "b" / "node"
    with pytest.raises(InvalidInput, match=f"cannot use the log origin: origin.*{says}"):
        init_node(
            data, region="500000", name="重庆市", passphrase=PASSPHRASE, now=NOW, origin=origin
        )
    assert not (tmp_path / "a").exists()


def test_a_node_sealed_under_a_passphrase_the_rule_now_refuses_opens_with_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rule holds a passphrase being set, not one a node has: a node made under a
    passphrase the rule refuses (made here with the rule switched off, as before it was
    made) opens with it, signs, and takes a strong new one from it."""
    old, new = b"abcabcabcabc", b"a much better passphrase"
    assert keyfile.weak_passphrase_problem(old) == "it is a shorter sequence of characters repeated"
    data = tmp_path / "node"
    with monkeypatch.context() as rule_off:
        rule_off.setattr(keyfile, "weak_passphrase_problem", lambda _passphrase: None)
        init_node(data, region="500000", name="重庆市", passphrase=old, now=NOW).close()
    with Node.open(data, passphrase=old) as node:
        assert node.log_key is not None
        add_agency(node, code=MARKET, name="重庆市市场监督管理局", types=[BUSINESS], now=NOW)
    change_passphrase(data, old, new)
    Node.open(data, passphrase=new).close()


@pytest.mark.parametrize(
    ("region", "passphrase", "refused", "says"),
    [
        ("500000", b"too short", keyfile.WeakPassphrase, "has 9 characters"),
        ("500000", "重庆市市场监督管理局钥".encode(), keyfile.WeakPassphrase, "has 11 characters"),
        ("500000", b"x" * 40, keyfile.WeakPassphrase, "one character repeated"),
        ("500000", b"123456789012345", keyfile.WeakPassphrase, "only digits, 15"),
        ("500000", b"abcabcabcabc", keyfile.WeakPassphrase, "shorter sequence of characters"),
        ("500000", b"abcdefghijklmnop", keyfile.WeakPassphrase, "run of consecutive"),
        ("500000", b"abab-abab-abab-", keyfile.WeakPassphrase, "shorter sequence"),
        ("500000", b"aabb--aabb--aab--", keyfile.WeakPassphrase, "only 3 different"),
        ("990000", PASSPHRASE, InvalidRegionCode, "province-level code of GB/T 2260"),
        ("100000", PASSPHRASE, InvalidRegionCode, "中央国家机关"),
        ("500001", PASSPHRASE, InvalidRegionCode, "of no GB/T 2260 level"),
    ],
    ids=[
        "short",
        "short-chinese",
        "repeated",
        "short-digits",
        "pattern",
        "run",
        "pattern-cut-short",
        "few-characters",
        "province",
        "central",
        "level",
    ],
)
def test_a_weak_passphrase_or_a_region_code_of_no_level_is_refused_before_anything_is_made(
    tmp_path: Path, region: str, passphrase: bytes, refused: type[EsealError], says: str
) -> None:
    data = tmp_path / "a" / "b" / "node"
    with pytest.raises(refused, match=says):
        init_node(data, region=region, name="重庆市", passphrase=passphrase, now=NOW)
    assert not (tmp_path / "a").exists()
    empty = tmp_path / "empty"
    empty.mkdir()  # an empty data directory made beforehand stays empty
    with pytest.raises(refused, match=says):
        init_node(empty, region=region, name="重庆市", passphrase=passphrase, now=NOW)
    assert list(empty.iterdir()) == []


def test_a_node_is_made_under_twelve_chinese_characters_for_a_county(tmp_path: Path) -> None:
    """Characters are counted, not bytes (12 here, 36 bytes); a county's code is a region's."""
    passphrase = "重庆市市场监督管理局钥匙".encode()
    init_node(tmp_path, region="500103", name="渝中区", passphrase=passphrase, now=NOW).close()
    with Node.open(tmp_path, passphrase=passphrase) as node:
        assert node.config.region == "500103"
        assert node.root_key is not None


def test_a_node_sealed_under_a_short_passphrase_before_the_rule_still_opens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a passphrase being set is held to the rule: a node whose keys were sealed under
    a short one (as init allowed before) opens and issues with it, and changes it."""
    init_node(tmp_path, region="500000", name="重庆市", passphrase=PASSPHRASE, now=NOW).close()
    old = b"short"
    for path in key_files(tmp_path):
        keyfile.rewrap_key_file(path, keyfile.read_key_file(path, PASSPHRASE), old)
    with Node.open(tmp_path, passphrase=old) as node:
        assert node.root_key is not None
        add_agency(node, code=MARKET, name="重庆市市场监督管理局", types=[BUSINESS], now=NOW)
    monkeypatch.setenv("ESEAL_PASSPHRASE", old.decode())
    monkeypatch.setenv("ESEAL_NEW_PASSPHRASE", PASSPHRASE.decode())
    code, _, err = run_eseal(["--data", str(tmp_path), "passphrase"], capsys, monkeypatch)
    assert code == 0, err
    with Node.open(tmp_path, passphrase=PASSPHRASE) as node:
        assert node.log.size() == 4


_DIE_BEFORE_NODE_JSON = """
import os, signal, sys
from pathlib import Path
from eseal import node
def die(path, value):
    os.kill(os.getpid(), signal.SIGKILL)
node._write_json_atomic = die
node.init_node(Path(sys.argv[1]), region="500000", name="重庆市", passphrase=b"test passphrase",
               now=1_795_000_000)
"""


def test_an_init_killed_before_node_json_is_finished_by_the_next(tmp_path: Path) -> None:
    """The process dies after the ledger's first entries are committed and before node.json
    is written: the next ``init`` of the same region finishes that node (its keys and
    entries) rather than refusing a ledger that "already has entries", which left the
    operator a directory no command would open."""
    data = tmp_path / "node"
    died = subprocess.run(
        [sys.executable, "-c", _DIE_BEFORE_NODE_JSON, str(data)], cwd=ROOT, check=False
    )
    assert died.returncode == -signal.SIGKILL
    assert not (data / NODE_FILE).exists()
    recorded = SqlStore(f"sqlite:///{data / 'ledger.db'}")
    try:
        assert recorded.head().size == 3
        root_entry = decode_entry(recorded.read_entries(0, 1)[0])
    finally:
        recorded.close()
    # Another region's init does not take that ledger over, nor changes anything.
    with pytest.raises(AlreadyInitialised, match="already has entries"):
        init_node(data, region="110000", name="北京市", passphrase=PASSPHRASE, now=NOW + 5)
    assert not (data / NODE_FILE).exists()
    with init_node(
        data, region="500000", name="重庆市", passphrase=PASSPHRASE, now=NOW + 5
    ) as node:
        assert node.config.root_public_key == root_entry.body
        assert node.log.size() == 3
        assert witness_key(node) is not None  # the one the dead init recorded
        add_agency(node, code=MARKET, name="重庆市市场监督管理局", types=[BUSINESS], now=NOW + 6)
    with Node.open(data, passphrase=PASSPHRASE) as node:
        assert audit(node.store, node.log_verifier).ok
        assert node.log.size() == 4


def test_a_command_run_where_there_is_no_node_says_how_to_name_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run without --data or ESEAL_DATA, a command looks in ./eseal-data: its refusal says how
    to point it at the node (it said only to run `eseal init`, which would make a second
    node, when what was missing was the setting), and nothing is created."""
    monkeypatch.delenv("ESEAL_DATA", raising=False)
    monkeypatch.delenv("ESEAL_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    code, out, err = run_eseal(["ledger", "checkpoint"], capsys, monkeypatch)
    assert (code, out) == (2, "")
    assert err == (
        "error: no eseal node in eseal-data: name the node's directory with --data or"
        " ESEAL_DATA, or create a node there with `eseal init`\n"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def a_node(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data directory of a node made once, to be copied (init derives keys slowly)."""
    data = tmp_path_factory.mktemp("node") / "data"
    init_node(data, region="500000", name="重庆市", passphrase=PASSPHRASE, now=NOW).close()
    return data


def _truncated(text: bytes) -> bytes:
    return text[: len(text) // 2]


def _region_repeated(text: bytes) -> bytes:
    """Another region first: Python's json read the last, another parser reads the first."""
    assert text.startswith(b"{\n")
    return b'{"region": "110000",' + text[1:]


def _huge(text: bytes) -> bytes:
    return text + b" " * MAX_NODE_FILE  # still JSON, but no node.json is that large


def _nested(text: bytes) -> bytes:
    return b"[" * 60_000  # json.loads ran out of stack: a traceback


def _database_url_a_number(text: bytes) -> bytes:
    return text.replace(b'"database_url": null', b'"database_url": 5')


def _region_a_number(text: bytes) -> bytes:
    return text.replace(b'"region": "500000"', b'"region": 500000')


def _format_other(text: bytes) -> bytes:
    assert b'"format": "eseal-node/v1"' in text
    return text.replace(b'"format": "eseal-node/v1"', b'"format": "eseal-node/v9"')


def _name_half_a_pair(text: bytes) -> bytes:
    """A name json.loads read into a str no UTF-8 holds: `bundle export` and `backup` ended
    in a traceback where they wrote it out."""
    name = '"name": "重庆市"'.encode()
    assert name in text
    return text.replace(name, b'"name": "\\ud800"')


@pytest.mark.parametrize(
    "case",
    [
        (_truncated, "is not JSON (Unterminated string"),
        (_region_repeated, "is not JSON (duplicate key 'region')"),
        (_huge, f"is larger than {MAX_NODE_FILE:,} bytes"),
        (_nested, "is not JSON (nested too deeply)"),
        (_database_url_a_number, "is damaged: its database_url is 5, neither text nor null"),
        (_region_a_number, "is damaged: its region is 500000, not text"),
        (_name_half_a_pair, "is not JSON (it holds \\ud800, half a UTF-16 surrogate pair"),
        (_format_other, "is of format 'eseal-node/v9', not eseal-node/v1; run the eseal that"),
    ],
    ids=[
        "truncated",
        "key-repeated",
        "huge",
        "nested",
        "url-a-number",
        "region-a-number",
        "name-half-a-pair",
        "format-other",
    ],
)
def test_a_damaged_node_json_is_named_with_what_to_do(
    a_node: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    case: tuple[Callable[[bytes], bytes], str],
) -> None:
    """node.json cut short, hand-edited (a key twice, a number for text) or swollen is
    refused, exit 2, in one line naming the file, its flaw and, after "; ", what to do (a
    flaw found by the JSON reader was joined to it by ":", one in a field by ";"); it was read
    with json.loads, which took a repeated key (the last of it), and a value of another
    type or a nesting too deep for its stack ended in a traceback."""
    damage, said = case
    data = tmp_path / "data"
    shutil.copytree(a_node, data)
    path = data / NODE_FILE
    path.write_bytes(damage(path.read_bytes()))
    code, out, err = run_eseal(["--data", str(data), "ledger", "checkpoint"], capsys, monkeypatch)
    assert (code, out) == (2, ""), err
    assert err.startswith(f"error: {path} {said}"), err
    advice = err.rpartition("; ")[2]  # after the flaw, as with_note adds a note
    assert advice.removeprefix("run the eseal that made it, or ") == f"{RESTORE_NODE_FILE}\n", err
    assert err.count("\n") == 1, err
