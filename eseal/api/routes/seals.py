"""E-seals over HTTP: create, stamp a document, revoke (agency credential); the seal
image is public (windows show it beside a verdict)."""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from python_multipart.multipart import parse_options_header

from eseal.agencies import UnknownAgency
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
    FormFields,
    JsonBody,
    LiveAnswer,
    NodeDep,
    SealIdPath,
    WitnessedQuery,
    acting_agency,
    agency_problems,
    malformed_id,
    public_problems,
)
from eseal.api.forms import StrictFormRoute, client_text, declared_charset
from eseal.api.idempotent import (
    IDEMPOTENCY_PROBLEMS,
    IdempotencyKeyHeader,
    idempotency_key,
    once,
)
from eseal.api.limits import LARGE_SUFFIXES, UnsupportedMediaType
from eseal.api.problem_types import FORM_UNREADABLE, INVALID_REQUEST
from eseal.problems import NO_SNIFF
from eseal.proofs import ProvedStatus, proved_status
from eseal.render import DocumentTooLarge, FontMissing
from eseal.seal_image import MAX_AGENCY_CHARS, SealTextInvalid
from eseal.seals import (
    MAX_DOCUMENT,
    MAX_IMAGE,
    MAX_SEAL_IMAGE_PIXELS,
    SealCreated,
    SealRevoked,
    UnknownSeal,
    create_seal,
    get_seal,
    revoke_seal,
    stamp,
    stamped_again,
)
from eseal.status_index import with_status_index
from keys.errors import InvalidInput

router = APIRouter(prefix="/v1/seals", tags=["seals"], route_class=StrictFormRoute)


class SealIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agency: str | None = Field(
        default=None, max_length=18, description="The seal's agency (operator credentials only)"
    )
    name: str = Field(
        min_length=1,
        max_length=16,
        description="The seal's name, drawn under its star and shown by every window that "
        "verifies a stamp, e.g. 行政审批专用章.",
    )
    type: Literal["official", "contract", "finance", "approval", "invoice", "business"] = Field(
        default="official",
        description="official 公章, contract 合同专用章, finance 财务专用章, approval "
        "行政审批专用章, invoice 发票专用章, business 业务专用章.",
    )
    image_png_base64: str | None = Field(
        default=None,
        max_length=(MAX_IMAGE * 4) // 3 + 4,
        description=f"The seal's picture, a PNG (at most {MAX_IMAGE // 2**20} MiB and "
        f"{MAX_SEAL_IMAGE_PIXELS:,} pixels) in standard base64. Left out: a round red seal "
        "is drawn, the agency's name along its upper arc and the seal's name below.",
    )


class SealOut(BaseModel):
    id: str = Field(description="The seal id: the agency's credit code, a dot, 12 hex digits.")
    agency_code: str = Field(description="The agency's credit code.")
    name: str = Field(description="The seal's name.")
    seal_type: str = Field(description="Its type (official, contract, …).")
    key_id: str = Field(description="The id of the seal's own key, certified by the root.")
    public_key: str = Field(description="That key, Ed25519, in hex.")
    ledger_index: int = Field(description="The index of its creation entry in the ledger.")


class StampOut(BaseModel):
    id: str = Field(description="The stamp id: the seal id, a dot, 10 hex digits.")
    seal_id: str = Field(description="The seal that stamped.")
    document_sha256: str = Field(description="The SHA-256 of the file stamped, in hex.")
    qr_text: str = Field(
        description="The stamp as its QR code holds it (ES1:…): print it on the document."
    )
    ledger_index: int = Field(description="The index of the stamp's entry in the ledger.")
    checkpoint: str = Field(description="The signed checkpoint (C2SP signed note).")


class SealStatusOut(ProvedStatus):
    id: str = Field(description="The seal id.")
    status: Literal["active", "revoked"] = Field(
        description="revoked only with its seal.revoke entry at status_index."
    )
    revoked_at: int | None = Field(description="Unix time (seconds) of the revocation.")


class RevokeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(
        min_length=1,
        max_length=256,
        description="Why, as every window will read it: public and kept in the ledger for ever.",
    )


class FileNameNotReadable(InvalidInput):
    """The uploaded file's name is not text in the form's charset (or, with none named,
    in UTF-8 or unambiguous GB18030)."""

    code = "file-name-not-readable"


