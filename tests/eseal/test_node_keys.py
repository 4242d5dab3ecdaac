"""A node's root and log key files are its own: a node opens only with the keys node.json
names, and no second ``eseal init`` beside a first replaces or removes what it made."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from eseal.node import AlreadyInitialised, Node, SigningKeyUnusable, init_node
from eseal.passphrase import NodeInUse, exclusive_keys
from keys import ed25519, keyfile
from keys.errors import InvalidInput
from ledger.audit import audit
from tests.e2e.conftest import files_state, tables_state
from tests.eseal.conftest import BUSINESS, MARKET, NOW, PASSPHRASE, run_eseal


def _node(data: Path) -> Path:
    init_node(data, region="500000", name="重庆市", passphrase=PASSPHRASE, now=NOW).close()
    return data


@pytest.mark.parametrize("name", ["root.key", "log.key"])
def test_a_node_does_not_open_with_another_nodes_key_file(
    tmp_path: Path,
    name: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A key file of another node sealed under the same passphrase (two backups mixed in a
    restore, two inits racing in one directory) opens: the node would sign checkpoints no
    one can verify with its log key, or key statements with another root. Refused, naming
    the file, before anything is signed."""
    ours, theirs = _node(tmp_path / "ours"), _node(tmp_path / "theirs")
    shutil.copytree(ours / "keys", tmp_path / "spare")
    shutil.copy(theirs / "keys" / name, ours / "keys" / name)
    with pytest.raises(InvalidInput, match=f"keys/{name} holds another key than"):
        Node.open(ours, passphrase=PASSPHRASE)
    before = files_state(ours), tables_state(ours)
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE.decode())
    args = ["--data", str(ours), "agency", "add", "--code", MARKET, "--name", "市场监督管理局"]
    code, said, err = run_eseal([*args, "--types", BUSINESS], capsys, monkeypatch)
    assert (code, said) == (2, ""), err
    assert f"keys/{name} holds another key than" in err
    assert (files_state(ours), tables_state(ours)) == before
    Node.open(ours).close()  # read-only (no key), it opens: the ledger is whole

    shutil.copy(tmp_path / "spare" / name, ours / "keys" / name)
    Node.open(ours, passphrase=PASSPHRASE).close()  # its own key back: it opens


@pytest.mark.parametrize("name", ["root.key", "log.key"])
def test_a_root_or_log_key_file_is_compared_whole_not_by_key_id(
    tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """node.json names the whole root and log public keys: another key whose key id (eight
    bytes of its hash) is the same, as one made to collide would be, is refused all the
    same."""
    ours, theirs = _node(tmp_path / "ours"), _node(tmp_path / "theirs")
    own = bytes(keyfile.read_key_file(ours / "keys" / name, PASSPHRASE).verify_key)
    other = bytes(keyfile.read_key_file(theirs / "keys" / name, PASSPHRASE).verify_key)
    shutil.copy(theirs / "keys" / name, ours / "keys" / name)
    key_id = ed25519.key_id
    monkeypatch.setattr(ed25519, "key_id", lambda pub: key_id(own if pub == other else pub))
    with pytest.raises(InvalidInput, match=f"keys/{name} holds another key than"):
        Node.open(ours, passphrase=PASSPHRASE)


def test_a_key_file_named_after_another_key_is_not_used_to_sign(tmp_path: Path) -> None:
    """An agency's, seal's or witness key file holding another key than the key id it is
    named after signs nothing: what it signed would not verify under the recorded key."""
    ours, theirs = _node(tmp_path / "ours"), _node(tmp_path / "theirs")
    (own,) = (p for p in (ours / "keys").glob("*.key") if p.stem not in ("root", "log"))
    (other,) = (p for p in (theirs / "keys").glob("*.key") if p.stem not in ("root", "log"))
    shutil.copy(other, own)
    with (
        Node.open(ours, passphrase=PASSPHRASE) as node,
        pytest.raises(SigningKeyUnusable, match=f"keys/{own.name} holds another key than"),
    ):
        node.signing_key(bytes.fromhex(own.stem))


@pytest.mark.parametrize("existing", [False, True], ids=["new directory", "empty directory"])
def test_a_second_init_beside_a_first_changes_nothing_of_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, existing: bool
) -> None:
    """Two ``eseal init`` of one directory at once (a deployment script run twice): the
    second wrote its root key over the first's, recorded its own, and the first, failing
    then, left the second's node.json beside its own log key, or, having made the
    directory, removed it whole, the node the second said it initialised with it. The
    second is refused while the first runs, and changes nothing."""
    data = tmp_path / "srv" / "node"
    if existing:
        data.mkdir(parents=True)
    write = keyfile.write_key_file
    second: list[object] = []

    def the_other_init_meanwhile(path: Path, *args: Any, **kwargs: Any) -> None:
        if path.name == "log.key" and not second:
            second.append("running")
            try:
                second[0] = init_node(
                    data, region="500000", name="重庆市", passphrase=PASSPHRASE, now=NOW
                )
            except InvalidInput as e:
                second[0] = e
        write(path, *args, **kwargs)

    monkeypatch.setattr(keyfile, "write_key_file", the_other_init_meanwhile)
    try:
        first = init_node(data, region="500000", name="重庆市", passphrase=PASSPHRASE, now=NOW)
    finally:
        if isinstance(second[0], Node):
            second[0].close()
    root = first.config.root_public_key
    first.close()
    assert isinstance(second[0], NodeInUse), second
    assert "another eseal init" in second[0].message
    with Node.open(data, passphrase=PASSPHRASE) as node:  # the first's node, its own keys
        assert node.config.root_public_key == root
        assert audit(node.store, node.log_verifier).ok


