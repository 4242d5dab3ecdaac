"""COSE_Sign1 (RFC 9052) in the one deterministic CBOR encoding (RFC 8949 §4.2.1) the
document format accepts: its bytes, and strict parsing that names each flaw."""

from __future__ import annotations

import io
import threading
from typing import Any, Final, NamedTuple

import cbor2

from keys import cbor as strict_cbor
from keys import ed25519
from keys.errors import PARSE_ERRORS, shown
from verifier.document_errors import (
    DuplicateKey,
    InvalidCbor,
    InvalidKeyId,
    InvalidSignatureLength,
    NonCanonicalCbor,
    NotCoseSign1,
    TrailingData,
    UnknownCriticalHeader,
    UnknownHeader,
    UnprotectedHeader,
    UnsupportedAlgorithm,
)

ALG_EDDSA: Final = -8
KID_SIZE: Final = ed25519.KEY_ID_SIZE
#: The one canonical protected header is these 5 bytes ({1: -8, 4: bstr(8)}) and the kid.
_PROTECTED_START = b"\xa2\x01\x27\x04\x48"
_thread = threading.local()


class CoseSign1(NamedTuple):
    """The parts of a COSE_Sign1 as :func:`parse_cose_sign1` checked them."""

    protected_map: dict[int, Any]
    kid: bytes
    payload: bytes
    signature: bytes
    protected: bytes


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


def sig_structure(protected: bytes, payload: bytes) -> bytes:
    return b"\x84\x6aSignature1" + _bstr(protected) + b"\x40" + _bstr(payload)


def cose_sign1_bytes(protected: bytes, payload: bytes, signature: bytes) -> bytes:
    return b"\xd2\x84" + _bstr(protected) + b"\xa0" + _bstr(payload) + _bstr(signature)


#: What decoding hostile CBOR raises: cbor2's own error and the generic parse errors.
CBOR_ERRORS: tuple[type[Exception], ...] = (cbor2.CBORDecodeError, *PARSE_ERRORS)


def load_cbor(data: bytes, what: str) -> Any:
    try:
        return strict_cbor.loads(data)
    except CBOR_ERRORS as e:
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
            # Keys are compared when they are integers or strings, what eseal's maps use (a
            # map keyed by anything else is refused all the same, as not deterministic).
            # Never a tag: hashing a decoded tag of a list or a map fails, and cbor2 5.9
            # then refuses for good to hash any tag made where that one was.
            if data[i] >> 5 <= 3:
                key = strict_cbor.loads(data[i:end])
                repeated = repeated or key in keys
                keys.add(key)
            repeated, i = repeated or dup, end
        i, dup = _has_duplicate_key(data, i)
        repeated = repeated or dup
    return i, repeated


def require_canonical(data: bytes, value: object, what: str) -> None:
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
    except CBOR_ERRORS:
        repeated = False
    if repeated:
        raise DuplicateKey(f"a map in the {what} repeats a key")
    raise NonCanonicalCbor(f"{what} is not deterministic CBOR (RFC 8949 §4.2.1)")


def _protected_header(protected: bytes) -> tuple[dict[int, Any], bytes]:
    """The protected header map, exactly {1: -8, 4: kid}, and its kid."""
    if len(protected) == 5 + KID_SIZE and protected.startswith(_PROTECTED_START):
        kid = protected[5:]  # the one canonical encoding: a2 01 27 04 48 ‖ kid
        return {1: ALG_EDDSA, 4: kid}, kid
    header = load_cbor(protected, "protected header")
    if type(header) is not dict:
        raise NotCoseSign1("the protected header must be a CBOR map")
    require_canonical(protected, header, "protected header")
    if 2 in header:
        crit = header[2] if type(header[2]) is list else [header[2]]
        if unknown := [label for label in crit if label not in (1, 4)]:
            raise UnknownCriticalHeader(
                f"critical header labels {shown(unknown[:4])} not understood"
            )
        raise UnknownHeader("crit (2) is not used by this format")
    alg = header.get(1)
    if type(alg) is not int or alg != ALG_EDDSA:
        raise UnsupportedAlgorithm(f"alg {shown(alg)}: only EdDSA (-8, Ed25519) is supported")
    key_id = header.get(4)
    if type(key_id) is not bytes or len(key_id) != KID_SIZE:
        what = "missing" if key_id is None else "not an 8-byte bstr"
        raise InvalidKeyId(f"protected header kid (4) is {what}")
    labels = [label for label in header if type(label) is not int or label not in (1, 4)]
    raise UnknownHeader(f"protected header labels {shown(labels[:4])} are not defined here")


#: The canonical COSE_Sign1 opens with tag 18, an array of 4, and the 13-byte protected
#: header bstr: d2 84 4d a2 01 27 04 48 ‖ kid(8), then the empty unprotected map (a0).
_SIGN1_START = b"\xd2\x84\x4d" + _PROTECTED_START
_SIGN1_TAIL = b"\x58\x40"  # the signature: bstr of 64 bytes, last


def _canonical_sign1(data: bytes) -> CoseSign1 | None:
    """The parts of ``data`` when it is laid out exactly as the one canonical COSE_Sign1
    (then it needs no CBOR decoding); None for anything else, which the full parser judges."""
    if not data.startswith(_SIGN1_START) or len(data) < 84 or data[16] != 0xA0:
        return None
    head = data[17]
    if 0x40 <= head < 0x58:  # bstr of length 0..23 in the initial byte
        size, start = head - 0x40, 18
    elif head == 0x58 and data[18] >= 24:
        size, start = data[18], 19
    elif head == 0x59 and data[18] != 0:  # two length bytes, so at least 256
        size, start = (data[18] << 8) | data[19], 20
    else:
        return None
    end = start + size
    if len(data) != end + 66 or data[end : end + 2] != _SIGN1_TAIL:
        return None
    kid = data[8:16]
    return CoseSign1({1: ALG_EDDSA, 4: kid}, kid, data[start:end], data[end + 2 :], data[3:16])


def parse_cose_sign1(data: bytes) -> CoseSign1:
    """Check the COSE_Sign1 structure and protected header (not the signature)."""
    fast = _canonical_sign1(data)
    return fast if fast is not None else _parse_cose_sign1_cbor(data)


def _parse_cose_sign1_cbor(data: bytes) -> CoseSign1:
    """:func:`parse_cose_sign1` by decoding the CBOR: it names each flaw."""
    item = load_cbor(data, "COSE_Sign1")
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
        raise UnprotectedHeader(
            f"unprotected header labels {shown(list(unprotected)[:4])}: not allowed"
        )
    if cose_sign1_bytes(protected, payload, signature) != data:
        require_canonical(data, item, "COSE_Sign1")
    header, kid = _protected_header(protected)
    if len(signature) != ed25519.SIGNATURE_SIZE:
        raise InvalidSignatureLength(f"signature is {len(signature)} bytes, not 64")
    return CoseSign1(header, kid, payload, signature, protected)


def plain_cbor(value: object) -> bytes | None:
    """``cbor2.dumps(value)`` with one encoder per thread (making one costs more than using it)."""
    encoder: cbor2.CBOREncoder | None = getattr(_thread, "encoder", None)
    if encoder is None:
        encoder = _thread.encoder = cbor2.CBOREncoder(io.BytesIO())
    try:
        return encoder.encode_to_bytes(value)
    except (cbor2.CBOREncodeError, ValueError, TypeError, RecursionError):
        _thread.encoder = None  # it may hold half-done state: the next call makes a new one
        return None
