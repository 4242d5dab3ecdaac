"""Key statements: a region's root key certifying an agency, seal, log or witness key.

A statement is a deterministic CBOR map (RFC 8949 §4.2.1, no tags); a signed statement is the
deterministic CBOR array ``[bstr statement bytes, bstr(64) signature]``, the Ed25519 signature
(by the key ``iss`` names, a region's root key) over ``DOMAIN`` =
``b"eseal/key-statement/v1\\n"`` (23 ASCII bytes, the newline included) followed by the
statement bytes. Every key below is present, no other.

======  =============  ==========================================================
key     field          value
======  =============  ==========================================================
v       version        uint: 1
role    role           tstr: one of :class:`Role`: "agency", "seal", "log", "witness"
sub     subject        tstr (1..256 chars): credit code of the agency, seal id, log origin...
pk      public_key     bstr(32): the certified Ed25519 key
scope   scope          [* tstr]: license type codes, none twice (empty for log and witness;
                       eseal certifies seals with an empty one, and a stamp's verifier
                       reads none: a stamp names no license type)
nbf     not_before     uint: Unix seconds, first second the key is valid
exp     not_after      uint ≥ nbf: Unix seconds, last second the key is valid
st      status         tstr: one of :class:`KeyStatus`: "active" or "revoked"
iat     issued_at      uint: Unix seconds the statement was made
iss     issuer_key_id  bstr(8): key id of the key that signs the statement
======  =============  ==========================================================
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import cbor2
import nacl.signing

from keys import cbor as strict_cbor
from keys.ed25519 import (
    KEY_ID_SIZE,
    PUBLIC_KEY_SIZE,
    SIGNATURE_SIZE,
    check_public_key,
    sign,
    verify,
)
from keys.ed25519 import key_id as _key_id
from keys.errors import CheckFailed, InvalidInput, shown

VERSION = 1
DOMAIN = b"eseal/key-statement/v1\n"
MAX_SIGNED_STATEMENT_SIZE = 4096
MAX_CHAIN_LENGTH = 4
MAX_TEXT = 256
_MAX_TIME = 2**63 - 1
_KEYS = frozenset({"v", "role", "sub", "pk", "scope", "nbf", "exp", "st", "iat", "iss"})


class Role(StrEnum):
    """What a certified key may sign."""

    AGENCY = "agency"
    SEAL = "seal"
    LOG = "log"
    WITNESS = "witness"


class KeyStatus(StrEnum):
    """Whether the certified key is in service."""

    ACTIVE = "active"
    REVOKED = "revoked"


#: Roles whose statements list the license types they cover; the others have an empty scope.
SCOPED_ROLES = frozenset({Role.AGENCY, Role.SEAL})


class MalformedStatement(InvalidInput):
    """Bytes or values that are not a well-formed, deterministic key statement."""

    code = "malformed-key-statement"


class MalformedChain(InvalidInput):
    """A statement chain that is empty or longer than MAX_CHAIN_LENGTH."""

    code = "malformed-key-chain"


class WrongIssuer(CheckFailed):
    """The statement names an issuer other than the key expected to sign it."""

    code = "key-statement-wrong-issuer"


class StatementSignatureInvalid(CheckFailed):
    """The statement's signature does not verify under its issuer's key."""

    code = "key-statement-signature-invalid"


class KeyNotValidAt(CheckFailed):
    """The key's validity window does not contain the time of use."""

    code = "key-not-valid-at"


class KeyNotYetValid(KeyNotValidAt):
    """The key is used before its not_before."""

    code = "key-not-yet-valid"


class KeyExpired(KeyNotValidAt):
    """The key is used after its not_after."""

    code = "key-expired"


class KeyRevoked(CheckFailed):
    """The key's statement says revoked, or its key id is on the revocation list."""

    code = "key-revoked"


class RoleMismatch(CheckFailed):
    """The key is certified for another role than the one it is used in."""

    code = "key-role-mismatch"


class OutOfScope(CheckFailed):
    """The license type is outside the scope the key is certified for."""

    code = "license-type-out-of-scope"


def _is_time(value: object) -> bool:
    return type(value) is int and 0 <= value <= _MAX_TIME


