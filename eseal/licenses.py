"""Licenses: issue (one or in bulk), suspend, reinstate, revoke and the other status
changes, renew. Each act is a ledger entry committed with the license row it changes.

Status codes are the national platform's: 01 valid, 02 suspended, 03 withdrawn,
04 cancelled, 05 lapsed, 06 transferred out, 07 revoked.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from typing import Any, Final

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from eseal.agencies import (
    AgencyKey,
    AgencyKeyUnusable,
    Forbidden,
    Principal,
    active_key,
    agency,
    agency_types,
    holds_identity_number,
    stated_reason,
    still_active,
)
from eseal.catalog import LicenseType, load_catalog
from eseal.catalog_fields import ISO_DATE, FieldInvalid
from eseal.idempotency import IdempotencyKey, committed_with
from eseal.ids import (
    InvalidCreditCode,
    InvalidIdentityNumber,
    InvalidLicenseId,
    LicenseId,
    make_license_id,
    mask_identity_number,
    validate_credit_code,
    validate_identity_number,
)
from eseal.models import AgencyKeyRow, AgencyRow, LicenseRow, SealRow
from eseal.node import Node
from eseal.proofs import b64_hashes
from keys.errors import CheckFailed, EsealError, InvalidInput, shown
from ledger.entries import TRANSFER, Entry
from verifier.document import (
    SALT_SIZE,
    Holder,
    LicenseBody,
    LicenseClaims,
    decode,
    holder_id_argon2,
    sign_license,
)
from verifier.holder import compare
from verifier.trust import CENTRAL_REGION
from verifier.verdict import CODE_OF_STATUS_KIND, renewed_as

DAY = 86400
CST = timezone(timedelta(hours=8))
MAX_BATCH = 10_000
STATUS_NAMES = {
    "01": "有效 valid",
    "02": "暂停 suspended",
    "03": "撤回 withdrawn",
    "04": "注销 cancelled",
    "05": "失效 lapsed",
    "06": "转出 transferred out",
    "07": "撤销 revoked",
}
#: action → (ledger kind, statuses it may start from, needs a reason); the status each
#: kind records is the verifier's :data:`CODE_OF_STATUS_KIND`, which checks it online.
ACTIONS: dict[str, tuple[str, frozenset[str], bool]] = {
    "suspend": ("license.suspend", frozenset({"01"}), True),
    "reinstate": ("license.reinstate", frozenset({"02"}), False),
    "withdraw": ("license.withdraw", frozenset({"01", "02"}), True),
    "cancel": ("license.cancel", frozenset({"01", "02"}), True),
    "lapse": ("license.lapse", frozenset({"01", "02"}), False),
    "transfer": ("license.transfer", frozenset({"01"}), True),
    "revoke": ("license.revoke", frozenset({"01", "02"}), True),
}
_license = LicenseRow.__table__  # type: ignore[attr-defined]
_seal = SealRow.__table__  # type: ignore[attr-defined]
_agency = AgencyRow.__table__  # type: ignore[attr-defined]
_key = AgencyKeyRow.__table__  # type: ignore[attr-defined]


class UnknownLicense(InvalidInput):
    """No license with this id was issued here."""

    code = "unknown-license"
    http_status = 404


class TypeNotAuthorised(InvalidInput):
    """The agency is not authorised to issue this license type."""

    code = "type-not-authorised"
    http_status = 403


class BadTransition(InvalidInput):
    """The license's status does not allow this act (e.g. a second revocation)."""

    code = "bad-transition"
    http_status = 409


class UnknownNewLicense(InvalidInput):
    """A transfer names a license of this region (by an agency registered here) that was
    not issued here."""

    code = "unknown-new-license"
    http_status = 422


class NewLicenseNotInForce(InvalidInput):
    """A transfer names a license recorded here that is not in force."""

    code = "new-license-not-in-force"
    http_status = 422


class StatusChanged(CheckFailed):
    """The license changed while the act was being recorded; nothing was written."""

    code = "status-changed"
    http_status = 409


@dataclass(frozen=True)
class IssueRequest:
    """What an agency asks to issue (all from outside: validated by :func:`prepare`)."""

    type_code: str
    holder_name: str
    holder_id: str | None = None
    fields: Mapping[str, str] = field(default_factory=dict)
    valid_until: int | None = None  # Unix seconds (end of validity); None: the type's default


