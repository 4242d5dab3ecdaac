"""Agencies: registration with a root-certified signing key, key rotation and revocation,
and the API credentials that let an agency (or the region operator) act.

Every act is a ledger entry whose body is the signed key statement, written in the
same transaction as the rows that record it here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import unicodedata
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from eseal.catalog import load_catalog
from eseal.ids import InvalidIdentityNumber, validate_credit_code, validate_identity_number
from eseal.models import AgencyKeyRow, AgencyRow, CredentialRow
from eseal.node import Node
from keys import ed25519
from keys.errors import InvalidInput
from keys.statements import KeyStatement, Role, certify
from ledger.entries import Entry, digest
from verifier.pipeline import MAX_REASON
from verifier.trust import agency_of_region, displayable

AGENCY_KEY_LIFETIME = 5 * 365 * 86400
MAX_NAME = 100
_agency = AgencyRow.__table__  # type: ignore[attr-defined]
_key = AgencyKeyRow.__table__  # type: ignore[attr-defined]
_cred = CredentialRow.__table__  # type: ignore[attr-defined]
_TOKEN = re.compile(r"esk_([0-9a-f]{12})\.([A-Za-z0-9_-]{43})")


class AgencyExists(InvalidInput):
    """An agency with this unified social credit code is already registered."""

    code = "agency-exists"
    http_status = 409


class AgencyOfAnotherRegion(InvalidInput):
    """The credit code is of another province: a region registers its own agencies (and
    the central government's), since windows everywhere refuse a bundle that vouches
    for another province's."""

    code = "agency-of-another-region"
    http_status = 422


class UnknownAgency(InvalidInput):
    """No agency with this code is registered."""

    code = "unknown-agency"
    http_status = 404


class AgencyKeyUnusable(InvalidInput):
    """The agency has no active signing key (revoked without a rotation)."""

    code = "agency-key-unusable"
    http_status = 409


class NotAuthenticated(InvalidInput):
    """No valid API credential was presented."""

    code = "not-authenticated"
    http_status = 401


class Forbidden(InvalidInput):
    """The credential is valid but may not do this."""

    code = "forbidden"
    http_status = 403


@dataclass(frozen=True)
class Principal:
    """Who is acting: the region operator, or one agency."""

    role: Literal["operator", "agency"]
    agency_code: str | None = None

    def may_act_for(self, agency_code: str) -> bool:
        return self.role == "operator" or self.agency_code == agency_code

    def require(self, agency_code: str) -> None:
        if not self.may_act_for(agency_code):
            raise Forbidden(f"this credential may not act for agency {agency_code}")


OPERATOR = Principal("operator")


@dataclass(frozen=True)
class AgencyKey:
    code: str
    key_id: bytes
    public_key: bytes
    statement: bytes


@dataclass(frozen=True)
class AgencyCreated:
    code: str
    name: str
    types: tuple[str, ...]
    key_id: str
    public_key: str
    credential: str
    ledger_index: int

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _new_credential(conn: Connection, *, role: str, agency_code: str | None, now: int) -> str:
    cid = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    conn.execute(
        insert(_cred).values(
            id=cid,
            secret_hash=hashlib.sha256(secret.encode()).digest(),
            role=role,
            agency_code=agency_code,
            created_at=now,
        )
    )
    return f"esk_{cid}.{secret}"


def _certify_agency_key(node: Node, code: str, types: tuple[str, ...], now: int) -> AgencyKey:
    key = ed25519.generate()
    public = bytes(key.verify_key)
    statement = certify(
        node.require_root_key(),
        KeyStatement(
            role=Role.AGENCY,
            subject=code,
            public_key=public,
            scope=types,
            not_before=now,
            not_after=now + AGENCY_KEY_LIFETIME,
            issued_at=now,
        ),
    ).to_bytes()
    kid = node.store_key(key, label=f"agency {code}")
    return AgencyKey(code, kid, public, statement)


def add_agency(node: Node, *, code: str, name: str, types: list[str], now: int) -> AgencyCreated:
    """Register an agency for ``types``: its key, its statement, its credential (shown once)."""
    code = validate_credit_code(code)
    name = name.strip()
    if not name or len(name) > MAX_NAME or not displayable(name):
        raise InvalidInput(f"the agency name must be 1 to {MAX_NAME} printable characters")
    catalog = load_catalog()
    scope = tuple(dict.fromkeys(catalog.get(t.strip()).code for t in types if t.strip()))
    if not scope:
        raise InvalidInput("an agency needs at least one license type (--types CODE,CODE)")
    with node.sql.read_engine.connect() as conn:
        if conn.execute(select(_agency.c.code).where(_agency.c.code == code)).first():
            raise AgencyExists(
                f"agency {code} is already registered (another API credential for it: "
                f"eseal agency credential {code})"
            )
    if not agency_of_region(code, node.config.region):
        raise AgencyOfAnotherRegion(
            f"agency {code} is registered in region {code[2:8]} (its credit code), not in "
            f"this region's province ({node.config.region}) nor centrally"
        )
    key = _certify_agency_key(node, code, scope, now)
    credential: list[str] = []

    def record(conn: Connection, first: int) -> None:
        conn.execute(
            insert(_agency).values(
                code=code, name=name, types=json.dumps(scope), status="active", created_at=now
            )
        )
        _insert_key(conn, key, now, first)
        credential.append(_new_credential(conn, role="agency", agency_code=code, now=now))

    entry = Entry(
        "agency.add",
        now,
        node.config.region,
        code,
        digest(key.statement),
        node.root_key_id,
        body=key.statement,
    )
    try:
        appended = node.append([entry], also=record)
    except BaseException as e:
        node.discard_key(key.key_id, e)
        raise
    return AgencyCreated(
        code,
        name,
        scope,
        key.key_id.hex(),
        key.public_key.hex(),
        credential[0],
        appended.first_index,
    )


def _insert_key(conn: Connection, key: AgencyKey, now: int, index: int) -> None:
    conn.execute(
        insert(_key).values(
            key_id=key.key_id.hex(),
            agency_code=key.code,
            public_key=key.public_key,
            statement=key.statement,
            status="active",
            created_at=now,
            ledger_index=index,
        )
    )


def agency(node: Node, code: str) -> AgencyRow:
    with node.sql.read_engine.connect() as conn:
        row = conn.execute(select(_agency).where(_agency.c.code == code)).first()
    if row is None:
        raise UnknownAgency(f"agency {code} is not registered (eseal agency add)")
    return AgencyRow.model_validate(row._mapping)


def still_active(conn: Connection, code: str) -> None:
    """In an act's transaction: refuse the act (:class:`Forbidden`) if agency ``code`` was
    deactivated since the act read it active. A deactivation is appended, and appends are
    serialised, so none commits between this check and the act; without it, an act signed
    before would be recorded after, dated before and so valid, from an agency that acts
    no more."""
    status = conn.execute(select(_agency.c.status).where(_agency.c.code == code)).scalar()
    if status != "active":
        raise Forbidden(f"agency {code} is not active; nothing was recorded")


def list_agencies(node: Node) -> list[AgencyRow]:
    with node.sql.read_engine.connect() as conn:
        rows = conn.execute(select(_agency).order_by(_agency.c.code)).all()
    return [AgencyRow.model_validate(r._mapping) for r in rows]


def agency_types(row: AgencyRow) -> tuple[str, ...]:
    return tuple(json.loads(row.types))


def active_key(node: Node, code: str) -> AgencyKey:
    """The agency's current signing key."""
    with node.sql.read_engine.connect() as conn:
        row = conn.execute(
            select(_key).where(_key.c.agency_code == code, _key.c.status == "active")
        ).first()
    if row is None:
        raise AgencyKeyUnusable(f"agency {code} has no active key; rotate it (eseal agency rotate)")
    return AgencyKey(code, bytes.fromhex(row.key_id), bytes(row.public_key), bytes(row.statement))


def agency_keys(node: Node, code: str | None = None) -> list[AgencyKeyRow]:
    query = select(_key).order_by(_key.c.created_at)
    if code is not None:
        query = query.where(_key.c.agency_code == code)
    with node.sql.read_engine.connect() as conn:
        return [AgencyKeyRow.model_validate(r._mapping) for r in conn.execute(query)]


def _retirements(node: Node, keys: list[AgencyKeyRow], *, reason: str, now: int) -> list[Entry]:
    """The ledger's ``key.retire`` entries of ``keys``: what they signed before stays valid."""
    return [
        Entry(
            "key.retire",
            now,
            node.config.region,
            k.key_id,
            digest(k.statement),
            node.root_key_id,
            reason=reason,
        )
        for k in keys
    ]


def _mark_retired(conn: Connection, keys: list[AgencyKeyRow], now: int) -> None:
    """The rows of ``keys`` retired at ``now``, in the transaction of their entries."""
    for k in keys:
        conn.execute(
            update(_key)
            .where(_key.c.key_id == k.key_id, _key.c.status == "active")
            .values(status="retired", retired_at=now)
        )


def rotate_key(node: Node, code: str, *, now: int) -> AgencyKey:
    """A new signing key; the old one is retired: what it signed before stays valid."""
    row = agency(node, code)
    if row.status != "active":
        raise Forbidden(f"agency {code} is not active: it gets no new key")
    new = _certify_agency_key(node, code, agency_types(row), now)
    old = [k for k in agency_keys(node, code) if k.status == "active"]
    drafts = [node.key_add_entry(new.key_id, new.statement, now)]
    drafts += _retirements(node, old, reason="rotated", now=now)

    def record(conn: Connection, first: int) -> None:
        _mark_retired(conn, old, now)
        _insert_key(conn, new, now, first)

    try:
        node.append(drafts, also=record)
    except BaseException as e:
        node.discard_key(new.key_id, e)
        raise
    return new


@dataclass(frozen=True)
class Deactivated:
    """What deactivating an agency did: the keys retired, the credentials revoked."""

    code: str
    keys_retired: list[str]
    credentials_revoked: int

    def to_json(self) -> dict[str, object]:
        return {
            "code": self.code,
            "keys_retired": self.keys_retired,
            "credentials_revoked": self.credentials_revoked,
        }


def deactivate_agency(node: Node, code: str, *, reason: str, now: int) -> Deactivated:
    """Stop an agency acting (merged into another, dissolved): its active keys are retired,
    each with ``reason`` in the ledger, so what they signed stays valid and nothing signed
    after is; its API credentials are revoked; it issues, stamps and gets keys no more here.
    Its licenses and seals stay as they are, for the operator to change."""
    row = agency(node, code)
    if row.status != "active":
        raise InvalidInput(f"agency {code} is not active")
    reason = stated_reason(reason, missing="to deactivate an agency, give a reason")
    keys = [k for k in agency_keys(node, code) if k.status == "active"]
    drafts = _retirements(node, keys, reason=reason, now=now)
    revoked = 0

    def record(conn: Connection, first: int = 0) -> None:
        nonlocal revoked
        _mark_retired(conn, keys, now)
        done = conn.execute(
            update(_agency)
            .where(_agency.c.code == code, _agency.c.status == "active")
            .values(status="inactive")
        )
        if done.rowcount != 1:
            raise InvalidInput(f"agency {code} changed meanwhile: not deactivated")
        revoked = conn.execute(
            update(_cred)
            .where(_cred.c.agency_code == code, _cred.c.revoked_at.is_(None))
            .values(revoked_at=now)
        ).rowcount

    if drafts:
        node.append(drafts, also=record)
    else:  # no key to retire (all revoked): nothing for the ledger to record
        with node.sql.write_engine.begin() as conn:
            record(conn)
    return Deactivated(code, [k.key_id for k in keys], revoked)


def stated_reason(reason: str, *, missing: str | None = None) -> str:
    """A status change's reason, as the ledger records it and every window shows it: white
    space collapsed (a line break typed in a form is a space), at most
    :data:`~verifier.pipeline.MAX_REASON` characters, and no control or format (bidi)
    character. ``missing`` is the refusal when the change needs a reason."""
    reason = " ".join(reason.split())
    if missing is not None and not reason:
        raise InvalidInput(missing)
    if len(reason) > MAX_REASON:
        raise InvalidInput(f"the reason must be at most {MAX_REASON} characters")
    if not displayable(reason):
        raise InvalidInput("the reason must be plain text: no control or format (bidi) characters")
    if holds_identity_number(reason):
        raise InvalidInput(
            "the reason must not hold an identity number: the ledger keeps it for ever and "
            "shows it to every region; name the person otherwise (a case or file number)"
        )
    return reason


#: 18 characters that may be a resident identity number (17 digits and a digit or X), not
#: part of a longer run of digits.
_IDENTITY_LIKE = re.compile(r"(?<![0-9])[0-9]{17}[0-9X](?![0-9])")


#: Separators a number is written with between its groups of digits.
_BETWEEN_DIGITS = re.compile(r"(?<=[0-9])[\s\-‐‑–—._/·]+(?=[0-9X])")


def holds_identity_number(text: str) -> bool:
    """Whether ``text`` holds a valid resident identity number (check character and birth
    date right), written in full-width digits, or in groups spaced or joined by a dash, a
    dot, a slash or a middle dot, as well."""
    normal = unicodedata.normalize("NFKC", text).upper()
    joined = _BETWEEN_DIGITS.sub("", normal)  # 110105-19491231-002X, 110105 19491231 002X
    candidates = [
        *_IDENTITY_LIKE.findall(normal),
        *_IDENTITY_LIKE.findall("".join(normal.split())),
        *_IDENTITY_LIKE.findall(joined),
    ]
    for candidate in candidates:
        try:
            validate_identity_number(candidate)
        except InvalidIdentityNumber:
            continue
        return True
    return False


def revoke_key(node: Node, code: str, key_id: str, *, reason: str, now: int) -> None:
    """Revoke an agency key: documents it signed are no longer valid."""
    matches = [k for k in agency_keys(node, code) if k.key_id == key_id.lower()]
    if not matches:
        raise InvalidInput(f"agency {code} has no key {key_id}")
    key = matches[0]
    if key.status == "revoked":
        raise InvalidInput(f"key {key_id} is already revoked")
    reason = stated_reason(reason, missing="a revocation needs a reason")

    def record(conn: Connection, _first: int) -> None:
        conn.execute(
            update(_key).where(_key.c.key_id == key.key_id).values(status="revoked", revoked_at=now)
        )

    node.append(
        [
            Entry(
                "key.revoke",
                now,
                node.config.region,
                key.key_id,
                digest(key.statement),
                node.root_key_id,
                reason=reason,
            )
        ],
        also=record,
    )


def new_credential(
    node: Node, *, role: Literal["operator", "agency"], agency_code: str | None, now: int
) -> str:
    """Issue another API credential (printed once; stored hashed)."""
    if role == "agency" and agency(node, agency_code or "").status != "active":
        raise Forbidden(f"agency {agency_code} is not active: it gets no credential")
    with node.sql.write_engine.begin() as conn:
        return _new_credential(conn, role=role, agency_code=agency_code, now=now)


class UnknownCredential(InvalidInput):
    """No API credential with this id was issued here."""

    code = "unknown-credential"
    http_status = 404


_CREDENTIAL_ID = re.compile(r"(?:esk_)?([0-9a-f]{12})(?:\.[A-Za-z0-9_-]{43})?")


@dataclass(frozen=True)
class CredentialInfo:
    """What a node keeps of an API credential, its secret aside (held only as a hash)."""

    id: str
    role: str
    agency_code: str | None
    created_at: int
    revoked_at: int | None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _credential_info(row: Any) -> CredentialInfo:
    return CredentialInfo(row.id, row.role, row.agency_code, row.created_at, row.revoked_at)


def list_credentials(node: Node, agency_code: str | None = None) -> list[CredentialInfo]:
    """The API credentials issued here (of one agency, or with ``"operator"`` the
    operator's), oldest first: ids, whose, when issued and revoked; never a secret.
    :class:`UnknownAgency` for a code no agency has (a typo lists nothing otherwise)."""
    query = select(
        _cred.c.id, _cred.c.role, _cred.c.agency_code, _cred.c.created_at, _cred.c.revoked_at
    ).order_by(_cred.c.created_at, _cred.c.id)
    if agency_code == "operator":
        query = query.where(_cred.c.role == "operator")
    elif agency_code is not None:
        query = query.where(_cred.c.agency_code == agency_code)
    with node.sql.read_engine.connect() as conn:
        listed = [_credential_info(r) for r in conn.execute(query)]
    if not listed and agency_code not in (None, "operator"):
        agency(node, agency_code)  # refuses a code not registered
    return listed


def revoke_credential(node: Node, credential: str, *, now: int) -> CredentialInfo:
    """Revoke an API credential, named by its id (the 12 hex digits after ``esk_``), or
    given whole: from the next request on it authenticates nothing."""
    match = _CREDENTIAL_ID.fullmatch(credential.strip())
    if match is None:
        raise InvalidInput(
            "name the credential by its id: the 12 hex digits after esk_ (eseal agency "
            "credentials lists them)"
        )
    cid = match.group(1)
    with node.sql.write_engine.begin() as conn:
        row = conn.execute(select(_cred).where(_cred.c.id == cid)).first()
        if row is None:
            raise UnknownCredential(f"no API credential esk_{cid} was issued here")
        if row.revoked_at is not None:
            raise InvalidInput(f"the API credential esk_{cid} is already revoked")
        conn.execute(
            update(_cred)
            .where(_cred.c.id == cid, _cred.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        row = conn.execute(select(_cred).where(_cred.c.id == cid)).one()
    return _credential_info(row)


def authenticate(node: Node, token: str | None) -> Principal:
    """The principal behind an ``esk_…`` credential, or NotAuthenticated."""
    match = _TOKEN.fullmatch(token or "")
    if match is None:
        raise NotAuthenticated("a valid API credential is required (Authorization: Bearer esk_…)")
    cid, secret = match.groups()
    with node.sql.read_engine.connect() as conn:
        row = conn.execute(select(_cred).where(_cred.c.id == cid)).first()
    presented = hashlib.sha256(secret.encode()).digest()
    if (
        row is None
        or row.revoked_at is not None
        or not hmac.compare_digest(bytes(row.secret_hash), presented)
    ):
        raise NotAuthenticated("the API credential is not valid")
    if row.role == "operator":
        return OPERATOR
    return Principal("agency", row.agency_code)
