"""The QR document format: round trips, a golden vector, pycose interop, mangling, bounds."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import inspect
import time
import zlib
from collections.abc import Callable
from typing import Any

import base45
import cbor2
import nacl.pwhash.argon2id
import nacl.signing
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from pycose.algorithms import EdDSA
from pycose.headers import KID, Algorithm
from pycose.keys.curves import Ed25519
from pycose.keys.okp import OKPKey
from pycose.messages.sign1message import Sign1Message

from keys import ed25519
from keys.errors import InvalidInput
from tests.verifier.conftest import ISSUER, LICENSE_ID, SALT, TYPE_CODE, fixed_key
from verifier import cose, document
from verifier.base45 import ALPHABET, b45decode
from verifier.document import (
    BrokenCompression,
    DecodedDocument,
    DocumentTooLong,
    DuplicateKey,
    Holder,
    IllegalCharacter,
    InflatedTooLarge,
    InvalidBase45,
    InvalidCbor,
    InvalidClaim,
    InvalidKeyId,
    InvalidSignatureLength,
    LicenseBody,
    LicenseClaims,
    MalformedDocument,
    MissingClaim,
    NonCanonicalCbor,
    NotCoseSign1,
    StampBody,
    StampClaims,
    TrailingData,
    UnknownClaim,
    UnknownCriticalHeader,
    UnknownHeader,
    UnknownPrefix,
    UnprotectedHeader,
    UnsupportedAlgorithm,
    UnsupportedDocument,
    decode,
    decode_base45,
    document_digest,
    encode_license,
    encode_stamp,
    holder_id_argon2,
    holder_id_hash,
    inflate,
    parse_claims,
    parse_cose_sign1,
    split_prefix,
)
from verifier.pipeline import VerifyContext, verify_text
from verifier.trust import TrustStore
from verifier.verdict import Status

REJECTED = (MalformedDocument, UnsupportedDocument)
QR_ALPHANUMERIC = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
KEY = fixed_key("agency")
PUBLIC = bytes(KEY.verify_key)
KID_BYTES = ed25519.key_id(PUBLIC)
PROTECTED = cbor2.dumps({1: -8, 4: KID_BYTES}, canonical=True)

# -- the golden vector: fixed key, fixed claims, exact text (Ed25519 and zlib are deterministic)
# The text pins zlib's deflate output too (stable across zlib 1.2 and 1.3; zlib-ng would differ):
# the digest, which is what other implementations must reproduce, does not depend on it.

GOLDEN_CLAIMS = LicenseClaims(
    issuer=ISSUER,
    issued_at=1_700_000_000,
    not_before=1_700_000_000,
    expires=1_857_686_400,
    license_id=LICENSE_ID,
    body=LicenseBody(
        type_code=TYPE_CODE,
        region="500103",
        version=1,
        holder=Holder("山城小面馆", "L", "92500103MA5U7XYZ1P"),
        fields={"name": "山城小面馆", "operator": "张三", "capital": 50000},
    ),
)
GOLDEN_TEXT = (
    "EL1:NCFOXN%TSMAHO.J%ZS//RU*K5O98L69EH .MHLM-HQE+Q+GO3HOQCR200HF4G%K /E 17TJ9/ 01VCFK"
    "0/$TU*5RKF1MFS1LKNFCY030L.2L.FK N1ND3SK3OVGK43MV8+0QOL07J3:H0NM8J2EVZ0%KOW-KJFDPRA/E"
    "2QRA:6K3.RWWEEDSQY1N26I*5CLNGW59D7164+P4D49Q8E1-86C8:CA4D9TFAWVQ4L1X.T+V949B9DJ4ITWC"
    "JX0MH955/K%OQZLDSTKJDL3T85YIC68HBAXR8QKMQR2QL8HUPXJ4.$2NDB$OUWBF/4QVJTO0K0R7/ EH%2GM"
    "93*OWZLY9B-4E 4SHZV1 QA8F:5N8FI7ZB66EGVQ9:ALJ5RZ1QX5MYS2XAL:R2HTT57Z9J:007G452"
)
GOLDEN_DIGEST = "9f310086ff1a8f0ae4c98214fd2223c8cb856a533003e29d073f857d2e61015d"


def test_golden_vector_encodes_exactly() -> None:
    assert encode_license(GOLDEN_CLAIMS, KEY) == GOLDEN_TEXT


def test_golden_vector_decodes_and_verifies() -> None:
    doc = decode(GOLDEN_TEXT)
    assert doc.kind == "license"
    assert doc.claims == GOLDEN_CLAIMS
    assert doc.kid == KID_BYTES
    assert doc.verify_with(PUBLIC)
    assert document_digest(GOLDEN_TEXT).hex() == GOLDEN_DIGEST


# -- round trips and interoperability ---------------------------------------------------------


def test_license_round_trip(license_claims: LicenseClaims) -> None:
    text = encode_license(license_claims, KEY)
    doc = decode(text)
    assert text.startswith("EL1:")
    assert (doc.kind, doc.claims, doc.kid, doc.text) == ("license", license_claims, KID_BYTES, text)
    assert doc.verify_with(PUBLIC)


def test_person_license_round_trip(person_license_claims: LicenseClaims) -> None:
    doc = decode(encode_license(person_license_claims, KEY))
    assert doc.claims == person_license_claims
    assert doc.verify_with(PUBLIC)


def test_stamp_round_trip(stamp_claims: StampClaims) -> None:
    text = encode_stamp(stamp_claims, KEY)
    doc = decode(text)
    assert text.startswith("ES1:")
    assert (doc.kind, doc.claims) == ("stamp", stamp_claims)
    assert doc.verify_with(PUBLIC)


def test_decode_is_the_stages_in_order(license_claims: LicenseClaims) -> None:
    text = encode_license(license_claims, KEY)
    kind, body = split_prefix(text)
    cose = parse_cose_sign1(inflate(decode_base45(body)))
    assert parse_claims(kind, cose.payload) == decode(text).claims
    assert cose.protected_map == {1: -8, 4: KID_BYTES}
    assert cose.protected == PROTECTED


@pytest.mark.parametrize("fixture", ["license_claims", "person_license_claims", "stamp_claims"])
def test_pycose_verifies_and_reads_the_same_payload(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    claims = request.getfixturevalue(fixture)
    encode = encode_stamp if isinstance(claims, StampClaims) else encode_license
    doc = decode(encode(claims, KEY))
    message = Sign1Message.decode(doc.cose_bytes())
    message.key = OKPKey(crv=Ed25519, x=PUBLIC)
    assert message.verify_signature()
    assert message.phdr == {Algorithm: EdDSA, KID: KID_BYTES}
    assert message.uhdr == {}
    assert message.payload is not None
    assert cbor2.loads(message.payload) == cbor2.loads(doc.payload)
    # pycose, signing the same payload with the same key, writes the very same bytes.
    mine = Sign1Message(phdr={Algorithm: EdDSA, KID: KID_BYTES}, payload=doc.payload)
    mine.key = OKPKey(crv=Ed25519, x=PUBLIC, d=bytes(KEY))
    assert mine.encode() == doc.cose_bytes()


def test_pycose_rejects_a_signature_under_another_key(license_claims: LicenseClaims) -> None:
    doc = decode(encode_license(license_claims, fixed_key("someone else")))
    message = Sign1Message.decode(doc.cose_bytes())
    message.key = OKPKey(crv=Ed25519, x=PUBLIC)
    assert not message.verify_signature()
    assert not doc.verify_with(PUBLIC)


def test_signed_bytes_are_the_cose_sig_structure(license_claims: LicenseClaims) -> None:
    doc = decode(encode_license(license_claims, KEY))
    assert doc.signed_bytes() == cbor2.dumps(["Signature1", doc.protected, b"", doc.payload])
    assert doc.cose_bytes() == cbor2.dumps(
        cbor2.CBORTag(18, [doc.protected, {}, doc.payload, doc.signature])
    )
    assert document_digest(doc.text) == hashlib.sha256(doc.cose_bytes()).digest() == doc.digest()


def test_text_is_qr_alphanumeric_and_a_typical_license_fits(
    license_claims: LicenseClaims, stamp_claims: StampClaims
) -> None:
    license_text = encode_license(license_claims, KEY)
    stamp_text = encode_stamp(stamp_claims, KEY)
    assert set(license_text) <= QR_ALPHANUMERIC
    assert set(stamp_text) <= QR_ALPHANUMERIC
    assert len(license_claims.body.fields) == 8
    assert len(license_text) <= 600


def test_holder_id_argon2_normalises_what_a_clerk_types() -> None:
    """Argon2id, t = 2, m = 19 MiB, p = 1, 16 bytes: the format's fixed parameters (a
    golden value: any other parameter, or no normalising, gives another)."""
    expected = bytes.fromhex("f7f81568dd2025048acb5f7919fda4ae")
    assert holder_id_argon2("50010319900101002X", SALT) == expected
    assert holder_id_argon2(" 500103 19900101 002x ", SALT) == expected
    assert holder_id_argon2("５００１０３１９９００１０１００２Ｘ", SALT) == expected  # full width
    assert holder_id_argon2("50010319900101002X", bytes(16)) != expected
    default = nacl.pwhash.argon2id.kdf(16, b"50010319900101002X", SALT)  # libsodium's own
    assert default != expected
    with pytest.raises(InvalidClaim):
        holder_id_argon2("50010319900101002X", b"short")
    with pytest.raises(InvalidClaim):
        holder_id_argon2(" ", SALT)


def test_holder_id_hash_normalises_what_a_clerk_types() -> None:
    expected = hashlib.sha256(SALT + b"50010319900101002X").digest()[:16]
    assert holder_id_hash("50010319900101002X", SALT) == expected
    assert holder_id_hash(" 500103 19900101 002x ", SALT) == expected
    assert holder_id_hash("５００１０３１９９００１０１００２Ｘ", SALT) == expected  # full width
    assert holder_id_hash("50010319900101002X", bytes(16)) != expected
    with pytest.raises(InvalidClaim):
        holder_id_hash("50010319900101002X", b"short")
    with pytest.raises(InvalidClaim):
        holder_id_hash(" ", SALT)


# -- mangling: every damaged text fails cleanly ------------------------------------------------


def _outcome(text: str, original: bytes) -> str:
    """How a damaged text fails: "refused", "bad signature", or "same" (the same COSE bytes)."""
    try:
        doc = decode(text)
    except REJECTED:
        return "refused"
    if doc.cose_bytes() == original:
        return "same"  # zlib ignores the padding bits after the last deflate block
    assert not doc.verify_with(PUBLIC), "a damaged text passed"
    return "bad signature"


def test_every_single_character_substitution_fails(license_claims: LicenseClaims) -> None:
    text = encode_license(license_claims, KEY)
    original = decode(text).cose_bytes()
    outcomes: dict[str, int] = {}
    for i in range(len(text)):
        for char in sorted(QR_ALPHANUMERIC - {text[i]}):
            outcome = _outcome(text[:i] + char + text[i + 1 :], original)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    assert outcomes.get("same", 0) <= 2 * len(QR_ALPHANUMERIC)
    assert outcomes["refused"] > 0.99 * sum(outcomes.values())


def test_every_truncation_fails(license_claims: LicenseClaims) -> None:
    text = encode_license(license_claims, KEY)
    for end in range(len(text)):
        with pytest.raises(REJECTED):
            decode(text[:end])


@pytest.mark.parametrize("tail", ["0", "00", "000", "0000", "00000", " ", "\n"])
def test_appending_fails(license_claims: LicenseClaims, tail: str) -> None:
    with pytest.raises(REJECTED):
        decode(encode_license(license_claims, KEY) + tail)


def test_a_license_text_is_not_a_stamp(license_claims: LicenseClaims) -> None:
    text = encode_license(license_claims, KEY)
    with pytest.raises(UnknownClaim):
        decode("ES1:" + text[4:])


# -- crafted documents: each flaw its own error -------------------------------------------------


def _bstr(data: bytes) -> bytes:
    return cbor2.dumps(data)


def _sign1(
    payload: bytes,
    *,
    protected: bytes = PROTECTED,
    unprotected: bytes = b"\xa0",
    key: nacl.signing.SigningKey = KEY,
    signature: bytes | None = None,
) -> bytes:
    """A tag-18 COSE_Sign1 built byte by byte, signed properly unless ``signature`` is given."""
    if signature is None:
        signed = cbor2.dumps(["Signature1", protected, b"", payload])
        signature = key.sign(signed).signature
    return b"\xd2\x84" + _bstr(protected) + unprotected + _bstr(payload) + _bstr(signature)


def _text(cose: bytes, prefix: str = "EL1:") -> str:
    encoded: bytes = base45.b45encode(zlib.compress(cose, 9))
    return prefix + encoded.decode()


def _payload(claims: LicenseClaims) -> bytes:
    return decode(encode_license(claims, KEY)).payload


class _Raw(bytes):
    """CBOR bytes that :func:`_cbor_map` copies as they are."""


def _cbor_map(pairs: list[tuple[object, object]]) -> bytes:
    """A CBOR map with exactly these pairs in this order (repeats allowed)."""
    assert len(pairs) < 24

    def encoded(item: object) -> bytes:
        return item if isinstance(item, _Raw) else cbor2.dumps(item, canonical=True)

    return bytes([0xA0 + len(pairs)]) + b"".join(encoded(k) + encoded(v) for k, v in pairs)


def _canonical_pairs(value: dict[object, object]) -> list[tuple[object, object]]:
    """The items in deterministic order: shorter encoded key first, then bytewise."""
    encoded = {k: cbor2.dumps(k) for k in value}
    return sorted(value.items(), key=lambda kv: (len(encoded[kv[0]]), encoded[kv[0]]))


def test_text_over_the_limit_is_refused_before_any_work() -> None:
    start = time.perf_counter()
    with pytest.raises(DocumentTooLong):
        decode("EL1:" + "0" * 10_000_000)
    with pytest.raises(DocumentTooLong):
        decode("EL1:" + "0" * (document.MAX_TEXT_LENGTH - 3))
    assert time.perf_counter() - start < 0.5


@pytest.mark.parametrize("text", ["", "EL1", "EL2:0000", "XX1:0000", "el1:0000", "Es1:00", " EL1:"])
def test_unknown_prefix(text: str) -> None:
    with pytest.raises(UnknownPrefix):
        decode(text)


@pytest.mark.parametrize("char", ["a", "#", "\n", "é", "\x00", "Ａ"])
def test_illegal_base45_character(char: str, license_claims: LicenseClaims) -> None:
    text = encode_license(license_claims, KEY)
    with pytest.raises(IllegalCharacter):
        decode(text[:40] + char + text[41:])


@pytest.mark.parametrize("body", ["0", "0000", "GGW", ":::", "00::", "FGWV5"])
def test_invalid_base45(body: str) -> None:
    with pytest.raises(InvalidBase45):
        decode("EL1:" + body)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00\x01\x02\x03",
        zlib.compress(b"hello", 9)[:-1],  # truncated checksum
        zlib.compress(b"hello", 9)[:-4] + b"\x00\x00\x00\x00",  # wrong checksum
        zlib.compress(b"x" * 1000, 9)[:8],  # truncated stream
        zlib.compress(b"hello", 9)[2:],  # raw deflate, no zlib header
    ],
)
def test_broken_compression(data: bytes) -> None:
    with pytest.raises(BrokenCompression):
        inflate(data)
    with pytest.raises(BrokenCompression):
        decode("EL1:" + base45.b45encode(data).decode())


def test_trailing_data_after_the_zlib_stream(license_claims: LicenseClaims) -> None:
    cose = decode(encode_license(license_claims, KEY)).cose_bytes()
    data = zlib.compress(cose, 9) + b"\x00"
    with pytest.raises(TrailingData):
        decode("EL1:" + base45.b45encode(data).decode())


def test_zip_bomb_stops_at_the_limit_fast() -> None:
    bomb = zlib.compress(bytes(10_000_000), 9)
    small_bomb = _text(bytes(1_000_000))  # small enough to fit in a QR text
    start = time.perf_counter()
    with pytest.raises(InflatedTooLarge):
        inflate(bomb)
    with pytest.raises(InflatedTooLarge):
        decode(small_bomb)
    assert time.perf_counter() - start < 0.1


def test_inflate_limit_is_exact() -> None:
    limit = document.MAX_INFLATED
    assert inflate(zlib.compress(bytes(limit), 9)) == bytes(limit)
    assert inflate(zlib.compress(b"abc", 9), limit=3) == b"abc"
    with pytest.raises(InflatedTooLarge):
        inflate(zlib.compress(bytes(limit + 1), 9))
    with pytest.raises(InflatedTooLarge):
        inflate(zlib.compress(b"abcd", 9), limit=3)


def test_not_cbor() -> None:
    with pytest.raises(InvalidCbor):
        decode(_text(b"\xd2\x84\x4d"))  # ends inside the first item


@pytest.mark.parametrize(
    "build",
    [
        lambda p, s: cbor2.dumps([PROTECTED, {}, p, s]),  # untagged
        lambda p, s: cbor2.dumps(cbor2.CBORTag(98, [PROTECTED, {}, p, s])),  # COSE_Sign
        lambda p, s: cbor2.dumps(cbor2.CBORTag(17, [PROTECTED, {}, p, s])),  # COSE_Mac0
        lambda p, s: cbor2.dumps(cbor2.CBORTag(18, [PROTECTED, {}, p])),
        lambda p, s: cbor2.dumps(cbor2.CBORTag(18, [PROTECTED, {}, p, s, b""])),
        lambda p, s: cbor2.dumps(cbor2.CBORTag(18, [PROTECTED, {}, None, s])),  # detached
        lambda p, s: cbor2.dumps(cbor2.CBORTag(18, [{1: -8}, {}, p, s])),
        lambda p, s: cbor2.dumps(cbor2.CBORTag(18, [PROTECTED, b"", p, s])),
        lambda p, s: cbor2.dumps(cbor2.CBORTag(18, {"payload": p})),
    ],
)
def test_not_cose_sign1(
    build: Callable[[bytes, bytes], bytes], license_claims: LicenseClaims
) -> None:
    doc = decode(encode_license(license_claims, KEY))
    with pytest.raises(NotCoseSign1):
        decode(_text(build(doc.payload, doc.signature)))


def test_cose_sign1_must_be_canonical_and_end_there(license_claims: LicenseClaims) -> None:
    payload = _payload(license_claims)
    good = _sign1(payload)
    longer_head = b"\xd2\x84\x58\x0d" + good[3:]  # protected bstr length in two bytes
    with pytest.raises(NonCanonicalCbor):
        decode(_text(longer_head))
    with pytest.raises(TrailingData):
        decode(_text(good + b"\x00"))


@pytest.mark.parametrize("alg", [-7, -35, -257, 5, "EdDSA", None])
def test_unsupported_algorithm(alg: object, license_claims: LicenseClaims) -> None:
    header = {1: alg, 4: KID_BYTES} if alg is not None else {4: KID_BYTES}
    protected = cbor2.dumps(header, canonical=True)
    with pytest.raises(UnsupportedAlgorithm):
        decode(_text(_sign1(_payload(license_claims), protected=protected)))


@pytest.mark.parametrize("kid", [None, b"", KID_BYTES[:7], KID_BYTES + b"\x00", KID_BYTES.hex()])
def test_missing_or_malformed_kid(kid: object, license_claims: LicenseClaims) -> None:
    header = {1: -8} if kid is None else {1: -8, 4: kid}
    protected = cbor2.dumps(header, canonical=True)
    with pytest.raises(InvalidKeyId):
        decode(_text(_sign1(_payload(license_claims), protected=protected)))


def test_kid_in_the_unprotected_header_is_refused(license_claims: LicenseClaims) -> None:
    protected = cbor2.dumps({1: -8}, canonical=True)
    unprotected = cbor2.dumps({4: KID_BYTES})
    with pytest.raises(UnprotectedHeader):
        decode(
            _text(_sign1(_payload(license_claims), protected=protected, unprotected=unprotected))
        )
    with pytest.raises(UnprotectedHeader):  # even beside a protected kid
        decode(_text(_sign1(_payload(license_claims), unprotected=unprotected)))


def test_unknown_critical_header(license_claims: LicenseClaims) -> None:
    protected = cbor2.dumps({1: -8, 2: [99], 4: KID_BYTES, 99: 1}, canonical=True)
    with pytest.raises(UnknownCriticalHeader):
        decode(_text(_sign1(_payload(license_claims), protected=protected)))


@pytest.mark.parametrize(
    "header",
    [
        {1: -8, 3: "application/cwt", 4: KID_BYTES},  # content type
        {1: -8, 4: KID_BYTES, 33: b"x509"},
        {1: -8, 2: [4], 4: KID_BYTES},  # crit naming only known labels: still not this format
        {1: -8, 4: KID_BYTES, "alg": "EdDSA"},
        {True: -8, 4: KID_BYTES},  # true == 1 in Python, not in CBOR
    ],
)
def test_unknown_protected_header(
    header: dict[object, object], license_claims: LicenseClaims
) -> None:
    protected = cbor2.dumps(header, canonical=True)
    with pytest.raises(UnknownHeader):
        decode(_text(_sign1(_payload(license_claims), protected=protected)))


@pytest.mark.parametrize(
    ("protected", "error"),
    [
        (b"\xa2\x01\x38\x07\x04\x48" + KID_BYTES, NonCanonicalCbor),  # -8 in two bytes
        (b"\xa2\x04\x48" + KID_BYTES + b"\x01\x27", NonCanonicalCbor),  # keys unsorted
        (b"\xbf\x01\x27\x04\x48" + KID_BYTES + b"\xff", NonCanonicalCbor),  # indefinite
        (b"\xa3\x01\x27\x04\x48" + KID_BYTES + b"\x01\x27", DuplicateKey),
        (PROTECTED + b"\x00", TrailingData),
        (b"\x82\x01\x27", NotCoseSign1),
        (b"\xa2\x01", InvalidCbor),
    ],
)
def test_protected_header_must_be_canonical(
    protected: bytes, error: type[Exception], license_claims: LicenseClaims
) -> None:
    with pytest.raises(error):
        decode(_text(_sign1(_payload(license_claims), protected=protected)))


@pytest.mark.parametrize("key", [b"\xc6\x81\x00", b"\xc6\xa1\x00\x00", b"\xc6\xc6\x80"])
def test_a_map_key_tagging_a_list_or_map_is_refused_every_time(
    key: bytes, license_claims: LicenseClaims
) -> None:
    # 6([0]), 6({0: 0}), 6(6([])) as a protected header's first key (so not in order). Hashing
    # such a tag fails, and cbor2's tag then refuses ever after to hash any tag made where it
    # was (RuntimeError): the same text verified twice would have failed with a 500.
    protected = b"\xa3" + key + b"\x00\x01\x27\x04\x48" + KID_BYTES
    text = _text(_sign1(_payload(license_claims), protected=protected))
    for _ in range(3):
        with pytest.raises(NonCanonicalCbor):
            decode(text)
        verdict = verify_text(text, VerifyContext(TrustStore(), 1_700_000_000))
        assert verdict.status is Status.MALFORMED


@pytest.mark.parametrize("size", [0, 32, 63, 65, 128])
def test_signature_must_be_64_bytes(size: int, license_claims: LicenseClaims) -> None:
    signature = bytes(size)
    with pytest.raises(InvalidSignatureLength):
        decode(_text(_sign1(_payload(license_claims), signature=signature)))


def test_truncated_signature(license_claims: LicenseClaims) -> None:
    doc = decode(encode_license(license_claims, KEY))
    with pytest.raises(InvalidSignatureLength):
        decode(_text(_sign1(doc.payload, signature=doc.signature[:63])))


def _claims_map(claims: LicenseClaims) -> dict[object, object]:
    value: dict[object, object] = cbor2.loads(_payload(claims))
    return value


def test_extra_claim(license_claims: LicenseClaims) -> None:
    claims = _claims_map(license_claims) | {-70003: "extra"}
    with pytest.raises(UnknownClaim):
        decode(_text(_sign1(cbor2.dumps(claims, canonical=True))))


@pytest.mark.parametrize("key", [1, 5, 6, 7, -70001])
def test_missing_claim(key: int, license_claims: LicenseClaims) -> None:
    claims = _claims_map(license_claims)
    del claims[key]
    with pytest.raises(MissingClaim):
        decode(_text(_sign1(cbor2.dumps(claims, canonical=True))))


def test_claim_keys_must_be_integers(license_claims: LicenseClaims) -> None:
    claims = _claims_map(license_claims)
    claims[True] = claims.pop(1)  # true == 1 in Python, not in CBOR
    with pytest.raises(UnknownClaim):
        decode(_text(_sign1(cbor2.dumps(claims, canonical=True))))


def test_non_canonical_payload(license_claims: LicenseClaims) -> None:
    claims = _claims_map(license_claims)
    pairs = _canonical_pairs(claims)
    iat = claims[6]
    assert isinstance(iat, int)
    longer_iat = [(k, _Raw(b"\x1b" + iat.to_bytes(8, "big")) if k == 6 else v) for k, v in pairs]
    for payload in (
        _cbor_map(longer_iat),  # iat in 8 bytes where 4 do
        _cbor_map(pairs[::-1]),  # keys unsorted
        b"\xbf" + _cbor_map(pairs)[1:] + b"\xff",  # indefinite length
    ):
        with pytest.raises(NonCanonicalCbor) as caught:
            decode(_text(_sign1(payload)))
        assert type(caught.value) is NonCanonicalCbor
    assert _cbor_map(pairs) == _payload(license_claims)


@pytest.mark.parametrize("inner", ["body", "holder"])
def test_nested_maps_must_be_in_canonical_order(
    inner: str, person_license_claims: LicenseClaims
) -> None:
    claims = _claims_map(person_license_claims)
    body = claims[-70001]
    assert isinstance(body, dict)
    holder_pairs = _canonical_pairs(body["h"])
    body_pairs = _canonical_pairs(body)
    if inner == "holder":
        holder_pairs.reverse()
    else:
        body_pairs.reverse()
    body_pairs = [(k, _Raw(_cbor_map(holder_pairs)) if k == "h" else v) for k, v in body_pairs]
    claim_pairs = [
        (k, _Raw(_cbor_map(body_pairs)) if k == -70001 else v) for k, v in _canonical_pairs(claims)
    ]
    with pytest.raises(NonCanonicalCbor):
        decode(_text(_sign1(_cbor_map(claim_pairs))))


def test_duplicate_claim_key(license_claims: LicenseClaims) -> None:
    pairs = _canonical_pairs(_claims_map(license_claims))
    at = [k for k, _ in pairs].index(6)
    repeated = [*pairs[: at + 1], (6, 0), *pairs[at + 1 :]]  # iat twice: 1700000000, then 0
    with pytest.raises(DuplicateKey):
        decode(_text(_sign1(_cbor_map(repeated))))
    assert cbor2.loads(_cbor_map(repeated))[6] == 0  # what a last-wins decoder would believe


def test_duplicate_field_name(license_claims: LicenseClaims) -> None:
    claims = _claims_map(license_claims)
    body = claims[-70001]
    assert isinstance(body, dict)
    fields = _canonical_pairs(body["f"])
    name_at = [k for k, _ in fields].index("name")
    fields.insert(name_at + 1, ("name", "另一个名字"))
    body_pairs = [
        (k, _Raw(_cbor_map(fields)) if k == "f" else v) for k, v in _canonical_pairs(body)
    ]
    claim_pairs = [
        (k, _Raw(_cbor_map(body_pairs)) if k == -70001 else v) for k, v in _canonical_pairs(claims)
    ]
    with pytest.raises(DuplicateKey):
        decode(_text(_sign1(_cbor_map(claim_pairs))))


def test_trailing_bytes_after_the_payload(license_claims: LicenseClaims) -> None:
    with pytest.raises(TrailingData):
        decode(_text(_sign1(_payload(license_claims) + b"\x00")))


# -- claim values ------------------------------------------------------------------------------

_DELETE = object()


def _with(
    value: dict[object, object], path: tuple[object, ...], new: object
) -> dict[object, object]:
    """A copy of nested maps ``value`` with the item at ``path`` replaced (or deleted)."""
    copy = dict(value)
    if len(path) > 1:
        inner = copy[path[0]]
        assert isinstance(inner, dict)
        copy[path[0]] = _with(inner, path[1:], new)
    elif new is _DELETE:
        del copy[path[0]]
    else:
        copy[path[0]] = new
    return copy


B, H, F = -70001, (-70001, "h"), (-70001, "f")
INVALID_LICENSE_CLAIMS: list[tuple[tuple[object, ...], object]] = [
    ((1,), "11500103MB000000"),  # 16 characters
    ((1,), "11500103mb0000000x"),
    ((1,), "11500103MB0000000I"),  # I is not in the credit-code alphabet
    ((1,), 115001030000000000),
    ((6,), -1),
    ((6,), True),
    ((6,), 1.7e9),
    ((6,), "1700000000"),
    ((5,), 2**40),
    ((4,), 1_600_000_000),  # exp before nbf
    ((7,), b""),
    ((7,), b"\xff\xfe"),
    ((7,), b"x" * 129),
    ((7,), LICENSE_ID),  # text, not bytes
    ((B, "t"), "11100000000013338W03"),
    ((B, "r"), "５００１０３"),  # full-width digits
    ((B, "v"), 0),
    ((B, "v"), 1000),
    ((B, "p"), ""),
    ((B, "s"), None),
    ((B,), [1, 2]),
    ((*H, "k"), "X"),
    ((*H, "n"), ""),
    ((*H, "n"), "张三\n"),
    ((*H, "n"), "x" * 201),
    ((*H, "id"), "９２５００１０３ＭＡ５Ｕ７ＸＹＺ１Ｐ" * 2),  # over 32 characters
    ((*H, "ih"), bytes(16)),  # without its salt
    ((*F, "capital"), 1.5),
    ((*F, "capital"), None),
    ((*F, "capital"), 2**63),
    ((*F, "capital"), ["a"]),
    ((*F, "name"), "x" * 201),
    ((*F, "name"), "\u202egnp.exe"),  # a right-to-left override is not printable
    ((*F, ""), "empty name"),
    ((*F, "n" * 33), "name too long"),
    ((*F, 7), "integer name"),
]


@pytest.mark.parametrize(("path", "value"), INVALID_LICENSE_CLAIMS)
def test_invalid_license_claim(
    path: tuple[object, ...], value: object, license_claims: LicenseClaims
) -> None:
    claims = _with(_claims_map(license_claims), path, value)
    with pytest.raises(InvalidClaim):
        decode(_text(_sign1(cbor2.dumps(claims, canonical=True))))


@pytest.mark.parametrize(
    ("path", "error"),
    [((B, "x"), UnknownClaim), ((*H, "age"), UnknownClaim), ((B, "h"), MissingClaim)],
)
def test_license_body_keys(
    path: tuple[object, ...], error: type[Exception], license_claims: LicenseClaims
) -> None:
    claims = _with(_claims_map(license_claims), path, 1 if error is UnknownClaim else _DELETE)
    with pytest.raises(error):
        decode(_text(_sign1(cbor2.dumps(claims, canonical=True))))


def test_too_many_fields(license_claims: LicenseClaims) -> None:
    fields = {f"f{i:02}": i for i in range(41)}
    claims = _with(_claims_map(license_claims), F, fields)
    with pytest.raises(InvalidClaim):
        decode(_text(_sign1(cbor2.dumps(claims, canonical=True))))
    forty = _with(_claims_map(license_claims), F, dict(list(fields.items())[:40]))
    assert decode(_text(_sign1(cbor2.dumps(forty, canonical=True)))).verify_with(PUBLIC)


def test_a_natural_persons_id_number_never_appears_in_clear(
    person_license_claims: LicenseClaims,
) -> None:
    holder = dataclasses.replace(person_license_claims.body.holder, id_display="50010319900101002X")
    body = dataclasses.replace(person_license_claims.body, holder=holder)
    with pytest.raises(InvalidClaim):
        encode_license(dataclasses.replace(person_license_claims, body=body), KEY)
    claims = _with(_claims_map(person_license_claims), (*H, "id"), "50010319900101002X")
    with pytest.raises(InvalidClaim):
        decode(_text(_sign1(cbor2.dumps(claims, canonical=True))))


def test_argon2_person_license_round_trip(argon2_person_license_claims: LicenseClaims) -> None:
    doc = decode(encode_license(argon2_person_license_claims, KEY))
    assert doc.claims == argon2_person_license_claims
    holder = doc.claims.body.holder
    assert holder.id_argon2 is not None
    assert holder.id_hash is None
    encoded = _claims_map(argon2_person_license_claims)[-70001]
    assert isinstance(encoded, dict)
    assert list(encoded["h"]) == ["k", "n", "ia", "id", "is"]  # canonical: length, then bytes


#: A natural person's holder map with "ia" (Argon2id) or "ih" (SHA-256), mangled: each
#: refused by the parser.
HOLDER_HASH_MANGLINGS: list[tuple[str, dict[str, object]]] = [
    ("ia", {"ih": bytes(16)}),  # both hashes
    ("ih", {"ia": bytes(16)}),
    ("ia", {"is": _DELETE}),  # a hash without its salt
    ("ih", {"is": _DELETE}),
    ("ia", {"ia": _DELETE}),  # a salt without a hash
    ("ia", {"ia": bytes(15)}),  # wrong sizes
    ("ia", {"ia": bytes(17)}),
    ("ia", {"ia": bytes(32)}),
    ("ih", {"ih": bytes(15)}),
    ("ia", {"is": bytes(15)}),
    ("ia", {"is": bytes(17)}),
    ("ia", {"ia": "00" * 16}),  # text, not bytes
    ("ia", {"ia": None}),
    ("ia", {"is": 0}),
]


@pytest.mark.parametrize(("form", "changes"), HOLDER_HASH_MANGLINGS)
def test_a_holder_hash_mangled_is_refused(
    form: str,
    changes: dict[str, object],
    person_license_claims: LicenseClaims,
    argon2_person_license_claims: LicenseClaims,
) -> None:
    claims = _claims_map(argon2_person_license_claims if form == "ia" else person_license_claims)
    assert isinstance(claims[-70001], dict)
    assert form in claims[-70001]["h"]
    for key, value in changes.items():
        claims = _with(claims, (*H, key), value)
    with pytest.raises(InvalidClaim):
        decode(_text(_sign1(cbor2.dumps(claims, canonical=True))))


@pytest.mark.parametrize(
    "shown",
    [
        "500103********002X",  # the legacy mask: region, birth date known, 91 guesses left
        "50010319********2X",
        "****************2X",
        "*****************",
        "******************",
        "*****************x",
        "*****************Y",
        " *****************X",
    ],
)
def test_an_argon2_holder_shows_the_check_character_alone(
    shown: str,
    person_license_claims: LicenseClaims,
    argon2_person_license_claims: LicenseClaims,
) -> None:
    """Beside "ia" a natural person's number shows its check character and nothing else
    (the cost of guessing it from the QR rests on it): any other "id" is refused, by the
    issuer's own encoder too. A legacy "ih" license's mask is read as ever."""
    claims = _with(_claims_map(argon2_person_license_claims), (*H, "id"), shown)
    with pytest.raises(InvalidClaim, match="check character alone"):
        decode(_text(_sign1(cbor2.dumps(claims, canonical=True))))
    holder = dataclasses.replace(argon2_person_license_claims.body.holder, id_display=shown)
    body = dataclasses.replace(argon2_person_license_claims.body, holder=holder)
    with pytest.raises(InvalidClaim, match="check character alone"):
        encode_license(dataclasses.replace(argon2_person_license_claims, body=body), KEY)
    if "*" in shown:
        legacy = _with(_claims_map(person_license_claims), (*H, "id"), shown)
        assert decode(_text(_sign1(cbor2.dumps(legacy, canonical=True)))).verify_with(PUBLIC)


@pytest.mark.parametrize("check", ["0", "7", "X"])
def test_an_argon2_holder_may_show_any_check_character_or_none(
    check: str, argon2_person_license_claims: LicenseClaims
) -> None:
    shown = _with(_claims_map(argon2_person_license_claims), (*H, "id"), "*" * 17 + check)
    assert decode(_text(_sign1(cbor2.dumps(shown, canonical=True)))).verify_with(PUBLIC)
    hidden = _with(_claims_map(argon2_person_license_claims), (*H, "id"), _DELETE)
    assert decode(_text(_sign1(cbor2.dumps(hidden, canonical=True)))).verify_with(PUBLIC)


def test_a_legal_persons_holder_carries_no_argon2_hash(
    argon2_person_license_claims: LicenseClaims,
) -> None:
    """A credit code is shown in clear: an Argon2id hash is a natural person's alone."""
    claims = _with(_claims_map(argon2_person_license_claims), (*H, "k"), "L")
    claims = _with(claims, (*H, "id"), "91500000MA60XXXX15")
    with pytest.raises(InvalidClaim, match="natural person's alone"):
        decode(_text(_sign1(cbor2.dumps(claims, canonical=True))))


