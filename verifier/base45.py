"""A fast, strict base45 decoder (RFC 9285) for QR document text; encoding uses ``base45``.

Each triplet "c d e" is the 16-bit value n = c + 45·d + 45²·e, written big-endian; a final
pair "c d" is one byte. Instead of a Python loop per triplet, the decoder reads the whole
string as one big integer of 24-bit lanes (one lane per triplet, one byte per digit) and
computes every lane's value at once with a few big-integer operations.
"""

from __future__ import annotations

import functools
import struct

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_INVALID = 0xFF
#: Byte → base45 digit value, 0xFF for a byte outside the alphabet.
_TO_DIGIT = bytes(ALPHABET.encode().find(bytes([b])) & 0xFF for b in range(256))


class Base45CharacterError(ValueError):
    """A character outside the base45 alphabet; ``position`` is its 0-based index."""

    def __init__(self, position: int, char: str) -> None:
        super().__init__(f"character {char!r} at position {position} is not base45")
        self.position = position


class Base45ValueError(ValueError):
    """A length of 3k+1 characters, or a triplet above 65535 (a pair above 255)."""


@functools.lru_cache(maxsize=64)
def _lane_masks(triplets: int) -> tuple[int, int]:
    """The low-byte mask of ``triplets`` 24-bit lanes, and the mask of their top bytes."""
    low = int.from_bytes(b"\x00\x00\xff" * triplets, "big")
    return low, low << 16


def _first_bad_triplet(digits: bytes) -> int:
    for i in range(0, len(digits) - 2, 3):
        if digits[i] + 45 * digits[i + 1] + 2025 * digits[i + 2] > 0xFFFF:
            return i
    raise AssertionError("no bad triplet")  # pragma: no cover - the caller saw one


def b45decode(text: str) -> bytes:
    """Decode base45 ``text``; raise :class:`Base45CharacterError` or :class:`Base45ValueError`.

    Unlike ``base45.b45decode`` nothing is stripped: a trailing newline is an error.
    """
    try:
        digits = text.encode("ascii").translate(_TO_DIGIT)
    except UnicodeEncodeError as e:
        raise Base45CharacterError(e.start, text[e.start]) from None
    if (bad := digits.find(_INVALID)) >= 0:
        raise Base45CharacterError(bad, text[bad])
    triplets, rest = divmod(len(digits), 3)
    if rest == 1:
        raise Base45ValueError(f"{len(digits)} characters: a base45 length is never 3k+1")
    low, top = _lane_masks(triplets)
    # Lane i of x holds the digits (c, d, e) of triplet i as the bytes of a 24-bit integer.
    x = int.from_bytes(digits[: 3 * triplets], "big")
    values = ((x >> 16) & low) + 45 * ((x >> 8) & low) + 2025 * (x & low)  # ≤ 91124 per lane
    if values & top:
        at = _first_bad_triplet(digits)
        raise Base45ValueError(f"triplet {text[at : at + 3]!r} at position {at} exceeds 65535")
    out = bytearray(values.to_bytes(3 * triplets, "big"))
    del out[::3]  # each lane is 0x00 ‖ value (big-endian 16 bits)
    if rest == 2:
        last = digits[-2] + 45 * digits[-1]
        if last > 0xFF:
            raise Base45ValueError(f"final pair {text[-2:]!r} exceeds 255")
        out.append(last)
    return bytes(out)


@functools.cache
def _triplets() -> tuple[str, ...]:
    """Every 16-bit value's three base45 characters (built once, ~3 MB): encoding is then
    one table lookup per byte pair instead of arithmetic in a Python loop."""
    a = ALPHABET
    return tuple(a[n % 45] + a[n // 45 % 45] + a[n // 2025] for n in range(65536))


def b45encode(data: bytes) -> str:
    """RFC 9285 base45 of ``data`` (the reference is the ``base45`` package; tests compare)."""
    table = _triplets()
    pairs = len(data) // 2
    out = [table[w] for w in struct.unpack(f">{pairs}H", data[: 2 * pairs])]
    if len(data) % 2:
        last = data[-1]
        out.append(ALPHABET[last % 45] + ALPHABET[last // 45])
    return "".join(out)
