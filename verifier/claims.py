"""The claims of an e-license and of a seal stamp (the tables in :mod:`verifier.document`):
the typed values, their CBOR maps, and the strict parsing of a payload back into them."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Literal, TypeGuard, overload

import nacl.pwhash.argon2id

from keys.errors import shown
from verifier.cose import load_cbor, plain_cbor, require_canonical
from verifier.document_errors import InvalidClaim, MissingClaim, UnknownClaim

Kind = Literal["license", "stamp"]
HolderKind = Literal["L", "N"]
SALT_SIZE: Final = 16
#: The holder id hash's size, "ih" (SHA-256, legacy) and "ia" (Argon2id) alike.
HOLDER_HASH_SIZE: Final = 16
#: The Argon2id parameters of "ia", fixed by the format (a reader derives with these, never
#: with parameters a document names): OWASP's minimum for Argon2id, 2 passes over 19 MiB,
#: one lane (libsodium's only parallelism). About 22 ms of one core a derivation.
HOLDER_ARGON2_OPSLIMIT: Final = 2
HOLDER_ARGON2_MEMLIMIT: Final = 19 * 2**20
CLAIM_LICENSE: Final = -70001
CLAIM_STAMP: Final = -70002
_ISS, _EXP, _NBF, _IAT, _CTI = 1, 4, 5, 6, 7
MAX_TIME: Final = 253402300799  # 9999-12-31T23:59:59Z


def is_time(value: object) -> TypeGuard[int]:
    """Whether ``value`` is a Unix time a claim may hold (an int, 0 to :data:`MAX_TIME`)."""
    return type(value) is int and 0 <= value <= MAX_TIME


_MAX_ID: Final = 128
_MAX_TEXT: Final = 200
_MAX_FIELDS: Final = 40
_MAX_FIELD_NAME: Final = 32
_CREDIT_CODE = re.compile(r"[0-9A-HJ-NP-RTUWXY]{18}")
_TYPE_CODE = re.compile(r"[0-9A-HJ-NP-RTUWXY]{18}[0-9]{3}")
#: A region code (GB/T 2260), as a license and a trust bundle name it: six digits.
REGION_CODE: Final = re.compile(r"[0-9]{6}", re.ASCII)
#: A media type as a stamp records it: type/subtype, no parameters (RFC 6838 names).
MAX_MEDIA_TYPE: Final = 127
MEDIA_TYPE = re.compile(r"[A-Za-z0-9][\w!#$&^.+-]*/[A-Za-z0-9][\w!#$&^.+-]*", re.ASCII)


# The parsed claims are plain slotted records, never changed after parsing. They are not
# frozen dataclasses: building a frozen one costs four times as much, and every
# verification builds five of them (measured in bench.verify).


@dataclass(slots=True)
class Holder:
    """The license holder (body key "h"); ``id_display`` is masked for natural persons.

    A natural person's id number is carried hashed with ``id_salt`` ("is"): by Argon2id in
    ``id_argon2`` ("ia"), or, in a license issued before that form, by SHA-256 in
    ``id_hash`` ("ih"); never both."""

    name: str
    kind: HolderKind
    id_display: str | None = None
    id_hash: bytes | None = None
    id_salt: bytes | None = None
    id_argon2: bytes | None = None


@dataclass(slots=True)
class LicenseBody:
    """The license body (claim -70001)."""

    type_code: str
    region: str
    version: int
    holder: Holder
    fields: Mapping[str, str | int]
    previous: str | None = None
    seal_id: str | None = None


@dataclass(slots=True)
class LicenseClaims:
    """An e-license's claims; ``expires`` is None for a license without an end."""

    issuer: str
    issued_at: int
    not_before: int
    expires: int | None
    license_id: str
    body: LicenseBody


@dataclass(slots=True)
class StampBody:
    """The stamp body (claim -70002): which seal stamped which document file."""

    seal_id: str
    document_sha256: bytes
    file_name: str
    size: int
    media_type: str | None = None


@dataclass(slots=True)
class StampClaims:
    """A seal stamp's claims."""

    issuer: str
    issued_at: int
    not_before: int
    stamp_id: str
    body: StampBody


# -- claims to CBOR maps ------------------------------------------------------------------------


def _present(items: dict[str, object]) -> dict[str, object]:
    """``items`` without the optional entries that are None."""
    return {k: v for k, v in items.items() if v is not None}


def license_claims_map(c: LicenseClaims) -> dict[int, object]:
    b, h = c.body, c.body.holder
    holder = _present(
        {
            "n": h.name,
            "k": h.kind,
            "id": h.id_display,
            "ia": h.id_argon2,
            "ih": h.id_hash,
            "is": h.id_salt,
        }
    )
    body = {"t": b.type_code, "r": b.region, "v": b.version, "h": holder, "f": dict(b.fields)}
    claims: dict[int, object] = {_ISS: c.issuer, _IAT: c.issued_at, _NBF: c.not_before}
    if c.expires is not None:
        claims[_EXP] = c.expires
    claims[_CTI] = c.license_id.encode()
    claims[CLAIM_LICENSE] = _present(body | {"p": b.previous, "s": b.seal_id})
    return claims


