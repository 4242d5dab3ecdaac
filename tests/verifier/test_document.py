"""The QR document format: round trips, a golden vector, pycose interop, mangling, bounds."""

from __future__ import annotations

import hashlib
import time
import zlib
from collections.abc import Callable

import base45
import cbor2
import nacl.signing
import pytest
from pycose.algorithms import EdDSA
from pycose.headers import KID, Algorithm
from pycose.keys.curves import Ed25519
from pycose.keys.okp import OKPKey
from pycose.messages import Sign1Message

from keys import ed25519
from tests.verifier.conftest import ISSUER, LICENSE_ID, SALT, TYPE_CODE, fixed_key
from verifier import document
from verifier.document import (
    BrokenCompression,
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
    holder_id_hash,
    inflate,
    parse_claims,
    parse_cose_sign1,
    split_prefix,
)

REJECTED = (MalformedDocument, UnsupportedDocument)
QR_ALPHANUMERIC = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
KEY = fixed_key("agency")
PUBLIC = bytes(KEY.verify_key)
KID_BYTES = ed25519.key_id(PUBLIC)
PROTECTED = cbor2.dumps({1: -8, 4: KID_BYTES}, canonical=True)

# -- the golden vector: fixed key, fixed claims, exact text (Ed25519 and zlib are deterministic)

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
GOLDEN_TEXT = "GOLDEN"
GOLDEN_DIGEST = "GOLDEN"


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


@pytest.mark.parametrize("body", ["0", "0000", "GGW", ":::", "00::", "FGW"])
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
    start = time.perf_counter()
    with pytest.raises(InflatedTooLarge):
        inflate(bomb)
    with pytest.raises(InflatedTooLarge):
        decode(_text(b"\x00" * 1_000_000))  # small enough to fit in a QR text
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
        decode(_text(b"\xff\xff"))


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


def _with(value: dict[object, object], path: tuple[object, ...], new: object) -> dict[object, object]:
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


@pytest.mark.parametrize(
    ("field", "value"),
    [("document_sha256", bytes(31)), ("size", -1), ("media_type", "pdf"), ("file_name", "")],
)
def test_invalid_stamp_claim(field: str, value: object, stamp_claims: StampClaims) -> None:
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
    change: dict[str, object], license_claims: LicenseClaims
) -> None:
    body = dataclasses.replace(license_claims.body, **change)  # type: ignore[arg-type]
    with pytest.raises(InvalidClaim):
        encode_license(dataclasses.replace(license_claims, body=body), KEY)


def test_encoder_refuses_a_document_too_large_for_a_qr_code(
    license_claims: LicenseClaims,
) -> None:
    for size in (30, 40):
        fields: dict[str, str | int] = {f"f{i:02}": "证" * 200 for i in range(size)}
        body = dataclasses.replace(license_claims.body, fields=fields)
        with pytest.raises(DocumentTooLong):
            encode_license(dataclasses.replace(license_claims, body=body), KEY)