@dataclass(frozen=True)
class Issued:
    """The answer to an issuance: the document and where the ledger recorded it."""

    id: str
    qr_text: str
    ledger_index: int
    tree_size: int
    inclusion_proof: list[str]
    checkpoint: str
    expires: int | None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class _Prepared:
    row: dict[str, Any]
    entry: Entry


def day_end(d: date) -> int:
    """The last second of calendar day ``d`` in China Standard Time (23:59:59+08:00): a
    license valid until a day is valid all that day, as its face says."""
    return int(datetime(d.year, d.month, d.day, 23, 59, 59, tzinfo=CST).timestamp())


def end_of_day(text: str | None, what: str = "--valid-until") -> int | None:
    """``YYYY-MM-DD`` → the last second of that day, China Standard Time; ``what`` names
    where the text came from (an option, a CSV column) in the refusal."""
    if text is None:
        return None
    try:
        if not ISO_DATE.fullmatch(text.strip()):  # not 20311231 or 2031-W52-3, as the API
            raise ValueError(text)
        d = date.fromisoformat(text.strip())
    except ValueError as e:
        raise InvalidInput(f"{what} {text!r} is not a date: write it as YYYY-MM-DD") from e
    return day_end(d)


def default_expiry(now: int, validity_days: int) -> int:
    """A type's default end: the end of the day (China Standard Time) on which
    ``now + validity_days`` falls, so the day shown is the last day it verifies."""
    return day_end(datetime.fromtimestamp(now + validity_days * DAY, CST).date())


def _serial(now: int) -> str:
    """A unique serial: the issuance second (hex) and 40 random bits, 18 characters."""
    return f"{now:08X}{secrets.token_hex(5).upper()}"


#: Holder hashes (Argon2id, about 22 ms of one core and 19 MiB each) one process derives
#: at once while issuing: however many agencies issue batches of natural persons' licenses
#: at a time, their hashing takes at most this many cores. Issuance waits its turn (it is
#: the agency's own work, not a public request).
HASH_SLOTS: Final = 2
_hash_slots = threading.BoundedSemaphore(HASH_SLOTS)
_monotonic = time.monotonic


def hashed_holder(holder: Holder, number: str) -> Holder:
    """A natural person's ``holder`` with identity number ``number`` hashed as issued now: a
    fresh 16-byte salt ("is") and Argon2id ("ia"), at most :data:`HASH_SLOTS` at once."""
    salt = secrets.token_bytes(SALT_SIZE)
    with _hash_slots:
        digest = holder_id_argon2(number, salt)
    return replace(holder, id_hash=None, id_salt=salt, id_argon2=digest)


def _is_holders(holder: Holder, given: str) -> bool | None:
    """:func:`verifier.holder.compare` of an id given to the agency (a renewal's), in a
    :data:`HASH_SLOTS` slot as :func:`hashed_holder` derives: against an "ia" holder it costs
    one Argon2id derivation."""
    with _hash_slots:
        return compare(holder, given)


def _holder(
    ltype: LicenseType, name: str, holder_id: str | None
) -> tuple[Holder, str | None, str | None]:
    """The holder as the request gives it, but unhashed; the id as the license shows it; and
    a natural person's identity number, which :func:`hashed_holder` hashes once issuing."""
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("the holder name must be 1 to 100 characters")
    if not name.isprintable():  # the QR format holds printable text only (verifier.claims)
        raise InvalidInput(
            "the holder name holds a control character, a line or paragraph separator, or a "
            "space other than U+0020 (such as the ideographic space U+3000): a license holds "
            "printable text only"
        )
    if holds_identity_number(name):
        raise InvalidInput(f"the holder name holds a resident identity number: {_SHOWN_IN_CLEAR}")
    kind = ltype.holder_kind
    if holder_id is None or not holder_id.strip():
        return Holder(name=name, kind="L" if kind == "legal" else "N"), None, None
    needed = (
        "an organisation, whose id is its unified social credit code"
        if kind == "legal"
        else "a person, whose id is the resident identity number"
    )
    try:
        if kind == "legal":
            code = validate_credit_code(holder_id)
            return Holder(name=name, kind="L", id_display=code), code, None
        number = validate_identity_number(holder_id)
    except (InvalidCreditCode, InvalidIdentityNumber) as e:  # never echoing the number
        raise type(e)(f"holder id: a {ltype.name} is held by {needed}: {e.message}") from e
    masked = mask_identity_number(number)
    return Holder(name=name, kind="N", id_display=masked), masked, number


