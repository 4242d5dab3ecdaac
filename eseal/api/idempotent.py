"""The ``Idempotency-Key`` request header of the issuing operations (see
:mod:`eseal.idempotency`): a retry with the key of a request that was recorded gets that
request's answer again, and nothing more is issued."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Header, Request, Response

from eseal.agencies import Principal
from eseal.api.deps import Cause
from eseal.idempotency import (
    KEY_LIFETIME,
    KEY_PATTERN,
    IdempotencyKey,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    MalformedIdempotencyKey,
    Recorded,
    fingerprint,
    parse_key,
    principal_scope,
)
from eseal.node import Node

T = TypeVar("T")

_DESCRIPTION = (
    "Makes the request safe to send again (draft-ietf-httpapi-idempotency-key-header): a "
    "unique value per request, such as a UUID, 1 to 128 characters of `A-Z a-z 0-9 . _ ~ + "
    "/ = : -`, in double quotes or not (otherwise 400 `malformed-idempotency-key`). Once a "
    "request with a key is recorded, the same request with the same key, from the same "
    "agency (or the operator) to the same operation, is answered with the first answer (the "
    "same status and body) and issues nothing; another request with that key is a 422 "
    "`idempotency-key-reused`. A request refused stores nothing. Keys are kept "
    f"{KEY_LIFETIME // 3600} hours after the request was recorded, then forgotten."
)

#: The header as a route parameter (documented in the OpenAPI document); checked by
#: :func:`idempotency_key`, whose refusal is a 400 problem (not FastAPI's 422).
IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description=_DESCRIPTION,
        # A key alone or in double quotes: both quotes or none (parse_key).
        json_schema_extra={"pattern": f'^(?:{KEY_PATTERN}|"{KEY_PATTERN}")$'},
    ),
]


#: The problems of the header, in every operation that reads it.
IDEMPOTENCY_PROBLEMS: tuple[Cause, ...] = (
    (
        MalformedIdempotencyKey,
        "the Idempotency-Key is not 1 to 128 characters of A-Z a-z 0-9 . _ ~ + / = : -",
    ),
    (IdempotencyKeyReused, "the Idempotency-Key was recorded with another request"),
    (
        IdempotencyKeyInUse,
        "a request with this Idempotency-Key is being recorded; send it again in a moment",
    ),
)


def idempotency_key(
    node: Node,
    principal: Principal,
    request: Request,
    operation: str,
    *,
    header: str | None,
    content: Callable[[], Any],
    now: int,
    status: int = 201,
) -> IdempotencyKey | None:
    """The request's key (None without the header), fingerprinted over its method, path and
    ``content()`` (what the operation acts on, as JSON: a form's values rather than its
    bytes, whose boundary a client draws anew for each try; made only for a keyed request)."""
    key = parse_key(header)
    if key is None:
        return None
    made = fingerprint(node, request.method, request.url.path, content())
    return IdempotencyKey(principal_scope(principal), operation, key, made, status, now)


def once(
    node: Node,
    key: IdempotencyKey | None,
    response: Response,
    act: Callable[[], T],
    again: Callable[[Recorded], T],
) -> T:
    """``act`` (which records ``key`` with what it does), unless a request with this key
    was recorded: then ``again``, its answer made from what was recorded, with its status.
    A request with this key recorded while this one was being worked out (``act`` is then
    rolled back, nothing recorded) is answered the same way."""
    if key is None:
        return act()
    recorded = key.lookup(node)
    if recorded is None:
        try:
            return act()
        except IdempotencyKeyInUse:
            recorded = key.lookup(node)
            if recorded is None:
                raise
    response.status_code = recorded.status
    return again(recorded)
