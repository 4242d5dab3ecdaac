"""Ed25519 keys, signatures and key ids (PyNaCl), and the refusal of weak public keys.

``verify`` is the hot path; ``check_public_key`` runs once, when a key is registered.
"""

from __future__ import annotations

import hashlib
import threading

import nacl.signing
from nacl._sodium import ffi, lib  # PyNaCl's own cffi binding of libsodium

from keys.errors import InvalidInput

PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64
KEY_ID_SIZE = 8

# edwards25519 (RFC 8032 §5.1): -x^2 + y^2 = 1 + d x^2 y^2 over GF(p).
_P = 2**255 - 19
_D = (-121665 * pow(121666, -1, _P)) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)  # a square root of -1 mod p
_IDENTITY = (0, 1)


class InvalidPublicKey(InvalidInput):
    """Bytes that are not an Ed25519 public key: wrong length, or not a point on the curve."""

    code = "invalid-public-key"


class NonCanonicalPublicKey(InvalidPublicKey):
    """A point encoding with y >= p, or x = 0 with the sign bit set (RFC 8032 §5.1.3)."""

    code = "non-canonical-public-key"


class WeakPublicKey(InvalidPublicKey):
    """A small-order point: anyone can make signatures that verify under it."""

    code = "weak-public-key"


def key_id(public_key: bytes) -> bytes:
    """The key id: the first 8 bytes of SHA-256 of the raw 32-byte public key."""
    return hashlib.sha256(public_key).digest()[:KEY_ID_SIZE]


def generate() -> nacl.signing.SigningKey:
    """A fresh signing key from the operating system's random source."""
    return nacl.signing.SigningKey.generate()


def sign(signing_key: nacl.signing.SigningKey, message: bytes) -> bytes:
    """The 64-byte detached Ed25519 signature of ``message``."""
    return signing_key.sign(message).signature


_thread = threading.local()


def _opened(size: int) -> tuple[object, object]:
    """This thread's output buffer for ``crypto_sign_open`` (at least ``size`` bytes) and
    its length cell, kept between calls: PyNaCl's binding allocates and zeroes both, and
    copies the message out, for each call (1 µs of a 53 µs check, measured)."""
    kept: tuple[object, object, int] | None = getattr(_thread, "opened", None)
    if kept is None or kept[2] < size:
        capacity = max(size, 4096)
        kept = _thread.opened = (
            ffi.new("unsigned char[]", capacity),
            ffi.new("unsigned long long *"),
            capacity,
        )
    return kept[0], kept[1]


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is valid for ``message`` under ``public_key``; never raises.

    libsodium refuses non-canonical S and R, small-order R and small-order keys. This is
    what ``VerifyKey.verify`` calls (libsodium's ``crypto_sign_open``, through PyNaCl's
    binding), without the key object and without copying the message back out.
    """
    if (
        type(public_key) is not bytes
        or type(signature) is not bytes
        or type(message) is not bytes
        or len(public_key) != PUBLIC_KEY_SIZE
        or len(signature) != SIGNATURE_SIZE
    ):
        return False
    signed = signature + message
    out, out_len = _opened(len(signed))
    return bool(lib.crypto_sign_open(out, out_len, signed, len(signed), public_key) == 0)


def _decompress(encoded: bytes) -> tuple[int, int]:
    """Decode a point per RFC 8032 §5.1.3, refusing non-canonical encodings."""
    n = int.from_bytes(encoded, "little")
    y, sign = n & ((1 << 255) - 1), n >> 255
    if y >= _P:
        raise NonCanonicalPublicKey("public key is not canonical: its y coordinate is >= p")
    # x^2 = u / v with u = y^2 - 1, v = d y^2 + 1; candidate x = u v^3 (u v^7)^((p-5)/8).
    u, v = (y * y - 1) % _P, (_D * y * y + 1) % _P
    x = u * pow(v, 3, _P) * pow(u * pow(v, 7, _P), (_P - 5) // 8, _P) % _P
    vxx = v * x * x % _P
    if vxx == (-u) % _P:
        x = x * _SQRT_M1 % _P
    elif vxx != u:
        raise InvalidPublicKey("public key is not a point on edwards25519")
    if x == 0 and sign == 1:
        raise NonCanonicalPublicKey("public key is not canonical: x = 0 with the sign bit set")
    if x & 1 != sign:
        x = _P - x
    return x, y


def _add(p1: tuple[int, int], p2: tuple[int, int]) -> tuple[int, int]:
    """Affine twisted Edwards addition with a = -1 (complete, since d is not a square):
    x3 = (x1 y2 + y1 x2) / (1 + d x1 x2 y1 y2), y3 = (y1 y2 + x1 x2) / (1 - d x1 x2 y1 y2).
    """
    (x1, y1), (x2, y2) = p1, p2
    t = _D * x1 * x2 * y1 * y2 % _P
    x3 = (x1 * y2 + y1 * x2) * pow(1 + t, -1, _P) % _P
    y3 = (y1 * y2 + x1 * x2) * pow(1 - t, -1, _P) % _P
    return x3, y3


def check_public_key(public_key: bytes) -> None:
    """Refuse a public key that is not 32 bytes, not canonical, not on the curve or of small order.

    Mixed-order keys (a prime-order part plus a torsion part) are accepted.
    """
    if type(public_key) is not bytes or len(public_key) != PUBLIC_KEY_SIZE:
        raise InvalidPublicKey("an Ed25519 public key must be exactly 32 bytes")
    point = _decompress(public_key)
    for _ in range(3):  # [8]P: the cofactor is 8, so P has small order iff [8]P is the identity
        point = _add(point, point)
    if point == _IDENTITY:
        raise WeakPublicKey(
            f"public key {public_key.hex()} has small order: signatures under it prove nothing; "
            "generate a new key"
        )
