"""Dependencies shared by the routes (``Annotated`` aliases)."""

from __future__ import annotations

from datetime import date
from http import HTTPStatus
from typing import Annotated, Any, Literal

import anyio
from fastapi import Depends, Path, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BeforeValidator

from eseal.agencies import Forbidden, NotAuthenticated, Principal, authenticate
from eseal.api.limits import DEFAULT_LIMIT, InvalidJson, UnsupportedMediaType, is_json
from eseal.api.problem_types import (
    AMBIGUOUS_FRAMING,
    BODY_TOO_LARGE,
    INVALID_REQUEST,
    MALFORMED_REQUEST,
    REPEATED_HEADER,
    REPEATED_PARAMETER,
    REQUEST_TIMEOUT,
    ProblemType,
)
from eseal.api.problem_types import of as problem_type_of
from eseal.catalog_fields import ISO_DATE
from eseal.ids import (
    LICENSE_ID_PATTERN,
    MAX_LICENSE_ID_LENGTH,
    PLAIN_DECIMAL,
    SEAL_ID_LENGTH,
    SEAL_ID_PATTERN,
    SEAL_SERIAL_HEX,
    InvalidLicenseId,
    InvalidSealId,
    LicenseId,
    first_repeated,
    parse_seal_id,
)
from eseal.node import KeysLocked, Node, SigningKeyUnusable
from eseal.problems import PROBLEM_HEADERS, PROBLEM_JSON, size_text
from eseal.proofs import UnknownCheckpoint
from eseal.status_index import StatusUnrecorded
from keys.errors import EsealError, InvalidInput, shown
from ledger.group_commit import CommitPending, CommitterClosed
from ledger.log import Log
from ledger.merkle import MAX_INDEX
from ledger.store import HeadMoved, OutcomeUnknown, StoreBusy, StoreUnavailable
from verifier.scan_pool import ScannerBusy


def get_node(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


def get_log(request: Request) -> Log:
    return get_node(request).log


NodeDep = Annotated[Node, Depends(get_node)]
LogDep = Annotated[Log, Depends(get_log)]

#: The headers of an answer of one moment (a verdict, a license's or a seal's live status):
#: not to be kept by a cache, nor read as anything but JSON.
LIVE_HEADERS = PROBLEM_HEADERS  # the same two: not kept, not sniffed


def _live_answer(response: Response) -> None:
    response.headers.update(LIVE_HEADERS)


#: A route's dependency: its answer is sent with :data:`LIVE_HEADERS`.
LiveAnswer = Depends(_live_answer)

#: The headers of what windows and other regions sync (the signed checkpoint, trust bundle
#: and revocation snapshot) and monitors poll: a cache may keep it, but asks the node again
#: before each use. Without a word, a shared cache may keep a 200 as long as its heuristics
#: say (RFC 9111 §4.2.2), and a window syncing through it would take an old snapshot, by
#: which a license revoked since is valid (for up to the 7 days a snapshot counts as fresh).
CURRENT_HEADERS = {"Cache-Control": "no-cache"}


def _current_answer(response: Response) -> None:
    response.headers.update(CURRENT_HEADERS)


#: A route's dependency: its answer is sent with :data:`CURRENT_HEADERS`.
CurrentAnswer = Depends(_current_answer)


#: An error answer as the OpenAPI document describes it: an RFC 9457 problem (the app's
#: document defines the Problem schema).
PROBLEM_CONTENT = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}