def stamp_claims_map(c: StampClaims) -> dict[int, object]:
    b = c.body
    body = {"s": b.seal_id, "d": b.document_sha256, "n": b.file_name, "z": b.size}
    return {
        _ISS: c.issuer,
        _IAT: c.issued_at,
        _NBF: c.not_before,
        _CTI: c.stamp_id.encode(),
        CLAIM_STAMP: _present(body | {"m": b.media_type}),
    }


def normalise_id(id_number: str) -> str:
    """An id number as "ia" and "ih" hash it and a window compares it: NFKC, white space
    removed, upper case (a clerk's full-width digits, spaces and lower-case x are the same
    number)."""
    return "".join(unicodedata.normalize("NFKC", id_number).split()).upper()


def _hash_input(id_number: str, salt: bytes) -> bytes:
    normalised = normalise_id(id_number)
    if not normalised or len(salt) != SALT_SIZE:
        raise InvalidClaim(
            f"holder id hash needs a non-empty id number and a {SALT_SIZE}-byte salt"
        )
    return normalised.encode()


def holder_id_hash(id_number: str, salt: bytes) -> bytes:
    """SHA-256(salt ‖ normalised id number)[:16], to match a presented id against "ih" (the
    legacy form: fast, so a license's QR gives its number away; no longer issued)."""
    return hashlib.sha256(salt + _hash_input(id_number, salt)).digest()[:HOLDER_HASH_SIZE]


def holder_id_argon2(id_number: str, salt: bytes) -> bytes:
    """Argon2id (RFC 9106, version 0x13) of the normalised id number in UTF-8 as the
    password, ``salt`` ("is") as the salt, :data:`HOLDER_ARGON2_OPSLIMIT` passes over
    :data:`HOLDER_ARGON2_MEMLIMIT` bytes, one lane, a 16-byte tag: "ia". About 22 ms of CPU
    and 19 MiB of memory, so run it only to match a presented id, never to verify."""
    return nacl.pwhash.argon2id.kdf(
        HOLDER_HASH_SIZE,
        _hash_input(id_number, salt),
        salt,
        opslimit=HOLDER_ARGON2_OPSLIMIT,
        memlimit=HOLDER_ARGON2_MEMLIMIT,
    )


# -- parsing a payload -------------------------------------------------------------------------


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
            raise UnknownClaim(f"{what}: unknown key {shown(key)}")
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
#: A holder's id hash is Argon2id ("ia") or, in the legacy form, SHA-256 ("ih"), with its
#: salt ("is") either way.
_HOLDER_ORDERS = _orders("n k", "id", "ia is") | _orders("n k", "id", "ih is")
#: A natural person's id number as a holder with "ia" shows it: the check character alone.
#: The cost of guessing the number from the QR rests on it (docs/DESIGN.md, Security), so a
#: reader refuses any other; a legacy "ih" holder's mask is read as it always was.
ARGON2_SHOWN: Final = re.compile(r"\*{17}[0-9X]")
_STAMP_BODY_ORDERS = _orders("s d n z", "m")


def _text(value: object, what: str, limit: int, pattern: re.Pattern[str] | None = None) -> str:
    if type(value) is not str or not 0 < len(value) <= limit or not value.isprintable():
        raise InvalidClaim(f"{what} must be printable text of 1 to {limit} characters")
    if pattern is not None and not pattern.fullmatch(value):
        raise InvalidClaim(f"{what} {shown(value)} is malformed")
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
    if "ia" in h and "ih" in h:
        raise InvalidClaim("a holder carries one id hash, Argon2id (ia) or SHA-256 (ih)")
    if ("ih" in h or "ia" in h) != ("is" in h):
        raise InvalidClaim("a holder id hash (ia or ih) and its salt (is) go together")
    if "ia" in h and kind != "N":
        raise InvalidClaim("an Argon2id id hash (ia) is a natural person's alone")
    if "ia" in h and shown is not None and not ARGON2_SHOWN.fullmatch(shown):
        raise InvalidClaim(
            "beside an Argon2id id hash (ia), a natural person's id number (id) shows its "
            "check character alone: '*****************X'"
        )
    id_hash = _bytes(h["ih"], "holder id hash (ih)", HOLDER_HASH_SIZE) if "ih" in h else None
    argon2 = _bytes(h["ia"], "holder id hash (ia)", HOLDER_HASH_SIZE) if "ia" in h else None
    salt = _bytes(h["is"], "holder id salt (is)", SALT_SIZE) if "is" in h else None
    name = _text(h["n"], "holder name (n)", _MAX_TEXT)
    return Holder(name, kind, shown, id_hash, salt, argon2), ordered


