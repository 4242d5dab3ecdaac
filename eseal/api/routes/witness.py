"""The node as a witness of other regions' logs: C2SP tlog-witness ``POST /add-checkpoint``
(public, as the spec has it: the log's signature and the consistency proof decide, not who
sends them), and the node's witness key (``GET /v1/witness``).

``/add-checkpoint`` answers as c2sp.org/tlog-witness requires, in text, not with this API's
RFC 9457 problems: 200 with the cosignature line, 404 (unknown origin), 403 (no good log
signature), 400 (malformed, or an old size above the checkpoint's), 409 with the witness's
size (``text/x.tlog.size``), 422 (bad consistency proof). Only what falls outside the
protocol is a problem: a 503 (the node's keys locked, its database down), and what any
request meets before its body is read (:class:`eseal.api.limits.BodyLimit`, the HTTP parser,
the read timeouts: 400, 408, 413, 415 a body with a content coding).
"""

from __future__ import annotations

import base64
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, Field

from eseal.api.deps import (
    ENCODED_BODY,
    KEYS_LOCKED,
    PROBLEM_CONTENT,
    SIGNING_KEY_UNUSABLE,
    STORE_UNAVAILABLE,
    Cause,
    NodeDep,
    problems,
    public_problems,
    request_problems,
)
from eseal.api.limits import SMALL_SUFFIXES, BodyTooLarge, InvalidJson
from eseal.node import Node
from eseal.witness import NoWitnessKey, require_witness_key, witness_checkpoint
from keys.errors import InvalidInput
from ledger.store import StoreBusy
from ledger.witness import (
    ADD_CHECKPOINT_PATH,
    MAX_PROOF_LINES,
    TLOG_SIZE_CONTENT_TYPE,
    AddCheckpointRequest,
    Cosigned,
    size_body,
)

router = APIRouter(tags=["witness"])

#: The largest add-checkpoint body taken (the body limit refuses a larger one first, but
#: for a multipart one): a checkpoint note with its signatures is a few KB; 63 proof lines
#: are 2.9 KB.
MAX_ADD_CHECKPOINT_BODY = SMALL_SUFFIXES[ADD_CHECKPOINT_PATH]
TEXT = "text/plain; charset=utf-8"

_TEXT_CONTENT = {"text/plain": {"schema": {"type": "string"}}}
_DEVIATION = (
    " Answered in text as C2SP tlog-witness requires, not as an RFC 9457 problem (the one "
    "operation of this API that does not: it is another protocol's)."
)

_NO_KEY: Cause = (NoWitnessKey, "the node has no witness key yet: eseal witness init")
#: What a request to this path meets before the route reads it, as any request does (the
#: HTTP parser, the body limit, the read timeouts): answered as RFC 9457 problems. Not
#: invalid-json: the body limit does not read this text body as JSON.
_REQUEST_PROBLEMS = problems(
    *(c for c in request_problems(MAX_ADD_CHECKPOINT_BODY) if c[0] is not InvalidJson)
)

ADD_CHECKPOINT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The witness's cosignature/v1 line on the checkpoint (a signed-note "
        "signature line and its newline): the checkpoint is now the one held of its log.",
        "content": _TEXT_CONTENT,
    },
    400: {
        "description": "The body is malformed (not `old <size>`, at most "
        f"{MAX_PROOF_LINES} base64 proof lines, an empty line and a signed checkpoint), or "
        "the old size is above the checkpoint's size." + _DEVIATION + " Before the body is "
        "read, as on any path, a problem: " + _REQUEST_PROBLEMS[400]["description"],
        "content": _TEXT_CONTENT | PROBLEM_CONTENT,
        "x-problem-types": _REQUEST_PROBLEMS[400]["x-problem-types"],
    },
    403: {
        "description": "No signature on the checkpoint verifies under the log's key, or one "
        "by it is false." + _DEVIATION,
        "content": _TEXT_CONTENT,
    },
    404: {
        "description": "The node witnesses no log of the checkpoint's origin." + _DEVIATION,
        "content": _TEXT_CONTENT,
    },
    409: {
        "description": "The old size is not the size of the checkpoint the witness holds of "
        "the log (or the checkpoint is a fork of it, or smaller): the body is the size "
        "held, in decimal, and a newline; send the request again from it." + _DEVIATION,
        "content": {
            TLOG_SIZE_CONTENT_TYPE: {"schema": {"type": "string", "pattern": "^[0-9]+\\n$"}}
        },
    },
    408: _REQUEST_PROBLEMS[408],
    413: _REQUEST_PROBLEMS[413],
    422: {
        "description": "The consistency proof does not lead from the checkpoint held to this "
        "one." + _DEVIATION,
        "content": _TEXT_CONTENT,
    },
    **problems(
        ENCODED_BODY,
        STORE_UNAVAILABLE,
        (StoreBusy, "the checkpoint held of the log kept changing under other requests; retry"),
        KEYS_LOCKED,
        SIGNING_KEY_UNUSABLE,
        _NO_KEY,
    ),
}


