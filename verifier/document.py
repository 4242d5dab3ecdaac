"""The QR document format, ``EL1:`` (e-license) and ``ES1:`` (seal stamp): the one definition.

The issuer encodes with :func:`encode_license` and :func:`encode_stamp`; the verifier runs
:func:`decode`, or its stages one by one (:func:`split_prefix`, :func:`decode_base45`,
:func:`inflate`, :func:`parse_cose_sign1`, :func:`parse_claims`). Pure, and :func:`decode`
checks no signature: that is a later step (:meth:`DecodedDocument.verify_with`).

``text = prefix ‖ base45(zlib(COSE_Sign1(claims)))`` (RFC 9285, RFC 1950, RFC 9052, RFC 8392):

========== ============================================== =====================================
layer      encoding                                       rules
========== ============================================== =====================================
text       ``EL1:`` or ``ES1:``, then base45              ≤ 4,000 chars, QR alphanumeric only
base45     RFC 9285                                       triplets ≤ 65535, length ≠ 3k+1
zlib       RFC 1950, deflate level 9                      one stream, nothing after it,
                                                          inflates to ≤ 16 KiB
COSE_Sign1 tag 18 [protected, {}, payload, signature]     unprotected header empty
protected  bstr ⟨{1: -8, 4: kid}⟩                         alg EdDSA (Ed25519) only; kid (8 bytes)
                                                          = SHA-256(public key)[:8]; no other
                                                          label, no crit
signature  bstr, 64 bytes                                 Ed25519 over the Sig_structure
                                                          ["Signature1", protected, h'', payload]
payload    bstr ⟨claims map⟩                              exactly the claims below
========== ============================================== =====================================

All CBOR is deterministic (RFC 8949 §4.2.1: definite lengths, shortest forms, keys sorted;
for these keys the same as cbor2 ``canonical=True``); a decoder refuses anything else,
which also refuses repeated keys. Text is printable (``str.isprintable``): no control,
format (bidi) or line-separator characters. Times are uint ≤ 253402300799 (year 9999).

======= ======= =========================================== =========== ===========
key     claim   value                                       license     stamp
======= ======= =========================================== =========== ===========
1       iss     text: the issuing agency's unified social   required    required
                credit code, 18 of [0-9A-HJ-NP-RTUWXY]
4       exp     uint ≥ nbf: valid until, Unix seconds       optional    absent
5       nbf     uint: valid from, Unix seconds              required    required
6       iat     uint: issued at, Unix seconds               required    required
7       cti     bstr: the license id or stamp id, UTF-8     required    required
                text of 1 to 128 bytes
-70001  body    map: license body                           required    absent
-70002  body    map: stamp body                             absent      required
======= ======= =========================================== =========== ===========

===== ================================================================================
key   license body (-70001)
===== ================================================================================
"t"   text: license type code, credit code (18) + 3 digits, e.g. ``11100000000013338W032``
"r"   text: region code (GB/T 2260), 6 digits
"v"   uint 1..999: version, bumped on renewal or change
"h"   map, the holder: "n" name (text ≤ 200); "k" "L" legal or "N" natural person;
      optional "id" identity number as shown (text ≤ 32: masked with ``*`` for a natural
      person, e.g. ``110105********002X``; a legal person's credit code in clear);
      optional "ih" bstr(16) = SHA-256(salt ‖ normalised id number)[:16] with "is" the
      bstr(16) salt, both or neither (:func:`holder_id_hash` normalises: NFKC, white
      space removed, upper case)
"f"   map text → text | int: the license fields, ≤ 40; names 1–32 chars, text ≤ 200
      chars, ints 64-bit signed
"p"   optional text ≤ 128: the previous license id (renewal link)
"s"   optional text ≤ 128: id of the agency's seal to display
===== ================================================================================

===== ================================================================================
key   stamp body (-70002)
===== ================================================================================
"s"   text ≤ 128: seal id
"d"   bstr(32): SHA-256 of the stamped document file
"n"   text ≤ 200: the document's file name
"z"   uint: the document's size in bytes
"m"   optional text ≤ 127: media type, e.g. ``application/pdf``
===== ================================================================================
"""

from __future__ import annotations

import functools
import hashlib
import io
import re
import threading
import unicodedata
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Literal, NamedTuple, overload

import cbor2
import nacl.signing

