"""Strict CBOR decoding of outside bytes: value sharing and string references refused
wherever they head an item, never where the same bytes sit inside a string; every failure
of cbor2's is one error type."""

from __future__ import annotations

import contextlib
import re
import threading
import time
import tomllib
from pathlib import Path

import cbor2
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from keys import cbor as strict_cbor
from keys.cbor import REFUSED_TAGS, refused_tag


def _tag_head(tag: int, size: int) -> bytes:
    return bytes([{1: 0xD8, 2: 0xD9, 4: 0xDA, 8: 0xDB}[size]]) + tag.to_bytes(size, "big")


def _forms(tag: int) -> list[bytes]:
    short = [bytes([0xC0 | tag])] if tag < 24 else []  # in the initial byte itself
    return short + [_tag_head(tag, size) for size in (1, 2, 4, 8) if tag < 1 << (8 * size)]


@pytest.mark.parametrize("tag", sorted(REFUSED_TAGS))
def test_each_refused_tag_in_every_length_form_and_place(tag: int) -> None:
    for head in _forms(tag):
        item = head + b"\x00"  # the tag around the integer 0
        for data in (
            item,
            b"\x82\x01" + item,  # in an array
            b"\xa1" + item + b"\x01",  # as a map key
            b"\xa2\x01\x02\x03" + item,  # as the last value of a map
            b"\x9f\x01" + item + b"\xff",  # in an indefinite array
            b"\xbf\x61a" + item + b"\xff",  # in an indefinite map
            b"\xd2\x81" + item,  # under another tag
            b"\x82\x5f\x41\x00\xff" + item,  # after an indefinite byte string
        ):
            assert refused_tag(data) == tag, data.hex()
            with pytest.raises(cbor2.CBORDecodeError, match=f"tag {tag}"):
                strict_cbor.loads(data)


def test_the_same_bytes_inside_a_string_are_data() -> None:
    for tag in sorted(REFUSED_TAGS):
        for head in _forms(tag):
            value = {"h": head + b"\x00", "t": "x", "l": [head, 7]}
            data = cbor2.dumps(value)
            assert refused_tag(data) is None
            assert strict_cbor.loads(data) == value


def test_shared_references_decode_to_nothing_in_bounded_time() -> None:
    """A 40-level graph of shared references (~380 bytes) is 2^40 leaves when encoded or
    hashed; refused before cbor2 builds it."""
    levels = [b"\xd8\x1c\x82\x00\x00"]
    for i in range(1, 40):
        ref = b"\xd8\x1d" + cbor2.dumps(i - 1)
        levels.append(b"\xd8\x1c\x82" + ref + ref)
    data = b"\x98\x28" + b"".join(levels)  # an array of the 40 levels
    started = time.perf_counter()
    with pytest.raises(cbor2.CBORDecodeError, match="value sharing"):
        strict_cbor.loads(data)
    assert time.perf_counter() - started < 5.0  # bounded: unrefused, it never ends


@pytest.mark.parametrize(
    "data",
    [
        bytes.fromhex("d82570") + b"A" * 16,  # UUID of a text string: AssertionError
        bytes.fromhex("d8236128"),  # a regular expression that does not compile
        bytes.fromhex("5b7fffffffffffffff"),  # a byte string of 2^63 bytes
        b"\x82\x01",  # cut short
        b"",
    ],
)
def test_every_failure_is_a_decode_error(data: bytes) -> None:
    with pytest.raises(cbor2.CBORDecodeError):
        strict_cbor.loads(data)


_plain = st.recursive(
    st.none() | st.booleans() | st.integers() | st.binary(max_size=40) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=4) | st.integers(), children, max_size=4)
    ),
    max_leaves=20,
)


@given(_plain)
def test_plain_values_decode_as_cbor2_decodes_them(value: object) -> None:
    data = cbor2.dumps(value)
    assert strict_cbor.loads(data) == cbor2.loads(data)


@given(st.binary(max_size=64))
def test_any_bytes_decode_or_fail_cleanly(data: bytes) -> None:
    """A value, or a CBORDecodeError that says something: never another exception."""
    said = "decoded"
    try:
        strict_cbor.loads(data)
    except cbor2.CBORDecodeError as e:
        said = str(e)
    assert said


def test_text_that_is_not_utf8_decodes_replaced_and_fails_the_byte_compare() -> None:
    """Not UTF-8: replaced (cbor2 5 leaks on its strict error path), so that the formats'
    re-encoding no longer gives the same bytes, and they refuse it."""
    data = bytes.fromhex("a1616162ffff")  # {"a": <2 bytes that are not UTF-8>}
    value = strict_cbor.loads(data)
    assert value == {"a": "\ufffd\ufffd"}
    assert cbor2.dumps(value, canonical=True) != data


