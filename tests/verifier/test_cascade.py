"""The revocation cascade: exact answers for every issued id, the byte format (golden
vectors, round trips, bounds, mangling) and the size goal."""

from __future__ import annotations

import hashlib
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keys.errors import InvalidInput
from verifier import cascade as cascade_module
from verifier.cascade import (
    BadDigest,
    Cascade,
    CascadeLevel,
    MalformedCascade,
    RevokedNotIssued,
    build_cascade,
    build_cascade_from_digests,
    id_digest,
)

TYPE = "11100000000013338W032"
ISSUER = "11500103MB0000000X"


def license_id(serial: int) -> str:
    return f"1.2.156.3005.2.{TYPE}.{ISSUER}.{serial:09d}.001.X"


def assert_exact(cascade: Cascade, issued: list[str], revoked: set[str]) -> None:
    wrong = [i for i in issued if cascade.contains(i) != (i in revoked)]
    assert wrong == [], f"{len(wrong)} wrong answers, e.g. {wrong[:3]}"


def sample_cascade() -> tuple[Cascade, list[str], set[str]]:
    issued = [license_id(i) for i in range(3000)]
    revoked = {license_id(i) for i in range(0, 3000, 11)}
    return build_cascade(issued, revoked), issued, revoked


# -- exactness -------------------------------------------------------------------------------


@settings(deadline=None, max_examples=60)
@given(
    n=st.integers(0, 3000),
    rng=st.randoms(use_true_random=False),
    share=st.sampled_from([0.0, 0.001, 0.01, 0.2, 0.5, 0.9, 1.0]),
)
def test_every_issued_id_answers_exactly(n: int, rng: random.Random, share: float) -> None:
    issued = [license_id(i) for i in rng.sample(range(10**9), n)]
    revoked = {i for i in issued if rng.random() < share}
    cascade = build_cascade(issued, revoked)
    assert_exact(cascade, issued, revoked)
    assert Cascade.from_bytes(cascade.to_bytes()) == cascade


@settings(deadline=None, max_examples=60)
@given(
    issued=st.sets(st.text(max_size=30), max_size=150),
    picks=st.lists(st.booleans(), max_size=150),
)
def test_any_text_ids_answer_exactly(issued: set[str], picks: list[bool]) -> None:
    ids = sorted(issued)
    revoked = {i for i, pick in zip(ids, picks, strict=False) if pick}
    assert_exact(build_cascade(ids, revoked), ids, revoked)


@pytest.mark.parametrize("batch", [1, 2, 5, 64])
def test_small_batches_give_the_same_cascade(monkeypatch: pytest.MonkeyPatch, batch: int) -> None:
    expected, issued, revoked = sample_cascade()
    monkeypatch.setattr(cascade_module, "BATCH", batch)
    assert build_cascade(issued, revoked) == expected


def test_no_revoked_license_answers_false_for_all() -> None:
    issued = [license_id(i) for i in range(5000)]
    cascade = build_cascade(issued, set())
    assert cascade.levels == ()
    assert cascade.to_bytes() == b"ESC1\x00"
    assert not any(cascade.contains(i) for i in issued)


def test_all_revoked_answers_true_for_all() -> None:
    issued = [license_id(i) for i in range(5000)]
    cascade = build_cascade(issued, set(issued))
    assert not [i for i in issued if not cascade.contains(i)]
    assert cascade.size_bytes == 4 + 1 + 5 + 1  # one level of 8 bits: nothing to exclude


def test_duplicate_issued_ids_are_harmless() -> None:
    issued = [license_id(i % 700) for i in range(2100)]
    revoked = {license_id(i) for i in range(0, 700, 3)}
    assert_exact(build_cascade(iter(issued), revoked), issued, revoked)


def test_revoked_id_never_issued_is_refused() -> None:
    issued = [license_id(i) for i in range(100)]
    with pytest.raises(RevokedNotIssued, match="000000100") as caught:
        build_cascade(issued, {license_id(5), license_id(100)})
    assert isinstance(caught.value, InvalidInput)
    assert isinstance(caught.value, ValueError)