#: A seal this node does not know: the region never recorded it (a verifier believes that
#: only of the seal's own region's node, and only with this problem: a 404 of a proxy
#: routing elsewhere says nothing).
UNKNOWN_SEAL: Cause = (UnknownSeal, "no seal with this id was recorded in this region's ledger")


@router.post(
    "",
    status_code=201,
    dependencies=[JsonBody],
    responses=agency_problems(
        (
            InvalidInput,
            "the name blank or not printable; image_png_base64 not base64, or no PNG of at "
            f"most {MAX_IMAGE // 2**20} MiB and {MAX_SEAL_IMAGE_PIXELS:,} pixels; the "
            "operator's credential naming no agency",
        ),
        (
            SealTextInvalid,
            f"no image given, and the agency's name cannot be drawn: over {MAX_AGENCY_CHARS} "
            "characters",
        ),
        (UnknownAgency, "the operator names an agency not registered here"),
        *IDEMPOTENCY_PROBLEMS,
        KEYS_LOCKED,
        *LEDGER_WRITE,
        (FontMissing, "no image given, and the node has no CJK font to draw the seal with"),
    ),
)
def make_seal(
    body: SealIn,
    *,
    request: Request,
    response: Response,
    node: NodeDep,
    principal: CurrentPrincipal,
    idempotency: IdempotencyKeyHeader = None,
) -> SealOut:
    """Create a seal with its own root-certified key (drawn image unless one is given)."""
    now = int(time.time())
    key = idempotency_key(
        node,
        principal,
        request,
        "seal.create",
        header=idempotency,
        content=lambda: body.model_dump(mode="json"),
        now=now,
    )
    agency = acting_agency(principal, body.agency)
    image = None
    if body.image_png_base64 is not None:
        try:
            image = base64.b64decode(body.image_png_base64, validate=True)
        except ValueError as e:  # binascii.Error, and a non-ASCII character
            raise InvalidInput("image_png_base64 is not base64") from e

    def create() -> SealOut:
        seal = create_seal(
            node,
            principal,
            agency_code=agency,
            name=body.name,
            seal_type=body.type,
            image=image,
            now=now,
            idempotency=key,
        )
        request.app.state.bundles.invalidate()  # verify with the new seal's key at once
        return SealOut(**seal.to_json())

    return once(
        node,
        key,
        response,
        create,
        lambda recorded: SealOut(**SealCreated(**recorded.response).to_json()),
    )


@router.post(
    "/{seal_id}/stamp",
    status_code=201,
    dependencies=[FormFields("file", "name")],
    responses=agency_problems(
        malformed_id("seal"),
        (
            FORM_UNREADABLE,
            "a multipart body that is no form, names a charset that is none, or holds a "
            "field that is not text",
        ),
        (
            FileNameNotReadable,
            "the file's name is not text in the form's charset, or without one UTF-8 or GB18030",
        ),
        (
            InvalidInput,
            "a form field given twice, or not file or name; an empty document; a file's "
            "Content-Type not type/subtype; a document name (the name field, else the file's "
            "name) not printable: a control character, a line break, a space other than "
            "U+0020",
        ),
        (UnsupportedMediaType, "a body that is not a multipart/form-data form"),
        (INVALID_REQUEST, "no file field; a name over 200 characters"),
        UNKNOWN_SEAL,
        (SealRevoked, "the seal is revoked or expired: it stamps no more"),
        (DocumentTooLarge, f"a document over {MAX_DOCUMENT // 2**20} MiB"),
        *IDEMPOTENCY_PROBLEMS,
        KEYS_LOCKED,
        SIGNING_KEY_UNUSABLE,
        *LEDGER_WRITE,
        body="form",
        form_limit=LARGE_SUFFIXES["/stamp"],
    ),
)
def stamp_document(
    principal: CurrentPrincipal,
    seal_id: SealIdPath,
    *,
    request: Request,
    response: Response,
    node: NodeDep,
    file: Annotated[UploadFile, File(description="The document to seal (≤ 20 MiB)")],
    name: Annotated[
        str | None,
        Form(
            max_length=200,
            description="The document's name as the stamp records it and windows show it "
            "(default: the uploaded file's name).",
        ),
    ] = None,
    idempotency: IdempotencyKeyHeader = None,
) -> StampOut:
    """Seal a document: the answer is an ES1: QR signed by the seal's key, over the file's
    SHA-256, to print on it. A window verifies the stamp against that very file. A sealed
    copy (the seal and the QR on the document's last page) is made on the node's command
    line, ``eseal seal stamp SEAL_ID FILE --pdf COPY``, not here."""
    now = int(time.time())
    document = file.file.read(MAX_DOCUMENT + 1)
    if len(document) > MAX_DOCUMENT:
        raise DocumentTooLarge(f"a document must be at most {MAX_DOCUMENT // 2**20} MiB")
    document_name = (
        name
        or _file_name(file, declared_charset(request.headers.get("content-type", "")))
        or "document"
    )
    # What the stamp is made of, not the form's bytes (a client draws a new boundary).
    key = idempotency_key(
        node,
        principal,
        request,
        "seal.stamp",
        header=idempotency,
        content=lambda: {
            "document_sha256": hashlib.sha256(document).hexdigest(),
            "name": document_name,
            "media_type": file.content_type,
        },
        now=now,
    )
    return once(
        node,
        key,
        response,
        lambda: StampOut(
            **stamp(
                node,
                principal,
                seal_id,
                document=document,
                document_name=document_name,
                media_type=file.content_type,
                now=now,
                idempotency=key,
            ).to_json()
        ),
        lambda recorded: StampOut(**stamped_again(node, recorded.response).to_json()),
    )


