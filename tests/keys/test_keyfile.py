"""Encrypted key files: round trip, 0600 mode, no clear seed, and refusal of bad files."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path
from typing import Any, TypedDict

import nacl.signing
import pytest
from nacl.pwhash import argon2id

from keys import ed25519
from keys.errors import ExternalFailure, InvalidInput
from keys.keyfile import (
    MAX_KEY_FILE_SIZE,
    CorruptKeyFile,
    InvalidKeyFileOptions,
    KeyFileExists,
    KeyFileNotFound,
    KeyFileUnavailable,
    PassphraseMissing,
    WeakPassphrase,
    WrongPassphrase,
    check_new_passphrase,
    passphrase_from_env,
    read_key_file,
    read_public_key,
    write_key_file,
)

PASSPHRASE = b"correct horse battery staple"


class _Limits(TypedDict):
    opslimit: int
    memlimit: int


# The cheapest Argon2id parameters, so the suite stays fast; the default is tested once.
CHEAP = _Limits(opslimit=argon2id.OPSLIMIT_MIN, memlimit=argon2id.MEMLIMIT_MIN)


@pytest.fixture
def signing_key() -> nacl.signing.SigningKey:
    return ed25519.generate()


@pytest.fixture
def key_path(tmp_path: Path, signing_key: nacl.signing.SigningKey) -> Path:
    path = tmp_path / "root.key"
    write_key_file(path, signing_key, PASSPHRASE, label="重庆 root", **CHEAP)
    return path


def _edit(path: Path, **fields: Any) -> None:
    document = json.loads(path.read_text())
    document.update(fields)
    path.write_text(json.dumps(document))


def test_round_trip_with_default_parameters(
    tmp_path: Path, signing_key: nacl.signing.SigningKey
) -> None:
    path = tmp_path / "k.key"
    write_key_file(path, signing_key, PASSPHRASE, label="agency")
    document = json.loads(path.read_text())
    assert document["opslimit"] == argon2id.OPSLIMIT_INTERACTIVE
    assert document["memlimit"] == argon2id.MEMLIMIT_INTERACTIVE
    assert read_key_file(path, PASSPHRASE).encode() == signing_key.encode()


def test_round_trip(key_path: Path, signing_key: nacl.signing.SigningKey) -> None:
    assert read_key_file(key_path, PASSPHRASE).encode() == signing_key.encode()
    public_key = signing_key.verify_key.encode()
    assert read_public_key(key_path) == public_key
    document = json.loads(key_path.read_text(encoding="utf-8"))
    assert document["format"] == "eseal-key/v1"
    assert document["kdf"] == "argon2id"
    assert document["key_id"] == ed25519.key_id(public_key).hex()
    assert document["label"] == "重庆 root"


def test_file_mode_is_0600_and_no_temp_file_is_left(key_path: Path) -> None:
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert [p.name for p in key_path.parent.iterdir()] == [key_path.name]


def test_file_never_holds_the_seed_in_clear(
    key_path: Path, signing_key: nacl.signing.SigningKey
) -> None:
    raw = key_path.read_bytes()
    seed = signing_key.encode()
    for form in (
        seed,
        seed.hex().encode(),
        seed.hex().upper().encode(),
        base64.b64encode(seed),
        base64.b64encode(seed).rstrip(b"="),
        base64.urlsafe_b64encode(seed).rstrip(b"="),
        base64.b32encode(seed).rstrip(b"="),
    ):
        assert form not in raw
    assert base64.b64encode(seed + signing_key.verify_key.encode()) not in raw


def test_wrong_passphrase_is_refused(key_path: Path) -> None:
    with pytest.raises(WrongPassphrase, match="wrong passphrase"):
        read_key_file(key_path, b"not the passphrase")


def test_empty_passphrase_is_refused(tmp_path: Path, signing_key: nacl.signing.SigningKey) -> None:
    with pytest.raises(PassphraseMissing):
        write_key_file(tmp_path / "k.key", signing_key, b"", **CHEAP)
    assert not (tmp_path / "k.key").exists()


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "absent.key"
    with pytest.raises(KeyFileNotFound, match=str(path)):
        read_key_file(path, PASSPHRASE)
    with pytest.raises(KeyFileNotFound):
        read_public_key(path)


def test_overwrite_is_refused_unless_asked(
    key_path: Path, signing_key: nacl.signing.SigningKey
) -> None:
    before = key_path.read_bytes()
    other = ed25519.generate()
    with pytest.raises(KeyFileExists, match="overwrite=True"):
        write_key_file(key_path, other, PASSPHRASE, **CHEAP)
    assert key_path.read_bytes() == before
    write_key_file(key_path, other, b"new passphrase", overwrite=True, **CHEAP)
    assert read_key_file(key_path, b"new passphrase").encode() == other.encode()
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert len(list(key_path.parent.iterdir())) == 1


def test_dangling_symlink_is_not_overwritten(
    tmp_path: Path, signing_key: nacl.signing.SigningKey
) -> None:
    link = tmp_path / "link.key"
    link.symlink_to(tmp_path / "elsewhere.key")
    with pytest.raises(KeyFileExists):
        write_key_file(link, signing_key, PASSPHRASE, **CHEAP)
    assert not (tmp_path / "elsewhere.key").exists()


@pytest.mark.parametrize("cut", [0, 1, 10, -2, -40])
def test_truncated_file_is_corrupt(key_path: Path, cut: int) -> None:
    key_path.write_bytes(key_path.read_bytes()[:cut])
    with pytest.raises(CorruptKeyFile):
        read_key_file(key_path, PASSPHRASE)


@pytest.mark.parametrize(
    "content",
    [b"", b"not json", b"\xff\xfe", b"[]", b'"eseal-key/v1"', b"null", b"[" * 60_000],
)
def test_non_json_file_is_corrupt(key_path: Path, content: bytes) -> None:
    key_path.write_bytes(content)
    with pytest.raises(CorruptKeyFile):
        read_key_file(key_path, PASSPHRASE)


def test_oversized_file_is_corrupt(key_path: Path) -> None:
    data = key_path.read_bytes()
    key_path.write_bytes(data.rstrip(b"\n}") + b',"pad": "' + b"x" * MAX_KEY_FILE_SIZE + b'"}')
    with pytest.raises(CorruptKeyFile, match="larger than"):
        read_key_file(key_path, PASSPHRASE)
    with pytest.raises(CorruptKeyFile, match="larger than"):
        read_public_key(key_path)


def _other_public_key() -> str:
    return base64.b64encode(ed25519.generate().verify_key.encode()).decode()


@pytest.mark.parametrize(
    "fields",
    [
        {"format": "eseal-key/v2"},
        {"kdf": "scrypt"},
        {"opslimit": "2"},
        {"opslimit": True},
        {"opslimit": 0},
        {"memlimit": 1.5},
        {"memlimit": 1024},
        {"salt": "AAAA"},
        {"salt": "not base64!"},
        {"nonce": base64.b64encode(bytes(23)).decode()},
        {"ciphertext": base64.b64encode(bytes(32)).decode()},
        {"public_key": base64.b64encode(bytes(31)).decode()},
        {"key_id": "00" * 8},
        {"label": 7},
        {"extra": 1},
    ],
    ids=lambda f: ",".join(f"{k}={v!r}"[:20] for k, v in f.items()),
)
def test_edited_field_is_corrupt(key_path: Path, fields: dict[str, Any]) -> None:
    _edit(key_path, **fields)
    with pytest.raises(CorruptKeyFile):
        read_key_file(key_path, PASSPHRASE)


def test_swapped_public_key_is_corrupt(key_path: Path) -> None:
    other = ed25519.generate().verify_key.encode()
    _edit(
        key_path,
        public_key=base64.b64encode(other).decode(),
        key_id=ed25519.key_id(other).hex(),
    )
    with pytest.raises(CorruptKeyFile, match="does not match"):
        read_key_file(key_path, PASSPHRASE)


def test_small_order_public_key_is_corrupt(key_path: Path) -> None:
    identity = bytes([1]) + bytes(31)
    _edit(
        key_path,
        public_key=base64.b64encode(identity).decode(),
        key_id=ed25519.key_id(identity).hex(),
    )
    with pytest.raises(CorruptKeyFile):
        read_public_key(key_path)


def test_missing_field_and_duplicate_field_are_corrupt(key_path: Path) -> None:
    text = key_path.read_text()
    document = json.loads(text)
    del document["label"]
    key_path.write_text(json.dumps(document))
    with pytest.raises(CorruptKeyFile):
        read_key_file(key_path, PASSPHRASE)
    key_path.write_text(text.replace('"label":', '"label": "a", "label":'))
    with pytest.raises(CorruptKeyFile, match="duplicate key 'label'"):
        read_key_file(key_path, PASSPHRASE)


def test_non_canonical_base64_is_corrupt(key_path: Path) -> None:
    # 32 bytes leave 2 unused bits in the last base64 digit; setting one decodes the same.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    public_key = json.loads(key_path.read_text())["public_key"]
    mangled = public_key[:-2] + alphabet[alphabet.index(public_key[-2]) | 1] + "="
    assert mangled != public_key
    assert base64.b64decode(mangled) == base64.b64decode(public_key)
    _edit(key_path, public_key=mangled)
    with pytest.raises(CorruptKeyFile, match="canonical base64"):
        read_key_file(key_path, PASSPHRASE)


def test_edited_ciphertext_fails_to_open(key_path: Path) -> None:
    ciphertext = bytearray(base64.b64decode(json.loads(key_path.read_text())["ciphertext"]))
    ciphertext[0] ^= 1
    _edit(key_path, ciphertext=base64.b64encode(bytes(ciphertext)).decode())
    with pytest.raises(WrongPassphrase):
        read_key_file(key_path, PASSPHRASE)


@pytest.mark.parametrize(
    "fields",
    [
        {"memlimit": argon2id.MEMLIMIT_SENSITIVE + 1},
        {"memlimit": 2**42},
        {"opslimit": argon2id.OPSLIMIT_SENSITIVE + 1},
        {"opslimit": 2**32 - 1},
    ],
)
def test_kdf_cost_bomb_is_refused(key_path: Path, fields: dict[str, int]) -> None:
    _edit(key_path, **fields)
    with pytest.raises(CorruptKeyFile, match="SENSITIVE"):
        read_key_file(key_path, PASSPHRASE)


@pytest.mark.parametrize(
    "options",
    [
        {"opslimit": argon2id.OPSLIMIT_SENSITIVE + 1},
        {"memlimit": argon2id.MEMLIMIT_MIN - 1},
        {"label": "x" * 257},
    ],
)
def test_out_of_range_write_options_are_refused(
    tmp_path: Path, signing_key: nacl.signing.SigningKey, options: dict[str, Any]
) -> None:
    kwargs: dict[str, Any] = {**CHEAP, **options}
    with pytest.raises(InvalidKeyFileOptions):
        write_key_file(tmp_path / "k.key", signing_key, PASSPHRASE, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_passphrase_from_env() -> None:
    assert passphrase_from_env(environ={"ESEAL_PASSPHRASE": "秘密"}) == "秘密".encode()
    assert passphrase_from_env("OTHER", environ={"OTHER": "x"}) == b"x"
    for environ in ({}, {"ESEAL_PASSPHRASE": ""}):
        with pytest.raises(PassphraseMissing, match="ESEAL_PASSPHRASE"):
            passphrase_from_env(environ=environ)


@pytest.mark.parametrize(
    ("passphrase", "says"),
    [
        ("", "has 0 characters, and needs at least 12"),
        ("eleven char", "has 11 characters, and needs at least 12"),
        # 11 characters are 33 bytes in UTF-8: characters are counted, not bytes.
        ("重庆市市场监督管理局钥", "has 11 characters"),
        ("aaaaaaaaaaaaaaaaaaaa", "one character repeated"),
        ("1111111111111111", "one character repeated"),
        ("123456789012345", "only digits, 15 of them"),
        ("１２３４５６７８９０１２", "only digits, 12 of them"),  # full-width digits too
        # A shorter sequence repeated, whole or cut short at the end.
        ("abababababab", "a shorter sequence of characters repeated"),
        ("abcabcabcabc", "a shorter sequence of characters repeated"),
        ("passwordpassword", "a shorter sequence of characters repeated"),
        ("Secret1!Secret1!Sec", "a shorter sequence of characters repeated"),
        ("密码密码密码密码密码密码", "a shorter sequence of characters repeated"),
        # A run of consecutive characters, up or down, digits going round from 9 to 0.
        ("abcdefghijkl", "a run of consecutive characters"),
        ("ZYXWVUTSRQPO", "a run of consecutive characters"),
        ("1234567890123456", "a run of consecutive characters"),
        ("6543210987654321", "a run of consecutive characters"),
        ("１２３４５６７８９０１２３４５６", "a run of consecutive characters"),
        # Fewer than 5 different characters.
        ("aaaaaaaaaaab", "only 2 different characters, and needs at least 5"),
        ("abcdabcdabcdd", "only 4 different characters, and needs at least 5"),
        ("xyxyxyxyzzzz", "only 3 different characters"),
    ],
)
def test_a_weak_new_passphrase_is_refused(passphrase: str, says: str) -> None:
    with pytest.raises(WeakPassphrase) as refused:
        check_new_passphrase(os.fsencode(passphrase), "ESEAL_PASSPHRASE")
    message = refused.value.message
    assert message.startswith("ESEAL_PASSPHRASE is too weak"), message
    assert says in message
    assert message.endswith(
        "(a new passphrase needs at least 12 characters, at least 5 different ones, no "
        "shorter sequence repeated, no run of consecutive characters, and at least 16 if it "
        "is only digits)"
    )
    assert passphrase == "" or passphrase not in message  # the passphrase is never shown


@pytest.mark.parametrize(
    "passphrase",
    [
        "重庆市市场监督管理局钥匙",  # 12 characters
        "twelve chars",
        "3141592653589793",  # digits alone, 16 of them
        "abcdeabcdeabXYZ",  # a sequence repeated, but more besides
        "abcdefghijkl0",  # a run, and one more character
        "aabbccddeeff",  # pairs, 6 different characters
        "abcdabcdabcdx",  # a sequence repeated only with more after it
        "demo-passphrase",  # `make demo`'s
    ],
)
def test_a_new_passphrase_that_meets_the_rule_is_taken(passphrase: str) -> None:
    check_new_passphrase(os.fsencode(passphrase), "ESEAL_PASSPHRASE")


def test_passphrase_from_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ESEAL_TEST_PASSPHRASE", "from env")
    assert passphrase_from_env("ESEAL_TEST_PASSPHRASE") == b"from env"
    monkeypatch.delenv("ESEAL_TEST_PASSPHRASE")
    with pytest.raises(PassphraseMissing, match="ESEAL_TEST_PASSPHRASE"):
        passphrase_from_env("ESEAL_TEST_PASSPHRASE")


def test_errors_are_input_errors_with_distinct_codes() -> None:
    classes = (
        CorruptKeyFile,
        InvalidKeyFileOptions,
        KeyFileExists,
        KeyFileNotFound,
        PassphraseMissing,
        WeakPassphrase,
        WrongPassphrase,
    )
    assert all(issubclass(cls, InvalidInput) for cls in classes)
    assert len({cls.code for cls in classes}) == len(classes)


def test_umask_does_not_loosen_or_tighten_the_mode(
    tmp_path: Path, signing_key: nacl.signing.SigningKey
) -> None:
    old = os.umask(0o277)
    try:
        write_key_file(tmp_path / "k.key", signing_key, PASSPHRASE, **CHEAP)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "k.key").stat().st_mode) == 0o600


def test_os_failures_are_external(tmp_path: Path, signing_key: nacl.signing.SigningKey) -> None:
    with pytest.raises(KeyFileUnavailable, match="cannot write"):
        write_key_file(tmp_path / "absent" / "k.key", signing_key, PASSPHRASE, **CHEAP)
    with pytest.raises(KeyFileUnavailable, match="cannot read"):
        read_key_file(tmp_path, PASSPHRASE)
    assert issubclass(KeyFileUnavailable, ExternalFailure)


def test_empty_passphrase_does_not_open(key_path: Path) -> None:
    with pytest.raises(PassphraseMissing):
        read_key_file(key_path, b"")
