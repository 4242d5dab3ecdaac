"""Licenses over HTTP: issue (one or a batch), change status, renew — agency credential."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, HTTPException, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from eseal.agencies import AgencyKeyUnusable, UnknownAgency
from eseal.api.deps import (
    CUT_PROBLEMS,
    KEYS_LOCKED,
    LEDGER_WRITE,
    SIGNING_KEY_UNUSABLE,
    STATUS_UNRECORDED,
    STORE_UNAVAILABLE,
    Cause,
    CurrentPrincipal,
    CutSizeQuery,
    JsonBody,
    LicenseIdPath,
    LiveAnswer,
    NodeDep,
    PlainDate,
    WitnessedQuery,
    acting_agency,
    agency_problems,
    malformed_id,
    public_problems,
)
from eseal.api.idempotent import (
    IDEMPOTENCY_PROBLEMS,
    IdempotencyKeyHeader,
    idempotency_key,
    once,
)
from eseal.api.problem_types import INVALID_REQUEST
from eseal.catalog import UnknownLicenseType
from eseal.catalog_fields import FieldInvalid
from eseal.ids import InvalidCreditCode, InvalidIdentityNumber, InvalidLicenseId
from eseal.licenses import (
    ACTIONS,
    BadTransition,
    HolderIdNotMatched,
    Issued,
    IssueRequest,
    NewLicenseNotInForce,
    StatusChanged,
    TypeNotAuthorised,
    UnknownLicense,
    UnknownNewLicense,
    change_status,
    day_end,
    get_license,
    issue_many,
    issued_again,
    renew,
)
from eseal.proofs import ProvedStatus, proved_status
from eseal.status_index import with_status_index
from keys.errors import InvalidInput

router = APIRouter(prefix="/v1/licenses", tags=["licenses"])
MAX_API_BATCH = 1000
Action = Literal["suspend", "reinstate", "withdraw", "cancel", "transfer", "revoke"]
#: The actions that need a reason, and those that do not, as the core holds them to.
NEEDS_REASON = tuple(a for a in get_args(Action) if ACTIONS[a][2])
NO_REASON = tuple(a for a in get_args(Action) if not ACTIONS[a][2])
#: The rule, as the document says it on the field, the action and the operation.
REASON_RULE = (
    f"A reason is required for {', '.join(NEEDS_REASON)} (every action but "
    f"{' and '.join(NO_REASON)}): without one (left out, empty or only white space) the "
    "change is refused, 400 invalid-input, and nothing is recorded. A "
    f"{' or '.join(NO_REASON)} may give one, or leave it out, body and all."
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HolderIn(Strict):
    name: str = Field(
        min_length=1,
        max_length=100,
        description="The holder's name as the license shows it: a person's, or an organisation's.",
    )
    id: str | None = Field(
        default=None,
        max_length=32,
        description="The holder's id, optional: of a type held by an organisation (holder_kind "
        "legal), its unified social credit code, which the license shows; of one held by a "
        "person (natural), the resident identity number, which the license carries only "
        "masked, with a salted hash that a window compares with the id presented. Another "
        "kind of number is a 400 (invalid-credit-code, invalid-identity-number).",
    )


#: A license's ``expires`` as its answers describe it.
EXPIRES_DESCRIPTION = (
    "The end of its validity, Unix seconds (23:59:59 China Standard Time of its last valid "
    "day); null: no end (长期)."
)


class IssueIn(Strict):
    agency: str | None = Field(
        default=None, max_length=18, description="Issuing agency (operator credentials only)"
    )
    type: str = Field(
        min_length=21,
        max_length=21,
        description="The license type's code, 21 characters (the defining ministry's credit "
        "code and 3 digits), e.g. 111000000000PH001J001 营业执照: one the agency may issue "
        "(otherwise 403 type-not-authorised). GET /v1/license-types lists the catalogue, as "
        "`eseal license types` does.",
    )
    holder: HolderIn = Field(description="Who holds the license.")
    fields: dict[Annotated[str, Field(max_length=32)], Annotated[str, Field(max_length=2000)]] = (
        Field(
            default_factory=dict,
            max_length=40,
            description="The type's fields by name, each value a string (a date YYYY-MM-DD, "
            "an enum one of its choices). GET /v1/license-types/{code} (or `eseal license "
            "types`) lists each type's fields "
            "with their Chinese labels, kinds and whether required; a missing required "
            "field, an unknown one or a malformed value is a 400 field-invalid naming each, "
            "and the fields the type has.",
        )
    )
    valid_until: PlainDate | None = Field(
        default=None,
        description="The last valid day, YYYY-MM-DD (valid all that day, China Standard "
        "Time), not one gone by. Left out: the type's usual validity counted from today "
        "(validity_days in GET /v1/license-types/{code}), or no end (长期) for a type "
        "without one.",
    )


class BatchIn(Strict):
    agency: str | None = Field(
        default=None,
        max_length=18,
        description="Issuing agency (operator credentials only); an item naming its own "
        "must name this one.",
    )
    items: list[IssueIn] = Field(
        min_length=1,
        max_length=MAX_API_BATCH,
        description=f"1 to {MAX_API_BATCH} licenses, issued in one transaction: all, or none "
        "if any is refused.",
    )


class IssuedOut(BaseModel):
    id: str = Field(description="The license id, 1.2.156.3005.2.…")
    qr_text: str = Field(
        description="The license as its QR code holds it (EL1:…): print or show this."
    )
    ledger_index: int = Field(description="The index of its issuance entry in the ledger.")
    tree_size: int = Field(description="The ledger's size at the checkpoint it is proved in.")
    inclusion_proof: list[str] = Field(
        description="RFC 9162 inclusion proof of the issuance entry in that checkpoint's "
        "tree (standard base64 hashes)."
    )
    checkpoint: str = Field(description="The signed checkpoint (C2SP signed note).")
    expires: int | None = Field(description=EXPIRES_DESCRIPTION)


class StatusIn(Strict):
    reason: str = Field(
        default="",
        max_length=256,
        description="Why, as every window will read it: public and kept in the ledger for "
        "ever (white space collapsed; one holding a resident identity number, or a control "
        f"character, is refused). {REASON_RULE}",
    )
    to: str | None = Field(
        default=None,
        max_length=128,
        description="A transfer's new license: the id of the license that replaces this one "
        "(perhaps of another region; one recorded here must be in force, or the transfer is "
        "refused: new-license-not-in-force). Required for a transfer, refused on the other "
        "actions.",
    )


class RenewIn(Strict):
    valid_until: PlainDate | None = Field(
        default=None,
        description="The new version's last valid day, YYYY-MM-DD. Left out: the type's usual "
        "validity from today, or no end for a type without one (not the old version's day).",
    )
    fields: dict[Annotated[str, Field(max_length=32)], Annotated[str, Field(max_length=2000)]] = (
        Field(
            default_factory=dict,
            max_length=40,
            description="The fields that change, by name; the others are kept from the old "
            "version, as are the type and the holder.",
        )
    )
    holder_id: str | None = Field(
        default=None,
        max_length=32,
        description="Optional: the holder's id again (a person's resident identity number, an "
        "organisation's credit code), checked against the old version's (422 "
        "holder-id-not-matched if it is not the holder's, or the license carries none). A "
        "person's is then masked and hashed as issued now (Argon2id, holder key ia): how a "
        "license issued with the legacy hash (ih) moves to the new form. Left out, the "
        "holder is kept as it is.",
    )


class LicenseOut(BaseModel):
    id: str = Field(description="The license id.")
    type_code: str = Field(description="The license type's code.")
    agency_code: str = Field(description="The issuing agency's credit code.")
    version: int = Field(description="Its version: 1, then one more with each renewal.")
    status: str = Field(
        description="01 valid, 02 suspended, 03 withdrawn, 04 cancelled, 05 lapsed (renewed), "
        "06 transferred out, 07 revoked."
    )
    issued_at: int = Field(description="When it was issued, Unix seconds.")
    expires: int | None = Field(description=EXPIRES_DESCRIPTION)
    ledger_index: int = Field(description="The index of its issuance entry in the ledger.")
    replaces: str | None = Field(description="The version it renewed, if any.")
    replaced_by: str | None = Field(
        description="The license that replaced it: its renewal, or a transfer's new license."
    )
    status_reason: str | None = Field(description="The reason of its latest status change.")
    qr_text: str = Field(description="The license as its QR code holds it (EL1:…).")


#: The agency cannot sign.
KEY_UNUSABLE: Cause = (
    AgencyKeyUnusable,
    "the agency has no active signing key: revoked without a rotation",
)
#: The problems of a license's type, fields and validity, as issuing and renewing check them.
_LICENSE_VALUES: tuple[Cause, ...] = (
    (
        FieldInvalid,
        "a required field missing, a field the type has not, or a value malformed for its "
        "kind; each named, with the fields the type has, as GET /v1/license-types/{code} "
        "lists them; or a value holding a resident identity number (a person's goes only "
        "in holder.id)",
    ),
    (
        InvalidInput,
        "valid_until a day gone by; a license too long for its QR code: shorten the holder "
        "name or the longest field values",
    ),
    (TypeNotAuthorised, "the agency may not issue the license's type"),
    KEY_UNUSABLE,
)
#: The problems of issuing one license or a batch.
_ISSUE_PROBLEMS: tuple[Cause, ...] = (
    (
        UnknownLicenseType,
        "no type in the catalogue has this code; GET /v1/license-types lists them",
    ),
    (
        InvalidCreditCode,
        "the holder id of a type held by an organisation is no unified social credit code",
    ),
    (
        InvalidIdentityNumber,
        "the holder id of a type held by a person is no resident identity number",
    ),
    (
        InvalidInput,
        "the holder's name blank, or holding a resident identity number; the operator's "
        "credential naming no agency",
    ),
    *_LICENSE_VALUES,
    (UnknownAgency, "the operator names an agency not registered here"),
    *IDEMPOTENCY_PROBLEMS,
)


def _request(item: IssueIn) -> IssueRequest:
    until = day_end(item.valid_until) if item.valid_until else None
    return IssueRequest(item.type, item.holder.name, item.holder.id, item.fields, until)


def _out(issued: Issued) -> IssuedOut:
    return IssuedOut(**issued.to_json())


@router.post(
    "",
    status_code=201,
    dependencies=[JsonBody],
    responses=agency_problems(*_ISSUE_PROBLEMS, KEYS_LOCKED, SIGNING_KEY_UNUSABLE, *LEDGER_WRITE),
)
def issue_license(
    *,
    body: IssueIn,
    request: Request,
    response: Response,
    node: NodeDep,
    principal: CurrentPrincipal,
    idempotency: IdempotencyKeyHeader = None,
) -> IssuedOut:
    """Issue one license; the answer carries the QR text, its ledger index, an inclusion
    proof and the signed checkpoint it is proved against."""
    now = int(time.time())
    key = idempotency_key(
        node,
        principal,
        request,
        "license.issue",
        header=idempotency,
        content=lambda: body.model_dump(mode="json"),
        now=now,
    )
    agency = acting_agency(principal, body.agency)
    return once(
        node,
        key,
        response,
        lambda: _out(
            issue_many(node, principal, agency, [_request(body)], now=now, idempotency=key)[0]
        ),
        lambda recorded: _out(
            issued_again(node, recorded.response["ids"], recorded.ledger_last)[0]
        ),
    )


@router.post(
    "/batch",
    status_code=201,
    dependencies=[JsonBody],
    responses=agency_problems(
        *_ISSUE_PROBLEMS,
        (InvalidInput, "an item naming another agency than the batch's"),
        KEYS_LOCKED,
        SIGNING_KEY_UNUSABLE,
        *LEDGER_WRITE,
    ),
)
def issue_batch(
    *,
    body: BatchIn,
    request: Request,
    response: Response,
    node: NodeDep,
    principal: CurrentPrincipal,
    idempotency: IdempotencyKeyHeader = None,
) -> list[IssuedOut]:
    """Issue up to 1000 licenses in one durable transaction: all or none."""
    now = int(time.time())
    key = idempotency_key(
        node,
        principal,
        request,
        "license.batch",
        header=idempotency,
        content=lambda: body.model_dump(mode="json"),
        now=now,
    )
    agency = acting_agency(principal, body.agency)
    for item in body.items:
        if item.agency not in (None, agency):
            raise InvalidInput("every item of a batch must be for the batch's agency")
    requests = [_request(i) for i in body.items]
    return once(
        node,
        key,
        response,
        lambda: [
            _out(i) for i in issue_many(node, principal, agency, requests, now=now, idempotency=key)
        ],
        lambda recorded: [
            _out(i) for i in issued_again(node, recorded.response["ids"], recorded.ledger_last)
        ],
    )


class StatusOut(ProvedStatus):
    id: str = Field(description="The license id.")
    status: str = Field(
        description="01 valid, 02 suspended, 03 withdrawn, 04 cancelled, 05 lapsed, 06 "
        "transferred out, 07 revoked; any but 01 (and 01 after a reinstatement) is recorded by "
        "the entry at status_index.",
        json_schema_extra={"enum": ["01", "02", "03", "04", "05", "06", "07"]},
    )
    as_of: int = Field(description="Unix time (seconds) of the answer, by the node's clock.")
    replaced_by: str | None = Field(
        description="The license that replaced it: a transfer's (the status entry's to), or "
        "a renewal's (its lapse entry's reason names it); null otherwise."
    )
    #: When the status last changed and the agency's reason: public, as the ledger's status
    #: entry records them (absent while the license is valid).
    status_since: int | None = Field(
        default=None, description="Unix time (seconds) of the latest status change."
    )
    status_reason: str | None = Field(
        default=None, description="The agency's reason for it, as its entry records it."
    )


@router.api_route("/batch", methods=["GET", "PUT", "PATCH", "DELETE"], include_in_schema=False)
def batch_is_post_only() -> None:
    """Other methods on the batch: 405, not a license whose id would be "batch"."""
    raise HTTPException(405, "a batch is issued with POST", headers={"Allow": "POST"})


#: A license this node does not know: the region never recorded it (a verifier believes that
#: only of the license's own region's node, and only with this problem: a 404 of a proxy
#: routing elsewhere says nothing).
UNKNOWN_LICENSE: Cause = (
    UnknownLicense,
    "no license with this id was recorded in this region's ledger",
)
#: The problems of an act on a recorded license, besides its body's.
_LICENSE_ACT: tuple[Cause, ...] = (
    malformed_id("license"),
    UNKNOWN_LICENSE,
    (StatusChanged, "the license changed while the act was recorded; nothing was"),
    KEY_UNUSABLE,
    KEYS_LOCKED,
    *LEDGER_WRITE,
)


@router.get(
    "/{license_id}/status",
    dependencies=[LiveAnswer],
    responses=STATUS_UNRECORDED
    | public_problems(malformed_id("license"), UNKNOWN_LICENSE, *CUT_PROBLEMS, STORE_UNAVAILABLE),
)
def license_status(
    license_id: LicenseIdPath, node: NodeDep, witnessed: WitnessedQuery, at: CutSizeQuery
) -> StatusOut:
    """Public: the live status (01 valid … 07 revoked) with the issuance entry, the entry
    of the latest status change, their inclusion proofs and the signed checkpoint, so the
    asker can check the ledger itself."""
    row, index = with_status_index(node, "license", lambda: get_license(node, license_id))
    changed = row.status != "01"
    return StatusOut(
        id=row.id,
        status=row.status,
        as_of=int(time.time()),
        replaced_by=row.replaced_by,
        status_since=row.updated_at if changed else None,
        status_reason=row.status_reason if changed else None,
        **proved_status(node, row.ledger_index, index, witnessed=witnessed, at=at).model_dump(),
    )


@router.get(
    "/{license_id}",
    dependencies=[LiveAnswer],
    responses=agency_problems(malformed_id("license"), UNKNOWN_LICENSE, body=None),
)
def read_license(
    principal: CurrentPrincipal, license_id: LicenseIdPath, node: NodeDep
) -> LicenseOut:
    """A license as stored here (its issuing agency or the operator)."""
    row = get_license(node, license_id)
    principal.require(row.agency_code)
    data: dict[str, Any] = row.model_dump()
    return LicenseOut(**data, qr_text=row.document)


@router.post(
    "/{license_id}/renew",
    status_code=201,
    dependencies=[JsonBody],
    responses=agency_problems(
        *_LICENSE_ACT,
        SIGNING_KEY_UNUSABLE,
        (
            BadTransition,
            "the license is not valid, 01: suspended, to be reinstated first, or no longer in "
            "force; or it is version 999",
        ),
        (UnknownLicenseType, "the license's type is no longer in the catalogue"),
        (
            HolderIdNotMatched,
            "holder_id is not the holder's, or the license carries no id of its holder",
        ),
        (InvalidCreditCode, "holder_id given for an organisation is no credit code"),
        (InvalidIdentityNumber, "holder_id given for a person is no resident identity number"),
        *_LICENSE_VALUES,
    ),
)
def renew_license(
    principal: CurrentPrincipal, license_id: LicenseIdPath, body: RenewIn, node: NodeDep
) -> IssuedOut:
    """Issue the next version; the old one lapses (05)."""
    until = day_end(body.valid_until) if body.valid_until else None
    issued = renew(
        node,
        principal,
        license_id,
        now=int(time.time()),
        valid_until=until,
        fields=body.fields,
        holder_id=body.holder_id,
    )
    return _out(issued)


@router.post("/{license_id}/status", include_in_schema=False)
def status_is_read_only(license_id: str) -> None:
    """POST on the status: a method the resource does not allow (not an unknown action),
    whatever the id."""
    raise HTTPException(
        405,
        "the status is read with GET; it changes through POST /v1/licenses/{id}/{action}",
        headers={"Allow": "GET"},
    )


#: What the status-change operation does, as the document says it.
_CHANGE_STATUS = (
    "Suspend (02), reinstate (01), withdraw (03), cancel (04), transfer (06) or revoke (07) "
    'a license; each recorded in the ledger. The body is `{"reason": …}`; a transfer\'s also '
    'names the license that replaces it, `{"reason": …, "to": "1.2.156.3005.2.…"}`. ' + REASON_RULE
)


@router.post(
    "/{license_id}/{action}",
    dependencies=[JsonBody],
    description=_CHANGE_STATUS,
    responses=agency_problems(
        *_LICENSE_ACT,
        (
            InvalidInput,
            f"no reason for {', '.join(NEEDS_REASON)}; a reason too long, not plain text, or "
            "holding a resident identity number; a transfer without its new license, to, "
            "another action with one, or a transfer to the license itself",
        ),
        (InvalidLicenseId, "a transfer's new license, to, is no license id"),
        (
            BadTransition,
            "the license's status does not allow the action: a second revocation, a "
            "reinstatement of a license not suspended",
        ),
        (
            UnknownNewLicense,
            "a transfer's new license is of this region but was not issued here",
        ),
        (
            NewLicenseNotInForce,
            "a transfer's new license, recorded here, is not valid or has expired",
        ),
        (INVALID_REQUEST, f"an action not one of {', '.join(get_args(Action))}"),
    ),
)
def change_license_status(
    principal: CurrentPrincipal,
    license_id: LicenseIdPath,
    action: Annotated[
        Action,
        Path(description=f"What to do: {', '.join(get_args(Action))}. {REASON_RULE}"),
    ],
    node: NodeDep,
    body: StatusIn | None = None,
) -> LicenseOut:
    """Change a license's status (the document's description: :data:`_CHANGE_STATUS`)."""
    reason = body.reason if body is not None else ""
    to = body.to if body is not None else None
    row = change_status(
        node, principal, license_id, action, reason=reason, to=to, now=int(time.time())
    )
    return LicenseOut(**row.model_dump(), qr_text=row.document)
