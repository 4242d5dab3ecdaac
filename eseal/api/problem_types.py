"""The problem types the HTTP API answers (RFC 9457), by code, for its OpenAPI document.

A problem's ``type`` ends in its code: an eseal error class's ``code``, answered with the
class's status (:func:`eseal.problems.http_status`), or one of the types defined here,
answered outside eseal's errors (the HTTP parser, the body limit, routing, request
validation), which the code that answers them takes from here. The document names the
problem types of each operation from the classes and these constants
(:func:`eseal.api.deps.problems`), never as free text, so that it names only types the
node defines (:func:`defined`, which a test holds the document to).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from eseal.problems import http_status
from keys.errors import EsealError


@dataclass(frozen=True)
class ProblemType:
    """A problem type: its code (the last segment of its ``type`` URI) and the status it is
    answered with."""

    code: str
    status: int


#: A request the HTTP parser cannot read (a malformed request line or header).
MALFORMED_REQUEST: Final = ProblemType("malformed-request", 400)
#: Content-Length with Transfer-Encoding.
AMBIGUOUS_FRAMING: Final = ProblemType("ambiguous-framing", 400)
#: A header that may be given once, given twice.
REPEATED_HEADER: Final = ProblemType("repeated-header", 400)
#: A query parameter given twice.
REPEATED_PARAMETER: Final = ProblemType("repeated-parameter", 400)
#: A multipart body that cannot be read as a form.
FORM_UNREADABLE: Final = ProblemType("form-unreadable", 400)
#: No route has this path.
NOT_FOUND: Final = ProblemType("not-found", 404)
#: The path does not take this method.
METHOD_NOT_ALLOWED: Final = ProblemType("method-not-allowed", 405)
#: A request that came too slowly.
REQUEST_TIMEOUT: Final = ProblemType("request-timeout", 408)
#: A body over the path's limit.
BODY_TOO_LARGE: Final = ProblemType("body-too-large", 413)
#: A request that does not fit its operation's schema (FastAPI's validation).
INVALID_REQUEST: Final = ProblemType("invalid-request", 422)
#: A failure the node did not anticipate.
INTERNAL_ERROR: Final = ProblemType("internal-error", 500)

#: The problem types answered outside eseal's error classes.
PLAIN_TYPES: Final = (
    MALFORMED_REQUEST,
    AMBIGUOUS_FRAMING,
    REPEATED_HEADER,
    REPEATED_PARAMETER,
    FORM_UNREADABLE,
    NOT_FOUND,
    METHOD_NOT_ALLOWED,
    REQUEST_TIMEOUT,
    BODY_TOO_LARGE,
    INVALID_REQUEST,
    INTERNAL_ERROR,
)


def of(error: type[EsealError]) -> ProblemType:
    """The problem type an error class is answered as."""
    return ProblemType(error.code, http_status(error("")))


def _subclasses(cls: type[EsealError]) -> list[type[EsealError]]:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_subclasses(sub))
    return found


def defined() -> dict[str, ProblemType]:
    """Every problem type the node defines, by code: those of the eseal error classes
    loaded (the app loads every one it raises) and :data:`PLAIN_TYPES`."""
    types = {t.code: t for t in PLAIN_TYPES}
    classes: list[type[EsealError]] = [EsealError, *_subclasses(EsealError)]
    for cls in classes:
        types.setdefault(cls.code, of(cls))
    return types