#: Why a holder name or a field may not hold an identity number (the refusals echo none).
_SHOWN_IN_CLEAR: Final = (
    "a license shows its holder name and fields in clear to whoever scans it, and this node "
    "keeps them; give a person's number only as the holder id, which the license carries "
    "masked and hashed"
)


def _refuse_identity_numbers(ltype: LicenseType, values: Mapping[str, str | int]) -> None:
    """Refuse field ``values`` of which one holds a resident identity number (a certificate
    numbered by its holder's, a representative's written in), naming the field, not the
    number."""
    for name, value in values.items():
        if isinstance(value, str) and holds_identity_number(value):
            raise FieldInvalid(
                f"field {name!r} ({ltype.field(name).label}) holds a resident identity "
                f"number: {_SHOWN_IN_CLEAR}"
            )


@dataclass(frozen=True)
class _Checked:
    license_type: LicenseType
    fields: dict[str, str | int]
    expires: int | None
    holder: Holder  # a natural person's not yet hashed: see identity_number
    holder_shown: str | None
    identity_number: str | None = field(default=None, repr=False)


def validate_request(
    node: Node,
    principal: Principal,
    agency_code: str,
    req: IssueRequest,
    *,
    now: int,
    owner: AgencyRow | None = None,
) -> _Checked:
    """Every check of a request that needs no signing: who may issue it, the type, the
    fields, the holder and the validity."""
    principal.require(agency_code)
    row = owner if owner is not None and owner.code == agency_code else agency(node, agency_code)
    if row.status != "active":
        raise Forbidden(f"agency {agency_code} is not active")
    ltype: LicenseType = load_catalog().get(req.type_code)
    if ltype.code not in agency_types(row):
        raise TypeNotAuthorised(f"agency {agency_code} may not issue {ltype.code} ({ltype.name})")
    values = ltype.validate_fields(req.fields)
    _refuse_identity_numbers(ltype, values)
    holder, shown, number = _holder(ltype, req.holder_name, req.holder_id)
    expires = req.valid_until
    if expires is None and ltype.validity_days:
        expires = default_expiry(now, ltype.validity_days)
    if expires is not None and expires <= now:
        last = datetime.fromtimestamp(expires, CST).date()
        raise InvalidInput(f"the license would already be expired: valid until {last} has passed")
    return _Checked(ltype, values, expires, holder, shown, number)