from keys import ed25519
from keys.errors import InvalidInput
from verifier.base45 import Base45CharacterError, Base45ValueError, b45decode, b45encode

Kind = Literal["license", "stamp"]
HolderKind = Literal["L", "N"]

MAX_TEXT_LENGTH: Final = 4000
MAX_INFLATED: Final = 16 * 1024
PREFIXES: Final[Mapping[str, Kind]] = MappingProxyType({"EL1:": "license", "ES1:": "stamp"})
ALG_EDDSA: Final = -8
KID_SIZE: Final = ed25519.KEY_ID_SIZE
SALT_SIZE: Final = 16
CLAIM_LICENSE: Final = -70001
CLAIM_STAMP: Final = -70002
_ISS, _EXP, _NBF, _IAT, _CTI = 1, 4, 5, 6, 7
_MAX_TIME: Final = 253402300799  # 9999-12-31T23:59:59Z
_MAX_ID: Final = 128
_MAX_TEXT: Final = 200
_MAX_FIELDS: Final = 40
_MAX_FIELD_NAME: Final = 32
_KINDS: Final[dict[str, Kind]] = dict(PREFIXES)
_PREFIX_OF: Final[dict[Kind, str]] = {kind: prefix for prefix, kind in PREFIXES.items()}
_CREDIT_CODE = re.compile(r"[0-9A-HJ-NP-RTUWXY]{18}")
_TYPE_CODE = re.compile(r"[0-9A-HJ-NP-RTUWXY]{18}[0-9]{3}")
_REGION = re.compile(r"[0-9]{6}")
#: The one canonical protected header is these 5 bytes ({1: -8, 4: bstr(8)}) and the kid.
_PROTECTED_START = b"\xa2\x01\x27\x04\x48"
_thread = threading.local()
_MEDIA_TYPE = re.compile(r"[A-Za-z0-9][\w!#$&^.+-]*/[A-Za-z0-9][\w!#$&^.+-]*", re.ASCII)


class MalformedDocument(InvalidInput):
    """Text that is not a well-formed QR document: the data is damaged or forged."""

    code = "malformed-document"


class UnsupportedDocument(InvalidInput):
    """A document that uses something this format does not support (a newer version?)."""

    code = "unsupported-document"


class DocumentTooLong(MalformedDocument):
    """Text longer than :data:`MAX_TEXT_LENGTH`, refused before any work."""

    code = "document-too-long"


class UnknownPrefix(UnsupportedDocument):
    """Text that does not start with ``EL1:`` or ``ES1:`` (upper-case)."""

    code = "unknown-prefix"


class IllegalCharacter(MalformedDocument):
    """A character outside the base45 (QR alphanumeric) alphabet."""

    code = "illegal-character"


class InvalidBase45(MalformedDocument):
    """A base45 length of 3k+1, or a triplet above 65535."""

    code = "invalid-base45"


class BrokenCompression(MalformedDocument):
    """Not one intact zlib stream: bad header, data or checksum, or truncated."""

    code = "broken-compression"


class InflatedTooLarge(MalformedDocument):
    """A zlib stream that inflates beyond the limit (a zip bomb stops here)."""

    code = "inflated-too-large"


class TrailingData(MalformedDocument):
    """Bytes after the zlib stream or after a CBOR item."""

    code = "trailing-data"


class InvalidCbor(MalformedDocument):
    """Bytes that are not CBOR."""

    code = "invalid-cbor"


class NotCoseSign1(MalformedDocument):
    """Not tag 18 around [protected bstr, unprotected map, payload bstr, signature bstr]."""

    code = "not-cose-sign1"


class NonCanonicalCbor(MalformedDocument):
    """CBOR that is not deterministic: longer forms, unsorted keys, indefinite lengths."""

    code = "non-canonical-cbor"


class DuplicateKey(NonCanonicalCbor):
    """A CBOR map that repeats a key (a decoder could believe either value)."""

    code = "duplicate-key"


class UnprotectedHeader(MalformedDocument):
    """A non-empty unprotected header: every header must be under the signature."""

    code = "unprotected-header"


class UnsupportedAlgorithm(UnsupportedDocument):
    """A protected header whose alg (1) is not EdDSA (-8)."""

    code = "unsupported-algorithm"