def test_ids_outside_the_issued_set_get_an_answer_not_an_error() -> None:
    cascade, _, _ = sample_cascade()
    for stranger in ["", "x", "\ud800", "证照" * 100, license_id(10**8)]:
        assert isinstance(cascade.contains(stranger), bool)


# -- pre-hashed input ------------------------------------------------------------------------


def test_digests_build_the_same_cascade_as_ids() -> None:
    expected, issued, revoked = sample_cascade()
    built = build_cascade_from_digests(map(id_digest, issued), {id_digest(r) for r in revoked})
    assert built == expected
    assert all(built.contains_digest(id_digest(r)) for r in revoked)


def test_id_digest_is_truncated_sha256_of_utf8() -> None:
    assert id_digest("证照") == hashlib.sha256("证照".encode()).digest()[:16]


@pytest.mark.parametrize("bad", [b"\x00" * 15, b"\x00" * 17, "0123456789abcdef"])
def test_a_digest_of_the_wrong_shape_is_refused(bad: object) -> None:
    good = [id_digest(license_id(i)) for i in range(10)]
    with pytest.raises(BadDigest):
        build_cascade_from_digests([*good, bad], good[:2])  # type: ignore[list-item]
    with pytest.raises(BadDigest):
        build_cascade_from_digests(good, [bad])  # type: ignore[list-item]


def test_a_revoked_digest_never_issued_is_refused() -> None:
    good = [id_digest(license_id(i)) for i in range(10)]
    with pytest.raises(RevokedNotIssued):
        build_cascade_from_digests(good[1:], good[:2])


# -- the format ------------------------------------------------------------------------------


def test_golden_hand_made_cascades() -> None:
    nothing = Cascade.from_bytes(b"ESC1\x00")
    everything = Cascade.from_bytes(b"ESC1\x01" + b"\x00\x00\x00\x08\x01" + b"\xff")
    assert everything.levels == (CascadeLevel(8, 1, b"\xff"),)
    for i in range(50):
        assert not nothing.contains(license_id(i))
        assert everything.contains(license_id(i))
    # two full levels: every id passes both, and an even count means "not revoked"
    two = Cascade.from_bytes(b"ESC1\x02" + 2 * (b"\x00\x00\x00\x0c\x03" + b"\xff\x0f"))
    assert not two.contains(license_id(1))


def test_golden_built_cascade() -> None:
    issued = [license_id(i) for i in range(1000)]
    cascade = build_cascade(issued, {license_id(i) for i in range(0, 1000, 7)})
    data = cascade.to_bytes()
    # r = 143, s = 857: rate 143·√½/857 ≈ 0.118, k = round(3.08) = 3, m = ⌈143·3.08/ln 2⌉ = 637
    assert data[:10].hex() == "45534331" + "0c" + "0000027d" + "03"
    assert hashlib.sha256(data).hexdigest() == (
        "9536f7849bdf8246b95bb76a8bc3c18286cb18b690b1320f1d0d9907067a8ae3"
    )