def prepare(
    node: Node,
    principal: Principal,
    agency_code: str,
    req: IssueRequest,
    *,
    now: int,
    key: AgencyKey | None = None,
    version: int = 1,
    serial: str | None = None,
    replaces: str | None = None,
    same_holder: tuple[Holder, str | None] | None = None,
    owner: AgencyRow | None = None,
    seal_id: str | None = None,
    checked: _Checked | None = None,
) -> _Prepared:
    """Validate, sign and encode one license; nothing is written yet. A batch passes the
    agency's ``owner`` row and ``key`` once instead of reading them per license, and the
    request as :func:`validate_request` ``checked`` it, its holder hashed as ``same_holder``.
    A renewal passes the old version's holder as ``same_holder``, kept as it is."""
    if checked is None:
        checked = validate_request(node, principal, agency_code, req, now=now, owner=owner)
    ltype, values, expires = checked.license_type, checked.fields, checked.expires
    if expires is not None and expires <= now:  # checked before its holder was hashed
        last = datetime.fromtimestamp(expires, CST).date()
        raise InvalidInput(f"the license would already be expired: valid until {last} has passed")
    if same_holder is not None:
        holder, shown = same_holder
    elif checked.identity_number is not None:
        holder = hashed_holder(checked.holder, checked.identity_number)
        shown = checked.holder_shown
    else:
        holder, shown = checked.holder, checked.holder_shown
    key = key or active_key(node, agency_code)
    license_id = str(make_license_id(ltype.code, agency_code, serial or _serial(now), version))
    claims = LicenseClaims(
        issuer=agency_code,
        issued_at=now,
        not_before=now,
        expires=expires,
        license_id=license_id,
        body=LicenseBody(
            type_code=ltype.code,
            region=node.config.region,
            version=version,
            holder=holder,
            fields=values,
            previous=replaces,
            seal_id=seal_id,
        ),
    )
    signed = sign_license(claims, node.signing_key(key.key_id, key.public_key))
    text, doc_digest = signed.text, signed.digest
    from eseal.render import QR_MAX_CHARS  # noqa: PLC0415 (rendering imports cost 40 ms)

    if len(text) > QR_MAX_CHARS:  # a license is scanned from its QR: one that cannot be is none
        raise InvalidInput(
            f"the license would be {len(text)} characters of QR text, more than a QR code holds"
            f" ({QR_MAX_CHARS}): shorten the holder name or the longest field values"
        )
    parsed_serial = license_id.split(".")[7]
    return _Prepared(
        row={
            "id": license_id,
            "type_code": ltype.code,
            "agency_code": agency_code,
            "serial": parsed_serial,
            "version": version,
            "holder_name": holder.name,
            "holder_id_display": shown,
            "fields": json.dumps(values, ensure_ascii=False),
            "status": "01",
            "issued_at": now,
            "not_before": now,
            "expires": expires,
            "key_id": key.key_id.hex(),
            "document": text,
            "digest": doc_digest,
            "replaces": replaces,
            "updated_at": now,
        },
        entry=Entry(
            "license.issue" if replaces is None else "license.renew",
            now,
            node.config.region,
            license_id,
            doc_digest,
            key.key_id,
            reason="" if replaces is None else f"renews {replaces}"[:256],
        ),
    )


def _still_acting(conn: Connection, agency_code: str, key_id: bytes) -> None:
    """In an act's transaction: refuse it if the agency was deactivated
    (:func:`~eseal.agencies.still_active`), or the key it signed with retired or revoked,
    since the act read them (a batch hashes its holders for seconds in between)."""
    still_active(conn, agency_code)
    key = conn.execute(select(_key.c.status).where(_key.c.key_id == key_id.hex())).scalar()
    if key != "active":
        raise AgencyKeyUnusable(
            f"agency {agency_code}'s key {key_id.hex()} was {key or 'removed'} while this act "
            "was being recorded; nothing was"
        )


def _proof(node: Node, index: int, size: int) -> list[str]:
    _, proof = node.log.inclusion_proof(index, size)
    return b64_hashes(proof)


#: The seals a license may show, most fitting first: the agency's official seal (公章),
#: else its administrative-approval seal. A contract or finance seal never goes on a license.
LICENSE_SEAL_TYPES = ("official", "approval")


def agency_seal(node: Node, agency_code: str) -> str | None:
    """The seal a license shows, if the agency has one fit for it (the oldest active seal
    of the first type in :data:`LICENSE_SEAL_TYPES`): windows and printed licenses display
    its image."""
    with node.sql.read_engine.connect() as conn:
        rows = conn.execute(
            select(_seal.c.id, _seal.c.seal_type)
            .where(
                _seal.c.agency_code == agency_code,
                _seal.c.status == "active",
                _seal.c.seal_type.in_(LICENSE_SEAL_TYPES),
            )
            .order_by(_seal.c.created_at, _seal.c.id)
        ).all()
    ranked = sorted(rows, key=lambda row: LICENSE_SEAL_TYPES.index(row.seal_type))
    return str(ranked[0].id) if ranked else None


