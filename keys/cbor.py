"""Decoding CBOR that comes from outside: cbor2, with nothing of it that lets a few bytes
become a value too large to hash, encode or print, and with one error for every flaw.

cbor2 implements CBOR's value sharing (tags 28 and 29) and string references (tags 25 and
256). A few hundred bytes of shared references decode to a small graph whose every path
is distinct when it is hashed, encoded or shown: 2^40 leaves from a 380-byte header. None
of eseal's formats use them, so a document, statement, entry or snapshot holding one is
refused before cbor2 sees it, as are the other tags cbor2 turns into objects (see
:data:`REFUSED_TAGS`). And whatever cbor2 raises on hostile bytes (its decoders for UUIDs,
regular expressions or self-referencing tags raise AssertionError, RuntimeError,
MemoryError, …) comes out as :class:`cbor2.CBORDecodeError`.

A text string that is not UTF-8 decodes with U+FFFD in place of the bad bytes: cbor2 5's
C decoder leaks about 0.7 KB each time its strict UTF-8 error is raised. Every format that
takes CBOR from outside then re-encodes the value and compares the bytes (documents, key
statements, ledger entries) or checks a signature over them (snapshots), so such a text is
still refused there, as not deterministic CBOR.
"""

from __future__ import annotations

import io
import re
import threading
from typing import Any, Final

import cbor2

#: Tags of value sharing (28, 29) and string references (25, 256), and the other tags
#: above 23 that cbor2 decodes into objects (rationals, regular expressions, MIME, UUIDs,
#: dates, sets, IP addresses, complex numbers, the self-describe mark): none of eseal's
#: formats uses one, and cbor2 5's C decoder leaks memory when some of their decoders
#: fail (a regular expression that does not compile, a UUID of the wrong size), which a
#: public verifier would do for every such forged code; and tag 1 (an epoch time), whose
#: decoder leaks the same way on a time out of range. Refused everywhere. (Tags 0 and 2 to
#: 5 decode to values no format accepts: the formats refuse them by type.)
REFUSED_TAGS: Final = frozenset(
    {1, 25, 28, 29, 30, 35, 36, 37, 100, 256, 258, 260, 261, 1004, 43000, 55799}
)
_TAG_NAMES: Final = {
    1: "epoch time",
    25: "string references",
    256: "string references",
    28: "value sharing",
    29: "value sharing",
}


def _head_pattern(tags: frozenset[int]) -> re.Pattern[bytes]:
    """The bytes that can open each tag's head, in every length form that fits it."""
    forms: list[bytes] = []
    for tag in sorted(tags):
        if tag < 24:
            forms.append(bytes([0xC0 | tag]))  # the tag in the initial byte itself
        for initial, size in ((0xD8, 1), (0xD9, 2), (0xDA, 4), (0xDB, 8)):
            if tag < 1 << (8 * size):
                forms.append(bytes([initial]) + tag.to_bytes(size, "big"))
    return re.compile(b"|".join(re.escape(form) for form in forms))


#: A quick look: bytes that may be a refused tag's head (or the same bytes inside a string,
#: as a hash or a signature may hold them); only then is the structure walked.
_MAYBE_REFUSED: Final = _head_pattern(REFUSED_TAGS)


def refused_tag(data: bytes) -> int | None:
    """The first refused tag (:data:`REFUSED_TAGS`) that heads an item of the CBOR ``data``,
    or None. Raises :class:`cbor2.CBORDecodeError` where a walk meets malformed data (a
    break outside an indefinite item, a cut head): cbor2 may read past such a flaw (it
    decodes a stray break as a value), so the walk never stops short of the end."""
    # Every form of those heads opens with C1 or a byte from D8 to DB (C1 is never in
    # UTF-8 text): five memchr calls (an int needle; a bytes one costs a TypeError inside
    # CPython first) clear most data at once, before the slower pattern search.
    lead = 0xD8 in data or 0xD9 in data or 0xDA in data or 0xDB in data or 0xC1 in data
    if not lead or _MAYBE_REFUSED.search(data) is None:
        return None
    return _walk(data)


