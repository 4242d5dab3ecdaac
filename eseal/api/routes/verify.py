"""Verification over HTTP (public): a QR text or an image in, the verdict out; and the
offline material a window syncs (the signed trust bundle)."""

from __future__ import annotations

import contextlib
import functools
import re
import time
from typing import Annotated, Any, Final

import anyio
import orjson
from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import State
from starlette.datastructures import UploadFile as StarletteUpload
from starlette.requests import ClientDisconnect

from eseal.api.answers import DsseEnvelope, Verdict
from eseal.api.deps import (
    CURRENT_HEADERS,
    CUT_PROBLEMS,
    ENCODED_BODY,
    KEYS_LOCKED,
    LIVE_HEADERS,
    SCANNER_BUSY,
    STORE_UNAVAILABLE,
    Cause,
    CutSizeQuery,
    FormFields,
    NodeDep,
    WitnessedCutQuery,
    check_form_fields,
    problems,
    public_problems,
    request_problems,
    take_slot,
)
from eseal.api.forms import StrictFormRoute
from eseal.api.limits import (
    LARGE_SUFFIXES,
    SMALL_SUFFIXES,
    VERIFY_PATH,
    ASGIApp,
    Receive,
    Scope,
    Send,
    UnsupportedMediaType,
    is_json,
    replay,
    single_headers,
    strict_json,
    whole_body,
)
from eseal.api.problem_types import FORM_UNREADABLE, INVALID_REQUEST
from eseal.etags import etag_matches
from eseal.peers import WithPeers
from eseal.render import DocumentTooLarge
from eseal.trust_export import BuiltSnapshot, BundleCache, SnapshotCache, export_bundle
from keys.errors import EsealError, ExternalFailure, InvalidInput
from verifier.document import MAX_TEXT_LENGTH
from verifier.holder import MAX_PRESENTED, HolderNotApplicable, InvalidHolderId, presented_id
from verifier.pipeline import StatusSource, VerifyContext, verify_text
from verifier.scan import (
    FORMATS,
    MAX_IMAGE_BYTES,
    MAX_PIXELS,
    MAX_SIDE,
    MAX_WEBP_PIXELS,
    ImageTooLarge,
    ImageUnreadable,
    NoQrCode,
    SeveralQrCodes,
)
from verifier.scan_pool import SCAN_MEMORY, SCAN_SECONDS, ImageTooComplex, scan_image
from verifier.trust import TrustStore

router = APIRouter(tags=["verify"], route_class=StrictFormRoute)
MAX_DOCUMENT = 20 * 1024 * 1024

#: Verifications with a presented holder id one server process runs at once. Matching a
#: natural person's id derives its Argon2id hash ("ia"), about 22 ms of one core and
#: 19 MiB (:func:`verifier.claims.holder_id_argon2`); PyNaCl leaves the interpreter's lock
#: while it derives, so each slot is a core at most.
MATCH_SLOTS: Final = 2
#: How long such a verification waits for a free slot (seconds), then 503 matcher-busy.
MATCH_WAIT: Final = 5.0


class MatcherBusy(ExternalFailure):
    """Every holder-check slot of this process stayed busy with other verifications for as
    long as a request waits."""

    code = "matcher-busy"


#: How long a ``GET /v1/revocations`` whose snapshot is not built waits for its turn to
#: build it (seconds; builds run one at a time, :class:`eseal.trust_export.SnapshotCache`),
#: then 503 snapshot-busy. A build reads every license row: about a second at 10^5 licenses.
SNAPSHOT_WAIT: Final = 30.0


class SnapshotBusy(ExternalFailure):
    """Other revocation snapshots were being built for as long as a request waits."""

    code = "snapshot-busy"


