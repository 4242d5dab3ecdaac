"""Verification over HTTP (public): a QR text or an image in, the verdict out; and the
offline material a window syncs (the signed trust bundle)."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from eseal.api.deps import NodeDep
from eseal.trust_export import BundleCache, LocalStatus, export_bundle, export_snapshot
from verifier.document import MAX_TEXT_LENGTH
from verifier.pipeline import VerifyContext, verify_text
from verifier.scan import MAX_IMAGE_BYTES, ImageTooLarge, read_qr

router = APIRouter(tags=["verify"])
MAX_DOCUMENT = 20 * 1024 * 1024


class VerifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=MAX_TEXT_LENGTH)


def _context(request: Request) -> VerifyContext:
    node = request.app.state.node
    cache: BundleCache = request.app.state.bundles
    return VerifyContext(cache.store(), int(time.time()), status=LocalStatus(node))


def _read(upload: UploadFile | None, limit: int) -> bytes | None:
    if upload is None:
        return None
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise ImageTooLarge(f"an upload must be at most {limit // 2**20} MiB")
    return data


@router.post("/v1/verify")
def verify(body: VerifyIn, request: Request) -> dict[str, Any]:
    """The verdict on a QR text (EL1: license or ES1: seal stamp)."""
    return verify_text(body.text.strip(), _context(request)).to_json()


@router.post("/v1/verify/image")
def verify_image(
    request: Request,
    image: Annotated[UploadFile, File(description="A photo or screenshot with the QR code")],
    document: Annotated[UploadFile | None, File(description="For a seal stamp: the file")] = None,
) -> dict[str, Any]:
    """The verdict on the QR code in an image (and, for a seal stamp, the sealed file)."""
    data = _read(image, MAX_IMAGE_BYTES)
    assert data is not None  # noqa: S101 (the image is a required field)
    text = read_qr(data)
    return verify_text(text, _context(request), document=_read(document, MAX_DOCUMENT)).to_json()


@router.get("/v1/bundle")
def bundle(node: NodeDep) -> Response:
    """The region's trust bundle, signed by its root key (a DSSE envelope)."""
    return Response(export_bundle(node, now=int(time.time())), media_type="application/json")


@router.get("/v1/revocations")
def revocations(node: NodeDep) -> Response:
    """The revocation snapshot, signed by the log key (a DSSE envelope, CBOR payload)."""
    return Response(export_snapshot(node, now=int(time.time())), media_type="application/json")
