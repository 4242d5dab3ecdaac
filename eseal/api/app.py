"""The FastAPI application: routes, RFC 9457 problem responses, and the node it serves."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping
from http import HTTPStatus
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from eseal.agencies import NotAuthenticated
from eseal.api.deps import problem_response
from eseal.api.forms import FormUnreadable
from eseal.api.limits import (
    BODY_TOO_LARGE,
    BODY_TOO_LARGE_TITLE,
    BodyLimit,
    BodyTooLarge,
    HeadAsGet,
    problem_answer,
)
from eseal.api.problem_types import INTERNAL_ERROR, INVALID_REQUEST, METHOD_NOT_ALLOWED, NOT_FOUND
from eseal.api.routes import (
    docs,
    health,
    ledger,
    license_types,
    licenses,
    printouts,
    seals,
    verify,
    window,
    witness,
)
from eseal.api.server import ReadTimeoutH11Protocol
from eseal.api.timeouts import ReadTimeouts
from eseal.node import Node
from eseal.problems import plain_problem, problem
from eseal.render import FONT_MISSING_PUBLIC, FontMissing
from eseal.trust_export import BundleCache, LocalStatus, SnapshotCache
from keys.errors import EsealError, InvalidInput
from keys.keyfile import passphrase_if_set
from ledger.store import StoreUnavailable
from verifier.scan_pool import close_default_pool

#: How uvicorn serves the app (``eseal serve``, the benches and the end-to-end tests): with
#: h11, whatever else is installed. h11 refuses a header section of which more than 16 KiB
#: is still incomplete after a read (one that comes whole in a read, at most 256 KiB,
#: passes), and drops chunked trailers; uvicorn's httptools parser (picked when installed)
#: bounds no header's size, adds trailer fields to the request's headers after the app has
#: read them (an Authorization in a trailer passed for a credential), and reads the body of
#: a request that asks for an Upgrade as the next request. It served POST /v1/verify 1.4 times as
#: fast (BENCHMARKS.md), which does not weigh against that. The protocol is uvicorn's h11
#: one, subclassed to close connections whose client sends a request too slowly
#: (:mod:`eseal.api.server`; its timeouts are set per process, see app_from_environment).
SERVER_OPTIONS: Final[Mapping[str, Any]] = MappingProxyType({"http": ReadTimeoutH11Protocol})

#: FastAPI's OpenTelemetry switched off: with it on, every request first asks whether a
#: tracer, meter or logger provider is configured (reading the environment each time),
#: which cost POST /v1/verify 2–3 % of its server CPU (BENCHMARKS.md) for nothing, as
#: eseal configures no provider. An operator who asks for telemetry through the environment
#: (any ``OTEL_…`` variable, or ``FASTAPI_OTEL_AUTO_CONFIGURE``) keeps FastAPI's default.
TELEMETRY_OFF: Final[Mapping[str, bool]] = MappingProxyType(
    {"tracing": False, "metrics": False, "logs": False}
)


def telemetry_config(environ: Mapping[str, str]) -> dict[str, Any] | None:
    """FastAPI's ``telemetry`` argument for this environment: None (FastAPI's default)
    when it asks for OpenTelemetry, else :data:`TELEMETRY_OFF`."""
    disabled = environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
    if not disabled and any(name.startswith(("OTEL_", "FASTAPI_OTEL_")) for name in environ):
        return None
    return dict(TELEMETRY_OFF)


_log = logging.getLogger("eseal.api")

#: Sent with every 401 (RFC 9110 §11.6.1, RFC 6750 §3): the credential is a bearer token.
BEARER_CHALLENGE: Final[Mapping[str, str]] = MappingProxyType({"WWW-Authenticate": "Bearer"})


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    app.state.status.close()  # the status reader's per-thread database connections
    close_default_pool()  # the image readers' worker processes
    if app.state.owns_node:
        app.state.node.close()


class Problem(BaseModel):
    """An RFC 9457 problem: every error answer of the API has this body."""

    type: str = Field(
        description="A URI naming the problem type; its last path segment is the code the "
        "documentation names (unknown-license, bad-range, keys-locked, …)."
    )
    title: str
    status: int
    detail: str
    instance: str | None = Field(
        default=None, description="The path of the request, where the problem is about one."
    )


#: Documented on every operation, only to be dropped: each operation names its own 4xx and
#: 503s, with their problem types (:func:`eseal.api.deps.problems`; a 503 only for the
#: causes it can answer: the database, its keys locked, the QR readers busy), and any other
#: 5xx it answers (a status's 500) on its route. The bare 422 here only keeps FastAPI from
#: adding its own (a body this API never sends) to each operation with a parameter, and is
#: dropped wherever the operation names none (:func:`_only_problems_answered`).
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = problem_response(422)


def _openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """The OpenAPI document, with the Problem schema the error responses refer to."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components["Problem"] = Problem.model_json_schema()
            _only_problems_answered(schema)
            _forms_as_read(schema)
            _headers_as_read(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    return openapi


def _only_problems_answered(schema: dict[str, Any]) -> None:
    """Drop from each operation of ``schema`` every 4xx that names no problem type (the
    placeholder 422 of :data:`PROBLEM_RESPONSES`): each operation names the problems it
    answers (:func:`eseal.api.deps.agency_problems`, :func:`eseal.api.deps.public_problems`,
    the verification's own), and lists no 4xx it cannot answer. The answers are listed by
    status."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            if "x-c2sp" in operation:  # another protocol's answers, as it names them
                operation["responses"] = dict(sorted(responses.items()))
                continue
            operation["responses"] = {
                status: response
                for status, response in sorted(responses.items())
                if not status.startswith("4") or "x-problem-types" in response
            }


def _forms_as_read(schema: dict[str, Any]) -> None:
    """Describe each multipart form of ``schema`` as the node reads it: only the fields its
    operation names (any other is refused, :func:`eseal.api.deps.check_form_fields`), each
    a text or a file, or left out. FastAPI describes an optional field as nullable, which a
    form cannot send: a client reading the document sent the text "null" (refused as a
    document, taken as a holder id)."""
    components = schema.get("components", {}).get("schemas", {})
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            content = operation.get("requestBody", {}).get("content", {})
            form = content.get("multipart/form-data", {}).get("schema")
            if form is None:
                continue
            if "$ref" in form:
                form = components[form["$ref"].rsplit("/", 1)[1]]
            form["additionalProperties"] = False
            for name, field in form.get("properties", {}).items():
                form["properties"][name] = _not_null(field)


def _headers_as_read(schema: dict[str, Any]) -> None:
    """Describe each header parameter of ``schema`` as a string, given or not: FastAPI
    describes an optional one as nullable, which no header can be."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "header":
                    parameter["schema"] = _not_null(parameter["schema"])


def _not_null(field: dict[str, Any]) -> dict[str, Any]:
    """``field`` without the null its ``anyOf`` allows (the one branch left merged in)."""
    branches = [b for b in field.get("anyOf", []) if b.get("type") != "null"]
    if "anyOf" not in field or len(branches) != 1:
        return field
    merged: dict[str, Any] = {**branches[0], **{k: v for k, v in field.items() if k != "anyOf"}}
    return merged


def app_from_environment() -> FastAPI:
    """The API over the node in ``ESEAL_DATA`` (its database at ``ESEAL_DATABASE_URL`` if
    set), opened in this process, with its keys unlocked by ``ESEAL_PASSPHRASE`` if set
    (read-only otherwise), and closed when the app shuts down. Each worker process of
    ``eseal serve --workers N`` runs this: uvicorn starts workers as new processes, which
    build their app from an import string.

    It also sets this process's read and send timeouts from the environment
    (``ESEAL_HEADER_TIMEOUT``, …, see :mod:`eseal.api.timeouts`): a worker gets the
    server's protocol class by its name, so its settings come the way the data directory
    does."""
    passphrase = passphrase_if_set()
    data = os.environ.get("ESEAL_DATA")
    if not data:
        raise InvalidInput("ESEAL_DATA must name the node's data directory")
    try:
        ReadTimeoutH11Protocol.timeouts = ReadTimeouts.from_environment()
    except ValueError as e:
        raise InvalidInput(str(e)) from None
    url = os.environ.get("ESEAL_DATABASE_URL") or None
    node = Node.open(Path(data), passphrase=passphrase, database_url=url)
    node.start_group_commit()
    return create_app(node, owns_node=True)


def create_app(node: Node, *, owns_node: bool = False) -> FastAPI:
    """The API over one opened node (kept in ``app.state.node``); with ``owns_node`` the
    app closes the node when it shuts down."""
    # /docs with Swagger UI served from the package, not a CDN: an operator pastes a bearer
    # token into it, and no other origin's script should be on the page (nor should the
    # page need the internet). No /redoc: ReDoc's page still fetches its logo from its CDN.
    app = FastAPIOffline(
        docs_url=None,  # eseal.api.routes.docs serves it, with its headers
        static_url=docs.STATIC,
        redoc_url=None,
        title="eseal",
        version="1",
        summary="Electronic licenses and seals on a witnessed, RFC 9162 ledger.",
        lifespan=_lifespan,
        responses=PROBLEM_RESPONSES,
        # No redirect to the path with(out) a slash: it would name the host from the
        # request's Host header (a cache behind a proxy could keep a redirect elsewhere).
        redirect_slashes=False,
        telemetry=telemetry_config(os.environ),
    )
    app.openapi = _openapi(app)  # type: ignore[method-assign]
    app.state.node = node
    app.state.owns_node = owns_node
    app.add_middleware(verify.VerifyInLoop)  # inside BodyLimit: bodies come in bounded
    app.add_middleware(BodyLimit)
    app.add_middleware(HeadAsGet)  # outermost: a HEAD is a GET all the way in
    # Routes are matched in order: the public verification endpoints, the hot path of
    # every window, first (matching a path against each route costs several µs).
    app.include_router(verify.router)
    app.include_router(health.router)
    app.include_router(ledger.router)
    app.include_router(license_types.router)
    app.include_router(printouts.router)  # before licenses: POST on a printout is no action
    app.include_router(licenses.router)
    app.include_router(seals.router)
    app.include_router(window.router)
    app.include_router(witness.router)
    app.include_router(docs.router)
    app.state.bundles = BundleCache(node)
    app.state.status = LocalStatus(node)
    app.state.snapshots = SnapshotCache(node)

    @app.exception_handler(EsealError)
    async def _eseal_error(request: Request, exc: EsealError) -> JSONResponse:
        # A 401 names the scheme to authenticate with (RFC 9110 §11.6.1: it must).
        challenge = BEARER_CHALLENGE if isinstance(exc, NotAuthenticated) else None
        if isinstance(exc, FontMissing):
            # What the node's font setting is (a path of its file system) is its operator's
            # to read in the log, not an agency's: the client is told what is missing.
            _log.error("%s %s: %s", request.method, request.url.path, exc.message)
            exc = FontMissing(FONT_MISSING_PUBLIC)
        return problem_answer(problem(exc, instance=request.url.path), challenge)

    @app.exception_handler(OperationalError)
    @app.exception_handler(PoolTimeout)
    async def _store_error(request: Request, exc: SQLAlchemyError) -> JSONResponse:
        # The database failing (gone, locked, out of space) where no route anticipated it:
        # a 503 problem like the ones they raise (StoreUnavailable), not a plain-text 500;
        # what the driver said goes to the log only (it may quote SQL and parameters).
        # Other database errors (a constraint, a schema not migrated) are no better on a
        # retry: they are the 500 below.
        _log.error("database failure on %s %s", request.method, request.url.path, exc_info=exc)
        unavailable = StoreUnavailable("the node's database cannot answer now; try again later")
        return await _eseal_error(request, unavailable)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        # Starlette answers with this and then raises the exception again, for the server to
        # log: the client gets a problem, not a plain-text page.
        detail = "the node failed to answer this request; its operator can find it in the log"
        return problem_answer(
            plain_problem(500, "Internal Server Error", detail, INTERNAL_ERROR.code)
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = "; ".join(_describe(e) for e in exc.errors()[:10])
        body = plain_problem(
            422, "Invalid request", detail, INVALID_REQUEST.code, instance=request.url.path
        )
        return problem_answer(body)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc, BodyTooLarge):  # a body without Content-Length, cut off in flight
            title, code = BODY_TOO_LARGE_TITLE, BODY_TOO_LARGE
        elif isinstance(exc, FormUnreadable):
            title, code = FormUnreadable.title, FormUnreadable.code
        else:
            title = HTTPStatus(exc.status_code).phrase
            code = _HTTP_CODES.get(exc.status_code, f"http-{exc.status_code}")
        body = plain_problem(
            exc.status_code, title, str(exc.detail), code, instance=request.url.path
        )
        return problem_answer(body, _allow_head(dict(exc.headers or {})))

    return app


def _allow_head(headers: dict[str, str]) -> dict[str, str]:
    """A 405's ``Allow`` with HEAD wherever it names GET: :class:`HeadAsGet` answers HEAD
    on every GET resource, which the routes (naming only GET) do not say."""
    for name, value in headers.items():
        if name.lower() == "allow":
            methods = [m.strip() for m in value.split(",") if m.strip()]
            if "GET" in methods and "HEAD" not in methods:
                methods.insert(methods.index("GET") + 1, "HEAD")
                return headers | {name: ", ".join(methods)}
    return headers


#: Problem type codes of the HTTP errors Starlette raises (routing, methods).
_HTTP_CODES = {404: NOT_FOUND.code, 405: METHOD_NOT_ALLOWED.code}


def _describe(error: Any) -> str:
    where = ".".join(str(p) for p in error.get("loc", ()))
    return f"{where}: {error.get('msg', 'invalid')}"