@functools.cache
def snapshot_builders(sized: bool) -> anyio.CapacityLimiter:
    """This process's turn to build a revocation snapshot of a size asked (``?at=``, with
    ``sized``) or of the latest or the witnessed cut (without), one each. A request waits
    for it in the event loop, holding no thread of the pool (a burst of requests for
    snapshots not built must not take every thread the other operations need). Any size
    the log stores may be asked: a stream of such requests keeps the one turn of sizes
    busy, and would, were it shared, keep the latest snapshot from ever being built again
    while its requests were answered the last built. The builds themselves still run one
    at a time (:class:`eseal.trust_export.SnapshotCache`), so the latest waits for one
    build of a size at most."""
    return anyio.CapacityLimiter(1)


@functools.cache
def matchers() -> anyio.CapacityLimiter:
    """This process's :data:`MATCH_SLOTS` slots for verifications with a presented holder
    id (made on first use, in the event loop). A request waits for one in the event loop,
    holding no thread of the pool, as a printout waits for a renderer."""
    return anyio.CapacityLimiter(MATCH_SLOTS)


class VerifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: maxLength documented, not validated here: :func:`_text` refuses an over-long text
    #: with the same problem (400 invalid-input) as in a multipart form.
    text: str = Field(
        min_length=1,
        description="The QR code's text: a license's (EL1:…) or a seal stamp's (ES1:…).",
        json_schema_extra={"maxLength": MAX_TEXT_LENGTH},
    )
    #: For a license: the id number on the presenter's ID card (or the company's credit
    #: code), compared with its holder. Bounded by the verifier (400 invalid-holder-id,
    #: never echoed), not here: a validation error would be a 422 of another shape.
    holder_id: str | None = Field(
        default=None,
        description="For a license: the id number of the ID card presented (or the "
        "company's credit code), to check the presenter is its holder; never echoed.",
        json_schema_extra={"maxLength": MAX_PRESENTED},
    )


def _context(state: State, store: TrustStore | None = None) -> VerifyContext:
    """The node's own verification: its trust store and status, at its clock; a clock set
    back behind the newest bundle it signed makes the verdict say so (CLOCK_BEHIND)."""
    cache: BundleCache = state.bundles
    status: StatusSource = state.status
    trust = store or cache.store()
    peers = cache.peers
    if peers.bundles:  # each peer region's licenses get their status from its snapshot
        status = WithPeers(state.node.config.region, status, peers.snapshots)
    return VerifyContext(trust, int(time.time()), status=status, newest_seen=cache.signed_at)


#: A verdict names a holder and is of one moment: not to be kept by a cache, nor read
#: as anything but JSON (the headers of every live answer).
VERDICT_HEADERS = LIVE_HEADERS


VERDICT_TYPE = "application/json"


def _verdict_response(verdict: dict[str, Any]) -> Response:
    """The verdict as JSON bytes, straight (FastAPI's generic encoding of a returned dict
    costs more than the whole verification)."""
    return Response(orjson.dumps(verdict), media_type=VERDICT_TYPE, headers=VERDICT_HEADERS)


#: :func:`_verdict_response`'s headers but its length, as ASGI sends them (for
#: :class:`VerifyInLoop`, which skips building a Response: a few µs on the hot path).
_VERDICT_RAW_HEADERS = tuple(
    (name.lower().encode("latin-1"), value.encode("latin-1"))
    for name, value in ({"Content-Type": VERDICT_TYPE} | VERDICT_HEADERS).items()
)


def _read(upload: StarletteUpload | None, limit: int, *, image: bool = True) -> bytes | None:
    if upload is None:
        return None
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        what = "an image" if image else "a document"
        error = ImageTooLarge if image else DocumentTooLarge
        raise error(f"{what} must be at most {limit // 2**20} MiB")
    return data


