"""Ledger: what happened, in order (entries, Merkle tree, checkpoints, storage, audit)."""