class UnknownCriticalHeader(UnsupportedDocument):
    """A crit (2) header listing labels this format does not define."""

    code = "unknown-critical-header"


class UnknownHeader(UnsupportedDocument):
    """A protected header label other than alg (1) and kid (4)."""

    code = "unknown-header"


class InvalidKeyId(MalformedDocument):
    """kid (4) missing from the protected header, or not 8 bytes."""

    code = "invalid-key-id"


class InvalidSignatureLength(MalformedDocument):
    """A signature that is not 64 bytes."""

    code = "invalid-signature-length"


class UnknownClaim(MalformedDocument):
    """A claim or body key that the document kind does not define."""

    code = "unknown-claim"


class MissingClaim(MalformedDocument):
    """A required claim or body key that is absent."""

    code = "missing-claim"


class InvalidClaim(MalformedDocument):
    """A claim or body value of the wrong type, shape or size (values are not echoed)."""

    code = "invalid-claim"


@dataclass(frozen=True, slots=True)
class Holder:
    """The license holder (body key "h"); ``id_display`` is masked for natural persons."""

    name: str
    kind: HolderKind
    id_display: str | None = None
    id_hash: bytes | None = None
    id_salt: bytes | None = None


@dataclass(frozen=True, slots=True)
class LicenseBody:
    """The license body (claim -70001)."""

    type_code: str
    region: str
    version: int
    holder: Holder
    fields: Mapping[str, str | int] = field(hash=False)
    previous: str | None = None
    seal_id: str | None = None


@dataclass(frozen=True, slots=True)
class LicenseClaims:
    """An e-license's claims; ``expires`` is None for a license without an end."""

    issuer: str
    issued_at: int
    not_before: int
    expires: int | None
    license_id: str
    body: LicenseBody


@dataclass(frozen=True, slots=True)
class StampBody:
    """The stamp body (claim -70002): which seal stamped which document file."""

    seal_id: str
    document_sha256: bytes
    file_name: str
    size: int
    media_type: str | None = None


@dataclass(frozen=True, slots=True)
class StampClaims:
    """A seal stamp's claims."""

    issuer: str
    issued_at: int
    not_before: int
    stamp_id: str
    body: StampBody


class CoseSign1(NamedTuple):
    """The parts of a COSE_Sign1 as :func:`parse_cose_sign1` checked them."""

    protected_map: dict[int, Any]
    kid: bytes
    payload: bytes
    signature: bytes
    protected: bytes


@dataclass(frozen=True, slots=True)
class DecodedDocument:
    """A decoded, well-formed document whose signature is not yet checked."""

    kind: Kind
    kid: bytes
    protected: bytes
    payload: bytes
    signature: bytes
    claims: LicenseClaims | StampClaims
    text: str

    def signed_bytes(self) -> bytes:
        """The COSE Sig_structure ["Signature1", protected, h'', payload]: what was signed."""
        return _sig_structure(self.protected, self.payload)

    def verify_with(self, public_key: bytes) -> bool:
        """Whether the signature holds under ``public_key`` (the caller picks it by ``kid``)."""
        return ed25519.verify(public_key, self.signed_bytes(), self.signature)

    def cose_bytes(self) -> bytes:
        """The COSE_Sign1 bytes (exact: :func:`decode` accepts only the canonical encoding)."""
        return _cose_sign1(self.protected, self.payload, self.signature)

    def digest(self) -> bytes:
        """SHA-256 of the COSE_Sign1 bytes: what the ledger records."""
        return hashlib.sha256(self.cose_bytes()).digest()


# -- encoding --------------------------------------------------------------------------------


def _bstr(data: bytes) -> bytes:
    """``data`` as a CBOR byte string (major type 2, shortest length form)."""
    n = len(data)
    if n < 24:
        return bytes([0x40 | n]) + data
    if n < 0x100:
        return bytes([0x58, n]) + data
    if n < 0x10000:
        return b"\x59" + n.to_bytes(2, "big") + data
    return b"\x5a" + n.to_bytes(4, "big") + data


def _sig_structure(protected: bytes, payload: bytes) -> bytes:
    return b"\x84\x6aSignature1" + _bstr(protected) + b"\x40" + _bstr(payload)


def _cose_sign1(protected: bytes, payload: bytes, signature: bytes) -> bytes:
    return b"\xd2\x84" + _bstr(protected) + b"\xa0" + _bstr(payload) + _bstr(signature)