def issue_many(
    node: Node,
    principal: Principal,
    agency_code: str,
    requests: Sequence[IssueRequest],
    *,
    now: int,
    with_proofs: bool = True,
    before_recording: Callable[[list[tuple[str, str]]], None] | None = None,
    idempotency: IdempotencyKey | None = None,
) -> list[Issued]:
    """Issue a batch in one durable transaction: all or none. ``before_recording`` is
    given each license's (id, QR text) once they are made and before the transaction, so
    that a caller can note what it may find recorded if it is killed meanwhile. With
    ``idempotency``, the request's key is recorded in the same transaction, with the
    licenses' ids (:func:`issued_again` makes the answer again from them)."""
    if not requests:
        raise InvalidInput("nothing to issue")
    if len(requests) > MAX_BATCH:
        raise InvalidInput(f"at most {MAX_BATCH} licenses a batch")
    principal.require(agency_code)
    owner = agency(node, agency_code)
    if owner.status != "active":  # before its key: a deactivated agency has none
        raise Forbidden(f"agency {agency_code} is not active")
    key = active_key(node, agency_code)
    seal_id = agency_seal(node, agency_code)
    # Every request checked and every natural person's holder hashed (Argon2id, 22 ms each,
    # a slot of HASH_SLOTS waited for) before any is signed: the licenses are dated by when
    # they are signed, that time later, so that the time from signing to commit stays what
    # the revocation snapshot's margin allows (eseal.trust_export.SNAPSHOT_MARGIN).
    checked: list[tuple[_Checked, tuple[Holder, str | None] | None]] = []
    hashing = 0.0
    for i, r in enumerate(requests):
        try:
            c = validate_request(node, principal, agency_code, r, now=now, owner=owner)
        except EsealError as e:
            e.item = i
            raise
        holder = None
        if c.identity_number is not None:
            started = _monotonic()
            holder = (hashed_holder(c.holder, c.identity_number), c.holder_shown)
            hashing += _monotonic() - started
        checked.append((c, holder))
    now += int(hashing)
    prepared = []
    for i, (r, (c, holder)) in enumerate(zip(requests, checked, strict=True)):
        try:
            prepared.append(
                prepare(
                    node,
                    principal,
                    agency_code,
                    r,
                    now=now,
                    key=key,
                    owner=owner,
                    seal_id=seal_id,
                    checked=c,
                    same_holder=holder,
                )
            )
        except EsealError as e:
            e.item = i
            raise

    def record(conn: Connection, first: int) -> None:
        _still_acting(conn, agency_code, key.key_id)
        conn.execute(
            insert(_license),
            [{**p.row, "ledger_index": first + i} for i, p in enumerate(prepared)],
        )
        if idempotency is not None:
            ids = [p.row["id"] for p in prepared]
            idempotency.record(conn, {"ids": ids}, ledger_last=first + len(prepared) - 1)

    if before_recording is not None:
        before_recording([(p.row["id"], p.row["document"]) for p in prepared])
    appended = node.append([p.entry for p in prepared], also=record)
    first = appended.first_index
    proofs = (
        node.log.inclusion_proofs(range(first, first + len(prepared)), appended.size)
        if with_proofs
        else [[] for _ in prepared]
    )
    return [
        Issued(
            id=p.row["id"],
            qr_text=p.row["document"],
            ledger_index=first + i,
            tree_size=appended.size,
            inclusion_proof=b64_hashes(proofs[i]),
            checkpoint=appended.checkpoint,
            expires=p.row["expires"],
        )
        for i, p in enumerate(prepared)
    ]


def issued_again(node: Node, ids: Sequence[str], ledger_last: int) -> list[Issued]:
    """The answer :func:`issue_many` gave when it issued ``ids`` in the append whose last
    entry is ``ledger_last``: the same documents, proved against the same checkpoint."""
    with node.sql.read_engine.connect() as conn:
        rows = {
            r.id: r
            for r in conn.execute(
                select(
                    _license.c.id, _license.c.document, _license.c.ledger_index, _license.c.expires
                ).where(_license.c.id.in_(list(ids)))
            )
        }
    size, checkpoint = committed_with(node, ledger_last)
    indexes = [int(rows[i].ledger_index) for i in ids]
    proofs = node.log.inclusion_proofs(indexes, size)
    return [
        Issued(
            id=i,
            qr_text=rows[i].document,
            ledger_index=index,
            tree_size=size,
            inclusion_proof=b64_hashes(proof),
            checkpoint=checkpoint,
            expires=rows[i].expires,
        )
        for i, index, proof in zip(ids, indexes, proofs, strict=True)
    ]