def _walk(  # noqa: PLR0912 - one flat loop on purpose
    data: bytes, limit: int | None = None
) -> int | None:
    """:func:`refused_tag`'s walk over every item head of ``data`` (strings skipped whole);
    with a ``limit``, CBORDecodeError past that many heads. One loop with the head read
    inline: a call and a tuple per item cost as much again."""
    end = len(data)
    i = 0
    heads = 0
    # Items still to read in each open container; None while an indefinite one is open.
    left: list[int | None] = [1]
    while left:
        top = left[-1]
        if top == 0:
            left.pop()
            continue
        if limit is not None:
            heads += 1
            if heads > limit:
                raise cbor2.CBORDecodeError(f"more than {limit:,} CBOR items")
        if i >= end:
            raise cbor2.CBORDecodeError(f"malformed CBOR: no valid item head at byte {i}")
        initial = data[i]
        major, arg = initial >> 5, initial & 31
        if arg < 24:  # the argument in the initial byte
            i += 1
        elif arg < 28:  # 1, 2, 4 or 8 argument bytes (a cut one fails at the next head)
            size = 1 << (arg - 24)
            arg = int.from_bytes(data[i + 1 : i + 1 + size], "big")
            i += 1 + size
        elif arg == 31 and 2 <= major <= 5:  # indefinite: chunks or items until a break
            i += 1
            if top is not None:
                left[-1] = top - 1
            left.append(None)
            continue
        elif initial == 0xFF:  # a break closes the innermost indefinite container
            if top is not None:
                raise cbor2.CBORDecodeError(f"malformed CBOR: a stray break at byte {i}")
            left.pop()
            i += 1
            continue
        else:
            raise cbor2.CBORDecodeError(f"malformed CBOR: no valid item head at byte {i}")
        if top is not None:
            left[-1] = top - 1
        if major in (2, 3):
            i += arg  # the string's bytes
        elif major == 6:
            if arg in REFUSED_TAGS:
                return arg
            left.append(1)  # the tagged item
        elif major == 4:
            left.append(arg)  # the array's items
        elif major == 5:
            left.append(2 * arg)  # keys and values
    return None


_thread = threading.local()


def _decoder() -> cbor2.CBORDecoder:
    """This thread's decoder. ``cbor2.loads`` builds a decoder (and imports ``datetime``)
    for every call; ``decode_from_bytes`` on one kept decoder reads each call's bytes from
    a fresh buffer and clears its shared-value state after each (cbor2 5.9), so nothing of
    one call reaches the next: 1.5 µs less a call."""
    decoder: cbor2.CBORDecoder | None = getattr(_thread, "decoder", None)
    if decoder is None:
        decoder = _thread.decoder = cbor2.CBORDecoder(
            io.BytesIO(b""), read_size=4096, str_errors="replace"
        )
    return decoder


def _loads(data: bytes) -> Any:
    """``cbor2.loads(data)``, reading 4 KiB at a time, on this thread's decoder."""
    try:
        return _decoder().decode_from_bytes(data)
    except BaseException:
        _thread.decoder = None  # whatever failed, the next call starts from a new decoder
        raise


def loads(data: bytes, *, max_items: int | None = None) -> Any:
    """The value of CBOR ``data`` from outside; :class:`cbor2.CBORDecodeError` for any flaw,
    a refused tag (:data:`REFUSED_TAGS`) included, and, with ``max_items``, for more items
    than that (counted before cbor2 builds any: megabytes of one-byte items, a signer's
    or not, would decode to gigabytes of objects)."""
    tag = refused_tag(data) if max_items is None else _walk(data, max_items)
    if tag is not None:
        what = f" ({_TAG_NAMES[tag]})" if tag in _TAG_NAMES else ""
        raise cbor2.CBORDecodeError(f"CBOR tag {tag}{what} is not used in eseal's formats")
    try:
        return _loads(data)
    except cbor2.CBORDecodeError:
        raise
    except Exception as e:  # any other failure of cbor2's on hostile bytes
        raise cbor2.CBORDecodeError(f"{type(e).__name__}: {e}") from e