def _present(items: dict[str, object]) -> dict[str, object]:
    """``items`` without the optional entries that are None."""
    return {k: v for k, v in items.items() if v is not None}


def _license_map(c: LicenseClaims) -> dict[int, object]:
    b, h = c.body, c.body.holder
    holder = _present(
        {"n": h.name, "k": h.kind, "id": h.id_display, "ih": h.id_hash, "is": h.id_salt}
    )
    body = {"t": b.type_code, "r": b.region, "v": b.version, "h": holder, "f": dict(b.fields)}
    claims: dict[int, object] = {_ISS: c.issuer, _IAT: c.issued_at, _NBF: c.not_before}
    if c.expires is not None:
        claims[_EXP] = c.expires
    claims[_CTI] = c.license_id.encode()
    claims[CLAIM_LICENSE] = _present(body | {"p": b.previous, "s": b.seal_id})
    return claims


def _stamp_map(c: StampClaims) -> dict[int, object]:
    b = c.body
    body = {"s": b.seal_id, "d": b.document_sha256, "n": b.file_name, "z": b.size}
    return {
        _ISS: c.issuer,
        _IAT: c.issued_at,
        _NBF: c.not_before,
        _CTI: c.stamp_id.encode(),
        CLAIM_STAMP: _present(body | {"m": b.media_type}),
    }


@dataclass(frozen=True, slots=True)
class SignedDocument:
    """An encoded document and the SHA-256 of its COSE_Sign1 bytes (what the ledger records)."""

    text: str
    digest: bytes


def _encode(
    kind: Kind, claims: dict[int, object], signing_key: nacl.signing.SigningKey
) -> SignedDocument:
    try:
        payload = cbor2.dumps(claims, canonical=True)
    except (cbor2.CBOREncodeError, TypeError, ValueError) as e:
        raise InvalidClaim(f"claims cannot be encoded as CBOR: {e}") from e
    parse_claims(kind, payload)  # the encoder writes only what the decoder accepts
    kid = ed25519.key_id(bytes(signing_key.verify_key))
    protected = cbor2.dumps({1: ALG_EDDSA, 4: kid}, canonical=True)
    signature = ed25519.sign(signing_key, _sig_structure(protected, payload))
    cose = _cose_sign1(protected, payload, signature)
    if len(cose) > MAX_INFLATED:
        raise DocumentTooLong(f"COSE_Sign1 is {len(cose)} bytes, over {MAX_INFLATED}")
    text = _PREFIX_OF[kind] + b45encode(zlib.compress(cose, 9))
    if len(text) > MAX_TEXT_LENGTH:
        raise DocumentTooLong(f"document text is {len(text)} characters, over {MAX_TEXT_LENGTH}")
    return SignedDocument(text, hashlib.sha256(cose).digest())


def sign_license(claims: LicenseClaims, signing_key: nacl.signing.SigningKey) -> SignedDocument:
    """The ``EL1:`` document of ``claims`` signed with ``signing_key``, with its digest;
    refuses what decode would."""
    return _encode("license", _license_map(claims), signing_key)


def sign_stamp(claims: StampClaims, signing_key: nacl.signing.SigningKey) -> SignedDocument:
    """The ``ES1:`` document of ``claims`` signed with ``signing_key``, with its digest."""
    return _encode("stamp", _stamp_map(claims), signing_key)


def encode_license(claims: LicenseClaims, signing_key: nacl.signing.SigningKey) -> str:
    """The ``EL1:`` text of ``claims`` signed with ``signing_key``."""
    return sign_license(claims, signing_key).text


def encode_stamp(claims: StampClaims, signing_key: nacl.signing.SigningKey) -> str:
    """The ``ES1:`` text of ``claims`` signed with ``signing_key``."""
    return sign_stamp(claims, signing_key).text


def holder_id_hash(id_number: str, salt: bytes) -> bytes:
    """SHA-256(salt ‖ normalised id number)[:16], to match a presented id against "ih"."""
    normalised = "".join(unicodedata.normalize("NFKC", id_number).split()).upper()
    if not normalised or len(salt) != SALT_SIZE:
        raise InvalidClaim(
            f"holder id hash needs a non-empty id number and a {SALT_SIZE}-byte salt"
        )
    return hashlib.sha256(salt + normalised.encode()).digest()[:16]


