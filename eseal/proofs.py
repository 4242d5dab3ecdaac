"""Ledger entries and inclusion proofs as the API and the CLI's JSON give them (standard
base64), and the ledger part of a status answer: the entry that created a license or
seal, the entry of its latest status change, and their proofs under one checkpoint; and the
older checkpoint a reader asks for beside the latest (``?witnessed=1``, ``?at=SIZE``), which
a revocation snapshot is cut at and a status answer adds (:func:`older_checkpoint`)."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from eseal.witness_ask import cosigned_checkpoint, witnessed_size
from keys.errors import InvalidInput
from ledger.checkpoint import verify_checkpoint

if TYPE_CHECKING:
    from eseal.node import Node


class UnknownCheckpoint(InvalidInput):
    """A snapshot or status answer asked at a size the log stores no checkpoint of, on its
    own tree (``?at=SIZE``)."""

    code = "unknown-checkpoint"
    http_status = 404


def older_checkpoint(
    node: Node, latest: int, *, witnessed: bool, at: int | None
) -> tuple[str, int] | None:
    """(checkpoint note with its witnesses' lines, size) of the older checkpoint a reader
    asks for beside the latest, of size ``latest``; None for the latest itself. With
    ``witnessed``, the one the node's witnesses cosigned most
    (:func:`eseal.witness_ask.witnessed_size`), if the latest carries fewer of their lines;
    at ``at`` (a reader that picked, from the checkpoints ``GET /v1/ledger/cosigned``
    lists, the newest its own quorum cosigned), the stored checkpoint of that size
    (:class:`UnknownCheckpoint` if the log stores none, or none on its own tree; None where
    ``at`` is the latest). Not both (:class:`~keys.errors.InvalidInput`). Either is served
    as :func:`eseal.witness_ask.cosigned_checkpoint` serves it, with the lines of the
    witnesses on that very checkpoint read from their histories. The revocation snapshot
    is cut at it (:func:`eseal.trust_export.export_snapshot`); a status answer adds it
    (:func:`proved_status`)."""
    if witnessed and at is not None:
        raise InvalidInput("asked either the witnessed checkpoint or the one at a size, not both")
    if witnessed:  # witnessed_size checked its pick on the log's own tree
        older = witnessed_size(node, latest)
        return None if older is None else (cosigned_checkpoint(node, older), older)
    if at is None or at == latest:
        return None
    if not 1 <= at < latest:
        raise UnknownCheckpoint(
            f"the log stores no checkpoint of size {at}: its latest is of size {latest}"
        )
    try:
        note = cosigned_checkpoint(node, at)
    except ValueError as e:
        raise UnknownCheckpoint(
            f"the log stores no checkpoint of size {at} (GET /v1/ledger/cosigned lists "
            "those its witnesses cosigned)"
        ) from e
    # As witnessed_size checks its pick: never a stored note off the log's own tree (a row
    # restored from another history) served as the older checkpoint.
    stored = verify_checkpoint(note, node.log_verifier)
    if stored.size != at or stored.root_hash != node.log.root_hash(at):
        raise UnknownCheckpoint(
            f"the log stores no checkpoint of size {at} on its own tree: the stored note "
            "is of another tree"
        )
    return note, at


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def b64_hashes(hashes: Sequence[bytes]) -> list[str]:
    """An inclusion or consistency proof: its hashes in order."""
    return [b64(h) for h in hashes]


class ProvedStatus(BaseModel):
    """The ledger part of a status answer (see docs/DESIGN.md, "Online status"): the entry
    that created the license or seal, and the entry of its latest status change (absent
    while there was none), with their inclusion proofs under the signed checkpoint; the
    asker believes a status other than valid only with that entry. The status answers of
    the API extend it."""

    checkpoint: str = Field(
        description="The region's latest checkpoint, a C2SP signed note (tlog-checkpoint: "
        "origin, tree size, base64 root hash) signed by the log key that the region's trust "
        "bundle names (log_verifier); every proof in the answer is under it. After the log "
        "key's signature come the C2SP tlog-cosignature (cosignature/v1) lines its witnesses "
        "gave for this very checkpoint, if any, as GET /v1/ledger/checkpoint serves them: a "
        "verifier ignores the lines of keys it does not know, and may require a quorum of "
        "the witnesses it trusts."
    )
    ledger_index: int = Field(
        description="The index of the entry that created the license (license.issue or "
        "license.renew) or the seal (seal.create)."
    )
    entry: str = Field(
        description="Standard base64 of that entry, deterministic CBOR (docs/DESIGN.md, "
        "Ledger); its leaf hash is SHA-256(0x00 || entry)."
    )
    inclusion_proof: list[str] = Field(
        description="RFC 9162 §2.1.3 inclusion proof of that entry at ledger_index under the "
        "checkpoint: its hashes in standard base64, in order."
    )
    status_index: int | None = Field(
        default=None,
        description="The index of the entry of the latest status change, about the same "
        "subject and digest as the entry above; null while there was none.",
    )
    status_entry: str | None = Field(
        default=None, description="Standard base64 of that entry (null with status_index)."
    )
    status_proof: list[str] | None = Field(
        default=None,
        description="Its inclusion proof under the checkpoint (null with status_index).",
    )
    witnessed_checkpoint: str | None = Field(
        default=None,
        exclude_if=lambda v: v is None,
        description="Asked witnessed=1 or at=SIZE only. With witnessed=1, absent unless an "
        "older checkpoint carries more cosignature lines than the one above: the checkpoint "
        "of the region's log that its witnesses cosigned most; with at=SIZE, the stored "
        "checkpoint of that size (absent where it is the one above). A C2SP signed note "
        "signed by the log key, followed by the C2SP tlog-cosignature lines its witnesses "
        "gave on it. The answer stays proved under the "
        "checkpoint above; a verifier requiring witnesses believes good news only if the "
        "entries it relies on lie below this checkpoint's size (docs/DESIGN.md, Online "
        "status).",
    )
    witnessed_consistency_proof: list[str] | None = Field(
        default=None,
        exclude_if=lambda v: v is None,
        description="With witnessed_checkpoint: the RFC 9162 §2.1.4 consistency proof from "
        "its tree to the tree of the checkpoint above (the log's history the witnesses saw, "
        "extended): its hashes in standard base64, in order.",
    )


def proved_status(
    node: Node,
    created: int,
    changed: int | None,
    *,
    witnessed: bool = False,
    at: int | None = None,
) -> ProvedStatus:
    """The node's latest checkpoint (with its witnesses' cosignature lines on it,
    :func:`eseal.witness_ask.cosigned_checkpoint`) with the entry at ``created`` and, if
    there is one, the entry at ``changed``, each with its inclusion proof under that
    checkpoint (read after the caller found the indexes, so both are under it).

    With ``witnessed`` (the asker requires witnesses), also the older checkpoint its
    witnesses cosigned most (:func:`eseal.witness_ask.witnessed_size`), with their lines,
    and the consistency proof from it to the latest, where there is one; with ``at`` (the
    asker picked it from the cosigned list), the stored checkpoint of that size likewise
    (:func:`older_checkpoint`: :class:`UnknownCheckpoint` where there is none)."""
    note = cosigned_checkpoint(node)
    size = verify_checkpoint(note, node.log_verifier).size
    indexes = [created] if changed is None else [created, changed]
    proofs = node.log.inclusion_proofs(indexes, size)
    entries = [node.log.entry(i) for i in indexes]
    older = older_checkpoint(node, size, witnessed=witnessed, at=at)
    return ProvedStatus(
        checkpoint=note,
        ledger_index=created,
        entry=b64(entries[0]),
        inclusion_proof=b64_hashes(proofs[0]),
        status_index=changed,
        status_entry=b64(entries[1]) if changed is not None else None,
        status_proof=b64_hashes(proofs[1]) if changed is not None else None,
        witnessed_checkpoint=None if older is None else older[0],
        witnessed_consistency_proof=None
        if older is None
        else b64_hashes(node.log.consistency_proof(older[1], size)),
    )
