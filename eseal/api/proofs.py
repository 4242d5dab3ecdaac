"""The ledger part of the status answers (licenses and seals), as one model."""

from __future__ import annotations

from pydantic import BaseModel


class ProvedStatusOut(BaseModel):
    """The entry that created the license or seal, and the entry of its latest status
    change (absent while there was none), with their inclusion proofs under the signed
    checkpoint: the asker believes a status other than valid only with that entry."""

    checkpoint: str
    ledger_index: int
    entry: str
    inclusion_proof: list[str]
    status_index: int | None = None
    status_entry: str | None = None
    status_proof: list[str] | None = None