def issue(
    node: Node, principal: Principal, agency_code: str, req: IssueRequest, *, now: int
) -> Issued:
    return issue_many(node, principal, agency_code, [req], now=now)[0]


def get_license(node: Node, license_id: str) -> LicenseRow:
    with node.sql.read_engine.connect() as conn:
        row = conn.execute(select(_license).where(_license.c.id == license_id)).first()
    if row is None:
        # One that is no license id is refused naming its flaw (as the API's 400
        # invalid-license-id), not said never to have been issued; parsed only here, so a
        # caller that has parsed it (the API, the CLI) pays nothing on the way to a row.
        LicenseId.parse(license_id)
        raise UnknownLicense(f"no license {license_id} was issued here")
    return LicenseRow.model_validate(row._mapping)


def _cas_status(
    conn: Connection,
    license_id: str,
    *,
    old: str,
    new: str,
    now: int,
    reason: str | None,
    index: int,
    replaced_by: str | None = None,
) -> None:
    """Move a license from status ``old`` to ``new``, recorded by the ledger entry at
    ``index`` (which a status answer proves); raises StatusChanged if it moved meanwhile."""
    values: dict[str, Any] = {
        "status": new,
        "updated_at": now,
        "status_reason": reason,
        "status_index": index,
    }
    if replaced_by is not None:
        values["replaced_by"] = replaced_by
    moved = conn.execute(
        update(_license)
        .where(_license.c.id == license_id, _license.c.status == old)
        .values(**values)
    )
    if moved.rowcount != 1:
        raise StatusChanged(f"license {license_id} changed meanwhile; nothing was recorded")


def _transfer_target(license_id: str, kind: str, to: str | None) -> LicenseId | None:
    """The new license a status change of ``kind`` names, checked for form: required of a
    transfer (a license id, not ``license_id`` itself, no identity number for a serial),
    refused on any other change."""
    if kind != TRANSFER:
        if to is not None:
            raise InvalidInput(
                "only a transfer names the license that replaces it: give no new license id"
            )
        return None
    if not to:
        raise InvalidInput("to transfer a license, give the id of the license that replaces it")
    try:
        target = LicenseId.parse(to)
    except InvalidLicenseId as e:
        raise InvalidLicenseId(f"the new license {shown(to, 140)}: {e.message}") from e
    if to == license_id:
        raise InvalidInput(f"license {license_id} cannot be transferred to itself")
    # Another region may number a person's certificates by their identity number; the
    # ledger entry that records this id is kept for ever and read by every region.
    if holds_identity_number(target.serial):
        raise InvalidInput(
            "the new license's serial must not hold an identity number: the ledger keeps it "
            "for ever and shows it to every region"
        )
    return target


def _successor_row(conn: Connection, target: LicenseId, *, lock: bool) -> LicenseRow | None:
    """The row of a transfer's new license, if recorded here; with ``lock``, read as a
    write would (PostgreSQL: ``FOR UPDATE``; SQLite's write transaction holds the whole
    database already), so that no status change of it commits until the transfer does."""
    query = select(_license).where(_license.c.id == str(target))
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).first()
    return None if row is None else LicenseRow.model_validate(row._mapping)


def _issued_here(conn: Connection, target: LicenseId, *, region: str) -> bool:
    """Whether a transfer's new license can only be one this node issued: its issuer is an
    agency registered here (deactivated since or not), or its issuer code is this region's
    own code; not a central-government agency, which other regions may register too. An
    agency's credit code says only its province (a node registers agencies of its whole
    province, verifier.trust.agency_of_region), and a province may have several nodes (a
    city's, a county's), so another agency of this province is another region's as far as
    this node can tell."""
    code = target.issuer_code
    if code == region:
        return True
    if target.issuer_region == CENTRAL_REGION:
        return False
    return conn.execute(select(_agency.c.code).where(_agency.c.code == code)).first() is not None


