"""An exact revocation filter for offline verification: a cascade of Bloom filters over the
licenses a region issued, as in CRLite (Larisch et al., "CRLite: A Scalable System for
Pushing All TLS Revocations to All Browsers", IEEE S&P 2017, §III-B).

Level 1 holds the revoked set R at false-positive rate r·√p/s (r = |R|, s = |S|, S the
issued licenses that are not revoked, p = 1/2); level i+1 holds the false positives of level
i drawn from the other set, at rate p, until a level has none. An id is in the cascade iff
the first level that refuses it has an even number (2, 4, …), or no level refuses it and the
number of levels is odd. The answer is exact for every *issued* id; for any other id it is
arbitrary. That is enough for the verifier, which asks only about documents whose signature
verified, i.e. that the region issued.

Hashing: every id is reduced once to ``id_digest`` = SHA-256(UTF-8 id)[:16]. Level ``j``
(1-based) hashes ``bytes([j]) ‖ digest`` with SHA-256; with ``x`` its first 8 bytes read
little-endian, ``h1 = ((x mod 2³²)·m) >> 32`` and ``h2 = 1 + (((x >> 32)·(m−1)) >> 32)``, and
the k bits are ``(h1 + i·h2) mod m`` for i < k (double hashing). Bit ``b`` is bit ``b mod 8``
(least significant first) of byte ``b div 8``.

Format (``to_bytes``), big-endian, parsed strictly (nothing missing, nothing after)::

    b"ESC1" ‖ u8 levels (≤ 64) ‖ levels × (u32 m (≥ 8) ‖ u8 k (1..48) ‖ ⌈m/8⌉ bytes of bits,
                                             the unused high bits of the last byte zero)

The builder is pure Python but works a batch at a time: hashes in one comprehension, bit
positions computed for the whole batch at once as 64-bit lanes of one big integer, bits read
with one ``itemgetter`` and the batch narrowed to the survivors after each probe.
"""

from __future__ import annotations

import hashlib
import math
import struct
import sys
from array import array
from collections import deque
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import compress, islice, repeat
from operator import itemgetter
from typing import TypeVar

from keys.errors import InvalidInput

MAGIC = b"ESC1"
DIGEST_SIZE = 16
MAX_LEVELS = 64
MIN_M = 8
MAX_M = 2**32 - 1
MAX_K = 48
MAX_CASCADE_BYTES = 256 * 1024 * 1024
#: CRLite's p: the false-positive rate of every level after the first.
P = 0.5
BATCH = 1 << 16

_SALTS = tuple(bytes([j]) for j in range(1, MAX_LEVELS + 1))
_LEVEL_HEAD = struct.Struct(">IB")
_NATIVE = sys.byteorder
_ONE_LANE = array("Q", [1]).tobytes()
_BIT_CHARS = bytes.maketrans(b"\x00\x01", b"01")
_sha256 = hashlib.sha256
T = TypeVar("T")


class MalformedCascade(InvalidInput):
    """The cascade bytes are not well formed: wrong magic, truncated, trailing or out of bounds."""

    code = "malformed-cascade"


class RevokedNotIssued(InvalidInput, ValueError):
    """A revoked id (or digest) is not among the issued ones."""

    code = "revoked-not-issued"


class BadDigest(InvalidInput, ValueError):
    """A pre-hashed id is not 16 bytes."""

    code = "bad-digest"


class CascadeTooLarge(InvalidInput):
    """The sets need a level above 2³²−1 bits or more than 64 levels (digests collide)."""

    code = "cascade-too-large"


def id_digest(license_id: str) -> bytes:
    """The 16-byte digest a cascade stores for ``license_id``: SHA-256(UTF-8)[:16]."""
    return _sha256(license_id.encode("utf-8", "surrogatepass")).digest()[:DIGEST_SIZE]


@dataclass(frozen=True)
class CascadeLevel:
    """One Bloom filter: ``m`` bits, ``k`` probes, the packed bit array."""

    m: int
    k: int
    bits: bytes = field(repr=False)

    def has(self, salt: bytes, digest: bytes) -> bool:
        x = int.from_bytes(_sha256(salt + digest).digest()[:8], "little")
        m, bits = self.m, self.bits
        p = ((x & 0xFFFFFFFF) * m) >> 32
        stride = (((x >> 32) * (m - 1)) >> 32) + 1
        for _ in range(self.k):
            if not (bits[p >> 3] >> (p & 7)) & 1:
                return False
            p += stride
            if p >= m:
                p -= m
        return True


