"""Printouts over HTTP: a license's QR image and its printable sheet (PDF, PNG), and a seal
stamp's QR image, the very bytes the node's command line writes (``eseal license print ID
--qr FILE.png --pdf FILE --png FILE``, ``eseal seal stamp … --qr FILE.png``): the issuing
agency's credential, or the operator's.

Rendering costs CPU (a license's PDF about 0.1 s, its PNG about 0.4 s; a QR image about
10 ms), so a server process renders at most :data:`SHEET_SLOTS` sheets and, in slots of
their own, :data:`QR_SLOTS` QR images at once, in the thread pool: a burst of sheets never
keeps a QR image waiting. A request waits for a slot of its kind in the event loop (holding
no thread of the pool, which every other operation shares) for at most :data:`RENDER_WAIT`
seconds, then is answered 503 ``renderer-busy``, as an image to read is when every QR reader
stays busy (:mod:`verifier.scan_pool`). A render is not timed: what it draws is the node's
own stored license, bounded when it was issued (its text fits a QR symbol, its seal image is
bounded).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Annotated, Any, Final, Literal

import anyio
from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from eseal.agencies import Principal
from eseal.api.deps import (
    Cause,
    CurrentPrincipal,
    LicenseIdPath,
    NodeDep,
    SealIdPath,
    agency_problems,
    malformed_id,
    take_slot,
)
from eseal.api.routes.licenses import UNKNOWN_LICENSE
from eseal.api.routes.seals import UNKNOWN_SEAL
from eseal.etags import body_etag, etag_matches
from eseal.ids import STAMP_ID_LENGTH, STAMP_ID_PATTERN, InvalidStampId, parse_stamp_id
from eseal.licenses import get_license
from eseal.models import LicenseRow
from eseal.node import Node
from eseal.printing import printable, qr_image
from eseal.problems import NO_SNIFF
from eseal.render import FontMissing, cjk_font_path, license_pdf, license_png
from eseal.seals import UnknownStamp, get_seal, get_stamp
from keys.errors import ExternalFailure

router = APIRouter()

#: Sheets (PDF, PNG) one server process renders at once. Rendering is mostly Python holding
#: the interpreter's lock (reportlab), so more threads would not render faster, only take the
#: lock from the event loop that answers every other request.
SHEET_SLOTS: Final = 2
#: QR images one server process renders at once, in slots of their own: one takes about
#: 10 ms, a sheet up to 0.4 s, and a QR image waiting behind sheets would be busy for nothing.
QR_SLOTS: Final = 2
#: How long a request waits for a free slot (seconds): a dozen PNG sheets' time.
RENDER_WAIT: Final = 5.0

#: A printout is the agency's own: a private cache (its client's) may keep it, but asks
#: again with the ETag before each use, since a license printed again after its
#: suspension or revocation, or after it expired, says so across the page.
PRINTOUT_CACHE_CONTROL: Final = "private, no-cache"

PNG: Final = "image/png"
PDF: Final = "application/pdf"


class RendererBusy(ExternalFailure):
    """Every renderer of the printout's kind (sheet or QR image) stayed busy with other
    printouts for as long as a request waits."""

    code = "renderer-busy"


@functools.cache
def renderers(kind: Literal["sheet", "qr"]) -> anyio.CapacityLimiter:
    """This process's slots for sheets (:data:`SHEET_SLOTS`) or for QR images
    (:data:`QR_SLOTS`), each kind its own (made on first use, in the event loop)."""
    return anyio.CapacityLimiter(SHEET_SLOTS if kind == "sheet" else QR_SLOTS)


async def _rendered(slots: anyio.CapacityLimiter, render: Callable[[], bytes]) -> bytes:
    """``render()`` in the thread pool once one of ``slots`` is free; :class:`RendererBusy`
    if none is within :data:`RENDER_WAIT` seconds."""
    busy = RendererBusy(
        "every renderer of this kind of printout is busy with others: try again in a few seconds"
    )
    await take_slot(slots, RENDER_WAIT, busy)
    try:
        return await run_in_threadpool(render)
    finally:
        slots.release()


def _answer(request: Request, body: bytes, media_type: str, filename: str) -> Response:
    """``body`` as a printout: private, with its ETag (304 to an If-None-Match naming it)."""
    etag = body_etag(body)
    headers = {
        "Cache-Control": PRINTOUT_CACHE_CONTROL,
        "ETag": etag,
        "Content-Disposition": f'inline; filename="{filename}"',
    } | NO_SNIFF
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


def _own_license(node: Node, principal: Principal, license_id: str) -> LicenseRow:
    """The license, to its issuing agency or the operator (as ``GET /v1/licenses/{id}``)."""
    row = get_license(node, license_id)
    principal.require(row.agency_code)
    return row


def _ok(media_type: str, what: str) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "description": what,
            "content": {media_type: {"schema": {"type": "string", "format": "binary"}}},
        },
        304: {"description": "Not Modified: the If-None-Match names the printout's ETag"},
    }


#: The problems of a license's printouts, besides those of a QR image (and those of any
#: operation taking a credential, store-unavailable among them: agency_problems).
_BUSY: Cause = (
    RendererBusy,
    f"every renderer of the printout's kind stayed busy for {RENDER_WAIT:g} s, a sheet's "
    "with other sheets, a QR image's with other QR images; retry later",
)
_LICENSE_PRINTOUT: tuple[Cause, ...] = (malformed_id("license"), UNKNOWN_LICENSE, _BUSY)
_NO_FONT: Cause = (
    FontMissing,
    "the node has no CJK font to print with: its operator installs fonts-wqy-microhei or sets "
    "ESEAL_CJK_FONT",
)


@router.get(
    "/v1/licenses/{license_id}/qr.png",
    tags=["licenses"],
    response_class=Response,
    responses=_ok(PNG, "The QR code of the license's text (EL1:…), a PNG")
    | agency_problems(*_LICENSE_PRINTOUT, body=None),
)
async def license_qr(
    request: Request, principal: CurrentPrincipal, license_id: LicenseIdPath, node: NodeDep
) -> Response:
    """The license's QR code as a PNG (error correction Q, 8 pixels a module, a 4-module
    quiet zone), as ``eseal license print ID --qr FILE.png`` writes it (its issuing agency
    or the operator). Sent ``Cache-Control: private, no-cache`` with an ETag."""
    row = await run_in_threadpool(_own_license, node, principal, license_id)
    return _answer(
        request,
        await _rendered(renderers("qr"), lambda: qr_image(row.document)),
        PNG,
        f"{row.id}.png",
    )


#: What a sheet shows, as both operations say it.
_SHEET = (
    "the license's type, number, holder and fields, the issuing agency and its dates under "
    "its seal (the agency's first active seal), and its QR code; a license no longer in "
    "force (suspended, withdrawn, cancelled, lapsed, transferred out, revoked) or expired "
    "is marked so across the page, as ``eseal license print`` marks it"
)


def _sheet_route(
    suffix: Literal["pdf", "png"],
    render: Callable[[Any], bytes],
    media_type: str,
    *,
    short: str,
    long: str,
) -> None:
    """Add ``GET /v1/licenses/{license_id}/print.SUFFIX`` (operation
    ``license_print_SUFFIX``): the license's printable sheet by ``render``
    (:func:`eseal.render.license_pdf` or :func:`~eseal.render.license_png`), marked as the
    command line marks it at this time; ``short`` and ``long`` say what it is."""

    async def sheet(
        request: Request, principal: CurrentPrincipal, license_id: LicenseIdPath, node: NodeDep
    ) -> Response:
        row = await run_in_threadpool(_own_license, node, principal, license_id)
        cjk_font_path()  # FontMissing (503) before a slot is taken, as the CLI looks first
        now = int(time.time())
        body = await _rendered(renderers("sheet"), lambda: render(printable(node, row, now=now)))
        return _answer(request, body, media_type, f"{row.id}.{suffix}")

    router.get(
        f"/v1/licenses/{{license_id}}/print.{suffix}",
        name=f"license_print_{suffix}",
        tags=["licenses"],
        response_class=Response,
        responses=_ok(media_type, f"The printable license, {short}")
        | agency_problems(*_LICENSE_PRINTOUT, _NO_FONT, body=None),
        description=f"The printable license as {long} (its issuing agency or the operator): "
        f"{_SHEET}. The bytes ``eseal license print ID --{suffix} FILE`` writes. Sent "
        "``Cache-Control: private, no-cache`` with an ETag.",
    )(sheet)


_sheet_route("pdf", license_pdf, PDF, short="an A4 PDF", long="an A4 PDF, the CJK font embedded")
_sheet_route(
    "png",
    license_png,
    PNG,
    short="the PDF rasterised at 150 dpi",
    long="a PNG, its PDF rasterised at 150 dpi",
)


@router.post("/v1/licenses/{license_id}/qr.png", include_in_schema=False)
@router.post("/v1/licenses/{license_id}/print.pdf", include_in_schema=False)
@router.post("/v1/licenses/{license_id}/print.png", include_in_schema=False)
def printout_is_read_only(license_id: str) -> None:
    """POST on a printout: a method the resource does not allow, whatever the id, not an
    unknown status change (``POST /v1/licenses/{id}/{action}`` would take it for one)."""
    raise HTTPException(405, "a printout is read with GET", headers={"Allow": "GET"})


def _stamp_id(
    stamp_id: Annotated[
        str,
        Path(
            description="A stamp id: its seal's id, a dot and 10 upper-case hex digits; a "
            "malformed one is answered 400 invalid-stamp-id.",
            json_schema_extra={
                "minLength": STAMP_ID_LENGTH,
                "maxLength": STAMP_ID_LENGTH,
                "pattern": STAMP_ID_PATTERN,
            },
        ),
    ],
) -> str:
    return parse_stamp_id(stamp_id)


#: A stamp id in the path, parsed strictly (400 invalid-stamp-id).
StampIdPath = Annotated[str, Depends(_stamp_id)]


def _own_stamp(node: Node, principal: Principal, seal_id: str, stamp_id: str) -> str:
    """The QR text of the stamp, to its seal's agency or the operator."""
    seal = get_seal(node, seal_id)
    principal.require(seal.agency_code)
    return get_stamp(node, seal_id, stamp_id).document