# -- decoding, stage by stage -----------------------------------------------------------------


def split_prefix(text: str) -> tuple[Kind, str]:
    """The document kind named by the prefix, and the base45 text after it."""
    if len(text) > MAX_TEXT_LENGTH:
        raise DocumentTooLong(f"document text is {len(text)} characters, over {MAX_TEXT_LENGTH}")
    kind = _KINDS.get(text[:4])
    if kind is None:
        hint = " (prefixes are upper-case)" if text[:4].upper() in _KINDS else ""
        raise UnknownPrefix(f"text starts {text[:4]!r}, not EL1: or ES1:{hint}")
    return kind, text[4:]


def decode_base45(body: str) -> bytes:
    """The bytes of base45 ``body`` (RFC 9285), strictly."""
    try:
        return b45decode(body)
    except Base45CharacterError as e:
        raise IllegalCharacter(f"base45: {e} (after the prefix)") from e
    except Base45ValueError as e:
        raise InvalidBase45(f"base45: {e}") from e


def inflate(data: bytes, limit: int = MAX_INFLATED) -> bytes:
    """Inflate one zlib stream of at most ``limit`` bytes; nothing may follow it."""
    if limit < 1:
        raise ValueError("the inflate limit must be positive (zlib reads 0 as no limit)")
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, limit)
        if not inflater.eof:
            if inflater.decompress(inflater.unconsumed_tail, 1):
                raise InflatedTooLarge(f"zlib data inflates to more than {limit} bytes")
            if not inflater.eof:
                raise BrokenCompression("the zlib stream is truncated")
    except zlib.error as e:
        raise BrokenCompression(f"not a valid zlib stream: {e}") from e
    if inflater.unused_data:
        raise TrailingData(f"{len(inflater.unused_data)} bytes after the zlib stream")
    return out


def _cbor_loader() -> Callable[[bytes], Any]:
    """``cbor2.loads``, reading 4 KiB at a time where cbor2 can (≥ 5.7): 1.5 µs less a payload."""
    try:
        cbor2.loads(b"\xa0", read_size=4096)
    except TypeError:  # pragma: no cover - older cbor2 reads byte by byte
        return cbor2.loads
    return functools.partial(cbor2.loads, read_size=4096)


_cbor_loads: Final = _cbor_loader()


def _loads(data: bytes, what: str) -> Any:
    try:
        return _cbor_loads(data)
    except (cbor2.CBORDecodeError, ValueError, TypeError, LookupError, RecursionError) as e:
        raise InvalidCbor(f"{what} is not CBOR: {e}") from e


def _has_duplicate_key(data: bytes, i: int = 0) -> tuple[int, bool]:
    """The end of the definite-length CBOR item at ``i``, and whether a map in it repeats a key."""
    head, i = data[i], i + 1
    major, info = head >> 5, head & 31
    if info < 24:
        arg = info
    elif info < 28:
        arg, i = int.from_bytes(data[i : i + (1 << (info - 24))], "big"), i + (1 << (info - 24))
    else:
        raise ValueError("indefinite length")
    if major in (2, 3):
        return i + arg, False
    if major == 6:
        return _has_duplicate_key(data, i)
    if major not in (4, 5):
        return i, False
    repeated, keys = False, set()
    for _ in range(arg):
        if major == 5:
            end, dup = _has_duplicate_key(data, i)
            key = cbor2.loads(data[i:end])
            repeated, i = repeated or dup or key in keys, end
            keys.add(key)
        i, dup = _has_duplicate_key(data, i)
        repeated = repeated or dup
    return i, repeated


def _require_canonical(data: bytes, value: object, what: str) -> None:
    """Refuse ``data`` unless it is the deterministic encoding of ``value``, naming the flaw."""
    try:
        canonical = cbor2.dumps(value, canonical=True)
    except (cbor2.CBOREncodeError, ValueError, TypeError, RecursionError) as e:
        raise NonCanonicalCbor(f"{what} holds CBOR this format does not use: {e}") from e
    if canonical == data:
        return
    if data.startswith(canonical):
        raise TrailingData(f"{len(data) - len(canonical)} bytes after the {what}")
    try:
        repeated = _has_duplicate_key(data)[1]
    except (ValueError, TypeError, LookupError, RecursionError):
        repeated = False
    if repeated:
        raise DuplicateKey(f"a map in the {what} repeats a key")
    raise NonCanonicalCbor(f"{what} is not deterministic CBOR (RFC 8949 §4.2.1)")