@pytest.mark.parametrize(
    "data",
    [
        bytes.fromhex("a1616162ffff"),  # text that is not UTF-8
        bytes.fromhex("d8236128"),  # tag 35: a regular expression that does not compile
        bytes.fromhex("d82501"),  # tag 37: a UUID that is not 16 bytes
    ],
)
def test_refusing_forged_cbor_does_not_leak(data: bytes) -> None:
    """cbor2 5's C decoder leaked ~0.7 KB on each of these (66 MB per 100,000 forged QR
    codes at the public verifier); decoded through keys.cbor, memory stays flat."""
    import gc
    from pathlib import Path

    def resident_mb() -> float:
        return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 2**20

    for _ in range(1_000):  # warm up: caches, free lists
        with contextlib.suppress(cbor2.CBORDecodeError):
            strict_cbor.loads(data)
    gc.collect()
    before = resident_mb()
    for _ in range(30_000):
        with contextlib.suppress(cbor2.CBORDecodeError):
            strict_cbor.loads(data)
    gc.collect()
    assert resident_mb() - before < 6  # leaking, it grows by about 20 MB


@pytest.mark.parametrize(
    "data",
    [
        b"\x82\xff\xd8\x1c\x00",  # a break as an array's item, then a refused tag
        b"\xa2\x00\xff\x01\xd8\x1c\x00",  # a break as a map's value
        b"\x82\xff\xd8\x23\x61\x61",  # a break, then a regular expression
        b"\xd8\x1c\xff\x82\xd8\x1c\x00",  # a break under a refused tag's neighbour
    ],
)
def test_a_stray_break_does_not_hide_what_follows(data: bytes) -> None:
    """cbor2 decodes a break outside an indefinite item as a value and reads on: the walk
    must not stop there (a refused tag after it was let through, and the shared-reference
    hang with it)."""
    assert cbor2.loads(data) is not None  # cbor2 itself reads past the break
    with pytest.raises(cbor2.CBORDecodeError):
        strict_cbor.loads(data)


def test_shared_references_behind_a_break_are_refused_at_once() -> None:
    levels = [b"\xd8\x1c\x82\x00\x00"]
    for i in range(1, 40):
        ref = b"\xd8\x1d" + cbor2.dumps(i - 1)
        levels.append(b"\xd8\x1c\x82" + ref + ref)
    data = b"\xa2\x06\xff\x05\x98\x28" + b"".join(levels)  # {6: break, 5: [graph]}
    started = time.perf_counter()
    with pytest.raises(cbor2.CBORDecodeError):
        strict_cbor.loads(data)
    assert time.perf_counter() - started < 5.0  # bounded: let through, it never ends


def _reference_item(data: bytes, i: int) -> tuple[int, int | None]:
    """A plain recursive reading of one item at ``i``: where it ends and the first refused
    tag heading an item in it (the walk's loop must agree with it everywhere)."""
    if i >= len(data):
        raise cbor2.CBORDecodeError("cut")
    major, info = data[i] >> 5, data[i] & 31
    if info < 24:
        arg, i = info, i + 1
    elif info < 28:
        size = 1 << (info - 24)
        arg, i = int.from_bytes(data[i + 1 : i + 1 + size], "big"), i + 1 + size
    elif info == 31 and major in (2, 3, 4, 5):
        i += 1
        while i >= len(data) or data[i] != 0xFF:
            i, tag = _reference_item(data, i)
            if tag is not None:
                return i, tag
        return i + 1, None
    else:
        raise cbor2.CBORDecodeError("no item head")  # a stray break among them
    if major in (2, 3):
        return i + arg, None
    if major == 6:
        return (i, arg) if arg in REFUSED_TAGS else _reference_item(data, i)
    for _ in range(arg if major == 4 else 2 * arg if major == 5 else 0):
        i, tag = _reference_item(data, i)
        if tag is not None:
            return i, tag
    return i, None


def _outcome(read: object, data: bytes) -> object:
    try:
        return read(data)  # type: ignore[operator]
    except cbor2.CBORDecodeError:
        return "malformed"


