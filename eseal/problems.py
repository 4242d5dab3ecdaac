"""One place mapping eseal's error roots to CLI exit codes and RFC 9457 problem details."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from keys.errors import CheckFailed, EsealError, ExternalFailure, InvalidInput

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_ERROR = 2

PROBLEM_BASE = "https://eseal.invalid/problems/"
#: The media type of a problem body (RFC 9457).
PROBLEM_JSON = "application/problem+json"
#: A client must not guess another type from a JSON answer's bytes.
NO_SNIFF = {"X-Content-Type-Options": "nosniff"}
#: Sent with every problem: an error is of its moment (a license unknown now may be issued
#: in a minute, a 404 is cacheable by default), so no cache keeps it; nor is it read as
#: anything but JSON.
PROBLEM_HEADERS = {"Cache-Control": "no-store"} | NO_SNIFF


def size_text(n: int) -> str:
    """A size limit in words, as a refusal names it: MiB if whole, else KiB."""
    return f"{n // 2**20} MiB" if n % 2**20 == 0 else f"{n // 1024} KiB"


def exit_code(error: EsealError) -> int:
    """1 when a check failed on good input; 2 for bad input or a failing environment."""
    return EXIT_CHECK_FAILED if isinstance(error, CheckFailed) else EXIT_ERROR


def http_status(error: EsealError) -> int:
    code = getattr(error, "http_status", None)
    if isinstance(code, int):
        return code
    if isinstance(error, ExternalFailure):
        return 503
    if isinstance(error, CheckFailed):
        return 422
    if isinstance(error, InvalidInput):
        return 400
    return 500


#: The roots' docstrings describe the error classes for the code's readers, not a problem.
_ROOTS = (EsealError, InvalidInput, CheckFailed, ExternalFailure)


def _title(error: EsealError) -> str:
    """The problem type's title: the first line of its class's own docstring, or for an
    error raised as one of the roots, the HTTP status phrase."""
    cls = type(error)
    if cls in _ROOTS or not cls.__doc__:
        return HTTPStatus(http_status(error)).phrase
    return cls.__doc__.strip().splitlines()[0]


def problem(error: EsealError, *, instance: str | None = None) -> dict[str, Any]:
    """An RFC 9457 problem details object for ``error``."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + error.code,
        "title": _title(error),
        "status": http_status(error),
        "detail": error.message,
    }
    if instance:
        body["instance"] = instance
    return body


def plain_problem(
    status: int, title: str, detail: str, code: str, *, instance: str | None = None
) -> dict[str, Any]:
    """A problem body for errors raised outside eseal (validation, routing); ``instance``,
    the request's path, as eseal's own problems carry it."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    return body