def _utf8_length(text: str) -> int:
    return len(text.encode())


#: Field-name tuples already checked (valid names), with whether they are in canonical
#: order: the licenses of one type share their names, so most documents skip that work.
_NAMES_SEEN: dict[tuple[Any, ...], bool] = {}
_NAMES_SEEN_MAX = 4096


def _names_ordered(names: tuple[Any, ...]) -> bool:
    """Check the field names; whether they are in canonical order (length, then bytes)."""
    ordered = _NAMES_SEEN.get(names)
    if ordered is not None:
        return ordered
    for name in names:
        if type(name) is not str or not 0 < len(name) <= _MAX_FIELD_NAME or not name.isprintable():
            raise InvalidClaim(
                f"field names must be printable text of 1 to {_MAX_FIELD_NAME} chars"
            )
    canonical = sorted(names)
    canonical.sort(key=len if "".join(names).isascii() else _utf8_length)
    ordered = tuple(canonical) == names
    if len(_NAMES_SEEN) >= _NAMES_SEEN_MAX:
        _NAMES_SEEN.clear()
    _NAMES_SEEN[names] = ordered
    return ordered


def _fields(f: object) -> tuple[Mapping[str, str | int], bool]:
    """The fields map, and whether its names are in canonical order (length, then bytes)."""
    if type(f) is not dict or len(f) > _MAX_FIELDS:
        raise InvalidClaim(f"fields (f) must be a map of at most {_MAX_FIELDS} entries")
    ordered = _names_ordered(tuple(f))
    for name, value in f.items():
        if type(value) is str:
            if len(value) > _MAX_TEXT or not value.isprintable():
                raise InvalidClaim(
                    f"field {shown(name)} must be printable text of at most 200 chars"
                )
        elif type(value) is not int or not -(2**63) <= value < 2**63:
            raise InvalidClaim(f"field {shown(name)} must be text or a 64-bit integer")
    return MappingProxyType(f), ordered


_CTI_WHAT = {"license": "cti (7), the license id,", "stamp": "cti (7), the stamp id,"}


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
        _uint(m[_IAT], "iat (6)", 0, MAX_TIME),
        _uint(m[_NBF], "nbf (5)", 0, MAX_TIME),
        _text(subject, _CTI_WHAT[what], _MAX_ID),
    )


def _license_claims(m: dict[Any, Any]) -> tuple[LicenseClaims, bool]:
    ordered = _check_keys(m, _LICENSE_ORDERS, "license claims")
    issuer, issued_at, not_before, license_id = _common(m, "license")
    expires = _uint(m[_EXP], "exp (4)", not_before, MAX_TIME) if _EXP in m else None
    b = m[CLAIM_LICENSE]
    ordered &= _check_keys(b, _LICENSE_BODY_ORDERS, "license body (-70001)")
    holder, holder_ordered = _holder(b["h"])
    fields, fields_ordered = _fields(b["f"])
    body = LicenseBody(
        _text(b["t"], "type code (t)", 21, _TYPE_CODE),
        _text(b["r"], "region code (r)", 6, REGION_CODE),
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
        _text(b["m"], "media type (m)", MAX_MEDIA_TYPE, MEDIA_TYPE) if "m" in b else None,
    )
    return StampClaims(issuer, issued_at, not_before, stamp_id, body), ordered


@overload
def parse_claims(kind: Literal["license"], payload: bytes) -> LicenseClaims: ...
@overload
def parse_claims(kind: Literal["stamp"], payload: bytes) -> StampClaims: ...
@overload
def parse_claims(kind: Kind, payload: bytes) -> LicenseClaims | StampClaims: ...
def parse_claims(kind: Kind, payload: bytes) -> LicenseClaims | StampClaims:
    """Check the payload is the deterministic claims map of ``kind``, and type it."""
    m = load_cbor(payload, "payload")
    if type(m) is not dict:
        raise InvalidClaim("the payload must be a map of claims")
    orders = _LICENSE_ORDERS if kind == "license" else _STAMP_ORDERS
    if tuple(m) not in orders and (bad := [key for key in m if type(key) is not int]):
        raise UnknownClaim(f"claim key {shown(bad[0])} is not an integer")
    claims, ordered = _license_claims(m) if kind == "license" else _stamp_claims(m)
    # Plain re-encoding keeps the input's key order: equal bytes plus canonical key order
    # is the canonical encoding (no longer forms, tags, indefinite lengths or repeated keys).
    if not ordered or plain_cbor(m) != payload:
        require_canonical(payload, m, "payload")
    return claims
