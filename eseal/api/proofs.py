"""Ledger entries with their inclusion proofs under one signed checkpoint, as status
answers carry them (base64, as the ledger API gives entries and proofs)."""

from __future__ import annotations

import base64

from eseal.node import Node
from ledger.checkpoint import verify_checkpoint


class ProvedEntries:
    """The node's latest checkpoint (``note``), and entries proved under it."""

    def __init__(self, node: Node) -> None:
        self._node = node
        self.note = node.log.checkpoint()
        self.size = verify_checkpoint(self.note, node.log_verifier).size

    def entry(self, index: int) -> tuple[str, list[str]]:
        """(entry, inclusion proof) at ``index``, in base64."""
        _, proof = self._node.log.inclusion_proof(index, self.size)
        raw = self._node.log.entry(index)
        return base64.b64encode(raw).decode(), [base64.b64encode(h).decode() for h in proof]

    def optional(self, index: int | None) -> tuple[str | None, list[str] | None]:
        """:meth:`entry`, or (None, None) without an index."""
        return (None, None) if index is None else self.entry(index)
