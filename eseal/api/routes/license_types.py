"""The license-type catalogue over HTTP (public, read-only): what an agency's client needs to
issue a license of each type, as ``eseal license types --json`` prints it (both are
:meth:`eseal.catalog.LicenseType.to_json`)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from eseal.api.answers import LicenseTypeOut
from eseal.api.deps import public_problems
from eseal.catalog import TYPE_CODE_PATTERN, LicenseTypeNotFound, load_catalog
from eseal.etags import body_etag, etag_matches
from eseal.problems import NO_SNIFF

router = APIRouter(prefix="/v1/license-types", tags=["license types"])

#: The catalogue is shipped with the node: the same for every asker, and until the node is
#: upgraded. A cache may keep it an hour, then ask again with the ETag (304 if unchanged).
CATALOGUE_MAX_AGE = 3600
CATALOGUE_CACHE_CONTROL = f"public, max-age={CATALOGUE_MAX_AGE}"


@dataclass(frozen=True)
class _Answer:
    body: bytes
    etag: str


def _answer(value: Any) -> _Answer:
    body = orjson.dumps(value)
    return _Answer(body, body_etag(body))


@functools.cache
def _answers() -> tuple[_Answer, dict[str, _Answer]]:
    """The list's answer and each type's, encoded once (the shipped catalogue is read once)."""
    catalog = load_catalog()
    return _answer(catalog.to_json()), {t.code: _answer(t.to_json()) for t in catalog}


def _respond(request: Request, answer: _Answer) -> Response:
    headers = {"Cache-Control": CATALOGUE_CACHE_CONTROL, "ETag": answer.etag} | NO_SNIFF
    if etag_matches(request.headers.get("if-none-match"), answer.etag):
        return Response(status_code=304, headers=headers)
    return Response(answer.body, media_type="application/json", headers=headers)


def _ok(model: Any, description: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"model": model, "description": description}}


_NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not Modified: the If-None-Match names the answer's current ETag"}
}


@router.get(
    "",
    response_model=None,
    responses=_ok(list[LicenseTypeOut], "Every type") | _NOT_MODIFIED | public_problems(),
)
def license_types(request: Request) -> Response:
    """Public: the license types this node issues, each with its code, its names in Chinese
    and English, whom it is issued to, its usual validity and its fields (each field's key,
    Chinese and English labels, kind, whether required, and its limits), as ``eseal license types
    --json`` lists them. The same for every asker: cacheable (an hour, with an ETag)."""
    return _respond(request, _answers()[0])


@router.get(
    "/{code}",
    response_model=None,
    responses=_ok(LicenseTypeOut, "The type")
    | _NOT_MODIFIED
    | public_problems((LicenseTypeNotFound, "no type in this node's catalogue has this code")),
)
def license_type(
    request: Request,
    code: Annotated[
        str,
        Path(
            description="The type's code, 21 characters: the defining ministry's credit code "
            "(upper case) and 3 digits; any other is answered 404 license-type-not-found.",
            json_schema_extra={
                "minLength": 21,
                "maxLength": 21,
                "pattern": f"^{TYPE_CODE_PATTERN}$",
            },
        ),
    ],
) -> Response:
    """Public: one license type with its fields, as the list gives it; cacheable likewise."""
    known = load_catalog().named(code)  # LicenseTypeNotFound, naming the code, if none
    return _respond(request, _answers()[1][known.code])
