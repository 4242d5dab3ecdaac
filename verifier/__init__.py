"""Verifier: what a document is and whether to believe it."""