@dataclass(frozen=True)
class Cascade:
    """An exact answer to "is this issued license revoked?" (see the module docstring)."""

    levels: tuple[CascadeLevel, ...]

    def contains(self, license_id: str) -> bool:
        """True iff ``license_id`` is revoked; exact for issued ids, arbitrary for others."""
        return self.contains_digest(id_digest(license_id))

    def contains_digest(self, digest: bytes) -> bool:
        for depth, level in enumerate(self.levels):
            if not level.has(_SALTS[depth], digest):
                return depth % 2 == 1
        return len(self.levels) % 2 == 1

    @property
    def size_bytes(self) -> int:
        return len(MAGIC) + 1 + sum(_LEVEL_HEAD.size + len(lv.bits) for lv in self.levels)

    def to_bytes(self) -> bytes:
        parts = [MAGIC, bytes([len(self.levels)])]
        for level in self.levels:
            parts += [_LEVEL_HEAD.pack(level.m, level.k), level.bits]
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes, *, max_size: int = MAX_CASCADE_BYTES) -> Cascade:
        """Parse ``to_bytes`` output; anything else raises :class:`MalformedCascade`."""
        if len(data) > max_size:
            raise MalformedCascade(f"cascade of {len(data)} bytes exceeds {max_size}")
        if len(data) < len(MAGIC) + 1 or data[: len(MAGIC)] != MAGIC:
            raise MalformedCascade("not a cascade (magic ESC1 and a level count expected)")
        count = data[len(MAGIC)]
        if count > MAX_LEVELS:
            raise MalformedCascade(f"{count} levels, at most {MAX_LEVELS} allowed")
        offset, levels = len(MAGIC) + 1, []
        for depth in range(1, count + 1):
            if offset + _LEVEL_HEAD.size > len(data):
                raise MalformedCascade(f"level {depth}: truncated header")
            m, k = _LEVEL_HEAD.unpack_from(data, offset)
            offset += _LEVEL_HEAD.size
            if not (MIN_M <= m <= MAX_M and 1 <= k <= MAX_K):
                raise MalformedCascade(f"level {depth}: m={m}, k={k} out of bounds")
            end = offset + (m + 7) // 8
            if end > len(data):
                raise MalformedCascade(f"level {depth}: truncated bit array")
            bits = bytes(data[offset:end])
            if bits[-1] >> (m % 8 or 8):
                raise MalformedCascade(f"level {depth}: padding bits are not zero")
            levels.append(CascadeLevel(m, k, bits))
            offset = end
        if offset != len(data):
            raise MalformedCascade(f"{len(data) - offset} bytes after the last level")
        return cls(tuple(levels))


def build_cascade(issued: Iterable[str], revoked: Collection[str]) -> Cascade:
    """The cascade of ``revoked`` among ``issued`` (streamed once; its digests are kept)."""
    wanted = {id_digest(r): r for r in revoked}
    batches = (
        {_sha256(i.encode("utf-8", "surrogatepass")).digest()[:DIGEST_SIZE] for i in batch}
        for batch in _batches(issued)
    )
    valid, count, found = _partition(batches, set(wanted))
    if len(found) != len(wanted):
        missing = next(r for d, r in wanted.items() if d not in found)
        raise RevokedNotIssued(f"revoked id {missing[:200]!r} is not among the issued ids")
    return _cascade(list(wanted), valid, count)


def build_cascade_from_digests(
    issued_digests: Iterable[bytes], revoked_digests: Collection[bytes]
) -> Cascade:
    """As :func:`build_cascade`, from ``id_digest`` values (16-byte ``bytes``)."""
    revoked = set(revoked_digests)
    _check_digests(revoked)
    valid, count, found = _partition(
        (set(_check_digests(batch)) for batch in _batches(issued_digests)), revoked
    )
    if len(found) != len(revoked):
        raise RevokedNotIssued(f"{len(revoked) - len(found)} revoked digests were not issued")
    return _cascade(list(revoked), valid, count)


def _check_digests(digests: Collection[bytes]) -> Collection[bytes]:
    if digests and (set(map(type, digests)) != {bytes} or set(map(len, digests)) != {16}):
        raise BadDigest("every digest must be 16 bytes (id_digest)")
    return digests


def _batches(items: Iterable[T]) -> Iterator[list[T]]:
    it = iter(items)
    while batch := list(islice(it, BATCH)):
        yield batch


def _partition(
    batches: Iterable[set[bytes]], revoked: set[bytes]
) -> tuple[list[bytes], int, set[bytes]]:
    """The non-revoked digests (joined, one ``bytes`` per batch), their count, and the
    revoked digests that were seen."""
    valid: list[bytes] = []
    count, found = 0, set()
    for batch in batches:
        found |= batch & revoked
        kept = batch - revoked  # not -=, which would walk all of `revoked`
        valid.append(b"".join(kept))
        count += len(kept)
    return valid, count, found