@pytest.mark.parametrize(
    ("field", "value"),
    [("document_sha256", bytes(31)), ("size", -1), ("media_type", "pdf"), ("file_name", "")],
)
def test_invalid_stamp_claim(field: str, value: Any, stamp_claims: StampClaims) -> None:
    body = dataclasses.replace(stamp_claims.body, **{field: value})
    with pytest.raises(InvalidClaim):
        encode_stamp(dataclasses.replace(stamp_claims, body=body), KEY)


def test_a_stamp_has_no_expiry(stamp_claims: StampClaims) -> None:
    claims: dict[object, object] = cbor2.loads(decode(encode_stamp(stamp_claims, KEY)).payload)
    claims[4] = 1_900_000_000
    with pytest.raises(UnknownClaim):
        decode(_text(_sign1(cbor2.dumps(claims, canonical=True)), prefix="ES1:"))


@pytest.mark.parametrize(
    "change",
    [
        {"version": True},
        {"version": 0},
        {"region": "50010"},
        {"fields": {"x": 1.5}},
        {"fields": {f"f{i}": i for i in range(41)}},
        {"previous": ""},
    ],
)
def test_encoder_refuses_what_the_decoder_would(
    change: dict[str, Any], license_claims: LicenseClaims
) -> None:
    body = dataclasses.replace(license_claims.body, **change)
    with pytest.raises(InvalidClaim):
        encode_license(dataclasses.replace(license_claims, body=body), KEY)


