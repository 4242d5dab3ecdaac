"""Verification over HTTP (public): a QR text or an image in, the verdict out; and the
offline material a window syncs (the signed trust bundle)."""

from __future__ import annotations

import time
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, File, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile as StarletteUpload

from eseal.api.deps import DistinctFormFields, NodeDep, distinct_form_fields
from eseal.api.limits import is_json, strict_json
from eseal.render import DocumentTooLarge
from eseal.trust_export import BundleCache, LocalStatus, export_bundle, export_snapshot
from keys.errors import InvalidInput
from verifier.document import MAX_TEXT_LENGTH
from verifier.pipeline import VerifyContext, verify_text
from verifier.scan import MAX_IMAGE_BYTES, ImageTooLarge, read_qr
from verifier.trust import TrustStore

router = APIRouter(tags=["verify"])
MAX_DOCUMENT = 20 * 1024 * 1024


class VerifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=MAX_TEXT_LENGTH)


class UnsupportedMediaType(InvalidInput):
    """The request body is neither JSON nor a multipart form."""

    code = "unsupported-media-type"
    http_status = 415


def _context(request: Request, store: TrustStore | None = None) -> VerifyContext:
    state = request.app.state
    cache: BundleCache = state.bundles
    status: LocalStatus = state.status
    return VerifyContext(store or cache.store(), int(time.time()), status=status)


def _verdict_response(verdict: dict[str, Any]) -> Response:
    """The verdict as JSON bytes, straight (FastAPI's generic encoding of a returned dict
    costs more than the whole verification)."""
    return Response(orjson.dumps(verdict), media_type="application/json")


def _read(upload: StarletteUpload | None, limit: int, *, image: bool = True) -> bytes | None:
    if upload is None:
        return None
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        what = "an image" if image else "a document"
        error = ImageTooLarge if image else DocumentTooLarge
        raise error(f"{what} must be at most {limit // 2**20} MiB")
    return data


_VERIFY_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": VerifyIn.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "image": {"type": "string", "format": "binary"},
                        "text": {"type": "string", "maxLength": MAX_TEXT_LENGTH},
                        "document": {"type": "string", "format": "binary"},
                    },
                }
            },
        },
    }
}


@router.post("/v1/verify", openapi_extra=_VERIFY_BODY, response_model=None)
async def verify(request: Request) -> Response:
    """The verdict on a QR text (JSON ``{"text": "EL1:…"}``), or on the QR code in an image
    (multipart ``image``) or a text (multipart ``text``), with, for a seal stamp, the
    stamped file as the multipart ``document``."""
    if request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        form = await request.form(max_files=2, max_fields=2)
        await distinct_form_fields(request)
        image, text_field, document = form.get("image"), form.get("text"), form.get("document")
        if document is not None and not isinstance(document, StarletteUpload):
            raise InvalidInput("the document must be a file field 'document'")
        if isinstance(image, StarletteUpload) and text_field is None:
            return _verdict_response(
                await run_in_threadpool(_verify_image, request, image, document)
            )
        if isinstance(text_field, str) and image is None:
            # The QR text with the stamped file (a stamp pasted or scanned, then compared).
            text = _text(text_field)
            return _verdict_response(
                await run_in_threadpool(_verify_with_document, request, text, document)
            )
        raise InvalidInput(
            "a multipart request carries the QR code as the file field 'image' or the text "
            "field 'text' (one of them), and for a seal stamp the file field 'document'"
        )
    if not is_json(request.headers.get("content-type", "")):
        raise UnsupportedMediaType(
            'send JSON ({"text": "EL1:…"}, Content-Type: application/json) or a '
            "multipart/form-data image"
        )
    try:
        body = VerifyIn.model_validate(_strict_json(await request.body()))
    except ValidationError as e:
        raise RequestValidationError(e.errors()) from e
    text = _text(body.text)
    node = request.app.state.node
    store = request.app.state.bundles.cached()
    if store is not None and node.sql.is_sqlite and text.startswith("EL1:"):
        # A license's verdict is about 0.1 ms of CPU and one read on this thread's own
        # SQLite connection, which never waits in WAL mode: cheaper done here than handed
        # to a thread and back. A network database, a trust store to rebuild, or a stamp
        # (its seal's status comes through the pool) go to the thread pool.
        return _verdict_response(verify_text(text, _context(request, store)).to_json())
    return _verdict_response(
        await run_in_threadpool(lambda: verify_text(text, _context(request)).to_json())
    )


class InvalidJson(InvalidInput):
    """The request body is not one JSON object with distinct keys."""

    code = "invalid-json"


def _strict_json(body: bytes) -> Any:
    """The JSON value of ``body``, refusing repeated keys (a parser that keeps the last one
    and another that keeps the first would read two different requests)."""
    try:
        return strict_json(body)
    except (ValueError, RecursionError) as e:  # a repeated key is a ValueError too
        raise InvalidJson(f"the body is not JSON in UTF-8 with distinct keys: {e}") from e


def _text(raw: str) -> str:
    if len(raw) > MAX_TEXT_LENGTH:  # as sent, spaces included: the bound is on the input
        raise InvalidInput(f"the QR text is longer than {MAX_TEXT_LENGTH} characters")
    text = raw.strip()
    if not text:
        raise InvalidInput("the QR text is empty")
    return text


def _verify_with_document(
    request: Request, text: str, document: StarletteUpload | None
) -> dict[str, Any]:
    document_bytes = _read(document, MAX_DOCUMENT, image=False)
    return verify_text(text, _context(request), document=document_bytes).to_json()


def _verify_image(
    request: Request, image: StarletteUpload, document: StarletteUpload | None
) -> dict[str, Any]:
    data = _read(image, MAX_IMAGE_BYTES) or b""
    return _verify_with_document(request, read_qr(data), document)


@router.post("/v1/verify/image", response_model=None, dependencies=[DistinctFormFields])
def verify_image(
    request: Request,
    image: Annotated[UploadFile, File(description="A photo or screenshot with the QR code")],
    document: Annotated[UploadFile | None, File(description="For a seal stamp: the file")] = None,
) -> Response:
    """The verdict on the QR code in an image (the multipart form of ``POST /v1/verify``)."""
    return _verdict_response(_verify_image(request, image, document))


@router.get("/v1/bundle")
def bundle(node: NodeDep) -> Response:
    """The region's trust bundle, signed by its root key (a DSSE envelope)."""
    return Response(export_bundle(node, now=int(time.time())), media_type="application/json")


@router.get("/v1/revocations")
def revocations(node: NodeDep) -> Response:
    """The revocation snapshot, signed by the log key (a DSSE envelope, CBOR payload)."""
    return Response(export_snapshot(node, now=int(time.time())), media_type="application/json")
