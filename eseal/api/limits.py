"""A hard limit on request body size (ASGI middleware): larger bodies get a 413 problem
before the application reads them, whether or not they declare a Content-Length."""

from __future__ import annotations

import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse

from eseal.api import problem_types
from eseal.ids import first_repeated
from eseal.problems import PROBLEM_HEADERS, PROBLEM_JSON, plain_problem, problem
from keys.errors import InvalidInput, shown
from keys.strictjson import MalformedJson, loads_strict
from ledger.witness import ADD_CHECKPOINT_PATH  # a text body (tlog-witness), not JSON

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DEFAULT_LIMIT = 1024 * 1024
#: The public verification endpoint: its JSON body is small, its multipart body large.
VERIFY_PATH = "/v1/verify"
#: Paths (by suffix) allowed a larger multipart body: documents to seal, images (and
#: documents) to verify. Any other body, JSON included, has the default limit; the
#: endpoints bound each part again.
LARGE_SUFFIXES = {
    "/stamp": 21 * 1024 * 1024,
    VERIFY_PATH: 31 * 1024 * 1024,
    f"{VERIFY_PATH}/image": 31 * 1024 * 1024,
}

#: Public endpoints whose body is small: a QR text is at most 4,000 characters; an
#: add-checkpoint body a signed checkpoint and at most 63 proof lines.
SMALL_SUFFIXES = {VERIFY_PATH: 16 * 1024, ADD_CHECKPOINT_PATH: 64 * 1024}


BODY_TOO_LARGE = problem_types.BODY_TOO_LARGE.code
BODY_TOO_LARGE_TITLE = "Request body too large"
#: Headers a request may carry once: two Content-Types could be read one way here (the
#: body limit) and another in the route, two credentials one way by a proxy and another
#: by the app; an Idempotency-Key once, as its draft says.
SINGLE_HEADERS = frozenset(
    {
        b"content-type",
        b"content-length",
        b"authorization",
        b"transfer-encoding",
        b"idempotency-key",
    }
)


class InvalidJson(InvalidInput):
    """The request body is not JSON in UTF-8 with distinct keys."""

    code = "invalid-json"


#: The title of an invalid-json problem, answered here or by a route (one title a type).
INVALID_JSON_TITLE = problem(InvalidJson(""))["title"]


class UnsupportedMediaType(InvalidInput):
    """The request body is not of a media type the operation reads."""

    code = "unsupported-media-type"
    http_status = 415


UNSUPPORTED_MEDIA_TYPE_TITLE = problem(UnsupportedMediaType(""))["title"]
#: Sent with the 415 of a body with a content coding: the coding the node reads (RFC 9110
#: §12.5.3).
IDENTITY_ONLY = {"Accept-Encoding": "identity"}