def test_encoder_refuses_a_document_too_large_for_a_qr_code(
    license_claims: LicenseClaims,
) -> None:
    for size in (6, 40):  # over 4,000 characters; over 16 KiB inflated
        fields: dict[str, str | int] = {  # CJK text that does not compress
            f"f{i:02}": "".join(chr(0x4E00 + (i * 200 + j) * 7 % 20000) for j in range(200))
            for i in range(size)
        }
        body = dataclasses.replace(license_claims.body, fields=fields)
        with pytest.raises(DocumentTooLong):
            encode_license(dataclasses.replace(license_claims, body=body), KEY)


# -- random documents ---------------------------------------------------------------------------

CREDIT_CODES = st.from_regex(r"[0-9A-HJ-NP-RTUWXY]{18}", fullmatch=True)
TIMES = st.integers(0, 253402300799)


def printable(min_size: int, max_size: int) -> st.SearchStrategy[str]:
    return st.text(st.characters(codec="utf-8"), min_size=min_size, max_size=max_size).filter(
        str.isprintable
    )


IDS = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=128)
HOLDERS = st.one_of(
    st.builds(Holder, printable(1, 200), st.just("L"), st.none() | printable(1, 32)),
    st.builds(
        Holder,
        printable(1, 200),
        st.just("N"),
        st.none() | st.from_regex(r"[0-9]{6}\*{8}[0-9]{3}[0-9X]", fullmatch=True),
    ),
    st.builds(
        Holder,
        printable(1, 40),
        st.just("N"),
        st.none(),
        st.binary(min_size=16, max_size=16),
        st.binary(min_size=16, max_size=16),
    ),
)
FIELDS = st.dictionaries(
    printable(1, 32), printable(0, 40) | st.integers(-(2**63), 2**63 - 1), max_size=10
)
LICENSE_BODIES = st.builds(
    LicenseBody,
    st.from_regex(r"[0-9A-HJ-NP-RTUWXY]{18}[0-9]{3}", fullmatch=True),
    st.from_regex(r"[0-9]{6}", fullmatch=True),
    st.integers(1, 999),
    HOLDERS,
    FIELDS,
    st.none() | IDS,
    st.none() | IDS,
)
STAMP_BODIES = st.builds(
    StampBody,
    IDS,
    st.binary(min_size=32, max_size=32),
    printable(1, 200),
    st.integers(0, 2**63 - 1),
    st.none() | st.sampled_from(["application/pdf", "image/png", "application/vnd.ms-excel"]),
)