@router.get(
    "/v1/seals/{seal_id}/stamps/{stamp_id}/qr.png",
    tags=["seals"],
    response_class=Response,
    responses=_ok(PNG, "The QR code of the stamp's text (ES1:…), a PNG")
    | agency_problems(
        malformed_id("seal"),
        (InvalidStampId, "the path's stamp id is malformed, or its seal id is"),
        UNKNOWN_SEAL,
        (UnknownStamp, "the seal made no stamp with this id (none recorded here)"),
        _BUSY,
        body=None,
    ),
)
async def stamp_qr(
    request: Request,
    principal: CurrentPrincipal,
    seal_id: SealIdPath,
    stamp_id: StampIdPath,
    node: NodeDep,
) -> Response:
    """A seal stamp's QR code as a PNG, as ``eseal seal stamp … --qr FILE.png`` wrote it
    (the seal's agency or the operator): the stamp's QR text that ``POST
    /v1/seals/{seal_id}/stamp`` answered, drawn again. Sent ``Cache-Control: private,
    no-cache`` with an ETag."""
    text = await run_in_threadpool(_own_stamp, node, principal, seal_id, stamp_id)
    return _answer(
        request, await _rendered(renderers("qr"), lambda: qr_image(text)), PNG, f"{stamp_id}.png"
    )