_VERIFY_FIELDS = frozenset({"image", "text", "document", "holder_id"})
#: The multipart field of the id presented with a license (see :class:`VerifyIn`).
_HOLDER_FIELD = {
    "type": "string",
    "maxLength": MAX_PRESENTED,
    "description": "For a license: the id number of the ID card presented (or the company's "
    "credit code), compared with its holder's; never echoed.",
}
_VERIFY_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": VerifyIn.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "image": {
                            "type": "string",
                            "format": "binary",
                            "description": "A photo or screenshot with the QR code (or give "
                            "text instead)",
                        },
                        "text": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": MAX_TEXT_LENGTH,
                            "description": "The QR code's text, EL1:… or ES1:… (or give "
                            "image instead)",
                        },
                        "document": {
                            "type": "string",
                            "format": "binary",
                            "description": "For a seal stamp: the file as it was stamped "
                            "(not a sealed copy printed from it), compared with the stamp",
                        },
                        "holder_id": _HOLDER_FIELD,
                    },
                    # The QR code as an image or as a text: one of them (else 400).
                    "oneOf": [{"required": ["image"]}, {"required": ["text"]}],
                }
            },
        },
    }
}


#: The problems both verification operations answer, by what causes them (the bounds a
#: client must keep to).
_VERIFY_PROBLEMS: tuple[Cause, ...] = (
    (
        InvalidHolderId,
        f"holder_id blank, over {MAX_PRESENTED} characters, or not an identity number or "
        "credit code whose check character holds",
    ),
    (HolderNotApplicable, "a holder id given with a seal stamp"),
    (
        ImageUnreadable,
        f"the image is none of {', '.join(FORMATS)}, or cannot be decoded",
    ),
    (
        FORM_UNREADABLE,
        "a multipart body that is no form, names a charset that is none, holds a field that "
        "is not text in it, or a text field over 1 MiB",
    ),
    (
        ImageTooLarge,
        f"an image over {MAX_IMAGE_BYTES // 2**20} MiB, {MAX_PIXELS // 1_000_000} megapixels "
        f"(a WebP {MAX_WEBP_PIXELS // 1_000_000}) or {MAX_SIDE} pixels a side, or one needing "
        f"more memory to decode than a scan worker holds, {SCAN_MEMORY // 2**20} MiB",
    ),
    (DocumentTooLarge, f"a stamped file over {MAX_DOCUMENT // 2**20} MiB"),
    (NoQrCode, "none found in the image"),
    (
        SeveralQrCodes,
        "the image shows the QR codes of two documents or more (licenses or seal stamps; "
        "another QR code beside one, a web link say, is left aside)",
    ),
    (ImageTooComplex, f"the QR reader gave up on the image after {SCAN_SECONDS:g} s"),
    SCANNER_BUSY,
    (
        MatcherBusy,
        f"a holder_id given, and every holder check stayed busy with others for "
        f"{MATCH_WAIT:g} s; retry later, or verify without it",
    ),
    STORE_UNAVAILABLE,  # the trust store and the live status are read from it
)
#: The problems of ``POST /v1/verify``: a JSON body it reads itself, or a form.
_VERIFY_TEXT_PROBLEMS = problems(
    (
        InvalidInput,
        f"a text over {MAX_TEXT_LENGTH} characters, or only of white space; a form with "
        "neither or both of the file image and the text field text, a field given twice or "
        "not one of image, text, document, holder_id, a document not a file, a holder_id "
        "not a text",
    ),
    *_VERIFY_PROBLEMS,
    (UnsupportedMediaType, "a body neither JSON nor a multipart/form-data form"),
    ENCODED_BODY,
    (
        INVALID_REQUEST,
        "a JSON body that is no object, without text, with an empty one, with a member not "
        "a string, or with members other than text and holder_id",
    ),
    *request_problems(
        SMALL_SUFFIXES[VERIFY_PATH],
        form_limit=LARGE_SUFFIXES[VERIFY_PATH],
        unlabelled_json=False,  # the route reads its JSON; a body without a type is a 415
    ),
)
#: The problems of ``POST /v1/verify/image``: a form only, which FastAPI reads.
_VERIFY_IMAGE_PROBLEMS = problems(
    (
        InvalidInput,
        "a form field given twice, or not one of image, document, holder_id",
    ),
    *_VERIFY_PROBLEMS,
    (UnsupportedMediaType, "a body that is not a multipart/form-data form"),
    ENCODED_BODY,
    (
        INVALID_REQUEST,
        "no image; an image or document that is not a file, a holder_id that is no text",
    ),
    *request_problems(form_limit=LARGE_SUFFIXES[f"{VERIFY_PATH}/image"]),
)
#: The verdict as the OpenAPI document describes it (the routes write it straight).
_VERDICT: dict[int | str, dict[str, Any]] = {
    200: {
        "model": Verdict,
        "description": "The verdict (not an error: a forged, revoked or unreadable document "
        "gets one too, red)",
    }
}