@st.composite
def license_claims_strategy(draw: st.DrawFn) -> LicenseClaims:
    not_before = draw(TIMES)
    expires = draw(st.none() | st.integers(not_before, 253402300799))
    return LicenseClaims(
        draw(CREDIT_CODES), draw(TIMES), not_before, expires, draw(IDS), draw(LICENSE_BODIES)
    )


STAMP_CLAIMS = st.builds(StampClaims, CREDIT_CODES, TIMES, TIMES, IDS, STAMP_BODIES)


@given(claims=license_claims_strategy())
def test_any_license_round_trips(claims: LicenseClaims) -> None:
    try:
        text = encode_license(claims, KEY)
    except DocumentTooLong:
        assume(False)
        raise
    doc = decode(text)
    assert doc.claims == claims
    assert doc.verify_with(PUBLIC)
    assert set(text) <= QR_ALPHANUMERIC
    assert doc.payload == cbor2.dumps(cbor2.loads(doc.payload), canonical=True)


@given(claims=STAMP_CLAIMS)
def test_any_stamp_round_trips(claims: StampClaims) -> None:
    doc = decode(encode_stamp(claims, KEY))
    assert doc.claims == claims
    assert doc.verify_with(PUBLIC)


@given(fields=FIELDS, data=st.data())
def test_fields_are_accepted_only_in_canonical_order(
    fields: dict[str, str | int], data: st.DataObject
) -> None:
    claims = _claims_map(GOLDEN_CLAIMS)
    order = data.draw(st.permutations(list(fields)))
    shuffled = {name: fields[name] for name in order}
    body = claims[-70001]
    assert isinstance(body, dict)
    body_pairs = [
        (k, _Raw(cbor2.dumps(shuffled)) if k == "f" else v) for k, v in _canonical_pairs(body)
    ]
    claim_pairs = [
        (k, _Raw(_cbor_map(body_pairs)) if k == -70001 else v) for k, v in _canonical_pairs(claims)
    ]
    payload = _cbor_map(claim_pairs)
    if payload == cbor2.dumps(cbor2.loads(payload), canonical=True):
        assert parse_claims("license", payload).body.fields == fields
    else:
        with pytest.raises(NonCanonicalCbor):
            parse_claims("license", payload)