def _cascade(revoked: list[bytes], valid: list[bytes], count: int) -> Cascade:
    include: list[bytes] = revoked
    exclude: Iterable[Sequence[bytes]] = map(_split, valid)
    # CRLite's level-1 rate; with nothing to exclude any rate will do (one 8-bit level).
    rate = min(P, len(revoked) * math.sqrt(P) / count) if count else 1.0
    levels: list[CascadeLevel] = []
    while include:
        if len(levels) == MAX_LEVELS:
            raise CascadeTooLarge(f"no exact cascade within {MAX_LEVELS} levels")
        salt = _SALTS[len(levels)]
        m, k = _dimensions(len(include), rate)
        bits = bytearray(m)
        for batch in _batches(include):
            _insert(bits, salt, batch, m, k)
        false_positives: list[bytes] = []
        for others in exclude:
            false_positives += _members(bits, salt, others, m, k)
        levels.append(CascadeLevel(m, k, _pack(bits)))
        exclude = _batches(include)
        include, rate = false_positives, P
    return Cascade(tuple(levels))


def _dimensions(n: int, rate: float) -> tuple[int, int]:
    """Bits and probes of a Bloom filter of ``n`` items at false-positive ``rate``."""
    per_item = math.log2(1 / rate)
    m = max(MIN_M, math.ceil(n * per_item / math.log(2)))
    if m > MAX_M:
        raise CascadeTooLarge(f"a level of {n} ids needs {m} bits, above {MAX_M}")
    return m, min(MAX_K, max(1, round(per_item)))


@lru_cache(maxsize=4)
def _splitter(n: int) -> struct.Struct:
    return struct.Struct(f"{DIGEST_SIZE}s" * n)


def _split(joined: bytes) -> tuple[bytes, ...]:
    return _splitter(len(joined) // DIGEST_SIZE).unpack(joined)


def _to_int(lanes: array[int]) -> int:
    return int.from_bytes(lanes.tobytes(), _NATIVE)


def _to_lanes(value: int, n: int) -> array[int]:
    return array("Q", value.to_bytes(8 * n, _NATIVE))


def _start(salt: bytes, batch: Sequence[bytes], m: int) -> tuple[array[int], array[int]]:
    """``h1`` and ``h2`` of every digest of ``batch`` (see the module docstring)."""
    words = array("Q", b"".join([_sha256(salt + d).digest() for d in batch]))
    if _NATIVE == "big":
        words.byteswap()
    n = len(batch)
    ones = int.from_bytes(_ONE_LANE * n, _NATIVE)
    low32 = ones * 0xFFFFFFFF
    x = _to_int(words[::4])
    h1 = (((x & low32) * m) >> 32) & low32
    h2 = (((((x >> 32) & low32) * (m - 1)) >> 32) & low32) + ones
    return _to_lanes(h1, n), _to_lanes(h2, n)


def _advance(pos: array[int], stride: array[int], m: int) -> array[int]:
    """``(pos + stride) mod m`` lane by lane (lanes < 2³³, so bit 63 of ``p + 2⁶³ − m``
    tells ``p ≥ m``)."""
    n = len(pos)
    ones = int.from_bytes(_ONE_LANE * n, _NATIVE)
    p = _to_int(pos) + _to_int(stride)
    p -= (((p + ones * (2**63 - m)) >> 63) & ones) * m
    return _to_lanes(p, n)


def _insert(bits: bytearray, salt: bytes, batch: Sequence[bytes], m: int, k: int) -> None:
    pos, stride = _start(salt, batch, m)
    for probe in range(k):
        deque(map(bits.__setitem__, pos, repeat(1)), maxlen=0)
        if probe + 1 < k:
            pos = _advance(pos, stride, m)


def _members(bits: bytearray, salt: bytes, batch: Sequence[bytes], m: int, k: int) -> list[bytes]:
    """The digests of ``batch`` all of whose k bits are set (``bits`` holds one per byte)."""
    pos, stride = _start(salt, batch, m)
    alive = list(batch)
    for probe in range(k):
        hit = bytes(itemgetter(*pos)(bits)) if len(pos) > 1 else bytes(bits[p] for p in pos)
        alive = list(compress(alive, hit))
        if not alive or probe + 1 == k:
            break
        pos, stride = array("Q", compress(pos, hit)), array("Q", compress(stride, hit))
        pos = _advance(pos, stride, m)
    return alive


def _pack(bits: bytearray) -> bytes:
    """One bit per byte → eight per byte, least significant first (via one base-2 int)."""
    return int(bits.translate(_BIT_CHARS)[::-1], 2).to_bytes((len(bits) + 7) // 8, "little")