@router.post(
    VERIFY_PATH,
    openapi_extra=_VERIFY_BODY,
    response_model=None,
    responses=_VERDICT | _VERIFY_TEXT_PROBLEMS,
)
async def verify(request: Request) -> Response:
    """The verdict on a QR text (JSON ``{"text": "EL1:…"}``), or on the QR code in an image
    (multipart ``image``) or a text (multipart ``text``), with, for a seal stamp, the
    stamped file as the multipart ``document``; for a license, optionally the id presented
    with it (``holder_id``), compared with its holder's."""
    if request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        form = await request.form(max_files=2, max_fields=3)
        await check_form_fields(request, _VERIFY_FIELDS)
        image, text_field, document = form.get("image"), form.get("text"), form.get("document")
        if document is not None and not isinstance(document, StarletteUpload):
            raise InvalidInput("the document must be a file field 'document'")
        holder_id = form.get("holder_id")
        if holder_id is not None and not isinstance(holder_id, str):
            raise InvalidInput("the holder id must be a text field 'holder_id', not a file")
        if holder_id == "":  # a form's field left empty is not given, as POST /v1/verify/image
            holder_id = None  # reads it (FastAPI's Form): the same form, the same verdict
        if isinstance(image, StarletteUpload) and text_field is None:
            text = await run_in_threadpool(_scanned, image, holder_id)
            return _verdict_response(await _verdict(request, text, document, holder_id))
        if isinstance(text_field, str) and image is None:
            # The QR text with the stamped file (a stamp pasted or scanned, then compared).
            text = _text(text_field)
            return _verdict_response(await _verdict(request, text, document, holder_id))
        raise InvalidInput(
            "a multipart request carries the QR code as the file field 'image' or the text "
            "field 'text' (one of them), and for a seal stamp the file field 'document'"
        )
    if not is_json(request.headers.get("content-type", "")):
        raise UnsupportedMediaType(
            'send JSON ({"text": "EL1:…"}, Content-Type: application/json) or a '
            "multipart/form-data image"
        )
    text, holder_id = _json_input(await request.body())
    state = request.app.state
    if holder_id is not None:  # a hash to derive: never in the event loop
        return _verdict_response(await _verdict(request, text, None, holder_id))
    if (store := _in_loop_store(state, text)) is not None:
        verdict = verify_text(text, _context(state, store), holder_id=holder_id)
        return _verdict_response(verdict.to_json())
    return _verdict_response(
        await run_in_threadpool(
            lambda: verify_text(text, _context(state), holder_id=holder_id).to_json()
        )
    )


#: The usual body, ``{"text": "…"}`` with a text that has no escapes: its value is the
#: bytes between the quotes. Any other body (escapes, other keys, a key given twice) is
#: read by the strict JSON parser. The body is read up to the value's opening quote and
#: from its closing one by these two patterns, and the value between (up to the next
#: quote) by bytes methods: one pattern with a character class over the 650 bytes of a
#: QR text cost some 20,000 instructions a request more (bench.verify_http_instructions).
_WS = rb"[ \t\n\r]*"  # JSON's white space
_PLAIN_HEAD = re.compile(_WS.join([b"", rb"\{", rb'"text"', b":", b'"']))
_PLAIN_TAIL = re.compile(_WS.join([b'"', rb"\}", b""]))
#: What a JSON string holds only escaped: the backslash and the control characters.
_ESCAPED = b"\\" + bytes(range(0x20))