# -- the fast base45 decoder agrees with the reference package ----------------------------------


@given(st.binary(max_size=300))
def test_fast_base45_decodes_what_the_package_encodes(data: bytes) -> None:
    text = base45.b45encode(data).decode()
    assert b45decode(text) == data == base45.b45decode(text)


@given(st.text(st.sampled_from(ALPHABET), max_size=40))
def test_fast_base45_refuses_what_the_package_refuses(text: str) -> None:
    try:
        expected = base45.b45decode(text)
    except ValueError:
        with pytest.raises(ValueError, match=r"base45|characters|exceeds"):
            b45decode(text)
        with pytest.raises(InvalidBase45):
            decode_base45(text)
    else:
        assert b45decode(text) == expected


def test_base45_boundaries() -> None:
    assert b45decode("FGW") == b"\xff\xff"  # 65535
    assert b45decode("U5") == b"\xff"  # 255
    for bad in ("GGW", "V5", ":::"):
        with pytest.raises(InvalidBase45):
            decode_base45(bad)


# -- the error classes ----------------------------------------------------------------------------


def test_every_error_is_a_typed_refusal_with_its_own_code() -> None:
    leaves = [
        cls
        for _, cls in inspect.getmembers(document, inspect.isclass)
        if issubclass(cls, InvalidInput)
        and cls not in (MalformedDocument, UnsupportedDocument)
        and cls.__name__ in document.__all__
    ]
    assert len(leaves) >= 20
    assert all(issubclass(cls, REJECTED) for cls in leaves)
    codes = [cls.code for cls in leaves]
    assert len(set(codes)) == len(codes)
    assert issubclass(UnsupportedAlgorithm, UnsupportedDocument)
    assert issubclass(UnknownCriticalHeader, UnsupportedDocument)
    assert issubclass(DuplicateKey, NonCanonicalCbor)


