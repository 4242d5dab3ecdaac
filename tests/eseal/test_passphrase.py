"""Changing the passphrase that seals a node's keys: every key file or none, never beside a
node process holding the keys, and a change cut short is named and finished by a rerun."""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from eseal import passphrase as pp
from eseal.node import Node, init_node
from keys import keyfile
from keys.errors import InvalidInput
from tests.eseal.conftest import NOW, PASSPHRASE, make_region, run_eseal

NEW = b"a new passphrase"


def _files(data: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in pp.key_files(data)}


def _public_keys(data: Path) -> dict[str, bytes]:
    return {p.name: keyfile.read_public_key(p) for p in pp.key_files(data)}


@pytest.fixture
def data(tmp_path: Path) -> Path:
    region = make_region(tmp_path / "node")  # root, log and two agency keys
    region.node.close()
    return tmp_path / "node"


def test_every_key_file_is_sealed_under_the_new_passphrase(data: Path) -> None:
    before = _files(data)
    keys = {name: keyfile.read_key_file(data / "keys" / name, PASSPHRASE) for name in before}
    steps: list[int] = []
    done = pp.change_passphrase(data, PASSPHRASE, NEW, progress=steps.append)
    assert sorted(p.name for p in done.rewrapped) == sorted(before)
    assert done.already == []
    assert sum(steps) == 2 * len(before)
    for name, key in keys.items():
        path = data / "keys" / name
        assert path.read_bytes() != before[name]
        assert keyfile.read_key_file(path, NEW).encode() == key.encode()
        with pytest.raises(keyfile.WrongPassphrase):
            keyfile.read_key_file(path, PASSPHRASE)
        assert path.stat().st_mode & 0o777 == 0o600
        new_doc, old_doc = json.loads(path.read_bytes()), json.loads(before[name])
        for kept in ("label", "opslimit", "memlimit", "public_key", "key_id"):
            assert new_doc[kept] == old_doc[kept]
    assert not (data / pp.CHANGE_MARK).exists()
    with pytest.raises(keyfile.WrongPassphrase):
        Node.open(data, passphrase=PASSPHRASE)
    Node.open(data, passphrase=NEW).close()


def test_a_file_that_opens_with_neither_passphrase_changes_nothing(data: Path) -> None:
    stranger = next(p for p in pp.key_files(data) if p.name not in ("root.key", "log.key"))
    key = keyfile.read_key_file(stranger, PASSPHRASE)
    keyfile.rewrap_key_file(stranger, key, b"someone else's passphrase")
    before = _files(data)
    with pytest.raises(pp.NeitherPassphrase, match=stranger.name):
        pp.change_passphrase(data, PASSPHRASE, NEW)
    assert _files(data) == before
    assert not (data / pp.CHANGE_MARK).exists()


def test_no_change_runs_beside_a_node_holding_the_keys(data: Path) -> None:
    before = _files(data)
    node = Node.open(data, passphrase=PASSPHRASE)
    try:
        with pytest.raises(pp.NodeInUse, match="stop `eseal serve`"):
            pp.change_passphrase(data, PASSPHRASE, NEW)
    finally:
        node.close()
    assert _files(data) == before
    Node.open(data).close()  # a node that holds no keys (read-only) takes no lock
    pp.change_passphrase(data, PASSPHRASE, NEW)  # once the node is closed, it runs


def test_no_node_opens_its_keys_while_a_change_runs(data: Path) -> None:
    with pp.exclusive_keys(data), pytest.raises(pp.NodeInUse, match="being changed"):
        Node.open(data, passphrase=PASSPHRASE)
    Node.open(data, passphrase=PASSPHRASE).close()


def test_a_change_cut_short_is_named_and_finished_by_running_it_again(data: Path) -> None:
    public = _public_keys(data)
    asked: list[bool] = []

    def stop_after_one() -> bool:
        asked.append(True)
        return len(asked) > 1

    with pytest.raises(pp.ChangeInterrupted, match="1 of the key files"):
        pp.change_passphrase(data, PASSPHRASE, NEW, stop=stop_after_one)
    assert (data / pp.CHANGE_MARK).exists()
    for passphrase in (PASSPHRASE, NEW):  # either one: the node is half changed
        with pytest.raises(pp.ChangeInterrupted, match="run `eseal passphrase` again"):
            Node.open(data, passphrase=passphrase)
    Node.open(data).close()  # reading the ledger needs no keys

    done = pp.change_passphrase(data, PASSPHRASE, NEW)
    assert len(done.already) == 1
    assert len(done.rewrapped) == len(public) - 1
    assert not (data / pp.CHANGE_MARK).exists()
    assert _public_keys(data) == public
    Node.open(data, passphrase=NEW).close()