def _check_successor(
    row: LicenseRow | None, target: LicenseId, *, ours: bool, region: str, now: int
) -> None:
    """A transfer's new license, as far as this node can tell from its ``row`` (None: not
    recorded here). One recorded here must be in force at ``now``, since the holder is sent
    to it: valid (01; not suspended, withdrawn, cancelled, lapsed, renewed, transferred or
    revoked) and not past its last day (a verifier would call it expired). One of this
    region (``ours``: :func:`_issued_here`) must be one issued here. Another region's (a
    business moving its registration elsewhere) cannot be checked here; nor can a
    central-government agency's that is not recorded here, which may be registered in any
    region."""
    if row is None:
        if ours:
            raise UnknownNewLicense(
                f"the new license {target} is of this region ({region}) but was not issued here"
            )
        return
    if row.status != "01":
        replaced = f", replaced by {row.replaced_by}" if row.replaced_by else ""
        raise NewLicenseNotInForce(
            f"the new license {target} is {row.status} {STATUS_NAMES[row.status]}{replaced}: "
            "a transfer names a license in force"
        )
    if row.expires is not None and now > row.expires:
        last = datetime.fromtimestamp(row.expires, CST).date()
        raise NewLicenseNotInForce(
            f"the new license {target} has expired (valid until {last}): a transfer names a "
            "license in force"
        )