def _is_text(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_TEXT


@dataclass(frozen=True, kw_only=True, slots=True)
class KeyStatement:
    """What a signer says about a key: its role, subject, scope, validity and status.

    ``issuer_key_id`` stays empty until :func:`certify` fills it in.
    """

    version: int = VERSION
    role: Role
    subject: str
    public_key: bytes
    scope: tuple[str, ...] = ()
    not_before: int
    not_after: int
    status: KeyStatus = KeyStatus.ACTIVE
    issued_at: int
    issuer_key_id: bytes = b""

    def __post_init__(self) -> None:
        for rule, problem in _STATEMENT_RULES:
            if not rule(self):
                raise MalformedStatement(
                    f"key statement for {shown(self.subject)} is malformed: {problem}"
                )

    @property
    def key_id(self) -> bytes:
        """The key id of the certified key."""
        return _key_id(self.public_key)

    def to_bytes(self) -> bytes:
        """The deterministic CBOR encoding (RFC 8949 §4.2 via cbor2 canonical)."""
        if len(self.issuer_key_id) != KEY_ID_SIZE:
            raise MalformedStatement("the statement has no issuer_key_id yet; use certify()")
        return cbor2.dumps(
            {
                "v": self.version,
                "role": self.role.value,
                "sub": self.subject,
                "pk": self.public_key,
                "scope": list(self.scope),
                "nbf": self.not_before,
                "exp": self.not_after,
                "st": self.status.value,
                "iat": self.issued_at,
                "iss": self.issuer_key_id,
            },
            canonical=True,
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> KeyStatement:
        """Decode strictly: exact keys, types and lengths, canonical bytes only."""
        m = _decode_canonical(data, MAX_SIGNED_STATEMENT_SIZE, "key statement")
        if not isinstance(m, dict) or m.keys() != _KEYS:
            raise MalformedStatement(f"a key statement is a map with exactly {sorted(_KEYS)}")
        scope = m["scope"]
        if not isinstance(scope, list) or type(m["role"]) is not str or type(m["st"]) is not str:
            raise MalformedStatement("scope must be an array; role and st text")
        try:
            role, status = Role(m["role"]), KeyStatus(m["st"])
        except ValueError as e:
            raise MalformedStatement(
                f"unknown role {shown(m['role'])} or status {shown(m['st'])}"
            ) from e
        statement = cls(
            version=m["v"],
            role=role,
            subject=m["sub"],
            public_key=m["pk"],
            scope=tuple(scope),
            not_before=m["nbf"],
            not_after=m["exp"],
            status=status,
            issued_at=m["iat"],
            issuer_key_id=m["iss"],
        )
        if len(statement.issuer_key_id) != KEY_ID_SIZE:
            raise MalformedStatement(f"iss must be {KEY_ID_SIZE} bytes")
        return statement


#: Each rule a statement must satisfy, with the problem reported when it does not (in order).
_STATEMENT_RULES: tuple[tuple[Callable[[KeyStatement], bool], str], ...] = (
    (lambda s: type(s.version) is int and s.version == VERSION, f"version must be {VERSION}"),
    (lambda s: isinstance(s.role, Role), f"role must be one of {[r.value for r in Role]}"),
    (lambda s: isinstance(s.status, KeyStatus), "status must be active or revoked"),
    (lambda s: _is_text(s.subject), f"subject must be a non-empty string of <= {MAX_TEXT} chars"),
    (
        lambda s: type(s.public_key) is bytes and len(s.public_key) == PUBLIC_KEY_SIZE,
        f"public_key must be {PUBLIC_KEY_SIZE} bytes",
    ),
    (
        lambda s: isinstance(s.scope, tuple) and all(_is_text(t) for t in s.scope),
        "scope must be a tuple of non-empty license type codes",
    ),
    (lambda s: len(set(s.scope)) == len(s.scope), "scope lists a license type twice"),
    (lambda s: not s.scope or s.role in SCOPED_ROLES, "log and witness keys have no scope"),
    (
        lambda s: all(_is_time(t) for t in (s.not_before, s.not_after, s.issued_at)),
        "not_before, not_after and issued_at must be Unix seconds",
    ),
    (lambda s: s.not_before <= s.not_after, "not_before is after not_after"),
    (
        lambda s: type(s.issuer_key_id) is bytes and len(s.issuer_key_id) in (0, KEY_ID_SIZE),
        f"issuer_key_id must be {KEY_ID_SIZE} bytes",
    ),
)


def _decode_canonical(data: bytes, max_size: int, what: str) -> Any:
    """CBOR-decode bounded bytes that must be exactly the canonical encoding of their value."""
    if type(data) is not bytes or len(data) > max_size:
        raise MalformedStatement(f"a {what} must be bytes, at most {max_size} long")
    try:
        value = strict_cbor.loads(data)
        canonical = cbor2.dumps(value, canonical=True)
    # cbor2 raises many types (ValueError, EOFError, TypeError, ...) on hostile input.
    except Exception as e:
        raise MalformedStatement(f"a {what} is not valid CBOR ({e})") from e
    if canonical != data:
        raise MalformedStatement(f"a {what} is not in deterministic CBOR (or has trailing bytes)")
    return value


@dataclass(frozen=True, slots=True)
class SignedStatement:
    """Statement bytes and the issuer's signature; decoding the statement is checked on build."""

    statement_bytes: bytes
    signature: bytes
    statement: KeyStatement = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if type(self.signature) is not bytes or len(self.signature) != SIGNATURE_SIZE:
            raise MalformedStatement(f"a statement signature must be {SIGNATURE_SIZE} bytes")
        object.__setattr__(self, "statement", KeyStatement.from_bytes(self.statement_bytes))

    def to_bytes(self) -> bytes:
        """CBOR array ``[statement_bytes, signature]``."""
        return cbor2.dumps([self.statement_bytes, self.signature], canonical=True)

    @classmethod
    def from_bytes(cls, data: bytes, max_size: int = MAX_SIGNED_STATEMENT_SIZE) -> SignedStatement:
        """Decode strictly; the signature is checked by :func:`verify_statement_chain`."""
        value = _decode_canonical(data, max_size, "signed key statement")
        if not (
            isinstance(value, list) and len(value) == 2 and all(type(v) is bytes for v in value)
        ):
            raise MalformedStatement("a signed key statement is [statement bytes, signature]")
        return cls(value[0], value[1])


def certify(root_signing_key: nacl.signing.SigningKey, statement: KeyStatement) -> SignedStatement:
    """Sign ``statement`` with the root key (or, in a longer chain, an agency key).

    Sets ``issuer_key_id`` from the signing key; refuses a weak or malformed subject key.
    """
    check_public_key(statement.public_key)
    issuer_key_id = _key_id(root_signing_key.verify_key.encode())
    body = replace(statement, issuer_key_id=issuer_key_id).to_bytes()
    return SignedStatement(body, sign(root_signing_key, DOMAIN + body))


def _describe(statement: KeyStatement) -> str:
    return f"{statement.role} key {statement.key_id.hex()} of {statement.subject!r}"


def _check_signature(signed: SignedStatement, issuer_public_key: bytes, issuer: str) -> None:
    statement = signed.statement
    if statement.issuer_key_id != _key_id(issuer_public_key):
        raise WrongIssuer(
            f"the statement for {_describe(statement)} names issuer "
            f"{statement.issuer_key_id.hex()}, expected {issuer} {_key_id(issuer_public_key).hex()}"
        )
    if not verify(issuer_public_key, DOMAIN + signed.statement_bytes, signed.signature):
        raise StatementSignatureInvalid(
            f"the statement for {_describe(statement)} is not validly signed by {issuer}"
        )


def _check_validity(statement: KeyStatement, at: int) -> None:
    if at < statement.not_before:
        raise KeyNotYetValid(
            f"{_describe(statement)} is valid from {statement.not_before}, not yet at {at}"
        )
    if at > statement.not_after:
        raise KeyExpired(f"{_describe(statement)} expired at {statement.not_after}, before {at}")


def _check_status(statement: KeyStatement, revoked_key_ids: Collection[bytes]) -> None:
    if statement.status is not KeyStatus.ACTIVE or statement.key_id in revoked_key_ids:
        raise KeyRevoked(f"{_describe(statement)} is revoked")


def _check_role(statement: KeyStatement, role: Role) -> None:
    if statement.role is not role:
        raise RoleMismatch(f"{_describe(statement)} is certified as {statement.role}, not {role}")


def _check_scope(statement: KeyStatement, license_type: str | None) -> None:
    if license_type is not None and license_type not in statement.scope:
        raise OutOfScope(
            f"{_describe(statement)} may not act for license type {shown(license_type)}; "
            f"its scope is {list(statement.scope)}"
        )


def verify_statement_chain(
    chain: Sequence[SignedStatement],
    root_public_key: bytes,
    *,
    at: int,
    role: Role,
    license_type: str | None = None,
    revoked_key_ids: Collection[bytes] = (),
) -> KeyStatement:
    """Check a chain from the root key to a leaf key at time ``at``; return the leaf statement.

    The first statement is signed by the root, each next one by the key the previous one
    certifies; only agency keys may certify further keys. Every link must be signed, valid at
    ``at``, active and unrevoked, and cover ``license_type`` if given; the leaf must have ``role``.
    """
    if not 1 <= len(chain) <= MAX_CHAIN_LENGTH:
        raise MalformedChain(f"a key statement chain has 1 to {MAX_CHAIN_LENGTH} statements")
    if _key_id(root_public_key) in revoked_key_ids:
        raise KeyRevoked(f"the root key {_key_id(root_public_key).hex()} is revoked")
    issuer_public_key, issuer = root_public_key, "the root key"
    for index, signed in enumerate(chain):
        statement = signed.statement
        _check_signature(signed, issuer_public_key, issuer)
        _check_validity(statement, at)
        _check_status(statement, revoked_key_ids)
        _check_role(statement, role if index == len(chain) - 1 else Role.AGENCY)
        _check_scope(statement, license_type)
        issuer_public_key, issuer = statement.public_key, _describe(statement)
    return chain[-1].statement
