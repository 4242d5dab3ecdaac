"""Idempotency keys for issuing (the ``Idempotency-Key`` request header of
draft-ietf-httpapi-idempotency-key-header): a request sent again with the key of one that
was recorded gets that one's answer, and issues nothing more.

A key is the client's, scoped to who sends it (an agency, or the operator) and to the
operation. It is stored with a fingerprint of the request and the answer's own part in the
very transaction that records the act (the ledger's, through ``node.append(..., also=)``):
a crash leaves both or neither. Two requests with one key that race are both worked out,
but only one commits: the other's transaction finds the key recorded and is rolled back
(:class:`IdempotencyKeyInUse`), and it answers with the first one's answer instead.

Only what was recorded is kept: a request refused (bad input, a failed append) stores
nothing, and the same key may be sent again. Keys are kept :data:`KEY_LIFETIME` seconds
(24 h) and are then forgotten: the same key issues anew. Expired rows are deleted by the
next request that records one. Each row stands for an act recorded in the ledger within
the last day, so what a principal can store is bounded by what it may issue.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Connection

from eseal.agencies import Principal
from eseal.models import IdempotencyKeyRow
from eseal.node import Node
from keys.errors import CheckFailed, InvalidInput, shown

#: How long a key is kept after the act it recorded.
KEY_LIFETIME = 24 * 3600
MAX_KEY = 128
#: A key: 1 to 128 of the characters of UUIDs, base64 (standard and URL-safe) and ULIDs,
#: optionally in the double quotes of the draft's Structured Field string.
KEY_PATTERN = r"[A-Za-z0-9._~+/=:-]{1,128}"
_KEY = re.compile(KEY_PATTERN)
_FINGERPRINT_LABEL = b"eseal idempotency-key fingerprint v1"
_table = IdempotencyKeyRow.__table__  # type: ignore[attr-defined]


class MalformedIdempotencyKey(InvalidInput):
    """The Idempotency-Key header is not a key this node takes."""

    code = "malformed-idempotency-key"
    http_status = 400


class IdempotencyKeyReused(InvalidInput):
    """The Idempotency-Key was used for another request."""

    code = "idempotency-key-reused"
    http_status = 422


class IdempotencyKeyInUse(CheckFailed):
    """A request with this Idempotency-Key is being recorded."""

    code = "idempotency-key-in-use"
    http_status = 409


def parse_key(header: str | None) -> str | None:
    """The key an ``Idempotency-Key`` header gives (None without one), or
    :class:`MalformedIdempotencyKey`."""
    if header is None:
        return None
    value = header.strip(" \t")
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    if not _KEY.fullmatch(value):
        raise MalformedIdempotencyKey(
            f"the Idempotency-Key {shown(header[: MAX_KEY + 8])} is not 1 to {MAX_KEY} letters, "
            "digits or any of . _ ~ + / = : - (in double quotes or not), such as a UUID"
        )
    return value


def principal_scope(principal: Principal) -> str:
    """Whose keys: each agency has its own, and the operator its own."""
    return (principal.agency_code or "") if principal.role == "agency" else "operator"


def fingerprint(node: Node, method: str, path: str, request: Any) -> bytes:
    """The request's fingerprint: HMAC-SHA256 of its method, path and the SHA-256 of its
    content (``request``, as JSON with sorted keys), under a key derived from the region's
    log key. A plain hash of a body that holds an identity number could be reversed by
    trying every number; this one only by someone who holds the node's keys."""
    content = json.dumps(request, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    secret = hmac.new(bytes(node.require_log_key()), _FINGERPRINT_LABEL, hashlib.sha256).digest()
    message = b"\n".join(
        [method.encode(), path.encode(), hashlib.sha256(content.encode()).digest()]
    )
    return hmac.new(secret, message, hashlib.sha256).digest()


@dataclass(frozen=True)
class Recorded:
    """A recorded request's answer: its status, its own part, its last ledger entry."""

    status: int
    response: Any
    ledger_last: int


@dataclass(frozen=True)
class IdempotencyKey:
    """One request's key, with its scope, fingerprint, answer status and time."""

    principal: str
    operation: str
    key: str
    fingerprint: bytes
    status: int
    now: int

    def _this(self) -> Any:
        return (
            (_table.c.principal == self.principal)
            & (_table.c.operation == self.operation)
            & (_table.c.idem_key == self.key)
        )

    def lookup(self, node: Node) -> Recorded | None:
        """The answer recorded under this key (None if none, or it expired), or
        :class:`IdempotencyKeyReused` if it was recorded for another request."""
        with node.sql.read_engine.connect() as conn:
            row = conn.execute(
                select(_table).where(self._this(), _table.c.expires_at > self.now)
            ).first()
        if row is None:
            return None
        if not hmac.compare_digest(bytes(row.fingerprint), self.fingerprint):
            raise IdempotencyKeyReused(
                f"the Idempotency-Key {self.key!r} was used for another request (within the "
                f"last {KEY_LIFETIME // 3600} h): use a new key for a new request"
            )
        return Recorded(int(row.status), json.loads(row.response), int(row.ledger_last))

    def record(self, conn: Connection, response: Any, *, ledger_last: int) -> None:
        """Store the key with the act's answer, in the act's transaction (``conn``); the
        expired keys go. A key recorded meanwhile (a request sent twice at once, the other
        first) raises :class:`IdempotencyKeyInUse`, which rolls the act back."""
        conn.execute(delete(_table).where(_table.c.expires_at <= self.now))
        if conn.execute(select(_table.c.idem_key).where(self._this())).first() is not None:
            raise IdempotencyKeyInUse(
                f"a request with the Idempotency-Key {self.key!r} is being recorded; send it "
                "again in a moment for its answer"
            )
        conn.execute(
            insert(_table).values(
                principal=self.principal,
                operation=self.operation,
                idem_key=self.key,
                fingerprint=self.fingerprint,
                status=self.status,
                response=json.dumps(response, ensure_ascii=False, separators=(",", ":")),
                ledger_last=ledger_last,
                created_at=self.now,
                expires_at=self.now + KEY_LIFETIME,
            )
        )


def committed_with(node: Node, ledger_last: int) -> tuple[int, str]:
    """(tree size, signed checkpoint) of the append that recorded entry ``ledger_last``:
    what its answer's proofs were made against."""
    found = node.sql.checkpoint_after(ledger_last)
    if found is None:  # the key is written in the same transaction as the entry
        raise CheckFailed(f"no checkpoint covers ledger entry {ledger_last}")
    return found
