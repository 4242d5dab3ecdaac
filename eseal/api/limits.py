"""A hard limit on request body size (ASGI middleware): larger bodies get a 413 problem
before the application reads them, whether or not they declare a Content-Length."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from eseal.problems import plain_problem

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DEFAULT_LIMIT = 1024 * 1024
#: Paths (by suffix) allowed a larger multipart body: documents to seal, images (and
#: documents) to verify. Any other body, JSON included, has the default limit; the
#: endpoints bound each part again.
LARGE_SUFFIXES = {
    "/stamp": 21 * 1024 * 1024,
    "/v1/verify": 31 * 1024 * 1024,
    "/v1/verify/image": 31 * 1024 * 1024,
}

#: Public endpoints whose JSON body is small: a QR text is at most 4,000 characters.
SMALL_SUFFIXES = {"/v1/verify": 16 * 1024}


BODY_TOO_LARGE = "body-too-large"
BODY_TOO_LARGE_TITLE = "Request body too large"
#: Headers a request may carry once: two Content-Types could be read one way here (the
#: body limit) and another in the route, two credentials one way by a proxy and another
#: by the app.
SINGLE_HEADERS = (b"content-type", b"content-length", b"authorization", b"transfer-encoding")


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
        raw_headers: list[tuple[bytes, bytes]] = list(scope.get("headers", []))
        headers = dict(raw_headers)
        if len(headers) != len(raw_headers):
            names = [name for name, _ in raw_headers]
            if repeated := [n for n in SINGLE_HEADERS if names.count(n) > 1]:
                detail = f"the {repeated[0].decode()} header may be given only once"
                await _problem(send, 400, "Repeated header", detail, "repeated-header")
                return
        multipart = headers.get(b"content-type", b"").lower().startswith(b"multipart/form-data")
        suffixes = LARGE_SUFFIXES if multipart else SMALL_SUFFIXES
        limit = next((v for k, v in suffixes.items() if path.endswith(k)), DEFAULT_LIMIT)
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _reject(send, limit)
            return
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


async def _reject(send: Send, limit: int) -> None:
    detail = f"the request body must be at most {limit} bytes"
    await _problem(send, 413, BODY_TOO_LARGE_TITLE, detail, BODY_TOO_LARGE)


async def _problem(send: Send, status: int, title: str, detail: str, code: str) -> None:
    body = json.dumps(plain_problem(status, title, detail, code)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