def problem_response(status: int, why: str | None = None) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the problem answered with ``status`` (``why``: the
    problem types and causes, after the status phrase)."""
    phrase = HTTPStatus(status).phrase
    return {
        status: {"description": f"{phrase}: {why}" if why else phrase, "content": PROBLEM_CONTENT}
    }


#: A problem an operation may answer, and why: an eseal error class (answered with its
#: status) or a type answered outside them, with its causes in words ("" for none).
Cause = tuple[type[EsealError] | ProblemType, str]


def problems(*causes: Cause) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` naming each problem type of ``causes`` under its status (that
    of its class or type, so the document cannot answer it with another), described as
    :func:`problem_response` describes one ("Bad Request: code (why), code (why)"), with
    the codes also listed, for a client's program, as ``x-problem-types``."""
    whys: dict[int, dict[str, list[str]]] = {}  # status → code → its causes, in order
    for given, why in causes:
        kind = given if isinstance(given, ProblemType) else problem_type_of(given)
        of_code = whys.setdefault(kind.status, {}).setdefault(kind.code, [])
        if why and why not in of_code:  # a cause named twice (by two groups) is said once
            of_code.append(why)
    responses: dict[int | str, dict[str, Any]] = {}
    for status, by_code in sorted(whys.items()):
        named = [f"{code} ({'; '.join(why)})" if why else code for code, why in by_code.items()]
        (response,) = problem_response(status, ", ".join(named)).values()
        responses[status] = response | {"x-problem-types": list(by_code)}
    return responses


#: The 503s, each named by the operations that can answer it and by no other
#: (:func:`problems`, like the 4xx): an operation reading the node's database names
#: :data:`STORE_UNAVAILABLE` (every one taking a credential does, which it reads there), one
#: that signs as it answers :data:`KEYS_LOCKED`, one reading images :data:`SCANNER_BUSY`;
#: one that does none of these (the shipped license-type catalogue) names no 503.
STORE_UNAVAILABLE: Cause = (StoreUnavailable, "the node's database did not answer; retry later")
KEYS_LOCKED: Cause = (
    KeysLocked,
    "the operation signs, and the node serves without its passphrase: its keys are not unlocked",
)
#: An operation signing with an agency's, a seal's or the witness's key, whose file the
#: node cannot use (damaged, another passphrase's, another key's).
SIGNING_KEY_UNUSABLE: Cause = (
    SigningKeyUnusable,
    "the file of the signing key is damaged or not the key's: the operator restores it",
)
SCANNER_BUSY: Cause = (
    ScannerBusy,
    "every QR reader stayed busy with other images; retry later",
)
#: The 503s of an operation that appends to the ledger, besides :data:`STORE_UNAVAILABLE`:
#: the append's own failures, each saying whether anything was written (store-busy,
#: outcome-unknown and commit-pending are kinds of store-unavailable; head-moved and
#: committer-closed are not).
LEDGER_WRITE: tuple[Cause, ...] = (
    (
        StoreBusy,
        "another database session held the ledger's lock longer than the node waits; "
        "nothing was written: retry later",
    ),
    (
        HeadMoved,
        "another writer moved the ledger's head during the append; nothing was written: retry",
    ),
    (
        OutcomeUnknown,
        "the commit was not confirmed: the act may be recorded; read it back, or retry with "
        "the same Idempotency-Key where the operation takes one",
    ),
    (
        CommitPending,
        "the request stopped waiting while its entries were queued or being written: they "
        "may be recorded; read them back, or retry with the same Idempotency-Key where the "
        "operation takes one",
    ),
    (CommitterClosed, "the node's ledger writer was shut down (the node is stopping)"),
)
#: 500 of a live status answer the node cannot prove.
STATUS_UNRECORDED = problem_response(
    500,
    f"{StatusUnrecorded.code} (the node's ledger holds no entry recording the current "
    "status: its database and its ledger disagree, an operator's matter)",
)


#: The credential as OpenAPI names it (an HTTP bearer scheme); read by get_principal,
#: which answers a missing or malformed one with its own 401 problem.
_BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="agencyCredential",
    description="An agency's or the operator's API credential: Authorization: Bearer esk_…",
)


def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)] = None,
) -> Principal:
    """The agency (or operator) behind ``Authorization: Bearer esk_…``."""
    if credentials is None or not credentials.credentials:
        raise NotAuthenticated("a credential is required: Authorization: Bearer esk_…")
    return authenticate(get_node(request), credentials.credentials.strip())


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def acting_agency(principal: Principal, given: str | None) -> str:
    """The agency a request acts for: an agency credential's own (naming another is
    forbidden), or the one the operator names."""
    if principal.role == "agency":
        own = principal.agency_code or ""
        if given not in (None, own):
            principal.require(given or "")
        return own
    if not given:
        raise InvalidInput('the operator must name the agency ("agency")')
    return given


