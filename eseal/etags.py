"""HTTP entity tags (RFC 9110 §8.8.3) of the node's answers: how one is made and matched."""

from __future__ import annotations

from verifier.envelope import file_etag

#: A strong ETag naming a body: its SHA-256, 128 bits of it in hex, quoted. One definition,
#: :func:`verifier.envelope.file_etag`: a signed file's ETag is what a reader holding it
#: sends (:func:`verifier.online.fetch_revocations`).
body_etag = file_etag


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an If-None-Match names ``etag`` (weakly compared, RFC 9110 §13.1.2)."""
    if if_none_match is None:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags
