"""One rule for the URL of another node, a witness or a peer (verifier.urls): every command
that takes one refuses the same bad URLs, before it asks anything or stores anything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eseal.node import init_node
from eseal.witness import require_witness_key
from eseal.witness_ask import add_witness, list_witnesses
from keys.errors import InvalidInput
from tests.eseal.conftest import NOW, PASSPHRASE, run_eseal
from verifier.urls import MAX_URL, base_url, node_url

GOOD = [
    ("http://node.example", "http://node.example"),
    ("https://node.example:8443/", "https://node.example:8443"),
    ("HTTPS://Node.Example/eseal/", "HTTPS://Node.Example/eseal"),
    ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
    ("http://[::1]:8000/", "http://[::1]:8000"),
]

BAD = [
    ("", "not an http:// or https:// URL"),
    ("ftp://node.example", "not an http:// or https:// URL"),
    ("node.example", "not an http:// or https:// URL"),
    ("http://node.example/a b", "spaces, a query or a fragment"),
    ("http://node.example/\u2028", "spaces, a query or a fragment"),
    ("http://node.example/\x00", "spaces, a query or a fragment"),
    ("http://node.example/?a=1", "spaces, a query or a fragment"),
    ("http://node.example/#top", "spaces, a query or a fragment"),
    ("http://clerk:secret@node.example", "a user name, a password or a backslash"),
    ("http://clerk@node.example", "a user name, a password or a backslash"),
    ("http://node.example\\@other.example", "a user name, a password or a backslash"),
    ("http:///node.example", "names no host"),
    ("http://node.example:99999", "is no URL"),
    ("http://node.example:port", "is no URL"),
    ("http://[::1", "is no URL"),
    ("http://node.example/" + "a" * MAX_URL, f"longer than {MAX_URL} characters"),
]


@pytest.mark.parametrize(("url", "base"), GOOD)
def test_a_base_url_is_kept_without_its_trailing_slash(url: str, base: str) -> None:
    assert node_url(url, "the URL") == url
    assert base_url(url, "the URL") == base


@pytest.mark.parametrize(("url", "why"), BAD)
def test_a_bad_url_is_refused_with_what_is_wrong(url: str, why: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        node_url(url, "the witness URL")
    assert why in refused.value.message
    assert refused.value.message.startswith("the witness URL")


def test_a_witness_url_with_a_password_is_not_stored(tmp_path: Path) -> None:
    """It used to be stored, and printed by every ``witness ask`` and ``witnesses``."""
    log = init_node(tmp_path / "l", region="110000", name="北京市", passphrase=PASSPHRASE, now=NOW)
    w = init_node(tmp_path / "w", region="500000", name="重庆市", passphrase=PASSPHRASE, now=NOW)
    try:
        key = require_witness_key(w).verifier_key
        for url in ("http://clerk:secret@chongqing.test", "http:///chongqing.test"):
            with pytest.raises(InvalidInput):
                add_witness(log, url, key, now=NOW)
        assert list_witnesses(log) == []
        added = add_witness(log, "http://chongqing.test/", key, now=NOW)
        assert added.url == "http://chongqing.test"
    finally:
        log.close()
        w.close()


@pytest.mark.parametrize(
    "args",
    [
        ["verify", "HC1:x", "--online", "http://clerk:secret@127.0.0.1:9"],
        ["bundle", "fetch", "http://clerk:secret@127.0.0.1:9"],
        ["revocations", "fetch", "http://clerk:secret@127.0.0.1:9", "--bundle", "none.json"],
        ["peer", "add", "http://clerk:secret@127.0.0.1:9", "--pin", "00" * 8],
        ["witness", "sync", "http://clerk:secret@127.0.0.1:9"],
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_every_command_refuses_credentials_before_it_asks(
    args: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_fetch(*_a: object, **_k: object) -> bytes:
        raise AssertionError("a node was asked")

    monkeypatch.setattr("verifier.online.fetch_bundle", no_fetch)
    monkeypatch.setattr("verifier.online._bounded_exchange", no_fetch)  # every request
    node = init_node(tmp_path / "n", region="500000", name="重庆市", passphrase=PASSPHRASE, now=NOW)
    node.close()
    monkeypatch.chdir(tmp_path)
    code, said, err = run_eseal(["--data", str(tmp_path / "n"), *args], capsys, monkeypatch)
    assert code == 2, (said, err)
    assert "a user name, a password or a backslash" in err
    assert "secret" in err  # the refusal shows what was given, to the one who gave it
    if args[0] == "peer":
        code, said, _ = run_eseal(
            ["--data", str(tmp_path / "n"), "--json", "peer", "list"], capsys, monkeypatch
        )
        assert json.loads(said) == []