def _json_body(request: Request) -> None:
    """A JSON operation's body is labelled JSON (application/json, or …+json): FastAPI
    reads any other body as a string and answers that the body "should be a valid
    dictionary", a 422 that sends the client looking in the wrong place. No Content-Type
    is let through only with no body (the model's "Field required" says what is missing)."""
    headers = request.headers
    content_type = headers.get("content-type")
    if content_type is None:
        if headers.get("content-length", "0") == "0" and "transfer-encoding" not in headers:
            return
    elif is_json(content_type):
        return
    given = shown(content_type) if content_type else "a body without a Content-Type"
    raise UnsupportedMediaType(
        f"send the body as JSON (Content-Type: application/json), not {given}"
    )


#: A JSON operation's dependency: a body of another media type is a 415 problem.
JsonBody = Depends(_json_body)


def request_problems(
    limit: int = DEFAULT_LIMIT, *, form_limit: int | None = None, unlabelled_json: bool = True
) -> tuple[Cause, ...]:
    """The problems any request may meet before its operation reads it: the HTTP parser's,
    the body limit's (which reads and checks a body labelled JSON, whatever the operation,
    and one without a Content-Type but on the paths whose route reads its JSON itself:
    ``unlabelled_json`` False) and the read timeouts'; ``limit``, the operation's body
    limit, ``form_limit`` its limit for a multipart/form-data body if another
    (:data:`eseal.api.limits.LARGE_SUFFIXES`)."""
    unlabelled = ", or without a Content-Type," if unlabelled_json else ""
    too_large = (
        f"a multipart/form-data body over {size_text(form_limit)}, "
        f"any other over {size_text(limit)}"
        if form_limit is not None and form_limit != limit
        else f"a body over {size_text(limit)}"
    )
    return (
        (
            MALFORMED_REQUEST,
            "the HTTP parser cannot read the request: a malformed request line or header, a "
            "byte outside ASCII in the path",
        ),
        (AMBIGUOUS_FRAMING, "Content-Length with Transfer-Encoding"),
        (
            REPEATED_HEADER,
            "Content-Type, Content-Length, Authorization, Transfer-Encoding or "
            "Idempotency-Key given twice",
        ),
        (REPEATED_PARAMETER, "a query parameter given twice"),
        (
            InvalidJson,
            f"a body labelled JSON{unlabelled} that is not JSON in UTF-8 with distinct keys",
        ),
        (REQUEST_TIMEOUT, "the request came too slowly; the connection is closed"),
        (BODY_TOO_LARGE, too_large),
    )


#: The problems of the credential, in every operation that takes one.
CREDENTIAL_PROBLEMS: tuple[Cause, ...] = (
    (NotAuthenticated, "no credential, or one malformed, unknown or revoked"),
    (
        Forbidden,
        "the credential may not act for the agency concerned, or that agency is not active",
    ),
)
#: The problem of any operation reading a body, whatever its media type: the node decodes
#: no content coding (:class:`eseal.api.limits.BodyLimit`).
ENCODED_BODY: Cause = (
    UnsupportedMediaType,
    "a body with a Content-Encoding other than identity (gzip, …): send it uncompressed",
)
#: The problems of an operation reading a JSON body, besides its values' own.
JSON_BODY_PROBLEMS: tuple[Cause, ...] = (
    (UnsupportedMediaType, "a body not labelled JSON"),
    (
        INVALID_REQUEST,
        "the body does not fit its schema: a member missing, unknown, of the wrong type or "
        "out of its bounds",
    ),
)