@router.post(
    "/{seal_id}/revoke",
    dependencies=[JsonBody],
    responses=agency_problems(
        malformed_id("seal"),
        (
            InvalidInput,
            "a reason only of white space, not plain text, or holding a resident identity number",
        ),
        UNKNOWN_SEAL,
        (SealRevoked, "the seal is already revoked"),
        KEYS_LOCKED,
        *LEDGER_WRITE,
    ),
)
def revoke(
    principal: CurrentPrincipal,
    seal_id: SealIdPath,
    body: RevokeIn,
    request: Request,
    node: NodeDep,
) -> dict[str, str]:
    """Revoke a seal (its agency or the operator): it stamps no more, and every stamp it
    made verifies as revoked from the next request (offline windows: from their next
    revocation snapshot). Recorded in the ledger."""
    row = revoke_seal(node, principal, seal_id, reason=body.reason, now=int(time.time()))
    request.app.state.bundles.invalidate()  # its stamps are refused from the next request
    return {"id": row.id, "status": row.status}


@router.get(
    "/{seal_id}/status",
    dependencies=[LiveAnswer],
    responses=STATUS_UNRECORDED
    | public_problems(malformed_id("seal"), UNKNOWN_SEAL, *CUT_PROBLEMS, STORE_UNAVAILABLE),
)
def seal_status(
    seal_id: SealIdPath, node: NodeDep, witnessed: WitnessedQuery, at: CutSizeQuery
) -> SealStatusOut:
    """Public: whether the seal is active or revoked, with the ledger entries that record
    its creation and revocation, their inclusion proofs and the signed checkpoint."""
    seal, index = with_status_index(node, "seal", lambda: get_seal(node, seal_id))
    return SealStatusOut(
        id=seal.id,
        status="revoked" if seal.status == "revoked" else "active",
        revoked_at=seal.revoked_at,
        **proved_status(node, seal.ledger_index, index, witnessed=witnessed, at=at).model_dump(),
    )


@router.get(
    "/{seal_id}/image",
    response_class=Response,
    responses=public_problems(malformed_id("seal"), UNKNOWN_SEAL, STORE_UNAVAILABLE)
    | {200: {"content": {"image/png": {}}, "description": "The seal's image"}},
)
def seal_image(seal_id: SealIdPath, node: NodeDep) -> Response:
    """The seal's image (PNG)."""
    return Response(
        bytes(get_seal(node, seal_id).image),
        media_type="image/png",
        headers=NO_SNIFF,  # a PNG, never read as anything else
    )


def _file_name(upload: UploadFile, charset: str | None) -> str | None:
    """The name the client gave the uploaded file, as it sent it: read from the part's
    header bytes by :func:`eseal.api.forms.client_text`, as the form's text fields are
    (Starlette would read bytes that are not UTF-8 as Latin-1, and the stamp would name
    the file in mojibake)."""
    raw = next((v for k, v in upload.headers.raw if k == b"content-disposition"), None)
    if raw is None:
        return upload.filename
    name = parse_options_header(raw)[1].get(b"filename")
    if name is None:
        return upload.filename
    text = client_text(name, charset)
    if text is None:
        raise FileNameNotReadable(
            f"the file name is not {charset} text"
            if charset
            else "the file name is in neither UTF-8 nor GB18030: send it in UTF-8, or give "
            "the name in the form field 'name'"
        )
    return text