def _protected_header(protected: bytes) -> tuple[dict[int, Any], bytes]:
    """The protected header map, exactly {1: -8, 4: kid}, and its kid."""
    if len(protected) == 5 + KID_SIZE and protected.startswith(_PROTECTED_START):
        kid = protected[5:]  # the one canonical encoding: a2 01 27 04 48 ‖ kid
        return {1: ALG_EDDSA, 4: kid}, kid
    header = _loads(protected, "protected header")
    if type(header) is not dict:
        raise NotCoseSign1("the protected header must be a CBOR map")
    _require_canonical(protected, header, "protected header")
    if 2 in header:
        crit = header[2] if type(header[2]) is list else [header[2]]
        if unknown := [label for label in crit if label not in (1, 4)]:
            raise UnknownCriticalHeader(f"critical header labels {unknown[:4]!r} not understood")
        raise UnknownHeader("crit (2) is not used by this format")
    alg = header.get(1)
    if type(alg) is not int or alg != ALG_EDDSA:
        raise UnsupportedAlgorithm(f"alg {alg!r}: only EdDSA (-8, Ed25519) is supported")
    key_id = header.get(4)
    if type(key_id) is not bytes or len(key_id) != KID_SIZE:
        what = "missing" if key_id is None else "not an 8-byte bstr"
        raise InvalidKeyId(f"protected header kid (4) is {what}")
    labels = [label for label in header if type(label) is not int or label not in (1, 4)]
    raise UnknownHeader(f"protected header labels {labels[:4]!r} are not defined here")


def parse_cose_sign1(data: bytes) -> CoseSign1:
    """Check the COSE_Sign1 structure and protected header (not the signature)."""
    item = _loads(data, "COSE_Sign1")
    if not isinstance(item, cbor2.CBORTag) or item.tag != 18:
        raise NotCoseSign1("not a COSE_Sign1: CBOR tag 18 expected")
    parts = item.value
    if type(parts) is not list or len(parts) != 4:
        raise NotCoseSign1("COSE_Sign1 must be an array of 4 items")
    protected, unprotected, payload, signature = parts
    if type(unprotected) is not dict:
        raise NotCoseSign1("COSE_Sign1 unprotected header must be a map")
    if type(protected) is not bytes or type(payload) is not bytes or type(signature) is not bytes:
        raise NotCoseSign1("COSE_Sign1 protected header, payload and signature must be bstr")
    if unprotected:
        raise UnprotectedHeader(f"unprotected header labels {list(unprotected)[:4]!r}: not allowed")
    if _cose_sign1(protected, payload, signature) != data:
        _require_canonical(data, item, "COSE_Sign1")
    header, kid = _protected_header(protected)
    if len(signature) != ed25519.SIGNATURE_SIZE:
        raise InvalidSignatureLength(f"signature is {len(signature)} bytes, not 64")
    return CoseSign1(header, kid, payload, signature, protected)


def _check_keys(m: object, orders: frozenset[tuple[Any, ...]], what: str) -> bool:
    """Whether map ``m`` has its keys in canonical order; raise if it lacks or adds any."""
    if type(m) is not dict:
        raise InvalidClaim(f"{what} must be a map")
    if tuple(m) in orders:
        return True
    key_sets = [frozenset(keys) for keys in orders]
    allowed = frozenset[Any]().union(*key_sets)
    for key in m:
        if key not in allowed or type(key) is not type(next(iter(allowed))):
            raise UnknownClaim(f"{what}: unknown key {key!r}")
    if missing := allowed.intersection(*key_sets) - m.keys():
        raise MissingClaim(f"{what}: missing {sorted(missing)!r}")
    return False


def _orders(required: str, *optional: str) -> frozenset[tuple[str, ...]]:
    """Every canonical key order of a text-keyed map with these keys (one word per option)."""
    choices: list[list[str]] = [required.split()]
    for option in optional:
        choices = [*choices, *(c + option.split() for c in choices)]
    return frozenset(tuple(sorted(c, key=lambda k: (len(k), k))) for c in choices)