def agency_problems(
    *causes: Cause,
    body: Literal["json", "form"] | None = "json",
    form_limit: int | None = None,
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` of an operation taking a credential: its own ``causes`` (the
    problems its values and its acts may meet, first; :data:`KEYS_LOCKED` if it signs),
    then those of its ``body``, of the credential (which is read from the node's database:
    :data:`STORE_UNAVAILABLE`) and of any request (``form_limit``: its limit for a
    multipart/form-data body, where it has a larger one). The app's document lists no other
    4xx or 503 for it (:func:`eseal.api.app._only_problems_answered`)."""
    of_body = (*(JSON_BODY_PROBLEMS if body == "json" else ()), ENCODED_BODY) if body else ()
    return problems(
        *causes,
        *of_body,
        *CREDENTIAL_PROBLEMS,
        STORE_UNAVAILABLE,
        *request_problems(DEFAULT_LIMIT, form_limit=form_limit),
    )


def public_problems(*causes: Cause) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` of a public operation reading no body: its own ``causes``
    (the problems its path and query may meet, and its 503s: :data:`STORE_UNAVAILABLE`
    if it reads the node's database, :data:`KEYS_LOCKED` if it signs), then those of any
    request. The app's document lists no other 4xx or 503 for it
    (:func:`eseal.api.app._only_problems_answered`)."""
    return problems(*causes, *request_problems())


async def check_form_fields(request: Request, known: frozenset[str]) -> None:
    """A multipart form names each field once, and only fields the operation reads:
    FastAPI would keep the last of two ``file`` parts silently (and seal the second), and
    drop a misspelt field without a word. The form is the one FastAPI parsed."""
    form = await request.form()
    names = [key for key, _ in form.multi_items()]
    if (name := first_repeated(names)) is not None:
        raise InvalidInput(f"the form field {name!r} is given more than once")
    if unknown := sorted(set(names) - known):
        raise InvalidInput(
            f"the form field {shown(unknown[0])} is not one of {', '.join(sorted(known))}"
        )


def FormFields(*known: str) -> Any:  # noqa: N802 - named as the dependency it returns
    """A dependency: :func:`check_form_fields` with the operation's field names."""
    names = frozenset(known)

    async def check(request: Request) -> None:
        if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
            raise UnsupportedMediaType(
                "send a multipart/form-data form with the fields " + ", ".join(sorted(names))
            )
        await check_form_fields(request, names)

    return Depends(check)


def _plain_decimal(value: object) -> object:
    """A query integer as plain decimal digits (:data:`eseal.ids.PLAIN_DECIMAL`)."""
    if isinstance(value, str) and not PLAIN_DECIMAL.fullmatch(value):
        raise ValueError("must be an integer in plain decimal digits")
    return value


def _plain_date(value: object) -> object:
    """A date as YYYY-MM-DD only (not a date-time at midnight, not 20310101)."""
    if isinstance(value, str) and not ISO_DATE.fullmatch(value):
        raise ValueError("must be a date written YYYY-MM-DD")
    return value


#: An integer query parameter, strictly decimal: ``Annotated[int, Query(ge=…, le=…),
#: PlainDigits]``. The validator comes after the ``Query`` (not inside an alias that the
#: ``Query`` annotates): a ``Query`` wrapped around a type that already has a validator puts
#: its bounds into the OpenAPI schema as ``ge`` and ``le``, which are no JSON Schema keywords,
#: where the bounds are ``minimum`` and ``maximum`` (still enforced either way).
PlainDigits = BeforeValidator(_plain_decimal)
#: A calendar date in a JSON body, strictly YYYY-MM-DD.
PlainDate = Annotated[date, BeforeValidator(_plain_date)]


def _license_id(
    license_id: Annotated[
        str,
        Path(
            description="A license id, 1.2.156.3005.2.<type code>.<issuer code>.<serial>."
            "<version>.<check character>; a malformed one, or one whose check character is "
            "wrong, is answered 400 invalid-license-id.",
            # Documented, not validated here: the parser refuses what breaks them with the
            # problem naming the flaw, where a validation error would be a 422 of another shape.
            json_schema_extra={"maxLength": MAX_LICENSE_ID_LENGTH, "pattern": LICENSE_ID_PATTERN},
        ),
    ],
) -> str:
    LicenseId.parse(license_id)
    return license_id


def _seal_id(
    seal_id: Annotated[
        str,
        Path(
            description=f"A seal id: its agency's credit code, a dot and {SEAL_SERIAL_HEX} "
            "upper-case hex digits; a malformed one, or one whose credit code's check "
            "character is wrong, is answered 400 invalid-seal-id.",
            json_schema_extra={
                "minLength": SEAL_ID_LENGTH,
                "maxLength": SEAL_ID_LENGTH,
                "pattern": SEAL_ID_PATTERN,
            },
        ),
    ],
) -> str:
    return parse_seal_id(seal_id)


def _witnessed(
    witnessed: Annotated[
        Literal["1"] | None,
        Query(
            description="1: the asker requires witnesses (docs/DESIGN.md, Online status); "
            "the answer, still proved under the latest checkpoint, also carries the older "
            "checkpoint the node's witnesses cosigned most (witnessed_checkpoint) and the "
            "consistency proof from it to the latest (witnessed_consistency_proof), if the "
            "latest carries fewer of their lines."
        ),
    ] = None,
) -> bool:
    return witnessed is not None


#: ``?witnessed=1`` of a status answer: add the witnessed checkpoint and a consistency proof.
WitnessedQuery = Annotated[bool, Depends(_witnessed)]


def _witnessed_cut(
    witnessed: Annotated[
        Literal["1"] | None,
        Query(
            description="1: the asker holds the region to a witness policy (docs/DESIGN.md, "
            "Peer sync); the snapshot is cut at the older checkpoint the node's witnesses "
            "cosigned most, if the latest carries fewer of their lines, and speaks for the "
            "licenses recorded before it. Not with at (400 invalid-input)."
        ),
    ] = None,
) -> bool:
    return witnessed is not None


#: ``?witnessed=1`` of the revocation snapshot: cut it at the witnessed checkpoint.
WitnessedCutQuery = Annotated[bool, Depends(_witnessed_cut)]


def _cut_size(
    at: Annotated[
        int | None,
        Query(
            ge=1,
            le=MAX_INDEX,
            description="The size of a checkpoint the node's log stores (GET "
            "/v1/ledger/cosigned lists those its witnesses cosigned, from which a reader "
            "holding the region to a witness policy picks the newest its quorum cosigned; "
            "docs/DESIGN.md, Peer sync and Online status), with its witnesses' lines: the "
            "revocation snapshot is cut at it and speaks for the licenses recorded before "
            "it; a status answer, still proved under the latest checkpoint, carries it as "
            "witnessed_checkpoint with the consistency proof from it to the latest (nothing "
            "added where it is the latest). 404 unknown-checkpoint where the log stores none "
            "of that size on its own tree. Not with witnessed (400 invalid-input).",
        ),
        PlainDigits,
    ] = None,
) -> int | None:
    return at


#: ``?at=SIZE`` of the revocation snapshot and of a status answer: the stored checkpoint of
#: that size (:func:`eseal.proofs.older_checkpoint`).
CutSizeQuery = Annotated[int | None, Depends(_cut_size)]
#: The problems of ``?witnessed=1`` and ``?at=SIZE`` (the revocation snapshot's and a
#: status answer's).
CUT_PROBLEMS: tuple[Cause, ...] = (
    (UnknownCheckpoint, "at: a size the log stores no checkpoint of on its own tree"),
    (InvalidInput, "at and witnessed both given"),
    (INVALID_REQUEST, "at: not an integer in plain decimal digits from 1, or witnessed not 1"),
)


#: A license id in the path, parsed strictly: one that is no license id is bad input (400
#: invalid-license-id, naming its flaw), not an unknown license (404), which says the
#: region never recorded a well-formed id. Declared after the credential in an operation
#: that takes one: dependencies run in the order of the parameters, and the credential is
#: asked for first.
LicenseIdPath = Annotated[str, Depends(_license_id)]
#: A seal id in the path, parsed likewise (400 invalid-seal-id).
SealIdPath = Annotated[str, Depends(_seal_id)]


def malformed_id(kind: Literal["license", "seal"]) -> Cause:
    """The problem of an operation taking a license or seal id in its path: the id is
    malformed (400 invalid-license-id, invalid-seal-id)."""
    check = "its" if kind == "license" else "its agency's credit code's"
    error = InvalidLicenseId if kind == "license" else InvalidSealId
    return error, f"the path's {kind} id is malformed, or {check} check character is wrong"


async def take_slot(slots: anyio.CapacityLimiter, wait: float, busy: EsealError) -> None:
    """One of ``slots``, waited for in the event loop (holding no thread of the pool) at
    most ``wait`` seconds; ``busy`` raised past that. The caller releases it."""
    with anyio.move_on_after(wait):
        await slots.acquire()
        return
    raise busy