def test_an_init_that_made_the_directory_keeps_a_node_another_init_finished_in_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first init makes the directory; before it takes the keys lock, a second (which
    found the directory there) takes it and makes the whole node. The first, then finding
    node.json, is refused: it must not remove the directory, which holds the second's node."""
    data = tmp_path / "srv" / "node"
    second: list[bytes] = []

    def the_other_init_first(data_dir: Path, refused: str) -> Any:
        if data_dir == data and not second:
            second.append(b"")  # the second init's own lock is not wrapped
            with init_node(
                data, region="500000", name="重庆市", passphrase=PASSPHRASE, now=NOW
            ) as other:
                second[0] = other.config.root_public_key
        return exclusive_keys(data_dir, refused)

    monkeypatch.setattr("eseal.node.exclusive_keys", the_other_init_first)
    with pytest.raises(AlreadyInitialised, match="already holds the node"):
        init_node(data, region="500000", name="重庆市", passphrase=PASSPHRASE, now=NOW)
    with Node.open(data, passphrase=PASSPHRASE) as node:  # the second's node, whole
        assert node.config.root_public_key == second[0]
        assert audit(node.store, node.log_verifier).ok


@pytest.mark.parametrize("damage", ["swapped", "corrupt"])
def test_a_signing_key_file_the_node_cannot_use_is_its_fault_not_the_callers(
    tmp_path: Path, damage: str
) -> None:
    """An agency's key file that holds another agency's key (swapped in a restore) or is
    damaged: issuing over HTTP is the node's failure, 503 signing-key-unusable naming the
    key and its file within the data directory, not a 400 blaming the request, nor the
    server's paths; nothing is recorded."""
    from fastapi.testclient import TestClient

    from eseal.api.app import create_app
    from tests.eseal.conftest import make_region

    region = make_region(tmp_path / "node")
    region.node.close()  # it keeps the keys it made in memory: a node started anew reads them
    keys = tmp_path / "node" / "keys"
    market, housing = region.market, region.housing
    own, other = keys / f"{market.key_id}.key", keys / f"{housing.key_id}.key"
    if damage == "swapped":
        shutil.copy(other, own)
    else:
        own.write_bytes(b"{}")
    served = Node.open(tmp_path / "node", passphrase=PASSPHRASE)
    size = served.log.size()
    body = {
        "type": BUSINESS,
        "holder": {"name": "重庆山城小面餐饮有限公司", "id": "91500000MA60XXXX15"},
        "fields": {
            "company_type": "有限责任公司",
            "legal_representative": "张三",
            "established": "2021-03-15",
            "address": "重庆市渝中区解放碑民族路1号",
            "business_scope": "餐饮服务",
            "registered_capital": "1000000.00",
        },
    }
    try:
        with TestClient(create_app(served)) as client:
            r = client.post(
                "/v1/licenses", json=body, headers={"Authorization": f"Bearer {market.credential}"}
            )
            spec = client.get("/openapi.json").json()
    finally:
        served.close()
    assert r.status_code == 503, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["type"].endswith("signing-key-unusable"), problem
    assert f"keys/{market.key_id}.key" in problem["detail"]
    assert str(tmp_path) not in problem["detail"]
    documented = spec["paths"]["/v1/licenses"]["post"]["responses"]["503"]["x-problem-types"]
    assert "signing-key-unusable" in documented
    with Node.open(tmp_path / "node") as node:
        assert node.log.size() == size


def test_a_signing_key_file_is_compared_whole_where_the_key_is_recorded(tmp_path: Path) -> None:
    """A signing key's file (here the witness key's) is checked against the whole public
    key recorded for it, not only the key id it is named after (8 bytes of a hash, which
    another key may share): a key whose id is made to collide signs nothing."""
    from unittest import mock

    from eseal.witness import require_witness_key

    ours, theirs = _node(tmp_path / "ours"), _node(tmp_path / "theirs")
    (own,) = (p for p in (ours / "keys").glob("*.key") if p.stem not in ("root", "log"))
    (other,) = (p for p in (theirs / "keys").glob("*.key") if p.stem not in ("root", "log"))
    shutil.copy(other, own)
    with Node.open(ours, passphrase=PASSPHRASE) as node:
        recorded = require_witness_key(node)
        key_id = bytes.fromhex(recorded.key_id)
        assert key_id.hex() == own.stem
        with (
            mock.patch("eseal.node.ed25519.key_id", return_value=key_id),
            pytest.raises(SigningKeyUnusable, match="holds another key"),
        ):
            node.signing_key(key_id, recorded.public_key)