def change_status(
    node: Node,
    principal: Principal,
    license_id: str,
    action: str,
    *,
    reason: str = "",
    to: str | None = None,
    now: int,
) -> LicenseRow:
    """Suspend, reinstate, withdraw, cancel, lapse, transfer or revoke a license. A transfer
    names the license that replaces it (``to``), which the ledger entry records."""
    if action not in ACTIONS:
        raise InvalidInput(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    kind, allowed, needs_reason = ACTIONS[action]
    new = CODE_OF_STATUS_KIND[kind]
    target = _transfer_target(license_id, kind, to)
    successor = str(target) if target is not None else None
    row = get_license(node, license_id)
    principal.require(row.agency_code)
    reason = stated_reason(
        reason, missing=f"to {action} a license, give a reason" if needs_reason else None
    )
    if row.status not in allowed:
        raise BadTransition(
            f"license {license_id} is {STATUS_NAMES[row.status]}: {action} is not allowed"
            + _replaced_by(row)
        )
    region = node.config.region
    if target is not None:
        # Before the append too: a refusal inside it makes a group commit retry its batch's
        # other acts one by one; here, most refusals come cheaply.
        with node.sql.read_engine.connect() as conn:
            found = _successor_row(conn, target, lock=False)
            ours = _issued_here(conn, target, region=region)
        _check_successor(found, target, ours=ours, region=region, now=now)
    acting = (
        active_key(node, row.agency_code).key_id if principal.role == "agency" else node.root_key_id
    )
    entry = Entry(
        kind,
        now,
        node.config.region,
        license_id,
        bytes(row.digest),
        acting,
        reason=reason,
        to=successor or "",
    )

    def record(conn: Connection, first: int) -> None:
        if principal.role == "agency":  # the operator acts with the region's root key
            _still_acting(conn, row.agency_code, acting)
        if target is not None:
            # Again in the write's transaction: the new license may have been suspended,
            # revoked… since the check above. Appends are serialised (the ledger head is
            # locked first), and its row is locked too, so no change of it can slip between
            # this check and the commit.
            found = _successor_row(conn, target, lock=True)
            ours = _issued_here(conn, target, region=region)
            _check_successor(found, target, ours=ours, region=region, now=now)
        _cas_status(
            conn,
            license_id,
            old=row.status,
            new=new,
            now=now,
            reason=reason or None,
            index=first,
            replaced_by=successor,
        )

    node.append([entry], also=record)
    return get_license(node, license_id)


def _replaced_by(row: LicenseRow, lead: str = "; ") -> str:
    """What a refusal of an act on ``row`` adds when a license replaced it (its renewal, a
    transfer's new license): the license to act on now."""
    return f"{lead}it was replaced by {row.replaced_by}" if row.replaced_by else ""


class HolderIdNotMatched(InvalidInput):
    """A renewal was given a holder id that is not the license holder's, or the license
    carries none to check it against. Its message never names the id."""

    code = "holder-id-not-matched"
    http_status = 422


def renewed_holder(
    holder: Holder, shown: str | None, holder_id: str | None
) -> tuple[Holder, str | None]:
    """The holder of a renewal, and its id as shown: without ``holder_id``, the old
    version's as it is (a license issued with the legacy SHA-256 hash, "ih", keeps it, since
    the number is not at hand to hash again). With it, the id must be the holder's by the
    old version's own id or hash (:func:`_is_holders`): a natural person's is
    then masked and hashed as issued now (Argon2id, "ia"); a legal person's stays as it is."""
    if holder_id is None or not holder_id.strip():
        return holder, shown
    try:
        given = (
            validate_identity_number(holder_id)
            if holder.kind == "N"
            else validate_credit_code(holder_id)
        )
    except (InvalidCreditCode, InvalidIdentityNumber) as e:  # never echoing the number
        raise type(e)(f"holder id: {e.message}") from e
    same = _is_holders(holder, given)
    if same is None:
        raise HolderIdNotMatched(
            "the license carries no id of its holder to check the holder id against: a "
            "renewal keeps its holder; issue a new license to add one"
        )
    if not same:
        raise HolderIdNotMatched(
            "the holder id is not this license holder's: a renewal keeps its holder"
        )
    if holder.kind == "L":
        return holder, shown
    masked = mask_identity_number(given)
    return hashed_holder(Holder(holder.name, "N", masked), given), masked


def renew(
    node: Node,
    principal: Principal,
    license_id: str,
    *,
    now: int,
    valid_until: int | None = None,
    fields: Mapping[str, str] | None = None,
    holder_id: str | None = None,
) -> Issued:
    """Issue the next version of a license (same serial) and let the old one lapse. The new
    version keeps the old one's holder as it is, hashed id number included, unless
    ``holder_id`` gives the holder's id again (:func:`renewed_holder`)."""
    old = get_license(node, license_id)
    principal.require(old.agency_code)
    lapse_kind, _, _ = ACTIONS["lapse"]
    if old.status == "02":
        # Its successor would be valid: a renewal would end the suspension unrecorded.
        raise BadTransition(
            f"license {license_id} is {STATUS_NAMES[old.status]}; renew refused: reinstate "
            "it first, if the suspension is over"
        )
    if old.status != "01":
        raise BadTransition(
            f"license {license_id} is {STATUS_NAMES[old.status]}; renew refused"
            + _replaced_by(old, ": ")
        )
    if old.version >= 999:
        raise BadTransition("license version 999 cannot be renewed")
    merged = {**json.loads(old.fields), **(fields or {})}
    req = IssueRequest(
        type_code=old.type_code,
        holder_name=old.holder_name,
        fields={k: str(v) for k, v in merged.items()},
        valid_until=valid_until,
    )
    old_doc = decode(old.document).claims
    assert isinstance(old_doc, LicenseClaims)  # noqa: S101 (we wrote it as a license)
    prepared = prepare(
        node,
        principal,
        old.agency_code,
        req,
        now=now,
        version=old.version + 1,
        serial=old.serial,
        replaces=license_id,
        same_holder=renewed_holder(old_doc.body.holder, old.holder_id_display, holder_id),
        seal_id=agency_seal(node, old.agency_code),
    )
    # The same reason in the ledger and the row, so every status answer says the same.
    reason = renewed_as(prepared.row["id"])
    lapse = Entry(
        lapse_kind,
        now,
        node.config.region,
        license_id,
        bytes(old.digest),
        prepared.entry.key_id,
        reason=reason,
    )

    def record(conn: Connection, first: int) -> None:
        _still_acting(conn, old.agency_code, prepared.entry.key_id)
        _cas_status(
            conn,
            license_id,
            old=old.status,
            new=CODE_OF_STATUS_KIND[lapse_kind],
            now=now,
            reason=reason,
            index=first + 1,  # the lapse, after the new version's issuance
            replaced_by=prepared.row["id"],
        )
        conn.execute(insert(_license).values(**prepared.row, ledger_index=first))

    appended = node.append([prepared.entry, lapse], also=record)
    return Issued(
        id=prepared.row["id"],
        qr_text=prepared.row["document"],
        ledger_index=appended.first_index,
        tree_size=appended.size,
        inclusion_proof=_proof(node, appended.first_index, appended.size),
        checkpoint=appended.checkpoint,
        expires=prepared.row["expires"],
    )
