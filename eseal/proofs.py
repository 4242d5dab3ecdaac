"""Ledger entries and inclusion proofs as the API and the CLI's JSON give them (standard
base64), and the ledger part of a status answer: the entry that created a license or
seal, the entry of its latest status change, and their proofs under one checkpoint."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from eseal.witness_ask import cosigned_checkpoint, witnessed_size
from ledger.checkpoint import verify_checkpoint

if TYPE_CHECKING:
    from eseal.node import Node


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
        description="Asked witnessed=1 only, and absent unless an older checkpoint carries "
        "more cosignature lines than the one above: the checkpoint of the region's log that "
        "its witnesses cosigned most (a C2SP signed note signed by the log key, followed by "
        "their C2SP tlog-cosignature lines on it). The answer stays proved under the "
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
    node: Node, created: int, changed: int | None, *, witnessed: bool = False
) -> ProvedStatus:
    """The node's latest checkpoint (with its witnesses' cosignature lines on it,
    :func:`eseal.witness_ask.cosigned_checkpoint`) with the entry at ``created`` and, if
    there is one, the entry at ``changed``, each with its inclusion proof under that
    checkpoint (read after the caller found the indexes, so both are under it).

    With ``witnessed`` (the asker requires witnesses), also the older checkpoint its
    witnesses cosigned most (:func:`eseal.witness_ask.witnessed_size`), with their lines,
    and the consistency proof from it to the latest, where there is one."""
    note = cosigned_checkpoint(node)
    size = verify_checkpoint(note, node.log_verifier).size
    indexes = [created] if changed is None else [created, changed]
    proofs = node.log.inclusion_proofs(indexes, size)
    entries = [node.log.entry(i) for i in indexes]
    older = witnessed_size(node, size) if witnessed else None
    return ProvedStatus(
        checkpoint=note,
        ledger_index=created,
        entry=b64(entries[0]),
        inclusion_proof=b64_hashes(proofs[0]),
        status_index=changed,
        status_entry=b64(entries[1]) if changed is not None else None,
        status_proof=b64_hashes(proofs[1]) if changed is not None else None,
        witnessed_checkpoint=None if older is None else cosigned_checkpoint(node, older),
        witnessed_consistency_proof=None
        if older is None
        else b64_hashes(node.log.consistency_proof(older, size)),
    )