def test_a_write_that_fails_midway_leaves_each_file_whole(
    data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = keyfile.rewrap_key_file
    written: list[Path] = []

    def full_disk(path: Path, key: object, passphrase: bytes) -> None:
        if written:
            raise keyfile.KeyFileUnavailable(f"cannot write key file {path}: No space left")
        real(path, key, passphrase)  # type: ignore[arg-type]
        written.append(path)

    monkeypatch.setattr(keyfile, "rewrap_key_file", full_disk)
    with pytest.raises(keyfile.KeyFileUnavailable):
        pp.change_passphrase(data, PASSPHRASE, NEW)
    monkeypatch.undo()
    for path in pp.key_files(data):  # each file opens under exactly one of the two
        under_new = path == written[0]
        keyfile.read_key_file(path, NEW if under_new else PASSPHRASE)
    assert (data / pp.CHANGE_MARK).exists()
    pp.change_passphrase(data, PASSPHRASE, NEW)
    Node.open(data, passphrase=NEW).close()


def test_the_same_or_an_empty_passphrase_is_refused(data: Path) -> None:
    before = _files(data)
    with pytest.raises(InvalidInput, match="is the current one"):
        pp.change_passphrase(data, PASSPHRASE, PASSPHRASE)
    with pytest.raises(InvalidInput, match="empty"):
        pp.change_passphrase(data, PASSPHRASE, b"")
    assert _files(data) == before


@pytest.mark.parametrize(
    ("new", "says"),
    [
        (b"too short", "has 9 characters, and needs at least 12"),
        (b"=" * 20, "one character repeated"),
        (b"20250101123456", "only digits, 14 of them"),
        (b"abababababab", "a shorter sequence of characters repeated"),
        (b"9876543210987654", "a run of consecutive characters"),
        (b"abcd-abcd-abcd-a", "a shorter sequence of characters repeated"),
        (b"abcdabcdabcdd", "only 4 different characters"),
    ],
)
def test_a_weak_new_passphrase_changes_nothing(data: Path, new: bytes, says: str) -> None:
    before = _files(data)
    with pytest.raises(keyfile.WeakPassphrase, match=f"ESEAL_NEW_PASSPHRASE.*{says}"):
        pp.change_passphrase(data, PASSPHRASE, new)
    assert _files(data) == before
    assert not (data / pp.CHANGE_MARK).exists()


def test_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "node"
    init_node(data, region="500000", name="重庆市", passphrase=PASSPHRASE, now=NOW).close()
    before = _files(data)
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE.decode())
    monkeypatch.delenv("ESEAL_NEW_PASSPHRASE", raising=False)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    code, said, err = run_eseal(["--data", str(data), "passphrase"], capsys, monkeypatch)
    assert (code, said) == (2, "")
    assert "set ESEAL_NEW_PASSPHRASE" in err
    monkeypatch.setenv("ESEAL_NEW_PASSPHRASE", PASSPHRASE.decode())
    code, said, err = run_eseal(["--data", str(data), "passphrase"], capsys, monkeypatch)
    assert (code, said) == (2, "")
    assert "is the current one" in err
    code, said, err = run_eseal(["--data", str(tmp_path), "passphrase"], capsys, monkeypatch)
    assert code == 2
    assert "no eseal node" in err
    monkeypatch.setenv("ESEAL_NEW_PASSPHRASE", "new one")
    code, said, err = run_eseal(["--data", str(data), "passphrase"], capsys, monkeypatch)
    assert (code, said) == (2, "")
    assert "the new passphrase (ESEAL_NEW_PASSPHRASE) is too weak" in err
    assert "has 7 characters, and needs at least 12" in err
    assert _files(data) == before

    monkeypatch.setenv("ESEAL_NEW_PASSPHRASE", NEW.decode())
    code, said, err = run_eseal(["--data", str(data), "--json", "passphrase"], capsys, monkeypatch)
    assert code == 0, err
    report = json.loads(said)
    witness = sorted(p.name for p in (data / "keys").glob("????????????????.key"))
    assert len(witness) == 1  # the witness key, made at init
    assert sorted(Path(p).name for p in report["rewrapped"]) == [*witness, "log.key", "root.key"]
    assert report["already"] == []
    Node.open(data, passphrase=NEW).close()


def test_a_key_file_written_just_before_the_lock_is_taken_is_sealed_again(
    data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A node process (a seal being made) writes its new key file and exits just as the
    # change starts: the change, which waited for its lock, must see that file too.
    new_key = keyfile.read_key_file(data / "keys" / "log.key", PASSPHRASE)
    late = data / "keys" / "late.key"
    exclusive = pp.exclusive_keys

    def after_a_node_exited(data_dir: Path) -> AbstractContextManager[None]:
        keyfile.write_key_file(late, new_key, PASSPHRASE)
        return exclusive(data_dir)

    monkeypatch.setattr(pp, "exclusive_keys", after_a_node_exited)
    done = pp.change_passphrase(data, PASSPHRASE, NEW)
    assert late in done.rewrapped
    assert keyfile.read_key_file(late, NEW).encode() == new_key.encode()
