"""The ledger over HTTP: the signed checkpoint, entry pages and RFC 9162 proofs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from eseal.api.deps import (
    CURRENT_HEADERS,
    STORE_UNAVAILABLE,
    Cause,
    CurrentAnswer,
    LogDep,
    NodeDep,
    PlainDigits,
    public_problems,
)
from eseal.api.problem_types import INVALID_REQUEST
from eseal.proofs import b64, b64_hashes
from eseal.witness_ask import MAX_LISTED_CHECKPOINTS, cosigned_checkpoint, cosigned_checkpoints
from ledger.merkle import MAX_INDEX, leaf_hash
from ledger.store import BadRange

router = APIRouter(prefix="/v1/ledger", tags=["ledger"])


def _range_problems(names: str, outside: str) -> tuple[Cause, Cause, Cause]:
    """The problems of a read taking the numbers ``names``: one missing or out of the
    document's bounds (FastAPI's validation), or within them but ``outside`` the ledger as
    it is (:class:`~ledger.store.BadRange`); and the database's."""
    return (
        STORE_UNAVAILABLE,
        (BadRange, f"a number within its bounds but outside the ledger as it is: {outside}"),
        (
            INVALID_REQUEST,
            f"{names}: one required left out, or one not an integer in plain decimal digits "
            "or outside its bounds",
        ),
    )


class EntryOut(BaseModel):
    index: int
    leaf_hash: str
    data: str


class EntriesOut(BaseModel):
    start: int
    size: int
    entries: list[EntryOut]


class InclusionOut(BaseModel):
    index: int
    size: int
    leaf_hash: str
    proof: list[str]


class ConsistencyOut(BaseModel):
    first: int
    second: int
    proof: list[str]


@router.get(
    "/checkpoint",
    response_class=PlainTextResponse,
    responses=public_problems(STORE_UNAVAILABLE),
)
def checkpoint(node: NodeDep) -> PlainTextResponse:
    """The latest checkpoint as a C2SP signed note (text/plain): the log key's signature,
    then the C2SP tlog-cosignature (cosignature/v1) lines its witnesses gave for this very
    checkpoint (`eseal witness ask`), if any. A verifier ignores the lines of keys it does
    not know."""
    return PlainTextResponse(
        cosigned_checkpoint(node), media_type="text/plain; charset=utf-8", headers=CURRENT_HEADERS
    )


class CosignedCheckpointOut(BaseModel):
    size: int = Field(description="The checkpoint's tree size.")
    checkpoint: str = Field(
        description="The checkpoint as a C2SP signed note: the log key's signature, then the "
        "cosignature/v1 lines the node's witnesses gave on this very checkpoint (one at least)."
    )


class CosignedOut(BaseModel):
    checkpoints: list[CosignedCheckpointOut] = Field(
        description=f"Newest first, one a size, at most {MAX_LISTED_CHECKPOINTS}.",
        json_schema_extra={"maxItems": MAX_LISTED_CHECKPOINTS},
    )


@router.get("/cosigned", dependencies=[CurrentAnswer], responses=public_problems(STORE_UNAVAILABLE))
def cosigned(node: NodeDep) -> CosignedOut:
    """The checkpoints the node's witnesses cosigned, newest first: of the sizes their stored
    cosignatures are at (each witness's 64 latest), the largest 64 the log stores a
    checkpoint of, each with the lines of the witnesses on that very checkpoint. A reader
    held to a witness policy picks the newest its quorum cosigned and asks the revocation
    snapshot cut there (``GET /v1/revocations?at=SIZE``); empty while no witness cosigned."""
    return CosignedOut(
        checkpoints=[
            CosignedCheckpointOut(size=size, checkpoint=note)
            for size, note in cosigned_checkpoints(node)
        ]
    )


@router.get(
    "/entries",
    responses=public_problems(
        *_range_problems("start, end", "start at or past the ledger's size, or end not after start")
    ),
)
def entries(
    log: LogDep,
    start: Annotated[int, Query(ge=0, le=MAX_INDEX), PlainDigits],
    end: Annotated[int | None, Query(ge=1, le=MAX_INDEX), PlainDigits] = None,
) -> EntriesOut:
    """Entries ``start`` ≤ i < ``end``, at most 1000 a page, as base64 CBOR."""
    page = log.entries(start, end)
    return EntriesOut(
        start=start,
        size=log.size(),
        entries=[
            EntryOut(index=start + i, leaf_hash=b64(leaf_hash(d)), data=b64(d))
            for i, d in enumerate(page)
        ],
    )


@router.get(
    "/proof/inclusion",
    responses=public_problems(
        *_range_problems("index, size", "size past the ledger's size, or index not below size")
    ),
)
def inclusion(
    log: LogDep,
    index: Annotated[int, Query(ge=0, le=MAX_INDEX), PlainDigits],
    size: Annotated[int | None, Query(ge=1, le=MAX_INDEX), PlainDigits] = None,
) -> InclusionOut:
    """RFC 9162 §2.1.3 inclusion proof of entry ``index`` in the tree of ``size``."""
    n, proof = log.inclusion_proof(index, size)
    leaf = leaf_hash(log.entry(index))
    return InclusionOut(index=index, size=n, leaf_hash=b64(leaf), proof=b64_hashes(proof))


@router.get(
    "/proof/consistency",
    responses=public_problems(
        *_range_problems("first, second", "second past the ledger's size, or first past second")
    ),
)
def consistency(
    log: LogDep,
    first: Annotated[int, Query(ge=1, le=MAX_INDEX), PlainDigits],
    second: Annotated[int, Query(ge=1, le=MAX_INDEX), PlainDigits],
) -> ConsistencyOut:
    """RFC 9162 §2.1.4 consistency proof from tree size ``first`` to ``second``."""
    proof = log.consistency_proof(first, second)
    return ConsistencyOut(first=first, second=second, proof=b64_hashes(proof))
