"""Ed25519 signing, verification and weak-key refusal against Wycheproof and speccheck vectors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import nacl.bindings
import nacl.signing
import pytest

from keys import ed25519
from keys.ed25519 import InvalidPublicKey, NonCanonicalPublicKey, WeakPublicKey
from keys.errors import InvalidInput

DATA = Path(__file__).parent.parent / "data" / "ed25519"
P = 2**255 - 19

# RFC 8032 §7.1, TEST 1 (empty message).
RFC8032_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC8032_SIGNATURE = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
    "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)


def _encode(y: int, sign: int) -> bytes:
    return (y | sign << 255).to_bytes(32, "little")


def _with_sign(encoding: bytes, sign: int) -> bytes:
    return encoding[:31] + bytes([encoding[31] | sign << 7])


# libsodium's blocklist (ge25519_has_small_order, sign bit ignored): the encoded y of the
# 8 small-order points of edwards25519, then the non-canonical y + p that fit in 255 bits.
SMALL_ORDER_Y = tuple(
    bytes.fromhex(h)
    for h in (
        "0000000000000000000000000000000000000000000000000000000000000000",  # order 4 (two)
        "0100000000000000000000000000000000000000000000000000000000000000",  # identity
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",  # order 8 (two)
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",  # order 8 (two)
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # order 2: p - 1
    )
)
NON_CANONICAL_SMALL_ORDER_Y = (_encode(P, 0), _encode(P + 1, 0))  # y = 0 and y = 1, plus p
SMALL_ORDER_KEYS = frozenset(
    _with_sign(y, sign) for y in SMALL_ORDER_Y + NON_CANONICAL_SMALL_ORDER_Y for sign in (0, 1)
)
# Every encoding with y >= p: non-canonical, whatever the point.
NON_CANONICAL_KEYS = frozenset(_encode(y, sign) for y in range(P, 2**255) for sign in (0, 1))
REFUSED_KEYS = SMALL_ORDER_KEYS | NON_CANONICAL_KEYS
IDENTITY = SMALL_ORDER_Y[1]
# x = 0 for y = 1 and y = p - 1, so those have no encoding with the sign bit set.
CANONICAL_SMALL_ORDER_POINTS = tuple(
    _with_sign(y, sign)
    for y in SMALL_ORDER_Y
    for sign in (0, 1)
    if not (sign and y in (IDENTITY, SMALL_ORDER_Y[4]))
)


def _load(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def test_small_order_list_is_the_8_small_order_points() -> None:
    # Checked with libsodium's own point addition: [8]Q is the identity for each listed point.
    assert len(set(CANONICAL_SMALL_ORDER_POINTS)) == 8
    for point in CANONICAL_SMALL_ORDER_POINTS:
        multiple = point
        for _ in range(3):
            multiple = nacl.bindings.crypto_core_ed25519_add(multiple, multiple)
        assert multiple == IDENTITY
    assert len(SMALL_ORDER_KEYS) == 14
    assert len(NON_CANONICAL_KEYS) == 38


def test_rfc8032_vector_signs_and_verifies() -> None:
    signing_key = nacl.signing.SigningKey(RFC8032_SEED)
    assert signing_key.verify_key.encode() == RFC8032_PUBLIC
    assert ed25519.sign(signing_key, b"") == RFC8032_SIGNATURE
    assert ed25519.verify(RFC8032_PUBLIC, b"", RFC8032_SIGNATURE)


def test_key_id_is_sha256_prefix() -> None:
    assert ed25519.key_id(RFC8032_PUBLIC) == hashlib.sha256(RFC8032_PUBLIC).digest()[:8]
    assert ed25519.key_id(RFC8032_PUBLIC).hex() == "21fe31dfa154a261"  # sha256sum(1)


def test_wycheproof_vectors_all_give_the_expected_result() -> None:
    suite = _load("wycheproof_ed25519_test.json")
    count = 0
    for group in suite["testGroups"]:
        public_key = bytes.fromhex(group["publicKey"]["pk"])
        for case in group["tests"]:
            got = ed25519.verify(public_key, bytes.fromhex(case["msg"]), bytes.fromhex(case["sig"]))
            assert got is (case["result"] == "valid"), (case["tcId"], case["comment"])
            count += 1
    assert count == suite["numberOfTests"] == 151


def test_speccheck_keys_are_refused_exactly_when_small_order_or_non_canonical() -> None:
    cases = _load("speccheck_cases.json")
    refused = 0
    for case in cases:
        public_key = bytes.fromhex(case["pub_key"])
        if public_key in REFUSED_KEYS:
            with pytest.raises(InvalidPublicKey):
                ed25519.check_public_key(public_key)
            refused += 1
        else:
            ed25519.check_public_key(public_key)  # mixed-order and ordinary keys pass
    assert 0 < refused < len(cases)


def test_speccheck_signatures_under_small_order_keys_do_not_verify() -> None:
    for case in _load("speccheck_cases.json"):
        public_key = bytes.fromhex(case["pub_key"])
        if public_key in SMALL_ORDER_KEYS:
            message, signature = bytes.fromhex(case["message"]), bytes.fromhex(case["signature"])
            assert not ed25519.verify(public_key, message, signature)


@pytest.mark.parametrize("public_key", sorted(SMALL_ORDER_KEYS), ids=lambda k: k.hex()[:8])
def test_small_order_keys_are_refused(public_key: bytes) -> None:
    with pytest.raises(InvalidPublicKey):
        ed25519.check_public_key(public_key)


def test_canonical_small_order_keys_are_refused_as_weak() -> None:
    for public_key in CANONICAL_SMALL_ORDER_POINTS:
        with pytest.raises(WeakPublicKey):
            ed25519.check_public_key(public_key)


def test_every_non_canonical_encoding_is_refused() -> None:
    for public_key in NON_CANONICAL_KEYS:
        with pytest.raises(NonCanonicalPublicKey):
            ed25519.check_public_key(public_key)


def test_x_zero_with_sign_bit_is_refused() -> None:
    with pytest.raises(NonCanonicalPublicKey):
        ed25519.check_public_key(_encode(1, 1))


def test_point_off_the_curve_is_refused() -> None:
    with pytest.raises(InvalidPublicKey) as raised:
        ed25519.check_public_key(_encode(2, 0))  # no x with -x^2 + 4 = 1 + 4d x^2
    assert type(raised.value) is InvalidPublicKey
    assert raised.value.code == "invalid-public-key"


@pytest.mark.parametrize("public_key", [b"", bytes(31), RFC8032_PUBLIC + b"\x00", "x" * 32])
def test_wrong_length_or_type_is_refused(public_key: Any) -> None:
    with pytest.raises(InvalidInput):
        ed25519.check_public_key(public_key)


def test_generated_keys_pass() -> None:
    for _ in range(64):
        public_key = ed25519.generate().verify_key.encode()
        ed25519.check_public_key(public_key)
        assert nacl.bindings.crypto_core_ed25519_is_valid_point(public_key)


def test_mixed_order_keys_pass() -> None:
    # A prime-order key plus a torsion point: not small order, so accepted (libsodium refuses
    # such keys when verifying, so signatures under them never verify anyway).
    torsion = SMALL_ORDER_Y[3]
    for _ in range(8):
        public_key = ed25519.generate().verify_key.encode()
        ed25519.check_public_key(nacl.bindings.crypto_core_ed25519_add(public_key, torsion))


def test_error_codes_are_distinct() -> None:
    codes = {cls.code for cls in (InvalidPublicKey, NonCanonicalPublicKey, WeakPublicKey)}
    assert len(codes) == 3
    assert "invalid-input" not in codes


def test_flipping_any_bit_of_signature_or_message_fails() -> None:
    signing_key = ed25519.generate()
    public_key = signing_key.verify_key.encode()
    message = b"1.2.156.3005.2.11100000000013338W032"
    signature = ed25519.sign(signing_key, message)
    assert ed25519.verify(public_key, message, signature)
    for i in range(len(signature) * 8):
        mangled = bytearray(signature)
        mangled[i // 8] ^= 1 << (i % 8)
        assert not ed25519.verify(public_key, message, bytes(mangled))
    for i in range(len(message) * 8):
        mangled = bytearray(message)
        mangled[i // 8] ^= 1 << (i % 8)
        assert not ed25519.verify(public_key, bytes(mangled), signature)
    assert not ed25519.verify(public_key, message + b"\x00", signature)
    assert not ed25519.verify(public_key, message[:-1], signature)


def test_verify_messages_of_any_length_on_the_kept_buffer() -> None:
    # verify keeps one output buffer a thread: a message longer than it grows it, and a
    # shorter one after it is judged by its own length, not by what the buffer last held.
    signing_key = ed25519.generate()
    public_key = signing_key.verify_key.encode()
    for size in (0, 1, 5000, 100_000, 3, 4096 - 64, 4096 - 63):
        message = bytes(range(256)) * (size // 256) + bytes(size % 256)
        signature = ed25519.sign(signing_key, message)
        assert ed25519.verify(public_key, message, signature)
        assert not ed25519.verify(public_key, message + b"\x00", signature)
        if message:
            assert not ed25519.verify(public_key, message[:-1], signature)


@pytest.mark.parametrize(
    ("public_key", "message", "signature"),
    [
        (RFC8032_PUBLIC[:31], b"", RFC8032_SIGNATURE),
        (RFC8032_PUBLIC, b"", RFC8032_SIGNATURE[:63]),
        (RFC8032_PUBLIC, b"", RFC8032_SIGNATURE + b"\x00"),
        (None, b"", RFC8032_SIGNATURE),
        (RFC8032_PUBLIC, None, RFC8032_SIGNATURE),
        (RFC8032_PUBLIC, b"", None),
        (RFC8032_PUBLIC, "text", RFC8032_SIGNATURE),
        (bytearray(RFC8032_PUBLIC), b"", RFC8032_SIGNATURE),
        (bytes(32), b"", bytes(64)),
    ],
)
def test_verify_returns_false_and_never_raises(
    public_key: Any, message: Any, signature: Any
) -> None:
    assert ed25519.verify(public_key, message, signature) is False