def test_decoded_document_is_frozen(license_claims: LicenseClaims) -> None:
    doc: DecodedDocument = decode(encode_license(license_claims, KEY))
    with pytest.raises(AttributeError):
        doc.kid = b"\x00" * 8  # type: ignore[misc]
    with pytest.raises(TypeError):
        doc.claims.body.fields["name"] = "x"  # type: ignore[index, union-attr]


def test_every_cose_byte_flip_truncation_and_append_fails(license_claims: LicenseClaims) -> None:
    cose = decode(encode_license(license_claims, KEY)).cose_bytes()
    damaged = [
        cose[:i] + bytes([cose[i] ^ flip]) + cose[i + 1 :]
        for i in range(len(cose))
        for flip in (0x01, 0x20, 0x80, 0xFF)
    ]
    damaged += [cose[:end] for end in range(len(cose))]
    damaged += [cose + tail for tail in (b"\x00", b"\xa0", b"\xff", cose)]
    for data in damaged:
        assert _outcome(_text(data), cose) != "same"


@given(st.binary(max_size=700))
def test_fast_base45_encoder_matches_the_reference_package(data: bytes) -> None:
    import base45

    from verifier.base45 import b45decode, b45encode

    assert b45encode(data) == base45.b45encode(data).decode()
    assert b45decode(b45encode(data)) == data