def _add_checkpoint(node: Node, body: bytes) -> Response:
    try:
        request = AddCheckpointRequest.parse(body)
    except InvalidInput as e:
        return PlainTextResponse(e.message + "\n", 400, media_type=TEXT)
    outcome, _log = witness_checkpoint(node, request, now=int(time.time()))
    if isinstance(outcome, Cosigned):
        return PlainTextResponse(outcome.cosignature, 200, media_type=TEXT)
    if outcome.known_size is not None:
        # As the spec names it, without the charset Starlette adds to a text/* type.
        return Response(
            size_body(outcome.known_size),
            outcome.status,
            headers={"Content-Type": TLOG_SIZE_CONTENT_TYPE},
        )
    return PlainTextResponse(
        f"{outcome.reason}: {outcome.detail}\n", outcome.status, media_type=TEXT
    )


@router.post(
    ADD_CHECKPOINT_PATH,
    response_class=PlainTextResponse,
    responses=ADD_CHECKPOINT_RESPONSES,
    openapi_extra={
        "x-c2sp": "tlog-witness",
        "requestBody": {
            "required": True,
            "content": {
                "text/plain": {"schema": {"type": "string", "maxLength": MAX_ADD_CHECKPOINT_BODY}}
            },
        },
    },
)
async def add_checkpoint(request: Request, node: NodeDep) -> Response:
    """C2SP tlog-witness add-checkpoint: cosign a witnessed log's checkpoint if it extends
    the one held, by the consistency proof from the old size. Public: anyone may send a
    log's checkpoint, since only the log's signature and the proof count. The body is
    bounded (64 KiB). A cosignature is answered only once the new checkpoint is stored in
    place of the one it was decided against (compare-and-swap on the size held)."""
    body = await request.body()
    if len(body) > MAX_ADD_CHECKPOINT_BODY:
        raise BodyTooLarge(MAX_ADD_CHECKPOINT_BODY)
    return await run_in_threadpool(_add_checkpoint, node, body)


class WitnessKeyOut(BaseModel):
    name: str = Field(description="The key's name in its cosignature lines.")
    key_id: str = Field(description="The eseal key id (16 hex digits) of its public key.")
    verifier_key: str = Field(
        description="Its C2SP tlog-cosignature verifier key: "
        "<name>+<key hash>+base64(0x04 ‖ Ed25519 public key)."
    )
    statement: str = Field(
        description="Base64 of its key statement (role witness), signed by the region root."
    )
    ledger_index: int = Field(description="The ledger entry (key.add) that records it.")


@router.get(
    "/v1/witness",
    responses=public_problems(STORE_UNAVAILABLE, _NO_KEY),
)
def witness_key(node: NodeDep) -> WitnessKeyOut:
    """The node's witness key, to list it among the witnesses a log or verifier trusts."""
    key = require_witness_key(node)
    return WitnessKeyOut(
        name=key.name,
        key_id=key.key_id,
        verifier_key=key.verifier_key,
        statement=base64.b64encode(key.statement).decode("ascii"),
        ledger_index=key.ledger_index,
    )