_LICENSE_ORDERS: frozenset[tuple[int, ...]] = frozenset(
    {(_ISS, _NBF, _IAT, _CTI, CLAIM_LICENSE), (_ISS, _EXP, _NBF, _IAT, _CTI, CLAIM_LICENSE)}
)
_STAMP_ORDERS = frozenset({(_ISS, _NBF, _IAT, _CTI, CLAIM_STAMP)})
_LICENSE_BODY_ORDERS = _orders("t r v h f", "p", "s")
_HOLDER_ORDERS = _orders("n k", "id", "ih is")
_STAMP_BODY_ORDERS = _orders("s d n z", "m")


def _text(value: object, what: str, limit: int, pattern: re.Pattern[str] | None = None) -> str:
    if type(value) is not str or not 0 < len(value) <= limit or not value.isprintable():
        raise InvalidClaim(f"{what} must be printable text of 1 to {limit} characters")
    if pattern is not None and not pattern.fullmatch(value):
        raise InvalidClaim(f"{what} {value!r} is malformed")
    return value


def _uint(value: object, what: str, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise InvalidClaim(f"{what} must be an integer from {low} to {high}")
    return value


def _bytes(value: object, what: str, size: int) -> bytes:
    if type(value) is not bytes or len(value) != size:
        raise InvalidClaim(f"{what} must be {size} bytes")
    return value


def _holder(h: Any) -> tuple[Holder, bool]:
    ordered = _check_keys(h, _HOLDER_ORDERS, "holder (h)")
    kind: HolderKind = "L" if h["k"] == "L" else "N"
    if type(h["k"]) is not str or h["k"] != kind:
        raise InvalidClaim('holder kind (k) must be "L" (legal person) or "N" (natural person)')
    shown = _text(h["id"], "holder id (id)", 32) if "id" in h else None
    if kind == "N" and shown is not None and "*" not in shown:
        raise InvalidClaim("a natural person's id number must be masked with '*'")
    if ("ih" in h) != ("is" in h):
        raise InvalidClaim("holder id hash (ih) and salt (is) go together")
    id_hash = _bytes(h["ih"], "holder id hash (ih)", 16) if "ih" in h else None
    salt = _bytes(h["is"], "holder id salt (is)", SALT_SIZE) if "is" in h else None
    name = _text(h["n"], "holder name (n)", _MAX_TEXT)
    return Holder(name, kind, shown, id_hash, salt), ordered


def _utf8_length(text: str) -> int:
    return len(text.encode())


def _fields(f: object) -> tuple[Mapping[str, str | int], bool]:
    """The fields map, and whether its names are in canonical order (length, then bytes)."""
    if type(f) is not dict or len(f) > _MAX_FIELDS:
        raise InvalidClaim(f"fields (f) must be a map of at most {_MAX_FIELDS} entries")
    names = list(f)
    for name, value in f.items():
        if type(name) is not str or not 0 < len(name) <= _MAX_FIELD_NAME or not name.isprintable():
            raise InvalidClaim(
                f"field names must be printable text of 1 to {_MAX_FIELD_NAME} chars"
            )
        if type(value) is str:
            if len(value) > _MAX_TEXT or not value.isprintable():
                raise InvalidClaim(f"field {name!r} must be printable text of at most 200 chars")
        elif type(value) is not int or not -(2**63) <= value < 2**63:
            raise InvalidClaim(f"field {name!r} must be text or a 64-bit integer")
    canonical = sorted(names)
    canonical.sort(key=len if "".join(names).isascii() else _utf8_length)
    return MappingProxyType(f), canonical == names


def _common(m: dict[Any, Any], what: str) -> tuple[str, int, int, str]:
    cti = m[_CTI]
    if type(cti) is not bytes or not 0 < len(cti) <= _MAX_ID:
        raise InvalidClaim(f"cti (7) must be 1 to {_MAX_ID} bytes")
    try:
        subject = cti.decode()
    except UnicodeDecodeError as e:
        raise InvalidClaim(f"cti (7), the {what} id, is not UTF-8") from e
    return (
        _text(m[_ISS], "iss (1)", 18, _CREDIT_CODE),
        _uint(m[_IAT], "iat (6)", 0, _MAX_TIME),
        _uint(m[_NBF], "nbf (5)", 0, _MAX_TIME),
        _text(subject, f"cti (7), the {what} id,", _MAX_ID),
    )


def _license_claims(m: dict[Any, Any]) -> tuple[LicenseClaims, bool]:
    ordered = _check_keys(m, _LICENSE_ORDERS, "license claims")
    issuer, issued_at, not_before, license_id = _common(m, "license")
    expires = _uint(m[_EXP], "exp (4)", not_before, _MAX_TIME) if _EXP in m else None
    b = m[CLAIM_LICENSE]
    ordered &= _check_keys(b, _LICENSE_BODY_ORDERS, "license body (-70001)")
    holder, holder_ordered = _holder(b["h"])
    fields, fields_ordered = _fields(b["f"])
    body = LicenseBody(
        _text(b["t"], "type code (t)", 21, _TYPE_CODE),
        _text(b["r"], "region code (r)", 6, _REGION),
        _uint(b["v"], "version (v)", 1, 999),
        holder,
        fields,
        _text(b["p"], "previous license id (p)", _MAX_ID) if "p" in b else None,
        _text(b["s"], "seal id (s)", _MAX_ID) if "s" in b else None,
    )
    claims = LicenseClaims(issuer, issued_at, not_before, expires, license_id, body)
    return claims, ordered and holder_ordered and fields_ordered


def _stamp_claims(m: dict[Any, Any]) -> tuple[StampClaims, bool]:
    ordered = _check_keys(m, _STAMP_ORDERS, "stamp claims")
    issuer, issued_at, not_before, stamp_id = _common(m, "stamp")
    b = m[CLAIM_STAMP]
    ordered &= _check_keys(b, _STAMP_BODY_ORDERS, "stamp body (-70002)")
    body = StampBody(
        _text(b["s"], "seal id (s)", _MAX_ID),
        _bytes(b["d"], "document digest (d)", 32),
        _text(b["n"], "file name (n)", _MAX_TEXT),
        _uint(b["z"], "document size (z)", 0, 2**63 - 1),
        _text(b["m"], "media type (m)", 127, _MEDIA_TYPE) if "m" in b else None,
    )
    return StampClaims(issuer, issued_at, not_before, stamp_id, body), ordered


def _plain_cbor(value: object) -> bytes | None:
    """``cbor2.dumps(value)`` with one encoder per thread (making one costs more than using it)."""
    encoder: cbor2.CBOREncoder | None = getattr(_thread, "encoder", None)
    if encoder is None:
        encoder = _thread.encoder = cbor2.CBOREncoder(io.BytesIO())
    try:
        return encoder.encode_to_bytes(value)
    except (cbor2.CBOREncodeError, ValueError, TypeError, RecursionError):
        _thread.encoder = None  # it may hold half-done state: the next call makes a new one
        return None


@overload
def parse_claims(kind: Literal["license"], payload: bytes) -> LicenseClaims: ...
@overload
def parse_claims(kind: Literal["stamp"], payload: bytes) -> StampClaims: ...
@overload
def parse_claims(kind: Kind, payload: bytes) -> LicenseClaims | StampClaims: ...
def parse_claims(kind: Kind, payload: bytes) -> LicenseClaims | StampClaims:
    """Check the payload is the deterministic claims map of ``kind``, and type it."""
    m = _loads(payload, "payload")
    if type(m) is not dict:
        raise InvalidClaim("the payload must be a map of claims")
    if bad := [key for key in m if type(key) is not int]:
        raise UnknownClaim(f"claim key {bad[0]!r} is not an integer")
    claims, ordered = _license_claims(m) if kind == "license" else _stamp_claims(m)
    # Plain re-encoding keeps the input's key order: equal bytes plus canonical key order
    # is the canonical encoding (no longer forms, tags, indefinite lengths or repeated keys).
    if not ordered or _plain_cbor(m) != payload:
        _require_canonical(payload, m, "payload")
    return claims


def decode(text: str) -> DecodedDocument:
    """Decode and check a QR document's text, all stages but the signature."""
    kind, body = split_prefix(text)
    cose = parse_cose_sign1(inflate(decode_base45(body)))
    claims = parse_claims(kind, cose.payload)
    return DecodedDocument(
        kind, cose.kid, cose.protected, cose.payload, cose.signature, claims, text
    )


def document_digest(text: str) -> bytes:
    """SHA-256 of the COSE_Sign1 bytes of a well-formed document: what the ledger records."""
    return decode(text).digest()