@given(payload=st.binary(max_size=700), kid=st.binary(min_size=8, max_size=8))
def test_canonical_sign1_fast_path_agrees_with_the_full_parser(payload: bytes, kid: bytes) -> None:
    """parse_cose_sign1 reads the one canonical layout by its bytes; that shortcut must
    give exactly what decoding the CBOR gives, and nothing for any other layout."""
    protected = cbor2.dumps({1: -8, 4: kid}, canonical=True)
    data = cose.cose_sign1_bytes(protected, payload, bytes(range(64)))
    fast = cose._canonical_sign1(data)
    assert fast is not None
    assert fast == cose._parse_cose_sign1_cbor(data)
    full = cbor2.loads(data).value
    assert (fast.protected, fast.payload, fast.signature, fast.kid) == (
        full[0],
        full[2],
        full[3],
        kid,
    )
    # A longer length form for the payload (not canonical) is left to the full parser,
    # which refuses it.
    head = 0x59 if len(payload) < 256 else 0x5A
    width = 2 if head == 0x59 else 4
    longer = data[:17] + bytes([head]) + len(payload).to_bytes(width, "big")
    longer += data[17 + _head_size(len(payload)) :]
    assert cose._canonical_sign1(longer) is None
    with pytest.raises(NonCanonicalCbor):
        cose.parse_cose_sign1(longer)
    # Anything cut or added at the end is not the layout either.
    assert cose._canonical_sign1(data[:-1]) is None
    assert cose._canonical_sign1(data + b"\x00") is None