def _plain_value(body: bytes) -> bytes | None:
    """The value's bytes of a body ``{"text": "…"}`` whose text needs no escapes (JSON's
    white space around its tokens), or None for any other body."""
    head = _PLAIN_HEAD.match(body)
    if head is None:
        return None
    end = body.find(b'"', head.end())
    if end < 0 or _PLAIN_TAIL.fullmatch(body, end) is None:
        return None
    value = body[head.end() : end]
    return value if len(value.translate(None, _ESCAPED)) == len(value) else None


def _json_input(body: bytes) -> tuple[str, str | None]:
    """The QR text and the presented holder id (if any) of a JSON body ``{"text": "…"}``,
    read strictly (InvalidJson, a 422 RequestValidationError or InvalidInput otherwise)."""
    if (plain := _plain_value(body)) is not None and len(plain) <= MAX_TEXT_LENGTH:
        with contextlib.suppress(UnicodeDecodeError):  # not UTF-8: the parser says so
            text = plain.decode()
            if text:  # empty: the model's error
                return _text(text), None
    try:
        given = VerifyIn.model_validate(strict_json(body, SMALL_SUFFIXES[VERIFY_PATH]))
    except ValidationError as e:
        # Without the input: a holder id of the wrong type (a number) must not be echoed.
        raise RequestValidationError(_without_input(e)) from e
    return _text(given.text), given.holder_id


def _without_input(error: ValidationError) -> list[Any]:
    """A validation error's details, dropping the value each refused (it may be the number
    on someone's ID card)."""
    return [{k: v for k, v in e.items() if k not in ("input", "ctx")} for e in error.errors()]


def _in_loop_store(state: State, text: str) -> TrustStore | None:
    """The trust store to verify ``text`` with in the event loop, or None for the thread
    pool. A license's verdict is about 0.1 ms of CPU and one read on this thread's own
    SQLite connection, which never waits in WAL mode: cheaper done in the loop than handed
    to a thread and back. A network database, a trust store to rebuild, or a stamp (its
    seal's status comes through the pool) go to the thread pool."""
    if not text.startswith("EL1:") or not state.node.sql.is_sqlite:
        return None
    cache: BundleCache = state.bundles
    return cache.cached()