# Heads of every kind (refused tags, breaks, indefinite and sized containers and strings,
# argument sizes), so that short random runs of them are often near-valid CBOR.
_HEADS = st.sampled_from(
    [
        *(0x00, 0x01, 0x18, 0x19, 0x1C, 0x1D, 0x23, 0x41, 0x5F, 0x61, 0x7F, 0x81, 0x82, 0x9F),
        *(0xA1, 0xBF, 0xC1, 0xC6, 0xD2, 0xD8, 0xD9, 0xDA, 0xDB, 0xF6, 0xF9, 0xFC, 0xFF),
    ]
)


@settings(max_examples=1_500)
@given(st.lists(_HEADS, max_size=14).map(bytes) | st.binary(max_size=40))
@example(bytes.fromhex("a100c100"))  # a refused tag as a map's value
@example(bytes.fromhex("9f5f4100ffc100ff"))  # after chunks, in an indefinite array
def test_the_walk_reads_as_a_plain_recursive_reader(data: bytes) -> None:
    expected = _outcome(lambda d: _reference_item(d, 0)[1], data)
    assert _outcome(strict_cbor._walk, data) == expected, data.hex()


def test_loads_counts_items_before_decoding_when_asked() -> None:
    """``max_items`` bounds the items (every head: containers, their members, strings),
    counted before cbor2 builds any; without it nothing is counted."""
    data = cbor2.dumps({"a": [1, 2, 3], "b": b"x" * 1000})  # 1 map + 2 keys + 1 list + 3 + 1
    assert strict_cbor.loads(data, max_items=8) == {"a": [1, 2, 3], "b": b"x" * 1000}
    with pytest.raises(cbor2.CBORDecodeError, match="more than 7 CBOR items"):
        strict_cbor.loads(data, max_items=7)
    many = b"\x9f" + b"\x80" * 50_000 + b"\xff"  # an indefinite list of empty lists
    assert len(strict_cbor.loads(many)) == 50_000
    with pytest.raises(cbor2.CBORDecodeError, match="more than 1,000 CBOR items"):
        strict_cbor.loads(many, max_items=1_000)
    with pytest.raises(cbor2.CBORDecodeError, match="tag 28"):  # refused tags still are
        strict_cbor.loads(bytes.fromhex("d81c80"), max_items=10)


def test_the_kept_decoder_carries_nothing_from_one_call_to_the_next() -> None:
    """Each thread decodes on one kept decoder: what one call left (bytes after its item,
    a cut item, a failure deep in a nest, a long read past the 4 KiB read-ahead) never
    reaches the next call, which decodes exactly as ``cbor2.loads`` does."""
    long_text = cbor2.dumps(["é" * 5000, b"\x01" * 9000])  # beyond one read-ahead
    cases = [
        cbor2.dumps({1: 2}) + b"\x18\x2a",  # an item, then another the caller does not read
        b"\x82\x01",  # a cut array
        b"\x81" * 200 + b"\x5a\xff\xff\xff\xff",  # nested, then a string that is not there
        long_text,
        b"\x63\xff\xfea",  # text that is not UTF-8 (replaced, as the loader is set to)
        cbor2.dumps({"a": [1, {"b": b"c"}]}),
    ]
    for first in cases:
        for second in cases:
            with contextlib.suppress(cbor2.CBORDecodeError):
                strict_cbor.loads(first)
            try:
                expected = cbor2.loads(second, str_errors="replace")
            except cbor2.CBORDecodeError:
                with pytest.raises(cbor2.CBORDecodeError):
                    strict_cbor.loads(second)
            else:
                assert strict_cbor.loads(second) == expected


def test_each_thread_decodes_on_its_own_decoder() -> None:
    seen: dict[int, object] = {}

    def decode(n: int) -> None:
        for _ in range(200):
            assert strict_cbor.loads(cbor2.dumps([n] * 50)) == [n] * 50
        seen[n] = strict_cbor._decoder()

    threads = [threading.Thread(target=decode, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 4
    assert len({id(d) for d in seen.values()}) == 4


def test_the_declared_cbor2_is_one_the_kept_decoder_runs_on() -> None:
    """The kept decoder takes ``read_size`` (cbor2 5.7) and relies on ``decode_from_bytes``
    clearing its state after each call (5.9): under an older cbor2, which pyproject.toml
    allowed (>=5.6), every decode failed, and with it every verification."""
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    (spec,) = [d for d in pyproject["project"]["dependencies"] if d.startswith("cbor2")]
    lowest = re.search(r">=\s*([0-9.]+)", spec)
    assert lowest is not None, spec
    assert tuple(int(n) for n in lowest.group(1).split(".")) >= (5, 9), spec