def _head_size(n: int) -> int:
    return 1 if n < 24 else 2 if n < 256 else 3


# Hostile CBOR behind a valid prefix, base45 and zlib: semantic tags that make cbor2 build
# decimals, fractions, big numbers, dates, regexes, sets and so on, with extreme values.
_TAG_HEADS = (
    [bytes([0xC0 | t]) for t in range(24)]
    + [bytes([0xD8, t]) for t in (24, 25, 28, 29, 30, 35, 36, 37, 100)]
    + [b"\xd9" + t.to_bytes(2, "big") for t in (256, 258, 260, 261, 1004)]
)
_EXTREMES = [
    b"\x1b\x7f\xff\xff\xff\xff\xff\xff\xff",  # 2^63 - 1
    b"\x3b\x7f\xff\xff\xff\xff\xff\xff\xff",  # -2^63
    b"\x1b\xff\xff\xff\xff\xff\xff\xff\xff",  # 2^64 - 1
    b"\xfb\x7f\xf0\x00\x00\x00\x00\x00\x00",  # +inf
    b"\x82\x1b\x7f\xff\xff\xff\xff\xff\xff\xff\x02",  # [2^63 - 1, 2]
    b"\x82\x3b\x7f\xff\xff\xff\xff\xff\xff\xff\x1b\x7f\xff\xff\xff\xff\xff\xff\xff",
    b"\x5b\x7f\xff\xff\xff\xff\xff\xff\xff",  # a bstr claiming 2^63 bytes
    b"\x9f" * 200,  # deep indefinite arrays
]


def _hostile_cbor() -> st.SearchStrategy[bytes]:
    piece = st.one_of(
        st.sampled_from(_EXTREMES),
        st.binary(max_size=12),
        st.sampled_from(_TAG_HEADS).flatmap(
            lambda head: st.sampled_from(_EXTREMES).map(lambda x: head + x)
        ),
    )
    return st.lists(piece, min_size=1, max_size=4).map(b"".join)


@given(cbor=_hostile_cbor(), where=st.sampled_from(["cose", "payload", "protected"]))
def test_hostile_cbor_is_refused_cleanly(cbor: bytes, where: str) -> None:
    """Whatever cbor2 makes of it (or fails to), decode answers with an InvalidInput."""
    if where == "cose":
        data = cbor
    else:
        kid = b"\x01" * 8
        protected = cbor if where == "protected" else b"\xa2\x01\x27\x04\x48" + kid
        payload = cbor if where == "payload" else b"\xa0"
        data = cose.cose_sign1_bytes(protected, payload, bytes(64))
    text = "EL1:" + base45.b45encode(zlib.compress(data)).decode()
    with contextlib.suppress(InvalidInput):
        document.decode(text)


def test_a_tagged_overflow_is_malformed_not_a_crash() -> None:
    """Found by review: tag 100 (epoch days) with 2^63 - 1 overflowed inside cbor2."""
    text = "EL1:NCF2WNMF4GBWHB0- 5651"
    with pytest.raises(InvalidInput):
        document.decode(text)


def test_shared_references_in_a_header_are_malformed_at_once() -> None:
    """A protected header holding a graph of CBOR shared references (tags 28/29), 2^40
    leaves once encoded, is refused before it is decoded (it used to hang the verifier)."""
    levels = [b"\xd8\x1c\x82\x00\x00"]
    for i in range(1, 40):
        ref = b"\xd8\x1d" + cbor2.dumps(i - 1)
        levels.append(b"\xd8\x1c\x82" + ref + ref)
    graph = b"\x98\x28" + b"".join(levels)
    protected = b"\xa3\x01\x27\x04\x48" + bytes(8) + b"\x05" + graph
    sign1 = cose.cose_sign1_bytes(protected, b"\xa0", bytes(64))
    text = "EL1:" + base45.b45encode(zlib.compress(sign1)).decode()
    started = time.perf_counter()
    with pytest.raises(InvalidCbor, match="value sharing"):
        decode(text)
    assert time.perf_counter() - started < 5.0  # bounded: unrefused, it never ends


@pytest.mark.parametrize(
    ("protected", "payload", "error"),
    [
        ({1: 1 << 14300, 4: bytes(8)}, {}, UnsupportedAlgorithm),
        ({1: -8, 4: bytes(8), 1 << 14300: 0}, {}, UnknownHeader),
        ({1: -8, 4: bytes(8)}, {1 << 14300: 0}, UnknownClaim),
        ({1: -8, 4: bytes(8)}, {1: "x", (1 << 14300,): 0}, UnknownClaim),
    ],
)
def test_a_number_too_long_to_print_is_named_safely(
    protected: dict[Any, Any], payload: dict[Any, Any], error: type[Exception]
) -> None:
    """An integer of 4,300 digits or more cannot be turned into text: a refusal naming
    one (an unknown label, alg or claim key) says so instead of failing itself."""
    header = cbor2.dumps(protected, canonical=True)
    sign1 = cose.cose_sign1_bytes(header, cbor2.dumps(payload), bytes(64))
    with pytest.raises(error, match="too long to show"):
        decode("EL1:" + base45.b45encode(zlib.compress(sign1)).decode())


def test_a_document_with_text_that_is_not_utf8_is_malformed() -> None:
    """cbor2 decodes it replaced (keys.cbor), and the re-encoding then differs."""
    payload = bytes.fromhex("a1616162ffff")
    sign1 = cose.cose_sign1_bytes(b"\xa2\x01\x27\x04\x48" + bytes(8), payload, bytes(64))
    with pytest.raises(MalformedDocument):
        decode("EL1:" + base45.b45encode(zlib.compress(sign1)).decode())