class BodyTooLarge(HTTPException):
    """Raised while the body streams in; an HTTPException, so the app renders a 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body must be at most {limit} bytes")


class BodyLimit:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        headers, repeated = single_headers(scope.get("headers", ()))
        # First, before any other refusal: a request framed two ways. A proxy that reads one
        # framing and a server that reads the other see different requests on the
        # connection, so the answer closes it (RFC 9112 §6.1); every later refusal is of a
        # request whose body has one framing, which the server skips to keep the connection.
        if b"transfer-encoding" in headers and b"content-length" in headers:
            detail = "a request carries Content-Length or Transfer-Encoding, not both"
            await _problem(
                send,
                400,
                "Ambiguous framing",
                detail,
                problem_types.AMBIGUOUS_FRAMING.code,
                close=True,
            )
            return
        if (refusal := _refusal(repeated, scope.get("query_string", b""))) is not None:
            await _problem(send, 400, *refusal)
            return
        if scope.get("method") == "POST" and (coding := content_coding(scope)) is not None:
            # Read as sent, the body would be taken for what it encodes (a document sealed
            # as its compressed bytes), and read otherwise by a proxy that decodes it.
            detail = (
                "the node reads request bodies uncompressed: send it without a "
                f"Content-Encoding (or with identity), not {shown(coding)}"
            )
            code = UnsupportedMediaType.code
            await _problem(
                send, 415, UNSUPPORTED_MEDIA_TYPE_TITLE, detail, code, headers=IDENTITY_ONLY
            )
            return
        content_type = headers.get(b"content-type", b"").lower()
        multipart = content_type.startswith(b"multipart/form-data")
        suffixes = LARGE_SUFFIXES if multipart else SMALL_SUFFIXES
        limit = next((v for k, v in suffixes.items() if path.endswith(k)), DEFAULT_LIMIT)
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _reject(send, limit)
            return
        # A body without a Content-Type is checked as JSON too: some FastAPI releases that
        # pyproject admits parse it as JSON.
        maybe_json = is_json(content_type.decode("latin-1")) or b"content-type" not in headers
        if maybe_json and not path.endswith(SELF_STRICT_JSON) and path != ADD_CHECKPOINT_PATH:
            checked = await _checked_json(receive, send, limit)
            if checked is None:
                return  # refused (answered), or the client left
            receive = checked
        await self._limited(scope, receive, send, limit)

    async def _limited(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """The app, with the body counted as it streams in (413 past ``limit``)."""
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _reject(send, limit)
        except ClientDisconnect:
            return  # the client left before sending its whole body: nobody to answer


def single_headers(
    raw_headers: Iterable[tuple[bytes, bytes]],
) -> tuple[dict[bytes, bytes], bytes | None]:
    """The headers of :data:`SINGLE_HEADERS` that the request has, by name, and the first
    of them it gives twice (None if none)."""
    found: dict[bytes, bytes] = {}
    repeated = None
    for name, value in raw_headers:
        if name in SINGLE_HEADERS:
            if name not in found:
                found[name] = value
            elif repeated is None:
                repeated = name
    return found, repeated


def content_coding(scope: Scope) -> str | None:
    """The first content coding other than identity that the request's Content-Encoding
    headers name (RFC 9110 §8.4: a list, perhaps over several headers), or None."""
    raw: Iterable[tuple[bytes, bytes]] = scope.get("headers", ())
    for name, value in raw:
        if name == b"content-encoding":
            for coding in value.decode("latin-1").split(","):
                if coding.strip() and coding.strip().lower() != "identity":
                    return coding.strip()
    return None


def _refusal(repeated: bytes | None, query: bytes) -> tuple[str, str, str] | None:
    """Title, detail and code of the 400 for a header or query parameter given twice."""
    if repeated is not None:
        detail = f"the {repeated.decode()} header may be given only once"
        return "Repeated header", detail, problem_types.REPEATED_HEADER.code
    if query and (name := _repeated_parameter(query.decode("latin-1"))) is not None:
        detail = f"the query parameter {name!r} may be given only once"
        return "Repeated parameter", detail, problem_types.REPEATED_PARAMETER.code
    return None


async def _checked_json(receive: Receive, send: Send, limit: int) -> Receive | None:
    """The JSON body read whole and checked (UTF-8, JSON, distinct keys), then replayed to
    the app; None once refused or when the client has left."""
    try:
        body = await whole_body(receive, limit)
    except BodyTooLarge:
        await _reject(send, limit)
        return None
    except ClientDisconnect:
        return None
    if body:
        try:
            strict_json(body, limit)
        except InvalidJson as e:
            await _problem(send, 400, INVALID_JSON_TITLE, e.message, InvalidJson.code)
            return None
    return replay(body, receive)


#: Paths (by suffix) whose route parses its JSON body strictly itself (the hot path of
#: POST /v1/verify is not parsed twice).
SELF_STRICT_JSON = (VERIFY_PATH,)


def is_json(content_type: str) -> bool:
    """Whether a Content-Type is JSON as FastAPI reads it: application/json or
    application/…+json."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _repeated_parameter(query: str) -> str | None:
    return first_repeated(name for name, _ in urllib.parse.parse_qsl(query, keep_blank_values=True))


def strict_json(body: bytes, limit: int) -> Any:
    """The JSON value of a request ``body`` of at most ``limit`` bytes, read strictly
    (:func:`keys.strictjson.loads_strict`: UTF-8 only, as RFC 8259 says, where json.loads
    would also take UTF-16 and a BOM; without NaN or Infinity; no repeated key, which a
    parser keeping the last one and another the first would read as two different
    requests); :class:`InvalidJson` otherwise."""
    try:
        return loads_strict(body, what="the body", max_bytes=limit)
    except MalformedJson as e:
        raise InvalidJson(e.message) from e


async def whole_body(receive: Receive, limit: int) -> bytes:
    """The whole request body; BodyTooLarge past ``limit`` bytes, ClientDisconnect if the
    client leaves first."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives ``body`` once, then what the client sends (its disconnect)."""
    given = False

    async def replayed() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


async def _reject(send: Send, limit: int) -> None:
    # No Connection: close here: closing while the client still uploads makes its kernel
    # drop the 413 unread (a reset); the server skips the rest of the body instead.
    detail = f"the request body must be at most {limit} bytes"
    await _problem(send, 413, BODY_TOO_LARGE_TITLE, detail, BODY_TOO_LARGE)


def problem_answer(
    body: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """An RFC 9457 problem ``body`` as every problem is answered (the app's error
    handlers, the body limit, the read timeouts): its status, the problem media type,
    :data:`~eseal.problems.PROBLEM_HEADERS` and any ``headers``."""
    return JSONResponse(
        dict(body),
        int(body["status"]),
        media_type=PROBLEM_JSON,
        headers={**PROBLEM_HEADERS, **(headers or {})},
    )


async def _problem(
    send: Send,
    status: int,
    title: str,
    detail: str,
    code: str,
    *,
    headers: Mapping[str, str] | None = None,
    close: bool = False,
) -> None:
    """Answer an RFC 9457 problem, rendered as the app's own error handlers render theirs
    (a 413 sent from here and one from the app are the same bytes), with ``headers``; with
    ``close``, the server closes the connection after it."""
    more = {**(headers or {}), **({"Connection": "close"} if close else {})}
    response = problem_answer(plain_problem(status, title, detail, code), more)
    await send({"type": "http.response.start", "status": status, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})


class HeadAsGet:
    """HEAD on every GET resource (RFC 9110 §9.3.2): the GET route answers, and only its
    status and headers are sent. FastAPI's routes answer only the methods they name."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if not message.get("more_body", False):
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)