def reference_bits(salt: bytes, digests: list[bytes], m: int, k: int) -> bytes:
    """A Bloom filter per the module docstring, one position at a time."""
    bits = 0
    for digest in digests:
        x = int.from_bytes(hashlib.sha256(salt + digest).digest()[:8], "little")
        h1 = ((x % 2**32) * m) >> 32
        h2 = 1 + (((x >> 32) * (m - 1)) >> 32)
        for i in range(k):
            bits |= 1 << ((h1 + i * h2) % m)
    return bits.to_bytes((m + 7) // 8, "little")


def test_levels_follow_the_documented_hashing() -> None:
    cascade, issued, revoked = sample_cascade()
    first, second = cascade.levels[:2]
    revoked_digests = [id_digest(r) for r in revoked]
    assert first.bits == reference_bits(b"\x01", revoked_digests, first.m, first.k)
    valid = [id_digest(i) for i in issued if i not in revoked]
    false_positives = [d for d in valid if first.has(b"\x01", d)]
    assert second.bits == reference_bits(b"\x02", false_positives, second.m, second.k)


def test_round_trip_and_size_bytes() -> None:
    cascade, issued, revoked = sample_cascade()
    data = cascade.to_bytes()
    assert cascade.size_bytes == len(data)
    again = Cascade.from_bytes(data)
    assert again == cascade
    assert again.to_bytes() == data
    assert_exact(again, issued, revoked)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "magic"),
        (b"ESC2\x00", "magic"),
        (b"ESC1", "magic"),
        (b"ESC1\x41", "levels"),
        (b"ESC1\x01\x00\x00\x00\x07\x01\x7f", "out of bounds"),  # m < 8
        (b"ESC1\x01\x00\x00\x00\x08\x00\xff", "out of bounds"),  # k = 0
        (b"ESC1\x01\x00\x00\x00\x08\x31\xff", "out of bounds"),  # k = 49
        (b"ESC1\x01\x00\x00\x00\x09\x01\xff\x02", "padding"),
        (b"ESC1\x01\xff\xff\xff\xff\x01" + b"\xff" * 64, "truncated bit array"),
        (b"ESC1\x01\x00\x00\x00\x08\x01\xff\x00", "after the last level"),
    ],
)
def test_malformed_cascades_are_refused(data: bytes, why: str) -> None:
    with pytest.raises(MalformedCascade, match=why):
        Cascade.from_bytes(data)


def test_oversized_input_is_refused_before_parsing() -> None:
    data = sample_cascade()[0].to_bytes()
    with pytest.raises(MalformedCascade, match="exceeds"):
        Cascade.from_bytes(data, max_size=len(data) - 1)
    assert Cascade.from_bytes(data, max_size=len(data)).to_bytes() == data


def test_every_truncation_and_extension_is_refused() -> None:
    data = sample_cascade()[0].to_bytes()
    for cut in range(len(data)):
        with pytest.raises(MalformedCascade):
            Cascade.from_bytes(data[:cut])
    for extra in (b"\x00", b"\xff", b"ESC1\x00"):
        with pytest.raises(MalformedCascade):
            Cascade.from_bytes(data + extra)


def test_every_flipped_byte_is_refused_or_parses_to_a_working_cascade() -> None:
    cascade, issued, _ = sample_cascade()
    data = cascade.to_bytes()
    head = len(b"ESC1\x0c")  # magic and level count: any change there must be refused
    for flip in (0x01, 0x80, 0xFF):
        for at in range(len(data)):
            mangled = bytearray(data)
            mangled[at] ^= flip
            try:
                parsed = Cascade.from_bytes(bytes(mangled))
            except InvalidInput:
                continue
            assert at >= head, f"byte {at} ^ {flip:#x} was accepted"
            for i in issued[:20]:
                assert isinstance(parsed.contains(i), bool)


# -- size ------------------------------------------------------------------------------------


def test_size_goal_at_ten_thousand_revoked_among_a_million() -> None:
    # (Its build time is measured in bench.cascade, not asserted here.)
    issued = (license_id(i) for i in range(10**6))
    revoked = [license_id(i) for i in range(0, 10**6, 100)]
    cascade = build_cascade(issued, revoked)
    assert cascade.size_bytes / len(revoked) <= 4
    first, *rest = cascade.levels
    assert first.k == 7  # log2(s / (r·√½)) ≈ 7.1 (CRLite's level-1 rate)
    assert {level.k for level in rest} == {1}  # rate ½ afterwards
    for r in revoked[::20]:
        assert cascade.contains(r)
    for serial in range(13, 10**6, 487):
        assert cascade.contains(license_id(serial)) == (serial % 100 == 0)