class VerifyInLoop:
    """ASGI middleware: ``POST /v1/verify`` with a JSON body, answered straight when the
    verdict can be computed in the event loop (see :func:`_in_loop_store`).

    The route answers the same, but FastAPI's routing, dependency solving and request
    objects around it cost about as much server CPU as the verdict itself (measured in
    ``bench.verify_http``). Every other request, and every JSON body the route would
    refuse or send to the thread pool, goes on to the app unchanged, with the body already
    read given again: errors keep their one way of being answered (the route's RFC 9457
    problems). It sits inside :class:`~eseal.api.limits.BodyLimit`, so the body is
    bounded and repeated headers are refused before it reads anything."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != VERIFY_PATH
            or scope["method"] != "POST"
            or not is_json(_content_type(scope))
        ):
            await self.app(scope, receive, send)
            return
        try:
            body = await whole_body(receive, SMALL_SUFFIXES[VERIFY_PATH])
        except ClientDisconnect:
            return  # nobody to answer
        answer = _in_loop_answer(scope["app"].state, body)
        if answer is None:
            await self.app(scope, replay(body, receive), send)
            return
        headers = [(b"content-length", b"%d" % len(answer)), *_VERDICT_RAW_HEADERS]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer})


def _content_type(scope: Scope) -> str:
    return single_headers(scope["headers"])[0].get(b"content-type", b"").decode("latin-1")


def _in_loop_answer(state: State, body: bytes) -> bytes | None:
    """The verdict on a JSON body, encoded as the route would answer it in the event loop,
    or None where the route answers otherwise (a refusal, a stamp, the thread pool, an
    error)."""
    try:
        text, holder_id = _json_input(body)
    except (EsealError, RequestValidationError):
        return None
    if holder_id is not None or (store := _in_loop_store(state, text)) is None:
        return None  # a presented id is matched by the route, in a match slot
    try:
        verdict = verify_text(text, _context(state, store), holder_id=holder_id).to_json()
    except EsealError:
        return None  # the route meets it again and answers its problem
    return orjson.dumps(verdict)


def _text(raw: str) -> str:
    if len(raw) > MAX_TEXT_LENGTH:  # as sent, spaces included: the bound is on the input
        raise InvalidInput(f"the QR text is longer than {MAX_TEXT_LENGTH} characters")
    text = raw.strip()
    if not text:
        raise InvalidInput("the QR text is empty")
    return text


def _verify_with_document(
    request: Request,
    text: str,
    document: StarletteUpload | None,
    holder_id: str | None = None,
) -> dict[str, Any]:
    if holder_id is not None:
        presented_id(holder_id)  # refused before the document is read (never named)
    document_bytes = _read(document, MAX_DOCUMENT, image=False)
    ctx = _context(request.app.state)
    return verify_text(text, ctx, document=document_bytes, holder_id=holder_id).to_json()


def _scanned(image: StarletteUpload, holder_id: str | None = None) -> str:
    """The QR text read from ``image`` (in the thread pool: it waits on the QR readers)."""
    if holder_id is not None:
        presented_id(holder_id)  # refused before the image is scanned (never named)
    return scan_image(_read(image, MAX_IMAGE_BYTES) or b"")


async def _verdict(
    request: Request,
    text: str,
    document: StarletteUpload | None,
    holder_id: str | None,
) -> dict[str, Any]:
    """The verdict, computed in the thread pool; with a presented holder id, once one of
    :func:`matchers` is free (:class:`MatcherBusy` if none is within :data:`MATCH_WAIT`
    seconds). A well-formed id is checked first: a mistyped one is a 400 however busy."""
    work = functools.partial(_verify_with_document, request, text, document, holder_id)
    if holder_id is None:
        return await run_in_threadpool(work)
    presented_id(holder_id)
    slots = matchers()
    busy = MatcherBusy(
        "every holder check of this node is busy with others: try again in a few "
        "seconds, or verify without the id number"
    )
    await take_slot(slots, MATCH_WAIT, busy)
    try:
        return await run_in_threadpool(work)
    finally:
        slots.release()


@router.post(
    f"{VERIFY_PATH}/image",
    response_model=None,
    dependencies=[FormFields("image", "document", "holder_id")],
    responses=_VERDICT | _VERIFY_IMAGE_PROBLEMS,
)
async def verify_image(
    request: Request,
    image: Annotated[UploadFile, File(description="A photo or screenshot with the QR code")],
    document: Annotated[UploadFile | None, File(description="For a seal stamp: the file")] = None,
    holder_id: Annotated[
        str | None,
        Form(
            description="For a license: the id number of the ID card presented (or the "
            "company's credit code), compared with its holder's; never echoed.",
            json_schema_extra={"maxLength": MAX_PRESENTED},
        ),
    ] = None,
) -> Response:
    """The verdict on the QR code in an image (the multipart form of ``POST /v1/verify``)."""
    text = await run_in_threadpool(_scanned, image, holder_id)
    return _verdict_response(await _verdict(request, text, document, holder_id))


def _envelope(description: str) -> dict[int | str, dict[str, Any]]:
    """The 200 of a signed file, as the OpenAPI document describes it."""
    return {200: {"model": DsseEnvelope, "description": description}}


async def _built_snapshot(
    snapshots: SnapshotCache, witnessed: bool, at: int | None
) -> BuiltSnapshot:
    """The snapshot of a cut whose fresh one is not kept: built in this process's turn for
    its kind of cut (:func:`snapshot_builders`); while another request holds it, the last
    built of this cut (:meth:`~eseal.trust_export.SnapshotCache.last`) at once, or, where
    none is kept, built once the turn comes (:class:`SnapshotBusy` past :data:`SNAPSHOT_WAIT`)."""
    turn = snapshot_builders(at is not None)
    try:
        turn.acquire_nowait()
    except anyio.WouldBlock:
        last = snapshots.last(witnessed=witnessed, at=at)
        if last is not None:
            return last
        busy = SnapshotBusy(
            "the node is building other revocation snapshots: try again in a minute"
        )
        await take_slot(turn, SNAPSHOT_WAIT, busy)
    try:
        return await run_in_threadpool(snapshots.build, witnessed=witnessed, at=at)
    finally:
        turn.release()


@router.get(
    "/v1/bundle",
    response_model=None,
    responses=_envelope("The trust bundle") | public_problems(STORE_UNAVAILABLE, KEYS_LOCKED),
)
def bundle(node: NodeDep) -> Response:
    """The region's trust bundle (payload type ``application/vnd.eseal.trust-bundle+json``),
    signed by its root key as it is answered: a node serving read-only (no passphrase)
    answers 503 ``keys-locked``. Fetch it with ``eseal bundle fetch URL --pin ROOT_KEY_ID``,
    which checks the root before it keeps the file."""
    return Response(
        export_bundle(node, now=int(time.time())),
        media_type="application/json",
        headers=CURRENT_HEADERS,
    )


@router.get(
    "/v1/revocations",
    response_model=None,
    responses=_envelope("The revocation snapshot")
    | {304: {"description": "Not Modified: the If-None-Match names the snapshot's ETag"}}
    | public_problems(
        STORE_UNAVAILABLE,
        KEYS_LOCKED,
        *CUT_PROBLEMS,
        (
            SnapshotBusy,
            f"no snapshot of the cut asked is kept, and other builds kept the node busy for "
            f"{SNAPSHOT_WAIT:g} s; retry later",
        ),
    ),
)
async def revocations(
    request: Request,
    witnessed: WitnessedCutQuery,
    at: CutSizeQuery,
) -> Response:
    """The revocation snapshot (payload type ``application/vnd.eseal.revocations+cbor``),
    signed by the region's log key when built (a node serving read-only answers 503
    ``keys-locked``), as of 120 s or more before it was built. Check it against the log key
    of the region's trust bundle (``eseal revocations fetch URL --bundle FILE``). Its
    checkpoint carries the cosignature lines of the node's witnesses on it.

    A snapshot built is answered again for up to 30 s (an hour where it speaks for every
    license of its cut) while the checkpoint it is cut at stays the node's cut (a new
    ledger entry, a revocation say, is a new snapshot at once), with its ETag: an
    If-None-Match naming it is answered 304 without the file. Snapshots
    are built one at a time: while one is built, a request whose snapshot is not fresh is
    answered the last built of its cut, or, if none is kept, waits its turn at most 30 s,
    then 503 ``snapshot-busy``."""
    snapshots: SnapshotCache = request.app.state.snapshots
    built = await run_in_threadpool(snapshots.cached, witnessed=witnessed, at=at)
    if built is None:
        built = await _built_snapshot(snapshots, witnessed, at)
    headers = CURRENT_HEADERS | {"ETag": built.etag}
    if etag_matches(request.headers.get("if-none-match"), built.etag):
        return Response(status_code=304, headers=headers)
    return Response(built.data, media_type="application/json", headers=headers)
